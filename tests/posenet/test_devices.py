"""resolve_device: every device string torch cannot use is a one-line ConfigError."""

from __future__ import annotations

import pytest
import torch

from posenet.devices import resolve_device
from posenet.errors import ConfigError


def test_known_devices():
    assert resolve_device("cpu") == "cpu"
    assert (
        resolve_device(None)
        == resolve_device("auto")
        == ("cuda" if torch.cuda.is_available() else "cpu")
    )


@pytest.mark.parametrize(
    "device, match",
    [
        ("tpu", "'tpu': unknown; use auto, cpu, cuda or cuda:N"),
        ("cuda:x", "'cuda:x': unknown"),
        ("cuda:99", "cuda:99"),
        ("meta", "'meta' is not available here"),
    ],
)
def test_unusable_devices(device, match):
    with pytest.raises(ConfigError, match=match) as info:
        resolve_device(device)
    assert "\n" not in str(info.value)
