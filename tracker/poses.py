"""Where the tracker's poses come from: the pose net of the tracking config, or a given file.

`build_pose_estimator` makes posenet's PoseEstimator from `cfg.pose`; `GivenPoses` reads people
per frame from a PoseTrack JSON (`--poses`), which then replaces detection and pose estimation.
Poses are (n, 17, 3) float64 arrays: x, y in image pixels and a score.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from posenet.config import resolve_config
from posenet.posetrack.formats import base_name, read_posetrack
from tracker.config import NO_WEIGHTS, PoseConfig
from tracker.inputs import InputMatch
from tracker.similarity import valid_boxes
from tracker.types import NUM_JOINTS, empty_people

# Slots where PoseTrack 2018 differs from COCO (eyes -> head_bottom/head_top, ears unused).
HEAD_SLOTS = slice(1, 5)


class PoseEstimatorLike(Protocol):
    """posenet.inference.PoseEstimator's interface: keypoints (n_i, K, 3) per image."""

    def estimate(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]: ...


def to_coco(posetrack18: np.ndarray) -> np.ndarray:
    """PoseTrack-2018 slots -> COCO-17: shared joints kept, eye/ear slots zeroed."""
    coco = np.array(posetrack18, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    coco[:, HEAD_SLOTS] = 0.0
    return coco


def build_pose_estimator(cfg: PoseConfig, device: str) -> PoseEstimatorLike:
    """posenet.inference.PoseEstimator for the configured pose-net YAML and weights."""
    from posenet.inference import PoseEstimator

    weights = None if cfg.weights in NO_WEIGHTS else cfg.weights
    config_path = resolve_config(cfg.config)  # a path or a name shipped in posenet
    overrides = list(cfg.overrides)
    if weights is None:  # random init: no ImageNet download for the backbone either
        overrides = ["model.pretrained=", *overrides]
    return PoseEstimator.from_config(
        config_path,
        weights=weights,
        overrides=overrides,
        device=device,
        backend=cfg.backend,
        precision=cfg.precision,
    )


def pose_layout(cfg: PoseConfig, estimator: Any) -> str:
    """'coco' or 'posetrack18': the joints the pose net predicts (pose.layout, or its config)."""
    if cfg.layout != "auto":
        return cfg.layout
    net_cfg = getattr(estimator, "cfg", None)
    dataset = getattr(getattr(net_cfg, "data", None), "dataset", "coco")
    return "posetrack18" if dataset == "posetrack" else "coco"


class GivenPoses:
    """People per frame from a PoseTrack JSON (track ids not needed): they replace detection
    and pose estimation. Frames are matched by file base name, else by frame index.
    `frame_size` (width, height) of the video lets `match` count people outside the image;
    `match` (an InputMatch) says how the file's frames lined up with the video's."""

    def __init__(self, path: str | os.PathLike, frame_size: tuple[int, int] | None = None) -> None:
        self.sequence = read_posetrack(path)
        frames = self.sequence.frames
        self.by_name = {base_name(f.file_name): k for k, f in enumerate(frames)}
        self.by_index = {f.frame_index: k for k, f in enumerate(frames)}
        self.frame_size = frame_size
        self.match = InputMatch("poses", f"pose file {path}", range(len(frames)))

    def lookup(self, index: int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(PoseTrack-2018 keypoints (n, 17, 3) with scores, boxes (n, 4), scores (n,))."""
        position = self.by_name.get(base_name(name))
        if position is None:
            position = self.by_index.get(index)
        people = self._people(position)
        self.match.add(position, people[1], self.frame_size)
        return people

    def _people(self, position: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The people of the file's frame at `position` (none for None)."""
        frame = None if position is None else self.sequence.frames[position]
        if frame is None or len(frame) == 0:
            return empty_people()
        labelled = frame.labelled
        scores = np.where(np.isfinite(frame.joint_scores), frame.joint_scores, 1.0)
        kp = np.array(frame.keypoints, dtype=np.float64)
        kp[..., 2] = np.where(labelled, scores, 0.0)
        kp[~labelled] = 0.0
        boxes = np.array(frame.boxes, dtype=np.float64)
        # A missing box (NaN), or one of no size (x2 <= x1 or y2 <= y1), is the joints' extent.
        for k in np.flatnonzero(~valid_boxes(boxes)):
            xy = kp[k, labelled[k], :2]
            boxes[k] = (*xy.min(axis=0), *xy.max(axis=0)) if len(xy) else 0.0
        count = labelled.sum(axis=1)
        mean = np.where(count > 0, kp[..., 2].sum(axis=1) / np.maximum(count, 1), 0.0)
        person = np.where(np.isfinite(frame.scores), frame.scores, mean)
        return kp, boxes, person
