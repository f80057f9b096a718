"""Folder loading and the frame clean-up the official PoseTrack evaluation (poseval) applies.

Scoring works in the 15 PoseTrack-2017 joint ids (0-14) poseval uses, whatever the file layout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenet.errors import DataError
from posenet.posetrack.formats import (
    NO_TRACK_ID,
    PT17_TO_PT18,
    PoseTrackFrame,
    PoseTrackSequence,
    base_name,
    read_posetrack,
)

from .batch import NUM_JOINTS, PCKH_THRESHOLD, EvalFrame, SequenceBatch
from .parallel import parallel_map
from .polygon import points_in_any_polygon

__all__ = [
    "NUM_JOINTS",
    "PCKH_THRESHOLD",
    "EvalFrame",
    "EvalSequence",
    "LoadedData",
    "load_folders",
    "read_folders",
    "match_frames",
    "prepare_batch",
    "prepare_frames",
]

# poseval's score for a predicted joint given without one.
MIN_SCORE = -9999.0
# poseval's head size: 0.6 x the head box diagonal.
HEAD_SIZE_FACTOR = 0.6


@dataclass
class EvalSequence:
    """A sequence's scored frames (GT frames with people, in file order) and its name;
    `batch`, when given, holds the same people stacked (saves stacking them again)."""

    name: str
    frames: list[EvalFrame]
    batch: SequenceBatch | None = field(default=None, repr=False, compare=False)


@dataclass
class LoadedData:
    """Everything read from the two folders, plus messages for the user."""

    sequences: list[EvalSequence]
    notes: list[str] = field(default_factory=list)


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


def prepare_frames(
    gt: PoseTrackSequence,
    pred: PoseTrackSequence,
    need_track_ids: bool,
    notes: list[str] | None = None,
) -> list[EvalFrame]:
    """The scored frames of `prepare_batch`, one EvalFrame each."""
    return prepare_batch(gt, pred, need_track_ids, notes).frames()


def prepare_batch(
    gt: PoseTrackSequence,
    pred: PoseTrackSequence,
    need_track_ids: bool,
    notes: list[str] | None = None,
) -> SequenceBatch:
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
    # Scored frames (GT lists people; each has a prediction frame, checked above), their
    # people stacked: the clean-up runs once per sequence, not once per frame.
    scored = [k for k, g in enumerate(gt.frames) if g.num_annotations > 0]
    if not scored:
        return SequenceBatch.from_frames([])
    g_frames = [gt.frames[k] for k in scored]
    p_frames = [pred.frames[match[k]] for k in scored]
    g, p = _Stacked(g_frames), _Stacked(p_frames)
    gt_xy, gt_has = g.get("keypoints")[:, PT17_TO_PT18, :2], g.get("labelled")[:, PT17_TO_PT18]
    pr_xy, pr_has = p.get("keypoints")[:, PT17_TO_PT18, :2], p.get("labelled")[:, PT17_TO_PT18]
    scores = p.get("joint_scores")[:, PT17_TO_PT18]
    gt_keep, pr_keep = np.ones(len(gt_xy), dtype=bool), np.ones(len(pr_xy), dtype=bool)
    for i, frame in enumerate(g_frames):
        if frame.ignore_regions:
            gs, ps = g.span(i), p.span(i)
            gt_has[gs] &= ~_inside(gt_xy[gs], frame.ignore_regions)
            pr_has[ps] &= ~_inside(pr_xy[ps], frame.ignore_regions)
            gt_keep[gs], pr_keep[ps] = gt_has[gs].any(axis=1), pr_has[ps].any(axis=1)
    heads = g.get("head_boxes")
    _check_frames(
        gt, pred, scored, g_frames, p_frames, g, p, heads, gt_keep, pr_keep, need_track_ids
    )
    head_size = HEAD_SIZE_FACTOR * np.hypot(heads[:, 2] - heads[:, 0], heads[:, 3] - heads[:, 1])
    gt_ids, pr_ids = g.get("track_ids"), p.get("track_ids")
    pr_score = np.where(np.isnan(scores), MIN_SCORE, scores)
    return SequenceBatch.from_arrays(
        tuple(a[gt_keep] for a in (gt_xy, gt_has, head_size, gt_ids)),
        np.bincount(g.frame[gt_keep], minlength=len(scored)),
        tuple(a[pr_keep] for a in (pr_xy, pr_has, pr_score, pr_ids)),
        np.bincount(p.frame[pr_keep], minlength=len(scored)),
    )


class _Stacked:
    """The people arrays of some frames, concatenated; `frame` says whose each row is."""

    def __init__(self, frames: list[PoseTrackFrame]) -> None:
        self.frames = frames
        counts = np.array([len(f.keypoints) for f in frames], dtype=np.int64)
        self.bounds = np.r_[0, np.cumsum(counts)].tolist()
        self.frame = np.repeat(np.arange(len(frames)), counts)

    def get(self, name: str) -> np.ndarray:
        """One field of all frames, stacked."""
        return np.concatenate([getattr(f, name) for f in self.frames])

    def span(self, i: int) -> slice:
        """Frame i's rows."""
        return slice(self.bounds[i], self.bounds[i + 1])


