"""Heatmap codec: targets with hand-computed values, decoding of known sub-pixel peaks, flip
test, and the torch decoder equal to the seed's numpy formulas (codec_reference.py)."""

import math

import numpy as np
import pytest
import torch

from posenet import codec
from posenet.codec import MSRAHeatmap
from posenet.keypoints import COCO_FLIP_PAIRS
from tests.posenet import codec_reference as reference

INPUT, HEATMAP = (192, 256), (48, 64)


def blob_heatmaps(rng: np.random.Generator, n: int, k: int, noise: float = 0.02) -> np.ndarray:
    """Random network-like heatmaps: a Gaussian of random height at a random spot, plus noise."""
    w, h = HEATMAP
    centres = rng.uniform([-2, -2], [w + 2, h + 2], (n * k, 2))  # some near or past the border
    maps = reference.sub_pixel_heatmaps(HEATMAP, centres, 2.0)
    maps = maps * rng.uniform(0.2, 1.0, (n * k, 1, 1)) + noise * rng.standard_normal(maps.shape)
    return maps.reshape(n, k, h, w).astype(np.float32)


# ------------------------------------------------------------------------------ encoding


def test_seed_target_is_gaussian_on_rounded_pixel_cut_at_three_sigma():
    # Input (17.6, 14.4) / stride 4 = heatmap (4.4, 3.6) -> rounded to pixel (4, 4).
    hm, weights = MSRAHeatmap((40, 40), (10, 10), sigma=1.0).encode([[17.6, 14.4]], [1])
    assert weights.tolist() == [1.0]
    assert hm.shape == (1, 10, 10) and hm.dtype == np.float32
    assert hm[0, 4, 4] == pytest.approx(1.0)
    assert hm[0, 4, 5] == pytest.approx(math.exp(-0.5))
    assert hm[0, 5, 6] == pytest.approx(math.exp(-2.5))
    assert hm[0, 4, 7] == pytest.approx(math.exp(-4.5))  # 3 sigma away: still inside
    assert hm[0, 4, 8] == 0.0 and hm[0, 8, 4] == 0.0  # 4 sigma away: cut
    assert hm[0, 1, 1] == pytest.approx(math.exp(-9.0))  # corner of the square


def test_sub_pixel_test_heatmaps_peak_at_the_given_position():
    hm = reference.sub_pixel_heatmaps((10, 10), [[4.5, 3.0]], sigma=1.0)
    assert hm[0, 3, 4] == pytest.approx(math.exp(-0.125))
    assert hm[0, 3, 5] == pytest.approx(math.exp(-0.125))
    assert hm[0, 3, 9] == pytest.approx(math.exp(-(4.5**2) / 2))  # full map, no 3-sigma cut
    assert hm.max() < 1.0


def test_weights_zero_for_invisible_and_out_of_crop_joints():
    codec_ = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    joints = np.array(
        [
            [96.0, 128.0],  # visible, inside
            [96.0, 128.0],  # not visible
            [-40.0, 100.0],  # heatmap x = -10: square [-16, -4] entirely left of the map
            [100.0, 300.0],  # heatmap y = 75: below the map
            [-8.0, 100.0],  # heatmap x = -2: square reaches into the map
            [50.0, 60.0],  # COCO visibility 2 counts as visible
        ]
    )
    hm, weights = codec_.encode(joints, [1, 0, 1, 1, 1, 2])
    assert weights.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert hm[1].max() == 0.0 and hm[2].max() == 0.0 and hm[3].max() == 0.0
    assert hm[0].max() == pytest.approx(1.0) and hm[4, :, 0].max() > 0.1


def test_encode_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="visible"):
        MSRAHeatmap(INPUT, HEATMAP).encode(np.zeros((3, 2)), np.ones(2))


# ------------------------------------------------------------------------------ decoding


