"""Validate a pose net on the config's validation set: COCO AP/AR, MPII PCKh or PoseTrack AP.

    python tools/valid.py --config configs/coco/res50_256x192.yaml --weights W [--set key=value]
        [--device cuda|cpu] [--output-dir DIR] [--json out.json]

W is a file (training checkpoint, model_best.pth, the seed's .pth.tar, mmpose) or a released
name. COCO uses the seed's post-processing (rescoring, OKS-NMS) and flip test by default;
MPII also writes pred.mat. Results files go to --output-dir (default: the config's output_dir).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from posenet.cli import (
    HelpFormatter,
    add_config_args,
    check_not_inputs,
    check_output_dir,
    check_output_file,
    run_cli,
)
from posenet.config import load_config
from posenet.datasets.coco import det_file_path
from posenet.devices import resolve_device
from posenet.engine import evaluate_weights
from posenet.errors import UserError
from posenet.evaluation.table import report_table

EXAMPLE_CONFIG = "configs/coco/res50_256x192.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, score the weights, print the table (and write --json)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    add_config_args(parser, example=EXAMPLE_CONFIG)
    parser.add_argument("--weights", required=True, help="pose-net weights: a file or a name")
    parser.add_argument(
        "--from-bgr",
        action="store_true",
        help="the weights are the seed's BGR-trained release files",
    )
    parser.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    parser.add_argument(
        "--output-dir", help="where results files go (default: the config's output_dir)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="data-loading processes; -1: the cores less one (default: the config's "
        "train.workers, -1 unless set, as training uses)",
    )
    parser.add_argument("--json", help="also write the table to this JSON file (default: none)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < -1:
        raise UserError(f"--workers {args.workers}: expected 0 or more, or -1 (the cores less one)")
    cfg = load_config(args.config, args.overrides)
    out = check_output_dir(
        args.output_dir or cfg.output_dir, "--output-dir" if args.output_dir else "output_dir"
    )
    if args.json:
        check_output_file(args.json, "--json")
        inputs = [args.weights, args.config, det_file_path(cfg.data.root, cfg.data.det_file)]
        check_not_inputs([args.json], inputs, "--json")
    device = resolve_device(args.device)
    table = evaluate_weights(cfg, args.weights, device, out, args.workers, args.from_bgr)
    report_table(table, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
