"""The seed's heatmap decoding in numpy, kept as the reference the production torch decoder
(`posenet.codec.decode_torch` and friends) is checked against: same rules, written the plain
way, one formula per line. Also sub-pixel Gaussian heatmaps, test input with a known answer."""

from __future__ import annotations

import cv2
import numpy as np

from posenet.codec import LOG_FLOOR, QUARTER, FlipPairs, flip_permutation, gaussian_kernel_1d


def _check_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4 or heatmaps.shape[2] * heatmaps.shape[3] == 0:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {heatmaps.shape}")
    return heatmaps


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each heatmap: coords (N, K, 2) float32 and maxvals (N, K); coords 0 if max <= 0."""
    heatmaps = _check_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords *= (maxvals > 0)[..., None]
    return coords, maxvals.astype(np.float32)


def refine_quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The seed's post-processing: move 0.25 px toward the higher neighbour in x and in y.

    Only where 1 < px < w-1 and 1 < py < h-1 with px = floor(x + 0.5) (as the seed).
    """
    heatmaps = _check_heatmaps(heatmaps)
    _, _, h, w = heatmaps.shape
    coords = np.array(coords, dtype=np.float32, copy=True)
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    pxc, pyc = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
    n_idx, k_idx = np.indices(px.shape)
    dx = heatmaps[n_idx, k_idx, pyc, pxc + 1] - heatmaps[n_idx, k_idx, pyc, pxc - 1]
    dy = heatmaps[n_idx, k_idx, pyc + 1, pxc] - heatmaps[n_idx, k_idx, pyc - 1, pxc]
    shift = np.stack([np.sign(dx), np.sign(dy)], axis=-1).astype(np.float32) * QUARTER
    coords += shift * ok[..., None]
    return coords


def blur_heatmaps(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian-blur every (h, w) map with zero padding, as DARK's modulation step."""
    heatmaps = _check_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    g = gaussian_kernel_1d(kernel)
    maps = heatmaps.reshape(n * k, h, w).astype(np.float32)
    out = np.empty_like(maps)
    for i, hm in enumerate(maps):  # cv2 filters one 2-D map at a time
        out[i] = cv2.sepFilter2D(hm, cv2.CV_32F, g, g, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(n, k, h, w)


def refine_dark(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK: Taylor expansion of the log of the blurred heatmap at the integer maximum.

    offset = -H^-1 g with central differences (step 1 for the gradient, 2 for the Hessian);
    applied where 1 < x < w-2 and 1 < y < h-2 (like mmpose) and where H is negative definite
    (mmpose only needs det(H) != 0; at a saddle of a noisy map that sends joints far away).
    """
    heatmaps = _check_heatmaps(heatmaps)
    _, _, h, w = heatmaps.shape
    coords = np.array(coords, dtype=np.float32, copy=True)
    logmap = np.log(np.maximum(blur_heatmaps(heatmaps, kernel), LOG_FLOOR)).astype(np.float64)
    x = coords[..., 0].astype(np.int64)
    y = coords[..., 1].astype(np.int64)
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    x, y = np.clip(x, 2, max(w - 3, 2)), np.clip(y, 2, max(h - 3, 2))
    n_idx, k_idx = np.indices(x.shape)

    def at(dy: int, dx: int) -> np.ndarray:
        return logmap[n_idx, k_idx, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)]

    centre = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    hxx = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    hyy = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    hxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    ok &= (det > 0) & (hxx < 0)  # a maximum: negative-definite Hessian
    safe = np.where(ok, det, 1.0)
    off_x = -(hyy * gx - hxy * gy) / safe
    off_y = -(-hxy * gx + hxx * gy) / safe
    offset = np.stack([off_x, off_y], axis=-1) * ok[..., None]
    return (coords + offset).astype(np.float32)


def flip_back(heatmaps: np.ndarray, flip_pairs: FlipPairs) -> np.ndarray:
    """Heatmaps of a mirrored input back to the original frame: mirror x, swap left/right maps."""
    heatmaps = _check_heatmaps(heatmaps)
    perm = flip_permutation(heatmaps.shape[1], flip_pairs)
    return np.ascontiguousarray(heatmaps[:, perm, :, ::-1])


def fuse_flip(heatmaps: np.ndarray, flipped_back: np.ndarray, shift: bool = True) -> np.ndarray:
    """Flip-test average; with `shift` the flipped maps move one pixel right first, as the seed."""
    flipped_back = np.array(flipped_back, copy=True)
    if shift:
        flipped_back[..., 1:] = flipped_back[..., :-1].copy()
    return (np.asarray(heatmaps) + flipped_back) * 0.5


def sub_pixel_heatmaps(
    heatmap_size: tuple[int, int], centres: np.ndarray, sigma: float
) -> np.ndarray:
    """Full-map Gaussians (K, h, w) float32 peaking at the exact sub-pixel `centres` (K, 2):
    decoders' test input with a known right answer (the seed's targets sit on whole pixels)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    ex = np.exp(-((np.arange(w)[None, :] - centres[:, :1]) ** 2) / (2 * sigma**2))
    ey = np.exp(-((np.arange(h)[None, :] - centres[:, 1:]) ** 2) / (2 * sigma**2))
    return (ey[:, :, None] * ex[:, None, :]).astype(np.float32)
