"""Affines, crops (cv2 and torch) and augmentation helpers, on hand-computed answers."""

import cv2
import numpy as np
import pytest
import torch

from posenet import transforms as T
from posenet.keypoints import COCO_FLIP_PAIRS


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    noise = (rng.random((h, w, 3)) * 255).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 4)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


# -------------------------------------------------------------------------------- affines


def test_affine_maps_center_to_crop_centre_and_scales_by_width():
    # scale width 1.0 = 200 px onto 100 px: half size; centre -> (50, 64)
    mat = T.get_affine_transform(np.array([300.0, 200.0]), np.array([1.0, 2.56]), 0, (100, 128))
    np.testing.assert_allclose(
        T.affine_points([[300, 200], [320, 180]], mat), [[50, 64], [60, 54]], atol=1e-4
    )


def test_affine_rotation_follows_the_seed_direction_vector():
    # rot 90: the seed's source direction (0, -w/2) turns into (+w/2, 0), which maps to crop up.
    mat = T.get_affine_transform(np.array([100.0, 100.0]), np.array([1.0, 1.0]), 90, (200, 200))
    np.testing.assert_allclose(
        T.affine_points([[200, 100], [100, 50]], mat), [[100, 0], [50, 100]], atol=1e-4
    )
    inv = T.get_affine_transform(
        np.array([100.0, 100.0]), np.array([1.0, 1.0]), 90, (200, 200), inv=True
    )
    np.testing.assert_allclose(T.affine_points([[100, 0]], inv), [[200, 100]], atol=1e-4)


@pytest.mark.parametrize("inv", [False, True])
def test_vectorised_affines_match_the_three_point_construction(inv):
    rng = np.random.default_rng(0)
    center = rng.uniform(0, 500, (6, 2))
    scale = rng.uniform(0.2, 3.0, (6, 2))
    rot = rng.uniform(-80, 80, 6)
    mats = T.get_affine_transforms(center, scale, rot, (192, 256), inv=inv)
    for i in range(6):
        ref = T.get_affine_transform(center[i], scale[i], rot[i], (192, 256), inv=inv)
        np.testing.assert_allclose(mats[i], ref, rtol=1e-4, atol=1e-3)
    points = rng.uniform(0, 200, (6, 4, 2))
    batched = T.affine_points(points, mats)
    np.testing.assert_allclose(batched[2], T.affine_points(points[2], mats[2]))


def test_heatmap_to_image_matches_the_seed_inverse_affine():
    center = np.array([[100.0, 200.0], [37.0, 61.5]])
    scale = np.array([[1.0, 4 / 3], [0.3, 0.4]])
    coords = np.array([[[24.0, 32.0], [0.0, 0.0]], [[10.5, 3.25], [47.0, 63.0]]])
    out = T.heatmap_to_image(coords, center, scale, (48, 64))
    # centre of the heatmap -> box centre; (0, 0) -> centre - (24, 32) * 200 / 48
    np.testing.assert_allclose(out[0], [[100, 200], [0, 200 - 32 * 200 / 48]], atol=1e-9)
    for i in range(2):
        inv = T.get_affine_transform(center[i], scale[i], 0, (48, 64), inv=True)
        np.testing.assert_allclose(out[i], T.affine_points(coords[i], inv), atol=1e-3)
    out_t = T.heatmap_to_image(
        torch.tensor(coords, dtype=torch.float32),
        torch.tensor(center),
        torch.tensor(scale),
        (48, 64),
    )
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out, atol=1e-4)


# ---------------------------------------------------------------------------------- crops


def test_crop_cv2_at_unit_zoom_is_a_plain_window():
    image = smooth_image(np.random.default_rng(1), 80, 100)
    # scale width 0.1 = 20 px onto a 20 px crop: crop pixel (x, y) = image (40 + x, 25 + y)
    crop = T.crop_cv2(image, np.array([50.0, 40.0]), np.array([0.1, 0.15]), (20, 30))
    np.testing.assert_array_equal(crop, image[25:55, 40:60])


def test_crop_torch_at_unit_zoom_is_a_plain_window_with_zero_border():
    image = smooth_image(np.random.default_rng(2), 40, 50).astype(np.float32)
    images = torch.from_numpy(image).permute(2, 0, 1)[None]
    crop = T.crop_torch(
        images, torch.tensor([0]), np.array([[5.0, 10.0]]), np.array([[0.1, 0.15]]), (20, 30)
    )
    assert crop.shape == (1, 3, 30, 20) and crop.dtype == torch.float32
    window = crop[0].permute(1, 2, 0).numpy()  # image x -5..14, y -5..24
    np.testing.assert_allclose(window[5:, 5:], image[0:25, 0:15], atol=1e-3)
    assert np.abs(window[:5]).max() < 1e-3 and np.abs(window[:, :5]).max() < 1e-3


