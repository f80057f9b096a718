"""The plain data every tracker stage passes on: frames, detections, people and the tracked
result of a frame. Numpy only (no torch), so the writers and readers that take these types
load without the networks, and every stage imports them from here rather than from each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_JOINTS = 17  # the tracker speaks COCO-17 (PoseTrack-2018 shares its 17 slots)
COCO_PERSON = 1  # category id of "person" in COCO, and its label in torchvision's COCO models

# Person boxes (n, 4) xyxy float32 pixels and their scores (n,) float32, for one frame.
Detections = tuple[np.ndarray, np.ndarray]


@dataclass
class Frame:
    """One decoded frame: its index in the source, RGB uint8 pixels, a file-like name and its
    time in seconds from the source's start (None: unknown, index / fps is used)."""

    index: int
    image: np.ndarray
    name: str
    time: float | None = None


def empty_detections() -> Detections:
    """No boxes: (0, 4) and (0,) float32 arrays."""
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


def empty_people() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """No people: keypoints (0, 17, 3), boxes (0, 4), scores (0,) as float64."""
    return np.zeros((0, NUM_JOINTS, 3)), np.zeros((0, 4)), np.zeros((0,))


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
    # Seconds per stage, each measured in its own thread: decode, detect, pose (the batched
    # call), flow, and track (the sequential step, its small pose call included).
    timings: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None  # RGB frame, kept for rendering
    posetrack_keypoints: np.ndarray | None = None  # (n, 17, 3) PoseTrack-2018 slots
    # Tentative track id -> the lost track it turned out to continue (TrackSet.merged): the
    # confirmation stage gives its held-back frames that track's id.
    merged: dict[int, int] = field(default_factory=dict)
    time: float | None = None  # seconds from the source's start (Frame.time); None: index / fps
    # People of tracks never confirmed (their tentative ids), not shown: offline linking may
    # find that one fits a person's gap and keep it (tracker.linked). None: there were none.
    unconfirmed: FrameResult | None = None

    def __len__(self) -> int:
        return len(self.keypoints)
