"""Person detectors: a torchvision detection model run batched over frames (this module), or
boxes replayed from a detection JSON file (tracker/replay.py); tracker/detector_factory.py
builds the configured one. Both return, per frame, boxes (n, 4) xyxy float32 pixels and scores
(n,) float32 for persons only, with scores >= score_thr: the detector is the one place that
applies `detector.score_thr`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import torch

from posenet.errors import ConfigError, DataError
from posenet.precision import autocast, resolve_precision
from tracker.torchvision_models import is_weights_file, load_torchvision_model
from tracker.types import COCO_PERSON, Detections, Frame


class PersonDetector(Protocol):
    """Anything that finds people: one (boxes xyxy (n, 4), scores (n,)) per frame. Frames
    carry their pixels, index and name, so a replayed file and a network share one call."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


# fp16 rather than bf16 for "auto" on CUDA: torchvision decodes boxes in the dtype of the
# regression output, and bf16's 8-bit mantissa would round coordinates of a 1920-px frame
# to 8 px steps (fp16: 1 px).
DETECTOR_CUDA_PRECISION = "fp16"


def detector_precision(device: torch.device, precision: str = "auto") -> str:
    """A detector's precision name: "auto" is fp16 on CUDA; off CUDA always fp32."""
    name = resolve_precision(precision, device, cuda_default=DETECTOR_CUDA_PRECISION)
    return name if device.type == "cuda" else "fp32"


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
