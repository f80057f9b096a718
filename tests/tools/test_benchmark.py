"""The speed benchmarks (tracker/benchmarks.py, posenet/speed.py) on CPU with tiny nets: the
reports hold every measurement asked for; tools/benchmark.py end to end for `all`, `tracking`
and a bad device."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenet.shared_data import SHARED_DATA_ENV, shared_data_root
from tests.conftest import load_tool
from tracker import benchmarks as bench
from tracker import tracking_benchmark as tb
from tracker.speed import people_boxes

TINY_POSE = ["model.depth=18", "model.image_size=[48, 64]", "model.heatmap_size=[12, 16]"]


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmark")


def test_pose_report():
    lines: list[str] = []
    report = bench.pose_benchmark(
        bench.POSE_CONFIG,
        TINY_POSE,
        "cpu",
        batch_sizes=[1, 3],
        min_time=0.05,
        flip_test=True,
        quick=True,
        log=lines.append,
    )
    assert report["device"] == "cpu" and report["depth"] == 18 and report["flip_test"] is True
    for kind in ("end_to_end", "net"):
        assert [(r["precision"], r["batch"]) for r in report[kind]] == [("fp32", 1), ("fp32", 3)]
        for r in report[kind]:
            assert r["crops_per_s"] > 0
            # crops/s is rounded to 0.1: on a slow machine that is more than 1 %
            assert r["crops_per_s"] == pytest.approx(
                r["batch"] / (r["ms_per_batch"] / 1e3), rel=0.01, abs=0.05
            )
    assert report["loop"]["crops_per_s"] > 0
    assert report["best_end_to_end"] in report["end_to_end"]
    # one line per figure (2 kinds x 2 batches, the loop), then the best
    assert len(lines) == 6 and lines[-1].startswith("best end to end:")


def test_pose_backends_side_by_side():
    lines: list[str] = []
    report = bench.pose_benchmark(
        bench.POSE_CONFIG,
        TINY_POSE,
        "cpu",
        batch_sizes=[2],
        min_time=0.05,
        backends=["torch:fp32", "onnxruntime"],
        log=lines.append,
    )
    rows = report["backends"]
    assert [r["runtime"] for r in rows] == ["torch fp32", "onnxruntime fp32"]
    assert all(r["batch"] == 2 and r["crops_per_s"] > 0 for r in rows)
    assert len(lines) == 2 and lines[1].startswith("onnxruntime fp32")
    assert "end_to_end" not in report  # the runtimes instead of the torch batch sweep


def test_track_report():
    lines: list[str] = []
    report = bench.track_benchmark(
        ["default"],
        ["pose.overrides=" + json.dumps(TINY_POSE), "detector.batch_size=2"],
        "cpu",
        intervals=[1, 3],
        frames=3,
        people=4,
        size=(320, 240),
        detector=False,
        log=lines.append,
    )
    assert report["frames"] == 3 and report["people"] == 12 and report["frame_size"] == [320, 240]
    assert set(report["fps_per_stage"]) == {"decode", "detect", "flow", "pose", "track"}
    assert report["fps_per_stage"]["pose"] > 0 and report["fps"] > 0
    assert report["bounding_stage"] in report["fps_per_stage"]
    slowest = max(report["seconds_per_stage"], key=report["seconds_per_stage"].get)
    assert report["bounding_stage"] == slowest
    # One run per interval, each with its overlap efficiency and speed-up over the first.
    assert [r["interval"] for r in report["runs"]] == [1, 3]
    for run in report["runs"]:
        assert run["people"] == 12  # people carried between keyframes are still load
        seconds = run["seconds_per_stage"][run["bounding_stage"]]
        assert run["overlap_efficiency"] == pytest.approx(
            seconds / run["wall_seconds"], rel=0.01, abs=0.002
        )
        assert run["speedup"] == pytest.approx(run["fps"] / report["runs"][0]["fps"], rel=0.01)
    assert lines == [bench.track_line(run) for run in report["runs"]]
    # what ran the pose net is named (the default backend and precision on this CPU)
    from posenet.precision import cpu_inference_precision

    assert report["pose_runtime"] == f"torch {cpu_inference_precision()}"
    assert f", pose torch {cpu_inference_precision()}: " in lines[0]


def test_all_in_its_smallest_form(tool, tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert tool.run_cli(tool.main, ["all", "--device", "cpu", "--tiny", "--json", str(out)]) == 0
    shown = capsys.readouterr().out
    # GPU targets are named as such and not judged on a CPU
    assert "not met" not in shown and "(GPU target 10000: not checked on cpu)" in shown
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["targets"] == bench.TARGETS
    assert [r["batch"] for r in report["pose"]["end_to_end"]] == [1, 2]
    assert report["pose"]["loop"]["crops_per_s"] > 0
    assert [(r["config"], r["interval"]) for r in report["track"]["runs"]] == [
        ("cpu", 1),
        ("cpu", 2),
    ]
    assert all(r["fps"] > 0 and r["overlap_efficiency"] > 0 for r in report["track"]["runs"])
    assert [r["batch"] for r in report["detect"]["models"][0]["batches"]] == [1, 2]
    train = report["train"]
    assert train["full_step_images_per_s"] > 0 and train["device_only_images_per_s"] > 0
    assert train["input_pipeline_ratio"] == pytest.approx(
        train["full_step_images_per_s"] / train["device_only_images_per_s"], rel=0.01
    )
    assert train["batch"] == 2 and train["steps"] == 1 and train["loader_workers"] == 0
    assert report["checks"] == bench.check_targets(report)
    assert all(check["met"] is None for check in report["checks"].values())


def test_targets_are_met_at_or_above():
    report = {
        "device": "cuda",
        "pose": {"best_end_to_end": {"crops_per_s": 10000}},
        "track": {"runs": [{"fps": 30.0}, {"fps": 59.9}]},
        "train": {"input_pipeline_ratio": 0.95},
    }
    checks = bench.check_targets(report)
    assert {k: c["met"] for k, c in checks.items()} == {
        "pose_crops_per_s": True,
        "track_fps": False,
        "train_input_ratio": True,
    }
    assert checks["track_fps"]["value"] == 59.9 and checks["track_fps"]["default_k1_dis"] == 30.0
    line = bench.target_line("track_fps", checks["track_fps"], "cuda")
    assert line == "  track_fps: 59.9 (GPU target 60: not met)"


def test_tiny_plan_is_small_and_quick_cpu_plan_short():
    tiny = bench.all_commands("cpu", quick=False, tiny=True)
    assert list(tiny) == ["pose", "track", "detect", "train"]
    assert tiny["train"][tiny["train"].index("--steps") + 1] == "1"
    quick = bench.all_commands("cpu", quick=True, tiny=False)
    assert quick["track"][quick["track"].index("--frames") + 1] == "2"
    gpu = bench.all_commands("cuda", quick=False, tiny=False)
    assert "dis,raft_small" in gpu["track"]


def test_default_data_lies_in_the_shared_folder(tool, monkeypatch, tmp_path):
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path))
    assert shared_data_root() == tmp_path
    assert bench.default_train_data() == str(tmp_path / "coco-mini")
    assert tb.default_ground_truth() == str(tmp_path / "bonn-posetrack/posetrack18")
    parser = tool.build_parser()
    assert parser.parse_args(["train"]).data == str(tmp_path / "coco-mini")
    assert parser.parse_args(["tracking"]).gt == str(tmp_path / "bonn-posetrack/posetrack18")
    monkeypatch.delenv(SHARED_DATA_ENV)  # unset: ../shared/data beside the repository
    assert shared_data_root() == Path(tb.__file__).resolve().parents[2] / "shared" / "data"


def test_tracking_cli_prints_the_table_and_writes_json(tool, shared_data, tmp_path, capsys):
    folder = shared_data("bonn-posetrack/posetrack18")
    out = tmp_path / "tracking.json"
    args = ["tracking", "--gt", str(folder), "--max-videos", "1", "--seeds", "0"]
    args += ["--settings", "gap0", "--trackers", "iou", "--json", str(out)]
    assert tool.run_cli(tool.main, args) == 0
    captured = capsys.readouterr()
    assert "1 videos" in captured.out and "wall time" in captured.out
    assert "gap0 seed 0:" in captured.err
    report = json.loads(out.read_text())
    assert [m["tracker"] for m in report["means"]] == [tb.PERFECT, tb.FLOOR, "iou"]
    assert report["seeds"] == [0] and report["gt"] == str(folder)


def test_precision_cli_compares_with_fp32_on_real_images(tool, shared_data, tmp_path, capsys):
    import torch

    from posenet.config import load_config
    from posenet.models.pose_resnet import build_model

    root = shared_data("coco-mini/annotations/person_keypoints_val2017.json").parents[1]
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save(build_model(load_config(bench.POSE_CONFIG, TINY_POSE)).state_dict(), weights)
    out = tmp_path / "precision.json"
    args = ["precision", "--weights", str(weights), "--data", str(root), "--max-images", "2"]
    args += ["--backends", "torch:fp32,torch:bf16", "--json", str(out)]
    args += [f"--set={o}" for o in TINY_POSE]
    assert tool.run_cli(tool.main, args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("torch fp32 vs torch fp32: 100.00 % of")
    assert lines[1].startswith("torch bf16 vs torch fp32: ")
    report = json.loads(out.read_text())
    assert [r["runtime"] for r in report["backends"]] == ["torch fp32", "torch bf16"]
    assert report["backends"][0]["max_px"] == 0.0 and report["split"] == "val2017"
    with pytest.raises(SystemExit) as no_weights:  # argparse: one usage line, exit 2
        tool.run_cli(tool.main, ["precision", "--data", str(root)])
    assert no_weights.value.code == 2


def test_people_boxes_fill_the_frame_without_overlap():
    boxes = people_boxes(10, 1280, 720)
    assert boxes.shape == (10, 4)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 1280).all() and (boxes[:, 3] <= 720).all()
    from tracker.similarity import box_iou

    iou = box_iou(boxes, boxes)
    assert np.allclose(np.diag(iou), 1) and (iou - np.eye(10)).max() == 0


def test_cuda_on_a_cpu_machine_is_one_line(tool, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert tool.run_cli(tool.main, ["pose", "--device", "cuda", "--quick"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_json_that_cannot_be_written_is_refused_before_the_run(tool, tmp_path, capsys, where):
    taken = tmp_path / "taken"
    taken.write_text("x")
    path = tmp_path if where == "folder" else taken / "figures.json"
    args = ["pose", "--device", "cpu", "--batch-sizes", "1", "--min-time", "0.01", "--quick"]
    args += [a for s in TINY_POSE for a in ("--set", s)] + ["--json", str(path)]
    assert tool.run_cli(tool.main, args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing measured
    assert captured.err.count("\n") == 1 and f"--json {path}: " in captured.err
