r"""Class activation, PMI and infoCAM maps as pure tensor functions.

These functions take the activations ``A`` of shape ``(N, C, h, w)`` of the layer that feeds a
global-average-pooling + linear classifier head ``(W, b)`` with ``W`` of shape ``(K, C)``, and
return maps at the layer's resolution. They hold no hooks and no modules: anyone who already has
activations (and logits) can call them directly. They are batched over examples, run on any
device and floating dtype (half precision is accumulated in float32) and contain no Python loop
over examples, classes or pixels.

Notation (see the theory page of the documentation):

* class activation map: :math:`M_k(i,j) = \sum_c W_{kc} A_c(i,j)`, so that
  :math:`\operatorname{mean}_{ij} M_k + b_k = z_k`, the logit;
* region score: :math:`s_k(i,j) = \operatorname{mean}_{(u,v) \in R(i,j)} M_k(u,v) + b_k`, the
  logit the head would give an image made of the features of the window :math:`R(i,j)`;
* PMI map: :math:`\mathrm{PMI}_y(i,j) = s_y(i,j) - \log \sum_k \pi_k \exp s_k(i,j)` (nats);
* infoCAM: :math:`\mathrm{PMI}_y - \mathrm{PMI}_{\bar y}` for a contrast :math:`\bar y`, which
  reduces to a difference of region scores because the log-normaliser cancels.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from captum_infocam.information import _pc_log_softmax
from captum_infocam.priors import ClassPrior, as_class_prior

__all__ = [
    "CONTRASTS",
    "Contrast",
    "class_activation_map",
    "class_activation_maps",
    "contrast_weights",
    "info_cam",
    "pmi_map",
    "pmi_maps",
    "region_mean",
]

Contrast = Literal["mean", "least_likely", "none"]
CONTRASTS: tuple[str, ...] = ("mean", "least_likely", "none")


# --------------------------------------------------------------------------- validation


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype maps are computed in: the inputs' promoted dtype, at least float32."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def _full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Switch autocast off where the device has it, so float32 accumulation is kept."""
    is_available = getattr(torch.amp, "is_autocast_available", lambda device_type: True)
    if device.type in ("cpu", "cuda") or is_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _check_activations(activations: Tensor) -> None:
    if not isinstance(activations, Tensor) or activations.dim() != 4:
        shape = tuple(activations.shape) if isinstance(activations, Tensor) else type(activations)
        raise ValueError(f"activations must be a tensor of shape (N, C, h, w), got {shape}")
    if not activations.is_floating_point():
        raise TypeError(f"activations must be floating point, got {activations.dtype}")


def _check_head(activations: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    _check_activations(activations)
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (K, C), got {tuple(weight.shape)}")
    if weight.shape[1] != activations.shape[1]:
        raise ValueError(
            f"the classifier expects {weight.shape[1]} input channels but the activations have "
            f"{activations.shape[1]}: explain the layer that feeds the pooled classifier"
        )
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(
            f"bias must have shape ({weight.shape[0]},) to match weight, got {tuple(bias.shape)}"
        )


def _check_target(target: Tensor, num_examples: int | None, num_classes: int) -> Tensor:
    """Check integer class indices of shape ``(num_examples,)`` (any length when None)."""
    if (
        not isinstance(target, Tensor)
        or target.dtype.is_floating_point
        or target.dtype == torch.bool
    ):
        raise TypeError(f"target must be an integer tensor of shape (N,), got {target!r}")
    if target.dim() != 1 or (num_examples is not None and target.shape[0] != num_examples):
        num_examples = "N" if num_examples is None else num_examples
        raise ValueError(
            f"target must hold one class per example, shape ({num_examples},), "
            f"got {tuple(target.shape)}"
        )
    if target.numel() == 0 or torch.compiler.is_compiling():  # nothing to check / no graph break
        return target.long()
    low, high = torch.aminmax(target)
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"target must lie in [0, {num_classes}) for a classifier with {num_classes} classes, "
            f"got values in [{int(low)}, {int(high)}]"
        )
    return target.long()


def _check_region_size(region_size: int | None) -> None:
    if region_size is None:
        return
    if isinstance(region_size, bool) or not isinstance(region_size, int) or region_size < 1:
        raise ValueError(f"region_size must be an int >= 1 or None, got {region_size!r}")


# --------------------------------------------------------------------------- building blocks


