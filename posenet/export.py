"""Pose nets as ONNX: export with a dynamic batch, check against torch, cache beside the weights.

The exported graph is the bare net: input `crops` (N, 3, H, W) float32, RGB normalised with
the ImageNet mean/std (as `PoseEstimator.heatmaps` takes them), output `heatmaps` (N, K, H/4,
W/4) float32. Cropping, flip test and decoding stay in `PoseEstimator`, the same code for
every backend.

torch's own exporter (torch.export, needs the onnxscript package, which the runtime extras
install) is used where available, else the older TorchScript exporter; both give the same
graph to within float rounding.

Exports of a weights file are cached next to it (named weights: in the torch hub cache, where
they were downloaded), keyed on the file's size and modification time, the model config and the
input size, so new weights or another input size give a new export and the stale one is removed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .config import Config
from .errors import ConfigError
from .files import AtomicFile
from .model_zoo import hub_checkpoint_dir
from .runtimes import ONNXRUNTIME, OPENVINO, load_runtime, runtime_installed

INPUT_NAME = "crops"
OUTPUT_NAME = "heatmaps"
OPSET = 18
EXPORT_BATCH = 2  # example batch of the trace; the batch dimension is exported as dynamic
CHECK_TOLERANCE = 1e-4  # largest |ONNX - torch| over the heatmap maximum that passes
CACHE_FORMAT = 1  # bump when the exported graph changes, so old caches are rebuilt
KEY_CHARS = 12  # hex digits of the cache key in file names
# Model config fields that do not change the net once weights are loaded over it.
UNKEYED_FIELDS = ("pretrained", "init_weights")


def _has_dynamo_flag() -> bool:
    """Whether torch.onnx.export chooses between exporters (torch >= 2.5)."""
    return "dynamo" in inspect.signature(torch.onnx.export).parameters


def _dynamo_exporter() -> bool:
    """Whether torch.export-based ONNX export is usable: torch has it and onnxscript is here."""
    return _has_dynamo_flag() and importlib.util.find_spec("onnxscript") is not None


def _export(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write the ONNX graph of `model` traced on `example`, batch dimension dynamic."""
    names = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": OPSET}
    with warnings.catch_warnings():
        # torch's own deprecation notes about its internals; nothing the user can act on.
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        if _dynamo_exporter():
            torch.onnx.export(
                model,
                (example,),
                path,
                dynamo=True,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,  # one file; R152 384x288 is 0.3 GB, below protobuf's 2 GB
                verbose=False,
                **names,
            )
        else:
            kwargs = {"dynamo": False} if _has_dynamo_flag() else {}
            torch.onnx.export(
                model,
                (example,),
                path,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                **names,
                **kwargs,
            )


def _host_copy(model: nn.Module) -> nn.Module:
    """An fp32, contiguous, eval-mode copy of `model` on the CPU: exporting never changes the
    caller's model (its device, layout or mode)."""
    clone = copy.deepcopy(model).float().cpu().eval()
    return clone.to(memory_format=torch.contiguous_format)


def export_onnx(model: nn.Module, path: str | os.PathLike, image_size: Sequence[int]) -> Path:
    """Write `model` to `path` as ONNX for crops of `image_size` (width, height), any batch
    size; atomically, so a reader never sees a half-written file."""
    width, height = (int(v) for v in image_size)
    net = _host_copy(model)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(EXPORT_BATCH, 3, height, width, generator=generator)
    with AtomicFile(path, suffix=".onnx") as target, torch.no_grad():
        _export(net, example, target.tmp)
    return Path(path)


def check_backend() -> str:
    """The runtime that checks exports: onnxruntime, else openvino (fp32), else an error."""
    for backend in (ONNXRUNTIME, OPENVINO):
        if runtime_installed(backend):
            return backend
    return ONNXRUNTIME  # load_runtime then names the extra to install


def compare_with_torch(
    model: nn.Module,
    path: str | os.PathLike,
    image_size: Sequence[int],
    batch_sizes: Sequence[int] = (1, 3),
    backend: str | None = None,
    seed: int = 0,
) -> float:
    """Largest |exported - torch fp32| over the torch heatmaps' largest magnitude, on the same
    random normalised crops at each batch size (which also proves the batch is dynamic)."""
    width, height = (int(v) for v in image_size)
    net = _host_copy(model)
    runtime = load_runtime(backend or check_backend(), path, "fp32")
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch in batch_sizes:
        crops = torch.randn(batch, 3, height, width, generator=generator)
        with torch.no_grad():
            expected = net(crops)
        got = torch.from_numpy(runtime(crops.numpy()))
        if got.shape != expected.shape:
            raise ConfigError(
                f"{path}: batch {batch} gives heatmaps {tuple(got.shape)}, torch gives "
                f"{tuple(expected.shape)}"
            )
        peak = float(expected.abs().max()) or 1.0
        worst = max(worst, float((got - expected).abs().max()) / peak)
    return worst


# --------------------------------------------------------------------------------------
# Cache beside the weights


def cache_key(weights: Path, cfg: Config, from_bgr: bool = False) -> str:
    """Hex key of an export: the weights file's size and mtime, the model config and the
    input size (in the config), how the weights were read, and the cache format."""
    stat = weights.stat()
    model = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k not in UNKEYED_FIELDS}
    data = {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "model": model,
        "from_bgr": bool(from_bgr),
        "format": CACHE_FORMAT,
    }
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_CHARS]


def cache_folder(weights: Path) -> Path:
    """Beside the weights if that folder is writable, else the torch hub cache."""
    folder = weights.resolve().parent
    return folder if os.access(folder, os.W_OK) else hub_checkpoint_dir()


def _cache_pattern(weights: Path, image_size: Sequence[int]) -> re.Pattern:
    width, height = (int(v) for v in image_size)
    name = re.escape(f"{weights.name}.{width}x{height}.")
    return re.compile(rf"{name}[0-9a-f]{{{KEY_CHARS}}}\.onnx")


def cache_path(weights: str | os.PathLike, cfg: Config, from_bgr: bool = False) -> Path:
    """Where the export of `weights` for `cfg` is cached: <weights name>.<W>x<H>.<key>.onnx."""
    weights = Path(weights)
    width, height = cfg.model.image_size
    key = cache_key(weights, cfg, from_bgr)
    return cache_folder(weights) / f"{weights.name}.{width}x{height}.{key}.onnx"


def cached_onnx(
    model: nn.Module, cfg: Config, weights: str | os.PathLike, from_bgr: bool = False
) -> Path:
    """The ONNX export of `model` (loaded from the file `weights`), made once and reused
    while the file, the model config and the input size stay the same. Exports of earlier
    versions of the same file at this input size are removed."""
    path = cache_path(weights, cfg, from_bgr)
    if path.is_file():
        return path
    print(f"Exporting the pose net to {path} (once for these weights)", file=sys.stderr)
    export_onnx(model, path, cfg.model.image_size)
    stale = _cache_pattern(Path(weights), cfg.model.image_size)
    for old in path.parent.iterdir():
        if old != path and stale.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return path


@contextmanager
def temporary_onnx(model: nn.Module, image_size: Sequence[int]) -> Iterator[Path]:
    """An export of `model` in a temp folder, removed after the block (nets without a weights
    file, e.g. random init, have nothing to key a cache on)."""
    with tempfile.TemporaryDirectory(prefix="posenet-onnx-") as folder:
        yield export_onnx(model, Path(folder) / "pose.onnx", image_size)
