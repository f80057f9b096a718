"""Offline tracklet linking: after the online pass over a file, join tracklets that are one person.

An online tracker must decide when a person comes back with only the past; once a file has
ended, both sides of every gap are known. Each tracklet keeps a small summary while the video
streams (its first and last few poses and running sums of its limb proportions: memory per
track, not per frame). At the end every pair whose spans do not overlap is scored with evidence
from both ends, and one global assignment (each tracklet at most one successor and one
predecessor, so chains form) picks the links:

- path: the earlier tracklet's path from where it was last seen to where its end velocity
  carries it by the later one's start, and the later one's path from where it was first seen
  back to where its start velocity puts it at the earlier one's end, must come close (segment
  to segment, in person sizes). Using whole segments rather than one extrapolated point keeps
  a person who slowed down or stopped while hidden (the common case over a long gap) linkable;
- turn: the two end velocities must agree (people who cross while hidden keep their
  directions); the change is measured over at most `turn_frames` of the gap, as a person may
  well have turned over a long one;
- shape: limb proportions (shoulder and hip width, upper and lower arms and legs, each over
  the torso length, in logs) averaged over every full pose of each tracklet, so one odd
  glimpse or a bent arm does not decide;
- size: the torso length at the end of one and the start of the other must agree (a child
  returning where an adult left);
- gap: a longer gap needs more evidence.

A shape or size that cannot be compared counts as a poor match (`UNKNOWN`), not as no
evidence. The online pass's own re-identifications after a gap of `split_gap` frames or more
are cut and re-judged in the same assignment: its join stands at `keep_score` unless a better
pair wins, so a person who came back under another hidden person's id can be given back.

Two tracklets that share a frame are never linked, and neither are chains that would.

Tracks the online pass never confirmed (a person seen once right before a gap) come last
(`attach`): each may join one chain where that chain is unseen, on strong evidence from the
chain's tracklet before it or after it (`glimpse_min_score`); a glimpse never joins two chains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

import numpy as np

from posenet.evaluation.oks import keypoint_areas

END_POSES = 5  # poses kept at each end of a tracklet (velocity at its ends)
# COCO-17 (and PoseTrack-2018: same body slots) limbs, left and right averaged (a left/right
# mix-up of the pose net must not change the shape): shoulders, hips, upper arms, forearms,
# thighs, shins; each over the torso (shoulder to hip, both sides averaged).
LIMB_GROUPS = (
    ((5, 6),),
    ((11, 12),),
    ((5, 7), (6, 8)),
    ((7, 9), (8, 10)),
    ((11, 13), (12, 14)),
    ((13, 15), (14, 16)),
)
TORSO = ((5, 11), (6, 12))
_PAIRS = [pair for group in (*LIMB_GROUPS, TORSO) for pair in group]
_ENDS = np.array(_PAIRS)  # (pairs, 2) joint indices
_GROUP_OF = np.array(  # (pairs, groups + 1): which group (the torso last) each pair is in
    [[pair in group for group in (*LIMB_GROUPS, TORSO)] for pair in _PAIRS], dtype=float
)
MIN_SHAPE_LIMBS = 3  # limb groups two tracklets must share for the shape to count
# A shape or size that cannot be compared counts as this many reaches off: an unseen body is
# weaker evidence than a matching one, or a glimpse would outscore the person's own return.
UNKNOWN = 1.0
BATCH_PEOPLE = 512  # people summarised together (memory: a few frames' poses)


@dataclass
class LinkConfig:
    """Rules of the linking pass (tracking.link_* in the tracker config)."""

    max_gap: int = 50  # frames; longer gaps are not bridged
    min_score: float = 0.1  # links scoring below this are not made
    reach: float = 1.0  # path term exp(-d^2 / 2 reach^2), d in person sizes
    turn_reach: float = 2.0  # turn term, velocity change over the gap in person sizes
    turn_frames: int = 10  # the velocity change counts over at most this many frames
    shape_reach: float = 0.5  # shape term, RMS difference of log limb proportions
    gap_frames: float = 100.0  # gap term exp(-gap / this)
    size_reach: float = 0.3  # size term: log ratio of torso lengths at the two ends
    score_thr: float = 0.3  # joints above this score count
    full_joints: int = 8  # joints that make a pose "full" (used for the shape)
    # Re-judging the online pass: a track re-found after at least `split_gap` missing frames
    # is cut there (0: never) and the pieces go into the assignment with the rest; the online
    # tracker's own join scores at least `keep_score`, so it stands unless a better one wins.
    split_gap: int = 4
    keep_score: float = 0.5
    # A track the online pass never confirmed (a person seen once, then hidden) is kept when it
    # links to a shown tracklet at this score or more.
    glimpse_min_score: float = 0.7


@dataclass
class Tracklet:
    """What linking keeps of one track: its span, a few poses at each end, shape sums."""

    track_id: int
    first: int
    last: int = -1
    head: list[tuple[int, np.ndarray]] = field(default_factory=list)
    tail: deque = field(default_factory=lambda: deque(maxlen=END_POSES))
    shape_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(LIMB_GROUPS)))
    shape_count: np.ndarray = field(default_factory=lambda: np.zeros(len(LIMB_GROUPS)))
    size: float = 0.0  # the largest extent of its joints seen, sqrt(area) in pixels

    def shape(self) -> np.ndarray:
        """Mean log limb proportions (nan for a limb never seen)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.shape_count > 0, self.shape_sum / self.shape_count, np.nan)


