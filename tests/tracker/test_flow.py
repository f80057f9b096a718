"""Flow estimators on a synthetic textured image shifted by a known (dx, dy)."""

from __future__ import annotations

import urllib.error

import cv2
import numpy as np
import pytest
import torch

import tracker.flow as flow_module
from posenet.errors import CheckpointError, ConfigError, DataError
from tracker.config import FlowConfig
from tracker.flow import DISFlow, FarnebackFlow, RAFTFlow, build_flow, pad_to_multiple, upscale_flow

MARGIN = 16  # pixels near the border see content that moved in from outside


def shifted_pair(dx: float, dy: float, height: int = 120, width: int = 160, seed: int = 0):
    """A smooth random texture and the same texture translated by (dx, dy) pixels."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min()) * 255
    moved = cv2.warpAffine(
        texture,
        np.float32([[1, 0, dx], [0, 1, dy]]),
        (width, height),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    )
    return _rgb(texture), _rgb(moved)


def _rgb(grey: np.ndarray) -> np.ndarray:
    """Grey float image -> RGB uint8."""
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize(
    "estimator",
    [
        DISFlow("ultrafast", 0.5),
        DISFlow("fast", 0.5),
        DISFlow("medium", 1.0),
        FarnebackFlow(0.5),
        FarnebackFlow(1.0),
    ],
    ids=["dis-ultrafast-0.5", "dis-fast-0.5", "dis-medium-1", "farneback-0.5", "farneback-1"],
)
@pytest.mark.parametrize("shift", [(3.0, -2.0), (2.5, 1.5)])
def test_recovers_known_shift(estimator, shift):
    prev, cur = shifted_pair(*shift)
    flow = estimator(prev, cur)
    assert flow.shape == (120, 160, 2) and flow.dtype == np.float32
    interior = flow[MARGIN:-MARGIN, MARGIN:-MARGIN].reshape(-1, 2)
    np.testing.assert_allclose(np.median(interior, axis=0), shift, atol=0.25)
    error = np.abs(interior - shift).max(axis=1)
    assert np.mean(error < 0.5) > 0.95


def test_odd_size_and_scale_keep_full_resolution():
    prev, cur = shifted_pair(2.0, 1.0, height=75, width=101)
    flow = DISFlow("fast", scale=0.33)(prev, cur)
    assert flow.shape == (75, 101, 2)
    interior = flow[MARGIN:-MARGIN, MARGIN:-MARGIN].reshape(-1, 2)
    np.testing.assert_allclose(np.median(interior, axis=0), (2, 1), atol=0.3)


@pytest.mark.parametrize("size", [(16, 16), (8, 8), (10, 10), (40, 6), (23, 11)])
@pytest.mark.parametrize("make", [DISFlow, lambda: DISFlow(scale=1.0), FarnebackFlow])
def test_frames_smaller_than_the_flow_grid(make, size):
    width, height = size
    prev, _ = shifted_pair(0, 0, height=height, width=width)
    flow = make()(prev, prev)
    assert flow.shape == (height, width, 2) and flow.dtype == np.float32
    assert np.abs(flow).max() < 0.5  # same frame: (near) no motion


def test_upscale_flow_converts_units():
    small = np.zeros((10, 20, 2), np.float32)
    small[..., 0], small[..., 1] = 1.0, -2.0  # one small pixel right, two up
    full = upscale_flow(small, width=80, height=30)
    assert full.shape == (30, 80, 2)
    np.testing.assert_allclose(full[..., 0], 4.0)
    np.testing.assert_allclose(full[..., 1], -6.0)


def test_pad_to_multiple():
    padded, size = pad_to_multiple(torch.arange(15.0).reshape(1, 1, 3, 5), multiple=8)
    assert size == (3, 5) and padded.shape == (1, 1, 8, 8)
    assert padded[0, 0, 7, 7] == 14.0  # replicated bottom-right value
    assert pad_to_multiple(torch.zeros(1, 1, 70, 130), 8, min_size=128)[0].shape == (1, 1, 128, 136)


def test_raft_random_weights_shapes():
    raft = RAFTFlow(size="small", device="cpu", weights=None, num_flow_updates=2)
    prev, cur = shifted_pair(1.0, 1.0, height=70, width=101)
    flow = raft(prev, cur)
    assert flow.shape == (70, 101, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()


def test_raft_offline_weights_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError, match=r"raft_small.*put the file at .*checkpoints"):
        RAFTFlow(size="small", device="cpu", weights="DEFAULT")


def test_build_flow_and_bad_input(monkeypatch):
    dis = build_flow(FlowConfig(name="dis", preset="ultrafast", scale=0.25))
    assert isinstance(dis, DISFlow) and (dis.preset, dis.scale) == ("ultrafast", 0.25)
    assert isinstance(build_flow(FlowConfig(name="farneback")), FarnebackFlow)
    made = []
    monkeypatch.setattr(flow_module, "RAFTFlow", lambda **kw: made.append(kw))
    build_flow(FlowConfig(name="raft_large"), device="cpu")
    build_flow(FlowConfig(name="raft"), device="cpu")
    assert made == [{"size": "large", "device": "cpu"}, {"size": "small", "device": "cpu"}]
    with pytest.raises(ConfigError, match="optical_magic"):
        build_flow(FlowConfig(name="optical_magic"))
    with pytest.raises(ConfigError, match="turbo"):
        DISFlow(preset="turbo")
    with pytest.raises(ConfigError, match="scale"):
        DISFlow(scale=0.0)
    with pytest.raises(DataError, match="one size"):
        DISFlow()(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8))
