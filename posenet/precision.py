"""Numeric precision in one place: the names, what 'auto' means, and the autocast contexts.

'auto' is a per-caller default on CUDA (bf16 for the pose net; the detector passes its own)
and fp32 elsewhere. Parts that need float32 whatever the caller chose (crop sampling, DARK's
logs) turn autocast off with `no_autocast`.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager as ContextManager

import torch

from .errors import ConfigError

PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
AUTO = "auto"
POSE_CUDA_DEFAULT = "bf16"  # the pose net's 'auto' on CUDA


def resolve_precision(
    precision: str, device: str | torch.device, cuda_default: str = POSE_CUDA_DEFAULT
) -> str:
    """A precision name checked, with 'auto' made `cuda_default` on CUDA and 'fp32' elsewhere."""
    if precision != AUTO and precision not in PRECISIONS:
        raise ConfigError(f"precision must be {AUTO}, {', '.join(PRECISIONS)}; got {precision!r}")
    if precision != AUTO:
        return precision
    return cuda_default if torch.device(device).type == "cuda" else "fp32"


def precision_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision name; None for fp32 (no autocast)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be {', '.join(PRECISIONS)}; got {precision!r}")
    return None if precision == "fp32" else PRECISIONS[precision]


def autocast(device: str | torch.device, precision: str) -> ContextManager:
    """Autocast to `precision` on `device` ('auto' resolved as for the pose net); fp32: nothing."""
    dtype = precision_dtype(resolve_precision(precision, device))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def no_autocast(device: str | torch.device) -> ContextManager:
    """Autocast turned off on `device`: coordinates, sampling and logs need float32."""
    try:
        return torch.autocast(device_type=torch.device(device).type, enabled=False)
    except RuntimeError:  # a device type without autocast support
        return contextlib.nullcontext()
