"""Argument checks of the package, each written once (internal).

Every public function of the package checks its arguments before it computes anything, and
raises a clear error naming the argument, what was expected and what it got. The checks that
more than one module needs live here, so that a class index, an int or a set of activations is
read the same way everywhere:

* ints: :func:`is_int`, :func:`check_int`, :func:`check_real`;
* class indices: :func:`check_class_indices`, :func:`check_target`;
* one value for all or one per item: :func:`one_or_each`;
* tensors of the maps: :func:`check_activations`, :func:`check_head`,
  :func:`check_head_parameters`, :func:`check_region_size`, :func:`check_padding`,
  :func:`check_contrast`, :func:`check_contrast_weight`, :func:`check_contrast_logits`;
* logits: :func:`check_logits`;
* precision: :func:`compute_dtype` and the autocast guard :func:`full_precision`.

This module imports nothing from the package, so every module may use it. Its names carry no
underscore because the module itself is private: they are not part of the public API.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CONTRAST_NAMES",
    "LOGIT_RANKED",
    "PADDINGS",
    "SPATIAL_DIMS",
    "check_activations",
    "check_class_indices",
    "check_contrast",
    "check_contrast_logits",
    "check_contrast_weight",
    "check_head",
    "check_head_parameters",
    "check_int",
    "check_logits",
    "check_padding",
    "check_real",
    "check_region_size",
    "check_target",
    "compute_dtype",
    "full_precision",
    "is_int",
    "one_or_each",
]


# --------------------------------------------------------------------------- numbers


def is_int(value: object) -> bool:
    """Whether ``value`` is a Python int and not a bool (``True`` is an int to Python).

    Examples::

        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def _int_bound(minimum: int | None) -> str:
    if minimum is None:
        return "an int"
    if minimum == 0:
        return "a non-negative int"
    if minimum == 1:
        return "a positive int"
    return f"an int >= {minimum}"


def check_int(
    value: object, name: str, minimum: int | None = None, *, type_error: bool = True
) -> int:
    """Check that ``value`` is an int (not a bool), at least ``minimum`` when given.

    Args:
        value (object): the argument.
        name (str): its name, for the error message.
        minimum (int, optional): the smallest value allowed. Default: None (any int).
        type_error (bool, optional): raise :class:`TypeError` for a value that is not an int
            and :class:`ValueError` for one below ``minimum``; ``False`` raises
            :class:`ValueError` with one message for both ("must be a positive int"), the
            convention of counts such as ``num_classes``. Default: True

    Returns:
        *int*: ``value``.

    Examples::

        >>> check_int(3, "num_images", 1)
        3
        >>> check_int(0, "num_classes", 1, type_error=False)
        Traceback (most recent call last):
        ...
        ValueError: num_classes must be a positive int, got 0
    """
    if not type_error:
        if not is_int(value) or (minimum is not None and value < minimum):  # type: ignore[operator]
            raise ValueError(f"{name} must be {_int_bound(minimum)}, got {value!r}")
        return value  # type: ignore[return-value]
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:  # type: ignore[operator]
        bound = "non-negative" if minimum == 0 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value  # type: ignore[return-value]


