"""Atomic file writing and the one image reader: the file edges every tool shares (no torch).

Every output of the project is written through `AtomicFile`: a temp file beside the target
(same folder, so the rename stays on one filesystem), then `os.replace`. A reader never sees a
half-written file, and a failed or interrupted write leaves the earlier file untouched.
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import DataError, UserError

HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def mount_point(path: str | os.PathLike) -> Path:
    """The mount point of the filesystem that holds `path` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def no_space(path: str | os.PathLike) -> UserError:
    """The one-line error for a full disk, naming the device and the file."""
    return UserError(f"no space left on {mount_point(path)} while writing {path}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class AtomicFile:
    """A temp file `.<name>.<host>.<pid>.tmp<suffix>` beside `path`: `commit()` moves it onto
    `path`, `abort()` removes it. As a context manager it commits on success and aborts on an
    error. A full disk is the one-line error of `no_space`; the earlier `path` stays.

    `suffix` keeps the extension for writers that pick a format by it (e.g. '.mp4'). Temp files
    of `path` left by a killed process of this host are removed when the next one starts.
    """

    def __init__(self, path: str | os.PathLike, suffix: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{HOST}.{os.getpid()}.tmp{suffix}")
        self.done = False
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        prefix = f".{self.path.name}.{HOST}."
        for old in self.path.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
            pid = old.name[len(prefix) :].partition(".")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                old.unlink(missing_ok=True)

    def commit(self) -> Path:
        """Flush the finished temp file to disk and move it onto `path`."""
        if self.done:
            return self.path
        try:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            if exc.errno == errno.ENOSPC:
                raise no_space(self.path) from None
            raise
        self.done = True
        return self.path

    def abort(self) -> None:
        """Drop the temp file; `path` keeps whatever it held before."""
        self.done = True
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abort()
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise no_space(self.path) from None


@contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """`open(path, mode)` that only replaces `path` once the block finishes without error."""
    with AtomicFile(path) as target:
        binary = "b" in mode
        with open(target.tmp, mode, encoding=None if binary else encoding) as f:
            yield f


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def finite(value: Any) -> Any:
    """`value` with every NaN/Infinity float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    """Write `data` as JSON atomically; NaN/Infinity become null (strict JSON has neither)."""
    text = json.dumps(finite(data), indent=indent, allow_nan=False)
    return write_text(path, text + "\n" if indent is not None else text)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); DataError naming the file when it cannot be read.

    Pixels come as stored, EXIF orientation ignored: COCO, MPII and PoseTrack annotate the
    stored pixels, and a frame folder must give the same coordinates as its annotations.
    """
    import cv2  # only the image readers need OpenCV; the JSON writers above do not

    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        what = "missing" if not Path(path).exists() else "not a readable image"
        raise DataError(f"{path}: {what}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
