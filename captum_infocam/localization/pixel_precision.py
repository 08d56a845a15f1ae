r"""PxAP: area under the pixel precision-recall curve of maps against foreground masks.

The mask protocol of Choe et al. (CVPR 2020): every map is min-max normalised to
:math:`[0, 1]` (not quantised), the scores of foreground and background pixels are
histogrammed over the thresholds, and precision and recall at each threshold are read off
the reversed cumulative histograms. With thresholds :math:`\tau_1 < \dots < \tau_T`,

.. math::

    \mathrm{PxAP} = \sum_{k} P(\tau_k) \, \big(R(\tau_k) - R(\tau_{k+1})\big),

the step-wise area under the precision-recall curve (average precision), summed over the
thresholds where something is predicted. Background pixels marked *ignore* (the reference's
value 255) count for neither class; foreground pixels count even inside an ignore region, as
the reference's ``get_mask`` ignores ``ignore_box & ~foreground``. As in the reference, the
histogram edges are the thresholds followed by ``1, 2, 3``, so a score below the first
threshold is dropped.

Histograms are additive, so :class:`PixelAveragePrecision` accumulates them over a dataset
(a :class:`torchmetrics.Metric`, summed over processes) with the same two steps as
:func:`pixel_average_precision`: :func:`pixel_score_histograms` per batch, then the area.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from captum_infocam._metrics import SumStateMetric
from captum_infocam.localization._inputs import (
    as_histogram_edges,
    as_maps,
    as_masks,
    check_nan_policy,
    map_ranges,
)
from captum_infocam.localization.box_protocol import NanPolicy, threshold_grid

__all__ = [
    "PixelAveragePrecision",
    "histogram_average_precision",
    "pixel_average_precision",
    "pixel_score_histograms",
]


def pixel_score_histograms(
    maps: Tensor,
    masks: Tensor,
    thresholds: Tensor | Sequence[float] | None = None,
    ignore: Tensor | None = None,
    *,
    nan_policy: NanPolicy = "raise",
    per_image: bool = False,
) -> Tensor:
    r"""Histograms of the normalised scores of foreground and background pixels.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at mask resolution.
        masks (Tensor): foreground masks of the maps' shape, bool or 0/1 integers, on any
            device (moved to the maps').
        thresholds (Tensor or sequence of float, optional): strictly increasing thresholds
            in ``[0, 1)``. Default: ``threshold_grid(1000)``.
        ignore (Tensor, optional): bool mask of the maps' shape; true *background* pixels
            are skipped (foreground pixels always count). Default: None.
        nan_policy (str, optional): ``"raise"`` rejects a map holding NaN; ``"zero"`` scores
            it as zeros, as the reference's ``normalize_scoremap`` does. Default: ``"raise"``.
        per_image (bool, optional): keep one pair of histograms per image, ``(N, 2, T + 2)``,
            whose sum over the images is the default result (for per-image scores, or to
            resample images in a bootstrap). Default: False.

    Returns:
        *Tensor* ``(2, T + 2)`` int64 (``(N, 2, T + 2)`` with ``per_image``): row 0 the
        foreground counts, row 1 the background counts, over the bins
        ``[tau_1, tau_2), ..., [tau_T, 1), [1, 2), [2, 3]``.

    Raises:
        TypeError, ValueError: on bad maps, masks or thresholds.

    Examples::

        >>> maps = torch.tensor([[[0.0, 0.4], [0.6, 1.0]]])
        >>> pixel_score_histograms(maps, maps > 0.5, [0.0, 0.5])
        tensor([[0, 1, 1, 0],
                [2, 0, 0, 0]])
    """
    return _score_histograms(
        maps, masks, ignore, nan_policy, thresholds=thresholds, per_image=per_image
    )


def _score_histograms(
    maps: Tensor,
    masks: Tensor,
    ignore: Tensor | None,
    nan_policy: str,
    *,
    thresholds: Tensor | Sequence[float] | None = None,
    edges: Tensor | None = None,
    per_image: bool = False,
) -> Tensor:
    """:func:`pixel_score_histograms`, or with ``edges`` already validated by
    :func:`as_histogram_edges` (a metric's, checked once, not at every batch)."""
    maps = as_maps(maps, check_finite=False)  # map_ranges checks it
    masks = as_masks(masks, maps.shape, "masks", maps.device)
    counted = torch.ones_like(masks)
    if ignore is not None:
        # The reference's get_mask: only background pixels inside ignore boxes are left out.
        counted = masks | ~as_masks(ignore, maps.shape, "ignore", maps.device)
    if edges is None:
        taus = threshold_grid() if thresholds is None else thresholds
        edges = as_histogram_edges(taus, maps.device)
    edges = edges.to(maps.device)  # a metric's edges live on the CPU
    low, span, nan_maps = map_ranges(maps, nan_policy)
    shifted = maps.to(torch.float64, copy=True)  # never touch the caller's maps
    if nan_maps is not None:  # the reference's normalize_scoremap: a NaN map becomes zeros
        shifted.masked_fill_(nan_maps.view(-1, 1, 1), 0.0)
    shifted -= low.view(-1, 1, 1)
    span = span.view(-1, 1, 1)
    scores = torch.where(span > 0, shifted / torch.where(span > 0, span, 1.0), 0.0)
    num_bins = edges.numel() - 1
    # numpy.histogram bins: [e_i, e_{i+1}), the last one closed; below e_0 is dropped.
    bins = torch.searchsorted(edges, scores.reshape(-1), right=True) - 1
    bins = torch.where(scores.reshape(-1) == edges[-1], num_bins - 1, bins)
    counted = counted.reshape(-1) & (bins >= 0)
    slot = bins.clamp(min=0) + num_bins * (~masks.reshape(-1)).long()
    num_images = maps.shape[0] if per_image else 1
    if per_image:  # each image's own pair of histograms
        image = torch.arange(num_images, device=maps.device).view(-1, 1)
        slot.view(num_images, -1).add_(image * (2 * num_bins))
    counts = torch.bincount(slot[counted], minlength=num_images * 2 * num_bins)
    return counts.view(num_images, 2, num_bins) if per_image else counts.view(2, num_bins)


def histogram_average_precision(histograms: Tensor) -> Tensor:
    r"""PxAP from score histograms: the area under their pixel precision-recall curve.

    The second step of :func:`pixel_average_precision`, for histograms that were summed,
    kept per image or weighted (a bootstrap's resample weights times the per-image
    histograms of :func:`pixel_score_histograms`, say).

    Args:
        histograms (Tensor): ``(..., 2, bins)`` foreground and background counts over the
            bins of :func:`pixel_score_histograms`, integer or float (weighted counts).

    Returns:
        *Tensor* ``(...)`` float64 in ``[0, 1]``; NaN where no foreground pixel was counted
        (PxAP is undefined there).

    Raises:
        TypeError: if ``histograms`` is not a tensor.
        ValueError: if ``histograms`` is not ``(..., 2, bins)`` with ``bins >= 1``.

    Examples::

        >>> maps = torch.tensor([[[0.0, 0.4], [0.6, 1.0]], [[1.0, 0.4], [0.6, 0.0]]])
        >>> per_image = pixel_score_histograms(maps, maps > 0.5, [0.0, 0.5], per_image=True)
        >>> histogram_average_precision(per_image)  # each image on its own
        tensor([1., 1.], dtype=torch.float64)
        >>> histogram_average_precision(per_image.sum(0))  # the batch, as pixel_average_precision
        tensor(1., dtype=torch.float64)
    """
    if not isinstance(histograms, Tensor):
        raise TypeError(f"histograms must be a Tensor, got {type(histograms).__name__}")
    if histograms.dim() < 2 or histograms.shape[-2] != 2 or histograms.shape[-1] < 1:
        raise ValueError(
            "histograms must be (..., 2, bins) foreground and background counts with at least "
            f"one bin, as pixel_score_histograms returns them, got {tuple(histograms.shape)}"
        )
    counts = histograms.double().flip(-1).cumsum(-1)
    true_positive, false_positive = counts[..., 0, :], counts[..., 1, :]
    total_positive = true_positive[..., -1:]
    predicted = true_positive + false_positive
    precision = true_positive / torch.where(predicted > 0, predicted, 1.0)
    recall = true_positive / torch.where(total_positive > 0, total_positive, 1.0)
    steps = precision[..., 1:] * (recall[..., 1:] - recall[..., :-1])
    area = torch.where(predicted[..., 1:] > 0, steps, 0.0).sum(-1)
    return torch.where(total_positive[..., 0] > 0, area, torch.nan)


def _average_precision(histograms: Tensor) -> Tensor:
    """PxAP in ``[0, 1]`` from the ``(2, bins)`` histograms; an error without foreground."""
    if int(histograms[0].sum()) <= 0:
        raise RuntimeError("no foreground pixel was seen: PxAP is undefined")
    return histogram_average_precision(histograms)


def pixel_average_precision(
    maps: Tensor,
    masks: Tensor,
    thresholds: Tensor | Sequence[float] | None = None,
    ignore: Tensor | None = None,
    *,
    nan_policy: NanPolicy = "raise",
    per_image: bool = False,
) -> Tensor:
    r"""PxAP of a batch of maps against foreground masks.

    Args:
        maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at mask resolution; each is
            min-max normalised on its own.
        masks (Tensor): foreground masks of the maps' shape, bool or 0/1 integers.
        thresholds (Tensor or sequence of float, optional): strictly increasing thresholds in
            ``[0, 1)``. Default: ``threshold_grid(1000)``.
        ignore (Tensor, optional): bool mask of background pixels to leave out (foreground
            pixels always count). Default: None.
        nan_policy (str, optional): ``"raise"`` or ``"zero"``; see
            :func:`pixel_score_histograms`. Default: ``"raise"``.
        per_image (bool, optional): the PxAP of each image on its own, ``(N,)``, NaN for an
            image without a counted foreground pixel. Default: False (one PxAP of all the
            pixels of the batch, the reference's).

    Returns:
        *Tensor*, a float64 scalar in ``[0, 1]`` (the reference reports it times 100), or
        ``(N,)`` with ``per_image``.

    Raises:
        TypeError, ValueError: on bad maps, masks or thresholds.
        RuntimeError: if no foreground pixel is counted (without ``per_image``).

    Examples::

        >>> maps = torch.tensor([[[0.0, 0.4], [0.6, 1.0]]])
        >>> pixel_average_precision(maps, maps > 0.5)
        tensor(1., dtype=torch.float64)
        >>> pixel_average_precision(maps, maps < 0.5)  # (1/3) * 0.5 + (2/4) * 0.5
        tensor(0.4167, dtype=torch.float64)
        >>> masks = torch.stack([maps[0] > 0.5, maps[0] < 0.5])
        >>> pixel_average_precision(torch.cat([maps, maps]), masks, per_image=True)
        tensor([1.0000, 0.4167], dtype=torch.float64)
    """
    histograms = pixel_score_histograms(
        maps, masks, thresholds, ignore, nan_policy=nan_policy, per_image=per_image
    )
    return histogram_average_precision(histograms) if per_image else _average_precision(histograms)


class PixelAveragePrecision(SumStateMetric):
    r"""PxAP over a dataset, from histograms accumulated batch by batch.

    Equals :func:`~captum_infocam.localization.pixel_average_precision` on the concatenated
    batches. A :class:`torchmetrics.Metric` with one int64 state, the ``(2, T + 2)``
    histograms of :func:`pixel_score_histograms`, summed over the processes when
    ``torch.distributed`` runs; it follows the maps to their device, and ``compute()``
    returns a float64 scalar that Lightning logs as is.

    Args:
        thresholds (Tensor or sequence of float, optional): strictly increasing thresholds in
            ``[0, 1)``. Default: ``threshold_grid(1000)``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"``: what :meth:`update` does with
            a map holding NaN (see :class:`~captum_infocam.localization.BoxLocalizationMetrics`).
            Default: ``"raise"``.
        process_group (ProcessGroup, optional): the group to sum over. Default: the world.
        **kwargs: the other options of :class:`torchmetrics.Metric`, such as
            ``sync_on_compute`` or ``dist_sync_fn``.

    Examples::

        >>> pxap = PixelAveragePrecision(threshold_grid(100))
        >>> maps = torch.zeros(2, 8, 8)
        >>> maps[:, 2:5, 2:5] = 1.0  # a map that is high exactly on the object
        >>> pxap.update(maps, maps > 0)
        >>> pxap.compute()
        tensor(1., dtype=torch.float64)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    histograms: Tensor  # (2, T + 2) foreground and background counts

    def __init__(
        self,
        thresholds: Tensor | Sequence[float] | None = None,
        *,
        nan_policy: NanPolicy = "raise",
        process_group: Any | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(process_group=process_group, **kwargs)
        check_nan_policy(nan_policy)
        self.nan_policy = nan_policy
        self.edges = as_histogram_edges(
            threshold_grid() if thresholds is None else thresholds, torch.device("cpu")
        )
        self.add_sum_state("histograms", (2, self.edges.numel() - 1), torch.long)

    @torch.no_grad()
    def update(self, maps: Tensor, masks: Tensor, ignore: Tensor | None = None) -> None:
        """Add a batch of maps with their foreground masks.

        Args:
            maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at mask resolution.
            masks (Tensor): foreground masks of the maps' shape, bool or 0/1 integers.
            ignore (Tensor, optional): bool mask of background pixels to leave out
                (foreground pixels always count). Default: None.

        Raises:
            TypeError, ValueError: on bad maps or masks; the state is then unchanged.
        """
        histograms = _score_histograms(maps, masks, ignore, self.nan_policy, edges=self.edges)
        self._follow_device(histograms)
        self.histograms += histograms

    def compute(self) -> Tensor:
        """PxAP over every batch seen (on every process).

        Returns:
            *Tensor*, a float64 scalar in ``[0, 1]`` on the state's device.

        Raises:
            RuntimeError: if no foreground pixel was seen.
        """
        return _average_precision(self.histograms)
