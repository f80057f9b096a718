"""Every tool checks its output paths before any work: one line naming the path, exit 2."""

from __future__ import annotations

import pytest

from posenet.cli import run_cli
from tests.conftest import load_tool, shared_file

COCO = "configs/coco/res50_256x192.yaml"  # shipped in posenet, found from anywhere


def _run(tool: str, args: list[str], capsys) -> str:
    code = run_cli(load_tool(tool).main, args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def taken(tmp_path):
    """An existing file where the tools want a folder."""
    path = tmp_path / "taken"
    path.write_text("x")
    return path


def test_folder_outputs_that_are_files(tmp_path, taken, capsys):
    video = shared_file("videos/mmpose_demo.mp4")
    err = _run("track_video", [str(video), "--out", str(taken), "--device", "cpu"], capsys)
    assert f"--out {taken}: is a file, expected a folder" in err
    err = _run("track_posetrack", ["--data", str(tmp_path), "--out", str(taken)], capsys)
    assert f"--out {taken}: is a file" in err
    err = _run(
        "train", ["--config", COCO, "--device", "cpu", "--output-dir", str(taken / "run")], capsys
    )
    assert f"--output-dir {taken / 'run'}: {taken} is a file, not a folder" in err
    args = ["--config", COCO, "--weights", str(tmp_path / "none.pth"), "--output-dir", str(taken)]
    assert f"--output-dir {taken}: is a file" in _run("valid", args, capsys)


def test_file_outputs_that_are_folders(tmp_path, capsys):
    gt = shared_file("bonn-posetrack/posetrack18")
    err = _run(
        "eval_posetrack", ["--gt", str(gt), "--pred", str(gt), "--json", str(tmp_path)], capsys
    )
    assert f"--json {tmp_path}: is a folder, expected a file name" in err
    pred = tmp_path / "pred.mat"
    err = _run("eval_mpii", [str(pred), "--json", str(tmp_path)], capsys)
    assert f"--json {tmp_path}: is a folder" in err
    args = [
        "--config",
        COCO,
        "--weights",
        str(pred),
        "--output-dir",
        str(tmp_path),
        "--json",
        str(tmp_path),
    ]
    assert f"--json {tmp_path}: is a folder" in _run("valid", args, capsys)
