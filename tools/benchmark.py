"""Speed of the pose net, the detector, the whole tracker and the training step on this machine,
and the tracking-quality benchmark. The runs live in tracker/benchmarks.py (and posenet/speed.py,
tracker/tracking_benchmark.py); the README's Speed and Tracking quality sections explain every
figure. Weights do not change speed: every speed benchmark uses random initialisation.

    python tools/benchmark.py all [--device cuda] [--quick] [--json figures.json]
    python tools/benchmark.py pose [--batch-sizes 1,8,64,256] [--precisions fp32,bf16]
    python tools/benchmark.py pose --device cpu --backends torch:fp32,torch:bf16,openvino
    python tools/benchmark.py precision --weights model_best.pth --backends torch:bf16,openvino
    python tools/benchmark.py track [--configs default,cpu] [--intervals 1,2,3,5] [--video F]
    python tools/benchmark.py detect [--models fasterrcnn_resnet50_fpn_v2,...]
    python tools/benchmark.py train [--data ../shared/data/coco-mini] [--steps 20]
    python tools/benchmark.py tracking [--trackers default,paper] [--seeds 0,1,2] [--true-ids]
    python tools/benchmark.py linking [--frames 1000] [--people 10]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

from posenet.cli import (
    HelpFormatter,
    add_config_args,
    check_output_file,
    int_list,
    name_list,
    run_cli,
    seed_list,
)
from posenet.errors import UserError
from posenet.files import write_json
from posenet.speed import flush_denormals, training_benchmark, training_line
from tracker import benchmarks as bench
from tracker import tracking_benchmark as tb
from tracker.config import DetectorConfig
from tracker.linking_speed import linking_benchmark
from tracker.speed import PEOPLE_PER_FRAME

DEVICE_HELP = "cuda, cuda:N or cpu (default: cuda if available)"
say = partial(print, flush=True)  # report lines at once: a benchmark runs for minutes


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """One parsed subcommand, run by the library; its lines go to stdout as they come."""
    if args.command == "pose":
        return bench.pose_benchmark(
            args.config,
            args.overrides,
            args.device,
            weights=args.weights,
            batch_sizes=args.batch_sizes,
            precisions=args.precisions,
            flip_test=args.flip_test,
            min_time=args.min_time,
            size=(args.width, args.height),
            quick=args.quick,
            backends=args.backends,
            log=say,
        )
    if args.command == "precision":
        return bench.precision_benchmark(
            args.config,
            args.weights,
            args.data,
            args.overrides,
            args.split,
            args.backends,
            args.max_images,
            log=say,
        )
    if args.command == "track":
        return bench.track_benchmark(
            args.configs or [args.config],
            args.overrides,
            args.device,
            flows=args.flows,
            intervals=args.intervals,
            frames=args.frames,
            people=args.people,
            size=(args.width, args.height),
            video=args.video,
            detector=not args.no_detector,
            pose_weights=args.pose_weights,
            det_weights=args.det_weights,
            log=say,
        )
    if args.command == "detect":
        size = (args.width, args.height)
        return bench.detect_benchmark(
            args.models, args.device, size, args.batch_sizes, args.min_time, log=say
        )
    if args.command == "train":
        report = training_benchmark(
            args.config,
            args.data,
            args.overrides,
            args.device,
            args.batch_size,
            args.steps,
            args.workers,
        )
        say(training_line(report))
        return report
    if args.command == "linking":
        return linking_benchmark(args.frames, args.people, args.seed, args.repeat, log=say)
    if args.command == "tracking":
        return tb.run_tracking_benchmark(
            args.gt,
            args.trackers,
            args.overrides,
            args.settings,
            args.seeds,
            args.max_videos,
            args.workers,
            args.out,
            log=print,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            true_ids=args.true_ids,
        )
    rerun = lambda argv: run(parser.parse_args(argv), parser)  # noqa: E731
    return bench.run_all(args.device, args.quick, args.tiny, args.data, rerun, log=say)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and option (the README lists them)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    subcommand = partial(sub.add_parser, formatter_class=HelpFormatter)
    coco_mini = bench.default_train_data()

    every = subcommand("all", help="pose, track, detect and train figures in one JSON")
    every.add_argument("--device", help=DEVICE_HELP)
    every.add_argument("--quick", action="store_true", help="small sizes (a CPU: minutes)")
    every.add_argument("--tiny", action="store_true", help="smallest sizes (tests: seconds)")
    every.add_argument("--data", default=coco_mini, help="COCO root for the training step")

    pose = subcommand("pose", help="crops/s of the pose net: batched, bare net, per-person loop")
    add_config_args(pose, default_config=bench.POSE_CONFIG)
    pose.add_argument("--device", help=DEVICE_HELP)
    pose.add_argument("--weights", help="pose-net weights (default: random init, same speed)")
    pose.add_argument("--batch-sizes", type=int_list, help="default 1,8,64,256 (--quick: 1,8)")
    pose.add_argument(
        "--precisions",
        type=lambda s: s.split(","),
        help="fp32,bf16,fp16 (default: fp32,bf16 on CUDA, fp32 on CPU)",
    )
    pose.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        help="compare CPU runtimes at one batch (the first of --batch-sizes, default 10), e.g. "
        "torch:fp32,torch:bf16,onnxruntime,openvino:fp32,openvino (default: off)",
    )
    pose.add_argument("--flip-test", action="store_true", help="two passes per crop")
    pose.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    pose.add_argument("--width", type=int, default=1280, help="frame width the boxes lie in")
    pose.add_argument("--height", type=int, default=720, help="frame height")
    pose.add_argument("--quick", action="store_true", help="small batches, short measurements")

    precision = subcommand(
        "precision", help="keypoints of a backend/precision against torch fp32 on real images"
    )
    add_config_args(precision, default_config=bench.POSE_CONFIG)
    precision.add_argument("--weights", required=True, help="a trained pose net's weights")
    precision.add_argument("--data", default=coco_mini, help="COCO-style root (default coco-mini)")
    precision.add_argument("--split", default="val2017", help="its split (default val2017)")
    precision.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        default=["torch:bf16"],
        help="BACKEND:PRECISION list compared with torch fp32 (default torch:bf16)",
    )
    precision.add_argument("--max-images", type=int, default=0, help="first N images (0: all)")

    track = subcommand("track", help="fps per stage and end to end of the video tracker")
    add_config_args(track, default_config=bench.TRACK_CONFIG)
    configs_help = "tracker configs to compare: names (default, cpu) or YAML paths"
    track.add_argument("--configs", type=name_list, help=f"{configs_help} (default: --config)")
    track.add_argument(
        "--intervals",
        type=int_list,
        help="detector.interval values, e.g. 1,2,3,5 (default: the config's)",
    )
    track.add_argument(
        "--flows",
        type=name_list,
        help="flow.name values, e.g. dis,raft_small (default: the config's)",
    )
    track.add_argument("--device", help=DEVICE_HELP)
    track.add_argument("--frames", type=int, default=64, help="frames measured (after warm-up)")
    track.add_argument("--people", type=int, default=PEOPLE_PER_FRAME, help="people per frame")
    track.add_argument("--width", type=int, default=1280, help="frame width")
    track.add_argument("--height", type=int, default=720, help="frame height")
    track.add_argument(
        "--video", help="real frames from this video (looped, resized) (default: synthetic frames)"
    )
    track.add_argument("--no-detector", action="store_true", help="leave detection out")
    weights_help = "weights: a name or a file (default: none: random init, the same speed)"
    track.add_argument("--pose-weights", default="none", help=f"pose-net {weights_help}")
    track.add_argument("--det-weights", default="none", help=f"detector {weights_help}")

    detect = subcommand("detect", help="detector frames/s, single frames vs batches")
    detect.add_argument(
        "--models",
        type=name_list,
        help=f"torchvision detection models (default: {DetectorConfig().name})",
    )
    detect.add_argument("--device", help=DEVICE_HELP)
    detect.add_argument("--batch-sizes", type=int_list, default=[1, 4], help="default 1,4")
    detect.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    detect.add_argument("--width", type=int, default=1280, help="frame width")
    detect.add_argument("--height", type=int, default=720, help="frame height")

    train = subcommand("train", help="training images/s: full step vs cached tensors")
    add_config_args(train, default_config=bench.POSE_CONFIG)
    train.add_argument("--device", help=DEVICE_HELP)
    train.add_argument("--data", default=coco_mini, help="COCO root (default coco-mini)")
    train.add_argument("--steps", type=int, default=20, help="training steps measured")
    train.add_argument("--batch-size", type=int, help="default: the config's train.batch_size")
    train.add_argument("--workers", type=int, default=-1, help="loader workers (-1: cores - 1)")

    tracking = subcommand("tracking", help="tracking quality on perturbed ground-truth poses")
    gt_help = "folder of PoseTrack 2017 or 2018 ground truth (default: the Bonn set)"
    tracking.add_argument("--gt", default=tb.default_ground_truth(), help=gt_help)
    trackers_help = "tracker config names (default, paper, iou, greedy, ...) or YAML paths"
    tracking.add_argument("--trackers", type=name_list, default=["default"], help=trackers_help)
    tracking.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the named trackers' config, e.g. tracking.queue_length=10 (repeatable; "
        "default: none)",
    )
    settings_help = "perturbation settings: gap0,gap8,gap20,noise8,drop30,spurious (default: all)"
    tracking.add_argument("--settings", type=name_list, help=settings_help)
    tracking.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="default 0,1,2")
    tracking.add_argument(
        "--max-videos", type=int, help="only the first N videos, by name (default: all)"
    )
    tracking.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    tracking.add_argument("--out", help="keep detections and tracks here (default: a temp folder)")
    tracking.add_argument(
        "--true-ids",
        action="store_true",
        help="also score each named tracker's own poses under ground-truth ids (rows '<tracker> "
        "+ true ids'): what its ids cost, and what re-identification could win back",
    )
    tracking.add_argument(
        "--json", help="also write every number to this JSON file (default: print only)"
    )
    linking = subcommand("linking", help="offline linking's cost next to tracking (synthetic)")
    linking.add_argument("--frames", type=int, default=1000, help="frames of the video")
    linking.add_argument("--people", type=int, default=10, help="people in it")
    linking.add_argument("--seed", type=int, default=0, help="random seed of the people")
    linking.add_argument("--repeat", type=int, default=3, help="runs of each, the best counts")
    for command in (every, pose, precision, track, detect, train, linking):
        command.add_argument(
            "--json", help="also write the figures to this JSON file (default: print only)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check the numbers, run the subcommand, write --json."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "tracking":
        if args.workers < 1 or (args.max_videos is not None and args.max_videos < 1):
            parser.error("--workers and --max-videos must be at least 1")
    else:
        flush_denormals()
    if args.command == "pose" and args.min_time <= 0:
        parser.error("--min-time must be positive")
    if args.command == "track" and (args.frames < 1 or args.people < 0):
        parser.error("--frames must be at least 1 and --people at least 0")
    if args.command == "train" and args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.command == "train" and args.workers < -1:
        raise UserError(f"--workers {args.workers}: expected 0 or more, or -1 (the cores less one)")
    if args.json:  # before the run: a benchmark takes minutes, its figures must not be lost
        check_output_file(args.json, "--json")
    report = run(args, parser)
    if args.json:
        write_json(args.json, report, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
