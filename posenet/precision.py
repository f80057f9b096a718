"""Numeric precision in one place: the names, what 'auto' means, and the autocast contexts.

'auto' is a per-caller default on CUDA (bf16 for the pose net; the detector passes its own)
and, on CPUs, the caller's CPU default: fp32 unless the caller asks for the hardware's choice
(`cpu_inference_precision`: bf16 where the CPU computes it natively, AMX or AVX512-BF16;
elsewhere bf16 is emulated and slower than fp32). Training keeps fp32 on CPUs. Parts that need
float32 whatever the caller chose (crop sampling, DARK's logs) turn autocast off with
`no_autocast`.
"""

from __future__ import annotations

import contextlib
import functools
import os
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
# /proc/cpuinfo flags of native bf16 arithmetic: AMX tiles (Sapphire Rapids and later) or the
# AVX512-BF16 dot products (Cooper Lake, Zen 4 and later).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str | os.PathLike = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo; empty where unreadable
    (not Linux): the caller then assumes the plainest CPU."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):  # x86, ARM
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def cpu_has_bf16(cpuinfo: str | os.PathLike = CPUINFO) -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16), so bf16 is faster there."""
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_CPU_FLAGS)


def cpu_inference_precision() -> str:
    """The hardware's choice for inference on this CPU: bf16 where native, else fp32."""
    return "bf16" if cpu_has_bf16() else "fp32"


def resolve_precision(
    precision: str,
    device: str | torch.device,
    cuda_default: str = POSE_CUDA_DEFAULT,
    cpu_default: str = "fp32",
) -> str:
    """A precision name checked, with 'auto' made `cuda_default` on CUDA and `cpu_default`
    elsewhere."""
    if precision != AUTO and precision not in PRECISIONS:
        raise ConfigError(f"precision must be {AUTO}, {', '.join(PRECISIONS)}; got {precision!r}")
    if precision != AUTO:
        return precision
    return cuda_default if torch.device(device).type == "cuda" else cpu_default


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
