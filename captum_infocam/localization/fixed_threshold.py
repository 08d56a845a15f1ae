r"""Fixed-threshold localisation metrics: GT-known loc, top-1 loc and the pointing game.

The infoCAM papers report localisation at one map threshold, :math:`\tau = 0.2`, and one IoU
threshold, :math:`\delta = 0.5` (the protocol of CAM, Zhou et al. 2016):

* **GT-known loc**: the share of images whose box, drawn from the map of the *true* class,
  has IoU :math:`\ge \delta` with a ground-truth box;
* **top-1 loc**: the share of images that are GT-known hits *and* whose top-1 prediction is
  the true class.

Boxes are drawn exactly as in :func:`~captum_infocam.localization.box_hits` with
``multi_contour=False`` (min-max normalisation, ``uint8`` quantisation, the largest contour).
The authors' scripts (``kfzyqin/Research-Softmax-with-Mutual-Information``) differ in two
details we do not copy: they threshold the grey level of a *cubehelix* colouring of the map
(a monotone but not linear function of it) and do not clip the box to the image.
"""

from __future__ import annotations

import numbers
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from captum_infocam._validation import check_class_indices
from captum_infocam.localization._inputs import as_maps, as_masks, as_unit_interval
from captum_infocam.localization.box_protocol import NanPolicy, box_hits
from captum_infocam.localization.boxes import GroundTruthBoxes, as_ground_truth_boxes

__all__ = ["LocalizationAccuracy", "localization_accuracy", "pointing_game", "top1_correct"]

Reduction = Literal["mean", "none"]
Ties = Literal["first", "any"]

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


class LocalizationAccuracy(NamedTuple):
    """GT-known and top-1 localisation, as means over the images or per image.

    Attributes:
        gt_known (Tensor): GT-known loc, a float64 scalar in ``[0, 1]`` (or ``(N,)`` bool hits).
        top1 (Tensor or None): top-1 loc, likewise; ``None`` when no predictions were given.

    Examples::

        >>> LocalizationAccuracy(torch.tensor(0.5), None).gt_known
        tensor(0.5000)
    """

    gt_known: Tensor
    top1: Tensor | None


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def top1_correct(predictions: Tensor, labels: Tensor, num_images: int | None = None) -> Tensor:
    """Whether each image's top-1 prediction is its label.

    Args:
        predictions (Tensor): ``(N,)`` predicted class indices, or ``(N, K)`` class scores
            whose argmax is the prediction.
        labels (Tensor): ``(N,)`` true class indices.
        num_images (int, optional): the ``N`` both must have. Default: ``len(labels)``.

    Returns:
        *Tensor* ``(N,)`` bool on the predictions' device.

    Raises:
        TypeError: if the labels (or index predictions) are not integer tensors.
        ValueError: if the labels are not 1-D or the shapes disagree.

    Examples::

        >>> top1_correct(torch.tensor([[0.1, 2.0], [3.0, 0.0]]), torch.tensor([1, 1]))
        tensor([ True, False])
    """
    if not isinstance(predictions, Tensor):
        raise TypeError(f"predictions must be a Tensor, got {type(predictions).__name__}")
    labels = check_class_indices(labels, name="labels", shape=(None,))
    num_images = labels.shape[0] if num_images is None else num_images
    if predictions.dim() == 2:
        predictions = predictions.argmax(dim=1)
    elif predictions.dim() != 1 or predictions.dtype.is_floating_point:
        raise TypeError(
            "predictions must be (N,) integer class indices or (N, K) class scores, "
            f"got {predictions.dtype} {tuple(predictions.shape)}"
        )
    if predictions.shape[0] != num_images or labels.shape[0] != num_images:
        raise ValueError(
            f"predictions and labels must cover the {num_images} images, got "
            f"{predictions.shape[0]} and {labels.shape[0]}"
        )
    return predictions == labels.to(predictions.device)


