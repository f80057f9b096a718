"""Top-down keypoint datasets: COCO, MPII and PoseTrack 2018, chosen by `data.dataset`."""
from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import KeypointDataset, collate_meta, read_rgb

__all__ = ["KeypointDataset", "build_dataset", "collate_meta", "read_rgb", "DATASETS"]
DATASETS = ("coco", "mpii", "posetrack")


def build_dataset(cfg: Config, train: bool) -> KeypointDataset:
    """The training or validation set named by cfg.data.dataset."""
    name = cfg.data.dataset
    if name == "coco":
        from .coco import COCODataset

        return COCODataset(cfg, train)
    if name == "mpii":
        from .mpii import MPIIDataset

        return MPIIDataset(cfg, train)
    if name == "posetrack":
        from .posetrack import PoseTrackDataset

        return PoseTrackDataset(cfg, train)
    raise ConfigError(f"data.dataset: expected one of {', '.join(DATASETS)}, got {name!r}")
