"""Object keypoint similarity (COCO's OKS), the one implementation that COCO OKS-NMS and the
tracker's pose matching share, with the extent-of-joints area for poses without a box."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..keypoints import COCO_SIGMAS


def keypoint_areas(keypoints: np.ndarray, score_thr: float = 0.0) -> np.ndarray:
    """Area (N,) of the extent of each person's joints above `score_thr`: OKS scale, no box."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    valid = kp[..., 2] > score_thr
    big, small = np.inf, -np.inf
    x0 = np.where(valid, kp[..., 0], big).min(axis=1, initial=big)
    x1 = np.where(valid, kp[..., 0], small).max(axis=1, initial=small)
    y0 = np.where(valid, kp[..., 1], big).min(axis=1, initial=big)
    y1 = np.where(valid, kp[..., 1], small).max(axis=1, initial=small)
    area = (x1 - x0) * (y1 - y0)
    return np.where(valid.any(axis=1), area, 0.0)


def oks(
    a: np.ndarray,
    b: np.ndarray,
    areas: np.ndarray | None = None,
    sigmas: np.ndarray | None = None,
    score_thr: float | None = 0.0,
    *,
    a_areas: np.ndarray | None = None,
    visible_in: Literal["both", "b"] = "both",
) -> np.ndarray:
    """Object keypoint similarity (N,M) of every pose in `a` (N,K,3) with every pose in `b` (M,K,3).

    COCO's definition, the mean over counted joints of exp(-d^2 / (2 s^2 k^2)) with k = 2 sigma.
    The scale s^2 is the area of the `b` person (`areas` (M,), e.g. its box area; the extent of
    its joints when None), or, given `a_areas` (N,), the mean of the two people's areas (the
    seed's OKS-NMS). Joints count when their score (or visibility) exceeds `score_thr` in both
    poses (`visible_in="both"`, tracking) or in `b` alone (`"b"`, the seed's OKS-NMS, which
    ignores the kept pose's scores); every joint counts when `score_thr` is None. No counted
    joint gives 0.
    """
    if visible_in not in ("both", "b"):
        raise ValueError(f"oks: visible_in must be 'both' or 'b', got {visible_in!r}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num_joints = a.shape[-2] if a.ndim == 3 else b.shape[-2] if b.ndim == 3 else 0
    a = a.reshape(-1, num_joints, 3)
    b = b.reshape(-1, num_joints, 3)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    sigmas = np.asarray(COCO_SIGMAS if sigmas is None else sigmas, dtype=np.float64)
    if sigmas.shape != (num_joints,):
        raise ValueError(f"oks: {len(sigmas)} sigmas for poses of {num_joints} joints")
    if areas is None:
        areas = keypoint_areas(b, -np.inf if score_thr is None else score_thr)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if len(areas) != len(b):
        raise ValueError(f"oks: {len(areas)} areas for {len(b)} poses")
    if a_areas is None:
        scale = areas[None, :, None] + np.spacing(1)
    else:
        a_areas = np.asarray(a_areas, dtype=np.float64).reshape(-1)
        if len(a_areas) != len(a):
            raise ValueError(f"oks: {len(a_areas)} a_areas for {len(a)} poses")
        scale = (a_areas[:, None] + areas[None, :])[..., None] / 2 + np.spacing(1)
    d2 = ((b[None, :, :, :2] - a[:, None, :, :2]) ** 2).sum(-1)  # (N,M,K)
    variances = (2 * sigmas) ** 2
    e = np.exp(-d2 / variances / scale / 2)
    if score_thr is None:
        return e.mean(axis=-1)
    valid = b[None, :, :, 2] > score_thr
    if visible_in == "both":
        valid = valid & (a[:, None, :, 2] > score_thr)
    count = valid.sum(-1)
    total = np.where(valid, e, 0.0).sum(-1)  # a non-counted joint may be nan (no position)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)
