"""COCO keypoint evaluation with the seed's post-processing, scored by pycocotools.

Post-processing per image: each person's score becomes box score x the mean of its joint
scores above `in_vis_thre`, then OKS-NMS at `oks_thre` removes duplicates. The OKS used by the
NMS (posenet.evaluation.oks) counts the joints the lower-scored candidate sees above
`in_vis_thre` and scales by the mean of the two areas: that is what the seed's (and mmpose's)
`oks_iou` computes in effect, and we keep it so AP compares with theirs.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..files import write_json
from ..keypoints import COCO_SIGMAS
from .oks import oks

STAT_NAMES = (
    "AP",
    "AP .5",
    "AP .75",
    "AP (M)",
    "AP (L)",
    "AR",
    "AR .5",
    "AR .75",
    "AR (M)",
    "AR (L)",
)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float,
    sigmas: np.ndarray = COCO_SIGMAS,
    in_vis_thre: float | None = None,
) -> list[int]:
    """Greedy NMS by OKS: keep the best-scored pose, drop those with OKS > thr to it, repeat."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keypoints = np.asarray(keypoints, np.float64)
    areas = np.asarray(areas, np.float64)
    keep = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        overlap = oks(
            keypoints[i][None],
            keypoints[rest],
            areas[rest],
            sigmas,
            in_vis_thre,
            a_areas=areas[i][None],
            visible_in="b",
        )[0]
        order = rest[overlap <= thr]
    return keep


def rescore(keypoints: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """Box score x mean of the joint scores above in_vis_thre (0 when there are none)."""
    joint = np.asarray(keypoints, np.float64)[..., 2]
    confident = joint > in_vis_thre
    count = confident.sum(axis=-1)
    mean = np.where(count > 0, (joint * confident).sum(axis=-1) / np.maximum(count, 1), 0.0)
    return mean * np.asarray(box_scores, np.float64)


def coco_results(
    keypoints: np.ndarray,
    box_scores: np.ndarray,
    areas: np.ndarray,
    image_ids: np.ndarray,
    in_vis_thre: float = 0.2,
    oks_thre: float = 0.9,
    sigmas: np.ndarray = COCO_SIGMAS,
) -> list[dict[str, Any]]:
    """COCO-results entries from predictions (N, K, 3) in image pixels: rescoring, then OKS-NMS
    within each image (all of an image's people are kept if NMS would drop every one)."""
    keypoints = np.asarray(keypoints, np.float64)
    scores = rescore(keypoints, box_scores, in_vis_thre)
    areas = np.asarray(areas, np.float64)
    by_image: dict[Any, list[int]] = defaultdict(list)
    for i, image_id in enumerate(np.asarray(image_ids).tolist()):
        by_image[image_id].append(i)
    results = []
    for image_id, rows in by_image.items():
        rows = np.asarray(rows)
        keep = oks_nms(keypoints[rows], scores[rows], areas[rows], oks_thre, sigmas, in_vis_thre)
        for j in rows[keep] if keep else rows:
            results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [round(float(v), 3) for v in keypoints[j].reshape(-1)],
                    "score": float(scores[j]),
                }
            )
    return results


def load_coco_gt(gt: str | os.PathLike | Any):
    """A pycocotools COCO object (quietly), from a path or passed through."""
    from pycocotools.coco import COCO

    if isinstance(gt, COCO):
        return gt
    path = Path(gt)
    if not path.is_file():
        raise DataError(f"{path}: COCO annotation file not found")
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return COCO(str(path))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a COCO annotation file ({exc})") from None


def evaluate_coco(
    results: list[dict[str, Any]],
    gt: str | os.PathLike | Any,
    image_ids: list[int] | None = None,
    out_json: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Keypoint AP/AR (STAT_NAMES) of COCO-results entries through pycocotools' COCOeval.

    `image_ids` restricts the evaluation to those images; `out_json` keeps the results file.
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = load_coco_gt(gt)
    if out_json is not None:
        write_json(out_json, results, indent=None)
    if not results:  # COCO.loadRes cannot take an empty list: nothing found scores zero
        return {name: 0.0 for name in STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.useSegm = None
        if image_ids is not None:
            evaluator.params.imgIds = sorted(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
