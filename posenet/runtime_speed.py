"""What each pose backend costs and what bf16 changes: crops/s per backend, and how far bf16
keypoints move from fp32 ones on real images.

`measure_backends` times the pose net stage as `PoseEstimator` runs it (normalised crops in,
heatmaps out, backend conversions included; no flip test) for backends given as
'NAME[:PRECISION]', e.g. 'torch:fp32', 'torch:bf16', 'onnxruntime', 'openvino'.

`compare_precisions` runs a net twice over the people of a COCO-style set, torch fp32 and a
backend at another precision, and counts the joints whose decoded position moved by at most one
heatmap pixel. It means something only for a trained net: random weights give flat heatmaps
whose argmax any rounding moves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .boxes import box_xyxy_to_center_scale
from .checkpoint import load_weights
from .config import Config
from .errors import ConfigError, DataError
from .export import cached_onnx, temporary_onnx
from .files import read_rgb
from .inference import PoseEstimator
from .model_zoo import resolve_weights
from .models.pose_resnet import build_model
from .runtimes import TORCH, resolve_backend

MIN_CALLS = 3  # timed calls at least, however long each takes
WARMUP_CALLS = 2  # untimed first calls: allocation, kernel choice, OpenVINO's first run


def parse_backend(spec: str) -> tuple[str, str]:
    """'openvino:bf16' -> ('openvino', 'bf16'); no precision is 'auto' (the hardware's)."""
    name, _, precision = spec.partition(":")
    return name, precision or "auto"


def _seconds_per_call(fn: Callable[[], Any], seconds: float) -> tuple[float, int]:
    """Mean seconds per call of `fn` over at least `seconds` (and MIN_CALLS calls)."""
    for _ in range(WARMUP_CALLS):
        fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= MIN_CALLS and elapsed >= seconds:
            return elapsed / calls, calls


@contextmanager
def _onnx_for(
    model: torch.nn.Module, cfg: Config, weights: str | os.PathLike | None, needed: bool
) -> Iterator[Path | None]:
    """One export for all runtime backends of a run: the cached one of a weights file, or a
    temporary one for random weights; None when only torch runs."""
    if not needed:
        yield None
    elif weights is not None:
        yield cached_onnx(model, cfg, resolve_weights(weights))
    else:
        with temporary_onnx(model, cfg.model.image_size) as path:
            yield path


def _pose_net(cfg: Config, weights: str | os.PathLike | None) -> torch.nn.Module:
    """The net of `cfg` with `weights` loaded; random (denormals flushed) without them."""
    model = build_model(cfg)
    if weights is not None:
        load_weights(model, weights)
    else:
        torch.set_flush_denormal(True)  # as posenet.speed does: random weights cost what trained do
    return model.eval()


def measure_backends(
    cfg: Config,
    backends: Sequence[str],
    batch: int = 10,
    seconds: float = 10.0,
    weights: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Crops/s of the pose net stage at `batch` on the CPU for each backend spec, one dict per
    spec: backend (the spec), runtime (what ran, e.g. 'openvino bf16'), batch, threads,
    crops_per_s, ms_per_batch, calls."""
    if batch < 1 or seconds <= 0:
        raise ConfigError(f"batch must be >= 1 and seconds > 0; got {batch}, {seconds}")
    specs = [parse_backend(s) for s in backends]
    names = [resolve_backend(name, "cpu") for name, _ in specs]  # a missing runtime fails now
    model = _pose_net(cfg, weights)
    width, height = cfg.model.image_size
    crops = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
    rows = []
    with _onnx_for(model, cfg, weights, any(n != TORCH for n in names)) as onnx:
        for spec, name, (_, precision) in zip(backends, names, specs):
            est = PoseEstimator(
                model,
                cfg,
                device="cpu",
                flip_test=False,
                max_batch_size=batch,
                precision=precision,
                backend=name,
                onnx_path=onnx,
            )

            def run(est: PoseEstimator = est) -> torch.Tensor:
                with torch.inference_mode():
                    return est.heatmaps(crops)

            per_call, calls = _seconds_per_call(run, seconds)
            rows.append(
                {
                    "backend": spec,
                    "runtime": est.runtime,
                    "batch": batch,
                    "threads": torch.get_num_threads(),
                    "crops_per_s": float(f"{batch / per_call:.4g}"),
                    "ms_per_batch": round(per_call * 1e3, 2),
                    "calls": calls,
                }
            )
    return rows


def speed_line(row: dict[str, Any]) -> str:
    """One report line of a `measure_backends` row."""
    return (
        f"{row['runtime']:18s} batch {row['batch']:3d}, {row['threads']} threads: "
        f"{row['crops_per_s']:8.1f} crops/s ({row['ms_per_batch']:.1f} ms per batch)"
    )


# --------------------------------------------------------------------------------------
# bf16 against fp32 on real images


def coco_people(
    root: str | os.PathLike, split: str = "val2017", max_images: int = 0
) -> list[tuple[Path, np.ndarray]]:
    """(image file, person boxes (n, 4) xyxy) of every image of a COCO-style set with at least
    one non-crowd person with keypoints (the ground-truth boxes)."""
    root = Path(root)
    ann_file = root / "annotations" / f"person_keypoints_{split}.json"
    if not ann_file.is_file():
        raise DataError(f"{ann_file}: not found (expected a COCO-style set at {root})")
    data = json.loads(ann_file.read_text(encoding="utf-8"))
    boxes: dict[int, list[list[float]]] = {}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0:
            continue
        x, y, w, h = ann["bbox"]
        if w > 1 and h > 1:
            boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
    files = {im["id"]: im["file_name"] for im in data.get("images", [])}
    people = [(root / split / files[i], np.array(b, np.float64)) for i, b in sorted(boxes.items())]
    return people[:max_images] if max_images > 0 else people


def heatmap_pixel_distance(
    a: np.ndarray, b: np.ndarray, boxes: np.ndarray, cfg: Config
) -> np.ndarray:
    """Distances (n, K) between two keypoint sets (n, K, >=2) of the same people, in heatmap
    pixels of each person's crop (the unit of the net's argmax)."""
    w, h = cfg.model.image_size
    _, scale = box_xyxy_to_center_scale(
        boxes, w / h, float(cfg.data.box_padding), float(cfg.data.pixel_std)
    )
    cell = scale * float(cfg.data.pixel_std) / np.asarray(cfg.model.heatmap_size, np.float64)
    moved = (np.asarray(a)[..., :2] - np.asarray(b)[..., :2]) / cell[:, None, :]
    return np.linalg.norm(moved, axis=-1)


def compare_precisions(
    cfg: Config,
    weights: str | os.PathLike,
    data_root: str | os.PathLike,
    split: str = "val2017",
    backend: str = TORCH,
    precision: str = "bf16",
    score_thr: float = 0.3,
    max_images: int = 0,
) -> dict[str, Any]:
    """How far keypoints move from torch fp32 when `backend` runs at `precision`, over the
    ground-truth people of a COCO-style set (flip test as in `cfg`). Reports the share of
    joints within one heatmap pixel, also among the joints fp32 finds with a heatmap peak of
    at least `score_thr` (the joints that peaks decide), and the mean peak (a trained net: ~0.7;
    a random one: ~0, where the comparison means nothing)."""
    people = coco_people(data_root, split, max_images)
    if not people:
        raise DataError(f"{data_root}: no people with keypoints in {split}")
    model = _pose_net(cfg, weights)
    name = resolve_backend(backend, "cpu")
    reference = PoseEstimator(model, cfg, device="cpu", precision="fp32")
    with _onnx_for(model, cfg, weights, name != TORCH) as onnx:
        tested = PoseEstimator(
            model, cfg, device="cpu", precision=precision, backend=name, onnx_path=onnx
        )
    distances, scores = [], []
    for path, boxes in people:
        image = read_rgb(path)
        (ref,) = reference.estimate([image], [boxes])
        (got,) = tested.estimate([image], [boxes])
        distances.append(heatmap_pixel_distance(got, ref, boxes, cfg))
        scores.append(ref[..., 2])
    d, s = np.concatenate(distances).ravel(), np.concatenate(scores).ravel()
    confident = s >= score_thr
    return {
        "reference": reference.runtime,
        "runtime": tested.runtime,
        "images": len(people),
        "people": sum(len(b) for _, b in people),
        "joints": int(d.size),
        "within_1px": round(float(np.mean(d <= 1.0)), 4),
        "confident_joints": int(confident.sum()),
        "within_1px_confident": round(float(np.mean(d[confident] <= 1.0)), 4)
        if confident.any()
        else None,
        "score_thr": score_thr,
        "median_px": round(float(np.median(d)), 3),
        "max_px": round(float(d.max()), 3),
        "mean_peak": round(float(s.mean()), 3),
    }
