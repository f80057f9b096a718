"""Speed of the pose net and of the whole tracker, measured on this machine.

    python tools/benchmark.py pose [--config configs/coco/res50_256x192.yaml] [--device cuda]
        [--batch-sizes 1,8,64,256] [--precisions fp32,bf16] [--flip-test] [--quick] [--json F]
    python tools/benchmark.py track [--config configs/tracking/default.yaml] [--frames 64]
        [--people 10] [--width 1280 --height 720] [--video FILE] [--json F]
    python tools/benchmark.py tracking [--gt DIR] [--trackers default,hungarian,FILE.yaml]
        [--set key=value] [--settings gap0,gap8,...] [--seeds 0,1,2] [--max-videos N]
        [--workers N] [--out DIR] [--json F]

`pose` reports crops/s end to end (boxes in, keypoints out: crops, net, decoding), for the bare
network, and for a per-person loop (one crop at a time, cv2 warp, fp32), all in one run.
`track` runs the tracker on frames of the given size with `--people` person boxes per frame
(the detector still runs on every frame, its boxes are replaced so every stage sees the same
load) and reports fps per stage and end to end. Weights do not change speed, so both default
to random initialisation and need no download.
`tracking` scores track ids, not speed: ground-truth PoseTrack poses perturbed into untracked
detections are tracked as `track_video.py --poses` does (tracker/tracking_benchmark.py) and it
prints MOTA, IDSW, mAP and person-level id changes per setting and tracker.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from posenet.cli import add_config_args, run_cli
from posenet.devices import resolve_device
from posenet.errors import ConfigError

POSE_CONFIG = "configs/coco/res50_256x192.yaml"
TRACK_CONFIG = "configs/tracking/default.yaml"
BONN_GT = Path(__file__).resolve().parents[2] / "shared/data/bonn-posetrack/posetrack18"
PEOPLE_PER_FRAME = 10


# ----------------------------------------------------------------------------- helpers


def device_name(device: str) -> str:
    """The accelerator's or the CPU's name, for the report."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def synchronizer(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return lambda: torch.cuda.synchronize(torch.device(device))
    return lambda: None


def seconds_per_call(
    fn: Callable[[], object],
    sync: Callable[[], None],
    min_time: float,
    min_calls: int = 3,
    warmup: int = 2,
) -> float:
    """Mean wall time of fn() after `warmup` calls, over at least `min_calls` and `min_time` s."""
    for _ in range(warmup):
        fn()
    sync()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_time:
        fn()
        calls += 1
    sync()
    return (time.perf_counter() - start) / calls


