"""The tracking loop: detect, estimate poses, propagate along flow, unify, match.

One `PoseTracker.track()` call streams a video (or folder of frames, or any iterable of
`tracker.types.Frame`) and yields a `tracker.types.FrameResult` per frame, in order. Frames
travel in batches of `detector.batch_size` through stages that run at once on consecutive batches
(`tracker.stages`): while batch k is unified and matched, batch k+1 has its optical flow
computed, batch k+2 its poses estimated and batch k+3 its people detected, each stage on its
own thread, with at most one batch waiting between two stages.

1. decode: frames are read (a `FrameReader` decodes on a thread of its own) and batched;
2. detect: person boxes for all keyframes of a batch in one call (every frame when
   `detector.interval` is 1, the paper; every k-th frame otherwise);
3. pose: the poses of all detected people of a batch in one call;
4. flow: optical flow from each frame's predecessor, in order (`tracker.flow`);
5. track, frame by frame, the only step that needs the previous frame's result: the tracks
   predict where the previous frame's people are now (`TrackSet.predict`), detections and
   those propagated people are unified (`tracker.unify`; between keyframes the propagated
   people are all there is), the few extra people get a second, small pose call, and the
   tracks match the frame's people and give them ids (`TrackSet.update`).

`tracker.output.TrackingOutput` writes the results.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from posenet.devices import resolve_device
from posenet.errors import DataError
from tracker.config import NO_WEIGHTS, DetectorConfig, TrackerConfig, needs_flow
from tracker.detector_factory import build_detector
from tracker.detectors import PersonDetector
from tracker.flow import FlowEstimator, build_flow
from tracker.poses import (
    GivenPoses,
    PoseEstimatorLike,
    build_pose_estimator,
    pose_layout,
    to_coco,
)
from tracker.postprocess import confirmed_only, fill_gaps, smooth_keypoints
from tracker.similarity import valid_boxes
from tracker.stages import StageChain, shared_cpu_cores
from tracker.tracks import TrackSet
from tracker.types import NUM_JOINTS, Detections, Frame, FrameResult
from tracker.unify import unify_people
from tracker.video import FOLDER_FPS, FrameReader

STAGES = ("decode", "detect", "flow", "pose", "track")
# End-to-end speed of configs/tracking/cpu.yaml over the default config, measured in one run
# on a 2-core CPU (README, "A CPU preset": tools/benchmark.py track --configs default,cpu gave
# 10.5x and 10.9x in two 12-frame runs).
CPU_PRESET_SPEEDUP = "10"


@dataclass
class Batch:
    """Consecutive frames on their way through the stages, with what each stage added."""

    frames: list[Frame]
    keyframe: list[bool]  # the detector runs on these frames
    timings: list[dict[str, float]]  # per frame: seconds per stage, measured in the stages
    detections: list[Detections] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)  # (n_i, 17, 3) of the detections
    flows: list[np.ndarray | None] = field(default_factory=list)  # from the frame before

    def spread(self, stage: str, seconds: float) -> None:
        """Share a batched stage's time equally among the frames of the batch."""
        for t in self.timings:
            t[stage] += seconds / len(self.timings)


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
        self._overlap = True  # False: the same stages one after another (tests compare)
        note = cpu_preset_note(config, self.device) if poses is None else None
        self.notes = [note] if note else []  # for the tools to show
        random = random_weights_note(config, detector is None, pose_estimator is None)
        if poses is None and random:
            self.notes.insert(0, random)
        # People the input gave (detected or --poses) and people the tracks matched, in the
        # last track() call: when none is shown, the tools say whether the tracker dropped them.
        self.people_in = 0
        self.people_matched = 0

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
        self.people_in = self.people_matched = 0
        tracks = TrackSet(t, fps)
        results = self._track(frames, reader, tracks, keep_images)
        results = confirmed_only(
            results, t.confirm_hits, t.confirm_window, tracks.someone_may_return
        )
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
        """The loop: batches through the overlapped stages, then frame by frame in order."""
        if self.poses is not None:  # given poses: nothing to detect or estimate
            stages, batch_size = [("flow", FlowStage(self.flow))], 1
        else:
            stages = [
                ("detect", self._detect),
                ("pose", self._estimate_batch),
                ("flow", FlowStage(self.flow)),
            ]
            batch_size = self.config.detector.batch_size
        batches = read_batches(frames, batch_size, self.config.detector.interval)
        chain = StageChain(batches, stages, threaded=self._overlap)
        # On a CPU, detection and pose compute at once: half the cores each while tracking,
        # the process's thread counts as they were afterwards.
        cores = shared_cpu_cores() if str(self.device).startswith("cpu") else nullcontext()
        with cores:  # exited after the stage threads are stopped
            try:
                for batch in chain:
                    for k in range(len(batch.frames)):
                        result = self._track_frame(batch, k, tracks)
                        if not keep_images:
                            result.image = None
                        yield result
            finally:
                chain.close()
                if reader is not None:
                    reader.close()

    # ------------------------------------------------------------------ stages

    def _detect(self, batch: Batch) -> Batch:
        """Person boxes for the keyframes of a batch, one call (the detector keeps those with
        score >= detector.score_thr); other frames get none (their people come from the
        previous frame)."""
        t0 = time.perf_counter()
        keyframes = [f for f, key in zip(batch.frames, batch.keyframe) if key]
        found = iter(self.detector.detect(keyframes) if keyframes else [])
        for key in batch.keyframe:
            boxes, scores = next(found) if key else (np.zeros((0, 4)), np.zeros(0))
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            keep = valid_boxes(boxes)  # x2 <= x1 or y2 <= y1: nobody
            batch.detections.append((boxes[keep], scores[keep]))
        batch.spread("detect", time.perf_counter() - t0)
        return batch

    def _estimate_batch(self, batch: Batch) -> Batch:
        """Poses of every detected person of a batch, one call."""
        t0 = time.perf_counter()
        batch.poses = self._estimate(
            [f.image for f in batch.frames], [b for b, _ in batch.detections]
        )
        batch.spread("pose", time.perf_counter() - t0)
        return batch

    def _estimate(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Poses for the given boxes, all images in one call; (n_i, 17, 3) float64 each."""
        if not any(len(b) for b in boxes):
            return [np.zeros((0, NUM_JOINTS, 3)) for _ in boxes]
        poses = self.pose_estimator.estimate(images, [np.asarray(b, np.float32) for b in boxes])
        return [np.asarray(p, dtype=np.float64).reshape(-1, NUM_JOINTS, 3) for p in poses]

    # ------------------------------------------------------------------ sequential step

    def _track_frame(self, batch: Batch, k: int, tracks: TrackSet) -> FrameResult:
        """Propagate the previous frame's people, unify them with the detections (a second
        pose call for the people only propagation found), and match them to the tracks."""
        frame, timing = batch.frames[k], batch.timings[k]
        t0 = time.perf_counter()
        moved, moved_scores = tracks.predict(batch.flows[k])
        native = None
        if self.poses is not None:
            native, boxes, scores = self.poses.lookup(frame.index, frame.name)
            keypoints = to_coco(native)
            self.people_in += len(keypoints)
        else:
            self.people_in += len(batch.detections[k][0])
            keypoints, boxes, scores = unify_people(
                frame.image,
                batch.detections[k],
                batch.poses[k],
                moved,
                moved_scores,
                self._estimate,
                self.config.tracking,
            )
            if self.layout == "posetrack18":
                native, keypoints = keypoints, to_coco(keypoints)
        ids = np.asarray(tracks.update(keypoints, boxes, scores), dtype=np.int64)
        self.people_matched += len(ids)
        timing["track"] += time.perf_counter() - t0  # the whole step, its pose call included
        return FrameResult(
            index=frame.index,
            name=frame.name,
            keypoints=keypoints,
            track_ids=ids,
            boxes=boxes,
            scores=scores,
            timings=timing,
            image=frame.image,
            posetrack_keypoints=native,
            merged=dict(tracks.merged),
            time=frame.time,
        )


RANDOM_WEIGHTS_NOTE = "random weights: the poses mean nothing"


def random_weights_note(config: TrackerConfig, builds_detector: bool, builds_pose: bool) -> str:
    """Say so when a net this tracker builds has random weights (`none`): its output is noise,
    fit for testing the machinery only. '' when every net built has trained weights."""
    which = []
    if builds_pose and str(config.pose.weights) in NO_WEIGHTS:
        which.append(f"pose.weights={config.pose.weights or 'none'}")
    detector = config.detector
    if builds_detector and not detector.replay and str(detector.weights) in NO_WEIGHTS:
        which.append(f"detector.weights={detector.weights or 'none'}")
    if not which:
        return ""
    return f"{RANDOM_WEIGHTS_NOTE} ({', '.join(which)}): the outputs only test the machinery"


def dropped_by_tracker_note(tracker: PoseTracker, frames: int) -> str:
    """Why nobody is shown when the input had people: the tracker's settings dropped them."""
    t = tracker.config.tracking
    return (
        f"nobody is shown, though the input gave {tracker.people_in} people in {frames} frames "
        f"and the tracks matched {tracker.people_matched}: the tracker dropped them, not the "
        f"input (no track was confirmed: tracking.confirm_hits {t.confirm_hits} of "
        f"confirm_window {t.confirm_window}; a tracking.min_similarity ({t.min_similarity}) "
        "that no pair reaches starts a new track every frame); lower these to show them"
    )


