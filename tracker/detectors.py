"""Person detectors: a torchvision detection model run batched over frames, or boxes replayed
from a detection JSON file. Both return, per image, boxes (n, 4) xyxy float32 pixels and
scores (n,) float32 for persons only, with scores >= score_thr."""

from __future__ import annotations

import json
import math
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
from tracker.inputs import InputMatch
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


def _read_detection_json(path: Path) -> tuple[list[dict], dict[int, str]]:
    """Detection entries and any image-id -> file-name table found in a detection JSON.

    Accepts a COCO-results list ([{image_id, category_id, bbox, score}, ...]) or a COCO-like
    dict with "annotations" (and optionally "images" with id/file_name), as PoseTrack uses.
    Image ids written as numeric strings ("10") become numbers, so they sort as numbers.
    Boxes with zero or negative width or height are dropped: they hold no person.
    """
    if not path.is_file():
        raise DataError(f"{path}: detection file not found")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    names: dict[int, str] = {}
    if isinstance(data, dict):
        for image in data.get("images", []):
            if isinstance(image, dict) and "id" in image and "file_name" in image:
                names[_image_id(image["id"], path, "images[].id")] = image["file_name"]
        data = data.get("annotations")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of detections or a dict with 'annotations'")
    kept = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: detection [{i}] is not an object")
        for key in ("image_id", "bbox"):
            if key not in entry:
                raise DataError(f"{path}: detection [{i}] has no '{key}'")
        bbox = entry["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_finite_number, bbox))):
            raise DataError(
                f"{path}: detection [{i}].bbox must be 4 numbers [x, y, w, h], got {bbox!r}"[:300]
            )
        score = entry.get("score", 1.0)
        if not _is_finite_number(score):
            raise DataError(f"{path}: detection [{i}].score must be a number, got {score!r}"[:300])
        entry = {
            **entry,
            "image_id": _image_id(entry["image_id"], path, f"detection [{i}].image_id"),
        }
        name = entry.get("file_name", entry.get("image_name"))
        if isinstance(name, str):
            names.setdefault(entry["image_id"], name)
        if bbox[2] > 0 and bbox[3] > 0:
            kept.append(entry)
    return kept, names


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _image_id(value, path: Path, where: str):
    """An image id as what it is: a number (also when written as a numeric string) or a string."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{path}: {where} must be a number or a string, got {value!r}"[:300])
    return value


def _basename(name: str) -> str:
    """Last path component of a file name written with / or \\ separators."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _name_matches(image_name: str, frame_name: str) -> bool:
    """True when the image name is the frame name or ends with it as whole path components."""
    image_name, frame_name = image_name.replace("\\", "/"), frame_name.replace("\\", "/")
    return image_name == frame_name or image_name.endswith("/" + frame_name.lstrip("/"))


class ReplayDetector:
    """Person boxes read from a detection JSON instead of a network.

    Matching rule: when image names are known (entries with "file_name"/"image_name", an
    "images" table in the file, or `image_names` {image_id: file name} from an annotation
    file), a frame is matched by name: an image whose name equals the frame's name or ends
    with "/<frame name>"; if several do, prefix the frame name with its folder. Otherwise
    frame index k gets the k-th smallest image id (so every frame must have an entry; ids
    are the frame order, as in PoseTrack where id = 1VVVVVVFFFF; numeric strings count as
    numbers, and other string ids need names). Only category 1 (person, or entries without a
    category) with score >= score_thr are kept; boxes of zero or negative size are dropped.
    `match` (an InputMatch) says how the file's images lined up with the frames asked for.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        score_thr: float = 0.5,
        image_names: Mapping[int, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.score_thr = float(score_thr)
        entries, names = _read_detection_json(self.path)
        if image_names:
            names = {
                **names,
                **{_image_id(k, self.path, "image id"): v for k, v in image_names.items()},
            }
        ids = {e["image_id"] for e in entries}
        text_ids = sorted(str(i) for i in ids if isinstance(i, str))
        if text_ids and not names:
            raise DataError(
                f"{self.path}: image ids such as {text_ids[0]!r} are not numbers, so their frame "
                "order is unknown; give each entry a file_name or the file an 'images' table"
            )
        self.image_ids = sorted(ids, key=_sort_key)
        self.image_names = names
        self._by_basename: dict[str, list] = {}
        for image_id, image_name in names.items():
            self._by_basename.setdefault(_basename(image_name), []).append(image_id)
        # The file's frames: every image id it names, with or without boxes.
        self.match = InputMatch("detections", f"detection file {self.path}", {*ids, *names})
        self._by_image: dict = {}
        for e in entries:
            person = e.get("category_id", COCO_PERSON) == COCO_PERSON
            if not person or e.get("score", 1.0) < self.score_thr:
                continue
            self._by_image.setdefault(e["image_id"], []).append(e)

    @property
    def matches_by_name(self) -> bool:
        """Whether frames are matched to image ids by name rather than by order."""
        return bool(self.image_names)

    def image_id(self, frame_index: int, name: str | None = None):
        """The image id that frame `frame_index` (named `name`) is matched to, or None."""
        if self.matches_by_name and name is not None:
            candidates = self._by_basename.get(_basename(name), [])
            hits = [i for i in candidates if _name_matches(self.image_names[i], name)]
            if len(hits) > 1:
                raise DataError(
                    f"{self.path}: frame name {name!r} matches {len(hits)} images "
                    f"({', '.join(sorted(self.image_names[h] for h in hits)[:3])}, ...); "
                    "give the frame name with its folder"
                )
            return hits[0] if hits else None
        if 0 <= frame_index < len(self.image_ids):
            return self.image_ids[frame_index]
        return None

    def detect_frame(
        self, frame_index: int, name: str | None = None, size: tuple[int, int] | None = None
    ) -> Detections:
        """Person boxes (xyxy) and scores of one frame; empty when the file has none for it.
        `size` (width, height) of the frame lets `match` count boxes outside the image."""
        image_id = self.image_id(frame_index, name)
        entries = self._by_image.get(image_id, [])
        if not entries:
            detections = empty_detections()
        else:
            xywh = np.array([e["bbox"] for e in entries], dtype=np.float32)
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            scores = np.array([e.get("score", 1.0) for e in entries], dtype=np.float32)
            order = np.argsort(-scores, kind="stable")
            detections = boxes[order], scores[order]
        self.match.add(image_id, detections[0], size)
        return detections

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detections of each frame, matched by its name or index."""
        return [self.detect_frame(f.index, f.name, _size(f.image)) for f in frames]


def _size(image: np.ndarray | None) -> tuple[int, int] | None:
    """(width, height) of an image, None without one."""
    return None if image is None else (image.shape[1], image.shape[0])


def _sort_key(image_id):
    """Order numeric ids numerically and anything else as text."""
    return (0, image_id, "") if isinstance(image_id, (int, float)) else (1, 0, str(image_id))


def build_detector(cfg: DetectorConfig, device: str | torch.device = "cpu") -> PersonDetector:
    """The configured person detector: a ReplayDetector when `cfg.name` is a JSON file, else
    the torchvision model of that name."""
    text = str(cfg.name)
    if text.lower().endswith(".json") or Path(text).is_file():
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
