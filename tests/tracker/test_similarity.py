import math

import numpy as np
import pytest

from posenet.keypoints import COCO_SIGMAS
from tracker.similarity import box_area, box_iou, keypoint_areas, nms, oks, reid_similarity


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    # Overlap 5x10 = 50, union 150; disjoint 0; identical 1.
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)


def test_box_area_degenerate_is_zero():
    np.testing.assert_allclose(box_area(np.array([[0, 0, 4, 3], [5, 5, 2, 9]], float)), [12, 0])


def _pose(xy, score=1.0):
    kp = np.zeros((17, 3))
    kp[:, :2] = xy
    kp[:, 2] = score
    return kp


def test_oks_identical_is_one_and_shift_follows_formula():
    rng = np.random.default_rng(0)
    a = _pose(rng.uniform(0, 100, (17, 2)))
    b = a.copy()
    b[:, 0] += 3.0  # every joint moved 3 px
    area = 400.0
    got = oks(a[None], np.stack([a, b]), areas=np.array([area, area]))
    k2 = (2 * COCO_SIGMAS) ** 2
    expected = np.mean([math.exp(-9.0 / (2 * area * v)) for v in k2])
    np.testing.assert_allclose(got, [[1.0, expected]], rtol=1e-6)


def test_oks_leaves_out_invisible_joints():
    a = _pose(np.zeros((17, 2)))
    b = a.copy()
    b[:8, 0] += 1000.0  # far off, but invisible in b
    b[:8, 2] = 0.0
    assert oks(a[None], b[None], areas=np.array([100.0]))[0, 0] == pytest.approx(1.0)
    b[:, 2] = 0.0  # nothing visible in common
    assert oks(a[None], b[None], areas=np.array([100.0]))[0, 0] == 0.0


def test_oks_without_areas_uses_joint_extent_and_checks_sigmas():
    b = _pose(np.zeros((17, 2)))
    b[0, :2] = [10, 0]
    b[1, :2] = [0, 20]
    assert keypoint_areas(b[None])[0] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="sigmas"):
        oks(b[None, :5], b[None, :5])


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 5]], float)
    scores = np.array([0.5, 0.9, 0.8, 0.7])
    # Box 1 (0.9) suppresses box 0 (IoU 9/11); box 3 overlaps box 1 by 45/105 < 0.5: kept.
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [1, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [1, 2])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_nms_ties_rank_in_input_order():
    # Three identical boxes with equal scores: the first one given is kept.
    boxes = np.array([[0, 0, 10, 10]] * 3 + [[50, 50, 60, 60]], float)
    np.testing.assert_array_equal(nms(boxes, np.array([0.5, 0.5, 0.5, 0.5]), 0.5), [0, 3])
    np.testing.assert_array_equal(nms(boxes[::-1], np.full(4, 0.5), 0.5), [0, 1])
    # Disjoint boxes, scores 0.3, 0.7, 0.3, 0.7: the 0.7s first, each pair in input order.
    apart = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(4)], float)
    np.testing.assert_array_equal(nms(apart, np.array([0.3, 0.7, 0.3, 0.7]), 0.5), [1, 3, 0, 2])


def test_nms_lifted_scores_rank_detections_first():
    # As tracker.pipeline.unify_boxes does: detection scores + 2 beat any propagated box.
    det = np.array([[0, 0, 10, 10]], float)
    prop = np.array([[0, 0, 10, 9]], float)  # IoU 0.9 with the detection
    keep = nms(np.concatenate([det, prop]), np.array([0.1 + 2.0, 0.99]), 0.5)
    np.testing.assert_array_equal(keep, [0])


def test_nms_iou_equal_to_threshold_is_kept():
    # IoU of these two is exactly 0.5 (overlap 50, union 100): only IoU > thr suppresses.
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], float)
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8]), 0.5), [0, 1])
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8]), 0.49), [0])


def test_nms_and_iou_check_their_input():
    with pytest.raises(ValueError, match="2 boxes but 3 scores"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="shape"):
        box_iou(np.zeros((2, 5)), np.zeros((1, 4)))
    keep = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64
    assert box_iou(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 0)


def test_degenerate_boxes_overlap_nothing():
    a = np.array([[5, 5, 5, 5], [0, 0, 10, 10], [8, 8, 2, 2]], float)  # a point, a box, inverted
    np.testing.assert_allclose(box_iou(a, a), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(nms(a, np.array([0.9, 0.8, 0.7]), 0.0), [0, 1, 2])


def test_oks_is_the_pose_net_one():
    from posenet.evaluation import oks as shared

    assert oks is shared.oks and keypoint_areas is shared.keypoint_areas


def test_reid_similarity_is_pose_shape_times_nearness():
    rng = np.random.default_rng(3)
    track = _pose(rng.uniform(0, 100, (17, 2)))
    area = np.array([100.0 * 100.0])  # person size 100 px
    reach = 0.8

    def reid(person, predicted=track, last_seen=track, shapes=track):
        return reid_similarity(
            person[None],
            shapes[None],
            last_seen[None],
            predicted[None],
            area,
            COCO_SIGMAS,
            0.4,
            reach,
        )[0, 0]

    shifted = track.copy()
    shifted[:, 0] += 80.0  # the same shape 0.8 person sizes away: shape 1, nearness exp(-1/2)
    assert reid(track) == pytest.approx(1.0)
    assert reid(shifted) == pytest.approx(math.exp(-0.5))
    # Anywhere on the path from the last seen place to the predicted one counts as near.
    assert reid(shifted, last_seen=shifted) == pytest.approx(1.0)
    far = track.copy()
    far[:, 0] += 160.0
    assert reid(shifted, last_seen=track, predicted=far) == pytest.approx(1.0)
    beside = shifted.copy()
    beside[:, 1] += 30.0  # 0.3 person sizes off the path, half way along it
    assert reid(beside, last_seen=track, predicted=far) == pytest.approx(
        math.exp(-(0.3**2) / (2 * reach**2))
    )
    # Another shape at the same place: lower, by the OKS of the shapes, offset removed.
    other = _pose(rng.uniform(0, 100, (17, 2)))
    offset = (other[:, :2] - track[:, :2]).mean(0)
    centred = other.copy()
    centred[:, :2] -= offset
    expected_shape = oks(centred[None], track[None], area, COCO_SIGMAS, 0.4)[0, 0]
    assert expected_shape < 0.5
    centre_distance = np.linalg.norm(offset) / 100.0
    assert reid(other) == pytest.approx(
        expected_shape * math.exp(-(centre_distance**2) / (2 * reach**2))
    )
    # Fewer than two joints in common: no shape to compare.
    single = track.copy()
    single[1:, 2] = 0.0
    assert reid(single) == 0.0
    # The shape is the one of `shapes`; the predicted pose only places the path's end.
    glimpse = shifted.copy()
    glimpse[2:, 2] = 0.0  # the track's last two joints, moved on
    d = np.linalg.norm(shifted[:, :2].mean(0) - glimpse[:2, :2].mean(0)) / 100.0
    assert reid(shifted, last_seen=glimpse, predicted=glimpse) == pytest.approx(
        math.exp(-(d**2) / (2 * reach**2))
    )
    assert reid(other, shapes=other, last_seen=other, predicted=other) == pytest.approx(1.0)
    assert reid_similarity(
        np.zeros((0, 17, 3)), track[None], track[None], track[None], area, COCO_SIGMAS, 0.4, reach
    ).shape == (0, 1)
