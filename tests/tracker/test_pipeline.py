"""PoseTracker and its outputs with fake detector, pose estimator and flow (no networks)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from posenet.errors import ConfigError, DataError
from posenet.posetrack.formats import read_posetrack
from tracker.config import TrackerConfig, load_tracker_config, needs_flow
from tracker.output import TrackingOutput
from tracker.pipeline import PoseTracker
from tracker.types import Frame

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


def test_low_detection_scores_are_dropped_by_the_built_detector_alone(tmp_path):
    """detector.score_thr is applied in one place: the detector built from the config (here
    replayed boxes, 0.3 and 0.9); a detector handed in is taken at its word."""
    entries = [
        {"image_id": t, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}
        for t, frame_boxes in enumerate(moving_boxes(2))
        for (x0, y0, x1, y1), score in zip(frame_boxes, (0.3, 0.9))
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries))
    cfg = cpu_config()
    cfg.detector.replay = str(path)
    results = list(PoseTracker(cfg, pose_estimator=FakePoses()).track(frames(2)))
    assert [len(r) for r in results] == [1, 1]
    np.testing.assert_allclose(results[1].boxes, [moving_boxes(2)[1][1]])
    given = PoseTracker(cfg, FakeDetector(moving_boxes(2), score=0.3), FakePoses())
    assert [len(r) for r in given.track(frames(2))] == [2, 2]


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


# ----------------------------------------------------------------------------- overlap

STAGE_S = 0.05  # seconds each fake stage sleeps per frame (sleeping releases the GIL)


class IndexedDetector:
    """Boxes of each frame by its index, after sleeping `sleep` s per frame; records calls."""

    def __init__(self, boxes_per_frame, sleep: float = 0.0, fail_at: int | None = None) -> None:
        self.boxes, self.sleep, self.fail_at = boxes_per_frame, sleep, fail_at
        self.calls: list[list[int]] = []

    def detect(self, frames):
        self.calls.append([f.index for f in frames])
        time.sleep(self.sleep * len(frames))
        if self.fail_at is not None and any(f.index == self.fail_at for f in frames):
            raise RuntimeError(f"detector failed at frame {self.fail_at}")
        out = []
        for f in frames:
            boxes = np.array(self.boxes[f.index], np.float32).reshape(-1, 4)
            out.append((boxes, np.full(len(boxes), 0.9, np.float32)))
        return out


class SleepyPoses(FakePoses):
    def __init__(self, sleep: float = 0.0) -> None:
        super().__init__()
        self.sleep = sleep

    def estimate(self, images, boxes):
        time.sleep(self.sleep * len(images))
        return super().estimate(images, boxes)


class SleepyFlow(CountingFlow):
    def __init__(self, sleep: float = 0.0) -> None:
        super().__init__()
        self.sleep = sleep

    def __call__(self, prev, cur):
        time.sleep(self.sleep)
        return super().__call__(prev, cur)


def sleepy_source(n: int, sleep: float):
    """Frames that take `sleep` s each to 'decode'."""
    for frame in frames(n):
        time.sleep(sleep)
        yield frame


def overlap_run(n: int, sleep: float, overlap: bool = True, batch_size: int = 1):
    boxes = moving_boxes(n)
    boxes[5] = boxes[5][:1]  # a missed person: one small pose call in the sequential step
    cfg = cpu_config(confirm_hits=1)
    cfg.detector.batch_size = batch_size
    detector = IndexedDetector(boxes, sleep)
    tracker = PoseTracker(cfg, detector, SleepyPoses(sleep), SleepyFlow(sleep))
    tracker._overlap = overlap
    start = time.perf_counter()
    results = list(tracker.track(sleepy_source(n, sleep)))
    return results, time.perf_counter() - start


def test_stages_overlap_wall_time_is_the_slowest_stage_not_the_sum():
    n = 32
    results, wall = overlap_run(n, STAGE_S)
    totals = {s: sum(r.timings[s] for r in results) for s in ("decode", "detect", "pose", "flow")}
    # Every stage really spent its time (measured inside its own thread) ...
    for stage, seconds in totals.items():
        assert seconds >= 0.9 * (n - (stage == "flow")) * STAGE_S, (stage, seconds)
    # ... yet the run took about as long as the slowest of them, far from their sum.
    assert wall <= 1.3 * max(totals.values()), (wall, totals)
    assert wall < 0.5 * sum(totals.values())


@pytest.mark.parametrize("batch_size", [1, 3])
def test_overlapped_results_equal_the_serial_run(batch_size):
    overlapped, _ = overlap_run(12, 0.0, overlap=True, batch_size=batch_size)
    serial, _ = overlap_run(12, 0.0, overlap=False, batch_size=batch_size)
    assert [r.index for r in overlapped] == list(range(12))
    assert len(overlapped[5]) == 2  # the missed person came from propagation
    for a, b in zip(overlapped, serial):
        assert a.index == b.index
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_error_in_a_stage_stops_every_stage_after_the_frames_before_it():
    cfg = cpu_config(confirm_hits=1)
    cfg.detector.batch_size = 2
    detector = IndexedDetector(moving_boxes(10), fail_at=4)
    tracker = PoseTracker(cfg, detector, FakePoses(), CountingFlow())
    got = []
    with pytest.raises(RuntimeError, match="failed at frame 4"):
        for result in tracker.track(frames(10)):
            got.append(result.index)
    assert got == [0, 1, 2, 3]
    assert [t for t in threading.enumerate() if t.name.startswith("tracker-")] == []


# ----------------------------------------------------------------------------- keyframes


def test_detector_runs_on_keyframes_only_and_finds_newcomers_at_the_next_one():
    n = 8
    boxes = [[[10 + 2 * t, 10, 50 + 2 * t, 100]] for t in range(n)]
    for t in range(2, n):  # person 1 enters at frame 2, between keyframes 0 and 3
        boxes[t].append([90 + 2 * t, 10, 130 + 2 * t, 100])
    cfg = cpu_config(confirm_hits=1)
    cfg.detector.batch_size, cfg.detector.interval = 4, 3
    detector, poses = IndexedDetector(boxes), FakePoses()
    results = list(PoseTracker(cfg, detector, poses, CountingFlow()).track(frames(n)))
    assert detector.calls == [[0, 3], [6]]
    # Batch calls for the keyframes' people, one small call per frame in between (the order
    # of the two kinds depends on the threads).
    expected = [[1, 0, 0, 2], [0, 0, 2, 0], [1], [1], [2], [2], [2]]
    assert sorted(poses.calls) == sorted(expected)
    assert [len(r) for r in results] == [1, 1, 1, 2, 2, 2, 2, 2]
    for r in results[3:]:
        np.testing.assert_array_equal(r.track_ids, [0, 1])
    # Between keyframes a person is looked for around their joints carried by the flow (zero
    # here): the propagated box encloses the previous frame's joints.
    for prev, cur in zip(results[:2], results[1:3]):
        x0, y0, x1, y1 = cur.boxes[0]
        xy = prev.keypoints[0, :, :2]
        assert x0 < xy[:, 0].min() and x1 > xy[:, 0].max()
        assert y0 < xy[:, 1].min() and y1 > xy[:, 1].max()


def test_interval_is_validated():
    with pytest.raises(ConfigError, match="detector.interval must be >= 1"):
        load_tracker_config(None, ["detector.interval=0"])
    with pytest.raises(ConfigError, match="propagate_boxes"):
        load_tracker_config(None, ["detector.interval=3", "tracking.propagate_boxes=false"])


def test_default_config_on_a_cpu_points_to_the_cpu_preset():
    from tracker.pipeline import cpu_preset_note

    cfg = TrackerConfig()
    assert "configs/tracking/cpu.yaml" in cpu_preset_note(cfg, "cpu")
    assert cpu_preset_note(cfg, "cuda:0") is None
    preset = load_tracker_config("configs/tracking/cpu.yaml")
    assert preset.detector.interval > 1 and cpu_preset_note(preset, "cpu") is None
    tracker = PoseTracker(cpu_config(), FakeDetector([]), FakePoses(), CountingFlow())
    assert len(tracker.notes) == 1
    replayed = load_tracker_config(None, ["detector.replay=dets.json"])
    assert cpu_preset_note(replayed, "cpu") is None  # no detector runs: nothing to speed up


def test_cpu_thread_share_is_scoped_to_a_tracking_run():
    """Building a tracker leaves the process's thread counts alone; tracking on a CPU gives
    detection and pose half the cores each, and puts the counts back when it ends."""
    cv2 = pytest.importorskip("cv2")
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads(), cv2.getNumThreads()
    seen = []

    class Spy(FakePoses):
        def estimate(self, images, boxes):
            seen.append(torch.get_num_threads())
            return super().estimate(images, boxes)

    try:
        torch.set_num_threads(3)
        cv2.setNumThreads(3)
        tracker = PoseTracker(cpu_config(), FakeDetector(moving_boxes(2)), Spy(), CountingFlow())
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 3)
        assert len(list(tracker.track(frames(2)))) == 2
        assert seen and set(seen) != {3}
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 3)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
