"""posenet.cli helpers: output paths checked before any work, JSON without NaN, stop signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from posenet.cli import (
    LOCK_NAME,
    check_not_inputs,
    check_output_dir,
    check_output_file,
    finishing_outputs,
    output_lock,
    run_cli,
)
from posenet.errors import UserError
from posenet.files import write_json
from tests.conftest import REPO_ROOT


def test_output_dir_checks(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(UserError, match=r"--out .*taken: is a file, expected a folder"):
        check_output_dir(a_file, "--out")
    with pytest.raises(
        UserError, match=r"--out .*taken/deeper/run: .*taken is a file, not a folder"
    ):
        check_output_dir(a_file / "deeper" / "run", "--out")
    assert check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists() and sorted(tmp_path.iterdir()) == [
        a_file
    ]  # nothing made


def test_output_file_checks(tmp_path):
    with pytest.raises(UserError, match=r"--json .*: is a folder, expected a file name"):
        check_output_file(tmp_path, "--json")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match=r"f is a file, not a folder"):
        check_output_file(tmp_path / "f" / "out.json", "--json")
    check_output_file(tmp_path / "sub" / "out.json")


def test_read_only_location(tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits; /proc refuses new files
        target = "/proc/posenet-test/out"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out"
    with pytest.raises(UserError, match=r"--out .*out: cannot write in"):
        check_output_dir(target, "--out")


def test_write_json_has_no_nan(tmp_path):
    path = tmp_path / "a" / "m.json"
    write_json(path, {"ap": float("nan"), "rows": [1.5, float("inf")], "n": 3})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"ap": None, "rows": [1.5, None], "n": 3}


def test_sigterm_stops_like_ctrl_c_and_a_second_signal_cannot_cut_the_finish(tmp_path, capsys):
    """run_cli: SIGTERM raises KeyboardInterrupt in main; a signal during the clean-up that
    follows is ignored, so the clean-up (here: writing a file) completes; exit 128 + 15."""

    def main(argv):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # the handler raises here, in the main thread
                time.sleep(0.05)
            raise AssertionError("SIGTERM did not stop main()")
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # a second interrupt while finishing
            (tmp_path / "finished").write_text("ok")
        return 0

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert run_cli(main, []) == 128 + signal.SIGTERM
    assert (tmp_path / "finished").read_text() == "ok"
    err = capsys.readouterr().err
    assert "terminated" in err and "further interrupts are ignored" in err
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_ctrl_c_exits_130_and_finishing_outputs_holds_off_signals(tmp_path, capsys):
    def main(argv):
        with finishing_outputs():
            os.kill(os.getpid(), signal.SIGINT)  # the first signal arrives while finishing
            (tmp_path / "a").write_text("ok")
        os.kill(os.getpid(), signal.SIGINT)
        return 0

    assert run_cli(main, []) == 130
    assert (tmp_path / "a").read_text() == "ok"
    assert "interrupted" in capsys.readouterr().err
    # Outside run_cli (a tool's main() called directly) it holds signals off on its own.
    before = signal.getsignal(signal.SIGINT)
    with finishing_outputs():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        (tmp_path / "b").write_text("ok")
    assert (tmp_path / "b").read_text() == "ok"
    assert signal.getsignal(signal.SIGINT) is before


def test_an_output_that_is_an_input_is_refused(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(gt)
    with pytest.raises(UserError, match=r"--json .*link.json: is the input .*gt.json"):
        check_not_inputs([link], [gt], "--json")
    check_not_inputs([tmp_path / "scores.json"], [gt], "--json")  # another file is fine
    assert gt.read_text() == "{}"


def test_a_second_run_on_the_same_output_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "runs"
    with output_lock(out):
        with pytest.raises(UserError, match=rf"another run is writing there \(pid {os.getpid()} "):
            with output_lock(out):
                pass
    assert not out.exists()  # made by the run, left empty: removed


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path):
    out = tmp_path / "runs"
    code = (
        "import sys, time; from posenet.cli import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    assert proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait()
    (out / "kept.json").write_text("{}")
    with output_lock(out):
        assert (out / LOCK_NAME).exists()
    assert (out / "kept.json").exists() and not (out / LOCK_NAME).exists()
