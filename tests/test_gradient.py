"""InfoGradCam: the GAP identity, Captum's LayerGradCam as a peer, FC and ViT-like heads."""

from __future__ import annotations

import functools

import pytest
import torch
from captum.attr import LayerGradCam
from torch import nn

from captum_infocam import InfoCAM, maps
from captum_infocam.gradient import InfoGradCam, contrast_logit, grad_cam_map, tokens_to_grid

from conftest import TinyGAPNet

CONTRASTS = ("mean", "least_likely", "none")


# The shared GAP network with its last ReLU in place, which the gradient form must see through.
GAPNet = functools.partial(TinyGAPNet, inplace_relu=True)


class FCHeadNet(nn.Module):
    """VGG-style: the trunk's map is flattened into a two-layer fully connected head."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2, padding=1)
        )
        self.relu = nn.ReLU()
        self.fc = nn.Sequential(nn.Linear(6 * 6 * 5, 16), nn.Tanh(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.features(x)).flatten(1))


GRID = (3, 4)  # not square, so that a swapped height and width cannot pass


def grid_of(tokens: torch.Tensor) -> torch.Tensor:
    """Patch tokens (N, 1 + h*w, D) -> (N, D, h, w), written independently of tokens_to_grid."""
    n, _, d = tokens.shape
    return tokens[:, 1:].transpose(1, 2).reshape(n, d, *GRID)


class TinyViT(nn.Module):
    """Patch embedding, a class token, two transformer blocks, a norm and a linear head.

    ``pool="cls"`` reads the class token (ViT); ``pool="mean"`` averages the patch tokens after
    the norm, a GAP + linear head on the token grid. ``probe`` is an identity on the patch grid
    between the blocks: Captum's LayerGradCam can explain it as a conv-like layer, an
    independent peer for the first block's tokens. (The last block's patch tokens do not reach
    the class token: their gradient is zero.)
    """

    def __init__(self, pool: str = "cls", dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.pool = pool
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(0.1 * torch.randn(1, 1 + GRID[0] * GRID[1], dim))
        self.blocks = nn.Sequential(
            *[
                nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
                for _ in range(2)
            ]
        )
        self.probe = nn.Identity()
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        tokens = self.blocks[0](tokens)
        patches = self.probe(grid_of(tokens)).flatten(2).transpose(1, 2)
        tokens = self.blocks[1](torch.cat([tokens[:, :1], patches], dim=1))
        tokens = self.norm(tokens)
        return self.head(tokens[:, 0] if self.pool == "cls" else tokens[:, 1:].mean(dim=1))


def contrast_matrix(num_classes: int) -> torch.Tensor:
    """Row y: the "mean" contrast vector, z_y - mean of the other logits."""
    return (num_classes * torch.eye(num_classes) - 1) / (num_classes - 1)


def logits_of(model, images):
    with torch.no_grad():
        return model(images)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(4, 3, 12, 10, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def vit_images() -> torch.Tensor:
    return torch.randn(3, 3, 12, 16, generator=torch.Generator().manual_seed(1))


# -------------------------------------------------------------------------------- identities


@pytest.mark.parametrize("contrast", CONTRASTS)
def test_equals_infocam_minus_bias_contrast_on_gap_models(images, contrast):
    model = GAPNet().eval()
    target = torch.tensor([0, 3, 1, 4])
    logits = logits_of(model, images)
    weight, bias = model.fc.weight.detach(), model.fc.bias.detach()
    _, bias_contrast = maps.contrast_weights(weight, bias, target, contrast, logits)
    for region_size in (1, 2, 3, 4, None):
        got = InfoGradCam(model, model.features).attribute(
            images, target, contrast=contrast, region_size=region_size
        )
        info = InfoCAM(model, model.features).attribute(
            images, target, contrast=contrast, region_size=region_size
        )
        assert got.shape == info.shape == (4, 1, 6, 5)
        torch.testing.assert_close(got, info - bias_contrast[:, None, None, None])


@pytest.mark.parametrize("model_class", [GAPNet, FCHeadNet], ids=["GAPNet", "FCHeadNet"])
def test_no_contrast_single_positions_is_hw_times_layer_gradcam(images, model_class):
    model = model_class().eval()
    target = [2, 0, 4, 1]
    got = InfoGradCam(model, model.features).attribute(
        images, target, contrast="none", region_size=1
    )
    grad_cam = LayerGradCam(model, model.features).attribute(images, target)
    height, width = got.shape[-2:]
    torch.testing.assert_close(got, height * width * grad_cam.detach())


def test_mean_contrast_is_layer_gradcam_of_the_contrast_logit(images):
    """Captum differentiates the contrast logit through a model whose output is Z C^T."""
    model = FCHeadNet().eval()
    target = [2, 0, 4, 1]
    contrasted = lambda x: model(x) @ contrast_matrix(5).T  # noqa: E731
    grad_cam = LayerGradCam(contrasted, model.features).attribute(images, target)
    got = InfoGradCam(model, model.features).attribute(images, target, region_size=1)
    torch.testing.assert_close(got, 30 * grad_cam.detach())


@pytest.mark.parametrize("region_size", [1, 3, None])
def test_contrasts_are_differences_of_class_maps_on_fc_heads(images, region_size):
    """Gradients are linear: the contrast maps are differences of the per-class maps."""
    model = FCHeadNet().eval()
    method = InfoGradCam(model, model.features)
    logits = logits_of(model, images)
    target = torch.tensor([1, 4, 4, 0])
    per_class = torch.cat(
        [method.attribute(images, k, contrast="none", region_size=region_size) for k in range(5)],
        dim=1,
    )  # (N, K, h, w), one class at a time
    rows = torch.arange(4)
    others = torch.stack(
        [per_class[n, [k for k in range(5) if k != y]] for n, y in enumerate(target)]
    )
    mean = method.attribute(images, target, contrast="mean", region_size=region_size)
    torch.testing.assert_close(mean[:, 0], per_class[rows, target] - others.mean(dim=1))
    masked = logits.clone()
    masked[rows, target] = float("inf")
    least = method.attribute(images, target, contrast="least_likely", region_size=region_size)
    torch.testing.assert_close(
        least[:, 0], per_class[rows, target] - per_class[rows, masked.argmin(dim=1)]
    )


def test_contrast_logit_matches_brute_force():
    logits = torch.randn(6, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target = torch.tensor([0, 6, 3, 3, 1, 5])
    for contrast in CONTRASTS:
        got = contrast_logit(logits, target, contrast)
        for n, y in enumerate(target.tolist()):
            others = [logits[n, k] for k in range(7) if k != y]
            reference = {
                "mean": logits[n, y] - sum(others) / 6,
                "least_likely": logits[n, y] - min(others),
                "none": logits[n, y],
            }[contrast]
            torch.testing.assert_close(got[n], reference)
    # it is what InfoCAM shows over the whole map
    model = GAPNet().eval()
    images = torch.randn(2, 3, 8, 8)
    info = InfoCAM(model, model.features).attribute(images, [1, 2], region_size=None)
    torch.testing.assert_close(
        contrast_logit(logits_of(model, images), torch.tensor([1, 2])), info[:, 0, 0, 0]
    )


def test_grad_cam_map_is_hw_weighted_sum():
    gen = torch.Generator().manual_seed(4)
    activations = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    gradients = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    alpha = gradients.mean(dim=(2, 3))
    expected = 20 * (alpha[:, :, None, None] * activations).sum(dim=1, keepdim=True)
    torch.testing.assert_close(grad_cam_map(activations, gradients, 1), expected)
    torch.testing.assert_close(
        grad_cam_map(activations, gradients, 3), maps.region_mean(expected, 3)
    )


# ------------------------------------------------------------------------------- transformers


def test_tokens_to_grid_is_a_row_major_view():
    tokens = torch.randn(2, 2 + 12, 5)  # two leading tokens, then a 3 x 4 grid
    grid = tokens_to_grid(tokens, 3, 4)
    assert grid.shape == (2, 5, 3, 4)
    assert grid.data_ptr() == tokens[:, 2:].data_ptr()  # a view: no copy
    for i in range(3):
        for j in range(4):
            assert torch.equal(grid[:, :, i, j], tokens[:, 2 + 4 * i + j])


@pytest.mark.parametrize("contrast", ["mean", "none"])
def test_vit_token_maps_match_layer_gradcam_on_the_grid(vit_images, contrast):
    """The class-token head: Captum explains the identity probe on the grid, we the real block."""
    model = TinyViT("cls").eval()
    target = [0, 4, 2]
    method = InfoGradCam(model, model.blocks[0], reshape=GRID)
    got = method.attribute(vit_images, target, contrast=contrast, region_size=1)
    forward = model if contrast == "none" else (lambda x: model(x) @ contrast_matrix(5).T)
    peer = LayerGradCam(forward, model.probe).attribute(vit_images, target).detach()
    assert got.shape == peer.shape == (3, 1, *GRID)
    assert (got.flatten(1).abs().amax(1) > 1e-3).all()  # not trivially zero
    torch.testing.assert_close(got, 12 * peer, rtol=1e-4, atol=1e-5)
    as_function = InfoGradCam(model, model.blocks[0], reshape=lambda t: tokens_to_grid(t, *GRID))
    torch.testing.assert_close(
        as_function.attribute(vit_images, target, contrast=contrast, region_size=1), got
    )


@pytest.mark.parametrize("contrast", CONTRASTS)
def test_vit_with_mean_pooled_tokens_is_infocam_on_the_token_grid(vit_images, contrast):
    """Mean of the patch tokens + linear head is GAP + linear on the grid: the exact identity."""
    model = TinyViT("mean").eval()
    target = torch.tensor([3, 3, 1])
    captured = []
    handle = model.norm.register_forward_hook(lambda m, a, out: captured.append(out.detach()))
    logits = logits_of(model, vit_images)
    handle.remove()
    weight, bias = model.head.weight.detach(), model.head.bias.detach()
    grid = grid_of(captured[0])
    got = InfoGradCam(model, model.norm, reshape=GRID).attribute(
        vit_images, target, contrast=contrast, region_size=2
    )
    info = maps.info_cam(grid, weight, bias, target, contrast, 2, logits)
    _, bias_contrast = maps.contrast_weights(weight, bias, target, contrast, logits)
    assert (got.flatten(1).abs().amax(1) > 1e-3).all()
    torch.testing.assert_close(got, info - bias_contrast[:, None, None, None])


def test_vit_layer_input_is_previous_layer_output(vit_images):
    model = TinyViT("cls").eval()
    from_input = InfoGradCam(model, model.probe).attribute(
        vit_images, 1, attribute_to_layer_input=True
    )
    from_output = InfoGradCam(model, model.probe).attribute(vit_images, 1)
    assert (from_output.flatten(1).abs().amax(1) > 1e-3).all()
    torch.testing.assert_close(from_input, from_output)
    block_output = InfoGradCam(model, model.blocks[0], reshape=GRID).attribute(vit_images, 1)
    torch.testing.assert_close(block_output, from_output, rtol=1e-4, atol=1e-5)


def test_zero_gradient_warns(vit_images):
    """The last block's patch tokens never reach the class token: a zero map, and a warning."""
    model = TinyViT("cls").eval()
    with pytest.warns(UserWarning, match="gradient .* is zero"):
        zero = InfoGradCam(model, model.blocks[-1], reshape=GRID).attribute(vit_images, 1)
    assert not zero.any()


