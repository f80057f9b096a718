"""Similarities between people in two frames: box IoU and OKS (flow-OKS is OKS on poses moved
along the optical flow, see tracker.propagate), and a plain NMS that runs anywhere. OKS is
posenet's, the one COCO evaluation uses."""
from __future__ import annotations

import numpy as np

from posenet.evaluation.oks import keypoint_areas, oks

__all__ = ["box_area", "box_iou", "keypoint_areas", "nms", "oks"]


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
