"""Every pose-net YAML shipped in configs/coco|mpii|posetrack loads and builds the model
it names; config names resolve from any working directory."""

import re

import pytest
import torch

from posenet.config import load_config, packaged_configs, resolve_config
from posenet.errors import ConfigError
from posenet.model_zoo import NAMED_WEIGHTS, named_weights_config
from posenet.models.pose_resnet import build_model
from tests.conftest import REPO_ROOT

CONFIGS = [c for c in packaged_configs() if not c.startswith("configs/tracking/")]
NAME = re.compile(r"configs/(coco|mpii|posetrack)/res(\d+)_(caffe_)?(\d+)x(\d+)\.yaml")


def test_one_config_per_seed_result_row():
    expected = {
        f"configs/coco/res{d}_{s}.yaml"
        for d in (50, 101, 152)
        for s in ("256x192", "384x288", "caffe_256x192")
    }
    expected |= {
        f"configs/mpii/res{d}_{s}.yaml" for d in (50, 101, 152) for s in ("256x256", "384x384")
    }
    expected.add("configs/posetrack/res50_256x192.yaml")
    assert set(CONFIGS) == expected


@pytest.mark.parametrize("rel", CONFIGS)
def test_config_loads_and_builds_its_model(rel):
    dataset, depth, caffe, height, width = NAME.fullmatch(rel).groups()
    text = resolve_config(rel).read_text()
    assert re.match(r"# .*\d", text), "the file starts with a comment giving a reference number"
    cfg = load_config(rel)
    m = cfg.model
    assert cfg.data.dataset == dataset
    assert (m.depth, m.style) == (int(depth), "caffe" if caffe else "pytorch")
    assert m.image_size == [int(width), int(height)]
    assert m.heatmap_size == [int(width) // 4, int(height) // 4]
    assert m.sigma == (2.0 if int(height) == 256 else 3.0)
    assert m.num_joints == (16 if dataset == "mpii" else 17)
    with torch.device("meta"):
        model = build_model(cfg)
        out = model.eval()(torch.empty(1, 3, int(height), int(width)))
    assert out.shape == (1, m.num_joints, m.heatmap_size[1], m.heatmap_size[0])
    assert model.depth == int(depth) and len(model.layer3) == {50: 6, 101: 23, 152: 36}[int(depth)]
    assert model.layer2[0].conv1.stride == ((2, 2) if caffe else (1, 1))


@pytest.mark.parametrize("rel", [c for c in CONFIGS if "/posetrack/" not in c])
def test_seed_training_recipe(rel):
    cfg = load_config(rel)
    t, d = cfg.train, cfg.data
    assert (t.optimizer, t.lr, t.lr_steps, t.lr_factor, t.epochs, t.batch_size) == (
        "adam",
        1e-3,
        [90, 120],
        0.1,
        140,
        32,
    )
    assert cfg.model.pretrained == "imagenet"
    if d.dataset == "coco":
        assert (d.root, d.scale_factor, d.rot_factor) == ("data/coco", 0.3, 40.0)
        assert d.det_file == (  # under data.root
            "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
        )
    else:
        assert (d.root, d.train_set, d.val_set) == ("data/mpii", "train", "valid")
        assert (d.scale_factor, d.rot_factor) == (0.25, 30.0)


def test_posetrack_fine_tuning_schedule():
    cfg = load_config("configs/posetrack/res50_256x192.yaml")
    data = cfg.data
    assert (data.root, data.train_set, data.val_set) == ("data/posetrack18", "train", "val")
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.lr_steps) == (20, 1e-4, [10, 15])


@pytest.mark.parametrize("name", sorted(NAMED_WEIGHTS))
def test_named_weights_point_at_a_matching_config(name):
    depth, dataset, size = re.fullmatch(r"simplebaseline_res(\d+)_(\w+?)_(\d+x\d+)", name).groups()
    filename = NAMED_WEIGHTS[name].filename
    assert filename.startswith(f"res{depth}_{dataset}_{size}-")
    cfg = load_config(named_weights_config(name))
    height, width = map(int, size.split("x"))
    assert cfg.model.depth == int(depth) and cfg.model.image_size == [width, height]
    assert cfg.data.dataset == dataset.replace("posetrack18", "posetrack")


def test_config_names_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = REPO_ROOT / "configs" / "coco" / "res50_256x192.yaml"  # the top-level folder
    assert resolve_config("configs/coco/res50_256x192.yaml") == shipped
    assert resolve_config("coco/res50_256x192.yaml") == shipped
    tracking = REPO_ROOT / "configs" / "tracking" / "default.yaml"
    assert resolve_config("configs/tracking/default.yaml") == tracking
    assert resolve_config("default", folder="tracking") == tracking  # the short name
    local = tmp_path / "configs" / "coco" / "res50_256x192.yaml"  # a file here wins
    local.parent.mkdir(parents=True)
    local.write_text("model:\n  depth: 18\n")
    assert resolve_config("configs/coco/res50_256x192.yaml") == local.relative_to(tmp_path)
    assert load_config("configs/coco/res50_256x192.yaml").model.depth == 18


def test_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError) as info:
        resolve_config("configs/coco/res9_256x192.yaml")
    message = str(info.value)
    assert "configs/coco/res9_256x192.yaml" in message and "not found" in message
    assert "configs/coco/res50_256x192.yaml" in message
    assert "configs/mpii/res50_256x256.yaml" in message
    with pytest.raises(ConfigError, match="configs/tracking/default.yaml"):
        resolve_config("nope", folder="tracking")
