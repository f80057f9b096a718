"""Typed configuration: dataclasses filled from YAML files and `--set key=value` overrides.

There is no global config object: tools load a `Config` and pass it (or the part a function
needs) down. An unknown or misspelt key is an error naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


@dataclass
class ModelConfig:
    """PoseResNet: a ResNet backbone and a deconvolution head producing one heatmap per joint."""

    depth: int = 50  # 18, 34, 50, 101 or 152
    style: str = (
        "pytorch"  # 'pytorch': stride on the bottleneck's 3x3 conv; 'caffe': on its first 1x1
    )
    num_joints: int = 17
    image_size: list[int] = field(default_factory=lambda: [192, 256])  # width, height
    heatmap_size: list[int] = field(default_factory=lambda: [48, 64])  # width, height (image / 4)
    sigma: float = 2.0  # Gaussian target sigma, in heatmap pixels
    num_deconv_layers: int = 3
    num_deconv_filters: list[int] = field(default_factory=lambda: [256, 256, 256])
    num_deconv_kernels: list[int] = field(default_factory=lambda: [4, 4, 4])
    deconv_with_bias: bool = False
    final_conv_kernel: int = 1  # 1 or 3
    pretrained: str = (
        ""  # backbone initialisation: '', 'imagenet', or a path to a ResNet state dict
    )
    init_weights: str = (
        ""  # whole pose net to start training from (name or path), e.g. to fine-tune
    )


@dataclass
class DataConfig:
    """Where a dataset lives and how its samples are augmented."""

    dataset: str = "coco"  # coco, mpii or posetrack
    root: str = "data/coco"
    train_set: str = "train2017"
    val_set: str = "val2017"
    # Augmentation (training only).
    flip: bool = True
    scale_factor: float = 0.3  # random scale in [1 - s, 1 + s]
    rot_factor: float = 40.0  # random rotation in [-r, r] degrees ...
    rot_prob: float = 0.6  # ... applied with this probability
    half_body_prob: float = 0.0
    num_joints_half_body: int = 8
    # Person boxes at validation time.
    use_gt_bbox: bool = False  # the seed validated COCO on GT boxes by default; we use detections
    det_file: str = (
        ""  # COCO-results person detections, e.g. COCO_val2017_detections_AP_H_56_person.json
    )
    image_thre: float = 0.0  # minimum detection score
    in_vis_thre: float = 0.2  # joint score counted as visible when rescoring
    oks_thre: float = 0.9  # OKS-NMS threshold
    pixel_std: float = 200.0  # the seed's unit for `scale`
    box_padding: float = 1.25  # boxes are enlarged by this factor before cropping
    max_samples: int = 0  # use only the first N people of each set (quick checks); 0 = all


@dataclass
class TrainConfig:
    """The seed's recipe by default: Adam 1e-3, x0.1 at epochs 90 and 120, 140 epochs."""

    batch_size: int = 32  # per GPU
    epochs: int = 140
    optimizer: str = "adam"  # adam, adamw or sgd
    lr: float = 1e-3
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    weight_decay: float = (
        0.0  # used by adamw and sgd; the seed's 1e-4 with plain Adam did nothing useful
    )
    momentum: float = 0.9
    nesterov: bool = False
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.001
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    channels_last: bool = True
    # Data-loading processes per training process; -1: the CPU cores shared out, at most 16.
    workers: int = -1
    seed: int = 0
    print_freq: int = 50
    use_target_weight: bool = True  # heatmap loss = MSE x per-joint target weight


@dataclass
class TestConfig:
    """Validation and inference settings."""

    batch_size: int = 64
    flip_test: bool = True
    shift_heatmap: bool = True  # shift flipped heatmaps by one pixel, as the seed does
    post_process: bool = True  # quarter-pixel shift toward the higher neighbour
    dark: bool = False  # distribution-aware sub-pixel refinement
    max_batch_size: int = 256  # crops per forward pass at inference


