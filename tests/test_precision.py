"""Precision and layout: autocast (bfloat16, float16), float64, channels_last, torch.compile.

Stated tolerances, relative to the largest absolute value of the float32 map:

* autocast: the model runs in half precision, so the activations carry its rounding
  (unit roundoff 2^-8 for bfloat16, 2^-11 for float16); the maps are accumulated in float32, so
  the map's error stays within a few units of that: 2^-6 (bfloat16) and 2^-9 (float16). For
  nonlinear heads the gradients are half precision too and the channel sum cancels, so the test
  bounds one minus the cosine similarity of the maps instead: 2^-6 and 2^-12;
* float64: the float32 map is within 1e-5 of the float64 one, and the exact identities hold to
  1e-12 in float64;
* channels_last: the same map as contiguous inputs up to float32 reordering, 1e-5.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI, maps
from captum_infocam.gradient import InfoGradCam, grad_cam_map

from conftest import TinyGAPNet

METHODS = [InfoGradCam, InfoCAM, LayerPMI, ClassActivationMap]
AUTOCAST_TOLERANCE = {torch.bfloat16: 2.0**-6, torch.float16: 2.0**-9}
COSINE_TOLERANCE = {torch.bfloat16: 2.0**-6, torch.float16: 2.0**-12}


# The shared GAP network, wider: 16 channels, 6 classes.
ConvNet = functools.partial(TinyGAPNet, channels=16, classes=6)


class FCHeadNet(TinyGAPNet):
    """The same trunk with a fully connected head on the flattened map (16 x 8 x 8)."""

    def __init__(self) -> None:
        super().__init__(channels=16, classes=6)
        self.fc = nn.Sequential(nn.Linear(16 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class TokenNet(nn.Module):
    """Patch embedding + class token + two transformer blocks; the head reads the class token."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.blocks = nn.Sequential(
            *[
                nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
                for _ in range(2)
            ]
        )
        self.head = nn.Linear(16, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        return self.head(self.blocks(tokens)[:, 0])


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))


TARGET = [0, 5, 2, 3]


def relative_error(got: torch.Tensor, reference: torch.Tensor) -> float:
    return float((got.double() - reference.double()).abs().max() / reference.abs().max())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("cls", [pytest.param(c, id=c.__name__) for c in METHODS])
def test_autocast_on_cpu_accumulates_in_float32(images, cls, dtype):
    model = ConvNet().eval()
    reference = cls(model, model.features).attribute(images, TARGET)
    with torch.autocast("cpu", dtype=dtype):
        got = cls(model, model.features).attribute(images, TARGET)
    assert got.dtype == torch.float32
    assert relative_error(got, reference) <= AUTOCAST_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("model_class", [FCHeadNet, TokenNet])
def test_autocast_beyond_gap_heads(images, model_class, dtype):
    model = model_class().eval()
    if model_class is TokenNet:
        method = InfoGradCam(model, model.blocks[0], reshape=(4, 4))
    else:
        method = InfoGradCam(model, model.features)
    reference = method.attribute(images, TARGET)
    with torch.autocast("cpu", dtype=dtype):
        got = method.attribute(images, TARGET)
    assert got.dtype == torch.float32
    # The head's backward pass runs in half precision too, and the channel sum of a nonlinear
    # head cancels: compare the maps' directions, per example.
    cosine = torch.nn.functional.cosine_similarity(got.flatten(1), reference.flatten(1))
    assert (1 - cosine).max() <= COSINE_TOLERANCE[dtype]


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_float64_models_give_float64_maps(images, cls):
    model = ConvNet().eval()
    reference = cls(model, model.features).attribute(images, TARGET)
    model64 = ConvNet().eval().double()
    got = cls(model64, model64.features).attribute(images.double(), TARGET)
    assert got.dtype == torch.float64
    assert relative_error(reference, got) <= 1e-5


