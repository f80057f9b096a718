"""Similarities between people in two frames: box IoU and OKS (flow-OKS is OKS on poses moved
along the optical flow, see tracker.propagate), and NMS. IoU and NMS are torchvision.ops on CPU
behind numpy wrappers; OKS is posenet's, the one COCO evaluation uses."""

from __future__ import annotations

import numpy as np
import torch
from torchvision import ops

from posenet.evaluation.oks import keypoint_areas, oks

__all__ = ["box_area", "box_iou", "keypoint_areas", "nms", "oks", "valid_boxes"]


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of xyxy boxes (N,); degenerate boxes have area 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Per xyxy box: True when it is finite and has a size (x2 > x1 and y2 > y1)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])


def _boxes(boxes: np.ndarray, name: str) -> torch.Tensor:
    """(N,4) float64 tensor sharing memory where it can; x2 < x1 or y2 < y1 is raised to a
    zero width or height, so degenerate boxes have area 0 and overlap nothing (as box_area)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.size and b.shape[-1] != 4:
        raise ValueError(f"{name}: boxes must be (N, 4) xyxy, got shape {b.shape}")
    b = b.reshape(-1, 4)
    if (b[:, 2:] < b[:, :2]).any():
        b = np.concatenate([b[:, :2], np.maximum(b[:, 2:], b[:, :2])], axis=1)
    return torch.from_numpy(np.ascontiguousarray(b))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (N,4) with every box in `b` (M,4): (N,M);
    0 where both boxes have area 0."""
    iou = ops.box_iou(_boxes(a, "box_iou"), _boxes(b, "box_iou")).numpy()
    return np.nan_to_num(iou, nan=0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    A box is dropped when it overlaps an already kept, higher-ranked box by IoU > `iou_thr`.
    Equal scores rank in input order: torchvision's sort does not promise that, so the boxes
    go to it already ranked, with their ranks as scores.
    """
    boxes = _boxes(boxes, "nms")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    ranks = torch.arange(len(order), 0, -1, dtype=torch.float64)
    keep = ops.nms(boxes[torch.from_numpy(order)], ranks, float(iou_thr)).numpy()
    return order[keep].astype(np.int64)
