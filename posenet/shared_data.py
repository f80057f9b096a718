"""Where the shared data sets lie (coco-mini, the PoseTrack samples, ...): the one rule for the
tools' default inputs and the tests, so no tool hard-codes a path.

`$POSENET_SHARED_DATA` when set, else `../shared/data` beside the repository (the layout its
README describes).
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA_ENV = "POSENET_SHARED_DATA"
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """The shared data folder: $POSENET_SHARED_DATA, else ../shared/data beside the repo."""
    configured = os.environ.get(SHARED_DATA_ENV, "").strip()
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def shared_data_path(relative: str) -> Path:
    """A path inside the shared data folder (whether or not it exists)."""
    return shared_data_root() / relative
