"""Untracked "detections" made from ground-truth PoseTrack poses, for the tracking benchmark.

Perturbation of one video (numpy Generator seeded by (seed, video name), so a video's
detections do not depend on which other videos run; draws in this order):
  1. occlusion gap: per person (track id, in id order) the frames [s, s + G) are removed, s drawn
     uniformly so the person is still seen before and after the gap (a person whose span of
     frames is shorter than G + 2 keeps every frame);
  2. per frame: Gaussian noise of `noise_px` on x and y of every labelled joint; each pose
     dropped with probability `drop`; Poisson(`spurious`) spurious poses, each a real pose of
     another video (uniform video, then uniform pose) shifted to a uniform position inside the
     frame; then the people of the frame are shuffled.
Joints are clipped to the frame. Joint scores say how far the noise moved the joint (a pose
net's confidence): 0.5 + 0.5 exp(-d^2 / (2 * 8 px^2)), always above the tracker's keypoint
threshold so every labelled joint takes part; spurious poses score 0.5 (joints and person).
The person score is the mean joint score. No box is written: GivenPoses uses the joints' extent.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet.errors import DataError
from posenet.files import write_json
from posenet.posetrack.formats import POSETRACK18_CATEGORY, PoseTrackSequence

JOINT_SCORE_SCALE_PX = 8.0
SPURIOUS_SCORE = 0.5
FRAME_MULTIPLE = 32  # the blank frame covers every coordinate, rounded up to this


@dataclass(frozen=True)
class Setting:
    """One perturbation: joint noise (px), fraction of poses dropped, occlusion gap (frames per
    person) and spurious poses per frame (Poisson mean)."""

    noise_px: float = 2.0
    drop: float = 0.1
    gap: int = 0
    spurious: float = 0.0

    def describe(self) -> str:
        """'2px 10% gap 8 +0.5/frame' for the table."""
        text = f"{self.noise_px:g}px {100 * self.drop:g}% gap {self.gap}"
        return text + (f" +{self.spurious:g}/frame" if self.spurious else "")


SETTINGS = {
    "gap0": Setting(gap=0),
    "gap8": Setting(gap=8),
    "gap20": Setting(gap=20),
    "noise8": Setting(noise_px=8.0, gap=8),
    "drop30": Setting(drop=0.3, gap=8),
    "spurious": Setting(gap=8, spurious=0.5),
}
# Extra settings, run when named with --settings: jitter of smoothing is judged at 4 px noise.
EXTRA_SETTINGS = {"noise4": Setting(noise_px=4.0, gap=0)}
ALL_SETTINGS = {**SETTINGS, **EXTRA_SETTINGS}


@dataclass
class PerturbedFrame:
    """One frame of detections; PoseTrack-2018 slots, unlabelled joints (0, 0, 0)."""

    file_name: str
    frame_index: int
    keypoints: np.ndarray  # (m, 17, 3) x, y, joint score
    track_ids: np.ndarray  # (m,) true ids; spurious poses get ids above the video's own
    scores: np.ndarray  # (m,) person scores
    spurious: np.ndarray  # (m,) bool


# ----------------------------------------------------------------------------- perturbation


def video_rng(seed: int, video: str) -> np.random.Generator:
    """The Generator of one video under one seed."""
    return np.random.default_rng([seed, zlib.crc32(video.encode())])


def frame_size(sequences: Sequence[PoseTrackSequence]) -> tuple[int, int]:
    """(width, height) covering every labelled joint, rounded up to FRAME_MULTIPLE."""
    most = np.zeros(2)
    for seq in sequences:
        for f in seq.frames:
            if f.labelled.any():
                most = np.maximum(most, f.keypoints[f.labelled][:, :2].max(axis=0))
    w, h = (int(np.ceil((m + 1) / FRAME_MULTIPLE)) * FRAME_MULTIPLE for m in most)
    return w, h


def pose_pool(seq: PoseTrackSequence) -> np.ndarray:
    """All poses of a video (N, 17, 3): x, y, 1 for labelled joints, zeros elsewhere."""
    poses = [
        np.where(
            f.labelled[..., None], np.dstack([f.keypoints[..., :2], np.ones(f.labelled.shape)]), 0.0
        )
        for f in seq.frames
        if len(f)
    ]
    return np.concatenate(poses) if poses else np.zeros((0, 17, 3))


def gap_mask(seq: PoseTrackSequence, gap: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per frame, (n,) bool: the person is inside their occlusion gap."""
    hidden = [np.zeros(len(f), dtype=bool) for f in seq.frames]
    if gap <= 0:
        return hidden
    seen: dict[int, list[int]] = {}
    for k, f in enumerate(seq.frames):
        for t in f.track_ids.tolist():
            seen.setdefault(t, []).append(k)
    for t in sorted(seen):
        first, last = seen[t][0], seen[t][-1]
        starts = last - first - gap  # starts in [first + 1, last - gap]
        if starts < 1:
            continue
        s = first + 1 + int(rng.integers(starts))
        for k in range(s, s + gap):
            hidden[k] |= seq.frames[k].track_ids == t
    return hidden


