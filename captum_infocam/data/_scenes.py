"""Pieces shared by the synthetic generators (:mod:`captum_infocam.data.synthetic`,
:mod:`captum_infocam.data.synthetic_textures`, and for its range check
:mod:`captum_infocam.data.synthetic_series`): argument checks, class counts, seeded draws,
colours that stand out from a background, and the bounding boxes of masks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from captum_infocam._validation import check_int


def check_range(value: Sequence[float], name: str, low: float, high: float) -> tuple[float, float]:
    """``value`` as a pair ``(min, max)`` with ``low <= min <= max <= high``, else an error."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair of floats (min, max), got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got {value!r}")
    return lo, hi


def class_counts(
    num_images: int | None, num_classes: int, class_counts: Sequence[int] | None
) -> list[int]:
    """Validate the size arguments and return the number of images of each class."""
    if class_counts is None:
        if num_images is None:
            raise ValueError("num_images must be given when class_counts is None")
        total = check_int(num_images, "num_images", 1)
        return [total // num_classes + (k < total % num_classes) for k in range(num_classes)]
    counts = list(class_counts)
    if len(counts) != num_classes:
        raise ValueError(
            f"class_counts must hold one count per class ({num_classes}), got {len(counts)}"
        )
    for k, count in enumerate(counts):
        check_int(count, f"class_counts[{k}]", 0)
    if sum(counts) < 1:
        raise ValueError(f"class_counts must sum to at least 1, got {counts}")
    if num_images is not None and num_images != sum(counts):
        raise ValueError(
            f"num_images ({num_images!r}) must equal sum(class_counts) ({sum(counts)}) or be None"
        )
    return counts


def uniform(gen: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> Tensor:
    """Uniform draws in ``[low, high)`` from ``gen``, on the CPU."""
    return low + (high - low) * torch.rand(shape, generator=gen)


def shuffled_labels(gen: torch.Generator, counts: list[int]) -> Tensor:
    """``counts[k]`` labels of each class ``k``, in an order drawn from ``gen``, on the CPU."""
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return labels[torch.randperm(sum(counts), generator=gen)]


def colour_directions(gen: torch.Generator, shape: tuple[int, ...]) -> Tensor:
    """Non-negative unit vectors ``shape + (3,)`` in RGB: how colours move away from a
    background (see :func:`contrasting_colour`)."""
    v = torch.rand((*shape, 3), generator=gen) + 0.05
    return v / v.norm(dim=-1, keepdim=True)


def contrasting_colour(background: Tensor, direction: Tensor, strength: Tensor) -> Tensor:
    """Colours ``(N, 3)`` that differ from ``background`` by ``strength`` along ``direction``.

    Each channel moves towards the end of ``[0, 1]`` that is farther from the background,
    so there is always room (at least 0.5 per channel) to move.
    """
    away = torch.where(background < 0.5, 1.0, -1.0)
    return (background + away * direction * strength[:, None]).clamp(0.0, 1.0)


def render_in_chunks(
    render: Callable[[slice, Tensor], Sequence[Tensor]],
    total: int,
    chunk_size: int,
    image_size: int,
    gen: torch.Generator,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Render ``total`` scenes ``chunk_size`` at a time: an image and three masks each.

    For each chunk, in order, draws the pixel noise ``(n, 3, S, S)`` from ``gen`` on the CPU
    and calls ``render(part, noise)``, which returns the chunk's images ``(n, 3, S, S)`` and
    three bool masks ``(n, S, S)``; they are written into whole-set tensors on ``device``.
    A fixed ``chunk_size`` bounds memory without changing the data.
    """
    images = torch.empty((total, 3, image_size, image_size), device=device)
    masks = [
        torch.empty((total, image_size, image_size), dtype=torch.bool, device=device)
        for _ in range(3)
    ]
    for start in range(0, total, chunk_size):
        part = slice(start, start + chunk_size)
        noise = torch.randn(
            (min(chunk_size, total - start), 3, image_size, image_size), generator=gen
        )
        for output, value in zip((images, *masks), render(part, noise), strict=True):
            output[part] = value
    return images, masks[0], masks[1], masks[2]


def bounding_boxes(masks: Tensor) -> Tensor:
    """Inclusive ``(x1, y1, x2, y2)`` boxes of non-empty boolean masks ``(N, H, W)``."""
    cols, rows = masks.any(dim=1), masks.any(dim=2)  # (N, W), (N, H)
    width, height = cols.shape[1], rows.shape[1]
    x1 = cols.int().argmax(dim=1)
    x2 = width - 1 - cols.flip(1).int().argmax(dim=1)
    y1 = rows.int().argmax(dim=1)
    y2 = height - 1 - rows.flip(1).int().argmax(dim=1)
    return torch.stack([x1, y1, x2, y2], dim=1).long()
