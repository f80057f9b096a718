"""Person detectors: torchvision model on CPU with random weights (real forward pass and a
stubbed output to check filtering/batching), and replay from real mmpose detection files."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest
import torch

from posenet.errors import CheckpointError, ConfigError, DataError
from tests.conftest import shared_file
from tracker.config import DetectorConfig, load_tracker_config
from tracker.detector_factory import build_detector
from tracker.detectors import TorchvisionDetector
from tracker.replay import ReplayDetector
from tracker.types import Frame


def as_frames(images) -> list[Frame]:
    return [Frame(i, image, f"{i:06d}.jpg") for i, image in enumerate(images)]


# A small input resolution keeps the random-init Faster R-CNN forward pass fast on CPU.
TINY = dict(
    weights=None, weights_backbone=None, min_size=64, max_size=96, rpn_post_nms_top_n_test=16
)


@pytest.fixture(scope="module")
def tiny_detector():
    return TorchvisionDetector(**TINY, score_thr=0.0, batch_size=2)


def test_torchvision_forward_types_and_shapes(tiny_detector):
    images = [np.zeros((48, 64, 3), np.uint8), np.full((40, 30, 3), 120, np.uint8)]
    images.append(np.ones((20, 20, 3), np.uint8))
    results = tiny_detector.detect(as_frames(images))
    assert len(results) == 3
    for boxes, scores in results:
        assert boxes.dtype == np.float32 and scores.dtype == np.float32
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and scores.shape == (len(boxes),)
    assert tiny_detector.detect([]) == []


class StubModel:
    """Stands in for the network: records batch sizes, returns fixed outputs per image."""

    def __init__(self):
        self.batches = []

    def __call__(self, batch):
        self.batches.append(len(batch))
        for image in batch:
            assert image.dtype == torch.float32 and image.shape[0] == 3
            assert float(image.max()) <= 1.0
        output = {
            "boxes": torch.tensor(
                [[1.0, 2, 10, 20], [3, 4, 30, 40], [5, 6, 50, 60], [7, 8, 70, 80]]
            ),
            "scores": torch.tensor([0.9, 0.95, 0.49, 0.7]),
            "labels": torch.tensor([1, 3, 1, 1]),
        }
        return [output for _ in batch]


def test_person_filter_threshold_and_batching(tiny_detector):
    detector = TorchvisionDetector(**TINY, score_thr=0.5, batch_size=2)
    detector.model = StubModel()
    results = detector.detect(as_frames([np.zeros((8, 8, 3), np.uint8)] * 5))
    assert detector.model.batches == [2, 2, 1]
    assert len(results) == 5
    boxes, scores = results[4]
    # label 3 (car) dropped, person at 0.49 below threshold dropped.
    np.testing.assert_allclose(boxes, [[1, 2, 10, 20], [7, 8, 70, 80]])
    np.testing.assert_allclose(scores, [0.9, 0.7], rtol=1e-6)


def test_weights_from_file_and_bad_file(tmp_path):
    source = TorchvisionDetector(**TINY)
    path = tmp_path / "det.pth"
    torch.save({"model": source.model.state_dict()}, path)
    loaded = TorchvisionDetector(weights=path)
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(loaded.model.state_dict()[key], source.model.state_dict()[key])
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError, match="bad.pth.*missing keys"):
        TorchvisionDetector(weights=bad)
    with pytest.raises(CheckpointError, match="nope.pth"):
        TorchvisionDetector(weights=tmp_path / "nope.pth")


class Opaque:
    pass


@pytest.mark.parametrize("kind", ["pickled_object", "junk", "truncated"])
def test_bad_weights_file_is_one_line_without_unsafe_advice(tmp_path, kind):
    path = tmp_path / "det.pth"
    if kind == "pickled_object":
        torch.save({"model": Opaque()}, path)
    elif kind == "junk":
        path.write_bytes(b"not weights at all" * 10)
    else:
        torch.save({"w": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:200])
    # posenet.checkpoint's reader: it names the file and why, and never loads unsafely.
    reason = "not a readable torch weights file|holds Python objects other than tensors"
    with pytest.raises(CheckpointError, match=f"det.pth: ({reason})") as info:
        TorchvisionDetector(weights=path)
    message = str(info.value).replace(str(path), "det.pth")
    assert "\n" not in message and "weights_only" not in message and len(message) < 250


def test_offline_download_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError) as info:
        TorchvisionDetector(weights="DEFAULT")
    message = str(info.value)
    assert "fasterrcnn_resnet50_fpn_v2_coco" in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_unknown_model_and_weights():
    with pytest.raises(ConfigError, match="no_such_net"):
        TorchvisionDetector(model="no_such_net", weights=None)
    with pytest.raises(ConfigError, match="NOT_A_WEIGHT"):
        TorchvisionDetector(weights="NOT_A_WEIGHT")


def expected_persons(entries, image_id, thr):
    """Boxes (xyxy) of persons at or above thr for one image, from the raw JSON entries."""
    rows = [
        e
        for e in entries
        if e["image_id"] == image_id and e["category_id"] == 1 and e["score"] >= thr
    ]
    return [[x, y, x + w, y + h] for x, y, w, h in (e["bbox"] for e in rows)]


def test_replay_coco_results_by_frame_order():
    path = shared_file("mmpose/coco/test_coco_det_AP_H_56.json")
    entries = json.loads(path.read_text())
    ids = sorted({e["image_id"] for e in entries})
    assert ids == [785, 40083, 196141, 197388]
    detector = ReplayDetector(path)
    for k, image_id in enumerate(ids):
        boxes, scores = detector.detect_frame(k)
        want = expected_persons(entries, image_id, 0.5)
        assert len(boxes) == len(want) and len(want) > 0
        assert (scores >= 0.5).all() and np.all(np.diff(scores) <= 0)
        assert sorted(map(tuple, np.round(boxes, 2).tolist())) == sorted(
            map(tuple, np.round(np.array(want, dtype=np.float32), 2).tolist())
        )
    assert len(detector.detect_frame(4)[0]) == 0
    everything = ReplayDetector(path, score_thr=0.0)
    assert sum(len(everything.detect_frame(k)[0]) for k in range(4)) == len(entries)
    # detect() takes frames like any detector and matches them by index here.
    found = everything.detect([Frame(2, None, "a.jpg"), Frame(0, None, "b.jpg")])
    want = [len(expected_persons(entries, ids[i], 0)) for i in (2, 0)]
    assert [len(b) for b, _ in found] == want


def test_replay_posetrack_detections_by_name():
    det_path = shared_file("mmpose/posetrack18/annotations/test_posetrack18_human_detections.json")
    ann_path = shared_file("mmpose/posetrack18/annotations/test_posetrack18_val.json")
    ann = json.loads(ann_path.read_text())
    entries = json.loads(det_path.read_text())
    names = {im["id"]: im["file_name"] for im in ann["images"]}
    detector = ReplayDetector(det_path, image_names=names)
    boxes, scores = detector.detect_frame(0, "009473_mpii_test/000000.jpg")
    assert len(boxes) == len(expected_persons(entries, 10094730000, 0.5)) > 0
    boxes, _ = detector.detect_frame(0, "images/val/012834_mpii_test/000000.jpg")
    assert len(boxes) == len(expected_persons(entries, 10128340000, 0.5))
    assert len(detector.detect_frame(0, "999999_mpii_test/000000.jpg")[0]) == 0
    with pytest.raises(DataError, match="000000.jpg.*matches 3 images"):
        detector.detect_frame(0, "000000.jpg")
    # Without names, PoseTrack ids name the video: an unnamed one among three is refused.
    by_rule = ReplayDetector(det_path)
    with pytest.raises(DataError, match="3 PoseTrack videos"):
        by_rule.detect_frame(0)
    by_rule.start_video("003418_mpii_test")
    assert len(by_rule.detect_frame(0)[0]) == len(expected_persons(entries, 10034180000, 0.5))


def test_replay_filters_category_and_reads_annotations_dict(tmp_path):
    data = {
        "images": [{"id": 7, "file_name": "seq/000003.jpg"}],
        "annotations": [
            {"image_id": 7, "category_id": 1, "bbox": [10, 20, 5, 6], "score": 0.8},
            {"image_id": 7, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.99},
            {"image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.2},
        ],
    }
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(data))
    ((boxes, scores),) = build_detector(DetectorConfig(replay=str(path))).detect(
        [Frame(3, None, "000003.jpg")]
    )
    np.testing.assert_allclose(boxes, [[10, 20, 15, 26]])
    np.testing.assert_allclose(scores, [0.8])


def test_replay_string_image_ids_are_ordered_as_numbers(tmp_path):
    path = tmp_path / "dets.json"
    entries = [{"image_id": str(i), "bbox": [i, 0, 5, 5], "score": 0.9} for i in (1, 2, 10, 11)]
    path.write_text(json.dumps(entries))
    detector = ReplayDetector(path)
    assert [detector.detect_frame(k)[0][0, 0] for k in range(4)] == [1, 2, 10, 11]
    path.write_text(
        json.dumps(
            [{"image_id": "a", "bbox": [0, 0, 5, 5]}, {"image_id": "b", "bbox": [0, 0, 5, 5]}]
        )
    )
    with pytest.raises(DataError, match=r"dets\.json: image ids such as 'a' are not numbers"):
        ReplayDetector(path)
    path.write_text(
        json.dumps([{"image_id": "a", "file_name": "x/000004.jpg", "bbox": [1, 2, 3, 4]}])
    )
    np.testing.assert_allclose(
        ReplayDetector(path).detect_frame(0, "000004.jpg")[0], [[1, 2, 4, 6]]
    )


def test_replay_drops_boxes_without_area(tmp_path):
    path = tmp_path / "dets.json"
    boxes = [[10, 10, -5, 8], [10, 10, 5, 0], [10, 10, 5, 8]]
    path.write_text(json.dumps([{"image_id": 1, "bbox": b, "score": 0.9} for b in boxes]))
    np.testing.assert_allclose(ReplayDetector(path).detect_frame(0)[0], [[10, 10, 15, 18]])


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "not found"),
        ("{not json", "not a readable JSON"),
        ('[{"image_id": 1}]', "bbox"),
        ('{"x": 1}', "annotations"),
        (
            '[{"image_id": 1, "bbox": [1, 2, 3, 4]}, {"image_id": 1, "bbox": ["1", 2, 3, 4]}]',
            r"detection \[1\]\.bbox",
        ),
        ('[{"image_id": 1, "bbox": [1, 2, 3, 4], "score": "0.9"}]', r"detection \[0\]\.score"),
        ('[{"image_id": 1, "bbox": [1, 2, NaN, 4]}]', r"detection \[0\]\.bbox"),
        ('[{"image_id": [1], "bbox": [1, 2, 3, 4]}]', r"detection \[0\]\.image_id"),
    ],
)
def test_replay_bad_files(tmp_path, content, match):
    path = tmp_path / "d.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        ReplayDetector(path)
    assert "d.json" in str(info.value) and "\n" not in str(info.value)


def test_replay_has_its_own_key_and_a_file_as_model_name_says_so(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9}]))
    cfg = load_tracker_config(None, [f"detector.replay={path}"])
    assert cfg.detector.name == DetectorConfig().name  # the model name stays a model name
    assert isinstance(build_detector(cfg.detector), ReplayDetector)
    with pytest.raises(ConfigError, match=r"detector\.name .*dets\.json.* detector\.replay"):
        load_tracker_config(None, [f"detector.name={path}"])
    with pytest.raises(ConfigError, match=r"detector\.replay"):  # built from code, unchecked
        build_detector(DetectorConfig(name="missing.json"))


def test_state_dict_file_reader_is_posenets(tmp_path):
    """A 'module.'-prefixed file under 'state_dict' loads through posenet.checkpoint."""
    source = TorchvisionDetector(**TINY)
    state = {f"module.{k}": v for k, v in source.model.state_dict().items()}
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    loaded = TorchvisionDetector(**TINY | {"weights": path})
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(loaded.model.state_dict()[key], source.model.state_dict()[key])
