"""The tracking loop: detect, estimate poses, propagate along flow, unify, match.

One `PoseTracker.track()` call streams a video (or folder of frames, or any iterable of
`tracker.video.Frame`) and yields a `FrameResult` per frame. Frames are processed in batches
of `detector.batch_size`: the detector and the pose net see all frames (all people) of a batch
in one call each. The steps that depend on the previous frame then run frame by frame:

1. flow from the previous frame to this one (`tracker.flow`);
2. the tracks predict where the previous frame's people are now (`TrackSet.predict`);
3. detections and those propagated people are unified (`tracker.unify`), and only the few
   extra people found by propagation need a second, small pose call;
4. the tracks match the frame's people and give them ids (`TrackSet.update`).

`tracker.output.TrackingOutput` writes the results.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from posenet.devices import resolve_device
from posenet.errors import DataError
from tracker.config import TrackerConfig, needs_flow
from tracker.detectors import PersonDetector, build_detector
from tracker.flow import FlowEstimator, build_flow
from tracker.poses import (
    NUM_JOINTS,
    GivenPoses,
    PoseEstimatorLike,
    build_pose_estimator,
    pose_layout,
    to_coco,
)
from tracker.postprocess import confirmed_only, fill_gaps, smooth_keypoints
from tracker.similarity import valid_boxes
from tracker.tracks import TrackSet, build_track_set
from tracker.unify import unify_people
from tracker.video import FOLDER_FPS, Frame, FrameReader

STAGES = ("decode", "detect", "flow", "pose", "track")


@dataclass
class FrameResult:
    """The tracked people of one frame. keypoints are COCO-17 (x, y, score) in image pixels;
    `posetrack_keypoints` holds PoseTrack-2018 slots when the source gave them natively (a
    PoseTrack-trained net, or --poses input), else None (derived from COCO when written)."""

    index: int
    name: str
    keypoints: np.ndarray  # (n, 17, 3) COCO order
    track_ids: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, 4) xyxy
    scores: np.ndarray  # (n,) person scores
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    image: np.ndarray | None = None  # RGB frame, kept for rendering
    posetrack_keypoints: np.ndarray | None = None  # (n, 17, 3) PoseTrack-2018 slots

    def __len__(self) -> int:
        return len(self.keypoints)


class PoseTracker:
    """Video -> tracked poses. Components not given are built from `config` (on
    `config.device`); `poses` (GivenPoses) replaces detection and pose estimation."""

    def __init__(
        self,
        config: TrackerConfig,
        detector: PersonDetector | None = None,
        pose_estimator: PoseEstimatorLike | None = None,
        flow: FlowEstimator | None = None,
        poses: GivenPoses | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.poses = poses
        self.detector = detector
        self.pose_estimator = pose_estimator
        if poses is None:
            if detector is None:
                self.detector = build_detector(config.detector, self.device)
            if pose_estimator is None:
                self.pose_estimator = build_pose_estimator(config.pose, self.device)
        self.layout = pose_layout(config.pose, self.pose_estimator)
        self.flow = None  # skipped entirely when no stage needs it (e.g. IoU similarity)
        if needs_flow(config):
            self.flow = flow if flow is not None else build_flow(config.flow, self.device)

    def track(
        self,
        source: str | os.PathLike | Iterable[Frame],
        start: int = 0,
        end: int | None = None,
        keep_images: bool = True,
        fps: float | None = None,
    ) -> Iterator[FrameResult]:
        """Yield one FrameResult per frame of `source` (video file, image folder, or Frames),
        in order. `fps`: the source's frame rate (default: the reader's, else FOLDER_FPS); it
        sets how many frames a lost track is remembered and the smoothing's time step."""
        reader = None
        if isinstance(source, (str, os.PathLike)):
            reader = FrameReader(source, start=start, end=end)
            frames: Iterable[Frame] = reader
        else:
            frames = source
        fps = fps or getattr(frames, "fps", None) or FOLDER_FPS
        t = self.config.tracking
        results = self._track(frames, reader, build_track_set(t, fps), keep_images)
        results = confirmed_only(results, t.confirm_hits, t.confirm_window)
        results = fill_gaps(results, t.fill_gaps)
        if t.smoothing:
            results = smooth_keypoints(results, fps, t.smoothing_min_cutoff, t.smoothing_beta)
        return results

    def _track(
        self,
        frames: Iterable[Frame],
        reader: FrameReader | None,
        tracks: TrackSet,
        keep_images: bool,
    ) -> Iterator[FrameResult]:
        """The frame loop: batches through detection and pose, then frame by frame."""
        state = _LoopState(tracks)
        batch_size = 1 if self.poses is not None else self.config.detector.batch_size
        failure: Exception | None = None
        try:
            batch: list[tuple[Frame, float]] = []
            iterator = iter(frames)
            while True:
                t0 = time.perf_counter()
                try:
                    frame = next(iterator, None)
                except Exception as err:  # e.g. a video broken mid-way: finish the frames so far
                    frame, failure = None, err
                if frame is not None:
                    batch.append((frame, time.perf_counter() - t0))
                if batch and (frame is None or len(batch) >= batch_size):
                    for result in self._process_batch(batch, state):
                        if not keep_images:
                            result.image = None
                        yield result
                    batch = []
                if frame is None:
                    break
        finally:
            if reader is not None:
                reader.close()
        if failure is not None:
            raise failure

    # ------------------------------------------------------------------ batch steps

    def _detect(self, frames: list[Frame]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Person boxes (score >= detector.score_thr) for every frame of a batch, one call."""
        thr = self.config.detector.score_thr
        out = []
        for boxes, scores in self.detector.detect(frames):
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            keep = (scores >= thr) & valid_boxes(boxes)  # x2 <= x1 or y2 <= y1: nobody
            out.append((boxes[keep], scores[keep]))
        return out

    def _estimate(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Poses for the given boxes, all images in one call; (n_i, 17, 3) float64 each."""
        if not any(len(b) for b in boxes):
            return [np.zeros((0, NUM_JOINTS, 3)) for _ in boxes]
        poses = self.pose_estimator.estimate(images, [np.asarray(b, np.float32) for b in boxes])
        return [np.asarray(p, dtype=np.float64).reshape(-1, NUM_JOINTS, 3) for p in poses]

    def _timed_estimate(self, timing: dict[str, float]):
        """`_estimate` that adds its seconds to the frame's pose stage."""

        def estimate(images, boxes):
            t0 = time.perf_counter()
            poses = self._estimate(images, boxes)
            timing["pose"] += time.perf_counter() - t0
            return poses

        return estimate

    def _process_batch(
        self, batch: list[tuple[Frame, float]], state: _LoopState
    ) -> Iterator[FrameResult]:
        """Detect and estimate poses for a whole batch, then go frame by frame."""
        frames = [f for f, _ in batch]
        timings = [{stage: 0.0 for stage in STAGES} for _ in frames]
        for t, (_, decode_s) in zip(timings, batch):
            t["decode"] = decode_s
        if self.poses is None:
            t0 = time.perf_counter()
            detections = self._detect(frames)
            _spread(timings, "detect", time.perf_counter() - t0)
            t0 = time.perf_counter()
            det_poses = self._estimate([f.image for f in frames], [b for b, _ in detections])
            _spread(timings, "pose", time.perf_counter() - t0)
        for k, frame in enumerate(frames):
            timing = timings[k]
            state.check_size(frame)
            flow = None
            if self.flow is not None and state.prev_image is not None:
                t0 = time.perf_counter()
                flow = self.flow(state.prev_image, frame.image)
                timing["flow"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            moved, moved_scores = state.tracks.predict(flow)
            timing["track"] += time.perf_counter() - t0
            native = None
            if self.poses is not None:
                native, boxes, scores = self.poses.lookup(frame.index, frame.name)
                keypoints = to_coco(native)
            else:
                keypoints, boxes, scores = unify_people(
                    frame.image,
                    detections[k],
                    det_poses[k],
                    moved,
                    moved_scores,
                    self._timed_estimate(timing),
                    self.config.tracking,
                )
                if self.layout == "posetrack18":
                    native, keypoints = keypoints, to_coco(keypoints)
            t0 = time.perf_counter()
            ids = np.asarray(state.tracks.update(keypoints, boxes, scores), dtype=np.int64)
            timing["track"] += time.perf_counter() - t0
            state.prev_image = frame.image
            yield FrameResult(
                index=frame.index,
                name=frame.name,
                keypoints=keypoints,
                track_ids=ids,
                boxes=boxes,
                scores=scores,
                timings=timing,
                image=frame.image,
                posetrack_keypoints=native,
            )


class _LoopState:
    """What one frame hands to the next: the tracks, the previous image and the frame size."""

    def __init__(self, tracks: TrackSet) -> None:
        self.tracks = tracks
        self.prev_image: np.ndarray | None = None
        self.size: tuple[int, int] | None = None

    def check_size(self, frame: Frame) -> None:
        """Frames of one source must share a size (flow and propagation compare them)."""
        size = tuple(frame.image.shape[:2])
        if self.size is None:
            self.size = size
        elif size != self.size:
            raise DataError(
                f"frame {frame.index} ({frame.name}): size {size[1]}x{size[0]} differs from "
                f"{self.size[1]}x{self.size[0]} of the first frame"
            )


def _spread(timings: list[dict[str, float]], stage: str, seconds: float) -> None:
    """Share a batched stage's time equally among the frames of the batch."""
    for t in timings:
        t[stage] += seconds / len(timings)
