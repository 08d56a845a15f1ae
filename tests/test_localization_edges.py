"""Edge cases of the box protocol's level components, against OpenCV.

The parity tests use maps of a few fixed sizes; these reach the shapes and budgets where the
block layout, the binned extents and the chunking take their other branches: one-pixel rows
and columns (padding a whole block row or column, and no 2x2 window, so every contour area
is zero), odd heights and widths, structured maps whose components meet only diagonally
across block boundaries, nested holes, constant maps, single maps against batches, and
budgets small enough that every stage splits its work (chunks of maps, groups of maps,
blocks of levels, edges deduplicated by sorting).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import captum_infocam.localization._level_components as level_module
import captum_infocam.localization.box_protocol as protocol_module
from captum_infocam.localization import (
    best_box_iou,
    box_hits,
    reference_boxes_from_maps,
    threshold_grid,
)

from opencv_reference import normalize_scoremap, reference_box_hits, reference_boxes

cv2 = pytest.importorskip("cv2", reason="the OpenCV reference needs opencv-python-headless")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

THRESHOLDS = [0.0, 0.1, 0.3, 0.5, 0.6, 0.9, 0.999, 1.0]


def _edge_maps(height: int, width: int, seed: int) -> torch.Tensor:
    """Noise, few levels, binary, constant and structured maps (float64), 10 of them."""
    generator = torch.Generator().manual_seed(seed)
    shape = (height, width)
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    ring = torch.maximum((x - centre_x).abs(), (y - centre_y).abs()).floor()
    corners = torch.zeros(shape)
    corners[-1, -1], corners[0, 0] = 1.0, 0.5  # the last pixel sits beside the padding
    maps = [
        torch.rand(shape, generator=generator),
        torch.randint(0, 4, shape, generator=generator).float(),
        (torch.rand(shape, generator=generator) > 0.5).float(),
        torch.full(shape, 2.5),
        ((x + y) % 2).float(),  # checkerboard: 8-connected foreground, 4-connected holes
        ((x + y) % 3 == 0).float(),  # diagonals through the corners of the blocks
        ((x - y) % 3 == 0).float(),  # anti-diagonals
        (ring % 2 == 0) * (1.0 + ring),  # nested square rings, rising outwards
        torch.randint(0, 3, shape, generator=generator) + 0.01 * torch.rand(shape),
        corners,
    ]
    return torch.stack(maps).double()


def _every_contour_boxes(maps: torch.Tensor, thresholds: list[float]) -> list[list[list]]:
    """Sorted boxes of every contour, per map and threshold (empty where none)."""
    taus = torch.tensor(thresholds, dtype=torch.float64)
    levels, level_index = protocol_module._threshold_levels(taus)
    fine, bits = protocol_module._quantize_fine(maps)
    quantized = protocol_module._QuantizedMaps(fine, bits)
    slots, boxes = protocol_module._every_contour_boxes(quantized, levels)
    found: dict[int, list] = {}
    for slot, box in zip(slots.tolist(), boxes.tolist(), strict=True):
        found.setdefault(slot, []).append(box)
    num_levels = levels.numel()
    return [
        [sorted(found.get(n * num_levels + int(j), [])) for j in level_index]
        for n in range(len(maps))
    ]


def _assert_boxes_equal_the_reference(maps: torch.Tensor, thresholds: list[float]) -> None:
    largest = reference_boxes_from_maps(maps, thresholds).numpy()
    every = _every_contour_boxes(maps, thresholds)
    for index, scoremap in enumerate(maps.numpy()):
        normalised = normalize_scoremap(scoremap)
        expected = np.concatenate(reference_boxes(normalised, thresholds, False))
        assert np.array_equal(largest[index], expected), index
        quantised = (normalised * 255).astype(np.uint8)
        for t, boxes in enumerate(reference_boxes(normalised, thresholds, True)):
            # No pixel above the level: the reference's fallback box, no contour here.
            no_contour = not (quantised > int(thresholds[t] * quantised.max())).any()
            expected_every = [] if no_contour else sorted(boxes.tolist())
            assert every[index][t] == expected_every, (index, thresholds[t])


EDGE_SHAPES = [(1, 1), (1, 9), (8, 1), (2, 3), (3, 2), (1, 2), (5, 7), (9, 10)]


@pytest.mark.usefixtures("box_backend")
@pytest.mark.parametrize("height, width", EDGE_SHAPES)
def test_every_contour_and_the_largest_equal_the_reference_on_padded_shapes(height, width):
    maps = _edge_maps(height, width, seed=height * 31 + width)
    _assert_boxes_equal_the_reference(maps, THRESHOLDS)
    # A single map gives what it gives in the batch.
    single = torch.cat([reference_boxes_from_maps(m[None], THRESHOLDS) for m in maps])
    assert torch.equal(single, reference_boxes_from_maps(maps, THRESHOLDS))


@pytest.mark.usefixtures("box_backend")
@pytest.mark.parametrize("height, width", EDGE_SHAPES)
def test_hits_of_both_rules_equal_the_reference_on_padded_shapes(height, width):
    maps = _edge_maps(height, width, seed=height * 17 + width)
    generator = torch.Generator().manual_seed(height * width)
    # Two boxes per map: sorted pairs of x and of y.
    x = torch.randint(0, width, (len(maps), 2, 2), generator=generator).sort(-1).values
    y = torch.randint(0, height, (len(maps), 2, 2), generator=generator).sort(-1).values
    boxes = list(torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1))
    deltas = (0.1, 0.3, 0.5, 0.7)
    for multi in (False, True):
        expected = reference_box_hits(
            maps.numpy(), [b.numpy() for b in boxes], THRESHOLDS, deltas, multi
        )
        hits = box_hits(maps, boxes, THRESHOLDS, deltas, multi)
        assert np.array_equal(hits.numpy(), expected), multi


@pytest.mark.usefixtures("box_backend")
@pytest.mark.parametrize("height, width", [(1, 12), (11, 1), (7, 6)])
def test_a_thousand_thresholds_on_padded_shapes(height, width):
    maps = _edge_maps(height, width, seed=7)
    _assert_boxes_equal_the_reference(maps, threshold_grid(1000).tolist())


def _window_area2(component: np.ndarray) -> int:
    """Twice the contour area of a hole-free component: 2x2 windows, 2 for four corners in
    it, 1 for three."""
    corners = (
        component[:-1, :-1].astype(int)
        + component[:-1, 1:]
        + component[1:, :-1]
        + component[1:, 1:]
    )
    return int(2 * (corners == 4).sum() + (corners == 3).sum())


@pytest.mark.parametrize("connectivity", [4, 8])
def test_first_keys_areas_and_borders_on_padded_shapes(connectivity):
    """Boxes, first index and border flag against cv2.connectedComponents; the area against
    the window count; ``first="order"`` and ``None`` give the same boxes and order."""
    generator = torch.Generator().manual_seed(connectivity)
    levels = torch.arange(-1, 5)
    for height, width in [(1, 1), (1, 6), (5, 1), (2, 3), (3, 5), (6, 7)]:
        values = torch.randint(0, 5, (3, height, width), generator=generator)
        values[2] = 2  # a constant map
        bits = level_module.refinement_bits(height, width)
        refine = torch.randint(0, 2**bits, values.shape, generator=generator).int()
        basins = level_module.find_basins(values, connectivity, refine)
        fine, bits = level_module._fine_values(values, refine)
        results = {
            first: level_module._level_components(
                fine, bits, levels, basins, with_area=True, with_border=True, first=first
            )
            for first in ("exact", "order", None)
        }
        exact = results["exact"]
        with pytest.raises(ValueError, match="without their first index"):
            results[None].first(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
        for n, (j, level) in itertools.product(range(3), enumerate(levels.tolist())):
            mask = (values[n].numpy() > level).astype(np.uint8)
            count, labels = cv2.connectedComponents(mask, connectivity=connectivity)
            expected = []
            for label in range(1, count):
                ys, xs = np.nonzero(labels == label)
                component = labels == label
                border = bool(ys.min() == 0 or xs.min() == 0)
                border |= bool(ys.max() == height - 1 or xs.max() == width - 1)
                expected.append(
                    (
                        (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                        int((ys * width + xs).min()),
                        _window_area2(component) if connectivity == 8 else None,
                        border,
                    )
                )
            basin = (exact.is_root[j] & (exact.map_index == n)).nonzero().squeeze(1)
            level_index = torch.full_like(basin, j)
            boxes = exact.boxes(level_index, basin)
            firsts = exact.first(level_index, basin)
            found = sorted(
                zip(
                    map(tuple, boxes.tolist()),
                    firsts.tolist(),
                    exact.area2[j, basin].tolist() if connectivity == 8 else [None] * len(basin),
                    (exact.border_peak[j, basin] > level).tolist(),
                    strict=True,
                )
            )
            assert found == sorted(expected), (height, width, n, level)
            for first in ("order", None):
                other = results[first]
                assert torch.equal(other.is_root, exact.is_root)
                assert torch.equal(other.boxes(level_index, basin), boxes)
                assert torch.equal(other.area2[j, basin], exact.area2[j, basin])
            order = results["order"].first(level_index, basin)
            assert torch.equal(order.argsort(), firsts.argsort())


@pytest.mark.usefixtures("torch_box_backend")
def test_small_budgets_split_every_stage_and_keep_parity(monkeypatch):
    """Chunks of maps (with a NaN map in a later chunk), groups within the chunks, blocks of
    levels and edges deduplicated by sorting give the reference's hits and boxes."""
    generator = torch.Generator().manual_seed(9)
    height, width = 7, 9
    maps = torch.cat(
        [
            torch.rand(4, height, width, generator=generator, dtype=torch.float64),
            _edge_maps(height, width, seed=10)[[1, 4, 7, 8]],
        ]
    )
    maps[5, 3, 4] = float("nan")
    corners = torch.randint(0, 7, (len(maps), 2, 2), generator=generator).sort(1).values
    boxes = [torch.tensor([[x1, y1, x2, y2]]) for (x1, y1), (x2, y2) in corners.tolist()]
    thresholds = threshold_grid(100).tolist()
    deltas = (0.2, 0.5, 0.8)
    monkeypatch.setattr(protocol_module, "_CPU_CHUNK_PIXELS", 3 * height * width)
    monkeypatch.setattr(protocol_module, "_LEVEL_BASIN_BUDGET", 1)  # one map per group
    monkeypatch.setattr(level_module, "_PAIR_BUDGET", 40)
    monkeypatch.setattr(level_module, "_EDGE_TABLE_BUDGET", 0)
    blocks = []
    label_block = level_module._label_level_block

    def counted(basins, num_levels_below, start, stop):
        blocks.append((start, stop))
        return label_block(basins, num_levels_below, start, stop)

    monkeypatch.setattr(level_module, "_label_level_block", counted)
    assert len(protocol_module._chunks(maps)) == 3
    zeroed = torch.where(torch.isnan(maps), 0.0, maps)
    zeroed[5] = 0.0  # the reference's normalize_scoremap: a map with NaN becomes zeros
    iou = best_box_iou(maps, boxes, thresholds, nan_policy="zero")
    for multi, best in ((False, iou.largest_contour), (True, iou.every_contour)):
        expected = reference_box_hits(
            zeroed.numpy(), [b.numpy() for b in boxes], thresholds, deltas, multi
        )
        hits = box_hits(maps, boxes, thresholds, deltas, multi, nan_policy="zero")
        assert np.array_equal(hits.numpy(), expected)
        within = best.unsqueeze(1) >= torch.tensor(deltas, dtype=torch.float64).view(1, -1, 1)
        assert np.array_equal(within.numpy(), expected)
    assert len({start for start, _ in blocks}) > 10  # the levels were split into blocks
    drawn = reference_boxes_from_maps(maps, thresholds, nan_policy="zero").numpy()
    for index, scoremap in enumerate(zeroed.numpy()):
        expected = reference_boxes(normalize_scoremap(scoremap), thresholds, False)
        assert np.array_equal(drawn[index], np.concatenate(expected)), index


