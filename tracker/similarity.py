"""Similarities between people in two frames: box IoU, OKS (flow-OKS is OKS on poses moved
along the optical flow, see tracker.propagate), the re-identification score of lost tracks, and
NMS. IoU and NMS are torchvision.ops on CPU behind numpy wrappers; OKS is posenet's, the one COCO
evaluation uses."""

from __future__ import annotations

import numpy as np
import torch
from torchvision import ops

from posenet.evaluation.oks import keypoint_areas, oks

__all__ = [
    "box_area",
    "box_iou",
    "joint_centers",
    "keypoint_areas",
    "nms",
    "oks",
    "reid_similarity",
    "valid_boxes",
]


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


def joint_centers(keypoints: np.ndarray, score_thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean position (N,2) of each pose's joints above `score_thr`, and whether it has any (N,)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    seen = kp[..., 2] > score_thr
    count = seen.sum(-1)
    total = np.where(seen[..., None], kp[..., :2], 0.0).sum(-2)
    return total / np.maximum(count, 1)[..., None], count > 0


def reid_similarity(
    people: np.ndarray,
    shapes: np.ndarray,
    last_seen: np.ndarray,
    predicted: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    score_thr: float,
    reach: float,
) -> np.ndarray:
    """How likely each person (N,K,3) is a lost track come back (N,M): the OKS of the person's
    pose with the track's pose `shapes` (M,K,3), the offset between them removed (needs 2
    joints in common), times exp(-d^2 / 2 reach^2), d the distance from the person's joint
    centre to the path from the track's last seen centre (`last_seen` (M,K,3)) to its
    predicted one (`predicted` (M,K,3)), in track sizes (sqrt of `areas` (M,), the OKS scale).

    After a gap of many frames OKS in place fails (the person drifted from where a constant
    velocity puts them); the shape and a generous reach still single them out."""
    people = np.asarray(people, dtype=np.float64)
    shapes = np.asarray(shapes, dtype=np.float64)
    if len(people) == 0 or len(shapes) == 0:
        return np.zeros((len(people), len(shapes)))
    areas = np.asarray(areas, dtype=np.float64)
    common = (people[:, None, :, 2] > score_thr) & (shapes[None, :, :, 2] > score_thr)
    count = common.sum(-1)  # (N,M)
    offset = people[:, None, :, :2] - shapes[None, :, :, :2]  # (N,M,K,2)
    mean = np.where(common[..., None], offset, 0.0).sum(-2) / np.maximum(count, 1)[..., None]
    shape = np.zeros(count.shape)
    for m in range(len(shapes)):  # OKS of each person moved by the pair's mean offset
        aligned = people.copy()
        aligned[:, :, :2] -= mean[:, m, None, :]
        shape[:, m] = oks(aligned, shapes[m : m + 1], areas[m : m + 1], sigmas, score_thr)[:, 0]
    shape = np.where(count >= 2, shape, 0.0)

    size = np.sqrt(areas) + np.spacing(1)
    centre, has = joint_centers(people, score_thr)
    # Distance to the path from the last seen centre to the predicted one: a person may have
    # slowed down or stopped while hidden, so anywhere between the two is as likely.
    start, seen = joint_centers(last_seen, score_thr)
    end, moved = joint_centers(predicted, score_thr)
    end = np.where(moved[:, None], end, start)
    path = end - start  # (M,2)
    rel = centre[:, None] - start[None]  # (N,M,2)
    along = (rel * path[None]).sum(-1) / np.maximum((path**2).sum(-1), np.spacing(1))[None]
    off = rel - np.clip(along, 0.0, 1.0)[..., None] * path[None]
    dist = np.linalg.norm(off, axis=-1) / size[None]
    dist = np.where(seen[None] & has[:, None], dist, np.inf)
    return shape * np.exp(-(dist**2) / (2 * reach**2))
