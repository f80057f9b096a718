"""Top-down keypoint datasets: COCO, MPII and PoseTrack 2018, chosen by `data.dataset`."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import KeypointDataset, read_rgb

__all__ = ["KeypointDataset", "build_dataset", "read_rgb", "DATASETS"]
DATASETS = ("coco", "mpii", "posetrack")


def build_dataset(cfg: Config, train: bool) -> KeypointDataset:
    """The training or validation set named by cfg.data.dataset."""
    name = cfg.data.dataset
    if name == "coco":
        from .coco import COCODataset as cls
    elif name == "mpii":
        from .mpii import MPIIDataset as cls
    elif name == "posetrack":
        from .posetrack import PoseTrackDataset as cls
    else:
        raise ConfigError(f"data.dataset: expected one of {', '.join(DATASETS)}, got {name!r}")
    dataset = cls(cfg, train)
    if cfg.data.max_samples > 0:  # a subset: its images are the whole evaluation
        dataset.samples = dataset.samples[: cfg.data.max_samples]
        if hasattr(dataset, "image_ids"):
            dataset.image_ids = sorted({s["image_id"] for s in dataset.samples})
    return dataset
