"""MPII PCKh on the real gt_valid.mat: ground truth scores 100, and known perturbations give
the numbers of an independent per-joint loop written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from posenet.errors import DataError
from posenet.evaluation.mpii import (
    COLUMNS,
    load_ground_truth,
    load_pred_mat,
    pckh_table,
    save_pred_mat,
)
from posenet.evaluation.table import format_table
from tests.conftest import load_tool, shared_file

GT = "mpii/gt_valid.mat"


@pytest.fixture(scope="module")
def gt_path():
    return shared_file(GT)


@pytest.fixture(scope="module")
def gt_preds(gt_path):
    """Ground-truth positions as 0-based predictions (N, 16, 2)."""
    mat = loadmat(str(gt_path))
    return np.transpose(mat["pos_gt_src"], (2, 0, 1)).astype(np.float64) - 1.0


def reference_pckh(preds, gt_path, threshold):
    """PCKh per joint by plain loops over people, straight from the .mat fields."""
    mat = loadmat(str(gt_path))
    pos, missing, boxes = mat["pos_gt_src"], mat["jnt_missing"], mat["headboxes_src"]
    hits, counts = np.zeros(16), np.zeros(16)
    for n in range(pos.shape[2]):
        (x1, y1), (x2, y2) = boxes[0, :, n], boxes[1, :, n]
        head = 0.6 * np.hypot(x2 - x1, y2 - y1)
        for j in range(16):
            if missing[j, n]:
                continue
            counts[j] += 1
            dx = preds[n, j, 0] + 1 - pos[j, 0, n]
            dy = preds[n, j, 1] + 1 - pos[j, 1, n]
            hits[j] += np.hypot(dx, dy) / head <= threshold
    return 100 * hits / counts, counts


def reference_table(preds, gt_path):
    names = [
        "rank",
        "rkne",
        "rhip",
        "lhip",
        "lkne",
        "lank",
        "pelv",
        "thor",
        "neck",
        "head",
        "rwri",
        "relb",
        "rsho",
        "lsho",
        "lelb",
        "lwri",
    ]
    at05, counts = reference_pckh(preds, gt_path, 0.5)
    at01, _ = reference_pckh(preds, gt_path, 0.11)
    counts[[6, 7]] = 0
    w = counts / counts.sum()
    i = names.index
    pair = lambda a, b, v: (v[i(a)] + v[i(b)]) / 2  # noqa: E731
    return {
        "Head": at05[i("head")],
        "Shoulder": pair("lsho", "rsho", at05),
        "Elbow": pair("lelb", "relb", at05),
        "Wrist": pair("lwri", "rwri", at05),
        "Hip": pair("lhip", "rhip", at05),
        "Knee": pair("lkne", "rkne", at05),
        "Ankle": pair("lank", "rank", at05),
        "Mean": (at05 * w).sum(),
        "Mean@0.1": (at01 * w).sum(),
    }


def test_ground_truth_scores_100(gt_path, gt_preds):
    table = pckh_table(gt_preds, gt_path)
    assert list(table) == list(COLUMNS)
    assert all(v == pytest.approx(100.0) for v in table.values())


def test_perturbed_predictions_match_an_independent_loop(gt_path, gt_preds):
    gt = load_ground_truth(gt_path)
    rng = np.random.default_rng(0)
    head = 0.6 * np.linalg.norm(gt.head_boxes[1] - gt.head_boxes[0], axis=0)  # (N,)
    # Noise of about 0.3 head sizes, and every left wrist moved 0.6 head sizes away.
    preds = gt_preds + rng.normal(0, 0.3, gt_preds.shape) * head[:, None, None]
    preds[:, 15, 0] = gt_preds[:, 15, 0] + 0.6 * head
    table = pckh_table(preds, gt)
    ref = reference_table(preds, gt_path)
    for col in COLUMNS:
        assert table[col] == pytest.approx(ref[col], abs=1e-9), col
    assert table["Wrist"] == pytest.approx(ref["Wrist"]) and table["Wrist"] < 50
    assert 20 < table["Mean"] < 95 and table["Mean@0.1"] < table["Mean"]


def test_pred_mat_round_trip_in_the_seed_layout(tmp_path, gt_preds):
    path = tmp_path / "pred.mat"
    save_pred_mat(path, gt_preds)
    raw = loadmat(str(path))["preds"]
    assert raw.shape == gt_preds.shape
    np.testing.assert_allclose(raw, gt_preds + 1)  # 1-based on disk
    np.testing.assert_allclose(load_pred_mat(path), gt_preds)


def test_eval_mpii_tool_prints_the_table(tmp_path, gt_path, gt_preds, capsys):
    tool = load_tool("eval_mpii")
    preds = gt_preds.copy()
    preds[:, 9] += 1000  # every head far off
    save_pred_mat(tmp_path / "pred.mat", preds)
    out = tmp_path / "table.json"
    assert (
        tool.run_cli(
            tool.main, [str(tmp_path / "pred.mat"), "--gt", str(gt_path), "--json", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| Head | Shoulder |" in printed and "| 0.000 |" in printed
    assert format_table(pckh_table(preds, gt_path)) in printed


def test_bad_files_are_one_line_errors(tmp_path, gt_path, gt_preds, capsys):
    tool = load_tool("eval_mpii")
    assert tool.run_cli(tool.main, [str(tmp_path / "none.mat"), "--gt", str(gt_path)]) == 2
    assert "prediction file not found" in capsys.readouterr().err
    savemat(str(tmp_path / "wrong.mat"), {"predictions": gt_preds})
    assert tool.run_cli(tool.main, [str(tmp_path / "wrong.mat"), "--gt", str(gt_path)]) == 2
    assert "field 'preds' missing" in capsys.readouterr().err
    savemat(str(tmp_path / "transposed.mat"), {"preds": gt_preds.transpose(1, 2, 0) + 1})
    assert tool.run_cli(tool.main, [str(tmp_path / "transposed.mat"), "--gt", str(gt_path)]) == 2
    err = capsys.readouterr().err
    assert (
        "transposed.mat: field 'preds' must be (N, 16, 2), "
        f"got (16, 2, {len(gt_preds)}) (transposed?" in err
    )
    with pytest.raises(DataError, match="one per ground-truth person"):
        pckh_table(gt_preds[:10], gt_path)
    (tmp_path / "text.mat").write_text("not a mat file")
    with pytest.raises(DataError, match="not a readable .mat"):
        load_ground_truth(tmp_path / "text.mat")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (np.array(["12.5", "3"]), "text"),
        (np.array([np.zeros((16, 2)), "x"], dtype=object), "a cell array"),
    ],
)
def test_pred_mat_that_is_not_numbers_is_one_line_naming_the_field(tmp_path, value, kind):
    path = tmp_path / "pred.mat"
    savemat(str(path), {"preds": value})
    with pytest.raises(
        DataError, match=rf"pred.mat: field 'preds' must be a numeric .* got {kind}"
    ):
        load_pred_mat(path)
