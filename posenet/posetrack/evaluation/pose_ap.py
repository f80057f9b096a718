"""Per-joint average precision for multi-person pose, with poseval's PCKh matching.

Per frame: normalised joint distances (PCKh: distance / (0.6 x head-box diagonal)), each
prediction keeps its best ground-truth person by PCKh, each GT person keeps its best remaining
prediction; matched predictions' joints are true positives where within 0.5, all other
predicted joints false positives. AP is the VOC area under the precision/recall curve over
joint scores, pooled over all frames of all sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import NUM_JOINTS, PCKH_THRESHOLD, EvalFrame, SequenceBatch


def joint_distances(frame: EvalFrame) -> np.ndarray:
    """(P, G, 15) distances / GT head size; inf where the prediction or the GT lacks the joint."""
    diff = frame.pr_xy[:, None] - frame.gt_xy[None]  # (P, G, 15, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])
        dist = norm / frame.head_size[None, :, None]
    both = frame.pr_has[:, None] & frame.gt_has[None]
    return np.where(both, dist, np.inf)


def assign_people(match: np.ndarray, gt_has: np.ndarray) -> np.ndarray:
    """(P,) GT index matched to each prediction or -1, from match (P, G, 15) as poseval does."""
    num_pr, num_gt = match.shape[:2]
    n_gt_joints = gt_has.sum(axis=1)
    pck = match.sum(axis=2).astype(np.float64)
    pck = np.divide(pck, n_gt_joints[None], out=pck, where=n_gt_joints[None] > 0)
    best_gt = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck)
    keep[np.arange(num_pr), best_gt] = pck[np.arange(num_pr), best_gt]
    best_pr = np.argmax(keep, axis=0)
    best_pr[keep.max(axis=0) == 0] = -1
    pr_to_gt = np.full(num_pr, -1, dtype=np.int64)
    chosen = np.flatnonzero(best_pr >= 0)
    pr_to_gt[best_pr[chosen]] = chosen
    return pr_to_gt


def frame_labels(frame: EvalFrame, match: np.ndarray | None) -> np.ndarray:
    """(P, 15) bool: predicted joint is a true positive (only meaningful where pr_has)."""
    num_pr = len(frame.pr_has)
    if match is None or not len(frame.gt_has):
        return np.zeros((num_pr, NUM_JOINTS), dtype=bool)  # no GT: every prediction is false
    pr_to_gt = assign_people(match, frame.gt_has)
    labels = match[np.arange(num_pr), np.maximum(pr_to_gt, 0)]
    labels[pr_to_gt < 0] = False
    return labels


def batch_labels(batch: SequenceBatch) -> np.ndarray:
    """(P, 15) bool: `frame_labels` of every frame of the batch at once (same assignment, same
    first-index tie rule), so AP needs no loop over frames."""
    labels = np.zeros((len(batch.pr_ids), NUM_JOINTS), dtype=bool)
    n = len(batch.pair_pr)
    if not n:
        return labels
    match = batch.dist <= PCKH_THRESHOLD
    n_gt_joints = batch.gt_has.sum(axis=1)[batch.pair_gt]
    pck = match.sum(axis=1).astype(np.float64)
    np.divide(pck, n_gt_joints, out=pck, where=n_gt_joints > 0)
    # Each prediction's best GT person, the first on ties: a prediction's pairs are consecutive.
    starts = np.flatnonzero(np.r_[True, batch.pair_pr[1:] != batch.pair_pr[:-1]])
    segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    is_max = pck == np.maximum.reduceat(pck, starts)[segment]
    best = np.minimum.reduceat(np.where(is_max, np.arange(n), n), starts)  # pair index
    # Each GT person keeps, of the predictions whose best it is, the one with the highest
    # nonzero PCKh (the first on ties); the others match nothing.
    best = best[pck[best] > 0]
    if not len(best):  # no prediction is near any ground-truth person
        return labels
    order = np.lexsort((batch.pair_pr[best], -pck[best], batch.pair_gt[best]))
    best, gt = best[order], batch.pair_gt[best[order]]
    winners = best[np.r_[True, gt[1:] != gt[:-1]]]
    labels[batch.pair_pr[winners]] = match[winners]
    return labels


def precision_recall(
    scores: np.ndarray, labels: np.ndarray, num_gt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each prediction in decreasing score order (poseval's sort).

    poseval quirk: tied scores (e.g. -9999 for every joint given without a score) keep the
    order numpy's argsort leaves them in, and poseval pools sequences in the order the file
    system lists them; sequences here are pooled in sorted name order, so with ties the AP can
    differ slightly from poseval's (without ties it is the same).
    """
    order = np.asarray(scores).argsort()[::-1]
    true_pos = np.cumsum(np.asarray(labels)[order] == 1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = true_pos / np.float64(num_gt)
    precision = true_pos / np.arange(1, len(order) + 1)
    return precision, recall


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC): poseval's VOCap, nan/inf recall included."""
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    with np.errstate(invalid="ignore"):
        return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class APResult:
    """Per-joint AP, precision and recall in percent; index 15 is the mean over joints."""

    ap: np.ndarray  # (16,)
    precision: np.ndarray  # (16,)
    recall: np.ndarray  # (16,)


class APCollector:
    """Gathers per-frame scores and labels, then computes AP over everything seen."""

    def __init__(self) -> None:
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._has: list[np.ndarray] = []
        self.num_gt = np.zeros(NUM_JOINTS)

    def add(self, frame: EvalFrame, match: np.ndarray | None) -> None:
        """Add one frame; match is (P, G, 15) dist <= 0.5, or None when P or G is 0."""
        self.num_gt += frame.gt_has.sum(axis=0)
        if len(frame.pr_has):
            self._scores.append(frame.pr_score)
            self._labels.append(frame_labels(frame, match))
            self._has.append(frame.pr_has)

    def add_batch(self, batch: SequenceBatch) -> None:
        """Add all frames of a batch: the same as `add` on each of its frames in order."""
        self.add_part(self.batch_part(batch))

    @staticmethod
    def batch_part(batch: SequenceBatch) -> tuple[np.ndarray, ...]:
        """What `add_batch` adds: (GT joint counts, scores, labels, has); for worker processes."""
        return batch.gt_has.sum(axis=0), batch.pr_score, batch_labels(batch), batch.pr_has

    def add_part(self, part: tuple[np.ndarray, ...]) -> None:
        """Add a `batch_part`."""
        num_gt, scores, labels, has = part
        self.num_gt += num_gt
        if len(has):
            self._scores.append(scores)
            self._labels.append(labels)
            self._has.append(has)

    def result(self) -> APResult:
        """AP per joint and their mean (over non-nan joints), as poseval: a joint never
        predicted gets 0; a joint predicted but absent from all GT gets nan (recall 0/0)."""
        ap, pre, rec = (np.zeros(NUM_JOINTS + 1) for _ in range(3))
        if self._has:
            scores, labels, has = (
                np.concatenate(x) for x in (self._scores, self._labels, self._has)
            )
            for j in range(NUM_JOINTS):
                sel = has[:, j]
                if not sel.any():
                    continue
                precision, recall = precision_recall(scores[sel, j], labels[sel, j], self.num_gt[j])
                ap[j] = voc_ap(recall, precision) * 100
                pre[j], rec[j] = precision[-1] * 100, recall[-1] * 100
        for arr in (ap, pre, rec):
            finite = arr[:NUM_JOINTS][~np.isnan(arr[:NUM_JOINTS])]
            arr[NUM_JOINTS] = finite.mean() if len(finite) else np.nan
        return APResult(ap=ap, precision=pre, recall=rec)
