"""Track one source into its output folder, and many sources over the processes of a
torchrun launch.

`track_one` is the body of `tools/track_video.py` for one video. `run_jobs` shares whole
videos among the processes (`tracker.shard.plan_shards`, planned on rank 0 and broadcast),
skips those whose complete outputs exist, and gathers every video's summary on rank 0 into one
merged summary. torch.distributed (gloo on CPU, nccl on GPU) is the only machinery: torchrun
starts the processes, a collective is the barrier.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from posenet import distributed as dist
from posenet.cli import add_config_args, finishing_outputs, output_lock
from posenet.devices import resolve_device
from posenet.errors import DataError, UserError
from tracker.config import DEFAULT_CONFIG, LINKED_KINDS, TrackerConfig
from tracker.inputs import read_input_list, report_inputs, report_source, start_inputs
from tracker.output import UNPADDED_NOTE, TrackingOutput, TrackingSummary, write_summary
from tracker.pipeline import RANDOM_WEIGHTS_NOTE, PoseTracker, dropped_by_tracker_note
from tracker.shard import plan_shards
from tracker.types import FrameResult
from tracker.video import FrameReader, source_kind, source_name

SUMMARY = "summary.json"
# How long a process that has finished its videos waits for the slowest one at the end.
WAIT = timedelta(hours=24)


def progress(results: Iterable[FrameResult], total: int | None, desc: str) -> Iterator:
    """A tqdm bar on stderr (off when stderr is not a terminal); no total for live sources."""
    from tqdm import tqdm

    return tqdm(results, total=total, desc=desc, unit="frame", file=sys.stderr, disable=None)


def print_progress(head: str, summary: TrackingSummary) -> None:
    """One line on stderr when a video of a batch is done: `head`, its tracks and speed."""
    fps = summary.frames / max(summary.wall_seconds, 1e-9)
    print(f"{head}, {len(summary.track_ids)} tracks, {fps:.1f} fps", file=sys.stderr)


def output_path(out_dir: Path, name: str, format: str) -> Path:
    """Where a video's tracks go: <name>.jsonl for JSON lines, else <name>.json."""
    return out_dir / f"{name}.jsonl" if format == "jsonl" else out_dir / f"{name}.json"


def output_stem(name: str) -> str:
    """The file stem of a video's outputs in its folder: its name, unless that would make
    them collide with summary.json (a video called summary): then <name>_video."""
    return f"{name}_video" if name.casefold() == Path(SUMMARY).stem.casefold() else name


def video_files(
    out_dir: Path, name: str, format: str, render: bool, timeline: bool = False
) -> list[Path]:
    """The files a run of video `name` writes in out_dir besides summary.json: its tracks
    (<stem>.json or .jsonl), when `render` <stem>.mp4, and when `timeline` the picture of its
    tracks <stem>_tracks.png (stem: `output_stem`; a .png never meets the others' suffixes)."""
    stem = output_stem(name)
    files = [output_path(out_dir, stem, format)] + [out_dir / f"{stem}.mp4"] * render
    return files + [timeline_path(out_dir, name)] * timeline


def timeline_path(out_dir: Path, name: str) -> Path:
    """Where the timeline of video `name` goes: <stem>_tracks.png."""
    return out_dir / f"{output_stem(name)}_tracks.png"


def writes_timeline(cfg: TrackerConfig, source: str | os.PathLike) -> bool:
    """Whether a run over `source` draws its timeline: output.timeline, for files and folders
    (a stream's picture would have no end to be drawn at)."""
    return cfg.output.timeline and source_kind(os.fspath(source)) in LINKED_KINDS


def unique_names(sources: Sequence[str]) -> list[str]:
    """An output name per source (`source_name`), all different also where case does not
    count (macOS, Windows): a later source whose name is taken gets <name>-2, <name>-3, ...
    (never another source's own name), in command-line order, so a rerun gives the same."""
    own = {source_name(s).casefold() for s in sources}
    used: set[str] = set()
    names = []
    for source in sources:
        name = base = source_name(source)
        k = 2
        while name.casefold() in used or (name != base and name.casefold() in own):
            name, k = f"{base}-{k}", k + 1
        used.add(name.casefold())
        names.append(name)
    return names


def local_paths(items: Iterable[str | os.PathLike | None]) -> list[Path]:
    """The items that name files or folders here (not URLs, streams or cameras): the inputs
    an output must never replace."""
    return [Path(i) for i in items if i and source_kind(os.fspath(i)) in ("file", "folder")]


@contextmanager
def hold_output(folder: Path, option: str = "--out") -> Iterator[Path]:
    """Hold `folder` for this run (posenet.cli.output_lock): a second run given it refuses in
    one line naming this one. Under torchrun only rank 0 locks (every process of the launch
    writes there) and tells the others whether it could; they refuse with it."""
    with contextlib.ExitStack() as stack:
        refusal = None
        if dist.is_main():
            try:
                stack.enter_context(output_lock(folder, option))
            except UserError as err:
                refusal = str(err)
        refusal = dist.broadcast_object(refusal)
        if refusal is not None:
            raise UserError(refusal)
        yield folder


