"""ONNX export of pose nets: equal to torch fp32 in ONNX Runtime, dynamic batch, the export
leaves the caller's model alone, the cache beside the weights, and tools/export_onnx.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from posenet import export
from posenet.cli import run_cli
from posenet.config import load_config
from posenet.export import (
    CHECK_TOLERANCE,
    cache_path,
    cached_onnx,
    compare_with_torch,
    export_onnx,
)
from posenet.models.pose_resnet import build_model
from posenet.runtimes import load_runtime
from tests.conftest import POSE_CONFIG, TINY_NET, load_tool
from tests.posenet.test_runtimes import require_runtime

CONFIG, TINY = POSE_CONFIG, TINY_NET


def tiny_net(seed: int = 0) -> tuple[torch.nn.Module, object]:
    """A random R18 whose weights are far from the init, so its heatmaps are not ~0."""
    torch.manual_seed(seed)
    cfg = load_config(CONFIG, TINY)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model.eval(), cfg


class Patches(torch.nn.Module):
    """A pose net in miniature (one 4x4 stride-4 conv: crops -> 17 maps at 1/4 size) for tests
    about files and caches, where exporting an R18 would only cost time."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 17, 4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny R18 and its export with torch's default exporter (made once: ~5 s). The model
    is handed over in training mode and channels_last, and what the export did to it is kept."""
    require_runtime("onnxruntime")
    model, cfg = tiny_net()
    model.train().to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx", cfg.model.image_size)
    after = {
        "training": model.training,
        "channels_last": model.conv1.weight.is_contiguous(memory_format=torch.channels_last),
        "changed": [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])],
        "files": sorted(p.name for p in path.parent.iterdir()),
    }
    return model.eval(), cfg, path, after


@pytest.fixture
def fast_exporter(monkeypatch):
    """The TorchScript exporter (~1 s instead of ~5 s) for tests about files, not graphs."""
    monkeypatch.setattr(export, "_dynamo_exporter", lambda: False)


def test_onnxruntime_equals_torch_fp32_within_1e4_of_the_heatmap_maximum(exported):
    model, cfg, path, _ = exported
    assert compare_with_torch(model, path, cfg.model.image_size, backend="onnxruntime") < 1e-4


def test_the_batch_dimension_is_dynamic(exported):
    model, cfg, path, _ = exported
    net = load_runtime("onnxruntime", path)
    assert isinstance(net.session.get_inputs()[0].shape[0], str)  # symbolic, not a number
    for batch in (1, 3):
        crops = torch.randn(batch, 3, 96, 64)
        heatmaps = net(crops.numpy())
        assert heatmaps.shape == (batch, 17, 24, 16)
        with torch.no_grad():
            np.testing.assert_allclose(heatmaps, model(crops).numpy(), atol=1e-4)


def test_the_check_sees_a_different_net(exported):
    # The same architecture with other weights must fail the check: it can fail.
    _, cfg, path, _ = exported
    other, _ = tiny_net(seed=1)
    diff = compare_with_torch(other, path, cfg.model.image_size, batch_sizes=(1,))
    assert diff > 100 * CHECK_TOLERANCE


def test_export_leaves_the_callers_model_alone(exported):
    after = exported[3]
    assert after["training"] and after["channels_last"]
    assert after["changed"] == []  # BN statistics untouched too
    assert after["files"] == ["tiny.onnx"]  # written atomically: no temp file left


def test_the_older_exporter_gives_the_same_net(tmp_path, fast_exporter):
    require_runtime("onnxruntime")
    model, cfg = tiny_net()
    path = export_onnx(model, tmp_path / "legacy.onnx", cfg.model.image_size)
    assert compare_with_torch(model, path, cfg.model.image_size) < 1e-4


# --------------------------------------------------------------------------- cache


@pytest.fixture
def weights_file(tmp_path):
    model, cfg = Patches(), load_config(CONFIG, TINY)
    path = tmp_path / "weights" / "tiny.pth"
    path.parent.mkdir()
    torch.save(model.state_dict(), path)
    return model, cfg, path


@pytest.fixture
def export_calls(monkeypatch, fast_exporter):
    """Count exports made through the cache."""
    calls = []
    real = export.export_onnx

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "export_onnx", counting)
    return calls


def test_the_cache_is_beside_the_weights_and_reused(weights_file, export_calls):
    model, cfg, weights = weights_file
    first = cached_onnx(model, cfg, weights)
    assert first.parent == weights.parent and first.name.startswith("tiny.pth.64x96.")
    mtime = first.stat().st_mtime_ns
    assert cached_onnx(model, cfg, weights) == first
    assert len(export_calls) == 1 and first.stat().st_mtime_ns == mtime


def test_the_cache_is_rebuilt_when_the_weights_change(weights_file, export_calls):
    model, cfg, weights = weights_file
    first = cached_onnx(model, cfg, weights)
    other = Patches(seed=1)
    torch.save(other.state_dict(), weights)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later write
    second = cached_onnx(other, cfg, weights)
    assert second != first and not first.exists()  # the stale export is gone
    assert len(export_calls) == 2
    if require_runtime("onnxruntime", skip=False):
        assert compare_with_torch(other, second, cfg.model.image_size) < 1e-4


def test_the_cache_key_covers_input_size_and_model(weights_file, export_calls):
    model, cfg, weights = weights_file
    wide = load_config(CONFIG, [*TINY, "model.image_size=[96, 96]", "model.heatmap_size=[24, 24]"])
    caffe = load_config(CONFIG, [*TINY, "model.style=caffe"])  # same weights, another net
    paths = {cache_path(weights, c) for c in (cfg, wide, caffe)}
    assert len(paths) == 3
    assert cache_path(weights, cfg, from_bgr=True) != cache_path(weights, cfg)
    # The backbone initialisation does not matter once the weights are loaded over it.
    imagenet = load_config(CONFIG, [*TINY, "model.pretrained=imagenet"])
    assert cache_path(weights, imagenet) == cache_path(weights, cfg)
    # Two input sizes of the same weights are two exports, both kept.
    first = cached_onnx(model, cfg, weights)
    cached_onnx(model, wide, weights)
    assert first.exists() and len(export_calls) == 2


def test_a_read_only_weights_folder_caches_in_the_hub(weights_file, monkeypatch, tmp_path):
    _, cfg, weights = weights_file
    monkeypatch.setattr(export.os, "access", lambda path, mode: False)
    monkeypatch.setattr(export, "hub_checkpoint_dir", lambda: tmp_path / "hub")
    assert cache_path(weights, cfg).parent == tmp_path / "hub"


# --------------------------------------------------------------------------- the tool


def test_tool_exports_checks_and_prints_the_difference(tmp_path, capsys, fast_exporter):
    require_runtime("onnxruntime")
    tool = load_tool("export_onnx")
    out = tmp_path / "net.onnx"
    args = ["--config", CONFIG, "--weights", "none", "--out", str(out)]
    args += [a for o in TINY for a in ("--set", o)]
    assert run_cli(tool.main, args) == 0
    printed = capsys.readouterr().out
    assert "largest difference" in printed and ": ok" in printed
    net = load_runtime("onnxruntime", out)
    assert net(np.zeros((2, 3, 96, 64), np.float32)).shape == (2, 17, 24, 16)


def test_tool_writes_nothing_when_the_check_fails(tmp_path, capsys, fast_exporter):
    require_runtime("onnxruntime")
    tool = load_tool("export_onnx")
    out = tmp_path / "net.onnx"
    args = ["--config", CONFIG, "--weights", "none", "--out", str(out), "--tolerance", "-1"]
    args += [a for o in TINY for a in ("--set", o)]
    assert run_cli(tool.main, args) == 2
    err = capsys.readouterr().err.strip()
    assert "not written" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file


def test_tool_needs_a_config_for_random_weights(capsys):
    tool = load_tool("export_onnx")
    with pytest.raises(SystemExit):
        tool.main(["--weights", "none"])
    assert "--config is required" in capsys.readouterr().err
