"""Inputs of a batch (globs, list files, URLs), safe names of sources, and when a finished
video counts as complete."""

from __future__ import annotations

import json

import pytest

from posenet.errors import DataError
from tracker.output import TrackingSummary, write_summary
from tracker.run import Job, expand_inputs, is_complete
from tracker.video import source_kind, source_name


def test_expand_globs_lists_and_live_sources(tmp_path):
    for name in ("b.mp4", "a.mp4", "c.avi"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "frames").mkdir()
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\n\nframes\nrtsp://cam.local/live\n" + str(tmp_path / "c.avi"))
    got = expand_inputs([str(tmp_path / "*.mp4"), str(listing), "0", str(tmp_path / "a.mp4")])
    assert got == [
        str(tmp_path / "a.mp4"),
        str(tmp_path / "b.mp4"),
        str(tmp_path / "frames"),
        "rtsp://cam.local/live",
        str(tmp_path / "c.avi"),
        "0",
    ]
    # A URL's query is not a glob.
    assert expand_inputs(["https://example.com/v.mp4?x=1"]) == ["https://example.com/v.mp4?x=1"]
    with pytest.raises(DataError, match=r"\*\.mkv"):
        expand_inputs([str(tmp_path / "*.mkv")])


@pytest.mark.parametrize(
    "source, kind, name",
    [
        ("https://example.com/media/demo.mp4?raw=1", "url", "demo"),
        ("rtsp://user:pw@10.0.0.5:554/", "stream", "10.0.0.5_554"),
        ("rtmp://host/live/cam 1", "stream", "cam_1"),
        ("0", "camera", "camera0"),
        ("/dev/video2", "camera", "camera2"),
        ("clips/run.mp4", "file", "run"),
    ],
)
def test_source_kinds_and_safe_names(source, kind, name):
    assert source_kind(source) == kind
    assert source_name(source) == name


def test_complete_needs_the_summary_and_every_output(tmp_path):
    out = tmp_path / "v.json"
    job = Job("v", "v.mp4", tmp_path / "summary.json", [out])
    assert not is_complete(job)  # nothing yet
    write_summary(TrackingSummary(source="v.mp4", complete=False), job.summary_path)
    out.write_text("{}")
    assert not is_complete(job)  # marked unfinished
    write_summary(TrackingSummary(source="v.mp4"), job.summary_path)
    assert is_complete(job)
    out.unlink()
    assert not is_complete(job)  # an output is gone
    out.write_text("{}")
    job.summary_path.write_text('{"complete": tr')  # cut short
    assert not is_complete(job)


def test_summary_read_back_merges_like_the_original():
    a = TrackingSummary(source="a", frames=4, people=6, max_people=2, track_ids={3, 5})
    a.stage_seconds = {"pose": 1.0}
    back = TrackingSummary.from_dict(json.loads(json.dumps(a.to_dict())))
    total, again = TrackingSummary(source="all"), TrackingSummary(source="all")
    total.merge(a)
    again.merge(back)
    assert total.to_dict() == again.to_dict()
