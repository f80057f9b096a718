import numpy as np
import pytest

from posenet import keypoints as K
from posenet.codec import flip_permutation


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


def test_coco_flip_pairs_are_the_well_known_ones():
    assert K.COCO_FLIP_PAIRS == (
        (1, 2),
        (3, 4),
        (5, 6),
        (7, 8),
        (9, 10),
        (11, 12),
        (13, 14),
        (15, 16),
    )
    assert K.FLIP_PAIRS["coco"] == K.COCO_FLIP_PAIRS


def test_mpii_flip_pairs_are_the_seed_ones():
    assert K.MPII_FLIP_PAIRS == ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))


@pytest.mark.parametrize("layout", ["coco", "posetrack", "posetrack17", "mpii"])
def test_flip_twice_is_identity_and_unpaired_joints_stay(layout):
    names = K.LAYOUTS[layout]
    perm = flip_permutation(len(names), K.FLIP_PAIRS[layout])
    np.testing.assert_array_equal(perm[perm], np.arange(len(names)))
    for i, j in enumerate(perm):
        if names[i].startswith("left_"):
            assert names[j] == "right_" + names[i][5:]
        elif names[i].startswith("right_"):
            assert names[j] == "left_" + names[i][6:]
        else:
            assert j == i, names[i]


def test_posetrack_head_joints_are_not_swapped():
    perm = flip_permutation(17, K.FLIP_PAIRS["posetrack"])
    head_bottom = K.POSETRACK18_NAMES.index("head_bottom")
    head_top = K.POSETRACK18_NAMES.index("head_top")
    assert (head_bottom, head_top) == (1, 2)
    assert perm[head_bottom] == head_bottom and perm[head_top] == head_top
    assert perm[3] == 4 and perm[16] == 15  # the ears and ankles still swap
    perm17 = flip_permutation(15, K.POSETRACK17_FLIP_PAIRS)
    assert [perm17[i] for i in (12, 13, 14)] == [12, 13, 14]


def test_flip_pairs_reject_a_joint_without_its_mirror():
    with pytest.raises(ValueError, match="left_hand"):
        K.flip_pairs(("nose", "left_hand"))