def cpu_preset_note(config: TrackerConfig, device: str) -> str | None:
    """On a CPU with the default (GPU-sized) detector: say that the CPU preset exists."""
    if not str(device).startswith("cpu") or config.detector.name != DetectorConfig().name:
        return None
    if config.detector.replay:  # replayed boxes: no detector runs
        return None
    if config.detector.interval > 1:
        return None
    return (
        "on a CPU, --config configs/tracking/cpu.yaml (light detector on every 3rd frame, "
        f"fast flow) tracks about {CPU_PRESET_SPEEDUP}x faster than this config"
    )


class FlowStage:
    """Optical flow from each frame's predecessor (None for the first frame, or without a
    flow estimator); it keeps the last image of a batch for the next one, so batches must
    come in order (they do: one thread runs this stage)."""

    def __init__(self, flow: FlowEstimator | None) -> None:
        self.flow = flow
        self.prev_image: np.ndarray | None = None

    def __call__(self, batch: Batch) -> Batch:
        for frame, timing in zip(batch.frames, batch.timings):
            flow = None
            if self.flow is not None and self.prev_image is not None:
                t0 = time.perf_counter()
                flow = self.flow(self.prev_image, frame.image)
                timing["flow"] += time.perf_counter() - t0
            batch.flows.append(flow)
            self.prev_image = frame.image
        return batch


