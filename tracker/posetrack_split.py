"""Track every sequence of a PoseTrack-2018-layout dataset split into prediction JSONs: the
library side of tools/track_posetrack.py.

The split's root holds annotations/<split>/<seq>.json and images/<split>/<seq>/. Each prediction
file has the name of its annotation file and lists the same frames in the same order, ready for
the PoseTrack evaluator. Replayed detections (one file for the whole split) reach each sequence
through `SequenceDetections`, which matches frame names under that sequence's folder only.
Under torchrun the sequences are shared among the processes (tracker.run.run_jobs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from posenet.errors import ConfigError, DataError
from posenet.posetrack.formats import PoseTrackSequence, base_name, read_posetrack
from tracker.config import POSETRACK_FORMATS, TrackerConfig, apply_options, load_tracker_config
from tracker.output import TrackingOutput, TrackingSummary, write_summary
from tracker.pipeline import PoseTracker
from tracker.replay import ReplayDetector
from tracker.run import (
    SUMMARY,
    Job,
    hold_output,
    init_processes,
    print_progress,
    run_jobs,
    running_marker,
)
from tracker.types import Detections, Frame, FrameResult
from tracker.video import list_image_files

OFFLINE_FILL_GAPS = 25  # frames (1 s at PoseTrack's 25 fps); --set tracking.fill_gaps=0: off


def split_config(
    config: str,
    overrides: Sequence[str] = (),
    device: str | None = None,
    format: str | None = None,
    pose_weights: str | None = None,
    det_weights: str | None = None,
) -> TrackerConfig:
    """The tracker config for a split's predictions: made offline, so frames a track was lost
    in are filled (OFFLINE_FILL_GAPS unless tracking.fill_gaps is overridden); PoseTrack
    output only, as evaluation needs."""
    cfg = load_tracker_config(config, list(overrides))
    if not any(o.split("=", 1)[0].strip() == "tracking.fill_gaps" for o in overrides):
        cfg.tracking.fill_gaps = OFFLINE_FILL_GAPS
    apply_options(cfg, device, format, pose_weights, det_weights)
    if cfg.output.format not in POSETRACK_FORMATS:
        raise ConfigError(f"output.format {cfg.output.format}: evaluation needs posetrack18/17")
    return cfg


@dataclass
class SplitSequence:
    """One sequence of a split: its annotation file, the frames it lists and its image folder."""

    annotation: Path
    gt: PoseTrackSequence
    folder: Path

    @property
    def name(self) -> str:
        """The sequence's name: its annotation file's stem."""
        return self.annotation.stem


def sequence_folder(data: Path, split: str, annotation: Path, file_names: list[str]) -> Path:
    """The image folder of a sequence: where its file names point, else images/<split>/<seq>."""
    if file_names:
        folder = (data / file_names[0]).parent
        if folder.is_dir():
            return folder
    folder = data / "images" / split / annotation.stem
    if not folder.is_dir():
        raise DataError(f"{annotation}: image folder {folder} not found")
    return folder


def list_sequences(data: str | Path, split: str) -> list[SplitSequence]:
    """The sequences of `split` under `data`, by annotation file name; DataError when the
    split has no annotation files or a sequence has no image folder."""
    data = Path(data)
    annotation_dir = data / "annotations" / split
    annotations = sorted(annotation_dir.glob("*.json")) if annotation_dir.is_dir() else []
    if not annotations:
        raise DataError(f"{annotation_dir}: no annotation files (*.json)")
    sequences = []
    for path in annotations:
        gt = read_posetrack(path)
        folder = sequence_folder(data, split, path, [f.file_name for f in gt.frames])
        sequences.append(SplitSequence(path, gt, folder))
    return sequences


def split_detections(
    path: str | Path, sequences: Sequence[SplitSequence], score_thr: float
) -> ReplayDetector:
    """A detection JSON covering the split (COCO results or PoseTrack), its image ids matched
    to frames through the annotation files' image ids and file names."""
    names = {
        f.image_id: f.file_name for s in sequences for f in s.gt.frames if f.image_id is not None
    }
    return ReplayDetector(path, score_thr=score_thr, image_names=names)


