"""posenet.cli helpers: output paths checked before any work, JSON without NaN."""

from __future__ import annotations

import json
import os

import pytest

from posenet.cli import check_output_dir, check_output_file, write_json
from posenet.errors import UserError


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
