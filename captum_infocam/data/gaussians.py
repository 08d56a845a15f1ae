r"""Gaussian mixtures with a known mutual information between the input and the class.

Class :math:`y` has prior :math:`\pi_y` and :math:`x \mid y \sim \mathcal N(\mu_y, \sigma_y^2 I)`.
Every density is known in closed form, so the pointwise mutual information
:math:`\log p(x \mid y) - \log \sum_k \pi_k p(x \mid k)` of any sample is exact, and the mutual
information :math:`I(X; Y)` is known up to a Monte Carlo error that can be made as small as
wanted. :func:`mi_benchmark_mixture` builds the five-class set-up of Qin, Kim & Gedeon (2019),
on which they check that a softmax classifier estimates :math:`I(X; Y)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from captum_infocam._validation import check_class_indices, check_int
from captum_infocam.priors import ClassPrior, as_class_prior

__all__ = [
    "MI_BENCHMARK_BALANCED_COUNTS",
    "MI_BENCHMARK_IMBALANCED_COUNTS",
    "GaussianMixture",
    "MonteCarloEstimate",
    "mi_benchmark_mixture",
]

MI_BENCHMARK_BALANCED_COUNTS: tuple[int, ...] = (10_000, 10_000, 10_000, 10_000, 10_000)
"""Training-set class counts of the balanced benchmark (test sets are one fifth as large)."""

MI_BENCHMARK_IMBALANCED_COUNTS: tuple[int, ...] = (5_000, 10_000, 15_000, 20_000, 25_000)
"""Training-set class counts of the imbalanced benchmark (test sets are one fifth as large)."""

_MI_BENCHMARK_OFFSETS = (0.0, 2.0, -2.0, 4.0, -4.0)


class MonteCarloEstimate(NamedTuple):
    r"""A Monte Carlo estimate with its standard error.

    Attributes:
        value (float): the estimate.
        standard_error (float): its standard error. For the stratified estimate of
            :meth:`GaussianMixture.mutual_information`,
            :math:`\sqrt{\sum_k \pi_k^2 s_k^2 / n_k}` with :math:`s_k` the standard
            deviation of the :math:`n_k` terms of class :math:`k`.
        num_samples (int): the number of samples it averages.

    Examples::

        >>> estimate = MonteCarloEstimate(value=1.2, standard_error=0.001, num_samples=10**6)
        >>> value, standard_error, _ = estimate
    """

    value: float
    standard_error: float
    num_samples: int


class GaussianMixture:
    r"""Mixture of isotropic Gaussians, one per class, with exact densities.

    .. math::

        p(y) = \pi_y, \qquad p(x \mid y) = \mathcal N(x; \mu_y, \sigma_y^2 I_d).

    Parameters are kept in float64 on the CPU; methods that take data compute on the data's
    device and in its dtype.

    Args:
        means (Tensor or nested sequence of float): class means :math:`\mu`, shape ``(K, d)``.
        std (float, sequence of float or Tensor, optional): standard deviation :math:`\sigma`,
            shared (a number) or one per class (``K`` values); positive. Default: 1.0.
        class_prior (Tensor, sequence of float or None, optional): class prior :math:`\pi` as
            probabilities or counts; ``None`` for uniform. Default: None.

    Examples::

        >>> mixture = GaussianMixture([[0.0], [2.0]], std=1.0, class_prior=[1, 3])
        >>> x, y = mixture.sample(class_counts=[100, 300], seed=0)
        >>> x.shape, y.bincount()
        (torch.Size([400, 1]), tensor([100, 300]))
        >>> truth = mixture.mutual_information(num_samples=100_000, seed=0)
        >>> round(truth.value, 2)
        0.27
    """

    def __init__(
        self,
        means: Tensor | Sequence[Sequence[float]],
        std: float | Sequence[float] | Tensor = 1.0,
        class_prior: ClassPrior = None,
    ) -> None:
        try:
            means_tensor = torch.as_tensor(means, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"means must be a (K, d) tensor or nested sequence of numbers, "
                f"got {type(means).__name__}"
            ) from error
        if means_tensor.dim() != 2 or means_tensor.numel() == 0:
            raise ValueError(f"means must have shape (K, d), got {tuple(means_tensor.shape)}")
        if not torch.isfinite(means_tensor).all():
            raise ValueError("means must be finite")
        num_classes = means_tensor.shape[0]
        std_tensor = torch.as_tensor(std, dtype=torch.float64).detach().cpu()
        if std_tensor.dim() == 0:
            std_tensor = std_tensor.expand(num_classes).clone()
        if std_tensor.shape != (num_classes,):
            raise ValueError(
                f"std must be a number or hold one value per class ({num_classes}), "
                f"got shape {tuple(std_tensor.shape)}"
            )
        if not (torch.isfinite(std_tensor).all() and (std_tensor > 0).all()):
            raise ValueError(f"std must be positive and finite, got {std_tensor.tolist()}")
        self.means = means_tensor
        self.std = std_tensor
        self.class_prior = as_class_prior(
            class_prior.detach().cpu() if isinstance(class_prior, Tensor) else class_prior,
            num_classes,
            dtype=torch.float64,
        )

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the inputs."""
        return self.means.shape[1]

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(num_classes={self.num_classes}, dim={self.dim}, "
            f"std={self.std.tolist()}, class_prior={self.class_prior.tolist()})"
        )

    def class_entropy(self) -> float:
        r"""Entropy :math:`H(Y)` of the class prior in nats, the upper bound of :math:`I(X;Y)`.

        Returns:
            *float*: :math:`-\sum_k \pi_k \log \pi_k`.
        """
        prior = self.class_prior
        return float(-torch.xlogy(prior, prior).sum())

    def sample(
        self,
        num_samples: int | None = None,
        *,
        class_counts: Sequence[int] | Tensor | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, Tensor]:
        r"""Draw labelled samples :math:`(x, y)`.

        Either ``num_samples`` pairs with :math:`y \sim \pi` i.i.d., or exactly
        ``class_counts[k]`` samples of each class ``k`` (as in the paper's data sets).

        Args:
            num_samples (int, optional): number of i.i.d. pairs. Give this or ``class_counts``.
            class_counts (sequence of int or Tensor, optional): exact number of samples per
                class (``K`` non-negative integers).
            seed (int, optional): seed of a private generator, for reproducible draws that do
                not touch the global RNG. Default: None (the global RNG).
            generator (torch.Generator, optional): a CPU generator to draw from instead of
                ``seed``.
            shuffle (bool, optional): shuffle the classes of a ``class_counts`` draw; otherwise
                its labels come sorted. Default: True.
            dtype (torch.dtype, optional): floating dtype of ``x``. Default: float32.
            device (torch.device, optional): device of the results. Default: CPU.

        Returns:
            *tuple* of ``x`` (*Tensor*, ``(N, d)``) and ``y`` (*Tensor*, ``(N,)``, int64).

        Raises:
            ValueError: if not exactly one of ``num_samples`` and ``class_counts`` is given,
                or either is invalid.

        Examples::

            >>> mixture = mi_benchmark_mixture(dim=2)
            >>> x, y = mixture.sample(1000, seed=0)
            >>> x.shape, y.shape
            (torch.Size([1000, 2]), torch.Size([1000]))
        """
        if (num_samples is None) == (class_counts is None):
            raise ValueError("give exactly one of num_samples and class_counts")
        if seed is not None and generator is not None:
            raise ValueError("give at most one of seed and generator")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        if num_samples is not None:
            check_int(num_samples, "num_samples", 0)
            labels = torch.zeros(0, dtype=torch.long)
            if num_samples > 0:
                labels = torch.multinomial(
                    self.class_prior, num_samples, replacement=True, generator=generator
                )
        else:
            labels = torch.repeat_interleave(
                torch.arange(self.num_classes), self._check_class_counts(class_counts)
            )
            if shuffle:
                labels = labels[torch.randperm(labels.numel(), generator=generator)]
        return self._draw_inputs(labels, generator).to(device=device, dtype=dtype), labels.to(
            device
        )

    def _check_class_counts(self, class_counts: Sequence[int] | Tensor) -> Tensor:
        counts = torch.as_tensor(class_counts).detach().cpu()
        if counts.dtype.is_floating_point or counts.is_complex() or counts.dtype == torch.bool:
            raise TypeError(f"class_counts must be integers, got dtype {counts.dtype}")
        if counts.shape != (self.num_classes,) or (counts < 0).any():
            raise ValueError(
                f"class_counts must hold {self.num_classes} non-negative integers, "
                f"got {counts.tolist()}"
            )
        return counts.long()

    def _draw_inputs(self, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """Float64 CPU inputs ``x ~ N(mu_y, sigma_y^2 I)`` for CPU ``labels``."""
        noise = torch.randn(labels.numel(), self.dim, generator=generator, dtype=torch.float64)
        return self.means[labels] + self.std[labels, None] * noise

    def log_likelihoods(self, x: Tensor) -> Tensor:
        r"""Class-conditional log-densities :math:`\log p(x \mid k)` for every class.

        These are Bayes-optimal logits:
        :func:`~captum_infocam.information.pointwise_mutual_information`
        of them with this mixture's prior is the exact PMI.

        Args:
            x (Tensor): inputs of shape ``(..., d)``, floating, on any device.

        Returns:
            *Tensor* of shape ``(..., K)`` in ``x``'s dtype and device:
            :math:`-\lVert x - \mu_k \rVert^2 / (2 \sigma_k^2) - \tfrac{d}{2} \log(2 \pi
            \sigma_k^2)`.

        Raises:
            TypeError: if ``x`` is not a floating tensor.
            ValueError: if its last dimension is not ``d``.
        """
        if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
            raise TypeError(f"x must be a floating Tensor, got {getattr(x, 'dtype', type(x))}")
        if x.dim() == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (..., {self.dim}), got {tuple(x.shape)}")
        means = self.means.to(device=x.device, dtype=x.dtype)
        variance = self.std.to(device=x.device, dtype=x.dtype).square()
        squared_distance = (x.unsqueeze(-2) - means).square().sum(-1)
        return -0.5 * squared_distance / variance - 0.5 * self.dim * torch.log(
            2 * math.pi * variance
        )

    def log_posteriors(self, x: Tensor) -> Tensor:
        r"""Exact class posteriors :math:`\log p(k \mid x)`.

        Args:
            x (Tensor): inputs of shape ``(..., d)``.

        Returns:
            *Tensor* of shape ``(..., K)``.
        """
        joint = self.log_likelihoods(x) + self.class_prior.to(x.device, x.dtype).log()
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)

    def pointwise_mutual_information(self, x: Tensor, y: Tensor) -> Tensor:
        r"""Exact pointwise mutual information :math:`\log p(y \mid x) - \log \pi_y`, in nats.

        Args:
            x (Tensor): inputs of shape ``(..., d)``.
            y (Tensor): integer class indices of shape ``(...)``.

        Returns:
            *Tensor* of shape ``(...)``.

        Raises:
            ValueError: if the shapes disagree or a class index is out of range.
        """
        log_post = self.log_posteriors(x)
        y = check_class_indices(y, self.num_classes, name="y", shape=x.shape[:-1]).unsqueeze(-1)
        log_prior = self.class_prior.to(x.device, x.dtype).log()
        return (log_post.gather(-1, y) - log_prior[y]).squeeze(-1)

    def mutual_information(
        self,
        num_samples: int = 1_000_000,
        *,
        seed: int | None = 0,
        batch_size: int = 1 << 17,
        device: torch.device | str | None = None,
    ) -> MonteCarloEstimate:
        r"""Ground-truth :math:`I(X; Y)` in nats by Monte Carlo on the exact densities.

        Draws :math:`x` from each class in proportion to its prior (stratified sampling) and
        averages the Rao-Blackwellised term

        .. math::

            I(X; Y) = \mathbb E_{x} \Big[\sum_k p(k \mid x) \log \frac{p(k \mid x)}{\pi_k}\Big]
                    = \mathbb E_{x} \, \mathrm{KL}\big(p(\cdot \mid x) \,\|\, \pi\big),

        which has the same mean as the PMI of sampled pairs and a smaller variance; the
        stratification removes the variance between classes. The estimate
        :math:`\sum_k \pi_k \bar t_k` weights each class's mean term :math:`\bar t_k` by
        its prior, so it is unbiased for any allocation; the allocation ``n pi_k`` (rounded,
        at least two per class) only sets the variance. Its standard error is
        :math:`\sqrt{\sum_k \pi_k^2 s_k^2 / n_k}`, :math:`s_k` the standard deviation of
        class :math:`k`'s :math:`n_k` terms.

        Args:
            num_samples (int, optional): number of samples. Default: 1,000,000.
            seed (int, optional): seed of a private generator; ``None`` uses the global
                RNG. Default: 0.
            batch_size (int, optional): samples evaluated at once (memory bound). Default: 131072.
            device (torch.device, optional): device to evaluate on. Default: CPU.

        Returns:
            :class:`MonteCarloEstimate`: value and standard error in nats.

        Examples::

            >>> mixture = mi_benchmark_mixture(dim=1)
            >>> truth = mixture.mutual_information(num_samples=200_000)
            >>> truth.standard_error < 0.002
            True
        """
        check_int(num_samples, "num_samples", 2, type_error=False)
        check_int(batch_size, "batch_size", 1, type_error=False)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        # Stratified by class, proportional allocation: n_k ~ n pi_k draws of x | k.
        prior = self.class_prior
        allocation = torch.where(prior > 0, (prior * num_samples).round().long().clamp_min(2), 0)
        labels = torch.repeat_interleave(torch.arange(self.num_classes), allocation)
        log_prior = prior.to(device).log()
        # per class: sum and sum of squares of the terms
        totals = torch.zeros(self.num_classes, 2, dtype=torch.float64, device=device)
        for start in range(0, labels.numel(), batch_size):
            batch_labels = labels[start : start + batch_size]
            x = self._draw_inputs(batch_labels, generator).to(device)
            log_post = self.log_posteriors(x)
            posterior = log_post.exp()
            # sum_k p log(p / pi), with 0 log 0 = 0 for classes of zero prior or posterior
            log_ratio = torch.where(posterior > 0, log_post - log_prior, 0.0)
            terms = (posterior * log_ratio).sum(-1)
            totals.index_add_(
                0, batch_labels.to(device), torch.stack([terms, terms.square()], dim=-1)
            )
        counts = allocation.to(device=device, dtype=torch.float64).clamp_min(1)
        class_means = totals[:, 0] / counts
        class_variances = (totals[:, 1] / counts - class_means.square()).clamp_min(0)
        class_variances = class_variances * counts / (counts - 1).clamp_min(1)
        prior = prior.to(device)
        value = (prior * class_means).sum()
        variance = (prior.square() * class_variances / counts).sum()
        return MonteCarloEstimate(float(value), float(variance.sqrt()), int(allocation.sum()))