def _check_frames(
    gt: PoseTrackSequence,
    pred: PoseTrackSequence,
    scored: list[int],
    g_frames: list[PoseTrackFrame],
    p_frames: list[PoseTrackFrame],
    g: _Stacked,
    p: _Stacked,
    heads: np.ndarray,
    gt_keep: np.ndarray,
    pr_keep: np.ndarray,
    need_track_ids: bool,
) -> None:
    """Raise for the first scored frame that lacks a head box where it is needed (a frame with
    predictions left), or, when tracking is scored, lacks or repeats a track id."""
    num = len(scored)
    has_pred = np.bincount(p.frame[pr_keep], minlength=num) > 0
    no_head = np.isnan(heads).any(axis=1) & gt_keep & has_pred[g.frame]
    bad = np.bincount(g.frame[no_head], minlength=num) > 0
    if need_track_ids:
        for side in (g, p):
            ids = side.get("track_ids")
            order = np.lexsort((ids, side.frame))
            ids_s, frame_s = ids[order], side.frame[order]
            repeated = (ids_s[1:] == ids_s[:-1]) & (frame_s[1:] == frame_s[:-1])
            bad[side.frame[ids == NO_TRACK_ID]] = True
            bad[frame_s[1:][repeated]] = True
    if not bad.any():
        return
    i = int(np.argmax(bad))
    k, frame = scored[i], g_frames[i]
    rows = np.flatnonzero(no_head[g.span(i)])
    if len(rows):
        raise DataError(
            f"{gt.path}: frame {k} ({frame.file_name}), person {int(rows[0])}: "
            "no head box (bbox_head / x1,y1,x2,y2)"
        )
    _check_track_ids(gt, frame, k, "ground truth")
    _check_track_ids(pred, p_frames[i], k, "prediction")
    raise AssertionError("unreachable: a frame was flagged but passes every check")


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


def _load_pair(
    gt_path: Path, pred_path: Path, need_track_ids: bool
) -> tuple[SequenceBatch, list[str], int]:
    """One sequence's scored people, the notes on it, and its number of GT frames."""
    gt = read_posetrack(gt_path)
    notes: list[str] = []
    batch = prepare_batch(gt, read_posetrack(pred_path), need_track_ids, notes)
    return batch, notes, len(gt)


def load_folders(
    gt_dir: str | Path,
    pred_dir: str | Path,
    need_track_ids: bool = True,
    workers: int | None = None,
) -> LoadedData:
    """Read per-sequence JSON files from two folders (matched by file name) into EvalSequences,
    in up to `workers` processes (default: one per usable core)."""
    loaded, notes = read_folders(gt_dir, pred_dir, need_track_ids, workers)
    sequences = [EvalSequence(name, batch.frames(), batch) for name, batch in loaded]
    return LoadedData(sequences=sequences, notes=notes)


def read_folders(
    gt_dir: str | Path,
    pred_dir: str | Path,
    need_track_ids: bool = True,
    workers: int | None = None,
    then: Callable[[SequenceBatch], Any] | None = None,
) -> tuple[list[tuple[str, Any]], list[str]]:
    """(sequence name, `then(batch)` or the batch) per GT file in name order, and the notes on
    the folders; files are read (and `then` runs) in up to `workers` processes, see
    parallel.parallel_map, so `then` may reduce a batch to what the caller needs. Ground truth
    without one labelled joint in any file is an error: there is nothing to score."""
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

    def load(pair: tuple[Path, Path]) -> tuple[Any, int, list[str], int, int]:
        batch, file_notes, num_gt_frames = _load_pair(*pair, need_track_ids)
        value = batch if then is None else then(batch)
        return value, batch.num_frames, file_notes, num_gt_frames, int(batch.gt_has.sum())

    pairs = [(f, pred_dir / f.name) for f in gt_files]
    weights = [_size(g) + _size(p) for g, p in pairs]
    loaded = parallel_map(load, pairs, weights=weights, workers=workers)
    if not sum(item[4] for item in loaded):
        raise DataError(f"no labelled person in the ground truth of {gt_dir}: nothing to score")
    out, empty_frames, total_frames = [], 0, 0
    for f, (value, num_scored, file_notes, num_gt_frames, _) in zip(gt_files, loaded):
        notes += file_notes
        total_frames += num_gt_frames
        empty_frames += num_gt_frames - num_scored
        if not num_scored:
            notes.append(f"{f.name}: no ground-truth frame with people; sequence not scored")
        out.append((f.stem, value))
    if empty_frames:
        notes.append(
            f"{empty_frames} of {total_frames} ground-truth frames list no people and are not "
            "scored (predictions on them are ignored)"
        )
    return out, notes


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
