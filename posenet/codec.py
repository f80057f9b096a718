"""Heatmap codec: joints -> Gaussian targets for training, heatmaps -> joints for inference.

`MSRAHeatmap` encodes the SimpleBaseline targets (numpy, per sample, in the data loader).
Decoding is the pure torch function `decode_torch` (argmax, then the seed's quarter-pixel
shift or DARK), which inference calls on the net's device, vectorised over people and joints
(no Python loops; CPU included). Its numbers equal the seed's numpy formulas, kept as a
reference in the tests.
Coordinates are (x, y) in heatmap pixels; `posenet.transforms.heatmap_to_image` maps them back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .precision import no_autocast

QUARTER = 0.25  # the seed's sub-pixel step toward the higher neighbour
LOG_FLOOR = 1e-10  # DARK takes the log of the blurred heatmap; keep it finite

FlipPairs = Sequence[tuple[int, int]]


# ----------------------------------------------------------------------------------- encoding


def _check_keypoints(keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = (np.asarray(visible).reshape(-1) > 0.5).astype(np.float32)  # COCO v=1 or 2 count
    if keypoints.ndim != 2 or keypoints.shape[1] < 2 or keypoints.shape[0] != visible.shape[0]:
        raise ValueError(
            f"keypoints must be (K, 2) with visible (K,), got {keypoints.shape} and {visible.shape}"
        )
    return keypoints[:, :2], visible


def generate_gaussian_heatmaps(
    heatmap_size: tuple[int, int], keypoints: np.ndarray, visible: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Seed targets: a Gaussian on the rounded joint position, cut to its 3-sigma square.

    `keypoints` (K, 2) are in heatmap pixels. Weight 0 for invisible joints and for joints whose
    square lies outside the map by the seed's test (ul >= size or br < 0, int-truncated).
    Returns heatmaps (K, h, w) float32 and weights (K,) float32.
    """
    keypoints, visible = _check_keypoints(keypoints, visible)
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    radius = sigma * 3
    size = 2 * radius + 1
    g_len = int(np.ceil(size))  # np.arange(0, size) in the seed
    centre = float(int(size) // 2)
    # The seed's int() truncates toward zero, also for negative numbers.
    mu = np.trunc(keypoints + 0.5)
    ul = np.trunc(mu - radius)
    br = np.trunc(mu + radius + 1)
    weights = visible.copy()
    outside = (ul[:, 0] >= w) | (ul[:, 1] >= h) | (br[:, 0] < 0) | (br[:, 1] < 0)
    weights[outside] = 0.0

    # Pixel x takes g[x - ul] when ul <= x < br and the index lies inside g.
    gx = np.arange(w)[None, :] - ul[:, :1]  # (K, w) index into g
    gy = np.arange(h)[None, :] - ul[:, 1:]  # (K, h)
    in_x = (gx >= 0) & (gx < g_len) & (np.arange(w)[None, :] < br[:, :1])
    in_y = (gy >= 0) & (gy < g_len) & (np.arange(h)[None, :] < br[:, 1:])
    ex = np.where(in_x, np.exp(-((gx - centre) ** 2) / (2 * sigma**2)), 0.0)
    ey = np.where(in_y, np.exp(-((gy - centre) ** 2) / (2 * sigma**2)), 0.0)
    heatmaps = ey[:, :, None] * ex[:, None, :]
    heatmaps[weights <= 0.5] = 0.0
    return heatmaps.astype(np.float32), weights


# ------------------------------------------------------------------------- decoding helpers


def dark_kernel_size(sigma: float) -> int:
    """Odd blur kernel whose OpenCV default sigma is `sigma` (11 for 2, 17 for 3), as mmpose."""
    # OpenCV: sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8, solved for ksize and rounded to odd.
    half = int(round((sigma - 0.8) / 0.3 + 1))
    return max(2 * half + 1, 3)


@functools.lru_cache(maxsize=8)
def _kernel_1d(kernel: int) -> np.ndarray:
    return cv2.getGaussianKernel(kernel, 0).astype(np.float32).reshape(-1)


def gaussian_kernel_1d(kernel: int) -> np.ndarray:
    """OpenCV's default 1-D Gaussian for an odd `kernel` size (sigma derived from the size)."""
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"DARK blur kernel must be a positive odd size, got {kernel}")
    return _kernel_1d(int(kernel)).copy()


