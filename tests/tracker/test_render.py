"""draw_poses / track_color on a blank image with joints at known places."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tracker.render import draw_poses, track_color


def person(points: dict[int, tuple[float, float, float]]) -> np.ndarray:
    """A (17, 3) COCO pose with the given joints set and every other joint at score 0."""
    pose = np.zeros((17, 3))
    for j, (x, y, s) in points.items():
        pose[j] = (x, y, s)
    return pose


def test_joints_limbs_and_threshold():
    blank = np.zeros((160, 160, 3), np.uint8)
    a = person({0: (30, 40, 0.9), 9: (130, 140, 0.1), 5: (100, 40, 0.8), 7: (100, 100, 0.8)})
    b = person({0: (60, 130, 0.95)})
    out = draw_poses(blank, np.stack([a, b]), [7, 8], score_thr=0.3)
    assert blank.max() == 0  # input untouched
    assert tuple(out[40, 30]) == track_color(7)  # nose of track 7
    assert tuple(out[70, 100]) == track_color(7)  # on the shoulder-elbow limb
    assert tuple(out[130, 60]) == track_color(8)
    assert out[135:146, 125:136].max() == 0  # low-score wrist not drawn
    assert out[40, 60:90].max() == 0  # nose-shoulder is not a limb
    assert track_color(7) != track_color(8)


def test_box_drawn_in_track_colour():
    out = draw_poses(
        np.zeros((100, 100, 3), np.uint8),
        person({0: (50, 50, 1.0)})[None],
        np.array([3]),
        boxes=np.array([[20.0, 30.0, 80.0, 90.0]]),
    )
    assert tuple(out[60, 20]) == track_color(3)  # left edge of the box
    assert tuple(out[90, 50]) == track_color(3)  # bottom edge
    assert out[60, 40].max() == 0  # inside the box, away from the joint


def test_no_people_returns_copy():
    image = np.full((20, 30, 3), 7, np.uint8)
    out = draw_poses(image, np.zeros((0, 17, 3)), np.zeros(0, int))
    assert out is not image and np.array_equal(out, image)


def test_mismatched_ids_rejected():
    with pytest.raises(ValueError, match="2 poses but 1 track ids"):
        draw_poses(np.zeros((10, 10, 3), np.uint8), np.zeros((2, 17, 3)), [1])


def test_track_colors_distinct_for_neighbours():
    colors = np.array([track_color(i) for i in range(500)], dtype=int)
    assert colors.min() >= 0 and colors.max() <= 255
    for gap in range(1, 6):
        distance = np.abs(colors[gap:] - colors[:-gap]).sum(axis=1)
        assert distance.min() > 60, gap


def test_track_color_stable_across_processes():
    code = "from tracker.render import track_color as c; print([c(i) for i in (0, 1, 41, 1234)])"
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1] == str([track_color(i) for i in (0, 1, 41, 1234)]) + "\n"