def perturb_sequence(
    seq: PoseTrackSequence,
    setting: Setting,
    seed: int,
    donors: Sequence[np.ndarray] = (),
    size: tuple[int, int] | None = None,
) -> list[PerturbedFrame]:
    """Untracked detections of one video (see the module doc); `donors` are pose pools
    (pose_pool) of other videos for spurious poses, `size` the frame (width, height)."""
    rng = video_rng(seed, seq.name)
    width, height = size or frame_size([seq])
    if setting.spurious > 0 and not any(len(d) for d in donors):
        raise DataError(f"{seq.path}: spurious poses need poses of another video")
    donors = [d for d in donors if len(d)]
    hidden = gap_mask(seq, setting.gap, rng)
    next_id = max((int(f.track_ids.max()) for f in seq.frames if len(f)), default=-1) + 1
    out = []
    for f, gone in zip(seq.frames, hidden):
        n = len(f)
        noise = rng.normal(0.0, 1.0, (n, 17, 2)) * setting.noise_px
        keep = (rng.random(n) >= setting.drop) & ~gone
        kp = f.keypoints[..., :2] + noise
        dist = np.hypot(noise[..., 0], noise[..., 1])
        score = 0.5 + 0.5 * np.exp(-(dist**2) / (2 * JOINT_SCORE_SCALE_PX**2))
        poses = np.where(f.labelled[..., None], np.dstack([kp, score]), 0.0)[keep]
        ids = f.track_ids[keep]
        count = int(rng.poisson(setting.spurious)) if setting.spurious > 0 else 0
        extra = [_spurious_pose(donors, rng, width, height) for _ in range(count)]
        if extra:
            poses = np.concatenate([poses, np.stack(extra)])
            ids = np.concatenate([ids, np.arange(next_id, next_id + count)])
            next_id += count
        spurious = np.arange(len(poses)) >= keep.sum()
        order = rng.permutation(len(poses))
        poses, ids, spurious = poses[order], ids[order], spurious[order]
        present = poses[..., 2] > 0
        poses[..., 0] = np.where(present, poses[..., 0].clip(0, width - 1), 0.0)
        poses[..., 1] = np.where(present, poses[..., 1].clip(0, height - 1), 0.0)
        count_j = present.sum(axis=1)
        person = np.where(count_j > 0, poses[..., 2].sum(axis=1) / np.maximum(count_j, 1), 0.0)
        out.append(
            PerturbedFrame(
                f.file_name, f.frame_index, poses, ids.astype(np.int64), person, spurious
            )
        )
    return out


def _spurious_pose(
    donors: Sequence[np.ndarray], rng: np.random.Generator, width: int, height: int
) -> np.ndarray:
    """A real pose of another video moved to a uniform place inside the frame, joints scored 0.5."""
    pool = donors[int(rng.integers(len(donors)))]
    pose = pool[int(rng.integers(len(pool)))].copy()
    present = pose[:, 2] > 0
    lo, hi = pose[present, :2].min(axis=0), pose[present, :2].max(axis=0)
    room = np.maximum(np.array([width - 1, height - 1]) - (hi - lo), 0.0)
    pose[present, :2] += rng.uniform(0.0, 1.0, 2) * room - lo
    pose[present, 2] = SPURIOUS_SCORE
    return pose


def write_detections(
    frames: Sequence[PerturbedFrame], path: str | os.PathLike, video: str, with_ids: bool = False
) -> Path:
    """PoseTrack-2018 JSON of the detections (what `track_video.py --poses` reads), track ids
    only when `with_ids` (the perfect-ids prediction); written atomically."""
    images, annotations = [], []
    for k, f in enumerate(frames):
        images.append(
            {
                "id": k + 1,
                "file_name": f.file_name,
                "frame_index": int(f.frame_index),
                "vid_id": video,
                "is_labeled": True,
            }
        )
        keypoints = np.round(f.keypoints, 3).reshape(len(f.keypoints), 51).tolist()
        joint_scores = np.round(f.keypoints[..., 2], 4).tolist()
        scores = np.round(f.scores, 4).tolist()
        for p in range(len(f.keypoints)):
            ann = {
                "id": len(annotations) + 1,
                "image_id": k + 1,
                "category_id": 1,
                "keypoints": keypoints[p],
                "scores": joint_scores[p],
                "score": scores[p],
            }
            if with_ids:
                ann["track_id"] = int(f.track_ids[p])
            annotations.append(ann)
    data = {"images": images, "annotations": annotations, "categories": [POSETRACK18_CATEGORY]}
    return write_json(path, data, indent=None)
