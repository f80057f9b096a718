"""The rendered video: RGB frames to an H.264 MP4 through PyAV, written atomically."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from posenet.errors import DataError
from posenet.files import AtomicFile


class VideoWriter:
    """Write RGB frames to an H.264 (libx264, yuv420p) file, atomically on `close()`.

    yuv420p needs even sizes: odd widths/heights are padded by one replicated pixel column/row,
    so the file is (width + width % 2) x (height + height % 2). Frames go to a temporary file
    next to `path`, renamed to `path` when closed; `abort()` discards them.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        width: int,
        height: int,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        if width < 1 or height < 1:
            raise DataError(f"{self.path}: bad video size {width}x{height}")
        if not fps or fps <= 0:
            raise DataError(f"{self.path}: bad frame rate {fps}")
        if not self.path.parent.is_dir():
            raise DataError(f"{self.path}: folder {self.path.parent} does not exist")
        self.width, self.height = width, height
        suffix = self.path.suffix or ".mp4"
        # The temp file ends in the container's extension: PyAV picks the format by it.
        self._file = AtomicFile(self.path, suffix=suffix)
        self._rate = Fraction(fps).limit_denominator(1001)
        # faststart puts the index first so players can start before the file is loaded.
        options = {"movflags": "+faststart"} if suffix.lower() in (".mp4", ".mov") else {}
        try:
            self._container = av.open(str(self._file.tmp), mode="w", options=options)
        except (av.error.FFmpegError, OSError, ValueError) as err:
            self._file.abort()
            raise DataError(f"{self.path}: cannot write a video here ({err})") from None
        stream = self._container.add_stream("libx264", rate=self._rate)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        self._stream = stream
        self._count = 0

    def write(self, image: np.ndarray) -> None:
        """Encode one RGB uint8 frame of the size given at construction."""
        if self._container is None:
            raise DataError(f"{self.path}: writer is closed")
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise DataError(
                f"{self.path}: frame must be uint8 {self.height}x{self.width}x3, got "
                f"{image.dtype} {'x'.join(map(str, image.shape))}"
            )
        pad_h, pad_w = self.height % 2, self.width % 2
        if pad_h or pad_w:
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self._count
        frame.time_base = 1 / self._rate
        self._container.mux(self._stream.encode(frame))
        self._count += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file to `path`."""
        self.finish()
        self.commit()

    def finish(self) -> None:
        """Flush the encoder into the temp file (what needs disk space); `commit()` then
        renames it. Split so a run can finish all its outputs before renaming any."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            container.mux(self._stream.encode(None))
            container.close()
        except BaseException:
            self._file.abort()
            raise

    def commit(self) -> None:
        """Move the finished temp file onto `path`."""
        self._file.commit()

    def abort(self) -> None:
        """Drop everything written (also after `finish()`); `path` is left untouched."""
        container, self._container = self._container, None
        try:
            if container is not None:
                with contextlib.suppress(Exception):  # e.g. a full disk again: dropped anyway
                    container.close()
        finally:
            self._file.abort()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Keep what was written even when the caller failed (e.g. a truncated input video):
        # a partial output video is more useful than none. Abort only if finishing fails too.
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:
            self.abort()
