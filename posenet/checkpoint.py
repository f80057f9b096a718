"""Read and write pose-net checkpoint files and fit their weights into a model: the seed's
.pth.tar files, mmpose checkpoints, our training checkpoints and torchvision ImageNet ResNets
(backbone initialisation). Names of released weights are resolved by `posenet.model_zoo`.

Loading is strict by default and says exactly which keys did not fit. Files are read with
`torch.load(weights_only=True)`, so a checkpoint cannot run code when it is opened.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError
from .files import atomic_open
from .model_zoo import IMAGENET, download_weights, imagenet_url, resolve_weights
from .models.pose_resnet import HEAD_PREFIXES
from .transforms import IMAGENET_MEAN, IMAGENET_STD

SHOW_KEYS = 10  # keys listed per kind of mismatch in an error message

# Besides tensors, old checkpoints hold numpy scalars/arrays (e.g. the seed's 'perf', mmpose
# dataset metadata). These globals only rebuild plain numbers and arrays; numpy 1.x pickles
# name them numpy.core.*, numpy 2.x numpy._core.*.
_multiarray = (getattr(np, "_core", None) or np.core).multiarray
_NUMPY_SAFE_GLOBALS: list[Any] = [
    np.dtype,
    np.ndarray,
    _multiarray.scalar,
    _multiarray._reconstruct,
    (_multiarray.scalar, "numpy.core.multiarray.scalar"),
    (_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    *[cls for cls in vars(np.dtypes).values() if isinstance(cls, type)],
]


@dataclass
class LoadReport:
    """What `load_weights` did: which file, in which layout, and what did not fit (strict=False)."""

    source: str
    layout: str  # 'seed', 'training', 'mmpose', 'torchvision'
    loaded: int  # tensors copied into the model
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: checkpoint shape vs model shape"
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. the epoch of a training checkpoint


# --------------------------------------------------------------------------------------
# Files


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """torch.save `state` atomically, so an interrupted save never leaves a truncated
    checkpoint behind."""
    with atomic_open(path, "wb") as f:
        torch.save(dict(state), f)


def load_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", *, trusted: bool = False
) -> dict[str, Any]:
    """Read a checkpoint file into a dict with weights_only=True (tensors, numbers, strings,
    numpy scalars/arrays); trusted=True allows any pickle, for files whose source you trust."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: weights file not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: is not a file (expected a weights file)")
    try:
        if trusted:
            obj = torch.load(path, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(_NUMPY_SAFE_GLOBALS):
                obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        culprit = re.search(r"GLOBAL (\S+)", str(err))
        if culprit:
            raise CheckpointError(
                f"{path}: holds Python objects other than tensors ({culprit.group(1)}), which "
                "could run code when loaded; not loaded (expected a file of weights only)"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", str(err), re.S)
        reason = detail.group(1) if detail else str(err)
        raise CheckpointError(f"{path}: not a readable torch weights file ({reason})") from None
    except Exception as err:  # zip/pickle/EOF errors: not a torch file or a truncated one
        reason = (
            str(err).strip().splitlines()[0].split(". ")[0]
            if str(err).strip()
            else type(err).__name__
        )
        raise CheckpointError(f"{path}: not a readable torch weights file ({reason})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of weights, got {type(obj).__name__}")
    return dict(obj)


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the 'module.' that DataParallel/DistributedDataParallel put before every key."""
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def read_state_dict(path: str | os.PathLike, *, trusted: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (plain, or under 'state_dict'/'model'), 'module.' dropped:
    the one reader for other nets' files too (the tracker's torchvision detector and flow)."""
    state, _ = _as_state_dict(load_checkpoint(path, trusted=trusted), os.fspath(path))
    return strip_module_prefix(state)


# --------------------------------------------------------------------------------------
# Layouts


def _as_state_dict(obj: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tensors of a checkpoint dict (plain, or under 'state_dict' / 'model') and, for a
    wrapped one, its 'epoch', 'perf', 'best_perf' and 'meta' entries plus 'wrapped_in'."""
    meta: dict[str, Any] = {}
    state = obj
    for key in ("state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner:
            state = inner
            meta = {k: v for k, v in obj.items() if k in ("epoch", "perf", "meta", "best_perf")}
            meta["wrapped_in"] = key
            break
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad or not state:
        raise CheckpointError(
            f"{source}: does not look like a state dict (no 'state_dict' or 'model' entry, and "
            f"{len(bad)} non-tensor entries, e.g. {', '.join(map(str, bad[:SHOW_KEYS]))})"
        )
    return dict(state), meta


def convert_state_dict(state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Rename keys to ours: drop 'module.'; mmpose 'backbone.', 'keypoint_head.' (0.x) and
    'head.' (1.x) prefixes. Returns the renamed dict and the layout that was recognised."""
    state = strip_module_prefix(state)
    if any(k.startswith("backbone.") for k in state):
        renamed = {}
        for key, value in state.items():
            for prefix in ("backbone.", "keypoint_head.", "head."):
                if key.startswith(prefix):
                    key = key[len(prefix) :]
                    break
            renamed[key] = value
        return renamed, "mmpose"
    has_head = any(k.startswith(HEAD_PREFIXES) for k in state)
    if not has_head and "fc.weight" in state:  # an ImageNet classifier
        return state, "torchvision"
    return state, "seed"


def seed_bgr_to_rgb(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Adapt weights trained on BGR images normalised with RGB mean/std (the seed's defect) to
    our RGB input: conv1's input channels are swapped and rescaled, and the mean difference is
    folded into bn1's running mean (exact except where conv1 reads the zero padding)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
    # The seed's input channel c was (BGR_c - m_c) / s_c, and BGR_c = RGB_{2-c}. We feed
    # x_k = (RGB_k - m_k) / s_k, so its channel c equals scale_c * x_{2-c} + offset_c.
    scale = std.flip(0) / std
    offset = (mean.flip(0) - mean) / std
    out = dict(state)
    weight = state["conv1.weight"].double()
    out["conv1.weight"] = (weight * scale.view(1, 3, 1, 1)).flip(1).to(state["conv1.weight"].dtype)
    shift = (weight * offset.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    mean_key = "bn1.running_mean"
    out[mean_key] = (state[mean_key].double() - shift).to(state[mean_key].dtype)
    return out


def _is_old_bn_counter(key: str) -> bool:
    # Files from PyTorch < 0.4.1 have no BatchNorm counters; the counter never affects outputs.
    return key.endswith(".num_batches_tracked")


def _fit(
    model: nn.Module,
    state: dict[str, Any],
    source: str,
    layout: str,
    strict: bool,
    backbone_only: bool,
    meta: dict[str, Any],
) -> LoadReport:
    """Copy matching tensors into `model`; strict: any missing/unexpected/mis-shaped key fails."""
    own = model.state_dict()
    if backbone_only:
        own = {k: v for k, v in own.items() if not k.startswith(HEAD_PREFIXES)}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing = [k for k in own if k not in state and not _is_old_bn_counter(k)]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if strict and (missing or unexpected or mismatched):
        raise CheckpointError(
            _mismatch_message(model, source, layout, missing, unexpected, mismatched)
        )
    fitting = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(fitting, strict=False)
    return LoadReport(source, layout, len(fitting), missing, unexpected, mismatched, meta)


def _listing(what: str, keys: list[str]) -> str:
    more = f", ... ({len(keys) - SHOW_KEYS} more)" if len(keys) > SHOW_KEYS else ""
    return f"{len(keys)} {what}: {', '.join(keys[:SHOW_KEYS])}{more}"


def _mismatch_message(
    model: nn.Module,
    source: str,
    layout: str,
    missing: list[str],
    unexpected: list[str],
    mismatched: list[str],
) -> str:
    name = type(model).__name__
    if hasattr(model, "depth"):
        name += f"-{model.depth}"
    parts = [f"{source} ({layout} layout) does not fit {name}"]
    for what, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mismatched),
    ):
        if keys:
            parts.append(_listing(what, keys))
    return "; ".join(parts)


# --------------------------------------------------------------------------------------
# Public entry points


def init_backbone(
    model: nn.Module, name_or_path: str | os.PathLike, *, trusted: bool = False
) -> LoadReport:
    """Initialise the ResNet backbone from ImageNet weights ('imagenet': torchvision's file for
    the model's depth) or a ResNet state-dict file; 'fc.*' is dropped, the head is untouched and
    every backbone key must fit. torchvision's weights are pytorch-style: for a caffe-style net
    they are a shape-compatible start, not the MSRA Caffe weights the seed used."""
    key = os.fspath(name_or_path)
    if key == IMAGENET:
        depth = getattr(model, "depth", None)
        if depth is None:
            raise CheckpointError("'imagenet' initialisation needs a model with a .depth")
        path = download_weights(imagenet_url(depth))
    else:
        path = resolve_weights(key)
    state, meta = _as_state_dict(load_checkpoint(path, trusted=trusted), str(path))
    state, layout = convert_state_dict(state)
    return _fit(model, state, str(path), layout, strict=True, backbone_only=True, meta=meta)


def load_weights(
    model: nn.Module,
    name_or_path: str | os.PathLike,
    strict: bool = True,
    *,
    trusted: bool = False,
    from_bgr: bool = False,
) -> LoadReport:
    """Load a seed .pth.tar (plain, 'module.'-prefixed or a training dict), an mmpose checkpoint
    or named weights into `model`; a torchvision ResNet file (or 'imagenet') fills the backbone
    only. strict=False loads what fits and reports the rest. from_bgr=True adapts the seed's
    released files (trained on BGR images) to our RGB input, see `seed_bgr_to_rgb`."""
    if os.fspath(name_or_path) == IMAGENET:
        return init_backbone(model, IMAGENET, trusted=trusted)
    path = resolve_weights(name_or_path)
    state, meta = _as_state_dict(load_checkpoint(path, trusted=trusted), str(path))
    state, layout = convert_state_dict(state)
    if layout == "seed" and "wrapped_in" in meta:
        layout = "training"
    if from_bgr:
        if "conv1.weight" not in state or "bn1.running_mean" not in state:
            raise CheckpointError(f"{path}: from_bgr needs conv1.weight and bn1.running_mean")
        state = seed_bgr_to_rgb(state)
    return _fit(
        model,
        state,
        str(path),
        layout,
        strict=strict,
        backbone_only=layout == "torchvision",
        meta=meta,
    )
