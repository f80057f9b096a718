"""Person detectors: a torchvision detection model run batched over frames, or boxes replayed
from a detection JSON file (tracker/replay.py). Both return, per frame, boxes (n, 4) xyxy
float32 pixels and scores (n,) float32 for persons only, with scores >= score_thr."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from posenet.errors import CheckpointError, ConfigError, DataError
from posenet.precision import autocast, precision_dtype, resolve_precision
from tracker.config import NO_WEIGHTS, DetectorConfig
from tracker.video import Frame

Detections = tuple[np.ndarray, np.ndarray]
COCO_PERSON = 1  # category id of "person" in COCO, and its label in torchvision's COCO models


class PersonDetector(Protocol):
    """Anything that finds people: one (boxes xyxy (n, 4), scores (n,)) per frame. Frames
    carry their pixels, index and name, so a replayed file and a network share one call."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


def empty_detections() -> Detections:
    """No boxes: (0, 4) and (0,) float32 arrays."""
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


def _weights_file_hint(weights) -> str:
    """Where an offline user has to put the file of a torchvision weights enum."""
    filename = os.path.basename(weights.url)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".tar")


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
        _load_state_dict_file(model, Path(weights))
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
            f"offline, put the file at {_weights_file_hint(chosen)}"
        ) from None
    return model, list(chosen.meta.get("categories") or []) or None


def _load_state_dict_file(model: torch.nn.Module, path: Path) -> None:
    """Load a state dict (plain, or under 'model'/'state_dict') into `model`, strictly."""
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: not a weights file ({_load_failure(err)})") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: does not fit the model; missing keys {result.missing_keys[:5]}"
            f" ({len(result.missing_keys)}), unexpected keys {result.unexpected_keys[:5]}"
            f" ({len(result.unexpected_keys)})"
        )


def _load_failure(err: Exception) -> str:
    """One line on why torch.load failed, without torch's advice to load unsafely."""
    text = str(err)
    culprit = re.search(r"GLOBAL (\S+)", text)
    if culprit:
        return f"it holds Python objects such as {culprit.group(1)}, not only tensors; not loaded"
    if isinstance(err, pickle.UnpicklingError):
        return "it holds data other than tensors; not loaded"
    if isinstance(err, RuntimeError) and text.strip():
        return text.strip().splitlines()[0].split(". ")[0]  # e.g. a truncated zip archive
    return "unknown format"


# fp16 rather than bf16 for "auto" on CUDA: torchvision decodes boxes in the dtype of the
# regression output, and bf16's 8-bit mantissa would round coordinates of a 1920-px frame
# to 8 px steps (fp16: 1 px).
DETECTOR_CUDA_PRECISION = "fp16"


def detector_precision(device: torch.device, precision: str = "auto") -> str:
    """A detector's precision name: "auto" is fp16 on CUDA; off CUDA always fp32."""
    name = resolve_precision(precision, device, cuda_default=DETECTOR_CUDA_PRECISION)
    return name if device.type == "cuda" else "fp32"


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Autocast dtype for a detector: None (fp32) off CUDA; on CUDA fp16 for "auto"."""
    return precision_dtype(detector_precision(device, precision))


def image_to_tensor(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """RGB uint8 HxWx3 array (or CHW tensor) -> float CHW in [0, 1] on `device`."""
    if isinstance(image, torch.Tensor):
        tensor = image.to(device)
        return tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"expected an RGB image HxWx3, got shape {image.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device, non_blocking=True)
    return tensor.permute(2, 0, 1).float().div_(255.0)


class TorchvisionDetector:
    """Any torchvision detection model by name (default Faster R-CNN R50-FPN v2), persons only.

    Frames are run in batches of `batch_size`, with fp16 (or `precision="bf16"`) autocast on
    CUDA and fp32 on CPU.
    `weights`: a torchvision weights name ("DEFAULT"), a state-dict file, or None (random).
    """

    def __init__(
        self,
        model: str = "fasterrcnn_resnet50_fpn_v2",
        weights: str | os.PathLike | None = "DEFAULT",
        device: str | torch.device = "cpu",
        score_thr: float = 0.5,
        batch_size: int = 8,
        precision: str = "auto",
        **model_kwargs,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"detector batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.score_thr = float(score_thr)
        self.batch_size = int(batch_size)
        self.precision = detector_precision(self.device, precision)
        self.model_name = model
        if weights is None or is_weights_file(weights):
            model_kwargs.setdefault("weights_backbone", None)  # no ImageNet download either
        net, categories = load_torchvision_model("detection", model, weights, **model_kwargs)
        known = categories and "person" in categories
        self.person_label = categories.index("person") if known else COCO_PERSON
        self.model = net.eval().to(self.device)

    @torch.inference_mode()
    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Persons in each frame: (boxes xyxy (n, 4) float32, scores (n,) float32)."""
        results: list[Detections] = []
        for i in range(0, len(frames), self.batch_size):
            chunk = frames[i : i + self.batch_size]
            batch = [image_to_tensor(f.image, self.device) for f in chunk]
            with autocast(self.device, self.precision):
                outputs = self.model(batch)
            results.extend(self._select(out) for out in outputs)
        return results

    def _select(self, output: Mapping[str, torch.Tensor]) -> Detections:
        """Keep person boxes at or above the score threshold, as numpy float32."""
        keep = (output["labels"] == self.person_label) & (output["scores"] >= self.score_thr)
        boxes = output["boxes"][keep].float().cpu().numpy().reshape(-1, 4)
        scores = output["scores"][keep].float().cpu().numpy().reshape(-1)
        return boxes, scores


def build_detector(cfg: DetectorConfig, device: str | torch.device = "cpu") -> PersonDetector:
    """The configured person detector: a ReplayDetector when `cfg.name` is a JSON file, else
    the torchvision model of that name."""
    text = str(cfg.name)
    if text.lower().endswith(".json") or Path(text).is_file():
        from tracker.replay import ReplayDetector  # it builds on this module's types

        return ReplayDetector(text, score_thr=cfg.score_thr)
    weights = None if cfg.weights in NO_WEIGHTS else cfg.weights
    return TorchvisionDetector(
        model=text,
        weights=weights,
        device=device,
        score_thr=cfg.score_thr,
        batch_size=cfg.batch_size,
        precision=cfg.precision,
    )
