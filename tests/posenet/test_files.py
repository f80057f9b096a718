"""posenet.files: atomic writes keep the earlier file on failure; one image reader for all."""

import errno
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from posenet.errors import DataError, UserError
from posenet.files import HOST, AtomicFile, atomic_open, read_rgb, write_json, write_text


def test_write_json_replaces_and_writes_strict_json(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json(path, {"x": float("nan"), "y": [1.5, float("-inf")]})
    assert json.loads(path.read_text()) == {"x": None, "y": [1.5, None]}
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()
    write_json(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temp file left


def test_failed_write_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "out.txt"
    write_text(path, "complete\n")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("partial")
        raise RuntimeError("disk trouble")
    assert path.read_text() == "complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_file_keeps_the_suffix_and_aborts_cleanly(tmp_path):
    target = AtomicFile(tmp_path / "video.mp4", suffix=".mp4")
    assert target.tmp.suffix == ".mp4" and target.tmp.parent == tmp_path
    target.tmp.write_bytes(b"x")
    target.abort()
    assert not target.tmp.exists() and not (tmp_path / "video.mp4").exists()


def test_read_rgb_gives_stored_pixels_whatever_the_exif_orientation(tmp_path):
    # A 40x20 (w x h) image whose EXIF says "rotate 90° to display": annotations (COCO,
    # PoseTrack) and frame folders use the stored pixels, so the reader must not turn it.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = read_rgb(path)
    assert image.shape == (20, 40, 3)
    assert image[10, 5, 0] > 200 and image[10, 35, 0] < 60


def test_read_rgb_names_the_file(tmp_path):
    with pytest.raises(DataError, match="missing"):
        read_rgb(tmp_path / "none.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.jpg: not a readable image"):
        read_rgb(tmp_path / "bad.jpg")


def test_a_full_disk_is_one_line_and_keeps_the_complete_earlier_file(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"complete": True})
    with pytest.raises(UserError) as info, atomic_open(path) as f:
        f.write('{"complete": fal')
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(info.value).startswith("no space left on /") and str(path) in str(info.value)
    assert json.loads(path.read_text()) == {"complete": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_temp_files_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)  # a process that has ended
    stale = tmp_path / f".out.mp4.{HOST}.{pid}.tmp.mp4"
    stale.write_bytes(b"half a video")
    other_host = tmp_path / f".out.mp4.elsewhere.{pid}.tmp.mp4"  # not ours to judge
    other_host.write_bytes(b"x")
    with AtomicFile(tmp_path / "out.mp4", suffix=".mp4") as target:
        target.tmp.write_bytes(b"video")
    assert not stale.exists() and other_host.exists()
    assert (tmp_path / "out.mp4").read_bytes() == b"video"
