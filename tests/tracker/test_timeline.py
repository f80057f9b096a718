"""The track timeline is an image whose rows show exactly the frames each track was seen in."""

import cv2
import numpy as np

from tracker.render import track_color
from tracker.timeline import (
    AXIS_HEIGHT,
    LABEL_WIDTH,
    ROW_GAP,
    ROW_HEIGHT,
    draw_timeline,
    write_timeline,
)


def test_rows_show_the_seen_frames_in_the_tracks_colour_and_gaps_in_white():
    spans = {7: [0, 1, 2, 6, 7], 3: [4, 5, 6, 7, 8, 9]}  # track 7 starts first: row 0
    image = draw_timeline(spans, num_frames=10, max_width=100)
    per_frame = 10  # 100 px for 10 frames
    assert image.shape == (2 * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT, LABEL_WIDTH + 100, 3)
    row0 = image[ROW_HEIGHT // 2, LABEL_WIDTH:]  # a line through the middle of track 7's row
    seen = [tuple(row0[f * per_frame + per_frame // 2]) for f in range(10)]
    for f in range(10):
        expected = track_color(7) if f in spans[7] else (255, 255, 255)
        assert seen[f] == expected, f
    row1 = image[ROW_HEIGHT + ROW_GAP + ROW_HEIGHT // 2, LABEL_WIDTH:]
    assert tuple(row1[4 * per_frame + 5]) == track_color(3)
    assert tuple(row1[3 * per_frame + 5]) == (255, 255, 255)


def test_a_link_is_drawn_between_the_rows_and_long_videos_fit_the_width(tmp_path):
    spans = {1: range(0, 40), 2: range(60, 100)}
    plain = draw_timeline(spans, 100, max_width=200)
    linked = draw_timeline(spans, 100, links=[(1, 2)], max_width=200)
    gap = (slice(0, 2 * (ROW_HEIGHT + ROW_GAP)), slice(LABEL_WIDTH + 82, LABEL_WIDTH + 118))
    assert (plain[gap] == 255).all() and (linked[gap] == 0).all(axis=-1).any()
    wide = draw_timeline({1: range(0, 5000, 2)}, 5000, max_width=1000)
    assert wide.shape[1] == LABEL_WIDTH + 1000
    path = write_timeline(tmp_path / "timeline.png", spans, 100)
    assert cv2.imread(str(path)).shape[:2] == draw_timeline(spans, 100).shape[:2]
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.png"]


def test_no_tracks_gives_an_axis_only_image():
    image = draw_timeline({}, 5)
    assert image.shape[0] == AXIS_HEIGHT and np.any(image == 0)


def test_a_linked_gap_inside_one_row_is_crossed_by_a_black_line():
    spans = {4: [*range(0, 3), *range(7, 10)]}  # one track after linking, away in frames 3-6
    plain = draw_timeline(spans, 10, max_width=100)
    joined = draw_timeline(spans, 10, max_width=100, joins=[(4, 2, 7)])
    middle = ROW_HEIGHT // 2
    gap = slice(LABEL_WIDTH + 30, LABEL_WIDTH + 70)  # frames 3-6, 10 px each
    assert (plain[middle, gap] == 255).all()
    assert (joined[middle, gap] == 0).all()
    assert (joined[1, gap] == 255).all()  # a line, not a filled box
    seen = LABEL_WIDTH + 85  # frame 8: the track's colour either way
    assert (joined[middle, seen] == plain[middle, seen]).all()
    assert (draw_timeline(spans, 10, max_width=100, joins=[(9, 2, 7)]) == plain).all()
