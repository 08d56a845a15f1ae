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

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from captum_infocam._validation import LOGIT_RANKED, compute_dtype, full_precision

Window = int | Sequence[int] | None
"""A window: one side for every spatial dimension, one side per dimension, or the whole map."""

__all__ = [
    "Window",
    "class_activation_maps",
    "contrast_classes",
    "contrast_logit",
    "contrast_weights",
    "gap_logits",
    "grad_cam",
    "info_cam",
    "pc_log_softmax",
    "per_example",
    "pmi_map",
    "pmi_maps",
    "region_mean",
    "spatial_dims",
    "weighted_channel_sum",
    "window_sizes",
]


def pc_log_softmax(logits: Tensor, log_prior: Tensor, dim: int) -> Tensor:
    """PC log-softmax ``z - log sum_k pi_k exp z_k`` along ``dim`` for a ``(K,)`` log prior.

    Computed on the logits shifted by their largest (finite) value, which leaves the result
    unchanged but keeps ``z_k + log pi_k`` from rounding when logits are large (float32
    logits near 1e8, as in some untrained torchvision models, would lose several nats). No
    host synchronisation.

    Examples::

        >>> pc_log_softmax(torch.zeros(1, 2), torch.tensor([0.5, 0.5]).log(), dim=1)
        tensor([[0., 0.]])
    """
    shape = [1] * logits.dim()
    shape[dim] = -1
    log_prior = log_prior.to(device=logits.device, dtype=logits.dtype).reshape(shape)
    peak = logits.detach().amax(dim=dim, keepdim=True)
    shifted = logits - torch.where(torch.isfinite(peak), peak, 0.0)
    return shifted - torch.logsumexp(shifted + log_prior, dim=dim, keepdim=True)


def window_sizes(region_size: Window, num_spatial: int) -> tuple[int, ...] | None:
    """A window as one side per spatial dimension (``None``: the whole map).

    Examples::

        >>> window_sizes(3, 2), window_sizes((3, 1), 2)
        ((3, 3), (3, 1))
    """
    if region_size is None:
        return None
    if isinstance(region_size, int):
        return (region_size,) * num_spatial
    return tuple(region_size)


def spatial_dims(tensor: Tensor) -> tuple[int, ...]:
    """The spatial dimensions of an ``(N, C, *spatial)`` tensor: ``(2, ..., dim - 1)``."""
    return tuple(range(2, tensor.dim()))


