"""Tracking a PoseTrack split (tracker/posetrack_split.py, tools/track_posetrack.py) on the
3-sequence PoseTrack-2018 val sample with replayed detections and a random-init ResNet-18 pose
net; its output must load in eval_posetrack."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from posenet.cli import output_lock
from posenet.errors import ConfigError, DataError
from posenet.posetrack.formats import read_posetrack
from tests.conftest import TINY_TRACKER, load_tool, shared_file
from tracker.config import DEFAULT_CONFIG
from tracker.output import TrackingOutput
from tracker.pipeline import FrameResult
from tracker.posetrack_split import (
    OFFLINE_FILL_GAPS,
    SequenceDetections,
    SplitTracker,
    list_sequences,
    sequence_outputs,
    sequence_summary,
    split_config,
    split_detections,
    track_sequence,
    track_split,
    write_aligned,
)
from tracker.run import Job, is_complete, running_marker

ROOT = "mmpose/posetrack18"
FAST = TINY_TRACKER
DETECTIONS = f"{ROOT}/annotations/test_posetrack18_human_detections.json"


def tiny_config(*overrides: str, **options):
    """split_config with FAST's settings (CPU, random-init R18) and `overrides` after them."""
    sets = [value for option, value in zip(FAST, FAST[1:]) if option == "--set"]
    return split_config(DEFAULT_CONFIG, [*sets, *overrides], device="cpu", **options)


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_posetrack")


def test_split_to_prediction_files_that_evaluate(tiny_pose_weights, tmp_path, capsys):
    data = shared_file(ROOT)
    detections = shared_file(DETECTIONS)
    out = tmp_path / "pred"
    cfg = tiny_config(pose_weights=str(tiny_pose_weights))  # seeded: the same run every time
    total = track_split(cfg, data, "val", out, str(detections))
    assert total is not None and total.complete and (out / "summary.json").is_file()
    gt_files = sorted((data / "annotations" / "val").glob("*.json"))
    written = sorted(p.name for p in out.glob("*.json") if p.name != "summary.json")
    assert written == [p.name for p in gt_files]
    # People per frame: the replayed boxes with score >= 0.5, after NMS.
    det = json.loads(detections.read_text())
    for gt_path in gt_files:
        gt, pred = read_posetrack(gt_path), read_posetrack(out / gt_path.name)
        assert [f.file_name for f in pred.frames] == [f.file_name for f in gt.frames]
        assert [f.image_id for f in pred.frames] == [f.image_id for f in gt.frames]
        image_id = gt.frames[0].image_id
        confident = [d for d in det if d["image_id"] == image_id and d["score"] >= 0.5]
        assert 1 <= len(pred.frames[0]) <= len(confident)
        assert (pred.frames[0].track_ids >= 0).all()
        assert np.isfinite(pred.frames[0].keypoints).all()
    capsys.readouterr()
    evaluate = load_tool("eval_posetrack")
    assert evaluate.main(["--gt", str(data / "annotations" / "val"), "--pred", str(out)]) == 0
    assert "MOTA" in capsys.readouterr().out


