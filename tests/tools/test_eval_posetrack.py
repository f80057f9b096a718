"""tools/eval_posetrack.py as a whole process: it scores without importing torch or scipy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from posenet.cli import run_cli
from tests.conftest import REPO_ROOT, load_tool


def _people(rng: np.random.Generator, frame: int, offset: float) -> list[dict]:
    """Two people per frame, standing apart; `offset` moves every joint by that many pixels."""
    people = []
    for track, x in ((0, 100.0), (1, 400.0)):
        xy = np.stack([x + np.arange(17) * 3.0, 50 + np.arange(17) * 10.0], axis=1) + offset
        xy += rng.normal(0, 1.0, xy.shape)
        kp = np.concatenate([xy, np.ones((17, 1))], axis=1)
        people.append(
            {
                "image_id": 10001 + frame,
                "track_id": track,
                "keypoints": kp.ravel().round(2).tolist(),
                "scores": rng.random(17).round(3).tolist(),
                "bbox_head": [x, 20.0, 30.0, 40.0],
                "bbox": [x, 20.0, 60.0, 200.0],
            }
        )
    return people


def _write_pair(folder: Path) -> tuple[Path, Path]:
    """A three-frame GT file and a prediction file a few pixels off, plus one extra prediction
    in frame 1 close to person 0 (two hypotheses compete for one object)."""
    rng = np.random.default_rng(0)
    gt_dir, pred_dir = folder / "gt", folder / "pred"
    for d in (gt_dir, pred_dir):
        d.mkdir()
    images = [
        {"file_name": f"images/x/{k:06d}.jpg", "id": 10001 + k, "is_labeled": True}
        for k in range(3)
    ]
    gt = [p for k in range(3) for p in _people(rng, k, 0.0)]
    pred = [p for k in range(3) for p in _people(rng, k, 2.0)]
    extra = _people(rng, 1, 4.0)[0] | {"track_id": 7}
    for d, people in ((gt_dir, gt), (pred_dir, pred + [extra])):
        annotations = [p | {"id": i + 1, "category_id": 1} for i, p in enumerate(people)]
        (d / "000001.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    return gt_dir, pred_dir


def test_scoring_imports_neither_torch_nor_scipy(tmp_path):
    gt_dir, pred_dir = _write_pair(tmp_path)
    # python -c CODE TOOL ARGS...: run the tool's main as a script, then list what it imported.
    code = "\n".join(
        [
            "import runpy, sys",
            "tool = sys.argv[1]",
            "sys.argv = sys.argv[1:]",
            "try:",
            "    runpy.run_path(tool, run_name='__main__')",
            "except SystemExit as exc:",
            "    assert not exc.code, f'exit code {exc.code}'",
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'scipy'))",
            "print('heavy modules:', heavy)",
        ]
    )
    tool = REPO_ROOT / "tools" / "eval_posetrack.py"
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code, str(tool), "--gt", str(gt_dir), "--pred", str(pred_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Average Precision (AP) metric:" in done.stdout
    assert "Multiple Object Tracking (MOT) metrics:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "heavy modules: []"


def test_json_output_never_replaces_an_input(tmp_path, capsys):
    tool = load_tool("eval_posetrack")
    gt_dir, pred_dir = _write_pair(tmp_path)
    (tmp_path / "link.json").symlink_to(pred_dir / "000001.json")
    originals = {p: p.read_bytes() for p in (gt_dir / "000001.json", pred_dir / "000001.json")}
    for target in (gt_dir / "000001.json", pred_dir / "000001.json", tmp_path / "link.json"):
        argv = ["--gt", str(gt_dir), "--pred", str(pred_dir), "--json", str(target)]
        assert run_cli(tool.main, argv) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert f"error: --json {target}: is the input " in captured.err
    assert {p: p.read_bytes() for p in originals} == originals
    inside = pred_dir / "scores.json"  # a new name in an input folder: read as a sequence later
    assert (
        run_cli(tool.main, ["--gt", str(gt_dir), "--pred", str(pred_dir), "--json", str(inside)])
        == 2
    )
    assert "inside an input folder" in capsys.readouterr().err and not inside.exists()
    out = tmp_path / "scores.json"  # any other path is written
    assert (
        run_cli(tool.main, ["--gt", str(gt_dir), "--pred", str(pred_dir), "--json", str(out)]) == 0
    )
    assert "pose" in json.loads(out.read_text())
