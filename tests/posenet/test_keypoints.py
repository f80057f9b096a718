import numpy as np

from posenet import keypoints as K


def test_posetrack18_17_round_trip():
    rng = np.random.default_rng(0)
    kp18 = rng.random((3, 17, 3))
    kp18[:, 3:5] = 0  # ears are unannotated in PoseTrack
    kp17 = K.posetrack18_to_posetrack17(kp18)
    assert kp17.shape == (3, 15, 3)
    # id 0 is the right ankle (slot 16), id 12 head_bottom (slot 1), id 14 head_top (slot 2)
    np.testing.assert_array_equal(kp17[:, 0], kp18[:, 16])
    np.testing.assert_array_equal(kp17[:, 12], kp18[:, 1])
    np.testing.assert_array_equal(kp17[:, 14], kp18[:, 2])
    np.testing.assert_array_equal(K.posetrack17_to_posetrack18(kp17), kp18)


def test_coco_to_posetrack18_derives_head():
    coco = np.zeros((1, 17, 3))
    coco[0, 5] = [90, 100, 1]  # left shoulder
    coco[0, 6] = [110, 100, 1]  # right shoulder
    coco[0, 0] = [100, 80, 0.8]  # nose only
    out = K.coco_to_posetrack18(coco)
    np.testing.assert_allclose(out[0, 1], [100, 100, 1.0])  # head_bottom = neck
    np.testing.assert_allclose(out[0, 2], [100, 60, 0.8])  # head_top above the nose
    assert np.all(out[0, 3:5] == 0)
    np.testing.assert_array_equal(out[0, 5:], coco[0, 5:])


def test_mpii_coco_limbs():
    mpii = np.arange(16 * 3, dtype=float).reshape(1, 16, 3)
    coco = K.mpii_to_coco(mpii)
    np.testing.assert_array_equal(coco[0, 16], mpii[0, 0])  # right ankle
    np.testing.assert_array_equal(coco[0, 9], mpii[0, 15])  # left wrist
    assert np.all(coco[0, :5] == 0)
    back = K.coco_to_mpii(coco)
    limbs = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]
    np.testing.assert_array_equal(back[0, limbs], mpii[0, limbs])
