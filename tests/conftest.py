"""Shared test fixtures. Real data lives in ../shared/data (see its README); under CI=true a
missing file there is a failure, elsewhere a skip with the path that is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


def load_tool(name: str):
    """Import tools/<name>.py as a module so tests call its main(argv) directly."""
    import importlib.util

    path = REPO_ROOT / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
