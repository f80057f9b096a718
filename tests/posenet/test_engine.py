"""Training pieces: the heatmap loss, the optimizer choices and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from posenet.config import TrainConfig
from posenet.engine import build_optimizer, build_scheduler, lr_factor
from posenet.errors import ConfigError
from posenet.losses import JointsMSELoss


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
