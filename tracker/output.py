"""What one tracking run writes: PoseTrack JSON or JSON lines, a rendered MP4 and a summary.

`TrackingOutput` takes `FrameResult`s as they come and streams them to a PoseTrack JSON (2018
or 2017 layout) or a JSONL file (one line per frame, readable while the run goes on) and,
optionally, an MP4 with skeletons and ids in one colour per track;
`TrackingSummary` counts frames, people, tracks and seconds per stage, and merges itself
across the sequences of a split. Over a finite input (`link`), the people are spooled instead
and written at close with the tracklets linked after the pass (tracker.linked: the JSON, the
summary's links and, when links were made, the MP4 drawn again from a second decode so it
shows the same ids); `timeline_path` gets a picture of the tracks (tracker.timeline).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from posenet.errors import UserError
from posenet.files import AtomicFile, finite, no_space, write_json
from posenet.keypoints import coco_to_posetrack18
from posenet.posetrack.formats import PoseTrack17Writer, PoseTrack18Writer
from tracker.linked import Linker, Links, Spans
from tracker.linking import LinkConfig
from tracker.types import Frame, FrameResult, empty_people
from tracker.video_writer import VideoWriter

if TYPE_CHECKING:
    from tracker.config import OutputConfig, TrackingConfig

# Opens the source again for a second decode (the MP4 drawn with the linked ids).
Reread = Callable[[], AbstractContextManager[Iterable[Frame]]]


@dataclass
class TrackingSummary:
    """Counts and speeds of one run, for the screen and summary.json."""

    source: str
    frames: int = 0
    people: int = 0
    max_people: int = 0
    track_ids: set = field(default_factory=set)  # ids; (source, id) pairs once merged
    stage_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    # How input files made for the video (--poses, --detections) matched it: counts by kind.
    inputs: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: int = 0  # videos not tracked again: their complete outputs existed (many videos)
    processes: list[dict[str, Any]] = field(default_factory=list)  # each process's share
    failed: list[str] = field(default_factory=list)  # videos of a batch that ended in an error
    # The video stream tracked: {"index", "of", "width", "height", "fps"} (videos only).
    stream: dict[str, Any] | None = None
    # Offline linking (tracker.linked): links made (None: not linked), and their (earlier id,
    # later id) pairs in the online pass's ids (one video's; not kept when merged).
    links: int | None = None
    linked: list[tuple[int, int]] = field(default_factory=list)
    glimpses: int = 0  # tracks never confirmed online that linking kept (part of a person)
    # What ran the pose net, e.g. "openvino bf16" or "torch fp32" (None: no pose net ran).
    pose_runtime: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackingSummary:
        """A summary read back from summary.json (e.g. of a video skipped on a rerun), enough
        to merge: the track ids themselves are not stored, only their count."""
        return cls(
            source=d["source"],
            frames=d["frames"],
            people=d["people"],
            max_people=d["max_people_per_frame"],
            track_ids=set(range(d["tracks"])),
            stage_seconds=dict(d["seconds_per_stage"]),
            wall_seconds=d["wall_seconds"],
            outputs=dict(d["outputs"]),
            notes=list(d["notes"]),
            complete=d["complete"],
            failed=list(d.get("failed", [])),
            stream=d.get("stream"),
            links=d.get("links"),
            glimpses=d.get("linked_glimpses", 0),
            pose_runtime=d.get("pose_runtime"),
        )

    def add(self, result: FrameResult) -> None:
        """Count one frame."""
        self.frames += 1
        self.people += len(result)
        self.max_people = max(self.max_people, len(result))
        self.track_ids.update(int(i) for i in result.track_ids)
        for stage, seconds in result.timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def merge(self, other: TrackingSummary) -> None:
        """Add another run (e.g. the next sequence of a split): counts and seconds add up,
        its track ids are kept apart by its source, notes are kept once each."""
        self.frames += other.frames
        self.people += other.people
        self.max_people = max(self.max_people, other.max_people)
        self.track_ids.update((other.source, i) for i in other.track_ids)
        self.wall_seconds += other.wall_seconds
        for stage, seconds in other.stage_seconds.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        self.notes += [note for note in other.notes if note not in self.notes]
        self.failed += other.failed
        for kind, counts in other.inputs.items():
            mine = self.inputs.setdefault(kind, {})
            for key, count in counts.items():
                mine[key] = mine.get(key, 0) + count
        self.complete = self.complete and other.complete
        if other.links is not None:
            self.links = (self.links or 0) + other.links
        self.glimpses += other.glimpses

    def fps(self) -> dict[str, float | None]:
        """Frames per second of each stage alone (None for a stage that took no time)."""
        return {
            stage: (self.frames / s if s > 0 else None) for stage, s in self.stage_seconds.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "source": self.source,
            "complete": self.complete,
            "frames": self.frames,
            "people": self.people,
            "people_per_frame": self.people / self.frames if self.frames else 0.0,
            "max_people_per_frame": self.max_people,
            "tracks": len(self.track_ids),
            "seconds_per_stage": {k: round(v, 4) for k, v in self.stage_seconds.items()},
            "fps_per_stage": {k: (round(v, 2) if v else None) for k, v in self.fps().items()},
            "wall_seconds": round(self.wall_seconds, 3),
            "fps": round(self.frames / self.wall_seconds, 2) if self.wall_seconds > 0 else None,
            "outputs": dict(self.outputs),
            "notes": list(self.notes),
            **({"failed": list(self.failed)} if self.failed else {}),
            **({"skipped": self.skipped, "processes": self.processes} if self.processes else {}),
            "inputs": {kind: dict(counts) for kind, counts in self.inputs.items()},
            **({"stream": dict(self.stream)} if self.stream else {}),
            **({"pose_runtime": self.pose_runtime} if self.pose_runtime else {}),
            **({"links": self.links} if self.links is not None else {}),
            **({"linked_glimpses": self.glimpses} if self.links is not None else {}),
            # The pairs of one video (a merged summary counts links, its videos list them).
            **({"linked": [list(p) for p in self.linked]} if self._pairs_known() else {}),
        }

    def _pairs_known(self) -> bool:
        """Whether `linked` lists every link (one video's summary, not a merged one)."""
        return self.links is not None and self.links == len(self.linked)

    def format(self) -> str:
        """A few lines for the terminal."""
        d = self.to_dict()
        state = "" if self.complete else " (interrupted: outputs hold the frames so far)"
        lines = [
            f"{d['source']}: {d['frames']} frames{state}",
            f"people per frame: {d['people_per_frame']:.2f} (max {d['max_people_per_frame']}), "
            f"tracks: {d['tracks']}",
        ]
        speeds = ", ".join(f"{k} {v:.1f}" if v else f"{k} -" for k, v in d["fps_per_stage"].items())
        wall = f"{d['fps']:.1f} fps overall" if d["fps"] else "-"
        lines.append(f"fps per stage: {speeds}; {wall} ({d['wall_seconds']:.1f} s)")
        if self.links is not None:
            lines.append(
                f"links: {self.links} tracklets joined after the pass, {self.glimpses} "
                "unconfirmed tracks kept as part of a person"
            )
        lines += [f"{kind}: {path}" for kind, path in d["outputs"].items()]
        lines += [f"note: {n}" for n in d["notes"]]
        if self.failed:
            lines.append(f"failed: {', '.join(self.failed)}")
        if self.processes:
            lines.append(
                f"skipped {self.skipped} videos with complete outputs (--overwrite redoes them)"
            )
            lines += [
                f"process {p['rank']}: {p['videos']} videos, {p['frames']} frames, "
                f"{p['seconds']:.1f} s"
                for p in self.processes
            ]
        return "\n".join(lines)


NO_PEOPLE_NOTE = (
    "no person was found in any frame: the outputs are valid but empty (check the detector, "
    "its weights and detector.score_thr)"
)
UNPADDED_NOTE = (
    "the frame numbers in the file names are not zero-padded (e.g. 2.jpg, 10.jpg): frames were "
    "read in natural order, numbers compared as numbers, not in plain name order"
)
ONLINE_IDS_NOTE = (
    "the video shows the ids of the online pass: the source cannot be read a second time to "
    "draw the linked ones (see the JSON)"
)
UNLINKED_NOTE = "the run did not reach the end of its input: tracklets were not linked"
HEAD_NOTE = (
    "the pose net predicts COCO joints: PoseTrack head_bottom is the shoulder midpoint and "
    "head_top is extrapolated from it through the face joints (posenet.keypoints."
    "derive_head_joints); the ear slots are left empty"
)


class JsonlWriter:
    """One JSON line per frame, appended and flushed as each frame is tracked, so another
    program can follow a live run: {"frame", "time" (seconds from the start: the frame's
    presentation time when the source has one, else frame index / fps),
    "file_name", "people": [{"track_id", "box" (x1, y1, x2, y2), "score", "keypoints"
    (COCO-17 [x, y, score] each)}]}. Non-finite numbers are written as null. Written in place,
    not renamed at the end: a killed run leaves every line before the last one valid. The file
    is opened (and an earlier one replaced) at the first frame, so a run that tracks none
    leaves an earlier file as it was; a failed write (a full disk) cuts the half line off."""

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self._file: BinaryIO | None = None  # opened at the first frame
        self._size = 0  # bytes of the whole lines written
        self.num_frames = 0

    def add_frame(
        self, file_name: str, frame_index: int, *people: np.ndarray, time: float | None = None
    ) -> None:
        """Write and flush one frame's line. `people`: keypoints (n, 17, 3) COCO, track ids
        (n,), boxes (n, 4) xyxy, person scores (n,), as the PoseTrack writers take them;
        `time`: seconds from the start (None: frame index / fps)."""
        keypoints, track_ids, boxes, scores = people
        people = [
            {
                "track_id": int(track_ids[k]),
                "box": [round(float(v), 2) for v in boxes[k]],
                "score": round(float(scores[k]), 4),
                "keypoints": [[round(float(v), 2) for v in joint] for joint in keypoints[k]],
            }
            for k in range(len(keypoints))
        ]
        line = {
            "frame": int(frame_index),
            "time": round(frame_index / self.fps if time is None else time, 4),
            "file_name": file_name,
            "people": people,
        }
        self._append((json.dumps(finite(line), allow_nan=False) + "\n").encode("utf-8"))
        self.num_frames += 1

    def _append(self, data: bytes) -> None:
        """Write one whole line unbuffered (on disk for a follower at once); a failed write
        is cut off, so the file never ends in half a line."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb", buffering=0)
        view = memoryview(data)
        try:
            while view:
                view = view[self._file.write(view) or 0 :]
        except OSError:
            self._file.truncate(self._size)
            raise
        self._size += len(data)

    def close(self) -> None:
        """Close the file (every line is already on disk)."""
        if self._file is not None:
            self._file.close()

    def abort(self) -> None:
        """Close the file. With no line in it (no frame tracked, or the first write failed),
        remove it; with lines, keep them: written in place, the earlier run's lines are gone
        anyway, and these are valid."""
        if self._file is None:
            return  # never opened: an earlier file is untouched
        self._file.close()
        if not self.num_frames:
            self.path.unlink(missing_ok=True)


class TrackingOutput:
    """Writes FrameResults to a PoseTrack JSON (2018 or 2017 layout) or JSON lines (`format`
    jsonl) and, when `video_path` is given, an MP4 with skeletons and ids in one colour per
    track. `close()` (also on errors, as a context manager) leaves valid files holding every
    frame written so far."""

    def __init__(
        self,
        json_path: str | os.PathLike,
        video_name: str,
        format: str = "posetrack18",
        video_path: str | os.PathLike | None = None,
        fps: float = 25.0,
        render_thr: float = 0.3,
        derive_head: bool = True,
        source: str = "",
        link: LinkConfig | None = None,
        fill_gaps: int = 0,
        timeline_path: str | os.PathLike | None = None,
        reread: Reread | None = None,
    ) -> None:
        self.json_path = Path(json_path)
        self.jsonl = format == "jsonl"
        if self.jsonl:
            self.json = JsonlWriter(self.json_path, fps)
        else:
            writer_cls = PoseTrack17Writer if format == "posetrack17" else PoseTrack18Writer
            self.json = writer_cls(self.json_path, video_name)
        self.video_path = Path(video_path) if video_path else None
        self.video: VideoWriter | None = None
        self.fps, self.render_thr, self.derive_head = fps, render_thr, derive_head
        self.summary = TrackingSummary(source=source or video_name)
        self.summary.outputs[format] = str(self.json_path)
        if self.video_path:
            self.summary.outputs["video"] = str(self.video_path)
        self._head_noted = False
        self.failed = False  # a write failed: nothing of this run may replace earlier files
        self.summary_written = False  # close() wrote the summary file it was given
        # Said when no frame had anyone; a tool that knows the cause better replaces it.
        self.no_people_note = NO_PEOPLE_NOTE
        # Offline linking (PoseTrack layouts only: JSON lines are written live).
        self.linker = None
        if link is not None and not self.jsonl:
            spool = self.json_path.with_name(f".{self.json_path.name}.spool.part")
            self.linker = Linker(link, spool, fill_gaps)
        self.reread = reread
        self.timeline_path = Path(timeline_path) if timeline_path else None
        self.spans = Spans() if self.timeline_path else None
        if self.timeline_path:
            self.summary.outputs["timeline"] = str(self.timeline_path)
        self._start = time.perf_counter()

    @classmethod
    def from_config(
        cls,
        cfg: OutputConfig,
        json_path: str | os.PathLike,
        video_name: str,
        video_path: str | os.PathLike | None = None,
        fps: float = 25.0,
        source: str = "",
        tracking: TrackingConfig | None = None,
        kind: str | None = None,
        timeline_path: str | os.PathLike | None = None,
        reread: Reread | None = None,
    ) -> TrackingOutput:
        """The outputs of one run as the tracking config's `output` section says (format,
        render_thr, derive_head); `video_path` None: no rendered video. With `tracking`, its
        link keys and fill_gaps apply to a source of `kind` (default: `source`'s kind, see
        tracker.config.link_config); `timeline_path`: where the timeline goes (None: none);
        `reread`: opens the source again, to draw the linked ids into the video."""
        from tracker.config import link_config
        from tracker.video import source_kind

        link = None
        if tracking is not None:
            link = link_config(tracking, cfg.format, kind or source_kind(source or video_name))
        return cls(
            json_path,
            video_name,
            format=cfg.format,
            video_path=video_path,
            fps=fps,
            render_thr=cfg.render_thr,
            derive_head=cfg.derive_head,
            source=source,
            link=link,
            fill_gaps=tracking.fill_gaps if tracking is not None else 0,
            timeline_path=timeline_path if cfg.timeline else None,
            reread=reread,
        )

    def posetrack_keypoints(self, result: FrameResult) -> np.ndarray:
        """PoseTrack-2018 slots for a result: native ones, else derived from COCO."""
        if result.posetrack_keypoints is not None:
            return result.posetrack_keypoints
        if self.derive_head and not self._head_noted:
            self.summary.notes.append(HEAD_NOTE)
            self._head_noted = True
        return coco_to_posetrack18(result.keypoints, derive_head=self.derive_head)

    def write(self, result: FrameResult, file_name: str | None = None) -> None:
        """Add one frame to the JSON (as `file_name`, default the frame name) and the video."""
        t0 = time.perf_counter()
        name = file_name or result.name
        keypoints = result.keypoints if self.jsonl else self.posetrack_keypoints(result)
        if self.linker is not None:  # written at close, with the linked ids
            hidden = result.unconfirmed
            if hidden is not None:
                hidden = replace(hidden, posetrack_keypoints=self.posetrack_keypoints(hidden))
            linked = replace(result, posetrack_keypoints=keypoints, unconfirmed=hidden)
            with self._writing(self.linker.spool_path):
                pieces = self.linker.add(linked, name)
            if self.spans is not None:  # by piece: drawn under the ids written at close
                self.spans.add(pieces)
        else:
            if self.spans is not None:
                self.spans.add(result.track_ids)
            with self._writing(self.json_path):
                self.json.add_frame(
                    name,
                    result.index,
                    keypoints,
                    result.track_ids,
                    result.boxes,
                    result.scores,
                    **({"time": result.time} if self.jsonl else {}),
                )
        timings = dict(result.timings)
        timings["write"] = time.perf_counter() - t0
        if self.video_path is not None and result.image is not None:
            t0 = time.perf_counter()
            with self._writing(self.video_path):
                self._render(result)
            timings["render"] = time.perf_counter() - t0
        self.summary.add(FrameResult(**{**result.__dict__, "timings": timings}))

    def write_empty(self, file_name: str, frame_index: int) -> None:
        """A frame without people (e.g. an annotated frame the tracker did not reach)."""
        keypoints, boxes, scores = empty_people()
        self.json.add_frame(file_name, frame_index, keypoints, np.zeros(0, np.int64), boxes, scores)

    def _render(self, result: FrameResult) -> None:
        from tracker.render import draw_poses

        image = result.image
        if self.video is None:
            height, width = image.shape[:2]
            self.video = VideoWriter(self.video_path, self.fps, width, height)
        canvas = draw_poses(
            image, result.keypoints, result.track_ids, result.boxes, score_thr=self.render_thr
        )
        self.video.write(canvas)

    @contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """A write to `path`: if it fails, the run's outputs must not replace earlier ones
        (`failed`); a full disk is the one-line error naming the device and `path`."""
        try:
            yield
        except OSError as err:
            self.failed = True
            if err.errno == errno.ENOSPC:
                raise no_space(path) from None
            raise

    def close(
        self, complete: bool = True, summary_path: str | os.PathLike | None = None
    ) -> TrackingSummary:
        """Finish the files, and write the summary to `summary_path` if given: all or none.
        The video's encoder is flushed and the summary written to temp files before the JSON
        is renamed into place, then the video and summary are renamed: a failure before that
        (a full disk) drops them all and the earlier files stay. After a failed write
        (`failed`) the files are dropped (`abort`) and the summary is written only when a
        JSONL file, written in place, no longer holds the earlier run."""
        self.summary.complete = complete and not self.failed
        self.summary.wall_seconds = time.perf_counter() - self._start
        if self.summary.frames and not self.summary.people:
            self.summary.notes.append(self.no_people_note)
        if summary_path is not None:
            self.summary.outputs["summary"] = str(summary_path)
        if self.failed:
            self.abort()
            if summary_path is not None and self.replaced_in_place:
                with contextlib.suppress(UserError, OSError):  # the disk may still be full
                    write_summary(self.summary, summary_path)
                    self.summary_written = True
            return self.summary
        summary_file = AtomicFile(summary_path) if summary_path is not None else None
        timeline_file = None
        try:
            links = self._link(complete)
            if self.timeline_path is not None:
                timeline_file = self._timeline(links)
            if self.video is not None:
                with self._writing(self.video_path):
                    self.video.finish()
            if summary_file is not None:
                self.summary.wall_seconds = time.perf_counter() - self._start
                with self._writing(summary_file.path):
                    summary_file.tmp.write_text(_summary_text(self.summary), encoding="utf-8")
            self.json.close()  # PoseTrack: joined and renamed into place; JSONL: closed
        except BaseException:
            if summary_file is not None:
                summary_file.abort()
            if timeline_file is not None:
                timeline_file.abort()
            self.abort()
            raise
        if self.video is not None:
            self.video.commit()
        if timeline_file is not None:
            timeline_file.commit()
        if summary_file is not None:
            summary_file.commit()
            self.summary_written = True
        return self.summary

    def _link(self, complete: bool) -> Links | None:
        """Link the tracklets (over a whole input only) and write the spooled frames to the
        JSON with the linked ids and filled gaps; when links were made, draw the video again
        from a second decode with those ids. None when this run is not linked."""
        if self.linker is None:
            return None
        links = self.linker.link() if complete else None
        if links is None:
            self.summary.notes.append(UNLINKED_NOTE)
        else:
            self.summary.links, self.summary.linked = len(links.pairs), links.pairs
            self.summary.track_ids = set(links.mapping.values())
            self.summary.people += links.filled + links.glimpse_people
            self.summary.glimpses = links.glimpses
            self.summary.stage_seconds["link"] = links.seconds
        changed = links and (links.pairs or links.unjoined or links.glimpses)
        redraw = bool(changed) and self.video is not None
        if redraw and self.reread is None:
            self.summary.notes.append(ONLINE_IDS_NOTE)
            redraw = False
        if redraw:
            self.video.abort()  # drawn again below, under the same name
            self.video = None
        t0 = time.perf_counter()
        with contextlib.ExitStack() as stack:
            images = None
            if redraw:
                images = _images(stack.enter_context(self.reread()))
                next(images)  # primed: it takes frame indices from here on
            render = 0.0
            for frame in self.linker.replay(links):
                r = frame.result
                with self._writing(self.json_path):
                    args = (r.posetrack_keypoints, r.track_ids, r.boxes, r.scores)
                    self.json.add_frame(frame.file_name, r.index, *args)
                image = images.send(r.index) if images is not None else None
                if image is not None:
                    t1 = time.perf_counter()
                    with self._writing(self.video_path):
                        self._render(replace(r, image=image))
                    render += time.perf_counter() - t1
        self.linker.close()
        seconds = self.summary.stage_seconds
        seconds["write"] = seconds.get("write", 0.0) + time.perf_counter() - t0 - render
        if redraw:
            seconds["render"] = seconds.get("render", 0.0) + render
        return links

    def _timeline(self, links: Links | None) -> AtomicFile:
        """The timeline image in a temp file (renamed with the other outputs)."""
        import cv2

        from tracker.timeline import draw_timeline

        mapping = self.linker.written_ids(links) if self.linker is not None else None
        gaps = links.gaps if links else []
        image = draw_timeline(self.spans.frames(mapping), self.spans.num_frames, joins=gaps)
        target = AtomicFile(self.timeline_path, suffix=".png")
        with self._writing(self.timeline_path):
            if not cv2.imwrite(str(target.tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                target.abort()
                raise OSError(f"cannot write {self.timeline_path}")
        return target

    @property
    def replaced_in_place(self) -> bool:
        """Whether an earlier file was replaced as the run went (JSONL with lines written)."""
        return self.jsonl and self.json.num_frames > 0

    def abort(self) -> None:
        """Drop what was written (a run that tracked no frame, or whose writes failed): files
        of an earlier run at the same paths are left as they were (a JSONL file written in
        place keeps its lines once it has any)."""
        try:
            if self.video is not None:
                self.video.abort()
        finally:
            if self.linker is not None:
                self.linker.close()
            self.json.abort()

    def __enter__(self) -> TrackingOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def _images(frames: Iterable[Frame]) -> Iterator[np.ndarray | None]:
    """A coroutine over a second decode: send a frame index, get that frame's image (None
    when the source no longer has it: that frame is left out of the video)."""
    source = iter(frames)
    frame = next(source, None)
    index = yield  # primed: the first index
    while True:
        while frame is not None and frame.index < index:
            frame = next(source, None)
        found = frame.image if frame is not None and frame.index == index else None
        index = yield found


def _summary_text(summary: TrackingSummary) -> str:
    """summary.json's text, as `write_json` writes it."""
    return json.dumps(finite(summary.to_dict()), indent=2, allow_nan=False) + "\n"


def write_summary(summary: TrackingSummary, path: str | os.PathLike) -> None:
    """summary.json, written atomically."""
    write_json(path, summary.to_dict())