def check_real(value: object, name: str, *, finite: bool = False) -> float:
    """Check that ``value`` is a real number (an int or a float, not a bool) and return it.

    Args:
        value (object): the argument.
        name (str): its name, for the error message.
        finite (bool, optional): refuse infinities and NaN too. Default: False

    Returns:
        *float*: ``float(value)``.

    Examples::

        >>> check_real(2, "lr")
        2.0
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        kind = "a finite real number" if finite else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    number = float(value)
    if finite and not math.isfinite(number):
        raise ValueError(f"{name} must be a finite real number, got {number}")
    return number


# --------------------------------------------------------------------------- class indices


def _shape_text(shape: Sequence[int | None]) -> str:
    dims = ["N" if size is None else str(size) for size in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def check_class_indices(
    indices: object,
    num_classes: int | None = None,
    *,
    name: str = "target",
    shape: Sequence[int | None] | None = None,
    hint: str = "",
    ignore_index: int | None = None,
    class_prior: Tensor | None = None,
) -> Tensor:
    """Check integer class indices in ``[0, num_classes)`` and return them as ``torch.long``.

    One host synchronisation when the values are checked; none under :func:`torch.compile`
    (the range is then not checked, to avoid a graph break).

    Args:
        indices (object): the argument; it must be an integer tensor (not bool).
        num_classes (int, optional): ``K``; ``None`` checks the type and shape only.
            Default: None
        name (str, optional): the argument's name, for the error message. Default: "target"
        shape (sequence of int or None, optional): the expected shape, ``None`` entries for
            free sizes (written ``N``). Default: None (any shape)
        hint (str, optional): what the shape means, appended to its error message.
            Default: ""
        ignore_index (int, optional): a value allowed outside the range. Default: None
        class_prior (Tensor, optional): a ``(K,)`` prior; an index of a class whose prior is
            zero is refused. Default: None

    Returns:
        *Tensor*: ``indices`` as ``torch.long``.

    Raises:
        TypeError: if ``indices`` is not an integer tensor.
        ValueError: if its shape differs from ``shape`` or a value is out of range.

    Examples::

        >>> check_class_indices(torch.tensor([0, 2]), 3, shape=(2,))
        tensor([0, 2])
        >>> check_class_indices(torch.tensor([0, 3]), 3)
        Traceback (most recent call last):
        ...
        ValueError: target must lie in [0, 3), got values in [0, 3]
    """
    if not isinstance(indices, Tensor):
        raise TypeError(
            f"{name} must be a tensor of integer class indices, got {type(indices).__name__}"
        )
    if indices.dtype.is_floating_point or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices, got dtype {indices.dtype}")
    if shape is not None and (
        indices.dim() != len(shape)
        or any(size not in (None, got) for size, got in zip(shape, indices.shape, strict=True))
    ):
        raise ValueError(
            f"{name} must have shape {_shape_text(shape)}{hint}, got {tuple(indices.shape)}"
        )
    indices = indices.long()
    if num_classes is None or indices.numel() == 0 or torch.compiler.is_compiling():
        return indices
    kept = torch.ones_like(indices, dtype=torch.bool)
    if ignore_index is not None:
        kept = indices != ignore_index
    outside = kept & ((indices < 0) | (indices >= num_classes))
    if class_prior is None:
        impossible = torch.zeros_like(outside)
    else:
        safe = indices.clamp(0, num_classes - 1)
        impossible = kept & ~outside & (class_prior.to(indices.device)[safe] == 0)
    big = torch.iinfo(torch.long).max
    low = torch.where(kept, indices, big).amin()
    high = torch.where(kept, indices, -big).amax()
    # the one host synchronisation of a checked call
    any_outside, any_impossible, low, high = torch.stack(
        [outside.any().long(), impossible.any().long(), low, high]
    ).tolist()
    if any_outside:
        allowed = f"[0, {num_classes})"
        if ignore_index is not None:
            allowed += f" or equal ignore_index={ignore_index}"
        raise ValueError(f"{name} must lie in {allowed}, got values in [{low}, {high}]")
    if any_impossible:
        first = int(indices[impossible][0])
        raise ValueError(
            f"{name} holds class {first}, whose class_prior is 0: the PC-softmax loss of a "
            "class the prior rules out is unbounded below; give every target class a "
            "positive prior"
        )
    return indices


def check_target(target: object, num_examples: int | None, num_classes: int) -> Tensor:
    """Check one class index per example, shape ``(num_examples,)`` (any length when None).

    Examples::

        >>> check_target(torch.tensor([1, 0]), 2, 3)
        tensor([1, 0])
    """
    return check_class_indices(
        target, num_classes, shape=(num_examples,), hint=" (one class per example)"
    )


# --------------------------------------------------------------------------- logits


def one_or_each(values: Tensor, count: int, name: str, item: str) -> Tensor:
    """A flat tensor of one value for all ``count`` items, or of one value per item, as
    ``(count,)`` (a single value is expanded, not copied).

    Examples::

        >>> one_or_each(torch.tensor([3]), 2, "targets", "input")
        tensor([3, 3])
    """
    values = values.reshape(-1)
    if values.numel() == 1:
        return values.expand(count)
    if values.numel() != count:
        raise ValueError(
            f"{name} must hold one value for all or one per {item} ({count}), got {values.numel()}"
        )
    return values


def check_logits(logits: object, name: str = "logits", min_dim: int = 1) -> None:
    """Check a floating tensor of class scores with at least ``min_dim`` dimensions.

    Examples::

        >>> check_logits(torch.zeros(2, 3))
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {logits.dtype}")
    if logits.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got a scalar")


