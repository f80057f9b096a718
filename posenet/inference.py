"""Batched top-down pose estimation: images + person boxes in, keypoints in image pixels out.

All the people of all the given images go through the network in a few large batches. On CUDA
the crops are warped on the GPU (grid_sample), the net runs under bf16 autocast, and heatmaps
are decoded on the GPU, so only keypoints come back to the host. On CPU the crops are warped
with OpenCV, and the net runs in bf16 where the CPU computes it natively (AMX, AVX512-BF16),
else float32. The torch net runs in channels_last memory format (R50 256x192 on CPU: about
15-20 % faster than contiguous, same heatmaps).

On a CPU the net can also run exported to ONNX in ONNX Runtime or OpenVINO (`backend`, see
`posenet.runtimes`); crops, flip test and decoding stay the same torch code. `runtime` names
the backend and precision in use, e.g. 'openvino bf16'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .boxes import box_xyxy_to_center_scale
from .checkpoint import load_weights
from .codec import (
    dark_kernel_size,
    decode_torch,
    flip_back_torch,
    flip_permutation,
    fuse_flip_torch,
)
from .config import Config, load_config
from .devices import resolve_device
from .errors import ConfigError, DataError
from .export import cached_onnx, temporary_onnx
from .keypoints import FLIP_PAIRS
from .model_zoo import NAMED_WEIGHTS, named_weights_config, resolve_weights
from .models.pose_resnet import build_model
from .precision import autocast
from .runtimes import TORCH, CompiledNet, backend_precision, load_runtime, resolve_backend
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    crop_cv2,
    crop_torch,
    heatmap_to_image,
)

CROP_MODES = ("auto", "torch", "cv2")
MIN_BOX_SIZE = 1.0  # px; smaller boxes are grown to this so the crop affine stays invertible

ImageLike = np.ndarray | torch.Tensor


def _check_boxes(boxes: object, i: int) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise DataError(f"boxes[{i}] must be (n, 4) x1, y1, x2, y2, got shape {arr.shape}")
    arr = arr[:, :4]
    if not np.isfinite(arr).all():
        raise DataError(f"boxes[{i}] holds NaN or infinite coordinates")
    lo = arr[:, :2]
    hi = np.maximum(arr[:, 2:], lo + MIN_BOX_SIZE)
    return np.concatenate([lo, hi], axis=1)


def _image_hw(image: ImageLike, i: int) -> tuple[int, int]:
    """(H, W) of an RGB image: numpy (H, W, 3) uint8 or a tensor (3, H, W)."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise DataError(
                f"images[{i}]: a tensor image must be (3, H, W), got {tuple(image.shape)}"
            )
        h, w = image.shape[1:]
    else:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", type(image).__name__)
            raise DataError(f"images[{i}]: expected an RGB array (H, W, 3), got {shape}")
        if image.dtype != np.uint8:
            raise DataError(f"images[{i}]: expected uint8 pixels, got {image.dtype}")
        h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise DataError(f"images[{i}] is empty ({h}x{w})")
    return int(h), int(w)


def _pixel_scale(image: torch.Tensor) -> float:
    """Float tensor images are in [0, 1] (torchvision's convention), uint8 ones in [0, 255]."""
    return 1.0 if image.dtype == torch.uint8 else 255.0


def build_pose_net(
    config_path: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    from_bgr: bool = False,
) -> tuple[nn.Module, Config]:
    """The net of a config YAML with `weights` loaded (a file or a released name, which brings
    its own config when none is given), and its config; no weights: random initialisation."""
    if config_path is None:
        if weights is None or os.fspath(weights) not in NAMED_WEIGHTS:
            raise ConfigError("a pose config is needed unless weights name a released net")
        config_path = named_weights_config(os.fspath(weights))
    cfg = load_config(Path(config_path), overrides)
    model = build_model(cfg)
    if weights is not None:
        load_weights(model, weights, from_bgr=from_bgr)
    return model, cfg


