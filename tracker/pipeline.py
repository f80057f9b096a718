"""The tracking loop: detect, propagate along flow, unify boxes, estimate poses, match.

One `PoseTracker.track()` call streams a video (or folder of frames, or any iterable of
`tracker.video.Frame`) and yields a `FrameResult` per frame. Frames are processed in batches
of `detector.batch_size`: the detector and the pose net see all frames (all people) of a batch
in one call each; the steps that depend on the previous frame (box propagation, matching) then
run frame by frame, and only the few extra people found by propagation need a second, small
pose call. `TrackingOutput` writes results to PoseTrack JSON and a rendered MP4.

Person score: the box score times the mean of the joint scores above
`tracking.person_joint_thr` (0 when no joint is above it), the seed's rescoring of COCO results.
A propagated box carries the previous person's score as its box score, so a person kept alive
by propagation alone fades out frame after frame.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from posenet.devices import resolve_device
from posenet.errors import DataError
from posenet.keypoints import coco_to_posetrack18
from tracker.config import NO_WEIGHTS, TrackerConfig, needs_flow
from posenet.posetrack.formats import PoseTrack17Writer, PoseTrack18Writer, read_posetrack
from tracker.propagate import boxes_from_keypoints, propagate_keypoints
from tracker.similarity import box_area, nms, oks
from tracker.tracks import TrackSet
from tracker.video import Frame, FrameReader, VideoWriter

NUM_JOINTS = 17
STAGES = ("decode", "detect", "flow", "pose", "track")
# Slots where PoseTrack 2018 differs from COCO (eyes -> head_bottom/head_top, ears unused).
HEAD_SLOTS = slice(1, 5)
MIN_JOINTS = 2  # a propagated person needs this many confident joints to be kept


class PoseEstimatorLike(Protocol):
    """posenet.inference.PoseEstimator's interface: keypoints (n_i, K, 3) per image."""

    def estimate(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]: ...


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


# ----------------------------------------------------------------------------- helpers


