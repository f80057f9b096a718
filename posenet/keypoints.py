"""Joint layouts and the one place where keypoints move between them.

The pose net speaks COCO-17 internally. PoseTrack 2018 uses the same 17 slots with the eyes
replaced by head_bottom/head_top and the ears unannotated; PoseTrack 2017 numbers 15 joints
0-14; MPII has 16. Keypoints are arrays (N, K, 3): x, y, score (or visibility).
"""

from __future__ import annotations

import numpy as np

COCO_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# Per-joint OKS sigmas of the COCO keypoint benchmark.
COCO_SIGMAS = (
    np.array(
        [
            0.26,
            0.25,
            0.25,
            0.35,
            0.35,
            0.79,
            0.79,
            0.72,
            0.72,
            0.62,
            0.62,
            1.07,
            1.07,
            0.87,
            0.87,
            0.89,
            0.89,
        ]
    )
    / 10.0
)
# Limbs to draw (0-based joint pairs).
COCO_SKELETON = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)

POSETRACK18_NAMES = ("nose", "head_bottom", "head_top", "left_ear", "right_ear") + COCO_NAMES[5:]

POSETRACK17_NAMES = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "head_bottom",
    "nose",
    "head_top",
)

# MPII: PoseTrack-2017's legs, then pelvis, thorax, neck and head top, then its arms.
MPII_NAMES = (
    POSETRACK17_NAMES[:6] + ("pelvis", "thorax", "upper_neck", "head_top") + POSETRACK17_NAMES[6:12]
)

# Joint layouts by the name `data.dataset` uses ('posetrack' is the 2018 layout).
LAYOUTS = {
    "coco": COCO_NAMES,
    "posetrack": POSETRACK18_NAMES,
    "posetrack17": POSETRACK17_NAMES,
    "mpii": MPII_NAMES,
}


def flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Joints that swap under a horizontal flip: left_X with right_X, by name. Every other
    joint (nose, head_top, pelvis, ...) maps to itself and appears in no pair."""
    pairs = []
    for i, name in enumerate(names):
        if name.startswith("left_"):
            mirror = "right_" + name[len("left_") :]
            if mirror not in names:
                raise ValueError(f"joint {name!r} has no {mirror!r} in its layout")
            pairs.append(tuple(sorted((i, names.index(mirror)))))
        elif name.startswith("right_") and "left_" + name[len("right_") :] not in names:
            raise ValueError(f"joint {name!r} has no left counterpart in its layout")
    return tuple(sorted(pairs))


COCO_FLIP_PAIRS = flip_pairs(COCO_NAMES)
POSETRACK17_FLIP_PAIRS = flip_pairs(POSETRACK17_NAMES)
MPII_FLIP_PAIRS = flip_pairs(MPII_NAMES)
FLIP_PAIRS = {layout: flip_pairs(names) for layout, names in LAYOUTS.items()}


def _index_map(src: tuple[str, ...], dst: tuple[str, ...]) -> np.ndarray:
    """For each dst joint, the index of the same-named src joint or -1."""
    return np.array([src.index(n) if n in src else -1 for n in dst], dtype=np.int64)


def remap(keypoints: np.ndarray, src: tuple[str, ...], dst: tuple[str, ...]) -> np.ndarray:
    """Copy joints by name from layout `src` to layout `dst`; joints dst has but src lacks are 0."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape[-2] != len(src):
        raise ValueError(f"expected {len(src)} joints, got array of shape {kp.shape}")
    index = _index_map(src, dst)
    out = np.zeros(kp.shape[:-2] + (len(dst), kp.shape[-1]), dtype=np.float64)
    have = index >= 0
    out[..., have, :] = kp[..., index[have], :]
    return out


# Head joints a COCO-trained net does not have. head_bottom is the shoulder midpoint (the
# neck); head_top is extrapolated from the neck through the head centre (mean of nose, eyes and
# ears with score > 0) by HEAD_TOP_EXTRAPOLATION times their distance. Scores are the minimum
# of the joints used. The factor is an estimate of head geometry, not a learned value.
HEAD_TOP_EXTRAPOLATION = 1.0


def derive_head_joints(coco: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """head_bottom and head_top, each (N, 3), derived from COCO-17 keypoints (N, 17, 3)."""
    coco = np.asarray(coco, dtype=np.float64)
    shoulders = coco[:, 5:7]
    neck_xy = shoulders[:, :, :2].mean(axis=1)
    neck_score = shoulders[:, :, 2].min(axis=1)
    face = coco[:, 0:5]
    w = (face[:, :, 2] > 0).astype(np.float64)
    wsum = np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    center = (face[:, :, :2] * w[..., None]).sum(axis=1) / wsum
    face_score = np.where(w.sum(axis=1) > 0, (face[:, :, 2] * w).sum(axis=1) / wsum[:, 0], 0.0)
    top_xy = center + HEAD_TOP_EXTRAPOLATION * (center - neck_xy)
    top_score = np.minimum(face_score, neck_score)
    head_bottom = np.concatenate([neck_xy, neck_score[:, None]], axis=1)
    head_top = np.concatenate([top_xy, top_score[:, None]], axis=1)
    return head_bottom, head_top


def coco_to_posetrack18(coco: np.ndarray, derive_head: bool = True) -> np.ndarray:
    """COCO-17 -> PoseTrack-2018 slots. Eyes become head_bottom/head_top (derived, see above,
    or zero when derive_head is False); the ears, unannotated in PoseTrack, are zeroed."""
    coco = np.asarray(coco, dtype=np.float64)
    out = coco.copy()
    out[:, 1:5] = 0.0
    if derive_head and len(coco):
        out[:, 1], out[:, 2] = derive_head_joints(coco)
    return out


def posetrack18_to_posetrack17(kp18: np.ndarray) -> np.ndarray:
    """PoseTrack-2018 (N, 17, 3) -> PoseTrack-2017 (N, 15, 3) ordered by joint id 0-14."""
    return remap(kp18, POSETRACK18_NAMES, POSETRACK17_NAMES)


def posetrack17_to_posetrack18(kp17: np.ndarray) -> np.ndarray:
    """PoseTrack-2017 (N, 15, 3) -> PoseTrack-2018 (N, 17, 3); the ears stay zero."""
    return remap(kp17, POSETRACK17_NAMES, POSETRACK18_NAMES)


def mpii_to_coco(mpii: np.ndarray) -> np.ndarray:
    """MPII-16 -> COCO-17: the 12 limb joints carry over; face joints are zero."""
    return remap(mpii, MPII_NAMES, COCO_NAMES)


def coco_to_mpii(coco: np.ndarray) -> np.ndarray:
    """COCO-17 -> MPII-16: the 12 limb joints carry over; pelvis, thorax, neck, head are zero."""
    return remap(coco, COCO_NAMES, MPII_NAMES)
