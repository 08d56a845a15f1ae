r"""Probability-corrected softmax and information estimates read off a classifier's logits.

With logits :math:`z(x)` and a class prior :math:`\pi`,

.. math::

    \log q(y \mid x) = z_y(x) - \log \sum_k \pi_k \exp z_k(x)

estimates the pointwise mutual information :math:`\log p(y \mid x) / p(y)` in nats, and its
mean over labelled pairs estimates :math:`I(X; Y)`.

Which prior to pass depends on how the logits were trained:

* a classifier trained with :class:`PCSoftmaxCrossEntropyLoss` and prior :math:`\pi`: pass the
  same :math:`\pi` (its logits model :math:`\log p(x \mid y)` up to a per-input constant);
* a classifier trained with plain softmax cross-entropy on balanced classes: pass ``None``
  (uniform), which gives :math:`\log \mathrm{softmax}(z)_y + \log K`;
* a classifier trained with plain softmax cross-entropy on classes with prior :math:`\pi`
  (its logits model :math:`\log p(y \mid x)`): pass ``logits - log(pi)`` and :math:`\pi`.
  Passing the raw logits with ``None`` overestimates :math:`I(X;Y)` by
  :math:`\log K - H(Y)` (the bias the PC-softmax removes).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from captum_infocam import _kernels
from captum_infocam._validation import check_class_indices, check_int, check_logits
from captum_infocam.priors import ClassPrior, as_class_prior

__all__ = [
    "PCSoftmaxCrossEntropyLoss",
    "StreamingMutualInformation",
    "mutual_information",
    "pc_log_softmax",
    "pc_softmax",
    "pointwise_mutual_information",
]

InformationUnit = Literal["nats", "bits"]
_NATS_PER_UNIT = {"nats": 1.0, "bits": math.log(2.0)}
_REDUCTIONS = ("none", "mean", "sum")
_INDEX_SHAPE = " (the logits without their class dimension)"


# --------------------------------------------------------------------------- validation


def _check_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index into a tensor of ``ndim`` dimensions, like torch's."""
    check_int(dim, "dim")
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"dim is out of range: expected a value in [{-ndim}, {ndim - 1}] for logits with "
            f"{ndim} dimension(s), got {dim}"
        )
    return dim % ndim


def _check_unit(unit: str) -> float:
    if unit not in _NATS_PER_UNIT:
        raise ValueError(f"unit must be one of {tuple(_NATS_PER_UNIT)}, got {unit!r}")
    return _NATS_PER_UNIT[unit]


def _prior_buffer(class_prior: ClassPrior, name: str = "class_prior") -> Tensor | None:
    """A validated, normalised prior whose length defines the number of classes."""
    if class_prior is None:
        return None
    if isinstance(class_prior, Tensor) and class_prior.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(class_prior.shape)}")
    try:
        length = len(class_prior)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError(
            f"{name} must be None, a 1-D tensor or a sequence of numbers, "
            f"got {type(class_prior).__name__}"
        ) from error
    if length == 0:
        raise ValueError(f"{name} must hold at least one class, got an empty prior")
    dtype = class_prior.dtype if isinstance(class_prior, Tensor) else None
    dtype = dtype if dtype is not None and dtype.is_floating_point else torch.float32
    # At least float32: a half-precision prior loses small classes' mass.
    dtype = torch.promote_types(dtype, torch.float32)
    return as_class_prior(class_prior, length, dtype=dtype, name=name)


def _log_prior_for(
    prior: Tensor | None, logits: Tensor, dim: int, name: str = "class_prior"
) -> Tensor:
    """Log of a validated prior (``None``: uniform) for ``logits``' class dimension ``dim``."""
    num_classes = logits.shape[dim]
    if prior is None:
        return logits.new_full((num_classes,), -math.log(num_classes))
    if prior.numel() != num_classes:
        raise ValueError(
            f"{name} has {prior.numel()} classes but the logits have {num_classes} along dim {dim}"
        )
    return prior.to(device=logits.device, dtype=logits.dtype).log()


