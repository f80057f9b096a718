"""tools/train.py end to end on CPU with real coco-mini images: a ResNet-18 pose net overfits 8
people (loss falls >= 5x, AP far above the untrained net's, scored by the library's
evaluate_weights), a resumed run ends exactly where an uninterrupted one does, two processes
run under torchrun, and bad input to train.py and valid.py is a one-line error."""

from __future__ import annotations

import json

import pytest
import torch

from posenet.checkpoint import load_checkpoint
from posenet.config import load_config
from posenet.devices import cpu_cores
from posenet.engine import evaluate_weights, loader_workers
from posenet.errors import ConfigError
from posenet.models.pose_resnet import build_model
from tests.conftest import POSE_CONFIG, TINY_NET, load_tool, shared_file, torchrun

CONFIG = POSE_CONFIG
TINY = [
    *TINY_NET,
    "model.num_deconv_filters=[64, 64, 64]",
    "data.flip=false",
    "data.scale_factor=0",
    "data.rot_factor=0",
    "data.val_set=train2017",
    "data.use_gt_bbox=true",
    "train.workers=0",
    "train.lr=3e-3",
    "train.lr_steps=[1000]",
    "test.batch_size=8",
    "test.flip_test=false",
]


@pytest.fixture(scope="module")
def train_tool():
    return load_tool("train")


@pytest.fixture(scope="module")
def valid_tool():
    return load_tool("valid")


def sets(root, *extra):
    return [a for item in [f"data.root={root}", *TINY, *extra] for a in ("--set", item)]


def train_args(out, epochs: int, *more: str) -> list[str]:
    """tools/train.py options for a CPU run of `epochs` epochs writing to `out`."""
    args = ["--config", CONFIG, "--device", "cpu", "--epochs", str(epochs)]
    return [*args, "--output-dir", str(out), *more]


@pytest.fixture(scope="module")
def coco_root():
    return shared_file("coco-mini/annotations/person_keypoints_train2017.json").parents[1]


def validate(coco_root, weights, out, *extra) -> dict[str, float]:
    """The validation table of `weights` on coco-mini's first 8 people (tools/valid.py's run)."""
    sets = [f"data.root={coco_root}", *TINY, "data.max_samples=8", *extra]
    return evaluate_weights(load_config(CONFIG, sets), weights, "cpu", out, workers=0)


def test_resnet18_overfits_eight_people(train_tool, coco_root, tmp_path):
    out = tmp_path / "run"
    args = train_args(
        out, 80, "--no-val", *sets(coco_root, "data.max_samples=8", "train.batch_size=4")
    )
    assert train_tool.run_cli(train_tool.main, args) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(80))
    assert log[0]["loss"] / log[-1]["loss"] >= 5, (log[0]["loss"], log[-1]["loss"])

    cfg = load_config(out / "config.yaml")
    torch.manual_seed(0)
    untrained = tmp_path / "untrained.pth"
    torch.save(build_model(cfg).state_dict(), untrained)
    before = validate(coco_root, untrained, tmp_path / "before")
    after = validate(coco_root, out / "final.pth", tmp_path / "after")
    assert after["AP"] > before["AP"] + 0.2 and after["AP"] > 0.25, (before["AP"], after["AP"])


