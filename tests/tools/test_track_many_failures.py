"""Several videos over torchrun when one of them is bad: every good video is written, the
merged summary lists the failed one, and the launch exits 0 (no ChildFailedError traceback);
in one process the same run exits 2, as the README says."""

from __future__ import annotations

import json

from tests.conftest import load_tool, torchrun
from tests.tools.test_track_video import FAST
from tests.tracker.test_video import write_test_video


def test_a_bad_video_is_listed_and_torchrun_exits_0(tmp_path):
    for name, frames in (("walk", 4), ("run", 3)):
        write_test_video(tmp_path / f"{name}.mp4", frames)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    detections = tmp_path / "dets.json"
    entries = [{"image_id": t, "bbox": [10, 8, 20, 30], "score": 0.9} for t in range(4)]
    detections.write_text(json.dumps(entries))
    sources = [str(tmp_path / f"{n}.mp4") for n in ("walk", "broken", "run")]
    common = [*sources, "--no-render", "--detections", str(detections), *FAST]
    done = torchrun("track_video", *common, "--out", str(tmp_path / "two"))  # asserts exit 0
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr
    assert "1 of the 3 videos failed" in done.stderr
    merged = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert merged["failed"] == ["broken"] and merged["frames"] == 7
    assert any(n.startswith("broken: ") for n in merged["notes"])
    for name in ("walk", "run"):
        summary = json.loads((tmp_path / "two" / name / "summary.json").read_text())
        assert summary["complete"] is True
    # One process: the same run exits 2 (README: a failed video is a failed run).
    tool = load_tool("track_video")
    assert tool.run_cli(tool.main, [*common, "--out", str(tmp_path / "one")]) == 2
    merged = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert merged["failed"] == ["broken"]
