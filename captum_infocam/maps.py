r"""Class activation, PMI and infoCAM maps as pure tensor functions.

These functions take the activations ``A`` of shape ``(N, C, *spatial)`` (1, 2 or 3 spatial
dimensions: ``(N, C, L)`` for audio, text or time series, ``(N, C, h, w)`` for images,
``(N, C, d, h, w)`` for volumes and video) of the layer that feeds a global-average-pooling +
linear classifier head ``(W, b)`` with ``W`` of shape ``(K, C)``, and return maps at the layer's
resolution. They hold no hooks and no modules: anyone who already has activations (and logits)
can call them directly. They are batched over examples, run on any device and floating dtype
(half precision is accumulated in float32, also under :func:`torch.autocast`) and contain no
Python loop over examples, classes or positions. The unchecked kernels they call after checking
their arguments live in the internal module ``captum_infocam._kernels``.

Notation (see the theory page of the documentation), with :math:`p` a position:

* class activation map: :math:`M_k(p) = \sum_c W_{kc} A_c(p)`, so that
  :math:`\operatorname{mean}_p M_k + b_k = z_k`, the logit;
* region score: :math:`s_k(p) = \operatorname{mean}_{u \in R(p)} M_k(u) + b_k`, the logit the
  head would give an input made of the features of the window :math:`R(p)` (a segment, a
  rectangle or a box of ``region_size`` positions);
* PMI map: :math:`\mathrm{PMI}_y(p) = s_y(p) - \log \sum_k \pi_k \exp s_k(p)` (nats);
* infoCAM: :math:`s_y - \alpha \operatorname{mean}_{k \in \bar y} s_k` for contrast classes
  :math:`\bar y` (the other classes, the least or most likely other class, or given classes)
  and a strength :math:`\alpha`. For :math:`\alpha = 1` it is the information difference
  :math:`\mathrm{PMI}_y - \operatorname{mean}_{k \in \bar y} \mathrm{PMI}_k` (the
  log-normaliser cancels, whatever the prior). For other :math:`\alpha`, :func:`info_cam`
  still returns this difference of region scores, which is
  :math:`\mathrm{PMI}_y - \alpha \operatorname{mean}_{k \in \bar y} \mathrm{PMI}_k` plus
  :math:`(1 - \alpha) \log \sum_k \pi_k \exp s_k`. It is linear in the activations, so it
  costs one weighted channel sum and one box filter.

Two border conventions (``padding``):

* ``"same"`` (default): the window is clipped at the border, positions outside are left out of
  the mean, and the map keeps the layer's size;
* ``"full"``: positions outside count as zero features and the map grows by ``s - 1`` along each
  dimension, to ``(h + s - 1) x (w + s - 1)``: the geometry of the infoCAM authors' scripts,
  which summed each window with an all-ones convolution and zero padding ``s - 1``. Output
  position ``o`` covers the input positions ``o - s + 1, ..., o``. Their map is the window
  *sum* :math:`G` of the (contrast) class activation map without the bias; ours is the window
  mean plus the bias, :math:`G / |R| + \tilde b` with :math:`|R|` the window's number of
  positions and :math:`\tilde b` the example's (contrast) bias. That is a positive affine
  function of :math:`G` per example, so after min-max normalisation per map the two are equal
  (whatever the bias); :func:`class_activation_map` with ``padding="full"`` has no bias and
  is :math:`G / |R|` itself. Upsampling the whole grown map to the input reproduces their
  placement (content squeezed toward the centre by ``h / (h + s - 1)``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from captum_infocam import _kernels
from captum_infocam._validation import (
    CONTRAST_NAMES,
    LOGIT_RANKED,
    PADDINGS,
    check_activations,
    check_contrast,
    check_contrast_logits,
    check_contrast_weight,
    check_head,
    check_head_parameters,
    check_padding,
    check_region_size,
    check_target,
)
from captum_infocam.priors import ClassPrior, as_class_prior

__all__ = [
    "CONTRASTS",
    "PADDINGS",
    "Contrast",
    "Padding",
    "RegionSize",
    "class_activation_map",
    "class_activation_maps",
    "contrast_logit",
    "contrast_weights",
    "grad_cam_map",
    "info_cam",
    "pmi_map",
    "pmi_maps",
    "region_mean",
]

Contrast = Literal["mean", "least_likely", "most_likely", "none"]
"""A contrast given by name; the map functions also take a tensor of contrast classes."""

CONTRASTS: tuple[str, ...] = CONTRAST_NAMES
"""The contrasts given by name: ``("mean", "least_likely", "most_likely", "none")``."""

Padding = Literal["same", "full"]
"""The window convention at the border: clipped (``"same"``) or zeros outside (``"full"``)."""

RegionSize = int | tuple[int, ...] | None
"""A window: one side for every spatial dimension, one side per dimension, or the whole map."""


# --------------------------------------------------------------------------- building blocks


def region_mean(maps: Tensor, region_size: RegionSize, *, padding: Padding = "same") -> Tensor:
    r"""Mean of each map over a window around every position: one box filter.

    The window is a segment, a rectangle or a box: ``region_size`` positions along each spatial
    dimension. For an odd side it is centred on the position; for an even side ``s`` it covers
    ``s/2 - 1`` positions before the position and ``s/2`` after it, the alignment of
    ``padding="same"`` in PyTorch and TensorFlow. At the border:

    * ``padding="same"``: positions outside the map are left out of the mean (not counted as
      zeros), so a constant map stays constant and the output has the input's size;
    * ``padding="full"``: positions outside count as zeros, every window has
      :math:`|R| = \prod_d s_d` positions, and each spatial size grows by ``s - 1``; output
      position ``o`` covers input positions ``o - s + 1, ..., o`` (a "full" convolution with an
      all-ones kernel, divided by :math:`|R|`).

    Args:
        maps (Tensor): maps of shape ``(N, K, *spatial)`` with 1, 2 or 3 spatial dimensions.
        region_size (int, tuple of int or None): the window side ``s >= 1`` along every
            spatial dimension, or one side per spatial dimension; ``1`` returns the maps
            unchanged and ``None`` the mean over the whole map at every position.
        padding (str, optional): ``"same"`` or ``"full"`` (which needs a window, not
            ``None``). Default: ``"same"``

    Returns:
        *Tensor*: the windowed means, of the shape of ``maps`` for ``"same"``, grown by
        ``s - 1`` along each spatial dimension for ``"full"``; dtype at least float32.

    Examples::

        >>> maps = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> region_mean(maps, 3)[0, 0, 0, 0]  # mean of rows 0-1, columns 0-1
        tensor(2.5000)
        >>> region_mean(maps, None)[0, 0]
        tensor([[7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000],
                [7.5000, 7.5000, 7.5000, 7.5000]])
        >>> region_mean(torch.ones(1, 1, 4), 3, padding="full")  # 1-D, zeros outside
        tensor([[[0.3333, 0.6667, 1.0000, 1.0000, 0.6667, 0.3333]]])
        >>> region_mean(torch.ones(1, 1, 4, 5, 6), (3, 1, 2)).shape  # 3-D, one side per dim
        torch.Size([1, 1, 4, 5, 6])
    """
    check_activations(maps, name="maps")
    check_region_size(region_size, maps.dim() - 2)
    check_padding(padding, region_size)
    means = _kernels.region_mean(maps, region_size, padding)
    return means.clone() if means is maps else means  # never the caller's own tensor


def class_activation_maps(
    activations: Tensor,
    weight: Tensor,
    *,
    region_size: RegionSize = 1,
    padding: Padding = "same",
) -> Tensor:
    r"""Class activation maps of every class, :math:`M_k = \sum_c W_{kc} A_c` (no bias).

    Args:
        activations (Tensor): layer activations of shape ``(N, C, *spatial)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        region_size (int, tuple of int or None, optional): a window to average the maps
            over (:func:`region_mean`); ``1`` gives the plain CAM. Default: 1
        padding (str, optional): ``"same"`` or ``"full"``, see :func:`region_mean`. With
            ``"full"`` and window side ``s`` the map is the infoCAM authors' windowed CAM
            without contrast divided by the window's number of positions. Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, K, *spatial)`` in logit units: for a GAP + linear head and
        ``region_size=1``, the maps' spatial mean plus the bias equals the logits.

    Examples::

        >>> activations, weight = torch.randn(2, 8, 7, 7), torch.randn(10, 8)
        >>> class_activation_maps(activations, weight).shape
        torch.Size([2, 10, 7, 7])
        >>> class_activation_maps(torch.randn(2, 8, 50), weight).shape  # a 1-D layer
        torch.Size([2, 10, 50])
    """
    check_head(activations, weight, None)
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    cams = _kernels.class_activation_maps(activations, weight)
    return _kernels.region_mean(cams, region_size, padding)


def class_activation_map(
    activations: Tensor,
    weight: Tensor,
    target: Tensor,
    *,
    region_size: RegionSize = 1,
    padding: Padding = "same",
) -> Tensor:
    r"""Class activation map of each example's target class, :math:`M_y = \sum_c W_{yc} A_c`.

    Costs one channel reduction per example, whatever the number of classes.

    Args:
        activations (Tensor): layer activations of shape ``(N, C, *spatial)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        target (Tensor): integer class indices of shape ``(N,)``.
        region_size (int, tuple of int or None, optional): a window to average the map over
            (:func:`region_mean`); ``1`` gives the plain CAM. Default: 1
        padding (str, optional): ``"same"`` or ``"full"``, see :func:`region_mean`.
            Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, 1, *spatial)`` in logit units (the bias is not included);
        each spatial size grows by ``s - 1`` with ``padding="full"``.

    Examples::

        >>> activations, weight = torch.randn(2, 8, 7, 7), torch.randn(10, 8)
        >>> class_activation_map(activations, weight, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
        >>> # the authors' geometry: window of 3, zeros outside, the map grows to 9 x 9
        >>> cam = class_activation_map(
        ...     activations, weight, torch.tensor([3, 7]), region_size=3, padding="full")
        >>> cam.shape
        torch.Size([2, 1, 9, 9])
    """
    check_head(activations, weight, None)
    target = check_target(target, activations.shape[0], weight.shape[0])
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    cam = _kernels.weighted_channel_sum(activations, weight[target])
    return _kernels.region_mean(cam, region_size, padding)


def contrast_weights(
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: Contrast | Tensor = "mean",
    logits: Tensor | None = None,
    *,
    contrast_weight: float = 1.0,
) -> tuple[Tensor, Tensor]:
    r"""Per-example head weights of the information difference between the target and contrast.

    Because region scores are linear in the weights, the difference of two classes' scores is
    the score of the difference of their weights. This returns, for each example,
    :math:`\tilde w = w_y - \alpha \operatorname{mean}_{k \in \bar y} w_k` with
    :math:`\alpha` = ``contrast_weight`` and the contrast classes :math:`\bar y`:

    * ``"mean"``: every class other than :math:`y`, the paper's contrast;
    * ``"least_likely"``: the class other than :math:`y` with the lowest image-level logit.
      The authors' scripts took the lowest logit over all classes, so their map is zero when
      the target itself is the least likely class; excluding the target avoids that degenerate
      case and changes nothing otherwise;
    * ``"most_likely"``: the class other than :math:`y` with the highest image-level logit, the
      most similar class that Finer-CAM (2025) compares the target with;
    * a tensor of class indices of shape ``(N,)`` or ``(N, k)``: the given classes of each
      example (their mean; a class given twice counts twice), none equal to its target;
    * ``"none"``: no contrast, :math:`\tilde w = w_y` (plain, regional CAM; ``contrast_weight``
      is then unused),

    and the bias :math:`\tilde b` built the same way. The weights are float32 at least.

    Args:
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        contrast (str or Tensor, optional): ``"mean"``, ``"least_likely"``, ``"most_likely"``,
            ``"none"`` or contrast classes ``(N,)`` / ``(N, k)``. Default: ``"mean"``
        logits (Tensor, optional): image-level logits of shape ``(N, K)``, needed by
            ``"least_likely"`` and ``"most_likely"`` only. Default: None
        contrast_weight (float, optional): the strength :math:`\alpha` of the contrast, any
            finite real number. Default: 1.0

    Returns:
        *tuple[Tensor, Tensor]*: the channel weights of shape ``(N, C)`` and the biases of shape
        ``(N,)``.

    Examples::

        >>> weight, bias = torch.eye(3), torch.zeros(3)
        >>> contrast_weights(weight, bias, torch.tensor([0]))[0]
        tensor([[ 1.0000, -0.5000, -0.5000]])
        >>> contrast_weights(weight, bias, torch.tensor([0]), torch.tensor([2]),
        ...                  contrast_weight=0.5)[0]
        tensor([[ 1.0000,  0.0000, -0.5000]])
    """
    check_head_parameters(weight, bias)
    target = check_target(target, None, weight.shape[0])
    chosen = check_contrast(contrast, target, weight.shape[0])
    alpha = check_contrast_weight(contrast_weight)
    if isinstance(chosen, str) and chosen in LOGIT_RANKED:
        check_contrast_logits(logits, target.shape[0], weight.shape[0], chosen)
    return _kernels.contrast_weights(weight, bias, target, chosen, logits, alpha)


def contrast_logit(
    logits: Tensor,
    target: Tensor,
    contrast: Contrast | Tensor = "mean",
    *,
    contrast_weight: float = 1.0,
) -> Tensor:
    r"""Each example's target logit minus :math:`\alpha` times the logit(s) of its contrast.

    * ``"mean"``: :math:`z_y - \frac{\alpha}{K-1} \sum_{k \neq y} z_k`;
    * ``"least_likely"`` / ``"most_likely"``: :math:`z_y - \alpha z_{k^*}`, :math:`k^*` the
      other class with the lowest / highest logit;
    * contrast classes ``(N,)`` or ``(N, k)``: :math:`z_y - \alpha` times their mean logit;
    * ``"none"``: :math:`z_y`.

    The contrast is the one of :func:`contrast_weights` applied to the logits, so
    :func:`info_cam` with ``region_size=None`` equals it on a GAP + linear model, and its
    gradient is what :class:`~captum_infocam.gradient.InfoGradCam` differentiates.
    Differentiable in ``logits``; computed in at least float32; costs :math:`O(NK)`.

    Args:
        logits (Tensor): logits of shape ``(N, K)``.
        target (Tensor): integer class indices of shape ``(N,)``.
        contrast (str or Tensor, optional): ``"mean"``, ``"least_likely"``, ``"most_likely"``,
            ``"none"`` or contrast classes ``(N,)`` / ``(N, k)``. Default: ``"mean"``
        contrast_weight (float, optional): the strength :math:`\alpha`. Default: 1.0

    Returns:
        *Tensor* of shape ``(N,)``: the contrast logits, in nats.

    Examples::

        >>> logits = torch.tensor([[3.0, 1.0, 2.0]])
        >>> contrast_logit(logits, torch.tensor([0]))
        tensor([1.5000])
        >>> contrast_logit(logits, torch.tensor([0]), "least_likely")
        tensor([2.])
        >>> contrast_logit(logits, torch.tensor([0]), "most_likely", contrast_weight=0.5)
        tensor([2.])
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a tensor of shape (N, K), got {shape}")
    target = check_target(target, logits.shape[0], logits.shape[1])
    chosen = check_contrast(contrast, target, logits.shape[1])
    alpha = check_contrast_weight(contrast_weight)
    return _kernels.contrast_logit(logits, target, chosen, alpha)


# --------------------------------------------------------------------------- maps


def info_cam(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    contrast: Contrast | Tensor = "mean",
    region_size: RegionSize = 3,
    logits: Tensor | None = None,
    *,
    contrast_weight: float = 1.0,
    padding: Padding = "same",
) -> Tensor:
    r"""infoCAM: the information the region around each position carries about the target class
    minus the information it carries about the contrast classes, in nats.

    The map is :math:`s_y - \alpha \operatorname{mean}_{k \in \bar y} s_k` for the contrast
    classes :math:`\bar y` of :func:`contrast_weights` and :math:`\alpha` =
    ``contrast_weight``. With ``contrast="mean"`` and :math:`\alpha = 1` this is
    :math:`\mathrm{PMI}_y - \frac{1}{K-1}\sum_{k \neq y} \mathrm{PMI}_k`: the log-normaliser of
    the PMI cancels, so the map is linear in the activations and costs one channel reduction
    and one box filter, :math:`O(N C \prod \mathrm{spatial})`, whatever the number of classes
    or contrast classes. With ``region_size=None`` it is constant, equal to the image-level
    contrast :func:`contrast_logit`, e.g. :math:`z_y - \operatorname{mean}_{k \neq y} z_k` or,
    for ``"most_likely"``, :math:`z_y - \alpha \max_{k \neq y} z_k`.

    Args:
        activations (Tensor): activations of shape ``(N, C, *spatial)`` (1, 2 or 3 spatial
            dimensions) of the layer that feeds the global-average-pooling + linear head.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        contrast (str or Tensor, optional): ``"mean"`` (the paper), ``"least_likely"`` (the
            other class with the lowest logit; the authors' scripts did not exclude the target:
            see :func:`contrast_weights`), ``"most_likely"`` (Finer-CAM's most similar class),
            ``"none"`` (regional CAM with bias, :math:`s_y`) or contrast classes of shape
            ``(N,)`` or ``(N, k)``. Default: ``"mean"``
        region_size (int, tuple of int or None, optional): side of the window :math:`R(p)`
            along every spatial dimension, or one side per dimension; see :func:`region_mean`
            for the border and even-size conventions. Default: 3
        logits (Tensor, optional): image-level logits ``(N, K)`` for ``"least_likely"`` and
            ``"most_likely"``; computed from the activations and the head when omitted.
            Default: None
        contrast_weight (float, optional): the strength :math:`\alpha`; ``0`` gives the
            regional CAM :math:`s_y`. Default: 1.0
        padding (str, optional): ``"same"`` (clipped windows) or ``"full"`` (zeros outside,
            the map grows by ``s - 1``: the authors' geometry, see the module notes).
            Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, 1, *spatial)`` (grown with ``padding="full"``): the infoCAM map
        in nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> info_cam(activations, weight, bias, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
        >>> info_cam(activations, weight, bias, torch.tensor([3, 7]), "most_likely",
        ...          contrast_weight=0.5, padding="full").shape
        torch.Size([2, 1, 9, 9])
        >>> volume = torch.randn(2, 8, 4, 6, 6)  # a 3-D layer: a cube window
        >>> info_cam(volume, weight, bias, torch.tensor([3, 7]), region_size=(1, 3, 3)).shape
        torch.Size([2, 1, 4, 6, 6])
    """
    check_head(activations, weight, bias)
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    target = check_target(target, activations.shape[0], weight.shape[0])
    chosen = check_contrast(contrast, target, weight.shape[0])
    alpha = check_contrast_weight(contrast_weight)
    if isinstance(chosen, str) and chosen in LOGIT_RANKED and logits is not None:
        check_contrast_logits(logits, activations.shape[0], weight.shape[0], chosen)
    return _kernels.info_cam(
        activations, weight, bias, target, chosen, region_size, logits, alpha, padding
    )


def grad_cam_map(
    activations: Tensor,
    gradients: Tensor,
    region_size: RegionSize = 3,
    *,
    padding: Padding = "same",
) -> Tensor:
    r"""Gradient-weighted channel sum :math:`P \sum_c \alpha_c A_c`, averaged over windows.

    With :math:`\alpha_c = \operatorname{mean}_p G_c(p)` for the gradient :math:`G` of a
    score with respect to the activations :math:`A`, and :math:`P` the number of positions
    (``h * w`` in 2-D). The factor :math:`P` puts the map in the score's units: on a GAP +
    linear model, with :math:`G` the gradient of :func:`contrast_logit` (any contrast and
    strength), the map is :func:`info_cam` minus the bias contrast :math:`\tilde b`, for
    either ``padding``. ``region_size=1`` gives :math:`P` times Captum's
    :class:`~captum.attr.LayerGradCam`. One channel reduction and one box filter; half
    precision is accumulated in float32.

    Args:
        activations (Tensor): activations of shape ``(N, C, *spatial)``.
        gradients (Tensor): the score's gradient with respect to ``activations``, same shape.
        region_size (int, tuple of int or None, optional): the window the map is averaged
            over; see :func:`region_mean`. Default: 3
        padding (str, optional): ``"same"`` or ``"full"``, see :func:`region_mean`.
            Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, 1, *spatial)`` (grown with ``padding="full"``) in the score's
        units, dtype at least float32, also under :func:`torch.autocast`.

    Examples::

        >>> activations, gradients = torch.randn(2, 8, 7, 7), torch.randn(2, 8, 7, 7)
        >>> grad_cam_map(activations, gradients, region_size=1).shape
        torch.Size([2, 1, 7, 7])
    """
    check_activations(activations)
    if not isinstance(gradients, Tensor) or gradients.shape != activations.shape:
        shape = tuple(gradients.shape) if isinstance(gradients, Tensor) else type(gradients)
        raise ValueError(
            f"gradients must have the activations' shape {tuple(activations.shape)}, got {shape}"
        )
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    return _kernels.grad_cam(activations, gradients, region_size, padding)


def pmi_maps(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    class_prior: ClassPrior = None,
    region_size: RegionSize = 3,
    *,
    padding: Padding = "same",
) -> Tensor:
    r"""Pointwise mutual information maps of every class, in nats.

    :math:`\mathrm{PMI}_k(p) = s_k(p) - \log \sum_{k'} \pi_{k'} \exp s_{k'}(p)`: the
    probability-corrected log-softmax of the region scores. One matmul, one box filter and one
    log-sum-exp. With ``region_size=None`` it equals :math:`\log q_{PC}(k \mid x)` of the
    image-level logits at every position, ``log_softmax(logits) + log K`` for a uniform prior.
    PMI maps need no contrast: each class's information is measured against the prior, and the
    contrast of :func:`info_cam` is a difference of them.

    Args:
        activations (Tensor): activations of shape ``(N, C, *spatial)`` of the layer that feeds
            the global-average-pooling + linear head.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        class_prior (Tensor, sequence of float or None, optional): the class prior :math:`\pi`
            as probabilities or counts; ``None`` for uniform. Default: None
        region_size (int, tuple of int or None, optional): the window; see
            :func:`region_mean`. Default: 3
        padding (str, optional): ``"same"`` or ``"full"`` (zero features outside the map,
            which pull a border window's scores toward the bias). Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, K, *spatial)`` (grown with ``padding="full"``): the PMI maps in
        nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> pmi_maps(activations, weight, bias, region_size=None)[:, :, 0, 0].shape
        torch.Size([2, 10])
    """
    check_head(activations, weight, bias)
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _kernels.pmi_maps(activations, weight, bias, log_prior, region_size, padding)


def pmi_map(
    activations: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    class_prior: ClassPrior = None,
    region_size: RegionSize = 3,
    *,
    padding: Padding = "same",
) -> Tensor:
    r"""Pointwise mutual information map of each example's target class, in nats.

    The target's channel of :func:`pmi_maps`; the log-normaliser needs every class's region
    score, so the cost is that of :func:`pmi_maps`. No contrast: the map is measured against
    the class prior.

    Args:
        activations (Tensor): activations of shape ``(N, C, *spatial)``.
        weight (Tensor): classifier weight of shape ``(K, C)``.
        bias (Tensor or None): classifier bias of shape ``(K,)``; ``None`` means zero.
        target (Tensor): integer class indices of shape ``(N,)``.
        class_prior (Tensor, sequence of float or None, optional): the class prior as
            probabilities or counts; ``None`` for uniform. Default: None
        region_size (int, tuple of int or None, optional): the window; see
            :func:`region_mean`. Default: 3
        padding (str, optional): ``"same"`` or ``"full"``, see :func:`pmi_maps`.
            Default: ``"same"``

    Returns:
        *Tensor* of shape ``(N, 1, *spatial)`` (grown with ``padding="full"``):
        :math:`\mathrm{PMI}_y` in nats.

    Examples::

        >>> activations, weight, bias = torch.randn(2, 8, 7, 7), torch.randn(10, 8), torch.randn(10)
        >>> pmi_map(activations, weight, bias, torch.tensor([3, 7])).shape
        torch.Size([2, 1, 7, 7])
        >>> pmi_map(torch.randn(2, 8, 30), weight, bias, torch.tensor([3, 7]), region_size=5).shape
        torch.Size([2, 1, 30])
    """
    check_head(activations, weight, bias)
    check_region_size(region_size, activations.dim() - 2)
    check_padding(padding, region_size)
    target = check_target(target, activations.shape[0], weight.shape[0])
    log_prior = as_class_prior(class_prior, weight.shape[0], dtype=torch.float64).log()
    return _kernels.pmi_map(activations, weight, bias, target, log_prior, region_size, padding)
