"""Released weights by name: hub cache, download once, offline error naming the file and where
it goes, the config each name fits; no network (downloads are faked)."""

import subprocess
import sys
import urllib.error

import pytest
import torch
import torchvision

import posenet.model_zoo as zoo
from posenet.checkpoint import init_backbone, load_weights
from posenet.errors import CheckpointError
from posenet.model_zoo import NAMED_WEIGHTS, NamedWeights, named_weights_config
from tests.posenet.test_checkpoint import HEAD, assert_holds, randomised, tiny


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """Point the hub cache at a temp folder and record download calls (no network)."""
    monkeypatch.setattr(zoo, "hub_checkpoint_dir", lambda: tmp_path / "hub" / "checkpoints")
    calls = []

    def offline(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(zoo, "download_url_to_file", offline)
    return calls


def test_imagenet_by_name_downloads_torchvision_weights(tmp_path, hub, monkeypatch):
    imagenet = randomised(torchvision.models.resnet18(weights=None), seed=4)
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        torch.save(imagenet, dst)

    monkeypatch.setattr(zoo, "download_url_to_file", fake_download)
    model = tiny()
    init_backbone(model, "imagenet")
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    assert calls == [(url, url.rsplit("-", 1)[1][:8])]
    assert_holds(model, {"layer3.1.conv2.weight": imagenet["layer3.1.conv2.weight"]})
    assert (tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]).is_file()
    init_backbone(tiny(), "imagenet")  # cached now: no second download
    assert len(calls) == 1


def test_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match="simplebaseline_res50_coco_256x192"):
        load_weights(tiny(), "simplebaseline_res9_coco")
    with pytest.raises(CheckpointError, match="unknown weights name 'simplebaseline_res9_coco'"):
        named_weights_config("simplebaseline_res9_coco")


def test_named_weights_offline_says_which_file_goes_where(tmp_path, hub):
    with pytest.raises(CheckpointError) as info:
        load_weights(tiny(), "simplebaseline_res50_coco_256x192")
    message = str(info.value)
    target = tmp_path / "hub" / "checkpoints" / "res50_coco_256x192-ec54d7f3_20200709.pth"
    assert "offline" in message and str(target) in message and "no network" in message
    assert hub[0][0] == (
        "https://download.openmmlab.com/mmpose/top_down/resnet/"
        "res50_coco_256x192-ec54d7f3_20200709.pth"
    )
    assert hub[0][2] == "ec54d7f3"  # the SHA-256 prefix in the released file name
    assert not target.exists()


def test_named_weights_download_once_then_cache(tmp_path, hub, monkeypatch):
    source = randomised(tiny(), seed=1)
    url = "https://example.invalid/mmpose/res18_tiny_64x32-0a1b2c3d_20240101.pth"
    monkeypatch.setitem(NAMED_WEIGHTS, "tiny_test", NamedWeights(url, "configs/none.yaml"))
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        state = {
            ("keypoint_head." + k if k.startswith(HEAD) else "backbone." + k): v
            for k, v in source.items()
        }
        torch.save({"meta": {}, "state_dict": state}, dst)

    monkeypatch.setattr(zoo, "download_url_to_file", fake_download)
    for _ in range(2):
        model = tiny()
        report = load_weights(model, "tiny_test")
        assert_holds(model, source)
    assert calls == [(url, "0a1b2c3d")]
    assert report.source == str(tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])


def test_named_weights_config_fits_the_name():
    path = named_weights_config("simplebaseline_res50_posetrack18_256x192")
    assert path.is_file() and path.parts[-2:] == ("posetrack", "res50_256x192.yaml")


def test_imports_point_one_way():
    # checkpoint -> model_zoo and checkpoint -> models; never the other way round.
    code = (
        "import sys, posenet.models.pose_resnet, posenet.model_zoo; "
        "print('posenet.checkpoint' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