def limb_proportions(poses: np.ndarray, thr: float) -> np.ndarray:
    """log(limb length / torso length) per LIMB_GROUPS entry (nan where unseen), for poses
    (n, 17, 3) at once: one gather and one small product per frame, so the summaries cost
    little next to tracking."""
    ok = poses[:, _ENDS, 2] > thr  # (n, pairs, 2)
    ok = ok[..., 0] & ok[..., 1]
    d = np.linalg.norm(poses[:, _ENDS[:, 0], :2] - poses[:, _ENDS[:, 1], :2], axis=2)
    total, count = (d * ok) @ _GROUP_OF, ok @ _GROUP_OF  # (n, groups + 1); last: torso
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        torso = np.where(mean[:, -1] > 1.0, mean[:, -1], np.nan)
        limbs = np.where(mean[:, :-1] > 0, mean[:, :-1], np.nan)  # unseen or zero: no shape
        return np.log(limbs / torso[:, None])


def _centre(pose: np.ndarray, thr: float, joints: np.ndarray | None = None) -> np.ndarray | None:
    ok = pose[:, 2] > thr
    if joints is not None:
        ok &= joints
    return pose[ok, :2].mean(axis=0) if ok.any() else None


def _velocity(poses: Iterable[tuple[int, np.ndarray]], thr: float) -> np.ndarray:
    """Pixels per frame between the first and last pose of `poses` over the joints both have
    (a joint appearing or vanishing must not look like motion); zero when unknown."""
    poses = list(poses)
    if len(poses) < 2 or poses[-1][0] == poses[0][0]:
        return np.zeros(2)
    (f0, p0), (f1, p1) = poses[0], poses[-1]
    common = (p0[:, 2] > thr) & (p1[:, 2] > thr)
    if not common.any():
        return np.zeros(2)
    return (p1[common, :2] - p0[common, :2]).mean(axis=0) / (f1 - f0)


def _torso(poses: Iterable[tuple[int, np.ndarray]], thr: float) -> float:
    """Median torso length (shoulder to hip, either side) over `poses`; 0 when unseen."""
    lengths = []
    for _, pose in poses:
        for s, h in TORSO:
            if pose[s, 2] > thr and pose[h, 2] > thr:
                lengths.append(float(np.linalg.norm(pose[s, :2] - pose[h, :2])))
    return float(np.median(lengths)) if lengths else 0.0


