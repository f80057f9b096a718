"""MPII in the seed's layout: `{root}/annot/{train,valid}.json` (entries with image, center,
scale, joints, joints_vis; MATLAB 1-based), `{root}/annot/gt_valid.mat`, `{root}/images/`.
Scored with PCKh in the seed's table; predictions are also written to `pred.mat`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..errors import DataError
from ..keypoints import FLIP_PAIRS
from .base import KeypointDataset, check_dir, read_json

NUM_JOINTS = 16


class MPIIDataset(KeypointDataset):
    flip_pairs = FLIP_PAIRS["mpii"]
    upper_body_ids = (7, 8, 9, 10, 11, 12, 13, 14, 15)
    lower_body_ids = (0, 1, 2, 3, 4, 5, 6)

    def __init__(self, cfg: Config, train: bool) -> None:
        root = Path(cfg.data.root)
        self.image_set = cfg.data.train_set if train else cfg.data.val_set
        self.ann_file = root / "annot" / f"{self.image_set}.json"
        self.gt_file = root / "annot" / f"gt_{self.image_set}.mat"
        image_dir = check_dir(root / "images", "MPII image")
        if cfg.model.num_joints != NUM_JOINTS:
            raise DataError(
                f"{self.ann_file}: MPII has 16 joints, model.num_joints={cfg.model.num_joints}"
            )
        entries = read_json(self.ann_file)
        if not isinstance(entries, list):
            raise DataError(f"{self.ann_file}: expected a list of person entries")
        samples = [self._sample(e, n, image_dir) for n, e in enumerate(entries)]
        super().__init__(samples, cfg, train)

    def _sample(self, entry: dict, n: int, image_dir: Path) -> dict[str, Any]:
        try:
            center = np.array(entry["center"], np.float64).reshape(2)
            scale = float(entry["scale"])
            joints = np.array(entry.get("joints", np.zeros((NUM_JOINTS, 2))), np.float64)
            vis = np.array(entry.get("joints_vis", np.zeros(NUM_JOINTS)), np.float64).reshape(-1)
            joints = joints.reshape(NUM_JOINTS, 2)
            vis = vis.reshape(NUM_JOINTS)
            image = str(entry["image"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{self.ann_file}: entry {n} malformed ({exc!r})") from None
        # The seed's adjustments: a box a little lower and 25% larger, 1-based -> 0-based.
        size = np.array([scale, scale])
        if center[0] != -1:
            center[1] += 15 * size[1]
            size *= 1.25
        center -= 1
        kps = np.concatenate([joints - 1, (vis > 0)[:, None]], axis=1)
        return {
            "image": str(image_dir / image),
            "center": center,
            "scale": size,
            "joints": kps,
            "score": 1.0,
            "image_id": n,
        }

    def evaluate(
        self, preds: np.ndarray, meta: dict[str, np.ndarray], output_dir: str | os.PathLike
    ) -> tuple[dict[str, float], float]:
        """PCKh@0.5 table against annot/gt_{set}.mat; pred.mat written to output_dir."""
        from ..evaluation.mpii import pckh_table, save_pred_mat

        save_pred_mat(Path(output_dir) / "pred.mat", preds[..., :2])
        table = pckh_table(preds[..., :2], self.gt_file)
        return table, table["Mean"]
