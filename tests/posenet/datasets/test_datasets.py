"""COCO, MPII and PoseTrack datasets on the real shared files: sample counts, crops and targets
that agree with the annotated joints, the seed's MPII conversions, augmentation, evaluation of
ground truth fed back, and errors that name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from posenet.config import load_config
from posenet.datasets import build_dataset
from posenet.errors import ConfigError, DataError
from posenet.transforms import get_affine_transform
from tests.conftest import shared_file

COCO = "configs/coco/res50_256x192.yaml"
MPII = "configs/mpii/res50_256x256.yaml"
POSETRACK = "configs/posetrack/res50_256x192.yaml"
SMALL = ["model.image_size=[96, 128]", "model.heatmap_size=[24, 32]"]


def collate_meta(meta: list[dict]) -> dict[str, np.ndarray]:
    """Per-sample meta dicts -> arrays, as the evaluation gets them from the loader."""
    return {k: np.asarray([m[k] for m in meta]) for k in meta[0]}


def coco_cfg(root, *extra):
    return load_config(COCO, [f"data.root={root}", *SMALL, *extra])


def peaks_in_image(dataset, i):
    """Target maxima of item i mapped back to image pixels, with the visible flags."""
    _, target, weight, meta = dataset[i]
    t = target.numpy()
    k, h, w = t.shape
    idx = t.reshape(k, -1).argmax(1)
    xy = np.stack([idx % w, idx // w], 1) * 4.0  # heatmap -> crop pixels
    inv = get_affine_transform(meta["center"], meta["scale"], 0.0, dataset.input_size, inv=True)
    return xy @ inv[:, :2].T + inv[:, 2], weight.numpy()[:, 0] > 0, meta


def test_coco_train_items_match_the_annotations():
    root = shared_file("coco-mini/annotations/person_keypoints_train2017.json").parents[1]
    cfg = coco_cfg(root)
    train = build_dataset(cfg, train=True)
    anns = json.loads((root / "annotations/person_keypoints_train2017.json").read_text())
    with_kps = [a for a in anns["annotations"] if max(a["keypoints"]) > 0]
    assert len(train) == len(with_kps) == 86
    val_style = build_dataset(
        coco_cfg(root, "data.use_gt_bbox=true", "data.val_set=train2017"), train=False
    )
    image, target, weight, meta = val_style[0]
    assert image.shape == (3, 128, 96) and target.shape == (17, 32, 24) and weight.shape == (17, 1)
    assert -2.2 < float(image.min()) and float(image.max()) < 2.7  # ImageNet-normalised RGB
    for i in range(0, len(val_style), 9):
        xy, vis, meta = peaks_in_image(val_style, i)
        gt = meta["joints"]
        assert np.array_equal(vis, gt[:, 2] > 0) or vis.sum() < (gt[:, 2] > 0).sum()
        err = np.abs(xy[vis] - gt[vis, :2]).max() if vis.any() else 0
        stride = 4 * meta["scale"][0] * 200 / 96  # image pixels per heatmap pixel
        assert err <= stride, (i, err, stride)


def test_images_are_rgb(tmp_path):
    import cv2

    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    red = np.zeros((64, 48, 3), np.uint8)
    red[..., 2] = 255  # BGR order on disk: pure red
    cv2.imwrite(str(root / "val2017/000000000001.jpg"), red)
    kps = [24, 32, 2] + [0, 0, 0] * 16
    gt = {
        "images": [{"id": 1, "file_name": "000000000001.jpg", "width": 48, "height": 64}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [4, 4, 40, 56],
                "keypoints": kps,
                "num_keypoints": 1,
                "area": 2000,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (root / "annotations/person_keypoints_val2017.json").write_text(json.dumps(gt))
    ds = build_dataset(coco_cfg(root, "data.use_gt_bbox=true"), train=False)
    image = ds[0][0]
    centre = image[:, 64, 48]  # middle of the crop: inside the red image
    assert centre[0] > 2.0 and centre[1] < -1.5 and centre[2] < -1.5


def test_coco_ground_truth_fed_back_scores_ap_1(tmp_path):
    root = shared_file("coco-mini/annotations/person_keypoints_val2017.json").parents[1]
    ds = build_dataset(coco_cfg(root, "data.use_gt_bbox=true"), train=False)
    meta = collate_meta([ds[i][3] for i in range(len(ds))])
    preds = meta["joints"].copy()
    table, ap = ds.evaluate(preds, meta, output_dir=tmp_path)
    assert (tmp_path / "keypoints_val2017_results.json").is_file()
    assert ap == pytest.approx(1.0) and table["AR"] == pytest.approx(1.0)


def test_coco_validation_on_detections(tmp_path):
    src = shared_file("mmpose/coco/test_coco.json").parent
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations/person_keypoints_val2017.json").symlink_to(src / "test_coco.json")
    (root / "val2017").symlink_to(src)
    dets = json.loads((src / "test_coco_det_AP_H_56.json").read_text())
    expected = sum(d["category_id"] == 1 and d["score"] >= 0.5 for d in dets)
    cfg = coco_cfg(
        root, f"data.det_file={src / 'test_coco_det_AP_H_56.json'}", "data.image_thre=0.5"
    )
    ds = build_dataset(cfg, train=False)
    assert len(ds) == expected > 0
    assert all(s["joints"].sum() == 0 and s["score"] >= 0.5 for s in ds.samples)
    assert ds[0][0].shape == (3, 128, 96)
    with pytest.raises(DataError, match="data.det_file is empty"):
        build_dataset(coco_cfg(root, "data.det_file="), train=False)
    # A relative det_file lies under data.root, so moving the root moves it too.
    (root / "dets").mkdir()
    (root / "dets" / "people.json").symlink_to(src / "test_coco_det_AP_H_56.json")
    moved = coco_cfg(root, "data.det_file=dets/people.json", "data.image_thre=0.5")
    assert len(build_dataset(moved, train=False)) == expected
    (root / "dets" / "empty.json").write_text("[]")
    with pytest.raises(DataError, match=r"empty.json: no person detection .* among its 0 entries"):
        build_dataset(coco_cfg(root, "data.det_file=dets/empty.json"), train=False)
    with pytest.raises(DataError, match=r"coco/dets/none.json"):
        build_dataset(coco_cfg(root, "data.det_file=dets/none.json"), train=False)


def test_mpii_conversions_as_the_seed(tmp_path):
    src = shared_file("mmpose/mpii/test_mpii.json").parent
    root = tmp_path / "mpii"
    (root / "annot").mkdir(parents=True)
    (root / "annot/train.json").symlink_to(src / "test_mpii.json")
    (root / "images").symlink_to(src)
    cfg = load_config(
        MPII, [f"data.root={root}", "model.image_size=[64, 64]", "model.heatmap_size=[16, 16]"]
    )
    ds = build_dataset(cfg, train=True)
    entries = json.loads((src / "test_mpii.json").read_text())
    assert len(ds) == len(entries) == 5
    first = next(s for s in ds.samples if s["image"].endswith(entries[0]["image"]))
    e = entries[0]
    s = e["scale"]
    np.testing.assert_allclose(first["center"], [e["center"][0] - 1, e["center"][1] + 15 * s - 1])
    np.testing.assert_allclose(first["scale"], [s * 1.25, s * 1.25])
    np.testing.assert_allclose(first["joints"][:, :2], np.array(e["joints"]) - 1)
    torch.manual_seed(0)
    image, target, weight, meta = ds[0]
    assert image.shape == (3, 64, 64) and target.shape == (16, 16, 16)


def test_training_flip_mirrors_the_crop_and_swaps_joints():
    root = shared_file("coco-mini/annotations/person_keypoints_train2017.json").parents[1]
    plain = build_dataset(
        coco_cfg(root, "data.flip=false", "data.scale_factor=0", "data.rot_factor=0"), train=True
    )
    flipping = build_dataset(coco_cfg(root, "data.scale_factor=0", "data.rot_factor=0"), train=True)
    i = 3
    ref_image, ref_target = plain[i][:2]
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = flipping[i][:2]  # one draw of the augmentation
        same = (image - ref_image).abs().mean().item()
        mirrored = (image - ref_image.flip(2)).abs().mean().item()
        if same < 1e-6:
            seen.add("plain")
            assert torch.equal(target, ref_target)
        else:
            seen.add("flipped")
            assert mirrored < 0.25 * same  # the crop is the mirror image, up to the seed's 1 px
            # left shoulder's map of the flipped item is the mirrored right shoulder's map
            peak = lambda m: np.unravel_index(int(m.argmax()), m.shape)  # noqa: E731
            y, x = peak(target[5])
            y_ref, x_ref = peak(ref_target[6])
            assert y == y_ref and abs((target.shape[2] - 1 - x) - x_ref) <= 1
    assert seen == {"plain", "flipped"}


def test_posetrack_ground_truth_scores_full_ap(tmp_path):
    root = shared_file("mmpose/posetrack18/annotations/val/003418_mpii_test.json").parents[2]
    cfg = load_config(POSETRACK, [f"data.root={root}", *SMALL])
    ds = build_dataset(cfg, train=False)
    assert len(ds) > 0 and ds[0][1].shape == (17, 32, 24)
    meta = collate_meta([ds[i][3] for i in range(len(ds))])
    table, total = ds.evaluate(meta["joints"].copy(), meta, tmp_path)
    for name in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"):
        assert table[name] == pytest.approx(100.0), name
    noisy = meta["joints"].copy()
    noisy[:, :, :2] += 60.0
    _, worse = ds.evaluate(noisy, meta, tmp_path / "noisy")
    assert worse < total - 20


def test_missing_and_malformed_files_name_the_path(tmp_path):
    with pytest.raises(DataError, match="COCO image folder not found"):
        build_dataset(coco_cfg(tmp_path), train=True)
    (tmp_path / "train2017").mkdir()
    (tmp_path / "annotations").mkdir()
    with pytest.raises(DataError, match="person_keypoints_train2017.json: file not found"):
        build_dataset(coco_cfg(tmp_path), train=True)
    (tmp_path / "annotations/person_keypoints_train2017.json").write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        build_dataset(coco_cfg(tmp_path), train=True)
    (tmp_path / "annotations/person_keypoints_train2017.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "gone.jpg"}],
                "annotations": [
                    {"image_id": 1, "bbox": [0, 0, 10, 10], "keypoints": [1, 1, 2] * 17, "area": 9}
                ],
            }
        )
    )
    with pytest.raises(DataError, match="gone.jpg: image file missing"):
        build_dataset(coco_cfg(tmp_path), train=True)
    (tmp_path / "train2017/gone.jpg").write_bytes(b"not a jpeg")
    ds = build_dataset(coco_cfg(tmp_path), train=True)
    with pytest.raises(DataError, match="gone.jpg: not a readable image"):
        ds[0]
    with pytest.raises(ConfigError, match="data.dataset"):
        build_dataset(coco_cfg(tmp_path, "data.dataset=lsp"), train=True)


def test_each_dataset_flips_with_the_pairs_of_its_layout():
    from posenet.datasets.coco import COCODataset
    from posenet.datasets.mpii import MPIIDataset
    from posenet.datasets.posetrack import PoseTrackDataset
    from posenet.keypoints import FLIP_PAIRS

    assert COCODataset.flip_pairs == FLIP_PAIRS["coco"]
    assert MPIIDataset.flip_pairs == FLIP_PAIRS["mpii"]
    assert PoseTrackDataset.flip_pairs == FLIP_PAIRS["posetrack"]
    assert (1, 2) not in PoseTrackDataset.flip_pairs  # head_bottom/head_top
