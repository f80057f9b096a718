"""MPII PCKh: the fraction of joints within a fraction of the head size (0.6 x head-box
diagonal), on the validation ground truth of the seed's `annot/gt_valid.mat`, in the seed's
table (Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean, Mean@0.1).

Pelvis and thorax are left out of the means, and the means weight each joint by how often it
is labelled, as the seed does. Like the seed, "Mean@0.1" is read from the 12th step of the
threshold sweep 0, 0.01, ..., 0.5, i.e. at 0.11; we keep that so numbers compare with its table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat, savemat

from ..errors import DataError
from ..files import AtomicFile

HEAD_SIZE_FACTOR = 0.6
NUM_JOINTS = 16  # MPII joints per person in pred.mat and gt_valid.mat
MEAN_AT_01_STEP = 11  # index into np.arange(0, 0.51, 0.01): the seed's "Mean@0.1"
GROUPS = {  # table column -> joint names in gt_valid.mat's `dataset_joints`
    "Head": ("head",),
    "Shoulder": ("lsho", "rsho"),
    "Elbow": ("lelb", "relb"),
    "Wrist": ("lwri", "rwri"),
    "Hip": ("lhip", "rhip"),
    "Knee": ("lkne", "rkne"),
    "Ankle": ("lank", "rank"),
}
LEFT_OUT = ("pelv", "thor")
COLUMNS = (*GROUPS, "Mean", "Mean@0.1")


@dataclass
class MPIIGroundTruth:
    """gt_valid.mat: joint names (16,), missing (16, N) bool, positions (16, 2, N) 1-based,
    head boxes (2, 2, N)."""

    joint_names: tuple[str, ...]
    missing: np.ndarray
    positions: np.ndarray
    head_boxes: np.ndarray

    @property
    def num_people(self) -> int:
        return self.positions.shape[2]


def load_ground_truth(path: str | os.PathLike) -> MPIIGroundTruth:
    """Read the seed's gt_valid.mat, checking every field it needs."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MPII ground truth not found (the seed's annot/gt_valid.mat)")
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several kinds for non-.mat files
        raise DataError(f"{path}: not a readable .mat file ({exc})") from None
    for key in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src"):
        if key not in mat:
            raise DataError(f"{path}: field '{key}' missing")
    names = tuple(str(np.asarray(n).reshape(-1)[0]) for n in mat["dataset_joints"].reshape(-1))
    positions = np.asarray(mat["pos_gt_src"], np.float64)
    missing = np.asarray(mat["jnt_missing"]).astype(bool)
    head_boxes = np.asarray(mat["headboxes_src"], np.float64)
    k = len(names)
    if positions.ndim != 3 or positions.shape[:2] != (k, 2):
        raise DataError(f"{path}: field 'pos_gt_src' must be ({k}, 2, N), got {positions.shape}")
    n = positions.shape[2]
    if missing.shape != (k, n):
        raise DataError(f"{path}: field 'jnt_missing' must be ({k}, {n}), got {missing.shape}")
    if head_boxes.shape != (2, 2, n):
        raise DataError(
            f"{path}: field 'headboxes_src' must be (2, 2, {n}), got {head_boxes.shape}"
        )
    needed = {name for group in GROUPS.values() for name in group} | set(LEFT_OUT)
    if not needed <= set(names):
        raise DataError(f"{path}: field 'dataset_joints' lacks {sorted(needed - set(names))}")
    return MPIIGroundTruth(names, missing, positions, head_boxes)


def scaled_errors(preds: np.ndarray, gt: MPIIGroundTruth) -> np.ndarray:
    """(16, N) distance of each 0-based prediction to the ground truth, in head sizes."""
    preds = np.asarray(preds, np.float64)
    if preds.shape != (gt.num_people, len(gt.joint_names), 2):
        raise DataError(
            f"predictions must be ({gt.num_people}, {len(gt.joint_names)}, 2), one per "
            f"ground-truth person, got {preds.shape}"
        )
    pred_1based = np.transpose(preds + 1.0, (1, 2, 0))  # MATLAB coordinates, as the ground truth
    err = np.linalg.norm(pred_1based - gt.positions, axis=1)
    head = np.linalg.norm(gt.head_boxes[1] - gt.head_boxes[0], axis=0) * HEAD_SIZE_FACTOR
    return err / head


def pckh_per_joint(preds: np.ndarray, gt: MPIIGroundTruth, threshold: float) -> np.ndarray:
    """PCKh (%) of each of the 16 joints at `threshold` head sizes over labelled joints."""
    visible = ~gt.missing
    hits = (scaled_errors(preds, gt) <= threshold) & visible
    count = visible.sum(axis=1)
    return 100.0 * hits.sum(axis=1) / np.maximum(count, 1)


def pckh_table(preds: np.ndarray, gt: MPIIGroundTruth | str | os.PathLike) -> dict[str, float]:
    """The seed's table for 0-based predictions (N, 16, 2) of the people in gt_valid.mat."""
    if not isinstance(gt, MPIIGroundTruth):
        gt = load_ground_truth(gt)
    index = {name: i for i, name in enumerate(gt.joint_names)}
    at_05 = pckh_per_joint(preds, gt, 0.5)
    at_01 = pckh_per_joint(preds, gt, float(np.arange(0, 0.51, 0.01)[MEAN_AT_01_STEP]))
    count = (~gt.missing).sum(axis=1).astype(np.float64)
    for name in LEFT_OUT:
        count[index[name]] = 0.0
    weight = count / count.sum()
    table = {col: float(np.mean([at_05[index[n]] for n in names])) for col, names in GROUPS.items()}
    table["Mean"] = float(np.sum(at_05 * weight))
    table["Mean@0.1"] = float(np.sum(at_01 * weight))
    return table


def save_pred_mat(path: str | os.PathLike, preds: np.ndarray) -> None:
    """pred.mat as the seed writes it: key 'preds', (N, 16, 2), 1-based coordinates."""
    preds = np.asarray(preds, np.float64)[..., :2]
    with AtomicFile(path, suffix=".mat") as target:
        savemat(str(target.tmp), {"preds": preds + 1.0})


def load_pred_mat(path: str | os.PathLike) -> np.ndarray:
    """0-based predictions (N, 16, 2) from a pred.mat written by the seed or by us."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: prediction file not found")
    try:
        mat = loadmat(str(path))
    except Exception as exc:
        raise DataError(f"{path}: not a readable .mat file ({exc})") from None
    if "preds" not in mat:
        raise DataError(f"{path}: field 'preds' missing")
    raw = np.asarray(mat["preds"])
    if raw.dtype.kind not in "biuf":  # strings, a cell array (object), a struct
        kind = {"U": "text", "S": "text", "O": "a cell array", "V": "a struct"}.get(raw.dtype.kind)
        raise DataError(
            f"{path}: field 'preds' must be a numeric (N, {NUM_JOINTS}, 2) array, got "
            f"{kind or raw.dtype}"
        )
    preds = raw.astype(np.float64)
    if preds.ndim != 3 or preds.shape[1] != NUM_JOINTS or preds.shape[2] < 2:
        hint = (
            " (transposed? the ground truth's layout is (16, 2, N))"
            if preds.shape[:1] == (NUM_JOINTS,)
            else ""
        )
        raise DataError(
            f"{path}: field 'preds' must be (N, {NUM_JOINTS}, 2), got {preds.shape}{hint}"
        )
    return preds[..., :2] - 1.0
