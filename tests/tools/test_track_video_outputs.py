"""tools/track_video.py and its outputs at the edges (issue 21): an output never replaces an
input, outputs never collide, one run per --out, runs that track nothing or hit a full disk
keep the earlier outputs, leftovers of killed runs go, people at the ends of the input are
shown, and random weights are said. Tiny synthetic inputs made here; --poses or replayed
detections, so no trained net is needed."""

from __future__ import annotations

import errno
import json
import os

import pytest

from posenet.cli import LOCK_NAME, output_lock
from posenet.files import HOST
from posenet.posetrack.formats import read_posetrack
from tests.conftest import load_tool
from tests.tools.test_track_video import FAST
from tests.tools.test_track_video_reliability import given, outputs_of, run, summary_of
from tests.tracker.test_poses import pose_file
from tests.tracker.test_video import write_test_video

DEAD_PID = 4_000_000  # above Linux's pid_max: no process has it


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_video")


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "v.mp4"
    write_test_video(path, 5)
    return path


def detections_for(path, frames: int = 5):
    """Replayed person boxes (one per frame) for --detections."""
    entries = [{"image_id": t, "bbox": [10, 8, 20, 30], "score": 0.9} for t in range(frames)]
    path.write_text(json.dumps(entries))
    return path


def one_line_error(code: int, err: str) -> str:
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- 1. outputs never replace inputs


def test_an_output_that_is_an_input_is_refused_before_any_work(tool, tmp_path, video, capsys):
    before = video.read_bytes()
    # --out is the video's folder: v.mp4 (the render) would write over the input.
    err = one_line_error(*run(tool, [video, "--out", tmp_path, *given(tmp_path)], capsys))
    assert f"--out {tmp_path / 'v.mp4'}: is the input" in err
    assert video.read_bytes() == before and not (tmp_path / "summary.json").exists()
    # The same through a symlinked folder, and with the pose file where the tracks would go.
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    err = one_line_error(*run(tool, [video, "--out", link, *given(tmp_path)], capsys))
    assert "is the input" in err and video.read_bytes() == before
    out = tmp_path / "out"
    out.mkdir()
    poses = pose_file(out / "v.json", range(5))
    args = [video, "--out", out, "--no-render", "--poses", poses, "--device", "cpu"]
    assert "is the input" in one_line_error(*run(tool, args, capsys))
    # Several inputs: a detection file where the merged summary goes.
    detections = detections_for(out / "summary.json")
    args = [video, video.with_name("w.mp4"), "--out", out, "--detections", detections, *FAST]
    err = one_line_error(*run(tool, args, capsys))
    assert f"--out {out / 'summary.json'}: is the input {detections}" in err


# ---------------------------------------------------------------- 2. outputs never collide


def test_a_video_called_summary_keeps_its_tracks(tool, tmp_path, capsys):
    video = tmp_path / "summary.mp4"
    write_test_video(video, 3)
    out = tmp_path / "out"
    code, err = run(tool, [video, "--out", out, *given(tmp_path, range(3))], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "summary.json",
        "summary_video.json",
        "summary_video.mp4",
        "summary_video_tracks.png",  # the timeline (tracker.timeline)
    ]
    assert len(read_posetrack(out / "summary_video.json").frames) == 3
    assert summary_of(out)["outputs"]["posetrack18"] == str(out / "summary_video.json")


