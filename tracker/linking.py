"""Offline tracklet linking: after the online pass over a file, join tracklets that are one person.

An online tracker must decide when a person comes back with only the past; once a file has
ended, both sides of every gap are known. Each tracklet keeps a small summary while the video
streams (its first and last few poses, its newest and first full poses: memory per track, not
per frame). At the end every pair whose spans do not overlap is scored with evidence from both
ends, and one global assignment (each tracklet at most one successor and one predecessor, so
chains form) picks the links:

- motion: the earlier tracklet moved forward and the later one moved backward, each by its own
  end velocity over half the gap, must meet, and the two end velocities must agree (people who
  cross while hidden keep their directions), in person sizes;
- shape: the aligned OKS of the earlier tracklet's newest full pose with the later one's first
  full pose (limb lengths and proportions, position removed);
- gap: a longer gap needs more evidence.

Two tracklets that share a frame are never linked, and neither are chains that would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from posenet.evaluation.oks import keypoint_areas, oks
from posenet.keypoints import COCO_SIGMAS

END_POSES = 5  # poses kept at each end of a tracklet (velocity at its ends)


@dataclass
class LinkConfig:
    """Rules of the linking pass (tracking.link_* in the tracker config)."""

    max_gap: int = 50  # frames; longer gaps are not bridged
    min_score: float = 0.4  # links scoring below this are not made
    reach: float = 1.0  # motion term exp(-d^2 / 2 reach^2), d in person sizes
    gap_frames: float = 100.0  # gap term exp(-gap / this)
    score_thr: float = 0.3  # joints above this score count
    full_joints: int = 8  # joints that make a pose "full" (used for the shape)


@dataclass
class Tracklet:
    """What linking keeps of one track: its span and a few poses at each end."""

    track_id: int
    first: int
    last: int = -1
    head: list[tuple[int, np.ndarray]] = field(default_factory=list)
    tail: deque = field(default_factory=lambda: deque(maxlen=END_POSES))
    first_full: np.ndarray | None = None
    last_full: np.ndarray | None = None


def _centre(pose: np.ndarray, thr: float) -> np.ndarray | None:
    ok = pose[:, 2] > thr
    return pose[ok, :2].mean(axis=0) if ok.any() else None


def _velocity(poses: Iterable[tuple[int, np.ndarray]], thr: float) -> np.ndarray:
    """Pixels per frame between the first and last pose of `poses` (zero when unknown)."""
    points = [(f, c) for f, p in poses if (c := _centre(p, thr)) is not None]
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return np.zeros(2)
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


class TrackletSummaries:
    """Per-track summaries gathered frame by frame, then `links()` at the end of the input."""

    def __init__(self, cfg: LinkConfig | None = None) -> None:
        self.cfg = cfg or LinkConfig()
        self.tracklets: dict[int, Tracklet] = {}

    def add(self, frame: int, track_ids: Iterable[int], keypoints: np.ndarray) -> None:
        """Record one frame's people: ids (n,) and COCO-17 keypoints (n, 17, 3)."""
        thr, full = self.cfg.score_thr, self.cfg.full_joints
        for track_id, pose in zip(track_ids, np.asarray(keypoints, dtype=np.float64)):
            track_id = int(track_id)
            if track_id < 0:
                continue
            t = self.tracklets.setdefault(track_id, Tracklet(track_id, frame))
            t.last = frame
            if len(t.head) < END_POSES:
                t.head.append((frame, pose))
            t.tail.append((frame, pose))
            if (pose[:, 2] > thr).sum() >= full:
                t.last_full = pose
                if t.first_full is None:
                    t.first_full = pose

    def pair_scores(self) -> tuple[list[Tracklet], np.ndarray]:
        """The tracklets and a score matrix (earlier row, later column); 0 where no link can be."""
        cfg = self.cfg
        items = sorted(self.tracklets.values(), key=lambda t: (t.first, t.track_id))
        scores = np.zeros((len(items), len(items)))
        for i, a in enumerate(items):
            end = _centre(a.tail[-1][1], cfg.score_thr)
            if end is None:
                continue
            va = _velocity(a.tail, cfg.score_thr)
            size = np.sqrt(max(keypoint_areas(a.tail[-1][1][None], cfg.score_thr)[0], 1.0))
            for j, b in enumerate(items):
                gap = b.first - a.last
                if gap < 1 or gap > cfg.max_gap:  # overlapping (or touching) spans never link
                    continue
                start = _centre(b.head[0][1], cfg.score_thr)
                if start is None:
                    continue
                vb = _velocity(b.head, cfg.score_thr)
                # Where the two meet in the middle of the gap, and how far apart their end
                # velocities carry them over it (one person keeps their direction).
                meet = (end + va * gap / 2) - (start - vb * gap / 2)
                turn = (va - vb) * gap / 2
                d = np.hypot(np.linalg.norm(meet), np.linalg.norm(turn)) / size
                motion = np.exp(-(d**2) / (2 * cfg.reach**2))
                scores[i, j] = motion * _shape(a, b, cfg) * np.exp(-gap / cfg.gap_frames)
        return items, scores

    def links(self) -> list[tuple[int, int]]:
        """(earlier id, later id) pairs chosen by one global assignment over all pairs."""
        from scipy.optimize import linear_sum_assignment

        items, scores = self.pair_scores()
        if not len(items):
            return []
        cost = np.where(scores >= self.cfg.min_score, 1.0 - scores, 1e6)
        rows, cols = linear_sum_assignment(cost)
        return [
            (items[r].track_id, items[c].track_id)
            for r, c in zip(rows, cols)
            if scores[r, c] >= self.cfg.min_score
        ]


def _shape(a: Tracklet, b: Tracklet, cfg: LinkConfig) -> float:
    """Aligned OKS of a's newest full pose with b's first full pose (1 when either has none:
    then motion and gap decide alone)."""
    if a.last_full is None or b.first_full is None:
        return 1.0
    pa, pb = a.last_full.copy(), b.first_full
    common = (pa[:, 2] > cfg.score_thr) & (pb[:, 2] > cfg.score_thr)
    if common.sum() < 2:
        return 1.0
    pa[:, :2] += (pb[common, :2] - pa[common, :2]).mean(axis=0)  # position removed
    area = keypoint_areas(pb[None], cfg.score_thr)
    return float(oks(pa[None], pb[None], area, COCO_SIGMAS, cfg.score_thr)[0, 0])


def chain_ids(links: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Each linked id -> the id of the first tracklet of its chain (the id it is shown under)."""
    successor_of = dict(links)
    predecessor_of = {b: a for a, b in successor_of.items()}
    out: dict[int, int] = {}
    for start in successor_of:
        if start in predecessor_of:
            continue
        node = start
        while node in successor_of:
            node = successor_of[node]
            out[node] = start
    return out


def relabel(track_ids: Iterable[int], mapping: Mapping[int, int]) -> list[int]:
    """Track ids with linked ones replaced by their chain's id."""
    return [mapping.get(int(t), int(t)) for t in track_ids]