def _segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> float:
    """Shortest distance between the 2-D segments p0-p1 and q0-q1."""

    def point_to_segment(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        ab = b - a
        t = 0.0 if not ab.any() else float(np.clip((x - a) @ ab / (ab @ ab), 0.0, 1.0))
        return float(np.linalg.norm(x - (a + t * ab)))

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    d1, d2 = cross(q0, q1, p0), cross(q0, q1, p1)
    d3, d4 = cross(p0, p1, q0), cross(p0, p1, q1)
    if d1 * d2 < 0 and d3 * d4 < 0:  # proper crossing
        return 0.0
    return min(
        point_to_segment(p0, q0, q1),
        point_to_segment(p1, q0, q1),
        point_to_segment(q0, p0, p1),
        point_to_segment(q1, p0, p1),
    )


class TrackletSummaries:
    """Per-track summaries gathered frame by frame, then `links()` at the end of the input."""

    def __init__(self, cfg: LinkConfig | None = None) -> None:
        self.cfg = cfg or LinkConfig()
        self._tracklets: dict[int, Tracklet] = {}
        # Frames not yet summarised: (frame, ids, poses), done BATCH_PEOPLE people at a time
        # so the array work costs one call per batch, not per frame.
        self._pending: list[tuple[int, list[int], np.ndarray]] = []
        self._pending_people = 0

    @property
    def tracklets(self) -> dict[int, Tracklet]:
        """Track id -> its summary, with every frame added so far."""
        self._summarise()
        return self._tracklets

    def add(self, frame: int, track_ids: Iterable[int], keypoints: np.ndarray) -> None:
        """Record one frame's people: ids (n,) and COCO-17 keypoints (n, 17, 3)."""
        poses = np.asarray(keypoints, dtype=np.float64).reshape(-1, 17, 3)
        if not len(poses):
            return
        self._pending.append((frame, [int(i) for i in track_ids], poses))
        self._pending_people += len(poses)
        if self._pending_people >= BATCH_PEOPLE:
            self._summarise()

    def _summarise(self) -> None:
        """Fold the pending frames into the tracklets: the array work for all their people at
        once, then per person only a few list and in-place updates (linking must stay a small
        share of tracking, issue 22)."""
        if not self._pending:
            return
        thr = self.cfg.score_thr
        poses = np.concatenate([p for _, _, p in self._pending])
        sizes = np.sqrt(keypoint_areas(poses, thr)).tolist()
        props = limb_proportions(poses, thr)
        full = (poses[..., 2] > thr).sum(axis=1) >= self.cfg.full_joints
        seen = full[:, None] & ~np.isnan(props)  # limbs that count towards the shape
        shape, counted = np.where(seen, props, 0.0), seen.astype(np.float64)
        adds = seen.any(axis=1).tolist()
        k = -1
        for frame, track_ids, _ in self._pending:
            for track_id in track_ids:
                k += 1
                if track_id < 0:
                    continue
                t = self._tracklets.get(track_id)
                if t is None:
                    t = self._tracklets[track_id] = Tracklet(track_id, frame)
                t.last = frame
                pose = poses[k].copy()  # not a view: it would keep the whole batch alive
                if len(t.head) < END_POSES:
                    t.head.append((frame, pose))
                t.tail.append((frame, pose))
                if sizes[k] > t.size:
                    t.size = sizes[k]
                if adds[k]:
                    t.shape_sum += shape[k]
                    t.shape_count += counted[k]
        self._pending, self._pending_people = [], 0

    def features(self, a: Tracklet, b: Tracklet) -> tuple[float, float, float, float] | None:
        """(path distance, turn, shape difference, size change) of `a` followed by `b`: the
        first two in person sizes, the shape nan when they share too few limbs, the size change
        |log| of the torso length ratio across the gap (nan when a torso is unseen); None when
        no link can be."""
        cfg = self.cfg
        gap = b.first - a.last
        if gap < 1 or gap > cfg.max_gap:  # overlapping (or touching) spans never link
            return None
        end, start = a.tail[-1][1], b.head[0][1]
        common = (end[:, 2] > cfg.score_thr) & (start[:, 2] > cfg.score_thr)
        joints = common if common.sum() >= 3 else None  # same joints on both: no false shift
        p0, q0 = _centre(end, cfg.score_thr, joints), _centre(start, cfg.score_thr, joints)
        if p0 is None or q0 is None:
            return None
        # Person size: the largest each tracklet showed (a pose cut to a few joints at the edge
        # of the frame or behind someone must not make a small distance look large). A
        # tracklet that never showed an extent (one joint, or joints in a line) has no size:
        # the other's stands alone, or distances would be counted in pixels.
        known = [s for s in (a.size, b.size) if s > 0]
        size = max(float(np.exp(np.mean(np.log(known)))) if known else 0.0, 1.0)  # geometric mean
        va, vb = _velocity(a.tail, cfg.score_thr), _velocity(b.head, cfg.score_thr)
        path = _segment_distance(p0, p0 + va * gap, q0, q0 - vb * gap) / size
        turn = float(np.linalg.norm(va - vb)) * min(gap, cfg.turn_frames) / size
        sa, sb = a.shape(), b.shape()
        both = ~np.isnan(sa) & ~np.isnan(sb)
        shape = (
            float(np.sqrt(np.mean((sa[both] - sb[both]) ** 2)))
            if both.sum() >= MIN_SHAPE_LIMBS
            else np.nan
        )
        ta, tb = _torso(a.tail, cfg.score_thr), _torso(b.head, cfg.score_thr)
        size_change = abs(float(np.log(ta / tb))) if ta > 0 and tb > 0 else np.nan
        return path, turn, shape, size_change

    def score(self, a: Tracklet, b: Tracklet) -> float:
        """How well `b` continues `a` (0 to 1; 0 where no link can be)."""
        cfg = self.cfg
        f = self.features(a, b)
        if f is None:
            return 0.0
        path, turn, shape, size_change = f
        shape = UNKNOWN * cfg.shape_reach if np.isnan(shape) else shape
        size_change = UNKNOWN * cfg.size_reach if np.isnan(size_change) else size_change
        score = np.exp(-(path**2) / (2 * cfg.reach**2))
        score *= np.exp(-(turn**2) / (2 * cfg.turn_reach**2))
        score *= np.exp(-(shape**2) / (2 * cfg.shape_reach**2))
        score *= np.exp(-(size_change**2) / (2 * cfg.size_reach**2))
        return float(score * np.exp(-(b.first - a.last) / cfg.gap_frames))

    def pair_scores(
        self, kept: Iterable[tuple[int, int]] = (), leave_out: Set[int] = frozenset()
    ) -> tuple[list[Tracklet], np.ndarray]:
        """The tracklets (but `leave_out`) and a score matrix (earlier row, later column); 0
        where no link can be. `kept` (earlier id, later id): joins the online pass made,
        scored at least keep_score."""
        items = sorted(
            (t for t in self.tracklets.values() if t.track_id not in leave_out),
            key=lambda t: (t.first, t.track_id),
        )
        scores = np.zeros((len(items), len(items)))
        for i, a in enumerate(items):
            for j, b in enumerate(items):
                if b.first - a.last >= 1:
                    scores[i, j] = self.score(a, b)
        row = {t.track_id: i for i, t in enumerate(items)}
        for a, b in kept:
            if a in row and b in row and items[row[b]].first > items[row[a]].last:
                scores[row[a], row[b]] = max(scores[row[a], row[b]], self.cfg.keep_score)
        return items, scores

    def links(
        self, kept: Iterable[tuple[int, int]] = (), leave_out: Set[int] = frozenset()
    ) -> list[tuple[int, int]]:
        """(earlier id, later id) pairs chosen by one global assignment over all pairs
        (`kept`, `leave_out`: see pair_scores)."""
        from scipy.optimize import linear_sum_assignment

        items, scores = self.pair_scores(kept, leave_out)
        if not len(items):
            return []
        cost = np.where(scores >= self.cfg.min_score, 1.0 - scores, 1e6)
        rows, cols = linear_sum_assignment(cost)
        return [
            (items[r].track_id, items[c].track_id)
            for r, c in zip(rows, cols)
            if scores[r, c] >= self.cfg.min_score
        ]

    def attach(
        self, chains: Mapping[int, Iterable[int]], glimpses: Iterable[int]
    ) -> dict[int, int]:
        """Glimpse id -> the chain (key of `chains`: its tracklet ids) it is part of. A glimpse
        fits a chain where the chain is unseen: after its tracklet before (and before its
        tracklet after, in a gap) at glimpse_min_score or more on each side, chosen by one
        assignment. A glimpse never joins two chains, so it cannot bridge them."""
        from scipy.optimize import linear_sum_assignment

        roots = list(chains)
        spans = {
            r: sorted((self.tracklets[t] for t in chains[r]), key=lambda t: t.first) for r in roots
        }
        items = [self.tracklets[g] for g in glimpses]
        scores = np.zeros((len(items), len(roots)))
        for i, g in enumerate(items):
            for j, root in enumerate(roots):
                before = [t for t in spans[root] if t.last < g.first]
                after = [t for t in spans[root] if t.first > g.last]
                if len(before) + len(after) < len(spans[root]):
                    continue  # the chain is seen while the glimpse is
                sides = ([self.score(before[-1], g)] if before else []) + (
                    [self.score(g, after[0])] if after else []
                )
                if sides and min(sides) >= self.cfg.glimpse_min_score:
                    scores[i, j] = float(np.prod(sides))
        if not scores.any():
            return {}
        rows, cols = linear_sum_assignment(-scores)
        return {items[r].track_id: roots[c] for r, c in zip(rows, cols) if scores[r, c] > 0}


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
