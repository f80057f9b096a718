"""PCKh distances, poseval's person assignment, precision/recall and VOC AP on tiny inputs."""

import numpy as np

from posenet.posetrack.evaluation.batch import SequenceBatch
from posenet.posetrack.evaluation.frames import EvalFrame
from posenet.posetrack.evaluation.pose_ap import (
    APCollector,
    assign_people,
    batch_labels,
    frame_labels,
    joint_distances,
    precision_recall,
    voc_ap,
)


def _frame(gt_xy, pr_xy, head_size=10.0, pr_score=None):
    gt_xy, pr_xy = np.asarray(gt_xy, float), np.asarray(pr_xy, float)
    g, p = len(gt_xy), len(pr_xy)
    return EvalFrame(
        gt_xy=gt_xy,
        gt_has=~np.isnan(gt_xy[..., 0]),
        head_size=np.full(g, head_size),
        gt_ids=np.arange(g),
        pr_xy=pr_xy,
        pr_has=~np.isnan(pr_xy[..., 0]),
        pr_score=np.full((p, 15), 0.5) if pr_score is None else np.asarray(pr_score, float),
        pr_ids=np.arange(p),
    )


def test_distances_are_normalised_by_head_size_and_inf_where_a_joint_is_missing():
    gt = np.full((1, 15, 2), np.nan)
    gt[0, 0], gt[0, 1] = (0, 0), (10, 10)
    pr = np.full((1, 15, 2), np.nan)
    pr[0, 0], pr[0, 2] = (3, 4), (1, 1)  # joint 0 is 5 px off; joint 2 has no GT
    d = joint_distances(_frame(gt, pr, head_size=10.0))
    assert d.shape == (1, 1, 15)
    assert d[0, 0, 0] == 0.5 and np.isinf(d[0, 0, 1]) and np.isinf(d[0, 0, 2])


def test_assignment_keeps_each_predictions_best_gt_then_each_gts_best_prediction():
    # match (P=3, G=2, 2 joints): pred 0 and 1 both fit GT 0 best; pred 1 fits better (2/2 joints).
    match = np.zeros((3, 2, 15), dtype=bool)
    match[0, 0, 0] = True
    match[1, 0, :2] = True
    match[2, 1, 0] = True
    gt_has = np.zeros((2, 15), dtype=bool)
    gt_has[:, :2] = True
    np.testing.assert_array_equal(assign_people(match, gt_has), [-1, 0, 1])


def test_precision_recall_and_voc_ap_by_hand():
    precision, recall = precision_recall(np.array([0.7, 0.9, 0.8]), np.array([1, 1, 0]), 2)
    # sorted by score: labels 1, 0, 1 -> recall .5 .5 1, precision 1 .5 2/3
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    assert np.isclose(voc_ap(recall, precision), 0.5 * 1.0 + 0.5 * 2 / 3)


def test_collector_unmatched_and_unlabelled_joints():
    gt = np.full((1, 15, 2), np.nan)
    gt[0, :14] = 50.0  # nose (13) unlabelled, as in the Bonn data
    gt[0, 13] = np.nan
    gt[0, 14] = 50.0
    exact = np.full((1, 15, 2), 50.0)  # predicts every joint, nose included
    far = np.full((1, 15, 2), 500.0)
    scores = np.full((2, 15), 0.9)
    scores[1] = 0.1
    frame = _frame(gt, np.concatenate([exact, far]), pr_score=scores)
    ap = APCollector()
    ap.add(frame, joint_distances(frame) <= 0.5)
    result = ap.result()
    # 14 labelled joints: the exact prediction ranks first -> AP 100; nose has no GT -> nan
    assert np.allclose(result.ap[[0, 5, 12, 14]], 100.0) and np.isnan(result.ap[13])
    assert np.isclose(result.ap[15], 100.0)  # total ignores nan
    assert np.allclose(result.precision[0], 50.0) and np.allclose(result.recall[0], 100.0)


def test_batch_labels_equal_frame_labels_frame_by_frame():
    # Random frames on a coarse grid (many equal PCKh values, so the first-index tie rule
    # matters), some without GT or predictions: the batched assignment gives the same labels.
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(300):
        g, p = rng.integers(0, 4), rng.integers(0, 5)
        gt = np.where(rng.random((g, 15, 1)) < 0.8, rng.integers(0, 3, (g, 15, 2)), np.nan)
        pr = np.where(rng.random((p, 15, 1)) < 0.8, rng.integers(0, 3, (p, 15, 2)), np.nan)
        frames.append(_frame(gt, pr, head_size=2.0))
    expected = [
        frame_labels(f, joint_distances(f) <= 0.5 if len(f.gt_has) and len(f.pr_has) else None)
        for f in frames
    ]
    labels = batch_labels(SequenceBatch.from_frames(frames))
    np.testing.assert_array_equal(labels, np.concatenate(expected))
    assert 0 < labels.sum() < labels.size


def test_predictions_near_nobody_match_nothing():
    # One labelled person, one prediction far away (zero PCKh): no label, and no error.
    gt = np.zeros((1, 15, 2))
    far = np.full((1, 15, 2), 900.0)
    frame = _frame(gt, far)
    labels = batch_labels(SequenceBatch.from_frames([frame]))
    assert labels.shape == (1, 15) and not labels.any()
