r"""Probability-corrected softmax and information estimates read off a classifier's logits.

With logits :math:`z(x)` and a class prior :math:`\pi`,

.. math::

    \log q(y \mid x) = z_y(x) - \log \sum_k \pi_k \exp z_k(x)

estimates the pointwise mutual information :math:`\log p(y \mid x) / p(y)` in nats.
"""

from __future__ import annotations

import torch
from torch import Tensor

from captum_infocam.priors import ClassPrior, as_class_prior

__all__ = ["pc_log_softmax", "pc_softmax"]


def _log_prior_along(logits: Tensor, class_prior: ClassPrior, dim: int) -> Tensor:
    """Log prior shaped to broadcast against ``logits`` along ``dim``."""
    dim = dim % logits.dim()
    prior = as_class_prior(
        class_prior, logits.shape[dim], device=logits.device, dtype=logits.dtype
    )
    shape = [1] * logits.dim()
    shape[dim] = -1
    return prior.log().reshape(shape)


def pc_log_softmax(logits: Tensor, class_prior: ClassPrior = None, dim: int = -1) -> Tensor:
    r"""Logarithm of the probability-corrected softmax (PC-softmax).

    .. math::

        \log q_{PC}(y \mid x) = z_y - \log \sum_k \pi_k \exp z_k,

    computed stably with a log-sum-exp. With a uniform prior this is
    ``log_softmax(logits) + log K``. The result is an estimate of the pointwise mutual
    information between the input and each class, in nats.

    Args:
        logits (Tensor): unnormalised class scores; the classes run along ``dim``.
        class_prior (Tensor, sequence of float or None, optional): prior :math:`\pi` over
            the ``K`` classes as probabilities or counts; ``None`` for uniform. Default: None.
        dim (int, optional): the class dimension. Default: -1.

    Returns:
        *Tensor* shaped like ``logits``: :math:`\log q_{PC}` in nats.

    Examples::

        >>> logits = torch.tensor([[2.0, 0.0, -1.0]])
        >>> pc_log_softmax(logits, class_prior=[0.5, 0.25, 0.25])
        tensor([[ 0.5550, -1.4450, -2.4450]])
    """
    log_prior = _log_prior_along(logits, class_prior, dim)
    return logits - torch.logsumexp(logits + log_prior, dim=dim, keepdim=True)


def pc_softmax(logits: Tensor, class_prior: ClassPrior = None, dim: int = -1) -> Tensor:
    r"""Probability-corrected softmax :math:`q_{PC}(y \mid x) = e^{z_y} / \sum_k \pi_k e^{z_k}`.

    It is a density ratio, not a distribution: :math:`\sum_k \pi_k q_{PC}(k \mid x) = 1`.

    Args:
        logits (Tensor): unnormalised class scores; the classes run along ``dim``.
        class_prior (Tensor, sequence of float or None, optional): prior over the classes as
            probabilities or counts; ``None`` for uniform. Default: None.
        dim (int, optional): the class dimension. Default: -1.

    Returns:
        *Tensor* shaped like ``logits``: :math:`q_{PC}`.

    Examples::

        >>> q = pc_softmax(torch.randn(4, 3), class_prior=[1, 2, 1])
        >>> (q * torch.tensor([0.25, 0.5, 0.25])).sum(-1)
        tensor([1.0000, 1.0000, 1.0000, 1.0000])
    """
    return pc_log_softmax(logits, class_prior, dim).exp()
