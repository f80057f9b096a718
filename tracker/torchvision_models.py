"""torchvision models by name for the tracker's detector and RAFT flow, with weights given as a
torchvision weights name ("DEFAULT", "COCO_V1"), a local file or None (random init). Files are
read by `posenet.checkpoint.read_state_dict`, the project's one weights-file reader."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from posenet.checkpoint import read_state_dict
from posenet.errors import CheckpointError, ConfigError

WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".tar")


def weights_file_hint(weights) -> str:
    """Where an offline user has to put the file of a torchvision weights enum."""
    filename = os.path.basename(weights.url)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def is_weights_file(weights) -> bool:
    """True when `weights` names a local file rather than a torchvision weights enum."""
    if not isinstance(weights, (str, os.PathLike)):
        return False
    path = Path(weights)
    return path.suffix in WEIGHT_FILE_SUFFIXES or path.exists()


def load_torchvision_model(
    kind: str, name: str, weights: str | os.PathLike | None, **kwargs
) -> tuple[torch.nn.Module, list[str] | None]:
    """A torchvision model by name with weights given as an enum name ("DEFAULT",
    "COCO_V1"), a local state-dict file, or None (random init); also returns the category
    names of the weights when known. `kind` names the caller in error messages."""
    import torchvision.models as tvm

    try:
        weights_enum = tvm.get_model_weights(name)
    except (ValueError, KeyError):
        raise ConfigError(f"unknown torchvision {kind} model {name!r}") from None
    if weights is None:
        return tvm.get_model(name, weights=None, **kwargs), None
    if is_weights_file(weights):
        model = tvm.get_model(name, weights=None, **kwargs)
        load_state_dict_file(model, weights)
        return model, None
    try:  # an enum member, or its name ("DEFAULT", "COCO_V1", "<EnumClass>.COCO_V1")
        chosen = weights_enum.verify(weights if isinstance(weights, weights_enum) else str(weights))
    except (ValueError, KeyError):
        names = ", ".join(["DEFAULT", *weights_enum.__members__])
        raise ConfigError(
            f"unknown weights {weights!r} for {name}; use one of: {names}, a file, or None"
        ) from None
    try:
        model = tvm.get_model(name, weights=chosen, **kwargs)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
        raise CheckpointError(
            f"cannot get {kind} weights {name} {chosen.name} from {chosen.url} ({err}); "
            f"offline, put the file at {weights_file_hint(chosen)}"
        ) from None
    return model, list(chosen.meta.get("categories") or []) or None


def load_state_dict_file(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load a weights file (plain, or under 'model'/'state_dict') into `model`, strictly."""
    state = read_state_dict(path)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: does not fit the model; missing keys {result.missing_keys[:5]}"
            f" ({len(result.missing_keys)}), unexpected keys {result.unexpected_keys[:5]}"
            f" ({len(result.unexpected_keys)})"
        )
