"""The Captum classes: identities on random GAP + linear models, peers, conventions, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn
from torchvision.models import resnet18

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI


class TinyGAPNet(nn.Module):
    """conv trunk -> global average pooling -> linear head; ``scale`` is an extra forward arg."""

    def __init__(self, channels: int = 8, classes: int = 5, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.fc(self.features(x * scale).mean(dim=(2, 3)))


class TwoInputNet(TinyGAPNet):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x + y)


class FullyConvNet(nn.Module):
    """A 1x1 convolution as the classifier, applied after pooling."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3), keepdim=True)).flatten(1)


class MLPHeadNet(TinyGAPNet):
    """GAP followed by a two-layer MLP: not a CAM-compatible head."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))


@pytest.fixture
def model() -> TinyGAPNet:
    return TinyGAPNet().eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(4, 3, 12, 10, generator=torch.Generator().manual_seed(0))


def logits_of(model, images, *args):
    with torch.no_grad():
        return model(images, *args)


def test_whole_map_identities(model, images):
    region_size = None
    logits = logits_of(model, images)
    target = torch.tensor([0, 3, 1, 4])
    z_y = logits.gather(1, target[:, None])[:, 0]
    info = InfoCAM(model, model.features).attribute(images, target, region_size=region_size)
    torch.testing.assert_close(info[:, 0, 0, 0], z_y - (logits.sum(1) - z_y) / 4)
    assert torch.equal(info, info[:, :, :1, :1].expand_as(info))
    pmi = LayerPMI(model, model.features).attribute(images, target, region_size=region_size)
    expected = torch.log_softmax(logits, 1).gather(1, target[:, None])[:, 0] + math.log(5)
    torch.testing.assert_close(pmi[:, 0, 0, 0], expected)
    prior = torch.tensor([5.0, 1.0, 1.0, 2.0, 1.0])
    pc = LayerPMI(model, model.features, class_prior=prior).attribute(
        images, target, region_size=None
    )
    log_q = z_y - torch.logsumexp(logits + (prior / prior.sum()).log(), dim=1)
    torch.testing.assert_close(pc[:, 0, 0, 0], log_q)


def test_cam_mean_plus_bias_is_the_logit(model, images):
    logits = logits_of(model, images)
    target = torch.tensor([2, 2, 0, 1])
    cam = ClassActivationMap(model, model.features).attribute(images, target)
    torch.testing.assert_close(
        cam.mean(dim=(1, 2, 3)) + model.fc.bias[target].detach(),
        logits.gather(1, target[:, None])[:, 0],
    )


def test_cam_equals_captum_layer_gradcam_on_resnet18():
    """Captum's own LayerGradCam is the oracle: on a GAP + linear ResNet it is CAM / (h w)."""
    model = resnet18(weights=None, num_classes=7).eval()
    images = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    target = [3, 5]
    cam = ClassActivationMap(model, model.layer4).attribute(images, target)
    grad_cam = LayerGradCam(model, model.layer4).attribute(images, target)
    height, width = cam.shape[-2:]
    assert cam.shape == grad_cam.shape == (2, 1, 3, 3)
    torch.testing.assert_close(cam / (height * width), grad_cam, rtol=1e-4, atol=1e-6)
    relu = ClassActivationMap(model, model.layer4).attribute(images, target, relu_attributions=True)
    torch.testing.assert_close(relu, cam.clamp(min=0))


def test_target_forms_agree(model, images):
    info_cam = InfoCAM(model, model.features)
    top1 = logits_of(model, images).argmax(1)
    reference = info_cam.attribute(images, top1)
    for target in (None, top1.tolist(), top1.int()):
        torch.testing.assert_close(info_cam.attribute(images, target), reference)
    single = info_cam.attribute(images, 2)
    for same in (torch.tensor(2), torch.tensor([2]), (2,), np.int64(2), [2], np.array([2])):
        torch.testing.assert_close(info_cam.attribute(images, same), single)
    torch.testing.assert_close(info_cam.attribute(images, [2, 2, 2, 2]), single)
    torch.testing.assert_close(info_cam.attribute(images, top1.numpy()), reference)


@pytest.mark.parametrize("cls", [ClassActivationMap, InfoCAM, LayerPMI])
def test_batched_targets_equal_one_by_one(model, images, cls):
    method = cls(model, model.features)
    target = [4, 0, 2, 2]
    batched = method.attribute(images, target)
    for n, y in enumerate(target):
        torch.testing.assert_close(batched[n : n + 1], method.attribute(images[n : n + 1], y))


def test_region_size_and_contrasts_use_maps_core(model, images):
    from captum_infocam import maps

    activations = model.features(images).detach()
    weight, bias = model.fc.weight.detach(), model.fc.bias.detach()
    target = torch.tensor([1, 2, 3, 4])
    for contrast in ("mean", "least_likely", "none"):
        for region_size in (1, 2, 3, 4, None):
            got = InfoCAM(model, model.features).attribute(
                images, target, contrast=contrast, region_size=region_size
            )
            expected = maps.info_cam(activations, weight, bias, target, contrast, region_size)
            torch.testing.assert_close(got, expected)


