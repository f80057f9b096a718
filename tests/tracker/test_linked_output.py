"""Offline linking in the outputs of a finite run: linked ids in the JSON, the summary, the
video and the timeline; gaps of linked tracks filled; no link over streams or JSON lines."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace

import cv2
import numpy as np
import pytest

from posenet.errors import ConfigError
from posenet.posetrack.formats import read_posetrack
from tests.tracker.test_linking import pose
from tracker.config import link_config, load_tracker_config
from tracker.linked import Spans
from tracker.linking import LinkConfig
from tracker.output import ONLINE_IDS_NOTE, UNLINKED_NOTE, TrackingOutput, TrackingSummary
from tracker.timeline import AXIS_HEIGHT, ROW_GAP, ROW_HEIGHT
from tracker.types import Frame, FrameResult

FRAMES = 40
HIDDEN = range(12, 27)  # person B is away these 15 frames and comes back as a new online id
LINK = LinkConfig()


def results(b_back: int = HIDDEN.stop) -> list[FrameResult]:
    """Online results: A (id 0) walks right all along; B walks right as id 1 until HIDDEN
    starts, and as id 2 from `b_back` (before HIDDEN ends: the two tracklets overlap)."""
    out = []
    for t in range(FRAMES):
        people = [(0, pose(40 + 2 * t, 120))]
        if t < HIDDEN.start:
            people.append((1, pose(220 + 2 * t, 120)))
        if t >= b_back:
            people.append((2, pose(220 + 2 * t, 120)))
        ids = np.array([i for i, _ in people], np.int64)
        kp = np.stack([p for _, p in people])
        boxes = np.array([[*p[:, :2].min(0), *p[:, :2].max(0)] for _, p in people])
        out.append(FrameResult(t, f"{t:06d}.png", kp, ids, boxes, np.full(len(ids), 0.9)))
    return out


def write(tmp_path, link=LINK, fill_gaps=0, format="posetrack18", complete=True, **kw):
    """Write `given` (default `results()`) through a TrackingOutput; (output, summary)."""
    given = kw.pop("given", None) or results()
    output = TrackingOutput(
        tmp_path / "v.json", "v", format=format, link=link, fill_gaps=fill_gaps, **kw
    )
    for result in given:
        output.write(result)
    summary = output.close(complete, tmp_path / "summary.json")
    return output, summary


def ids_per_frame(path) -> list[list[int]]:
    return [sorted(f.track_ids.tolist()) for f in read_posetrack(path).frames]


def test_a_person_back_under_a_new_id_gets_their_first_id_in_json_and_summary(tmp_path):
    _, summary = write(tmp_path)
    frames = ids_per_frame(tmp_path / "v.json")
    assert frames[0] == [0, 1] and frames[HIDDEN.start] == [0] and frames[-1] == [0, 1]
    assert {i for f in frames for i in f} == {0, 1}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["links"] == 1 and saved["linked"] == [[1, 2]] and saved["tracks"] == 2
    assert summary.people == sum(len(r) for r in results())
    assert "link" in saved["seconds_per_stage"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json", "v.json"]  # no spool


def test_posetrack17_is_relabelled_too(tmp_path):
    write(tmp_path, format="posetrack17")
    assert {i for f in ids_per_frame(tmp_path / "v.json") for i in f} == {0, 1}


def test_without_linking_the_two_tracklets_keep_their_ids(tmp_path):
    _, summary = write(tmp_path, link=None)
    assert {i for f in ids_per_frame(tmp_path / "v.json") for i in f} == {0, 1, 2}
    assert "links" not in summary.to_dict()


def test_tracklets_that_overlap_in_time_are_never_linked(tmp_path):
    overlapping = results(b_back=HIDDEN.start - 1)  # id 2 starts while id 1 is still seen
    _, summary = write(tmp_path, given=overlapping)
    assert summary.links == 0 and summary.linked == []
    assert {i for f in ids_per_frame(tmp_path / "v.json") for i in f} == {0, 1, 2}


@pytest.mark.parametrize(("fill_gaps", "filled"), [(15, True), (14, False), (0, False)])
def test_a_linked_gap_is_filled_when_fill_gaps_reaches_it(tmp_path, fill_gaps, filled):
    _, summary = write(tmp_path, fill_gaps=fill_gaps)
    seq = read_posetrack(tmp_path / "v.json")
    gap = [seq.frames[t] for t in HIDDEN]
    assert all(sorted(f.track_ids.tolist()) == ([0, 1] if filled else [0]) for f in gap)
    people = sum(len(r) for r in results())
    assert summary.people == people + len(HIDDEN) * filled
    if filled:  # halfway along the straight line between where B left and came back
        middle = seq.frames[HIDDEN.start + 7]
        b = middle.keypoints[list(middle.track_ids).index(1)]
        left, back = pose(220 + 2 * (HIDDEN.start - 1), 120), pose(220 + 2 * HIDDEN.stop, 120)
        w = 8 / (len(HIDDEN) + 1)
        expected = (1 - w) * left[:, :2] + w * back[:, :2]
        shared = [0, *range(5, 17)]  # the joints PoseTrack-2018 shares with COCO
        np.testing.assert_allclose(b[shared, :2], expected[shared], atol=0.01)


def test_an_interrupted_run_is_not_linked_and_says_so(tmp_path):
    _, summary = write(tmp_path, complete=False)
    assert summary.links is None and UNLINKED_NOTE in summary.notes
    assert {i for f in ids_per_frame(tmp_path / "v.json") for i in f} == {0, 1, 2}


def test_jsonl_from_config_is_written_live_and_never_linked(tmp_path):
    cfg = load_tracker_config("default", ["output.format=jsonl"])
    output = TrackingOutput.from_config(
        cfg.output, tmp_path / "v.jsonl", "v", source="v.mp4", tracking=cfg.tracking, kind="file"
    )
    assert output.linker is None
    for result in results():
        output.write(result)
    output.close()
    lines = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert {p["track_id"] for line in lines for p in line["people"]} == {0, 1, 2}


def test_link_auto_is_on_for_files_and_folders_only():
    cfg = load_tracker_config("default")
    assert link_config(cfg.tracking, "posetrack18", "file") == LinkConfig()
    assert link_config(cfg.tracking, "posetrack17", "folder") is not None
    for kind in ("stream", "camera", "url"):
        assert link_config(cfg.tracking, "posetrack18", kind) is None
    assert link_config(cfg.tracking, "jsonl", "file") is None
    on = load_tracker_config("default", ["tracking.link=on", "tracking.link_max_gap=9"])
    assert link_config(on.tracking, "posetrack18", "stream").max_gap == 9
    off = load_tracker_config("default", ["tracking.link=off"])  # YAML reads off as false
    assert off.tracking.link == "off" and link_config(off.tracking, "posetrack18", "file") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tracking.link=sometimes"], "tracking.link must be one of auto, on, off"),
        (["tracking.link=on", "output.format=jsonl"], "tracking.link=on needs a PoseTrack"),
        (["tracking.link_max_gap=0"], "tracking.link_max_gap must be >= 1"),
        (["tracking.link_min_score=2"], "tracking.link_min_score must be in [0, 1]"),
        (["tracking.link_reach=0"], "tracking.link_reach must be > 0"),
    ],
)
def test_bad_link_keys_fail_at_load(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_tracker_config("default", overrides)


def test_the_timeline_has_one_row_per_final_track(tmp_path):
    for link, rows in ((LINK, 2), (None, 3)):
        folder = tmp_path / str(rows)
        folder.mkdir()
        write(folder, link=link, timeline_path=folder / "v_tracks.png")
        image = cv2.imread(str(folder / "v_tracks.png"))
        assert image.shape[0] == rows * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT


def test_spans_keep_runs_not_frames():
    spans = Spans()
    for ids in ([1], [1, 2], [2], [2], [1], []):
        spans.add(ids)
    assert spans.ranges == {1: [[0, 2], [4, 5]], 2: [[1, 4]]}
    merged = {t: list(f) for t, f in spans.frames({1: 1, 2: 1}).items()}
    assert merged == {1: [0, 1, 1, 2, 3, 4]} and spans.num_frames == 6
    assert {t: list(f) for t, f in spans.frames({2: 7}).items()} == {7: [1, 2, 3]}  # 1 unwritten
    assert set(spans.frames()) == {1, 2}


def test_the_video_is_drawn_again_with_the_linked_ids(tmp_path, monkeypatch):
    import tracker.render

    drawn: list[list[int]] = []
    draw = tracker.render.draw_poses

    def record(image, keypoints, track_ids, *args, **kwargs):
        drawn.append(sorted(int(i) for i in track_ids))
        return draw(image, keypoints, track_ids, *args, **kwargs)

    monkeypatch.setattr(tracker.render, "draw_poses", record)
    image = np.zeros((240, 400, 3), np.uint8)
    online = [FrameResult(**{**r.__dict__, "image": image}) for r in results()]
    frames = [Frame(t, image, f"{t:06d}.png") for t in range(FRAMES)]
    video = tmp_path / "v.mp4"
    reread = lambda: nullcontext(frames)  # noqa: E731
    _, summary = write(tmp_path, given=online, video_path=video, reread=reread)
    assert drawn[:FRAMES] == [sorted(r.track_ids.tolist()) for r in results()]  # online pass
    assert drawn[FRAMES:] == ids_per_frame(tmp_path / "v.json")  # drawn again: the JSON's ids
    assert video.exists() and ONLINE_IDS_NOTE not in summary.notes
    drawn.clear()
    _, summary = write(tmp_path, given=online, video_path=video)  # the source cannot be reread
    assert len(drawn) == FRAMES and ONLINE_IDS_NOTE in summary.notes


def test_merged_summaries_count_the_links_of_their_videos(tmp_path):
    _, one = write(tmp_path)
    merged = TrackingSummary(source="batch")
    merged.merge(one)
    merged.merge(TrackingSummary.from_dict(one.to_dict()))  # a video skipped on a rerun
    merged.merge(TrackingSummary(source="not linked"))
    assert one.to_dict()["linked"] == [[1, 2]]
    assert merged.to_dict()["links"] == 2 and "linked" not in merged.to_dict()


def swapped() -> list[FrameResult]:
    """A (id 0) walks right, B (id 1) walks left; both are hidden over HIDDEN, where they
    cross, and the online pass takes them back swapped: A as id 1, B as id 0."""
    out = []
    for t in range(FRAMES):
        if t in HIDDEN:
            people = []
        else:
            back = t >= HIDDEN.stop
            people = [
                (1 if back else 0, pose(40 + 8 * t, 120)),
                (0 if back else 1, pose(340 - 8 * t, 120)),
            ]
        ids = np.array([i for i, _ in people], np.int64)
        kp = np.stack([p for _, p in people]) if people else np.zeros((0, 17, 3))
        boxes = np.array([[*p[:, :2].min(0), *p[:, :2].max(0)] for _, p in people]).reshape(-1, 4)
        out.append(FrameResult(t, f"{t:06d}.png", kp, ids, boxes, np.full(len(ids), 0.9)))
    return out


def a_ids(path) -> set[int]:
    """The ids written for A (left of x = 190, where they cross, before HIDDEN; right after)."""
    seq = read_posetrack(path)
    out = set()
    for t, frame in enumerate(seq.frames):
        for track_id, kp in zip(frame.track_ids.tolist(), frame.keypoints):
            if (kp[5:, 0].mean() < 190) == (t < HIDDEN.start):
                out.add(track_id)
    return out


def test_an_online_swap_after_a_gap_is_undone_by_linking(tmp_path):
    _, summary = write(tmp_path, given=swapped())
    assert a_ids(tmp_path / "v.json") == {0}
    assert sorted(summary.linked) == [(0, 1), (1, 0)] and len(summary.track_ids) == 2
    kept = LinkConfig(split_gap=0)  # the online joins are not re-judged: the swap stays
    folder = tmp_path / "kept"
    folder.mkdir()
    _, summary = write(folder, link=kept, given=swapped())
    assert a_ids(folder / "v.json") == {0, 1} and summary.links == 0


def test_a_newcomer_given_a_lost_id_gets_a_new_one_when_linking_takes_the_id_back(tmp_path):
    # A (id 0) is hidden over HIDDEN; then the online pass gives id 0 to C, who walks in far
    # right, and A comes back as id 2. Linking joins A's two tracklets under 0, so C, seen
    # beside A, must be written under an id of its own.
    given = []
    for t in range(FRAMES):
        people = [] if t in HIDDEN else [(2 if t >= HIDDEN.stop else 0, pose(40 + 2 * t, 120))]
        if t >= HIDDEN.stop:
            people.append((0, pose(600, 120)))
        kp = np.stack([p for _, p in people]) if people else np.zeros((0, 17, 3))
        boxes = np.array([[*p[:, :2].min(0), *p[:, :2].max(0)] for _, p in people]).reshape(-1, 4)
        ids = np.array([i for i, _ in people], np.int64)
        given.append(FrameResult(t, f"{t:06d}.png", kp, ids, boxes, np.full(len(ids), 0.9)))
    _, summary = write(tmp_path, given=given)
    frames = ids_per_frame(tmp_path / "v.json")
    assert summary.linked == [(0, 2)]
    assert frames[0] == [0] and frames[-1] == [0, 3]  # A keeps 0, C gets the next free id


def with_glimpses(result: FrameResult, glimpses: dict[int, np.ndarray]) -> FrameResult:
    """`result` with people of never-confirmed tracks (tentative id -> pose) set aside."""
    ids = np.array(list(glimpses), np.int64)
    kp = np.stack(list(glimpses.values()))
    boxes = np.array([[*p[:, :2].min(0), *p[:, :2].max(0)] for p in kp])
    hidden = FrameResult(result.index, result.name, kp, ids, boxes, np.full(len(ids), 0.9))
    return replace(result, unconfirmed=hidden)


def test_a_glimpse_in_a_linked_gap_is_kept_a_stray_one_is_not(tmp_path):
    # B (id 1, then 2) is hidden over HIDDEN but for one frame the online pass saw and never
    # confirmed (tentative id 90, where B walks); tentative id 91 is a stray pose far away.
    given = results()
    seen = HIDDEN.start + 7
    given[seen] = with_glimpses(given[seen], {90: pose(220 + 2 * seen, 120), 91: pose(600, 400)})
    _, summary = write(tmp_path, given=given)
    frames = ids_per_frame(tmp_path / "v.json")
    assert frames[seen] == [0, 1] and frames[seen - 1] == [0]
    assert summary.glimpses == 1 and summary.people == sum(len(r) for r in results()) + 1
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["linked_glimpses"] == 1 and saved["links"] == 1
    unlinked = tmp_path / "unlinked"
    unlinked.mkdir()
    write(unlinked, link=None, given=given)  # online only: never shown
    assert ids_per_frame(unlinked / "v.json")[seen] == [0]
