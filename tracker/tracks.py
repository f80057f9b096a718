"""Track bookkeeping: ids, states, motion, scale, re-identification.

A track is in one of four states (as ByteTrack's `TrackState`):

- tentative: new; tracked once seen in `confirm_hits` of its first `confirm_window` frames,
  removed if that window ends first;
- tracked: confirmed and seen in the last frame;
- lost: confirmed and missed in the last frame; tracked again when re-found, removed when
  missed for `lost_seconds` of video (or the paper's `queue_length` frames);
- removed: forgotten, never matched again (the tracks list drops it at the end of the frame).

Each frame runs two steps, as in the paper (and in Kalman-style trackers):

- `predict(flow)` moves every remembered person one frame ahead: along the optical flow when
  the person was seen in the last frame and flow-OKS is on, else by the track's constant
  velocity (`motion: velocity`). The people of the last frame, moved, are returned: they are
  the paper's propagated boxes.
- `update(poses, boxes, scores)` gives the new frame's people ids:
  1. match them to the tracks in rounds: tracked and lost tracks before tentative ones, in
     one round in which a lost track's similarity is lowered by `lost_penalty`, so it takes a
     person from a tracked one only when it is clearly more similar (the paper matches the
     last frame's tracks first: `recent_first`); a lost track is also compared by
     re-identification (the shape of its newest fullest pose, near where it was or should be,
     `reid_weight`), which finds people back after gaps where OKS in place has drifted off;
  2. a tentative track begun on a person who was then re-found by their lost track is merged
     into it (`merged`: the confirmation stage shows its held-back frames under the lost
     track's id) and removed;
  3. matched tracks observe their person: a tentative track may become tracked, a lost one is
     tracked again;
  4. unmatched people start tentative tracks;
  5. tracked tracks missed in this frame become lost, and tracks past their time are removed.

OKS needs a person's scale; `scale: history` takes it from the track's fuller poses (poses
with at least `scale_min_joints` confident joints), so a frame where only two joints are
seen, whose box has almost no area, does not break the track. Ids start at 0, never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from posenet.keypoints import COCO_SIGMAS
from tracker.config import TrackerConfig, TrackingConfig, validate_tracker_config

from .matching import MATCHERS
from .propagate import propagate_keypoints
from .similarity import box_area, box_iou, oks, reid_similarity


class TrackState(Enum):
    """Where a track is in its life (see the module doc)."""

    TENTATIVE = "tentative"  # new, not yet seen in confirm_hits frames: not shown
    TRACKED = "tracked"  # confirmed, seen in the last frame
    LOST = "lost"  # confirmed, missed in the last frame: kept for max_lost frames
    REMOVED = "removed"  # forgotten: lost too long, never confirmed, or merged


@dataclass
class Track:
    """One person: their pose where they should be now, and what is known of their motion."""

    id: int
    keypoints: np.ndarray  # (K, 3) last pose, moved to the current frame by predict()
    box: np.ndarray  # (4,) xyxy, moved with the pose
    score: float  # person score of the last observation
    observed: np.ndarray  # (K, 3) last observed pose, not moved
    template: np.ndarray  # (K, 3) newest observed pose about as full as any before (reid)
    last_seen: int  # frame of the last observation
    first_seen: int = 0  # frame of the first observation
    hits: int = 1  # frames seen (a tentative track needs confirm_hits)
    state: TrackState = TrackState.TENTATIVE
    velocity: np.ndarray | None = None  # (2,) px per frame of the pose, None until measured
    area: float = 0.0  # OKS scale s^2
    area_from_full_pose: bool = False


def _shift(
    keypoints: np.ndarray, box: np.ndarray, delta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    kp = keypoints.copy()
    kp[:, :2] += delta
    return kp, box + np.tile(delta, 2)


class TrackSet:
    """Gives every person a track id that stays the same from frame to frame (see module doc).

    similarity: 'flow_oks' (the paper: OKS of the flow-propagated previous pose with the
    current pose), 'oks' (no flow) or 'iou' (boxes). `fps` turns `lost_seconds` into frames.
    """

    def __init__(self, config: TrackingConfig | None = None, fps: float = 25.0) -> None:
        cfg = config if config is not None else TrackingConfig()
        # The config's one set of checks: a TrackingConfig made in code was never loaded.
        validate_tracker_config(TrackerConfig(tracking=cfg), "TrackSet")
        self.cfg = cfg
        self.similarity = cfg.similarity
        self.match = MATCHERS[cfg.matcher]
        if cfg.lost_seconds > 0:
            self.max_lost = max(1, int(round(cfg.lost_seconds * fps)))
        else:
            self.max_lost = int(cfg.queue_length)
        self.sigmas = COCO_SIGMAS
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 0."""
        self.next_id = 0
        self.frame = -1
        self.tracks: list[Track] = []
        self.merged: dict[int, int] = {}  # the last update's {tentative id: lost track id}
        self.scene_area = 0.0  # running mean of the full poses' scale, all tracks
        self.forgotten = 0  # confirmed tracks removed (lost too long)

    def someone_may_return(self) -> bool:
        """Whether a confirmed person is missing: a track lost now, or one removed after it was
        lost too long. At the end of the input a newcomer may be them come back, under a new
        id: the frames that would tell do not exist."""
        return self.forgotten > 0 or any(t.state is TrackState.LOST for t in self.tracks)

    # ------------------------------------------------------------------ predict

    def predict(self, flow: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Move every track one frame ahead along `flow` (H,W,2, last frame to the next; None:
        no flow) or its velocity. Returns the poses (m,K,3) of the people of the last frame,
        moved, and their person scores (m,)."""
        cfg = self.cfg
        moved_last, scores_last = [], []
        for t in self.tracks:
            seen_last = t.last_seen == self.frame
            by_flow = flow is not None and (seen_last or cfg.motion == "none")
            if by_flow:
                moved = propagate_keypoints(t.keypoints[None], flow)[0]
                if self.similarity == "flow_oks":
                    delta = _mean_shift(t.keypoints, moved, cfg.keypoint_thr)
                    t.keypoints, t.box = moved, t.box + np.tile(delta, 2)
            elif cfg.motion == "velocity" and t.velocity is not None:
                moved, t.box = _shift(t.keypoints, t.box, t.velocity)
                t.keypoints = moved
            else:
                moved = t.keypoints
            if seen_last:
                moved_last.append(moved)
                scores_last.append(t.score)
        if not moved_last:
            return np.zeros((0, len(self.sigmas), 3)), np.zeros(0)
        return np.stack(moved_last), np.asarray(scores_last, dtype=np.float64)

    # ------------------------------------------------------------------ update

    def update(
        self, keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None = None
    ) -> np.ndarray:
        """Track ids (n,) for the people of a new frame: poses (n,K,3), boxes (n,4) xyxy and
        person scores (n,) (default 1). Call `predict(flow)` first."""
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, len(self.sigmas), 3)
        n = len(keypoints)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
        scores = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(n)
        self.frame += 1
        matched = self._associate(keypoints, boxes)
        self.merged = self._merge_into_refound(matched, keypoints, boxes)
        ids = np.full(n, -1, dtype=np.int64)
        for index, row in matched.items():
            track = self.tracks[index]
            self._observe(track, keypoints[row], boxes[row], scores[row])
            ids[row] = track.id
        for row in np.flatnonzero(ids < 0):
            ids[row] = self._start(keypoints[row], boxes[row], scores[row]).id
        for track in self.tracks:
            self._end_frame(track)
        self.tracks = [t for t in self.tracks if t.state is not TrackState.REMOVED]
        return ids

    def _associate(self, keypoints: np.ndarray, boxes: np.ndarray) -> dict[int, int]:
        """{track index: row} matched in this frame, round after round (`_rounds`); each
        round matches the people the rounds before it left over."""
        free_rows = np.arange(len(keypoints))
        matched: dict[int, int] = {}
        for group in self._rounds():
            if len(free_rows) == 0:
                break
            sim = self._similarity(keypoints[free_rows], boxes[free_rows], group)
            pairs, unmatched_rows, _ = self.match(sim, self.cfg.min_similarity)
            for r, c in pairs:
                matched[group[c]] = free_rows[r]
            free_rows = free_rows[unmatched_rows]
        return matched

    def _rounds(self) -> list[list[int]]:
        """Track indices per matching round: tracked and lost tracks before tentative ones (a
        broken track's fresh copy must not keep the person), and with `recent_first` (the
        paper) those seen in the last frame before those missed in it (tracked before lost)."""
        rounds: dict[tuple[bool, bool], list[int]] = {}
        for i, t in enumerate(self.tracks):
            missed = self.cfg.recent_first and t.last_seen < self.frame - 1
            rounds.setdefault((t.state is TrackState.TENTATIVE, missed), []).append(i)
        return [rounds[key] for key in sorted(rounds)]

    def _merge_into_refound(
        self, matched: dict[int, int], keypoints: np.ndarray, boxes: np.ndarray
    ) -> dict[int, int]:
        """{tentative id: lost track id} for a person who came back one frame before a lost
        track re-found them: the tentative track started on them, is missed now, and would
        have taken the person the lost track took. It was never seen together with the lost
        track, so it is the same person: it is removed, and its held-back frames take the
        lost track's id."""
        merged: dict[int, int] = {}
        for index, row in matched.items():
            lost = self.tracks[index]
            if lost.state is not TrackState.LOST:
                continue
            candidates = [
                i
                for i, t in enumerate(self.tracks)
                if t.state is TrackState.TENTATIVE
                and i not in matched
                and t.first_seen > lost.last_seen
            ]
            if not candidates:
                continue
            sim = self._similarity(keypoints[[row]], boxes[[row]], candidates)[0]
            best = int(np.argmax(sim))
            if sim[best] >= self.cfg.min_similarity:
                newcomer = self.tracks[candidates[best]]
                newcomer.state = TrackState.REMOVED
                merged[newcomer.id] = lost.id
        return merged

    def _similarity(self, keypoints: np.ndarray, boxes: np.ndarray, group: list[int]) -> np.ndarray:
        tracks = [self.tracks[i] for i in group]
        track_boxes = np.stack([t.box for t in tracks])
        if self.similarity == "iou":
            return box_iou(boxes, track_boxes)
        track_kp = np.stack([t.keypoints for t in tracks])
        if self.cfg.scale == "history":
            # A track never seen whole (one or two joints) takes the scene's typical scale.
            areas = np.array(
                [t.area if t.area_from_full_pose else max(t.area, self.scene_area) for t in tracks]
            )
        else:
            areas = box_area(track_boxes)
        thr = self.cfg.keypoint_thr
        sim = oks(keypoints, track_kp, areas, self.sigmas, thr)
        if self.cfg.min_common_joints > 1:
            # OKS over one or two joints says little: such a pair counts as the better of its
            # OKS and `few_joints_similarity` when the boxes overlap, else as the lesser (its
            # joints must still be close); either way a fuller match wins, as the value is low.
            common = ((keypoints[:, None, :, 2] > thr) & (track_kp[None, :, :, 2] > thr)).sum(-1)
            few = common < self.cfg.min_common_joints
            overlap = box_iou(boxes, track_boxes) > 0
            low = self.cfg.few_joints_similarity
            fallback = np.where(overlap, np.maximum(sim, low), np.minimum(sim, low))
            sim = np.where(few, fallback, sim)
        # Lost tracks only (a tentative track has no history to recognise; with it, a fast
        # newcomer's two half-tracks took it in turns).
        lost = np.array([t.state is TrackState.LOST for t in tracks])
        if self.cfg.reid_weight > 0 and lost.any():
            observed = np.stack([t.observed for t in tracks])
            shapes = np.stack([t.template for t in tracks])
            reid = reid_similarity(
                keypoints, shapes, observed, track_kp, areas, self.sigmas, thr, self.cfg.reid_reach
            )
            sim = np.where(lost[None, :], np.maximum(sim, self.cfg.reid_weight * reid), sim)
        if self.cfg.lost_penalty > 0:
            sim = np.where(lost[None, :], sim * (1 - self.cfg.lost_penalty), sim)
        return sim

    def _observe(self, track: Track, keypoints: np.ndarray, box: np.ndarray, score: float) -> None:
        """A matched observation: motion, scale, state (a lost track is tracked again, a
        tentative one once seen in `confirm_hits` frames)."""
        cfg = self.cfg
        gap = self.frame - track.last_seen
        step = _mean_shift(track.observed, keypoints, cfg.keypoint_thr, default=None)
        if step is not None and cfg.motion == "velocity":
            step = step / gap
            a = cfg.velocity_smoothing
            track.velocity = step if track.velocity is None else a * track.velocity + (1 - a) * step
        track.area, track.area_from_full_pose = self._scale(track, keypoints, box)
        track.hits += 1
        if track.state is not TrackState.TENTATIVE or track.hits >= cfg.confirm_hits:
            track.state = TrackState.TRACKED
        track.template = _fuller(track.template, keypoints, cfg)
        track.keypoints, track.observed = keypoints.copy(), keypoints.copy()
        track.box, track.score, track.last_seen = box.copy(), float(score), self.frame

    def _start(self, keypoints: np.ndarray, box: np.ndarray, score: float) -> Track:
        """A new track on an unmatched person: tentative, or tracked at once when one
        frame confirms (`confirm_hits` 1, the paper)."""
        confirmed = self.cfg.confirm_hits <= 1
        track = Track(
            id=self.next_id,
            keypoints=keypoints.copy(),
            box=box.copy(),
            score=float(score),
            observed=keypoints.copy(),
            template=keypoints.copy(),
            last_seen=self.frame,
            first_seen=self.frame,
            state=TrackState.TRACKED if confirmed else TrackState.TENTATIVE,
        )
        track.area, track.area_from_full_pose = self._scale(track, keypoints, box)
        self.next_id += 1
        self.tracks.append(track)
        return track

    def _scale(self, track: Track, keypoints: np.ndarray, box: np.ndarray) -> tuple[float, bool]:
        """OKS scale after observing `keypoints`: a running mean over full poses; until a
        full pose is seen, the largest box so far. Full poses also update the scene's scale."""
        area = float(box_area(box[None])[0])
        full = int((keypoints[:, 2] > self.cfg.keypoint_thr).sum()) >= self.cfg.scale_min_joints
        a = self.cfg.scale_smoothing
        if full:
            self.scene_area = area if self.scene_area == 0 else a * self.scene_area + (1 - a) * area
            if track.area_from_full_pose:
                return a * track.area + (1 - a) * area, True
            return area, True
        if track.area_from_full_pose:
            return track.area, True
        return max(track.area, area), False

    def _end_frame(self, track: Track) -> None:
        """The state a track leaves this frame in: removed when a tentative track's first
        `confirm_window` frames are over, or when missed for `max_lost` frames; else lost
        when tracked but missed in this frame."""
        if track.state is TrackState.REMOVED:
            return
        window_over = self.frame - track.first_seen + 1 >= self.cfg.confirm_window
        if track.state is TrackState.TENTATIVE and window_over:
            track.state = TrackState.REMOVED
        elif self.frame - track.last_seen >= self.max_lost:
            self.forgotten += track.state is not TrackState.TENTATIVE
            track.state = TrackState.REMOVED
        elif track.state is TrackState.TRACKED and track.last_seen < self.frame:
            track.state = TrackState.LOST


def _fuller(template: np.ndarray, keypoints: np.ndarray, cfg: TrackingConfig) -> np.ndarray:
    """The pose a track is re-identified by after observing `keypoints`: the newest pose with
    at least as many confident joints as the last one (or a full pose, `scale_min_joints`), so
    a last glimpse of two joints does not stand for the person."""
    have = int((template[:, 2] > cfg.keypoint_thr).sum())
    count = int((keypoints[:, 2] > cfg.keypoint_thr).sum())
    return keypoints.copy() if count >= min(have, cfg.scale_min_joints) else template


def _mean_shift(a: np.ndarray, b: np.ndarray, thr: float, default=0.0):
    """Mean displacement (2,) from pose `a` to pose `b` over joints confident in both."""
    common = (a[:, 2] > thr) & (b[:, 2] > thr)
    if not common.any():
        return None if default is None else np.full(2, default)
    return (b[common, :2] - a[common, :2]).mean(axis=0)