@pytest.mark.usefixtures("torch_box_backend")
@pytest.mark.parametrize("height, width", [(1, 9), (5, 7), (9, 10), (16, 13)])
def test_labelling_on_the_spanning_forest_keeps_parity(monkeypatch, height, width):
    """From _FOREST_PAIRS (level, edge) pairs the levels are labelled on a maximum spanning
    forest of the basin graph: forced here on every call, with level blocks too."""
    forests = []
    find_forest = level_module._maximum_spanning_forest

    def counted(basins):
        forests.append(basins.edge_a.numel())
        return find_forest(basins)

    monkeypatch.setattr(level_module, "_FOREST_PAIRS", 0)
    monkeypatch.setattr(level_module, "_maximum_spanning_forest", counted)
    maps = _edge_maps(height, width, seed=height * 7 + width)
    _assert_boxes_equal_the_reference(maps, threshold_grid(1000).tolist())
    monkeypatch.setattr(level_module, "_PAIR_BUDGET", 30)
    _assert_boxes_equal_the_reference(maps, THRESHOLDS)
    assert max(forests) > 0  # graphs with edges went through the forest


def _kruskal_weight_and_components(edges, count):
    """Total weight of a maximum spanning forest and the components, by Kruskal's rule."""
    parent = list(range(count))

    def find(node):
        while parent[node] != node:
            node = parent[node]
        return node

    total = 0
    for a, b, weight in sorted(edges, key=lambda edge: -edge[2]):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
            total += weight
    return total, [find(node) for node in range(count)]


