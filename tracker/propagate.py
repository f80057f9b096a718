"""Carry people from one frame to the next along the optical flow (the paper's box propagation)."""

from __future__ import annotations

import numpy as np


def sample_flow(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear sample of a flow field (H,W,2) at points (...,2) in pixels, clipped to the image."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    pts = np.asarray(points, dtype=np.float64)
    x = np.clip(pts[..., 0], 0, width - 1)
    y = np.clip(pts[..., 1], 0, height - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    wx = (x - x0)[..., None]
    wy = (y - y0)[..., None]
    top = flow[y0, x0] * (1 - wx) + flow[y0, x1] * wx
    bottom = flow[y1, x0] * (1 - wx) + flow[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def propagate_keypoints(keypoints: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
    """Move every joint (N,K,3) along the flow prev -> cur; scores are kept, positions clipped
    to the image. Without a flow the joints stay where they were."""
    kp = np.array(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    if flow is None or kp.size == 0:
        return kp
    height, width = flow.shape[:2]
    kp[..., :2] += sample_flow(flow, kp[..., :2])
    kp[..., 0] = kp[..., 0].clip(0, width - 1)
    kp[..., 1] = kp[..., 1].clip(0, height - 1)
    return kp


def boxes_from_keypoints(
    keypoints: np.ndarray, score_thr: float = 0.4, enlarge: float = 0.15, min_joints: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes around each person's joints scoring >= `score_thr`, enlarged by `enlarge` of their
    width and height (the paper's 15 %), for people with at least `min_joints` such joints.

    Returns (boxes (M,4) xyxy, index (M,) of the person each box came from).
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    valid = kp[..., 2] >= score_thr
    keep = np.flatnonzero(valid.sum(axis=1) >= min_joints)
    if len(keep) == 0:
        return np.zeros((0, 4)), keep.astype(np.int64)
    kp, valid = kp[keep], valid[keep]
    x0 = np.where(valid, kp[..., 0], np.inf).min(axis=1)
    x1 = np.where(valid, kp[..., 0], -np.inf).max(axis=1)
    y0 = np.where(valid, kp[..., 1], np.inf).min(axis=1)
    y1 = np.where(valid, kp[..., 1], -np.inf).max(axis=1)
    dx = (x1 - x0) * enlarge / 2
    dy = (y1 - y0) * enlarge / 2
    boxes = np.stack([x0 - dx, y0 - dy, x1 + dx, y1 + dy], axis=1)
    return boxes, keep.astype(np.int64)
