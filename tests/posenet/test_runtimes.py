"""Pose backends: choosing one, the precision each runs at, PoseEstimator on ONNX Runtime and
OpenVINO agreeing with torch fp32, the export cache through from_config, missing runtimes."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from posenet import export, runtimes
from posenet.config import load_config
from posenet.errors import ConfigError, DataError
from posenet.inference import PoseEstimator
from posenet.runtime_speed import (
    coco_people,
    compare_precisions,
    heatmap_pixel_distance,
    measure_backends,
)
from posenet.runtimes import (
    RuntimeMissingError,
    auto_backend,
    backend_precision,
    resolve_backend,
    runtime_installed,
)


def require_runtime(backend: str, skip: bool = True) -> bool:
    """Whether `backend`'s runtime is installed; if not: a failure under CI=true (the test
    extra installs it), else a skip (or False with skip=False)."""
    if runtime_installed(backend):
        return True
    message = f"{backend} is not installed (pip install 'posetracker[{backend}]')"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    if skip:
        pytest.skip(message)
    return False


def people_images(seed: int = 0):
    """Two random images with three and one person boxes (four crops in all)."""
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(2)]
    boxes = [
        np.array([[10, 10, 60, 100], [40, 5, 150, 110], [0, 0, 159, 119]], float),
        np.array([[30, 20, 90, 115]], float),
    ]
    return images, boxes


def heatmap_pixels(a: np.ndarray, b: np.ndarray, boxes) -> np.ndarray:
    """Distance between two keypoint sets in heatmap pixels (64x96 input, 16x24 heatmaps:
    one heatmap pixel is 1.25 * box side / 16 image pixels across the box's longer scale)."""
    from posenet.boxes import box_xyxy_to_center_scale

    _, scale = box_xyxy_to_center_scale(np.concatenate(boxes), 64 / 96)
    cell = scale * 200.0 / np.array([16, 24])  # image pixels per heatmap pixel, x and y
    d = (np.concatenate(a)[..., :2] - np.concatenate(b)[..., :2]) / cell[:, None, :]
    return np.linalg.norm(d, axis=-1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random R18 with weights far from the init, and its export (made once, with the
    faster TorchScript exporter: test_export shows both give the same graph)."""
    from tests.posenet.test_export import tiny_net

    model, cfg = tiny_net()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "_dynamo_exporter", lambda: False)
        path = export.export_onnx(model, tmp_path_factory.mktemp("rt") / "t.onnx", (64, 96))
    return model, cfg, path


# --------------------------------------------------------------------------- choosing


def test_backend_names_are_checked():
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(ConfigError, match="tensorrt"):
        resolve_backend("tensorrt", "cpu")


def test_runtimes_run_on_the_cpu_only():
    assert resolve_backend("auto", "cuda") == "torch"
    with pytest.raises(ConfigError, match="CPU only"):
        resolve_backend("onnxruntime", "cuda:0")


def test_auto_is_the_fastest_installed(monkeypatch):
    def only(*names):
        monkeypatch.setattr(runtimes, "runtime_installed", lambda b: b in ("torch", *names))

    only("onnxruntime", "openvino")
    assert auto_backend(cpu_bf16=True) == "openvino"
    only("onnxruntime")
    assert auto_backend(cpu_bf16=True) == "torch"  # torch bf16 beats ONNX Runtime fp32
    assert auto_backend(cpu_bf16=False) == "onnxruntime"
    only()
    assert auto_backend(cpu_bf16=False) == "torch"


@pytest.mark.parametrize("native_bf16", [True, False])
def test_precision_follows_the_cpu_unless_named(monkeypatch, native_bf16):
    monkeypatch.setattr("posenet.precision.cpu_has_bf16", lambda *a: native_bf16)
    hardware = "bf16" if native_bf16 else "fp32"
    assert backend_precision("torch", "auto", "cpu") == hardware
    assert backend_precision("openvino", "auto", "cpu") == hardware
    assert backend_precision("onnxruntime", "auto", "cpu") == "fp32"  # its CPU kernels
    assert backend_precision("openvino", "fp32", "cpu") == "fp32"
    assert backend_precision("torch", "bf16", "cpu") == "bf16"
    assert backend_precision("torch", "auto", "cuda") == "bf16"
    with pytest.raises(ConfigError, match="fp32 on the CPU"):
        backend_precision("onnxruntime", "bf16", "cpu")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_missing_runtime_is_one_line_naming_the_extra(monkeypatch, backend):
    monkeypatch.setitem(sys.modules, backend, None)  # import fails as if not installed
    from tests.posenet.test_export import CONFIG, TINY, Patches

    model, cfg = Patches(), load_config(CONFIG, TINY)
    with pytest.raises(RuntimeMissingError) as info:
        PoseEstimator(model, cfg, backend=backend)
    message = str(info.value)
    assert f"pip install 'posetracker[{backend}]'" in message and "\n" not in message
    assert not runtime_installed(backend)
    monkeypatch.setattr("posenet.precision.cpu_has_bf16", lambda *a: False)
    assert resolve_backend("auto", "cpu") != backend  # auto passes it over


# --------------------------------------------------------------------------- running


def test_onnxruntime_estimator_equals_torch_fp32(tiny):
    require_runtime("onnxruntime")
    model, cfg, path = tiny
    images, boxes = people_images()
    expected = PoseEstimator(model, cfg, precision="fp32").estimate(images, boxes)
    for batch in (1, 3):  # crops in batches of 1 and 3 (then 1): the batch is dynamic
        est = PoseEstimator(model, cfg, backend="onnxruntime", onnx_path=path, max_batch_size=batch)
        assert est.runtime == "onnxruntime fp32"
        got = est.estimate(images, boxes)
        assert [g.shape for g in got] == [(3, 17, 3), (1, 17, 3)]
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-3)


def test_openvino_fp32_keypoints_within_one_heatmap_pixel_of_torch(tiny):
    require_runtime("openvino")
    model, cfg, path = tiny
    images, boxes = people_images(1)
    expected = PoseEstimator(model, cfg, precision="fp32").estimate(images, boxes)
    est = PoseEstimator(model, cfg, backend="openvino", precision="fp32", onnx_path=path)
    assert est.runtime == "openvino fp32"
    got = est.estimate(images, boxes)
    assert heatmap_pixels(got, expected, boxes).max() <= 1.0
    scores = np.concatenate(got)[..., 2], np.concatenate(expected)[..., 2]
    np.testing.assert_allclose(*scores, atol=1e-3)


def test_openvino_says_which_precision_it_compiled(tiny, monkeypatch):
    require_runtime("openvino")
    model, cfg, path = tiny
    est = PoseEstimator(model, cfg, backend="openvino", onnx_path=path)  # auto: the hardware's
    from posenet.precision import cpu_inference_precision

    assert est.runtime == f"openvino {cpu_inference_precision()}"


def test_openvino_gives_each_thread_its_own_infer_request(tiny):
    # The tracker's stage threads run the pose net at the same time; one OpenVINO infer
    # request shared between them fails with "Infer Request is busy".
    import threading

    require_runtime("openvino")
    _, cfg, path = tiny
    net = runtimes.load_runtime("openvino", path, "fp32", threads=1)
    compiled, makers = net.compiled, []

    class Recording:  # the compiled model, noting which thread asks for a request
        def create_infer_request(self):
            makers.append(threading.get_ident())
            return compiled.create_infer_request()

    net.compiled = Recording()
    width, height = cfg.model.image_size
    crops = np.random.default_rng(0).standard_normal((2, 3, height, width), np.float32)
    expected = net(crops)
    other = threading.Thread(target=lambda: results.append(net(crops)))
    results: list[np.ndarray] = []
    other.start()
    other.join()
    net(crops)  # this thread again: its request is reused
    assert len(makers) == 2 and makers[0] != makers[1]
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)


def test_without_an_export_one_is_made_and_not_left_behind(tmp_path, monkeypatch):
    require_runtime("onnxruntime")
    from tests.posenet.test_export import CONFIG, TINY, Patches

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    model, cfg = Patches(), load_config(CONFIG, TINY)
    est = PoseEstimator(model, cfg, backend="onnxruntime", flip_test=True)
    left = [p for p in tmp_path.iterdir() if not p.name.startswith("torchinductor")]  # torch's
    assert left == []  # the temp export is gone; the session holds the net
    images, boxes = people_images(2)
    expected = PoseEstimator(model, cfg, precision="fp32", flip_test=True).estimate(images, boxes)
    for a, b in zip(est.estimate(images, boxes), expected):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_from_config_caches_the_export_beside_the_weights(tmp_path, monkeypatch):
    require_runtime("onnxruntime")
    from tests.posenet.test_export import CONFIG, TINY, tiny_net

    monkeypatch.setattr(export, "_dynamo_exporter", lambda: False)
    model, _ = tiny_net()
    weights = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), weights)
    kwargs = {"weights": weights, "overrides": TINY, "backend": "onnxruntime"}
    first = PoseEstimator.from_config(CONFIG, **kwargs)
    (onnx,) = tmp_path.glob("tiny.pth.64x96.*.onnx")
    made = onnx.stat().st_mtime_ns
    second = PoseEstimator.from_config(CONFIG, **kwargs)
    assert onnx.stat().st_mtime_ns == made  # reused, not exported again
    images, boxes = people_images(3)
    # The estimator's own net (the loaded weights) run by torch in fp32 is the reference.
    expected = PoseEstimator(first.model, first.cfg, precision="fp32").estimate(images, boxes)
    for est in (first, second):
        for a, b in zip(est.estimate(images, boxes), expected):
            np.testing.assert_allclose(a, b, atol=1e-3)


# --------------------------------------------------------------------------- measuring


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """A tiny R18 weights file (a file: random weights would flush denormals process-wide)."""
    from tests.posenet.test_export import CONFIG, TINY, tiny_net

    monkeypatch.setattr(export, "_dynamo_exporter", lambda: False)
    model, _ = tiny_net()
    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    return load_config(CONFIG, TINY), path


def test_measure_backends_names_what_ran(tiny_weights):
    require_runtime("onnxruntime")
    cfg, weights = tiny_weights
    rows = measure_backends(cfg, ["torch:fp32", "onnxruntime"], 2, 0.01, weights=weights)
    assert [r["runtime"] for r in rows] == ["torch fp32", "onnxruntime fp32"]
    assert [r["backend"] for r in rows] == ["torch:fp32", "onnxruntime"]
    for row in rows:
        assert row["batch"] == 2 and row["calls"] >= 3 and row["crops_per_s"] > 0
        assert row["crops_per_s"] == pytest.approx(2e3 / row["ms_per_batch"], rel=0.01)


def test_measure_backends_refuses_bad_specs(tiny_weights):
    cfg, weights = tiny_weights
    with pytest.raises(ConfigError, match="tensorrt"):
        measure_backends(cfg, ["tensorrt"], 2, 0.01, weights=weights)
    with pytest.raises(ConfigError, match="fp8"):
        measure_backends(cfg, ["torch:fp8"], 2, 0.01, weights=weights)


def test_heatmap_pixel_distance_is_in_crop_heatmap_pixels():
    from tests.posenet.test_export import CONFIG, TINY

    cfg = load_config(CONFIG, TINY)  # 64x96 input, 16x24 heatmaps, boxes padded by 1.25
    boxes = np.array([[0, 0, 64, 96.0]])  # crop 80x120 image px: one heatmap pixel is 5x5
    b = np.zeros((1, 3, 3))
    a = b.copy()
    a[0, 1, :2] = [5, 0]
    a[0, 2, :2] = [15, 20]
    np.testing.assert_allclose(heatmap_pixel_distance(a, b, boxes, cfg), [[0, 1, 5]])


def test_compare_precisions_on_real_images(tiny_weights, shared_data):
    root = shared_data("coco-mini/annotations/person_keypoints_val2017.json").parents[1]
    cfg, weights = tiny_weights
    people = coco_people(root, "val2017", max_images=2)
    same = compare_precisions(cfg, weights, root, precision="fp32", max_images=2)
    assert same["images"] == 2 and same["people"] == sum(len(b) for _, b in people)
    assert same["joints"] == 17 * same["people"]
    assert same["within_1px"] == 1.0 and same["max_px"] == 0.0  # fp32 against itself
    bf16 = compare_precisions(cfg, weights, root, precision="bf16", max_images=2)
    assert bf16["runtime"] == "torch bf16" and bf16["reference"] == "torch fp32"
    with pytest.raises(DataError, match="not found"):
        coco_people(root, "train2099")