def test_get_max_preds_coords_and_nonpositive_maps():
    hm = np.zeros((1, 2, 4, 5), np.float32)
    hm[0, 0, 1, 3] = 0.7
    hm[0, 1] = -1.0
    hm[0, 1, 2, 2] = -0.5  # max is negative -> coords 0
    coords, maxvals = codec.get_max_preds_torch(torch.from_numpy(hm))
    assert coords.tolist() == [[[3.0, 1.0], [0.0, 0.0]]]
    assert maxvals.numpy() == pytest.approx(np.array([[0.7, -0.5]]))


def test_quarter_offset_moves_toward_higher_neighbour_away_from_borders():
    hm = np.zeros((1, 3, 6, 6), np.float32)
    hm[0, 0, 3, 3], hm[0, 0, 3, 4], hm[0, 0, 2, 3] = 1.0, 0.5, 0.2  # right and up are higher
    hm[0, 1, 3, 1], hm[0, 1, 3, 2] = 1.0, 0.5  # px = 1 is not > 1: no shift
    hm[0, 2, 3, 3] = 1.0  # equal neighbours: no shift
    hm = torch.from_numpy(hm)
    coords, _ = codec.get_max_preds_torch(hm)
    out = codec.refine_quarter_offset_torch(hm, coords)
    assert out.tolist() == [[[3.25, 2.75], [1.0, 3.0], [3.0, 3.0]]]


def test_dark_kernel_matches_sigma_like_mmpose():
    assert codec.dark_kernel_size(2.0) == 11
    assert codec.dark_kernel_size(3.0) == 17


def test_sub_pixel_peaks_decode_within_a_quarter_pixel_and_dark_is_closer():
    rng = np.random.default_rng(0)
    truth = rng.uniform([8.0, 8.0], [40.0, 56.0], (20, 17, 2))  # well inside the map
    heatmaps = reference.sub_pixel_heatmaps(HEATMAP, truth.reshape(-1, 2), 2.0)
    heatmaps = torch.from_numpy(heatmaps.reshape(20, 17, HEATMAP[1], HEATMAP[0]))
    quarter_coords, scores = (a.numpy() for a in codec.decode_torch(heatmaps))
    dark_coords = codec.decode_torch(heatmaps, dark=True, dark_kernel=11)[0].numpy()
    quarter_err = np.abs(quarter_coords - truth)
    assert quarter_err.max() <= 0.25 + 1e-5, f"quarter shift max error {quarter_err.max():.4f}"
    assert scores.min() > 0.9
    quarter_mean = np.linalg.norm(quarter_coords - truth, axis=-1).mean()
    dark_mean = np.linalg.norm(dark_coords - truth, axis=-1).mean()
    assert dark_mean < 0.5 * quarter_mean, f"DARK {dark_mean:.4f} vs quarter {quarter_mean:.4f}"
    assert dark_mean < 0.02, f"DARK mean error {dark_mean:.4f} heatmap px"


def test_seed_encoding_decodes_to_the_rounded_pixel():
    hm, _ = MSRAHeatmap(INPUT, HEATMAP).encode([[41.0, 82.6]], [1])  # heatmap (10.25, 20.65)
    coords, _ = codec.decode_torch(torch.from_numpy(hm[None]))
    assert coords[0, 0].tolist() == [10.0, 21.0]  # symmetric peak: neighbours equal, no shift


def test_decode_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(N, K, h, w\)"):
        codec.decode_torch(torch.zeros((17, 64, 48)))


# ----------------------------------------------------------------------------- flip test


def test_flip_back_of_mirrored_joints_gives_the_original_heatmaps():
    rng = np.random.default_rng(1)
    w = HEATMAP[0]
    joints = rng.uniform([3.0, 3.0], [w - 4.0, 60.0], (17, 2))
    original = reference.sub_pixel_heatmaps(HEATMAP, joints, 2.0)
    mirrored = joints.copy()
    mirrored[:, 0] = w - 1 - mirrored[:, 0]
    for a, b in COCO_FLIP_PAIRS:
        mirrored[[a, b]] = mirrored[[b, a]]
    flipped = reference.sub_pixel_heatmaps(HEATMAP, mirrored, 2.0)
    back = codec.flip_back_torch(torch.from_numpy(flipped[None]), COCO_FLIP_PAIRS)
    np.testing.assert_allclose(back[0].numpy(), original, atol=1e-6)
    fused = codec.fuse_flip_torch(torch.from_numpy(original[None]), back, shift=False)
    np.testing.assert_allclose(fused[0].numpy(), original, atol=1e-6)


