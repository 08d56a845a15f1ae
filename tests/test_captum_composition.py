"""The package inside Captum: metrics, visualisers, NoiseTunnel; brute-force references."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam, NoiseTunnel
from captum.attr import visualization as captum_visualization
from captum.metrics import infidelity, sensitivity_max
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI
from captum_infocam.gradient import InfoGradCam
from captum_infocam.input_space import as_input_attribution, upsample_to_input
from captum_infocam.visualization import as_hwc_array

SAMPLES = 3


class ImageAndDepthNet(nn.Module):
    """Takes a tuple: an RGB image (N, 3, H, W) and a depth map (N, 1, H, W); GAP + linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1)
        )
        self.fc = nn.Linear(8, 5)

    def forward(self, image: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(torch.cat([image, depth], dim=1)).mean(dim=(2, 3)))


@pytest.fixture
def model() -> ImageAndDepthNet:
    return ImageAndDepthNet().eval()


@pytest.fixture
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 12, 10, generator=gen), torch.rand(3, 1, 12, 10, generator=gen)


TARGET = [0, 3, 1]


def patterns(like: torch.Tensor, seed: int) -> torch.Tensor:
    """SAMPLES fixed perturbation patterns of one example's shape."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(SAMPLES, *like.shape[1:], generator=gen)


def perturb_deterministically(inputs, perturb_radius):
    """Row j of Captum's expanded batch is sample j % SAMPLES of its example: add its pattern."""
    rows = torch.arange(inputs[0].shape[0]) % SAMPLES
    return tuple(x + perturb_radius * patterns(x, i)[rows] for i, x in enumerate(inputs))


def methods(model):
    return {
        "InfoGradCam": InfoGradCam(model, model.features),
        "InfoCAM": InfoCAM(model, model.features),
        "LayerPMI": LayerPMI(model, model.features),
    }


# ---------------------------------------------------------------------------- sensitivity_max


@pytest.mark.parametrize("name", ["InfoGradCam", "InfoCAM", "LayerPMI"])
def test_sensitivity_max_on_tuple_inputs_matches_brute_force(model, inputs, name):
    """sensitivity_max = max over perturbations of ||e(x') - e(x)|| / ||e(x)||, per example."""
    method = methods(model)[name]
    explain = as_input_attribution(method, mode=None)
    got = sensitivity_max(
        explain,
        inputs,
        perturb_func=perturb_deterministically,
        perturb_radius=0.1,
        n_perturb_samples=SAMPLES,
        target=TARGET,
    )
    reference = method.attribute(inputs, TARGET)
    expected = torch.zeros(3)
    for s in range(SAMPLES):
        perturbed = tuple(x + 0.1 * patterns(x, i)[s] for i, x in enumerate(inputs))
        change = (method.attribute(perturbed, TARGET) - reference).flatten(1).norm(dim=1)
        expected = torch.maximum(expected, change / reference.flatten(1).norm(dim=1))
    assert (expected > 0).all()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_sensitivity_max_is_scale_free_so_grad_forms_agree_with_layer_gradcam(model, inputs):
    """InfoGradCam(contrast="none", region_size=1) is h*w LayerGradCam: the same sensitivity."""
    kwargs = {"perturb_func": perturb_deterministically, "n_perturb_samples": SAMPLES}
    ours = sensitivity_max(
        as_input_attribution(InfoGradCam(model, model.features)),
        inputs,
        target=TARGET,
        contrast="none",
        region_size=1,
        **kwargs,
    )
    captum = sensitivity_max(
        as_input_attribution(LayerGradCam(model, model.features)), inputs, target=TARGET, **kwargs
    )
    torch.testing.assert_close(ours, captum, rtol=1e-4, atol=1e-6)


def test_captum_misreads_plain_layer_attributions_in_sensitivity_max(model, inputs):
    """Why as_input_attribution exists: Captum iterates over a layer method's plain tensor as if
    it were a tuple of per-input maps, for its own LayerGradCam as for ours (N > 1)."""
    for method in (LayerGradCam(model, model.features), InfoGradCam(model, model.features)):
        with pytest.raises(RuntimeError, match="must match the size"):
            sensitivity_max(method.attribute, inputs, target=TARGET, n_perturb_samples=SAMPLES)


# --------------------------------------------------------------------------------- infidelity


