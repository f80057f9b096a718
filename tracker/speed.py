"""How fast the tracker runs on this machine: per stage, end to end, and how well stages overlap.

`measure_tracking` runs `PoseTracker` on synthetic (or given) frames with a known load: the
real detector and pose net run (their time is what is measured) but their answers are replaced
by `people` person boxes per frame and a pose inside each, so every stage, configuration and
keyframe interval sees the same people whatever the weights (random weights cost the same).
`measure_detector` gives a detector's frames/s for single frames and batches, `measure_pose`
the pose stage's crops/s (batched end to end, bare net, and the per-person loop it replaces).

Overlap efficiency = end-to-end fps / fps of the slowest stage alone (each stage's seconds are
measured inside its own thread; 'track' is the sequential step, its small pose call for people
carried between frames included): 1.0 when the run takes exactly as long as its slowest stage,
lower when the stages compete for the same cores or wait on each other. `serial_fps` is what
running the same stage times one after another would give (frames / sum of stage seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from posenet.config import Config
from posenet.devices import resolve_device
from tracker.config import TrackerConfig
from tracker.detector_factory import build_detector
from tracker.detectors import TorchvisionDetector
from tracker.video import Frame

PEOPLE_PER_FRAME = 10
# A frontal stick figure (COCO order) as fractions of its box: enough confident joints for a
# propagated person to stay alive between keyframes.
STICK_FIGURE = np.array(
    [
        [0.50, 0.08],
        [0.45, 0.06],
        [0.55, 0.06],
        [0.40, 0.08],
        [0.60, 0.08],
        [0.28, 0.24],
        [0.72, 0.24],
        [0.18, 0.40],
        [0.82, 0.40],
        [0.12, 0.55],
        [0.88, 0.55],
        [0.36, 0.56],
        [0.64, 0.56],
        [0.36, 0.76],
        [0.64, 0.76],
        [0.36, 0.95],
        [0.64, 0.95],
    ]
)
# The figure spread so that its box (joint extent enlarged by tracking.box_enlarge's default
# 15 %) is the box it was put in: carried between keyframes, a person keeps their size.
_SPAN = 1 / 1.15
FIGURE_IN_BOX = (0.5 - _SPAN / 2) + _SPAN * (STICK_FIGURE - STICK_FIGURE.min(0)) / np.ptp(
    STICK_FIGURE, axis=0
)


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


def synthetic_frames(count: int, width: int, height: int, start: int = 0) -> Iterator[Frame]:
    """Frames of a textured canvas panning 2 px per frame (what a video decoder would hand over)."""
    canvas = textured_canvas(width + 2 * count + 2, height)
    for i in range(start, start + count):
        x = 2 * (i - start)
        yield Frame(i, np.ascontiguousarray(canvas[:, x : x + width]), f"{i:06d}.jpg")


def video_frames(path: str, count: int, width: int, height: int, start: int = 0) -> Iterator[Frame]:
    """Frames of a real video (looped to `count`), resized to width x height."""
    import cv2

    from tracker.video import FrameReader

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


class FixedPeopleDetector:
    """Runs the real detector (its time is what is measured) and hands on `people` boxes per
    frame that drift 2 px per frame, so pose and tracking load is known."""

    def __init__(self, detector, people: int, width: int, height: int) -> None:
        self.detector, self.people = detector, people
        self.width, self.height = width, height

    def detect(self, frames: Sequence[Frame]) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.detector is not None:
            self.detector.detect(frames)
        out = []
        for frame in frames:
            boxes = people_boxes(self.people, self.width, self.height, shift=2.0 * frame.index)
            out.append((boxes, np.full(len(boxes), 0.9, np.float32)))
        return out


class FixedPeoplePoses:
    """Runs the real pose net on the boxes (its time is what is measured) and answers with a
    confident stick figure in each box, so people carried between keyframes stay alive."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator
        self.cfg = getattr(estimator, "cfg", None)  # the joint layout, for the tracker

    def estimate(self, images, boxes) -> list[np.ndarray]:
        self.estimator.estimate(images, boxes)
        out = []
        for frame_boxes in boxes:
            b = np.asarray(frame_boxes, np.float64).reshape(-1, 1, 4)
            xy = b[..., :2] + FIGURE_IN_BOX * (b[..., 2:] - b[..., :2])
            out.append(np.concatenate([xy, np.full(xy.shape[:2] + (1,), 0.9)], axis=-1))
        return out