def test_two_inputs_of_one_name_get_their_own_folders(tool, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_test_video(tmp_path / folder / "clip.mp4", 3 if folder == "a" else 4)
    write_test_video(tmp_path / "summary.mp4", 2)
    out = tmp_path / "out"
    sources = [tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "summary.mp4"]
    detections = detections_for(tmp_path / "dets.json")
    args = [*sources, "--out", out, "--no-render", "--detections", detections, *FAST]
    code, err = run(tool, args, capsys)
    assert code == 0, err
    for name, frames in (("clip", 3), ("clip-2", 4)):
        assert len(read_posetrack(out / name / f"{name}.json").frames) == frames
        assert summary_of(out / name)["complete"] is True
    assert len(read_posetrack(out / "summary" / "summary_video.json").frames) == 2
    assert summary_of(out)["frames"] == 9
    # A rerun finds every video complete under the same names.
    code, err = run(tool, args, capsys)
    assert code == 0 and summary_of(out)["skipped"] == 3


# ---------------------------------------------------------------- 3. one run per --out


def test_a_second_run_on_the_same_out_refuses_naming_the_first(tool, tmp_path, video, capsys):
    out = tmp_path / "out"
    with output_lock(out):  # another run holds the folder
        err = one_line_error(*run(tool, [video, "--out", out, *given(tmp_path)], capsys))
        assert f"--out {out}: another run is writing there (pid {os.getpid()}" in err
        detections = detections_for(tmp_path / "dets.json")
        args = [video, tmp_path / "w.mp4", "--out", out, "--detections", detections, *FAST]
        assert "another run is writing there" in one_line_error(*run(tool, args, capsys))
    assert not out.exists()  # the refused runs wrote nothing
    # A lock file left by a killed run (no process holds it) does not block.
    out.mkdir()
    (out / LOCK_NAME).write_text("pid 4000000 on elsewhere: killed")
    code, err = run(tool, [video, "--out", out, "--no-render", *given(tmp_path)], capsys)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["summary.json", "v.json", "v_tracks.png"]


# ------------------------------------------------------- 4. a range past the end changes nothing


@pytest.mark.parametrize("format", ["posetrack18", "posetrack17", "jsonl"])
@pytest.mark.parametrize("container", ["mp4", "mkv"])  # mkv: length unknown until the end
def test_a_run_that_tracks_no_frame_leaves_every_output_as_it_was(
    tool, tmp_path, capsys, format, container
):
    video = tmp_path / f"v.{container}"
    write_test_video(video, 5)
    out = tmp_path / "out"
    args = [video, "--out", out, "--format", format, *given(tmp_path)]
    assert run(tool, args, capsys)[0] == 0
    before = outputs_of(out)
    suffix = "jsonl" if format == "jsonl" else "json"
    assert set(before) == {f"v.{suffix}", "v.mp4", "v_tracks.png", "summary.json"}
    err = one_line_error(*run(tool, [*args, "--start", "100"], capsys))
    assert "no frame" in err and "100" in err
    assert outputs_of(out) == before  # byte for byte, and no stray temp or marker file


# ---------------------------------------------------------------- 5. a full disk


def no_space_at(monkeypatch, owner, method: str, after: int) -> None:
    """Make owner.method raise ENOSPC from its (after+1)-th call on."""
    original = getattr(owner, method)
    calls = []

    def full(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, full)


@pytest.mark.parametrize(
    "where, file",
    [("video", "v.mp4"), ("posetrack", "v.json"), ("summary", "summary.json")],
)
def test_a_full_disk_is_one_line_and_keeps_the_earlier_outputs(
    tool, tmp_path, video, capsys, monkeypatch, where, file
):
    from pathlib import Path

    from posenet.posetrack.formats import PoseTrack18Writer
    from tracker.video_writer import VideoWriter

    out = tmp_path / "out"
    args = [video, "--out", out, *given(tmp_path)]
    assert run(tool, args, capsys)[0] == 0
    before = outputs_of(out)
    if where == "video":
        no_space_at(monkeypatch, VideoWriter, "write", after=2)
    elif where == "posetrack":
        no_space_at(monkeypatch, PoseTrack18Writer, "_write_frame", after=2)
    else:  # the summary, written after every frame went well
        original = Path.write_text

        def full(self, *a, **k):
            if self.name.startswith(".summary.json."):
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(self, *a, **k)

        monkeypatch.setattr(Path, "write_text", full)
    err = one_line_error(*run(tool, args, capsys))
    assert "no space left on " in err and f"while writing {out / file}" in err
    assert outputs_of(out) == before


def test_a_full_disk_in_jsonl_keeps_whole_lines(tool, tmp_path, video, capsys, monkeypatch):
    """JSONL is written in place (followed live): the lines so far stay, whole, and the
    summary says the run is not complete."""
    from tracker.output import JsonlWriter

    out = tmp_path / "out"
    args = [video, "--out", out, "--format", "jsonl", "--no-render", *given(tmp_path)]
    original = JsonlWriter._append

    class FullDisk:
        """The file, on a disk that fills after 7 more bytes (half a line reaches it)."""

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.file, name)

    def full(self, data):
        if self.num_frames == 3 and not isinstance(self._file, FullDisk):
            self._file = FullDisk(self._file)
        return original(self, data)

    monkeypatch.setattr(JsonlWriter, "_append", full)
    err = one_line_error(*run(tool, args, capsys))
    assert f"while writing {out / 'v.jsonl'}" in err
    lines = (out / "v.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == [0, 1, 2]
    summary = summary_of(out)
    assert summary["complete"] is False and summary["frames"] == 3
    assert sorted(os.listdir(out)) == ["summary.json", "v.jsonl"]


# ---------------------------------------------------------------- 6. leftovers


def test_leftovers_of_a_killed_run_go_and_an_early_stop_leaves_no_folder(
    tool, tmp_path, video, capsys, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    stale = [
        out / f".v.mp4.{HOST}.{DEAD_PID}.tmp.mp4",
        out / f".summary.json.{HOST}.{DEAD_PID}.tmp",
        out / ".v.json.frames.part",
        out / ".summary.json.running",
    ]
    for path in stale:
        path.write_bytes(b"cut short")
    code, err = run(tool, [video, "--out", out, *given(tmp_path)], capsys)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["summary.json", "v.json", "v.mp4", "v_tracks.png"]
    # Stopped (SIGTERM / Ctrl-C) before the first output: no folder is left behind.
    fresh = tmp_path / "fresh"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tool, "PoseTracker", stopped)
    code, err = run(tool, [video, "--out", fresh, *given(tmp_path)], capsys)
    assert code == 130 and not fresh.exists()


def test_a_video_of_a_batch_that_tracks_nothing_leaves_no_folder(tool, tmp_path, capsys):
    write_test_video(tmp_path / "long.mp4", 4)
    write_test_video(tmp_path / "short.mkv", 2)  # its length is known only once it ends
    out = tmp_path / "out"
    detections = detections_for(tmp_path / "dets.json")
    args = [tmp_path / "long.mp4", tmp_path / "short.mkv", "--out", out, "--start", "3"]
    code, err = run(tool, [*args, "--no-render", "--detections", detections, *FAST], capsys)
    assert code == 2, err
    assert sorted(os.listdir(out)) == ["long", "summary.json"]
    summary = summary_of(out)
    assert summary["failed"] == ["short"] and summary["complete"] is False


# ---------------------------------------------------------------- 7. people at the edges


def default_confirmation(tmp_path, frames, xy=(20.0, 15.0)):
    """--poses options with the default confirmation (2 hits of 3 frames)."""
    return ["--poses", pose_file(tmp_path / "poses.json", frames, xy), "--device", "cpu"]


def test_one_frame_and_a_person_in_the_last_frame_are_shown(tool, tmp_path, capsys):
    one = tmp_path / "one.mp4"
    write_test_video(one, 1)
    out = tmp_path / "one"
    args = [one, "--out", out, "--no-render", *default_confirmation(tmp_path, [0])]
    code, err = run(tool, args, capsys)
    assert code == 0, err
    assert [len(f) for f in read_posetrack(out / "one.json").frames] == [1]
    assert summary_of(out)["people"] == 1
    five = tmp_path / "five.mp4"
    write_test_video(five, 5)
    out = tmp_path / "five"
    args = [five, "--out", out, "--no-render", *default_confirmation(tmp_path, [4])]
    assert run(tool, args, capsys)[0] == 0
    assert [len(f) for f in read_posetrack(out / "five.json").frames] == [0, 0, 0, 0, 1]


def test_the_summary_says_when_the_tracker_dropped_everyone(tool, tmp_path, video, capsys):
    out = tmp_path / "out"
    # Seen in frames 0 and 1 of 5: three hits are needed, so the track is never shown.
    args = [video, "--out", out, "--no-render", *default_confirmation(tmp_path, [0, 1])]
    args += ["--set", "tracking.confirm_hits=3"]
    code, err = run(tool, args, capsys)
    assert code == 0, err
    summary = summary_of(out)
    assert summary["people"] == 0
    notes = " ".join(summary["notes"])
    assert "the tracker dropped them, not the input" in notes and "confirm_hits 3" in notes
    assert "has nobody" not in notes and "check the detector" not in notes


# ---------------------------------------------------------------- 20. random weights


def test_random_weights_are_said_in_help_stderr_and_summary(tool, tmp_path, video, capsys):
    with pytest.raises(SystemExit):
        tool.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "none: random weights" in help_text
    out = tmp_path / "out"
    detections = detections_for(tmp_path / "dets.json")
    args = [video, "--out", out, "--no-render", "--detections", detections, *FAST]
    code, err = run(tool, args, capsys)
    assert code == 0, err
    assert "random weights: the poses mean nothing" in err
    assert any("random weights: the poses mean nothing" in n for n in summary_of(out)["notes"])
