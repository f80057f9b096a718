"""Where the pose net runs: eager PyTorch, or an exported ONNX model in ONNX Runtime or OpenVINO.

The runtimes are optional extras (`pip install 'posetracker[openvino]'`, `[onnxruntime]`) and
run on the CPU only; torch stays the default and the only backend for training and GPUs.
'auto' picks the fastest installed runtime on a CPU and torch on a GPU.

Precision follows the hardware unless the caller names one: bf16 where the CPU computes it
natively (AMX or AVX512-BF16, see `posenet.precision.cpu_has_bf16`), fp32 elsewhere. For torch
that is autocast; OpenVINO gets it as its INFERENCE_PRECISION_HINT and reports back what it
compiled; ONNX Runtime's CPU kernels are fp32 only. Both runtimes flush denormal floats to
zero: they are many times slower on CPUs and, below 1e-38, cannot change heatmaps that peak
near 1 (random-init nets are full of them).

This module imports neither torch nor a runtime at import time, so configs can check names.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from typing import Any, Protocol

import numpy as np

from .errors import ConfigError

TORCH = "torch"
ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
AUTO = "auto"
BACKENDS = (TORCH, ONNXRUNTIME, OPENVINO)
BACKEND_CHOICES = (AUTO, *BACKENDS)
# backend -> (Python module, pip extra of this project that installs it)
RUNTIME_PACKAGES = {ONNXRUNTIME: ("onnxruntime", "onnxruntime"), OPENVINO: ("openvino", "openvino")}
# Our precision names <-> OpenVINO's element types (INFERENCE_PRECISION_HINT).
OPENVINO_TYPES = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class RuntimeMissingError(ConfigError):
    """A backend was asked for whose runtime package is not installed."""


def runtime_installed(backend: str) -> bool:
    """Whether `backend` can run here (torch always can)."""
    if backend == TORCH:
        return True
    return importlib.util.find_spec(RUNTIME_PACKAGES[backend][0]) is not None


def import_runtime(backend: str) -> Any:
    """The runtime module of `backend`; a missing one is a one-line error naming the extra."""
    module, extra = RUNTIME_PACKAGES[backend]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeMissingError(
            f"pose backend {backend!r} needs the {module} package, which is not installed: "
            f"pip install 'posetracker[{extra}]' (or use pose backend torch)"
        ) from None


def auto_backend(cpu_bf16: bool) -> str:
    """The fastest installed backend on a CPU. R50 256x192, batch 10, 2 cores with AVX512-BF16
    (issue 23): OpenVINO 102.9 crops/s, torch bf16 36.3, ONNX Runtime 22.2, torch fp32 14.2;
    without native bf16 torch falls to fp32, behind ONNX Runtime."""
    order = [OPENVINO, TORCH, ONNXRUNTIME] if cpu_bf16 else [OPENVINO, ONNXRUNTIME, TORCH]
    return next(b for b in order if runtime_installed(b))


def resolve_backend(backend: str, device: Any) -> str:
    """A backend name checked against the device: 'auto' is torch off the CPU and the fastest
    installed runtime on it; onnxruntime/openvino on a GPU is a ConfigError."""
    import torch

    from .precision import cpu_has_bf16

    if backend not in BACKEND_CHOICES:
        raise ConfigError(
            f"pose backend must be one of {', '.join(BACKEND_CHOICES)}; got {backend!r}"
        )
    on_cpu = torch.device(device).type == "cpu"
    if backend == AUTO:
        return auto_backend(cpu_has_bf16()) if on_cpu else TORCH
    if backend != TORCH and not on_cpu:
        raise ConfigError(
            f"pose backend {backend!r} runs on the CPU only; use device cpu, or backend "
            f"torch on {device}"
        )
    if backend != TORCH:
        import_runtime(backend)  # fail now, before any export
    return backend


def backend_precision(backend: str, precision: str, device: Any) -> str:
    """The precision `backend` runs at: an explicit name is kept (if the backend has it);
    'auto' is bf16 on CUDA, and on CPUs bf16 where native (fp32 for ONNX Runtime)."""
    from .precision import cpu_inference_precision, resolve_precision

    cpu_default = "fp32" if backend == ONNXRUNTIME else cpu_inference_precision()
    resolved = resolve_precision(precision, device, cpu_default=cpu_default)
    if backend == ONNXRUNTIME and resolved != "fp32":
        raise ConfigError(
            f"pose backend onnxruntime runs fp32 on the CPU; precision {precision!r} needs "
            "backend openvino or torch"
        )
    return resolved


class CompiledNet(Protocol):
    """An exported pose net loaded into a runtime: normalised crops in, heatmaps out."""

    precision: str  # what the runtime computes in, as it reports it

    def __call__(self, crops: np.ndarray) -> np.ndarray: ...


class OnnxRuntimeNet:
    """ONNX Runtime's CPU session of an exported pose net (fp32)."""

    def __init__(self, path: str | os.PathLike, threads: int) -> None:
        ort = import_runtime(ONNXRUNTIME)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.set_denormal_as_zero", "1")  # see the module doc
        self.session = ort.InferenceSession(
            os.fspath(path), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.precision = "fp32"

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: crops})[0]


class OpenVinoNet:
    """OpenVINO's CPU plugin running an exported pose net at a precision hint; `precision` is
    what the compiled model reports (the plugin may not honour a hint the CPU cannot do)."""

    def __init__(self, path: str | os.PathLike, precision: str, threads: int) -> None:
        ov = import_runtime(OPENVINO)
        if precision not in OPENVINO_TYPES:
            raise ConfigError(f"openvino precision must be {', '.join(OPENVINO_TYPES)}")
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": OPENVINO_TYPES[precision],
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time, all cores on it
            "INFERENCE_NUM_THREADS": threads,
            "CPU_DENORMALS_OPTIMIZATION": True,  # see the module doc
        }
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(os.fspath(path)), "CPU", config)
        chosen = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        names = {v: k for k, v in OPENVINO_TYPES.items()}
        self.precision = names.get(chosen, chosen)
        # One infer request per thread: the tracker's stage threads call the pose net at once
        # (keyframe people and people carried between keyframes), and a request is one call.
        self._local = threading.local()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: crops}, share_inputs=True)
        # The output tensor is the request's buffer, overwritten by the next call.
        return request.get_output_tensor(0).data.copy()


def load_runtime(
    backend: str,
    path: str | os.PathLike,
    precision: str = "fp32",
    threads: int | None = None,
) -> CompiledNet:
    """The exported ONNX model at `path` loaded into `backend`'s runtime, ready to call.
    `threads` defaults to torch's thread count, so every backend uses the same cores."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    if backend == ONNXRUNTIME:
        if precision != "fp32":
            raise ConfigError(f"pose backend onnxruntime runs fp32 only; got {precision!r}")
        return OnnxRuntimeNet(path, threads)
    if backend == OPENVINO:
        return OpenVinoNet(path, precision, threads)
    raise ConfigError(f"no runtime for backend {backend!r} (one of {ONNXRUNTIME}, {OPENVINO})")