def _pointwise_mutual_information(logits: Tensor, target: Tensor, log_prior: Tensor) -> Tensor:
    """PMI of the ``(..., K)`` logits at validated ``(...)`` targets, in at least float32."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    log_q = _kernels.pc_log_softmax(logits, log_prior, dim=-1)
    return log_q.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)


# --------------------------------------------------------------------------- functions


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

    Raises:
        TypeError: if ``logits`` is not a floating tensor or ``dim`` not an int.
        IndexError: if ``dim`` is outside ``[-logits.dim(), logits.dim())``.
        ValueError: if the prior is invalid or does not have one entry per class.

    Examples::

        >>> logits = torch.tensor([[2.0, 0.0, -1.0]])
        >>> pc_log_softmax(logits, class_prior=[0.5, 0.25, 0.25])
        tensor([[ 0.6046, -1.3954, -2.3954]])
    """
    check_logits(logits)
    dim = _check_dim(dim, logits.dim())
    prior = as_class_prior(
        class_prior, logits.shape[dim], device=logits.device, dtype=torch.float64
    )
    return _kernels.pc_log_softmax(logits, prior.log(), dim)


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
        >>> torch.allclose((q * torch.tensor([0.25, 0.5, 0.25])).sum(-1), torch.ones(4))
        True
    """
    return pc_log_softmax(logits, class_prior, dim).exp()


def pointwise_mutual_information(
    logits: Tensor, target: Tensor, class_prior: ClassPrior = None
) -> Tensor:
    r"""Per-example pointwise mutual information estimated from a classifier's logits.

    .. math::

        \widehat{\mathrm{PMI}}(x, y) = z_y(x) - \log \sum_k \pi_k \exp z_k(x)
        \approx \log \frac{p(y \mid x)}{p(y)},

    in nats. It is exact when :math:`z_k(x) = \log p(x \mid k) + c(x)` for any :math:`c`, for
    instance the log-densities of a known generative model. See the module notes for the
    prior that matches how the logits were trained.

    Args:
        logits (Tensor): class scores of shape ``(..., K)``; the classes run along the last
            dimension.
        target (Tensor): integer class indices of shape ``(...)`` (``logits.shape[:-1]``).
        class_prior (Tensor, sequence of float or None, optional): prior :math:`\pi` as
            probabilities or counts; ``None`` for uniform. Default: None.

    Returns:
        *Tensor* of shape ``(...)``: the estimated PMI of each example, in nats, in the
        logits' dtype or float32 for half-precision logits (computed in float32, like
        :func:`torch.nn.functional.cross_entropy` under autocast).

    Raises:
        TypeError: if ``logits`` is not floating or ``target`` is not integer.
        ValueError: if the shapes disagree, a target is outside ``[0, K)`` or the prior is
            invalid.

    Examples::

        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
        >>> pointwise_mutual_information(logits, torch.tensor([0, 1]))
        tensor([0.9288, 0.5472])
    """
    check_logits(logits)
    num_classes = logits.shape[-1]
    check_class_indices(target, num_classes, shape=logits.shape[:-1], hint=_INDEX_SHAPE)
    prior = as_class_prior(class_prior, num_classes, device=logits.device, dtype=torch.float64)
    return _pointwise_mutual_information(logits, target, prior.log())


def mutual_information(
    logits: Tensor,
    labels: Tensor,
    class_prior: ClassPrior = None,
    *,
    unit: InformationUnit = "nats",
) -> Tensor:
    r"""Estimate of the mutual information :math:`I(X; Y)` from labelled examples.

    The mean pointwise mutual information of the labelled pairs
    (:func:`pointwise_mutual_information`):

    .. math::

        \hat I(X; Y) = \frac{1}{N} \sum_{n=1}^N
            \Big(z_{y_n}(x_n) - \log \sum_k \pi_k \exp z_k(x_n)\Big).

    With a uniform prior this is :math:`\log K - \mathrm{CE}`, the Barber-Agakov lower bound
    that softmax cross-entropy training maximises. For a whole dataset that does not fit in
    one batch use :class:`StreamingMutualInformation`.

    Args:
        logits (Tensor): class scores of shape ``(..., K)``.
        labels (Tensor): integer class indices of shape ``logits.shape[:-1]``; at least one.
        class_prior (Tensor, sequence of float or None, optional): prior :math:`\pi` as
            probabilities or counts; ``None`` for uniform. Default: None.
        unit (str, optional): ``"nats"`` or ``"bits"``. Default: ``"nats"``.

    Returns:
        *Tensor*, a scalar: the estimate in the chosen unit (differentiable), in the
        logits' dtype or float32 for half-precision logits.

    Raises:
        TypeError: if ``logits`` is not floating or ``labels`` is not integer.
        ValueError: if there are no examples, the shapes disagree, a label is out of range,
            the prior is invalid or the unit unknown.

    Examples::

        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
        >>> mutual_information(logits, torch.tensor([0, 1]))
        tensor(0.7380)
        >>> mutual_information(logits, torch.tensor([0, 1]), unit="bits")
        tensor(1.0647)
    """
    nats_per_unit = _check_unit(unit)
    check_logits(logits)
    if logits.shape[:-1].numel() == 0:
        raise ValueError(f"logits must hold at least one example, got shape {tuple(logits.shape)}")
    return pointwise_mutual_information(logits, labels, class_prior).mean() / nats_per_unit


# --------------------------------------------------------------------------- loss


class PCSoftmaxCrossEntropyLoss(nn.Module):
    r"""Cross-entropy of the probability-corrected softmax (PC-softmax loss).

    .. math::

        \ell(x, y) = -\log q_{PC}(y \mid x) = -z_y + \log \sum_k \pi_k \exp z_k.

    Minimising it trains the logits to model :math:`\log p(x \mid y)` up to a per-input
    constant, so that :math:`-\ell` estimates the pointwise mutual information without the
    bias plain softmax cross-entropy has on imbalanced classes; pass the training set's class
    frequencies as the prior. With a uniform prior it equals
    ``nn.CrossEntropyLoss()(input, target) - log K`` (same gradients).

    It takes the same inputs as :class:`torch.nn.CrossEntropyLoss`: class indices (with
    ``ignore_index``) or class probabilities as targets, the classes along dimension 1 (or 0
    for an unbatched input), and the same ``reduction`` semantics: ``"mean"`` averages over the
    non-ignored elements (``nan`` when all are ignored). Class weights and label smoothing
    are not supported.

    The prior is a registered buffer, so ``.to(device)`` moves it and ``state_dict`` saves it.
    A class may have prior 0 (it drops out of the normaliser), but then no target may be that
    class: :math:`-z_y` of such a class is not bounded below by the normaliser and training
    would diverge, so the loss raises instead. Class-index targets are range-checked for a
    clear error instead of a device-side assert: one host synchronisation per call (the
    zero-prior check shares it; probability targets under a prior cost one), skipped while
    ``torch.compile`` traces the loss.

    Shape:
        - input: ``(N, K)``, ``(N, K, d_1, ..., d_m)`` or ``(K,)``.
        - target: class indices of shape ``(N)``, ``(N, d_1, ..., d_m)`` or ``()``, or class
          probabilities of the input's shape.
        - output: a scalar, or the target's shape (without ``K``) when ``reduction="none"``.

    Args:
        class_prior (Tensor, sequence of float or None): prior :math:`\pi` over the ``K``
            classes as probabilities or counts (e.g. the training-set class counts);
            ``None`` for uniform over whatever ``K`` the input has.
        reduction (str, optional): ``"none"``, ``"mean"`` or ``"sum"``. Default: ``"mean"``.
        ignore_index (int, optional): target value that is ignored and does not contribute
            to the loss or its gradient (class-index targets only). Default: -100.

    Examples::

        >>> criterion = PCSoftmaxCrossEntropyLoss(class_prior=[5000, 10000, 15000])
        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], requires_grad=True)
        >>> loss = criterion(logits, torch.tensor([0, 1]))
        >>> loss
        tensor(-0.9941, grad_fn=<NllLossBackward0>)
        >>> loss.backward()
    """

    class_prior: Tensor | None

    def __init__(
        self,
        class_prior: ClassPrior,
        reduction: Literal["none", "mean", "sum"] = "mean",
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        check_int(ignore_index, "ignore_index")
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.register_buffer("class_prior", _prior_buffer(class_prior))

    def extra_repr(self) -> str:
        num_classes = "any" if self.class_prior is None else self.class_prior.numel()
        return (
            f"num_classes={num_classes}, reduction={self.reduction!r}, "
            f"ignore_index={self.ignore_index}"
        )

    def _check_no_mass_on_zero_prior(self, target: Tensor, class_dim: int) -> None:
        """Probability targets must put no mass on a class whose prior is zero."""
        if self.class_prior is None or torch.compiler.is_compiling():
            return
        shape = [1] * target.dim()
        shape[class_dim] = -1
        zero_prior = (self.class_prior == 0).to(target.device).reshape(shape)
        if ((target != 0) & zero_prior).any():  # one host synchronisation
            classes = torch.nonzero(self.class_prior == 0).flatten().tolist()
            raise ValueError(
                f"target probabilities put mass on classes {classes}, whose class_prior is 0: "
                "the PC-softmax loss is unbounded below there; give every target class a "
                "positive prior"
            )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        r"""PC-softmax cross-entropy of ``input`` logits against ``target``.

        Args:
            input (Tensor): logits, classes along dimension 1 (0 when unbatched).
            target (Tensor): class indices, or class probabilities shaped like ``input``.

        Returns:
            *Tensor*: the loss, reduced as set by ``reduction``.

        Raises:
            TypeError: if ``input`` is not floating or ``target`` neither indices nor
                probabilities.
            ValueError: if the shapes disagree, a target is out of range, or a target
                (index, or probability mass) is a class whose prior is zero.
        """
        check_logits(input, name="input")
        class_dim = 0 if input.dim() == 1 else 1
        log_prior = _log_prior_for(self.class_prior, input, class_dim)
        log_q = _kernels.pc_log_softmax(input, log_prior, class_dim)
        if isinstance(target, Tensor) and target.dtype.is_floating_point:
            if target.shape != input.shape:
                raise ValueError(
                    "target probabilities must have the input's shape "
                    f"{tuple(input.shape)}, got {tuple(target.shape)}"
                )
            self._check_no_mass_on_zero_prior(target, class_dim)
            loss = -(target * log_q).sum(class_dim)
            if self.reduction == "mean":
                return loss.mean()
            return loss.sum() if self.reduction == "sum" else loss
        expected = input.shape[:class_dim] + input.shape[class_dim + 1 :]
        check_class_indices(
            target,
            input.shape[class_dim],
            shape=expected,
            hint=_INDEX_SHAPE,
            ignore_index=self.ignore_index,
            class_prior=self.class_prior,
        )
        return F.nll_loss(
            log_q, target.long(), ignore_index=self.ignore_index, reduction=self.reduction
        )


# --------------------------------------------------------------------------- streaming


class StreamingMutualInformation:
    r"""Mutual-information estimate accumulated batch by batch over a whole dataset.

    Call :meth:`update` with each batch's logits and labels, then :meth:`compute` for the
    mean PMI of every pair seen (:func:`mutual_information` of the concatenated batches).
    The state is additive (sum of PMI, sum of squared PMI, count, in float64 on the logits'
    device), so when ``torch.distributed`` is available and initialised and ``sync`` is true,
    :meth:`compute` and :meth:`standard_error` sum it over the processes with one
    ``all_reduce`` and every rank gets the estimate of the whole dataset. Like any collective,
    they must then be called on every rank; with ``sync=False`` each rank gets the estimate of
    its own examples (for instance when only rank 0 evaluates).

    The number of classes ``K`` is fixed by the prior, or with ``class_prior=None`` by the
    first batch: a later batch with another ``K`` raises instead of mixing estimates of
    different problems.

    Args:
        class_prior (Tensor, sequence of float or None, optional): prior :math:`\pi` over
            the classes as probabilities or counts; ``None`` for uniform. Default: None.
        unit (str, optional): ``"nats"`` or ``"bits"`` for the results. Default: ``"nats"``.
        process_group (ProcessGroup, optional): the group to sum over. Default: the world.
        sync (bool, optional): sum the state over ``process_group`` in :meth:`compute` and
            :meth:`standard_error` when ``torch.distributed`` is initialised. Default: True.

    Attributes:
        num_samples (int): the number of examples this process has seen (not summed over
            processes).

    Examples::

        >>> estimator = StreamingMutualInformation(class_prior=[1, 1, 2])
        >>> for logits, labels in [(torch.randn(8, 3), torch.randint(3, (8,)))] * 2:
        ...     estimator.update(logits, labels)
        >>> estimator.num_samples
        16
        >>> mi, se = estimator.compute(), estimator.standard_error()
    """

    def __init__(
        self,
        class_prior: ClassPrior = None,
        *,
        unit: InformationUnit = "nats",
        process_group: object | None = None,
        sync: bool = True,
    ) -> None:
        if not isinstance(sync, bool):
            raise TypeError(f"sync must be a bool, got {sync!r}")
        self._nats_per_unit = _check_unit(unit)
        self.unit = unit
        self.class_prior = _prior_buffer(class_prior)
        self.process_group = process_group
        self.sync = sync
        self._state = torch.zeros(3, dtype=torch.float64)
        self._num_classes = None if self.class_prior is None else self.class_prior.numel()
        self.num_samples = 0

    def reset(self) -> None:
        """Forget every batch seen so far (and, without a prior, the number of classes)."""
        self._state = torch.zeros(3, dtype=torch.float64, device=self._state.device)
        self._num_classes = None if self.class_prior is None else self.class_prior.numel()
        self.num_samples = 0

    @torch.no_grad()
    def update(self, logits: Tensor, labels: Tensor) -> None:
        r"""Add a batch of labelled examples.

        Args:
            logits (Tensor): class scores of shape ``(..., K)``.
            labels (Tensor): integer class indices of shape ``logits.shape[:-1]``.

        Raises:
            TypeError: if ``logits`` is not floating or ``labels`` is not integer.
            ValueError: if the shapes disagree, a label is out of range, or ``K`` differs
                from the prior's length (without a prior: from the first batch's).
        """
        check_logits(logits)
        num_classes = logits.shape[-1]
        if self.class_prior is None and self._num_classes not in (None, num_classes):
            raise ValueError(
                f"logits have {num_classes} classes but earlier batches had "
                f"{self._num_classes}: call reset() before estimating another problem"
            )
        check_class_indices(
            labels, num_classes, name="labels", shape=logits.shape[:-1], hint=_INDEX_SHAPE
        )
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        log_prior = _log_prior_for(self.class_prior, logits, -1)
        pmi = _pointwise_mutual_information(logits, labels, log_prior).double()
        if self._state.device != logits.device:
            self._state = self._state.to(logits.device)
        self._state += torch.stack(
            [pmi.sum(), pmi.square().sum(), pmi.new_tensor(float(pmi.numel()))]
        )
        self.num_samples += pmi.numel()
        self._num_classes = num_classes

    def _reduced_state(self) -> Tensor:
        state = self._state.clone()
        distributed = torch.distributed
        if self.sync and distributed.is_available() and distributed.is_initialized():
            backend = str(distributed.get_backend(self.process_group))
            if "nccl" in backend and state.device.type != "cuda":
                state = state.to(torch.device("cuda", torch.cuda.current_device()))
            distributed.all_reduce(state, group=self.process_group)
        if state[2] == 0:
            raise RuntimeError("no examples seen: call update() before compute()")
        return state

    def compute(self) -> Tensor:
        r"""The estimate :math:`\hat I(X; Y)` over every example seen (by every process when
        ``sync`` is true and ``torch.distributed`` is initialised).

        Returns:
            *Tensor*, a float64 scalar in the estimator's unit.

        Raises:
            RuntimeError: if no example was seen.
        """
        total, _, count = self._reduced_state()
        return total / count / self._nats_per_unit

    def standard_error(self) -> Tensor:
        r"""Standard error of :meth:`compute` as a sample mean of i.i.d. PMI values.

        It measures the sampling error of the evaluation set (the spread of the estimate over
        fresh evaluation sets from the same distribution), not the bias of the model.

        Returns:
            *Tensor*, a float64 scalar in the estimator's unit (``nan`` for one example).

        Raises:
            RuntimeError: if no example was seen.
        """
        total, total_square, count = self._reduced_state()
        mean = total / count
        variance = (total_square / count - mean.square()).clamp_min(0) * count / (count - 1)
        return (variance / count).sqrt() / self._nats_per_unit
