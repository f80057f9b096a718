"""Speed of the pose net, the detector, the whole tracker and the training step on this machine.

    python tools/benchmark.py all [--device cuda] [--quick] [--json figures.json]
    python tools/benchmark.py pose [--config configs/coco/res50_256x192.yaml] [--device cuda]
        [--batch-sizes 1,8,64,256] [--precisions fp32,bf16] [--flip-test] [--quick] [--json F]
    python tools/benchmark.py track [--configs default,cpu] [--intervals 1,2,3,5]
        [--flows dis,raft_small] [--frames 64] [--people 10] [--width 1280 --height 720]
        [--video FILE] [--json F]
    python tools/benchmark.py detect [--models fasterrcnn_resnet50_fpn_v2,...] [--batch-sizes 1,4]
    python tools/benchmark.py train [--config ...] [--data ../shared/data/coco-mini] [--steps 20]
    python tools/benchmark.py tracking [--gt DIR] [--trackers default,greedy,FILE.yaml]
        [--set key=value] [--settings gap0,gap8,...] [--seeds 0,1,2] [--max-videos N]
        [--workers N] [--out DIR] [--json F]

`all` runs pose, track, detect and train with the settings of the README's figures and writes
every number to one JSON (`--quick`: small sizes, a few minutes on a CPU).
`pose` reports crops/s end to end (boxes in, keypoints out: crops, net, decoding), for the bare
network, and for a per-person loop (one crop at a time, cv2 warp, fp32), all in one run.
`track` runs the tracker (tracker/speed.py) for every tracker config x flow x keyframe interval
given, on frames of the given size with `--people` person boxes per frame, and reports fps per
stage (seconds measured inside the stage threads), end to end, the overlap efficiency
(end-to-end fps / slowest stage's fps) and the speed-up over the first run.
`detect` gives detector frames/s for single frames and batches; `train` the images/s of the full
training step (JPEG loading and augmentation in DataLoader workers) and of the same step on
one batch of tensors already on the device, and their ratio.
Weights do not change speed, so every benchmark uses random initialisation and needs no
download (denormal floats, which random nets produce and trained ones do not, are flushed).
`tracking` scores track ids, not speed: ground-truth PoseTrack poses perturbed into untracked
detections are tracked as `track_video.py --poses` does (tracker/tracking_benchmark.py) and it
prints MOTA, IDSW, mAP and person-level id changes per setting and tracker.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from posenet.cli import add_config_args, run_cli
from posenet.devices import resolve_device
from posenet.errors import ConfigError
from tracker.speed import (
    PEOPLE_PER_FRAME,
    measure_detector,
    measure_pose,
    measure_tracking,
    people_boxes,
    significant,
    synthetic_frames,
    video_frames,
)

POSE_CONFIG = "configs/coco/res50_256x192.yaml"
TRACK_CONFIG = "configs/tracking/default.yaml"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared/data"
BONN_GT = SHARED_DATA / "bonn-posetrack/posetrack18"
COCO_MINI = SHARED_DATA / "coco-mini"
# What the GPU run is for (README): pose crops/s end to end (R50 256x192), tracker fps end to
# end (10 people, 1280x720, default config), input pipeline / GPU-only training step.
TARGETS = {"pose_crops_per_s": 10000, "track_fps": 60, "train_input_ratio": 0.9}
# `all --tiny` (tests): a narrow ResNet-18 pose net at 64x96 and small frames.
TINY_POSE = [
    "model.depth=18",
    "model.image_size=[64, 96]",
    "model.heatmap_size=[16, 24]",
    "model.num_deconv_filters=[64, 64, 64]",
]

__all__ = ["people_boxes", "synthetic_frames"]  # also used by the tests through this tool


# ----------------------------------------------------------------------------- helpers


def device_name(device: str) -> str:
    """The accelerator's or the CPU's name, for the report."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def int_list(text: str, minimum: int = 1) -> list[int]:
    """Comma-separated integers >= `minimum` (an argparse type)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected integers >= {minimum}, got {text!r}")
    return values


def seed_list(text: str) -> list[int]:
    """Comma-separated seeds (integers >= 0)."""
    return int_list(text, minimum=0)


def name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def tracker_config_path(name: str) -> str:
    """A shipped tracker config by short name ('default', 'cpu'), or a path as given."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return name
    return f"configs/tracking/{name}.yaml"


