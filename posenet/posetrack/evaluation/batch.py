"""A sequence's scored frames stacked into flat arrays, and all same-frame (prediction, GT)
person pairs with their PCKh distances: AP and MOT are computed from these without a loop
over frames, which is what makes scoring a whole PoseTrack folder take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NUM_JOINTS = 15
# PCKh threshold: a predicted joint is correct within half the head size.
PCKH_THRESHOLD = 0.5


@dataclass
class EvalFrame:
    """One scored frame: ground truth (G people) and predictions (P people), joints 0-14."""

    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool
    head_size: np.ndarray  # (G,)
    gt_ids: np.ndarray  # (G,) int64
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15) bool
    pr_score: np.ndarray  # (P, 15)
    pr_ids: np.ndarray  # (P,) int64


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

        def stack(name: str, tail: tuple[int, ...], dtype) -> np.ndarray:
            parts = [getattr(f, name) for f in frames]
            if not parts:
                return np.zeros((0, *tail), dtype=dtype)
            return np.concatenate(parts).reshape((-1, *tail)).astype(dtype, copy=False)

        joints = (NUM_JOINTS,)
        return cls.from_arrays(
            (
                stack("gt_xy", (*joints, 2), np.float64),
                stack("gt_has", joints, bool),
                stack("head_size", (), np.float64),
                stack("gt_ids", (), np.int64),
            ),
            np.array([len(f.gt_ids) for f in frames], dtype=np.int64),
            (
                stack("pr_xy", (*joints, 2), np.float64),
                stack("pr_has", joints, bool),
                stack("pr_score", joints, np.float64),
                stack("pr_ids", (), np.int64),
            ),
            np.array([len(f.pr_ids) for f in frames], dtype=np.int64),
        )

    @classmethod
    def from_arrays(
        cls,
        gt: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        num_gt: np.ndarray,
        pr: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        num_pr: np.ndarray,
    ) -> SequenceBatch:
        """A batch from stacked people, gt = (xy, has, head_size, ids) and pr = (xy, has,
        score, ids), in frame order with `num_gt` / `num_pr` people per frame."""
        (gt_xy, gt_has, head_size, gt_ids), (pr_xy, pr_has, pr_score, pr_ids) = gt, pr
        frame_index = np.arange(len(num_gt))
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
            gt_ids=gt_ids,
            gt_frame=np.repeat(frame_index, num_gt),
            pr_xy=pr_xy,
            pr_has=pr_has,
            pr_score=pr_score,
            pr_ids=pr_ids,
            pr_frame=np.repeat(frame_index, num_pr),
            num_gt=num_gt,
            num_pr=num_pr,
            pair_pr=pair_pr,
            pair_gt=pair_gt,
            dist=dist,
        )

    def frames(self) -> list[EvalFrame]:
        """The batch cut back into frames (views of its arrays)."""
        g_bounds = _exclusive_cumsum(self.num_gt).tolist()
        p_bounds = _exclusive_cumsum(self.num_pr).tolist()
        gt = (self.gt_xy, self.gt_has, self.head_size, self.gt_ids)
        pr = (self.pr_xy, self.pr_has, self.pr_score, self.pr_ids)
        out = []
        for i in range(self.num_frames):
            gs, ps = slice(g_bounds[i], g_bounds[i + 1]), slice(p_bounds[i], p_bounds[i + 1])
            gxy, ghas, hsize, gids = (a[gs] for a in gt)
            pxy, phas, pscore, pids = (a[ps] for a in pr)
            out.append(EvalFrame(gxy, ghas, hsize, gids, pxy, phas, pscore, pids))
        return out