def test_fuse_flip_shifts_flipped_maps_one_pixel_right():
    heatmaps = torch.zeros((1, 1, 1, 4))
    flipped = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    fused = codec.fuse_flip_torch(heatmaps, flipped, shift=True)
    assert fused.ravel().tolist() == [0.5, 0.5, 1.0, 1.5]  # column 0 keeps its value, as the seed
    assert flipped.ravel().tolist() == [1.0, 2.0, 3.0, 4.0]  # input untouched


def test_flip_back_rejects_pairs_out_of_range():
    with pytest.raises(ValueError, match="flip pair"):
        codec.flip_back_torch(torch.zeros((1, 3, 4, 4)), [(1, 5)])


# ------------------------------------------------------------------ torch == numpy reference


@pytest.mark.parametrize("dark", [False, True])
def test_torch_decode_matches_numpy(dark):
    rng = np.random.default_rng(2)
    hm = blob_heatmaps(rng, 6, 17)
    hm[0, 0] = -0.1  # non-positive map -> coords 0
    hm[0, 1] = 0.0
    hm[0, 1, 0, 0] = 1.0  # corner maximum: no refinement
    coords, scores = reference.get_max_preds(hm)
    expected = (
        reference.refine_dark(hm, coords, 11)
        if dark
        else reference.refine_quarter_offset(hm, coords)
    )
    got, got_scores = codec.decode_torch(torch.from_numpy(hm), post_process=True, dark=dark)
    assert got.dtype == torch.float32 and got.shape == (6, 17, 2)
    np.testing.assert_array_equal(got_scores.numpy(), scores)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-3 if dark else 0.0)
    assert got[0, 0].tolist() == [0.0, 0.0] and got[0, 1].tolist() == [0.0, 0.0]


def test_torch_decode_without_post_processing_is_the_argmax():
    hm = blob_heatmaps(np.random.default_rng(3), 2, 5)
    coords, _ = reference.get_max_preds(hm)
    got, _ = codec.decode_torch(torch.from_numpy(hm), post_process=False)
    np.testing.assert_array_equal(got.numpy(), coords)


@pytest.mark.parametrize("shift", [False, True])
def test_torch_flip_matches_numpy(shift):
    rng = np.random.default_rng(4)
    hm = rng.standard_normal((2, 17, 8, 6)).astype(np.float32)
    flipped = rng.standard_normal((2, 17, 8, 6)).astype(np.float32)
    back = reference.flip_back(flipped, COCO_FLIP_PAIRS)
    back_t = codec.flip_back_torch(torch.from_numpy(flipped), COCO_FLIP_PAIRS)
    np.testing.assert_array_equal(back_t.numpy(), back)
    fused = reference.fuse_flip(hm, back, shift=shift)
    fused_t = codec.fuse_flip_torch(torch.from_numpy(hm), back_t, shift=shift)
    np.testing.assert_allclose(fused_t.numpy(), fused, rtol=0, atol=1e-6)


def test_torch_dark_decode_ignores_autocast_and_low_precision_input():
    hm = torch.from_numpy(blob_heatmaps(np.random.default_rng(5), 3, 17, noise=0.0))
    reference, _ = codec.decode_torch(hm, dark=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast, scores = codec.decode_torch(hm, dark=True)
    assert under_autocast.dtype == torch.float32 and scores.dtype == torch.float32
    np.testing.assert_allclose(under_autocast.numpy(), reference.numpy(), atol=1e-4)


@pytest.mark.parametrize("dark", [False, True])
def test_decoding_no_people_gives_empty_arrays(dark):
    coords, scores = codec.decode_torch(torch.zeros((0, 17, 64, 48)), dark=dark)
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17)