def test_resume_continues_exactly(train_tool, coco_root, tmp_path):
    common = [
        "--config",
        CONFIG,
        "--device",
        "cpu",
        "--seed",
        "3",
        *sets(
            coco_root,
            "data.max_samples=6",
            "train.batch_size=4",
            "data.flip=true",
            "data.rot_factor=30",
            "data.scale_factor=0.3",
        ),
    ]
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert (
        train_tool.run_cli(
            train_tool.main, [*common, "--epochs", "2", "--output-dir", str(straight)]
        )
        == 0
    )
    assert (
        train_tool.run_cli(train_tool.main, [*common, "--epochs", "1", "--output-dir", str(broken)])
        == 0
    )
    assert (
        train_tool.run_cli(
            train_tool.main, [*common, "--epochs", "2", "--output-dir", str(broken), "--resume"]
        )
        == 0
    )
    a = load_checkpoint(straight / "checkpoint.pth", trusted=True)
    b = load_checkpoint(broken / "checkpoint.pth", trusted=True)
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 4  # 2 steps/epoch
    log = [json.loads(line) for line in (broken / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    best = torch.load(broken / "model_best.pth", weights_only=True)
    assert not any(k.startswith("module.") for k in best) and "final_layer.weight" in best


def test_validation_after_each_epoch_keeps_the_best(train_tool, coco_root, tmp_path):
    out = tmp_path / "val"
    args = train_args(out, 2, *sets(coco_root, "data.max_samples=4", "train.batch_size=4"))
    assert train_tool.run_cli(train_tool.main, args) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all("AP" in r["val"] for r in log)
    assert log[-1]["best"] == max(r["val"]["AP"] for r in log)
    assert (out / "keypoints_train2017_results.json").is_file()


def test_bad_input_is_one_line(train_tool, valid_tool, coco_root, tmp_path, capsys):
    base = ["--config", CONFIG, "--device", "cpu", "--output-dir", str(tmp_path / "x")]
    assert train_tool.run_cli(train_tool.main, [*base, "--resume", *sets(coco_root)]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert train_tool.run_cli(train_tool.main, [*base, "--set", "train.lrr=1"]) == 2
    assert "lrr" in capsys.readouterr().err
    assert train_tool.run_cli(train_tool.main, [*base, *sets(tmp_path / "nowhere")]) == 2
    assert "COCO image folder not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not torch")
    args = ["--config", CONFIG, "--weights", str(bad), "--device", "cpu", *sets(coco_root)]
    assert valid_tool.run_cli(valid_tool.main, args) == 2
    assert "not a readable torch weights file" in capsys.readouterr().err


def test_resume_with_another_architecture_is_one_line_and_keeps_config(
    train_tool, coco_root, tmp_path, capsys
):
    out = tmp_path / "run"
    common = ["--config", CONFIG, "--device", "cpu", "--no-val", "--output-dir", str(out)]
    args = [*common, "--epochs", "1", *sets(coco_root, "data.max_samples=4", "train.batch_size=4")]
    assert train_tool.run_cli(train_tool.main, args) == 0
    config_before = (out / "config.yaml").read_text()
    capsys.readouterr()
    args = [
        *common,
        "--epochs",
        "2",
        "--resume",
        *sets(coco_root, "data.max_samples=4", "train.batch_size=4", "model.depth=34"),
    ]
    assert train_tool.run_cli(train_tool.main, args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "checkpoint.pth" in err and "does not fit" in err
    assert (out / "config.yaml").read_text() == config_before


def test_two_processes_through_torchrun(coco_root, tmp_path):
    out = tmp_path / "ddp"
    torchrun(
        "train",
        *train_args(out, 1, *sets(coco_root, "data.max_samples=8", "train.batch_size=2")),
        timeout=600,
    )
    state = load_checkpoint(out / "checkpoint.pth", trusted=True)
    # 8 people over 2 processes in batches of 2: 2 steps per process and epoch.
    assert state["epoch"] == 1 and state["scheduler"]["last_epoch"] == 2
    assert not any(k.startswith("module.") for k in state["state_dict"])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and "AP" in log[0]["val"]


def strict_json(line: str):
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


def test_log_is_strict_json_without_validation(train_tool, coco_root, tmp_path):
    out = tmp_path / "run"
    more = sets(coco_root, "data.max_samples=4", "train.batch_size=4")
    assert train_tool.run_cli(train_tool.main, train_args(out, 1, "--no-val", *more)) == 0
    log = [strict_json(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["best"] is None  # no metric yet: null, not -Infinity


def test_config_is_required_and_help_shows_an_example(train_tool, valid_tool, capsys):
    for tool in (train_tool, valid_tool):
        with pytest.raises(SystemExit):
            tool.main(["--help"])
        usage = capsys.readouterr().out
        assert "--config CONFIG" in usage and "[--config" not in usage
        assert f"e.g. {CONFIG}" in usage
        with pytest.raises(SystemExit):
            tool.main(["--weights", "w.pth"])
        assert "the following arguments are required: --config" in capsys.readouterr().err


def test_valid_workers_follow_the_training_rule(valid_tool, monkeypatch, tmp_path, capsys):
    args = ["--config", CONFIG, "--weights", "w.pth", "--output-dir", str(tmp_path)]
    assert valid_tool.run_cli(valid_tool.main, [*args, "--workers", "-4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers -4: expected 0 or more, or -1" in err
    seen = []
    monkeypatch.setattr(valid_tool, "evaluate_weights", lambda *a: seen.append(a[4]) or {})
    monkeypatch.setattr(valid_tool, "report_table", lambda table, path: None)
    assert valid_tool.run_cli(valid_tool.main, [*args, "--device", "cpu"]) == 0
    assert seen == [None]  # evaluate_weights then takes train.workers, as training does
    with pytest.raises(ConfigError, match="workers -4"):
        loader_workers(-4)
    assert loader_workers(-1) == max(1, min(16, cpu_cores() - 1))


def test_outputs_never_replace_the_weights_a_run_starts_from(
    train_tool, valid_tool, tmp_path, capsys
):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    args = ["--config", CONFIG, "--device", "cpu", "--epochs", "1", "--output-dir", str(tmp_path)]
    start_from = f"model.init_weights={tmp_path / 'final.pth'}"  # what training writes at the end
    (tmp_path / "final.pth").write_bytes(b"earlier run")
    assert train_tool.run_cli(train_tool.main, [*args, "--set", start_from]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "final.pth: is the input" in err
    assert (tmp_path / "final.pth").read_bytes() == b"earlier run"
    valid = ["--config", CONFIG, "--weights", str(weights), "--output-dir", str(tmp_path / "v")]
    assert valid_tool.run_cli(valid_tool.main, [*valid, "--json", str(weights)]) == 2
    assert "--json" in capsys.readouterr().err and weights.read_bytes() == b"weights"
