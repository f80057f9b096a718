"""Score PoseTrack predictions against ground truth: per-joint AP and MOTA, as poseval prints.

python tools/eval_posetrack.py --gt DIR --pred DIR [--mode pose|track|both] [--json out.json]
    [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from posenet.cli import HelpFormatter, check_not_inputs, check_output_file, run_cli
from posenet.errors import UserError
from posenet.files import write_json
from posenet.posetrack.evaluation import MODES, evaluate_posetrack


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate, print the official tables (and notes on stderr), optionally write JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--gt", required=True, help="folder of ground-truth JSON files, one per sequence"
    )
    parser.add_argument(
        "--pred", required=True, help="folder of prediction JSON files with the same names"
    )
    parser.add_argument(
        "--mode", choices=MODES, default="both", help="pose: AP; track: MOTA; both (default)"
    )
    parser.add_argument(
        "--json", dest="json_out", help="also write the numbers to this JSON file (default: none)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes reading the files (default: the usable cores)",
    )
    args = parser.parse_args(argv)
    if args.json_out:
        check_output_file(args.json_out, "--json")
        folders = [Path(args.gt), Path(args.pred)]
        inputs = [*folders, *(f for d in folders for f in d.glob("*.json"))]
        check_not_inputs([args.json_out], inputs, "--json")
        if Path(args.json_out).resolve().parent in {d.resolve() for d in folders}:
            raise UserError(  # the next evaluation would read the scores as a sequence
                f"--json {args.json_out}: inside an input folder; write the scores elsewhere"
            )
    start = time.perf_counter()
    if args.workers is not None and args.workers < 1:
        parser.error("--workers: expected a positive number")
    result = evaluate_posetrack(args.gt, args.pred, args.mode, workers=args.workers)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(result.tables())
    elapsed = time.perf_counter() - start
    summary = (
        f"{result.num_sequences} sequences, {result.num_frames} scored frames, {elapsed:.2f} s"
    )
    print(summary, file=sys.stderr)
    if args.json_out:
        write_json(args.json_out, result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
