"""Geometry between images, person crops and heatmaps, plus training augmentation helpers.

A person is a `center` (x, y) and a `scale` (w, h) in units of `pixel_std` (200 px, as the
seed). The crop maps the box of size scale * pixel_std around `center` (rotated by `rot`
degrees) onto the network input; only the width sets the zoom, the aspect ratio is fixed when
the box is made. Crops run in OpenCV on CPU and with grid_sample on any torch device.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .boxes import PIXEL_STD
from .precision import no_autocast

HALF_BODY_PADDING = 1.5  # enlargement of the half-body box (HRNet/mmpose)
# The input normalisation every network here expects (RGB order, pixels in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FlipPairs = Sequence[tuple[int, int]]


# -------------------------------------------------------------------------------- affines


def _rotate(point: np.ndarray, rot_rad: float) -> np.ndarray:
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def get_affine_transform(
    center: np.ndarray,
    scale: np.ndarray,
    rot: float,
    output_size: tuple[int, int],
    shift: tuple[float, float] = (0.0, 0.0),
    inv: bool = False,
    pixel_std: float = PIXEL_STD,
) -> np.ndarray:
    """The seed's (2, 3) image -> crop affine (crop -> image with `inv`), from three points."""
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 0:
        scale = np.array([scale, scale])
    center = np.asarray(center, dtype=np.float64)
    scale_px = scale * pixel_std
    shift_px = scale_px * np.asarray(shift, dtype=np.float64)
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    src_dir = _rotate(np.array([0.0, scale_px[0] * -0.5]), np.pi * rot / 180)
    dst_dir = np.array([0.0, dst_w * -0.5])
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + shift_px
    src[1] = center + src_dir + shift_px
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def get_affine_transforms(
    center: np.ndarray,
    scale: np.ndarray,
    rot: np.ndarray | float,
    output_size: tuple[int, int],
    inv: bool = False,
    pixel_std: float = PIXEL_STD,
) -> np.ndarray:
    """Vectorised `get_affine_transform` for N crops -> (N, 2, 3), in closed form.

    Crop -> image is p = c + k R(rot) (q - output_size / 2) with k = scale_w * pixel_std / out_w.
    """
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
    rot_rad = np.deg2rad(np.broadcast_to(np.asarray(rot, dtype=np.float64), (len(center),)))
    k = scale[:, 0] * pixel_std / float(output_size[0])
    half = np.array([output_size[0] * 0.5, output_size[1] * 0.5])
    cs, sn = np.cos(rot_rad), np.sin(rot_rad)
    mats = np.empty((len(center), 2, 3))
    if inv:
        lin = np.stack([np.stack([cs, -sn], -1), np.stack([sn, cs], -1)], 1) * k[:, None, None]
        mats[:, :, :2] = lin
        mats[:, :, 2] = center - lin @ half
    else:
        lin = np.stack([np.stack([cs, sn], -1), np.stack([-sn, cs], -1)], 1) / k[:, None, None]
        mats[:, :, :2] = lin
        mats[:, :, 2] = half - np.einsum("nij,nj->ni", lin, center)
    return mats


