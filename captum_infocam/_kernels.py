"""The unchecked map kernels (internal): the tensor maths of :mod:`captum_infocam.maps`.

Arguments already checked; called by maps' public functions and by the attribution classes
after one round of checks. Nothing here validates its inputs, synchronises with the host or
raises on bad values: a wrong shape gives a wrong result or a PyTorch error, not a clear
message, so call the public functions of :mod:`captum_infocam.maps` unless the arguments were
checked with :mod:`captum_infocam._validation` first.

Every kernel is batched over examples, has no Python loop over examples, classes or positions,
runs on any device, and accumulates half precision in float32 with autocast switched off
(:func:`~captum_infocam._validation.full_precision`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from captum_infocam._validation import compute_dtype, full_precision

__all__ = [
    "class_activation_maps",
    "contrast_weights",
    "gap_logits",
    "info_cam",
    "pc_log_softmax",
    "pmi_map",
    "pmi_maps",
    "region_mean",
    "weighted_channel_sum",
]


def pc_log_softmax(logits: Tensor, log_prior: Tensor, dim: int) -> Tensor:
    """PC log-softmax ``z - log sum_k pi_k exp z_k`` along ``dim`` for a ``(K,)`` log prior.

    No host synchronisation.

    Examples::

        >>> pc_log_softmax(torch.zeros(1, 2), torch.tensor([0.5, 0.5]).log(), dim=1)
        tensor([[0., 0.]])
    """
    shape = [1] * logits.dim()
    shape[dim] = -1
    log_prior = log_prior.to(device=logits.device, dtype=logits.dtype).reshape(shape)
    return logits - torch.logsumexp(logits + log_prior, dim=dim, keepdim=True)


def region_mean(maps: Tensor, region_size: int | None) -> Tensor:
    """Window means of ``(N, K, h, w)`` maps, clipped at the border (see ``maps.region_mean``).

    Examples::

        >>> region_mean(torch.ones(1, 1, 3, 3), 2).shape
        torch.Size([1, 1, 3, 3])
    """
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
    """``M_k = sum_c W_kc A_c`` for every class: one einsum, float32 at least.

    Examples::

        >>> class_activation_maps(torch.ones(1, 2, 3, 3), torch.ones(4, 2)).shape
        torch.Size([1, 4, 3, 3])
    """
    dtype = compute_dtype(activations, weight)
    with full_precision(activations.device):
        return torch.einsum("kc,nchw->nkhw", weight.to(dtype), activations.to(dtype))


def weighted_channel_sum(activations: Tensor, channel_weights: Tensor) -> Tensor:
    """``sum_c w[n, c] A[n, c]`` for per-example channel weights: one batched reduction.

    Examples::

        >>> weighted_channel_sum(torch.ones(1, 2, 3, 3), torch.ones(1, 2)).shape
        torch.Size([1, 1, 3, 3])
    """
    dtype = compute_dtype(activations, channel_weights)
    with full_precision(activations.device):
        sums = torch.einsum("nc,nchw->nhw", channel_weights.to(dtype), activations.to(dtype))
    return sums[:, None]


def gap_logits(activations: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The logits ``W mean(A) + b`` of a global-average-pooling + linear head.

    Examples::

        >>> gap_logits(torch.ones(1, 2, 3, 3), torch.ones(4, 2), None)
        tensor([[2., 2., 2., 2.]])
    """
    dtype = compute_dtype(activations, weight)
    with full_precision(activations.device):
        logits = activations.mean(dim=(2, 3), dtype=dtype) @ weight.to(dtype).T
    return logits if bias is None else logits + bias.to(dtype)


def contrast_weights(
    weight: Tensor, bias: Tensor | None, target: Tensor, contrast: str, logits: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Per-example contrast channel weights ``(N, C)`` and biases ``(N,)``.

    Examples::

        >>> contrast_weights(torch.eye(3), None, torch.tensor([0]), "none", None)[0]
        tensor([[1., 0., 0.]])
    """
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
    others_logits = logits.detach().scatter(1, target[:, None], float("inf"))  # type: ignore[union-attr]
    least_likely = others_logits.argmin(dim=1)
    return weight[target] - weight[least_likely], bias[target] - bias[least_likely]


def info_cam(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: str,
    region_size: int | None,
    logits: Tensor | None,
) -> Tensor:
    """infoCAM ``(N, 1, h, w)``: one weighted channel sum, one box filter, the bias contrast.

    Examples::

        >>> activations, weight = torch.ones(1, 2, 3, 3), torch.eye(2)
        >>> info_cam(activations, weight, None, torch.tensor([0]), "mean", 3, None).shape
        torch.Size([1, 1, 3, 3])
    """
    if contrast == "least_likely" and logits is None:
        logits = gap_logits(activations, weight, bias)
    channel_weights, biases = contrast_weights(weight, bias, target, contrast, logits)
    scores = region_mean(weighted_channel_sum(activations, channel_weights), region_size)
    return scores + biases.to(scores.dtype)[:, None, None, None]


def pmi_maps(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    log_prior: Tensor,
    region_size: int | None,
) -> Tensor:
    """PMI maps ``(N, K, h, w)`` of every class for a validated ``(K,)`` log prior.

    Examples::

        >>> log_prior = torch.full((2,), 0.5).log()
        >>> pmi_maps(torch.ones(1, 2, 3, 3), torch.eye(2), None, log_prior, None)[0, :, 0, 0]
        tensor([0., 0.])
    """
    scores = region_mean(class_activation_maps(activations, weight), region_size)
    if bias is not None:
        scores = scores + bias.to(scores.dtype)[None, :, None, None]
    return pc_log_softmax(scores, log_prior, dim=1)


def pmi_map(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    log_prior: Tensor,
    region_size: int | None,
) -> Tensor:
    """The target's channel ``(N, 1, h, w)`` of :func:`pmi_maps`.

    Examples::

        >>> log_prior = torch.full((2,), 0.5).log()
        >>> activations, target = torch.ones(1, 2, 3, 3), torch.tensor([1])
        >>> pmi_map(activations, torch.eye(2), None, target, log_prior, 1).shape
        torch.Size([1, 1, 3, 3])
    """
    maps = pmi_maps(activations, weight, bias, log_prior, region_size)
    index = target[:, None, None, None].expand(-1, 1, *maps.shape[2:])
    return maps.gather(1, index)