def overlap_efficiency(frames: int, wall_seconds: float, stage_seconds: dict) -> float | None:
    """End-to-end fps / fps of the slowest stage alone (= slowest stage's seconds / wall)."""
    slowest = max(stage_seconds.values(), default=0.0)
    if frames == 0 or wall_seconds <= 0 or slowest <= 0:
        return None
    return slowest / wall_seconds


def measure_tracking(
    cfg: TrackerConfig,
    frames: Callable[[int, int], Iterator[Frame]],
    count: int,
    people: int,
    width: int,
    height: int,
    detector: bool = True,
) -> dict:
    """fps per stage, end to end and overlap efficiency of the tracker on `count` frames
    (`frames(count, start)` makes them) after a warm-up batch (lazy init, autotuning)."""
    from tracker.flow import RAFTFlow
    from tracker.output import TrackingSummary
    from tracker.pipeline import PoseTracker
    from tracker.poses import build_pose_estimator

    device = resolve_device(cfg.device)
    cfg.device = device
    cfg.tracking.confirm_hits = 1  # every person is load from the first frame on
    inner = build_detector(cfg.detector, device) if detector else None
    flow = None
    if cfg.flow.name.lower().startswith("raft"):  # random weights: no download, same cost
        size = "large" if cfg.flow.name.lower() == "raft_large" else "small"
        flow = RAFTFlow(size=size, device=device, weights=None)
    tracker = PoseTracker(
        cfg,
        detector=FixedPeopleDetector(inner, people, width, height),
        pose_estimator=FixedPeoplePoses(build_pose_estimator(cfg.pose, device)),
        flow=flow,
    )
    warmup = cfg.detector.batch_size  # one batch: keyframe, detector and pose net warm
    for _ in tracker.track(frames(warmup, 0), keep_images=False):
        pass
    summary = TrackingSummary(source=f"{width}x{height}")
    summary.pose_runtime = tracker.pose_estimator.estimator.runtime
    sync = synchronizer(device)
    sync()
    start = time.perf_counter()
    for result in tracker.track(frames(count, warmup), keep_images=False):
        summary.add(result)
    sync()
    summary.wall_seconds = time.perf_counter() - start
    report = summary.to_dict()
    for key in ("outputs", "notes", "source"):
        report.pop(key, None)
    # Slow CPU rates keep their precision (the summary rounds to 0.01 fps).
    report["fps"] = significant(summary.frames / summary.wall_seconds)
    report["fps_per_stage"] = {k: (significant(v) if v else None) for k, v in summary.fps().items()}
    timed = {k: v for k, v in summary.stage_seconds.items() if v > 0}
    report["bounding_stage"] = max(timed, key=timed.get) if timed else None
    efficiency = overlap_efficiency(summary.frames, summary.wall_seconds, timed)
    report["overlap_efficiency"] = None if efficiency is None else round(efficiency, 3)
    busy = sum(timed.values())
    report["serial_fps"] = significant(summary.frames / busy) if busy > 0 else None
    report.update(
        detector="none" if not detector else cfg.detector.name,
        detector_batch=cfg.detector.batch_size,
        interval=cfg.detector.interval,
        pose_config=cfg.pose.config,
        pose_overrides=list(cfg.pose.overrides),
        flow=cfg.flow.name,
        flow_preset=cfg.flow.preset,
        flow_scale=cfg.flow.scale,
    )
    return report


