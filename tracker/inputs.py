"""How a per-frame input file (--poses, --detections) lined up with the video it was given for.

Such a file is matched to frames by name or order, so a file made for another video is
accepted and silently gives empty or misplaced people. `InputMatch` counts, as frames are
looked up, the video frames with no entry in the file and the people whose box centre lies
outside the image; at the end, the file's frames that no video frame matched. The tools put
its counts and notes in the run's summary, with what the frame reader noticed (`report_source`).

Also the .txt lists of inputs a command line may name (`read_input_list`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenet.errors import DataError

if TYPE_CHECKING:
    from tracker.output import TrackingOutput
    from tracker.video import FrameReader


def centres_outside(boxes: np.ndarray, width: int, height: int) -> int:
    """How many xyxy boxes have their centre outside a width x height image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside = (cx >= 0) & (cx <= width) & (cy >= 0) & (cy <= height)
    return int((~inside).sum())


class InputMatch:
    """Counts of how the frames of one input file (`file_frames`: a key per frame of the file)
    matched the frames of a video. `kind` keys its counts in the summary ("poses"), `label`
    names the file in notes ("pose file x.json")."""

    def __init__(self, kind: str, label: str, file_frames: Iterable[Hashable]) -> None:
        self.kind, self.label = kind, label
        self.file_frames = set(file_frames)
        self.matched: set = set()
        self.video_frames = 0
        self.without_entry = 0
        self.people = 0
        self.outside = 0
        self.size: tuple[int, int] | None = None

    def add(self, key: Hashable | None, boxes: np.ndarray, size: tuple[int, int] | None) -> None:
        """One video frame: `key` of the file frame it matched (None: no entry), the people's
        boxes (n, 4) xyxy taken from it, the frame's (width, height) if known."""
        self.video_frames += 1
        if key is None:
            self.without_entry += 1
            return
        self.matched.add(key)
        self.people += len(boxes)
        if size is not None:
            self.size = size
            self.outside += centres_outside(boxes, *size)

    def counts(self) -> dict[str, int]:
        """Numbers for summary.json."""
        return {
            "file_frames": len(self.file_frames),
            "file_frames_unmatched": len(self.file_frames - self.matched),
            "video_frames": self.video_frames,
            "video_frames_without_entry": self.without_entry,
            "people": self.people,
            "people_outside_image": self.outside,
        }

    def notes(self, whole_video: bool) -> list[str]:
        """What looks wrong, for the summary. File frames left unmatched are reported only
        when `whole_video` was tracked (a --start/--end range leaves others unmatched)."""
        c, notes = self.counts(), []
        if whole_video and c["file_frames_unmatched"]:
            notes.append(
                f"{c['file_frames_unmatched']} of the {c['file_frames']} frames of {self.label} "
                f"matched no frame of the video ({c['video_frames']} frames, matched by file "
                "name, else by frame number): was the file made for another video?"
            )
        if self.without_entry:
            notes.append(
                f"{self.without_entry} of the {self.video_frames} frames tracked have no entry "
                f"in {self.label}: they were tracked as frames without people"
            )
        if self.outside:
            width, height = self.size
            notes.append(
                f"{self.outside} of the {self.people} people of {self.label} have their box "
                f"centre outside the {width}x{height} image: was the file made for another "
                "video or frame size?"
            )
        return notes

    def no_people_note(self) -> str:
        """Why no frame had anyone, as far as this file tells."""
        if not self.matched:
            return (
                f"no person was found in any frame: no frame of {self.label} matched a frame "
                "of the video (by file name, else by frame number), so every frame was "
                "tracked empty; was the file made for another video?"
            )
        return (
            f"no person was found in any frame: {self.label} has nobody in the "
            f"{len(self.matched)} frames that matched the video (or only people below the "
            "score threshold)"
        )


def report_inputs(output: TrackingOutput, sources: Iterable[object], whole_video: bool) -> None:
    """Put the counts and notes of each source that read a file (has an InputMatch `match`,
    as GivenPoses and ReplayDetector do) in the output's summary, and let the file name the
    cause when nobody was found."""
    for source in sources:
        match = getattr(source, "match", None)
        if not isinstance(match, InputMatch):
            continue
        output.summary.inputs[match.kind] = match.counts()
        output.summary.notes += match.notes(whole_video)
        output.no_people_note = match.no_people_note()


def start_inputs(sources: Iterable[object], video_name: str) -> None:
    """Tell each input file (a source with `start_video`, as ReplayDetector has) which video
    comes next, so it picks that video's entries and counts its matches afresh."""
    for source in sources:
        start = getattr(source, "start_video", None)
        if callable(start):
            start(video_name)


def report_source(output: TrackingOutput, reader: FrameReader) -> None:
    """Put what the frame reader noticed in the summary: the stream it tracked and its notes
    (several streams, variable frame rate, gaps in frame numbers, hidden or truncated files)."""
    output.summary.stream = getattr(reader, "stream_info", None)
    output.summary.notes += [
        n for n in getattr(reader, "notes", []) if n not in output.summary.notes
    ]


def read_input_list(path: Path, within: tuple[Path, ...] = ()) -> list[str]:
    """The entries of a .txt list of inputs, one per line (blank lines and lines starting with
    # skipped). `within`: the lists being read that led here; a list naming itself or one of
    them, or naming nothing, is a DataError naming the list."""
    here = path.resolve()
    if here in within:
        chain = " -> ".join(str(p) for p in (*within, here))
        raise DataError(f"{path}: the input list includes itself ({chain})")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the input list ({err})") from None
    lines = [line.strip() for line in text.splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    if not entries:
        raise DataError(f"{path}: the input list names no input (one path or URL per line)")
    return entries
