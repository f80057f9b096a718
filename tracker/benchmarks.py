"""The speed benchmarks of tools/benchmark.py as library functions: what each subcommand runs,
the report it returns and the lines it prints (through `log`), the plan of `all` and the
targets it checks. The measurements themselves are tracker/speed.py's and posenet/speed.py's.

Weights do not change speed, so every run uses random initialisation unless weights are given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from posenet.devices import resolve_device
from posenet.shared_data import shared_data_path
from posenet.speed import device_name

Log = Callable[[str], None]

POSE_CONFIG = "configs/coco/res50_256x192.yaml"
TRACK_CONFIG = "configs/tracking/default.yaml"
COCO_MINI = "coco-mini"  # the training step's default data, inside the shared data folder
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


def default_train_data() -> str:
    """The COCO root the training step reads by default: coco-mini in the shared data."""
    return str(shared_data_path(COCO_MINI))


def _quiet(line: str) -> None:
    """The default `log`: say nothing."""


# -------------------------------------------------------------------------------- pose


def pose_benchmark(
    config: str,
    overrides: Sequence[str] = (),
    device: str | None = None,
    weights: str | None = None,
    batch_sizes: Sequence[int] | None = None,
    precisions: Sequence[str] | None = None,
    flip_test: bool = False,
    min_time: float = 2.0,
    size: tuple[int, int] = (1280, 720),
    quick: bool = False,
    backends: Sequence[str] | None = None,
    log: Log = _quiet,
) -> dict[str, Any]:
    """crops/s of the pose stage end to end, for the bare net and for the per-person loop;
    defaults: fp32+bf16 on CUDA (fp32 on CPU), batches 1,8,64,256 (`quick`: 1,8, short).
    With `backends` (e.g. torch:fp32, openvino): the CPU runtimes side by side instead, at one
    batch (the first of `batch_sizes`, default 10)."""
    import torch

    from posenet.config import load_config
    from posenet.models.pose_resnet import build_model
    from tracker.speed import PEOPLE_PER_FRAME, measure_pose

    device = resolve_device(device)
    cfg = load_config(config, ["model.pretrained=", *overrides])
    torch.manual_seed(0)
    model = build_model(cfg)
    if weights:
        from posenet.checkpoint import load_weights

        load_weights(model, weights)
    report: dict[str, Any] = {
        "benchmark": "pose",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "config": str(config),
        "input_size": list(cfg.model.image_size),
        "depth": cfg.model.depth,
        "flip_test": flip_test,
        "frame_size": list(size),
        "people_per_frame": PEOPLE_PER_FRAME,
    }
    if backends:
        from posenet.runtime_speed import measure_backends, speed_line

        batch = batch_sizes[0] if batch_sizes else 10
        rows = measure_backends(cfg, backends, batch, min_time, weights=weights)
        for row in rows:
            log(speed_line(row))
        return report | {"device": "cpu", "backends": rows}
    cuda = device.startswith("cuda")
    report |= measure_pose(
        model,
        cfg,
        device,
        precisions=precisions or (["fp32", "bf16"] if cuda else ["fp32"]),
        batches=batch_sizes or ([1, 8] if quick else [1, 8, 64, 256]),
        min_time=min(0.3, min_time) if quick else min_time,
        quick=quick,
        flip_test=flip_test,
        size=size,
        log=log,
    )
    best = report["best_end_to_end"]
    log(
        f"best end to end: {best['crops_per_s']:.1f} crops/s ({best['precision']}, batch "
        f"{best['batch']}), {report['speedup_over_loop']}x the per-person loop "
        f"on {report['device_name']}"
    )
    return report


def precision_benchmark(
    config: str,
    weights: str,
    data: str,
    overrides: Sequence[str] = (),
    split: str = "val2017",
    backends: Sequence[str] = ("torch:bf16",),
    max_images: int = 0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """How far each 'BACKEND:PRECISION' moves decoded keypoints from torch fp32, over the
    ground-truth people of a COCO-style set (CPU; `weights` must be a trained net's)."""
    from posenet.config import load_config
    from posenet.runtime_speed import compare_precisions, parse_backend

    cfg = load_config(config, ["model.pretrained=", *overrides])
    rows = []
    for spec in backends:
        name, precision = parse_backend(spec)
        row = compare_precisions(cfg, weights, data, split, name, precision, max_images=max_images)
        confident = row["within_1px_confident"]
        log(
            f"{row['runtime']} vs {row['reference']}: {100 * row['within_1px']:.2f} % of "
            f"{row['joints']} joints within 1 heatmap px"
            + (
                f" ({100 * confident:.2f} % of {row['confident_joints']} with a peak "
                f">= {row['score_thr']})"
                if confident is not None
                else ""
            )
            + f"; mean peak {row['mean_peak']}, {row['images']} images, {row['people']} people"
        )
        rows.append(row)
    return {
        "benchmark": "precision",
        "config": str(config),
        "weights": str(weights),
        "data": str(data),
        "split": split,
        "backends": rows,
    }


# ------------------------------------------------------------------------------- track


def track_benchmark(
    configs: Sequence[str],
    overrides: Sequence[str] = (),
    device: str | None = None,
    flows: Sequence[str] | None = None,
    intervals: Sequence[int] | None = None,
    frames: int = 64,
    people: int = 10,
    size: tuple[int, int] = (1280, 720),
    video: str | None = None,
    detector: bool = True,
    pose_weights: str | None = "none",
    det_weights: str | None = "none",
    log: Log = _quiet,
) -> dict[str, Any]:
    """fps per stage, end to end and overlap efficiency for every tracker config x flow x
    keyframe interval, each run's speed-up over the first; a line per run."""
    import torch

    from tracker.config import apply_options, load_tracker_config, validate_tracker_config
    from tracker.speed import measure_tracking, significant, synthetic_frames, video_frames

    w, h = size

    def make_frames(count: int, start: int = 0):
        if video:
            return video_frames(video, count, w, h, start)
        return synthetic_frames(count, w, h, start)

    runs: list[dict[str, Any]] = []
    for name in configs:
        for flow in flows or [None]:
            for interval in intervals or [None]:
                cfg = load_tracker_config(str(name), list(overrides))
                cfg = apply_options(cfg, device, None, pose_weights, det_weights)
                if flow:
                    cfg.flow.name = flow
                if interval:
                    cfg.detector.interval = interval
                validate_tracker_config(cfg, "benchmark track")
                run = measure_tracking(cfg, make_frames, frames, people, w, h, detector)
                run = {"config": str(name), **run}
                run["speedup"] = significant(run["fps"] / runs[0]["fps"]) if runs else 1.0
                runs.append(run)
                log(track_line(run))
    return {
        "benchmark": "track",
        "device": resolve_device(device),
        "device_name": device_name(resolve_device(device)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "frame_size": [w, h],
        "people_per_frame": people,
        **runs[0],
        "runs": runs,
    }


def track_line(run: dict[str, Any]) -> str:
    """One line per run: what ran, per-stage fps, end to end, efficiency and speed-up."""
    stages = ", ".join(f"{k} {v:.3g}" if v else f"{k} -" for k, v in run["fps_per_stage"].items())
    eff = run["overlap_efficiency"]
    return (
        f"{run['config']} flow {run['flow']} k={run['interval']}, pose {run['pose_runtime']}: "
        f"{run['fps']:.3g} fps end to "
        f"end ({run['frames']} frames); per stage: {stages}; overlap efficiency "
        f"{'-' if eff is None else f'{eff:.2f}'} (bounded by {run['bounding_stage']}; stages one "
        f"after another: {run['serial_fps']:.3g} fps); "
        f"{run['speedup']:.3g}x the first run"
    )


# ------------------------------------------------------------------------------ detect


def detect_benchmark(
    models: Sequence[str] | None = None,
    device: str | None = None,
    size: tuple[int, int] = (1280, 720),
    batch_sizes: Sequence[int] = (1, 4),
    min_time: float = 2.0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Detector frames/s, single frames vs batches, per model (default: the config's)."""
    from tracker.config import DetectorConfig
    from tracker.speed import measure_detector

    device = resolve_device(device)
    width, height = size
    rows = []
    for name in models or [DetectorConfig().name]:
        row = measure_detector(name, device, width, height, batch_sizes, min_time)
        rows.append(row)
        speeds = ", ".join(f"batch {r['batch']}: {r['fps']:.3g} fps" for r in row["batches"])
        log(f"detector {name} at {width}x{height}: {speeds}")
    return {
        "benchmark": "detect",
        "device": device,
        "device_name": device_name(device),
        "models": rows,
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


def check_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each TARGETS figure of an `all` report: its value, the target, and whether it is met;
    the targets are a GPU's, so on another device `met` is None (not checked)."""
    default_run = report["track"]["runs"][0]
    checks: dict[str, dict[str, Any]] = {
        "pose_crops_per_s": {
            "value": report["pose"]["best_end_to_end"]["crops_per_s"],
            "target": TARGETS["pose_crops_per_s"],
        },
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
    on_gpu = str(report["device"]).startswith("cuda")
    for check in checks.values():
        check["met"] = check["value"] >= check["target"] if on_gpu else None
    return checks


def target_line(key: str, check: dict[str, Any], device: str) -> str:
    """One line of `all`'s verdict: the figure, its GPU target, met or not (on a GPU only)."""
    verdict = {True: "met", False: "not met", None: f"not checked on {device}"}[check["met"]]
    return f"  {key}: {check['value']} (GPU target {check['target']}: {verdict})"


def run_all(
    device: str | None,
    quick: bool,
    tiny: bool,
    data: str,
    run: Callable[[list[str]], dict[str, Any]],
    log: Log = _quiet,
) -> dict[str, Any]:
    """pose, track, detect and train in one report, each checked against TARGETS; `run`
    runs one command line of `all_commands` (the tool parses it as its own)."""
    import torch

    device = resolve_device(device)
    report: dict[str, Any] = {
        "benchmark": "all",
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "quick": quick,
        "targets": TARGETS,
    }
    start = time.perf_counter()
    commands = all_commands(device, quick, tiny)
    commands["train"] += ["--data", data]
    for name, argv in commands.items():
        log(f"== {name}: tools/benchmark.py {' '.join(argv)}")
        t0 = time.perf_counter()
        report[name] = run(argv)
        report[name]["command"] = " ".join(argv)
        report[name]["seconds"] = round(time.perf_counter() - t0, 1)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["checks"] = check_targets(report)
    log(f"all figures in {report['seconds']:.0f} s; targets (for a GPU):")
    for key, check in report["checks"].items():
        log(target_line(key, check, device))
    return report
