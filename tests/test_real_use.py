"""Cases met by trying the package as a new user would: inference mode, compiled models,
channels-last stages behind inline permutes, MLP heads on channels-last maps, hints."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI
from captum_infocam.attribution import find_gap_head

K = 5


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


class GapNet(nn.Module):
    """conv -> in-place ReLU -> global average pooling (inline) -> linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(6, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def info_difference(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``z_y - mean_{k != y} z_k``, what infoCAM with ``region_size=None`` must equal."""
    logits = logits.double()
    chosen = logits.gather(1, target[:, None])[:, 0]
    return chosen - (logits.sum(1) - chosen) / (logits.shape[1] - 1)


@pytest.mark.parametrize("method", [InfoCAM, LayerPMI, ClassActivationMap])
def test_found_layer_under_inference_mode(images, method):
    """The layer search reads version counters, which inference tensors lack."""
    model = GapNet().eval()
    lone = method(model).attribute(images, target=[1, 3])
    with torch.inference_mode():
        inside = method(model).attribute(images, target=[1, 3])
        assert find_gap_head(model, images).layer_name == "features"
    assert torch.equal(inside, lone)


def test_layer_search_on_an_inference_tensor_input():
    """The head pools the input itself (an inference tensor)."""
    model = nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, K))
    with torch.inference_mode():
        images = torch.randn(2, 3, 4, 4)
        maps = InfoCAM(model.eval()).attribute(images, target=[0, 2], region_size=None)
        logits = model(images)
    expected = info_difference(logits, torch.tensor([0, 2]))
    torch.testing.assert_close(maps[:, 0, 0, 0].double(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", [InfoCAM, LayerPMI, ClassActivationMap, InfoGradCam])
def test_compiled_model_is_explained_through_its_module(images, method):
    """Hooks do not run inside compiled code: the attributions run ``_orig_mod`` (compiling is
    lazy, so nothing is compiled here)."""
    model = GapNet().eval()
    compiled = torch.compile(model, backend="eager")
    args = (model.features,) if method is InfoGradCam else ()
    maps = method(compiled, *args).attribute(images, target=[1, 3])
    assert torch.equal(maps, method(model, *args).attribute(images, target=[1, 3]))
    assert find_gap_head(compiled, images).layer_name == "features"
    info = InfoCAM(compiled).attribute(images, target=[1, 3], region_size=None)
    with torch.no_grad():
        expected = info_difference(model(images), torch.tensor([1, 3]))
    torch.testing.assert_close(info[:, 0, 0, 0].double(), expected, rtol=1e-6, atol=1e-6)


class ChannelsLastStage(nn.Module):
    """A channels-last stage ``(N, h, w, C)`` with its norm, permuted back *outside* a module
    and pooled by a module: timm's NesT, torchvision's ``swin3d_t``."""

    def __init__(self, spatial: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        conv = nn.Conv2d if spatial == 2 else nn.Conv3d
        self.spatial = spatial
        self.embed = conv(3, 6, 3, padding=1)
        self.norm = nn.LayerNorm(6)
        self.pool = nn.AdaptiveAvgPool2d(1) if spatial == 2 else nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(6, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = (0, *range(2, 2 + self.spatial), 1)
        first = (0, 1 + self.spatial, *range(1, 1 + self.spatial))
        x = self.norm(self.embed(x).permute(*last)).permute(*first)
        return self.head(self.pool(x).flatten(1))


@pytest.mark.parametrize("spatial", [2, 3])
def test_a_channels_last_map_is_not_replaced_by_its_pooled_output(spatial):
    """The head pools ``norm``'s channels-last map: refused with the permutation to use, not
    explained as a one-position map at the pooling's output."""
    model = ChannelsLastStage(spatial).eval()
    images = torch.randn(2, 3, *[4] * spatial, generator=torch.Generator().manual_seed(0))
    order = ", ".join(map(str, (0, 1 + spatial, *range(1, 1 + spatial))))
    expected = (
        rf"averages the channels-last output of `norm`.*InfoGradCam\(model, "
        rf"model.get_submodule\('norm'\), reshape=lambda t: t.permute\({order}\)\)"
    )
    for method in (InfoCAM, LayerPMI, ClassActivationMap):
        with pytest.raises(ValueError, match=expected):
            method(model).attribute(images, target=1)
    permute = (
        (lambda t: t.permute(0, 3, 1, 2)) if spatial == 2 else (lambda t: t.permute(0, 4, 1, 2, 3))
    )
    maps = InfoGradCam(model, model.norm, reshape=permute).attribute(images, target=1)
    assert maps.shape == (2, 1, *[4] * spatial) and maps.any()


class ChannelsLastMlpHead(nn.Module):
    """A channels-last stage ``(N, h, w, C)`` pooled outside a module, then a norm and an MLP
    head ``C -> 2C -> K`` (timm's MambaOut): the head's own input width is 2C, not C."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, 6, 3, padding=1)
        self.stage = nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 6))  # applied per position
        self.head = nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 12), nn.GELU(), nn.Linear(12, K))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage(self.embed(x).permute(0, 2, 3, 1))
        return self.head(x.mean(dim=(1, 2)))


def test_channels_last_layer_before_an_mlp_head_is_not_misread():
    """``(2, 5, 7, 6)`` used to be read as 5 channels on a 7 x 6 grid, silently."""
    model = ChannelsLastMlpHead().eval()
    images = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"looks channels-last.*t.permute\(0, 3, 1, 2\)"):
        InfoGradCam(model, model.stage).attribute(images, target=1)
    with pytest.raises(ValueError, match=r"reshape turns the layer's output into \(2, 5, 7, 6\)"):
        InfoGradCam(model, model.stage, reshape=lambda t: t[..., :]).attribute(images, target=1)
    maps = InfoGradCam(model, model.stage, reshape=lambda t: t.permute(0, 3, 1, 2)).attribute(
        images, target=1
    )
    assert maps.shape == (2, 1, 5, 7) and maps.any()


class ScoresThenMean(nn.Module):
    """A kernel-1 convolution scores every position, then the scores are averaged (S3D at
    more frames than its pooling window; fully convolutional 1-D classifiers)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv1d(3, 8, 3), nn.ReLU())
        self.head = nn.Conv1d(8, K, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).mean(-1)


class AveragedTokens(nn.Module):
    """Patch tokens ``(N, 16, D)``, a norm, their average, a linear head (gMLP, ResMLP)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, 6, 2, stride=2)
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.embed(x).flatten(2).transpose(1, 2)).mean(1))


class InnerMlpThenMlpHead(nn.Module):
    """The last block's hidden map has the width of the MLP head's hidden layer (timm's
    InceptionNeXt): the suggestion is the block's output, not its hidden map."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.mlp = nn.Sequential(nn.Conv2d(6, 12, 1), nn.GELU(), nn.Conv2d(12, 6, 1))
        self.head = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.LayerNorm(12), nn.Linear(12, K))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.mlp(x)
        return self.head(x.mean(dim=(2, 3)))


