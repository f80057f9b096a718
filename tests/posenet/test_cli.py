"""posenet.cli helpers: output paths checked before any work, JSON without NaN, stop signals."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from posenet.cli import check_output_dir, check_output_file, finishing_outputs, run_cli
from posenet.errors import UserError
from posenet.files import write_json


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
