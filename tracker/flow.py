"""Dense optical flow between consecutive frames, used to carry joints from one frame to the
next. Every estimator maps (prev RGB, cur RGB) -> flow (H, W, 2) float32 at full resolution in
full-resolution pixels, flow[y, x] = displacement of pixel (x, y) from prev to cur."""

from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from posenet.errors import ConfigError, DataError
from tracker.config import FLOWS, FlowConfig
from tracker.torchvision_models import load_torchvision_model

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowEstimator(Protocol):
    """prev, cur: RGB uint8 HxWx3 of the same size -> flow (H, W, 2) float32 in pixels."""

    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray: ...


def _check_pair(prev: np.ndarray, cur: np.ndarray) -> None:
    """Both frames must be RGB images of one size."""
    if prev.shape != cur.shape or prev.ndim != 3 or prev.shape[2] != 3:
        raise DataError(f"flow needs two RGB frames of one size, got {prev.shape} and {cur.shape}")


# Smallest side of the grid flow is computed on: OpenCV's DIS fails on some images with a
# side under 12 px; small frames are enlarged to this and the flow is scaled back.
MIN_FLOW_SIDE = 16


def _gray(image: np.ndarray, scale: float) -> np.ndarray:
    """Grey image resized by `scale` (area averaging when shrinking), sides >= MIN_FLOW_SIDE."""
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    size = (max(MIN_FLOW_SIDE, round(w * scale)), max(MIN_FLOW_SIDE, round(h * scale)))
    if size == (w, h):
        return gray
    shrink = size[0] <= w and size[1] <= h
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def upscale_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """Flow computed on a smaller grid -> (height, width, 2) in full-resolution pixels."""
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow.astype(np.float32, copy=False)
    full = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    full[..., 0] *= width / w
    full[..., 1] *= height / h
    return full.astype(np.float32, copy=False)


def _check_scale(scale: float) -> float:
    if not 0.0 < scale <= 1.0:
        raise ConfigError(f"flow scale must be in (0, 1], got {scale}")
    return float(scale)


class DISFlow:
    """OpenCV DIS optical flow on grey frames shrunk by `scale`: fast on CPU, the default."""

    def __init__(self, preset: str = "fast", scale: float = 0.5) -> None:
        if preset not in DIS_PRESETS:
            raise ConfigError(f"unknown DIS preset {preset!r}; use one of {', '.join(DIS_PRESETS)}")
        self.preset, self.scale = preset, _check_scale(scale)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        _check_pair(prev, cur)
        flow = self._dis.calc(_gray(prev, self.scale), _gray(cur, self.scale), None)
        return upscale_flow(flow, prev.shape[1], prev.shape[0])


class FarnebackFlow:
    """OpenCV Farneback polynomial-expansion flow on grey frames shrunk by `scale`."""

    def __init__(
        self, scale: float = 0.5, levels: int = 4, winsize: int = 15, iterations: int = 3
    ) -> None:
        self.scale = _check_scale(scale)
        self.levels, self.winsize, self.iterations = levels, winsize, iterations

    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        _check_pair(prev, cur)
        flow = cv2.calcOpticalFlowFarneback(
            _gray(prev, self.scale),
            _gray(cur, self.scale),
            None,
            pyr_scale=0.5,
            levels=self.levels,
            winsize=self.winsize,
            iterations=self.iterations,
            poly_n=5,
            poly_sigma=1.1,
            flags=0,
        )
        return upscale_flow(flow, prev.shape[1], prev.shape[0])


def pad_to_multiple(
    x: torch.Tensor, multiple: int = 8, min_size: int = 0
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (B, C, H, W) on the right/bottom to multiples of `multiple` (and at least
    `min_size`); returns the padded tensor and the original (H, W) to crop back to."""
    h, w = x.shape[-2:]
    pad_h = max(min_size - h, 0) + (-max(h, min_size)) % multiple
    pad_w = max(min_size - w, 0) + (-max(w, min_size)) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (h, w)


# RAFT's 4-level correlation pyramid needs feature maps of >= 16 px, i.e. inputs >= 128 px.
RAFT_MIN_SIZE = 128


class RAFTFlow:
    """torchvision RAFT (raft_small / raft_large) on the GPU; `weights` "DEFAULT", a weights
    name or file, or None (random, for tests). Frames are padded to multiples of 8 (and to at
    least 128 px, the smallest input its correlation pyramid takes)."""

    def __init__(
        self,
        size: str = "small",
        device: str | torch.device = "cuda",
        weights: str | os.PathLike | None = "DEFAULT",
        num_flow_updates: int = 12,
    ) -> None:
        if size not in ("small", "large"):
            raise ConfigError(f"unknown RAFT size {size!r}; use 'small' or 'large'")
        self.device = torch.device(device)
        self.num_flow_updates = int(num_flow_updates)
        model, _ = load_torchvision_model("flow", f"raft_{size}", weights)
        self.model = model.eval().to(self.device)

    def _to_input(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 HxWx3 -> (1, 3, H, W) float in [-1, 1], as RAFT was trained."""
        tensor = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        return tensor.permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)

    @torch.inference_mode()
    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        _check_pair(prev, cur)
        pair = torch.cat([self._to_input(prev), self._to_input(cur)])
        pair, (h, w) = pad_to_multiple(pair, 8, RAFT_MIN_SIZE)
        # fp32 on purpose: RAFT's iterative refinement and correlation lose accuracy in bf16.
        predictions = self.model(pair[:1], pair[1:], num_flow_updates=self.num_flow_updates)
        flow = predictions[-1][0, :, :h, :w].permute(1, 2, 0)
        return flow.float().cpu().numpy()


def build_flow(cfg: FlowConfig, device: str | torch.device = "cpu") -> FlowEstimator:
    """The configured flow estimator: DIS (with its preset) and Farneback at `cfg.scale` on
    the CPU, RAFT ('raft' or 'raft_small', 'raft_large') on `device`."""
    name = cfg.name.lower()
    if name == "dis":
        return DISFlow(preset=cfg.preset, scale=cfg.scale)
    if name == "farneback":
        return FarnebackFlow(scale=cfg.scale)
    if name in ("raft", "raft_small", "raft_large"):
        return RAFTFlow(size="large" if name == "raft_large" else "small", device=device)
    raise ConfigError(f"unknown flow {cfg.name!r}; use one of {', '.join(FLOWS)}")