def _sig(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits (slow CPU rates keep their precision)."""
    return float(f"{value:.{digits}g}")


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def seed_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def people_boxes(num_people: int, width: int, height: int, shift: float = 0.0) -> np.ndarray:
    """`num_people` person-sized boxes (xyxy) spread over a frame on a grid, moved by `shift`."""
    cols = max(1, math.ceil(math.sqrt(num_people * width / height)))
    rows = max(1, math.ceil(num_people / cols))
    cell_w, cell_h = width / cols, height / rows
    boxes = []
    for i in range(num_people):
        r, c = divmod(i, cols)
        x0 = c * cell_w + 0.2 * cell_w + shift % (0.2 * cell_w)
        y0 = r * cell_h + 0.1 * cell_h
        boxes.append([x0, y0, x0 + 0.5 * cell_w, y0 + 0.8 * cell_h])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def textured_canvas(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture (optical flow has something to follow), RGB uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


# -------------------------------------------------------------------------------- pose


def bench_pose(args: argparse.Namespace) -> dict:
    """crops/s end to end, for the bare net, and for the per-person loop."""
    import torch

    from posenet.codec import decode_torch
    from posenet.config import load_config
    from posenet.inference import PoseEstimator
    from posenet.models.pose_resnet import build_model
    from posenet.transforms import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        box_xyxy_to_center_scale,
        crop_cv2,
        heatmap_to_image,
    )

    device = resolve_device(args.device)
    sync = synchronizer(device)
    cfg = load_config(args.config, ["model.pretrained=", *args.overrides])
    torch.manual_seed(0)
    model = build_model(cfg)
    if args.weights:
        from posenet.checkpoint import load_weights

        load_weights(model, args.weights)
    cuda = device.startswith("cuda")
    precisions = args.precisions or (["fp32", "bf16"] if cuda else ["fp32"])
    batches = args.batch_sizes or ([1, 8] if args.quick else [1, 8, 64, 256])
    min_time = 0.3 if args.quick else args.min_time
    w, h = args.width, args.height
    canvas = textured_canvas(w, h)
    report: dict = {
        "benchmark": "pose",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "config": str(args.config),
        "input_size": list(cfg.model.image_size),
        "depth": cfg.model.depth,
        "flip_test": args.flip_test,
        "frame_size": [w, h],
        "people_per_frame": PEOPLE_PER_FRAME,
        "end_to_end": [],
        "net": [],
        "loop": None,
    }

    def row(kind: str, precision: str, batch: int, seconds: float) -> dict:
        entry = {
            "precision": precision,
            "batch": batch,
            "ms_per_batch": round(seconds * 1e3, 3),
            "crops_per_s": _sig(batch / seconds),
        }
        report[kind].append(entry)
        print(
            f"{kind:10s} {precision:5s} batch {batch:4d}: {entry['crops_per_s']:10.1f} crops/s "
            f"({entry['ms_per_batch']:.1f} ms per batch)",
            flush=True,
        )
        return entry

    for precision in precisions:
        est = PoseEstimator(
            model,
            cfg,
            device=device,
            flip_test=args.flip_test,
            max_batch_size=max(batches),
            precision=precision,
        )
        for batch in batches:
            frames = math.ceil(batch / PEOPLE_PER_FRAME)
            images = [canvas] * frames
            counts = [min(PEOPLE_PER_FRAME, batch - i * PEOPLE_PER_FRAME) for i in range(frames)]
            boxes = [people_boxes(n, w, h) for n in counts]
            seconds = seconds_per_call(
                lambda est=est, images=images, boxes=boxes: est.estimate(images, boxes),
                sync,
                min_time,
            )
            row("end_to_end", precision, batch, seconds)
        for batch in batches:
            x = torch.randn(
                batch, 3, cfg.model.image_size[1], cfg.model.image_size[0], device=device
            )

            def net_only(x=x, est=est):
                with torch.inference_mode():
                    return est.forward(x)

            row("net", precision, batch, seconds_per_call(net_only, sync, min_time))

    # The per-person loop the batched path replaces: one cv2 crop and one fp32 forward each.
    boxes = people_boxes(PEOPLE_PER_FRAME, w, h)
    center, scale = box_xyxy_to_center_scale(
        boxes, cfg.model.image_size[0] / cfg.model.image_size[1]
    )
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    model_fp32 = model.to(device).eval().to(memory_format=torch.contiguous_format)

    def loop() -> None:
        with torch.inference_mode():
            for i in range(len(boxes)):
                crop = crop_cv2(canvas, center[i], scale[i], tuple(cfg.model.image_size))
                x = torch.from_numpy(crop).to(device).permute(2, 0, 1)[None].float()
                heatmaps = model_fp32((x - mean) / std).float().cpu()
                coords, _ = decode_torch(heatmaps)
                heatmap_to_image(
                    coords.numpy(),
                    center[i : i + 1],
                    scale[i : i + 1],
                    tuple(cfg.model.heatmap_size),
                )

    seconds = seconds_per_call(loop, sync, min_time, min_calls=1, warmup=1)
    report["loop"] = {"precision": "fp32", "batch": 1, "crops_per_s": _sig(len(boxes) / seconds)}
    print(
        f"{'loop':10s} fp32  batch    1: {report['loop']['crops_per_s']:10.1f} crops/s "
        "(one person at a time, cv2 crop)",
        flush=True,
    )
    best = max(report["end_to_end"], key=lambda r: r["crops_per_s"])
    report["best_end_to_end"] = best
    report["speedup_over_loop"] = _sig(best["crops_per_s"] / report["loop"]["crops_per_s"])
    print(
        f"best end to end: {best['crops_per_s']:.1f} crops/s ({best['precision']}, batch "
        f"{best['batch']}), {report['speedup_over_loop']}x the per-person loop "
        f"on {report['device_name']}"
    )
    return report


# ------------------------------------------------------------------------------- track


class FixedPeopleDetector:
    """Runs the real detector (its time is what is measured) and hands on `people` boxes per
    frame that drift a little from frame to frame, so pose and tracking load is known."""

    def __init__(self, detector, people: int, width: int, height: int) -> None:
        self.detector, self.people = detector, people
        self.width, self.height = width, height
        self.frame = 0

    def detect(self, frames: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.detector is not None:
            self.detector.detect(frames)
        out = []
        for _ in frames:
            boxes = people_boxes(self.people, self.width, self.height, shift=2.0 * self.frame)
            out.append((boxes, np.full(len(boxes), 0.9, np.float32)))
            self.frame += 1
        return out


def synthetic_frames(count: int, width: int, height: int, start: int = 0) -> Iterator:
    """Frames of a textured canvas panning 2 px per frame (what a video decoder would hand over)."""
    from tracker.video import Frame

    canvas = textured_canvas(width + 2 * count + 2, height)
    for i in range(start, start + count):
        x = 2 * (i - start)
        yield Frame(i, np.ascontiguousarray(canvas[:, x : x + width]), f"{i:06d}.jpg")


def video_frames(path: str, count: int, width: int, height: int, start: int = 0) -> Iterator:
    """Frames of a real video (looped to `count`), resized to width x height."""
    import cv2

    from tracker.video import Frame, FrameReader

    pool = []
    with FrameReader(path) as reader:
        for frame in reader:
            image = frame.image
            if image.shape[1] != width or image.shape[0] != height:
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            pool.append(image)
            if len(pool) >= count:
                break
    for i in range(start, start + count):
        yield Frame(i, pool[i % len(pool)], f"{i:06d}.jpg")


def bench_track(args: argparse.Namespace) -> dict:
    """fps per stage and end to end of PoseTracker on width x height frames."""
    import torch

    from tracker.config import apply_options, load_tracker_config
    from tracker.detectors import build_detector
    from tracker.output import TrackingSummary
    from tracker.pipeline import PoseTracker

    cfg = load_tracker_config(args.config, args.overrides)
    cfg = apply_options(cfg, args.device, None, args.pose_weights, args.det_weights)
    # Random weights give no confident joints to confirm tracks by; every person is load.
    cfg.tracking.confirm_hits = 1
    device = resolve_device(cfg.device)
    cfg.device = device
    w, h = args.width, args.height
    inner = build_detector(cfg.detector, device) if not args.no_detector else None
    detector = FixedPeopleDetector(inner, args.people, w, h)
    tracker = PoseTracker(cfg, detector=detector)

    def frames(count: int, start: int = 0) -> Iterator:
        if args.video:
            return video_frames(args.video, count, w, h, start)
        return synthetic_frames(count, w, h, start)

    warmup = cfg.detector.batch_size  # cudnn autotuning, allocator growth, lazy init
    for _ in tracker.track(frames(warmup), keep_images=False):
        pass
    summary = TrackingSummary(source=args.video or f"synthetic {w}x{h}")
    sync = synchronizer(device)
    sync()
    start = time.perf_counter()
    for result in tracker.track(frames(args.frames, start=warmup), keep_images=False):
        summary.add(result)
    sync()
    summary.wall_seconds = time.perf_counter() - start
    report = {
        "benchmark": "track",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "frame_size": [w, h],
        "people_per_frame": args.people,
        "detector": "none" if args.no_detector else cfg.detector.name,
        "detector_batch": cfg.detector.batch_size,
        "pose_config": cfg.pose.config,
        "pose_overrides": list(cfg.pose.overrides),
        "flow": cfg.flow.name,
        "similarity": cfg.tracking.similarity,
        **summary.to_dict(),
    }
    report.pop("outputs", None)
    report.pop("notes", None)
    timed = {k: v for k, v in summary.stage_seconds.items() if v > 0}
    report["bounding_stage"] = max(timed, key=timed.get) if timed else None
    print(summary.format())
    print(f"bounded by: {report['bounding_stage']} on {report['device_name']}")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
        help="tracker config names (default, iou, hungarian, ...) or YAML paths",
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
    args = parser.parse_args(argv)

    if args.command == "tracking":
        if args.workers < 1 or (args.max_videos is not None and args.max_videos < 1):
            parser.error("--workers and --max-videos must be at least 1")
        report = bench_tracking(args)
    elif args.command == "pose":
        if args.min_time <= 0:
            parser.error("--min-time must be positive")
        report = bench_pose(args)
    else:
        if args.frames < 1 or args.people < 0:
            parser.error("--frames must be at least 1 and --people at least 0")
        report = bench_track(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
