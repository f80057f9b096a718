"""Speed of the training step: is the input pipeline the bottleneck?

`measure_training_step` times the real step (`posenet.engine.train_one_epoch`) twice: fed by
a DataLoader whose workers decode JPEGs and augment them, and fed one batch of tensors already
on the device, over and over. Their ratio is the share of the device-only speed the input
pipeline lets the step reach (1.0: the loader keeps up).
"""

from __future__ import annotations

import platform
from typing import Any

import torch

from posenet.config import Config


def device_name(device: str) -> str:
    """The accelerator's or the CPU's name, for a benchmark report."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def flush_denormals() -> None:
    """Random-init nets produce denormal floats, several times slower on CPUs; trained nets
    do not. Flushing them makes random weights cost what trained ones do."""
    torch.set_flush_denormal(True)


def measure_training_step(
    cfg: Config, device: str, batch_size: int | None = None, steps: int = 20, workers: int = -1
) -> dict[str, Any]:
    """images/s of `steps` training steps with real data loading and on cached tensors,
    after a warm-up pass of each (loader workers started, allocator and autotuning settled)."""
    from posenet.engine import build_training, train_one_epoch, train_precision

    torch.manual_seed(0)
    run = build_training(
        cfg,
        device,
        validation=False,
        initialise=False,  # weights do not change speed
        batch_size=batch_size,
        workers=workers,
        steps=steps,
    )
    loader = run.train_loader

    def images_per_s(data) -> float:
        stats = train_one_epoch(
            run.model, data, run.criterion, run.optimizer, run.scheduler, device, 0, cfg, False
        )
        return stats["images_per_s"]

    images_per_s(loader)
    full = images_per_s(loader)
    images, target, weight, meta = next(iter(loader))
    cached = [(images.to(device), target.to(device), weight.to(device), meta)] * steps
    images_per_s(cached[:2])
    device_only = images_per_s(cached)
    return {
        "depth": cfg.model.depth,
        "input_size": list(cfg.model.image_size),
        "batch": loader.batch_size,
        "steps": steps,
        "loader_workers": loader.num_workers,
        "precision": train_precision(cfg, device),
        "full_step_images_per_s": float(f"{full:.4g}"),
        "device_only_images_per_s": float(f"{device_only:.4g}"),
        "input_pipeline_ratio": round(full / device_only, 3),
    }


def training_benchmark(
    config: str,
    data: str,
    overrides: list[str],
    device: str,
    batch_size: int | None = None,
    steps: int = 20,
    workers: int = -1,
) -> dict[str, Any]:
    """The `benchmark.py train` report: `measure_training_step` of a config on the COCO-style
    set at `data`, random init (no download), with what ran where."""
    from posenet.config import load_config
    from posenet.devices import resolve_device

    device = resolve_device(device)
    cfg = load_config(config, [f"data.root={data}", "model.pretrained=", *overrides])
    report = measure_training_step(cfg, device, batch_size, steps, workers)
    return {
        "benchmark": "train",
        "device": device,
        "device_name": device_name(device),
        "config": str(config),
        **report,
    }


def training_line(report: dict[str, Any]) -> str:
    """One line: full-step vs cached-tensor images/s and their ratio."""
    return (
        f"training step ({report['input_size'][0]}x{report['input_size'][1]}, R"
        f"{report['depth']}, batch {report['batch']}, {report['loader_workers']} loader "
        f"workers): {report['full_step_images_per_s']:.1f} images/s with JPEG loading and "
        f"augmentation, {report['device_only_images_per_s']:.1f} images/s on cached tensors "
        f"({report['input_pipeline_ratio']:.0%})"
    )
