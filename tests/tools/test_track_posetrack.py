"""tools/track_posetrack.py on the 3-sequence PoseTrack-2018 val sample with replayed
detections and a random-init ResNet-18 pose net; its output must load in eval_posetrack."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.posetrack.formats import read_posetrack
from tests.conftest import TINY_TRACKER, load_tool, shared_file
from tracker.output import TrackingOutput
from tracker.pipeline import FrameResult

ROOT = "mmpose/posetrack18"
FAST = TINY_TRACKER


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_posetrack")


def test_split_to_prediction_files_that_evaluate(tool, tmp_path, capsys):
    data = shared_file(ROOT)
    detections = shared_file(f"{ROOT}/annotations/test_posetrack18_human_detections.json")
    out = tmp_path / "pred"
    args = [
        "--data",
        str(data),
        "--split",
        "val",
        "--out",
        str(out),
        "--detections",
        str(detections),
        *FAST,
    ]
    assert tool.main(args) == 0
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


def test_write_aligned_follows_the_wanted_frames(tool, tmp_path):
    nobody = (np.zeros((0, 17, 3)), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    made = [FrameResult(t, f"{t:06d}.jpg", *nobody) for t in range(4)]
    wanted = [("v/000002.jpg", 2), ("v/000000.jpg", 0), ("v/000009.jpg", 9)]
    with TrackingOutput(tmp_path / "v.json", "v") as out:
        matched = tool.write_aligned(out, iter(made), wanted)
    assert matched == 2
    seq = read_posetrack(tmp_path / "v.json")
    assert [f.file_name for f in seq.frames] == [name for name, _ in wanted]
