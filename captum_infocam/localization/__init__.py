"""Weakly-supervised localisation metrics: box accuracy, fixed-threshold loc, PxAP, pointing."""

from captum_infocam.localization.box_protocol import (
    box_accuracy,
    box_hits,
    boxes_from_maps,
    quantize_maps,
    threshold_grid,
)
from captum_infocam.localization.boxes import GroundTruthBoxes, as_ground_truth_boxes, box_iou

__all__ = [
    "GroundTruthBoxes",
    "as_ground_truth_boxes",
    "box_accuracy",
    "box_hits",
    "box_iou",
    "boxes_from_maps",
    "quantize_maps",
    "threshold_grid",
]
