"""Channels-last maps (N, *spatial, C) are refused without ``reshape``, never read as NCHW.

* an intermediate Swin stage (torchvision, weights=None), whose width is not the head's, is
  refused by InfoGradCam with what to pass; with that ``reshape`` the map equals Captum's
  LayerGradCam on a probe module that sees the same stage channels-first;
* no false alarm on any 4-D module output of common channels-first models, while the
  channels-last inside of ConvNeXt's blocks is recognised;
* ``reshape=lambda t: t`` overrides the check; 3-D inputs (video) are checked the same way.
"""

from __future__ import annotations

import copy
import functools
import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import LayerGradCam
from torch import nn

from captum_infocam import InfoCAM, InfoGradCam
from captum_infocam._capture import channels_last_evidence, input_plane

K = 10


@functools.cache
def torchvision_model(name: str) -> nn.Module:
    """Built once per session; no test changes it."""
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, num_classes=K).eval()


def images(height: int, width: int, n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, height, width, generator=torch.Generator().manual_seed(0))


def to_channels_first(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 3, 1, 2)


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_intermediate_swin_stage_is_refused_without_reshape(one_torch_thread, size):
    swin = torchvision_model("swin_t")
    x = images(*size)
    shape = re.escape(str((2, size[0] // 16, size[1] // 16, 384)))
    with pytest.raises(
        ValueError,
        match=rf"layer's output {shape} looks channels-last.*"
        r"reshape=lambda t: t.permute\(0, 3, 1, 2\).*reshape=lambda t: t if",
    ):
        InfoGradCam(swin, swin.features[5]).attribute(x, target=[1, 7])
    with pytest.raises(ValueError, match=rf"layer's input {shape} looks channels-last"):
        InfoGradCam(swin, swin.features[6]).attribute(x, [1, 7], attribute_to_layer_input=True)
    # the CAM family refuses it too (the head takes 768 channels), and says what it is
    with pytest.raises(ValueError, match=rf"takes 768 input channels.*{shape} looks channels-l"):
        InfoCAM(swin, swin.features[5]).attribute(x, target=[1, 7])


class ChannelsFirstProbe(nn.Module):
    """A stage followed by an identity that sees its output channels-first (a Captum layer)."""

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage
        self.probe = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe(self.stage(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class ContrastLogits(nn.Module):
    """The mean contrast logit of every class, z_k - mean_{j != k} z_j."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return z - (z.sum(1, keepdim=True) - z) / (z.shape[1] - 1)


@pytest.mark.parametrize("contrast", ["none", "mean"])
def test_swin_stage_with_permute_is_layer_gradcam_of_the_channels_first_stage(
    one_torch_thread, contrast
):
    swin = torchvision_model("swin_t")
    x, target = images(64, 96), torch.tensor([1, 7])
    got = InfoGradCam(swin, swin.features[5], reshape=to_channels_first).attribute(
        x, target, contrast=contrast, region_size=3
    )
    probed = copy.deepcopy(swin)
    probed.features[5] = ChannelsFirstProbe(probed.features[5])
    forward = probed if contrast == "none" else ContrastLogits(probed)
    reference = LayerGradCam(forward, probed.features[5].probe).attribute(x, target).detach()
    h, w = reference.shape[-2:]
    assert (h, w) == (4, 6)
    expected = F.avg_pool2d(h * w * reference, 3, 1, 1, count_include_pad=False)  # clipped
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * expected.abs().max())
    assert expected.abs().max() > 0


CHANNELS_FIRST_LAYERS = {  # model: the layers InfoGradCam explains without reshape
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "vgg11": ("features",),
    "convnext_tiny": ("features.1", "features.3", "features.5", "features.7"),
    "densenet121": ("features",),
    "mobilenet_v3_small": ("features",),
}
# inside a torchvision ConvNeXt block: Permute to (N, h, w, C), LayerNorm, Linear, GELU, Linear
CONVNEXT_CHANNELS_LAST = re.compile(r"features\.\d+\.\d+\.block\.[1-5]")


def module_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """The name and output shape of every module run by ``model(x)``."""
    outputs: list[tuple[str, tuple[int, ...]]] = []
    handles = [
        module.register_forward_hook(
            lambda m, a, out, name=name: outputs.append((name, tuple(out.shape)))
        )
        for name, module in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


@pytest.mark.parametrize("name", list(CHANNELS_FIRST_LAYERS))
def test_no_false_alarm_on_channels_first_layers(one_torch_thread, name):
    model = torchvision_model(name)
    for size in [(64, 64), (64, 96)]:
        x = images(*size, n=1)
        maps = [(n, shape) for n, shape in module_outputs(model, x) if len(shape) == 4]
        assert len(maps) > 10
        for module_name, shape in maps:
            flagged = bool(channels_last_evidence(shape, input_plane(x, 4)))
            inside_block = bool(CONVNEXT_CHANNELS_LAST.fullmatch(module_name))
            assert flagged == (name == "convnext_tiny" and inside_block), (module_name, shape)
    x = images(64, 96)
    for layer in CHANNELS_FIRST_LAYERS[name]:
        got = InfoGradCam(model, model.get_submodule(layer)).attribute(x, target=[1, 7])
        assert got.isfinite().all()


class AnisotropicNet(nn.Module):
    """A channels-first map (N, 8, 8, 32) that pools rows 8x and columns 2x: it looks
    channels-last from a 64 x 64 input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AvgPool2d((8, 2))
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.tanh(self.conv(x))).mean((2, 3)))


def test_identity_reshape_overrides_the_check():
    model, x, target = AnisotropicNet().eval(), images(64, 64), torch.tensor([1, 3])
    with pytest.raises(ValueError, match=r"\(2, 8, 8, 32\) looks channels-last"):
        InfoGradCam(model, model.pool).attribute(x, target)
    got = InfoGradCam(model, model.pool, reshape=lambda t: t).attribute(
        x, target, contrast="none", region_size=1
    )
    expected = 8 * 32 * LayerGradCam(model, model.pool).attribute(x, target)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


class TinyVideoSwin(nn.Module):
    """Swin3D-like: a 3-D patch embedding, channels-last (N, t, h, w, C) after it, a mean head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.patch = nn.Conv3d(3, 32, (2, 4, 4), stride=(2, 4, 4))
        self.norm = nn.LayerNorm(32)
        self.mlp = nn.Sequential(nn.Linear(32, 24), nn.GELU())
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.norm(self.patch(x).permute(0, 2, 3, 4, 1))
        return self.head(self.mlp(tokens).mean((1, 2, 3)))


def test_channels_last_video_is_refused_and_permuted():
    model, target = TinyVideoSwin().eval(), torch.tensor([0, 4])
    x = torch.randn(2, 3, 4, 32, 48, generator=torch.Generator().manual_seed(0))
    with pytest.raises(
        ValueError, match=r"\(2, 2, 8, 12, 32\) looks channels-last.*permute\(0, 4, 1, 2, 3\)"
    ):
        InfoGradCam(model, model.norm).attribute(x, target)
    got = InfoGradCam(model, model.norm, reshape=lambda t: t.permute(0, 4, 1, 2, 3)).attribute(
        x, target, contrast="none", region_size=1
    )
    # by hand: the stage's output and its gradient, channels-first
    stored = []
    handle = model.norm.register_forward_hook(lambda m, a, out: stored.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), stored[0])
    a, g = stored[0].detach().permute(0, 4, 1, 2, 3), gradient.permute(0, 4, 1, 2, 3)
    expected = (g.sum((2, 3, 4), keepdim=True) * a).sum(1, keepdim=True)  # hw * mean = sum
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # the channels-first patch embedding is not flagged
    assert InfoGradCam(model, model.patch).attribute(x, target).shape == (2, 1, 2, 8, 12)


@pytest.mark.parametrize(
    ("shape", "plane", "flagged"),
    [
        ((2, 14, 14, 384), (224, 224), True),  # a Swin stage
        ((2, 384, 14, 14), (224, 224), False),
        ((2, 14, 20, 384), (224, 320), True),  # a rectangular input
        ((2, 384, 14, 20), (224, 320), False),
        ((2, 8, 11, 2048), (299, 399), True),  # valid convolutions (Inception) round down
        ((2, 2048, 8, 11), (299, 399), False),
        ((2, 256, 256, 96), (1024, 1024), True),  # fewer channels than positions per side
        ((2, 96, 96, 96), (384, 384), False),  # a cube: both readings fit, nothing is said
        ((2, 512, 1, 25), (32, 100), False),  # pooled to one row (text lines): neither fits
        ((2, 7, 7, 768), None, True),  # no image input: a square grid, more channels
        ((2, 768, 7, 7), None, False),
        ((2, 8, 8, 4), None, False),
        ((2, 7, 7, 768), (224, 3), True),  # the input itself is channels-last: neither fits
        ((2, 4, 2, 2, 768), (64, 64), True),  # video (N, t, h, w, C)
        ((2, 768, 4, 2, 2), (64, 64), False),
        ((2, 197, 768), (224, 224), False),  # tokens: the head's width decides, not the plane
    ],
)
def test_channels_last_evidence(shape, plane, flagged):
    assert bool(channels_last_evidence(shape, plane)) == flagged


def test_input_plane_is_the_first_floating_input_of_the_maps_dimensions():
    ids, image = torch.zeros(2, 5, 6, 7, dtype=torch.long), torch.zeros(2, 3, 40, 30)
    assert input_plane((ids, image), 4) == (40, 30)
    assert input_plane(image, 5) is None
    assert input_plane(ids, 4) is None
