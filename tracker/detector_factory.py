"""The configured person detector: boxes replayed from `detector.replay`, else the torchvision
model `detector.name`. Its own module because it names both kinds (tracker/detectors.py and
tracker/replay.py), which know nothing of each other."""

from __future__ import annotations

import torch

from tracker.config import NO_WEIGHTS, DetectorConfig, check_detector
from tracker.detectors import PersonDetector, TorchvisionDetector
from tracker.replay import ReplayDetector


def build_detector(cfg: DetectorConfig, device: str | torch.device = "cpu") -> PersonDetector:
    """A ReplayDetector of `cfg.replay` when set, else the torchvision model `cfg.name`; both
    keep boxes with score >= `cfg.score_thr`."""
    check_detector(cfg, "detector config")
    if cfg.replay:
        return ReplayDetector(cfg.replay, score_thr=cfg.score_thr)
    weights = None if cfg.weights in NO_WEIGHTS else cfg.weights
    return TorchvisionDetector(
        model=cfg.name,
        weights=weights,
        device=device,
        score_thr=cfg.score_thr,
        batch_size=cfg.batch_size,
        precision=cfg.precision,
    )
