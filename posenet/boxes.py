"""Person boxes: xyxy <-> xywh (the JSON edge) and xyxy <-> the seed's center/scale. Numpy only,
so the PoseTrack and COCO readers and writers use it without importing torch."""

from __future__ import annotations

import numpy as np

PIXEL_STD = 200.0  # the seed's unit for scale
BOX_PADDING = 1.25  # the seed's enlargement of a person box before cropping


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h -> x1, y1, x2, y2 (x2 = x + w)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> x, y, w, h."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]], axis=-1)


def box_xyxy_to_center_scale(
    boxes: np.ndarray,
    aspect_ratio: float,
    padding: float = BOX_PADDING,
    pixel_std: float = PIXEL_STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy -> center (N, 2), scale (N, 2): the seed's _box2cs.

    The box grows to the network's aspect ratio w/h (never shrinks), then by `padding`.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) xyxy, got shape {boxes.shape}")
    if aspect_ratio <= 0:
        raise ValueError(f"aspect_ratio must be positive, got {aspect_ratio}")
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    center = np.stack([boxes[:, 0] + w * 0.5, boxes[:, 1] + h * 0.5], axis=1)
    wider = w > aspect_ratio * h
    taller = w < aspect_ratio * h
    h = np.where(wider, w / aspect_ratio, h)
    w = np.where(taller, h * aspect_ratio, w)
    scale = np.stack([w, h], axis=1) / pixel_std * padding
    return center.astype(np.float32), scale.astype(np.float32)


def center_scale_to_box_xyxy(
    center: np.ndarray, scale: np.ndarray, pixel_std: float = PIXEL_STD, padding: float = 1.0
) -> np.ndarray:
    """Center (N, 2), scale (N, 2) -> the cropped region (N, 4) xyxy; `padding` divides it out."""
    center = np.asarray(center, dtype=np.float64)
    size = np.asarray(scale, dtype=np.float64) * pixel_std / padding
    return np.concatenate([center - size / 2, center + size / 2], axis=-1)
