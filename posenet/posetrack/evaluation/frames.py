"""Folder loading and the frame clean-up the official PoseTrack evaluation (poseval) applies.

Scoring works in the 15 PoseTrack-2017 joint ids (0-14) poseval uses, whatever the file layout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posenet.errors import DataError
from posenet.posetrack.formats import (
    NO_TRACK_ID,
    PT17_TO_PT18,
    PoseTrackFrame,
    PoseTrackSequence,
    base_name,
    empty_people,
    read_posetrack,
)

from .polygon import points_in_any_polygon

NUM_JOINTS = 15
# poseval's score for a predicted joint given without one.
MIN_SCORE = -9999.0
# poseval's head size: 0.6 x the head box diagonal.
HEAD_SIZE_FACTOR = 0.6
# PCKh threshold: a predicted joint is correct within half the head size.
PCKH_THRESHOLD = 0.5


@dataclass
class EvalFrame:
    """One scored frame: ground truth (G people) and predictions (P people), joints 0-14."""

    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool
    head_size: np.ndarray  # (G,)
    gt_ids: np.ndarray  # (G,) int64
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15) bool
    pr_score: np.ndarray  # (P, 15)
    pr_ids: np.ndarray  # (P,) int64


@dataclass
class EvalSequence:
    """A sequence's scored frames (GT frames with people, in file order) and its name."""

    name: str
    frames: list[EvalFrame]


@dataclass
class LoadedData:
    """Everything read from the two folders, plus messages for the user."""

    sequences: list[EvalSequence]
    notes: list[str] = field(default_factory=list)


def _to_pt17(frame: PoseTrackFrame) -> tuple[np.ndarray, np.ndarray]:
    kp = frame.keypoints[:, PT17_TO_PT18]
    return kp[..., :2], frame.labelled[:, PT17_TO_PT18]


def match_frames(
    gt: PoseTrackSequence, pred: PoseTrackSequence
) -> tuple[list[int | None], list[int]]:
    """For each GT frame the index of its prediction frame (None: no match), and the prediction
    frames that match none. Frames match by base file name, the rest by frame id; a key that is
    not unique in either file matches nothing, so no frame is ever paired with a neighbour."""
    names_g = [base_name(f.file_name) for f in gt.frames]
    names_p = [base_name(f.file_name) for f in pred.frames]
    if names_g == names_p:
        return list(range(len(gt))), []
    match: list[int | None] = [None] * len(gt)
    used: set[int] = set()
    keys = (
        (names_g, names_p),
        ([f.frame_id for f in gt.frames], [f.frame_id for f in pred.frames]),
    )
    for keys_g, keys_p in keys:
        free_g = [k for k in range(len(gt)) if match[k] is None]
        free_p = [k for k in range(len(pred)) if k not in used]
        count_g = Counter(keys_g[k] for k in free_g)
        where_p: dict = {}
        for k in free_p:
            where_p.setdefault(keys_p[k], []).append(k)
        for k in free_g:
            key = keys_g[k]
            hits = where_p.get(key, [])
            if key is not None and count_g[key] == 1 and len(hits) == 1:
                match[k] = hits[0]
                used.add(hits[0])
    return match, [k for k in range(len(pred)) if k not in used]


def _empty_like(frame: PoseTrackFrame) -> PoseTrackFrame:
    return PoseTrackFrame(
        file_name=frame.file_name, frame_index=frame.frame_index, **empty_people()
    )


