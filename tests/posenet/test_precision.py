"""Precision names, what 'auto' means per device and caller, and the autocast contexts."""

import pytest
import torch

from posenet.errors import ConfigError
from posenet.precision import (
    autocast,
    cpu_flags,
    cpu_has_bf16,
    cpu_inference_precision,
    no_autocast,
    precision_dtype,
    resolve_precision,
)


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


def test_cpu_default_is_the_callers_choice_for_auto_on_cpu():
    assert resolve_precision("auto", "cpu", cpu_default="bf16") == "bf16"
    assert resolve_precision("auto", "cuda", cpu_default="bf16") == "bf16"  # the CUDA default
    assert resolve_precision("fp32", "cpu", cpu_default="bf16") == "fp32"  # explicit wins


@pytest.mark.parametrize(
    "flags, native",
    [
        ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),  # Cooper Lake, Zen 4
        ("fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8", True),  # Sapphire Rapids
        ("fpu sse avx2 avx512f avx512_vnni", False),  # Skylake/Cascade Lake: no bf16
        ("fpu sse avx2 fma", False),  # a laptop
    ],
)
def test_native_bf16_is_read_from_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    assert cpu_has_bf16(cpuinfo) is native
    assert ("avx2" in cpu_flags(cpuinfo)) is True


def test_unreadable_cpuinfo_means_no_native_bf16(tmp_path):
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert cpu_has_bf16(tmp_path / "missing") is False


def test_cpu_inference_precision_follows_the_flags(monkeypatch):
    monkeypatch.setattr("posenet.precision.cpu_has_bf16", lambda *a: True)
    assert cpu_inference_precision() == "bf16"
    monkeypatch.setattr("posenet.precision.cpu_has_bf16", lambda *a: False)
    assert cpu_inference_precision() == "fp32"
