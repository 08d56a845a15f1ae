"""The torchmetrics base of the dataset-level metrics (internal).

:class:`~captum_infocam.StreamingMutualInformation`,
:class:`~captum_infocam.localization.BoxLocalizationMetrics` and
:class:`~captum_infocam.localization.PixelAveragePrecision` keep additive states (counts,
histograms, float64 sums) registered with ``add_state(..., dist_reduce_fx="sum")``, so
``reset``, ``state_dict`` (after ``persistent(True)``), ``merge_state``, device moves,
distributed synchronisation and Lightning logging are torchmetrics'. :class:`SumStateMetric`
adds the three conventions they share:

* the states follow the device of the inputs: ``update`` (or ``forward``) on CUDA tensors
  moves a metric built on the CPU, as the accumulators did before torchmetrics;
* the states keep their dtypes: counts stay int64 and sums float64 whatever
  ``.to(dtype)``, ``set_dtype`` or a Lightning precision plugin does to the module;
* ``compute()`` returns its result unchanged: torchmetrics would squeeze every one-element
  tensor of it (a ``(1,)`` curve would lose its dimension) and cannot copy a frozen dataclass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor
from torchmetrics import Metric


class _Opaque:
    """A value torchmetrics' result handling must pass through untouched."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class SumStateMetric(Metric):
    """A :class:`torchmetrics.Metric` whose states are sums over the batches and processes.

    Subclasses register their states with :meth:`add_sum_state`, call :meth:`_follow_device`
    in ``update`` before adding to them, and take the tensor that sets the device as the first
    argument of ``update`` (named by ``_device_argument``).
    """

    full_state_update = False  # a batch's contribution does not depend on the earlier ones
    is_differentiable = False  # the states are detached counts and float64 sums
    _device_argument = "maps"

    def add_sum_state(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        """Register a zero state of ``shape`` and ``dtype``, summed over processes."""
        self.add_state(name, torch.zeros(shape, dtype=dtype), dist_reduce_fx="sum")

    def _follow_device(self, tensor: Tensor) -> None:
        """Move the metric (its states) to the device of ``tensor`` if it is elsewhere."""
        if tensor.device != self.device:
            self.to(tensor.device)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Add a batch like ``update`` and return the metric of that batch alone.

        Takes the arguments of ``update``; the metric first moves to the device of the batch.
        """
        source = args[0] if args else kwargs.get(self._device_argument)
        if isinstance(source, Tensor):
            self._follow_device(source)
        return super().forward(*args, **kwargs)

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> SumStateMetric:
        # Move the states with the module, but never change their dtypes: the counts must
        # stay exact and the sums float64.
        states = {name: cast(Tensor, getattr(self, name)) for name in self._defaults}
        defaults = {name: cast(Tensor, value) for name, value in self._defaults.items()}
        this = cast(SumStateMetric, super()._apply(fn, *args, **kwargs))
        for name, value in states.items():
            setattr(this, name, value.to(this.device))
            this._defaults[name] = defaults[name].to(this.device)
        return this

    def _wrap_compute(self, compute: Callable[..., Any]) -> Callable[..., Any]:
        synced = super()._wrap_compute(lambda *a, **k: _Opaque(compute(*a, **k)))

        @functools.wraps(compute)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return synced(*args, **kwargs).value

        return wrapped