def check_contrast_logits(
    logits: Tensor | None, num_examples: int, num_classes: int, contrast: str = "least_likely"
) -> None:
    """Check the image-level logits ``(N, K)`` that a logit-ranked contrast needs.

    Examples::

        >>> check_contrast_logits(torch.zeros(2, 3), 2, 3)
    """
    if not isinstance(logits, Tensor) or logits.shape != (num_examples, num_classes):
        raise ValueError(
            f"contrast={contrast!r} needs the image-level logits of shape "
            f"({num_examples}, {num_classes}), got {_shape_of(logits)}"
        )


# --------------------------------------------------------------------------- maps

CONTRAST_NAMES: tuple[str, ...] = ("mean", "least_likely", "most_likely", "none")
"""The contrasts given by name (``maps.CONTRASTS``)."""

LOGIT_RANKED: tuple[str, ...] = ("least_likely", "most_likely")
"""The contrasts that pick a class by its image-level logit, so need the logits."""

PADDINGS: tuple[str, ...] = ("same", "full")
"""The window conventions at the border (``maps.PADDINGS``)."""

SPATIAL_DIMS: tuple[int, ...] = (1, 2, 3)
"""The numbers of spatial dimensions the maps support (a segment, a square, a cube)."""


def _shape_of(value: object) -> object:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def check_activations(activations: object, name: str = "activations") -> None:
    """Check floating activations ``(N, C, *spatial)`` with 1, 2 or 3 spatial dimensions.

    Examples::

        >>> check_activations(torch.zeros(1, 2, 3, 3))
        >>> check_activations(torch.zeros(1, 2, 8))  # a 1-D layer (audio, text, series)
    """
    if not isinstance(activations, Tensor) or activations.dim() - 2 not in SPATIAL_DIMS:
        raise ValueError(
            f"{name} must be a tensor of shape (N, C, *spatial) with 1, 2 or 3 spatial "
            f"dimensions, e.g. (N, C, h, w), got {_shape_of(activations)}"
        )
    if not activations.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {activations.dtype}")


def check_head_parameters(weight: object, bias: object) -> None:
    """Check a classifier head: ``weight (K, C)`` and ``bias (K,)`` or None.

    Examples::

        >>> check_head_parameters(torch.zeros(5, 2), None)
    """
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        raise ValueError(f"weight must have shape (K, C), got {_shape_of(weight)}")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != weight.shape[:1]):
        raise ValueError(
            f"bias must have shape ({weight.shape[0]},) to match weight, got {_shape_of(bias)}"
        )