def perturb_with_patterns(inputs):
    """Infidelity's perturb_func: returns the perturbations I and the perturbed inputs x - I."""
    rows = torch.arange(inputs[0].shape[0]) % SAMPLES
    perturbations = tuple(0.2 * patterns(x, 10 + i)[rows] for i, x in enumerate(inputs))
    return perturbations, tuple(x - p for x, p in zip(inputs, perturbations, strict=True))


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_with_upsampled_maps_matches_brute_force(model, inputs, normalize):
    """infidelity = mean over I of (sum(attr * I) - (f(x) - f(x - I)))^2, beta-scaled if asked."""
    method = InfoGradCam(model, model.features)
    attributions = upsample_to_input(method.attribute(inputs, TARGET), inputs)
    assert [a.shape for a in attributions] == [x.shape for x in inputs]
    got = infidelity(
        model,
        perturb_with_patterns,
        inputs,
        attributions,
        target=TARGET,
        n_perturb_samples=SAMPLES,
        normalize=normalize,
    )
    rows = torch.arange(3)
    with torch.no_grad():
        output = model(*inputs)[rows, TARGET]
        explained, changes = [], []
        for s in range(SAMPLES):
            perturbation = [0.2 * patterns(x, 10 + i)[s] for i, x in enumerate(inputs)]
            explained.append(
                sum(
                    (a * p).flatten(1).sum(1)
                    for a, p in zip(attributions, perturbation, strict=True)
                )
            )
            perturbed = [x - p for x, p in zip(inputs, perturbation, strict=True)]
            changes.append(output - model(*perturbed)[rows, TARGET])
    explained, changes = torch.stack(explained, 1), torch.stack(changes, 1)
    if normalize:
        beta = (explained * changes).sum(1, keepdim=True) / explained.pow(2).sum(1, keepdim=True)
        explained = beta * explained
    expected = (explained - changes).pow(2).mean(1)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)


def test_upsample_to_input_shapes_channels_and_values():
    maps = torch.arange(6.0).reshape(1, 1, 2, 3).repeat(2, 1, 1, 1)
    image = torch.zeros(2, 3, 4, 6)
    nearest = upsample_to_input(maps, image, mode="nearest")
    expected = maps.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3).expand(-1, 3, -1, -1)
    assert torch.equal(nearest, expected)
    split = upsample_to_input(maps, image, mode="nearest", split_channels=True)
    torch.testing.assert_close(split.sum(dim=1, keepdim=True), expected[:, :1])
    same_size = upsample_to_input(maps, torch.zeros(2, 1, 2, 3))
    assert torch.equal(same_size, maps)  # bilinear at the same size is the identity
    pair = upsample_to_input(maps, (image, torch.zeros(2, 1, 4, 6)), mode="nearest")
    assert isinstance(pair, tuple) and pair[1].shape == (2, 1, 4, 6)
    assert torch.equal(pair[1], expected[:, :1])


def test_upsample_to_input_single_channel_is_the_first_of_the_repeated_channels():
    maps = torch.randn(2, 1, 3, 5, dtype=torch.float64)
    image = torch.zeros(2, 3, 12, 20)
    for mode in ("nearest", "bilinear", "bicubic"):
        single = upsample_to_input(maps, image, mode=mode, single_channel=True)
        assert single.shape == (2, 1, 12, 20) and single.dtype == torch.float64
        assert torch.equal(single, upsample_to_input(maps, image, mode=mode)[:, :1])
        assert torch.equal(single, LayerAttribution.interpolate(maps, (12, 20), mode))
    pair = upsample_to_input(maps, (image, image[:, :1]), single_channel=True)
    assert [tuple(x.shape) for x in pair] == [(2, 1, 12, 20)] * 2
    with pytest.raises(ValueError, match="at most one of single_channel and split_channels"):
        upsample_to_input(maps, image, split_channels=True, single_channel=True)
    with pytest.raises(ValueError, match="single_channel=True needs attributions with one"):
        upsample_to_input(maps.expand(-1, 3, -1, -1), image, single_channel=True)


@pytest.mark.parametrize(
    ("map_shape", "input_shape", "multilinear"),
    [((2, 1, 5), (2, 4, 20), "linear"), ((2, 1, 2, 3, 4), (2, 2, 6, 6, 8), "trilinear")],
)
def test_upsample_to_input_series_and_volumes(map_shape, input_shape, multilinear):
    maps = torch.randn(map_shape, dtype=torch.float64)
    inputs = torch.zeros(input_shape)
    size = input_shape[2:]
    expected = F.interpolate(maps, size=size, mode=multilinear, align_corners=False)
    single = upsample_to_input(maps, inputs, single_channel=True)
    assert torch.equal(single, expected)
    assert torch.equal(single, LayerAttribution.interpolate(maps, size, multilinear))
    repeated = upsample_to_input(maps, inputs, mode="nearest")
    assert repeated.shape == input_shape and repeated.is_contiguous()
    for channel in range(input_shape[1]):
        assert torch.equal(repeated[:, channel : channel + 1], F.interpolate(maps, size=size))
    split = upsample_to_input(maps, inputs, split_channels=True)
    torch.testing.assert_close(split.sum(1, keepdim=True), expected)


