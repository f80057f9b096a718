"""Track the poses of everyone in a video: PoseTrack JSON (or JSON lines), rendered MP4, summary.

    python tools/track_video.py INPUT [INPUT ...] [--out DIR] [--overwrite]
        [--config configs/tracking/default.yaml] [--set key=value] [--device cuda|cpu]
        [--start N] [--end N] [--stream N] [--no-render]
        [--format posetrack18|posetrack17|jsonl] [--pose-weights W] [--det-weights W]
        [--detections FILE.json] [--poses FILE.json]
    torchrun --nproc-per-node 8 tools/track_video.py 'videos/*.mp4' --out DIR

An input is any video PyAV opens, a folder of frames, an http(s) URL, an RTSP/RTMP stream or a
camera (0, /dev/video0). One input: DIR (default ./<name>) gets <name>.json, <name>.mp4 and
summary.json; live sources (streams, cameras) write <name>.jsonl unless --format says
otherwise. Several inputs (files, folders, quoted globs, .txt lists): DIR/<name>/ per video and
DIR/summary.json merged; videos are shared among the processes of a torchrun launch, and a
rerun skips those whose complete outputs exist (--overwrite redoes them); two inputs of one
name get DIR/<name>/ and DIR/<name>-2/, and a video called summary writes summary_video.json.
An interrupted run (Ctrl-C, a broken video) still leaves valid files holding every frame
tracked so far; a run that tracks no frame, or fails to write (a full disk), leaves earlier
outputs as they were. No output may replace an input, and a second run on the same DIR
refuses while the first goes on. A failed video of several exits 2, but 0 under torchrun
(whose launcher would print a traceback): summary.json lists it under "failed".
--pose-weights none / --det-weights none build random nets, said on stderr and in the summary.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from posenet import distributed as dist
from posenet.cli import HelpFormatter, check_not_inputs, check_output_dir, run_cli
from posenet.errors import UserError
from tracker.config import (
    FORMATS,
    TrackerConfig,
    apply_options,
    load_tracker_config,
)
from tracker.output import TrackingSummary
from tracker.pipeline import PoseTracker
from tracker.poses import GivenPoses
from tracker.run import (
    SUMMARY,
    Job,
    add_tracking_args,
    expand_inputs,
    hold_output,
    init_processes,
    local_paths,
    print_progress,
    run_jobs,
    track_one,
    unique_names,
    video_files,
    writes_timeline,
)
from tracker.video import FrameReader, source_kind, source_name

LIVE = ("stream", "camera")
FAILED_UNDER_TORCHRUN = (
    "{} of the {} videos failed (listed under 'failed' in summary.json, each error in its "
    "notes); exit code 0 under torchrun so the launcher reports no crash"
)


def load_config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """TrackerConfig from --config/--set, then the dedicated options on top."""
    cfg = load_tracker_config(args.config, args.overrides)
    if getattr(args, "no_timeline", False):
        cfg.output.timeline = False
    return apply_options(
        cfg, args.device, args.format, args.pose_weights, args.det_weights, args.detections
    )


def report(summary: TrackingSummary) -> None:
    """The one-screen summary: stdout when the run completed, stderr when it stopped."""
    print(summary.format(), file=sys.stdout if summary.complete else sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Track one or many videos (or frame folders, URLs, streams, cameras)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    add_tracking_args(
        parser, FORMATS, "replay person boxes from this detection JSON (sets detector.replay)"
    )
    parser.add_argument(
        "input", nargs="+", help="video file, folder of frames, URL, stream, camera, glob, list"
    )
    parser.add_argument("--out", help="output folder (default: ./<input name>)")
    parser.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    parser.add_argument("--end", type=int, help="stop before this frame (default: the end)")
    parser.add_argument("--no-render", action="store_true", help="skip the rendered MP4")
    parser.add_argument(
        "--no-timeline",
        action="store_true",
        help="files and folders: skip <name>_tracks.png, the picture of the tracks",
    )
    parser.add_argument(
        "--stream",
        type=int,
        help="which video stream of a file with several, from 0 (default: the one a player "
        "shows: most pixels, then most frames)",
    )
    parser.add_argument(
        "--poses",
        help="PoseTrack-2018 JSON of people per frame: only track them (no detection "
        "or pose estimation) (default: none: detect people and estimate their poses)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="several inputs: redo videos already complete"
    )
    args = parser.parse_args(argv)
    cfg = load_config_from_args(args)
    if len(args.input) == 1 and expand_inputs(args.input) == args.input:
        return track_single(args, cfg)
    return track_many(args, cfg)


def input_paths(args: argparse.Namespace, cfg: TrackerConfig, sources: Sequence[str]) -> list:
    """Every local file or folder the run reads, which no output may replace: the inputs as
    given (list files too) and expanded, --poses, --detections and the config file."""
    config = args.config if args.config and Path(args.config).is_file() else None
    return local_paths([*args.input, *sources, args.poses, cfg.detector.replay, config])


def track_single(args: argparse.Namespace, cfg: TrackerConfig) -> int:
    """One input: its outputs straight in --out (default ./<name>), always tracked anew."""
    if int(os.environ.get("RANK", "0")) > 0:
        return 0  # under torchrun, one input is rank 0's alone
    source = args.input[0]
    name = source_name(source)
    out_dir = check_output_dir(Path(args.out) if args.out else Path.cwd() / name, "--out")
    if args.format is None and source_kind(source) in LIVE:
        cfg.output.format = "jsonl"  # a live run is followed line by line, and may never end
    render = cfg.output.render and not args.no_render
    timeline = writes_timeline(cfg, source)
    outputs = [*video_files(out_dir, name, cfg.output.format, render, timeline), out_dir / SUMMARY]
    check_not_inputs(outputs, input_paths(args, cfg, [source]), "--out")
    with (
        hold_output(out_dir),
        FrameReader(source, args.start, args.end, stream=args.stream) as reader,
    ):
        given = GivenPoses(args.poses, (reader.width, reader.height)) if args.poses else None
        tracker = PoseTracker(cfg, poses=given)
        for note in tracker.notes:
            print(f"note: {note}", file=sys.stderr)
        track_one(reader, tracker, out_dir, name, render=render, report=report)
    return 0


def track_many(args: argparse.Namespace, cfg: TrackerConfig) -> int:
    """Several inputs: out/<name>/ each, shared among torchrun's processes, resumable."""
    if not args.out:
        raise UserError("several inputs need --out DIR (one folder per video goes there)")
    if args.poses:
        raise UserError("--poses describes one video: give a single input with it")
    out = check_output_dir(args.out, "--out")
    sources = expand_inputs(args.input)
    render = cfg.output.render and not args.no_render
    jobs = []
    for name, source in zip(unique_names(sources), sources):
        folder = out / name  # its own folder: no two videos, nor the summary, share a path
        files = video_files(folder, name, cfg.output.format, render, writes_timeline(cfg, source))
        jobs.append(Job(name, source, folder / SUMMARY, files))
    outputs = [out / SUMMARY] + [p for job in jobs for p in (*job.outputs, job.summary_path)]
    check_not_inputs(outputs, input_paths(args, cfg, sources), "--out")
    init_processes(cfg)
    launched = dist.world_size() > 1
    tracker: PoseTracker | None = None

    def track(job: Job) -> TrackingSummary:
        nonlocal tracker
        with FrameReader(job.source, args.start, args.end, stream=args.stream) as reader:
            if tracker is None:  # built once per process, on its first video
                tracker = PoseTracker(cfg)
                for note in tracker.notes if dist.is_main() else ():
                    print(f"note: {note}", file=sys.stderr)
            summary = track_one(reader, tracker, job.summary_path.parent, job.name, render)
        print_progress(f"[process {dist.rank()}] {job.name}: {summary.frames} frames", summary)
        return summary

    try:
        with hold_output(out):
            merged = run_jobs(jobs, track, frame_count(args), out / SUMMARY, args.overwrite)
    finally:
        dist.cleanup()
    if merged is None:
        return 0
    report(merged)
    if merged.failed and launched:
        # A non-zero exit would make torchrun print a ChildFailedError traceback over the
        # outputs of the videos that went well: the summary lists the failed ones instead.
        note = FAILED_UNDER_TORCHRUN.format(len(merged.failed), len(jobs))
        print(f"note: {note}", file=sys.stderr)
        return 0
    return 0 if merged.complete else 2


def frame_count(args: argparse.Namespace):
    """Frames a job will track, read from its source before tracking (None if unknown)."""

    def count(job: Job) -> int | None:
        try:
            with FrameReader(job.source, args.start, args.end, stream=args.stream) as reader:
                return reader.num_frames
        except UserError:
            return None  # it fails again, with its message, when its process tracks it

    return count


if __name__ == "__main__":
    sys.exit(run_cli(main))
