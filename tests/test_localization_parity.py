"""Parity with an OpenCV re-implementation of the CVPR 2020 reference evaluation.

The reference (``clovaai/wsolevaluation``) thresholds a ``uint8`` map with ``cv2.threshold``
and reads boxes off ``cv2.findContours``, one map and one threshold at a time. The torch
implementation follows the same conventions exactly, so the per-image hits, not only the
accuracies, must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from captum_infocam.localization import (
    box_accuracy,
    box_hits,
    reference_boxes_from_maps,
    threshold_grid,
)

from opencv_reference import (
    normalize_scoremap,
    reference_box_hits,
    reference_boxes,
)

pytest.importorskip("cv2", reason="the OpenCV reference needs opencv-python-headless (dev extra)")

DELTAS = (0.3, 0.5, 0.7)


pytestmark = pytest.mark.usefixtures("one_torch_thread", "box_backend")


def _smooth_maps(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Random smooth maps: bicubic upsampling of random low-resolution grids (float64)."""
    generator = torch.Generator().manual_seed(seed)
    maps = []
    for low in (3, 4, 6, 8):
        grid = torch.randn(count // 4, 1, low, low, generator=generator, dtype=torch.float64)
        maps.append(F.interpolate(grid, size=(height, width), mode="bicubic")[:, 0])
    return torch.cat(maps)


def _random_boxes(count: int, height: int, width: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    boxes = []
    for _ in range(count):
        number = int(torch.randint(1, 4, (1,), generator=generator))
        x = torch.randint(0, width, (number, 2), generator=generator).sort(1).values
        y = torch.randint(0, height, (number, 2), generator=generator).sort(1).values
        boxes.append(torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1))
    return boxes


@pytest.mark.parametrize("multi_contour", [False, True], ids=["MaxBoxAcc", "MaxBoxAccV2"])
def test_hits_equal_the_reference_on_300_smooth_maps(multi_contour):
    maps = _smooth_maps(300, 32, 40, seed=0)
    boxes = _random_boxes(300, 32, 40, seed=1)
    thresholds = threshold_grid(100)
    ours = box_hits(maps, boxes, thresholds, DELTAS, multi_contour)
    reference = reference_box_hits(
        maps.numpy(), [b.numpy() for b in boxes], thresholds.tolist(), DELTAS, multi_contour
    )
    assert np.array_equal(ours.numpy(), reference)
    # Hence MaxBoxAcc per delta (and MaxBoxAccV2, their mean) agree exactly, not only
    # within the one point.
    accuracy = box_accuracy(maps, boxes, thresholds, DELTAS, multi_contour).numpy()
    assert np.array_equal(accuracy, reference.mean(0))
    assert 0.05 < accuracy.max() < 1.0  # the set is neither trivial nor hopeless


def _hard_maps(seed: int) -> torch.Tensor:
    """Maps with many components, holes, plateaus and ties: noise, few levels, rings."""
    generator = torch.Generator().manual_seed(seed)
    height, width = 17, 23
    noise = torch.rand(8, height, width, generator=generator, dtype=torch.float64)
    levels = torch.randint(0, 4, (8, height, width), generator=generator).double()
    binary = (torch.rand(8, height, width, generator=generator) > 0.6).double()
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    centres = torch.rand(8, 2, 1, 1, generator=generator, dtype=torch.float64) * 20
    radius = ((x - centres[:, 0]) ** 2 + (y - centres[:, 1]) ** 2).sqrt()
    rings = torch.cos(radius * 1.3) + 0.3 * torch.rand(8, height, width, generator=generator)
    return torch.cat([noise, levels, binary, rings.double()])


def test_largest_contour_boxes_equal_the_reference_on_hard_maps():
    maps = _hard_maps(seed=2)
    thresholds = [*threshold_grid(40).tolist(), 0.999, 1.0]
    ours = reference_boxes_from_maps(maps, thresholds).numpy()
    for index, scoremap in enumerate(maps.numpy()):
        reference = reference_boxes(normalize_scoremap(scoremap), thresholds, False)
        assert np.array_equal(ours[index], np.concatenate(reference)), index


@pytest.mark.parametrize("multi_contour", [False, True], ids=["MaxBoxAcc", "MaxBoxAccV2"])
def test_hits_equal_the_reference_on_hard_maps(multi_contour):
    maps = _hard_maps(seed=3)
    boxes = _random_boxes(len(maps), 17, 23, seed=4)
    thresholds = threshold_grid(40).tolist()
    deltas = (0.1, 0.3, 0.5, 0.7, 0.9)
    ours = box_hits(maps, boxes, thresholds, deltas, multi_contour)
    reference = reference_box_hits(
        maps.numpy(), [b.numpy() for b in boxes], thresholds, deltas, multi_contour
    )
    assert np.array_equal(ours.numpy(), reference)


def test_float32_maps_are_normalised_in_float64_like_the_reference():
    maps = _smooth_maps(40, 24, 24, seed=5).float()
    boxes = _random_boxes(40, 24, 24, seed=6)
    thresholds = threshold_grid(200)
    ours = box_hits(maps, boxes, thresholds, DELTAS, True)
    reference = reference_box_hits(
        maps.double().numpy(), [b.numpy() for b in boxes], thresholds.tolist(), DELTAS, True
    )
    assert np.array_equal(ours.numpy(), reference)