def prepare_frames(
    gt: PoseTrackSequence,
    pred: PoseTrackSequence,
    need_track_ids: bool,
    notes: list[str] | None = None,
) -> list[EvalFrame]:
    """Pair GT and prediction frames by file name (see `match_frames`) and clean them up as
    poseval does; prediction frames matching no GT frame are not scored and noted in `notes`.

    poseval quirks kept here: a GT frame counts when its file lists at least one person (the
    is_labeled flag is not read), and predictions on other frames are dropped unseen; inside
    ignore regions joints are removed from GT and predictions, and a person left without joints
    is removed in such frames only (elsewhere people without joints stay and count as present).
    """
    match, unmatched = match_frames(gt, pred)
    lacking = [k for k, m in enumerate(match) if m is None and gt.frames[k].num_annotations > 0]
    if lacking:
        shown = ", ".join(gt.frames[k].file_name for k in lacking[:3])
        raise DataError(
            f"{pred.path}: no prediction frame for {len(lacking)} of {len(gt)} ground-truth frames "
            f"({shown}{' ...' if len(lacking) > 3 else ''}); frames are matched by file name, "
            "then by frame id"
        )
    if unmatched and notes is not None:
        shown = ", ".join(pred.frames[k].file_name for k in unmatched[:3])
        notes.append(
            f"{pred.path.name}: {len(unmatched)} prediction frames match no ground-truth frame and "
            f"are not scored: {shown}{' ...' if len(unmatched) > 3 else ''}"
        )
    paired = [pred.frames[m] if m is not None else _empty_like(g) for g, m in zip(gt.frames, match)]
    frames = []
    for k, (g, p) in enumerate(zip(gt.frames, paired)):
        if g.num_annotations == 0:
            continue
        gt_xy, gt_has = _to_pt17(g)
        pr_xy, pr_has = _to_pt17(p)
        scores = p.joint_scores[:, PT17_TO_PT18]
        gt_keep = np.ones(len(g), dtype=bool)
        pr_keep = np.ones(len(p), dtype=bool)
        if g.ignore_regions:
            gt_has = gt_has & ~_inside(gt_xy, g.ignore_regions)
            pr_has = pr_has & ~_inside(pr_xy, g.ignore_regions)
            gt_keep, pr_keep = gt_has.any(axis=1), pr_has.any(axis=1)
        head = g.head_boxes[gt_keep]
        if pr_keep.any() and np.isnan(head).any():
            person = int(np.flatnonzero(np.isnan(g.head_boxes).any(axis=1) & gt_keep)[0])
            raise DataError(
                f"{gt.path}: frame {k} ({g.file_name}), person {person}: "
                "no head box (bbox_head / x1,y1,x2,y2)"
            )
        if need_track_ids:
            _check_track_ids(gt, g, k, "ground truth")
            _check_track_ids(pred, p, k, "prediction")
        frames.append(
            EvalFrame(
                gt_xy=gt_xy[gt_keep],
                gt_has=gt_has[gt_keep],
                head_size=HEAD_SIZE_FACTOR
                * np.hypot(head[:, 2] - head[:, 0], head[:, 3] - head[:, 1]),
                gt_ids=g.track_ids[gt_keep],
                pr_xy=pr_xy[pr_keep],
                pr_has=pr_has[pr_keep],
                pr_score=np.where(np.isnan(scores), MIN_SCORE, scores)[pr_keep],
                pr_ids=p.track_ids[pr_keep],
            )
        )
    return frames


def _inside(xy: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """(n, 15) bool: joint positions (n, 15, 2) inside any of the polygons."""
    return points_in_any_polygon(xy.reshape(-1, 2), polygons).reshape(xy.shape[:2])


def _check_track_ids(seq: PoseTrackSequence, frame: PoseTrackFrame, k: int, what: str) -> None:
    ids = frame.track_ids.tolist()
    if NO_TRACK_ID in ids:
        raise DataError(
            f"{seq.path}: frame {k} ({frame.file_name}): {what} person without track_id"
        )
    if len(set(ids)) != len(ids):
        raise DataError(f"{seq.path}: frame {k} ({frame.file_name}): duplicate track_id in {ids}")


def load_folders(
    gt_dir: str | Path, pred_dir: str | Path, need_track_ids: bool = True
) -> LoadedData:
    """Read per-sequence JSON files from two folders (matched by file name) into EvalSequences."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise DataError(f"{d}: {what} folder not found")
    gt_files = sorted(gt_dir.glob("*.json"))
    if not gt_files:
        raise DataError(f"{gt_dir}: no ground-truth .json files")
    pred_names = {p.name for p in pred_dir.glob("*.json")}
    missing = [f.name for f in gt_files if f.name not in pred_names]
    if missing:
        raise DataError(
            f"{pred_dir}: no predictions for {len(missing)} of {len(gt_files)} sequences: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    notes = []
    extra = sorted(pred_names - {f.name for f in gt_files})
    if extra:
        notes.append(
            f"ignored {len(extra)} prediction files without ground truth: " + ", ".join(extra[:10])
        )
    sequences, empty_frames, total_frames = [], 0, 0
    for f in gt_files:
        gt, pred = read_posetrack(f), read_posetrack(pred_dir / f.name)
        frames = prepare_frames(gt, pred, need_track_ids, notes)
        total_frames += len(gt)
        empty_frames += len(gt) - len(frames)
        if not frames:
            notes.append(f"{f.name}: no ground-truth frame with people; sequence not scored")
        sequences.append(EvalSequence(name=f.stem, frames=frames))
    if empty_frames:
        notes.append(
            f"{empty_frames} of {total_frames} ground-truth frames list no people and are not "
            "scored (predictions on them are ignored)"
        )
    return LoadedData(sequences=sequences, notes=notes)