def localization_accuracy(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    predictions: Tensor | None = None,
    labels: Tensor | None = None,
    *,
    threshold: float = 0.2,
    iou_threshold: float = 0.5,
    reduction: Reduction = "mean",
    nan_policy: NanPolicy = "raise",
) -> LocalizationAccuracy:
    r"""GT-known and top-1 localisation accuracy at one map threshold.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` maps of the *true* class of each
            image, at image resolution.
        gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` inclusive boxes
            ``(x1, y1, x2, y2)``.
        predictions (Tensor, optional): ``(N,)`` predicted classes or ``(N, K)`` class scores;
            with ``labels``, enables top-1 loc. Default: None.
        labels (Tensor, optional): ``(N,)`` true classes. Default: None.
        threshold (float, optional): the map threshold :math:`\tau` in ``[0, 1]``.
            Default: 0.2 (the authors').
        iou_threshold (float, optional): the IoU threshold :math:`\delta`. Default: 0.5.
        reduction (str, optional): ``"mean"`` for accuracies in ``[0, 1]``, ``"none"`` for
            the per-image hits. Default: ``"mean"``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"`` (a map with NaN scores as a
            zero map, a miss, as in the reference); see
            :func:`~captum_infocam.localization.box_hits`. Default: ``"raise"``.

    Returns:
        *LocalizationAccuracy* ``(gt_known, top1)``; ``top1`` is ``None`` without predictions.

    Raises:
        ValueError: on bad maps, boxes or thresholds (see
            :func:`~captum_infocam.localization.box_hits`), or only one of
            ``predictions`` and ``labels``.

    Examples::

        >>> maps = torch.zeros(2, 8, 8)
        >>> maps[:, 2:5, 3:7] = 1.0
        >>> boxes = torch.tensor([[3, 2, 6, 4], [0, 0, 1, 1]])
        >>> result = localization_accuracy(
        ...     maps, boxes, torch.tensor([1, 0]), torch.tensor([1, 1]))
        >>> result.gt_known, result.top1
        (tensor(0.5000, dtype=torch.float64), tensor(0.5000, dtype=torch.float64))
    """
    _check_reduction(reduction)
    if (predictions is None) != (labels is None):
        raise ValueError("pass both predictions and labels for top-1 loc, or neither")
    threshold_tensor = as_unit_interval([threshold], "threshold", torch.device("cpu"))
    delta = float(as_unit_interval([iou_threshold], "iou_threshold", torch.device("cpu")))
    correct = None
    if predictions is not None and labels is not None:
        correct = top1_correct(predictions, labels, as_maps(maps, check_finite=False).shape[0])
    hits = box_hits(maps, gt_boxes, threshold_tensor, [delta], nan_policy=nan_policy)
    gt_known = hits[:, 0, 0]
    top1 = None if correct is None else gt_known & correct.to(gt_known.device)
    if reduction == "none":
        return LocalizationAccuracy(gt_known, top1)
    return LocalizationAccuracy(
        gt_known.double().mean(), None if top1 is None else top1.double().mean()
    )


def _as_tolerance(tolerance: object) -> float:
    """A non-negative real radius from a Python or NumPy number or a one-element tensor."""
    if isinstance(tolerance, Tensor) and tolerance.numel() == 1:
        if not (tolerance.dtype.is_floating_point or tolerance.dtype in _INTEGER_DTYPES):
            raise TypeError(f"tolerance must be a real number of pixels, got {tolerance.dtype}")
        value = float(tolerance)
    elif isinstance(tolerance, numbers.Real) and not isinstance(tolerance, (bool, np.bool_)):
        value = float(tolerance)
    else:
        raise TypeError(
            f"tolerance must be a real number of pixels, got {type(tolerance).__name__}"
        )
    if not value >= 0:
        raise ValueError(f"tolerance must be a non-negative number of pixels, got {value}")
    return value


