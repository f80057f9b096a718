"""COCO keypoint evaluation on the real coco-mini annotations: ground truth scores AP 1.0
through the seed's post-processing, and perturbed predictions score exactly what pycocotools'
COCOeval gives when called directly."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posenet.errors import DataError
from posenet.evaluation.coco import (
    STAT_NAMES,
    coco_results,
    evaluate_coco,
    oks_nms,
    rescore,
)
from tests.conftest import shared_file

GT = "coco-mini/annotations/person_keypoints_val2017.json"


@pytest.fixture(scope="module")
def gt_path():
    return shared_file(GT)


@pytest.fixture(scope="module")
def people(gt_path):
    """Non-crowd people with keypoints: keypoints (N, 17, 3), areas, image ids, boxes."""
    anns = [
        a
        for a in json.loads(gt_path.read_text())["annotations"]
        if not a["iscrowd"] and a["num_keypoints"] > 0
    ]
    kps = np.array([a["keypoints"] for a in anns], np.float64).reshape(-1, 17, 3)
    return kps, np.array([a["area"] for a in anns]), np.array([a["image_id"] for a in anns])


def as_predictions(kps):
    """Ground truth as predictions: labelled joints with score 1, the rest 0 at the origin."""
    pred = kps.copy()
    pred[..., 2] = (kps[..., 2] > 0).astype(np.float64)
    return pred


def cocoeval_directly(gt_path, results):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STAT_NAMES, ev.stats))


def test_ground_truth_scores_ap_1(gt_path, people):
    kps, areas, image_ids = people
    assert len(kps) == 68  # coco-mini val: 68 people with keypoints
    results = coco_results(as_predictions(kps), np.ones(len(kps)), areas, image_ids)
    assert len(results) == len(kps)  # OKS-NMS keeps distinct people
    stats = evaluate_coco(results, gt_path)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)


def test_perturbed_predictions_match_cocoeval(gt_path, people, tmp_path):
    kps, areas, image_ids = people
    rng = np.random.default_rng(0)
    pred = as_predictions(kps)
    pred[..., :2] += rng.normal(0, 1, pred[..., :2].shape) * np.sqrt(areas)[:, None, None] * 0.05
    pred[..., 2] *= rng.uniform(0.3, 1.0, pred[..., 2].shape)
    keep = rng.random(len(pred)) > 0.15  # drop some people
    fake = pred[:5].copy()  # false positives far away from anybody
    fake[..., :2] += 400
    pred = np.concatenate([pred[keep], fake])
    ids = np.concatenate([image_ids[keep], image_ids[:5]])
    ar = np.concatenate([areas[keep], areas[:5]])
    results = coco_results(pred, rng.uniform(0.5, 1.0, len(pred)), ar, ids)
    ours = evaluate_coco(results, gt_path, out_json=tmp_path / "results.json")
    direct = cocoeval_directly(gt_path, json.loads((tmp_path / "results.json").read_text()))
    assert ours == pytest.approx(direct, abs=1e-12)
    assert 0.3 < ours["AP"] < 0.95


def test_rescoring_uses_confident_joints_only():
    kps = np.zeros((2, 17, 3))
    kps[0, :4, 2] = [0.9, 0.5, 0.1, 0.2]  # mean of 0.9 and 0.5 (0.2 is not above 0.2)
    np.testing.assert_allclose(rescore(kps, [0.8, 0.7], 0.2), [0.8 * 0.7, 0.0])


def test_oks_nms_drops_near_duplicates_only():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(100, 200, (17, 2)), np.ones((17, 1))], axis=1)
    twin = a.copy()
    twin[:, :2] += 0.5  # nearly the same pose
    other = a.copy()
    other[:, :2] += 80  # somebody else
    kps = np.stack([twin, a, other])
    keep = oks_nms(kps, [0.5, 0.9, 0.7], np.full(3, 100.0 * 100), thr=0.9)
    assert keep == [1, 2]


def test_empty_results_and_missing_files(gt_path, tmp_path):
    assert evaluate_coco([], gt_path) == {name: 0.0 for name in STAT_NAMES}
    with pytest.raises(DataError, match="not found"):
        evaluate_coco([], tmp_path / "missing.json")