# -------------------------------------------------------------------------------- conventions


def test_target_forms_and_batching_agree(images):
    model = FCHeadNet().eval()
    method = InfoGradCam(model, model.features)
    top1 = logits_of(model, images).argmax(1)
    reference = method.attribute(images, top1)
    for target in (None, top1.tolist(), top1.int()):
        torch.testing.assert_close(method.attribute(images, target), reference)
    for n, y in enumerate(top1.tolist()):
        torch.testing.assert_close(method.attribute(images[n : n + 1], y), reference[n : n + 1])
    torch.testing.assert_close(
        method.attribute(images, torch.tensor(2)), method.attribute(images, 2)
    )
    relu = method.attribute(images, top1, relu_attributions=True)
    torch.testing.assert_close(relu, reference.clamp(min=0))


def test_inplace_operation_after_the_layer():
    """The explained conv feeds a ReLU(inplace=True): the map uses the pre-ReLU activations."""
    model = GAPNet().eval()
    reference = GAPNet().eval()
    reference.features[4] = nn.ReLU()  # same weights, out of place
    images = torch.randn(2, 3, 8, 8)
    got = InfoGradCam(model, model.features[3]).attribute(
        images, [1, 2], contrast="none", region_size=1
    )
    expected = InfoGradCam(reference, reference.features[3]).attribute(
        images, [1, 2], contrast="none", region_size=1
    )
    torch.testing.assert_close(got, expected)
    grad_cam = LayerGradCam(reference, reference.features[3]).attribute(images, [1, 2])
    torch.testing.assert_close(got, 16 * grad_cam.detach())