@dataclass
class Config:
    """A pose-net experiment: model, data, training and test settings."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)
    output_dir: str = "output"


# --------------------------------------------------------------------------------------
# Generic loading, usable for any dataclass tree (the tracker's config uses it too).


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Turn ["a.b=1", "c=[1, 2]"] into a nested dict; values are parsed as YAML scalars/lists."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from None
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _build(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):  # no setting means anything at NaN or infinity
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _build(cls: type[T], data: dict[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key {(where + '.' if where else '') + unknown[0]!r}"
            f" (known keys here: {', '.join(sorted(names))})"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    return cls(**kwargs)


def build_dataclass(cls: type[T], data: dict[str, Any] | None, source: str = "<config>") -> T:
    """Build dataclass `cls` from a nested dict; unknown keys and wrong types raise ConfigError."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return _build(cls, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, but a key given twice in one mapping is an error (YAML would keep the
    last value silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice (lines {seen[key]} and {line})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; errors (not UTF-8, not YAML, a key given
    twice) name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the config as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def load_dataclass(
    cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()
) -> T:
    """Load `cls` from an optional YAML file plus `key=value` overrides (overrides win)."""
    data = read_yaml(path) if path else {}
    extra = parse_overrides(overrides)
    if extra:  # check the overrides alone first, so their errors name --set, not the file
        build_dataclass(cls, _merge(dataclasses.asdict(cls()), extra), "--set")
    source = str(path) if path else "--set"
    return build_dataclass(cls, _merge(data, extra), source)


def config_root() -> Path:
    """The folder of shipped configs: `posenet/configs` in an installed wheel (setup.cfg maps
    the checkout's top-level `configs/` there), else the checkout's `configs/`."""
    here = Path(__file__).resolve().parent
    installed = here / "configs"
    return installed if installed.is_dir() else here.parent / "configs"


def packaged_configs() -> list[str]:
    """The shipped config names, e.g. 'configs/coco/res50_256x192.yaml'."""
    root = config_root()
    return sorted(f"configs/{p.parent.name}/{p.name}" for p in root.glob("*/*.y*ml"))


def resolve_config(name: str | os.PathLike, folder: str | None = None) -> Path:
    """The YAML file for a config: an existing path as given; otherwise a shipped config named
    'configs/coco/res50_256x192.yaml' or 'coco/res50_256x192.yaml' (found from any working
    directory), or by its short name in `folder` ('default' with folder 'tracking').
    ConfigError naming `name` and listing the shipped ones otherwise."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    parts = PurePosixPath(path.as_posix()).parts
    if parts[:1] == ("configs",):
        parts = parts[1:]
    if folder and len(parts) == 1 and not path.suffix:
        parts = (folder, f"{parts[0]}.yaml")
    if parts and not path.is_absolute() and ".." not in parts:
        shipped = config_root().joinpath(*parts)
        if shipped.is_file():
            return shipped
    known = [k for k in packaged_configs() if not folder or k.startswith(f"configs/{folder}/")]
    raise ConfigError(
        f"config file not found: {name} (neither a file here nor a shipped config: "
        f"{', '.join(known) or 'none'})"
    )


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load a pose-net `Config` from YAML (a path or a shipped name, see `resolve_config`) and
    `--set` overrides."""
    cfg = load_dataclass(Config, resolve_config(path) if path else None, overrides)
    validate_config(cfg)
    return cfg


def validate_config(cfg: Config) -> None:
    """Check values that types alone cannot (choices, matching lengths)."""
    m = cfg.model
    if m.depth not in (18, 34, 50, 101, 152):
        raise ConfigError(f"model.depth must be one of 18, 34, 50, 101, 152, got {m.depth}")
    if m.style not in ("pytorch", "caffe"):
        raise ConfigError(f"model.style must be 'pytorch' or 'caffe', got {m.style!r}")
    if len(m.image_size) != 2 or len(m.heatmap_size) != 2:
        raise ConfigError("model.image_size and model.heatmap_size are [width, height]")
    if not (len(m.num_deconv_filters) == len(m.num_deconv_kernels) == m.num_deconv_layers):
        raise ConfigError(
            "model.num_deconv_filters and model.num_deconv_kernels need one entry per deconv layer"
        )
    if m.final_conv_kernel not in (1, 3):
        raise ConfigError(f"model.final_conv_kernel must be 1 or 3, got {m.final_conv_kernel}")
    t = cfg.train
    for key, value, low in (
        ("train.batch_size", t.batch_size, 1),
        ("train.epochs", t.epochs, 1),
        ("train.print_freq", t.print_freq, 1),
        ("train.workers", t.workers, -1),
        ("test.batch_size", cfg.test.batch_size, 1),
        ("test.max_batch_size", cfg.test.max_batch_size, 1),
    ):
        if value < low:
            raise ConfigError(f"{key} must be >= {low}, got {value}")
    for key, value in (("train.lr", t.lr), ("train.lr_factor", t.lr_factor)):
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value in (("train.weight_decay", t.weight_decay), ("train.momentum", t.momentum)):
        if value < 0:
            raise ConfigError(f"{key} must be >= 0, got {value}")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict of a config dataclass, e.g. to store inside a checkpoint."""
    return dataclasses.asdict(cfg)
