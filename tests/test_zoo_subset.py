"""One model per family of the torchvision (and timm) zoo, weights=None, small inputs.

* global-average-pooling + linear models: the head and the layer are found from the forward
  pass, and the whole-map identities hold (infoCAM = z_y - mean of the other logits, PMI =
  log softmax + log K, CAM mean + bias = z_y), with the gradient form as an independent peer;
* other heads: a clear refusal that points at InfoGradCam, short, never "pass classifier=";
* InfoGradCam with the documented layer of each family gives a finite, non-zero map.
"""

from __future__ import annotations

import functools
import math
import warnings

import pytest
import torch
import torchvision
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI, maps
from captum_infocam.attribution import find_gap_head

K = 10


@functools.cache
def torchvision_model(name: str, **kwargs) -> nn.Module:
    """Built once per session: several tests explain the same model, none changes it."""
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, num_classes=K, **kwargs).eval()


@functools.cache
def timm_model(name: str, **kwargs) -> nn.Module:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=K, **kwargs).eval()


def tiny_vit() -> nn.Module:
    """torchvision's VisionTransformer, two small blocks, 2 x 2 patches of 32 px."""
    torch.manual_seed(0)
    return torchvision.models.VisionTransformer(
        image_size=64,
        patch_size=32,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
        num_classes=K,
    ).eval()


def tiny_maxvit() -> nn.Module:
    """torchvision's MaxVit, two stages, at its smallest input (7 x 7 partitions)."""
    torch.manual_seed(0)
    return torchvision.models.maxvit.MaxVit(
        input_size=(56, 56),
        stem_channels=8,
        partition_size=7,
        block_channels=[8, 16],
        block_layers=[1, 1],
        head_dim=4,
        stochastic_depth_prob=0.0,
        num_classes=K,
    ).eval()


