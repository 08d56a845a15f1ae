r"""Box accuracy of attribution maps: BoxAcc, MaxBoxAcc and MaxBoxAccV2, batched in torch.

The protocol is that of Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right" (CVPR 2020, reference code ``clovaai/wsolevaluation``). For each map (already at image
resolution):

1. min-max normalise to :math:`[0, 1]` (a constant map becomes zeros) and quantise to
   :math:`q = \lfloor 255\, s \rfloor` (the reference's ``uint8(s * 255)``);
2. for each threshold :math:`\tau`, keep the pixels with :math:`q > \lfloor \tau \max q \rfloor`
   (the reference's ``cv2.threshold``);
3. find the contours of the kept pixels (8-connected foreground, 4-connected holes, as
   ``cv2.findContours(RETR_TREE)``); a contour's box is its bounding rectangle
   ``(x, y, x + w, y + h)`` clipped to the image, where ``w`` and ``h`` count pixels, so the
   box reaches one pixel past the region on the right and bottom (the reference's convention,
   kept for parity); no kept pixel gives the box ``(0, 0, 0, 0)``;
4. ``multi_contour=False`` keeps the contour of largest enclosed area (``cv2.contourArea``):
   MaxBoxAcc. ``multi_contour=True`` keeps every contour, outer and hole: MaxBoxAccV2;
5. an image is a hit at :math:`(\tau, \delta)` when one of its kept boxes has IoU
   :math:`\ge \delta` with one of its ground-truth boxes (inclusive pixels, ``+ 1`` in widths).

.. math::

    \mathrm{BoxAcc}(\tau, \delta) = \frac{1}{N} \sum_{n} \mathbb{1}\Big[\max_{b, g}
    \mathrm{IoU}(b_n(\tau), g) \ge \delta\Big], \qquad
    \mathrm{MaxBoxAcc}(\delta) = \max_\tau \mathrm{BoxAcc}(\tau, \delta).

Ties for the largest contour go to the contour found last in raster order, as in the
reference (``cv2.findContours`` lists contours in reverse order of discovery and ``max``
keeps the first). The per-image hits equal those of an OpenCV re-implementation of the
reference exactly (tested on smooth, noisy, plateau and ring-shaped maps). Differences:
the caller resizes the maps to the image (the reference uses ``cv2.resize`` with bicubic
interpolation; ``torch.nn.functional.interpolate(mode="bicubic")`` is the closest match);
a map with NaN is an error by default, and scored as a zero map (as the reference does)
with ``nan_policy="zero"``; infinite values are always an error;
ground-truth coordinates are used as given, where the reference truncates them to ints.

How it is computed: the map takes at most 256 values, so all thresholds share at most 256
distinct binary masks, and those are nested. The components of every level are found in one
pass (steepest-ascent basins, then a per-level labelling of the small basin graph; see
``captum_infocam.localization._level_components``); the contour area is computed exactly
from 2x2 pixel windows of the hole-filled map, and hole contours from the 4-connected
components of the background. There is no loop over thresholds, pixels or images: maps are
batched, the same code runs on CPU and CUDA, and the cost hardly depends on the number of
thresholds. It grows with the number of local maxima of the maps, so very noisy maps (raw
gradients, say) are slower and are evaluated a few at a time to bound the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from captum_infocam._validation import check_int
from captum_infocam.localization._level_components import (
    fill_holes,
    find_basins,
    level_components,
    refinement_bits,
)
from captum_infocam.localization.boxes import GroundTruthBoxes, as_ground_truth_boxes, box_iou

__all__ = [
    "NanPolicy",
    "box_accuracy",
    "box_hits",
    "boxes_from_maps",
    "quantize_maps",
    "threshold_grid",
]

NanPolicy = Literal["raise", "zero"]
"""What to do with a map holding NaN: ``"raise"`` an error, or score it as a ``"zero"`` map."""

_LEVELS = 255
_LEVEL_BASIN_BUDGET = 2**22  # (levels x basins) entries evaluated at once, about 32 MiB each


def threshold_grid(num_thresholds: int = 1000) -> Tensor:
    r"""The reference's threshold grid :math:`\{0, 1/T, \ldots, (T - 1)/T\}`.

    Equal to ``numpy.arange(0, 1, 1 / T)`` element for element (float64), which is what the
    reference evaluation uses (its default ``cam_curve_interval=0.001`` gives ``T = 1000``).

    Args:
        num_thresholds (int, optional): the number ``T`` of thresholds. Default: 1000.

    Returns:
        *Tensor* ``(T,)`` float64.

    Raises:
        ValueError: if ``num_thresholds`` is not a positive int.

    Examples::

        >>> threshold_grid(4)
        tensor([0.0000, 0.2500, 0.5000, 0.7500], dtype=torch.float64)
    """
    check_int(num_thresholds, "num_thresholds", 1, type_error=False)
    return torch.arange(num_thresholds, dtype=torch.float64) * (1.0 / num_thresholds)


def _as_maps(maps: Tensor, name: str = "maps", check_finite: bool = True) -> Tensor:
    """Validate maps ``(N, H, W)`` or ``(N, 1, H, W)`` and return them as ``(N, H, W)``."""
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(maps).__name__}")
    if not maps.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {maps.dtype}")
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.dim() != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W) or (N, 1, H, W), got {tuple(maps.shape)}"
        )
    if maps.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(maps.shape)}")
    if check_finite and not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return maps


def _as_unit_interval(values: Tensor | Sequence[float], name: str, device: torch.device) -> Tensor:
    """Validate a non-empty 1-D sequence of numbers in ``[0, 1]``, returned as float64."""
    if isinstance(values, Tensor):
        tensor = values.detach().to(device=device, dtype=torch.float64)
    else:
        try:
            tensor = torch.as_tensor(values, dtype=torch.float64, device=device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a 1-D sequence of floats, got {values!r}") from error
    if tensor.dim() == 0:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence, got shape {tuple(tensor.shape)}"
        )
    if not bool(((tensor >= 0) & (tensor <= 1)).all()):
        raise ValueError(f"{name} must lie in [0, 1], got {tensor.tolist()}")
    return tensor


def _check_nan_policy(nan_policy: str) -> None:
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")


def _map_ranges(maps: Tensor, nan_policy: str) -> tuple[Tensor, Tensor, Tensor | None]:
    """Per-map float64 minimum and span ``max - min``, ``(N,)`` each, checked in one sync.

    Returns ``(low, span, nan_maps)``: ``nan_maps`` is the ``(N,)`` bool mask of the maps
    holding NaN (whose ``low`` is 0 and ``span`` 0) under ``nan_policy="zero"``, or ``None``
    when no map does. Raises on infinite values, on NaN under ``"raise"``, and on a span
    beyond float64.
    """
    _check_nan_policy(nan_policy)
    flat = maps.reshape(maps.shape[0], -1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)  # on CPU, much faster than aminmax
    low, high = low.double(), high.double()
    span = high - low
    has_nan = torch.isnan(low) | torch.isnan(high)  # amin and amax propagate NaN
    bad_range = ~torch.isfinite(span) & ~has_nan
    any_nan, any_bad_range = torch.stack([has_nan.any(), bad_range.any()]).tolist()
    if any_bad_range:
        if bool((bad_range & (torch.isinf(low) | torch.isinf(high))).any()):
            raise ValueError("maps must be finite (no infinity)")
        index = int(bad_range.nonzero()[0])
        raise ValueError(
            f"maps[{index}]: max - min overflows float64 ({float(high[index]):.3g} - "
            f"{float(low[index]):.3g}); rescale the maps"
        )
    if not any_nan:
        return low, span, None
    if nan_policy == "raise":
        index = int(has_nan.nonzero()[0])
        raise ValueError(
            f"maps[{index}] contains NaN; pass nan_policy='zero' to score a map with NaN as a "
            "constant map (a miss), as the reference evaluation does"
        )
    zero = torch.zeros((), dtype=torch.float64, device=maps.device)
    return torch.where(has_nan, zero, low), torch.where(has_nan, zero, span), has_nan


def quantize_maps(maps: Tensor, *, nan_policy: NanPolicy = "raise") -> Tensor:
    r"""Min-max normalise each map and quantise it as the reference does.

    Computes :math:`q = \lfloor 255 (s - \min s) / (\max s - \min s) \rfloor` in float64 (the
    reference works in float64), with a constant map giving zeros.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` finite scores, any float dtype.
        nan_policy (str, optional): ``"raise"`` rejects a map with NaN; ``"zero"`` quantises
            it to zeros, as the reference's ``normalize_scoremap`` does. Default: ``"raise"``.

    Returns:
        *Tensor* ``(N, H, W)`` int64 in ``[0, 255]``; every non-constant map reaches 255.

    Raises:
        TypeError, ValueError: if ``maps`` is not a floating tensor of those shapes, holds
            infinity, NaN (under ``nan_policy="raise"``) or a range ``max - min`` beyond
            float64.

    Examples::

        >>> quantize_maps(torch.tensor([[[0.0, 1.0], [2.0, 4.0]]]))
        tensor([[[  0,  63],
                 [127, 255]]])
    """
    return _quantize(maps, nan_policy=nan_policy)[0].long()


def _quantize(
    maps: Tensor, with_fraction: bool = False, nan_policy: str = "raise"
) -> tuple[Tensor, Tensor | None]:
    """:func:`quantize_maps` as int32, validating the maps on the way (one pass for both).

    With ``with_fraction``, also the fractional part of :math:`255 s` below the quantised
    level, in ``refinement_bits`` bits: a tie-breaker for pixels of equal level.
    """
    maps = _as_maps(maps, check_finite=False)
    low, span, nan_maps = _map_ranges(maps, nan_policy)
    span = span.view(-1, 1, 1)
    # (s - min) / (max - min) * 255 with the reference's operations and rounding, in float64
    # (a copy: the caller's maps are never touched); a constant map has s - min = 0
    # everywhere and divides by 1 instead of 0.
    normalised = maps.to(torch.float64, copy=True)
    if nan_maps is not None:  # the reference's normalize_scoremap: a NaN map becomes zeros
        normalised.masked_fill_(nan_maps.view(-1, 1, 1), 0.0)
    normalised -= low.view(-1, 1, 1)
    normalised /= torch.where(span > 0, span, 1.0)
    normalised *= 255
    quantized = normalised.to(torch.int32)
    if not with_fraction:
        return quantized, None
    normalised.frac_()  # normalised >= 0: exactly normalised - quantized
    normalised *= 2 ** refinement_bits(maps.shape[1], maps.shape[2])
    return quantized, normalised.to(torch.int32)


def _threshold_levels(thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct levels ``floor(tau * 255)`` (sorted) and each threshold's index among them."""
    levels = torch.floor(thresholds * _LEVELS).long()
    return torch.unique(levels, sorted=True, return_inverse=True)


def _reference_box(box: Tensor, height: int, width: int, pad: int) -> Tensor:
    """The reference box of a region with pixel extents ``box``, grown by ``pad`` pixels.

    ``pad = 0`` for an outer contour; ``pad = 1`` for a hole, whose contour runs through the
    foreground pixels around it. ``cv2.boundingRect`` then adds one pixel to the right and
    bottom, clipped to the image as the reference does.
    """
    x1, y1, x2, y2 = box.unbind(-1)
    return torch.stack(
        [
            x1 - pad,
            y1 - pad,
            torch.clamp(x2 + pad + 1, max=width - 1),
            torch.clamp(y2 + pad + 1, max=height - 1),
        ],
        dim=-1,
    )


class _QuantizedMaps:
    """Quantised maps with their tie-breakers and the background basins, shared by the
    largest-contour and every-contour evaluations of one batch."""

    def __init__(self, quantized: Tensor, fraction: Tensor | None) -> None:
        self.values = quantized
        self.fraction = fraction
        depth_refine = None
        if fraction is not None:
            depth_refine = (2 ** refinement_bits(*quantized.shape[1:]) - 1) - fraction
        # Background (4-connected components of {q <= l}) as superlevel sets of 255 - q.
        self.background_basins = find_basins(_LEVELS - quantized, 4, depth_refine)


def _largest_component_boxes(maps: _QuantizedMaps, levels: Tensor) -> Tensor:
    """Box of the largest contour at every level, ``(N, L, 4)`` int64 (zeros when none)."""
    num_maps, height, width = maps.values.shape
    num_levels = levels.numel()
    device = maps.values.device
    # Contour areas include the holes: components of the hole-filled map.
    filled = fill_holes(maps.values, maps.background_basins)
    refine = maps.fraction
    if refine is not None:  # a filled pit is flat: no tie-breaker, so it drains in one basin
        refine = torch.where(filled > maps.values, 0, refine)
    basins = find_basins(filled, 8, refine)
    components = level_components(filled, levels, 8, with_area=True, basins=basins)
    level, basin = components.is_root.nonzero(as_tuple=True)
    slot = components.map_index[basin] * num_levels + level
    # Largest contour area; ties go to the component found last in raster order, because
    # cv2.findContours lists contours in reverse order of discovery and max() keeps the first.
    score = components.area2[level, basin] * (height * width) + components.first_index[level, basin]
    best = torch.full((num_maps * num_levels,), -1, dtype=torch.long, device=device)
    best.scatter_reduce_(0, slot, score, "amax")
    chosen = score == best[slot]
    boxes = torch.zeros(num_maps * num_levels, 4, dtype=torch.long, device=device)
    boxes[slot[chosen]] = _reference_box(
        components.box[level[chosen], basin[chosen]], height, width, pad=0
    )
    return boxes.view(num_maps, num_levels, 4)


def _best_multi_contour_iou(
    maps: _QuantizedMaps, levels: Tensor, gt_boxes: Tensor, gt_valid: Tensor
) -> Tensor:
    """Best IoU over every contour (outer and hole) at every level, ``(N, L)`` float64."""
    num_maps, height, width = maps.values.shape
    num_levels = levels.numel()
    best = torch.full(
        (num_maps * num_levels,), -1.0, dtype=torch.float64, device=maps.values.device
    )

    def offer(map_index: Tensor, level: Tensor, boxes: Tensor) -> None:
        iou = box_iou(boxes.unsqueeze(1), gt_boxes[map_index])
        iou = torch.where(gt_valid[map_index], iou, -1.0).amax(dim=1)
        best.scatter_reduce_(0, map_index * num_levels + level, iou, "amax")

    basins = find_basins(maps.values, 8, maps.fraction)
    regions = level_components(maps.values, levels, 8, basins=basins)
    level, basin = regions.is_root.nonzero(as_tuple=True)
    offer(
        regions.map_index[basin],
        level,
        _reference_box(regions.box[level, basin], height, width, pad=0),
    )
    # Holes: 4-connected components of {q <= l} = {255 - q > 254 - l} off the image border.
    background_levels = (_LEVELS - 1 - levels).flip(0)
    background = level_components(
        _LEVELS - maps.values,
        background_levels,
        4,
        with_border=True,
        basins=maps.background_basins,
    )
    assert background.border_peak is not None
    is_hole = background.is_root & (background.border_peak <= background_levels.view(-1, 1))
    level, basin = is_hole.nonzero(as_tuple=True)
    offer(
        background.map_index[basin],
        num_levels - 1 - level,
        _reference_box(background.box[level, basin], height, width, pad=1),
    )
    return best.view(num_maps, num_levels)


def _empty_box_iou(gt_boxes: Tensor, gt_valid: Tensor) -> Tensor:
    """IoU of the reference's fallback box ``(0, 0, 0, 0)`` with each image's boxes, ``(N,)``."""
    iou = box_iou(torch.zeros(4, dtype=torch.float64, device=gt_boxes.device), gt_boxes)
    return torch.where(gt_valid, iou, -1.0).amax(dim=1)


def _best_ious(
    maps: _QuantizedMaps,
    levels: Tensor,
    gt_boxes: Tensor,
    gt_valid: Tensor,
    *,
    largest: bool,
    every: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """Best IoU per (map, level) for the largest contour and for every contour."""
    has_foreground = maps.values.amax(dim=(1, 2)).view(-1, 1) > levels.view(1, -1)
    fallback = _empty_box_iou(gt_boxes, gt_valid).view(-1, 1)
    largest_iou = every_iou = None
    if largest:
        boxes = _largest_component_boxes(maps, levels)
        iou = box_iou(boxes.unsqueeze(2), gt_boxes.unsqueeze(1))
        iou = torch.where(gt_valid.unsqueeze(1), iou, -1.0).amax(dim=2)
        largest_iou = torch.where(has_foreground, iou, fallback)
    if every:
        iou = _best_multi_contour_iou(maps, levels, gt_boxes, gt_valid)
        every_iou = torch.where(has_foreground, iou, fallback)
    return largest_iou, every_iou


def _map_groups(maps: _QuantizedMaps, num_levels: int) -> list[slice]:
    """Consecutive groups of maps whose (levels x basins) work stays within a budget.

    Smooth maps have a few basins each and form one group. Noisy maps (raw gradients, say)
    have thousands, and the per-level labels cost ``levels x basins``: they are evaluated a
    few maps at a time to bound the memory.
    """
    num_maps = maps.values.shape[0]
    per_map = torch.bincount(maps.background_basins.map_index, minlength=num_maps)
    cost = ((per_map + 1) * (num_levels + 1)).tolist()
    if sum(cost) <= _LEVEL_BASIN_BUDGET:
        return [slice(0, num_maps)]
    groups, start, total = [], 0, 0
    for index, item in enumerate(cost):
        if total and total + item > _LEVEL_BASIN_BUDGET:
            groups.append(slice(start, index))
            start, total = index, 0
        total += item
    return [*groups, slice(start, num_maps)]


def _best_iou_per_threshold(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    thresholds: Tensor | Sequence[float],
    *,
    largest: bool,
    every: bool,
    nan_policy: str = "raise",
) -> tuple[Tensor | None, Tensor | None]:
    """Validate the inputs; best IoU ``(N, T)`` of the largest contour and of every contour."""
    _check_nan_policy(nan_policy)
    maps = _as_maps(maps, check_finite=False)  # _quantize checks it
    num_maps, height, width = maps.shape
    device = maps.device
    taus = _as_unit_interval(thresholds, "thresholds", device)
    padded, valid = as_ground_truth_boxes(gt_boxes, num_maps, height, width, device=device)
    levels, level_index = _threshold_levels(taus)
    quantized, fraction = _quantize(maps, with_fraction=True, nan_policy=nan_policy)
    everything = _QuantizedMaps(quantized, fraction)
    groups = _map_groups(everything, levels.numel())
    results = []
    for group in groups:  # one group unless the maps are very noisy
        subset = (
            everything
            if len(groups) == 1
            else _QuantizedMaps(quantized[group], None if fraction is None else fraction[group])
        )
        results.append(
            _best_ious(subset, levels, padded[group], valid[group], largest=largest, every=every)
        )
    largest_iou = torch.cat([r[0] for r in results]) if largest else None
    every_iou = torch.cat([r[1] for r in results]) if every else None
    return (
        None if largest_iou is None else largest_iou[:, level_index],
        None if every_iou is None else every_iou[:, level_index],
    )


def box_hits(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    thresholds: Tensor | Sequence[float],
    iou_thresholds: Tensor | Sequence[float] = (0.5,),
    multi_contour: bool = False,
    *,
    nan_policy: NanPolicy = "raise",
) -> Tensor:
    r"""Per-image hits of the WSOL box protocol at every (IoU threshold, map threshold).

    ``box_hits(...).double().mean(0)`` is :func:`box_accuracy`; keeping the per-image hits
    lets a caller combine them with other per-image conditions (top-1 correctness, subsets).
    In the example the region spans pixels 3..6 by 2..4, but its box is ``(3, 2, 7, 5)``
    (the reference's ``x + w`` convention), so its IoU with the exact box is 0.6.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at image resolution, any
            float dtype and device; each map is min-max normalised on its own.
        gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` ground-truth boxes
            ``(x1, y1, x2, y2)`` in inclusive pixel coordinates inside the ``W x H`` image
            (see :func:`~captum_infocam.localization.as_ground_truth_boxes`).
        thresholds (Tensor or sequence of float): ``(T,)`` map thresholds :math:`\tau` in
            ``[0, 1]``, e.g. :func:`threshold_grid`.
        iou_thresholds (Tensor or sequence of float, optional): ``(D,)`` IoU thresholds
            :math:`\delta` in ``[0, 1]``. Default: ``(0.5,)``.
        multi_contour (bool, optional): ``False`` keeps the box of the largest contour
            (MaxBoxAcc); ``True`` keeps the boxes of all contours (MaxBoxAccV2).
            Default: ``False``.
        nan_policy (str, optional): ``"raise"`` rejects a map holding NaN; ``"zero"`` scores
            it as a zero map (the empty box at every threshold, so a miss unless a
            ground-truth box is the corner pixel), as the reference's ``normalize_scoremap``
            does; use it when one bad map must not stop a long evaluation.
            Default: ``"raise"``.

    Returns:
        *Tensor* ``(N, D, T)`` bool on the maps' device.

    Raises:
        TypeError: if ``maps`` is not a floating tensor or ``multi_contour`` not a bool
            (Python or NumPy).
        ValueError: on a wrong shape, infinite maps, NaN (under ``nan_policy="raise"``), a
            range ``max - min`` beyond float64, thresholds outside ``[0, 1]``, or a box that
            is malformed, outside the image, or for the wrong number of images.

    Examples::

        >>> maps = torch.zeros(1, 8, 8)
        >>> maps[0, 2:5, 3:7] = 1.0
        >>> box_hits(maps, [torch.tensor([[3, 2, 6, 4]])], [0.5], iou_thresholds=[0.5, 0.7])
        tensor([[[ True],
                 [False]]])
    """
    if isinstance(multi_contour, np.bool_):
        multi_contour = bool(multi_contour)
    if not isinstance(multi_contour, bool):
        raise TypeError(
            f"multi_contour must be a bool, got {type(multi_contour).__module__}."
            f"{type(multi_contour).__qualname__}"
        )
    deltas = _as_unit_interval(iou_thresholds, "iou_thresholds", torch.device("cpu"))
    largest_iou, every_iou = _best_iou_per_threshold(
        maps,
        gt_boxes,
        thresholds,
        largest=not multi_contour,
        every=multi_contour,
        nan_policy=nan_policy,
    )
    best_iou = every_iou if multi_contour else largest_iou
    assert best_iou is not None
    return best_iou.unsqueeze(1) >= deltas.to(best_iou.device).view(1, -1, 1)


def box_accuracy(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    thresholds: Tensor | Sequence[float],
    iou_thresholds: Tensor | Sequence[float] = (0.5,),
    multi_contour: bool = False,
    *,
    nan_policy: NanPolicy = "raise",
) -> Tensor:
    r"""BoxAcc of a batch of maps at every (IoU threshold, map threshold).

    Follows the protocol of Choe et al. (CVPR 2020) to the pixel: see the module
    documentation for the conventions. ``box_accuracy(...).amax(dim=1)`` is MaxBoxAcc per
    IoU threshold; with ``multi_contour=True`` and ``iou_thresholds=(0.3, 0.5, 0.7)`` its mean
    is MaxBoxAccV2. For a dataset, accumulate with
    :class:`captum_infocam.localization.BoxLocalizationMetrics` instead.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at image resolution.
        gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` inclusive boxes
            ``(x1, y1, x2, y2)``; an image is a hit if its box matches any of them.
        thresholds (Tensor or sequence of float): ``(T,)`` map thresholds in ``[0, 1]``.
        iou_thresholds (Tensor or sequence of float, optional): ``(D,)`` IoU thresholds in
            ``[0, 1]``. Default: ``(0.5,)``.
        multi_contour (bool, optional): keep every contour's box (MaxBoxAccV2) instead of
            the largest one's (MaxBoxAcc). Default: ``False``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"``; see :func:`box_hits`.
            Default: ``"raise"``.

    Returns:
        *Tensor* ``(D, T)`` float64 in ``[0, 1]``.

    Raises:
        TypeError, ValueError: see :func:`box_hits`.

    Examples::

        >>> maps = torch.zeros(2, 8, 8)
        >>> maps[0, 2:5, 3:7] = 1.0
        >>> maps[1, 0:2, 0:2] = 1.0
        >>> boxes = torch.tensor([[3, 2, 6, 4], [3, 2, 6, 4]])
        >>> box_accuracy(maps, boxes, threshold_grid(2))
        tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """
    hits = box_hits(
        maps, gt_boxes, thresholds, iou_thresholds, multi_contour, nan_policy=nan_policy
    )
    return hits.double().mean(0)


def boxes_from_maps(
    maps: Tensor, thresholds: Tensor | Sequence[float], *, nan_policy: NanPolicy = "raise"
) -> Tensor:
    r"""The box of the largest contour of each map at each threshold, as the reference draws it.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at image resolution.
        thresholds (Tensor or sequence of float): ``(T,)`` map thresholds in ``[0, 1]``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"`` (a map with NaN draws the
            empty box); see :func:`box_hits`. Default: ``"raise"``.

    Returns:
        *Tensor* ``(N, T, 4)`` int64 boxes ``(x1, y1, x2, y2)``; ``(0, 0, 0, 0)`` where no
        pixel passes the threshold. Like the reference, ``x2`` and ``y2`` are one past the
        region's last pixel (clipped to the image).

    Examples::

        >>> maps = torch.zeros(1, 8, 8)
        >>> maps[0, 2:5, 3:7] = 1.0
        >>> boxes_from_maps(maps, [0.5])
        tensor([[[3, 2, 7, 5]]])
    """
    maps = _as_maps(maps, check_finite=False)  # _quantize checks it
    taus = _as_unit_interval(thresholds, "thresholds", maps.device)
    levels, level_index = _threshold_levels(taus)
    quantized = _QuantizedMaps(*_quantize(maps, with_fraction=True, nan_policy=nan_policy))
    return _largest_component_boxes(quantized, levels)[:, level_index]
