"""Released pose-net weights by name: where each file is downloaded from, the torch hub cache
it lands in, and the config each one fits. Offline, the error names the file and where to put it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.hub import download_url_to_file

from .config import resolve_config
from .errors import CheckpointError

MMPOSE_URL = "https://download.openmmlab.com/mmpose/top_down/resnet/"
IMAGENET = "imagenet"  # the name for torchvision's ImageNet ResNet of the model's depth


@dataclass(frozen=True)
class NamedWeights:
    """Released weights: where to download them and the config they fit (a name shipped in
    configs/, see `posenet.config.resolve_config`)."""

    url: str
    config: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _mmpose(filename: str, config: str) -> NamedWeights:
    return NamedWeights(MMPOSE_URL + filename, "configs/" + config)


# mmpose's SimpleBaseline models (RGB input, ImageNet mean/std; COCO-17, MPII-16 or PoseTrack18
# slots). Comments: mmpose's COCO val2017 AP (56.4 AP detector boxes), MPII val PCKh@0.5, or
# PoseTrack18 val mAP (annotated boxes).
NAMED_WEIGHTS: dict[str, NamedWeights] = {
    "simplebaseline_res50_coco_256x192":  # 71.8
    _mmpose("res50_coco_256x192-ec54d7f3_20200709.pth", "coco/res50_256x192.yaml"),
    "simplebaseline_res50_coco_384x288":  # 73.1
    _mmpose("res50_coco_384x288-e6f795e9_20200709.pth", "coco/res50_384x288.yaml"),
    "simplebaseline_res101_coco_256x192":  # 72.6
    _mmpose("res101_coco_256x192-6e6babf0_20200708.pth", "coco/res101_256x192.yaml"),
    "simplebaseline_res101_coco_384x288":  # 74.8
    _mmpose("res101_coco_384x288-8c71bdc9_20200709.pth", "coco/res101_384x288.yaml"),
    "simplebaseline_res152_coco_256x192":  # 73.5
    _mmpose("res152_coco_256x192-f6e307c2_20200709.pth", "coco/res152_256x192.yaml"),
    "simplebaseline_res152_coco_384x288":  # 75.0
    _mmpose("res152_coco_384x288-3860d4c9_20200709.pth", "coco/res152_384x288.yaml"),
    "simplebaseline_res50_mpii_256x256":  # 88.2
    _mmpose("res50_mpii_256x256-418ffc88_20200812.pth", "mpii/res50_256x256.yaml"),
    "simplebaseline_res101_mpii_256x256":  # 88.7
    _mmpose("res101_mpii_256x256-416f5d71_20200812.pth", "mpii/res101_256x256.yaml"),
    "simplebaseline_res152_mpii_256x256":  # 89.0
    _mmpose("res152_mpii_256x256-3ecba29d_20200812.pth", "mpii/res152_256x256.yaml"),
    "simplebaseline_res50_posetrack18_256x192":  # 81.0
    _mmpose("res50_posetrack18_256x192-a62807c7_20201028.pth", "posetrack/res50_256x192.yaml"),
}

# Released file names carry the first hex digits of their SHA-256 ("name-<hash>[_date].pth").
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})(?:_\d+)?\.pth")


def hub_checkpoint_dir() -> Path:
    """The torch hub cache folder for weight files (shared with torchvision)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def download_weights(url: str) -> Path:
    """The cached file for `url`, downloaded once into the hub cache; CheckpointError offline."""
    filename = url.rsplit("/", 1)[-1]
    dst = hub_checkpoint_dir() / filename
    if dst.is_file():
        return dst
    match = _HASH_IN_NAME.search(filename)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        print(f"Downloading {url} to {dst}", file=sys.stderr)
        download_url_to_file(
            url,
            str(dst),
            hash_prefix=match.group(1) if match else None,
            progress=sys.stderr.isatty(),
        )
    except OSError as err:  # URLError, HTTPError, timeouts, no space, read-only cache
        raise CheckpointError(
            f"cannot download {url} ({err}); offline, put the file {filename} at {dst}"
        ) from None
    except RuntimeError as err:  # a SHA-256 that does not match the name
        raise CheckpointError(f"downloaded {url} is corrupt ({err}); try again") from None
    return dst


def named_weights_config(name: str) -> Path:
    """The config YAML that goes with named weights, e.g. configs/coco/res50_256x192.yaml."""
    if name not in NAMED_WEIGHTS:
        raise CheckpointError(f"unknown weights name {name!r} (known: {', '.join(NAMED_WEIGHTS)})")
    return resolve_config(NAMED_WEIGHTS[name].config)


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """A local file for a weights name (downloaded if needed) or a path (which must exist)."""
    key = os.fspath(name_or_path)
    if key in NAMED_WEIGHTS:
        return download_weights(NAMED_WEIGHTS[key].url)
    path = Path(key).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"{path}: weights file not found (and not a known weights name: "
            f"{', '.join(NAMED_WEIGHTS)})"
        )
    return path


def imagenet_url(depth: int) -> str:
    """torchvision's original ImageNet weights (IMAGENET1K_V1, as the seed used) for a depth."""
    import torchvision.models as tvm

    try:
        return getattr(tvm, f"ResNet{depth}_Weights").IMAGENET1K_V1.url
    except AttributeError:
        raise CheckpointError(f"no torchvision ImageNet weights for ResNet-{depth}") from None