def test_gap_identity_is_exact_in_float64(images):
    model = ConvNet().eval().double()
    images = images.double()
    with torch.no_grad():
        logits = model(images)
    weight, bias = model.fc.weight.detach(), model.fc.bias.detach()
    target = torch.tensor(TARGET)
    for contrast in ("mean", "least_likely", "none"):
        got = InfoGradCam(model, model.features).attribute(images, target, contrast=contrast)
        info = InfoCAM(model, model.features).attribute(images, target, contrast=contrast)
        _, bias_contrast = maps.contrast_weights(weight, bias, target, contrast, logits)
        expected = info - bias_contrast[:, None, None, None]
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_channels_last_inputs_and_models(images, cls):
    kwargs = {} if cls is ClassActivationMap else {"region_size": 2}
    model = ConvNet().eval()
    reference = cls(model, model.features).attribute(images, TARGET, **kwargs)
    last = ConvNet().eval().to(memory_format=torch.channels_last)
    inputs = images.contiguous(memory_format=torch.channels_last)
    got = cls(last, last.features).attribute(inputs, TARGET, **kwargs)
    assert got.shape == reference.shape
    assert relative_error(got, reference) <= 1e-5
    assert torch.equal(inputs, images.contiguous(memory_format=torch.channels_last))


# ----------------------------------------------------------------------------- torch.compile


def core_arguments():
    gen = torch.Generator().manual_seed(2)
    activations = torch.randn(2, 8, 7, 6, generator=gen).relu()
    gradients = torch.randn(2, 8, 7, 6, generator=gen)
    weight, bias = torch.randn(5, 8, generator=gen), torch.randn(5, generator=gen)
    return activations, gradients, weight, bias


def functional_core(activations, gradients, weight, bias, target):
    return (
        maps.info_cam(activations, weight, bias, target, "mean", 3),
        maps.info_cam(activations, weight, bias, target, "least_likely", 2),
        maps.pmi_maps(activations, weight, bias, None, 3),
        grad_cam_map(activations, gradients, 2),
    )


def test_functional_core_under_torch_compile():
    """Dynamo traces the core (AOT autograd, no C++ build: seconds); same values, no retrace."""
    torch._dynamo.reset()
    activations, gradients, weight, bias = core_arguments()
    compiled = torch.compile(functional_core, backend="aot_eager")
    for target in (torch.tensor([1, 4]), torch.tensor([0, 2])):
        got = compiled(activations, gradients, weight, bias, target)
        expected = functional_core(activations, gradients, weight, bias, target)
        for g, e in zip(got, expected, strict=True):
            torch.testing.assert_close(g, e)
    # the map functions of a single graph compile with fullgraph=True
    for function, args in [
        (maps.pmi_maps, (activations, weight, bias, None, 3)),
        (grad_cam_map, (activations, gradients, 3)),
    ]:
        full = torch.compile(function, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(full(*args), function(*args))


def test_info_cam_compiles_as_one_graph():
    torch._dynamo.reset()
    activations, _, weight, bias = core_arguments()
    full = torch.compile(maps.info_cam, backend="aot_eager", fullgraph=True)
    full(activations, weight, bias, torch.tensor([1, 4]))


@pytest.mark.slow
def test_functional_core_under_inductor():
    """The default backend generates and builds C++ kernels: about 50 s on 2 CPU cores."""
    torch._dynamo.reset()
    activations, gradients, weight, bias = core_arguments()
    compiled = torch.compile(functional_core)
    target = torch.tensor([3, 0])
    got = compiled(activations, gradients, weight, bias, target)
    expected = functional_core(activations, gradients, weight, bias, target)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------- cuda


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("cls", [pytest.param(c, id=c.__name__) for c in METHODS])
def test_autocast_on_cuda(images, cls, dtype):
    model = ConvNet().eval().cuda()
    images = images.cuda()
    reference = cls(model, model.features).attribute(images, TARGET)
    with torch.autocast("cuda", dtype=dtype):
        got = cls(model, model.features).attribute(images, TARGET)
    assert got.is_cuda and got.dtype == torch.float32
    assert relative_error(got, reference) <= AUTOCAST_TOLERANCE[dtype]