def suggested(error: pytest.ExceptionInfo) -> tuple[str, object]:
    """The layer name and ``reshape`` of the ``InfoGradCam(...)`` call a refusal suggests."""
    found = re.search(
        r"InfoGradCam\(model, model\.get_submodule\('([\w.]+)'\)"
        r"(?:, reshape=lambda t: t\.permute\(([\d, ]+)\)|, reshape=\((\d+), (\d+)\))?\)",
        str(error.value),
    )
    assert found, str(error.value)
    name, order, height, width = found.groups()
    if order:
        dims = [int(d) for d in order.split(",")]
        return name, lambda t: t.permute(*dims)
    return name, (int(height), int(width)) if height else None


@pytest.mark.parametrize(
    ("model", "shape", "layer"),
    [
        (ScoresThenMean, (2, 3, 9), "body"),  # not the per-position class scores of `head`
        (ChannelsLastMlpHead, (2, 3, 5, 7), "stage"),  # with its permutation
        (AveragedTokens, (2, 3, 8, 8), "norm"),  # with reshape=(4, 4)
        (InnerMlpThenMlpHead, (2, 3, 6, 6), "mlp"),  # not mlp.1, 12 channels like head.3's input
    ],
)
def test_the_refusal_suggests_a_layer_that_works(model, shape, layer):
    model = model().eval()
    images = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="InfoGradCam") as error:
        InfoCAM(model).attribute(images, target=1)
    name, reshape = suggested(error)
    assert name == layer
    maps = InfoGradCam(model, model.get_submodule(name), reshape=reshape).attribute(
        images, target=1
    )
    assert maps.shape[:2] == (2, 1) and maps.dim() == len(shape) and maps.any()


class LogitsAndFeatures(nn.Module):
    """Returns ``(logits, features)``, or a dict of them, as many research models do."""

    def __init__(self, as_dict: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.as_dict = as_dict
        self.body = nn.Sequential(nn.Conv1d(3, 8, 3), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, K))

    def forward(self, x: torch.Tensor) -> object:
        features = self.body(x).mean(-1)
        logits = self.head(features)
        return {"logits": logits, "features": features} if self.as_dict else (logits, features)


class Logits(nn.Module):
    """The wrapper the refusal asks for."""

    def __init__(self, model: nn.Module, key: int | str) -> None:
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[self.key]