def affine_points(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (..., 2), or (N, 2, 3) affines to points (N, ..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    mat = np.asarray(mat, dtype=np.float64)
    if mat.ndim == 2:
        return points @ mat[:, :2].T + mat[:, 2]
    lin = mat[:, :, :2].reshape((mat.shape[0],) + (1,) * (points.ndim - 2) + (2, 2))
    off = mat[:, :, 2].reshape((mat.shape[0],) + (1,) * (points.ndim - 2) + (2,))
    return (lin @ points[..., None])[..., 0] + off


def heatmap_to_image(
    coords: np.ndarray | torch.Tensor,
    center: np.ndarray | torch.Tensor,
    scale: np.ndarray | torch.Tensor,
    heatmap_size: tuple[int, int],
    pixel_std: float = PIXEL_STD,
) -> np.ndarray | torch.Tensor:
    """Heatmap pixels (N, K, 2) -> image pixels: the seed's transform_preds, vectorised.

    Works on numpy arrays and on torch tensors (stays on their device).
    """
    if isinstance(coords, torch.Tensor):
        center = torch.as_tensor(center, dtype=coords.dtype, device=coords.device)
        scale = torch.as_tensor(scale, dtype=coords.dtype, device=coords.device)
    else:
        coords = np.asarray(coords, dtype=np.float64)
        center = np.asarray(center, dtype=np.float64)
        scale = np.asarray(scale, dtype=np.float64)
    if coords.shape[-1] != 2 or center.shape[-1] != 2 or scale.shape[-1] != 2:
        raise ValueError("coords (N, K, 2), center (N, 2) and scale (N, 2) end in x, y")
    k = scale[:, None, :1] * (pixel_std / float(heatmap_size[0]))  # zoom from the width only
    half_x, half_y = heatmap_size[0] * 0.5, heatmap_size[1] * 0.5
    x = center[:, None, :1] + (coords[..., :1] - half_x) * k
    y = center[:, None, 1:] + (coords[..., 1:] - half_y) * k
    if isinstance(coords, torch.Tensor):
        return torch.cat([x, y], dim=-1)
    return np.concatenate([x, y], axis=-1)


# ---------------------------------------------------------------------------------- crops


def crop_cv2(
    image: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    output_size: tuple[int, int],
    rot: float = 0.0,
) -> np.ndarray:
    """Crop one person (cv2.warpAffine, bilinear, zeros outside the image) as the seed."""
    mat = get_affine_transform(center, scale, rot, output_size)
    size = (int(output_size[0]), int(output_size[1]))
    return cv2.warpAffine(
        image, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def crop_matrices_torch(
    center: torch.Tensor,
    scale: torch.Tensor,
    rot: torch.Tensor,
    output_size: tuple[int, int],
    pixel_std: float = PIXEL_STD,
) -> torch.Tensor:
    """Crop -> image affines (N, 2, 3) on the tensors' device (torch `get_affine_transforms`)."""
    rot_rad = rot * (torch.pi / 180.0)
    k = scale[:, 0] * (pixel_std / float(output_size[0]))
    cs, sn = torch.cos(rot_rad) * k, torch.sin(rot_rad) * k
    hx, hy = output_size[0] * 0.5, output_size[1] * 0.5
    tx = center[:, 0] - cs * hx + sn * hy
    ty = center[:, 1] - sn * hx - cs * hy
    return torch.stack([torch.stack([cs, -sn, tx], -1), torch.stack([sn, cs, ty], -1)], 1)


def crop_torch(
    images: torch.Tensor,
    image_index: torch.Tensor,
    center: torch.Tensor | np.ndarray,
    scale: torch.Tensor | np.ndarray,
    output_size: tuple[int, int],
    rot: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Crop N people from B images (B, C, H, W) in one grid_sample -> (N, C, h, w) float32.

    Same pixels as `crop_cv2` up to interpolation rounding, without leaving the device; any
    image dtype (uint8 too); autocast is turned off inside. `image_index` is not range-checked
    (that would wait for the device): an index past B gives a black crop. The
    images are stacked one above the other with a zero row between neighbours, so bilinear
    sampling near an edge mixes in zeros (as cv2's constant border) and never another image.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    with no_autocast(images.device):
        device = images.device
        b, c, h_img, w_img = images.shape
        out_w, out_h = int(output_size[0]), int(output_size[1])
        image_index = torch.as_tensor(image_index, device=device).long().reshape(-1)
        n = image_index.numel()
        center = torch.as_tensor(center, dtype=torch.float32, device=device).reshape(n, 2)
        scale = torch.as_tensor(scale, dtype=torch.float32, device=device).reshape(n, 2)
        if rot is None:
            rot = torch.zeros(n, dtype=torch.float32, device=device)
        rot = torch.as_tensor(rot, dtype=torch.float32, device=device).reshape(n)
        if n == 0:
            return torch.zeros((0, c, out_h, out_w), dtype=torch.float32, device=device)

        # One tall image: a zero row, then each image followed by a zero row.
        period = h_img + 1
        stack_h = b * period + 1
        stack = torch.empty((c, stack_h, w_img), dtype=torch.float32, device=device)
        stack[:, ::period] = 0.0
        stack[:, 1:].view(c, b, period, w_img)[:, :, :h_img] = images.permute(1, 0, 2, 3)

        # affine_grid's output coords (align_corners=False) -> crop pixels -> image pixels, with
        # grid_sample's normalisation of x folded in; y is clamped to the zero rows around its
        # image, then moved to its place in the stack and normalised, in place.
        mats = crop_matrices_torch(center, scale, rot, (out_w, out_h))
        theta = torch.stack(
            [
                mats[:, :, 0] * (out_w / 2),
                mats[:, :, 1] * (out_h / 2),
                mats[:, :, 0] * ((out_w - 1) / 2)
                + mats[:, :, 1] * ((out_h - 1) / 2)
                + mats[:, :, 2],
            ],
            dim=2,
        )
        theta[:, 0] = theta[:, 0] * (2.0 / w_img)
        theta[:, 0, 2] += 1.0 / w_img - 1.0
        grid = F.affine_grid(theta, [n, 1, out_h, out_w], align_corners=False)
        y = grid[..., 1]
        row0 = (1 + image_index * period).to(torch.float32)  # stack row of each image's row 0
        y.clamp_(-1.0, float(h_img)).mul_(2.0 / stack_h)
        y.add_(((2 * row0 + 1) / stack_h - 1).view(n, 1, 1))
        out = F.grid_sample(
            stack[None],
            grid.view(1, n * out_h, out_w, 2),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        return out.view(c, n, out_h, out_w).permute(1, 0, 2, 3).contiguous()

    # ---------------------------------------------------------------------- training augmentation


def random_scale_rotation(
    rng: np.random.Generator, scale_factor: float, rot_factor: float, rot_prob: float
) -> tuple[float, float]:
    """The seed's random zoom and rotation: (scale multiplier, degrees).

    s = clip(N(0,1) * sf + 1, 1 - sf, 1 + sf); r = clip(N(0,1) * rf, -2 rf, 2 rf) with
    probability `rot_prob`, else 0.
    """
    s = float(np.clip(rng.standard_normal() * scale_factor + 1, 1 - scale_factor, 1 + scale_factor))
    r = float(np.clip(rng.standard_normal() * rot_factor, -2 * rot_factor, 2 * rot_factor))
    if rng.random() > rot_prob:
        r = 0.0
    return s, r


def flip_joints(joints: np.ndarray, width: float, flip_pairs: FlipPairs) -> np.ndarray:
    """Joints (K, 2|3) of an image mirrored horizontally: x -> width - 1 - x, left/right swapped.

    Extra columns (visibility) travel with their joint.
    """
    joints = np.array(joints, dtype=np.float64, copy=True)
    joints[:, 0] = width - 1 - joints[:, 0]
    perm = np.arange(len(joints))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return joints[perm]


def half_body(
    joints: np.ndarray,
    visible: np.ndarray,
    upper_ids: Sequence[int],
    lower_ids: Sequence[int],
    aspect_ratio: float,
    rng: np.random.Generator,
    padding: float = HALF_BODY_PADDING,
    pixel_std: float = PIXEL_STD,
) -> tuple[np.ndarray, np.ndarray] | None:
    """A box around the visible upper or lower body (coin flip) -> (center, scale), or None.

    Upper body is taken when it has more than two visible joints and the coin says so; else the
    lower body if it has more than two, else the upper body; None if that leaves under two.
    """
    joints = np.asarray(joints, dtype=np.float64)[:, :2]
    seen = np.asarray(visible).reshape(-1) > 0
    upper = joints[[i for i in upper_ids if seen[i]]]
    lower = joints[[i for i in lower_ids if seen[i]]]
    if rng.random() < 0.5 and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    center = chosen.mean(axis=0)
    w, h = chosen.max(axis=0) - chosen.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w, h]) / pixel_std * padding
    return center.astype(np.float32), scale.astype(np.float32)
