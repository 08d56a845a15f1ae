"""The box protocol's native CPU kernel (``_contours.c``): equal to the torch implementation on
every (map, level), compiled once into a cache, and replaced by the torch implementation when
it cannot be built or is turned off.

The protocol-level tests (``test_localization*.py``) run on both implementations through the
``box_backend`` fixture; these tests compare the two directly, level by level, including the
largest contour's box at levels that the hits alone would not tell apart.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import captum_infocam.localization.box_protocol as protocol_module
from captum_infocam.localization import _contours, box_hits, threshold_grid
from captum_infocam.localization._level_components import fill_holes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def _maps(kind: str, count: int, height: int, width: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if kind in ("smooth", "multi-blob"):
        field = 7 if kind == "smooth" else 14
        low = torch.rand(count, 1, field, field, generator=generator, dtype=torch.float64)
        return F.interpolate(low, size=(height, width), mode="bicubic")[:, 0]
    if kind == "noise":
        return torch.rand(count, height, width, generator=generator, dtype=torch.float64)
    if kind == "plateaus":
        return torch.randint(0, 4, (count, height, width), generator=generator).double()
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    if kind == "rings":  # nested rings: holes within holes, islands within them
        radius = ((y - height / 2) ** 2 + (x - width / 2) ** 2).sqrt()
        noise = torch.rand(count, height, width, generator=generator, dtype=torch.float64)
        return torch.cos(radius / 2).unsqueeze(0) + 0.1 * noise
    assert kind == "checkerboard"  # components that meet only at corners
    board = ((x + y) % 2).double().expand(count, height, width)
    return board + 0.5 * torch.rand(count, height, width, generator=generator)


KINDS = ["smooth", "multi-blob", "noise", "plateaus", "rings", "checkerboard"]
SHAPES = [(1, 1), (1, 9), (7, 1), (2, 2), (3, 5), (17, 13), (40, 33)]


def _both(maps: torch.Tensor) -> tuple[protocol_module._QuantizedMaps, ...]:
    fine, bits = protocol_module._quantize_fine(maps)
    native = protocol_module._QuantizedMaps((fine >> bits).int(), 0, native=True)
    return native, protocol_module._QuantizedMaps(fine, bits)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("height, width", SHAPES)
def test_native_kernel_equals_the_torch_implementation_at_every_level(kind, height, width):
    seed = KINDS.index(kind) * 100 + height * 7 + width
    maps = _maps(kind, 6, height, width, seed)
    generator = torch.Generator().manual_seed(seed)
    # Random levels, always with the extremes 0 and 255.
    levels = torch.unique(torch.cat([torch.randint(0, 256, (30,), generator=generator),
                                     torch.tensor([0, 255])]))  # fmt: skip
    native, reference = _both(maps)
    present = reference.has_foreground(levels)
    assert torch.equal(native.has_foreground(levels), present)
    boxes = protocol_module._largest_component_boxes(native, levels)
    expected = protocol_module._largest_component_boxes(reference, levels)
    assert torch.equal(boxes, expected)  # zeros where no pixel is above the level
    corners = torch.randint(0, max(height, width), (6, 3, 2, 2), generator=generator)
    x, y = corners[..., 0].clamp(max=width - 1), corners[..., 1].clamp(max=height - 1)
    x, y = x.sort(-1).values, y.sort(-1).values
    gt_boxes = torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1).double()
    gt_valid = torch.rand(6, 3, generator=generator) < 0.7
    gt_valid[:, 0] = True
    iou = protocol_module._best_multi_contour_iou(native, levels, gt_boxes, gt_valid)
    expected_iou = protocol_module._best_multi_contour_iou(reference, levels, gt_boxes, gt_valid)
    assert torch.equal(torch.where(present, iou, -1.0), torch.where(present, expected_iou, -1.0))
    assert (iou[present] >= 0).all() and (iou[~present] == -1).all()


@pytest.mark.parametrize("kind", ["smooth", "noise", "rings", "checkerboard"])
def test_native_hole_filling_equals_the_torch_one(kind):
    maps = _maps(kind, 5, 23, 31, seed=3)
    values = protocol_module.quantize_maps(maps).int()
    filled = _contours.fill_holes(values)
    assert filled.shape == (5, 25, 33)
    assert (filled[:, 0] == -1).all() and (filled[:, -1] == -1).all()
    assert (filled[:, :, 0] == -1).all() and (filled[:, :, -1] == -1).all()
    assert torch.equal(filled[:, 1:-1, 1:-1], fill_holes(values))


def test_a_very_long_row_is_exact():
    """A single row of 700,000 pixels, whose components are its runs (no 2x2 window, so every
    contour area is 0 and the largest contour is the last run)."""
    width = 700_000
    generator = torch.Generator().manual_seed(0)
    row = torch.randint(0, 256, (width,), generator=generator, dtype=torch.int32)
    row[-5:] = 0  # the last run ends before the right border
    levels = torch.tensor([10, 128, 250])
    values = row.view(1, 1, width)
    boxes, _ = _contours.box_protocol(values, _contours.fill_holes(values), levels, largest=True)
    assert boxes is not None
    for j, level in enumerate(levels.tolist()):
        above = np.flatnonzero(row.numpy() > level)
        start = above[-1]
        while start > 0 and row[start - 1] > level:
            start -= 1
        assert boxes[0, j].tolist() == [start, 0, above[-1], 0]


def _fresh_kernel_state(monkeypatch: pytest.MonkeyPatch, cache) -> None:
    """Forget this process's compiled kernel and compile into ``cache``."""
    monkeypatch.setattr(_contours, "_state", {})
    monkeypatch.setenv("CAPTUM_INFOCAM_CACHE", str(cache))


