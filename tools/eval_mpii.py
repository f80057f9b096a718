"""Score a saved MPII prediction file (the seed's pred.mat) with PCKh and print the seed's table.

python tools/eval_mpii.py PRED.mat [--gt data/mpii/annot/gt_valid.mat] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from posenet.cli import HelpFormatter, check_output_file, run_cli
from posenet.evaluation.mpii import load_pred_mat, pckh_table
from posenet.evaluation.table import report_table


def main(argv: Sequence[str] | None = None) -> int:
    """Score the prediction file against the GT file, print the PCKh table, optionally save it."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("pred", help="pred.mat: key 'preds', (N, 16, 2), 1-based pixels")
    parser.add_argument("--gt", default="data/mpii/annot/gt_valid.mat", help="gt_valid.mat")
    parser.add_argument(
        "--json", help="also write the table to this JSON file (default: print only)"
    )
    args = parser.parse_args(argv)
    if args.json:
        check_output_file(args.json, "--json")
    table = pckh_table(load_pred_mat(args.pred), args.gt)
    report_table(table, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