def running_marker(summary_path: Path) -> Path:
    """The empty file that says a run is writing (or was, if it was killed) the outputs next
    to `summary_path`: while it exists they do not count as complete. A marker, not a stub
    summary, so a run that fails (a full disk) leaves the earlier summary as it was."""
    return summary_path.with_name(f".{summary_path.name}.running")


def mark_incomplete(summary_path: Path, source: str) -> None:
    """Write a summary saying 'not complete' before a video starts: if the process dies, a
    rerun sees the video as unfinished, whatever older outputs lie next to it."""
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    write_summary(TrackingSummary(source=source, complete=False), summary_path)


def track_one(
    reader: FrameReader,
    tracker: PoseTracker,
    out_dir: Path,
    name: str,
    render: bool = True,
    report: Callable[[TrackingSummary], None] | None = None,
) -> TrackingSummary:
    """Track `reader`'s frames into out_dir: <name>.json (or .jsonl), <name>.mp4 when
    `render`, <name>_tracks.png for files and folders (`writes_timeline`) and summary.json
    (see `video_files`); tracklets are linked at the end as tracking.link says. Also when
    stopped (Ctrl-C, a broken frame) every output holds the frames so far and summary.json
    says complete: false; `report` sees the summary then. A run that tracks no frame, or
    whose writes fail (a full disk), leaves the earlier outputs as they were (a JSONL file,
    written in place, keeps the lines so far) and no folder it made."""
    cfg = tracker.config
    start_inputs((tracker.poses, tracker.detector), reader.name)  # fails before any output
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / SUMMARY
    marker = running_marker(summary_path)
    marker.touch()
    json_path = output_path(out_dir, output_stem(name), cfg.output.format)
    timeline = writes_timeline(cfg, reader.source)

    def reread() -> FrameReader:
        """The same frames again, for the video drawn with the linked ids."""
        return FrameReader(reader.source, reader.start, reader.end, stream=reader.stream_choice)

    output = TrackingOutput.from_config(
        cfg.output,
        json_path,
        name,
        video_path=out_dir / f"{output_stem(name)}.mp4" if render else None,
        fps=reader.fps,
        source=str(reader.source),
        tracking=cfg.tracking,
        kind=reader.kind,
        timeline_path=timeline_path(out_dir, name) if timeline else None,
        reread=reread if reader.kind in LINKED_KINDS else None,
    )
    output.summary.notes += [n for n in tracker.notes if n.startswith(RANDOM_WEIGHTS_NOTE)]
    output.summary.pose_runtime = getattr(tracker.pose_estimator, "runtime", None)
    if getattr(reader, "unpadded_names", False):
        output.summary.notes.append(UNPADDED_NOTE)
    complete = False
    try:
        results = tracker.track(reader, keep_images=render)
        for result in progress(results, reader.num_frames, name):
            output.write(result, file_name=f"{name}/{result.name}")
        complete = True
    finally:
        with finishing_outputs():  # a second Ctrl-C or SIGTERM must not cut this short
            frames = output.summary.frames
            whole = complete and reader.start == 0 and (reader.end is None or frames < reader.end)
            report_inputs(output, (tracker.poses, tracker.detector), whole_video=whole)
            report_source(output, reader)
            if frames and not output.summary.people and tracker.people_in:
                output.no_people_note = dropped_by_tracker_note(tracker, frames)
            try:
                if frames:
                    summary = output.close(complete, summary_path)
                else:  # nothing tracked: earlier outputs stay as they were
                    output.abort()
            finally:
                if output.summary_written or not output.replaced_in_place:
                    marker.unlink(missing_ok=True)
                if made:
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()  # only if empty: nothing was written
            if frames and report is not None and not output.failed:
                report(summary)
    if not frames:
        raise DataError(
            f"{reader.source}: no frame to track at or after --start {reader.start} (the "
            "source is shorter or broken at its start); nothing was written"
        )
    return summary


def add_tracking_args(
    parser: argparse.ArgumentParser, formats: Sequence[str], detections_help: str
) -> None:
    """The options track_video and track_posetrack share: config, device, output layout,
    weights and replayed detections."""
    add_config_args(parser, default_config=DEFAULT_CONFIG)
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    live = "; jsonl for live sources" if "jsonl" in formats else ""
    parser.add_argument(
        "--format", choices=formats, help=f"output layout (default: posetrack18{live})"
    )
    parser.add_argument(
        "--pose-weights",
        help="pose-net weights: a name or a file; none: random weights (the poses mean "
        "nothing: for testing the machinery, said in the summary) (default: the config's "
        "pose.weights)",
    )
    parser.add_argument(
        "--det-weights",
        help="detector weights: a torchvision name or a file; none: random weights (the "
        "boxes mean nothing, as with --pose-weights none) (default: the config's "
        "detector.weights)",
    )
    parser.add_argument("--detections", help=f"{detections_help} (default: run the detector)")


