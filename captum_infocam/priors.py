"""Class priors: validation and construction of the prior ``pi`` over the classes.

Every estimator in the package that needs a class prior accepts it in the same forms:
``None`` (uniform), or a sequence / tensor of ``K`` non-negative probabilities or counts,
which are normalised to sum to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from captum_infocam._validation import check_class_indices, check_int

ClassPrior = Tensor | Sequence[float] | None
"""A class prior as accepted by the public API: ``None`` (uniform), probabilities or counts."""

__all__ = ["ClassPrior", "as_class_prior", "class_counts_from_labels", "class_prior_from_labels"]


def as_class_prior(
    class_prior: ClassPrior,
    num_classes: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    name: str = "class_prior",
) -> Tensor:
    r"""Validate a class prior and return it as a normalised probability vector.

    The result is :math:`\pi_k = c_k / \sum_j c_j` for the given probabilities or counts
    :math:`c`, so ``[1, 2, 1]``, ``[0.25, 0.5, 0.25]`` and ``[10, 20, 10]`` are the same prior.

    Args:
        class_prior (Tensor, sequence of float or None): ``None`` for the uniform prior
            :math:`\pi_k = 1/K`, or ``K`` non-negative, finite probabilities or counts
            (normalised to sum to one). A tensor may live on any device.
        num_classes (int): the number of classes ``K`` the prior must cover.
        device (torch.device, optional): device of the returned tensor. Default: the
            prior's own device (CPU for ``None`` and sequences).
        dtype (torch.dtype, optional): floating dtype of the returned tensor.
            Default: ``torch.float32``.
        name (str, optional): argument name used in error messages. Default: ``"class_prior"``.

    Returns:
        *Tensor* of shape ``(K,)``: the prior, summing to one.

    Raises:
        TypeError: if the prior is not numeric, or ``dtype`` is not a floating dtype.
        ValueError: if the prior has the wrong length, a negative or non-finite entry, or
            sums to zero.

    Examples::

        >>> as_class_prior([5000, 10000, 15000], 3)
        tensor([0.1667, 0.3333, 0.5000])
        >>> as_class_prior(None, 4)
        tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    check_int(num_classes, "num_classes", 1, type_error=False)
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    if class_prior is None:
        return torch.full((num_classes,), 1.0 / num_classes, device=device, dtype=dtype)
    try:
        prior = torch.as_tensor(class_prior, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{name} must be None, a tensor or a sequence of numbers, "
            f"got {type(class_prior).__name__}"
        ) from error
    if prior.dtype == torch.bool or prior.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {prior.dtype}")
    if not isinstance(class_prior, Tensor) and prior.dtype.is_floating_point:
        # Python floats are float64: read them as such, not rounded to float32 first.
        prior = torch.as_tensor(class_prior, device=device, dtype=torch.float64)
    # Validate and normalise in float64: counts overflow half precision (65504).
    prior = prior.to(torch.float64)
    if prior.dim() != 1 or prior.numel() != num_classes:
        raise ValueError(
            f"{name} must hold one entry per class ({num_classes}), got shape {tuple(prior.shape)}"
        )
    # One synchronisation: priors are validated once, not per pixel.
    invalid = torch.stack([(~torch.isfinite(prior)).any(), (prior < 0).any(), prior.sum() <= 0])
    non_finite, negative, zero_sum = invalid.tolist()
    if non_finite:
        raise ValueError(f"{name} must be finite, got {prior.tolist()}")
    if negative:
        raise ValueError(f"{name} must be non-negative, got {prior.tolist()}")
    if zero_sum:
        raise ValueError(f"{name} must have a positive sum, got {prior.tolist()}")
    return (prior / prior.sum()).to(dtype)


def class_counts_from_labels(labels: Tensor | Sequence[int], num_classes: int) -> Tensor:
    r"""Number of examples of each class among a set of integer labels.

    Counts are additive, so the counts of several shards (or of several processes, summed
    with ``torch.distributed.all_reduce``) give the counts of the whole dataset; pass them to
    :func:`as_class_prior` or straight to any ``class_prior`` argument.

    Args:
        labels (Tensor or sequence of int): class indices in ``[0, num_classes)``, any shape.
        num_classes (int): the number of classes ``K``.

    Returns:
        *Tensor* of shape ``(K,)`` and dtype int64 on the labels' device.

    Raises:
        TypeError: if ``labels`` are not integer class indices.
        ValueError: if ``labels`` is empty or holds an index outside ``[0, num_classes)``.

    Examples::

        >>> class_counts_from_labels(torch.tensor([0, 1, 1, 2]), 3)
        tensor([1, 2, 1])
    """
    check_int(num_classes, "num_classes", 1, type_error=False)
    labels = check_class_indices(torch.as_tensor(labels), num_classes, name="labels")
    if labels.numel() == 0:
        raise ValueError("labels must not be empty")
    return torch.bincount(labels.reshape(-1), minlength=num_classes)


def class_prior_from_labels(labels: Tensor | Sequence[int], num_classes: int) -> Tensor:
    r"""Empirical class prior of a set of integer labels.

    Args:
        labels (Tensor or sequence of int): class indices in ``[0, num_classes)``, any shape.
        num_classes (int): the number of classes ``K``.

    Returns:
        *Tensor* of shape ``(K,)`` and dtype float32 on the labels' device: the share of
        each class among the labels.

    Raises:
        TypeError: if ``labels`` are not integer class indices.
        ValueError: if ``labels`` is empty or holds an index outside ``[0, num_classes)``.

    Examples::

        >>> class_prior_from_labels(torch.tensor([0, 1, 1, 2]), 3)
        tensor([0.2500, 0.5000, 0.2500])
    """
    counts = class_counts_from_labels(labels, num_classes).float()
    return counts / counts.sum()
