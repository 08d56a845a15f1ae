"""A per-image OpenCV re-implementation of the CVPR 2020 box protocol, for tests and benchmarks.

This module mirrors the evaluation of Choe et al., "Evaluating Weakly Supervised Object
Localization Methods Right" (reference code ``clovaai/wsolevaluation``): one map at a time,
one threshold at a time, with ``cv2.threshold`` and ``cv2.findContours``. It exists to check
:func:`captum_infocam.localization.box_accuracy` against (``tests/``) and to time it against
(``benchmarks/wsol_speed.py`` imports it from here); it is not part of the package. OpenCV is
imported lazily, so importing this module never needs it.

Conventions reproduced from the reference:

* the map is min-max normalised (a constant map becomes zeros) and quantised with
  ``uint8(map * 255)`` (truncation);
* threshold ``tau`` keeps the pixels strictly above ``int(tau * max(quantised map))``;
* contours come from ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)``, so the hole contours
  are candidates too; ``multi_contour=False`` keeps the contour of largest ``cv2.contourArea``;
* ``cv2.boundingRect`` gives ``(x, y, w, h)``, turned into ``(x, y, x + w, y + h)`` and clipped to
  ``(W - 1, H - 1)``; no contour gives the box ``(0, 0, 0, 0)``;
* IoU counts inclusive pixels (``+ 1`` in widths and heights).

PxAP follows the reference's ``MaskEvaluator``: normalised (not quantised) scores, numpy
histograms over the thresholds followed by ``1, 2, 3``, precision and recall from the
reversed cumulative histograms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "normalize_scoremap",
    "reference_box_accuracy",
    "reference_box_hits",
    "reference_boxes",
    "reference_iou",
    "reference_pixel_average_precision",
]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the OpenCV reference needs opencv-python-headless (pip install '.[dev]')"
        ) from error
    return cv2


def normalize_scoremap(scoremap: np.ndarray) -> np.ndarray:
    """Min-max normalise one map to ``[0, 1]`` in float64; a constant or NaN map becomes zeros."""
    scoremap = np.asarray(scoremap, dtype=np.float64)
    if np.isnan(scoremap).any() or scoremap.min() == scoremap.max():
        return np.zeros_like(scoremap)
    shifted = scoremap - scoremap.min()
    return shifted / shifted.max()


def reference_boxes(
    scoremap: np.ndarray, thresholds: Sequence[float], multi_contour: bool = False
) -> list[np.ndarray]:
    """Boxes of one normalised map at each threshold, one ``(B_t, 4)`` int array per threshold."""
    cv2 = _cv2()
    height, width = scoremap.shape
    quantised = (scoremap * 255).astype(np.uint8)
    peak = int(quantised.max())
    boxes_per_threshold = []
    for threshold in thresholds:
        _, binary = cv2.threshold(quantised, int(threshold * peak), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
        if len(contours) == 0:
            boxes_per_threshold.append(np.zeros((1, 4), dtype=np.int64))
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        boxes_per_threshold.append(np.asarray(boxes, dtype=np.int64))
    return boxes_per_threshold


def reference_iou(boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(boxes), len(gt_boxes))`` of inclusive-pixel boxes ``(x1, y1, x2, y2)``."""
    boxes = np.asarray(boxes, dtype=np.float64)[:, None, :]
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64)[None, :, :]
    inter_w = np.maximum(
        0.0,
        np.minimum(boxes[..., 2], gt_boxes[..., 2])
        - np.maximum(boxes[..., 0], gt_boxes[..., 0])
        + 1,
    )
    inter_h = np.maximum(
        0.0,
        np.minimum(boxes[..., 3], gt_boxes[..., 3])
        - np.maximum(boxes[..., 1], gt_boxes[..., 1])
        + 1,
    )
    intersection = inter_w * inter_h
    area = (boxes[..., 2] - boxes[..., 0] + 1) * (boxes[..., 3] - boxes[..., 1] + 1)
    gt_area = (gt_boxes[..., 2] - gt_boxes[..., 0] + 1) * (gt_boxes[..., 3] - gt_boxes[..., 1] + 1)
    union = area + gt_area - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def reference_box_hits(
    scoremaps: np.ndarray,
    gt_boxes: Sequence[np.ndarray],
    thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.5,),
    multi_contour: bool = False,
) -> np.ndarray:
    """Hits ``(N, D, T)`` of raw maps ``(N, H, W)``, one map and one threshold at a time."""
    hits = np.zeros((len(scoremaps), len(iou_thresholds), len(thresholds)), dtype=bool)
    deltas = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1, 1)
    for index, (scoremap, image_boxes) in enumerate(zip(scoremaps, gt_boxes, strict=True)):
        boxes = reference_boxes(normalize_scoremap(scoremap), thresholds, multi_contour)
        # As the reference: one IoU matrix for the boxes of all thresholds, then the best
        # box of each threshold.
        iou = reference_iou(np.concatenate(boxes), np.asarray(image_boxes).reshape(-1, 4))
        starts = np.cumsum([0] + [len(b) for b in boxes[:-1]])
        best_iou = np.maximum.reduceat(iou.max(axis=1), starts)
        hits[index] = best_iou.reshape(1, -1) >= deltas
    return hits


def reference_box_accuracy(
    scoremaps: np.ndarray,
    gt_boxes: Sequence[np.ndarray],
    thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.5,),
    multi_contour: bool = False,
) -> np.ndarray:
    """BoxAcc ``(len(iou_thresholds), len(thresholds))`` in ``[0, 1]`` of raw maps ``(N, H, W)``."""
    return reference_box_hits(scoremaps, gt_boxes, thresholds, iou_thresholds, multi_contour).mean(
        axis=0
    )


def reference_pixel_average_precision(
    scoremaps: np.ndarray,
    masks: np.ndarray,
    thresholds: Sequence[float],
    ignore: np.ndarray | None = None,
) -> float:
    """PxAP in ``[0, 1]`` as the reference's ``MaskEvaluator``: numpy histograms per map."""
    edges = np.append(np.asarray(thresholds, dtype=np.float64), [1.0, 2.0, 3.0])
    positive = np.zeros(len(edges) - 1)
    negative = np.zeros(len(edges) - 1)
    for index, scoremap in enumerate(scoremaps):
        scores = normalize_scoremap(scoremap)
        # get_mask: ignore_mask = ignore_box * (1 - mask), so foreground always counts.
        counted = np.ones_like(masks[index], dtype=bool)
        if ignore is not None:
            counted = ~(ignore[index] & ~masks[index])
        positive += np.histogram(scores[masks[index] & counted], bins=edges)[0]
        negative += np.histogram(scores[~masks[index] & counted], bins=edges)[0]
    true_positive = positive[::-1].cumsum()
    false_positive = negative[::-1].cumsum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = true_positive / (true_positive + false_positive)
    recall = true_positive / positive.sum()
    non_zero = (true_positive + false_positive) != 0
    return float((precision[1:] * np.diff(recall))[non_zero[1:]].sum())