def images(size: int, n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


# name: (input size, layer found, head found)
GAP_TORCHVISION = {
    "resnet18": (64, "layer4", "fc"),
    "densenet121": (64, "features", "classifier"),  # in-place ReLU after the layer
    "efficientnet_b0": (64, "features", "classifier.1"),
    "regnet_x_400mf": (64, "trunk_output", "fc"),
    "shufflenet_v2_x0_5": (64, "conv5", "fc"),
    "mnasnet0_5": (64, "layers", "classifier.1"),
    "googlenet": (64, "inception5b", "fc"),  # auxiliary heads of the same size, idle in eval
    "inception_v3": (96, "Mixed_7c", "fc"),  # a 1 x 1 map; logits reach 1e9 untrained
    "mobilenet_v2": (64, "features", "classifier.1"),
    "swin_t": (64, "permute", "head"),  # final norm, then GAP + linear on the permuted map
}
GAP_TIMM = {
    "resnetv2_18": (64, "norm", "head.fc"),  # a 1x1 convolution head after the pooling
    "efficientnet_b0": (64, "bn2", "classifier"),
    "regnety_002": (64, "final_conv", "head.fc"),
}


def check_whole_map_identities(
    model: nn.Module, x: torch.Tensor, layer: nn.Module, in_place_after: bool = False
) -> None:
    with torch.no_grad():
        logits = model(x).double()
    target = torch.tensor([1, 7])
    z_y = logits[torch.arange(2), target]
    scale = logits.abs().max()
    info = InfoCAM(model).attribute(x, target, region_size=None)
    contrast = z_y - (logits.sum(1) - z_y) / (K - 1)
    torch.testing.assert_close(
        info[:, 0].flatten(1)[:, 0].double(), contrast, rtol=0, atol=1e-5 * scale
    )
    flat = info.flatten(2)
    assert torch.equal(flat, flat[..., :1].expand_as(flat))  # constant over the map
    pmi = LayerPMI(model).attribute(x, target, region_size=None)
    expected = torch.log_softmax(logits, 1)[torch.arange(2), target] + math.log(K)
    torch.testing.assert_close(pmi[:, 0, 0, 0].double(), expected, rtol=1e-5, atol=1e-5)
    cam = ClassActivationMap(model).attribute(x, target)
    head = find_gap_head(model, x).head
    bias = head.bias.detach().double()[target]
    torch.testing.assert_close(cam.double().mean((1, 2, 3)) + bias, z_y, rtol=0, atol=1e-5 * scale)
    # the gradient form on the found layer is an independent peer: infoCAM minus the bias
    # contrast (h * w * the Grad-CAM of the contrast logit), here with 1-position windows;
    # not after an in-place ReLU, which the gradient form explains from before
    if in_place_after:
        return
    grad = InfoGradCam(model, layer).attribute(x, target, region_size=1)
    weight, head_bias = head.weight.detach().flatten(1), head.bias.detach()
    _, bias_contrast = maps.contrast_weights(weight, head_bias, target, "mean", logits.float())
    info1 = InfoCAM(model).attribute(x, target, region_size=1)
    torch.testing.assert_close(
        grad, info1 - bias_contrast[:, None, None, None], rtol=1e-4, atol=1e-4 * info1.abs().max()
    )


@pytest.mark.parametrize("name", list(GAP_TORCHVISION))
def test_torchvision_gap_models_need_no_layer_or_classifier(one_torch_thread, name):
    size, layer_name, head_name = GAP_TORCHVISION[name]
    model, x = torchvision_model(name), images(size)
    found = find_gap_head(model, x)
    assert (found.layer_name, found.head_name) == (layer_name, head_name)
    assert found.layer is model.get_submodule(layer_name)
    check_whole_map_identities(model, x, found.layer, in_place_after=name == "densenet121")


@pytest.mark.parametrize("name", list(GAP_TIMM))
def test_timm_gap_models_need_no_layer_or_classifier(one_torch_thread, name):
    size, layer_name, head_name = GAP_TIMM[name]
    model, x = timm_model(name), images(size)
    found = find_gap_head(model, x)
    assert (found.layer_name, found.head_name) == (layer_name, head_name)
    check_whole_map_identities(model, x, found.layer)


REFUSED = {  # name: (builder, input size, what the message points at)
    "convnext_tiny": (torchvision_model, 64, "get_submodule('features')"),
    "mobilenet_v3_small": (torchvision_model, 64, "get_submodule('features')"),
    "vgg11": (torchvision_model, 64, "get_submodule('avgpool')"),
    "squeezenet1_1": (torchvision_model, 64, "InfoGradCam"),
    "VisionTransformer": (lambda name: tiny_vit(), 64, "reshape=(h, w)"),
    "MaxVit": (lambda name: tiny_maxvit(), 56, "get_submodule('blocks."),
    "timm:swin_tiny_patch4_window7_224": (
        lambda name: timm_model(name, img_size=64, window_size=2),
        64,
        "t.permute(0, 3, 1, 2)",
    ),
    "timm:deit_tiny_distilled_patch16_224": (
        lambda name: timm_model(name, img_size=64),
        64,
        "reshape=(h, w)",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_other_heads_are_refused_with_a_pointer_to_the_gradient_form(one_torch_thread, name):
    build, size, pointer = REFUSED[name]
    model, x = build(name.removeprefix("timm:")), images(size, 1)
    for method in (InfoCAM(model), ClassActivationMap(model), LayerPMI(model)):
        with pytest.raises(ValueError) as error:
            method.attribute(x)
        message = str(error.value)
        assert "InfoGradCam" in message and pointer in message
        assert "pass classifier=" not in message and len(message) < 700


def test_explicit_squeezenet_head_is_refused_not_silently_wrong(one_torch_thread):
    """SqueezeNet's 1x1 convolution is followed by a ReLU, then pooling: the target's logit can
    stay linear while others do not, so every class's logit is checked."""
    model, x = torchvision_model("squeezenet1_1"), images(64, 1)
    for method in (InfoCAM, LayerPMI, ClassActivationMap):
        with pytest.raises(ValueError, match=r"not a linear function.*InfoGradCam"):
            method(model, model.features, classifier=model.classifier[1]).attribute(x)


def test_explicit_vgg_head_points_at_the_gradient_form(one_torch_thread):
    model, x = torchvision_model("vgg11"), images(64, 1)
    with pytest.raises(ValueError, match=r"takes 4096 input channels.*use InfoGradCam"):
        InfoCAM(model, model.features, classifier=model.classifier[-1]).attribute(x)


# --------------------------------------------------------------------- InfoGradCam's layers


def permute_channels_last(tokens: torch.Tensor) -> torch.Tensor:
    return tokens.permute(0, 3, 1, 2)


def vit_with_a_head() -> nn.Module:
    model = tiny_vit()  # torchvision starts ViT heads at zero: the maps would be zero
    nn.init.normal_(model.heads.head.weight, std=0.02)
    return model


GRADIENT_LAYERS = {  # family: (model, input size, layer, reshape, map side)
    "resnet18": (torchvision_model, 64, lambda m: m.layer4, None, 2),
    "vgg11": (torchvision_model, 64, lambda m: m.features[-2], None, 4),  # last conv's ReLU
    "densenet121": (torchvision_model, 64, lambda m: m.features, None, 2),
    "googlenet": (torchvision_model, 64, lambda m: m.inception5b, None, 2),
    "efficientnet_b0": (torchvision_model, 64, lambda m: m.features, None, 2),
    "mobilenet_v3_small": (torchvision_model, 64, lambda m: m.features, None, 2),
    "convnext_tiny": (torchvision_model, 64, lambda m: m.features, None, 2),
    "VisionTransformer": (
        lambda name: vit_with_a_head(),
        64,
        lambda m: m.encoder.layers[-1].ln_1,
        (2, 2),
        2,
    ),
    "swin_t": (torchvision_model, 64, lambda m: m.norm, permute_channels_last, 2),
    "MaxVit": (lambda name: tiny_maxvit(), 56, lambda m: m.blocks[-1], None, 7),
}


@pytest.mark.parametrize("name", list(GRADIENT_LAYERS))
def test_info_grad_cam_layer_of_each_family(one_torch_thread, name):
    build, size, layer_of, reshape, side = GRADIENT_LAYERS[name]
    model, x = build(name), images(size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zero-gradient warning
        got = InfoGradCam(model, layer_of(model), reshape=reshape).attribute(x, [1, 7])
    assert got.shape == (2, 1, side, side)
    assert got.isfinite().all() and (got.flatten(1).abs().amax(1) > 0).all()


def test_channels_last_and_tokens_are_not_read_as_channels_first(one_torch_thread):
    swin = torchvision_model("swin_t")
    with pytest.raises(
        ValueError, match=r"\(2, 2, 2, 768\) looks channels-last.*permute\(0, 3, 1, 2\)"
    ):
        InfoGradCam(swin, swin.norm).attribute(images(64))
    vit = tiny_vit()
    with pytest.raises(ValueError, match=r"looks like transformer tokens.*reshape=\(h, w\)"):
        InfoGradCam(vit, vit.encoder.layers[-1].ln_1).attribute(images(64))
    with pytest.raises(ValueError, match=r"use InfoGradCam with reshape=\(h, w\)"):
        InfoCAM(vit, vit.encoder.layers[-1].ln_1, classifier=vit.heads.head).attribute(images(64))


def test_zero_head_warning_does_not_send_the_user_to_the_layer_they_explain(one_torch_thread):
    vit = tiny_vit()  # zero-initialised head
    with pytest.warns(UserWarning, match="all-zero weights") as record:
        InfoGradCam(vit, vit.encoder.layers[-1].ln_1, reshape=(2, 2)).attribute(images(64))
    assert "ln_1" not in str(record[0].message)
