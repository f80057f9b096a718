"""TrackingOutput and TrackingSummary (tracker.output): notes, merging."""

import numpy as np

from posenet.posetrack.formats import read_posetrack
from tracker.output import TrackingOutput, TrackingSummary
from tracker.types import FrameResult


def test_derived_head_joints_are_noted(tmp_path):
    kp = np.zeros((1, 17, 3))
    kp[0, :, :2] = np.arange(34).reshape(17, 2) + 10
    kp[0, :, 2] = 0.8
    box = np.array([[0, 0, 50, 50.0]])
    result = FrameResult(0, "a.jpg", kp, np.array([3]), box, np.array([0.7]))
    with TrackingOutput(tmp_path / "a.json", "a") as out:
        out.write(result)
    frame = read_posetrack(tmp_path / "a.json").frames[0]
    np.testing.assert_allclose(frame.keypoints[0, 1, :2], kp[0, 5:7, :2].mean(0))  # neck
    assert frame.track_ids.tolist() == [3]
    assert any("head_top" in note for note in out.summary.notes)


def test_a_video_without_people_says_so(tmp_path):
    empty = FrameResult(
        0, "a.jpg", np.zeros((0, 17, 3)), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0)
    )
    with TrackingOutput(tmp_path / "a.json", "a") as out:
        out.write(empty)
    assert any("no person was found" in note for note in out.summary.notes)
    assert len(read_posetrack(tmp_path / "a.json").frames) == 1
    kp = np.zeros((1, 17, 3))
    kp[0, :, :2], kp[0, :, 2] = 20.0, 0.8
    one = FrameResult(0, "b.jpg", kp, np.array([1]), np.array([[0, 0, 50, 50.0]]), np.ones(1))
    with TrackingOutput(tmp_path / "b.json", "b") as out:
        out.write(one)
    assert not any("no person was found" in note for note in out.summary.notes)


def _result(index: int, ids: list[int]) -> FrameResult:
    n = len(ids)
    kp = np.ones((n, 17, 3))
    return FrameResult(
        index,
        f"{index:06d}.jpg",
        kp,
        np.array(ids, np.int64),
        np.tile([0.0, 0, 9, 9], (n, 1)),
        np.ones(n),
    )


def test_summaries_merge_counts_tracks_per_source_and_notes():
    a, b = TrackingSummary(source="a"), TrackingSummary(source="b")
    for r in (_result(0, [0, 1]), _result(1, [0, 1, 2])):
        a.add(r)
    b.add(_result(0, [0]))
    a.notes.append("same note")
    b.notes += ["same note", "only b"]
    b.complete = False
    a.inputs["detections"] = {"video_frames": 2, "video_frames_without_entry": 1}
    b.inputs["detections"] = {"video_frames": 1, "video_frames_without_entry": 0}
    total = TrackingSummary(source="split")
    total.merge(a)
    total.merge(b)
    d = total.to_dict()
    assert (d["frames"], d["people"], d["max_people_per_frame"]) == (3, 6, 3)
    assert d["tracks"] == 4  # ids 0-2 of a and id 0 of b are different people
    assert d["notes"] == ["same note", "only b"]
    assert d["complete"] is False
    assert d["inputs"] == {"detections": {"video_frames": 3, "video_frames_without_entry": 1}}


def test_jsonl_lines_are_flushed_per_frame_and_never_nan(tmp_path):
    import json

    import numpy as np

    from tracker.output import JsonlWriter

    path = tmp_path / "live.jsonl"
    writer = JsonlWriter(path, fps=10.0)
    keypoints = np.full((1, 17, 3), 5.0)
    keypoints[0, 3] = np.nan
    writer.add_frame("000007.jpg", 7, keypoints, np.array([4]), np.array([[1.0, 2, 3, 4]]), [0.5])
    line = json.loads(path.read_text())  # readable before close: a live run is followed
    assert line["frame"] == 7 and line["time"] == 0.7
    assert line["people"][0]["keypoints"][3] == [None, None, None]
    assert line["people"][0]["track_id"] == 4 and line["people"][0]["box"] == [1, 2, 3, 4]
    writer.add_frame("000008.jpg", 8, np.zeros((0, 17, 3)), np.zeros(0), np.zeros((0, 4)), [])
    writer.close()
    assert [json.loads(x)["frame"] for x in path.read_text().splitlines()] == [7, 8]


def test_from_config_takes_the_output_section(tmp_path):
    from tracker.config import OutputConfig

    cfg = OutputConfig(format="posetrack17", render_thr=0.6, derive_head=False)
    out = TrackingOutput.from_config(cfg, tmp_path / "a.json", "a", fps=30.0, source="src")
    assert (out.render_thr, out.derive_head, out.fps, out.video_path) == (0.6, False, 30.0, None)
    assert out.summary.outputs == {"posetrack17": str(tmp_path / "a.json")}
    assert out.summary.source == "src"
    out.close()
    jsonl = TrackingOutput.from_config(OutputConfig(format="jsonl"), tmp_path / "b.jsonl", "b")
    assert jsonl.jsonl
    jsonl.close()


def test_summary_is_written_atomically_and_leaves_no_temp_file(tmp_path):
    import json

    from tracker.output import write_summary

    path = tmp_path / "summary.json"
    path.write_text("old")
    summary = TrackingSummary(source="a")
    summary.add(_result(0, [4]))
    write_summary(summary, path)
    assert json.loads(path.read_text())["tracks"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_abort_of_a_jsonl_run_leaves_no_file(tmp_path):
    out = TrackingOutput(tmp_path / "a.jsonl", "a", format="jsonl")
    out.abort()
    assert list(tmp_path.iterdir()) == []
