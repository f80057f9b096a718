"""PoseTracker and its outputs with fake detector, pose estimator and flow (no networks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.errors import ConfigError, DataError
from posenet.posetrack.formats import read_posetrack
from tracker.config import TrackerConfig, load_tracker_config, needs_flow
from tracker.output import TrackingOutput
from tracker.pipeline import PoseTracker
from tracker.video import Frame

H, W = 120, 160
TEMPLATE = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 17), [0.5]), -1).reshape(17, 2)


def pose_in(box: np.ndarray, score: float = 0.9) -> np.ndarray:
    """A 17-joint pose spread inside the box (diagonal line), all joints with `score`."""
    x0, y0, x1, y1 = box
    t = np.linspace(0.1, 0.9, 17)
    return np.column_stack([x0 + t * (x1 - x0), y0 + t * (y1 - y0), np.full(17, score)])


class FakeDetector:
    """Per-frame boxes from a list; records the batch sizes it was called with."""

    def __init__(self, boxes_per_frame: list[list[list[float]]], score: float = 0.9) -> None:
        self.boxes = boxes_per_frame
        self.score = score
        self.calls: list[int] = []
        self._next = 0

    def detect(self, frames):
        self.calls.append(len(frames))
        out = []
        for _ in frames:
            boxes = np.array(self.boxes[self._next], np.float32).reshape(-1, 4)
            self._next += 1
            out.append((boxes, np.full(len(boxes), self.score, np.float32)))
        return out


class FakePoses:
    """A pose spread along each box's diagonal; records boxes per call."""

    def __init__(self, score: float = 0.9) -> None:
        self.score = score
        self.calls: list[list[int]] = []

    def estimate(self, images, boxes):
        self.calls.append([len(b) for b in boxes])
        return [np.array([pose_in(b, self.score) for b in bs]).reshape(-1, 17, 3) for bs in boxes]


