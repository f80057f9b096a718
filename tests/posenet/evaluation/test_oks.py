import math

import numpy as np
import pytest

from posenet.evaluation.oks import keypoint_areas, oks
from posenet.keypoints import COCO_SIGMAS


def _pose(xy, score=1.0, num_joints=17):
    kp = np.zeros((num_joints, 3))
    kp[:, :2] = xy
    kp[:, 2] = score
    return kp


def test_identical_poses_score_one():
    rng = np.random.default_rng(0)
    a = _pose(rng.uniform(0, 100, (17, 2)))
    np.testing.assert_allclose(oks(a[None], a[None], areas=[500.0]), [[1.0]])
    np.testing.assert_allclose(
        oks(a[None], a[None], [500.0], a_areas=[20.0], visible_in="b"), [[1.0]]
    )


def test_one_joint_at_known_distance():
    # Three joints with sigmas 0.1, 0.2, 0.3; only the first moves, by (3, 4): d = 5.
    sigmas = np.array([0.1, 0.2, 0.3])
    a = _pose(np.zeros((3, 2)), num_joints=3)
    b = a.copy()
    b[0, :2] = [3.0, 4.0]
    area = 100.0  # s^2
    # k = 2 sigma = 0.2: exp(-25 / (2 * 100 * 0.04)) = exp(-3.125); the two others give 1.
    expected = (math.exp(-3.125) + 1 + 1) / 3
    assert oks(a[None], b[None], [area], sigmas)[0, 0] == pytest.approx(expected, rel=1e-12)
    # Scale as the mean of two areas, 40 and 160: again 100.
    got = oks(a[None], b[None], [160.0], sigmas, a_areas=[40.0], visible_in="b")[0, 0]
    assert got == pytest.approx(expected, rel=1e-12)


def test_pairwise_shape_and_coco_sigmas():
    a = _pose(np.zeros((17, 2)))
    b = a.copy()
    b[:, 0] += 2.0  # every joint 2 px away
    got = oks(np.stack([a, b]), np.stack([a, b, b]), areas=np.full(3, 400.0))
    assert got.shape == (2, 3)
    moved = np.mean([math.exp(-4.0 / (2 * 400.0 * (2 * s) ** 2)) for s in COCO_SIGMAS])
    np.testing.assert_allclose(got, [[1, moved, moved], [moved, 1, 1]], rtol=1e-12)


def test_no_joint_above_threshold_scores_zero():
    a = _pose(np.zeros((17, 2)), score=0.9)
    b = _pose(np.zeros((17, 2)), score=0.1)
    assert oks(a[None], b[None], [100.0], score_thr=0.5)[0, 0] == 0.0
    # Every joint counts without a threshold.
    assert oks(a[None], b[None], [100.0], score_thr=None)[0, 0] == pytest.approx(1.0)


def test_visible_in_both_or_b_only():
    a = _pose(np.zeros((3, 2)), num_joints=3)
    b = a.copy()
    b[0, :2] = [3.0, 4.0]  # the far joint, as above exp(-3.125) with sigma 0.1, area 100
    a[0, 2] = 0.0  # ... is invisible in a
    sigmas = np.array([0.1, 0.2, 0.3])
    assert oks(a[None], b[None], [100.0], sigmas, 0.5)[0, 0] == pytest.approx(1.0)
    got = oks(a[None], b[None], [100.0], sigmas, 0.5, visible_in="b")[0, 0]
    assert got == pytest.approx((math.exp(-3.125) + 2) / 3, rel=1e-12)
    with pytest.raises(ValueError, match="visible_in"):
        oks(a[None], b[None], [100.0], sigmas, visible_in="a")


def test_invisible_joint_without_position_is_ignored():
    a = _pose(np.zeros((17, 2)))
    b = a.copy()
    b[3, :2] = np.nan
    b[3, 2] = 0.0
    assert oks(a[None], b[None], [100.0])[0, 0] == pytest.approx(1.0)


def test_areas_from_joint_extent_and_checks():
    b = _pose(np.zeros((17, 2)))
    b[0, :2] = [10, 0]
    b[1, :2] = [0, 20]
    assert keypoint_areas(b[None])[0] == pytest.approx(200.0)
    b[1, 2] = 0.0  # below the threshold: the extent is 10 x 0
    assert keypoint_areas(b[None])[0] == pytest.approx(0.0)
    assert oks(np.zeros((0, 17, 3)), b[None]).shape == (0, 1)
    with pytest.raises(ValueError, match="sigmas"):
        oks(b[None, :5], b[None, :5])
    with pytest.raises(ValueError, match="2 areas for 1 poses"):
        oks(b[None], b[None], areas=[1.0, 2.0])
    with pytest.raises(ValueError, match="a_areas"):
        oks(b[None], b[None], areas=[1.0], a_areas=[1.0, 2.0])
