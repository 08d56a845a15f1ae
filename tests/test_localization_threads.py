"""The box metrics run on one intra-op thread and leave the caller's thread count as it was."""

from __future__ import annotations

import pytest
import torch

import captum_infocam.localization.box_protocol as protocol_module
from captum_infocam.localization import (
    best_box_iou,
    box_hits,
    reference_boxes_from_maps,
    threshold_grid,
)


@pytest.fixture
def two_torch_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _maps() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    low = torch.randn(6, 1, 5, 5, generator=generator, dtype=torch.float64)
    return torch.nn.functional.interpolate(low, size=(40, 36), mode="bicubic")[:, 0]


@pytest.mark.usefixtures("two_torch_threads", "torch_box_backend")
def test_thread_count_is_restored_and_results_do_not_depend_on_it(monkeypatch):
    seen = []
    find_basins = protocol_module._find_basins

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return find_basins(*args, **kwargs)

    monkeypatch.setattr(protocol_module, "_find_basins", recording)
    maps, boxes = _maps(), torch.tensor([[4, 6, 30, 25]]).expand(6, 4)
    thresholds = threshold_grid(50)
    hits = [box_hits(maps, boxes, thresholds, (0.3, 0.5), multi) for multi in (False, True)]
    drawn = reference_boxes_from_maps(maps, thresholds)
    both = best_box_iou(maps, boxes, thresholds)
    assert seen and set(seen) == {1}  # the evaluation ran on one thread
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    assert all(
        torch.equal(box_hits(maps, boxes, thresholds, (0.3, 0.5), multi), expected)
        for multi, expected in zip((False, True), hits, strict=True)
    )
    assert torch.equal(reference_boxes_from_maps(maps, thresholds), drawn)
    assert all(map(torch.equal, best_box_iou(maps, boxes, thresholds), both))
    torch.set_num_threads(2)
    nan = maps.clone()
    nan[2, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="contains NaN"):
        box_hits(nan, boxes, thresholds)
    with pytest.raises(ValueError, match="contains NaN"):
        reference_boxes_from_maps(nan, thresholds)
    assert torch.get_num_threads() == 2
