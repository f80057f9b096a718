"""PoseTrack evaluation entry points: folders (or prepared sequences) in, AP and MOT out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posenet.errors import UserError

from .batch import SequenceBatch
from .frames import EvalSequence, read_folders
from .mota import MOTCollector, MOTResult
from .pose_ap import APCollector, APResult
from .report import JOINT_NAMES, ap_table, grouped, mot_table

MODES = ("pose", "track", "both")


@dataclass
class PoseTrackEvaluation:
    """AP (mode pose/both) and MOT (mode track/both) results plus messages for the user."""

    ap: APResult | None
    mot: MOTResult | None
    notes: list[str] = field(default_factory=list)
    num_sequences: int = 0
    num_frames: int = 0

    def tables(self) -> str:
        """The tables the official tool prints."""
        parts = []
        if self.ap is not None:
            parts.append(ap_table(self.ap.ap))
        if self.mot is not None:
            m = self.mot
            parts.append(mot_table(m.mota, m.motp, m.precision, m.recall))
        return "\n".join(parts)

    def to_dict(self) -> dict:
        """JSON-ready summary (nan becomes None)."""

        def clean(v):
            return None if v is None or not np.isfinite(v) else round(float(v), 6)

        def per_joint(v: np.ndarray) -> dict:
            return {name: clean(x) for name, x in zip(JOINT_NAMES, v)} | {"total": clean(v[15])}

        out: dict = {
            "num_sequences": self.num_sequences,
            "num_frames": self.num_frames,
            "notes": self.notes,
        }
        if self.ap is not None:
            out["pose"] = {
                "ap": {k: clean(v) for k, v in grouped(self.ap.ap).items()},
                "ap_per_joint": per_joint(self.ap.ap),
                "precision_per_joint": per_joint(self.ap.precision),
                "recall_per_joint": per_joint(self.ap.recall),
            }
        if self.mot is not None:
            m = self.mot
            out["track"] = {
                "mota": {k: clean(v) for k, v in grouped(m.mota).items()},
                "motp": clean(m.motp[15]),
                "precision": clean(m.precision[15]),
                "recall": clean(m.recall[15]),
                "mota_per_joint": per_joint(m.mota),
                "motp_per_joint": per_joint(m.motp),
                "num_switches": int(m.num_switches.sum()),
                "num_misses": int(m.num_misses.sum()),
                "num_false_positives": int(m.num_false_positives.sum()),
                "num_objects": int(m.num_objects.sum()),
            }
        return out


def _score_parts(batch: SequenceBatch, mode: str) -> tuple:
    """One sequence's AP part and MOT counts (None where the mode leaves them out)."""
    return (
        APCollector.batch_part(batch) if mode in ("pose", "both") else None,
        MOTCollector.sequence_counts(batch) if mode in ("track", "both") else None,
    )


def _pool(scored: list[tuple[str, int, tuple]], mode: str) -> PoseTrackEvaluation:
    """Pool (name, scored frames, `_score_parts`) of the sequences, in order."""
    ap = APCollector() if mode in ("pose", "both") else None
    mot = MOTCollector() if mode in ("track", "both") else None
    notes = []
    for name, num_frames, (ap_part, mot_counts) in scored:
        if ap is not None:
            ap.add_part(ap_part)
        if mot is not None:
            mot.add_counts(mot_counts)
            if num_frames == 1:
                notes.append(
                    f"{name}: one scored frame only; it adds nothing to tracking "
                    "(poseval fails here)"
                )
    return PoseTrackEvaluation(
        ap=ap.result() if ap is not None else None,
        mot=mot.result() if mot is not None else None,
        notes=notes,
        num_sequences=len(scored),
        num_frames=sum(n for _, n, _ in scored),
    )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")


def evaluate_sequences(sequences: list[EvalSequence], mode: str = "both") -> PoseTrackEvaluation:
    """Score prepared sequences: AP over all scored frames, MOT over all but each sequence's last.

    poseval quirks kept: the last scored frame of every sequence is left out of tracking, so a
    sequence with one scored frame adds nothing to it (poseval stops there with an IndexError);
    a frame with no GT or no predicted person adds one miss and one false positive per joint
    to tracking, whatever the number of people.
    """
    _check_mode(mode)
    scored = []
    for seq in sequences:
        batch = seq.batch if seq.batch is not None else SequenceBatch.from_frames(seq.frames)
        scored.append((seq.name, len(seq.frames), _score_parts(batch, mode)))
    return _pool(scored, mode)


def evaluate_posetrack(
    gt_dir: str | Path, pred_dir: str | Path, mode: str = "both", workers: int | None = None
) -> PoseTrackEvaluation:
    """PoseTrack AP and/or MOTA of the prediction folder against the ground-truth folder; each
    sequence is read and scored in one of up to `workers` processes (default: one per usable
    core), the parts pooled here: the same numbers as `evaluate_sequences(load_folders(...))`."""
    _check_mode(mode)
    scored, notes = read_folders(
        gt_dir,
        pred_dir,
        need_track_ids=mode != "pose",
        workers=workers,
        then=lambda batch: (batch.num_frames, _score_parts(batch, mode)),
    )
    result = _pool([(name, n, parts) for name, (n, parts) in scored], mode)
    result.notes = notes + result.notes
    return result