def empty_people() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints (0, 17, 3), boxes (0, 4), scores (0,) as float64."""
    return np.zeros((0, NUM_JOINTS, 3)), np.zeros((0, 4)), np.zeros((0,))


def person_scores(keypoints: np.ndarray, box_scores: np.ndarray, joint_thr: float) -> np.ndarray:
    """Box score x mean score of the joints above `joint_thr` (0 when none is above it)."""
    joint = np.asarray(keypoints, dtype=np.float64)[..., 2]
    above = joint > joint_thr
    count = above.sum(axis=1)
    mean = np.where(count > 0, (joint * above).sum(axis=1) / np.maximum(count, 1), 0.0)
    return np.asarray(box_scores, dtype=np.float64).reshape(-1) * mean


def unify_boxes(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    prop_boxes: np.ndarray,
    prop_scores: np.ndarray,
    iou_thr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """NMS over detected and propagated boxes, detections ranked first: a propagated box
    survives only where no detection (and no better propagated box) overlaps it by IoU >
    `iou_thr`, i.e. it adds a person the detector missed. Returns kept indices of each."""
    n_det = len(det_boxes)
    if n_det + len(prop_boxes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes = np.concatenate([np.reshape(det_boxes, (-1, 4)), np.reshape(prop_boxes, (-1, 4))])
    # Propagated scores are person scores <= 1; lifting detections above them ranks them first.
    scores = np.concatenate([np.asarray(det_scores) + 2.0, np.asarray(prop_scores)])
    keep = np.asarray(nms(boxes, scores, iou_thr), dtype=np.int64)
    return np.sort(keep[keep < n_det]), np.sort(keep[keep >= n_det] - n_det)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes clipped to the image."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clip(0, width - 1)
    out[:, 1::2] = out[:, 1::2].clip(0, height - 1)
    return out


def to_coco(posetrack18: np.ndarray) -> np.ndarray:
    """PoseTrack-2018 slots -> COCO-17: shared joints kept, eye/ear slots zeroed."""
    coco = np.array(posetrack18, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    coco[:, HEAD_SLOTS] = 0.0
    return coco


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


# ----------------------------------------------------------------------------- components


def build_detector_from_config(cfg: TrackerConfig, device: str):
    """The configured person detector (torchvision model or a replayed detection JSON)."""
    from tracker.detectors import build_detector

    d = cfg.detector
    text = d.name
    if text.lower().endswith(".json") or Path(text).is_file():
        return build_detector(text, score_thr=d.score_thr)
    weights = None if d.weights in NO_WEIGHTS else d.weights
    return build_detector(
        text, weights=weights, device=device, score_thr=d.score_thr,
        batch_size=d.batch_size, precision=d.precision,
    )  # fmt: skip


def build_pose_estimator_from_config(cfg: TrackerConfig, device: str) -> PoseEstimatorLike:
    """posenet.inference.PoseEstimator for the configured pose-net YAML and weights."""
    from posenet.config import resolve_config
    from posenet.inference import PoseEstimator

    weights = None if cfg.pose.weights in NO_WEIGHTS else cfg.pose.weights
    config_path = resolve_config(cfg.pose.config)  # a path or a name shipped in posenet
    overrides = list(cfg.pose.overrides)
    if weights is None:  # random init: no ImageNet download for the backbone either
        overrides = ["model.pretrained=", *overrides]
    return PoseEstimator.from_config(
        config_path, weights=weights, overrides=overrides, device=device
    )


def build_flow_from_config(cfg: TrackerConfig, device: str):
    """The configured optical-flow estimator."""
    from tracker.flow import build_flow

    name = cfg.flow.name.lower()
    if name == "dis":
        return build_flow(name, preset=cfg.flow.preset, scale=cfg.flow.scale)
    if name == "farneback":
        return build_flow(name, scale=cfg.flow.scale)
    return build_flow(name, device=device)


def pose_layout(cfg: TrackerConfig, estimator: Any) -> str:
    """'coco' or 'posetrack18': the joints the pose net predicts (pose.layout, or its config)."""
    if cfg.pose.layout != "auto":
        return cfg.pose.layout
    net_cfg = getattr(estimator, "cfg", None)
    dataset = getattr(getattr(net_cfg, "data", None), "dataset", "coco")
    return "posetrack18" if dataset == "posetrack" else "coco"


class GivenPoses:
    """People per frame from a PoseTrack JSON (track ids not needed): they replace detection
    and pose estimation. Frames are matched by file base name, else by frame index."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.sequence = read_posetrack(path)
        self.by_name = {_basename(f.file_name): f for f in self.sequence.frames}
        self.by_index = {f.frame_index: f for f in self.sequence.frames}

    def lookup(self, index: int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(PoseTrack-2018 keypoints (n, 17, 3) with scores, boxes (n, 4), scores (n,))."""
        frame = self.by_name.get(_basename(name))
        if frame is None:
            frame = self.by_index.get(index)
        if frame is None or len(frame) == 0:
            return empty_people()
        labelled = frame.labelled
        scores = np.where(np.isfinite(frame.joint_scores), frame.joint_scores, 1.0)
        kp = np.array(frame.keypoints, dtype=np.float64)
        kp[..., 2] = np.where(labelled, scores, 0.0)
        kp[~labelled] = 0.0
        boxes = np.array(frame.boxes, dtype=np.float64)
        for k in np.flatnonzero(~np.isfinite(boxes).all(axis=1)):
            xy = kp[k, labelled[k], :2]
            boxes[k] = (*xy.min(axis=0), *xy.max(axis=0)) if len(xy) else 0.0
        count = labelled.sum(axis=1)
        mean = np.where(count > 0, kp[..., 2].sum(axis=1) / np.maximum(count, 1), 0.0)
        person = np.where(np.isfinite(frame.scores), frame.scores, mean)
        return kp, boxes, person


# ----------------------------------------------------------------------------- the tracker


class PoseTracker:
    """Video -> tracked poses. Components not given are built from `config` (on
    `config.device`); `poses` (GivenPoses) replaces detection and pose estimation."""

    def __init__(
        self,
        config: TrackerConfig,
        detector=None,
        pose_estimator: PoseEstimatorLike | None = None,
        flow=None,
        poses: GivenPoses | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.poses = poses
        self.detector = detector
        self.pose_estimator = pose_estimator
        if poses is None:
            if detector is None:
                self.detector = build_detector_from_config(config, self.device)
            if pose_estimator is None:
                self.pose_estimator = build_pose_estimator_from_config(config, self.device)
        self.layout = pose_layout(config, self.pose_estimator)
        self.flow = None  # skipped entirely when no stage needs it (e.g. IoU similarity)
        if needs_flow(config):
            self.flow = flow if flow is not None else build_flow_from_config(config, self.device)

    def new_track_set(self) -> TrackSet:
        """Track bookkeeping with the configured similarity, matcher and queue."""
        t = self.config.tracking
        return TrackSet(
            similarity=t.similarity, matcher=t.matcher, min_similarity=t.min_similarity,
            queue_length=t.queue_length, keypoint_thr=t.keypoint_thr,
        )  # fmt: skip

    def track(
        self,
        source: str | os.PathLike | Iterable[Frame],
        start: int = 0,
        end: int | None = None,
        keep_images: bool = True,
    ) -> Iterator[FrameResult]:
        """Yield one FrameResult per frame of `source` (video file, image folder, or Frames)."""
        reader = None
        if isinstance(source, (str, os.PathLike)):
            reader = FrameReader(source, start=start, end=end)
            frames: Iterable[Frame] = reader
        else:
            frames = source
        state = _LoopState(self.new_track_set())
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
        images = [f.image for f in frames]
        if hasattr(self.detector, "detect_frame"):  # a replay: match frames by index and name
            found = self.detector.detect(
                images, indices=[f.index for f in frames], names=[f.name for f in frames]
            )
        else:
            found = self.detector.detect(images)
        thr = self.config.detector.score_thr
        out = []
        for boxes, scores in found:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            keep = scores >= thr
            out.append((boxes[keep], scores[keep]))
        return out

    def _estimate(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Poses for the given boxes, all images in one call; (n_i, 17, 3) float64 each."""
        if not any(len(b) for b in boxes):
            return [np.zeros((0, NUM_JOINTS, 3)) for _ in boxes]
        poses = self.pose_estimator.estimate(images, [np.asarray(b, np.float32) for b in boxes])
        return [np.asarray(p, dtype=np.float64).reshape(-1, NUM_JOINTS, 3) for p in poses]

    def _process_batch(
        self, batch: list[tuple[Frame, float]], state: _LoopState
    ) -> Iterator[FrameResult]:
        """Detect and estimate poses for a whole batch, then propagate, unify and match
        frame by frame."""
        frames = [f for f, _ in batch]
        timings = [{stage: 0.0 for stage in STAGES} for _ in frames]
        for t, (_, decode_s) in zip(timings, batch):
            t["decode"] = decode_s
        if self.poses is not None:
            given = [self.poses.lookup(f.index, f.name) for f in frames]
        else:
            t0 = time.perf_counter()
            detections = self._detect(frames)
            _spread(timings, "detect", time.perf_counter() - t0)
            t0 = time.perf_counter()
            det_poses = self._estimate([f.image for f in frames], [b for b, _ in detections])
            _spread(timings, "pose", time.perf_counter() - t0)
        for k, frame in enumerate(frames):
            timing = timings[k]
            _check_size(frame, state)
            flow = None
            if self.flow is not None and state.prev_image is not None:
                t0 = time.perf_counter()
                flow = self.flow(state.prev_image, frame.image)
                timing["flow"] += time.perf_counter() - t0
            native = None
            if self.poses is not None:
                native, boxes, scores = given[k]
                keypoints = to_coco(native)
            else:
                keypoints, boxes, scores = self._unify(
                    frame, detections[k], det_poses[k], flow, state, timing
                )
                if self.layout == "posetrack18":
                    native, keypoints = keypoints, to_coco(keypoints)
            t0 = time.perf_counter()
            ids = np.asarray(state.tracks.update(keypoints, boxes, flow), dtype=np.int64)
            timing["track"] += time.perf_counter() - t0
            state.prev_image = frame.image
            state.prev_keypoints, state.prev_scores = keypoints, scores
            yield FrameResult(
                index=frame.index, name=frame.name, keypoints=keypoints, track_ids=ids,
                boxes=boxes, scores=scores, timings=timing, image=frame.image,
                posetrack_keypoints=native,
            )  # fmt: skip

    def _unify(
        self,
        frame: Frame,
        detections: tuple[np.ndarray, np.ndarray],
        det_poses: np.ndarray,
        flow: np.ndarray | None,
        state: _LoopState,
        timing: dict[str, float],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections plus people carried over from the previous frame along the flow."""
        t = self.config.tracking
        det_boxes, det_scores = detections
        prop_boxes, prop_scores = np.zeros((0, 4)), np.zeros(0)
        if t.propagate_boxes and len(state.prev_keypoints):
            moved = propagate_keypoints(state.prev_keypoints, flow)
            boxes, keep = boxes_from_keypoints(
                moved, score_thr=t.keypoint_thr, enlarge=t.box_enlarge
            )
            height, width = frame.image.shape[:2]
            prop_boxes = clip_boxes(boxes, width, height)
            keep = np.asarray(keep, dtype=np.int64)
            prop_scores = np.asarray(state.prev_scores, dtype=np.float64)[keep]
            valid = (prop_boxes[:, 2] > prop_boxes[:, 0]) & (prop_boxes[:, 3] > prop_boxes[:, 1])
            prop_boxes, prop_scores = prop_boxes[valid], prop_scores[valid]
        keep_det, keep_prop = unify_boxes(det_boxes, det_scores, prop_boxes, prop_scores, t.nms_thr)
        keypoints, boxes = det_poses[keep_det], det_boxes[keep_det]
        box_scores = det_scores[keep_det]
        if len(keep_prop):
            t0 = time.perf_counter()
            extra = self._estimate([frame.image], [prop_boxes[keep_prop]])[0]
            timing["pose"] += time.perf_counter() - t0
            # Nobody there any more (too few confident joints), or the pose of someone already
            # detected (a box around part of them): drop the propagated person.
            alive = (extra[..., 2] >= t.keypoint_thr).sum(axis=1) >= MIN_JOINTS
            if len(keypoints) and alive.any():
                same = oks(extra, keypoints, box_area(boxes), score_thr=t.keypoint_thr)
                alive &= same.max(axis=1) <= t.pose_nms_thr
            keypoints = np.concatenate([keypoints, extra[alive]])
            boxes = np.concatenate([boxes, prop_boxes[keep_prop][alive]])
            box_scores = np.concatenate([box_scores, prop_scores[keep_prop][alive]])
        scores = person_scores(keypoints, box_scores, t.person_joint_thr)
        return keypoints.reshape(-1, NUM_JOINTS, 3), boxes.reshape(-1, 4), scores


class _LoopState:
    """What one frame hands to the next."""

    def __init__(self, tracks: TrackSet) -> None:
        self.tracks = tracks
        self.prev_image: np.ndarray | None = None
        self.prev_keypoints, _, self.prev_scores = empty_people()
        self.size: tuple[int, int] | None = None


def _check_size(frame: Frame, state: _LoopState) -> None:
    """Frames of one source must share a size (flow and propagation compare them)."""
    size = tuple(frame.image.shape[:2])
    if state.size is None:
        state.size = size
    elif size != state.size:
        raise DataError(
            f"frame {frame.index} ({frame.name}): size {size[1]}x{size[0]} differs from "
            f"{state.size[1]}x{state.size[0]} of the first frame"
        )


def _spread(timings: list[dict[str, float]], stage: str, seconds: float) -> None:
    """Share a batched stage's time equally among the frames of the batch."""
    for t in timings:
        t[stage] += seconds / len(timings)


# ----------------------------------------------------------------------------- outputs


@dataclass
class TrackingSummary:
    """Counts and speeds of one run, for the screen and summary.json."""

    source: str
    frames: int = 0
    people: int = 0
    max_people: int = 0
    track_ids: set[int] = field(default_factory=set)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, result: FrameResult) -> None:
        """Count one frame."""
        self.frames += 1
        self.people += len(result)
        self.max_people = max(self.max_people, len(result))
        self.track_ids.update(int(i) for i in result.track_ids)
        for stage, seconds in result.timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def fps(self) -> dict[str, float | None]:
        """Frames per second of each stage alone (None for a stage that took no time)."""
        return {
            stage: (self.frames / s if s > 0 else None) for stage, s in self.stage_seconds.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "source": self.source,
            "complete": self.complete,
            "frames": self.frames,
            "people": self.people,
            "people_per_frame": self.people / self.frames if self.frames else 0.0,
            "max_people_per_frame": self.max_people,
            "tracks": len(self.track_ids),
            "seconds_per_stage": {k: round(v, 4) for k, v in self.stage_seconds.items()},
            "fps_per_stage": {k: (round(v, 2) if v else None) for k, v in self.fps().items()},
            "wall_seconds": round(self.wall_seconds, 3),
            "fps": round(self.frames / self.wall_seconds, 2) if self.wall_seconds > 0 else None,
            "outputs": dict(self.outputs),
            "notes": list(self.notes),
        }

    def format(self) -> str:
        """A few lines for the terminal."""
        d = self.to_dict()
        state = "" if self.complete else " (interrupted: outputs hold the frames so far)"
        lines = [
            f"{d['source']}: {d['frames']} frames{state}",
            f"people per frame: {d['people_per_frame']:.2f} (max {d['max_people_per_frame']}), "
            f"tracks: {d['tracks']}",
        ]
        speeds = ", ".join(
            f"{k} {v:.1f}" if v else f"{k} -" for k, v in d["fps_per_stage"].items()
        )
        wall = f"{d['fps']:.1f} fps overall" if d["fps"] else "-"
        lines.append(f"fps per stage: {speeds}; {wall} ({d['wall_seconds']:.1f} s)")
        lines += [f"{kind}: {path}" for kind, path in d["outputs"].items()]
        lines += [f"note: {n}" for n in d["notes"]]
        return "\n".join(lines)


NO_PEOPLE_NOTE = (
    "no person was found in any frame: the outputs are valid but empty (check the detector, "
    "its weights and detector.score_thr)"
)
HEAD_NOTE = (
    "the pose net predicts COCO joints: PoseTrack head_bottom is the shoulder midpoint and "
    "head_top is extrapolated from it through the face joints (posenet.keypoints."
    "derive_head_joints); the ear slots are left empty"
)


class TrackingOutput:
    """Writes FrameResults to a PoseTrack JSON (2018 or 2017 layout) and, when `video_path`
    is given, an MP4 with skeletons and ids in one colour per track. `close()` (also on
    errors, as a context manager) leaves valid files holding every frame written so far."""

    def __init__(
        self,
        json_path: str | os.PathLike,
        video_name: str,
        format: str = "posetrack18",
        video_path: str | os.PathLike | None = None,
        fps: float = 25.0,
        render_thr: float = 0.3,
        derive_head: bool = True,
        source: str = "",
    ) -> None:
        writer_cls = PoseTrack17Writer if format == "posetrack17" else PoseTrack18Writer
        self.json_path = Path(json_path)
        self.json = writer_cls(self.json_path, video_name)
        self.video_path = Path(video_path) if video_path else None
        self.video: VideoWriter | None = None
        self.fps, self.render_thr, self.derive_head = fps, render_thr, derive_head
        self.summary = TrackingSummary(source=source or video_name)
        self.summary.outputs[format] = str(self.json_path)
        if self.video_path:
            self.summary.outputs["video"] = str(self.video_path)
        self._head_noted = False
        self._start = time.perf_counter()

    def posetrack_keypoints(self, result: FrameResult) -> np.ndarray:
        """PoseTrack-2018 slots for a result: native ones, else derived from COCO."""
        if result.posetrack_keypoints is not None:
            return result.posetrack_keypoints
        if self.derive_head and not self._head_noted:
            self.summary.notes.append(HEAD_NOTE)
            self._head_noted = True
        return coco_to_posetrack18(result.keypoints, derive_head=self.derive_head)

    def write(self, result: FrameResult, file_name: str | None = None) -> None:
        """Add one frame to the JSON (as `file_name`, default the frame name) and the video."""
        t0 = time.perf_counter()
        self.json.add_frame(
            file_name or result.name, result.index, self.posetrack_keypoints(result),
            result.track_ids, result.boxes, result.scores,
        )  # fmt: skip
        timings = dict(result.timings)
        timings["write"] = time.perf_counter() - t0
        if self.video_path is not None and result.image is not None:
            t0 = time.perf_counter()
            self._render(result)
            timings["render"] = time.perf_counter() - t0
        self.summary.add(FrameResult(**{**result.__dict__, "timings": timings}))

    def write_empty(self, file_name: str, frame_index: int) -> None:
        """A frame without people (e.g. an annotated frame the tracker did not reach)."""
        keypoints, boxes, scores = empty_people()
        self.json.add_frame(file_name, frame_index, keypoints, np.zeros(0, np.int64), boxes, scores)

    def _render(self, result: FrameResult) -> None:
        from tracker.render import draw_poses

        image = result.image
        if self.video is None:
            height, width = image.shape[:2]
            self.video = VideoWriter(self.video_path, self.fps, width, height)
        canvas = draw_poses(
            image, result.keypoints, result.track_ids, result.boxes, score_thr=self.render_thr
        )
        self.video.write(canvas)

    def close(self, complete: bool = True) -> TrackingSummary:
        """Finish both files (the video first: the JSON close must happen even if it fails)."""
        self.summary.complete = complete
        self.summary.wall_seconds = time.perf_counter() - self._start
        if self.summary.frames and not self.summary.people:
            self.summary.notes.append(NO_PEOPLE_NOTE)
        try:
            if self.video is not None:
                self.video.close()
        finally:
            self.json.close()
        return self.summary

    def __enter__(self) -> TrackingOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def write_summary(summary: TrackingSummary, path: str | os.PathLike) -> None:
    """summary.json, written atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)


def write_aligned(
    output: TrackingOutput, results: Iterable[FrameResult], frames: Sequence[tuple[str, int]]
) -> int:
    """Write one entry per wanted (file_name, frame_index), in that order, as evaluation
    needs: a result is matched by base name; a wanted frame with no result gets an empty
    entry; results of unwanted frames are tracked but not written. Returns results matched."""
    wanted = {_basename(name) for name, _ in frames}
    pending: dict[str, FrameResult] = {}  # results that came before their turn (unsorted lists)
    results = iter(results)
    matched = 0
    for file_name, frame_index in frames:
        key = _basename(file_name)
        while key not in pending:
            result = next(results, None)
            if result is None:
                break
            if _basename(result.name) in wanted:
                if _basename(result.name) != key:
                    result.image = None  # buffered out of order: keep the numbers only
                pending[_basename(result.name)] = result
        result = pending.pop(key, None)
        if result is None:
            output.write_empty(file_name, frame_index)
        else:
            output.write(result, file_name=file_name)
            matched += 1
    close = getattr(results, "close", None)
    if close is not None:  # frames after the last wanted one need no tracking
        close()
    return matched


class SequenceDetections:
    """A ReplayDetector for a whole split, seen from one sequence: frame names are prefixed
    with the sequence folder so '000000.jpg' matches only this sequence's images."""

    def __init__(self, replay, prefix: str) -> None:
        self.replay, self.prefix = replay, prefix.rstrip("/") + "/"

    def detect_frame(self, frame_index: int, name: str | None = None):
        """Boxes and scores of one frame of this sequence."""
        return self.replay.detect_frame(frame_index, self.prefix + (name or ""))

    def detect(self, images, indices=None, names=None):
        """Detections for frames given by index and name, as ReplayDetector.detect."""
        indices = list(indices if indices is not None else range(len(images)))
        names = list(names if names is not None else [f"{i:06d}.jpg" for i in indices])
        return [self.detect_frame(i, n) for i, n in zip(indices, names)]
