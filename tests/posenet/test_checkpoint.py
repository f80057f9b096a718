import os

import numpy as np
import pytest
import torch
import torchvision

import posenet.checkpoint as ckpt
from posenet.checkpoint import (
    init_backbone,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    strip_module_prefix,
)
from posenet.errors import CheckpointError
from posenet.models.pose_resnet import PoseResNet
from posenet.transforms import IMAGENET_MEAN, IMAGENET_STD

HEAD = ("deconv_layers.", "final_layer.")


def tiny(num_joints: int = 5) -> PoseResNet:
    return PoseResNet(depth=18, num_joints=num_joints, num_deconv_filters=(16, 16, 16))


def randomised(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict of `model`'s keys and shapes filled with distinct random values."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith("running_var"):  # a valid variance, so the nets can run
            out[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif value.is_floating_point():
            out[key] = torch.randn(value.shape, generator=gen)
        else:
            out[key] = torch.randint(0, 1000, value.shape, generator=gen)
    return out


def assert_holds(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    own = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(own[key], value), key


class Opaque:  # an arbitrary Python object that a weights-only load must refuse
    pass


@pytest.fixture(scope="module")
def source() -> dict[str, torch.Tensor]:
    return randomised(tiny(), seed=1)


# --- the seed's files ------------------------------------------------------------------


def test_seed_plain_state_dict_in_the_old_file_format(tmp_path, source):
    # The released pose_resnet_*.pth.tar files: PyTorch 0.4 era, no BatchNorm counters.
    old = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "pose_resnet_18_256x192.pth.tar"
    torch.save(old, path, _use_new_zipfile_serialization=False)
    model = tiny()
    report = load_weights(model, str(path))
    assert_holds(model, old)
    assert report.layout == "seed" and report.loaded == len(old) and not report.missing


def test_model_best_with_module_prefix(tmp_path, source):
    path = tmp_path / "model_best.pth.tar"
    torch.save({f"module.{k}": v for k, v in source.items()}, path)
    model = tiny()
    report = load_weights(model, path)
    assert_holds(model, source)
    assert report.layout == "seed" and report.loaded == len(source)


def test_training_checkpoint_with_optimizer_and_numpy_perf(tmp_path, source):
    model = tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(
        {
            "epoch": 7,
            "model": "pose_resnet",
            "perf": np.float64(0.7),
            "state_dict": {f"module.{k}": v for k, v in source.items()},
            "optimizer": optimizer.state_dict(),
        },
        path,
    )
    report = load_weights(model, path)
    assert_holds(model, source)
    assert report.layout == "training" and report.meta["epoch"] == 7
    assert report.meta["perf"] == pytest.approx(0.7)


# --- mmpose ----------------------------------------------------------------------------


@pytest.mark.parametrize("head_prefix", ["keypoint_head.", "head."])  # mmpose 0.x / 1.x
def test_mmpose_checkpoint(tmp_path, source, head_prefix):
    state = {
        (head_prefix + k if k.startswith(HEAD) else "backbone." + k): v for k, v in source.items()
    }
    meta = {
        "mmpose_version": "1.3.0",
        "epoch": 210,
        "dataset_meta": {"sigmas": np.array([0.026, 0.025], np.float32), "num_keypoints": 17},
    }
    path = tmp_path / "res18_coco_256x192-0123abcd_20200709.pth"
    torch.save({"meta": meta, "state_dict": state}, path)
    model = tiny()
    report = load_weights(model, path)
    assert_holds(model, source)
    assert report.layout == "mmpose" and report.meta["meta"]["epoch"] == 210


# --- torchvision ImageNet backbones ----------------------------------------------------


def torchvision_state(seed: int) -> dict[str, torch.Tensor]:
    return randomised(torchvision.models.resnet18(weights=None), seed)


def test_torchvision_resnet_fills_the_backbone_only(tmp_path):
    imagenet = torchvision_state(seed=2)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(imagenet, path)
    model = tiny()
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(HEAD)}
    report = init_backbone(model, path)
    assert_holds(model, {k: v for k, v in imagenet.items() if not k.startswith("fc.")})
    assert_holds(model, head_before)
    assert report.layout == "torchvision" and report.loaded == len(imagenet) - 2
    # load_weights recognises the same file as a backbone initialisation.
    other = tiny()
    assert load_weights(other, path).layout == "torchvision"
    assert torch.equal(other.layer4[1].bn2.running_var, imagenet["layer4.1.bn2.running_var"])


def test_backbone_init_is_strict_over_backbone_keys(tmp_path):
    imagenet = torchvision_state(seed=3)
    del imagenet["layer2.0.downsample.0.weight"]
    imagenet["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "resnet18-broken.pth"
    torch.save(imagenet, path)
    with pytest.raises(CheckpointError) as info:
        init_backbone(tiny(), path)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing keys: layer2.0.downsample.0.weight" in message
    assert "1 unexpected keys: layer5.0.conv1.weight" in message


# --- mismatches ------------------------------------------------------------------------


def test_strict_mismatch_lists_missing_and_unexpected_keys(tmp_path, source):
    state = {k: v for k, v in source.items() if not k.startswith("final_layer.")}
    state.update({f"extra.{i:02d}": torch.zeros(1) for i in range(15)})
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(tiny(), path)
    message = str(info.value)
    assert str(path) in message and "PoseResNet-18" in message
    assert "2 missing keys: final_layer.weight, final_layer.bias" in message
    assert "15 unexpected keys: extra.00" in message and "extra.09" in message
    assert "extra.10" not in message and "(5 more)" in message


def test_shape_mismatch_strict_and_lenient(tmp_path):
    source = randomised(tiny(num_joints=7), seed=5)
    path = tmp_path / "seven_joints.pth"
    torch.save(source, path)
    with pytest.raises(
        CheckpointError,
        match=r"final_layer.weight: checkpoint \(7, 16, 1, 1\) "
        r"vs model \(5, 16, 1, 1\)",
    ):
        load_weights(tiny(), path)
    model = tiny()
    final_before = model.final_layer.weight.clone()
    report = load_weights(model, path, strict=False)
    assert len(report.mismatched) == 2 and report.loaded == len(source) - 2
    assert torch.equal(model.final_layer.weight, final_before)
    assert_holds(model, {k: v for k, v in source.items() if not k.startswith("final_layer.")})


def test_lenient_load_reports_missing_keys(tmp_path, source):
    path = tmp_path / "no_head.pth"
    torch.save({k: v for k, v in source.items() if not k.startswith(HEAD)}, path)
    model = tiny()
    report = load_weights(model, path, strict=False)
    assert "final_layer.weight" in report.missing and "deconv_layers.0.weight" in report.missing
    assert torch.equal(model.conv1.weight, source["conv1.weight"])


# --- bad files and names ---------------------------------------------------------------


def test_missing_file_directory_and_not_a_torch_file(tmp_path):
    with pytest.raises(CheckpointError, match="nothere.pth: weights file not found"):
        load_weights(tiny(), str(tmp_path / "nothere.pth"))
    with pytest.raises(CheckpointError, match=f"{tmp_path}: is not a file"):
        load_weights(tiny(), tmp_path)
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="notes.pth: not a readable torch weights file"):
        load_weights(tiny(), text)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save({"a": 1, "b": "x"}, path)
    with pytest.raises(CheckpointError, match="numbers.pth: does not look like a state dict"):
        load_weights(tiny(), path)
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="expected a dict of weights, got list"):
        load_checkpoint(path)


def test_pickled_objects_need_trust(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "extra": Opaque()}, path)
    with pytest.raises(CheckpointError, match="Opaque.*not loaded") as info:
        load_checkpoint(path)
    assert "trusted" not in str(info.value) and "weights_only" not in str(info.value)
    assert isinstance(load_checkpoint(path, trusted=True)["extra"], Opaque)


