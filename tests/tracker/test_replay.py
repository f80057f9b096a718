"""ReplayDetector with PoseTrack image ids (1VVVVVVFFFF): frames are tied to the detections of
their own video, by its number and the frame number, never by the order of another video's ids."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.errors import DataError
from tests.conftest import shared_file
from tracker.inputs import start_inputs
from tracker.replay import ReplayDetector, posetrack_id_parts, video_number
from tracker.types import Frame

MMPOSE_DETS = "mmpose/posetrack18/annotations/test_posetrack18_human_detections.json"


def pid(video: int, frame: int) -> int:
    return 10_000_000_000 + video * 10_000 + frame


def frames(count: int) -> list[Frame]:
    return [Frame(i, np.zeros((100, 200, 3), np.uint8), f"{i:06d}.jpg") for i in range(count)]


def test_id_rule_and_video_number():
    assert posetrack_id_parts(10128340003) == (12834, 3)
    assert posetrack_id_parts(785) is None and posetrack_id_parts("10128340003") is None
    assert video_number("012834_mpii_test") == 12834 and video_number("clip") is None


def test_shared_file_of_three_videos_on_another_video_is_refused():
    path = shared_file(MMPOSE_DETS)
    entries = json.loads(path.read_text())
    detector = ReplayDetector(path)
    with pytest.raises(DataError, match=rf"{path}: .*videos 3418, 9473, 12834.*is video 1:"):
        detector.start_video("000001_mpiinew_test")
    with pytest.raises(DataError, match="named without a video number"):
        detector.start_video("my_clip")
    detector.start_video("012834_mpii_test")
    found = detector.detect(frames(2))
    want = [e for e in entries if e["image_id"] == pid(12834, 0) and e["score"] >= 0.5]
    assert len(found[0][0]) == len(want) > 0 and len(found[1][0]) == 0
    # Before, frame 0 got the smallest id's boxes: those of video 3418.
    assert detector.match.counts()["file_frames"] == 1


def test_frames_partly_matched_get_no_boxes_and_a_note(tmp_path):
    path = tmp_path / "dets.json"
    boxes = {pid(7, 1): [10, 10, 30, 60], pid(7, 3): [50, 10, 30, 60], pid(8, 0): [0, 0, 9, 9]}
    path.write_text(json.dumps([{"image_id": i, "bbox": b} for i, b in boxes.items()]))
    detector = ReplayDetector(path)
    start_inputs([None, detector], "000007_mpii_train")
    found = detector.detect(frames(5))
    assert [len(b) for b, _ in found] == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(found[3][0], [[50, 10, 80, 70]])
    notes = detector.match.notes(whole_video=True)
    assert any("3 of the 5 frames tracked have no entry" in n for n in notes), notes


def test_file_of_one_video_serves_an_input_without_a_number(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": pid(5, k), "bbox": [k, 0, 5, 5]} for k in (0, 1)]))
    detector = ReplayDetector(path)
    detector.start_video("phone_clip")
    assert [b[0, 0] for b, _ in detector.detect(frames(2))] == [0, 1]
    with pytest.raises(DataError, match="is video 6:"):
        ReplayDetector(path).start_video("000006_mpii_test")
