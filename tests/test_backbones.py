"""WSOL backbones: shapes, 14 x 14 maps at 224 px, exact CAM identities, weights from files.

Every model is built with ``weights=None`` or from a local file; nothing is downloaded. The
map resolution at 224 px is read on the meta device (shapes without arithmetic).
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import ResNet50_Weights, VGG16_Weights

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam
from captum_infocam.backbones import WSOLBackbone, inception_v3_wsol, resnet50_wsol, vgg16_gap

BUILDERS = {"resnet50": resnet50_wsol, "vgg16": vgg16_gap, "inception_v3": inception_v3_wsol}
CHANNELS = {"resnet50": 2048, "vgg16": 1024, "inception_v3": 1024}
CLASSIFIER = {
    "resnet50": ("features.layer4", "fc"),
    "vgg16": ("features.conv6", "fc"),
    "inception_v3": ("features.conv6", "features.conv7", "fc"),
}


@pytest.fixture(scope="module")
def models(one_torch_thread):
    torch.manual_seed(0)
    return {name: build(num_classes=5).eval() for name, build in BUILDERS.items()}


@pytest.mark.parametrize("name", BUILDERS)
def test_maps_are_14_by_14_at_224_px_and_scale_with_the_input(models, name):
    with torch.device("meta"):
        model = BUILDERS[name](num_classes=5)
    for side, cells in ((224, 14), (448, 28), (112, 7)):
        maps = model.features(torch.empty(2, 3, side, side, device="meta"))
        assert maps.shape == (2, CHANNELS[name], cells, cells)
    assert model.cam_layer is model.features[-1]
    assert isinstance(models[name], WSOLBackbone) and models[name].fc.out_features == 5


@pytest.mark.parametrize("name", BUILDERS)
def test_gap_linear_identities_hold_for_cam_infocam_and_infogradcam(models, name):
    """CAM's mean plus the bias is the logit; whole-map infoCAM is z_y - mean_{k != y} z_k;
    InfoGradCam equals infoCAM minus the bias contrast (the GAP + linear identities)."""
    model = models[name]
    torch.manual_seed(1)
    images, target = torch.randn(2, 3, 64, 64), torch.tensor([1, 4])
    with torch.no_grad():
        logits = model(images)
    assert logits.shape == (2, 5)
    bias = model.fc.bias.detach()
    cam = ClassActivationMap(model, model.cam_layer).attribute(images, target)
    assert cam.shape == (2, 1, 4, 4)
    torch.testing.assert_close(cam.mean((1, 2, 3)) + bias[target], logits[[0, 1], target])
    info = InfoCAM(model, model.cam_layer)
    whole = info.attribute(images, target, region_size=None)
    z_y = logits[[0, 1], target]
    contrast = (logits.sum(1) - z_y) / 4
    torch.testing.assert_close(whole[:, 0, 0, 0], z_y - contrast)
    regional = info.attribute(images, target, region_size=3)
    gradient = InfoGradCam(model, model.cam_layer).attribute(images, target, region_size=3)
    bias_contrast = bias[target] - (bias.sum() - bias[target]) / 4
    torch.testing.assert_close(gradient, regional - bias_contrast.view(-1, 1, 1, 1))
    assert not model.training  # the attributions leave the mode as it was


@pytest.mark.parametrize("name", BUILDERS)
def test_param_groups_put_choe_et_al_s_classifier_part_at_ten_times_the_rate(models, name):
    model = models[name]
    base, head = model.param_groups(0.002)
    assert base["lr"] == 0.002 and head["lr"] == pytest.approx(0.02)
    expected = {
        id(p) for module in CLASSIFIER[name] for p in model.get_submodule(module).parameters()
    }
    assert {id(p) for p in head["params"]} == expected
    assert len(base["params"]) + len(head["params"]) == len(list(model.parameters()))


DROPPED = ("classifier.", "fc.", "AuxLogits.", "Mixed_7")  # parts the WSOL forms leave out


def _random_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict of ``model``'s keys (the model may live on the meta device): random
    numbers of the right shapes for the backbone, one zero for the parts the WSOL form drops
    (their shapes do not matter, as they are not loaded)."""
    generator = torch.Generator().manual_seed(2)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(DROPPED):
            state[key] = torch.zeros(1)
        elif value.dtype.is_floating_point:
            state[key] = torch.randn(value.shape, generator=generator)
        else:
            state[key] = torch.zeros(value.shape, dtype=value.dtype)
    return state


def test_weights_from_a_torchvision_resnet50_file_and_from_a_checkpoint(tmp_path):
    with torch.device("meta"):
        reference = torchvision.models.resnet50()
    state = _random_state(reference)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as V1
    torch.save(state, tmp_path / "resnet50.pth")
    model = resnet50_wsol(num_classes=3, weights=str(tmp_path / "resnet50.pth"))
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(model.state_dict()[f"features.{key}"], value), key
    assert model.fc.out_features == 3  # the ImageNet head is not loaded
    torch.save(model.state_dict(), tmp_path / "wsol.pth")
    again = resnet50_wsol(num_classes=3, weights=tmp_path / "wsol.pth")
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("build", "reference", "kept"),
    [
        (vgg16_gap, lambda: torchvision.models.vgg16(), "features.28.weight"),
        (
            inception_v3_wsol,
            lambda: torchvision.models.inception_v3(aux_logits=True, init_weights=False),
            "Mixed_6a.branch3x3.conv.weight",
        ),
    ],
    ids=["vgg16", "inception_v3"],
)
def test_torchvision_state_dict_layouts_load_into_the_backbone(tmp_path, build, reference, kept):
    with torch.device("meta"):  # torchvision's keys and shapes, without the memory
        keys = reference()
    state = _random_state(keys)
    torch.save(state, tmp_path / "weights.pth")
    model = build(num_classes=4, weights=tmp_path / "weights.pth")
    target = kept if kept.startswith("features.") else f"features.{kept}"
    assert torch.equal(model.state_dict()[target], state[kept])


def test_bad_weights_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"not weights of torchvision's resnet50; use Res"):
        resnet50_wsol(weights=VGG16_Weights.IMAGENET1K_V1)
    with pytest.raises(ValueError, match=r"'IMAGENET' is neither a name of .*ResNet50_Weights"):
        resnet50_wsol(weights="IMAGENET")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg16_gap(weights=tmp_path / "missing.pth")
    with pytest.raises(TypeError, match="weights must be None, a torchvision weights enum"):
        vgg16_gap(weights=3)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        inception_v3_wsol(num_classes=0)
    with torch.device("meta"):
        resnet18 = torchvision.models.resnet18().state_dict()
    torch.save({key: torch.zeros(1) for key in resnet18}, tmp_path / "r18.pth")
    for build in (vgg16_gap, resnet50_wsol):
        with pytest.raises(ValueError, match=r"neither a state dict of this WSOL model nor of"):
            build(weights=tmp_path / "r18.pth")
    with torch.device("meta"):
        keys = torchvision.models.resnet50().state_dict()
    torch.save({key: torch.zeros(1) for key in keys}, tmp_path / "bad.pth")  # wrong shapes
    with pytest.raises(ValueError, match=r"does not fit torchvision's resnet50"):
        resnet50_wsol(weights=tmp_path / "bad.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(TypeError, match="must hold a state dict"):
        resnet50_wsol(weights=tmp_path / "list.pth")
    assert ResNet50_Weights.verify("DEFAULT") is ResNet50_Weights.IMAGENET1K_V2  # the name form
