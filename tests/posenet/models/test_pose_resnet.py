import pytest
import torch
import torchvision

import posenet
from posenet.config import Config, ModelConfig
from posenet.errors import ConfigError
from posenet.models.pose_resnet import PoseResNet, build_model


def tiny(**kw) -> PoseResNet:
    """ResNet-18 with a 16-channel head: small enough for CPU forward passes in tests."""
    kw.setdefault("num_deconv_filters", (16, 16, 16))
    return PoseResNet(depth=18, num_joints=5, **kw)


def count_millions(depth: int, style: str = "pytorch") -> float:
    with torch.device("meta"):
        model = PoseResNet(depth=depth, num_joints=17, style=style)
    return round(sum(p.numel() for p in model.parameters()) / 1e6, 1)


@pytest.mark.parametrize("depth,millions", [(50, 34.0), (101, 53.0), (152, 68.6)])
def test_parameter_counts_match_the_paper(depth, millions):
    assert count_millions(depth) == millions


def test_caffe_style_has_the_same_parameters_as_pytorch_style():
    assert count_millions(50, "caffe") == 34.0


@pytest.mark.parametrize("style,conv1_stride,conv2_stride", [("pytorch", 1, 2), ("caffe", 2, 1)])
def test_stride_placement_in_bottleneck(style, conv1_stride, conv2_stride):
    with torch.device("meta"):
        model = PoseResNet(depth=50, style=style)
    for layer in (model.layer2, model.layer3, model.layer4):
        first = layer[0]
        assert first.conv1.stride == (conv1_stride, conv1_stride)
        assert first.conv2.stride == (conv2_stride, conv2_stride)
        assert first.downsample[0].stride == (2, 2)
        assert all(b.conv1.stride == b.conv2.stride == (1, 1) for b in layer[1:])
    assert model.layer1[0].conv1.stride == model.layer1[0].conv2.stride == (1, 1)


def test_heatmaps_are_a_quarter_of_the_input():
    model = tiny().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 128, 96))
    assert out.shape == (2, 5, 32, 24)


@pytest.mark.parametrize("kernels", [(4, 4, 4), (3, 3, 3), (2, 2, 2)])
def test_every_deconv_kernel_doubles_the_size(kernels):
    model = tiny(num_deconv_kernels=kernels).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 32))
    assert out.shape == (1, 5, 16, 8)
    assert [
        m.kernel_size for m in model.deconv_layers if isinstance(m, torch.nn.ConvTranspose2d)
    ] == [(k, k) for k in kernels]


def test_final_conv_kernel_3_keeps_the_size():
    model = tiny(final_conv_kernel=3).eval()
    assert model.final_layer.kernel_size == (3, 3) and model.final_layer.padding == (1, 1)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 32)).shape == (1, 5, 16, 8)


def test_backbone_keys_are_torchvision_resnet_keys():
    with torch.device("meta"):
        ours = PoseResNet(depth=50).state_dict()
        theirs = torchvision.models.resnet50(weights=None).state_dict()
    backbone = [k for k in ours if not k.startswith(("deconv_layers.", "final_layer."))]
    assert backbone == [k for k in theirs if not k.startswith("fc.")]
    for k in backbone:
        assert ours[k].shape == theirs[k].shape, k


def test_head_keys_are_the_seed_keys():
    keys = set(tiny().state_dict())
    head = {k for k in keys if k.startswith(("deconv_layers.", "final_layer."))}
    expected = {"final_layer.weight", "final_layer.bias"}
    for conv, bn in ((0, 1), (3, 4), (6, 7)):
        expected.add(f"deconv_layers.{conv}.weight")
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            expected.add(f"deconv_layers.{bn}.{name}")
    assert head == expected
    assert "deconv_layers.0.bias" in tiny(deconv_with_bias=True).state_dict()


def test_seed_initialisation():
    torch.manual_seed(0)
    model = PoseResNet(18, num_joints=17, num_deconv_filters=(64, 64, 64), deconv_with_bias=True)
    deconv = model.deconv_layers[0]
    assert deconv.weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert torch.all(deconv.bias == 0)
    bn = model.deconv_layers[1]
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    final = model.final_layer
    assert final.weight.std().item() == pytest.approx(0.001, rel=0.1)
    assert torch.all(final.bias == 0)
    # kaiming normal, fan_out: std = sqrt(2 / (64 * 7 * 7))
    assert model.conv1.weight.std().item() == pytest.approx((2 / (64 * 49)) ** 0.5, rel=0.05)
    assert torch.all(model.layer1[0].bn1.weight == 1)


def test_channels_last_gives_the_same_heatmaps():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="depth"):
        PoseResNet(depth=42)
    with pytest.raises(ConfigError, match="style"):
        PoseResNet(depth=18, style="tensorflow")
    with pytest.raises(ConfigError, match="one entry per deconv"):
        PoseResNet(depth=18, num_deconv_filters=(16, 16))
    with pytest.raises(ConfigError, match="kernel size"):
        tiny(num_deconv_kernels=(5, 5, 5))


def test_build_model_from_config_and_model_config():
    cfg = Config()
    cfg.model = ModelConfig(depth=34, num_joints=16, style="caffe", final_conv_kernel=3)
    with torch.device("meta"):
        a = build_model(cfg)
        b = posenet.build_model(cfg.model)
    for model in (a, b):
        assert (model.depth, model.style, model.num_joints) == (34, "caffe", 16)
        assert model.final_layer.out_channels == 16 and model.final_layer.kernel_size == (3, 3)
        assert len(model.layer3) == 6
    with pytest.raises(TypeError):
        build_model({"depth": 50})
