"""tracker.types: the plain data of the stages, and the module seams it makes possible (no
torch in the types and the writers, no import circle in tracker/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tracker.types import NUM_JOINTS, Frame, FrameResult, empty_detections, empty_people

ROOT = Path(__file__).resolve().parents[2]


def test_empty_values_have_the_shapes_the_stages_expect():
    boxes, scores = empty_detections()
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    assert boxes.dtype == scores.dtype == np.float32
    keypoints, boxes, scores = empty_people()
    assert keypoints.shape == (0, NUM_JOINTS, 3) and boxes.shape == (0, 4) and scores.shape == (0,)
    assert keypoints.dtype == boxes.dtype == scores.dtype == np.float64
    result = FrameResult(0, "a.jpg", keypoints, np.zeros(0, np.int64), boxes, scores)
    assert len(result) == 0 and result.timings == {} and result.merged == {}
    assert Frame(3, np.zeros((2, 2, 3), np.uint8), "x.jpg").index == 3


def test_the_old_homes_hand_on_the_same_types():
    """Modules that others import these names from give the very same objects."""
    from tracker import pipeline, poses, video

    assert pipeline.FrameResult is FrameResult and video.Frame is Frame
    assert poses.empty_people is empty_people


@pytest.mark.parametrize("module", ["tracker.types", "tracker.output"])
def test_module_loads_without_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch loaded'"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_no_import_circle_in_tracker():
    script = ROOT.parent / "shared" / "tools" / "import_circles.py"
    if not script.is_file():  # the checker lives beside the repository, like shared data
        message = f"import-circle checker missing: {script}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    run = subprocess.run(
        [sys.executable, str(script), ".", "tracker"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "circle of" not in run.stdout, run.stdout
    assert "0 circles" in run.stdout