@pytest.mark.parametrize("seed", range(6))
def test_maximum_spanning_forest_is_kruskals(seed):
    generator = torch.Generator().manual_seed(seed)
    count = int(torch.randint(2, 40, (1,), generator=generator))
    pairs = torch.randint(0, count, (3 * count, 2), generator=generator)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]].sort(dim=1).values.unique(dim=0)
    weights = torch.randint(0, 4, (len(pairs),), generator=generator)  # many ties
    basins = level_module.Basins(
        of_block=torch.zeros(0, dtype=torch.int32),
        grid=level_module._Grid(1, 1, 1, 8),
        count=count,
        map_index=torch.zeros(count, dtype=torch.long),
        peak=torch.full((count,), 255),
        edge_a=pairs[:, 0],
        edge_b=pairs[:, 1],
        edge_weight=weights,
    )
    forest = level_module._maximum_spanning_forest(basins)
    edges = list(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), weights.tolist(), strict=True))
    total, components = _kruskal_weight_and_components(edges, count)
    kept = [edge for edge, keep in zip(edges, forest.tolist(), strict=True) if keep]
    kept_total, kept_components = _kruskal_weight_and_components(kept, count)
    assert kept_total == total == sum(weight for _, _, weight in kept)  # a forest, of max weight
    assert kept_components == components
