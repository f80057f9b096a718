"""Training pieces: the heatmap loss, the optimizer choices, the learning-rate schedule, the
one training set-up (build_training) and resume."""

from __future__ import annotations

import io
import sys

import pytest
import torch

from posenet.checkpoint import save_checkpoint
from posenet.config import TrainConfig, load_config
from posenet.engine import (
    build_optimizer,
    build_scheduler,
    build_training,
    lr_factor,
    resume,
    seed_everything,
    train_one_epoch,
    training_state,
)
from posenet.errors import CheckpointError, ConfigError
from posenet.losses import JointsMSELoss
from tests.conftest import POSE_CONFIG, TINY_NET, shared_file


def test_loss_is_half_mse_and_ignores_zero_weight_joints():
    out = torch.zeros(1, 2, 2, 2)
    target = torch.ones(1, 2, 2, 2)
    weight = torch.tensor([[[1.0], [0.0]]])
    # joint 0: mean((0-1)^2) = 1, joint 1 weighted out: 0 -> 0.5 * mean(1, 0) = 0.25
    assert JointsMSELoss(True)(out, target, weight).item() == pytest.approx(0.25)
    assert JointsMSELoss(False)(out, target, weight).item() == pytest.approx(0.5)


def test_schedule_warms_up_then_steps_down():
    t = TrainConfig(lr_steps=[2, 3], lr_factor=0.1, warmup_epochs=1, warmup_factor=0.01)
    assert lr_factor(0, 10, t) == pytest.approx(0.01)
    assert lr_factor(5, 10, t) == pytest.approx(0.01 * 0.5 + 0.5)
    assert lr_factor(10, 10, t) == pytest.approx(1.0)
    assert lr_factor(19, 10, t) == pytest.approx(1.0)
    assert lr_factor(20, 10, t) == pytest.approx(0.1)
    assert lr_factor(35, 10, t) == pytest.approx(0.01)


def test_scheduler_steps_after_the_optimizer():
    model = torch.nn.Linear(2, 1)
    t = TrainConfig(lr=1.0, lr_steps=[1], lr_factor=0.5)
    opt = build_optimizer(model, t)
    sched = build_scheduler(opt, t, steps_per_epoch=2)
    lrs = []
    for _ in range(4):
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 0.5, 0.5, 0.5]


def test_optimizers():
    model = torch.nn.Linear(2, 1)
    assert isinstance(build_optimizer(model, TrainConfig(optimizer="adam")), torch.optim.Adam)
    adamw = build_optimizer(model, TrainConfig(optimizer="adamw", weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.05
    sgd = build_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.8, nesterov=True))
    assert sgd.param_groups[0]["momentum"] == 0.8 and sgd.param_groups[0]["nesterov"]
    with pytest.raises(ConfigError, match="train.optimizer"):
        build_optimizer(model, TrainConfig(optimizer="lamb"))


# ------------------------------------------------------------------ build_training, resume

CONFIG = POSE_CONFIG
TINY = [
    *TINY_NET,
    "model.num_deconv_filters=[64, 64, 64]",
    "data.max_samples=6",
    "data.val_set=train2017",
    "data.use_gt_bbox=true",
    "train.workers=0",
    "train.batch_size=4",
]


@pytest.fixture
def tiny_cfg():
    root = shared_file("coco-mini/annotations/person_keypoints_train2017.json").parents[1]
    return load_config(CONFIG, [f"data.root={root}", *TINY])


def test_build_training_builds_what_the_loop_needs(tiny_cfg):
    run = build_training(tiny_cfg, "cpu")
    assert len(run.train_set) == 6 and len(run.train_loader) == 2  # 6 people, batches of 4
    assert run.val_loader is not None and len(run.val_set) == 6
    assert run.scheduler.lr_lambdas[0](2) == lr_factor(2, 2, tiny_cfg.train)  # 2 steps/epoch
    # The speed benchmark's loader: exactly `steps` batches drawn with replacement.
    speed = build_training(tiny_cfg, "cpu", validation=False, batch_size=5, steps=3)
    assert speed.val_loader is None and len(speed.train_loader) == 3
    assert speed.train_loader.batch_size == 5 and len(list(speed.train_loader.sampler)) == 15


def test_build_training_rejects_an_empty_training_set(tiny_cfg, monkeypatch):
    import posenet.engine

    monkeypatch.setattr(posenet.engine, "build_dataset", lambda cfg, train: [])
    with pytest.raises(ConfigError, match="the training set 'train2017' has no people"):
        build_training(tiny_cfg, "cpu")


def test_resume_restores_where_the_run_stopped(tiny_cfg, tmp_path):
    seed_everything(1)
    first = build_training(tiny_cfg, "cpu", validation=False)
    for p in first.model.parameters():
        p.data.add_(0.5)
    first.optimizer.step()
    first.scheduler.step()
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(training_state(first, tiny_cfg, epoch=3, best=0.25), path)
    expected = torch.rand(3)  # the draws after saving: a resumed run makes them again
    second = build_training(tiny_cfg, "cpu", validation=False)
    assert resume(second, path) == (3, 0.25)
    assert torch.equal(torch.rand(3), expected)
    assert second.scheduler.last_epoch == first.scheduler.last_epoch == 1
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_errors_say_which_file_and_why(tiny_cfg, tmp_path):
    run = build_training(tiny_cfg, "cpu", validation=False)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        resume(run, tmp_path / "missing.pth")
    weights_only = tmp_path / "weights.pth"
    save_checkpoint(run.model.state_dict(), weights_only)
    with pytest.raises(CheckpointError, match=r"weights.pth: not a training checkpoint"):
        resume(run, weights_only)
    state = training_state(run, tiny_cfg, epoch=1, best=0.0)
    state["optimizer"]["param_groups"] = []  # another model's optimizer
    save_checkpoint(state, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="optimizer state does not fit"):
        resume(run, tmp_path / "other.pth")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive run's is."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty, progress", [(True, True), (True, False), (False, True)])
def test_an_epoch_shows_a_progress_bar_on_a_terminal_only(monkeypatch, tty, progress):
    stderr = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    cfg = load_config("configs/coco/res50_256x192.yaml")
    model = torch.nn.Conv2d(3, 2, 1)
    batch = (torch.ones(2, 3, 4, 4), torch.zeros(2, 2, 4, 4), torch.ones(2, 2, 1), {})
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, steps_per_epoch=3)
    args = (model, [batch] * 3, JointsMSELoss(True), optimizer, scheduler, "cpu", 7, cfg)
    stats = train_one_epoch(*args, progress=progress)
    assert stats["loss"] > 0
    shown = stderr.getvalue()
    # rank 0 (progress) on a terminal: "epoch 7", batches of 3 and the loss; else nothing
    assert ("epoch 7" in shown and "/3" in shown and "loss=" in shown) == (tty and progress)
    assert shown == "" or (tty and progress)