def test_missing_split_is_one_line_error(tool, tmp_path, capsys):
    data = shared_file(ROOT)
    code = tool.run_cli(tool.main, ["--data", str(data), "--split", "test", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert "annotations/test" in err
    with pytest.raises(DataError, match="annotations/test: no annotation files"):
        list_sequences(data, "test")


def test_offline_predictions_fill_gaps_unless_told_not_to():
    assert tiny_config().tracking.fill_gaps == OFFLINE_FILL_GAPS
    assert tiny_config("tracking.fill_gaps=0").tracking.fill_gaps == 0
    with pytest.raises(ConfigError, match="posetrack18/17"):
        tiny_config(format="jsonl")


def test_each_sequence_gets_its_own_tracker_around_shared_parts():
    data = shared_file(ROOT)
    sequences = list_sequences(data, "val")
    assert [s.name for s in sequences] == sorted(s.annotation.stem for s in sequences)
    cfg = tiny_config()
    replay = split_detections(shared_file(DETECTIONS), sequences, cfg.detector.score_thr)
    trackers = SplitTracker(cfg, data, replay)
    first, second = (trackers.for_sequence(s) for s in sequences[:2])
    assert first is not second
    assert first.pose_estimator is second.pose_estimator and first.flow is second.flow
    for tracker, seq in ((first, sequences[0]), (second, sequences[1])):
        assert isinstance(tracker.detector, SequenceDetections)
        assert tracker.detector.replay is replay
        assert tracker.detector.prefix == seq.folder.relative_to(data).as_posix() + "/"
    # Without replayed boxes the detector built for the first sequence serves them all.
    cfg = tiny_config(
        "detector.name=fasterrcnn_mobilenet_v3_large_320_fpn", "detector.weights=none"
    )
    plain = SplitTracker(cfg, data, None)
    first, second = (plain.for_sequence(s) for s in sequences[:2])
    assert first.detector is second.detector and first.pose_estimator is second.pose_estimator


def test_write_aligned_follows_the_wanted_frames(tmp_path):
    nobody = (np.zeros((0, 17, 3)), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    made = [FrameResult(t, f"{t:06d}.jpg", *nobody) for t in range(4)]
    wanted = [("v/000002.jpg", 2), ("v/000000.jpg", 0), ("v/000009.jpg", 9)]
    with TrackingOutput(tmp_path / "v.json", "v") as out:
        matched = write_aligned(out, iter(made), wanted)
    assert matched == 2
    seq = read_posetrack(tmp_path / "v.json")
    assert [f.file_name for f in seq.frames] == [name for name, _ in wanted]


def copy_of_split(tmp_path):
    """The sample split's annotations and images copied under tmp_path (tests may write there)."""
    data = shared_file(ROOT)
    root = tmp_path / "data"
    for part in ("annotations/val", "images/val"):
        shutil.copytree(data / part, root / part)
    return root


def test_out_in_the_ground_truth_folder_is_refused_and_leaves_it_as_it_was(tool, tmp_path, capsys):
    data = copy_of_split(tmp_path)
    gt = data / "annotations" / "val"
    before = {p.name: p.read_bytes() for p in gt.iterdir()}
    args = ["--data", str(data), "--out", str(gt), *FAST]
    assert tool.run_cli(tool.main, args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {gt / sorted(before)[0]}: is the input" in err
    assert {p.name: p.read_bytes() for p in gt.iterdir()} == before


def test_a_second_run_on_one_out_is_refused(tool, tmp_path, capsys):
    data = copy_of_split(tmp_path)
    out = tmp_path / "pred"
    out.mkdir()
    with output_lock(out):
        code = tool.run_cli(tool.main, ["--data", str(data), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "another run is writing there" in err
    assert list(out.iterdir()) == []  # the refused run wrote nothing (and the lock is gone)


class FailingTracker:
    """A tracker whose run breaks at once, as a killed or failing sequence would."""

    def __init__(self) -> None:
        self.config = tiny_config()

    def track(self, *args, **kwargs):
        raise DataError("broken frame")


def test_a_failed_sequence_keeps_the_earlier_summary_and_counts_as_unfinished(tmp_path):
    seq = list_sequences(copy_of_split(tmp_path), "val")[0]
    out = tmp_path / "pred"
    summary = sequence_summary(out, seq)
    summary.parent.mkdir(parents=True)
    earlier = json.dumps({"source": str(seq.folder), "complete": True}) + "\n"
    summary.write_text(earlier)
    (out / seq.annotation.name).write_text("{}")
    job = Job(seq.name, str(seq.folder), summary, sequence_outputs(out, seq, False))
    assert is_complete(job)
    with pytest.raises(DataError, match="broken frame"):
        track_sequence(FailingTracker(), seq, out, summary, render=False)
    assert summary.read_text() == earlier and running_marker(summary).exists()
    assert not is_complete(job)