def test_truncated_file_is_one_line(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save({"conv1.weight": torch.zeros(8)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable torch weights file") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 250


# --- saving ----------------------------------------------------------------------------


def test_save_checkpoint_round_trip_and_no_temp_files(tmp_path, source):
    path = tmp_path / "out" / "checkpoint.pth"
    save_checkpoint({"epoch": 3, "state_dict": source}, path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in source.items())
    assert os.listdir(path.parent) == ["checkpoint.pth"]


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    save_checkpoint({"epoch": 1}, path)

    def broken_save(obj, f):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.pth"]


def test_strip_module_prefix():
    assert strip_module_prefix({"module.a.b": 1, "c": 2, "x.module.d": 3}) == {
        "a.b": 1,
        "c": 2,
        "x.module.d": 3,
    }


def test_seed_bgr_weights_adapted_to_rgb_input(tmp_path, source):
    seed = tiny().eval()
    seed.load_state_dict(source)
    path = tmp_path / "pose_resnet_18_bgr.pth.tar"
    torch.save(source, path)
    ours = tiny().eval()
    load_weights(ours, path, from_bgr=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    rgb = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        want = seed.bn1(seed.conv1((rgb.flip(1) - mean) / std))  # the seed: BGR, RGB mean/std
        got = ours.bn1(ours.conv1((rgb - mean) / std))
    # Identical wherever conv1 does not read its zero padding (2 output pixels at each side).
    torch.testing.assert_close(got[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # without the adaptation RGB input gives something else
        plain = seed.bn1(seed.conv1((rgb - mean) / std))
    assert not torch.allclose(plain[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], atol=1e-2)
    adapted = ("conv1.weight", "bn1.running_mean")
    assert_holds(ours, {k: v for k, v in source.items() if k not in adapted})
