"""Draw tracked poses: skeleton, joints, box and id in one stable colour per track."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from posenet.keypoints import COCO_SKELETON

# Golden-ratio hue steps: consecutive ids land far apart on the colour wheel, and the colour
# depends on the id alone, so a track keeps its colour across frames and runs.
_GOLDEN = 0.6180339887498949
UNTRACKED_COLOR = (160, 160, 160)


def track_color(track_id: int) -> tuple[int, int, int]:
    """RGB colour of a track id: deterministic, bright, different for neighbouring ids."""
    if track_id is None or track_id < 0:
        return UNTRACKED_COLOR
    hue = (int(track_id) * _GOLDEN) % 1.0
    # Alternate the value a little so ids whose hues come close still differ in brightness.
    value = 1.0 if int(track_id) % 2 == 0 else 0.8
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _line_width(image: np.ndarray) -> int:
    """Stroke width that stays visible on both small and full-HD frames."""
    return max(2, int(round(min(image.shape[:2]) / 360)))


def draw_poses(
    image: np.ndarray,
    keypoints: np.ndarray,
    track_ids: Sequence[int] | np.ndarray,
    boxes: np.ndarray | None = None,
    score_thr: float = 0.3,
    skeleton: Sequence[tuple[int, int]] = COCO_SKELETON,
) -> np.ndarray:
    """A copy of the RGB `image` with each person's limbs, joints (score >= score_thr), box
    and track id drawn in the track's colour; the input image is left unchanged."""
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, *np.shape(keypoints)[-2:])
    track_ids = np.asarray(track_ids).reshape(-1)
    if len(track_ids) != len(keypoints):
        raise ValueError(f"{len(keypoints)} poses but {len(track_ids)} track ids")
    if boxes is not None and len(boxes) != len(keypoints):
        raise ValueError(f"{len(keypoints)} poses but {len(boxes)} boxes")
    width = _line_width(canvas)
    radius = width + 2
    for n, (pose, tid) in enumerate(zip(keypoints, track_ids)):
        color = track_color(int(tid))
        xy = np.round(pose[:, :2]).astype(np.int64)
        shown = (pose[:, 2] >= score_thr) & np.isfinite(pose[:, :2]).all(axis=1)
        for a, b in skeleton:
            if shown[a] and shown[b]:
                p, q = tuple(map(int, xy[a])), tuple(map(int, xy[b]))
                cv2.line(canvas, p, q, color, width, cv2.LINE_AA)
        for j in np.flatnonzero(shown):
            cv2.circle(canvas, tuple(map(int, xy[j])), radius, color, -1, cv2.LINE_AA)
        if boxes is not None:
            x0, y0, x1, y1 = np.round(np.asarray(boxes[n], dtype=np.float64)).astype(int)
            cv2.rectangle(canvas, (x0, y0), (x1, y1), color, width)
            anchor = (x0, y0 - 4)
        elif shown.any():
            anchor = (int(xy[shown, 0].min()), int(xy[shown, 1].min()) - 2 * radius)
        else:
            continue
        if int(tid) >= 0:
            cv2.putText(
                canvas,
                str(int(tid)),
                anchor,
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * width + 0.1,
                color,
                width,
                cv2.LINE_AA,
            )
    return canvas
