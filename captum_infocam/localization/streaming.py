r"""Dataset-level localisation metrics, accumulated batch by batch.

Both accumulators keep additive integer state (hit counts, histograms), so the metrics of a
dataset split over batches, or over processes, equal the metrics of the whole: when
``torch.distributed`` is available and initialised, ``compute()`` sums the state over the
processes with one ``all_reduce`` and every rank gets the global result. Like any
collective, call ``compute()`` on every rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from captum_infocam.localization._inputs import (
    as_histogram_edges,
    as_increasing_thresholds,
    as_maps,
    as_unit_interval,
    check_nan_policy,
)
from captum_infocam.localization.box_protocol import NanPolicy, best_box_iou, threshold_grid
from captum_infocam.localization.boxes import GroundTruthBoxes
from captum_infocam.localization.fixed_threshold import top1_correct
from captum_infocam.localization.pixel_precision import (
    _average_precision,
    pixel_score_histograms,
)

__all__ = ["BoxLocalizationMetrics", "BoxLocalizationResult", "PixelAveragePrecision"]

_V2_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def _sum_over_processes(state: Tensor, process_group: object | None) -> Tensor:
    """A copy of ``state`` summed over the processes when ``torch.distributed`` is running."""
    state = state.clone()
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        backend = str(distributed.get_backend(process_group))
        device = state.device
        if "nccl" in backend and device.type != "cuda":
            state = state.to(torch.device("cuda", torch.cuda.current_device()))
        distributed.all_reduce(state, group=process_group)
        state = state.to(device)
    return state


@dataclass(frozen=True)
class BoxLocalizationResult:
    r"""Box localisation metrics of a dataset, all in ``[0, 1]``.

    Attributes:
        thresholds (Tensor): ``(T,)`` the map thresholds :math:`\tau`.
        iou_thresholds (Tensor): ``(D,)`` the IoU thresholds :math:`\delta`.
        box_accuracy (Tensor): ``(D, T)`` BoxAcc with the largest contour.
        max_box_accuracy (Tensor): ``(D,)`` MaxBoxAcc, the best BoxAcc over the thresholds.
        best_threshold (Tensor): ``(D,)`` the smallest :math:`\tau` reaching MaxBoxAcc.
        box_accuracy_v2 (Tensor): ``(D, T)`` BoxAcc with every contour.
        max_box_accuracy_v2 (Tensor): scalar MaxBoxAccV2 of Choe et al., the mean over
            :math:`\delta \in \{0.3, 0.5, 0.7\}` of the best BoxAcc with every contour,
            whatever ``iou_thresholds`` were chosen.
        gt_known_loc (Tensor): scalar GT-known loc at the fixed threshold.
        top1_loc (Tensor or None): scalar top-1 loc at the fixed threshold, over the images
            that came with predictions; ``None`` if none did.
        num_images (int): images seen (over every process).

    Examples::

        >>> metrics = BoxLocalizationMetrics(threshold_grid(10))
        >>> metrics.update(torch.rand(4, 16, 16), torch.tensor([[2, 2, 12, 12]] * 4))
        >>> result = metrics.compute()
        >>> result.box_accuracy.shape, result.num_images
        (torch.Size([3, 10]), 4)
    """

    thresholds: Tensor
    iou_thresholds: Tensor
    box_accuracy: Tensor
    max_box_accuracy: Tensor
    best_threshold: Tensor
    box_accuracy_v2: Tensor
    max_box_accuracy_v2: Tensor
    gt_known_loc: Tensor
    top1_loc: Tensor | None
    num_images: int


class BoxLocalizationMetrics:
    r"""MaxBoxAcc, MaxBoxAccV2, GT-known and top-1 loc over a dataset, batch by batch.

    Each :meth:`update` evaluates a batch with the protocol of
    :func:`~captum_infocam.localization.box_hits` (every threshold in one pass, the largest
    contour and every contour together) and adds its hit counts; :meth:`compute` turns the
    counts into the metrics. The result equals
    :func:`~captum_infocam.localization.box_accuracy` on the concatenated batches.

    Args:
        thresholds (Tensor or sequence of float, optional): strictly increasing map
            thresholds in ``[0, 1]``. Default: ``threshold_grid(1000)``, the reference's
            ``cam_curve_interval=0.001``; the cost hardly depends on their number, as the
            map has 256 levels.
        iou_thresholds (Tensor or sequence of float, optional): IoU thresholds of the
            curves and of MaxBoxAcc. Default: ``(0.3, 0.5, 0.7)``; MaxBoxAccV2 is always
            computed over these three as well.
        fixed_threshold (float, optional): the map threshold of GT-known and top-1 loc.
            Default: 0.2.
        fixed_iou_threshold (float, optional): their IoU threshold. Default: 0.5.
        nan_policy (str, optional): what :meth:`update` does with a map holding NaN:
            ``"raise"`` rejects the batch (under ``torch.distributed`` the other ranks then
            wait in :meth:`compute`); ``"zero"`` scores it as a zero map, a miss, as the
            reference's ``normalize_scoremap`` does, and the evaluation goes on.
            Default: ``"raise"``.
        process_group (ProcessGroup, optional): the group to sum over. Default: the world.

    Examples::

        >>> metrics = BoxLocalizationMetrics(threshold_grid(100))
        >>> for _ in range(2):
        ...     maps = torch.rand(4, 32, 32)
        ...     metrics.update(maps, torch.tensor([[4, 4, 20, 20]] * 4),
        ...                    predictions=torch.randn(4, 5), labels=torch.randint(5, (4,)))
        >>> result = metrics.compute()
        >>> result.max_box_accuracy.shape, result.num_images
        (torch.Size([3]), 8)
    """

    def __init__(
        self,
        thresholds: Tensor | Sequence[float] | None = None,
        iou_thresholds: Tensor | Sequence[float] = (0.3, 0.5, 0.7),
        *,
        fixed_threshold: float = 0.2,
        fixed_iou_threshold: float = 0.5,
        nan_policy: NanPolicy = "raise",
        process_group: object | None = None,
    ) -> None:
        check_nan_policy(nan_policy)
        self.nan_policy = nan_policy
        cpu = torch.device("cpu")
        if thresholds is None:
            thresholds = threshold_grid(1000)
        self.thresholds = as_increasing_thresholds(
            thresholds, cpu, "(best_threshold is the smallest threshold reaching MaxBoxAcc)"
        )
        self.iou_thresholds = as_unit_interval(iou_thresholds, "iou_thresholds", cpu)
        # The hit counts cover the chosen IoU thresholds and MaxBoxAccV2's three.
        self._deltas, rows = torch.unique(
            torch.cat([self.iou_thresholds, torch.tensor(_V2_IOU_THRESHOLDS).double()]),
            sorted=True,
            return_inverse=True,
        )
        self._chosen_rows = rows[: self.iou_thresholds.numel()]
        self._v2_rows = rows[self.iou_thresholds.numel() :]
        self.fixed_threshold = float(as_unit_interval([fixed_threshold], "fixed_threshold", cpu))
        self.fixed_iou_threshold = float(
            as_unit_interval([fixed_iou_threshold], "fixed_iou_threshold", cpu)
        )
        self.process_group = process_group
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        num_ious, num_thresholds = self._deltas.numel(), self.thresholds.numel()
        # Hits of the largest contour and of every contour, (2, D, T), then
        # [images, GT-known hits, top-1 hits, images with predictions].
        self._hits = torch.zeros(2, num_ious, num_thresholds, dtype=torch.long)
        self._counts = torch.zeros(4, dtype=torch.long)

    @torch.no_grad()
    def update(
        self,
        maps: Tensor,
        gt_boxes: GroundTruthBoxes,
        predictions: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> None:
        """Add a batch of maps (of the true class) with their ground-truth boxes.

        Args:
            maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` maps at image resolution.
            gt_boxes (Tensor or sequence of Tensor): per image, ``(M_i, 4)`` inclusive boxes
                ``(x1, y1, x2, y2)``.
            predictions (Tensor, optional): ``(N,)`` predicted classes or ``(N, K)`` scores,
                for top-1 loc. Default: None.
            labels (Tensor, optional): ``(N,)`` true classes, with ``predictions``.

        Raises:
            TypeError, ValueError: on bad maps, boxes, predictions or labels.
        """
        if (predictions is None) != (labels is None):
            raise ValueError("pass both predictions and labels for top-1 loc, or neither")
        correct = None
        if predictions is not None and labels is not None:
            correct = top1_correct(predictions, labels, as_maps(maps, check_finite=False).shape[0])
        thresholds = torch.cat([self.thresholds, torch.tensor([self.fixed_threshold]).double()])
        largest_iou, every_iou = best_box_iou(
            maps, gt_boxes, thresholds, nan_policy=self.nan_policy
        )
        device = largest_iou.device
        deltas = self._deltas.to(device).view(1, -1, 1)
        curves = torch.stack([largest_iou[:, :-1], every_iou[:, :-1]], dim=1)
        hits = (curves.unsqueeze(2) >= deltas.unsqueeze(1)).sum(0)
        gt_known = largest_iou[:, -1] >= self.fixed_iou_threshold
        counts = [
            torch.tensor(gt_known.shape[0], device=device),
            gt_known.sum(),
            torch.tensor(0, device=device),
            torch.tensor(0, device=device),
        ]
        if correct is not None:
            counts[2] = (gt_known & correct.to(device)).sum()
            counts[3] = counts[0]
        if self._hits.device != device:
            self._hits, self._counts = self._hits.to(device), self._counts.to(device)
        self._hits += hits
        self._counts += torch.stack(counts)

    @property
    def num_images(self) -> int:
        """Images seen by this process (not summed over processes)."""
        return int(self._counts[0])

    def compute(self) -> BoxLocalizationResult:
        """The metrics over every batch seen (on every process).

        Returns:
            *BoxLocalizationResult*: the curves, MaxBoxAcc with its best thresholds,
            MaxBoxAccV2, GT-known and top-1 loc.

        Raises:
            RuntimeError: if no image was seen.
        """
        state = torch.cat([self._hits.reshape(-1), self._counts])
        state = _sum_over_processes(state, self.process_group).cpu()
        hits = state[: self._hits.numel()].view(self._hits.shape).double()
        num_images, gt_known, top1, with_predictions = state[self._hits.numel() :].tolist()
        if num_images == 0:
            raise RuntimeError("no image seen: call update() before compute()")
        accuracy = hits / num_images
        largest, every = accuracy[0, self._chosen_rows], accuracy[1, self._chosen_rows]
        best = largest.argmax(dim=1)  # first maximum: the smallest threshold
        return BoxLocalizationResult(
            thresholds=self.thresholds,
            iou_thresholds=self.iou_thresholds,
            box_accuracy=largest,
            max_box_accuracy=largest.amax(dim=1),
            best_threshold=self.thresholds[best],
            box_accuracy_v2=every,
            max_box_accuracy_v2=accuracy[1, self._v2_rows].amax(dim=1).mean(),
            gt_known_loc=torch.tensor(gt_known / num_images, dtype=torch.float64),
            top1_loc=(
                torch.tensor(top1 / with_predictions, dtype=torch.float64)
                if with_predictions
                else None
            ),
            num_images=num_images,
        )


class PixelAveragePrecision:
    r"""PxAP over a dataset, from histograms accumulated batch by batch.

    Equals :func:`~captum_infocam.localization.pixel_average_precision` on the concatenated
    batches; the histograms are summed over the processes when ``torch.distributed`` runs.

    Args:
        thresholds (Tensor or sequence of float, optional): strictly increasing thresholds in
            ``[0, 1)``. Default: ``threshold_grid(1000)``.
        nan_policy (str, optional): ``"raise"`` or ``"zero"``: what :meth:`update` does with
            a map holding NaN (see :class:`BoxLocalizationMetrics`). Default: ``"raise"``.
        process_group (ProcessGroup, optional): the group to sum over. Default: the world.

    Examples::

        >>> pxap = PixelAveragePrecision(threshold_grid(100))
        >>> maps = torch.zeros(2, 8, 8)
        >>> maps[:, 2:5, 2:5] = 1.0  # a map that is high exactly on the object
        >>> pxap.update(maps, maps > 0)
        >>> pxap.compute()
        tensor(1., dtype=torch.float64)
    """

    def __init__(
        self,
        thresholds: Tensor | Sequence[float] | None = None,
        *,
        nan_policy: NanPolicy = "raise",
        process_group: object | None = None,
    ) -> None:
        check_nan_policy(nan_policy)
        self.nan_policy = nan_policy
        self.edges = as_histogram_edges(
            threshold_grid() if thresholds is None else thresholds, torch.device("cpu")
        )
        self.process_group = process_group
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self._histograms = torch.zeros(2, self.edges.numel() - 1, dtype=torch.long)

    @torch.no_grad()
    def update(self, maps: Tensor, masks: Tensor, ignore: Tensor | None = None) -> None:
        """Add a batch of maps with their foreground masks.

        Args:
            maps (Tensor): ``(N, H, W)`` or ``(N, 1, H, W)`` scores at mask resolution.
            masks (Tensor): foreground masks of the maps' shape, bool or 0/1 integers.
            ignore (Tensor, optional): bool mask of background pixels to leave out
                (foreground pixels always count). Default: None.

        Raises:
            TypeError, ValueError: on bad maps or masks.
        """
        histograms = pixel_score_histograms(
            maps, masks, self.edges[:-3], ignore, nan_policy=self.nan_policy
        )
        if self._histograms.device != histograms.device:
            self._histograms = self._histograms.to(histograms.device)
        self._histograms += histograms

    def compute(self) -> Tensor:
        """PxAP over every batch seen (on every process).

        Returns:
            *Tensor*, a float64 scalar in ``[0, 1]``.

        Raises:
            RuntimeError: if no foreground pixel was seen.
        """
        return _average_precision(_sum_over_processes(self._histograms, self.process_group))