def expand_inputs(items: Sequence[str], lists: tuple[Path, ...] = ()) -> list[str]:
    """The sources named on a command line, in order, each once: a video file, folder of
    frames, URL, stream or camera as given; a glob pattern (quoted, so the shell leaves it) as
    its sorted matches; a .txt file as the sources it lists one per line (blank lines and
    lines starting with # skipped; relative paths are relative to the list's folder; a list
    that includes itself or names nothing is an error). `lists`: the lists being read."""
    sources: list[str] = []
    for item in items:
        path = Path(item)
        if source_kind(item) in ("url", "stream", "camera"):
            sources.append(item)
        elif path.suffix.lower() == ".txt" and path.is_file():
            for line in read_input_list(path, lists):
                local = source_kind(line) in ("file", "folder") and not Path(line).is_absolute()
                entry = str(path.parent / line) if local else line
                sources += expand_inputs([entry], (*lists, path.resolve()))
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise DataError(f"{item}: no file or folder matches this pattern")
            sources += matches
        else:
            sources.append(item)
    return list(dict.fromkeys(sources))


@dataclass
class Job:
    """One video of a batch: what to track, its summary file and the outputs a complete run
    of it leaves (all must exist for a rerun to skip it)."""

    name: str
    source: str
    summary_path: Path
    outputs: list[Path] = field(default_factory=list)


def is_complete(job: Job) -> bool:
    """Whether the job's summary says complete, for the job's source, no run is (or was
    killed while) writing there, and every output it lists for it exists."""
    try:
        summary = json.loads(job.summary_path.read_text())
    except (OSError, ValueError):
        return False
    if running_marker(job.summary_path).exists() or not isinstance(summary, dict):
        return False
    same_source = summary.get("source") in (job.source, str(Path(job.source)))
    return same_source and summary.get("complete") is True and all(p.exists() for p in job.outputs)


def init_processes(cfg: TrackerConfig) -> None:
    """Join the torchrun process group (if any) and give this process its device: under
    torchrun on GPUs, process LOCAL_RANK uses cuda:LOCAL_RANK (nccl); on CPU gloo."""
    device = resolve_device(cfg.device)
    cfg.device = dist.init_from_env(device, timeout=WAIT)


def _run_job(job: Job, track: Callable[[Job], TrackingSummary]) -> TrackingSummary:
    """Track one job; a bad video becomes an incomplete summary with the error as a note, so
    the other videos of the batch go on."""
    try:
        return track(job)
    except UserError as err:
        print(f"{job.name}: error: {err}", file=sys.stderr)
        try:
            summary = TrackingSummary.from_dict(json.loads(job.summary_path.read_text()))
        except (OSError, ValueError, KeyError):
            summary = TrackingSummary(source=job.source)
        summary.complete = False
        summary.notes.append(f"{job.name}: {err}")
        summary.failed = [job.name]
        return summary


def run_jobs(
    jobs: Sequence[Job],
    track: Callable[[Job], TrackingSummary],
    length: Callable[[Job], int | None],
    summary_path: Path,
    overwrite: bool = False,
) -> TrackingSummary | None:
    """Track this process's share of `jobs`; rank 0 writes the merged summary (in job order)
    to `summary_path` and returns it, the others return None. `length(job)`: frames of a job
    before tracking (None: unknown), for balancing; only rank 0 calls it. Jobs whose complete
    outputs exist are skipped unless `overwrite`."""
    start = time.perf_counter()
    plan = None
    if dist.is_main():
        skipped = [i for i, job in enumerate(jobs) if not overwrite and is_complete(job)]
        todo = [i for i in range(len(jobs)) if i not in set(skipped)]
        lengths = [length(jobs[i]) for i in todo]
        shards = [[todo[k] for k in s] for s in plan_shards(lengths, dist.world_size())]
        plan = (shards, skipped, dict(zip(todo, lengths)))
    shards, skipped, lengths = dist.broadcast_object(plan)
    rank = dist.rank()
    mine: dict[int, TrackingSummary] = {}
    for i in shards[rank]:
        mine[i] = _run_job(jobs[i], track)
    share = {
        "rank": rank,
        "videos": len(mine),
        "planned_frames": sum(lengths[i] or 0 for i in mine),
        "frames": sum(s.frames for s in mine.values()),
        "seconds": round(time.perf_counter() - start, 3),
    }
    gathered = dist.gather_objects((mine, share))  # every process waits here for the slowest
    merged = None
    if dist.is_main():
        summaries = {i: s for part, _ in gathered for i, s in part.items()}
        for i in skipped:
            summaries[i] = TrackingSummary.from_dict(json.loads(jobs[i].summary_path.read_text()))
        merged = TrackingSummary(source=os.fspath(summary_path.parent))
        for i in range(len(jobs)):
            merged.merge(summaries[i])
        merged.wall_seconds = time.perf_counter() - start
        merged.skipped = len(skipped)
        merged.processes = [s for _, s in gathered]
        merged.outputs["summary"] = str(summary_path)
        write_summary(merged, summary_path)
    dist.barrier()  # no process exits (torchrun would stop the others) before it is written
    return merged
