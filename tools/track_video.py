"""Track the poses of everyone in a video: PoseTrack JSON, rendered MP4 and a summary.

    python tools/track_video.py input.mp4 [--out DIR] [--config configs/tracking/default.yaml]
        [--set key=value] [--device cuda|cpu] [--start N] [--end N] [--no-render]
        [--format posetrack18|posetrack17] [--pose-weights W] [--det-weights W]
        [--detections FILE.json] [--poses FILE.json]

The input is any video PyAV opens or a folder of frames. DIR (default ./<input name>) gets
<name>.json, <name>.mp4 and summary.json. An interrupted run (Ctrl-C, a broken video) still
leaves valid files holding every frame tracked so far.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from posenet.cli import add_config_args, check_output_dir, run_cli
from tracker.config import (
    DEFAULT_CONFIG,
    FORMATS,
    TrackerConfig,
    apply_options,
    load_tracker_config,
)
from tracker.output import TrackingOutput, write_summary
from tracker.pipeline import PoseTracker
from tracker.poses import GivenPoses
from tracker.video import FrameReader


def add_tracking_args(parser: argparse.ArgumentParser) -> None:
    """Options shared with track_posetrack."""
    add_config_args(parser, default_config=DEFAULT_CONFIG)
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    parser.add_argument("--format", choices=FORMATS, help="JSON layout (default posetrack18)")
    parser.add_argument("--pose-weights", help="pose-net weights: a name or a file")
    parser.add_argument("--det-weights", help="detector weights: a torchvision name or a file")
    parser.add_argument("--detections", help="replay person boxes from this detection JSON")


def load_config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """TrackerConfig from --config/--set, then the dedicated options on top."""
    cfg = load_tracker_config(args.config, args.overrides)
    return apply_options(
        cfg, args.device, args.format, args.pose_weights, args.det_weights, args.detections
    )


def progress(results, total: int | None, desc: str):
    """A tqdm bar on stderr (off when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(results, total=total, desc=desc, unit="frame", file=sys.stderr, disable=None)


def main(argv: Sequence[str] | None = None) -> int:
    """Track one video or frame folder and write JSON, MP4 and summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tracking_args(parser)
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("--out", help="output folder (default: ./<input name>)")
    parser.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    parser.add_argument("--end", type=int, help="stop before this frame (default: the end)")
    parser.add_argument("--no-render", action="store_true", help="skip the rendered MP4")
    parser.add_argument(
        "--poses",
        help="PoseTrack-2018 JSON of people per frame: only track them (no detection "
        "or pose estimation)",
    )
    args = parser.parse_args(argv)
    cfg = load_config_from_args(args)
    source = Path(args.input)
    name = source.stem if source.is_file() else source.name
    check_output_dir(Path(args.out) if args.out else Path.cwd() / name, "--out")
    with FrameReader(source, start=args.start, end=args.end) as reader:
        given = GivenPoses(args.poses) if args.poses else None
        tracker = PoseTracker(cfg, poses=given)
        for note in tracker.notes:
            print(f"note: {note}", file=sys.stderr)
        out_dir = Path(args.out) if args.out else Path.cwd() / name
        out_dir.mkdir(parents=True, exist_ok=True)
        render = cfg.output.render and not args.no_render
        output = TrackingOutput(
            out_dir / f"{name}.json",
            name,
            format=cfg.output.format,
            video_path=out_dir / f"{name}.mp4" if render else None,
            fps=reader.fps,
            render_thr=cfg.output.render_thr,
            derive_head=cfg.output.derive_head,
            source=str(source),
        )
        complete = False
        try:
            results = tracker.track(reader, keep_images=render)
            for result in progress(results, reader.num_frames, name):
                output.write(result, file_name=f"{name}/{result.name}")
            complete = True
        finally:
            summary = output.close(complete)
            summary.outputs["summary"] = str(out_dir / "summary.json")
            write_summary(summary, out_dir / "summary.json")
            print(summary.format(), file=sys.stdout if complete else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
