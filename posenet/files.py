"""Atomic file writing and the one image reader: the file edges every tool shares (no torch).

Every output of the project is written through `AtomicFile`: a temp file beside the target
(same folder, so the rename stays on one filesystem), then `os.replace`. A reader never sees a
half-written file, and a failed or interrupted write leaves the earlier file untouched.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import DataError


class AtomicFile:
    """A temp file `.<name>.<pid>.tmp<suffix>` beside `path`: `commit()` moves it onto `path`,
    `abort()` removes it. As a context manager it commits on success and aborts on an error.

    `suffix` keeps the extension for writers that pick a format by it (e.g. '.mp4').
    """

    def __init__(self, path: str | os.PathLike, suffix: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp{suffix}")
        self.done = False

    def commit(self) -> Path:
        """Flush the finished temp file to disk and move it onto `path`."""
        if self.done:
            return self.path
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.path)
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
        else:
            self.abort()


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
