"""Training and validation steps, as plain functions: everything a run trains with
(`build_training`), optimizer and schedule from the config, resume, one training epoch,
predictions over a loader, and evaluation in the dataset's metric.

The schedule is per iteration (linear warm-up, then the seed's step decay by epoch) and is
stepped after the optimizer. On CUDA the forward pass runs under bf16 autocast in
channels_last; on CPU everything is float32.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import distributed as dist
from .checkpoint import init_backbone, load_checkpoint, load_weights
from .config import Config, TrainConfig, config_to_dict
from .datasets import build_dataset
from .datasets.base import KeypointDataset
from .devices import cpu_cores
from .errors import CheckpointError, ConfigError
from .inference import PoseEstimator
from .losses import JointsMSELoss
from .models.pose_resnet import build_model
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
    256x192 eats about 2,000 images/s, far more than 4 decoding workers give). Below -1 is a
    ConfigError."""
    if workers < -1:
        raise ConfigError(f"loader workers {workers}: expected 0 or more, or -1 (cores - 1)")
    if workers >= 0:
        return workers
    return max(1, min(16, cpu_cores() // dist.world_size() - 1))


def make_loader(
    dataset: KeypointDataset,
    batch_size: int,
    workers: int,
    device: str,
    train: bool,
    samples: int | None = None,
) -> DataLoader:
    """A DataLoader whose workers persist across epochs: shuffled for training (a
    DistributedSampler under torchrun), in order for validation; `samples`: that many drawn
    with replacement, any number of steps from a small set (the speed benchmark)."""
    from torch.utils.data import DistributedSampler, RandomSampler

    workers = loader_workers(workers)
    sampler = None
    if samples is not None:
        sampler = RandomSampler(dataset, replacement=True, num_samples=samples)
    elif train and dist.world_size() > 1:
        sampler = DistributedSampler(dataset, shuffle=True)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.startswith("cuda"),
        drop_last=False,
        persistent_workers=workers > 0,
    )


@dataclass
class Training:
    """What a training run works with; `val_set`/`val_loader` are None without validation."""

    model: nn.Module
    train_set: KeypointDataset
    train_loader: DataLoader
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    val_set: KeypointDataset | None = None
    val_loader: DataLoader | None = None


def build_training(
    cfg: Config,
    device: str,
    *,
    validation: bool = True,
    initialise: bool = True,
    batch_size: int | None = None,
    workers: int | None = None,
    steps: int | None = None,
) -> Training:
    """Model on `device` in the training layout, data and loaders, loss, optimizer and schedule
    from `cfg`: one set-up for tools/train.py and the training-speed benchmark. `initialise`
    loads model.pretrained / model.init_weights (speed does not need them); `steps`: a loader
    of exactly that many batches drawn with replacement; the caller seeds the RNGs first."""
    t = cfg.train
    model = build_model(cfg)
    if initialise and cfg.model.pretrained:
        init_backbone(model, cfg.model.pretrained)
    if initialise and cfg.model.init_weights:
        load_weights(model, cfg.model.init_weights)
    model.to(device)
    if train_channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    train_set = build_dataset(cfg, train=True)
    val_set = build_dataset(cfg, train=False) if validation else None
    if len(train_set) == 0:
        raise ConfigError(f"{cfg.data.root}: the training set '{cfg.data.train_set}' has no people")
    batch = batch_size or t.batch_size
    workers = t.workers if workers is None else workers
    samples = None if steps is None else batch * steps
    train_loader = make_loader(train_set, batch, workers, device, True, samples)
    val_loader = None
    if val_set is not None:
        val_loader = make_loader(val_set, cfg.test.batch_size, workers, device, False)
    optimizer = build_optimizer(model, t)
    return Training(
        model=model,
        train_set=train_set,
        train_loader=train_loader,
        criterion=JointsMSELoss(t.use_target_weight),
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, t, len(train_loader)),
        val_set=val_set,
        val_loader=val_loader,
    )


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (augmentation draws from all three)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every generator's state, saved with a checkpoint so a resumed run draws what an
    uninterrupted one would have."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from `rng_state()`'s dict."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(training: Training, cfg: Config, epoch: int, best: float) -> dict[str, Any]:
    """The checkpoint of a run after `epoch` epochs: everything `resume` needs."""
    return {
        "state_dict": unwrap(training.model).state_dict(),
        "optimizer": training.optimizer.state_dict(),
        "scheduler": training.scheduler.state_dict(),
        "epoch": epoch,
        "best": best,
        "config": config_to_dict(cfg),
        "rng": rng_state(),
    }


def resume(training: Training, path: str | os.PathLike) -> tuple[int, float]:
    """Load a training checkpoint into model, optimizer, schedule and RNGs; returns (epoch to
    start at, best metric so far). CheckpointError in one line when it does not fit."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    state = load_checkpoint(path, map_location="cpu", trusted=True)
    for key in ("state_dict", "optimizer", "scheduler", "epoch"):
        if key not in state:
            raise CheckpointError(f"{path}: not a training checkpoint (no '{key}')")
    # load_weights: one line naming what does not fit (e.g. R18 weights, R50 config)
    load_weights(training.model, path, trusted=True)
    try:
        training.optimizer.load_state_dict(state["optimizer"])
        training.scheduler.load_state_dict(state["scheduler"])
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: optimizer state does not fit this config ({err})") from None
    if "rng" in state:
        set_rng_state(state["rng"])
    return int(state["epoch"]), float(state.get("best", -float("inf")))


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


def evaluate_weights(
    cfg: Config,
    weights: str | os.PathLike,
    device: str,
    output_dir: str | os.PathLike,
    workers: int | None = None,
    from_bgr: bool = False,
) -> dict[str, float]:
    """Score pose-net weights (a file or a released name) on the config's validation set, its
    results files in `output_dir`: the table of tools/valid.py. `workers`: loader processes
    (`loader_workers`' rule; None: the config's train.workers, as training uses)."""
    workers = cfg.train.workers if workers is None else workers
    model = build_model(cfg)
    load_weights(model, weights, from_bgr=from_bgr)
    dataset = build_dataset(cfg, train=False)
    loader = make_loader(dataset, cfg.test.batch_size, workers, device, train=False)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    table, _ = evaluate(model, dataset, loader, cfg, device, output_dir)
    return table


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel, so state dicts carry no 'module.'."""
    return model.module if hasattr(model, "module") else model
