r"""Boxes in inclusive pixel coordinates: validation, padding and intersection over union.

A box is ``(x1, y1, x2, y2)`` with both corners inside the box, as in the WSOL protocol of
Choe et al. (CVPR 2020): a box covering one pixel has ``x1 == x2`` and area 1, so widths and
heights count ``x2 - x1 + 1`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from captum_infocam._validation import check_int

__all__ = ["GroundTruthBoxes", "as_ground_truth_boxes", "box_iou"]

GroundTruthBoxes = Tensor | Sequence[Tensor]
"""Ground-truth boxes of ``N`` images: a sequence of ``N`` tensors ``(M_i, 4)`` (or ``(4,)``),
or one tensor ``(N, M, 4)`` (or ``(N, 4)``, one box per image). Rows ``(-1, -1, -1, -1)`` are
padding (images with fewer than ``M`` boxes); every image needs at least one real box."""

_PADDING = -1


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    r"""Intersection over union of boxes in inclusive pixel coordinates.

    Widths and heights count pixels, :math:`x_2 - x_1 + 1`, as in the reference WSOL
    evaluation. The two arguments broadcast against each other; use ``boxes1[:, None]`` and
    ``boxes2[None]`` for the matrix of all pairs. A pair whose union is not positive (only
    possible for malformed boxes) gets IoU 0.

    Args:
        boxes1 (Tensor): ``(..., 4)`` boxes ``(x1, y1, x2, y2)``.
        boxes2 (Tensor): ``(..., 4)`` boxes, broadcastable with ``boxes1``.

    Returns:
        *Tensor* of the broadcast shape without the last dimension, float64, in ``[0, 1]``.

    Raises:
        ValueError: if either argument's last dimension is not 4.

    Examples::

        >>> box_iou(torch.tensor([0, 0, 9, 9]), torch.tensor([5, 0, 14, 9]))
        tensor(0.3333, dtype=torch.float64)
    """
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not isinstance(boxes, Tensor):
            raise TypeError(f"{name} must be a Tensor, got {type(boxes).__name__}")
        if boxes.dim() == 0 or boxes.shape[-1] != 4:
            raise ValueError(f"{name} must have shape (..., 4), got {tuple(boxes.shape)}")
    # Few operations (a call on one image's boxes is mostly their fixed cost): the corners
    # by one unbind, then fresh results updated in place (never the callers' boxes).
    x1, y1, x2, y2 = boxes1.double().unbind(-1)
    u1, v1, u2, v2 = boxes2.double().unbind(-1)
    width = (torch.minimum(x2, u2) - torch.maximum(x1, u1)).add_(1).clamp_(min=0)
    height = (torch.minimum(y2, v2) - torch.maximum(y1, v1)).add_(1).clamp_(min=0)
    intersection = width.mul_(height)
    area1 = (x2 - x1).add_(1).mul_((y2 - y1).add_(1))
    area2 = (u2 - u1).add_(1).mul_((v2 - v1).add_(1))
    union = (area1 + area2).sub_(intersection)
    positive = union > 0
    return torch.where(positive, intersection / torch.where(positive, union, 1.0), 0.0)


def as_ground_truth_boxes(
    gt_boxes: GroundTruthBoxes,
    num_images: int,
    height: int,
    width: int,
    *,
    device: torch.device | None = None,
    name: str = "gt_boxes",
) -> tuple[Tensor, Tensor]:
    """Validate ground-truth boxes and pad them to one tensor.

    Rows ``(-1, -1, -1, -1)`` are padding, in either form: pad a stacked ``(N, M, 4)`` tensor
    with them, or pass a list of ``(M_i, 4)`` tensors. Zero padding is an error in the stacked
    form with ``M > 1``: a row ``(0, 0, 0, 0)`` would be a real one-pixel box, and the box the
    protocol draws when nothing passes the threshold, so it would count as a hit.

    Args:
        gt_boxes (Tensor or sequence of Tensor): ``N`` tensors ``(M_i, 4)`` (or ``(4,)``), or a
            tensor ``(N, M, 4)`` or ``(N, 4)``; inclusive pixel coordinates ``(x1, y1, x2, y2)``
            and padding rows ``(-1, -1, -1, -1)``.
        num_images (int): the number ``N`` of images the boxes must cover (0 gives empty
            results).
        height (int): image height ``H``; every box must satisfy ``0 <= y1 <= y2 <= H - 1``.
        width (int): image width ``W``; every box must satisfy ``0 <= x1 <= x2 <= W - 1``.
        device (torch.device, optional): device of the result. Default: the boxes' device.
        name (str, optional): argument name used in error messages. Default: ``"gt_boxes"``.

    Returns:
        *tuple* ``(boxes, valid)``: ``boxes`` ``(N, M, 4)`` float64 with
        ``M = max_i M_i`` (padding rows are zeros), ``valid`` ``(N, M)`` bool, false on
        padding.

    Raises:
        TypeError: if the boxes are not tensors.
        ValueError: if the count, a shape or a coordinate is wrong, if an image has only
            padding, or on zero padding; the message names the image and the box.

    Examples::

        >>> boxes, valid = as_ground_truth_boxes(
        ...     [torch.tensor([[1, 2, 5, 6]]), torch.tensor([[0, 0, 3, 3], [4, 4, 7, 7]])], 2, 8, 8)
        >>> boxes.shape, valid.tolist()
        (torch.Size([2, 2, 4]), [[True, False], [True, True]])
    """
    check_int(num_images, "num_images", 0, type_error=False)
    stacked = False
    if isinstance(gt_boxes, Tensor):
        stacked = gt_boxes.dim() == 3
        if gt_boxes.dim() == 2:
            gt_boxes = gt_boxes.unsqueeze(1)
        if gt_boxes.dim() != 3 or gt_boxes.shape[-1] != 4:
            raise ValueError(
                f"{name} as one tensor must have shape (N, M, 4) or (N, 4), "
                f"got {tuple(gt_boxes.shape)}"
            )
        per_image: Sequence[Tensor] = list(gt_boxes.unbind(0))
    elif isinstance(gt_boxes, Sequence) and not isinstance(gt_boxes, str):
        per_image = gt_boxes
    else:
        raise TypeError(
            f"{name} must be a Tensor or a sequence of Tensors, got {type(gt_boxes).__name__}"
        )
    if len(per_image) != num_images:
        images = "image" if num_images == 1 else "images"
        raise ValueError(f"{name} must hold boxes for {num_images} {images}, got {len(per_image)}")
    shaped = []
    for index, boxes in enumerate(per_image):
        if not isinstance(boxes, Tensor):
            raise TypeError(f"{name}[{index}] must be a Tensor, got {type(boxes).__name__}")
        if boxes.dim() == 1:
            boxes = boxes.unsqueeze(0)
        if boxes.dim() != 2 or boxes.shape[-1] != 4 or boxes.shape[0] == 0:
            raise ValueError(
                f"{name}[{index}] must have shape (M, 4) with M >= 1, got {tuple(boxes.shape)}"
            )
        if boxes.dtype == torch.bool or boxes.is_complex():
            raise TypeError(f"{name}[{index}] must hold real coordinates, got {boxes.dtype}")
        shaped.append(boxes)
    if not shaped:
        if device is None:
            device = gt_boxes.device if isinstance(gt_boxes, Tensor) else torch.device("cpu")
        return (
            torch.zeros(0, 0, 4, dtype=torch.float64, device=device),
            torch.zeros(0, 0, dtype=torch.bool, device=device),
        )
    device = device if device is not None else shaped[0].device
    counts = torch.tensor([boxes.shape[0] for boxes in shaped], device=device)
    rows = torch.cat([boxes.to(device=device, dtype=torch.float64) for boxes in shaped])
    image_of_row = torch.repeat_interleave(torch.arange(num_images, device=device), counts)
    row_in_image = torch.arange(rows.shape[0], device=device) - (
        torch.cumsum(counts, 0) - counts
    ).repeat_interleave(counts)
    most = max(boxes.shape[0] for boxes in shaped)
    padded = torch.zeros(num_images, most, 4, dtype=torch.float64, device=device)
    valid = torch.zeros(num_images, most, dtype=torch.bool, device=device)
    padded[image_of_row, row_in_image] = rows
    padding = (padded == _PADDING).all(-1)
    valid[image_of_row, row_in_image] = True
    valid &= ~padding
    padded.masked_fill_(padding.unsqueeze(-1), 0.0)
    x1, y1, x2, y2 = padded.unbind(-1)
    problems = torch.stack(
        [
            ~torch.isfinite(padded).all(-1),
            (x2 < x1) | (y2 < y1),
            (x1 < 0) | (y1 < 0) | (x2 > width - 1) | (y2 > height - 1),
            (padded == 0).all(-1) if stacked and most > 1 else torch.zeros_like(valid),
        ]
    ) & valid.unsqueeze(0)
    no_box = ~valid.any(dim=1)
    if bool(problems.any() | no_box.any()):  # one host sync on the good path
        if bool(no_box.any()):
            image = int(no_box.nonzero()[0])
            raise ValueError(
                f"{name}[{image}] has only padding rows (-1, -1, -1, -1): every image needs a box"
            )
        kind, image, box = (int(i) for i in problems.nonzero()[0])
        if kind == 3:
            raise ValueError(
                f"{name}[{image}] box {box} is (0, 0, 0, 0) in a stacked (N, M, 4) tensor: "
                "pad with -1 rows (-1, -1, -1, -1) or pass a list of (M_i, 4) tensors "
                "(zero padding would match the empty box of the protocol)"
            )
        coordinates = padded[image, box].tolist()
        reason = (
            "is not finite",
            "has x2 < x1 or y2 < y1 (expected inclusive (x1, y1, x2, y2))",
            f"lies outside the {width}x{height} image (expected 0 <= x1 <= x2 <= {width - 1} "
            f"and 0 <= y1 <= y2 <= {height - 1})",
        )[kind]
        raise ValueError(f"{name}[{image}] box {box} {coordinates} {reason}")
    return padded, valid
