"""Which torch device a run uses: one rule for every tool and for the tracker."""
from __future__ import annotations

from .errors import ConfigError


def resolve_device(device: str | None) -> str:
    """'auto' (or None) -> 'cuda' when a GPU is available, else 'cpu'; 'cuda[:N]' without a GPU
    is a ConfigError; anything else unchanged."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available "
                          "(no GPU found); use --device cpu")
    return device
