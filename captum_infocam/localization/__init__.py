"""Weakly-supervised localisation metrics: box accuracy, fixed-threshold loc, PxAP, pointing.

Box metrics follow Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right" (CVPR 2020) to the pixel, batched in torch on any device:

* :func:`box_accuracy` / :func:`box_hits`: BoxAcc at every (IoU threshold, map threshold);
  MaxBoxAcc with the largest contour, MaxBoxAccV2 with every contour;
  :func:`best_box_iou` keeps each image's IoU at every threshold, for both rules;
  :func:`reference_boxes_from_maps` draws the boxes the protocol scores (one past the end,
  as the reference draws them; every other box here is inclusive);
* :class:`BoxLocalizationMetrics`: the same over a dataset, batch by batch, summed over
  processes, with GT-known and top-1 loc at a fixed threshold (a ``torchmetrics.Metric``);
* :func:`localization_accuracy`: GT-known and top-1 loc of one batch (the infoCAM papers'
  metrics at :math:`\\tau = 0.2`);
* :func:`pixel_average_precision` / :class:`PixelAveragePrecision`: PxAP against masks, of
  a batch (or of each image) or, as a ``torchmetrics.Metric``, of a dataset;
  :func:`pixel_score_histograms` and :func:`histogram_average_precision` are its two steps,
  for per-image or weighted histograms (a bootstrap over images);
* :func:`pointing_game`: whether the map's maximum falls on the object.

Maps holding NaN are an error by default; ``nan_policy="zero"`` scores them as zero maps
(misses), as the reference evaluation does.
"""

from captum_infocam._deprecation import renamed_attributes
from captum_infocam.localization.box_protocol import (
    BestBoxIoU,
    NanPolicy,
    best_box_iou,
    box_accuracy,
    box_hits,
    quantize_maps,
    reference_boxes_from_maps,
    threshold_grid,
)
from captum_infocam.localization.boxes import GroundTruthBoxes, as_ground_truth_boxes, box_iou
from captum_infocam.localization.fixed_threshold import (
    LocalizationAccuracy,
    localization_accuracy,
    pointing_game,
    top1_correct,
)
from captum_infocam.localization.pixel_precision import (
    PixelAveragePrecision,
    histogram_average_precision,
    pixel_average_precision,
    pixel_score_histograms,
)
from captum_infocam.localization.streaming import BoxLocalizationMetrics, BoxLocalizationResult

__all__ = [
    "BestBoxIoU",
    "BoxLocalizationMetrics",
    "BoxLocalizationResult",
    "GroundTruthBoxes",
    "LocalizationAccuracy",
    "NanPolicy",
    "PixelAveragePrecision",
    "as_ground_truth_boxes",
    "best_box_iou",
    "box_accuracy",
    "box_hits",
    "box_iou",
    "histogram_average_precision",
    "localization_accuracy",
    "pixel_average_precision",
    "pixel_score_histograms",
    "pointing_game",
    "quantize_maps",
    "reference_boxes_from_maps",
    "threshold_grid",
    "top1_correct",
]

__getattr__ = renamed_attributes(
    __name__,
    {
        "boxes_from_maps": (
            "captum_infocam.localization.reference_boxes_from_maps",
            reference_boxes_from_maps,
        )
    },
)
