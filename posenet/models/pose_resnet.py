"""PoseResNet (SimpleBaseline): a ResNet backbone and a few deconvolutions predicting heatmaps.

State-dict keys are those of the seed's released weights (and of torchvision's ResNet for the
backbone): conv1, bn1, layer1..layer4, deconv_layers.<i>, final_layer. The network is made of
plain modules only, so it runs in channels_last memory format without changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import Config, ModelConfig
from ..errors import ConfigError

# Which part of the state dict is the pose head (everything else is the ResNet backbone).
HEAD_PREFIXES = ("deconv_layers.", "final_layer.")

# The deconvolution head and the final conv start near zero, as in the seed.
HEAD_INIT_STD = 0.001

# depth -> (block kind, blocks per stage)
RESNET_SPEC: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STYLES = ("pytorch", "caffe")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class ResidualBlock(nn.Module):
    """A residual block: `_build` makes its convolutions, `downsample` (or nothing) matches the
    shortcut to their output."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        caffe: bool = False,
    ) -> None:
        super().__init__()
        self._build(inplanes, planes, stride, caffe)
        self.downsample = downsample

    def _build(self, inplanes: int, planes: int, stride: int, caffe: bool) -> None:
        raise NotImplementedError


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34); style has no effect."""

    def _build(self, inplanes: int, planes: int, stride: int, caffe: bool) -> None:
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(ResidualBlock):
    """1x1 -> 3x3 -> 1x1 convolutions with a residual connection (ResNet-50/101/152).

    The stride sits on the 3x3 conv ('pytorch' style) or on the first 1x1 conv ('caffe' style,
    as in the original MSRA models).
    """

    expansion = 4

    def _build(self, inplanes: int, planes: int, stride: int, caffe: bool) -> None:
        self.conv1 = conv1x1(inplanes, planes, stride if caffe else 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1 if caffe else stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def deconv_padding(kernel: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-2 transposed conv exactly double the size."""
    if kernel == 4:
        return 1, 0
    if kernel == 3:
        return 1, 1
    if kernel == 2:
        return 0, 0
    raise ConfigError(f"model.num_deconv_kernels: kernel size must be 2, 3 or 4, got {kernel}")


class PoseResNet(nn.Module):
    """ResNet backbone (stride 32) + `num_deconv_layers` stride-2 deconvolutions + a final conv
    giving one heatmap per joint; with three deconvolutions heatmaps are H/4 x W/4 (for H and W
    divisible by 32, as all the configs' input sizes are)."""

    def __init__(
        self,
        depth: int = 50,
        num_joints: int = 17,
        style: str = "pytorch",
        num_deconv_layers: int = 3,
        num_deconv_filters: Sequence[int] = (256, 256, 256),
        num_deconv_kernels: Sequence[int] = (4, 4, 4),
        deconv_with_bias: bool = False,
        final_conv_kernel: int = 1,
    ) -> None:
        super().__init__()
        if depth not in RESNET_SPEC:
            raise ConfigError(f"model.depth must be one of {sorted(RESNET_SPEC)}, got {depth}")
        if style not in STYLES:
            raise ConfigError(f"model.style must be 'pytorch' or 'caffe', got {style!r}")
        if not (len(num_deconv_filters) == len(num_deconv_kernels) == num_deconv_layers):
            raise ConfigError(
                "model.num_deconv_filters and model.num_deconv_kernels need one entry per deconv "
                f"layer ({num_deconv_layers}), got {list(num_deconv_filters)} and "
                f"{list(num_deconv_kernels)}"
            )
        if final_conv_kernel not in (1, 3):
            raise ConfigError(f"model.final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        self.depth = depth
        self.style = style
        self.num_joints = num_joints
        kind, blocks = RESNET_SPEC[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        caffe = style == "caffe"

        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, blocks[0], 1, caffe)
        self.layer2 = self._make_layer(block, 128, blocks[1], 2, caffe)
        self.layer3 = self._make_layer(block, 256, blocks[2], 2, caffe)
        self.layer4 = self._make_layer(block, 512, blocks[3], 2, caffe)

        self.deconv_layers = self._make_deconv_layers(
            list(num_deconv_filters), list(num_deconv_kernels), deconv_with_bias
        )
        head_channels = num_deconv_filters[-1] if num_deconv_layers else self.inplanes
        self.final_layer = nn.Conv2d(
            head_channels,
            num_joints,
            kernel_size=final_conv_kernel,
            stride=1,
            padding=1 if final_conv_kernel == 3 else 0,
        )
        self.init_weights()

    def _make_layer(
        self, block: type[nn.Module], planes: int, num_blocks: int, stride: int, caffe: bool
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, caffe)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, caffe=caffe) for _ in range(1, num_blocks)]
        return nn.Sequential(*layers)

    def _make_deconv_layers(
        self, filters: list[int], kernels: list[int], with_bias: bool
    ) -> nn.Sequential:
        # ConvTranspose, BatchNorm, ReLU per layer: indices 0,1,2 / 3,4,5 / ... as in the seed.
        layers: list[nn.Module] = []
        in_channels = self.inplanes
        for planes, kernel in zip(filters, kernels):
            padding, output_padding = deconv_padding(kernel)
            layers += [
                nn.ConvTranspose2d(
                    in_channels,
                    planes,
                    kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=with_bias,
                ),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
            ]
            in_channels = planes
        return nn.Sequential(*layers)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Backbone: kaiming (fan_out) convs, unit BatchNorm; head: normal(std 0.001), zero bias."""
        for name, module in self.named_modules():
            in_head = name.startswith(tuple(p.rstrip(".") for p in HEAD_PREFIXES))
            is_head_conv = in_head and isinstance(module, nn.Conv2d)
            if isinstance(module, nn.ConvTranspose2d) or is_head_conv:
                nn.init.normal_(module.weight, std=HEAD_INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB -> (B, num_joints, H/4, W/4) heatmaps."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))


def build_model(cfg: Config | ModelConfig) -> PoseResNet:
    """A randomly initialised PoseResNet from a config. Weights are loaded separately
    (`posenet.checkpoint.load_weights`, or `init_backbone` for `model.pretrained`)."""
    model_cfg = cfg.model if isinstance(cfg, Config) else cfg
    if not isinstance(model_cfg, ModelConfig):
        raise TypeError(f"build_model needs a Config or ModelConfig, got {type(cfg).__name__}")
    model = PoseResNet(
        depth=model_cfg.depth,
        num_joints=model_cfg.num_joints,
        style=model_cfg.style,
        num_deconv_layers=model_cfg.num_deconv_layers,
        num_deconv_filters=tuple(model_cfg.num_deconv_filters),
        num_deconv_kernels=tuple(model_cfg.num_deconv_kernels),
        deconv_with_bias=model_cfg.deconv_with_bias,
        final_conv_kernel=model_cfg.final_conv_kernel,
    )
    return model
