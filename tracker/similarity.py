"""Similarities between people in two frames: box IoU and OKS (flow-OKS is OKS on poses moved
along the optical flow, see tracker.propagate), and a plain NMS that runs anywhere."""
from __future__ import annotations

import numpy as np

from posenet.keypoints import COCO_SIGMAS


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of xyxy boxes (N,); degenerate boxes have area 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (N,4) with every box in `b` (M,4): (N,M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def keypoint_areas(keypoints: np.ndarray, score_thr: float = 0.0) -> np.ndarray:
    """Area of the extent of each person's joints above `score_thr` (N,): OKS scale without a box."""
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
    score_thr: float = 0.0,
) -> np.ndarray:
    """Object keypoint similarity of every pose in `a` (N,K,3) with every pose in `b` (M,K,3).

    COCO's definition, exp(-d^2 / (2 s^2 k^2)) with s^2 the area of the `b` person (`areas`,
    e.g. its box area; the extent of its joints when None) and k = 2 sigma, averaged over the
    joints whose score (or visibility) exceeds `score_thr` in both poses; 0 when there are none.
    """
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
        areas = keypoint_areas(b, score_thr)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if len(areas) != len(b):
        raise ValueError(f"oks: {len(areas)} areas for {len(b)} poses")
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # (N,M,K)
    var = (2.0 * sigmas) ** 2
    e = d2 / (2.0 * var * (areas[None, :, None] + np.spacing(1)))
    valid = (a[:, None, :, 2] > score_thr) & (b[None, :, :, 2] > score_thr)
    count = valid.sum(-1)
    total = np.where(valid, np.exp(-e), 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    A box is dropped when it overlaps an already kept, higher-scored box by IoU > `iou_thr`.
    Pure numpy, so it runs wherever the tracker does (the seed's NMS needed CUDA).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    if len(order) == 0:
        return order.astype(np.int64)
    iou = box_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= iou[i] > iou_thr
    return np.asarray(keep, dtype=np.int64)