def read_batches(frames: Iterable[Frame], batch_size: int, interval: int = 1) -> Iterator[Batch]:
    """Frames in batches of `batch_size`, every `interval`-th frame a keyframe (from the
    first), with each frame's decode seconds. A source that fails, or a frame of another
    size than the first, ends the batches: the frames before it still come out, then the
    error is raised."""
    iterator = iter(frames)
    size: tuple[int, ...] | None = None
    position = 0
    batch = Batch([], [], [])
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(iterator)
            size = _check_size(frame, size)
        except StopIteration:
            break
        except Exception:  # e.g. a video broken mid-way: the frames so far, then the error
            if batch.frames:
                yield batch
            raise
        batch.frames.append(frame)
        batch.keyframe.append(position % interval == 0)
        batch.timings.append({stage: 0.0 for stage in STAGES})
        batch.timings[-1]["decode"] = time.perf_counter() - t0
        position += 1
        if len(batch.frames) >= batch_size:
            yield batch
            batch = Batch([], [], [])
    if batch.frames:
        yield batch


def _check_size(frame: Frame, size: tuple[int, ...] | None) -> tuple[int, ...]:
    """Frames of one source must share a size (flow and propagation compare them)."""
    this = tuple(frame.image.shape[:2])
    if size is not None and this != size:
        raise DataError(
            f"frame {frame.index} ({frame.name}): size {this[1]}x{this[0]} differs from "
            f"{size[1]}x{size[0]} of the first frame"
        )
    return this