def check_head(activations: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    """Check activations and a head ``weight (K, C)``, ``bias (K,)`` that read them.

    Examples::

        >>> check_head(torch.zeros(1, 2, 3, 3), torch.zeros(5, 2), torch.zeros(5))
    """
    check_activations(activations)
    check_head_parameters(weight, bias)
    if weight.shape[1] != activations.shape[1]:
        raise ValueError(
            f"the classifier expects {weight.shape[1]} input channels but the activations have "
            f"{activations.shape[1]}: explain the layer that feeds the pooled classifier"
        )


def check_region_size(
    region_size: object, num_spatial: int | None = None
) -> tuple[int, ...] | None:
    """Check a window: an int >= 1 (a segment, square or cube), one int >= 1 per spatial
    dimension, or None for the whole map; return it as one side per dimension.

    Args:
        region_size (object): the argument.
        num_spatial (int, optional): the number of spatial dimensions; ``None`` when not yet
            known (the length of a tuple is then not checked and an int is returned as
            ``(s,)``). Default: None

    Returns:
        *tuple[int, ...] or None*: the window's side along each spatial dimension.

    Examples::

        >>> check_region_size(3, 2), check_region_size((3, 1), 2), check_region_size(None, 3)
        ((3, 3), (3, 1), None)
    """
    if region_size is None:
        return None
    if is_int(region_size) and region_size >= 1:  # type: ignore[operator]
        return (region_size,) * (1 if num_spatial is None else num_spatial)  # type: ignore[return-value]
    if (
        isinstance(region_size, (tuple, list))
        and len(region_size) >= 1
        and (num_spatial is None or len(region_size) == num_spatial)
        and all(is_int(side) and side >= 1 for side in region_size)
    ):
        return tuple(region_size)
    per_dim = "one int >= 1 per spatial dimension"
    if num_spatial is not None:
        per_dim += f" ({num_spatial} here)"
    raise ValueError(f"region_size must be an int >= 1, {per_dim}, or None, got {region_size!r}")


def check_padding(padding: object, region_size: object = 1) -> None:
    """Check a border convention, ``"same"`` or ``"full"``; ``"full"`` needs a finite window.

    Examples::

        >>> check_padding("full", 3)
    """
    if not isinstance(padding, str) or padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if padding == "full" and region_size is None:
        raise ValueError(
            "padding='full' grows the map by the window's side minus one and needs a window: "
            "region_size=None (the whole map) has none; pass an int or use padding='same'"
        )


def check_contrast(contrast: object, target: Tensor, num_classes: int) -> str | Tensor:
    """Check a contrast: one of :data:`CONTRAST_NAMES`, or explicit contrast classes per example.

    Explicit classes are an integer tensor of shape ``(N,)`` or ``(N, k)`` (the contrast is
    their mean), each in ``[0, num_classes)`` and different from the example's target. The
    values are not checked under :func:`torch.compile`.

    Args:
        contrast (object): the argument.
        target (Tensor): the checked targets ``(N,)``.
        num_classes (int): ``K``.

    Returns:
        *str or Tensor*: the name, or the classes as ``torch.long`` of shape ``(N, k)`` on the
        targets' device.

    Examples::

        >>> check_contrast("most_likely", torch.tensor([0]), 3)
        'most_likely'
        >>> check_contrast(torch.tensor([2, 0]), torch.tensor([0, 1]), 3)
        tensor([[2],
                [0]])
    """
    if isinstance(contrast, str):
        if contrast not in CONTRAST_NAMES:
            raise ValueError(
                f"contrast must be one of {CONTRAST_NAMES} or an integer tensor of contrast "
                f"classes per example, got {contrast!r}"
            )
        if contrast != "none" and num_classes < 2:
            raise ValueError(f"contrast={contrast!r} needs a classifier with at least 2 classes")
        return contrast
    if not isinstance(contrast, Tensor):
        raise TypeError(
            f"contrast must be one of {CONTRAST_NAMES} or an integer tensor of contrast classes "
            f"per example, shape (N,) or (N, k), got {type(contrast).__name__}"
        )
    num_examples = target.shape[0]
    if contrast.dim() == 1:
        contrast = contrast[:, None]
    if contrast.dim() != 2 or contrast.shape[0] != num_examples or contrast.shape[1] < 1:
        raise ValueError(
            f"contrast classes must have shape ({num_examples},) or ({num_examples}, k) with "
            f"k >= 1: one or k classes per example, got {tuple(contrast.shape)}"
        )
    classes = check_class_indices(contrast, num_classes, name="contrast classes")
    classes = classes.to(target.device)
    if classes.numel() and not torch.compiler.is_compiling():
        same = classes == target[:, None]
        if bool(same.any()):
            example = int(same.any(dim=1).nonzero()[0, 0])
            raise ValueError(
                f"contrast classes must differ from the target: example {example} has target "
                f"{int(target[example])} among its contrast classes "
                f"{classes[example].tolist()}; a class contrasted with itself gives a zero map"
            )
    return classes


def check_contrast_weight(contrast_weight: object) -> float:
    """Check the contrast strength alpha: a finite real number.

    Examples::

        >>> check_contrast_weight(0.5)
        0.5
    """
    return check_real(contrast_weight, "contrast_weight", finite=True)


# --------------------------------------------------------------------------- precision


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype maps are computed in: the inputs' promoted dtype, at least float32.

    Examples::

        >>> compute_dtype(torch.zeros(1, dtype=torch.half))
        torch.float32
    """
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Switch autocast off where the device has it, so float32 accumulation is kept.

    Examples::

        >>> with full_precision(torch.device("cpu")):
        ...     pass
    """
    is_available = getattr(torch.amp, "is_autocast_available", lambda device_type: True)
    if device.type in ("cpu", "cuda") or is_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
