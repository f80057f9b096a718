"""Typed configuration of the video pose tracker (configs/tracking/*.yaml + `--set key=value`).

Defaults are the paper's settings: Faster R-CNN person boxes with score >= 0.5, the previous
frame's joints (score >= 0.4) carried along optical flow into boxes enlarged by 15 %, boxes
unified by NMS, poses from a SimpleBaseline R50 256x192 COCO net, flow-OKS similarity,
greedy matching over a queue of the last 5 frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from posenet.config import load_dataclass, resolve_config
from posenet.errors import ConfigError
from posenet.runtimes import BACKEND_CHOICES as POSE_BACKENDS
from tracker.linking import LinkConfig
from tracker.matching import MATCHERS as MATCHER_FUNCTIONS

SIMILARITIES = ("flow_oks", "oks", "iou")
# posenet.precision's names (that module loads torch; tests/tracker/test_config.py checks them)
POSE_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MOTIONS = ("velocity", "none")
SCALES = ("history", "last")
MATCHERS = tuple(MATCHER_FUNCTIONS)  # derived from the implementations
FLOWS = ("dis", "farneback", "raft", "raft_small", "raft_large", "none")
LAYOUTS = ("auto", "coco", "posetrack18")
POSETRACK_FORMATS = ("posetrack18", "posetrack17")
FORMATS = (*POSETRACK_FORMATS, "jsonl")  # jsonl: one line per frame, as it is tracked
NO_WEIGHTS = ("", "none", "None", "random")  # weights values meaning "random initialisation"
# tracking.link: auto links tracklets after the pass over a file or folder (whose end is known)
# and not over streams, cameras, URLs or JSON lines (written live, ids final as they go).
LINKS = ("auto", "on", "off")
LINKED_KINDS = ("file", "folder")  # tracker.video.source_kind values that auto links


@dataclass
class DetectorConfig:
    """Person detector: a torchvision model, or boxes replayed from a detection JSON file."""

    name: str = "fasterrcnn_resnet50_fpn_v2"  # a torchvision detection model
    # A detection JSON (COCO results or PoseTrack-like) whose boxes replace the model's
    # (--detections); "" runs the model.
    replay: str = ""
    weights: str = "DEFAULT"  # torchvision weights name, a state-dict file, or "none" (random)
    score_thr: float = 0.5  # the paper keeps boxes with score >= 0.5
    batch_size: int = 4  # frames per detector forward pass
    precision: str = "auto"  # CUDA autocast dtype: auto (fp16), fp16, bf16, fp32
    # Keyframe detection: the detector runs on every `interval`-th frame (1: every frame, the
    # paper); in between, people come from the previous frame's joints moved along the flow.
    interval: int = 1


def check_detector(cfg: DetectorConfig, source: str = "config") -> None:
    """detector.name names a model: a detection file there (the old way to replay boxes) is
    an error that points to detector.replay, so a file is never taken for a model name."""
    name = str(cfg.name)
    if name.lower().endswith(".json") or Path(name).is_file():
        raise ConfigError(
            f"{source}: detector.name {name!r} is a file, not a torchvision model; replayed "
            f"detections go in detector.replay (--set detector.replay={name}, or --detections)"
        )


@dataclass
class PoseConfig:
    """Pose net: a pose-net config YAML, its weights and optional overrides of that config."""

    config: str = "configs/coco/res50_256x192.yaml"
    weights: str = "simplebaseline_res50_coco_256x192"  # name, path, or "none" (random init)
    overrides: list[str] = field(default_factory=list)  # e.g. ["test.flip_test=false"]
    layout: str = "auto"  # joints the net predicts: coco, posetrack18, or auto (from data.dataset)
    # torch, or on a CPU the net exported to ONNX (cached beside the weights) in onnxruntime or
    # openvino (pip extras); auto: the fastest installed on a CPU, torch on a GPU.
    backend: str = "torch"
    # auto: bf16 on a GPU and on a CPU with native bf16 (AMX, AVX512-BF16), else fp32; or
    # fp32 / bf16 / fp16 (onnxruntime: fp32 only)
    precision: str = "auto"


@dataclass
class FlowConfig:
    """Optical flow prev -> cur, used to carry joints (box propagation and flow-OKS)."""

    name: str = "dis"  # dis (CPU), farneback, raft_small / raft_large (GPU), none (no flow)
    scale: float = 0.5  # dis/farneback: frames are shrunk by this factor first
    preset: str = "fast"  # dis: ultrafast, fast, medium


@dataclass
class TrackingConfig:
    """Box unification, person scores, association and track rules. Where our default differs
    from the paper's tracker (configs/tracking/paper.yaml), the paper's value is noted."""

    similarity: str = "flow_oks"  # flow_oks | oks (no flow) | iou (boxes, no flow)
    matcher: str = "hungarian"  # hungarian | greedy (the paper)
    min_similarity: float = 0.2  # pairs below this are never matched
    keypoint_thr: float = 0.4  # joints that are propagated and compared
    propagate_boxes: bool = True  # add boxes from the previous frame's joints moved along flow
    box_enlarge: float = 0.15  # propagated boxes: joint extent enlarged by this fraction
    nms_thr: float = 0.5  # IoU above which a propagated box is dropped in favour of a detection
    pose_nms_thr: float = 0.7  # OKS above which a propagated pose is a detected person's again
    person_joint_thr: float = 0.2  # joints above this score count in the person score
    # Identities through occlusion.
    lost_seconds: float = 1.0  # lost tracks kept this long (paper: 0 = queue_length frames)
    queue_length: int = 5  # L_Q, frames a lost track is kept when lost_seconds is 0 (paper: 5)
    motion: str = "velocity"  # velocity: lost people move on at their speed (paper: none)
    velocity_smoothing: float = 0.5  # weight of the old velocity in its running mean
    scale: str = "history"  # OKS scale from the track's full poses (paper: last, its last box)
    scale_min_joints: int = 8  # confident joints that make a pose "full" for the scale
    scale_smoothing: float = 0.8  # weight of the old scale in its running mean
    min_common_joints: int = 2  # pairs sharing fewer joints: with overlapping boxes at least,
    # else at most (paper: 0, no such rule) ...
    few_joints_similarity: float = 0.25  # ... this similar (OKS over their common joints)
    recent_first: bool = False  # the paper: true, the last frame's tracks are matched first,
    # then all older ones; ours: one round for all confirmed tracks (tentative ones after),
    # where a lost track must be clearly more similar than a recent one:
    lost_penalty: float = 0.05  # a lost track's similarity is scaled by 1 - this (paper: 0)
    reid_weight: float = 0.8  # lost tracks: similarity is max(OKS, this x re-identification)
    reid_reach: float = 0.6  # ... r of its position term exp(-d^2 / 2 r^2), d in person sizes
    # (tracker/similarity.py reid_similarity; paper: 0, no re-identification)
    confirm_hits: int = 2  # frames a new track is seen in before it is shown (paper: 1)
    confirm_window: int = 3  # ... among its first this many frames; else it is dropped
    fill_gaps: int = 0  # re-found after <= this many missing frames: interpolate them (0: off)
    smoothing: bool = False  # One-Euro filter on output joints (causal, per track and joint)
    smoothing_min_cutoff: float = 1.0  # Hz; lower: smoother when still
    smoothing_beta: float = 0.05  # higher: less lag when moving fast
    # Offline linking (tracker/linking.py): after the pass over a file or folder, join the
    # tracklets that are one person (auto: files and folders, not streams or JSON lines).
    # auto | on | off; YAML reads on/off as true/false: both spellings are taken (see check_link)
    link: Literal["auto", "on", "off"] = "auto"
    link_max_gap: int = LinkConfig.max_gap  # frames; longer gaps are not bridged
    link_min_score: float = LinkConfig.min_score  # links scoring below this are not made
    link_reach: float = LinkConfig.reach  # person sizes the two paths may miss each other by
    link_turn_reach: float = LinkConfig.turn_reach  # velocity change, person sizes
    link_shape_reach: float = LinkConfig.shape_reach  # RMS of log limb proportions
    link_size_reach: float = LinkConfig.size_reach  # |log| torso length ratio across the gap
    # The online pass's own re-finds after >= this many missing frames are re-judged by the
    # assignment (0: kept as they are); its join then scores at least link_keep_score.
    link_split_gap: int = LinkConfig.split_gap
    link_keep_score: float = LinkConfig.keep_score
    # A track never confirmed online is kept when it links to a shown one at this score (1: off)
    link_glimpse_min_score: float = LinkConfig.glimpse_min_score


@dataclass
class OutputConfig:
    """What the tools write."""

    format: str = "posetrack18"  # posetrack18 (COCO-like), posetrack17 (annolist) or jsonl
    render: bool = True  # write an MP4 with skeletons and ids
    render_thr: float = 0.3  # joints drawn at or above this score
    derive_head: bool = True  # COCO nets: derive PoseTrack head_bottom/head_top (see keypoints.py)
    timeline: bool = True  # files and folders: <name>_tracks.png, one row per track


@dataclass
class TrackerConfig:
    """The whole tracker: device, components, tracking rules and outputs."""

    device: str = "auto"  # auto (cuda if available), cuda, cuda:1, cpu
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


def validate_tracker_config(cfg: TrackerConfig, source: str = "config") -> None:
    """Check choices that types alone cannot; the error names the key and the bad value."""
    if isinstance(cfg.tracking.link, bool):  # YAML 1.1: `link: off` reads as false
        cfg.tracking.link = "on" if cfg.tracking.link else "off"
    choices = (
        ("tracking.similarity", cfg.tracking.similarity, SIMILARITIES),
        ("tracking.matcher", cfg.tracking.matcher, MATCHERS),
        ("tracking.motion", cfg.tracking.motion, MOTIONS),
        ("tracking.scale", cfg.tracking.scale, SCALES),
        ("flow.name", cfg.flow.name.lower(), FLOWS),
        ("pose.layout", cfg.pose.layout, LAYOUTS),
        ("pose.backend", cfg.pose.backend, POSE_BACKENDS),
        ("pose.precision", cfg.pose.precision, POSE_PRECISIONS),
        ("output.format", cfg.output.format, FORMATS),
        ("tracking.link", cfg.tracking.link, LINKS),
    )
    for key, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    positive = (
        ("detector.batch_size", cfg.detector.batch_size),
        ("detector.interval", cfg.detector.interval),
        ("tracking.queue_length", cfg.tracking.queue_length),
        ("tracking.confirm_hits", cfg.tracking.confirm_hits),
        ("tracking.confirm_window", cfg.tracking.confirm_window),
    )
    for key, value in positive:
        if value < 1:
            raise ConfigError(f"{source}: {key} must be >= 1, got {value}")
    check_detector(cfg.detector, source)
    if cfg.detector.interval > 1 and not cfg.tracking.propagate_boxes:
        raise ConfigError(
            f"{source}: detector.interval={cfg.detector.interval} needs "
            "tracking.propagate_boxes=true (between keyframes people come only from propagation)"
        )
    for key in ("fill_gaps", "lost_seconds", "min_common_joints", "scale_min_joints"):
        value = getattr(cfg.tracking, key)
        if value < 0:
            raise ConfigError(f"{source}: tracking.{key} must be >= 0, got {value}")
    check_link(cfg, source)
    if cfg.tracking.reid_weight > 0 and cfg.tracking.reid_reach <= 0:
        raise ConfigError(
            f"{source}: tracking.reid_reach must be > 0, got {cfg.tracking.reid_reach}"
        )
    if cfg.tracking.confirm_hits > cfg.tracking.confirm_window:
        raise ConfigError(
            f"{source}: tracking.confirm_hits ({cfg.tracking.confirm_hits}) must be <= "
            f"tracking.confirm_window ({cfg.tracking.confirm_window}): no track could be confirmed"
        )
    for key in (
        "min_similarity",
        "keypoint_thr",
        "person_joint_thr",
        "few_joints_similarity",
        "nms_thr",
        "pose_nms_thr",
        "velocity_smoothing",
        "scale_smoothing",
        "lost_penalty",
        "reid_weight",
    ):
        value = getattr(cfg.tracking, key)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{source}: tracking.{key} must be in [0, 1], got {value}")


def check_link(cfg: TrackerConfig, source: str = "config") -> None:
    """The linking keys: JSON lines are written live (a line's ids are final when it is
    written), so `link: on` cannot apply to them; the knobs must make a link possible."""
    t = cfg.tracking
    if t.link == "on" and cfg.output.format == "jsonl":
        raise ConfigError(
            f"{source}: tracking.link=on needs a PoseTrack output (output.format posetrack18 "
            "or posetrack17): JSON lines are written live, before the input ends"
        )
    if t.link_max_gap < 1:
        raise ConfigError(f"{source}: tracking.link_max_gap must be >= 1, got {t.link_max_gap}")
    if not 0.0 <= t.link_min_score <= 1.0:
        raise ConfigError(
            f"{source}: tracking.link_min_score must be in [0, 1], got {t.link_min_score}"
        )
    for key in ("link_reach", "link_turn_reach", "link_shape_reach", "link_size_reach"):
        if getattr(t, key) <= 0:
            raise ConfigError(f"{source}: tracking.{key} must be > 0, got {getattr(t, key)}")
    if t.link_split_gap < 0:
        raise ConfigError(
            f"{source}: tracking.link_split_gap must be >= 0 (0: never), got {t.link_split_gap}"
        )
    for key in ("link_keep_score", "link_glimpse_min_score"):
        if not 0.0 <= getattr(t, key) <= 1.0:
            raise ConfigError(f"{source}: tracking.{key} must be in [0, 1], got {getattr(t, key)}")


def link_config(t: TrackingConfig, format: str, kind: str) -> LinkConfig | None:
    """The linking rules for a run writing `format` from a source of `kind`
    (tracker.video.source_kind), or None when this run is not linked: `off`, JSON lines, or
    `auto` on a source without a known end (stream, camera, URL)."""
    if t.link == "off" or format == "jsonl":
        return None
    if t.link == "auto" and kind not in LINKED_KINDS:
        return None
    return LinkConfig(
        max_gap=t.link_max_gap,
        min_score=t.link_min_score,
        reach=t.link_reach,
        turn_reach=t.link_turn_reach,
        shape_reach=t.link_shape_reach,
        size_reach=t.link_size_reach,
        split_gap=t.link_split_gap,
        keep_score=t.link_keep_score,
        glimpse_min_score=t.link_glimpse_min_score,
    )


def load_tracker_config(
    path: str | Path | None = None, overrides: Iterable[str] = ()
) -> TrackerConfig:
    """TrackerConfig from an optional YAML file (a path, a shipped config such as
    'configs/tracking/default.yaml' found from any working directory, or its short name
    'default') plus `key=value` overrides (overrides win)."""
    path = resolve_config(path, folder="tracking") if path else None
    cfg = load_dataclass(TrackerConfig, path, overrides)
    validate_tracker_config(cfg, str(path) if path else "--set")
    return cfg


def needs_flow(cfg: TrackerConfig) -> bool:
    """Whether optical flow is computed: a stage uses it (flow-OKS similarity or box
    propagation) and it is not turned off (`flow.name: none`: people move by their velocity)."""
    uses = cfg.tracking.similarity == "flow_oks" or cfg.tracking.propagate_boxes
    return uses and cfg.flow.name.lower() != "none"


DEFAULT_CONFIG = "configs/tracking/default.yaml"


def apply_options(
    cfg: TrackerConfig,
    device: str | None = None,
    format: str | None = None,
    pose_weights: str | None = None,
    det_weights: str | None = None,
    detections: str | None = None,
) -> TrackerConfig:
    """Put the tools' dedicated options (those given) over a loaded config and re-validate."""
    if device:
        cfg.device = device
    if format:
        cfg.output.format = format
    if pose_weights:
        cfg.pose.weights = pose_weights
    if det_weights:
        cfg.detector.weights = det_weights
    if detections:
        cfg.detector.replay = detections
    validate_tracker_config(cfg, "command line")
    return cfg