def test_grad_modes(images):
    model = FCHeadNet().eval()
    expected = InfoGradCam(model, model.features).attribute(images, 1)
    assert not expected.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(
            InfoGradCam(model, model.features).attribute(images, 1), expected
        )
    with torch.inference_mode():
        got = InfoGradCam(model, model.features).attribute(images, 1)
    torch.testing.assert_close(got.clone(), expected)
    assert torch.is_grad_enabled()


def test_nothing_is_mutated(images):
    model = FCHeadNet().train()
    model.fc[0].weight.requires_grad_(False)
    images = images.clone().requires_grad_()
    before = images.detach().clone()
    requires = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    InfoGradCam(model, model.features).attribute(images, 0)
    InfoGradCam(model, model.features).attribute(images, 0, attribute_to_layer_input=True)
    assert model.training
    assert images.requires_grad and images.grad is None and torch.equal(images.detach(), before)
    assert [p.requires_grad for p in model.parameters()] == requires
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_hooks_removed_when_forward_raises(images):
    model = FCHeadNet().eval()

    def broken(x):
        model(x)
        raise RuntimeError("boom")

    for to_input in (False, True):
        with pytest.raises(RuntimeError, match="boom"):
            InfoGradCam(broken, model.features).attribute(
                images, 0, attribute_to_layer_input=to_input
            )
        assert not model.features._forward_hooks and not model.features._forward_pre_hooks
    assert torch.is_grad_enabled()


