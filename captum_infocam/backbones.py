r"""Backbones in the WSOL form of Choe et al. (CVPR 2020), built from torchvision.

Choe et al. ("Evaluating Weakly Supervised Object Localization Methods Right", reference code
``clovaai/wsolevaluation``) adapt three ImageNet classifiers so that the last convolutional
features keep a 14 x 14 resolution at 224 px and feed global average pooling and one linear
layer, the form CAM-style maps explain exactly:

* **ResNet-50**: ``layer4`` with stride 1 (its first block's 3 x 3 convolution and
  shortcut), so the 2048-channel map is 14 x 14 at 224 px instead of 7 x 7;
* **VGG16-GAP**: the 13 convolutional layers of VGG16 without the last max-pooling (512
  channels, 14 x 14), one added 3 x 3 convolution to 1024 channels with a ReLU, then global
  average pooling and a linear layer (the fully connected layers of VGG16 are dropped);
* **Inception-v3**: the stem and the ``Mixed_5*`` and ``Mixed_6*`` blocks, with the first
  convolution and the first two max-poolings padded, a max-pooling (3 x 3, stride 2) before
  ``Mixed_6a``, ``Mixed_6a`` with stride 1 (so the 768-channel map is 14 x 14 at 224 px),
  then two added 3 x 3 convolutions to 1024 channels with ReLUs and dropout 0.5 before each
  and after the last; ``Mixed_7*`` and the auxiliary classifier are dropped. Choe et al. end
  in a 1 x 1 convolution to the classes followed by pooling; pooling followed by a linear
  layer is the same function.

Each builder returns a :class:`WSOLBackbone`: ``features`` (ending in the layer whose output
is pooled, exposed as :attr:`WSOLBackbone.cam_layer`), global average pooling and ``fc``, so
``InfoCAM(model, model.cam_layer)`` works on all three. Inputs are ImageNet-normalised RGB
images (``mean=(0.485, 0.456, 0.406)``, ``std=(0.229, 0.224, 0.225)``), as in Choe et al.,
also for Inception-v3 (whose torchvision weights were trained on inputs scaled to
``[-1, 1]``: Choe et al. fine-tune them on ImageNet-normalised inputs, without torchvision's
``transform_input``).

``weights=`` is what the user supplies: ``None`` (random initialisation), a torchvision
weights enum or its name (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ``"ResNet50_Weights.IMAGENET1K_V2"``;
torchvision downloads the file into its cache on first use), or the path of a local file
holding a state dict, either of torchvision's architecture (its classifier is ignored) or
of the WSOL model itself (a checkpoint saved with ``torch.save(model.state_dict(), path)``).
The layers that torchvision's weights do not cover (the added convolutions, ``fc``) start
from Kaiming-normal convolutions and an ``N(0, 0.01)`` linear layer with zero biases.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models import Inception_V3_Weights, ResNet50_Weights, VGG16_Weights, WeightsEnum

__all__ = [
    "BackboneWeights",
    "WSOLBackbone",
    "inception_v3_wsol",
    "resnet50_wsol",
    "vgg16_gap",
]

BackboneWeights: TypeAlias = WeightsEnum | str | Path | None
"""Weights for a backbone builder: ``None``, a torchvision weights enum or its name, or the
path of a local state-dict file."""


class WSOLBackbone(nn.Module):
    r"""A CNN ending in global average pooling and one linear layer: the form CAM explains.

    ``logits = fc(mean_{ij} dropout(features(x))[:, :, i, j])``; the output of
    :attr:`cam_layer` (the last module of ``features``) is the pooled map, so
    :class:`~captum_infocam.attribution.ClassActivationMap`,
    :class:`~captum_infocam.attribution.InfoCAM` and
    :class:`~captum_infocam.gradient.InfoGradCam` explain ``cam_layer``. The dropout acts in
    training only; call ``model.eval()`` before computing maps.

    Args:
        features (nn.Sequential): the layers up to and including the pooled one.
        num_features (int): the channels of the pooled map.
        num_classes (int): the classes of the linear layer.
        dropout (float, optional): dropout probability on the map before pooling.
            Default: 0.0.
        classifier_modules (sequence of str, optional): names of the submodules (``"fc"``,
            ``"features.conv6"``) that :meth:`param_groups` trains at the classifier learning
            rate. Default: ``("fc",)``.

    Attributes:
        features (nn.Sequential): as given.
        cam_layer (nn.Module): ``features[-1]``, the layer whose output is pooled.
        dropout (nn.Module): ``nn.Dropout`` or ``nn.Identity``.
        pool (nn.AdaptiveAvgPool2d): global average pooling.
        fc (nn.Linear): the classifier.
        classifier_modules (tuple of str): as given.

    Examples::

        >>> model = resnet50_wsol(num_classes=10).eval()
        >>> model(torch.randn(1, 3, 64, 64)).shape
        torch.Size([1, 10])
        >>> model.cam_layer is model.features.layer4
        True
    """

    def __init__(
        self,
        features: nn.Sequential,
        num_features: int,
        num_classes: int,
        dropout: float = 0.0,
        classifier_modules: Sequence[str] = ("fc",),
    ) -> None:
        super().__init__()
        if not isinstance(features, nn.Sequential) or len(features) == 0:
            raise TypeError("features must be a non-empty nn.Sequential ending in the CAM layer")
        _check_classes(num_classes)
        self.features = features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(num_features, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)
        names = dict(self.named_modules())
        unknown = [name for name in classifier_modules if name not in names]
        if unknown:
            raise ValueError(f"classifier_modules {unknown} are not submodules of the model")
        self.classifier_modules = tuple(classifier_modules)

    @property
    def cam_layer(self) -> nn.Module:
        """The layer whose output is pooled, the one the CAM-family attributions explain."""
        return self.features[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Logits of a batch of images.

        Args:
            x (Tensor): ``(N, 3, H, W)`` ImageNet-normalised images.

        Returns:
            *Tensor* ``(N, K)``: the logits.
        """
        return self.fc(self.pool(self.dropout(self.features(x))).flatten(1))

    def param_groups(self, lr: float, classifier_lr_ratio: float = 10.0) -> list[dict[str, Any]]:
        """Optimizer parameter groups with the classifier part at a larger learning rate.

        Choe et al. train the modules of ``classifier_modules`` at ``lr_classifier_ratio``
        (10) times the learning rate of the rest: for ResNet-50 ``layer4`` and ``fc``, for
        VGG16-GAP and Inception-v3 the added convolutions and ``fc``.

        Args:
            lr (float): the learning rate of the pretrained part.
            classifier_lr_ratio (float, optional): the factor for the classifier part.
                Default: 10.0.

        Returns:
            *list[dict]*: two groups (``"params"``, ``"lr"``) for a ``torch.optim`` optimizer.

        Examples::

            >>> model = vgg16_gap(num_classes=5)
            >>> groups = model.param_groups(0.01)
            >>> [group["lr"] for group in groups], len(groups[1]["params"])  # conv6, fc
            ([0.01, 0.1], 4)
        """
        fast = {
            id(parameter)
            for name in self.classifier_modules
            for parameter in self.get_submodule(name).parameters()
        }
        rest = [p for p in self.parameters() if id(p) not in fast]
        head = [p for p in self.parameters() if id(p) in fast]
        return [{"params": rest, "lr": lr}, {"params": head, "lr": lr * classifier_lr_ratio}]


