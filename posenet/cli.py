"""Shared command-line plumbing: one-line errors, exit codes, --set overrides."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def add_config_args(parser: argparse.ArgumentParser, default_config: str | None = None) -> None:
    """Add the --config and --set options that every tool takes."""
    parser.add_argument("--config", default=default_config, help="YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set test.flip_test=false (repeatable)",
    )


def _writable_folder(path: Path, wanted: Path, option: str) -> None:
    """The nearest existing folder at or above `path` must be a folder we can create files in."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {wanted}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
    except OSError as err:
        raise UserError(
            f"{option} {wanted}: cannot write in {existing} ({err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path: str | os.PathLike, option: str = "output folder") -> Path:
    """Fail before any work when `path` cannot become a folder of outputs: it is a file, lies
    under a file, or is in a read-only place. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder")
    _writable_folder(path, path, option)
    return path


def check_output_file(path: str | os.PathLike, option: str = "output file") -> Path:
    """Fail before any work when `path` cannot be written as a file: it is a folder, lies
    under a file, or is in a read-only place. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file name")
    _writable_folder(path.parent, path, option)
    return path


def finite(value: Any) -> Any:
    """`value` with every NaN/Infinity float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON atomically (temp file + rename); NaN/Infinity become null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(finite(data), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def run_cli(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a tool's main(); bad input becomes one line on stderr and a non-zero exit code."""
    prog = os.path.basename(sys.argv[0]) or "tool"
    try:
        return int(main(argv) or 0)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
