"""Captum's target forms (int, list, tensor, None) turned into one class index per example.

Shared by every attribution of the package so that they all read ``target`` the same way.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from captum_infocam._validation import check_target

__all__ = ["TargetLike", "format_target"]

TargetLike = int | Sequence[int] | Tensor | None
"""A Captum classification target: an int, ``N`` ints, an integer tensor, or None."""


def format_target(target: TargetLike, logits: Tensor) -> Tensor:
    """Captum's target forms as a tensor of ``N`` class indices on the logits' device.

    The forms are Captum's: one class for every example (an int, a 0-d or one-element tensor,
    a one-element tuple), one class per example (a list, a 1-D tensor or array of ``N`` ints),
    or ``None`` for each example's top-1 class. NumPy integers and arrays are accepted too.

    Args:
        target (int, list[int], Tensor or None): the classes, in one of the forms above.
        logits (Tensor): the model's logits of shape ``(N, K)``.

    Returns:
        *Tensor* of dtype ``torch.long`` and shape ``(N,)``, checked to lie in ``[0, K)``.

    Raises:
        TypeError: if ``target`` is not one of the forms above or is not integer.
        ValueError: if it holds the wrong number of classes or a class outside ``[0, K)``.

    Examples::

        >>> format_target(3, torch.zeros(2, 5))
        tensor([3, 3])
        >>> format_target(None, torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        tensor([1, 0])
    """
    num_examples = logits.shape[0]
    if target is None:
        return logits.argmax(dim=1)
    if isinstance(target, tuple):
        # Captum: a tuple indexes one output element for every example.
        if len(target) != 1:
            raise ValueError(
                f"a tuple target indexes one output for every example and needs one entry for "
                f"(N, K) logits, got {target!r}; pass a list for one class per example"
            )
        target = target[0]
    is_integer = isinstance(target, (numbers.Integral, np.integer))
    is_array = isinstance(target, (Tensor, np.ndarray, list))
    if isinstance(target, (bool, np.bool_)) or not (is_integer or is_array):
        raise TypeError(
            f"target must be an int, a list of ints, a tensor of ints or None, got {target!r}"
        )
    try:
        target = torch.as_tensor(target, device=logits.device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"target must hold integer class indices, got {target!r}") from error
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.numel() == 1 and target.dim() <= 1:
        target = target.reshape(()).expand(num_examples)
    if target.dim() != 1 or target.shape[0] != num_examples:
        raise ValueError(
            f"target must be an int or hold one class per example ({num_examples}), "
            f"got shape {tuple(target.shape)}"
        )
    return check_target(target, num_examples, logits.shape[1])