def _check_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def _new_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    assert conv.bias is not None
    nn.init.zeros_(conv.bias)
    return conv


def _resolve(
    weights: BackboneWeights, enum: type[WeightsEnum], builder: str
) -> WeightsEnum | Path | None:
    """A torchvision weights enum, a local file, or ``None``."""
    if weights is None:
        return None
    names = ", ".join(["DEFAULT", *(member.name for member in enum)])
    if isinstance(weights, WeightsEnum):
        if not isinstance(weights, enum):
            raise ValueError(
                f"weights {weights} are not weights of torchvision's {builder}; use "
                f"{enum.__name__} ({names}), a state-dict file or None"
            )
        return weights
    if isinstance(weights, Path):
        if not weights.is_file():
            raise FileNotFoundError(f"weights: the state-dict file {weights} does not exist")
        return weights
    if isinstance(weights, str):
        try:
            return enum.verify(weights)
        except KeyError:
            pass
        if Path(weights).is_file():
            return Path(weights)
        raise ValueError(
            f"weights {weights!r} is neither a name of torchvision's {enum.__name__} ({names}) "
            "nor an existing state-dict file"
        )
    raise TypeError(
        f"weights must be None, a torchvision weights enum or name, or a file path, got "
        f"{type(weights).__name__}"
    )