def test_crop_torch_matches_cv2_for_many_boxes_from_two_images():
    rng = np.random.default_rng(3)
    images = [smooth_image(rng, 120, 160), smooth_image(rng, 120, 160)]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    center = np.array([[80, 60], [20, 30], [150, 100], [70, 50], [80, 118]], float)
    scale = np.array([[0.5, 0.66], [0.3, 0.4], [0.6, 0.8], [0.9, 1.2], [0.4, 0.53]])
    rot = np.array([0.0, 25.0, -40.0, 10.0, 90.0])
    index = torch.tensor([0, 1, 0, 1, 1])
    crops = T.crop_torch(
        batch, index, torch.tensor(center), torch.tensor(scale), (48, 64), torch.tensor(rot)
    )
    assert crops.shape == (5, 3, 64, 48)
    for i in range(5):
        ref = T.crop_cv2(images[int(index[i])], center[i], scale[i], (48, 64), rot[i])
        diff = np.abs(crops[i].permute(1, 2, 0).numpy() - ref.astype(np.float32))
        assert diff.mean() < 0.5, f"crop {i}: mean abs diff {diff.mean():.3f} grey levels"
        assert diff.max() < 2.0, f"crop {i}: max abs diff {diff.max():.3f} grey levels"


def test_crop_torch_with_no_boxes_is_empty():
    crops = T.crop_torch(
        torch.zeros(1, 3, 10, 10),
        torch.zeros(0, dtype=torch.long),
        np.zeros((0, 2)),
        np.zeros((0, 2)),
        (8, 12),
    )
    assert crops.shape == (0, 3, 12, 8)


# --------------------------------------------------------------------- training augmentation


def test_random_scale_rotation_ranges_and_probability():
    rng = np.random.default_rng(4)
    draws = np.array([T.random_scale_rotation(rng, 0.3, 40.0, 0.6) for _ in range(2000)])
    assert draws[:, 0].min() >= 0.7 and draws[:, 0].max() <= 1.3
    assert draws[:, 1].min() >= -80 and draws[:, 1].max() <= 80
    rotated = np.mean(draws[:, 1] != 0)
    assert 0.55 < rotated < 0.65, f"rotated fraction {rotated:.3f}, expected 0.6"
    assert np.mean(np.abs(draws[:, 0] - 1) > 0.29) > 0.1  # clipping piles draws at the ends
    never = [T.random_scale_rotation(rng, 0.3, 40.0, 0.0)[1] for _ in range(50)]
    assert never == [0.0] * 50


def test_flip_joints_mirrors_x_and_swaps_pairs_with_visibility():
    joints = np.array([[1, 2, 1], [3, 4, 0], [5, 6, 1]], float)
    flipped = T.flip_joints(joints, width=10, flip_pairs=[(0, 1)])
    np.testing.assert_allclose(flipped, [[6, 4, 0], [8, 2, 1], [4, 6, 1]])
    np.testing.assert_allclose(T.flip_joints(flipped, 10, [(0, 1)]), joints)  # an involution
    assert T.flip_joints(np.zeros((17, 3)), 10, COCO_FLIP_PAIRS).shape == (17, 3)


UPPER, LOWER = list(range(11)), list(range(11, 17))


def test_half_body_boxes_the_only_half_with_enough_joints():
    joints = np.zeros((17, 2))
    visible = np.zeros(17)
    joints[[5, 6, 7]] = [[10, 10], [30, 10], [20, 50]]  # upper body only
    visible[[5, 6, 7]] = 1
    center, scale = T.half_body(joints, visible, UPPER, LOWER, 0.75, np.random.default_rng(5))
    np.testing.assert_allclose(center, [20, 70 / 3], rtol=1e-6)
    # 20 x 40 box -> w = 40 * 0.75 = 30 -> (30, 40) / 200 * 1.5
    np.testing.assert_allclose(scale, [0.225, 0.3], rtol=1e-6)


def test_half_body_picks_both_halves_and_gives_up_with_too_few_joints():
    joints = np.arange(34, dtype=float).reshape(17, 2)
    visible = np.ones(17)
    rng = np.random.default_rng(6)
    centers = {tuple(T.half_body(joints, visible, UPPER, LOWER, 0.75, rng)[0]) for _ in range(40)}
    assert centers == {(10.0, 11.0), (27.0, 28.0)}  # means of joints 0..10 and 11..16
    visible[:] = 0
    visible[3] = 1
    assert T.half_body(joints, visible, UPPER, LOWER, 0.75, rng) is None


def test_crop_torch_takes_uint8_and_ignores_autocast():
    rng = np.random.default_rng(7)
    image = smooth_image(rng, 60, 80)
    images = torch.from_numpy(image).permute(2, 0, 1)[None]
    args = (
        torch.tensor([0]),
        np.array([[40.0, 30.0]]),
        np.array([[0.3, 0.4]]),
        (24, 32),
        torch.tensor([30.0]),
    )
    reference = T.crop_torch(images.float(), *args)
    np.testing.assert_array_equal(T.crop_torch(images, *args).numpy(), reference.numpy())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = T.crop_torch(images.float(), *args)
    assert under_autocast.dtype == torch.float32
    np.testing.assert_allclose(under_autocast.numpy(), reference.numpy(), atol=1e-3)
