"""Export a pose net to ONNX (dynamic batch) and check it against torch on the same crops.

    python tools/export_onnx.py --weights simplebaseline_res50_coco_256x192 [--out FILE.onnx]
    python tools/export_onnx.py --config configs/coco/res50_256x192.yaml --weights W.pth
    python tools/export_onnx.py --config configs/coco/res50_256x192.yaml --weights none

W is a file, a released name (brings its own config) or `none` (random init, for testing).
The graph takes normalised RGB crops (N, 3, H, W) float32 named `crops` and gives `heatmaps`
(N, K, H/4, W/4). The check runs the export in ONNX Runtime (else OpenVINO, fp32) at batch 1
and 3 and prints the largest difference relative to the heatmap maximum; above --tolerance
nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from posenet.cli import HelpFormatter, add_config_args, check_not_inputs, check_output_file, run_cli
from posenet.errors import UserError
from posenet.export import CHECK_TOLERANCE, check_backend, compare_with_torch, export_onnx
from posenet.files import AtomicFile
from posenet.inference import build_pose_net
from posenet.runtimes import ONNXRUNTIME, OPENVINO

NO_WEIGHTS = ("none", "random")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    add_config_args(
        parser,
        help="YAML config file (default: the released weights' own; needed for a file or none)",
    )
    parser.add_argument(
        "--weights", required=True, help="a weights file, a released name, or none (random init)"
    )
    parser.add_argument(
        "--from-bgr", action="store_true", help="the weights are the seed's BGR-trained files"
    )
    parser.add_argument("--out", help="the .onnx file (default: <weights>_<W>x<H>.onnx here)")
    parser.add_argument(
        "--check-with",
        choices=(ONNXRUNTIME, OPENVINO),
        help="runtime of the check (default: onnxruntime if installed, else openvino)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=CHECK_TOLERANCE,
        help="largest difference allowed, relative to the heatmap maximum (default %(default)g)",
    )
    args = parser.parse_args(argv)
    random_init = args.weights.lower() in NO_WEIGHTS
    if random_init and not args.config:
        parser.error("--config is required with --weights none")
    overrides = ["model.pretrained=", *args.overrides] if random_init else args.overrides
    weights = None if random_init else args.weights
    model, cfg = build_pose_net(args.config, weights, overrides, from_bgr=args.from_bgr)
    width, height = cfg.model.image_size
    stem = "pose_random" if random_init else Path(args.weights).name.split(".")[0]
    out = check_output_file(args.out or f"{stem}_{width}x{height}.onnx", "--out")
    if weights is not None:
        check_not_inputs([out], [weights], "--out")
    backend = args.check_with or check_backend()

    target = AtomicFile(out, suffix=".onnx")
    try:
        export_onnx(model, target.tmp, cfg.model.image_size)
        diff = compare_with_torch(model, target.tmp, cfg.model.image_size, backend=backend)
        verdict = "ok" if diff <= args.tolerance else "TOO LARGE"
        print(
            f"{backend} vs torch fp32, batch 1 and 3, {width}x{height} crops: largest "
            f"difference {diff:.2e} of the heatmap maximum (tolerance {args.tolerance:g}): "
            f"{verdict}"
        )
        if diff > args.tolerance:
            raise UserError(f"the export differs from torch by {diff:.2e}; {out} not written")
        target.commit()
    finally:
        if not target.done:  # a failed export or check leaves no file behind
            target.abort()
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.1f} MB; input {width}x{height}, batch dynamic)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