def per_example(values: Tensor, like: Tensor) -> Tensor:
    """``(N,)`` values shaped to broadcast against an ``(N, 1, *spatial)`` map."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def region_mean(maps: Tensor, region_size: Window, padding: str = "same") -> Tensor:
    """Window means of ``(N, K, *spatial)`` maps: one box filter (``avg_pool1d/2d/3d``).

    ``"same"``: windows clipped at the border (positions outside are left out of the mean);
    ``"full"``: positions outside count as zeros and each spatial size grows by ``s - 1``.
    See :func:`captum_infocam.maps.region_mean`.

    Examples::

        >>> region_mean(torch.ones(1, 1, 3, 3), 2).shape
        torch.Size([1, 1, 3, 3])
        >>> region_mean(torch.ones(1, 1, 5), 3, "full")
        tensor([[[0.3333, 0.6667, 1.0000, 1.0000, 1.0000, 0.6667, 0.3333]]])
    """
    maps = maps.to(compute_dtype(maps))  # half precision: no CPU avg_pool3d, float32 sums
    spatial = spatial_dims(maps)
    sizes = window_sizes(region_size, len(spatial))
    if sizes is None:
        return maps.mean(dim=spatial, keepdim=True).expand_as(maps).contiguous()
    if all(side == 1 for side in sizes):
        return maps
    if padding == "full":
        before = after = [side - 1 for side in sizes]
    else:  # odd sides centred; an even side s reaches s/2 - 1 before and s/2 after
        # A clipped window never reaches past the map: a reach beyond length - 1 is cut to it
        # (same windows), so a huge side costs no s ** dims padding and pooling.
        reach = [max(length - 1, 0) for length in maps.shape[2:]]
        before = [min((side - 1) // 2, r) for side, r in zip(sizes, reach, strict=True)]
        after = [min(side // 2, r) for side, r in zip(sizes, reach, strict=True)]
        sizes = tuple(b + a + 1 for b, a in zip(before, after, strict=True))
    # F.pad lists the last dimension first. Padding explicitly (rather than through the pool's
    # own padding) lets a window be larger than the map along any dimension.
    zeros = [pad for b, a in zip(reversed(before), reversed(after), strict=True) for pad in (b, a)]
    means = _AVERAGE_POOLS[len(spatial)](F.pad(maps, zeros), sizes, stride=1)
    if padding == "full":  # zeros outside count: the window sum over prod(s)
        return means
    # clipped windows: rescale the zero-padded mean by prod(s) / (positions inside the map),
    # a separable count (the product of each dimension's count)
    inside = maps.new_ones(())
    for dim, (side, b, a) in enumerate(zip(sizes, before, after, strict=True)):
        length = maps.shape[2 + dim]
        position = torch.arange(length, device=maps.device)
        count = (position + a).clamp(max=length - 1) - (position - b).clamp(min=0) + 1
        shape = [1] * maps.dim()
        shape[2 + dim] = length
        inside = inside * (count.to(maps.dtype) / side).reshape(shape)
    return means / inside


_AVERAGE_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def class_activation_maps(activations: Tensor, weight: Tensor) -> Tensor:
    """``M_k = sum_c W_kc A_c`` for every class: one einsum, float32 at least.

    Examples::

        >>> class_activation_maps(torch.ones(1, 2, 3, 3), torch.ones(4, 2)).shape
        torch.Size([1, 4, 3, 3])
    """
    dtype = compute_dtype(activations, weight)
    with full_precision(activations.device):
        return torch.einsum("kc,nc...->nk...", weight.to(dtype), activations.to(dtype))


def weighted_channel_sum(activations: Tensor, channel_weights: Tensor) -> Tensor:
    """``sum_c w[n, c] A[n, c]`` for per-example channel weights: one batched reduction.

    Examples::

        >>> weighted_channel_sum(torch.ones(1, 2, 3, 3), torch.ones(1, 2)).shape
        torch.Size([1, 1, 3, 3])
    """
    dtype = compute_dtype(activations, channel_weights)
    with full_precision(activations.device):
        sums = torch.einsum("nc,nc...->n...", channel_weights.to(dtype), activations.to(dtype))
    return sums[:, None]


def gap_logits(activations: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The logits ``W mean(A) + b`` of a global-average-pooling + linear head.

    Examples::

        >>> gap_logits(torch.ones(1, 2, 3, 3), torch.ones(4, 2), None)
        tensor([[2., 2., 2., 2.]])
    """
    dtype = compute_dtype(activations, weight)
    with full_precision(activations.device):
        pooled = activations.mean(dim=spatial_dims(activations), dtype=dtype)
        logits = pooled @ weight.to(dtype).T
    return logits if bias is None else logits + bias.to(dtype)


def contrast_classes(target: Tensor, contrast: str | Tensor, logits: Tensor | None) -> Tensor:
    """The contrast classes ``(N, k)`` of a logit-ranked contrast or explicit classes.

    ``"least_likely"`` / ``"most_likely"``: the class other than the target with the lowest /
    highest image-level logit (the first one on ties).

    Examples::

        >>> logits = torch.tensor([[3.0, 1.0, 2.0]])
        >>> contrast_classes(torch.tensor([0]), "most_likely", logits)
        tensor([[2]])
    """
    if isinstance(contrast, Tensor):  # (N,) or (N, k); reshape(N, -1) fails for N = 0
        classes = contrast.to(target.device)
        return classes if classes.dim() == 2 else classes[:, None]
    lowest = contrast == "least_likely"
    excluded = float("inf") if lowest else float("-inf")
    detached = logits.detach()  # type: ignore[union-attr]
    others = detached.to(compute_dtype(detached)).scatter(1, target[:, None], excluded)
    ranked = others.argmin(dim=1) if lowest else others.argmax(dim=1)
    return ranked[:, None]


