"""Training and validation steps, as plain functions: optimizer and schedule from the config,
one training epoch, predictions over a loader, and evaluation in the dataset's metric.

The schedule is per iteration (linear warm-up, then the seed's step decay by epoch) and is
stepped after the optimizer. On CUDA the forward pass runs under bf16 autocast in
channels_last; on CPU everything is float32.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from . import distributed as dist
from .config import Config, TrainConfig
from .datasets.base import KeypointDataset
from .devices import cpu_cores
from .errors import ConfigError
from .inference import PoseEstimator
from .precision import autocast, resolve_precision

OPTIMIZERS: dict[str, Callable[[list, TrainConfig], torch.optim.Optimizer]] = {
    # Adam as the seed ran it, without the weight decay that did nothing useful there.
    "adam": lambda params, t: torch.optim.Adam(params, lr=t.lr),
    "adamw": lambda params, t: torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay),
    "sgd": lambda params, t: torch.optim.SGD(
        params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, nesterov=t.nesterov
    ),
}


def build_optimizer(model: nn.Module, t: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `t.optimizer` names (adam, adamw, sgd) over the trainable parameters."""
    if t.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer: expected one of {', '.join(OPTIMIZERS)}, got {t.optimizer!r}"
        )
    return OPTIMIZERS[t.optimizer]([p for p in model.parameters() if p.requires_grad], t)


def lr_factor(iteration: int, steps_per_epoch: int, t: TrainConfig) -> float:
    """Learning-rate multiplier at an iteration: warm-up from warmup_factor, then x lr_factor
    at each epoch of lr_steps."""
    epoch = iteration / max(steps_per_epoch, 1)
    factor = t.lr_factor ** sum(epoch >= s for s in t.lr_steps)
    warmup_iters = t.warmup_epochs * steps_per_epoch
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor *= t.warmup_factor * (1 - alpha) + alpha
    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, t: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration schedule; call .step() after optimizer.step()."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(it, steps_per_epoch, t)
    )


def train_precision(cfg: Config, device: str) -> str:
    """The precision of training and validation: 'auto' (bf16 on CUDA) with train.amp, else fp32."""
    return resolve_precision("auto" if cfg.train.amp else "fp32", device)


def train_channels_last(cfg: Config, device: str) -> bool:
    """Whether training (and validation, which must not change the model's layout) runs in
    channels_last: train.channels_last on CUDA; contiguous on CPU."""
    return bool(cfg.train.channels_last) and device.startswith("cuda")


def loader_workers(workers: int) -> int:
    """DataLoader workers: `workers`, or for -1 this machine's CPU cores shared out among the
    training processes, less one for each process itself, between 1 and 16 (a GPU step of R50
    256x192 eats about 2,000 images/s, far more than 4 decoding workers give)."""
    if workers >= 0:
        return workers
    return max(1, min(16, cpu_cores() // dist.world_size() - 1))


def train_one_epoch(
    model: nn.Module,
    loader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: str,
    epoch: int,
    cfg: Config,
    progress: bool = True,
) -> dict[str, float]:
    """One pass over the loader; returns mean loss, last learning rate, images/s and seconds."""
    from tqdm import tqdm

    model.train()
    precision = train_precision(cfg, device)
    channels_last = train_channels_last(cfg, device)
    total, count, start = 0.0, 0, time.perf_counter()
    bar = tqdm(
        loader, desc=f"epoch {epoch}", unit="batch", disable=None if progress else True, leave=False
    )
    for images, target, weight, _ in bar:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        target = target.to(device, non_blocking=True)
        weight = weight.to(device, non_blocking=True)
        with autocast(device, precision):
            output = model(images)
        loss = criterion(output, target, weight)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"epoch {epoch}: the loss is {loss.item()}; lower train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = images.shape[0]
        total += loss.item() * n
        count += n
        bar.set_postfix(loss=f"{total / count:.6f}")
    seconds = time.perf_counter() - start
    return {
        "loss": total / max(count, 1),
        "lr": optimizer.param_groups[0]["lr"],
        "images_per_s": count / seconds if seconds > 0 else math.nan,
        "seconds": seconds,
    }


def predict(
    model: nn.Module, loader, cfg: Config, device: str, progress: bool = True
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Keypoints (N, K, 3) in image pixels for every sample of the loader (test settings of
    `cfg`: flip test, decoding), and the samples' meta as arrays."""
    from tqdm import tqdm

    estimator = PoseEstimator(
        model,
        cfg,
        device=device,
        precision=train_precision(cfg, device),
        channels_last=train_channels_last(cfg, device),
    )
    preds: list[np.ndarray] = []
    metas: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for images, _, _, meta in tqdm(
            loader, desc="predict", unit="batch", leave=False, disable=None if progress else True
        ):
            heatmaps = estimator.heatmaps(images.to(device, non_blocking=True))
            preds.append(
                estimator.decode(heatmaps, np.asarray(meta["center"]), np.asarray(meta["scale"]))
            )
            for key, value in meta.items():  # already batched by the default collate
                metas.setdefault(key, []).append(np.asarray(value))
    k = cfg.model.num_joints
    return (
        np.concatenate(preds) if preds else np.zeros((0, k, 3), np.float32),
        {key: np.concatenate(parts) for key, parts in metas.items()},
    )


def evaluate(
    model: nn.Module,
    dataset: KeypointDataset,
    loader,
    cfg: Config,
    device: str,
    output_dir: str | os.PathLike,
    progress: bool = True,
) -> tuple[dict[str, float], float]:
    """Predict the whole validation set and score it: (table, main metric)."""
    preds, meta = predict(model, loader, cfg, device, progress)
    return dataset.evaluate(preds, meta, output_dir)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel, so state dicts carry no 'module.'."""
    return model.module if hasattr(model, "module") else model
