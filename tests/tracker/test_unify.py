"""Box unification and person scores (tracker.unify) on hand-worked boxes."""

import numpy as np

from tracker.unify import person_scores, unify_boxes


def test_person_score_is_box_score_times_mean_of_confident_joints():
    kp = np.zeros((2, 17, 3))
    kp[0, :4, 2] = [0.9, 0.7, 0.1, 0.0]  # two joints above 0.2: mean 0.8
    kp[1, :, 2] = 0.1  # none above: 0
    np.testing.assert_allclose(person_scores(kp, np.array([0.5, 1.0]), 0.2), [0.4, 0.0])


def test_unify_keeps_detections_and_only_new_propagated_boxes():
    det = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    prop = np.array([[1, 0, 11, 10], [50, 50, 60, 60], [51, 50, 61, 60]], float)
    det_scores, prop_scores = np.array([0.6, 0.7]), np.array([0.99, 0.5, 0.8])
    keep_det, keep_prop = unify_boxes(det, det_scores, prop, prop_scores, 0.5)
    np.testing.assert_array_equal(keep_det, [0, 1])  # a detection beats a better-scored propagation
    np.testing.assert_array_equal(keep_prop, [2])  # the missed person, best of its duplicates
    empty = unify_boxes(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)), np.zeros(0), 0.5)
    assert all(len(k) == 0 for k in empty)
