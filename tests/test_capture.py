"""The capture path: the head and the layer found from one forward pass, its checks, memory."""

from __future__ import annotations

import math
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI, head_parameters
from captum_infocam.attribution import find_gap_head


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))


class Block(nn.Module):
    """Two convolutions sharing one ReLU module: the ReLU runs twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.relu(self.conv1(x))))


class Nested(nn.Module):
    """Three nested modules return the tensor the head pools (``features``, its block, the
    block's shared ReLU); then a pooling module, a flatten and dropout before the head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(Block())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.pool(self.features(x)).flatten(1)))


class Wrapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stage = nn.Sequential(nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU()))
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stage(x)
        F.relu(features, inplace=True)  # after the layer, as in DenseNet
        return self.fc(features.mean(dim=(2, 3)))


def test_nested_modules_name_the_last_to_finish_that_ran_once(images):
    found = find_gap_head(Wrapped().eval(), images)
    assert (found.layer_name, found.head_name) == ("stage", "fc")
    model = Nested().eval()
    found = find_gap_head(model, images)
    assert (found.layer_name, found.head_name) == ("features", "fc")
    assert found.layer is model.features and found.head is model.fc


def test_found_layer_explains_what_the_head_pools(images):
    model = Wrapped().eval()
    explicit = ClassActivationMap(model, model.stage).attribute(images, 1)
    torch.testing.assert_close(ClassActivationMap(model).attribute(images, 1), explicit)
    pooled = model.stage(images).relu().detach()  # after the in-place ReLU outside the module
    expected = torch.einsum("c,nchw->nhw", model.fc.weight[1].detach(), pooled)[:, None]
    torch.testing.assert_close(explicit, expected)


class OnePosition(nn.Module):
    """The layer's map is already 1 x 1; pooling modules follow."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 8), nn.ReLU())  # 8 x 8 -> 1 x 1
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.Identity()
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.pool(self.features(x))).flatten(1))


class NormAfterPooling(OnePosition):
    """ConvNeXt's pattern: the pooled features are normalised before the head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.norm = nn.GroupNorm(1, 6)


def test_a_one_position_layer_is_found_before_the_pooling(images):
    assert find_gap_head(OnePosition().eval(), images).layer_name == "features"


def test_a_module_after_the_pooling_is_not_the_layer(images):
    model = NormAfterPooling().eval()
    with pytest.raises(ValueError, match=r"`fc` \(Linear 6 -> 4\), whose input is not the av"):
        InfoCAM(model).attribute(images)
    with pytest.raises(ValueError, match="not a linear function"):  # the explicit layer
        InfoCAM(model, model.features).attribute(images)


class KeepsEarlyActivation(nn.Module):
    """Records whether the first convolution's output is still alive when the head runs."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        self.alive: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.conv1(x)
        ref = weakref.ref(first)
        x = self.conv3(self.conv2(self.relu(first)))
        del first
        self.alive.append(ref() is not None)
        return self.fc(x.mean(dim=(2, 3)))


def test_finding_the_layer_keeps_no_early_activation_alive(images):
    model = KeepsEarlyActivation().eval()
    found = find_gap_head(model, images)
    assert found.layer_name == "conv3"
    assert model.alive == [False]


def test_explicit_head_module_with_the_layer_found(images):
    model = Nested().eval()
    expected = InfoCAM(model, model.features, classifier=model.fc).attribute(images, 2)
    torch.testing.assert_close(InfoCAM(model, classifier=model.fc).attribute(images, 2), expected)
    pair = (model.fc.weight, model.fc.bias)
    with pytest.raises(ValueError, match=r"with classifier=\(weight, bias\), pass layer= too"):
        InfoCAM(model, classifier=pair).attribute(images)
    with pytest.raises(TypeError, match=r"forward_func is not an nn\.Module.*pass layer="):
        InfoCAM(lambda x: model(x)).attribute(images)
    with pytest.raises(ValueError, match="attribute_to_layer_input=True explains a layer's input"):
        InfoCAM(model).attribute(images, attribute_to_layer_input=True)


def test_a_bound_forward_method_is_searched_like_its_module(images):
    model = Wrapped().eval()
    torch.testing.assert_close(
        InfoCAM(model.forward).attribute(images, 0), InfoCAM(model).attribute(images, 0)
    )


class ReluHead(nn.Module):
    """A 1x1 convolution, a ReLU, then the pooling: SqueezeNet's head. The target's logit stays
    a linear function of the pooled layer while every position's target score is positive."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(6, 4, 1)
        with torch.no_grad():
            self.head.bias[0] = 100.0  # class 0 is never clipped by the ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.head(self.features(x))).mean(dim=(2, 3))


def test_every_class_logit_is_checked_not_only_the_target(images):
    model = ReluHead().eval()
    weight, bias = head_parameters(model.head)
    with torch.no_grad():
        activations = model.features(images)
        logits = model(images)
    target_only = activations.mean((2, 3)) @ weight[0] + bias[0]
    torch.testing.assert_close(target_only, logits[:, 0])  # the target's logit is linear
    for method in (InfoCAM, LayerPMI, ClassActivationMap):
        with pytest.raises(ValueError, match=r"logits != W mean.*for some class"):
            method(model, model.features, classifier=model.head).attribute(images, 0)


class HugeLogits(nn.Module):
    """An untrained-looking model whose logits reach 1e10."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(6, 5)
        with torch.no_grad():
            self.fc.weight.mul_(1e10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def test_whole_map_pmi_is_exact_for_huge_logits(images):
    model = HugeLogits().eval()
    with torch.no_grad():
        logits = model(images)
    assert logits.abs().max() > 1e9
    target = torch.tensor([0, 3, 4])
    expected = torch.log_softmax(logits.double(), 1)[torch.arange(3), target] + math.log(5)
    pmi = LayerPMI(model).attribute(images, target, region_size=None)
    assert pmi.shape == (3, 1, 8, 8)
    torch.testing.assert_close(pmi[:, 0, 0, 0].double(), expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(pmi, pmi[:, :, :1, :1].expand_as(pmi))


def test_timm_distilled_classifier_pair_is_not_a_weight_and_bias():
    pair = (nn.Linear(8, 5), nn.Linear(8, 5))  # timm's get_classifier() of a distilled DeiT
    with pytest.raises(TypeError, match=r"pair of modules, not \(weight, bias\).*InfoGradCam"):
        InfoCAM(nn.Linear(8, 5), nn.Identity(), classifier=pair)


def test_zero_head_warning_names_the_head(images):
    """A head with zero weights gives a zero gradient everywhere: the warning says so instead
    of sending the user to another layer."""
    model = Wrapped().eval()
    with torch.no_grad():
        model.fc.weight.zero_()
    with pytest.warns(UserWarning, match=r"head `fc` \(Linear 6 -> 4\) has all-zero weights"):
        zero = InfoGradCam(model, model.stage).attribute(images, 1)
    assert not zero.any()
