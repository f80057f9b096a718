"""Track bookkeeping: ids, the queue of people seen in the last L_Q frames, and expiry.

Each frame the current people are matched first against the people of the previous frame and
then, for those still unmatched, against tracks last seen up to `queue_length` frames ago (the
paper's multi-frame queue), so a person hidden for a few frames gets their id back. With
flow-OKS every remembered pose is moved along each new flow field, so it waits where the
person should be now.
"""
from __future__ import annotations

import numpy as np

from posenet.keypoints import COCO_SIGMAS
from tracker.config import TrackingConfig

from .matching import MATCHERS
from .propagate import propagate_keypoints
from .similarity import box_area, box_iou, oks

SIMILARITIES = ("flow_oks", "oks", "iou")


class TrackSet:
    """Gives every person a track id that stays the same from frame to frame.

    similarity: 'flow_oks' (the paper: OKS of the flow-propagated previous pose with the
    current pose), 'oks' (no flow) or 'iou' (boxes). Pairs with similarity below
    `min_similarity` are never matched; joints below `keypoint_thr` are left out of OKS.
    A frame is matched against the people seen in the last `queue_length` frames (L_Q), so a
    person hidden for up to L_Q - 1 frames gets their id back; L_Q = 1 links consecutive frames
    only. Ids start at 0 and are never reused.
    """

    def __init__(
        self,
        similarity: str = "flow_oks",
        matcher: str = "greedy",
        min_similarity: float = 0.2,
        queue_length: int = 5,
        keypoint_thr: float = 0.4,
        sigmas: np.ndarray | None = None,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
        if matcher not in MATCHERS:
            raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
        if queue_length < 1:
            raise ValueError(f"queue_length must be >= 1, got {queue_length}")
        self.similarity = similarity
        self.match = MATCHERS[matcher]
        self.min_similarity = float(min_similarity)
        self.queue_length = int(queue_length)
        self.keypoint_thr = float(keypoint_thr)
        self.sigmas = None if sigmas is None else np.asarray(sigmas, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 0."""
        self.next_id = 0
        self.frame = -1
        self._ids = np.zeros(0, dtype=np.int64)
        self._keypoints: np.ndarray | None = None  # (T,K,3), moved along the flow each frame
        self._boxes = np.zeros((0, 4))
        self._last_seen = np.zeros(0, dtype=np.int64)
        self._scores = np.zeros(0)

    def predict(self, flow: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Carry the remembered people into the next frame along `flow` (H,W,2, previous frame
        to the next; None: no flow). Returns the poses (m,K,3) of the people of the last frame,
        moved, and their person scores (m,): the paper's propagated people. With flow-OKS the
        moved poses are also what the next `update` compares against."""
        if self._keypoints is None:
            return np.zeros((0, 17, 3)), np.zeros(0)
        moved = self._keypoints
        if flow is not None and len(self._ids):
            moved = propagate_keypoints(self._keypoints, flow)
            if self.similarity == "flow_oks":
                self._keypoints = moved
        last = self._last_seen == self.frame
        return moved[last], self._scores[last]

    def _similarity(self, keypoints: np.ndarray, boxes: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if self.similarity == "iou":
            return box_iou(boxes, self._boxes[cols])
        sigmas = self.sigmas
        if sigmas is None and keypoints.shape[1] == len(COCO_SIGMAS):
            sigmas = COCO_SIGMAS
        if sigmas is None:
            raise ValueError(f"poses of {keypoints.shape[1]} joints need their own OKS sigmas")
        return oks(
            keypoints, self._keypoints[cols], box_area(self._boxes[cols]), sigmas, self.keypoint_thr
        )

    def update(
        self, keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None = None
    ) -> np.ndarray:
        """Track ids (n,) for the people of a new frame: poses (n,K,3), boxes (n,4) xyxy and
        person scores (n,) (default 1). Call `predict(flow)` first for flow-OKS."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        n = len(keypoints)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
        scores = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(n)
        if n == 0 and keypoints.ndim != 3:
            width = 17 if self._keypoints is None else self._keypoints.shape[1]
            keypoints = keypoints.reshape(0, width, 3)
        elif n:
            keypoints = keypoints.reshape(n, -1, 3)
        self.frame += 1
        if self._keypoints is None or self._keypoints.shape[1] != keypoints.shape[1]:
            if self._keypoints is None or len(self._ids) == 0:
                self._keypoints = np.zeros((0, keypoints.shape[1], 3))
            else:
                raise ValueError(
                    f"poses of {keypoints.shape[1]} joints after poses of {self._keypoints.shape[1]}"
                )

        ids = np.full(n, -1, dtype=np.int64)
        free_rows = np.arange(n)
        matched_cols: list[int] = []
        age = self.frame - self._last_seen
        # Previous frame first, then older tracks of the queue for the people still unmatched.
        for cols in (np.flatnonzero(age == 1), np.flatnonzero(age > 1)):
            if len(free_rows) == 0 or len(cols) == 0:
                continue
            sim = self._similarity(keypoints[free_rows], boxes[free_rows], cols)
            pairs, unmatched_rows, _ = self.match(sim, self.min_similarity)
            for r, c in pairs:
                ids[free_rows[r]] = self._ids[cols[c]]
                matched_cols.append(int(cols[c]))
            free_rows = free_rows[unmatched_rows]

        # Matched tracks take the new poses; the unmatched people start new tracks.
        if matched_cols:
            rows = np.flatnonzero(ids >= 0)
            order = np.asarray(matched_cols, dtype=np.int64)
            lookup = {int(self._ids[c]): c for c in order}
            cols = np.array([lookup[int(i)] for i in ids[rows]], dtype=np.int64)
            self._keypoints[cols] = keypoints[rows]
            self._boxes[cols] = boxes[rows]
            self._scores[cols] = scores[rows]
            self._last_seen[cols] = self.frame
        new = np.flatnonzero(ids < 0)
        ids[new] = np.arange(self.next_id, self.next_id + len(new))
        self.next_id += len(new)
        self._ids = np.concatenate([self._ids, ids[new]])
        self._keypoints = np.concatenate([self._keypoints, keypoints[new]])
        self._boxes = np.concatenate([self._boxes, boxes[new]])
        self._scores = np.concatenate([self._scores, scores[new]])
        self._last_seen = np.concatenate([self._last_seen, np.full(len(new), self.frame)])

        alive = self.frame - self._last_seen < self.queue_length
        self._ids, self._keypoints = self._ids[alive], self._keypoints[alive]
        self._boxes, self._last_seen = self._boxes[alive], self._last_seen[alive]
        self._scores = self._scores[alive]
        return ids


def build_track_set(cfg: TrackingConfig) -> TrackSet:
    """Track bookkeeping with the configured similarity, matcher, threshold and queue."""
    return TrackSet(
        similarity=cfg.similarity,
        matcher=cfg.matcher,
        min_similarity=cfg.min_similarity,
        queue_length=cfg.queue_length,
        keypoint_thr=cfg.keypoint_thr,
    )