def _state_dict(source: WeightsEnum | Path, progress: bool) -> Mapping[str, Tensor]:
    if isinstance(source, WeightsEnum):
        return source.get_state_dict(progress=progress, check_hash=True)
    state = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, Tensor) for key, value in state.items()
    ):
        raise TypeError(
            f"weights: {source} must hold a state dict (parameter names to tensors), got "
            f"{type(state).__name__}"
        )
    return state


def _load(
    model: WSOLBackbone,
    source: WeightsEnum | Path | None,
    builder: str,
    torchvision_key: Callable[[str], str | None],
    new_modules: Sequence[str],
    progress: bool,
) -> WSOLBackbone:
    """Load a WSOL checkpoint, or torchvision weights of ``builder`` into the backbone part.

    ``torchvision_key`` maps a key of torchvision's state dict to the model's (``None`` for
    the parts the WSOL form drops); ``new_modules`` are the model's modules that torchvision's
    weights do not cover.
    """
    if source is None:
        return model
    state = _state_dict(source, progress)
    own = model.state_dict()
    if set(state) == set(own):  # a checkpoint of this WSOL model
        model.load_state_dict(state)
        return model
    mapped, unexpected = {}, []
    for key, value in state.items():
        target = torchvision_key(key)
        if target is None:
            continue
        if target in own:
            mapped[target] = value
        else:
            unexpected.append(key)
    missing = sorted(
        key
        for key in own
        if key not in mapped
        and not key.startswith(tuple(f"{name}." for name in new_modules))
        and not key.endswith("num_batches_tracked")  # absent from older torchvision files
    )
    if unexpected or missing:
        raise ValueError(
            f"weights: {source} is neither a state dict of this WSOL model nor of "
            f"torchvision's {builder} (unexpected keys {unexpected[:5]}, missing "
            f"{missing[:5]})"
        )
    try:
        model.load_state_dict(mapped, strict=False)
    except RuntimeError as error:
        raise ValueError(
            f"weights: {source} does not fit torchvision's {builder}: {error}"
        ) from error
    return model


