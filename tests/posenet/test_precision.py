"""Precision names, what 'auto' means per device and caller, and the autocast contexts."""

import pytest
import torch

from posenet.errors import ConfigError
from posenet.precision import autocast, no_autocast, precision_dtype, resolve_precision


def test_auto_is_the_callers_cuda_default_and_fp32_elsewhere():
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("auto", torch.device("cuda:1"), cuda_default="fp16") == "fp16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"  # an explicit name is kept


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="'fp8'"):
        resolve_precision("fp8", "cpu")
    with pytest.raises(ConfigError, match="'auto'"):
        precision_dtype("auto")  # only resolved names have a dtype


def test_autocast_contexts_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
        with no_autocast(torch.device("cpu")):
            assert (a @ b).dtype == torch.float32
    with autocast("cpu", "auto"):  # auto on CPU is fp32: no autocast
        assert (a @ b).dtype == torch.float32
    assert precision_dtype("fp32") is None and precision_dtype("fp16") is torch.float16