class CountingFlow:
    """Zero flow; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, prev, cur):
        self.calls += 1
        return np.zeros(prev.shape[:2] + (2,), np.float32)


def frames(n: int, size=(H, W)) -> list[Frame]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size + (3,), dtype=np.uint8) for _ in range(n)]
    return [Frame(t, image, f"{t:06d}.jpg") for t, image in enumerate(images)]


def moving_boxes(n: int) -> list[list[list[float]]]:
    """Two people walking right by 2 px per frame."""
    return [
        [[10 + 2 * t, 10, 50 + 2 * t, 100], [90 + 2 * t, 10, 130 + 2 * t, 100]] for t in range(n)
    ]


def cpu_config(**tracking) -> TrackerConfig:
    cfg = TrackerConfig(device="cpu")
    for key, value in tracking.items():
        setattr(cfg.tracking, key, value)
    return cfg


def test_config_choices_and_flow_need(tmp_path):
    assert needs_flow(TrackerConfig())
    assert not needs_flow(load_tracker_config("configs/tracking/iou.yaml"))
    with pytest.raises(ConfigError, match="tracking.similarity"):
        load_tracker_config(None, ["tracking.similarity=boxes"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow:\n  nam: dis\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*flow.nam"):
        load_tracker_config(bad)


# ----------------------------------------------------------------------------- tracking


def test_batches_detection_and_pose_and_keeps_ids():
    n = 7
    detector, poses, flow = FakeDetector(moving_boxes(n)), FakePoses(), CountingFlow()
    cfg = cpu_config()
    cfg.detector.batch_size = 3
    results = list(PoseTracker(cfg, detector, poses, flow).track(frames(n)))
    assert detector.calls == [3, 3, 1]
    assert poses.calls[:1] == [[2, 2, 2]]  # all people of a batch in one call
    assert flow.calls == n - 1
    assert [r.index for r in results] == list(range(n))
    for r in results:
        assert r.keypoints.shape == (2, 17, 3) and r.boxes.shape == (2, 4)
        np.testing.assert_array_equal(r.track_ids, [0, 1])
        np.testing.assert_allclose(r.scores, 0.9 * 0.9)
        assert set(r.timings) == {"decode", "detect", "flow", "pose", "track"}


def test_missed_detection_is_recovered_by_propagation():
    boxes = moving_boxes(5)
    boxes[2] = boxes[2][:1]  # the detector misses person 1 in frame 2
    detector, poses = FakeDetector(boxes), FakePoses()
    results = list(PoseTracker(cpu_config(), detector, poses, CountingFlow()).track(frames(5)))
    assert [len(r) for r in results] == [2, 2, 2, 2, 2]
    np.testing.assert_array_equal(results[2].track_ids, [0, 1])
    np.testing.assert_array_equal(results[4].track_ids, [0, 1])
    # The propagated box surrounds frame 1's joints (zero flow: x 96-128, y 19-91), enlarged.
    x0, y0, x1, y1 = results[2].boxes[1]
    assert x0 < 96 and y0 < 19 and x1 > 128 and y1 > 91
    assert 32 * 1.1 < x1 - x0 < 32 * 1.35 and 72 * 1.1 < y1 - y0 < 72 * 1.35
    # Its box score is the previous person score, so the person fades while only propagated.
    assert results[2].scores[1] == pytest.approx(results[1].scores[1] * 0.9)


def test_propagated_box_without_a_confident_pose_is_dropped():
    boxes = moving_boxes(3)
    boxes[2] = boxes[2][:1]

    class FadingPoses(FakePoses):  # nobody is left where person 1 was
        def estimate(self, images, boxes):
            out = super().estimate(images, boxes)
            if len(self.calls) > 1:
                out = [np.concatenate([p[..., :2], np.full_like(p[..., :1], 0.1)], -1) for p in out]
            return out

    cfg = cpu_config()
    cfg.detector.batch_size = 3
    tracker = PoseTracker(cfg, FakeDetector(boxes), FadingPoses(), CountingFlow())
    results = list(tracker.track(frames(3)))
    assert [len(r) for r in results] == [2, 2, 1]


def test_iou_without_propagation_computes_no_flow():
    flow = CountingFlow()
    cfg = cpu_config(similarity="iou", propagate_boxes=False)
    tracker = PoseTracker(cfg, FakeDetector(moving_boxes(4)), FakePoses(), flow)
    results = list(tracker.track(frames(4)))
    assert flow.calls == 0
    np.testing.assert_array_equal(results[-1].track_ids, [0, 1])
    assert PoseTracker(cfg, FakeDetector([]), FakePoses()).flow is None


def test_frames_without_people_and_images_dropped_on_request():
    boxes = [[], [[10, 10, 50, 100]], []]
    tracker = PoseTracker(cpu_config(), FakeDetector(boxes), FakePoses(), CountingFlow())
    results = list(tracker.track(frames(3), keep_images=False))
    assert [len(r) for r in results] == [0, 1, 1]  # frame 2: the person carried by propagation
    assert results[0].keypoints.shape == (0, 17, 3) and results[0].track_ids.shape == (0,)
    assert all(r.image is None for r in results)


def test_low_detection_scores_are_ignored():
    cfg = cpu_config()
    tracker = PoseTracker(cfg, FakeDetector(moving_boxes(2), score=0.3), FakePoses())
    results = list(tracker.track(frames(2)))
    assert [len(r) for r in results] == [0, 0]


def test_boxes_of_no_size_from_any_detector_are_dropped():
    """x2 <= x1 or y2 <= y1 (or not finite) holds nobody: never reaches pose or output."""
    good = [10, 10, 50, 100]
    bad = [[60, 10, 40, 100], [90, 50, 130, 50], [float("nan"), 0, 5, 5], [0, 0, np.inf, 9]]
    poses = FakePoses()
    cfg = cpu_config(propagate_boxes=False)
    tracker = PoseTracker(cfg, FakeDetector([[good, *bad]] * 2), poses, CountingFlow())
    results = list(tracker.track(frames(2)))
    assert [len(r) for r in results] == [1, 1]
    np.testing.assert_allclose(results[1].boxes, [good])
    assert poses.calls == [[1, 1]]


def test_frames_of_changing_size_raise_data_error():
    mixed = frames(2) + [Frame(2, np.zeros((60, 80, 3), np.uint8), "000002.jpg")]
    tracker = PoseTracker(cpu_config(), FakeDetector(moving_boxes(3)), FakePoses(), CountingFlow())
    with pytest.raises(DataError, match="000002.jpg.*differs"):
        list(tracker.track(mixed))


def test_posetrack_net_keeps_its_head_joints():
    cfg = cpu_config()
    cfg.pose.layout = "posetrack18"
    tracker = PoseTracker(cfg, FakeDetector(moving_boxes(1)), FakePoses(), CountingFlow())
    result = next(tracker.track(frames(1)))
    assert (result.keypoints[:, 1:5] == 0).all()  # no COCO eyes/ears
    np.testing.assert_allclose(result.posetrack_keypoints[:, 1:3, 2], 0.9)  # head_bottom/top kept


# ----------------------------------------------------------------------------- outputs


def broken_source(n_good: int):
    """Frames 0..n_good-1, then the decoder fails (a truncated video)."""
    yield from frames(n_good)
    raise DataError("clip.mp4: video broken at frame 3")


def test_interrupted_source_still_writes_every_frame_so_far(tmp_path):
    tracker = PoseTracker(cpu_config(), FakeDetector(moving_boxes(3)), FakePoses(), CountingFlow())
    out = TrackingOutput(tmp_path / "clip.json", "clip", video_path=tmp_path / "clip.mp4", fps=10)
    with pytest.raises(DataError, match="broken at frame 3"):
        with out:
            for result in tracker.track(broken_source(3)):
                out.write(result)
    seq = read_posetrack(tmp_path / "clip.json")
    assert [f.frame_index for f in seq.frames] == [0, 1, 2]
    assert [len(f) for f in seq.frames] == [2, 2, 2]
    assert out.summary.complete is False and out.summary.frames == 3
    import av

    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_keyboard_interrupt_closes_outputs(tmp_path):
    out = TrackingOutput(tmp_path / "k.json", "k", format="posetrack17")
    tracker = PoseTracker(cpu_config(), FakeDetector(moving_boxes(4)), FakePoses(), CountingFlow())
    with pytest.raises(KeyboardInterrupt):
        with out:
            for result in tracker.track(frames(4)):
                out.write(result)
                if result.index == 1:
                    raise KeyboardInterrupt
    assert len(json.loads((tmp_path / "k.json").read_text())["annolist"]) == 2
