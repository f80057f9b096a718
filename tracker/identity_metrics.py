"""Identity quality of pose tracks: IDF1 and HOTA from TrackEval, people matched per frame by
PoseTrack's PCKh rule.

The similarity of a (GT person, predicted person) pair is the PCKh share the PoseTrack evaluator
matches people by: the share of the GT person's labelled joints that the prediction has within
0.5 head size. IDF1 counts pairs with a share of at least 0.5; HOTA sweeps its alpha thresholds
over the share. As in the evaluator's AP and MOTA, which count joints, a person without labelled
joints (GT or predicted) counts for nothing and is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posenet.errors import UserError
from posenet.posetrack.evaluation.batch import PCKH_THRESHOLD, SequenceBatch

IDF1_THRESHOLD = 0.5  # share of the GT person's joints within PCKh@0.5 for an IDF1 match


@dataclass
class IdentityScores:
    """IDF1 and HOTA (the mean over its alphas) in percent, with the counts behind them."""

    idf1: float
    hota: float
    det_a: float  # HOTA's detection accuracy, percent
    ass_a: float  # HOTA's association accuracy, percent
    idtp: int
    idfn: int
    idfp: int


def pair_shares(batch: SequenceBatch) -> np.ndarray:
    """(N,) PCKh share of each (prediction, GT) pair of the batch: the GT person's labelled joints
    the prediction has within PCKh@0.5, over their number (0 for a GT person without joints)."""
    within = (batch.dist <= PCKH_THRESHOLD).sum(axis=1).astype(np.float64)
    labelled = batch.gt_has.sum(axis=1)[batch.pair_gt]
    return np.divide(within, labelled, out=np.zeros_like(within), where=labelled > 0)


def sequence_data(batch: SequenceBatch) -> dict:
    """TrackEval's per-sequence data dict (ids renumbered from 0, one (G, P) similarity matrix
    per frame) of a batch's scored frames; people without labelled joints are left out."""
    shares = pair_shares(batch)
    gt_keep, pr_keep = batch.gt_has.any(axis=1), batch.pr_has.any(axis=1)
    gt_uid, gt_num = np.unique(batch.gt_ids[gt_keep], return_inverse=True)
    pr_uid, pr_num = np.unique(batch.pr_ids[pr_keep], return_inverse=True)
    gt_idx = np.full(len(batch.gt_ids), -1, dtype=np.int64)
    pr_idx = np.full(len(batch.pr_ids), -1, dtype=np.int64)
    gt_idx[gt_keep], pr_idx[pr_keep] = gt_num.ravel(), pr_num.ravel()
    g_start = np.r_[0, np.cumsum(batch.num_gt)]
    p_start = np.r_[0, np.cumsum(batch.num_pr)]
    n_start = np.r_[0, np.cumsum(batch.num_gt * batch.num_pr)]
    gt_ids, pr_ids, similarity = [], [], []
    for f in range(batch.num_frames):
        g = slice(g_start[f], g_start[f + 1])
        p = slice(p_start[f], p_start[f + 1])
        gk, pk = gt_keep[g], pr_keep[p]
        # A frame's pairs are predictions major: (P, G), transposed to TrackEval's (G, P).
        sim = shares[n_start[f] : n_start[f + 1]].reshape(batch.num_pr[f], batch.num_gt[f]).T
        gt_ids.append(gt_idx[g][gk])
        pr_ids.append(pr_idx[p][pk])
        similarity.append(sim[np.ix_(gk, pk)])
        for name, ids in (("ground-truth", gt_ids[-1]), ("predicted", pr_ids[-1])):
            if len(np.unique(ids)) != len(ids):
                raise ValueError(f"scored frame {f}: a {name} track id appears twice")
    return {
        "num_timesteps": batch.num_frames,
        "num_gt_ids": len(gt_uid),
        "num_tracker_ids": len(pr_uid),
        "num_gt_dets": int(gt_keep.sum()),
        "num_tracker_dets": int(pr_keep.sum()),
        "gt_ids": gt_ids,
        "tracker_ids": pr_ids,
        "similarity_scores": similarity,
    }


def identity_scores(batches: Sequence[SequenceBatch]) -> IdentityScores:
    """IDF1 and HOTA of sequences, each scored alone and pooled as TrackEval pools sequences
    (summed counts; HOTA's association averaged over its true positives)."""
    try:
        from trackeval.metrics import HOTA, Identity  # loads scipy: only when scoring
    except ImportError:
        raise UserError(
            "IDF1 and HOTA need TrackEval, which is not installed: pip install "
            "'posetracker[benchmark]'"
        ) from None

    hota, identity = HOTA(), Identity({"THRESHOLD": IDF1_THRESHOLD, "PRINT_CONFIG": False})
    hota_parts, id_parts = {}, {}
    for k, batch in enumerate(batches):
        data = sequence_data(batch)
        hota_parts[k] = hota.eval_sequence(data)
        id_parts[k] = identity.eval_sequence(data)
    if not batches:
        return IdentityScores(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, 0)
    h = hota.combine_sequences(hota_parts)
    i = identity.combine_sequences(id_parts)
    return IdentityScores(
        idf1=100.0 * float(i["IDF1"]),
        hota=100.0 * float(np.mean(h["HOTA"])),
        det_a=100.0 * float(np.mean(h["DetA"])),
        ass_a=100.0 * float(np.mean(h["AssA"])),
        idtp=int(i["IDTP"]),
        idfn=int(i["IDFN"]),
        idfp=int(i["IDFP"]),
    )
