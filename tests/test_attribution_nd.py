"""1-D (time series, text) and 3-D (volumes, video) layers through the four attributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI, maps
from captum_infocam.attribution import find_gap_head

K = 5


class TextCNN(nn.Module):
    """Token ids (N, L) -> embedding -> two 1-D convolutions -> mean over time -> linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 8)
        self.features = nn.Sequential(
            nn.Conv1d(8, 12, 3, padding=1), nn.ReLU(), nn.Conv1d(12, 12, 3, padding=1), nn.ReLU()
        )
        self.fc = nn.Linear(12, K)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(self.embed(tokens).transpose(1, 2)).mean(dim=2))


class SeriesNet(nn.Module):
    """Multichannel time series (N, 2, T) -> 1-D convolutions -> pooling -> kernel-1 conv head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.features = nn.Sequential(nn.Conv1d(2, 6, 5, stride=2, padding=2), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Conv1d(6, K, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x))).flatten(1)


class VolumeNet(nn.Module):
    """Volumes or clips (N, 1, D, H, W) -> 3-D convolutions -> global average -> linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.features = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv3d(4, 6, 3, stride=(1, 2, 2), padding=1),
        )
        self.fc = nn.Linear(6, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3, 4)))


def inputs_of(name: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    if name == "TextCNN":
        return torch.randint(0, 50, (3, 11), generator=gen)
    if name == "SeriesNet":
        return torch.randn(3, 2, 20, generator=gen)
    return torch.randn(3, 1, 4, 6, 8, generator=gen)


MODELS = {"TextCNN": TextCNN, "SeriesNet": SeriesNet, "VolumeNet": VolumeNet}
TARGET = torch.tensor([0, 3, 4])


def evaluate(model: nn.Module, x: torch.Tensor):
    """The layer's activations, the head and the logits, read directly."""
    layer = model.features
    captured = []
    handle = layer.register_forward_hook(lambda m, a, out: captured.append(out.detach()))
    with torch.no_grad():
        logits = model(x)
    handle.remove()
    head = model.fc if hasattr(model, "fc") else model.head
    return captured[0], head.weight.detach().flatten(1), head.bias.detach(), logits


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_and_head_are_found_in_1d_and_3d(name):
    model = MODELS[name]().eval()
    found = find_gap_head(model, inputs_of(name))
    assert found.layer is model.features
    assert found.head is (model.fc if name != "SeriesNet" else model.head)


@pytest.mark.parametrize("name", list(MODELS))
def test_maps_equal_the_map_functions(name):
    model, x = MODELS[name]().eval(), inputs_of(name)
    activations, weight, bias, logits = evaluate(model, x)
    spatial = activations.dim() - 2
    windows = [1, 3, None] + ([(1, 3, 3)] if spatial == 3 else [])
    for region_size in windows:
        paddings = ["same"] if region_size is None else ["same", "full"]
        for padding in paddings:
            kwargs = {"region_size": region_size, "padding": padding}
            got = ClassActivationMap(model).attribute(x, TARGET, **kwargs)
            expected = maps.class_activation_map(activations, weight, TARGET, **kwargs)
            torch.testing.assert_close(got, expected)
            for contrast in ("mean", "most_likely", torch.tensor([1, 0, 2])):
                got = InfoCAM(model).attribute(
                    x, TARGET, contrast=contrast, contrast_weight=0.5, **kwargs
                )
                expected = maps.info_cam(
                    activations,
                    weight,
                    bias,
                    TARGET,
                    contrast,
                    region_size,
                    logits,
                    contrast_weight=0.5,
                    padding=padding,
                )
                assert got.shape[:2] == (3, 1) and got.dim() == 2 + spatial
                torch.testing.assert_close(got, expected)
            got = LayerPMI(model, class_prior=[1, 2, 3, 4, 5]).attribute(x, TARGET, **kwargs)
            expected = maps.pmi_map(
                activations, weight, bias, TARGET, [1, 2, 3, 4, 5], region_size, padding=padding
            )
            torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", list(MODELS))
def test_whole_map_identities_and_the_gradient_form(name):
    model, x = MODELS[name]().eval(), inputs_of(name)
    _, weight, bias, logits = evaluate(model, x)
    z_y = logits[torch.arange(3), TARGET]
    info = InfoCAM(model).attribute(x, TARGET, region_size=None).flatten(2)
    torch.testing.assert_close(info[:, 0, 0], z_y - (logits.sum(1) - z_y) / (K - 1))
    pmi = LayerPMI(model).attribute(x, TARGET, region_size=None).flatten(2)
    expected = torch.log_softmax(logits, 1)[torch.arange(3), TARGET] + math.log(K)
    torch.testing.assert_close(pmi[:, 0, 0], expected)
    for region_size, padding in ((1, "same"), (2, "same"), (3, "full")):
        kwargs = {"region_size": region_size, "padding": padding, "contrast": "least_likely"}
        grad = InfoGradCam(model, model.features).attribute(x, TARGET, **kwargs)
        info = InfoCAM(model).attribute(x, TARGET, **kwargs)
        _, bias_contrast = maps.contrast_weights(weight, bias, TARGET, "least_likely", logits)
        shape = (-1,) + (1,) * (info.dim() - 1)
        torch.testing.assert_close(grad, info - bias_contrast.reshape(shape))


def test_1d_infocam_against_brute_force():
    """Clipped 3-wide windows written out with loops: s_k(i) = mean M_k over the window + b_k,
    infoCAM_y(i) = s_y(i) - mean_{k != y} s_k(i)."""
    model, x = SeriesNet().eval(), inputs_of("SeriesNet")
    activations, weight, bias, _ = evaluate(model, x)
    got = InfoCAM(model).attribute(x, TARGET, region_size=3)
    cams = torch.einsum("kc,nct->nkt", weight, activations).double()
    length = cams.shape[-1]
    for n, y in enumerate(TARGET.tolist()):
        for i in range(length):
            window = cams[n, :, max(0, i - 1) : min(length, i + 2)].mean(dim=1) + bias.double()
            expected = window[y] - (window.sum() - window[y]) / (K - 1)
            torch.testing.assert_close(got[n, 0, i].double(), expected, rtol=1e-5, atol=1e-5)


def test_3d_cam_against_brute_force():
    """1 x 3 x 3 windows over (depth, height, width), clipped, written out with loops."""
    model, x = VolumeNet().eval(), inputs_of("VolumeNet")
    activations, weight, _, _ = evaluate(model, x)
    got = ClassActivationMap(model).attribute(x, TARGET, region_size=(1, 3, 3))
    cam = torch.einsum("nc,ncdhw->ndhw", weight[TARGET], activations).double()
    depth, height, width = cam.shape[1:]
    assert got.shape == (3, 1, depth, height, width)
    for d in range(depth):
        for i in range(height):
            for j in range(width):
                window = cam[:, d, max(0, i - 1) : i + 2, max(0, j - 1) : j + 2]
                torch.testing.assert_close(
                    got[:, 0, d, i, j].double(), window.mean(dim=(1, 2)), rtol=1e-5, atol=1e-6
                )


def test_window_per_dimension_must_match_the_layer():
    model, x = VolumeNet().eval(), inputs_of("VolumeNet")
    with pytest.raises(ValueError, match=r"one int >= 1 per spatial dimension \(3 here\)"):
        InfoCAM(model).attribute(x, region_size=(3, 3))
    with pytest.raises(ValueError, match="padding='full' grows the map"):
        LayerPMI(model).attribute(x, region_size=None, padding="full")