def test_upsample_to_input_errors():
    maps = torch.zeros(2, 1, 2, 3)
    with pytest.raises(ValueError, match=r"attributions must be a tensor of shape \(N, 1, h, w\)"):
        upsample_to_input(torch.zeros(2, 6), torch.zeros(2, 3, 4, 6))
    with pytest.raises(ValueError, match=r"inputs must be of shape \(N, C, H, W\) like the 2-D"):
        upsample_to_input(maps, torch.zeros(2, 10))
    with pytest.raises(ValueError, match=r"inputs must be of shape \(N, C, L\) like the 1-D"):
        upsample_to_input(torch.zeros(2, 1, 5), torch.zeros(2, 3, 4, 6))
    with pytest.raises(ValueError, match="mode='bicubic' needs 2-D maps, got 3-D"):
        upsample_to_input(torch.zeros(2, 1, 2, 2, 2), torch.zeros(2, 1, 4, 4, 4), mode="bicubic")
    with pytest.raises(ValueError, match="attributions hold 2 examples but the inputs hold 3"):
        upsample_to_input(maps, torch.zeros(3, 3, 4, 6))
    with pytest.raises(ValueError, match="1 channel or the input's 3, got 2"):
        upsample_to_input(torch.zeros(2, 2, 2, 3), torch.zeros(2, 3, 4, 6))
    with pytest.raises(ValueError, match="mode must be one of"):
        upsample_to_input(maps, torch.zeros(2, 3, 4, 6), mode="linear")
    with pytest.raises(TypeError, match="inputs must be a tensor or a tuple"):
        upsample_to_input(maps, [torch.zeros(2, 3, 4, 6)])
    with pytest.raises(TypeError, match="method must be an Attribution or a callable"):
        as_input_attribution("InfoCAM")


# ------------------------------------------------------------------------------- visualisers


def test_visualize_image_attr_shows_our_maps_in_place(model, inputs):
    """Captum's visualiser on our upsampled HWC map: the image's shape, the map's signs."""
    maps = InfoGradCam(model, model.features).attribute(inputs, TARGET)
    upsampled = upsample_to_input(maps, inputs[0])[:, :1]
    attr, image = as_hwc_array(upsampled[1]), as_hwc_array(inputs[0][1])
    assert attr.shape == (12, 10, 1) and image.shape == (12, 10, 3)
    _, axis = captum_visualization.visualize_image_attr(
        attr, image, method="blended_heat_map", sign="all", use_pyplot=False
    )
    heat = np.asarray(axis.images[-1].get_array())
    assert heat.shape == (12, 10)
    values = attr[..., 0]
    assert np.array_equal(np.sign(heat), np.sign(values))
    assert np.abs(heat).max() == 1.0  # Captum's normalisation to [-1, 1]


def test_visualize_image_attr_multiple(model, inputs):
    maps = InfoCAM(model, model.features).attribute(inputs, TARGET)
    attr = as_hwc_array(upsample_to_input(maps, inputs[0])[0, :1])
    _, axes = captum_visualization.visualize_image_attr_multiple(
        attr,
        as_hwc_array(inputs[0][0]),
        ["original_image", "heat_map", "blended_heat_map"],
        ["all", "positive", "all"],
        titles=["image", "positive", "signed"],
        use_pyplot=False,
    )
    assert len(axes) == 3 and [a.get_title() for a in axes] == ["image", "positive", "signed"]
    positive = np.asarray(axes[1].images[-1].get_array())
    assert np.array_equal(positive > 0, attr[..., 0] > 0)


# ------------------------------------------------------------------------------- NoiseTunnel


@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(cls, id=cls.__name__)
        for cls in (InfoGradCam, InfoCAM, ClassActivationMap, LayerPMI)
    ],
)
def test_noise_tunnel_averages_maps_of_noisy_inputs(model, inputs, cls):
    """smoothgrad = mean of the maps of the noisy copies; vargrad = their variance."""
    method = cls(model, model.features)
    stdev = 0.1
    torch.manual_seed(7)
    smooth = NoiseTunnel(method).attribute(
        inputs, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=stdev, target=TARGET
    )
    torch.manual_seed(7)  # the noise NoiseTunnel draws: one normal sample per input, in order
    noisy = tuple(
        x.repeat_interleave(SAMPLES, 0)
        + torch.normal(0, torch.full((3 * SAMPLES, *x.shape[1:]), stdev))
        for x in inputs
    )
    per_copy = method.attribute(noisy, torch.tensor(TARGET).repeat_interleave(SAMPLES))
    per_copy = per_copy.view(3, SAMPLES, *per_copy.shape[1:])
    torch.testing.assert_close(smooth, per_copy.mean(1))
    torch.manual_seed(7)
    var = NoiseTunnel(method).attribute(
        inputs, nt_type="vargrad", nt_samples=SAMPLES, stdevs=stdev, target=TARGET
    )
    torch.testing.assert_close(var, per_copy.var(1, correction=0), rtol=1e-4, atol=1e-5)
