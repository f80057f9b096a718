"""A sequence's scored frames stacked into flat arrays, and all same-frame (prediction, GT)
person pairs with their PCKh distances: AP and MOT are computed from these without a loop
over frames, which is what makes scoring a whole PoseTrack folder take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .frames import NUM_JOINTS, EvalFrame


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass
class SequenceBatch:
    """The people of a sequence's frames, concatenated in frame order (`*_frame`: the frame
    each person is in), and every same-frame (prediction, GT) pair, predictions major.

    `dist` (pairs, 15) is `joint_distances` of each frame, flattened: computed with the same
    operations, so it holds the same bits.
    """

    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool
    head_size: np.ndarray  # (G,)
    gt_ids: np.ndarray  # (G,) int64
    gt_frame: np.ndarray  # (G,) int64
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15) bool
    pr_score: np.ndarray  # (P, 15)
    pr_ids: np.ndarray  # (P,) int64
    pr_frame: np.ndarray  # (P,) int64
    num_gt: np.ndarray  # (F,) GT people per frame
    num_pr: np.ndarray  # (F,) predicted people per frame
    pair_pr: np.ndarray  # (N,) prediction index of each pair
    pair_gt: np.ndarray  # (N,) GT index of each pair
    dist: np.ndarray  # (N, 15) distance / head size; inf where either lacks the joint

    @property
    def num_frames(self) -> int:
        """Number of frames, people or not."""
        return len(self.num_gt)

    @property
    def pair_frame(self) -> np.ndarray:
        """(N,) the frame of each pair."""
        return self.gt_frame[self.pair_gt]

    @classmethod
    def from_frames(cls, frames: Sequence[EvalFrame]) -> SequenceBatch:
        """Stack the frames (one concatenation per field) and pair their people."""
        num_gt = np.array([len(f.gt_ids) for f in frames], dtype=np.int64)
        num_pr = np.array([len(f.pr_ids) for f in frames], dtype=np.int64)

        def stack(name: str, tail: tuple[int, ...], dtype) -> np.ndarray:
            parts = [getattr(f, name) for f in frames]
            if not parts:
                return np.zeros((0, *tail), dtype=dtype)
            return np.concatenate(parts).reshape((-1, *tail))

        gt_xy, pr_xy = (
            stack("gt_xy", (NUM_JOINTS, 2), float),
            stack("pr_xy", (NUM_JOINTS, 2), float),
        )
        gt_has = stack("gt_has", (NUM_JOINTS,), bool).astype(bool, copy=False)
        pr_has = stack("pr_has", (NUM_JOINTS,), bool).astype(bool, copy=False)
        head_size = stack("head_size", (), float)
        frame_index = np.arange(len(frames))
        gt_frame, pr_frame = np.repeat(frame_index, num_gt), np.repeat(frame_index, num_pr)
        # Pairs: within each frame every prediction with every GT person, predictions major.
        per_frame = num_gt * num_pr
        pair_frame = np.repeat(frame_index, per_frame)
        k = np.arange(len(pair_frame)) - _exclusive_cumsum(per_frame)[pair_frame]
        width = num_gt[pair_frame]
        p_local = k // np.maximum(width, 1)
        pair_pr = _exclusive_cumsum(num_pr)[pair_frame] + p_local
        pair_gt = _exclusive_cumsum(num_gt)[pair_frame] + (k - p_local * width)
        diff = pr_xy[pair_pr] - gt_xy[pair_gt]  # (N, 15, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])
            dist = norm / head_size[pair_gt][:, None]
        dist[~(pr_has[pair_pr] & gt_has[pair_gt])] = np.inf
        return cls(
            gt_xy=gt_xy,
            gt_has=gt_has,
            head_size=head_size,
            gt_ids=stack("gt_ids", (), np.int64).astype(np.int64, copy=False),
            gt_frame=gt_frame,
            pr_xy=pr_xy,
            pr_has=pr_has,
            pr_score=stack("pr_score", (NUM_JOINTS,), float),
            pr_ids=stack("pr_ids", (), np.int64).astype(np.int64, copy=False),
            pr_frame=pr_frame,
            num_gt=num_gt,
            num_pr=num_pr,
            pair_pr=pair_pr,
            pair_gt=pair_gt,
            dist=dist,
        )