def contrast_weights(
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: str | Tensor,
    logits: Tensor | None,
    contrast_weight: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Per-example contrast channel weights ``(N, C)`` and biases ``(N,)``, float32 at least.

    ``w_y - alpha * mean_{k in contrast} w_k`` (and the biases likewise); ``"none"``: ``w_y``.

    Examples::

        >>> contrast_weights(torch.eye(3), None, torch.tensor([0]), "none", None)[0]
        tensor([[1., 0., 0.]])
    """
    dtype = compute_dtype(weight) if bias is None else compute_dtype(weight, bias)
    weight = weight.to(dtype)
    bias = weight.new_zeros(weight.shape[0]) if bias is None else bias.to(dtype)
    weight_y, bias_y = weight[target], bias[target]
    if isinstance(contrast, str) and contrast == "none":
        return weight_y, bias_y
    if isinstance(contrast, str) and contrast == "mean":
        others = weight.shape[0] - 1
        weight_c = (weight.sum(0) - weight_y) / others
        bias_c = (bias.sum() - bias_y) / others
    else:
        classes = contrast_classes(target, contrast, logits)
        weight_c, bias_c = weight[classes].mean(dim=1), bias[classes].mean(dim=1)
    return weight_y - contrast_weight * weight_c, bias_y - contrast_weight * bias_c


def contrast_logit(
    logits: Tensor, target: Tensor, contrast: str | Tensor, contrast_weight: float = 1.0
) -> Tensor:
    """``z_y - alpha * mean_{k in contrast} z_k`` per example, in at least float32.

    The contrast of :func:`contrast_weights` read off the logits by gathers: memory
    ``O(N K)``, never a ``(K, K)`` identity head (1.9 GB for 21,843 classes).

    Examples::

        >>> contrast_logit(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0]), "mean")
        tensor([1.5000])
    """
    logits = logits.to(compute_dtype(logits))
    logit_y = logits.gather(1, target[:, None])[:, 0]
    if isinstance(contrast, str) and contrast == "none":
        return logit_y
    if isinstance(contrast, str) and contrast == "mean":
        logit_c = (logits.sum(1) - logit_y) / (logits.shape[1] - 1)
    else:
        logit_c = logits.gather(1, contrast_classes(target, contrast, logits)).mean(dim=1)
    return logit_y - contrast_weight * logit_c


def info_cam(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: str | Tensor,
    region_size: Window,
    logits: Tensor | None,
    contrast_weight: float = 1.0,
    padding: str = "same",
) -> Tensor:
    """infoCAM ``(N, 1, *spatial)``: one weighted channel sum, one box filter, the bias contrast.

    Examples::

        >>> activations, weight = torch.ones(1, 2, 3, 3), torch.eye(2)
        >>> info_cam(activations, weight, None, torch.tensor([0]), "mean", 3, None).shape
        torch.Size([1, 1, 3, 3])
    """
    if isinstance(contrast, str) and contrast in LOGIT_RANKED and logits is None:
        logits = gap_logits(activations, weight, bias)
    channel_weights, biases = contrast_weights(
        weight, bias, target, contrast, logits, contrast_weight
    )
    weighted = weighted_channel_sum(activations, channel_weights)
    scores = region_mean(weighted, region_size, padding)
    return scores + per_example(biases, scores)


def grad_cam(
    activations: Tensor,
    gradients: Tensor,
    region_size: Window,
    padding: str = "same",
) -> Tensor:
    """``prod(spatial) * sum_c alpha_c A_c`` (``alpha`` the gradients' spatial means), windowed.

    Examples::

        >>> grad_cam(torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3), 1)[0, 0, 0, 0]
        tensor(18.)
    """
    dtype = compute_dtype(activations, gradients)
    with full_precision(activations.device):
        # the sum over positions is (number of positions) * alpha, without a rounding step
        channel_weights = gradients.sum(dim=spatial_dims(gradients), dtype=dtype)
        weighted = weighted_channel_sum(activations, channel_weights)
        return region_mean(weighted, region_size, padding)


def pmi_maps(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    log_prior: Tensor,
    region_size: Window,
    padding: str = "same",
) -> Tensor:
    """PMI maps ``(N, K, *spatial)`` of every class for a validated ``(K,)`` log prior.

    Examples::

        >>> log_prior = torch.full((2,), 0.5).log()
        >>> pmi_maps(torch.ones(1, 2, 3, 3), torch.eye(2), None, log_prior, None)[0, :, 0, 0]
        tensor([0., 0.])
    """
    scores = region_mean(class_activation_maps(activations, weight), region_size, padding)
    if bias is not None:
        scores = scores + bias.to(scores.dtype).reshape(1, -1, *([1] * (scores.dim() - 2)))
    return pc_log_softmax(scores, log_prior, dim=1)


def pmi_map(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    log_prior: Tensor,
    region_size: Window,
    padding: str = "same",
) -> Tensor:
    """The target's channel ``(N, 1, *spatial)`` of :func:`pmi_maps`.

    Examples::

        >>> log_prior = torch.full((2,), 0.5).log()
        >>> activations, target = torch.ones(1, 2, 3, 3), torch.tensor([1])
        >>> pmi_map(activations, torch.eye(2), None, target, log_prior, 1).shape
        torch.Size([1, 1, 3, 3])
    """
    maps = pmi_maps(activations, weight, bias, log_prior, region_size, padding)
    index = target.reshape(-1, *([1] * (maps.dim() - 1))).expand(-1, 1, *maps.shape[2:])
    return maps.gather(1, index)