def test_classifier_forms(images):
    model = FullyConvNet().eval()
    pair = (model.head.weight.flatten(1), model.head.bias)
    expected = InfoCAM(model, model.features, classifier=pair).attribute(images, 1)
    torch.testing.assert_close(
        InfoCAM(model, model.features, classifier=model.head).attribute(images, 1), expected
    )
    # the 1x1 convolution head after pooling is found from the forward pass (timm's ResNetV2)
    torch.testing.assert_close(InfoCAM(model, model.features).attribute(images, 1), expected)
    torch.testing.assert_close(InfoCAM(model).attribute(images, 1), expected)
    no_bias = (model.head.weight.flatten(1).detach(), None)
    cam = ClassActivationMap(model, model.features, classifier=no_bias)
    with pytest.raises(ValueError, match="not a linear function"):
        cam.attribute(images, 1)  # the model has a bias that the pair leaves out


def test_additional_forward_args_and_tuple_inputs(model, images):
    scaled = InfoCAM(model, model.features).attribute(images, 1, additional_forward_args=(2.0,))
    torch.testing.assert_close(scaled, InfoCAM(model, model.features).attribute(2 * images, 1))
    two = TwoInputNet().eval()
    other = torch.randn_like(images)
    got = LayerPMI(two, two.features).attribute((images, other), 3)
    one = TinyGAPNet().eval()  # same seed, same weights
    torch.testing.assert_close(got, LayerPMI(one, one.features).attribute(images + other, 3))


class PoolModuleNet(TinyGAPNet):
    """The pooling is a module, so its *input* is the map the head pools."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.fc(self.pool(self.features(x)).flatten(1))


def test_layer_input(images):
    model = PoolModuleNet().eval()
    from_input = InfoCAM(model, model.pool).attribute(images, 0, attribute_to_layer_input=True)
    torch.testing.assert_close(from_input, InfoCAM(model, model.features).attribute(images, 0))
    with pytest.raises(ValueError, match="not a linear function"):
        InfoCAM(model, model.features[3]).attribute(images, 0)  # before the last ReLU


def test_nothing_is_mutated(images):
    model = TinyGAPNet().train()
    images = images.clone().requires_grad_()
    before = images.detach().clone()
    hooks = [dict(m._forward_hooks) for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    InfoCAM(model, model.features).attribute(images, 0)
    LayerPMI(model, model.features).attribute(images)
    assert model.training
    assert images.requires_grad and torch.equal(images.detach(), before) and images.grad is None
    assert [dict(m._forward_hooks) for m in model.modules()] == hooks
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    InfoCAM(model, model.features).attribute(images, 0)
    assert not model.training


def test_hooks_removed_when_forward_raises(model, images):
    def broken(x):
        model.features(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        InfoCAM(broken, model.features, classifier=model.fc).attribute(images, 0)
    assert not model.features._forward_hooks


def test_grad_modes(model, images):
    expected = InfoCAM(model, model.features).attribute(images, 1)
    with torch.no_grad():
        torch.testing.assert_close(InfoCAM(model, model.features).attribute(images, 1), expected)
    with torch.inference_mode():
        got = InfoCAM(model, model.features).attribute(images, 1)
    torch.testing.assert_close(got.clone(), expected)
    assert not expected.requires_grad


def test_float64_model(images):
    model = TinyGAPNet().eval()
    expected = LayerPMI(model, model.features).attribute(images, 1)
    model64 = TinyGAPNet().eval().double()
    got = LayerPMI(model64, model64.features).attribute(images.double(), 1)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got.float(), expected, rtol=1e-4, atol=1e-5)


def test_output_is_ready_for_interpolate(model, images):
    attributions = InfoCAM(model, model.features).attribute(images, 2)
    assert attributions.shape == (4, 1, 6, 5)
    upsampled = LayerAttribution.interpolate(attributions, images.shape[-2:], "bilinear")
    assert upsampled.shape == (4, 1, 12, 10)


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "target, error, message",
    [
        (5, ValueError, r"target must lie in \[0, 5\)"),
        ([0, 1, -1, 2], ValueError, r"target must lie in \[0, 5\)"),
        ([0, 1], ValueError, r"one class per example \(4\)"),
        (torch.zeros(2, 2, dtype=torch.long), ValueError, "one class per example"),
        (1.5, TypeError, "target"),
        (torch.tensor([0.0, 1, 2, 3]), TypeError, "integer class indices"),
        (True, TypeError, "target"),
        ("2", TypeError, "target"),
        ((1, 2), ValueError, "tuple target"),
    ],
)
def test_bad_targets(model, images, target, error, message):
    with pytest.raises(error, match=message):
        InfoCAM(model, model.features).attribute(images, target)


def test_bad_arguments(model, images):
    for size in (0, -2, 1.5):
        with pytest.raises(ValueError, match="region_size"):
            InfoCAM(model, model.features).attribute(images, region_size=size)
        with pytest.raises(ValueError, match="region_size"):
            LayerPMI(model, model.features).attribute(images, region_size=size)
    with pytest.raises(ValueError, match="contrast must be one of"):
        InfoCAM(model, model.features).attribute(images, contrast="max")
    for prior, message in [
        ([1, 1, -1, 1, 1], "non-negative"),
        ([0, 0, 0, 0, 0], "positive sum"),
        ([1, 1, math.inf, 1, 1], "finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            LayerPMI(model, model.features, class_prior=prior)
    with pytest.raises(ValueError, match="class_prior has 3 entries but the classifier has 5"):
        LayerPMI(model, model.features, class_prior=[1, 2, 3]).attribute(images)


def test_layer_output_not_a_feature_map(model, images):
    with pytest.raises(ValueError, match=r"output must be a tensor of shape \(N, C, \*spatial\)"):
        InfoCAM(model, model.fc, classifier=model.fc).attribute(images)


def test_channels_do_not_match_classifier(model, images):
    with pytest.raises(ValueError, match="takes 16 input channels but the layer's output has 8"):
        InfoCAM(model, model.features, classifier=nn.Linear(16, 5)).attribute(images)
    with pytest.raises(ValueError, match="has 3 classes but forward_func returns 5"):
        InfoCAM(model, model.features, classifier=nn.Linear(8, 3)).attribute(images)


def test_head_found_by_the_forward_pass(images):
    model = TinyGAPNet().eval()
    model.features[3] = nn.Conv2d(8, 6, 3, stride=2, padding=1)
    model.fc = nn.Linear(6, 5)
    with pytest.raises(ValueError, match=r"head `fc` \(Linear 6 -> 5\) takes 6 input channels but"):
        InfoCAM(model, model.features[1]).attribute(images)
    # a linear layer of the same size that does not produce the logits is not the head
    model = TinyGAPNet().eval()
    model.aux = nn.Linear(8, 5)  # never runs, like GoogLeNet's auxiliary heads in eval mode
    torch.testing.assert_close(
        InfoCAM(model, model.features).attribute(images),
        InfoCAM(model, model.features, classifier=model.fc).attribute(images),
    )
    with pytest.raises(TypeError, match="pass classifier= explicitly"):
        InfoCAM(lambda x: model(x), model.features).attribute(images)
    with pytest.raises(TypeError, match="classifier must be"):
        InfoCAM(model, model.features, classifier="fc")
    with pytest.raises(ValueError, match=r"1x1 nn\.Conv2d"):
        InfoCAM(model, model.features, classifier=nn.Conv2d(8, 5, 3))


def test_head_that_is_not_gap_linear_is_refused(images):
    model = MLPHeadNet().eval()
    with pytest.raises(ValueError, match="InfoGradCam"):
        InfoCAM(model, model.features).attribute(images)


class InplaceReluNet(nn.Module):
    """The layer's output is rectified in place after the layer, before the pooling."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))


