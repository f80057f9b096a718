"""How --poses / --detections files line up with the video (tracker.inputs.InputMatch, as
GivenPoses and ReplayDetector fill it)."""

import json

import numpy as np
import pytest

from posenet.errors import DataError
from tests.conftest import load_tool
from tests.tracker.test_poses import pose_file
from tracker.inputs import InputMatch, centres_outside, report_inputs
from tracker.output import TrackingOutput
from tracker.poses import GivenPoses
from tracker.replay import ReplayDetector
from tracker.types import Frame, FrameResult


def test_centres_outside():
    boxes = [[0, 0, 10, 10], [60, 40, 70, 50], [-30, 5, -2, 9], [40, 10, 80, 20]]
    assert centres_outside(boxes, 64, 48) == 2  # the 2nd (centre 65, 45) and the 3rd


def test_pose_file_of_another_video_is_reported(tmp_path):
    """A 76-frame file on a 5-frame video: frames 0-4 match by number, 71 file frames match
    nothing; people placed for a bigger video lie outside the 64x48 frames."""
    given = GivenPoses(pose_file(tmp_path / "p.json", range(76), xy=(300, 200)), (64, 48))
    for t in range(5):
        assert len(given.lookup(t, f"{t:06d}.jpg")[0]) == 1
    counts = given.match.counts()
    assert counts == {
        "file_frames": 76,
        "file_frames_unmatched": 71,
        "video_frames": 5,
        "video_frames_without_entry": 0,
        "people": 5,
        "people_outside_image": 5,
    }
    notes = given.match.notes(whole_video=True)
    assert any("71 of the 76 frames of pose file" in n and "p.json" in n for n in notes)
    assert any("5 of the 5 people" in n and "64x48" in n for n in notes)
    # A --start/--end range leaves file frames unmatched on purpose: not reported then.
    assert not any("71 of the 76" in n for n in given.match.notes(whole_video=False))


def test_video_frames_without_entry_and_no_match_at_all(tmp_path):
    given = GivenPoses(pose_file(tmp_path / "p.json", [100, 101]), (64, 48))
    for t in range(3):
        assert len(given.lookup(t, f"{t:06d}.jpg")[0]) == 0
    match = given.match
    assert match.counts()["video_frames_without_entry"] == 3
    assert any("3 of the 3 frames tracked have no entry" in n for n in match.notes(True))
    assert "no frame of pose file" in match.no_people_note()
    assert not any("outside" in n for n in match.notes(True))


def test_replay_detector_counts_boxes_outside_and_frames_without_entry(tmp_path):
    entries = [
        {"image_id": t, "category_id": 1, "bbox": [500.0, 300.0, 80.0, 200.0], "score": 0.9}
        for t in range(3)
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries))
    detector = ReplayDetector(path)
    image = np.zeros((48, 64, 3), np.uint8)
    found = detector.detect([Frame(t, image, f"{t:06d}.jpg") for t in range(5)])
    assert [len(b) for b, _ in found] == [1, 1, 1, 0, 0]
    assert detector.match.counts() == {
        "file_frames": 3,
        "file_frames_unmatched": 0,
        "video_frames": 5,
        "video_frames_without_entry": 2,
        "people": 3,
        "people_outside_image": 3,
    }
    note = detector.match.no_people_note()
    assert "has nobody in the 3 frames that matched" in note


def test_report_inputs_fills_the_summary_and_names_the_cause(tmp_path):
    given = GivenPoses(pose_file(tmp_path / "p.json", [100]), (64, 48))
    given.lookup(0, "000000.jpg")
    empty = FrameResult(
        0, "a.jpg", np.zeros((0, 17, 3)), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0)
    )
    output = TrackingOutput(tmp_path / "a.json", "a")
    output.write(empty)
    report_inputs(output, [given, None, object()], whole_video=True)
    summary = output.close().to_dict()
    assert summary["inputs"]["poses"]["file_frames_unmatched"] == 1
    assert any("no frame of pose file" in n and "p.json" in n for n in summary["notes"])
    assert not any("check the detector" in n for n in summary["notes"])


def test_match_without_frame_size_counts_no_outside():
    match = InputMatch("detections", "detection file d.json", [1, 2])
    match.add(1, np.array([[500.0, 500, 600, 600]]), None)
    assert match.counts()["people_outside_image"] == 0 and match.counts()["people"] == 1


def test_input_lists_that_include_themselves_or_nothing_are_errors(tmp_path):
    from tracker.run import expand_inputs

    (tmp_path / "a.mp4").write_bytes(b"")
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("a.mp4\nsecond.txt\n")
    second.write_text("# the first list again\nfirst.txt\n")
    with pytest.raises(DataError, match=r"first\.txt: the input list includes itself"):
        expand_inputs([str(first)])
    mine = tmp_path / "self.txt"
    mine.write_text("self.txt\n")
    with pytest.raises(DataError, match=r"self\.txt: the input list includes itself"):
        expand_inputs([str(mine)])
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(DataError, match=r"empty\.txt: the input list names no input"):
        expand_inputs([str(empty)])
    # The same list twice side by side is no cycle.
    listing = tmp_path / "one.txt"
    listing.write_text("a.mp4\n")
    assert expand_inputs([str(listing), str(listing)]) == [str(tmp_path / "a.mp4")]


def test_empty_input_list_is_one_line_error_from_the_tool(tmp_path, capsys):
    tool = load_tool("track_video")
    empty = tmp_path / "videos.txt"
    empty.write_text("\n")
    code = tool.run_cli(tool.main, [str(empty), "--out", str(tmp_path / "o"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{empty}: the input list names no" in err, err
