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
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from posenet import distributed as dist
from posenet.checkpoint import save_checkpoint
from posenet.cli import (
    HelpFormatter,
    add_config_args,
    check_not_inputs,
    check_output_dir,
    run_cli,
)
from posenet.config import Config, config_to_dict, load_config
from posenet.devices import resolve_device
from posenet.engine import (
    build_training,
    evaluate,
    resume,
    seed_everything,
    train_one_epoch,
    training_state,
    unwrap,
)
from posenet.evaluation.table import format_table
from posenet.files import finite

EXAMPLE_CONFIG = "configs/coco/res50_256x192.yaml"


def tensorboard_writer(out: Path):
    """A TensorBoard writer under out/tensorboard when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def add_scalars(writer, record: dict[str, Any], epoch: int) -> None:
    """One epoch's training and validation figures as TensorBoard scalars (if any writer)."""
    if writer is None:
        return
    for key in ("loss", "lr", "images_per_s"):
        writer.add_scalar(f"train/{key}", record[key], epoch)
    for key, value in record.get("val", {}).items():
        writer.add_scalar(f"val/{key}", value, epoch)
    writer.flush()


def append_log(path: Path, record: dict[str, Any]) -> None:
    """One JSON line per epoch in log.jsonl, strict JSON: a value that is not a finite number
    (the best metric before any validation is -inf) is null."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(finite(record), allow_nan=False) + "\n")


def epoch_line(epoch: int, stats: dict[str, float], metric: float | None, best: float) -> str:
    """The line printed after each epoch."""
    line = f"epoch {epoch}: loss {stats['loss']:.6f}, lr {stats['lr']:.2e}, "
    line += f"{stats['images_per_s']:.1f} img/s"
    return line + (f", metric {metric:.4f} (best {best:.4f})" if metric is not None else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, load the config and train (under torchrun: one process each)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    add_config_args(parser, example=EXAMPLE_CONFIG)
    parser.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="continue from output_dir/checkpoint.pth (or this file) (default: start afresh)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default: train.seed)")
    parser.add_argument("--epochs", type=int, help="default: the config's train.epochs")
    parser.add_argument("--output-dir", help="default: the config's output_dir")
    parser.add_argument("--no-val", action="store_true", help="skip validation after epochs")
    args = parser.parse_args(argv)

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    cfg = load_config(args.config, overrides)
    option = "--output-dir" if args.output_dir else "output_dir"
    out = check_output_dir(cfg.output_dir, option)
    # The weights a run writes never replace the weights it starts from (config.yaml and
    # checkpoint.pth are rewritten on purpose: --resume reads and continues them).
    written = [out / name for name in ("model_best.pth", "final.pth")]
    check_not_inputs(
        written, [p for p in (cfg.model.init_weights, cfg.model.pretrained) if p], option
    )
    device = dist.init_from_env(resolve_device(args.device))
    try:
        return train(cfg, device, args.resume, validate=not args.no_val)
    finally:
        dist.cleanup()


def train(cfg: Config, device: str, resume_from: str | None = None, validate: bool = True) -> int:
    """Build, optionally resume (`resume_from`: '' for output_dir/checkpoint.pth), then train
    epoch after epoch, validating and saving the checkpoint after each."""
    out = Path(cfg.output_dir)
    main_process = dist.is_main()
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.train.seed + dist.rank())
    run = build_training(cfg, device, validation=validate)
    start_epoch, best = 0, -float("inf")
    if resume_from is not None:
        path = Path(resume_from) if resume_from else out / "checkpoint.pth"
        start_epoch, best = resume(run, path)
        if main_process:
            print(f"resumed from {path} at epoch {start_epoch} (best {best:.4f})", flush=True)
    if main_process:  # only now: a failed resume must leave the run's config as it was
        (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if dist.world_size() > 1:
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        run.model = torch.nn.parallel.DistributedDataParallel(run.model, device_ids=ids)

    writer = tensorboard_writer(out) if main_process else None
    for epoch in range(start_epoch, cfg.train.epochs):
        if hasattr(run.train_loader.sampler, "set_epoch"):
            run.train_loader.sampler.set_epoch(epoch)
        stats = train_one_epoch(
            run.model,
            run.train_loader,
            run.criterion,
            run.optimizer,
            run.scheduler,
            device,
            epoch,
            cfg,
            progress=main_process,
        )
        stats["loss"] = dist.mean_over_processes(stats["loss"], device)
        record: dict[str, Any] = {"epoch": epoch, **stats, "time": time.time()}
        metric = None
        if run.val_loader is not None and main_process:
            table, metric = evaluate(
                unwrap(run.model), run.val_set, run.val_loader, cfg, device, out, main_process
            )
            record["val"] = table
            print(format_table(table), flush=True)
        dist.barrier()
        if main_process:
            is_best = metric is not None and metric > best
            best = metric if is_best else best
            save_checkpoint(training_state(run, cfg, epoch + 1, best), out / "checkpoint.pth")
            if is_best or run.val_loader is None:
                save_checkpoint(unwrap(run.model).state_dict(), out / "model_best.pth")
            record["best"] = best
            append_log(out / "log.jsonl", record)
            add_scalars(writer, record, epoch)
            print(epoch_line(epoch, stats, metric, best), flush=True)
    if main_process:
        save_checkpoint(unwrap(run.model).state_dict(), out / "final.pth")
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