def flush_denormals() -> None:
    """Random-init nets produce denormal floats, several times slower on CPUs; trained nets
    do not. Flushing them makes random weights cost what trained ones do."""
    import torch

    torch.set_flush_denormal(True)


# -------------------------------------------------------------------------------- pose


def bench_pose(args: argparse.Namespace) -> dict:
    """crops/s end to end, for the bare net, and for the per-person loop."""
    import torch

    from posenet.config import load_config
    from posenet.models.pose_resnet import build_model

    device = resolve_device(args.device)
    cfg = load_config(args.config, ["model.pretrained=", *args.overrides])
    torch.manual_seed(0)
    model = build_model(cfg)
    if args.weights:
        from posenet.checkpoint import load_weights

        load_weights(model, args.weights)
    report: dict = {
        "benchmark": "pose",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "config": str(args.config),
        "input_size": list(cfg.model.image_size),
        "depth": cfg.model.depth,
        "flip_test": args.flip_test,
        "frame_size": [args.width, args.height],
        "people_per_frame": PEOPLE_PER_FRAME,
    }
    cuda = device.startswith("cuda")
    report |= measure_pose(
        model,
        cfg,
        device,
        precisions=args.precisions or (["fp32", "bf16"] if cuda else ["fp32"]),
        batches=args.batch_sizes or ([1, 8] if args.quick else [1, 8, 64, 256]),
        min_time=min(0.3, args.min_time) if args.quick else args.min_time,
        quick=args.quick,
        flip_test=args.flip_test,
        size=(args.width, args.height),
        log=lambda line: print(line, flush=True),
    )
    best = report["best_end_to_end"]
    print(
        f"best end to end: {best['crops_per_s']:.1f} crops/s ({best['precision']}, batch "
        f"{best['batch']}), {report['speedup_over_loop']}x the per-person loop "
        f"on {report['device_name']}"
    )
    return report


# ------------------------------------------------------------------------------- track


