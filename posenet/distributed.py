"""Multi-GPU training through torchrun: one process per GPU, set up from the environment
(RANK, WORLD_SIZE, LOCAL_RANK). A plain `python tools/train.py` is a world of one."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes logs and checkpoints."""
    return rank() == 0


def init_from_env(device: str) -> str:
    """Join the torchrun process group when WORLD_SIZE > 1; return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
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
