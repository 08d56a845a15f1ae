r"""Layer attributions in the input's shape, for Captum's input-space tools.

Layer maps have the explained layer's resolution and one channel, ``(N, 1, h, w)``, and a layer
attribution returns one tensor whatever the inputs. Captum's metrics expect what its input
attribution methods return:

* :func:`~captum.metrics.infidelity` multiplies attributions with input perturbations, so it
  needs them in the input's shape ``(N, C, H, W)``: :func:`upsample_to_input`;
* :func:`~captum.metrics.sensitivity_max` always calls the explanation function with a *tuple* of
  inputs and iterates over the result as over a tuple of per-input attributions, so a layer
  method's plain tensor is misread whenever ``N > 1`` (this holds for Captum's own
  :class:`~captum.attr.LayerGradCam` too): :func:`as_input_attribution` wraps the method so that
  it answers a tuple with a tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

import torch.nn.functional as F
from captum.attr import Attribution
from torch import Tensor

__all__ = ["UPSAMPLING_MODES", "as_input_attribution", "upsample_to_input"]

UPSAMPLING_MODES: tuple[str, ...] = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")

# "bilinear" names multilinear interpolation whatever the number of spatial dimensions.
_MULTILINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


@overload
def upsample_to_input(
    attributions: Tensor,
    inputs: Tensor,
    mode: str = ...,
    split_channels: bool = ...,
    single_channel: bool = ...,
) -> Tensor: ...


@overload
def upsample_to_input(
    attributions: Tensor,
    inputs: tuple[Tensor, ...],
    mode: str = ...,
    split_channels: bool = ...,
    single_channel: bool = ...,
) -> tuple[Tensor, ...]: ...


def upsample_to_input(
    attributions: Tensor,
    inputs: Tensor | tuple[Tensor, ...],
    mode: str = "bilinear",
    split_channels: bool = False,
    single_channel: bool = False,
) -> Tensor | tuple[Tensor, ...]:
    r"""Upsample layer attributions to the input's height, width and channel count.

    The map is interpolated to each input's ``(H, W)`` and repeated over its ``C`` channels, so
    every colour channel of a pixel gets the pixel's value. Series ``(N, C, L)`` and volumes
    ``(N, C, D, H, W)`` work alike, with maps of as many spatial dimensions. With
    ``single_channel=True`` it keeps its one channel, ``(N, 1, H, W)``: the shape Quantus's
    localisation metrics compare with their ``(N, 1, H, W)`` masks (a map repeated over the
    channels is rejected there).
    With ``split_channels=True`` each channel gets the value divided by ``C`` instead, so that
    the channels of a pixel sum to it:

    .. math::

        \sum_{c=1}^{C} \mathrm{out}_c(u, v) = \mathrm{up}(M)(u, v).

    Captum's :func:`~captum.metrics.infidelity` compares :math:`\sum \mathrm{attr} \cdot I` with
    the change of the output under the perturbation :math:`I`, so the scale matters unless it is
    called with ``normalize=True``. For a tuple of inputs, one upsampled map is returned per
    input, as Captum expects.

    Args:
        attributions (Tensor): layer attributions of shape ``(N, 1, h, w)``, or ``(N, C, h, w)``
            with the input's channel count (then only resized); ``(N, 1, l)`` or
            ``(N, 1, d, h, w)`` for series and volumes.
        inputs (Tensor or tuple[Tensor, ...]): the model's inputs, each ``(N, C, H, W)`` (or
            ``(N, C, L)``, ``(N, C, D, H, W)``: as many spatial dimensions as the maps).
        mode (str, optional): interpolation mode of :func:`torch.nn.functional.interpolate`:
            one of ``"nearest"``, ``"nearest-exact"``, ``"bilinear"`` (multilinear: linear
            for series, trilinear for volumes), ``"bicubic"`` (images only), ``"area"``.
            Default: ``"bilinear"``
        split_channels (bool, optional): divide a single-channel map by the channel count so
            the channels sum to it. Default: False
        single_channel (bool, optional): return ``(N, 1, H, W)``, the map resized but not
            repeated over the input's channels; needs one-channel attributions and excludes
            ``split_channels``. Default: False

    Returns:
        *Tensor* or *tuple[Tensor, ...]*: attributions of each input's shape (with one channel
        when ``single_channel=True``), in the attributions' dtype, on their device; a tuple
        exactly when ``inputs`` is one.

    Examples::

        >>> maps = torch.randn(2, 1, 7, 7)
        >>> upsample_to_input(maps, torch.randn(2, 3, 224, 224)).shape
        torch.Size([2, 3, 224, 224])
        >>> upsample_to_input(maps, torch.randn(2, 3, 224, 224), single_channel=True).shape
        torch.Size([2, 1, 224, 224])
        >>> from captum.metrics import infidelity
        >>> scores = infidelity(model, perturb, images, upsample_to_input(maps, images), target=y)
    """
    if not isinstance(attributions, Tensor) or attributions.dim() not in (3, 4, 5):
        shape = (
            tuple(attributions.shape)
            if isinstance(attributions, Tensor)
            else type(attributions).__name__
        )
        raise ValueError(
            "attributions must be a tensor of shape (N, 1, h, w) (or (N, 1, l), (N, 1, d, h, w) "
            f"for series and volumes), got {shape}"
        )
    if not attributions.is_floating_point():
        raise TypeError(f"attributions must be floating point, got {attributions.dtype}")
    if mode not in UPSAMPLING_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLING_MODES}, got {mode!r}")
    if single_channel and split_channels:
        raise ValueError(
            "single_channel=True keeps the map's one channel, so there are no channels to "
            "split it over: pass at most one of single_channel and split_channels"
        )
    if single_channel and attributions.shape[1] != 1:
        raise ValueError(
            "single_channel=True needs attributions with one channel, got "
            f"{attributions.shape[1]}: sum them over the channels first"
        )
    if isinstance(inputs, Tensor):
        return _upsample_to(attributions, inputs, mode, split_channels, single_channel)
    if not isinstance(inputs, tuple) or not all(isinstance(x, Tensor) for x in inputs):
        raise TypeError(f"inputs must be a tensor or a tuple of tensors, got {type(inputs)}")
    return tuple(
        _upsample_to(attributions, x, mode, split_channels, single_channel) for x in inputs
    )


def _upsample_to(
    attributions: Tensor, image: Tensor, mode: str, split_channels: bool, single_channel: bool
) -> Tensor:
    dims = attributions.dim() - 2
    if image.dim() != dims + 2:
        expected = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[dims]
        raise ValueError(
            f"inputs must be of shape {expected} like the {dims}-D maps, got "
            f"{tuple(image.shape)}: upsampling to the input needs as many spatial dimensions"
        )
    batch, channels = image.shape[:2]
    if attributions.shape[0] != batch:
        raise ValueError(
            f"attributions hold {attributions.shape[0]} examples but the inputs hold {batch}"
        )
    if attributions.shape[1] not in (1, channels):
        raise ValueError(
            f"attributions must have 1 channel or the input's {channels}, "
            f"got {attributions.shape[1]}"
        )
    if mode == "bicubic" and dims != 2:
        raise ValueError(f"mode='bicubic' needs 2-D maps, got {dims}-D ones: use 'bilinear'")
    if mode == "bilinear":
        mode = _MULTILINEAR[dims]
    align = {"align_corners": False} if mode in (*_MULTILINEAR.values(), "bicubic") else {}
    upsampled = F.interpolate(attributions, size=image.shape[2:], mode=mode, **align)
    if single_channel or attributions.shape[1] == channels:
        return upsampled
    if split_channels:
        upsampled = upsampled / channels
    return upsampled.expand(-1, channels, *image.shape[2:]).contiguous()


def as_input_attribution(
    method: Attribution | Callable[..., Tensor],
    mode: str | None = "bilinear",
    split_channels: bool = False,
) -> Callable[..., Tensor | tuple[Tensor, ...]]:
    r"""A layer method's ``attribute`` that answers like Captum's input attribution methods.

    The returned function takes ``(inputs, **kwargs)``, calls ``method.attribute`` and returns
    the map upsampled to each input with :func:`upsample_to_input` (or, with ``mode=None``, at
    the layer's resolution): a tuple when ``inputs`` is a tuple, a tensor otherwise, always
    contiguous. That is the contract of Captum's metrics, e.g.
    :func:`~captum.metrics.sensitivity_max`, which passes a tuple of inputs even for a single
    tensor and expects a tuple back.

    Args:
        method (Attribution or Callable): a layer attribution (its ``attribute`` is used), or
            any function ``(inputs, **kwargs) -> Tensor`` of shape ``(N, 1, h, w)``.
        mode (str or None, optional): interpolation mode of :func:`upsample_to_input`, or
            ``None`` to keep the layer's resolution. Default: ``"bilinear"``
        split_channels (bool, optional): see :func:`upsample_to_input`. Default: False

    Returns:
        *Callable*: ``explain(inputs, **kwargs)`` returning a tensor or a tuple of tensors.

    Examples::

        >>> from captum.metrics import sensitivity_max
        >>> explain = as_input_attribution(InfoGradCam(model, model.layer4))
        >>> scores = sensitivity_max(explain, (images,), target=labels, n_perturb_samples=5)
    """
    attribute = method.attribute if isinstance(method, Attribution) else method
    if not callable(attribute):
        raise TypeError(f"method must be an Attribution or a callable, got {type(method).__name__}")
    if mode is not None and mode not in UPSAMPLING_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLING_MODES} or None, got {mode!r}")

    def explain(inputs: Tensor | tuple[Tensor, ...], **kwargs: Any) -> Tensor | tuple[Tensor, ...]:
        attributions = attribute(inputs, **kwargs)
        if mode is not None:
            return upsample_to_input(attributions, inputs, mode, split_channels)
        attributions = attributions.contiguous()
        return (attributions,) if isinstance(inputs, tuple) else attributions

    return explain