def measure_detector(
    name: str,
    device: str,
    width: int,
    height: int,
    batch_sizes: Sequence[int] = (1, 4),
    min_time: float = 1.0,
) -> dict:
    """frames/s of a torchvision detector (random weights: same cost) per batch size."""
    device = resolve_device(device)
    sync = synchronizer(device)
    rows = []
    for batch in batch_sizes:
        detector = TorchvisionDetector(name, weights=None, device=device, batch_size=batch)
        frames = list(synthetic_frames(batch, width, height))
        few = {"min_calls": 1, "warmup": 1} if min_time <= 0 else {}
        seconds = seconds_per_call(lambda d=detector, f=frames: d.detect(f), sync, min_time, **few)
        rows.append(
            {
                "batch": batch,
                "fps": significant(batch / seconds),
                "ms_per_frame": significant(seconds * 1e3 / batch),
            }
        )
    return {"model": name, "frame_size": [width, height], "batches": rows}


def measure_pose(
    model: torch.nn.Module,
    cfg: Config,
    device: str,
    precisions: Sequence[str] = ("fp32",),
    batches: Sequence[int] = (1, 8),
    min_time: float = 2.0,
    quick: bool = False,
    flip_test: bool = False,
    size: tuple[int, int] = (1280, 720),
    log: Callable[[str], None] = lambda line: None,
) -> dict:
    """crops/s of the pose stage: end to end (boxes of `PEOPLE_PER_FRAME` people per frame in,
    keypoints out, `PoseEstimator`), for the bare net, and for the per-person loop the batched
    path replaces (one cv2 crop and one fp32 forward each); `log` gets a line per figure."""
    from posenet.boxes import box_xyxy_to_center_scale
    from posenet.codec import decode_torch
    from posenet.inference import PoseEstimator
    from posenet.transforms import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        crop_cv2,
        heatmap_to_image,
    )

    sync = synchronizer(device)
    few = {"min_calls": 1, "warmup": 1} if quick else {}
    width, height = size
    canvas = textured_canvas(width, height)
    report: dict = {"end_to_end": [], "net": []}

    def row(kind: str, precision: str, batch: int, seconds: float) -> None:
        entry = {
            "precision": precision,
            "batch": batch,
            "ms_per_batch": round(seconds * 1e3, 3),
            "crops_per_s": significant(batch / seconds),
        }
        report[kind].append(entry)
        log(
            f"{kind:10s} {precision:5s} batch {batch:4d}: {entry['crops_per_s']:10.1f} crops/s "
            f"({entry['ms_per_batch']:.1f} ms per batch)"
        )

    for precision in precisions:
        est = PoseEstimator(
            model,
            cfg,
            device=device,
            flip_test=flip_test,
            max_batch_size=max(batches),
            precision=precision,
        )
        for batch in batches:
            frames = math.ceil(batch / PEOPLE_PER_FRAME)
            images = [canvas] * frames
            counts = [min(PEOPLE_PER_FRAME, batch - i * PEOPLE_PER_FRAME) for i in range(frames)]
            boxes = [people_boxes(n, width, height) for n in counts]
            seconds = seconds_per_call(
                lambda est=est, images=images, boxes=boxes: est.estimate(images, boxes),
                sync,
                min_time,
                **few,
            )
            row("end_to_end", precision, batch, seconds)
        for batch in batches:
            x = torch.randn(
                batch, 3, cfg.model.image_size[1], cfg.model.image_size[0], device=device
            )

            def net_only(x=x, est=est):
                with torch.inference_mode():
                    return est.forward(x)

            row("net", precision, batch, seconds_per_call(net_only, sync, min_time, **few))

    boxes = people_boxes(PEOPLE_PER_FRAME, width, height)
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
    report["loop"] = {
        "precision": "fp32",
        "batch": 1,
        "crops_per_s": significant(len(boxes) / seconds),
    }
    log(
        f"{'loop':10s} fp32  batch    1: {report['loop']['crops_per_s']:10.1f} crops/s "
        "(one person at a time, cv2 crop)"
    )
    best = max(report["end_to_end"], key=lambda r: r["crops_per_s"])
    report["best_end_to_end"] = best
    report["speedup_over_loop"] = significant(best["crops_per_s"] / report["loop"]["crops_per_s"])
    return report


# ----------------------------------------------------------------------------- timing


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for the device's queued work (nothing to wait for on CPU)."""
    if str(device).startswith("cuda"):
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


def significant(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits (slow CPU rates keep their precision)."""
    return float(f"{value:.{digits}g}")
