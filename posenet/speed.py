"""Speed of the training step: is the input pipeline the bottleneck?

`measure_training_step` times the real step (`posenet.engine.train_one_epoch`) twice: fed by
a DataLoader whose workers decode JPEGs and augment them, and fed one batch of tensors already
on the device, over and over. Their ratio is the share of the device-only speed the input
pipeline lets the step reach (1.0: the loader keeps up).
"""

from __future__ import annotations

from typing import Any

import torch

from posenet.config import Config
from posenet.errors import ConfigError


def measure_training_step(
    cfg: Config, device: str, batch_size: int | None = None, steps: int = 20, workers: int = -1
) -> dict[str, Any]:
    """images/s of `steps` training steps with real data loading and on cached tensors,
    after a warm-up pass of each (loader workers started, allocator and autotuning settled)."""
    from torch.utils.data import DataLoader, RandomSampler

    from posenet.datasets import build_dataset
    from posenet.engine import (
        build_optimizer,
        build_scheduler,
        loader_workers,
        train_channels_last,
        train_one_epoch,
        train_precision,
    )
    from posenet.losses import JointsMSELoss
    from posenet.models.pose_resnet import build_model

    batch = batch_size or cfg.train.batch_size
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if train_channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    dataset = build_dataset(cfg, train=True)
    if len(dataset) == 0:
        raise ConfigError(f"{cfg.data.root}: the training set '{cfg.data.train_set}' has no people")
    workers = loader_workers(workers)
    loader = DataLoader(  # sampled with replacement: any number of steps from a small set
        dataset,
        batch_size=batch,
        sampler=RandomSampler(dataset, replacement=True, num_samples=batch * steps),
        num_workers=workers,
        pin_memory=device.startswith("cuda"),
        drop_last=True,
        persistent_workers=workers > 0,
    )
    criterion = JointsMSELoss(cfg.train.use_target_weight)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, steps)

    def images_per_s(data) -> float:
        stats = train_one_epoch(
            model, data, criterion, optimizer, scheduler, device, 0, cfg, progress=False
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
        "batch": batch,
        "steps": steps,
        "loader_workers": workers,
        "precision": train_precision(cfg, device),
        "full_step_images_per_s": float(f"{full:.4g}"),
        "device_only_images_per_s": float(f"{device_only:.4g}"),
        "input_pipeline_ratio": round(full / device_only, 3),
    }
