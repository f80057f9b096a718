"""tools/track_video.py links tracklets after the pass over a folder of frames (issue 22):
given poses where a person is away for 15 frames and comes back under a new online id."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from posenet.posetrack.formats import read_posetrack
from tests.conftest import load_tool
from tests.tracker.test_linking import pose
from tracker.timeline import AXIS_HEIGHT, LABEL_WIDTH, ROW_GAP, ROW_HEIGHT, frame_columns

FRAMES = 45
HIDDEN = range(15, 30)  # B is away these 15 frames
# The online tracker forgets B after 0.2 s (5 frames at the folder's 25 fps): B comes back as
# a new track, which only the offline link can join to the first.
ONLINE = ["--set", "tracking.similarity=oks", "--set", "tracking.lost_seconds=0.2"]


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_video")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A folder of blank frames and a --poses file: A walks right all along, B walks right
    but is missing in HIDDEN."""
    root = tmp_path_factory.mktemp("clip")
    (root / "walk").mkdir()
    images, annotations = [], []
    for t in range(FRAMES):
        cv2.imwrite(str(root / "walk" / f"{t:06d}.png"), np.full((240, 400, 3), 60, np.uint8))
        images.append({"id": t + 1, "file_name": f"walk/{t:06d}.png"})
        people = [pose(40 + 2 * t, 120)] + [pose(220 + 2 * t, 120)] * (t not in HIDDEN)
        for p in people:
            kp = p.ravel().round(2).tolist()
            annotations.append({"image_id": t + 1, "keypoints": kp, "scores": [0.9] * 17})
    (root / "poses.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    return root


def track(tool, clip, out, *args: str) -> dict:
    """Run the tool on the clip; the summary."""
    argv = [str(clip / "walk"), "--out", str(out), "--poses", str(clip / "poses.json")]
    argv += ["--device", "cpu", "--pose-weights", "missing.pth", *ONLINE, *args]
    assert tool.main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def track_ids(path) -> set[int]:
    return {int(i) for f in read_posetrack(path).frames for i in f.track_ids}


def test_a_person_back_under_a_new_id_is_linked_in_json_summary_and_timeline(
    tool, clip, tmp_path, monkeypatch
):
    import tracker.render

    drawn: list[set[int]] = []
    draw = tracker.render.draw_poses

    def record(image, keypoints, track_ids, *args, **kwargs):
        drawn.append({int(i) for i in track_ids})
        return draw(image, keypoints, track_ids, *args, **kwargs)

    monkeypatch.setattr(tracker.render, "draw_poses", record)
    out = tmp_path / "on"
    summary = track(tool, clip, out)
    assert track_ids(out / "walk.json") == {0, 1}
    assert summary["links"] == 1 and summary["linked"] == [[1, 2]] and summary["tracks"] == 2
    # The video is drawn again after the pass: its last frames show the JSON's ids.
    assert len(drawn) == 2 * FRAMES and drawn[-1] == {0, 1} and drawn[FRAMES - 1] == {0, 2}
    timeline = cv2.imread(str(out / "walk_tracks.png"))
    width, _ = frame_columns(FRAMES)
    assert timeline.shape == (2 * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT, LABEL_WIDTH + width, 3)
    assert summary["outputs"]["timeline"] == str(out / "walk_tracks.png")


def test_without_linking_two_ids_and_no_links_in_the_summary(tool, clip, tmp_path):
    out = tmp_path / "off"
    summary = track(tool, clip, out, "--set", "tracking.link=off", "--no-render")
    assert track_ids(out / "walk.json") == {0, 1, 2}
    assert "links" not in summary and summary["tracks"] == 3
    timeline = cv2.imread(str(out / "walk_tracks.png"))
    assert timeline.shape[0] == 3 * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT


def test_fill_gaps_fills_the_linked_gap(tool, clip, tmp_path):
    out = tmp_path / "fill"
    args = ["--set", "tracking.fill_gaps=15", "--no-render", "--no-timeline"]
    summary = track(tool, clip, out, *args)
    frames = read_posetrack(out / "walk.json").frames
    assert [len(f) for f in frames] == [2] * FRAMES and summary["people"] == 2 * FRAMES
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "walk.json"]


def test_json_lines_stay_online(tool, clip, tmp_path):
    out = tmp_path / "jsonl"
    summary = track(tool, clip, out, "--format", "jsonl", "--no-render")
    lines = (out / "walk.jsonl").read_text().splitlines()
    assert {p["track_id"] for line in lines for p in json.loads(line)["people"]} == {0, 1, 2}
    assert "links" not in summary
