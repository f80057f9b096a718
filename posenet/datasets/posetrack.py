"""PoseTrack 2018: one COCO-like JSON per sequence in `{root}/annotations/{train,val}/`,
frames at `{root}/<file_name>`. 17 slots (eyes hold head_bottom/head_top, ears unlabelled).
Only labelled frames give samples; validation is scored with PoseTrack per-joint AP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..boxes import box_xyxy_to_center_scale, center_scale_to_box_xyxy, xywh_to_xyxy
from ..config import Config
from ..errors import DataError
from ..keypoints import FLIP_PAIRS
from .base import KeypointDataset, check_dir, input_aspect_ratio, read_json


class PoseTrackDataset(KeypointDataset):
    flip_pairs = FLIP_PAIRS["posetrack"]  # 2018 layout: head_bottom/head_top do not swap
    upper_body_ids = tuple(range(11))
    lower_body_ids = tuple(range(11, 17))

    def __init__(self, cfg: Config, train: bool) -> None:
        self.root = Path(cfg.data.root)
        self.image_set = cfg.data.train_set if train else cfg.data.val_set
        self.ann_dir = check_dir(self.root / "annotations" / self.image_set, "PoseTrack annotation")
        if cfg.model.num_joints != 17:
            raise DataError(
                f"{self.ann_dir}: PoseTrack 2018 has 17 slots, "
                f"model.num_joints={cfg.model.num_joints}"
            )
        self.files = sorted(self.ann_dir.glob("*.json"))
        if not self.files:
            raise DataError(f"{self.ann_dir}: no sequence JSON files")
        samples = []
        for path in self.files:
            samples += self._sequence_samples(path, cfg)
        super().__init__(samples, cfg, train)

    def _sequence_samples(self, path: Path, cfg: Config) -> list[dict[str, Any]]:
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DataError(f"{path}: field 'images' missing (not a PoseTrack 2018 file?)")
        try:
            images = {int(im["id"]): im for im in data["images"]}
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: field 'images' needs an 'id' in every entry") from None
        samples = []
        for n, ann in enumerate(data.get("annotations") or []):
            try:
                image = images[int(ann["image_id"])]
                if not image.get("is_labeled", True) or not ann.get("keypoints"):
                    continue
                kps = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
                x, y, w, h = (float(v) for v in ann["bbox"])
                file_name = str(image["file_name"])
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}: annotations[{n}] malformed ({exc!r})") from None
            if kps[:, 2].max() <= 0 or w <= 0 or h <= 0:
                continue
            center, scale = box_xyxy_to_center_scale(
                xywh_to_xyxy([[x, y, w, h]]),
                input_aspect_ratio(cfg),
                cfg.data.box_padding,
                cfg.data.pixel_std,
            )
            joints = kps.copy()
            joints[:, 2] = kps[:, 2] > 0
            samples.append(
                {
                    "image": str(self.root / file_name),
                    "center": center[0],
                    "scale": scale[0],
                    "joints": joints,
                    "score": 1.0,
                    "image_id": int(ann["image_id"]),
                    "sequence": path.stem,
                    "file_name": file_name,
                    "frame_index": int(image.get("frame_index", image.get("frame_id", 0))),
                }
            )
        return samples

    def evaluate(
        self, preds: np.ndarray, meta: dict[str, np.ndarray], output_dir: str | os.PathLike
    ) -> tuple[dict[str, float], float]:
        """PoseTrack per-joint AP (poseval's rules) of per-sequence prediction files."""
        from posenet.posetrack.evaluation.evaluate import evaluate_posetrack
        from posenet.posetrack.evaluation.report import grouped
        from posenet.posetrack.formats import PoseTrack18Writer

        pred_dir = Path(output_dir) / "posetrack_predictions"
        pred_dir.mkdir(parents=True, exist_ok=True)
        by_frame: dict[tuple[str, str], list[int]] = {}
        for i, s in enumerate(self.samples):
            by_frame.setdefault((s["sequence"], s["file_name"]), []).append(i)
        for path in self.files:
            with PoseTrack18Writer(pred_dir / path.name, path.stem) as writer:
                frames = sorted(
                    (k for k in by_frame if k[0] == path.stem),
                    key=lambda k: self.samples[by_frame[k][0]]["frame_index"],
                )
                for key in frames:
                    rows = by_frame[key]
                    kps = preds[rows]
                    boxes = center_scale_to_box_xyxy(
                        meta["center"][rows],
                        meta["scale"][rows],
                        self.cfg.data.pixel_std,
                        self.cfg.data.box_padding,
                    )
                    writer.add_frame(
                        key[1],
                        self.samples[rows[0]]["frame_index"],
                        kps,
                        np.arange(len(rows)),
                        boxes,
                        kps[..., 2].mean(axis=1),
                    )
        result = evaluate_posetrack(self.ann_dir, pred_dir, mode="pose")
        table = {k: float(v) for k, v in grouped(result.ap.ap).items()}
        return table, table["Total"]