def resnet50_wsol(
    num_classes: int = 1000, weights: BackboneWeights = None, *, progress: bool = True
) -> WSOLBackbone:
    r"""ResNet-50 in Choe et al.'s WSOL form: ``layer4`` with stride 1, 14 x 14 maps at 224 px.

    Args:
        num_classes (int, optional): the classes of the linear layer. Default: 1000.
        weights (torchvision.models.ResNet50_Weights, str, Path or None, optional): ``None``,
            torchvision's ``ResNet50_Weights`` (or its name), or a local state-dict file
            (torchvision's ResNet-50 or this model); see the module documentation.
            Default: None.
        progress (bool, optional): show torchvision's download progress. Default: True.

    Returns:
        *WSOLBackbone*: ``features`` is ``conv1 ... layer4`` (torchvision's names),
        ``cam_layer`` is ``features.layer4`` (2048 channels); :meth:`~WSOLBackbone.param_groups`
        puts ``layer4`` and ``fc`` in the classifier group, as Choe et al. do.

    Raises:
        ValueError: on a bad ``num_classes`` or weights that are not ResNet-50's.
        FileNotFoundError: if a weights file does not exist.

    Examples::

        >>> model = resnet50_wsol(num_classes=200).eval()
        >>> InfoCAM(model, model.cam_layer).attribute(torch.randn(1, 3, 224, 224)).shape
        torch.Size([1, 1, 14, 14])
    """
    _check_classes(num_classes)
    source = _resolve(weights, ResNet50_Weights, "resnet50")
    resnet = torchvision.models.resnet50(weights=None)
    first = resnet.layer4[0]
    first.conv2.stride = (1, 1)  # torchvision's (and Choe et al.'s) blocks stride in conv2
    first.downsample[0].stride = (1, 1)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    features = nn.Sequential(OrderedDict((name, getattr(resnet, name)) for name in names))
    model = WSOLBackbone(features, 2048, num_classes, classifier_modules=("features.layer4", "fc"))
    return _load(
        model,
        source,
        "resnet50",
        lambda key: None if key.startswith("fc.") else f"features.{key}",
        ("fc",),
        progress,
    )


_VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def vgg16_gap(
    num_classes: int = 1000, weights: BackboneWeights = None, *, progress: bool = True
) -> WSOLBackbone:
    r"""VGG16-GAP in Choe et al.'s WSOL form: VGG16's convolutions, one more, GAP and linear.

    Args:
        num_classes (int, optional): the classes of the linear layer. Default: 1000.
        weights (torchvision.models.VGG16_Weights, str, Path or None, optional): ``None``,
            torchvision's ``VGG16_Weights`` (or its name), or a local state-dict file
            (torchvision's VGG16 or this model); see the module documentation. Default: None.
        progress (bool, optional): show torchvision's download progress. Default: True.

    Returns:
        *WSOLBackbone*: ``features`` holds VGG16's layers ``0`` to ``29`` (torchvision's
        indices, the last max-pooling removed), ``conv6`` (512 to 1024 channels, 3 x 3) and
        ``relu6``, the ``cam_layer``; the classifier group of
        :meth:`~WSOLBackbone.param_groups` is ``conv6`` and ``fc``.

    Raises:
        ValueError: on a bad ``num_classes`` or weights that are not VGG16's.
        FileNotFoundError: if a weights file does not exist.

    Examples::

        >>> model = vgg16_gap(num_classes=200).eval()
        >>> model.features(torch.randn(1, 3, 112, 112)).shape  # 14 x 14 at 224 px
        torch.Size([1, 1024, 7, 7])
    """
    _check_classes(num_classes)
    source = _resolve(weights, VGG16_Weights, "vgg16")
    layers: list[tuple[str, nn.Module]] = []
    channels = 3
    for item in _VGG16_LAYERS:
        if item == "M":
            layers.append((str(len(layers)), nn.MaxPool2d(kernel_size=2, stride=2)))
            continue
        assert isinstance(item, int)
        conv = _new_conv(channels, item)
        layers += [(str(len(layers)), conv), (str(len(layers) + 1), nn.ReLU(inplace=True))]
        channels = item
    layers += [("conv6", _new_conv(512, 1024)), ("relu6", nn.ReLU())]
    model = WSOLBackbone(
        nn.Sequential(OrderedDict(layers)),
        1024,
        num_classes,
        classifier_modules=("features.conv6", "fc"),
    )
    return _load(
        model,
        source,
        "vgg16",
        lambda key: key if key.startswith("features.") and int(key.split(".")[1]) < 30 else None,
        ("features.conv6", "fc"),
        progress,
    )


