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
distinct binary masks, and those are nested. The contour area is computed exactly from 2x2
pixel windows of the hole-filled map, and hole contours from the 4-connected components of
the background. There is no loop over thresholds: the components of every level come out of
one pass over the pixels, so the cost hardly depends on the number of thresholds. Two
implementations compute the same thing, and the tests hold them equal at every level:

* **On the CPU, a native kernel** (``localization/_contours.c``, plain C99 compiled on first use
  with the system's C compiler and cached; see ``_contours``): the pixels are sorted by level
  once and switched on level after level in a union-find forest, after a grayscale hole
  filling by reconstruction. ``CAPTUM_INFOCAM_NATIVE=0`` turns it off; where it cannot be
  built (no compiler), the torch implementation is used and a warning is logged once.
* **On other devices, the torch implementation** (steepest-ascent basins, then a per-level
  labelling of the small basin graph; see ``captum_infocam.localization._level_components``):
  maps are batched and the same code runs on CPU and CUDA. Its cost grows with the number of
  local maxima of the maps, so very noisy maps (raw gradients, say) are evaluated a few at a
  time to bound the memory.

On the CPU the batch is taken in equal chunks of at most about a million pixels, so that each
chunk's passes stay in the caches, and the evaluation runs on one intra-op thread (the
caller's thread count is restored afterwards): the torch implementation is a chain of many
small operations, which a second thread sped up by 1.2x to 1.5x on a quiet two-core machine
but slowed down ten times and more when another process kept one of the cores busy; the
native kernel is single-threaded, and releases the GIL, so threads of the caller can evaluate
batches at once.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from captum_infocam._deprecation import renamed_attributes
from captum_infocam._validation import check_int
from captum_infocam.localization import _contours
from captum_infocam.localization._inputs import (
    as_maps,
    as_unit_interval,
    check_nan_policy,
    map_ranges,
)
from captum_infocam.localization._level_components import (
    Basins,
    _fill_holes,
    _find_basins,
    _level_components,
    refinement_bits,
)
from captum_infocam.localization.boxes import GroundTruthBoxes, as_ground_truth_boxes, box_iou

__all__ = [
    "BestBoxIoU",
    "NanPolicy",
    "best_box_iou",
    "box_accuracy",
    "box_hits",
    "quantize_maps",
    "reference_boxes_from_maps",
    "threshold_grid",
]

NanPolicy = Literal["raise", "zero"]
"""What to do with a map holding NaN: ``"raise"`` an error, or score it as a ``"zero"`` map."""

_LEVELS = 255
_LEVEL_BASIN_BUDGET = 2**22  # (levels x basins) entries evaluated at once, about 32 MiB each
# Pixels per chunk of maps on the CPU: the dense passes of a chunk stay in the caches and
# the allocator reuses its memory instead of returning it and faulting it back in.
_CPU_CHUNK_PIXELS = 2**20


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
    return _quantize_fine(maps, with_fraction=False, nan_policy=nan_policy)[0].long()


def _quantize_fine(
    maps: Tensor, with_fraction: bool = True, nan_policy: str = "raise"
) -> tuple[Tensor, int]:
    r"""The quantised maps with their tie-breakers in the low bits, ``(q << bits) | fraction``,
    validating the maps on the way (one pass for both).

    Returns ``(fine, bits)``: ``fine`` ``(N, H, W)`` int32 is :math:`\lfloor 255 s \cdot
    2^{bits} \rfloor`, so ``fine >> bits`` is :func:`quantize_maps` and the low ``bits`` are
    the fractional part of :math:`255 s` (``bits = 0`` without ``with_fraction``).
    """
    maps = as_maps(maps, check_finite=False)
    low, span, nan_maps = map_ranges(maps, nan_policy)
    span = span.view(-1, 1, 1)
    bits = refinement_bits(maps.shape[1], maps.shape[2]) if with_fraction else 0
    # (s - min) / (max - min) * 255 with the reference's operations and rounding, in float64
    # (a copy: the caller's maps are never touched); a constant map has s - min = 0
    # everywhere and divides by 1 instead of 0. Scaling by 255 * 2**bits rounds exactly as
    # scaling by 255 does (a power of two is exact), so the integer part of the product
    # carries the level and the fraction's first bits at once.
    divisor = torch.where(span > 0, span, 1.0)
    fine = torch.empty(maps.shape, dtype=torch.int32, device=maps.device)
    # By chunks of maps on the CPU, in one float64 buffer: a temporary of the whole batch
    # (25 MB for 64 maps of 224 x 224) was mapped fresh and faulted in at every call, which
    # cost six times the arithmetic. The maps are widened by a copy and then shifted in
    # place: a subtraction of mixed dtypes runs five times slower.
    chunks = _chunks(maps)
    most = max((chunk.stop - chunk.start for chunk in chunks), default=0)
    scratch = torch.empty((most, *maps.shape[1:]), dtype=torch.float64, device=maps.device)
    for chunk in chunks:
        normalised = scratch[: chunk.stop - chunk.start].copy_(maps[chunk])
        normalised -= low[chunk].view(-1, 1, 1)
        if nan_maps is not None:  # the reference's normalize_scoremap: a NaN map becomes zeros
            normalised.masked_fill_(nan_maps[chunk].view(-1, 1, 1), 0.0)
        normalised /= divisor[chunk]
        normalised *= _LEVELS * 2**bits
        fine[chunk] = normalised
    return fine, bits


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
    """Quantised maps, shared by the largest-contour and every-contour evaluations of a batch.

    Built from the ``fine`` values ``(q << bits) | fraction`` of :func:`_quantize_fine`. With
    ``native``, the maps are evaluated by the native CPU kernel (:mod:`._contours`), which
    needs no tie-breaker (``bits`` is 0); otherwise by the torch implementation, which builds
    the background basins once for both evaluations.
    """

    def __init__(self, fine: Tensor, bits: int, native: bool = False) -> None:
        if native and bits != 0:
            raise ValueError("the native kernel takes the quantised maps without tie-breakers")
        self.fine, self.bits, self.native = fine, bits, native

    @functools.cached_property
    def depth(self) -> Tensor:
        """Background (4-connected components of {q <= l}) as superlevel sets of 255 - q, with
        the tie-breaker reversed too: ``((255 - q) << bits) | (2**bits - 1 - fraction)``, the
        fine values of ``255 - q``."""
        return ((_LEVELS + 1) << self.bits) - 1 - self.fine

    @functools.cached_property
    def background_basins(self) -> Basins:
        return _find_basins(self.depth, self.bits, 4)

    @functools.cached_property
    def native_filled(self) -> Tensor:
        """The hole-filled maps in the native kernel's layout (:func:`._contours.fill_holes`)."""
        return _contours.fill_holes(self.fine)

    def __getitem__(self, group: slice) -> _QuantizedMaps:
        return _QuantizedMaps(self.fine[group], self.bits, self.native)

    def has_foreground(self, levels: Tensor) -> Tensor:
        """``(N, L)`` bool: some pixel of the map is above the level."""
        peak = self.fine.amax(dim=(1, 2)) >> self.bits
        return peak.view(-1, 1) > levels.view(1, -1)


def _quantized_chunks(maps: Tensor, nan_policy: str) -> Iterator[tuple[slice, _QuantizedMaps]]:
    """The maps quantised (validating them), in cache-sized chunks of consecutive maps, each
    ready for the native kernel on the CPU when it is available, else for the torch one."""
    native = _contours.available(maps.device, *maps.shape[-2:])
    fine, bits = _quantize_fine(maps, with_fraction=not native, nan_policy=nan_policy)
    for chunk in _chunks(fine):
        yield chunk, _QuantizedMaps(fine[chunk], bits, native)


def _largest_component_boxes(maps: _QuantizedMaps, levels: Tensor) -> Tensor:
    """Box of the largest contour at every level, ``(N, L, 4)`` int64 (zeros when none)."""
    num_maps, height, width = maps.fine.shape
    num_levels = levels.numel()
    device = maps.fine.device
    if maps.native:
        extents, _ = _contours.box_protocol(maps.fine, maps.native_filled, levels, largest=True)
        assert extents is not None
        boxes = _reference_box(extents.long(), height, width, pad=0)
        return torch.where(maps.has_foreground(levels).unsqueeze(2), boxes, 0)
    # Contour areas include the holes: components of the hole-filled map (a filled pit is
    # flat, with no tie-breaker, so it drains into one basin).
    filled = _fill_holes(maps.fine, maps.bits, maps.background_basins)
    basins = _find_basins(filled, maps.bits, 8)
    components = _level_components(filled, maps.bits, levels, basins, with_area=True, first="order")
    assert components.area2 is not None
    level, basin = components.is_root.nonzero(as_tuple=True)
    slot = components.map_index[basin] * num_levels + level
    # Largest contour area; ties go to the component found last in raster order, because
    # cv2.findContours lists contours in reverse order of discovery and max() keeps the first
    # (the first index is a key in raster order of the first pixels, below (H + 1) * (W + 1)).
    order = components.first(level, basin)
    score = components.area2[level, basin] * ((height + 1) * (width + 1)) + order
    best = torch.full((num_maps * num_levels,), -1, dtype=torch.long, device=device)
    best.scatter_reduce_(0, slot, score, "amax")
    chosen = score == best[slot]
    boxes = torch.zeros(num_maps * num_levels, 4, dtype=torch.long, device=device)
    boxes[slot[chosen]] = _reference_box(
        components.boxes(level[chosen], basin[chosen]), height, width, pad=0
    )
    return boxes.view(num_maps, num_levels, 4)


def _every_contour_boxes(maps: _QuantizedMaps, levels: Tensor) -> tuple[Tensor, Tensor]:
    """Every contour's box (outer and hole) at every level: ``(slots, boxes)``, ``(K,)`` and
    ``(K, 4)``, where ``slot = map * L + level`` (the torch implementation)."""
    height, width = maps.fine.shape[1:]
    num_levels = levels.numel()
    basins = _find_basins(maps.fine, maps.bits, 8)
    regions = _level_components(maps.fine, maps.bits, levels, basins)
    level, basin = regions.is_root.nonzero(as_tuple=True)
    slots = [regions.map_index[basin] * num_levels + level]
    boxes = [_reference_box(regions.boxes(level, basin), height, width, pad=0)]
    # Holes: 4-connected components of {q <= l} = {255 - q > 254 - l} off the image border.
    background_levels = (_LEVELS - 1 - levels).flip(0)
    background = _level_components(
        maps.depth,
        maps.bits,
        background_levels,
        maps.background_basins,
        with_border=True,
        holes_only=True,
    )
    level, basin = background.is_root.nonzero(as_tuple=True)
    slots.append(background.map_index[basin] * num_levels + (num_levels - 1 - level))
    boxes.append(_reference_box(background.boxes(level, basin), height, width, pad=1))
    return torch.cat(slots), torch.cat(boxes)


def _best_largest_contour_iou(
    maps: _QuantizedMaps, levels: Tensor, gt_boxes: Tensor, gt_valid: Tensor
) -> Tensor:
    """Best IoU of the largest contour's box at every level, ``(N, L)`` float64."""
    boxes = _largest_component_boxes(maps, levels)
    iou = box_iou(boxes.unsqueeze(2), gt_boxes.unsqueeze(1))
    return torch.where(gt_valid.unsqueeze(1), iou, -1.0).amax(dim=2)


def _best_multi_contour_iou(
    maps: _QuantizedMaps, levels: Tensor, gt_boxes: Tensor, gt_valid: Tensor
) -> Tensor:
    """Best IoU over every contour (outer and hole) at every level, ``(N, L)`` float64.

    Every contour's box meets its image's ground truth in one IoU computation, and one
    scatter keeps the best per (map, level); -1 where a level has no contour.
    """
    if maps.native:
        _, iou = _contours.box_protocol(
            maps.fine,
            maps.native_filled,
            levels,
            largest=False,
            gt_boxes=gt_boxes,
            gt_valid=gt_valid,
        )
        assert iou is not None
        return iou
    num_maps, num_levels = maps.fine.shape[0], levels.numel()
    slots, boxes = _every_contour_boxes(maps, levels)
    image = slots // num_levels
    iou = box_iou(boxes.unsqueeze(1), gt_boxes.index_select(0, image))
    iou = torch.where(gt_valid.index_select(0, image), iou, -1.0).amax(dim=1)
    best = torch.full((num_maps * num_levels,), -1.0, dtype=torch.float64, device=maps.fine.device)
    best.scatter_reduce_(0, slots, iou, "amax")
    return best.view(num_maps, num_levels)


def _empty_box_iou(gt_boxes: Tensor, gt_valid: Tensor) -> Tensor:
    """IoU of the reference's fallback box ``(0, 0, 0, 0)`` with each image's boxes, ``(N,)``."""
    iou = box_iou(torch.zeros(4, dtype=torch.float64, device=gt_boxes.device), gt_boxes)
    return torch.where(gt_valid, iou, -1.0).amax(dim=1)


_ContourRule = Callable[[_QuantizedMaps, Tensor, Tensor, Tensor], Tensor]
"""Best IoU ``(N, L)`` of the boxes one rule keeps: :func:`_best_largest_contour_iou`
(MaxBoxAcc) or :func:`_best_multi_contour_iou` (MaxBoxAccV2)."""


def _best_ious(
    maps: _QuantizedMaps,
    levels: Tensor,
    gt_boxes: Tensor,
    gt_valid: Tensor,
    rules: Sequence[_ContourRule],
) -> list[Tensor]:
    """For each contour rule, the best IoU ``(N, L)`` of each map at each level; a level with
    no pixel above it scores the reference's fallback box ``(0, 0, 0, 0)``."""
    has_foreground = maps.has_foreground(levels)
    fallback = _empty_box_iou(gt_boxes, gt_valid).view(-1, 1)
    return [
        torch.where(has_foreground, rule(maps, levels, gt_boxes, gt_valid), fallback)
        for rule in rules
    ]


def _map_groups(maps: _QuantizedMaps, num_levels: int) -> list[slice]:
    """Consecutive groups of maps whose (levels x basins) work stays within a budget.

    Smooth maps have a few basins each and form one group. Noisy maps (raw gradients, say)
    have thousands, and the per-level labels cost ``levels x basins``: they are evaluated a
    few maps at a time to bound the memory.
    """
    num_maps = maps.fine.shape[0]
    if maps.native:  # the kernel's memory does not grow with the basins
        return [slice(0, num_maps)]
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


@contextlib.contextmanager
def _one_intra_op_thread(device: torch.device) -> Iterator[None]:
    """Run the CPU evaluation on one intra-op thread, then restore the caller's count.

    The evaluation is a chain of several hundred small tensor operations per chunk of maps
    (tens of microseconds each, memory-bound). With more threads, every operation over more
    than 32768 elements forks an OpenMP team and joins it at a barrier. On a quiet two-core
    machine this gained 1.2x to 1.5x (the operations are too small to split well), but when
    a core is busy elsewhere, OpenMP's spin-waiting threads take the time slice that the
    working thread needs, and each barrier waits for the scheduler: 10 to 20
    times slower with two threads than with one beside one busy process on two cores,
    while ``OMP_WAIT_POLICY=passive`` (no spinning, which a library cannot set once OpenMP
    has started) made two threads as fast as one. One thread per evaluation removes the
    barriers, so the time no longer depends on the thread count, and a busy core elsewhere
    costs only its share of the machine. ``torch.set_num_threads`` applies to the calling
    thread (and to threads that start torch afterwards); it is restored on exit, also after
    an error.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _chunks(maps: Tensor) -> list[slice]:
    """Consecutive chunks of a batch ``(N, H, W)``: cache-sized on the CPU, one elsewhere."""
    num_maps, height, width = maps.shape
    size = num_maps
    if maps.device.type == "cpu":  # chunks of equal size, none above the budget
        most = max(1, _CPU_CHUNK_PIXELS // (height * width))
        size = -(-num_maps // -(-num_maps // most))
    return [slice(start, min(start + size, num_maps)) for start in range(0, num_maps, size)]


def _best_iou_per_threshold(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    thresholds: Tensor | Sequence[float],
    rules: Sequence[_ContourRule],
    nan_policy: str = "raise",
) -> list[Tensor]:
    """Validate the inputs; for each contour rule, the best IoU ``(N, T)`` of each image at
    each threshold. The maps are quantised once for all the rules."""
    check_nan_policy(nan_policy)
    maps = as_maps(maps, check_finite=False)  # _quantize_fine checks it
    num_maps, height, width = maps.shape
    device = maps.device
    taus = as_unit_interval(thresholds, "thresholds", device)
    padded, valid = as_ground_truth_boxes(gt_boxes, num_maps, height, width, device=device)
    levels, level_index = _threshold_levels(taus)
    with _one_intra_op_thread(device):
        best = _chunked_best_ious(maps, padded, valid, levels, rules, nan_policy)
    return [iou[:, level_index] for iou in best]


def _chunked_best_ious(
    maps: Tensor,
    padded: Tensor,
    valid: Tensor,
    levels: Tensor,
    rules: Sequence[_ContourRule],
    nan_policy: str,
) -> list[Tensor]:
    """For each contour rule, the best IoU ``(N, L)`` per (map, level), by chunks of maps."""
    results: list[list[Tensor]] = [[] for _ in rules]
    for chunk, everything in _quantized_chunks(maps, nan_policy):
        groups = _map_groups(everything, levels.numel())
        for group in groups:  # one group unless the maps are very noisy
            subset = everything if len(groups) == 1 else everything[group]
            start, stop = chunk.start + group.start, chunk.start + group.stop
            best = _best_ious(subset, levels, padded[start:stop], valid[start:stop], rules)
            for result, iou in zip(results, best, strict=True):
                result.append(iou)
    return [torch.cat(result) for result in results]


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
    (the reference's ``x + w`` convention, see :func:`reference_boxes_from_maps`), so its
    IoU with the exact box is 0.6.

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
    deltas = as_unit_interval(iou_thresholds, "iou_thresholds", torch.device("cpu"))
    rule = _best_multi_contour_iou if multi_contour else _best_largest_contour_iou
    (best_iou,) = _best_iou_per_threshold(maps, gt_boxes, thresholds, [rule], nan_policy)
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


class BestBoxIoU(NamedTuple):
    """The best IoU of each image at each map threshold, under both contour rules.

    Attributes:
        largest_contour (Tensor): ``(N, T)`` float64, the IoU of the largest contour's box
            with the closest ground-truth box (MaxBoxAcc's rule).
        every_contour (Tensor): ``(N, T)`` float64, the best IoU over every contour's box
            (MaxBoxAccV2's rule).

    Examples::

        >>> iou = BestBoxIoU(torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3))
        >>> (iou.every_contour >= 0.5).double().mean(0)
        tensor([1., 1., 1.], dtype=torch.float64)
    """

    largest_contour: Tensor
    every_contour: Tensor


def best_box_iou(
    maps: Tensor,
    gt_boxes: GroundTruthBoxes,
    thresholds: Tensor | Sequence[float],
    *,
    nan_policy: NanPolicy = "raise",
) -> BestBoxIoU:
    r"""The best IoU of each image at each map threshold, for both contour rules in one pass.

    :func:`box_hits` compares one of these with IoU thresholds; this function keeps the IoU
    itself, for both the largest contour (MaxBoxAcc) and every contour (MaxBoxAccV2), from
    one quantisation of the maps. :class:`~captum_infocam.localization.BoxLocalizationMetrics`
    accumulates it over a dataset.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at image resolution.
        gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` inclusive boxes
            ``(x1, y1, x2, y2)``; each image's best IoU is over all of them.
        thresholds (Tensor or sequence of float): ``(T,)`` map thresholds in ``[0, 1]``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"``; see :func:`box_hits`.
            Default: ``"raise"``.

    Returns:
        *BestBoxIoU* ``(largest_contour, every_contour)``, each ``(N, T)`` float64 in
        ``[0, 1]`` on the maps' device.

    Raises:
        TypeError, ValueError: see :func:`box_hits`.

    Examples::

        >>> maps = torch.zeros(1, 10, 10)
        >>> maps[0, 0:4, 0:6] = 1.0  # a large blob
        >>> maps[0, 6:9, 6:9] = 1.0  # the object, smaller
        >>> iou = best_box_iou(maps, [torch.tensor([[6, 6, 8, 8]])], [0.5])
        >>> iou.largest_contour, iou.every_contour
        (tensor([[0.]], dtype=torch.float64), tensor([[0.5625]], dtype=torch.float64))
    """
    largest, every = _best_iou_per_threshold(
        maps,
        gt_boxes,
        thresholds,
        [_best_largest_contour_iou, _best_multi_contour_iou],
        nan_policy,
    )
    return BestBoxIoU(largest, every)


def reference_boxes_from_maps(
    maps: Tensor, thresholds: Tensor | Sequence[float], *, nan_policy: NanPolicy = "raise"
) -> Tensor:
    r"""The box of the largest contour of each map at each threshold, in the reference's
    one-past-the-end convention.

    The boxes the WSOL reference evaluation draws (``cv2.boundingRect``: ``x + w``, ``y + h``),
    which :func:`box_hits` scores: unlike every other box of this package, which is inclusive,
    ``x2`` and ``y2`` are one past the region's last pixel, clipped to the image. Use them as
    the protocol's predicted boxes; the region itself spans ``x1 .. x2 - 1`` except on the
    right and bottom borders. (Formerly ``boxes_from_maps``, kept as a deprecated alias for
    one release.)

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
        >>> reference_boxes_from_maps(maps, [0.5])  # the region spans pixels (3, 2)..(6, 4)
        tensor([[[3, 2, 7, 5]]])
    """
    maps = as_maps(maps, check_finite=False)  # _quantize_fine checks it
    taus = as_unit_interval(thresholds, "thresholds", maps.device)
    levels, level_index = _threshold_levels(taus)
    with _one_intra_op_thread(maps.device):
        boxes = [
            _largest_component_boxes(quantized, levels)
            for _, quantized in _quantized_chunks(maps, nan_policy)
        ]
    return torch.cat(boxes)[:, level_index]


__getattr__ = renamed_attributes(
    __name__,
    {"boxes_from_maps": (f"{__name__}.reference_boxes_from_maps", reference_boxes_from_maps)},
)