def test_the_kernel_is_compiled_once_into_a_cache_named_by_its_source(monkeypatch, tmp_path):
    _fresh_kernel_state(monkeypatch, tmp_path)
    path = _contours.library_path()
    assert path.parent == tmp_path and not path.exists()
    assert _contours.available(CPU)
    assert path.exists() and list(tmp_path.iterdir()) == [path]  # no temporary file left
    built = path.stat().st_mtime_ns
    monkeypatch.setattr(_contours, "_state", {})  # a new process finds it in the cache
    assert _contours.available(CPU) and path.stat().st_mtime_ns == built
    monkeypatch.setenv("CC", "cc -DCAPTUM_INFOCAM_OTHER_FLAGS")
    assert _contours.library_path() != path  # another compiler command, another library
    assert not _contours.available(torch.device("meta"))  # the CPU only


def test_a_kernel_that_cannot_be_built_falls_back_to_torch_with_a_warning(
    monkeypatch, tmp_path, caplog
):
    maps = _maps("multi-blob", 4, 32, 28, seed=5)
    boxes = torch.tensor([[3, 4, 20, 25]]).expand(4, 4)
    thresholds = threshold_grid(50)
    native = [box_hits(maps, boxes, thresholds, (0.3, 0.5), multi) for multi in (False, True)]
    _fresh_kernel_state(monkeypatch, tmp_path)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with caplog.at_level(logging.WARNING, logger="captum_infocam"):
        assert not _contours.available(CPU)
        assert not _contours.available(CPU)  # tried once per process
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "no-such-compiler" in message and "CAPTUM_INFOCAM_NATIVE=0" in message
    fallback = [box_hits(maps, boxes, thresholds, (0.3, 0.5), multi) for multi in (False, True)]
    assert all(map(torch.equal, native, fallback))
    assert list(tmp_path.iterdir()) == []  # no half-built library left behind


def test_the_kernel_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("CAPTUM_INFOCAM_NATIVE", "0")
    assert not _contours.available(CPU)
    with pytest.raises(RuntimeError, match="not available"):
        _contours.fill_holes(torch.zeros(1, 2, 2, dtype=torch.int32))
    monkeypatch.setenv("CAPTUM_INFOCAM_NATIVE", "1")
    assert _contours.available(CPU)


def test_threads_evaluating_at_once_get_their_own_results():
    """The kernel's calls release the GIL and own their memory: four threads, each on its own
    maps, get what they get one after another."""
    batches = [_maps(kind, 6, 48, 40, seed=i) for i, kind in enumerate(KINDS[:4])]
    boxes = torch.tensor([[5, 6, 30, 35]]).expand(6, 4)
    thresholds = threshold_grid(100)
    expected = [box_hits(maps, boxes, thresholds, (0.5,), True) for maps in batches]
    results: list[list[torch.Tensor]] = [[] for _ in batches]
    start = threading.Barrier(len(batches))

    def work(index: int) -> None:
        start.wait()
        for _ in range(5):
            results[index].append(box_hits(batches[index], boxes, thresholds, (0.5,), True))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        assert len(got) == 5 and all(torch.equal(hits, want) for hits in got)
