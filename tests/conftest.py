"""Shared test fixtures. Real data lives in ../shared/data (see its README); under CI=true a
missing file there is a failure, elsewhere a skip with the path that is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from posenet.shared_data import shared_data_root

SHARED_DATA = shared_data_root()  # ../shared/data, or $POSENET_SHARED_DATA when set


def shared_file(relative: str) -> Path:
    """Path of a file under ../shared/data; fails under CI=true and skips elsewhere if missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared test data missing: {path}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared_data():
    """The shared_file() helper as a fixture: shared_data('coco-mini/annotations/...')."""
    return shared_file


REPO_ROOT = Path(__file__).resolve().parents[1]
POSE_CONFIG = "configs/coco/res50_256x192.yaml"
# A pose net small enough for tests: R18, no ImageNet download, 64x96 input (both sides
# multiples of 32 and different, so a swapped width/height shows).
TINY_NET = [
    "model.depth=18",
    "model.pretrained=",
    "model.image_size=[64, 96]",
    "model.heatmap_size=[16, 24]",
]


def load_tool(name: str):
    """Import tools/<name>.py as a module, for the end-to-end tests of a CLI's main(argv)
    (everything else calls the library functions the tools are made of)."""
    import importlib.util

    path = REPO_ROOT / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchrun(tool: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run tools/<tool>.py in two processes through torchrun; fails the test unless it exits 0."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(REPO_ROOT / "tools" / f"{tool}.py"),
        *args,
    ]
    # The tools import the installed package; point the workers at this checkout's code.
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    done = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="session")
def tiny_pose_weights(tmp_path_factory) -> Path:
    """A random-init ResNet-18 pose net at 48x64 saved to a file, for runs that must use the
    same weights (two processes, or two runs compared); fits the tool tests' FAST options."""
    import torch

    from posenet.config import load_config
    from posenet.models.pose_resnet import build_model

    overrides = ["model.depth=18", "model.image_size=[48, 64]", "model.heatmap_size=[12, 16]"]
    torch.manual_seed(0)
    model = build_model(load_config("configs/coco/res50_256x192.yaml", overrides))
    path = tmp_path_factory.mktemp("weights") / "tiny_r18.pth"
    torch.save(model.state_dict(), path)
    return path


# Tracking tools small and fast: R18, 64x48 input, no flip test, CPU, random weights (nothing to
# download). A random-init net finds no confident joints to link frames by, so every track is
# shown at once.
TINY_TRACKER = [
    "--device",
    "cpu",
    "--set",
    "pose.weights=none",
    "--set",
    'pose.overrides=["model.depth=18", "model.image_size=[48, 64]", '
    '"model.heatmap_size=[12, 16]", "test.flip_test=false"]',
    "--set",
    "tracking.confirm_hits=1",
]