def pointing_game(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    tolerance: float = 0.0,
    reduction: Reduction = "mean",
    *,
    ties: Ties = "first",
) -> Tensor:
    r"""Pointing game (Zhang et al., 2016): does each map's maximum fall on the object?

    A hit when the pixel of largest score lies within ``tolerance`` pixels (Euclidean
    distance between pixel centres) of one of the image's ground-truth boxes, or of a pixel of
    its ground-truth mask when masks are given. The original uses a tolerance of 15 pixels at
    the input resolution. A box counts every pixel of the box as object, so boxes score higher
    than masks when the maximum falls on the background inside the box.

    When several pixels share the largest score, ``ties="first"`` (the default) points at the
    first of them in raster order (``torch.argmax``), and a constant map points nowhere and
    is a miss. ``ties="any"`` counts a hit when any of them is near the object, so a constant
    map is a hit: with masks and ``tolerance=0`` this is Quantus's ``PointingGame``, image by
    image (the two rules agree wherever the maximum is unique).

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at image resolution.
        gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` inclusive boxes; or
            the objects' masks, a bool tensor of the maps' shape, ``(N, H, W)`` or
            ``(N, 1, H, W)``, each with at least one object pixel.
        tolerance (float, optional): the hit radius in pixels, ``>= 0``: a Python or NumPy
            real number or a one-element tensor. Default: 0.
        reduction (str, optional): ``"mean"`` for the accuracy, ``"none"`` for the
            ``(N,)`` hits. Default: ``"mean"``.
        ties (str, optional): ``"first"`` or ``"any"``, the maximum that points when several
            pixels share it (see above). Default: ``"first"``.

    Returns:
        *Tensor*: a float64 scalar in ``[0, 1]``, or ``(N,)`` bool.

    Raises:
        TypeError: if ``tolerance`` is not a real number (a bool is not).
        ValueError: on bad maps, boxes or masks (of another shape, or empty), a negative or
            NaN tolerance, or another ``ties``.

    Examples::

        >>> maps = torch.zeros(2, 8, 8)
        >>> maps[0, 3, 4] = maps[1, 7, 7] = 1.0
        >>> pointing_game(maps, torch.tensor([[2, 2, 5, 5], [2, 2, 5, 5]]), reduction="none")
        tensor([ True, False])
        >>> pointing_game(maps, torch.tensor([[2, 2, 5, 5], [2, 2, 5, 5]]), tolerance=3.0)
        tensor(1., dtype=torch.float64)
        >>> masks = torch.zeros(2, 8, 8, dtype=torch.bool)
        >>> masks[:, 3:5, 3:5] = True  # the objects' pixels
        >>> pointing_game(maps, masks, reduction="none")
        tensor([ True, False])
        >>> pointing_game(torch.ones(2, 8, 8), masks, reduction="none", ties="any")
        tensor([True, True])
    """
    _check_reduction(reduction)
    if ties not in ("first", "any"):
        raise ValueError(f'ties must be "first" or "any", got {ties!r}')
    radius = _as_tolerance(tolerance)
    maps = as_maps(maps)
    num_maps, height, width = maps.shape
    if ties == "any":
        target = _object_pixels(gt_boxes, maps)
        if radius > 0:
            target = _dilate(target, radius)
        peaks = maps == maps.amax(dim=(1, 2), keepdim=True)
        hits = (peaks & target).flatten(1).any(dim=1)
        return hits if reduction == "none" else hits.double().mean()
    flat = maps.reshape(num_maps, -1)
    low, high = torch.aminmax(flat, dim=1)
    peak = flat.argmax(dim=1)
    row = (peak // width).double().view(-1, 1)
    column = (peak % width).double().view(-1, 1)
    if isinstance(gt_boxes, Tensor) and gt_boxes.dtype == torch.bool:
        near = _near_mask(_object_masks(gt_boxes, maps), row, column, radius)
    else:
        boxes, valid = as_ground_truth_boxes(gt_boxes, num_maps, height, width, device=maps.device)
        x1, y1, x2, y2 = boxes.unbind(-1)
        dx = torch.clamp(torch.maximum(x1 - column, column - x2), min=0)
        dy = torch.clamp(torch.maximum(y1 - row, row - y2), min=0)
        near = ((dx.square() + dy.square() <= radius**2) & valid).any(dim=1)
    hits = near & (high > low)
    return hits if reduction == "none" else hits.double().mean()


def _object_pixels(gt_boxes: GroundTruthBoxes, maps: Tensor) -> Tensor:
    """The objects' pixels ``(N, H, W)`` bool: the masks as given, or the union of the boxes."""
    if isinstance(gt_boxes, Tensor) and gt_boxes.dtype == torch.bool:
        return _object_masks(gt_boxes, maps)
    num_maps, height, width = maps.shape
    boxes, valid = as_ground_truth_boxes(gt_boxes, num_maps, height, width, device=maps.device)
    x1, y1, x2, y2 = (coordinate[..., None, None] for coordinate in boxes.unbind(-1))
    rows = torch.arange(height, dtype=boxes.dtype, device=maps.device).view(-1, 1)
    columns = torch.arange(width, dtype=boxes.dtype, device=maps.device).view(1, -1)
    inside = (rows >= y1) & (rows <= y2) & (columns >= x1) & (columns <= x2)  # (N, M, H, W)
    return (inside & valid[..., None, None]).any(dim=1)


def _dilate(pixels: Tensor, radius: float) -> Tensor:
    """The pixels within Euclidean distance ``radius`` of a set pixel, ``(N, H, W)`` bool.

    One convolution with the disk of that radius (exact: it counts set pixels, integers well
    within float32's range).
    """
    reach = int(radius)
    offsets = torch.arange(-reach, reach + 1, dtype=torch.float64, device=pixels.device)
    disk = (offsets.view(-1, 1).square() + offsets.view(1, -1).square() <= radius**2).float()
    counts = torch.nn.functional.conv2d(
        pixels.float().unsqueeze(1), disk[None, None], padding=reach
    )
    return counts[:, 0] > 0


def _object_masks(masks: Tensor, maps: Tensor) -> Tensor:
    """Validate the objects' masks (of the maps' shape, none empty) on the maps' device."""
    masks = as_masks(masks, maps.shape, "masks", maps.device)
    empty = ~masks.flatten(1).any(dim=1)
    if bool(empty.any()):
        raise ValueError(
            f"the mask of image {int(empty.nonzero()[0, 0])} has no object pixel: a pointing "
            "game needs an object in every image"
        )
    return masks


def _near_mask(masks: Tensor, row: Tensor, column: Tensor, radius: float) -> Tensor:
    """Whether a mask pixel lies within ``radius`` of each ``(row, column)`` peak: ``(N,)``."""
    height, width = masks.shape[-2:]
    rows = torch.arange(height, dtype=torch.float64, device=masks.device)
    columns = torch.arange(width, dtype=torch.float64, device=masks.device)
    dy2 = (rows - row).square()[:, :, None]  # (N, H, 1)
    dx2 = (columns - column).square()[:, None, :]  # (N, 1, W)
    return ((dy2 + dx2 <= radius**2) & masks).flatten(1).any(dim=1)
