"""Top-down keypoint datasets: COCO, MPII and PoseTrack 2018, chosen by `data.dataset`."""

from __future__ import annotations

import importlib

from ..config import Config
from ..errors import ConfigError
from .base import KeypointDataset

__all__ = ["KeypointDataset", "build_dataset", "DATASETS"]
# data.dataset -> "module:class", imported only when built (each pulls in its own tools).
DATASETS = {
    "coco": "coco:COCODataset",
    "mpii": "mpii:MPIIDataset",
    "posetrack": "posetrack:PoseTrackDataset",
}


def build_dataset(cfg: Config, train: bool) -> KeypointDataset:
    """The training or validation set named by cfg.data.dataset."""
    name = cfg.data.dataset
    if name not in DATASETS:
        raise ConfigError(f"data.dataset: expected one of {', '.join(DATASETS)}, got {name!r}")
    module, cls_name = DATASETS[name].split(":")
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
    dataset = cls(cfg, train)
    if cfg.data.max_samples > 0:  # a subset: its images are the whole evaluation
        dataset.samples = dataset.samples[: cfg.data.max_samples]
        if hasattr(dataset, "image_ids"):
            dataset.image_ids = sorted({s["image_id"] for s in dataset.samples})
    return dataset
