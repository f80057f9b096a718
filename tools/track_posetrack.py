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
No output may replace an input (OUT = annotations/<split> is refused), and a second run on the
same OUT refuses while the first goes on.
These predictions are made offline, so frames where a track was lost for up to
OFFLINE_FILL_GAPS frames get interpolated poses (tracking.fill_gaps; `--set
tracking.fill_gaps=0` turns it off). The per-sequence job is tracker/posetrack_split.py's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from posenet import distributed as dist
from posenet.cli import HelpFormatter, check_not_inputs, check_output_dir, run_cli
from tracker.config import POSETRACK_FORMATS
from tracker.posetrack_split import (
    list_sequences,
    split_config,
    split_inputs,
    split_outputs,
    track_split,
)
from tracker.run import add_tracking_args


def main(argv: Sequence[str] | None = None) -> int:
    """Track each sequence of the split; print one line per sequence and a total."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    add_tracking_args(parser, POSETRACK_FORMATS, "detection JSON covering the split")
    parser.add_argument("--data", required=True, help="dataset root (annotations/, images/)")
    parser.add_argument("--split", default="val", help="split folder name (default val)")
    parser.add_argument("--out", required=True, help="folder for the prediction JSONs")
    parser.add_argument("--render", action="store_true", help="also write <seq>.mp4 renders")
    parser.add_argument("--overwrite", action="store_true", help="redo finished sequences")
    args = parser.parse_args(argv)
    out = check_output_dir(args.out, "--out")
    cfg = split_config(
        args.config,
        args.overrides,
        args.device,
        args.format,
        args.pose_weights,
        args.det_weights,
    )
    sequences = list_sequences(args.data, args.split)
    config = [args.config] if args.config and Path(args.config).is_file() else []
    inputs = [*split_inputs(args.data, sequences), *config, *filter(None, [args.detections])]
    check_not_inputs(split_outputs(out, sequences, args.render), inputs, "--out")
    try:
        total = track_split(
            cfg,
            args.data,
            args.split,
            out,
            args.detections,
            args.render,
            args.overwrite,
            sequences=sequences,
        )
    finally:
        dist.cleanup()
    if total is None:
        return 0
    print(total.format())
    return 0 if total.complete else 2


if __name__ == "__main__":
    sys.exit(run_cli(main))