def flip_permutation(num_joints: int, flip_pairs: FlipPairs) -> np.ndarray:
    """Joint order after a horizontal flip: left and right of every pair swapped."""
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            raise ValueError(f"flip pair {(a, b)} out of range for {num_joints} joints")
        perm[a], perm[b] = b, a
    return perm


# ----------------------------------------------------------------------------- torch decoding


@functools.lru_cache(maxsize=32)
def _device_constant(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Small constant tensors, made once per device (no host-to-device copy per call)."""
    return torch.tensor(values, dtype=dtype, device=device)


def _check_heatmaps_torch(heatmaps: torch.Tensor) -> torch.Tensor:
    if heatmaps.dim() != 4 or heatmaps.shape[2] * heatmaps.shape[3] == 0:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {tuple(heatmaps.shape)}")
    return heatmaps.float()


def get_max_preds_torch(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax of each heatmap: coords (N, K, 2) float32 and maxvals (N, K), on the input's
    device; coords 0 where the maximum is <= 0 (as the seed)."""
    heatmaps = _check_heatmaps_torch(heatmaps)
    w = heatmaps.shape[3]
    maxvals, idx = heatmaps.flatten(2).max(dim=2)
    coords = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], dim=-1).float()
    coords = coords * (maxvals > 0).unsqueeze(-1)
    return coords, maxvals


def _gather(flat: torch.Tensor, y: torch.Tensor, x: torch.Tensor, w: int) -> torch.Tensor:
    """Values of flat (N, K, h*w) maps at integer (y, x) of shape (N, K, ...)."""
    points = int(np.prod(y.shape[2:], dtype=np.int64))
    index = (y * w + x).reshape(flat.shape[0], flat.shape[1], points)
    return torch.gather(flat, 2, index).reshape(y.shape)


def refine_quarter_offset_torch(heatmaps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """The seed's post-processing: move 0.25 px toward the higher neighbour in x and in y,
    only where 1 < px < w-1 and 1 < py < h-1 with px = floor(x + 0.5) (as the seed)."""
    heatmaps = _check_heatmaps_torch(heatmaps)
    h, w = heatmaps.shape[2:]
    flat = heatmaps.flatten(2)
    px = torch.floor(coords[..., 0] + 0.5).long()
    py = torch.floor(coords[..., 1] + 0.5).long()
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    px, py = px.clamp(1, max(w - 2, 1)), py.clamp(1, max(h - 2, 1))
    dx = _gather(flat, py, px + 1, w) - _gather(flat, py, px - 1, w)
    dy = _gather(flat, py + 1, px, w) - _gather(flat, py - 1, px, w)
    shift = torch.stack([torch.sign(dx), torch.sign(dy)], dim=-1) * QUARTER
    return coords + shift * ok.unsqueeze(-1)


def refine_dark_torch(
    heatmaps: torch.Tensor, coords: torch.Tensor, kernel: int = 11
) -> torch.Tensor:
    """DARK: Taylor expansion of the log of the blurred heatmap at the integer maximum.

    offset = -H^-1 g with central differences (step 1 for the gradient, 2 for the Hessian);
    applied where 1 < x < w-2 and 1 < y < h-2 (like mmpose) and where H is negative definite
    (mmpose only needs det(H) != 0; at a saddle of a noisy map that sends joints far away).
    Only the patch around each maximum is blurred (zero padding), not the whole map.
    """
    heatmaps = _check_heatmaps_torch(heatmaps)
    n, k, h, w = heatmaps.shape
    g = _device_constant(tuple(gaussian_kernel_1d(kernel).tolist()), torch.float32, heatmaps.device)
    half = kernel // 2
    reach = half + 2  # the 5x5 stencil of blurred values needs this many raw pixels around it
    x = coords[..., 0].long()
    y = coords[..., 1].long()
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    offsets = torch.arange(-reach, reach + 1, device=heatmaps.device)
    py = y[..., None, None] + offsets[:, None]  # (N, K, P, 1)
    px = x[..., None, None] + offsets[None, :]  # (N, K, 1, P)
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)  # zero padding outside the map
    patch = _gather(
        heatmaps.flatten(2),
        py.clamp(0, h - 1).expand_as(inside),
        px.clamp(0, w - 1).expand_as(inside),
        w,
    )
    patch = patch * inside
    p = 2 * reach + 1
    patch = patch.reshape(n * k, 1, p, p)
    with no_autocast(heatmaps.device):  # bf16 would spoil DARK's logs and derivatives
        patch = F.conv2d(patch, g.view(1, 1, -1, 1))
        patch = F.conv2d(patch, g.view(1, 1, 1, -1))  # (NK, 1, 5, 5), centre at [2, 2]
    logp = torch.log(patch.clamp_min(LOG_FLOOR)).reshape(n, k, 5, 5)

    def at(dy: int, dx: int) -> torch.Tensor:
        return logp[..., 2 + dy, 2 + dx]

    centre = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    hxx = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    hyy = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    hxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = hxx * hyy - hxy * hxy
    ok = ok & (det > 0) & (hxx < 0)  # a maximum: negative-definite Hessian
    safe = torch.where(ok, det, torch.ones_like(det))
    off_x = -(hyy * gx - hxy * gy) / safe
    off_y = -(-hxy * gx + hxx * gy) / safe
    offset = torch.stack([off_x, off_y], dim=-1) * ok.unsqueeze(-1)
    return coords + offset