def region_mean(maps: Tensor, region_size: int | None) -> Tensor:
    r"""Mean of each map over an ``s x s`` window around every position, clipped at the border.

    Positions outside the map are left out of the mean (not counted as zeros), so a constant map
    stays constant. For an odd ``s`` the window is centred on :math:`(i, j)`. For an even ``s``
    it covers ``s/2 - 1`` rows (columns) above (left of) the position and ``s/2`` below (right
    of) it, the alignment of ``padding="same"`` in PyTorch and TensorFlow.

    Args:
        maps (Tensor): maps of shape ``(N, K, h, w)``.
        region_size (int or None): the window side ``s >= 1``; ``1`` returns the maps unchanged
            and ``None`` the mean over the whole map at every position.

    Returns:
        *Tensor* of the same shape as ``maps``: the windowed means.

    Examples::

        >>> maps = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> region_mean(maps, 3)[0, 0, 0, 0]  # mean of rows 0-1, columns 0-1
        tensor(2.5000)
        >>> region_mean(maps, None)[0, 0]
        tensor([[7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000]])
    """
    _check_region_size(region_size)
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (N, K, h, w), got {tuple(maps.shape)}")
    if region_size is None:
        return maps.mean(dim=(2, 3), keepdim=True).expand_as(maps).contiguous()
    if region_size == 1:
        return maps
    height, width = maps.shape[-2:]
    pooled = F.avg_pool2d(
        maps, region_size, stride=1, padding=region_size // 2, count_include_pad=False
    )
    offset = 1 - region_size % 2  # even windows: output o covers o - s/2 .. o + s/2 - 1
    if offset:
        pooled = pooled[..., 1 : height + 1, 1 : width + 1].contiguous()
    return pooled


def class_activation_maps(activations: Tensor, weight: Tensor) -> Tensor:
    r"""Class activation maps of every class, :math:`M_k = \sum_c W_{kc} A_c` (no bias).

    Args:
        activations (Tensor): layer activations of shape ``(N, C, h, w)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.

    Returns:
        *Tensor* of shape ``(N, K, h, w)`` in logit units: for a GAP + linear head,
        ``maps.mean((2, 3)) + bias`` equals the logits.

    Examples::

        >>> activations, weight = torch.randn(2, 8, 7, 7), torch.randn(10, 8)
        >>> class_activation_maps(activations, weight).shape
        torch.Size([2, 10, 7, 7])
    """
    _check_head(activations, weight, None)
    return _class_activation_maps(activations, weight)


def _class_activation_maps(activations: Tensor, weight: Tensor) -> Tensor:
    """:func:`class_activation_maps` for checked arguments: one einsum, float32 at least."""
    dtype = _compute_dtype(activations, weight)
    with _full_precision(activations.device):
        return torch.einsum("kc,nchw->nkhw", weight.to(dtype), activations.to(dtype))


def _weighted_channel_sum(activations: Tensor, channel_weights: Tensor) -> Tensor:
    """``sum_c w[n, c] A[n, c]`` for per-example channel weights: one batched reduction."""
    dtype = _compute_dtype(activations, channel_weights)
    with _full_precision(activations.device):
        sums = torch.einsum("nc,nchw->nhw", channel_weights.to(dtype), activations.to(dtype))
    return sums[:, None]


def class_activation_map(activations: Tensor, weight: Tensor, target: Tensor) -> Tensor:
    r"""Class activation map of each example's target class, :math:`M_y = \sum_c W_{yc} A_c`.

    Costs one channel reduction per example, whatever the number of classes.

    Args:
        activations (Tensor): layer activations of shape ``(N, C, h, w)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        target (Tensor): integer class indices of shape ``(N,)``.

    Returns:
        *Tensor* of shape ``(N, 1, h, w)`` in logit units (the bias is not included).

    Examples::

        >>> activations, weight = torch.randn(2, 8, 7, 7), torch.randn(10, 8)
        >>> class_activation_map(activations, weight, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
    """
    _check_head(activations, weight, None)
    target = _check_target(target, activations.shape[0], weight.shape[0])
    return _weighted_channel_sum(activations, weight[target])


