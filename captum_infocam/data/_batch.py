"""The base of the synthetic sets' batches (internal; public as ``captum_infocam.data``)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

if sys.version_info >= (3, 11):
    from typing import Self
else:  # typing_extensions comes with torch
    from typing_extensions import Self


class SyntheticBatch:
    """A whole synthetic set held as tensors that share their first dimension, one per item.

    The base of :class:`~captum_infocam.data.LocalizationBatch`,
    :class:`~captum_infocam.data.TextureBatch` and :class:`~captum_infocam.data.SeriesBatch`:
    frozen dataclasses whose tensor fields hold one row per item, with ``labels`` among them,
    and an int field ``num_classes``. It selects items and moves the set between devices
    without naming the fields, so each set only declares them.

    Examples::

        >>> from captum_infocam.data import make_localization_data
        >>> data = make_localization_data(8, num_classes=4, seed=0)
        >>> isinstance(data, SyntheticBatch), len(data), data.class_names[0]
        (True, 8, 'horizontal stripes')
    """

    # The names of the classes, in class-index order; each set declares its own.
    names_of_classes: ClassVar[tuple[str, ...]] = ()
    labels: Tensor
    num_classes: int

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names of the ``K`` classes, in class-index order."""
        return self.names_of_classes[: self.num_classes]

    def _map(self, function: Callable[[Tensor], Tensor]) -> Self:
        """The same set with ``function`` applied to every tensor field."""
        changes: dict[str, Any] = {
            field.name: function(getattr(self, field.name))
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
            if isinstance(getattr(self, field.name), Tensor)
        }
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def subset(self, index: slice | Tensor | Sequence[int]) -> Self:
        """Select items by a slice, integer indices or a boolean mask.

        Args:
            index (slice, Tensor or sequence of int): which items to keep, applied to the
                first dimension of every tensor.

        Returns:
            The same kind of batch with the selected items (views for a slice, copies
            otherwise).

        Examples::

            >>> from captum_infocam.data import make_localization_data
            >>> data = make_localization_data(10, seed=0)
            >>> len(data.subset(data.labels == 0)), len(data.subset(slice(2, 5)))
            (3, 3)
        """
        if not isinstance(index, slice):
            index = torch.as_tensor(index, device=self.labels.device)
        return self._map(lambda tensor: tensor[index])

    def to(self, device: torch.device | str) -> Self:
        """Move every tensor to ``device``.

        Args:
            device (torch.device or str): the target device.

        Returns:
            The same kind of batch on ``device``.

        Examples::

            >>> from captum_infocam.data import make_series_data
            >>> make_series_data(4, seed=0).to("cpu").series.device
            device(type='cpu')
        """
        return self._map(lambda tensor: tensor.to(device))
