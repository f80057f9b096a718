"""SimpleBaseline pose nets: ResNet + deconvolution head, heatmap codec, batched inference.

Public API: `load_config`, `build_model`, `load_weights`, `PoseEstimator`.
"""

from .errors import CheckpointError, ConfigError, DataError, UserError

__all__ = [
    "Config",
    "load_config",
    "build_model",
    "load_weights",
    "PoseEstimator",
    "UserError",
    "ConfigError",
    "CheckpointError",
    "DataError",
]


def __getattr__(name: str):
    # Imported lazily so that `import posenet` stays light: the evaluators and writers load
    # neither torch nor YAML.
    if name in ("Config", "load_config"):
        from . import config

        return getattr(config, name)
    if name == "build_model":
        from .models.pose_resnet import build_model

        return build_model
    if name == "load_weights":
        from .checkpoint import load_weights

        return load_weights
    if name == "PoseEstimator":
        from .inference import PoseEstimator

        return PoseEstimator
    raise AttributeError(f"module 'posenet' has no attribute {name!r}")