def bench_track(args: argparse.Namespace) -> dict:
    """fps per stage, end to end and overlap efficiency for configs x flows x intervals."""
    import torch

    from tracker.config import apply_options, load_tracker_config, validate_tracker_config

    w, h = args.width, args.height

    def frames(count: int, start: int = 0):
        if args.video:
            return video_frames(args.video, count, w, h, start)
        return synthetic_frames(count, w, h, start)

    runs = []
    for name in args.configs or [args.config]:
        for flow in args.flows or [None]:
            for interval in args.intervals or [None]:
                cfg = load_tracker_config(tracker_config_path(str(name)), args.overrides)
                cfg = apply_options(cfg, args.device, None, args.pose_weights, args.det_weights)
                if flow:
                    cfg.flow.name = flow
                if interval:
                    cfg.detector.interval = interval
                validate_tracker_config(cfg, "benchmark track")
                run = measure_tracking(
                    cfg, frames, args.frames, args.people, w, h, not args.no_detector
                )
                run = {"config": str(name), **run}
                run["speedup"] = significant(run["fps"] / runs[0]["fps"]) if runs else 1.0
                runs.append(run)
                print(track_line(run), flush=True)
    report = {
        "benchmark": "track",
        "device": resolve_device(args.device),
        "device_name": device_name(resolve_device(args.device)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "frame_size": [w, h],
        "people_per_frame": args.people,
        **runs[0],
        "runs": runs,
    }
    return report


def track_line(run: dict) -> str:
    """One line per run: what ran, per-stage fps, end to end, efficiency and speed-up."""
    stages = ", ".join(f"{k} {v:.3g}" if v else f"{k} -" for k, v in run["fps_per_stage"].items())
    eff = run["overlap_efficiency"]
    return (
        f"{run['config']} flow {run['flow']} k={run['interval']}: {run['fps']:.3g} fps end to "
        f"end ({run['frames']} frames); per stage: {stages}; overlap efficiency "
        f"{'-' if eff is None else f'{eff:.2f}'} (bounded by {run['bounding_stage']}; stages one "
        f"after another: {run['serial_fps']:.3g} fps); "
        f"{run['speedup']:.3g}x the first run"
    )


# ------------------------------------------------------------------------------ detect


def bench_detect(args: argparse.Namespace) -> dict:
    """Detector frames/s, single frames vs batches, per model."""
    from tracker.config import DetectorConfig

    device = resolve_device(args.device)
    models = []
    for name in args.models or [DetectorConfig().name]:
        row = measure_detector(
            name, device, args.width, args.height, args.batch_sizes, args.min_time
        )
        models.append(row)
        speeds = ", ".join(f"batch {r['batch']}: {r['fps']:.3g} fps" for r in row["batches"])
        print(f"detector {name} at {args.width}x{args.height}: {speeds}", flush=True)
    return {
        "benchmark": "detect",
        "device": device,
        "device_name": device_name(device),
        "models": models,
    }


# ------------------------------------------------------------------------------- train


def bench_train(args: argparse.Namespace) -> dict:
    """images/s of the full training step vs the same step on cached tensors (their ratio:
    whether JPEG loading and augmentation keep up with the device)."""
    from posenet.config import load_config
    from posenet.speed import measure_training_step

    device = resolve_device(args.device)
    cfg = load_config(args.config, [f"data.root={args.data}", "model.pretrained=", *args.overrides])
    report = measure_training_step(cfg, device, args.batch_size, args.steps, args.workers)
    print(
        f"training step ({report['input_size'][0]}x{report['input_size'][1]}, R"
        f"{report['depth']}, batch {report['batch']}, {report['loader_workers']} loader "
        f"workers): {report['full_step_images_per_s']:.1f} images/s with JPEG loading and "
        f"augmentation, {report['device_only_images_per_s']:.1f} images/s on cached tensors "
        f"({report['input_pipeline_ratio']:.0%})",
        flush=True,
    )
    return {
        "benchmark": "train",
        "device": device,
        "device_name": device_name(device),
        "config": str(args.config),
        **report,
    }


# --------------------------------------------------------------------------------- all


def all_commands(device: str, quick: bool, tiny: bool) -> dict[str, list[str]]:
    """The command line of each benchmark in `all`: the README's figures on a GPU; smaller
    (`quick`) for a CPU; smallest (`tiny`) for the test."""
    cuda = device.startswith("cuda")
    dev = ["--device", device]
    pose = ["pose", *dev, "--batch-sizes", "1,64,256", "--min-time", "1"]
    track = ["track", *dev, "--configs", "default", "--intervals", "1,3", "--frames", "100"]
    track += ["--flows", "dis,raft_small" if cuda else "dis"]
    detect = ["detect", *dev, "--batch-sizes", "1,4,8", "--min-time", "1"]
    train = ["train", *dev, "--steps", "30"]
    if quick and not cuda:  # a few minutes on a 2-core CPU
        pose = ["pose", *dev, "--batch-sizes", "1,8", "--min-time", "0.3"]
        track = ["track", *dev, "--configs", "default", "--intervals", "1,3", "--frames", "2"]
        track += ["--set", "detector.batch_size=1"]
        detect = ["detect", *dev, "--batch-sizes", "1,2", "--min-time", "0"]
        train = ["train", *dev, "--steps", "2", "--batch-size", "4", "--workers", "1"]
    elif quick:
        track[track.index("100")] = "30"
        train[train.index("30")] = "10"
    if tiny:
        pose_sets = [a for s in TINY_POSE for a in ("--set", s)]
        pose = ["pose", *dev, "--batch-sizes", "1,2", "--min-time", "0.01", "--quick", *pose_sets]
        track = ["track", *dev, "--configs", "cpu", "--intervals", "1,2", "--frames", "2"]
        track += ["--width", "160", "--height", "120", "--people", "2"]
        track += ["--set", f"pose.overrides={json.dumps(TINY_POSE)}"]
        track += ["--no-detector", "--set", "detector.batch_size=1"]
        detect = ["detect", *dev, "--models", "fasterrcnn_mobilenet_v3_large_320_fpn"]
        detect += ["--batch-sizes", "1,2", "--min-time", "0", "--width", "160", "--height", "120"]
        train = ["train", *dev, "--steps", "1", "--batch-size", "2", "--workers", "0"]
        train += [*pose_sets]
    return {"pose": pose, "track": track, "detect": detect, "train": train}


def bench_all(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """pose, track, detect and train in one run, one JSON; each checked against TARGETS."""
    import torch

    device = resolve_device(args.device)
    runners = {"pose": bench_pose, "track": bench_track, "detect": bench_detect}
    runners["train"] = bench_train
    report: dict = {
        "benchmark": "all",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "quick": args.quick,
        "targets": TARGETS,
    }
    start = time.perf_counter()
    commands = all_commands(device, args.quick, args.tiny)
    commands["train"] += ["--data", args.data]
    for name, argv in commands.items():
        print(f"== {name}: tools/benchmark.py {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        report[name] = runners[name](parser.parse_args(argv))
        report[name]["command"] = " ".join(argv)
        report[name]["seconds"] = round(time.perf_counter() - t0, 1)
    report["seconds"] = round(time.perf_counter() - start, 1)
    best = report["pose"]["best_end_to_end"]["crops_per_s"]
    default_run = report["track"]["runs"][0]
    report["checks"] = {
        "pose_crops_per_s": {"value": best, "target": TARGETS["pose_crops_per_s"]},
        "track_fps": {
            "value": max(r["fps"] for r in report["track"]["runs"]),
            "default_k1_dis": default_run["fps"],
            "target": TARGETS["track_fps"],
        },
        "train_input_ratio": {
            "value": report["train"]["input_pipeline_ratio"],
            "target": TARGETS["train_input_ratio"],
        },
    }
    for check in report["checks"].values():
        check["met"] = check["value"] >= check["target"]
    print(f"all figures in {report['seconds']:.0f} s; targets:")
    for key, check in report["checks"].items():
        verdict = "met" if check["met"] else "not met"
        print(f"  {key}: {check['value']} (target {check['target']}: {verdict})")
    return report


# ---------------------------------------------------------------------------- tracking


def bench_tracking(args: argparse.Namespace) -> dict:
    """MOTA, IDSW, mAP and id changes per setting x tracker on perturbed ground-truth poses."""
    import tempfile
    from dataclasses import asdict

    from tracker import tracking_benchmark as tb

    names = args.settings or list(tb.SETTINGS)
    unknown = [s for s in names if s not in tb.ALL_SETTINGS]
    if unknown:
        raise ConfigError(
            f"--settings: unknown {', '.join(unknown)} (known: {', '.join(tb.ALL_SETTINGS)})"
        )
    settings = {name: tb.ALL_SETTINGS[name] for name in names}
    trackers = tb.build_trackers(args.trackers, args.overrides)
    gt = tb.load_ground_truth(args.gt, args.max_videos)
    frames = sum(len(seq) for seq in gt)

    def progress(rows: list[dict]) -> None:
        seconds = sum(r["seconds"] for r in rows)
        print(
            f"{rows[0]['setting']} seed {rows[0]['seed']}: {seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tracking_benchmark_") as tmp:
        workdir = Path(args.out) if args.out else Path(tmp)
        rows = tb.run_benchmark(gt, settings, args.seeds, trackers, workdir, args.workers, progress)
    wall = time.perf_counter() - start
    means = tb.summarize(rows)
    print(tb.format_table(means, settings, len(gt), frames))
    print(f"wall time {wall:.1f} s ({args.workers} worker(s))")
    return {
        "benchmark": "tracking",
        "gt": str(args.gt),
        "videos": [seq.name for seq in gt],
        "frames": frames,
        "seeds": args.seeds,
        "settings": tb.settings_json(settings),
        "trackers": {
            name: (None if cfg is None else asdict(cfg.tracking)) for name, cfg in trackers.items()
        },
        "overrides": list(args.overrides),
        "flow": tb.FLOW_NOTE,
        "workers": args.workers,
        "wall_seconds": round(wall, 2),
        "means": means,
        "runs": rows,
    }


# --------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    every = sub.add_parser("all", help="pose, track, detect and train figures in one JSON")
    every.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    every.add_argument("--quick", action="store_true", help="small sizes (a CPU: minutes)")
    every.add_argument("--tiny", action="store_true", help="smallest sizes (tests: seconds)")
    every.add_argument("--data", default=str(COCO_MINI), help="COCO root for the training step")
    every.add_argument("--json", help="also write the figures to this JSON file")

    pose = sub.add_parser(
        "pose", help="crops/s of the pose net: batched, bare net, per-person loop"
    )
    add_config_args(pose, default_config=POSE_CONFIG)
    pose.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    pose.add_argument("--weights", help="pose-net weights (default: random init, same speed)")
    pose.add_argument("--batch-sizes", type=int_list, help="default 1,8,64,256 (--quick: 1,8)")
    pose.add_argument(
        "--precisions",
        type=lambda s: s.split(","),
        help="fp32,bf16,fp16 (default: fp32,bf16 on CUDA, fp32 on CPU)",
    )
    pose.add_argument("--flip-test", action="store_true", help="two passes per crop")
    pose.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    pose.add_argument("--width", type=int, default=1280, help="frame width the boxes lie in")
    pose.add_argument("--height", type=int, default=720, help="frame height")
    pose.add_argument("--quick", action="store_true", help="small batches, short measurements")
    pose.add_argument("--json", help="also write the figures to this JSON file")

    track = sub.add_parser("track", help="fps per stage and end to end of the video tracker")
    add_config_args(track, default_config=TRACK_CONFIG)
    track.add_argument(
        "--configs",
        type=name_list,
        help="tracker configs to compare: names (default, cpu) or YAML paths (default: --config)",
    )
    track.add_argument("--intervals", type=int_list, help="detector.interval values, e.g. 1,2,3,5")
    track.add_argument("--flows", type=name_list, help="flow.name values, e.g. dis,raft_small")
    track.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    track.add_argument("--frames", type=int, default=64, help="frames measured (after warm-up)")
    track.add_argument("--people", type=int, default=PEOPLE_PER_FRAME, help="people per frame")
    track.add_argument("--width", type=int, default=1280)
    track.add_argument("--height", type=int, default=720)
    track.add_argument("--video", help="real frames from this video (looped, resized)")
    track.add_argument("--no-detector", action="store_true", help="leave detection out")
    track.add_argument("--pose-weights", default="none", help="default: random init")
    track.add_argument("--det-weights", default="none", help="default: random init")
    track.add_argument("--json", help="also write the figures to this JSON file")

    detect = sub.add_parser("detect", help="detector frames/s, single frames vs batches")
    detect.add_argument("--models", type=name_list, help="torchvision detection models")
    detect.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    detect.add_argument("--batch-sizes", type=int_list, default=[1, 4], help="default 1,4")
    detect.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    detect.add_argument("--width", type=int, default=1280)
    detect.add_argument("--height", type=int, default=720)
    detect.add_argument("--json", help="also write the figures to this JSON file")

    train = sub.add_parser("train", help="training images/s: full step vs cached tensors")
    add_config_args(train, default_config=POSE_CONFIG)
    train.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if available)")
    train.add_argument("--data", default=str(COCO_MINI), help="COCO root (default coco-mini)")
    train.add_argument("--steps", type=int, default=20, help="training steps measured")
    train.add_argument("--batch-size", type=int, help="default: the config's train.batch_size")
    train.add_argument("--workers", type=int, default=-1, help="loader workers (-1: cores - 1)")
    train.add_argument("--json", help="also write the figures to this JSON file")

    tracking = sub.add_parser("tracking", help="tracking quality on perturbed ground-truth poses")
    tracking.add_argument(
        "--gt",
        default=str(BONN_GT),
        help="folder of PoseTrack 2017 or 2018 ground truth (default: the Bonn set)",
    )
    tracking.add_argument(
        "--trackers",
        type=lambda s: [v for v in s.split(",") if v],
        default=["default"],
        help="tracker config names (default, paper, iou, greedy, ...) or YAML paths",
    )
    tracking.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the named trackers' config, e.g. tracking.queue_length=10",
    )
    tracking.add_argument(
        "--settings",
        type=lambda s: [v for v in s.split(",") if v],
        help="perturbation settings: gap0,gap8,gap20,noise8,drop30,spurious (default: all)",
    )
    tracking.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="default 0,1,2")
    tracking.add_argument("--max-videos", type=int, help="only the first N videos (by name)")
    tracking.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    tracking.add_argument("--out", help="keep detections and tracks here (default: a temp folder)")
    tracking.add_argument("--json", help="also write every number to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "tracking":
        flush_denormals()
    if args.command == "tracking":
        if args.workers < 1 or (args.max_videos is not None and args.max_videos < 1):
            parser.error("--workers and --max-videos must be at least 1")
        report = bench_tracking(args)
    elif args.command == "pose":
        if args.min_time <= 0:
            parser.error("--min-time must be positive")
        report = bench_pose(args)
    elif args.command == "track":
        if args.frames < 1 or args.people < 0:
            parser.error("--frames must be at least 1 and --people at least 0")
        report = bench_track(args)
    elif args.command == "detect":
        report = bench_detect(args)
    elif args.command == "train":
        if args.steps < 1:
            parser.error("--steps must be at least 1")
        report = bench_train(args)
    else:
        report = bench_all(args, parser)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
