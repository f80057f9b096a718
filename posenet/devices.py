"""Which torch device a run uses: one rule for every tool and for the tracker."""

from __future__ import annotations

import os

from .errors import ConfigError


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_device(device: str | None) -> str:
    """'auto' (or None) -> 'cuda' when a GPU is available, else 'cpu'; a device torch does not
    know (e.g. 'tpu'), 'cuda[:N]' without that GPU, or 'mps'/'xpu' when absent is a ConfigError."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"device {device!r}: unknown; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} asked for, but CUDA is not available "
                "(no GPU found); use --device cpu"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r}: only {torch.cuda.device_count()} GPU(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    elif parsed.type != "cpu":
        backend = getattr(torch, parsed.type, None) or getattr(torch.backends, parsed.type, None)
        available = getattr(backend, "is_available", None)
        if available is None or not available():
            raise ConfigError(f"device {device!r} is not available here; use cpu or cuda")
    return device