class PoseEstimator:
    """A pose net plus everything around it: crops, batching, flip test, heatmap decoding.

    `estimate(images, boxes)` returns, per image, keypoints (n_i, K, 3): x, y in image pixels
    and the heatmap maximum as score. `precision` 'auto' is bf16 on CUDA and on CPUs with native
    bf16, else fp32; `crop` 'auto' warps on the device for CUDA and with OpenCV on CPU.
    `channels_last` (default) puts the given model in that memory format, in place (torch
    backend only).

    `backend` 'torch' (default) runs the model; 'onnxruntime' or 'openvino' (CPU only) run its
    ONNX export: the file `onnx_path` if given (see `posenet.export.cached_onnx`), else an
    export made now. 'auto' is the fastest installed on a CPU, torch on a GPU. `runtime` says
    what was chosen, e.g. 'openvino bf16'.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: Config,
        device: str | torch.device = "cpu",
        flip_test: bool | None = None,
        max_batch_size: int | None = None,
        precision: str = "auto",
        crop: str = "auto",
        channels_last: bool = True,
        backend: str = TORCH,
        onnx_path: str | os.PathLike | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(resolve_device(str(device)))
        self.flip_test = cfg.test.flip_test if flip_test is None else bool(flip_test)
        self.max_batch_size = int(max_batch_size or cfg.test.max_batch_size)
        if self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        self.backend = resolve_backend(backend, self.device)
        self.precision = backend_precision(self.backend, precision, self.device)
        if crop not in CROP_MODES:
            raise ConfigError(f"crop must be one of {', '.join(CROP_MODES)}; got {crop!r}")
        self.crop = ("torch" if self.device.type == "cuda" else "cv2") if crop == "auto" else crop

        m = cfg.model
        self.num_joints = int(m.num_joints)
        self.input_size = (int(m.image_size[0]), int(m.image_size[1]))  # w, h
        self.heatmap_size = (int(m.heatmap_size[0]), int(m.heatmap_size[1]))
        self.aspect_ratio = self.input_size[0] / self.input_size[1]
        self.padding = float(cfg.data.box_padding)
        self.pixel_std = float(cfg.data.pixel_std)
        self.flip_pairs = tuple(FLIP_PAIRS.get(cfg.data.dataset, ()))
        if self.flip_test:
            try:
                flip_permutation(self.num_joints, self.flip_pairs)
            except ValueError as exc:
                raise ConfigError(f"flip test: {exc} (data.dataset={cfg.data.dataset})") from None
        self.dark_kernel = dark_kernel_size(float(m.sigma))

        self.model = model.eval().to(self.device)
        # Module.to changes the model in place: a caller that trains it (engine.predict)
        # passes its own layout, so validating never changes the training numerics.
        self.channels_last = bool(channels_last) and self.backend == TORCH
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._net: CompiledNet | None = None
        if self.backend != TORCH:
            self._net = self._load_runtime(onnx_path)
            self.precision = self._net.precision  # what the runtime compiled, not just asked for
        self.runtime = f"{self.backend} {self.precision}"
        # Normalisation folded into one multiply-add on 0-255 pixels.
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0
        self._mean, self._inv_std = mean, 1.0 / std

    # --------------------------------------------------------------------------- building

    @classmethod
    def from_config(
        cls,
        config_path: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        overrides: Sequence[str] = (),
        device: str | torch.device = "cpu",
        *,
        from_bgr: bool = False,
        **kwargs,
    ) -> PoseEstimator:
        """Build the net of a config YAML and load `weights` (a file or a name such as
        'simplebaseline_res50_coco_256x192'; a name brings its own config when none is given).
        Without weights the net keeps its random initialisation (for tests and benchmarks).
        A `backend` other than torch runs the net's ONNX export, cached beside the weights."""
        model, cfg = build_pose_net(config_path, weights, overrides, from_bgr=from_bgr)
        backend = resolve_backend(kwargs.pop("backend", TORCH), resolve_device(str(device)))
        if backend != TORCH and weights is not None and kwargs.get("onnx_path") is None:
            kwargs["onnx_path"] = cached_onnx(model, cfg, resolve_weights(weights), from_bgr)
        return cls(model, cfg, device=device, backend=backend, **kwargs)

    def _load_runtime(self, onnx_path: str | os.PathLike | None) -> CompiledNet:
        """The backend's runtime on `onnx_path`, or on an export made now (then discarded)."""
        if onnx_path is not None:
            return load_runtime(self.backend, onnx_path, self.precision)
        with temporary_onnx(self.model, self.input_size) as path:
            return load_runtime(self.backend, path, self.precision)

    # --------------------------------------------------------------------------- estimating

    def estimate(
        self, images: Sequence[ImageLike], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Keypoints (n_i, K, 3) per image for the person boxes (n_i, 4) xyxy of each image."""
        if len(images) != len(boxes):
            raise DataError(f"got {len(images)} images but {len(boxes)} box arrays")
        box_arrays = [_check_boxes(b, i) for i, b in enumerate(boxes)]
        sizes = [_image_hw(image, i) for i, image in enumerate(images)]
        counts = [len(b) for b in box_arrays]
        total = sum(counts)
        empty = np.zeros((0, self.num_joints, 3), np.float32)
        if total == 0:
            return [empty.copy() for _ in images]
        image_index = np.repeat(np.arange(len(images)), counts)
        center, scale = box_xyxy_to_center_scale(
            np.concatenate(box_arrays), self.aspect_ratio, self.padding, self.pixel_std
        )
        out = np.empty((total, self.num_joints, 3), np.float32)
        with torch.inference_mode():
            tensors = self._device_images(images) if self.crop == "torch" else None
            for start in range(0, total, self.max_batch_size):
                sl = slice(start, min(start + self.max_batch_size, total))
                if tensors is None:
                    crops = self._crops_cv2(images, image_index[sl], center[sl], scale[sl])
                else:
                    crops = self._crops_torch(
                        tensors, sizes, image_index[sl], center[sl], scale[sl]
                    )
                out[sl] = self._keypoints(crops, center[sl], scale[sl])
        return list(np.split(out, np.cumsum(counts)[:-1]))

    def _device_images(self, images: Sequence[ImageLike]) -> list[torch.Tensor]:
        """Every image as a (3, H, W) tensor on the device, in 0-255 (uint8 stays uint8)."""
        tensors = []
        for image in images:
            if isinstance(image, torch.Tensor):
                t = image.to(self.device, non_blocking=True)
                if t.dtype != torch.uint8:
                    t = t.float() * _pixel_scale(t)
            else:
                t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device, non_blocking=True)
                t = t.permute(2, 0, 1)
            tensors.append(t)
        return tensors

    def _crops_torch(
        self,
        tensors: list[torch.Tensor],
        sizes: list[tuple[int, int]],
        index: np.ndarray,
        center: np.ndarray,
        scale: np.ndarray,
    ) -> torch.Tensor:
        """Crops (n, 3, h, w) float 0-255 on the device; one grid_sample per image size."""
        by_size: dict[tuple[int, int], list[int]] = {}
        for i in np.unique(index):
            by_size.setdefault(sizes[i], []).append(int(i))
        crops = None  # only needed when the images come in several sizes
        for group in by_size.values():
            rows = np.flatnonzero(np.isin(index, group))
            local = np.searchsorted(np.asarray(group), index[rows])
            stack = torch.stack([tensors[i] for i in group])
            part = crop_torch(
                stack, torch.from_numpy(local), center[rows], scale[rows], self.input_size
            )
            if len(by_size) == 1:
                return part
            if crops is None:
                crops = part.new_empty((len(index), *part.shape[1:]))
            crops[torch.from_numpy(rows).to(self.device)] = part
        return crops

    def _crops_cv2(
        self,
        images: Sequence[ImageLike],
        index: np.ndarray,
        center: np.ndarray,
        scale: np.ndarray,
    ) -> torch.Tensor:
        """Crops (n, 3, h, w) float 0-255 warped with OpenCV on the host, then moved over."""
        hosts: dict[int, np.ndarray] = {}
        batch = np.empty((len(index), self.input_size[1], self.input_size[0], 3), np.uint8)
        for j, i in enumerate(index):
            if i not in hosts:
                hosts[i] = self._host_image(images[i])
            batch[j] = crop_cv2(hosts[i], center[j], scale[j], self.input_size)
        crops = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
        # Contiguous NCHW: a channels-last view here would switch the whole CPU net to
        # channels-last kernels, which are slower there.
        return crops.float().contiguous()

    @staticmethod
    def _host_image(image: ImageLike) -> np.ndarray:
        if isinstance(image, np.ndarray):
            return image
        t = image.detach()
        if t.dtype != torch.uint8:
            t = (t.float() * _pixel_scale(t)).round().clamp(0, 255).to(torch.uint8)
        return np.ascontiguousarray(t.permute(1, 2, 0).cpu().numpy())

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Heatmaps (n, K, h, w) float32 for crops (n, 3, H, W) in 0-255, flip test included."""
        return self.heatmaps((crops - self._mean) * self._inv_std)

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmaps (n, K, h, w) float32 for normalised crops, flip test included."""
        if self._net is not None:
            heatmaps = self._run(x)
            flipped = self._run(x.flip(3)) if self.flip_test else None
        else:
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.precision):
                heatmaps = self.model(x).float()
                flipped = self.model(x.flip(3)).float() if self.flip_test else None
        if flipped is not None:
            back = flip_back_torch(flipped, self.flip_pairs)
            heatmaps = fuse_flip_torch(heatmaps, back, shift=self.cfg.test.shift_heatmap)
        if heatmaps.shape[1] != self.num_joints:
            raise ConfigError(
                f"the net predicts {heatmaps.shape[1]} heatmaps, the config says "
                f"model.num_joints={self.num_joints}"
            )
        return heatmaps

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """The runtime's heatmaps for normalised crops on the CPU (no copy of contiguous fp32)."""
        crops = x.detach().float().contiguous().numpy()
        return torch.from_numpy(self._net(crops))

    def decode(self, heatmaps: torch.Tensor, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Keypoints (n, K, 3) in image pixels from heatmaps and each crop's center and scale."""
        coords, scores = decode_torch(
            heatmaps,
            post_process=self.cfg.test.post_process,
            dark=self.cfg.test.dark,
            dark_kernel=self.dark_kernel,
        )
        hm_size = (heatmaps.shape[3], heatmaps.shape[2])
        xy = heatmap_to_image(coords.double(), center, scale, hm_size, self.pixel_std)
        return torch.cat([xy.float(), scores.float().unsqueeze(-1)], dim=-1).cpu().numpy()

    def _keypoints(self, crops: torch.Tensor, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return self.decode(self.forward(crops), center, scale)
