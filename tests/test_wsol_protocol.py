"""The WSOL protocol: thresholds chosen on one split, BoxAcc read at them on another."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from captum_infocam.localization import BoxLocalizationMetrics, box_accuracy, threshold_grid
from captum_infocam.wsol_protocol import best_thresholds, box_accuracy_at

IOUS = (0.3, 0.5, 0.7)


def _split(seed: int, count: int = 12):
    """Smooth random maps that peak near a box, and one or two boxes per image."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.randint(0, 12, (count, 2, 2), generator=generator)
    sides = torch.randint(4, 12, (count, 2, 2), generator=generator)
    boxes = torch.cat([corners, corners + sides], dim=2)  # (N, 2, 4): x1, y1, x2, y2
    boxes[::2, 1] = -1  # every other image has one box only
    rows, columns = torch.arange(24).view(1, -1, 1), torch.arange(24).view(1, 1, -1)
    x1, y1, x2, y2 = boxes[:, 0].view(-1, 4, 1, 1).unbind(1)
    inside = ((columns >= x1) & (columns <= x2) & (rows >= y1) & (rows <= y2)).float()
    noise = torch.rand(count, 1, 6, 6, generator=generator)
    noise = F.interpolate(noise, size=(24, 24), mode="bicubic", align_corners=False)[:, 0]
    blurred = F.avg_pool2d(inside[:, None], 5, stride=1, padding=2)[:, 0]
    return blurred + noise, boxes


def _result(maps, boxes, grid):
    metrics = BoxLocalizationMetrics(grid, iou_thresholds=IOUS)
    metrics.update(maps, boxes)
    return metrics.compute()


@pytest.mark.parametrize("multi_contour", [False, True])
def test_thresholds_chosen_on_val_give_the_accuracy_of_test_at_them(multi_contour):
    grid = threshold_grid(20)
    val, test = _result(*_split(0), grid), _result(*_split(1), grid)
    chosen = best_thresholds(val, multi_contour)
    curves = val.box_accuracy_v2 if multi_contour else val.box_accuracy
    for row, tau in enumerate(chosen.tolist()):  # the smallest threshold of best accuracy
        column = grid.tolist().index(tau)
        assert curves[row, column] == curves[row].max()
        assert (curves[row, :column] < curves[row].max()).all()
    if not multi_contour:
        assert torch.equal(chosen, val.best_threshold)
    # Reading test's curves at the chosen thresholds equals evaluating test at them alone.
    maps, boxes = _split(1)
    expected = torch.stack([
        box_accuracy(maps, boxes, [tau], [delta], multi_contour)[0, 0]
        for tau, delta in zip(chosen.tolist(), IOUS, strict=True)
    ])  # fmt: skip
    assert torch.equal(box_accuracy_at(test, chosen, multi_contour), expected)
    one = box_accuracy_at(test, float(chosen[1]), multi_contour)  # one threshold for all
    assert torch.equal(one, box_accuracy(maps, boxes, chosen[1:2], IOUS, multi_contour)[:, 0])


def test_errors_name_what_is_wrong():
    result = _result(*_split(0), threshold_grid(10))
    with pytest.raises(ValueError, match=r"\[0\.25\] are not on the result's threshold grid"):
        box_accuracy_at(result, [0.2, 0.25, 0.3])
    with pytest.raises(
        ValueError,
        match=r"thresholds must hold one value for all or one per IoU threshold \(3\), got 2",
    ):
        box_accuracy_at(result, [0.2, 0.3])
    with pytest.raises(TypeError, match="result must be a BoxLocalizationResult"):
        best_thresholds(result.box_accuracy)
    with pytest.raises(TypeError, match="multi_contour must be a bool"):
        box_accuracy_at(result, 0.2, multi_contour="yes")
    with pytest.raises(TypeError, match="thresholds must be a float or a 1-D sequence"):
        box_accuracy_at(result, "0.2")