class _StrideOneReduction(nn.Module):
    """torchvision's ``Mixed_6a`` (InceptionB) run with stride 1 and padding 1: its 3 x 3
    branches and its max-pooling keep the resolution, as in Choe et al.'s Inception-v3."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.branch3x3 = block.get_submodule("branch3x3")
        self.branch3x3dbl_1 = block.get_submodule("branch3x3dbl_1")
        self.branch3x3dbl_2 = block.get_submodule("branch3x3dbl_2")
        self.branch3x3dbl_3 = block.get_submodule("branch3x3dbl_3")
        for branch in (self.branch3x3, self.branch3x3dbl_3):
            conv = branch.get_submodule("conv")
            assert isinstance(conv, nn.Conv2d)
            conv.stride, conv.padding = (1, 1), (1, 1)

    def forward(self, x: Tensor) -> Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch3x3(x), double, pooled], dim=1)


_INCEPTION_DROPPED = ("Mixed_7", "AuxLogits.", "fc.")


def inception_v3_wsol(
    num_classes: int = 1000, weights: BackboneWeights = None, *, progress: bool = True
) -> WSOLBackbone:
    r"""Inception-v3 in Choe et al.'s WSOL form: 14 x 14 maps at 224 px, two added convolutions.

    Args:
        num_classes (int, optional): the classes of the linear layer. Default: 1000.
        weights (torchvision.models.Inception_V3_Weights, str, Path or None, optional):
            ``None``, torchvision's ``Inception_V3_Weights`` (or its name), or a local
            state-dict file (torchvision's Inception-v3 or this model); see the module
            documentation. Default: None.
        progress (bool, optional): show torchvision's download progress. Default: True.

    Returns:
        *WSOLBackbone*: ``features`` holds torchvision's ``Conv2d_1a_3x3`` to ``Mixed_6e``
        (adapted as the module documentation says), then ``dropout6``, ``conv6``, ``relu6``,
        ``dropout7``, ``conv7`` and ``relu7``, the ``cam_layer`` (1024 channels); dropout 0.5
        also acts on the map before pooling. The classifier group of
        :meth:`~WSOLBackbone.param_groups` is ``conv6``, ``conv7`` and ``fc``.

    Raises:
        ValueError: on a bad ``num_classes`` or weights that are not Inception-v3's.
        FileNotFoundError: if a weights file does not exist.

    Examples::

        >>> model = inception_v3_wsol(num_classes=100).eval()
        >>> model.features(torch.randn(1, 3, 112, 112)).shape  # 14 x 14 at 224 px
        torch.Size([1, 1024, 7, 7])
    """
    _check_classes(num_classes)
    source = _resolve(weights, Inception_V3_Weights, "inception_v3")
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    net.Conv2d_1a_3x3.conv.padding = (1, 1)
    stem = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3")
    layers: list[tuple[str, nn.Module]] = [(name, getattr(net, name)) for name in stem]
    layers += [
        ("maxpool1", nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ("Conv2d_3b_1x1", net.Conv2d_3b_1x1),
        ("Conv2d_4a_3x3", net.Conv2d_4a_3x3),
        ("maxpool2", nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ("Mixed_5b", net.Mixed_5b),
        ("Mixed_5c", net.Mixed_5c),
        ("Mixed_5d", net.Mixed_5d),
        ("maxpool3", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)),
        ("Mixed_6a", _StrideOneReduction(net.Mixed_6a)),
        *((name, getattr(net, name)) for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")),
        ("dropout6", nn.Dropout(0.5)),
        ("conv6", _new_conv(768, 1024)),
        ("relu6", nn.ReLU()),
        ("dropout7", nn.Dropout(0.5)),
        ("conv7", _new_conv(1024, 1024)),
        ("relu7", nn.ReLU()),
    ]
    model = WSOLBackbone(
        nn.Sequential(OrderedDict(layers)),
        1024,
        num_classes,
        dropout=0.5,
        classifier_modules=("features.conv6", "features.conv7", "fc"),
    )
    return _load(
        model,
        source,
        "inception_v3",
        lambda key: None if key.startswith(_INCEPTION_DROPPED) else f"features.{key}",
        ("features.conv6", "features.conv7", "fc"),
        progress,
    )