@pytest.mark.parametrize("as_dict", [False, True])
def test_several_outputs_are_refused_with_the_wrapper_to_write(as_dict):
    model = LogitsAndFeatures(as_dict).eval()
    series = torch.randn(2, 3, 9, generator=torch.Generator().manual_seed(0))
    for method in (InfoCAM(model), InfoGradCam(model, model.body)):
        with pytest.raises(ValueError, match=r"wrap the model in an nn.Module") as error:
            method.attribute(series, target=1)
        assert "eval" not in str(error.value)  # the model is in eval mode already
    wrapped = Logits(model, "logits" if as_dict else 0)
    maps = InfoCAM(wrapped).attribute(series, target=[1, 4], region_size=None)
    with torch.no_grad():
        expected = info_difference(wrapped(series), torch.tensor([1, 4]))
    torch.testing.assert_close(maps[:, 0, 0].double(), expected, rtol=1e-6, atol=1e-6)
    assert find_gap_head(wrapped, series)[::2] == ("model.body", "model.head.1")
    with pytest.raises(ValueError, match=r"call model.eval\(\)"):
        InfoCAM(model.train()).attribute(series, target=1)


class MaskedTextCNN(nn.Module):
    """Embeddings, a convolution, padding masked out *outside* a module, then the mean; a
    dropout on the pooled features before the head."""

    def __init__(self, masked: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.masked = masked
        self.embed = nn.Embedding(20, 6)
        self.conv = nn.Sequential(nn.Conv1d(6, 8, 3, padding=1), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, K)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        features = self.conv(self.embed(tokens).transpose(1, 2))
        if self.masked:
            features = features * mask[:, None]
        return self.fc(self.drop(features.mean(-1)))


def test_not_gap_refusal_names_inline_maps_and_train_mode():
    tokens = torch.randint(0, 20, (2, 7), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 7)
    mask[0, 5:] = 0
    with pytest.raises(ValueError, match=r"outside a module, e.g. x \* mask\)") as error:
        InfoCAM(MaskedTextCNN(masked=True).eval()).attribute(tokens, 1, mask)
    assert "model.eval()" not in str(error.value)
    model = MaskedTextCNN(masked=False).train()
    with pytest.raises(ValueError, match=r"dropout is active: call model.eval\(\)"):
        InfoCAM(model).attribute(tokens, 1, mask)
    maps = InfoCAM(model.eval()).attribute(tokens, [1, 2], mask, region_size=None)
    with torch.no_grad():
        expected = info_difference(model(tokens, mask), torch.tensor([1, 2]))
    torch.testing.assert_close(maps[:, 0, 0].double(), expected, rtol=1e-6, atol=1e-6)


def test_video_transformer_recipes_of_the_getting_started_table():
    """Swin3D: channels-last, refused by the CAM family with the permutation that works;
    MViT: a class token and ``t * h * w`` tokens, explained at the last block's input norm."""
    from torchvision.models.video import mvit, swin_transformer

    torch.manual_seed(0)
    swin = swin_transformer.SwinTransformer3d(  # swin3d_t's code, two small stages
        patch_size=[2, 4, 4],
        embed_dim=8,
        depths=[1, 1],
        num_heads=[1, 1],
        window_size=[2, 2, 2],
        num_classes=K,
    ).eval()
    clips = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"permute\(0, 4, 1, 2, 3\)"):
        InfoCAM(swin).attribute(clips, target=1)
    maps = InfoGradCam(swin, swin.norm, reshape=lambda t: t.permute(0, 4, 1, 2, 3)).attribute(
        clips, target=1
    )
    assert maps.shape == (1, 1, 2, 4, 4) and maps.any()

    block = mvit.MSBlockConfig(
        num_heads=1,
        input_channels=8,
        output_channels=8,
        kernel_q=[3, 3, 3],
        kernel_kv=[3, 3, 3],
        stride_q=[1, 1, 1],
        stride_kv=[1, 2, 2],
    )
    model = mvit.MViT(
        spatial_size=(32, 32),
        temporal_size=4,
        block_setting=[block, block],
        residual_pool=True,
        residual_with_cls_embed=False,
        rel_pos_embed=True,
        proj_after_attn=True,
        num_classes=K,
        patch_embed_kernel=(3, 7, 7),
        patch_embed_stride=(2, 4, 4),
        patch_embed_padding=(1, 3, 3),
    ).eval()
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="InfoGradCam"):
        InfoCAM(model).attribute(clips, target=1)
    grid = InfoGradCam(
        model,
        model.blocks[-1].norm1,
        reshape=lambda x: x[:, 1:].unflatten(1, (2, 8, 8)).permute(0, 4, 1, 2, 3),
    )
    maps = grid.attribute(clips, target=[1, 3])
    assert maps.shape == (2, 1, 2, 8, 8) and maps.any()
