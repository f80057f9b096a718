"""Streaming frame reader: video file, folder of images, URL, stream or camera (the rendered
video is written by tracker/video_writer.py).

Frames are decoded on a background thread into a bounded queue, so memory does not grow with
video length and decoding overlaps with the GPU work of the caller. Errors found while
decoding (a truncated video, an unreadable image, a frame of another size) are raised from the
iterator at the frame where they happen, after every good frame before it was delivered.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from posenet.errors import DataError
from posenet.files import read_rgb
from tracker.types import Frame

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Frame rate reported for image folders, which carry none (PoseTrack videos are ~25 fps).
FOLDER_FPS = 25.0
# How often (seconds) a blocked decoder thread checks whether the consumer has gone away.
_POLL_S = 0.1
# Network sources: seconds to wait for the connection, then for each read; a stalled stream
# ends (as a broken video) after the read timeout instead of hanging the run.
NETWORK_TIMEOUT_S = (10.0, 30.0)
URL_SCHEMES = ("http", "https")
# FFmpeg's AVERROR_EXIT: its interrupt callback ended a wait (PyAV's timeout ran out).
AVERROR_EXIT = 1414092869
# A gap between frame times this many times the shortest one marks a variable frame rate.
VFR_RATIO = 1.5
JPEG_END = b"\xff\xd9"
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp")


def frame_name(index: int) -> str:
    """Name of frame `index` of a video file: the name it would have in a PoseTrack folder."""
    return f"{index:06d}.jpg"


def natural_key(name: str) -> tuple:
    """Sort key comparing the digit runs of a name as numbers: 2.jpg before 10.jpg."""
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(t), t) if t.isdigit() else (1, 0, t) for t in parts if t)


def is_hidden(path: Path) -> bool:
    """Hidden files (.DS_Store, macOS '._000001.jpg' resource forks) are no frames."""
    return path.name.startswith(".")


def list_image_files(folder: Path) -> list[Path]:
    """Image files in `folder` in natural name order (numbers compared as numbers), so frames
    named 1.jpg ... 10.jpg play in order even when the numbers are not zero-padded. Hidden
    files are left out."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not is_hidden(p)
        ),
        key=lambda p: natural_key(p.name),
    )


def frame_number(name: str) -> int | None:
    """The frame number in a file name: its stem's last run of digits (None without one)."""
    digits = re.findall(r"\d+", Path(name).stem)
    return int(digits[-1]) if digits else None


def truncated_jpeg(path: Path) -> bool:
    """Whether a JPEG file lacks its end marker (FF D9), i.e. was cut short: libjpeg decodes
    it anyway, grey below the cut, and only warns without naming the file."""
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return False
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64))
        tail = f.read().rstrip(b"\x00\r\n ")  # some writers pad after the marker
    return not tail.endswith(JPEG_END)


def best_stream(streams: list) -> int:
    """Position of the video stream a player shows, as ffmpeg picks it: no cover picture,
    then most pixels, then most frames; the first of equals."""
    attached = int(av.stream.Disposition.attached_pic)

    def key(k: int) -> tuple:
        s = streams[k]
        cover = bool(int(s.disposition) & attached)
        return (not cover, (s.codec_context.width or 0) * (s.codec_context.height or 0), s.frames)

    return max(range(len(streams)), key=lambda k: (key(k), -k))


def host_of(source: str) -> str:
    """host[:port] of a URL or stream, without any user:password@."""
    rest = source.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]


def network_error(source: str, err: Exception) -> str:
    """One line saying why a network source could not be opened, from FFmpeg's error."""
    host, code = host_of(source), getattr(err, "errno", None)
    if code == AVERROR_EXIT:
        return f"{source}: no answer from {host} within {NETWORK_TIMEOUT_S[0]:g} s"
    if code == 5:  # EIO: FFmpeg's word for a host it could not reach
        return (
            f"{source}: {host} cannot be reached ({err}); check the network, or download "
            "the video and give the file instead"
        )
    return f"{source}: cannot open it ({err})"


