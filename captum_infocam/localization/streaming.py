r"""Box localisation metrics of a dataset, accumulated batch by batch.

:class:`BoxLocalizationMetrics` is a :class:`torchmetrics.Metric` whose states are hit
counts, so the metrics of a dataset split over batches, or over processes, equal the metrics
of the whole: under ``torch.distributed``, ``compute()`` sums the counts over the processes
(torchmetrics' synchronisation) and every rank gets the global result. Like any collective,
call ``compute()`` on every rank. Its pixel-mask counterpart is
:class:`~captum_infocam.localization.PixelAveragePrecision`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from captum_infocam._metrics import SumStateMetric
from captum_infocam.localization._inputs import (
    as_increasing_thresholds,
    as_maps,
    as_unit_interval,
    check_nan_policy,
)
from captum_infocam.localization.box_protocol import NanPolicy, best_box_iou, threshold_grid
from captum_infocam.localization.boxes import GroundTruthBoxes
from captum_infocam.localization.fixed_threshold import top1_correct
from captum_infocam.localization.pixel_precision import (
    PixelAveragePrecision as PixelAveragePrecision,  # defined here before; still importable
)

__all__ = ["BoxLocalizationMetrics", "BoxLocalizationResult"]

_V2_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


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


class BoxLocalizationMetrics(SumStateMetric):
    r"""MaxBoxAcc, MaxBoxAccV2, GT-known and top-1 loc over a dataset, batch by batch.

    Each :meth:`update` evaluates a batch with the protocol of
    :func:`~captum_infocam.localization.best_box_iou` (every threshold in one pass, the
    largest contour and every contour together) and adds its hit counts; :meth:`compute`
    turns the counts into the metrics. The result equals
    :func:`~captum_infocam.localization.box_accuracy` on the concatenated batches.

    A :class:`torchmetrics.Metric`: ``reset()``, ``merge_state()``, ``.to(device)``,
    ``forward()`` (the metrics of one batch, also added to the dataset's) and distributed
    synchronisation behave as in torchmetrics. The states are int64 counts, summed over the
    processes; they follow the maps to their device. ``compute()`` returns a
    :class:`BoxLocalizationResult` on the CPU, which Lightning cannot log as is: log its
    fields, e.g. ``self.log("max_box_acc_v2", result.max_box_accuracy_v2)``.

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
        **kwargs: the other options of :class:`torchmetrics.Metric`, such as
            ``sync_on_compute`` or ``dist_sync_fn``.

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

    higher_is_better = True
    largest_contour_hits: Tensor  # (D', T) hits of the largest contour, D' IoU thresholds
    every_contour_hits: Tensor  # (D', T) hits of every contour
    image_count: Tensor
    gt_known_hits: Tensor
    top1_hits: Tensor
    predicted_image_count: Tensor  # images that came with predictions

    def __init__(
        self,
        thresholds: Tensor | Sequence[float] | None = None,
        iou_thresholds: Tensor | Sequence[float] = (0.3, 0.5, 0.7),
        *,
        fixed_threshold: float = 0.2,
        fixed_iou_threshold: float = 0.5,
        nan_policy: NanPolicy = "raise",
        process_group: Any | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(process_group=process_group, **kwargs)
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
        curves = (self._deltas.numel(), self.thresholds.numel())
        self.add_sum_state("largest_contour_hits", curves, torch.long)
        self.add_sum_state("every_contour_hits", curves, torch.long)
        self.add_sum_state("image_count", (), torch.long)
        self.add_sum_state("gt_known_hits", (), torch.long)
        self.add_sum_state("top1_hits", (), torch.long)
        self.add_sum_state("predicted_image_count", (), torch.long)

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
            TypeError, ValueError: on bad maps, boxes, predictions or labels; the state is
                then unchanged.
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
        deltas = self._deltas.to(largest_iou.device).view(1, -1, 1)
        gt_known = largest_iou[:, -1] >= self.fixed_iou_threshold
        self._follow_device(largest_iou)
        self.largest_contour_hits += (largest_iou[:, None, :-1] >= deltas).sum(0)
        self.every_contour_hits += (every_iou[:, None, :-1] >= deltas).sum(0)
        self.image_count += gt_known.shape[0]
        self.gt_known_hits += gt_known.sum()
        if correct is not None:
            self.top1_hits += (gt_known & correct.to(gt_known.device)).sum()
            self.predicted_image_count += gt_known.shape[0]

    @property
    def num_images(self) -> int:
        """Images seen by this process (not summed over processes)."""
        return int(self.image_count)

    def compute(self) -> BoxLocalizationResult:
        """The metrics over every batch seen (on every process).

        Returns:
            *BoxLocalizationResult*: the curves, MaxBoxAcc with its best thresholds,
            MaxBoxAccV2, GT-known and top-1 loc, on the CPU.

        Raises:
            RuntimeError: if no image was seen.
        """
        counts = torch.stack(
            [self.image_count, self.gt_known_hits, self.top1_hits, self.predicted_image_count]
        )
        num_images, gt_known, top1, with_predictions = counts.tolist()
        if num_images == 0:
            raise RuntimeError("no image seen: call update() before compute()")
        hits = torch.stack([self.largest_contour_hits, self.every_contour_hits]).cpu()
        accuracy = hits.double() / num_images
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
