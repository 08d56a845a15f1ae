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

from typing import Literal

import torch
from torch import Tensor

from captum_infocam import _kernels
from captum_infocam._validation import (
    check_contrast,
    check_contrast_logits,
    check_head,
    check_region_size,
    check_target,
)
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
    check_region_size(region_size)
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (N, K, h, w), got {tuple(maps.shape)}")
    return _kernels.region_mean(maps, region_size)


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
    check_head(activations, weight, None)
    return _kernels.class_activation_maps(activations, weight)


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
    check_head(activations, weight, None)
    target = check_target(target, activations.shape[0], weight.shape[0])
    return _kernels.weighted_channel_sum(activations, weight[target])


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
    check_contrast(contrast, weight.shape[0], CONTRASTS)
    target = check_target(target, None, weight.shape[0])
    if contrast == "least_likely":
        check_contrast_logits(logits, target.shape[0], weight.shape[0])
    return _kernels.contrast_weights(weight, bias, target, contrast, logits)


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
    check_head(activations, weight, bias)
    check_region_size(region_size)
    check_contrast(contrast, weight.shape[0], CONTRASTS)
    target = check_target(target, activations.shape[0], weight.shape[0])
    if contrast == "least_likely" and logits is not None:
        check_contrast_logits(logits, activations.shape[0], weight.shape[0])
    return _kernels.info_cam(activations, weight, bias, target, contrast, region_size, logits)


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
    check_head(activations, weight, bias)
    check_region_size(region_size)
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _kernels.pmi_maps(activations, weight, bias, log_prior, region_size)


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
    check_head(activations, weight, bias)
    check_region_size(region_size)
    target = check_target(target, activations.shape[0], weight.shape[0])
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _kernels.pmi_map(activations, weight, bias, target, log_prior, region_size)