def test_in_place_change_after_the_layer_explains_what_the_head_pools(images):
    model = InplaceReluNet().eval()
    cam = ClassActivationMap(model, model.conv).attribute(images, 1)
    pooled = model.conv(images).relu().detach()  # what the head pools, not the conv's output
    expected = torch.einsum("c,nchw->nhw", model.fc.weight[1].detach(), pooled)[:, None]
    torch.testing.assert_close(cam, expected)


def test_empty_batch(model, images):
    for method in (InfoCAM, LayerPMI, ClassActivationMap):
        assert method(model, model.features).attribute(images[:0], 1).shape == (0, 1, 6, 5)


class KeywordCallNet(TinyGAPNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.fc(self.features(input=x).mean(dim=(2, 3)))


def test_layer_called_with_keywords_only(images):
    model = KeywordCallNet().eval()
    with pytest.raises(ValueError, match="no positional input"):
        InfoCAM(model, model.features).attribute(images, attribute_to_layer_input=True)


def test_new_arguments_are_keyword_only(model, images):
    with pytest.raises(TypeError):
        InfoCAM(model, model.features).attribute(images, 0, None, False, True)  # Captum's relu


@pytest.mark.cuda
def test_cuda(images):
    model = TinyGAPNet().eval()
    expected = InfoCAM(model, model.features).attribute(images, [0, 1, 2, 3], region_size=2)
    model.cuda()
    got = InfoCAM(model, model.features).attribute(images.cuda(), [0, 1, 2, 3], region_size=2)
    assert got.is_cuda
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
    pmi = LayerPMI(model, model.features, class_prior=[1, 2, 3, 4, 5]).attribute(images.cuda())
    assert pmi.is_cuda
    head = (model.fc.weight.detach().cpu(), model.fc.bias.detach().cpu())  # head on the CPU
    least = InfoCAM(model, model.features, classifier=head).attribute(
        images.cuda(), [0, 1, 2, 3], contrast="least_likely"
    )
    assert least.is_cuda
