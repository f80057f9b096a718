import numpy as np
import pytest

from tracker.propagate import boxes_from_keypoints, propagate_keypoints, sample_flow


def test_constant_flow_moves_every_joint():
    flow = np.zeros((50, 80, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    kp = np.array([[[10, 10, 0.9], [20.5, 30.25, 0.1]]])
    moved = propagate_keypoints(kp, flow)
    np.testing.assert_allclose(moved[..., :2], kp[..., :2] + [3.0, -2.0])
    np.testing.assert_allclose(moved[..., 2], kp[..., 2])  # scores kept


def test_bilinear_sampling_on_a_ramp_and_clipping():
    h, w = 20, 30
    xs = np.arange(w, dtype=np.float32)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = xs[None, :] * 0.5  # u = x / 2, linear: bilinear sampling is exact
    np.testing.assert_allclose(sample_flow(flow, np.array([[4.5, 7.3]]))[0], [2.25, 0.0], atol=1e-6)
    moved = propagate_keypoints(np.array([[[28.0, 5.0, 1.0]]]), flow)
    assert moved[0, 0, 0] == pytest.approx(w - 1)  # 28 + 14 clipped to the image


def test_no_flow_is_a_copy():
    kp = np.ones((2, 17, 3))
    out = propagate_keypoints(kp, None)
    np.testing.assert_array_equal(out, kp)
    assert out is not kp


def test_boxes_from_keypoints_enlarged_and_filtered():
    kp = np.zeros((3, 4, 3))
    kp[0, :, :2] = [[10, 20], [110, 20], [10, 220], [500, 500]]
    kp[0, :, 2] = [0.9, 0.9, 0.5, 0.1]  # the far joint is below the threshold
    kp[1, :, 2] = [0.9, 0.1, 0.1, 0.1]  # one confident joint: no box
    kp[2, :2, :2] = [[0, 0], [10, 10]]
    kp[2, :2, 2] = 0.4
    boxes, keep = boxes_from_keypoints(kp, score_thr=0.4, enlarge=0.2)
    np.testing.assert_array_equal(keep, [0, 2])
    # Extent 100 x 200 grows by 20 %: 10 px each side in x, 20 px in y.
    np.testing.assert_allclose(boxes[0], [0, 0, 120, 240])
    np.testing.assert_allclose(boxes[1], [-1, -1, 11, 11])
