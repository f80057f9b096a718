"""Multi-GPU training through torchrun: one process per GPU, set up from the environment
(RANK, WORLD_SIZE, LOCAL_RANK). A plain `python tools/train.py` is a world of one."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes logs and checkpoints."""
    return rank() == 0


def init_from_env(device: str, timeout: timedelta | None = None) -> str:
    """Join the torchrun process group when WORLD_SIZE > 1; return this process's device.
    `timeout`: how long a collective may wait for the slowest process (torch's default: 30
    min for gloo, 10 min for nccl)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend, timeout=timeout)
    return device


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_processes(value: float, device: str) -> float:
    """The average of a number over all processes (e.g. the epoch loss)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world_size()


def gather_objects(value: Any) -> list[Any]:
    """Every process's `value` (picklable), in rank order, on every process; [value] alone."""
    if world_size() == 1:
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` (picklable) on every process."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
