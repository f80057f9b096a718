"""One top-down keypoint dataset: a list of people (image, center, scale, joints), cropped and
augmented as the seed does, with heatmap targets from the codec.

Images are decoded to RGB and normalised with the ImageNet RGB mean/std, the input every net
here expects. Each dataset subclass reads its annotation layout into sample dicts and scores
predictions in its benchmark's metric.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import MSRAHeatmap
from ..config import Config
from ..errors import DataError
from ..files import read_rgb
from ..transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FlipPairs,
    affine_points,
    flip_joints,
    get_affine_transform,
    half_body,
    random_scale_rotation,
)


def read_json(path: Path) -> Any:
    """A JSON annotation file, with the path in any error."""
    import json

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


class KeypointDataset(Dataset):
    """People as dicts {image, center (2,), scale (2,), joints (K, 3) pixels + visibility,
    score, image_id}. Items: (image (3, H, W), target (K, h, w), target_weight (K, 1),
    meta dict)."""

    flip_pairs: FlipPairs = ()
    upper_body_ids: tuple[int, ...] = ()
    lower_body_ids: tuple[int, ...] = ()

    def __init__(self, samples: list[dict[str, Any]], cfg: Config, train: bool) -> None:
        check_images(samples)
        self.samples = samples
        self.cfg = cfg
        self.train = train
        m = cfg.model
        self.input_size = (int(m.image_size[0]), int(m.image_size[1]))
        self.aspect_ratio = input_aspect_ratio(cfg)
        self.codec = MSRAHeatmap(self.input_size, tuple(m.heatmap_size), sigma=m.sigma)
        self.mean = np.array(IMAGENET_MEAN, np.float32) * 255
        self.std = np.array(IMAGENET_STD, np.float32) * 255

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        s = self.samples[index]
        image = read_rgb(s["image"])
        joints = np.array(s["joints"], np.float64, copy=True)
        center = np.array(s["center"], np.float64, copy=True)
        scale = np.array(s["scale"], np.float64, copy=True)
        rotation = 0.0
        if self.train:
            center, scale, rotation, image, joints = self._augment(image, joints, center, scale)
        mat = get_affine_transform(center, scale, rotation, self.input_size)
        crop = cv2.warpAffine(image, mat, self.input_size, flags=cv2.INTER_LINEAR)
        visible = joints[:, 2] > 0
        in_crop = joints.copy()
        in_crop[:, :2] = affine_points(joints[:, :2], mat)
        target, weight = self.codec.encode(in_crop[:, :2], visible)
        if not self.cfg.train.use_target_weight:
            weight = np.ones_like(weight)
        x = (crop.astype(np.float32) - self.mean) / self.std
        meta = {
            "index": index,
            "center": center.astype(np.float32),
            "scale": scale.astype(np.float32),
            "rotation": float(rotation),
            "score": float(s.get("score", 1.0)),
            "image_id": s["image_id"],
            "joints": joints.astype(np.float32),
        }
        return (
            torch.from_numpy(x.transpose(2, 0, 1).copy()),
            torch.from_numpy(target),
            torch.from_numpy(weight.reshape(-1, 1).astype(np.float32)),
            meta,
        )

    def _augment(self, image, joints, center, scale):
        """The seed's training augmentation: half body, scale, rotation, horizontal flip."""
        d = self.cfg.data
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        visible = joints[:, 2] > 0
        if (
            self.upper_body_ids
            and visible.sum() > d.num_joints_half_body
            and rng.random() < d.half_body_prob
        ):
            found = half_body(
                joints, visible, self.upper_body_ids, self.lower_body_ids, self.aspect_ratio, rng
            )
            if found is not None:
                center, scale = (np.asarray(v, np.float64) for v in found)
        zoom, rotation = random_scale_rotation(rng, d.scale_factor, d.rot_factor, d.rot_prob)
        scale = scale * zoom
        if d.flip and rng.random() <= 0.5:
            image = image[:, ::-1]
            joints = flip_joints(joints, image.shape[1], self.flip_pairs)
            joints[joints[:, 2] <= 0, :2] = 0
            center = center.copy()
            center[0] = image.shape[1] - center[0] - 1
        return center, scale, rotation, np.ascontiguousarray(image), joints

    def evaluate(
        self, preds: np.ndarray, meta: dict[str, np.ndarray], output_dir: str | os.PathLike
    ) -> tuple[dict[str, float], float]:
        """Score predictions (N, K, 3) in image pixels for all samples, in order: the table and
        the number model selection uses."""
        raise NotImplementedError


def input_aspect_ratio(cfg: Config) -> float:
    """The network input's width / height."""
    return cfg.model.image_size[0] / cfg.model.image_size[1]


def check_images(samples: list[dict[str, Any]]) -> None:
    """Fail at start, not hours into training, when image files are missing."""
    paths = {s["image"] for s in samples}
    missing = sorted(p for p in paths if not os.path.isfile(p))
    if missing:
        more = f" and {len(missing) - 1} more of {len(paths)}" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: image file missing{more}")


def check_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: {what} folder not found")
    return path
