"""tools/track_video.py on bad input and interruption, with small synthetic inputs made here:
notes on the input, empty ranges, a folder given as '.', SIGTERM and a second interrupt."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet.posetrack.formats import read_posetrack
from tests.conftest import REPO_ROOT, load_tool
from tests.tools.test_track_video import FAST, decoded_frames
from tests.tracker.test_poses import pose_file
from tests.tracker.test_video import write_test_video

W, H = 64, 48


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_video")


def run(tool, args, capsys) -> tuple[int, str]:
    """Exit code and stderr of the tool run as from the command line."""
    code = tool.run_cli(tool.main, [str(a) for a in args])
    return code, capsys.readouterr().err


def given(tmp_path, frame_indexes=range(5), xy=(20.0, 15.0)):
    """--poses options (no nets are built) for a file with one person per listed frame."""
    path = pose_file(tmp_path / "poses.json", frame_indexes, xy)
    return ["--poses", path, "--device", "cpu", "--set", "tracking.confirm_hits=1"]


def summary_of(out):
    return json.loads((out / "summary.json").read_text())


def test_unpadded_frame_names_are_noted(tool, tmp_path, capsys):
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(1, 11):  # 1.png ... 10.png: name order puts 10 before 2
        cv2.imwrite(str(folder / f"{i}.png"), np.full((H, W, 3), 20 * i, np.uint8))
    out = tmp_path / "out"
    code, err = run(tool, [folder, "--out", out, "--no-render", *given(tmp_path)], capsys)
    assert code == 0, err
    notes = summary_of(out)["notes"]
    assert any("not zero-padded" in n and "natural order" in n for n in notes)
    names = [f.file_name for f in read_posetrack(out / "clip.json").frames]
    assert names[:3] == ["clip/1.png", "clip/2.png", "clip/3.png"]


def test_pose_file_of_another_video_is_reported_in_the_summary(tool, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    write_test_video(video, 5)
    out = tmp_path / "out"
    # 76 frames of people placed for a big video: 71 match nothing, all lie outside 64x48.
    args = [video, "--out", out, "--no-render", *given(tmp_path, range(76), xy=(300, 200))]
    code, err = run(tool, args, capsys)
    assert code == 0, err
    summary = summary_of(out)
    assert summary["inputs"]["poses"]["file_frames_unmatched"] == 71
    assert summary["inputs"]["poses"]["people_outside_image"] == 5
    assert any("71 of the 76 frames of pose file" in n for n in summary["notes"])
    assert any("outside the 64x48 image" in n for n in summary["notes"])
    # No frame of the file matches at all: the note on the empty result says so.
    out2 = tmp_path / "out2"
    args = [video, "--out", out2, "--no-render", *given(tmp_path, range(100, 176))]
    assert run(tool, args, capsys)[0] == 0
    summary = summary_of(out2)
    assert summary["people"] == 0 and summary["inputs"]["poses"]["video_frames_without_entry"] == 5
    assert any(
        "no person was found" in n and "no frame of pose file" in n for n in summary["notes"]
    )
    assert not any("check the detector" in n for n in summary["notes"])


def outputs_of(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize(
    "range_args, message",
    [
        (["--start", "5"], "no frame in the range start=5 end=None: it has 5 frames"),
        (["--end", "0"], "bad frame range start=0 end=0"),
        (["--start", "3", "--end", "2"], "bad frame range start=3 end=2"),
    ],
)
def test_empty_range_is_an_error_and_keeps_earlier_outputs(
    tool, tmp_path, capsys, range_args, message
):
    video = tmp_path / "v.mp4"
    write_test_video(video, 5)
    out = tmp_path / "out"
    assert run(tool, [video, "--out", out, *given(tmp_path)], capsys)[0] == 0
    before = outputs_of(out)
    assert set(before) == {"v.json", "v.mp4", "v_tracks.png", "summary.json"}
    code, err = run(tool, [video, "--out", out, *given(tmp_path), *range_args], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err and "v.mp4" in err
    assert outputs_of(out) == before


def test_zero_frames_tracked_keep_earlier_outputs(tool, tmp_path, capsys, monkeypatch):
    """A video of unknown length (mkv) that ends before --start, and a video broken at its
    first frame, track nothing: one-line error, exit 2, the earlier outputs untouched."""
    video = tmp_path / "v.mkv"
    write_test_video(video, 5)
    out = tmp_path / "out"
    assert run(tool, [video, "--out", out, *given(tmp_path)], capsys)[0] == 0
    before = outputs_of(out)
    code, err = run(tool, [video, "--out", out, "--start", "9", *given(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no frame to track at or after --start 9" in err
    assert outputs_of(out) == before

    import tracker.video as video_module
    from posenet.errors import DataError

    class BrokenAtFirstFrame(video_module.FrameReader):
        def __iter__(self):
            for _ in super().__iter__():
                raise DataError(f"{self.source}: video broken at frame 0")
            yield from ()

    monkeypatch.setattr(tool, "FrameReader", BrokenAtFirstFrame)
    code, err = run(tool, [video, "--out", out, *given(tmp_path)], capsys)
    assert code == 2 and "video broken at frame 0" in err
    assert outputs_of(out) == before


def test_folder_given_as_dot_is_named_after_the_folder(tool, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "walk"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.full((H, W, 3), 50 * i, np.uint8))
    monkeypatch.chdir(folder)
    out = tmp_path / "out"
    code, err = run(tool, [".", "--out", out, "--no-render", *given(tmp_path, range(3))], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "walk.json", "walk_tracks.png"]
    names = [f.file_name for f in read_posetrack(out / "walk.json").frames]
    assert names == ["walk/000000.png", "walk/000001.png", "walk/000002.png"]
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(3)]


def spooled_frames(path: Path) -> int:
    """Frames in the spool a linked run keeps until its end (tracker.linked.Linker)."""
    count = 0
    with contextlib.suppress(OSError), open(path, "rb") as spool:
        with contextlib.suppress(Exception):  # the end, or a frame half written
            while True:
                pickle.load(spool)
                count += 1
    return count


def test_sigterm_and_a_second_interrupt_leave_valid_outputs(tmp_path):
    """SIGTERM once the first frames are written, then SIGINT 20 ms later (while the outputs
    are finished, or as the process exits): the JSON and MP4 hold the frames so far,
    summary.json says complete: false, the exit code is 128 + a signal, no traceback."""
    n = 400
    video = tmp_path / "long.mp4"
    write_test_video(video, n)
    detections = tmp_path / "dets.json"
    entries = [{"image_id": t, "bbox": [10, 8, 20, 30], "score": 0.9} for t in range(n)]
    detections.write_text(json.dumps(entries))
    out = tmp_path / "out"
    command = [sys.executable, str(REPO_ROOT / "tools" / "track_video.py"), str(video)]
    command += ["--out", str(out), "--detections", str(detections), *FAST]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while spooled_frames(out / ".long.json.spool.part") < 3:  # tracklets linked at close
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no frame written in 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    # 128 + the signal handled first: SIGTERM, or SIGINT when both were pending at once
    # (Python runs pending handlers in signal-number order).
    assert proc.returncode in (128 + signal.SIGTERM, 128 + signal.SIGINT), err
    assert "Traceback" not in err and ("terminated" in err or "interrupted" in err)
    frames = read_posetrack(out / "long.json").frames
    assert 3 <= len(frames) < n
    assert [f.frame_index for f in frames] == list(range(len(frames)))
    assert 1 <= decoded_frames(out / "long.mp4") <= len(frames)
    summary = summary_of(out)
    assert summary["complete"] is False and summary["frames"] in (len(frames) - 1, len(frames))
    expected = ["long.json", "long.mp4", "long_tracks.png", "summary.json"]
    assert sorted(p.name for p in out.iterdir()) == expected