def decode_torch(
    heatmaps: torch.Tensor, post_process: bool = True, dark: bool = False, dark_kernel: int = 11
) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps (N, K, h, w) -> coords (N, K, 2) in heatmap pixels and scores (N, K), float32.

    Argmax, then DARK if `dark` (it replaces the quarter shift, as in the DARK paper and mmpose),
    else the quarter-pixel shift if `post_process`. Stays on the input's device.
    """
    heatmaps = _check_heatmaps_torch(heatmaps)
    coords, scores = get_max_preds_torch(heatmaps)
    if dark:
        coords = refine_dark_torch(heatmaps, coords, dark_kernel)
    elif post_process:
        coords = refine_quarter_offset_torch(heatmaps, coords)
    return coords, scores


def flip_back_torch(heatmaps: torch.Tensor, flip_pairs: FlipPairs) -> torch.Tensor:
    """Heatmaps of a mirrored input back to the original frame: mirror x, swap left/right maps."""
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {tuple(heatmaps.shape)}")
    perm = flip_permutation(heatmaps.shape[1], flip_pairs)
    perm = _device_constant(tuple(perm.tolist()), torch.long, heatmaps.device)
    return heatmaps.index_select(1, perm).flip(3)


def fuse_flip_torch(
    heatmaps: torch.Tensor, flipped_back: torch.Tensor, shift: bool = True
) -> torch.Tensor:
    """Flip-test average; with `shift` the flipped maps move one pixel right first, as the seed
    (column 0 keeps its value)."""
    if shift:
        flipped_back = torch.cat([flipped_back[..., :1], flipped_back[..., :-1]], dim=-1)
    return (heatmaps + flipped_back) * 0.5


# ---------------------------------------------------------------------------------- the codec


class MSRAHeatmap:
    """SimpleBaseline heatmap targets: a Gaussian (sigma in heatmap pixels) on each joint's
    rounded position at the heatmap resolution, as the seed. Decoding is `decode_torch`."""

    def __init__(
        self, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 2.0
    ) -> None:
        if len(input_size) != 2 or len(heatmap_size) != 2 or min(*input_size, *heatmap_size) <= 0:
            raise ValueError(
                f"input_size and heatmap_size are positive (w, h), got {input_size}, {heatmap_size}"
            )
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.stride = np.array(self.input_size, np.float64) / np.array(self.heatmap_size)

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints (K, 2) in input pixels and visibility (K,) -> heatmaps (K, h, w), weights (K,)."""
        keypoints, visible = _check_keypoints(keypoints, visible)
        return generate_gaussian_heatmaps(
            self.heatmap_size, keypoints / self.stride, visible, self.sigma
        )