def test_frozen_model_gets_maps(images):
    """No parameter requires grad: the layer's value is made a leaf, so the maps still exist."""
    frozen = FCHeadNet().eval().requires_grad_(False)
    live = FCHeadNet().eval()
    torch.testing.assert_close(
        InfoGradCam(frozen, frozen.features).attribute(images, 3),
        InfoGradCam(live, live.features).attribute(images, 3),
    )


# ------------------------------------------------------------------------------------- errors


def test_bad_arguments(images):
    model = FCHeadNet().eval()
    method = InfoGradCam(model, model.features)
    with pytest.raises(ValueError, match="contrast must be one of"):
        method.attribute(images, contrast="max")
    for size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="region_size"):
            method.attribute(images, region_size=size)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 5\)"):
        method.attribute(images, 5)
    with pytest.raises(TypeError, match=r"layer must be an nn\.Module"):
        InfoGradCam(model, "features")
    for spec in ((3,), (3, 0), (3.0, 4), "3x4", (True, 4)):
        with pytest.raises(TypeError, match="reshape must be None, a"):
            InfoGradCam(model, model.features, reshape=spec)


def test_layer_errors(images, vit_images):
    model = FCHeadNet().eval()
    with pytest.raises(ValueError, match="ran 0 times"):
        InfoGradCam(model, nn.ReLU()).attribute(images)
    shared = nn.Sequential(model.relu, model.relu)
    with pytest.raises(ValueError, match="ran 2 times"):
        InfoGradCam(lambda x: model.fc(shared(model.features(x)).flatten(1)), model.relu).attribute(
            images
        )
    with pytest.raises(ValueError, match=r"must be a grid N x C x h x w.*pass reshape=\(h, w\)"):
        InfoGradCam(model, model.fc[0]).attribute(images)
    vit = TinyViT().eval()
    with pytest.raises(ValueError, match=r"pass reshape=\(h, w\) for transformer tokens"):
        InfoGradCam(vit, vit.blocks[-1]).attribute(vit_images)
    with pytest.raises(ValueError, match=r"needs at least 20 tokens, the layer gives 13"):
        InfoGradCam(vit, vit.blocks[-1], reshape=(4, 5)).attribute(vit_images)
    with pytest.raises(ValueError, match="reshape must map it to"):
        InfoGradCam(vit, vit.blocks[-1], reshape=lambda t: t).attribute(vit_images)
    with pytest.raises(ValueError, match=r"needs tokens of shape \(N, L, D\)"):
        InfoGradCam(model, model.features, reshape=(6, 5)).attribute(images)


def test_layer_off_the_path_and_bad_outputs(images):
    model = FCHeadNet().eval()
    side = nn.Conv2d(3, 2, 1)

    def with_side_branch(x):
        side(x)  # runs, but the logits do not use it
        return model(x)

    with pytest.raises(ValueError, match="logits do not depend on the layer's output"):
        InfoGradCam(with_side_branch, side).attribute(images)
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\)"):
        InfoGradCam(lambda x: model(x).sum(1), model.features).attribute(images, 0)


@pytest.mark.cuda
def test_cuda(images):
    model = FCHeadNet().eval()
    expected = InfoGradCam(model, model.features).attribute(images, [0, 1, 2, 3], region_size=2)
    model.cuda()
    got = InfoGradCam(model, model.features).attribute(images.cuda(), [0, 1, 2, 3], region_size=2)
    assert got.is_cuda
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
    vit = TinyViT().eval()
    vit_images = torch.randn(2, 3, 12, 16)
    expected = InfoGradCam(vit, vit.blocks[0], reshape=GRID).attribute(vit_images, 1)
    vit.cuda()
    got = InfoGradCam(vit, vit.blocks[0], reshape=GRID).attribute(vit_images.cuda(), 1)
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-4)