def _gap_logits(activations: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    dtype = _compute_dtype(activations, weight)
    with _full_precision(activations.device):
        logits = activations.mean(dim=(2, 3), dtype=dtype) @ weight.to(dtype).T
    return logits if bias is None else logits + bias.to(dtype)


def contrast_weights(
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: Contrast = "mean",
    logits: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Per-example head weights of the information difference between the target and contrast.

    Because region scores are linear in the weights, the difference of two classes' scores is
    the score of the difference of their weights. This returns, for each example,

    * ``"mean"``: :math:`\tilde w = w_y - \frac{1}{K-1} \sum_{k \neq y} w_k`, the paper's
      contrast with the average of the other classes;
    * ``"least_likely"``: :math:`\tilde w = w_y - w_{k^*}`, where :math:`k^*` is the class other
      than :math:`y` with the lowest image-level logit. The authors' scripts took the lowest
      logit over all classes, so their map is zero when the target itself is the least likely
      class; excluding the target avoids that degenerate case and changes nothing otherwise;
    * ``"none"``: :math:`\tilde w = w_y`, plain (regional) CAM,

    and the bias :math:`\tilde b` built the same way.

    Args:
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        contrast (str, optional): ``"mean"``, ``"least_likely"`` or ``"none"``.
            Default: ``"mean"``.
        logits (Tensor, optional): image-level logits of shape ``(N, K)``, needed by
            ``"least_likely"`` only. Default: None.

    Returns:
        *tuple[Tensor, Tensor]*: the channel weights of shape ``(N, C)`` and the biases of shape
        ``(N,)``.

    Examples::

        >>> weight, bias = torch.eye(3), torch.zeros(3)
        >>> contrast_weights(weight, bias, torch.tensor([0]))[0]
        tensor([[ 1.0000, -0.5000, -0.5000]])
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (K, C), got {tuple(weight.shape)}")
    _check_contrast(contrast, weight.shape[0])
    target = _check_target(target, None, weight.shape[0])
    if contrast == "least_likely":
        _check_logits(logits, target.shape[0], weight.shape[0])
    return _contrast_weights(weight, bias, target, contrast, logits)


def _check_contrast(contrast: str, num_classes: int) -> None:
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    if contrast != "none" and num_classes < 2:
        raise ValueError(f"contrast={contrast!r} needs a classifier with at least 2 classes")


def _check_logits(logits: Tensor | None, num_examples: int, num_classes: int) -> None:
    if logits is None or logits.shape != (num_examples, num_classes):
        shape = None if logits is None else tuple(logits.shape)
        raise ValueError(
            f"contrast='least_likely' needs the image-level logits of shape "
            f"({num_examples}, {num_classes}), got {shape}"
        )


def _contrast_weights(
    weight: Tensor, bias: Tensor | None, target: Tensor, contrast: str, logits: Tensor | None
) -> tuple[Tensor, Tensor]:
    """:func:`contrast_weights` for arguments that were already checked."""
    num_classes = weight.shape[0]
    if bias is None:
        bias = weight.new_zeros(num_classes)
    if contrast == "none":
        return weight[target], bias[target]
    if contrast == "mean":
        others = num_classes - 1
        return (
            (num_classes * weight[target] - weight.sum(0)) / others,
            (num_classes * bias[target] - bias.sum()) / others,
        )
    others_logits = logits.detach().scatter(1, target[:, None], float("inf"))
    least_likely = others_logits.argmin(dim=1)
    return weight[target] - weight[least_likely], bias[target] - bias[least_likely]


# --------------------------------------------------------------------------- maps


def info_cam(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: Contrast = "mean",
    region_size: int | None = 3,
    logits: Tensor | None = None,
) -> Tensor:
    r"""infoCAM: the information the region around each position carries about the target class
    minus the information it carries about the contrast classes, in nats.

    With ``contrast="mean"`` this is
    :math:`\mathrm{PMI}_y - \frac{1}{K-1}\sum_{k \neq y} \mathrm{PMI}_k
    = s_y - \frac{1}{K-1}\sum_{k \neq y} s_k`: the log-normaliser of the PMI cancels, so the map
    is linear in the activations and costs one channel reduction and one box filter,
    :math:`O(N C h w)`, whatever the number of classes. With ``region_size=None`` it equals
    :math:`z_y - \operatorname{mean}_{k \neq y} z_k` at every position.

    Args:
        activations (Tensor): activations of shape ``(N, C, h, w)`` of the layer that feeds the
            global-average-pooling + linear head.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        contrast (str, optional): ``"mean"`` (the paper), ``"least_likely"`` (the authors'
            scripts) or ``"none"`` (regional CAM with bias, :math:`s_y`). Default: ``"mean"``.
        region_size (int or None, optional): side of the window :math:`R(i,j)`; see
            :func:`region_mean` for the border and even-size conventions. Default: 3.
        logits (Tensor, optional): image-level logits ``(N, K)`` for ``"least_likely"``;
            computed from the activations and the head when omitted. Default: None.

    Returns:
        *Tensor* of shape ``(N, 1, h, w)``: the infoCAM map in nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> info_cam(activations, weight, bias, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
    """
    _check_head(activations, weight, bias)
    _check_region_size(region_size)
    _check_contrast(contrast, weight.shape[0])
    target = _check_target(target, activations.shape[0], weight.shape[0])
    if contrast == "least_likely" and logits is not None:
        _check_logits(logits, activations.shape[0], weight.shape[0])
    return _info_cam(activations, weight, bias, target, contrast, region_size, logits)


def _info_cam(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: str,
    region_size: int | None,
    logits: Tensor | None,
) -> Tensor:
    """:func:`info_cam` for arguments that were already checked."""
    if contrast == "least_likely" and logits is None:
        logits = _gap_logits(activations, weight, bias)
    channel_weights, biases = _contrast_weights(weight, bias, target, contrast, logits)
    scores = region_mean(_weighted_channel_sum(activations, channel_weights), region_size)
    return scores + biases.to(scores.dtype)[:, None, None, None]


def pmi_maps(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    class_prior: ClassPrior = None,
    region_size: int | None = 3,
) -> Tensor:
    r"""Pointwise mutual information maps of every class, in nats.

    :math:`\mathrm{PMI}_k(i,j) = s_k(i,j) - \log \sum_{k'} \pi_{k'} \exp s_{k'}(i,j)`: the
    probability-corrected log-softmax of the region scores. One matmul, one box filter and one
    log-sum-exp. With ``region_size=None`` and a uniform prior it equals
    ``log_softmax(logits) + log K`` at every position.

    Args:
        activations (Tensor): activations of shape ``(N, C, h, w)`` of the layer that feeds the
            global-average-pooling + linear head.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        class_prior (Tensor, sequence of float or None, optional): the class prior :math:`\pi`
            as probabilities or counts; ``None`` for uniform. Default: None.
        region_size (int or None, optional): side of the window; see :func:`region_mean`.
            Default: 3.

    Returns:
        *Tensor* of shape ``(N, K, h, w)``: the PMI maps in nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> pmi_maps(activations, weight, bias, region_size=None)[:, :, 0, 0].shape
        torch.Size([2, 10])
    """
    _check_head(activations, weight, bias)
    _check_region_size(region_size)
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _pmi_maps(activations, weight, bias, log_prior, region_size)


def _pmi_maps(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    log_prior: Tensor,
    region_size: int | None,
) -> Tensor:
    """:func:`pmi_maps` for checked arguments and a validated ``(K,)`` log prior."""
    scores = region_mean(_class_activation_maps(activations, weight), region_size)
    if bias is not None:
        scores = scores + bias.to(scores.dtype)[None, :, None, None]
    return _pc_log_softmax(scores, log_prior, dim=1)


def pmi_map(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    class_prior: ClassPrior = None,
    region_size: int | None = 3,
) -> Tensor:
    r"""Pointwise mutual information map of each example's target class, in nats.

    The target's channel of :func:`pmi_maps`; the log-normaliser needs every class's region
    score, so the cost is that of :func:`pmi_maps`.

    Args:
        activations (Tensor): activations of shape ``(N, C, h, w)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        class_prior (Tensor, sequence of float or None, optional): the class prior as
            probabilities or counts; ``None`` for uniform. Default: None.
        region_size (int or None, optional): side of the window; see :func:`region_mean`.
            Default: 3.

    Returns:
        *Tensor* of shape ``(N, 1, h, w)``: :math:`\mathrm{PMI}_y` in nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> pmi_map(activations, weight, bias, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
    """
    _check_head(activations, weight, bias)
    _check_region_size(region_size)
    target = _check_target(target, activations.shape[0], weight.shape[0])
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _pmi_map(activations, weight, bias, target, log_prior, region_size)


def _pmi_map(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    log_prior: Tensor,
    region_size: int | None,
) -> Tensor:
    """:func:`pmi_map` for checked arguments and a validated ``(K,)`` log prior."""
    maps = _pmi_maps(activations, weight, bias, log_prior, region_size)
    index = target[:, None, None, None].expand(-1, 1, *maps.shape[2:])
    return maps.gather(1, index)
