"""tools/benchmark.py on CPU with tiny nets: the reports hold every measurement asked for."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import load_tool

TINY_POSE = [
    "--set",
    "model.depth=18",
    "--set",
    "model.image_size=[48, 64]",
    "--set",
    "model.heatmap_size=[12, 16]",
]


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmark")


def test_pose_report(tool, tmp_path, capsys):
    out = tmp_path / "pose.json"
    args = [
        "pose",
        "--device",
        "cpu",
        "--quick",
        "--batch-sizes",
        "1,3",
        "--min-time",
        "0.05",
        "--flip-test",
        "--json",
        str(out),
        *TINY_POSE,
    ]
    assert tool.run_cli(tool.main, args) == 0
    report = json.loads(out.read_text())
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
    assert "crops/s" in capsys.readouterr().out


def test_track_report(tool, tmp_path):
    out = tmp_path / "track.json"
    pose = '["model.depth=18", "model.image_size=[48, 64]", "model.heatmap_size=[12, 16]"]'
    args = [
        "track",
        "--device",
        "cpu",
        "--frames",
        "3",
        "--people",
        "4",
        "--width",
        "320",
        "--height",
        "240",
        "--no-detector",
        "--set",
        f"pose.overrides={pose}",
        "--set",
        "detector.batch_size=2",
        "--intervals",
        "1,3",
        "--json",
        str(out),
    ]
    assert tool.run_cli(tool.main, args) == 0
    report = json.loads(out.read_text())
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


def test_all_in_its_smallest_form(tool, tmp_path):
    out = tmp_path / "figures.json"
    assert tool.run_cli(tool.main, ["all", "--device", "cpu", "--tiny", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["targets"] == tool.TARGETS
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
    assert set(report["checks"]) == {"pose_crops_per_s", "track_fps", "train_input_ratio"}
    for check in report["checks"].values():
        assert check["met"] == (check["value"] >= check["target"])


def test_people_boxes_fill_the_frame_without_overlap(tool):
    boxes = tool.people_boxes(10, 1280, 720)
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
