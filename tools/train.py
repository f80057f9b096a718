"""Train a pose net: the seed's recipe by default, on CPU, one GPU or N GPUs.

    python tools/train.py --config configs/coco/res50_256x192.yaml [--set key=value]
        [--resume] [--seed N] [--device cuda|cpu] [--epochs N] [--no-val]
    torchrun --nproc-per-node 8 tools/train.py --config ...

Writes into `output_dir` (config, or --output-dir): checkpoint.pth (everything needed to
resume, written atomically after every epoch), model_best.pth (weights only, no 'module.'
prefixes), final.pth, log.jsonl (one line of metrics per epoch), config.yaml, and TensorBoard
scalars under tensorboard/ when tensorboard is installed.
`--resume` continues from checkpoint.pth (or the file given) where the run stopped.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from posenet import distributed as dist
from posenet.checkpoint import init_backbone, load_checkpoint, load_weights, save_checkpoint
from posenet.cli import add_config_args, check_output_dir, run_cli
from posenet.config import config_to_dict, load_config
from posenet.datasets import build_dataset
from posenet.devices import resolve_device
from posenet.engine import (
    build_optimizer,
    build_scheduler,
    evaluate,
    loader_workers,
    train_channels_last,
    train_one_epoch,
    unwrap,
)
from posenet.errors import CheckpointError, ConfigError
from posenet.evaluation.table import format_table
from posenet.losses import JointsMSELoss
from posenet.models.pose_resnet import build_model


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_loader(dataset, batch_size: int, workers: int, train: bool, device: str):
    """DataLoader with a DistributedSampler under torchrun; workers persist across epochs."""
    from torch.utils.data import DataLoader, DistributedSampler

    workers = loader_workers(workers)
    sampler = (
        DistributedSampler(dataset, shuffle=train) if dist.world_size() > 1 and train else None
    )
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


def tensorboard_writer(out: Path):
    """A TensorBoard writer under out/tensorboard when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def add_scalars(writer, record: dict[str, Any], epoch: int) -> None:
    if writer is None:
        return
    for key in ("loss", "lr", "images_per_s"):
        writer.add_scalar(f"train/{key}", record[key], epoch)
    for key, value in record.get("val", {}).items():
        writer.add_scalar(f"val/{key}", value, epoch)
    writer.flush()


def append_log(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="continue from output_dir/checkpoint.pth (or this file)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default: train.seed)")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--output-dir", help="override output_dir")
    parser.add_argument("--no-val", action="store_true", help="skip validation after epochs")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("--config is required, e.g. configs/coco/res50_256x192.yaml")

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    cfg = load_config(args.config, overrides)
    check_output_dir(cfg.output_dir, "--output-dir" if args.output_dir else "output_dir")
    device = dist.init_from_env(resolve_device(args.device))
    try:
        return train(cfg, device, args)
    finally:
        dist.cleanup()


def train(cfg, device: str, args: argparse.Namespace) -> int:
    t = cfg.train
    out = Path(cfg.output_dir)
    main_process = dist.is_main()
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
    seed_everything(t.seed + dist.rank())

    model = build_model(cfg)
    if cfg.model.pretrained:
        init_backbone(model, cfg.model.pretrained)
    if cfg.model.init_weights:
        load_weights(model, cfg.model.init_weights)
    model.to(device)
    if train_channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    train_set = build_dataset(cfg, train=True)
    val_set = None if args.no_val else build_dataset(cfg, train=False)
    if len(train_set) == 0:
        raise ConfigError(f"{cfg.data.root}: the training set '{cfg.data.train_set}' has no people")
    train_loader = make_loader(train_set, t.batch_size, t.workers, True, device)
    val_loader = (
        make_loader(val_set, cfg.test.batch_size, t.workers, False, device)
        if val_set is not None
        else None
    )

    criterion = JointsMSELoss(t.use_target_weight)
    optimizer = build_optimizer(model, t)
    scheduler = build_scheduler(optimizer, t, len(train_loader))
    start_epoch, best = 0, -float("inf")
    if args.resume is not None:
        path = Path(args.resume) if args.resume else out / "checkpoint.pth"
        if not path.is_file():
            raise CheckpointError(f"{path}: no checkpoint to resume from")
        state = load_checkpoint(path, map_location="cpu", trusted=True)
        for key in ("state_dict", "optimizer", "scheduler", "epoch"):
            if key not in state:
                raise CheckpointError(f"{path}: not a training checkpoint (no '{key}')")
        # load_weights: one line naming what does not fit (e.g. R18 weights, R50 config)
        load_weights(model, path, trusted=True)
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(
                f"{path}: optimizer state does not fit this config ({err})"
            ) from None
        start_epoch, best = int(state["epoch"]), float(state.get("best", best))
        if "rng" in state:
            set_rng_state(state["rng"])
        if main_process:
            print(f"resumed from {path} at epoch {start_epoch} (best {best:.4f})", flush=True)
    if main_process:  # only now: a failed resume must leave the run's config as it was
        (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if dist.world_size() > 1:
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    writer = tensorboard_writer(out) if main_process else None
    for epoch in range(start_epoch, t.epochs):
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train_loader,
            criterion,
            optimizer,
            scheduler,
            device,
            epoch,
            cfg,
            progress=main_process,
        )
        stats["loss"] = dist.mean_over_processes(stats["loss"], device)
        record: dict[str, Any] = {"epoch": epoch, **stats, "time": time.time()}
        metric = None
        if val_loader is not None and main_process:
            table, metric = evaluate(
                unwrap(model), val_set, val_loader, cfg, device, out, progress=main_process
            )
            record["val"] = table
            print(format_table(table), flush=True)
        dist.barrier()
        if main_process:
            is_best = metric is not None and metric > best
            best = metric if is_best else best
            state = {
                "state_dict": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch + 1,
                "best": best,
                "config": config_to_dict(cfg),
                "rng": rng_state(),
            }
            save_checkpoint(state, out / "checkpoint.pth")
            if is_best or val_loader is None:
                save_checkpoint(unwrap(model).state_dict(), out / "model_best.pth")
            record["best"] = best
            append_log(out / "log.jsonl", record)
            add_scalars(writer, record, epoch)
            print(
                f"epoch {epoch}: loss {stats['loss']:.6f}, lr {stats['lr']:.2e}, "
                f"{stats['images_per_s']:.1f} img/s"
                + (f", metric {metric:.4f} (best {best:.4f})" if metric is not None else ""),
                flush=True,
            )
    if main_process:
        save_checkpoint(unwrap(model).state_dict(), out / "final.pth")
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
