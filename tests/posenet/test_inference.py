"""PoseEstimator: shapes, batching, known answers from a dot-finding net, flip test, crops,
errors, and building from a config with saved weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from posenet.checkpoint import save_checkpoint
from posenet.config import load_config
from posenet.errors import ConfigError, DataError
from posenet.inference import PoseEstimator
from posenet.models.pose_resnet import build_model

CONFIG = "configs/coco/res50_256x192.yaml"
SMALL = [
    "model.depth=18",
    "model.pretrained=",
    "model.image_size=[48, 64]",
    "model.heatmap_size=[12, 16]",
]


class DotFinder(nn.Module):
    """Heatmaps that peak where the crop is brightest: a 1x1 conv (mean of RGB) then 4x4
    average pooling, repeated for each joint (`joints` picks which maps get it; others 0)."""

    def __init__(self, num_joints: int = 17, joints: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.mix.weight.fill_(1.0 / 3.0)
            self.mix.bias.fill_(3.0)  # normalised pixels are >= -2.2: keep the maps positive
        mask = torch.zeros(num_joints)
        mask[list(range(num_joints) if joints is None else joints)] = 1.0
        self.register_buffer("mask", mask.view(1, -1, 1, 1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        pooled = nn.functional.avg_pool2d(self.mix(x), 4)
        return pooled * self.mask


class Exploding(nn.Module):
    def forward(self, x):
        raise AssertionError("the net must not run without people")


def dot_image(points: list[tuple[int, int]], size=(240, 320)) -> np.ndarray:
    """A dark image with a bright 3x3 square around each (x, y)."""
    image = np.full((*size, 3), 20, np.uint8)
    for x, y in points:
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    return image


def box_around(x: float, y: float, w: float = 60, h: float = 80, dx: float = 7, dy: float = -5):
    """A person box containing (x, y), not centred on it (so geometry errors show)."""
    return [x - w / 2 + dx, y - h / 2 + dy, x + w / 2 + dx, y + h / 2 + dy]


def estimator(model=None, **kwargs) -> PoseEstimator:
    """fp32 unless asked: 'auto' is bf16 on CPUs with native bf16, and the known answers
    below are exact float32 ones."""
    cfg = load_config(CONFIG, SMALL)
    kwargs.setdefault("precision", "fp32")
    return PoseEstimator(model if model is not None else DotFinder(), cfg, **kwargs)


def test_one_array_per_image_with_empty_frames():
    est = estimator(flip_test=False)
    images = [dot_image([(100, 100)]) for _ in range(3)]
    boxes = [
        np.array([box_around(100, 100)] * 2),
        np.zeros((0, 4)),
        np.array([box_around(100, 100)]),
    ]
    out = est.estimate(images, boxes)
    assert [o.shape for o in out] == [(2, 17, 3), (0, 17, 3), (1, 17, 3)]
    assert all(o.dtype == np.float32 for o in out)


def test_no_people_no_forward_pass():
    est = estimator(Exploding(), flip_test=False)
    out = est.estimate([dot_image([(50, 50)])] * 2, [np.zeros((0, 4)), []])
    assert [o.shape for o in out] == [(0, 17, 3), (0, 17, 3)]


@pytest.mark.parametrize("flip_test", [False, True])
@pytest.mark.parametrize("crop", ["cv2", "torch"])
def test_keypoints_land_on_the_dot_in_image_pixels(flip_test, crop):
    points = [(80, 60), (200, 150), (260, 90)]
    est = estimator(flip_test=flip_test, crop=crop)
    image = dot_image(points)
    boxes = np.array([box_around(x, y) for x, y in points])
    (kps,) = est.estimate([image], [boxes])
    # One heatmap pixel covers 4 crop pixels = 4 * (box side * 1.25 / input side) image pixels.
    cell = 4 * 80 * 1.25 / 64
    for (x, y), person in zip(points, kps):
        err = np.abs(person[:, :2] - [x, y]).max()
        assert err <= cell, (x, y, person[0])
        assert np.all(person[:, 2] > 0)


def test_flip_test_swaps_left_and_right_maps():
    # Only the left eye (1) sees the dot. The mirrored pass predicts it in map 1 too, and
    # flipping back moves that map to the right eye (2): both end up on the dot, each with half
    # of the score; joints without a map stay at score 0.
    point = (150, 120)
    image = dot_image([point])
    boxes = [np.array([box_around(*point)])]
    plain = estimator(DotFinder(joints=(1,)), flip_test=False).estimate([image], boxes)[0][0]
    model = DotFinder(joints=(1,))
    flipped = estimator(model, flip_test=True).estimate([image], boxes)[0][0]
    assert model.calls == 2
    assert plain[2, 2] == 0 and flipped[2, 2] > 0
    assert flipped[1, 2] == pytest.approx(plain[1, 2] / 2, rel=1e-4)
    assert flipped[2, 2] == pytest.approx(plain[1, 2] / 2, rel=1e-4)
    cell = 4 * 80 * 1.25 / 64
    for joint in (1, 2):
        assert np.abs(flipped[joint, :2] - point).max() <= cell
    assert np.all(flipped[[0, *range(3, 17)], 2] == 0)


def test_posetrack_flip_test_keeps_head_bottom_in_place():
    # PoseTrack slots 1 and 2 are head_bottom/head_top, not a left/right pair: the mirrored
    # pass's map 1 must come back to slot 1 (full score), never to head_top.
    point = (150, 120)
    image = dot_image([point])
    boxes = [np.array([box_around(*point)])]
    cfg = load_config(CONFIG, [*SMALL, "data.dataset=posetrack"])
    fp32 = {"precision": "fp32"}
    plain = PoseEstimator(DotFinder(joints=(1,)), cfg, flip_test=False, **fp32).estimate(
        [image], boxes
    )
    flipped = PoseEstimator(DotFinder(joints=(1,)), cfg, flip_test=True, **fp32).estimate(
        [image], boxes
    )
    assert flipped[0][0, 2, 2] == 0
    assert flipped[0][0, 1, 2] == pytest.approx(plain[0][0, 1, 2], rel=1e-4)


def test_batches_of_any_size_give_the_same_keypoints():
    torch.manual_seed(0)
    cfg = load_config(CONFIG, SMALL)
    model = build_model(cfg)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    boxes = [np.array([[10, 10, 60, 100], [40, 5, 150, 110]], float)[: 1 + i % 2] for i in range(4)]
    ref = PoseEstimator(model, cfg, max_batch_size=64, precision="fp32").estimate(images, boxes)
    small = PoseEstimator(model, cfg, max_batch_size=2, precision="fp32").estimate(images, boxes)
    for a, b in zip(ref, small):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_gpu_style_crops_agree_with_opencv_crops_on_a_real_net():
    # The same random-init net, crops warped by grid_sample vs cv2.warpAffine (CPU, fp32).
    torch.manual_seed(1)
    cfg = load_config(CONFIG, SMALL)
    model = build_model(cfg)
    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 256, (100, 130, 3), dtype=np.uint8),
        rng.integers(0, 256, (90, 110, 3), dtype=np.uint8),
    ]  # two image sizes
    boxes = [np.array([[5, 5, 70, 95], [60, 10, 125, 90]], float), np.array([[0, 0, 100, 80.0]])]
    by_cv2 = PoseEstimator(model, cfg, crop="cv2", precision="fp32").estimate(images, boxes)
    by_torch = PoseEstimator(model, cfg, crop="torch", precision="fp32").estimate(images, boxes)
    for a, b in zip(by_cv2, by_torch):
        assert np.abs(a[..., :2] - b[..., :2]).max() <= 1.0


def test_tensor_images_match_numpy_images():
    est = estimator(flip_test=False, crop="torch")
    image = dot_image([(100, 80)])
    boxes = [np.array([box_around(100, 80)])]
    as_numpy = est.estimate([image], boxes)[0]
    as_uint8 = est.estimate([torch.from_numpy(image).permute(2, 0, 1)], boxes)[0]
    as_float = est.estimate([torch.from_numpy(image).permute(2, 0, 1).float() / 255], boxes)[0]
    np.testing.assert_allclose(as_uint8, as_numpy, atol=1e-4)
    np.testing.assert_allclose(as_float, as_numpy, atol=1e-3)


def test_degenerate_boxes_give_finite_keypoints():
    est = estimator(flip_test=False)
    (kps,) = est.estimate([dot_image([(50, 50)])], [np.array([[50, 50, 50, 50], [60, 60, 55, 40]])])
    assert kps.shape == (2, 17, 3) and np.isfinite(kps).all()


@pytest.mark.parametrize(
    "images, boxes, message",
    [
        ([dot_image([(9, 9)])], [], "1 images but 0 box arrays"),
        ([dot_image([(9, 9)])], [np.zeros((2, 3))], "boxes[0] must be (n, 4)"),
        ([dot_image([(9, 9)])], [np.array([[0, 0, np.nan, 5]])], "NaN"),
        ([np.zeros((10, 10), np.uint8)], [np.zeros((1, 4))], "RGB array (H, W, 3)"),
        ([np.zeros((10, 10, 3), np.float32)], [np.zeros((1, 4))], "uint8"),
        ([np.zeros((0, 10, 3), np.uint8)], [np.zeros((1, 4))], "empty"),
        ([torch.zeros(10, 10, 3)], [np.zeros((1, 4))], "(3, H, W)"),
    ],
)
def test_bad_input_is_a_data_error(images, boxes, message):
    with pytest.raises(DataError, match=None) as info:
        estimator(flip_test=False).estimate(images, boxes)
    assert message in str(info.value)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="precision"):
        estimator(precision="fp8")
    with pytest.raises(ConfigError, match="crop"):
        estimator(crop="pil")
    cfg = load_config(CONFIG, [*SMALL, "model.num_joints=5"])
    with pytest.raises(ConfigError, match="flip pair"):
        PoseEstimator(DotFinder(5), cfg, flip_test=True)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            estimator(device="cuda")


def test_from_config_loads_saved_weights(tmp_path):
    torch.manual_seed(2)
    cfg = load_config(CONFIG, SMALL)
    model = build_model(cfg)
    for p in model.parameters():  # weights far from the init, so loading must matter
        p.data.normal_(0, 0.05)
    path = tmp_path / "model_best.pth"
    save_checkpoint({"state_dict": model.state_dict(), "epoch": 3}, path)
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)]
    boxes = [np.array([[10, 10, 70, 90.0]])]
    fp32 = {"precision": "fp32"}
    loaded = PoseEstimator.from_config(CONFIG, weights=path, overrides=SMALL, **fp32)
    fresh = PoseEstimator.from_config(CONFIG, overrides=SMALL, **fp32)
    expected = PoseEstimator(model, cfg, **fp32).estimate(images, boxes)[0]
    np.testing.assert_allclose(loaded.estimate(images, boxes)[0], expected, atol=1e-4)
    assert np.abs(fresh.estimate(images, boxes)[0][..., 2] - expected[..., 2]).max() > 1e-3


@pytest.mark.parametrize("native_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_follows_the_hardware(monkeypatch, native_bf16, expected):
    monkeypatch.setattr("posenet.precision.cpu_has_bf16", lambda *a: native_bf16)
    est = estimator(precision="auto")
    assert est.precision == expected and est.runtime == f"torch {expected}"
    assert estimator(precision="fp32").runtime == "torch fp32"  # an explicit choice wins


def test_bf16_runs_the_net_in_bf16_on_cpu():
    seen = []
    model = DotFinder()
    model.mix.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    for precision in ("bf16", "fp32"):
        est = estimator(model, precision=precision, flip_test=False)
        est.estimate([dot_image([(100, 100)])], [np.array([box_around(100, 100)])])
    assert seen == [torch.bfloat16, torch.float32]


def test_named_weights_bring_their_config():
    with pytest.raises(ConfigError, match="pose config is needed"):
        PoseEstimator.from_config(None, weights="my_file.pth")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_agrees_with_cpu_fp32_within_one_pixel():
    points = [(80, 60), (200, 150)]
    image = dot_image(points)
    boxes = [np.array([box_around(x, y) for x, y in points])]
    cpu = estimator(flip_test=True).estimate([image], boxes)[0]
    gpu_est = estimator(flip_test=True, device="cuda")
    assert gpu_est.precision == "bf16" and gpu_est.crop == "torch"
    gpu = gpu_est.estimate([image], boxes)[0]
    assert np.abs(cpu[..., :2] - gpu[..., :2]).max() <= 1.0
