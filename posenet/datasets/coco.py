"""COCO person keypoints in the standard layout:
`{root}/annotations/person_keypoints_{set}.json` and images in `{root}/{set}/`.

Training uses ground-truth boxes (cleaned and clipped as the seed does, people with at least
one labelled joint). Validation uses ground-truth boxes when `data.use_gt_bbox`, else the
person detections of `data.det_file` (COCO results, score >= `data.image_thre`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..boxes import box_xyxy_to_center_scale, xywh_to_xyxy
from ..config import Config
from ..errors import DataError
from ..keypoints import FLIP_PAIRS
from .base import KeypointDataset, check_dir, input_aspect_ratio, read_json


def det_file_path(root: str | os.PathLike, det_file: str | os.PathLike) -> Path:
    """A relative `data.det_file` lies under `data.root` (so moving the root moves it too); a
    file of that name where you run is taken when the root has none; absolute as given."""
    path = Path(det_file)
    under_root = Path(root) / path
    if path.is_absolute() or under_root.exists() or not path.exists():
        return path if path.is_absolute() else under_root
    return path


class COCODataset(KeypointDataset):
    flip_pairs = FLIP_PAIRS["coco"]
    upper_body_ids = tuple(range(11))
    lower_body_ids = tuple(range(11, 17))

    def __init__(self, cfg: Config, train: bool) -> None:
        d = cfg.data
        root = Path(d.root)
        self.image_set = d.train_set if train else d.val_set
        self.ann_file = root / "annotations" / f"person_keypoints_{self.image_set}.json"
        self.image_dir = check_dir(root / self.image_set, "COCO image")
        data = read_json(self.ann_file)
        for key in ("images", "annotations"):
            if not isinstance(data.get(key), list):
                raise DataError(f"{self.ann_file}: field '{key}' missing or not a list")
        try:
            self.images = {int(im["id"]): im for im in data["images"]}
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{self.ann_file}: field 'images' needs an 'id' in every entry"
            ) from None
        self.image_ids = sorted(self.images)
        num_joints = cfg.model.num_joints
        if num_joints != 17:
            raise DataError(f"{self.ann_file}: COCO has 17 joints, model.num_joints={num_joints}")
        if train or d.use_gt_bbox:
            samples = self._gt_samples(data["annotations"], cfg)
        else:
            samples = self._detection_samples(cfg)
        super().__init__(samples, cfg, train)

    def _image_path(self, image_id: int) -> str:
        image = self.images.get(image_id)
        if image is None:
            raise DataError(f"{self.ann_file}: image id {image_id} is not in field 'images'")
        return str(self.image_dir / image.get("file_name", f"{image_id:012d}.jpg"))

    def _gt_samples(self, annotations: list[dict], cfg: Config) -> list[dict[str, Any]]:
        samples = []
        for n, ann in enumerate(annotations):
            where = f"{self.ann_file}: annotations[{n}]"
            try:
                if ann.get("category_id", 1) != 1 or max(ann.get("keypoints") or [0]) == 0:
                    continue
                image = self.images[int(ann["image_id"])]
                x, y, w, h = (float(v) for v in ann["bbox"])
                kps = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{where}: malformed ({exc!r})") from None
            # The seed's box cleaning: clip to the image, drop empty boxes.
            width, height = float(image.get("width", 1e9)), float(image.get("height", 1e9))
            x1, y1 = max(0.0, x), max(0.0, y)
            x2 = min(width - 1, x1 + max(0.0, w - 1))
            y2 = min(height - 1, y1 + max(0.0, h - 1))
            if ann.get("area", 1) <= 0 or x2 < x1 or y2 < y1:
                continue
            center, scale = box_xyxy_to_center_scale(
                np.array([[x1, y1, x2, y2]]),
                input_aspect_ratio(cfg),
                cfg.data.box_padding,
                cfg.data.pixel_std,
            )
            joints = kps.copy()
            joints[:, 2] = np.minimum(kps[:, 2], 1)
            samples.append(
                {
                    "image": self._image_path(int(ann["image_id"])),
                    "center": center[0],
                    "scale": scale[0],
                    "joints": joints,
                    "score": 1.0,
                    "image_id": int(ann["image_id"]),
                }
            )
        return samples

    def _detection_samples(self, cfg: Config) -> list[dict[str, Any]]:
        d = cfg.data
        if not d.det_file:
            raise DataError(
                "data.det_file is empty: give a person detection file or set data.use_gt_bbox=true"
            )
        path = det_file_path(d.root, d.det_file)
        entries = read_json(path)
        if not isinstance(entries, list):
            raise DataError(f"{path}: expected a list of COCO-results detections")
        samples = []
        for n, det in enumerate(entries):
            try:
                if det.get("category_id", 1) != 1 or float(det["score"]) < d.image_thre:
                    continue
                x, y, w, h = (float(v) for v in det["bbox"])
                image_id = int(det["image_id"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataError(f"{path}: detection {n} malformed ({exc!r})") from None
            center, scale = box_xyxy_to_center_scale(
                xywh_to_xyxy([[x, y, w, h]]), input_aspect_ratio(cfg), d.box_padding, d.pixel_std
            )
            samples.append(
                {
                    "image": self._image_path(image_id),
                    "center": center[0],
                    "scale": scale[0],
                    "joints": np.zeros((17, 3)),
                    "score": float(det["score"]),
                    "image_id": image_id,
                }
            )
        if not samples:  # validation would score nothing: say why instead of failing later
            raise DataError(
                f"{path}: no person detection (category 1) with score >= data.image_thre "
                f"({d.image_thre}) among its {len(entries)} entries"
            )
        return samples

    def evaluate(
        self, preds: np.ndarray, meta: dict[str, np.ndarray], output_dir: str | os.PathLike
    ) -> tuple[dict[str, float], float]:
        """COCO keypoint AP/AR with the seed's rescoring and OKS-NMS; results JSON kept."""
        from ..evaluation.coco import coco_results, evaluate_coco

        d = self.cfg.data
        areas = meta["scale"][:, 0] * meta["scale"][:, 1] * d.pixel_std**2
        results = coco_results(
            preds,
            meta["score"],
            areas,
            meta["image_id"],
            in_vis_thre=d.in_vis_thre,
            oks_thre=d.oks_thre,
        )
        out = Path(output_dir) / f"keypoints_{self.image_set}_results.json"
        table = evaluate_coco(results, self.ann_file, image_ids=self.image_ids, out_json=out)
        return table, table["AP"]