def mi_benchmark_mixture(dim: int, *, imbalanced: bool = False) -> GaussianMixture:
    r"""The five-class Gaussian mixture of Qin, Kim & Gedeon's mutual-information experiment.

    Class means :math:`\mu_k = c_k (1, \ldots, 1) \in \mathbb R^d` with
    :math:`c = (0, 2, -2, 4, -4)`, identity covariances, and the class prior of the training
    counts :data:`~captum_infocam.data.MI_BENCHMARK_BALANCED_COUNTS` (10,000 per class) or
    :data:`~captum_infocam.data.MI_BENCHMARK_IMBALANCED_COUNTS` (5,000 to 25,000). The paper uses
    ``d`` in {1, 2, 5, 10} and test sets one fifth the size of the training sets.

    Args:
        dim (int): input dimension ``d``.
        imbalanced (bool, optional): use the imbalanced prior. Default: False.

    Returns:
        :class:`GaussianMixture`.

    Examples::

        >>> mixture = mi_benchmark_mixture(dim=5, imbalanced=True)
        >>> mixture.class_prior
        tensor([0.0667, 0.1333, 0.2000, 0.2667, 0.3333], dtype=torch.float64)
        >>> x, y = mixture.sample(class_counts=MI_BENCHMARK_IMBALANCED_COUNTS, seed=0)
    """
    check_int(dim, "dim", 1, type_error=False)
    counts = MI_BENCHMARK_IMBALANCED_COUNTS if imbalanced else MI_BENCHMARK_BALANCED_COUNTS
    means = torch.tensor(_MI_BENCHMARK_OFFSETS, dtype=torch.float64)[:, None].expand(-1, dim)
    return GaussianMixture(means, std=1.0, class_prior=counts)
