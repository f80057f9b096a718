"""Track every sequence of a PoseTrack-2018-layout dataset split into prediction JSONs.

    python tools/track_posetrack.py --data DIR --split val --out DIR [--detections FILE.json]
        [--config configs/tracking/default.yaml] [--set key=value] [--device cuda|cpu]
        [--format posetrack18|posetrack17] [--pose-weights W] [--det-weights W] [--render]
        [--overwrite]
    torchrun --nproc-per-node 8 tools/track_posetrack.py --data DIR --split val --out DIR

DIR holds annotations/<split>/<seq>.json and images/<split>/<seq>/. Each prediction file has
the name of its annotation file and lists the same frames in the same order, ready for
`tools/eval_posetrack.py --gt DIR/annotations/<split> --pred OUT`. --detections: a detection
JSON (COCO results or PoseTrack) covering the split, matched to frames through the image ids
and file names of the annotation files. Under torchrun the sequences are shared among the
processes (longest first to the least loaded); OUT/summaries/<seq>.json marks each finished
sequence, a rerun skips those (--overwrite redoes them), and rank 0 writes OUT/summary.json.
These predictions are made offline, so frames where a track was lost for up to
OFFLINE_FILL_GAPS frames get interpolated poses (tracking.fill_gaps; `--set
tracking.fill_gaps=0` turns it off).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from posenet import distributed as dist
from posenet.cli import check_output_dir, run_cli
from posenet.errors import ConfigError, DataError
from posenet.posetrack.formats import base_name, read_posetrack
from tracker.config import (
    POSETRACK_FORMATS,
    apply_options,
    load_tracker_config,
)
from tracker.output import TrackingOutput, TrackingSummary, write_summary
from tracker.pipeline import FrameResult, PoseTracker
from tracker.replay import ReplayDetector
from tracker.run import (
    Job,
    add_tracking_args,
    init_processes,
    mark_incomplete,
    print_progress,
    run_jobs,
)
from tracker.video import Frame, list_image_files

OFFLINE_FILL_GAPS = 25  # frames (1 s at PoseTrack's 25 fps); --set tracking.fill_gaps=0: off


class SequenceDetections:
    """A ReplayDetector for a whole split, seen from one sequence: frame names are prefixed
    with the sequence folder so '000000.jpg' matches only this sequence's images."""

    def __init__(self, replay: ReplayDetector, prefix: str) -> None:
        self.replay, self.prefix = replay, prefix.rstrip("/") + "/"

    def detect(self, frames: Sequence[Frame]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes and scores of each frame of this sequence."""
        return [self.replay.detect_frame(f.index, self.prefix + f.name) for f in frames]


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


def main(argv: Sequence[str] | None = None) -> int:
    """Track each sequence of the split; print one line per sequence and a total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tracking_args(parser, POSETRACK_FORMATS, "detection JSON covering the split")
    parser.add_argument("--data", required=True, help="dataset root (annotations/, images/)")
    parser.add_argument("--split", default="val", help="split folder name (default val)")
    parser.add_argument("--out", required=True, help="folder for the prediction JSONs")
    parser.add_argument("--render", action="store_true", help="also write <seq>.mp4 renders")
    parser.add_argument("--overwrite", action="store_true", help="redo finished sequences")
    args = parser.parse_args(argv)
    check_output_dir(args.out, "--out")
    cfg = load_tracker_config(args.config, args.overrides)
    if not any(o.split("=", 1)[0].strip() == "tracking.fill_gaps" for o in args.overrides):
        # Predictions for evaluation are made offline: fill the frames a track was lost in.
        cfg.tracking.fill_gaps = OFFLINE_FILL_GAPS
    apply_options(cfg, args.device, args.format, args.pose_weights, args.det_weights)
    if cfg.output.format not in POSETRACK_FORMATS:
        raise ConfigError(f"output.format {cfg.output.format}: evaluation needs posetrack18/17")
    data = Path(args.data)
    annotation_dir = data / "annotations" / args.split
    annotations = sorted(annotation_dir.glob("*.json")) if annotation_dir.is_dir() else []
    if not annotations:
        raise DataError(f"{annotation_dir}: no annotation files (*.json)")
    sequences = [(path, read_posetrack(path)) for path in annotations]
    replay = None
    if args.detections:
        names = {
            f.image_id: f.file_name
            for _, seq in sequences
            for f in seq.frames
            if f.image_id is not None
        }
        replay = ReplayDetector(
            args.detections, score_thr=cfg.detector.score_thr, image_names=names
        )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    folders, jobs = {}, []
    for path, seq in sequences:
        folders[path.stem] = sequence_folder(
            data, args.split, path, [f.file_name for f in seq.frames]
        )
        outputs = [out_dir / path.name] + [out_dir / f"{path.stem}.mp4"] * args.render
        summary = out_dir / "summaries" / f"{path.stem}.json"
        jobs.append(Job(path.stem, str(folders[path.stem]), summary, outputs))
    init_processes(cfg)
    tracker: PoseTracker | None = None
    by_name = dict(zip(folders, sequences))

    def track(job: Job) -> TrackingSummary:
        nonlocal tracker
        tracker = tracker or PoseTracker(cfg, detector=replay)  # once per process
        path, seq = by_name[job.name]
        folder = folders[job.name]
        if replay is not None:
            tracker.detector = SequenceDetections(replay, folder.relative_to(data).as_posix())
        mark_incomplete(job.summary_path, job.source)
        with TrackingOutput(
            out_dir / path.name,
            path.stem,
            format=cfg.output.format,
            video_path=out_dir / f"{path.stem}.mp4" if args.render else None,
            render_thr=cfg.output.render_thr,
            derive_head=cfg.output.derive_head,
            source=str(folder),
        ) as output:
            results = tracker.track(folder, keep_images=args.render)
            wanted = [(f.file_name, f.frame_index) for f in seq.frames]
            matched = write_aligned(output, results, wanted)
        summary = output.summary
        write_summary(summary, job.summary_path)
        print_progress(f"{path.stem}: {len(seq)} listed frames ({matched} tracked)", summary)
        return summary

    def length(job: Job) -> int:
        return len(list_image_files(folders[job.name]))

    try:
        total = run_jobs(jobs, track, length, out_dir / "summary.json", args.overwrite)
    finally:
        dist.cleanup()
    if total is None:
        return 0
    print(total.format())
    return 0 if total.complete else 2


if __name__ == "__main__":
    sys.exit(run_cli(main))