class SequenceDetections:
    """A ReplayDetector for a whole split, seen from one sequence: frame names are prefixed
    with the sequence folder so '000000.jpg' matches only this sequence's images."""

    def __init__(self, replay: ReplayDetector, prefix: str) -> None:
        self.replay, self.prefix = replay, prefix.rstrip("/") + "/"

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Boxes and scores of each frame of this sequence."""
        return [self.replay.detect_frame(f.index, self.prefix + f.name) for f in frames]


class SplitTracker:
    """A PoseTracker per sequence around parts built once per process: the first sequence's
    tracker builds the pose net, the flow and (without replayed detections) the detector, and
    the later ones share them; with replayed detections each gets its SequenceDetections."""

    def __init__(self, cfg: TrackerConfig, data: Path, replay: ReplayDetector | None) -> None:
        self.cfg, self.data, self.replay = cfg, Path(data), replay
        self._first: PoseTracker | None = None

    def for_sequence(self, seq: SplitSequence) -> PoseTracker:
        """The tracker for one sequence (the first call builds the shared parts)."""
        detector = None
        if self.replay is not None:
            detector = SequenceDetections(self.replay, seq.folder.relative_to(self.data).as_posix())
        if self._first is None:
            self._first = PoseTracker(self.cfg, detector=detector)
            return self._first
        first = self._first
        return PoseTracker(
            self.cfg,
            detector=first.detector if detector is None else detector,
            pose_estimator=first.pose_estimator,
            flow=first.flow,
        )


def write_aligned(
    output: TrackingOutput, results: Iterable[FrameResult], frames: Sequence[tuple[str, int]]
) -> int:
    """Write one entry per wanted (file_name, frame_index), in that order, as evaluation
    needs: a result is matched by base name; a wanted frame with no result gets an empty
    entry; results of unwanted frames are tracked but not written. Returns results matched."""
    wanted = {base_name(name) for name, _ in frames}
    pending: dict[str, FrameResult] = {}  # results that came before their turn (unsorted lists)
    results = iter(results)
    matched = 0
    for file_name, frame_index in frames:
        key = base_name(file_name)
        while key not in pending:
            result = next(results, None)
            if result is None:
                break
            if base_name(result.name) in wanted:
                if base_name(result.name) != key:
                    result.image = None  # buffered out of order: keep the numbers only
                pending[base_name(result.name)] = result
        result = pending.pop(key, None)
        if result is None:
            output.write_empty(file_name, frame_index)
        else:
            output.write(result, file_name=file_name)
            matched += 1
    close = getattr(results, "close", None)
    if close is not None:  # frames after the last wanted one need no tracking
        close()
    return matched


def track_sequence(
    tracker: PoseTracker, seq: SplitSequence, out_dir: Path, summary_path: Path, render: bool
) -> TrackingSummary:
    """Track one sequence into out_dir/<annotation name> (and <seq>.mp4 when `render`), its
    summary to `summary_path`. A hidden marker beside the summary says the sequence is being
    written: a run that fails or is killed leaves it (a rerun redoes the sequence) and leaves
    an earlier summary as it was."""
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    marker = running_marker(summary_path)
    marker.touch()
    with TrackingOutput.from_config(
        tracker.config.output,
        out_dir / seq.annotation.name,
        seq.name,
        video_path=out_dir / f"{seq.name}.mp4" if render else None,
        source=str(seq.folder),
        tracking=tracker.config.tracking,  # a sequence is a finite folder: linked by `auto`
        kind="folder",
    ) as output:
        results = tracker.track(seq.folder, keep_images=render)
        wanted = [(f.file_name, f.frame_index) for f in seq.gt.frames]
        matched = write_aligned(output, results, wanted)
    summary = output.summary
    write_summary(summary, summary_path)  # atomic: the earlier one stays until this is whole
    marker.unlink(missing_ok=True)
    print_progress(f"{seq.name}: {len(seq.gt)} listed frames ({matched} tracked)", summary)
    return summary


def sequence_outputs(out_dir: Path, seq: SplitSequence, render: bool) -> list[Path]:
    """The files a complete run of `seq` leaves in out_dir: its predictions (the annotation
    file's name) and, when `render`, <seq>.mp4."""
    return [out_dir / seq.annotation.name] + [out_dir / f"{seq.name}.mp4"] * render


def sequence_summary(out_dir: Path, seq: SplitSequence) -> Path:
    """Where the summary of `seq` goes: out_dir/summaries/<seq>.json."""
    return out_dir / "summaries" / f"{seq.name}.json"


def split_outputs(
    out_dir: str | Path, sequences: Sequence[SplitSequence], render: bool = False
) -> list[Path]:
    """Every file a run of the split writes in out_dir: per sequence its outputs and summary,
    and summary.json (for posenet.cli.check_not_inputs)."""
    out_dir = Path(out_dir)
    files = [out_dir / SUMMARY]
    for seq in sequences:
        files += [*sequence_outputs(out_dir, seq, render), sequence_summary(out_dir, seq)]
    return files


def split_inputs(data: str | Path, sequences: Sequence[SplitSequence]) -> list[Path]:
    """What a run of the split reads, which no output may replace: the dataset root, every
    annotation file and every image folder."""
    return [Path(data), *(s.annotation for s in sequences), *(s.folder for s in sequences)]


def track_split(
    cfg: TrackerConfig,
    data: str | Path,
    split: str,
    out_dir: str | Path,
    detections: str | None = None,
    render: bool = False,
    overwrite: bool = False,
    sequences: Sequence[SplitSequence] | None = None,
) -> TrackingSummary | None:
    """Track this process's share of the split's sequences into `out_dir` (finished ones are
    skipped unless `overwrite`); rank 0 writes out_dir/summary.json and returns the merged
    summary, the other processes None. `sequences`: the split's, when the caller has listed
    them already. The run holds out_dir (tracker.run.hold_output): a second run on it
    refuses. The caller cleans up the process group."""
    data, out_dir = Path(data), Path(out_dir)
    sequences = list_sequences(data, split) if sequences is None else list(sequences)
    replay = None
    if detections:
        replay = split_detections(detections, sequences, cfg.detector.score_thr)
    by_name = {seq.name: seq for seq in sequences}
    jobs = [
        Job(
            seq.name,
            str(seq.folder),
            sequence_summary(out_dir, seq),
            sequence_outputs(out_dir, seq, render),
        )
        for seq in sequences
    ]
    init_processes(cfg)
    trackers = SplitTracker(cfg, data, replay)

    def track(job: Job) -> TrackingSummary:
        seq = by_name[job.name]
        return track_sequence(trackers.for_sequence(seq), seq, out_dir, job.summary_path, render)

    def length(job: Job) -> int:
        return len(list_image_files(by_name[job.name].folder))

    with hold_output(out_dir):
        return run_jobs(jobs, track, length, out_dir / SUMMARY, overwrite)