def display_rotation(image: np.ndarray, degrees: float) -> np.ndarray:
    """Turn a decoded frame as a player shows it: `degrees` counter-clockwise (PyAV's
    VideoFrame.rotation, read from the display matrix), rounded to a quarter turn."""
    quarter_turns = round(degrees / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _scheme(source: str) -> str:
    return source.split("://", 1)[0].lower() if "://" in source else ""


def source_kind(source: str | os.PathLike) -> str:
    """'url' (http/https), 'stream' (rtsp, rtmp, ...), 'camera' (a number such as '0' that is
    not a file here, or /dev/videoN), 'folder' or 'file' (the rest, existing or not)."""
    text = os.fspath(source)
    scheme = _scheme(text)
    if scheme in URL_SCHEMES:
        return "url"
    if scheme in STREAM_SCHEMES:
        return "stream"
    if text.startswith("/dev/video") or (text.isdigit() and not os.path.exists(text)):
        return "camera"
    return "folder" if os.path.isdir(text) else "file"


def source_name(source: str | os.PathLike) -> str:
    """A safe output name for a source: a file's stem or a folder's name; for a URL or stream
    the last path segment without extension, else host and port; 'cameraN' for a camera.
    Characters other than letters, digits, '.', '_' and '-' become '_'."""
    text = os.fspath(source)
    kind = source_kind(text)
    if kind == "camera":
        name = "camera" + (text if text.isdigit() else text.removeprefix("/dev/video"))
    elif kind in ("url", "stream"):
        rest = text.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
        host, _, path = rest.partition("/")
        segments = [p for p in path.split("/") if p]
        name = Path(segments[-1]).stem if segments else host.rsplit("@", 1)[-1]
    else:
        path = Path(text)
        # A folder by its resolved name, so '.' or '..' give the folder's real name.
        name = (path.resolve().name or "frames") if kind == "folder" else path.stem
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    return name or "video"


def camera_device(source: str) -> tuple[str, str]:
    """(device, PyAV input format) of a camera: V4L2 on Linux, AVFoundation on macOS."""
    if sys.platform == "darwin":
        return source.removeprefix("/dev/video"), "avfoundation"
    device = source if source.startswith("/dev/") else f"/dev/video{source}"
    if not os.path.exists(device):
        raise DataError(f"camera {source}: no such device {device}")
    return device, "v4l2"


_END = object()


class FrameTimes:
    """Presentation times of a stream's frames in seconds from its start, and whether they
    keep the nominal rate: phone videos often vary it, and index / fps would then drift."""

    def __init__(self, stream: av.video.stream.VideoStream, fps: float) -> None:
        self.fps = fps
        self.origin: float | None = None
        if stream.start_time is not None and stream.time_base:
            self.origin = float(stream.start_time * stream.time_base)
        self.last: float | None = None
        self.gaps: list[float] = []  # shortest and longest gap between frames so far

    def add(self, index: int, time: float | None) -> float:
        """Seconds of frame `index` from the start; index / fps when the frame has no time."""
        if time is None:
            return index / self.fps
        if self.origin is None:
            self.origin = time
        seconds = time - self.origin
        if self.last is not None and seconds > self.last:
            gap = seconds - self.last
            self.gaps = [min(self.gaps[0], gap), max(self.gaps[1], gap)] if self.gaps else [gap] * 2
        self.last = seconds
        return round(seconds, 6)

    def note(self, source: object) -> str | None:
        """What to say when the frame rate varied; None when it held."""
        if not self.gaps or self.gaps[1] <= VFR_RATIO * self.gaps[0]:
            return None
        return (
            f"{source}: variable frame rate (frames {self.gaps[0] * 1000:.0f} to "
            f"{self.gaps[1] * 1000:.0f} ms apart, {self.fps:.2f} fps on average): frame times "
            "are the frames' presentation times, not frame number / fps"
        )


class FrameReader:
    """Iterate `Frame`s of a video file or image folder, decoded ahead on a background thread.

    `start`/`end` select frames [start, end) by index in the source; an empty range (end <=
    start, or start past the end when the length is known) is a DataError. Use as a context
    manager (or call `close()`) so the decoder thread and file are released when stopping early.

    `unpadded_names` (folders): True when the frame numbers in the file names are not
    zero-padded, i.e. name order differs from frame order (frames are read in frame order).
    `rotation` (videos): the display rotation in degrees counter-clockwise from the file's
    display matrix (phone videos); frames are delivered turned upright and width/height are
    those of the turned frames.
    `source` may also be an http(s) URL, an RTSP/RTMP stream or a camera ('0', '/dev/video0'),
    opened through PyAV like a file (`kind` says which); a live source has no known length
    (`num_frames` is None) and ends when the stream does.
    `stream` (videos): which video stream to track, counted from 0 among the video streams;
    None picks the one a player shows (`best_stream`). `stream_info` says which was taken.
    Each Frame's `time` is its presentation time in seconds from the stream's start (a
    variable-rate phone video included); for folders, its file number / fps from the first.
    `notes` gathers, while reading, what the summary should say (several streams, a variable
    frame rate, gaps in a folder's numbering, hidden or truncated files).
    """

    def __init__(
        self,
        source: str | Path,
        start: int = 0,
        end: int | None = None,
        queue_size: int = 8,
        stream: int | None = None,
    ) -> None:
        self.kind = source_kind(source)
        self.source: Path | str = (
            Path(source) if self.kind in ("file", "folder") else os.fspath(source)
        )
        self.name = source_name(source)
        if start < 0 or (end is not None and end <= start):
            raise DataError(
                f"{self.source}: bad frame range start={start} end={end}: start must be >= 0 "
                "and end > start"
            )
        if queue_size < 1:
            raise DataError(f"queue_size must be >= 1, got {queue_size}")
        self.start, self.end, self.queue_size = start, end, queue_size
        self.stream_choice = stream
        self.stream_info: dict[str, int | float] | None = None
        self.notes: list[str] = []
        self._download: Path | None = None  # a URL fetched whole into this temporary file
        self._numbers: list[int] | None = None  # folder frames: the numbers in their names
        self._files: list[Path] | None = None
        self._container: av.container.InputContainer | None = None
        self._total: int | None = None
        self.unpadded_names = False
        self.rotation = 0
        self._stream_pos = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.kind == "file" and not self.source.exists():
            raise DataError(f"{self.source}: no such file or folder")
        try:
            if self.kind == "folder":
                self._open_folder()
            else:
                self._open_video()
        except BaseException:
            self.close()  # a downloaded copy goes with the error
            raise
        if self.num_frames == 0:  # known length (folders, most videos): fail before any work
            self.close()
            raise DataError(
                f"{self.source}: no frame in the range start={start} end={end}: it has "
                f"{self._total} frames"
            )

    def _open_folder(self) -> None:
        """List the folder's images and take the frame size from the first one."""
        self._files = list_image_files(self.source)
        self.unpadded_names = [p.name for p in self._files] != sorted(p.name for p in self._files)
        hidden = sorted(p.name for p in self.source.iterdir() if is_hidden(p) and p.is_file())
        if hidden:
            self.notes.append(
                f"{self.source}: skipped {len(hidden)} hidden files ({', '.join(hidden[:3])}"
                f"{', ...' if len(hidden) > 3 else ''}): they are no frames"
            )
        if not self._files:
            kinds = ", ".join(IMAGE_EXTENSIONS)
            raise DataError(f"{self.source}: folder has no image files ({kinds})")
        first = read_rgb(self._files[0])
        self.height, self.width = first.shape[:2]
        self.fps = FOLDER_FPS
        self._total = len(self._files)
        numbers = [frame_number(p.name) for p in self._files]
        if None not in numbers and all(a < b for a, b in zip(numbers, numbers[1:])):
            self._numbers = numbers
            missing = numbers[-1] - numbers[0] + 1 - len(numbers)
            if missing:
                gap = next(k for k in range(1, len(numbers)) if numbers[k] > numbers[k - 1] + 1)
                self.notes.append(
                    f"{self.source}: the frame numbers jump ({self._files[gap - 1].name} -> "
                    f"{self._files[gap].name}; {missing} numbers missing in all): frame times "
                    f"follow the numbers at {FOLDER_FPS:g} fps"
                )

    @property
    def _url(self) -> str:
        """What PyAV opens: the temporary copy of a downloaded URL, else the source."""
        return str(self._download or self.source)

    def _open_video(self) -> None:
        """Open the container and read size, rate and frame count from the chosen stream."""
        url, options, fmt, timeout = str(self.source), {}, None, None
        if self.kind == "camera":
            url, fmt = camera_device(url)
        elif self.kind in ("url", "stream"):
            timeout = NETWORK_TIMEOUT_S
            if _scheme(url).startswith("rtsp"):
                options = {"rtsp_transport": "tcp"}  # no lost packets, no broken frames
        try:
            self._container = av.open(url, format=fmt, options=options, timeout=timeout)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
            if self.kind in ("url", "stream"):
                raise DataError(network_error(url, err)) from None
            what = "not a readable video" if self.kind == "file" else f"cannot open the {self.kind}"
            raise DataError(f"{self.source}: {what} ({err})") from None
        streams = list(self._container.streams.video)
        if not streams:
            self._container.close()
            raise DataError(f"{self.source}: has no video stream")
        if self.stream_choice is None:
            self._stream_pos = best_stream(streams)
        elif 0 <= self.stream_choice < len(streams):
            self._stream_pos = self.stream_choice
        else:
            self._container.close()
            raise DataError(
                f"{self.source}: no video stream {self.stream_choice}: it has {len(streams)} "
                f"(--stream 0 to {len(streams) - 1})"
            )
        stream = streams[self._stream_pos]
        stream.thread_type = "AUTO"
        self.width = stream.codec_context.width
        self.height = stream.codec_context.height
        # Live sources cannot be opened twice to probe; they carry no display matrix anyway.
        if self.kind in ("file", "url"):
            self.rotation = round(self._probe_rotation() / 90) % 4 * 90
            stream = self._container.streams.video[self._stream_pos]  # reopened if downloaded
        if self.rotation in (90, 270):
            self.width, self.height = self.height, self.width
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else FOLDER_FPS
        self._total = stream.frames or None
        self.stream_info = {
            "index": self._stream_pos,
            "of": len(streams),
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 3),
        }
        if len(streams) > 1:
            how = "the one a player shows" if self.stream_choice is None else "as --stream asked"
            self.notes.append(
                f"{self.source} has {len(streams)} video streams: tracked stream "
                f"{self._stream_pos} ({self.width}x{self.height}, {self._total or '?'} frames), "
                f"{how}; --stream N picks another"
            )

    def _probe_rotation(self) -> float:
        """Display rotation of the first frame (PyAV exposes the display matrix on frames only);
        read from a second handle so the main one still starts at frame 0. A URL whose first
        frame cannot be read is fetched whole (`_fetch`) and read from the copy."""
        try:
            return self._first_frame_rotation()
        except (av.error.FFmpegError, OSError) as err:
            if self.kind != "url":
                return 0.0  # a broken video fails with its frame index when decoded
            self._fetch(err)
        try:
            return self._first_frame_rotation()
        except (av.error.FFmpegError, OSError) as err:
            raise DataError(
                f"{self.source}: not a readable video, also when downloaded whole ({err})"
            ) from None

    def _first_frame_rotation(self) -> float:
        """The display rotation of the chosen stream's first frame, from a second handle."""
        timeout = NETWORK_TIMEOUT_S if self._download is None and self.kind == "url" else None
        with av.open(self._url, timeout=timeout) as probe:
            for av_frame in probe.decode(probe.streams.video[self._stream_pos]):
                return float(av_frame.rotation or 0)
        return 0.0

    def _fetch(self, err: Exception) -> None:
        """Download the URL into a temporary file and reopen from it: a server without byte
        ranges cannot serve an MP4 whose index lies after its frames (no 'faststart'), since
        the decoder must seek back. A server that serves ranges fails for another reason,
        which is said instead."""
        request = urllib.request.Request(str(self.source), headers={"Range": "bytes=0-"})
        suffix = Path(self.source.split("?", 1)[0]).suffix or ".mp4"
        try:
            with urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT_S[1]) as answer:
                if answer.status == 206 or answer.headers.get("Accept-Ranges") == "bytes":
                    raise DataError(
                        f"{self.source}: not a readable video (first frame: {err})"
                    ) from None
                handle, name = tempfile.mkstemp(prefix="posetrack-", suffix=suffix)
                self._download = Path(name)
                with os.fdopen(handle, "wb") as f:
                    shutil.copyfileobj(answer, f, 1 << 20)
        except (OSError, urllib.error.URLError) as fetch_err:
            raise DataError(
                f"{self.source}: video broken at frame 0 ({err}), and downloading it whole "
                f"failed too ({fetch_err})"
            ) from None
        self._container.close()
        self._container = av.open(self._url)
        size = self._download.stat().st_size / 1e6
        self.notes.append(
            f"{self.source}: the server sends no byte ranges and the video's index is at its "
            f"end, so it was downloaded whole ({size:.1f} MB) before tracking"
        )

    @property
    def num_frames(self) -> int | None:
        """Frames the iteration will yield, or None when the container does not say."""
        if self._total is None:
            return None
        stop = self._total if self.end is None else min(self.end, self._total)
        return max(0, stop - self.start)

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise DataError(f"{self.source}: a FrameReader can be iterated only once")
        target = self._produce_folder if self._files is not None else self._produce_video
        self._thread = threading.Thread(
            target=self._run, args=(target,), name=f"FrameReader({self.name})", daemon=True
        )
        self._thread.start()
        return self._consume()

    def _consume(self) -> Iterator[Frame]:
        """Hand queued frames to the caller; re-raise decoder errors; always stop the thread."""
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def _put(self, item: object) -> bool:
        """Queue an item, waiting while full; False once the consumer has stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, produce) -> None:
        """Thread body: run a producer, then queue the end marker or the error it raised."""
        try:
            produce()
            self._put(_END)
        except DataError as err:
            self._put(err)
        except Exception as err:  # anything else still must reach the consumer, not vanish
            self._put(DataError(f"{self.source}: decoding failed: {err}"))

    def _produce_folder(self) -> None:
        """Read the folder's images in name order, checking they all have the first one's size."""
        stop = len(self._files) if self.end is None else min(self.end, len(self._files))
        truncated: list[str] = []
        for index in range(self.start, stop):
            path = self._files[index]
            image = read_rgb(path)
            if image.shape[:2] != (self.height, self.width):
                raise DataError(
                    f"{path}: frame size {image.shape[1]}x{image.shape[0]} differs from "
                    f"{self.width}x{self.height} of {self._files[0].name}"
                )
            if truncated_jpeg(path):
                truncated.append(path.name)
            number = index if self._numbers is None else self._numbers[index] - self._numbers[0]
            if not self._put(Frame(index, image, path.name, time=number / self.fps)):
                break
        if truncated:
            self.notes.append(
                f"{self.source}: {len(truncated)} JPEG files are cut short (no end marker; "
                f"tracked with their missing part grey): {', '.join(truncated[:5])}"
                f"{', ...' if len(truncated) > 5 else ''}"
            )

    def _produce_video(self) -> None:
        """Decode the video stream; a decode error or a short stream becomes a DataError."""
        index = 0
        stream = self._container.streams.video[self._stream_pos]
        times = FrameTimes(stream, self.fps)
        # One reformatter for all frames: a frame's own reformat() builds a new swscale
        # context every time, which costs more than decoding small frames.
        to_rgb = VideoReformatter()
        try:
            for av_frame in self._container.decode(stream):
                if self.end is not None and index >= self.end:
                    break
                seconds = times.add(index, av_frame.time)
                if index >= self.start:
                    image = to_rgb.reformat(av_frame, format="rgb24").to_ndarray()
                    image = display_rotation(image, self.rotation)
                    if not self._put(Frame(index, image, frame_name(index), time=seconds)):
                        break
                index += 1
        except (av.error.FFmpegError, OSError) as err:
            if getattr(err, "errno", None) == AVERROR_EXIT and self.kind in ("url", "stream"):
                err = f"no data from {host_of(str(self.source))} for {NETWORK_TIMEOUT_S[1]:g} s"
            raise DataError(f"{self.source}: video broken at frame {index}: {err}") from None
        finally:
            note = times.note(self.source)
            if note:
                self.notes.append(note)
        if self._stop.is_set() or (self.end is not None and index >= self.end):
            return
        expected = self._total if self.end is None else min(self.end, self._total or self.end)
        if self._total is not None and index < expected:
            raise DataError(
                f"{self.source}: video broken at frame {index}: stream ended but the "
                f"container lists {self._total} frames"
            )

    def close(self) -> None:
        """Stop the decoder thread and release the file; safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            while thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                thread.join(timeout=_POLL_S)
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._download is not None:
            self._download.unlink(missing_ok=True)
            self._download = None

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
