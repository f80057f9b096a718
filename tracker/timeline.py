"""A picture of the tracks: one row per track, frames left to right, gaps and links visible.

Identity breaks show at a glance: a person lost and found again is two rows (or one row with
a gap), and a link made after the online pass joins the end of one row to the start of the
next with a black mark, or, drawn under the linked (final) ids, crosses the gap inside one
row as a black line with a tick at each end (`joins`). Drawn with OpenCV, written next to
`summary.json`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from posenet.files import AtomicFile
from tracker.render import track_color

ROW_HEIGHT = 12  # px per track
ROW_GAP = 2  # px between rows
LABEL_WIDTH = 64  # px for the track ids on the left
AXIS_HEIGHT = 20  # px for the frame axis at the bottom
MAX_WIDTH = 1600  # px for the frames; longer videos share a column between frames
BACKGROUND = (255, 255, 255)
LINK_COLOR = (0, 0, 0)


def frame_columns(num_frames: int, max_width: int = MAX_WIDTH) -> tuple[int, float]:
    """(width, px per frame): whole pixels per frame when they fit, else several frames a pixel."""
    if num_frames <= 0:
        return 1, 1.0
    per_frame = (
        max(1, max_width // num_frames) if num_frames <= max_width else max_width / num_frames
    )
    return int(np.ceil(num_frames * per_frame)), float(per_frame)


def draw_timeline(
    spans: Mapping[int, Iterable[int]],
    num_frames: int,
    links: Iterable[tuple[int, int]] = (),
    max_width: int = MAX_WIDTH,
    joins: Iterable[tuple[int, int, int]] = (),
) -> np.ndarray:
    """An RGB image (H, W, 3): row r shows the frames in which the r-th track (ordered by first
    frame, then id) was seen, in its render colour; `links` (earlier id, later id) are marked
    between two rows, `joins` (track, last frame before a linked gap, first frame after it)
    across the gap in the track's own row."""
    frames = {int(t): np.unique(np.asarray(list(f), dtype=np.int64)) for t, f in spans.items()}
    frames = {t: f[(f >= 0) & (f < num_frames)] for t, f in frames.items()}
    order = sorted((t for t in frames if len(frames[t])), key=lambda t: (frames[t][0], t))
    width, per_frame = frame_columns(num_frames, max_width)
    height = len(order) * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT
    image = np.full((height, LABEL_WIDTH + width, 3), BACKGROUND, np.uint8)
    row_of = {t: r for r, t in enumerate(order)}

    def x_of(frame: int) -> int:
        return LABEL_WIDTH + int(frame * per_frame)

    for track, r in row_of.items():
        top = r * (ROW_HEIGHT + ROW_GAP)
        color = track_color(track)
        for f in frames[track]:
            x0 = x_of(int(f))
            x1 = max(x0 + 1, LABEL_WIDTH + int((f + 1) * per_frame))
            image[top : top + ROW_HEIGHT, x0:x1] = color
        cv2.putText(
            image, str(track), (2, top + ROW_HEIGHT - 2), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 0)
        )
    for earlier, later in links:
        if earlier in row_of and later in row_of:
            end = (x_of(int(frames[earlier][-1]) + 1), row_of[earlier] * (ROW_HEIGHT + ROW_GAP))
            start = (x_of(int(frames[later][0])), row_of[later] * (ROW_HEIGHT + ROW_GAP))
            mid = ROW_HEIGHT // 2
            cv2.line(image, (end[0], end[1] + mid), (start[0], start[1] + mid), LINK_COLOR, 1)
    for track, before, after in joins:
        if int(track) in row_of:
            top = row_of[int(track)] * (ROW_HEIGHT + ROW_GAP)
            x0, x1 = x_of(int(before) + 1), max(x_of(int(after)) - 1, x_of(int(before) + 1))
            image[top + ROW_HEIGHT // 2 - 1 : top + ROW_HEIGHT // 2 + 1, x0 : x1 + 1] = LINK_COLOR
            image[top + 2 : top + ROW_HEIGHT - 2, x0] = LINK_COLOR  # ticks: where it was lost
            image[top + 2 : top + ROW_HEIGHT - 2, x1] = LINK_COLOR  # and where it came back
    axis = height - AXIS_HEIGHT
    image[axis, LABEL_WIDTH:] = (0, 0, 0)
    step = max(1, int(np.ceil(100 / per_frame / 10) * 10)) if num_frames > 10 else 1
    for f in range(0, num_frames, step):
        cv2.putText(image, str(f), (x_of(f), height - 4), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 0))
    return image


def write_timeline(
    path: str | os.PathLike,
    spans: Mapping[int, Iterable[int]],
    num_frames: int,
    links: Iterable[tuple[int, int]] = (),
    joins: Iterable[tuple[int, int, int]] = (),
) -> Path:
    """Draw the timeline and write it as a PNG, atomically."""
    image = draw_timeline(spans, num_frames, links, joins=joins)
    with AtomicFile(path, suffix=".png") as target:
        if not cv2.imwrite(str(target.tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
    return Path(path)
