"""Box protocol: hand-made maps with known boxes, brute-force references, batching, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import captum_infocam.localization._level_components as level_module
import captum_infocam.localization.box_protocol as protocol_module
from captum_infocam.localization import (
    as_ground_truth_boxes,
    best_box_iou,
    box_accuracy,
    box_hits,
    box_iou,
    pointing_game,
    quantize_maps,
    reference_boxes_from_maps,
    threshold_grid,
)
from captum_infocam.localization._level_components import (
    fill_holes,
    find_basins,
    level_components,
    refinement_bits,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blank(height: int = 12, width: int = 12) -> torch.Tensor:
    return torch.zeros(1, height, width)


# --------------------------------------------------------------------------- IoU and grid


def test_box_iou_matches_pixel_counting():
    generator = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 9, (200, 2, 2), generator=generator)
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], dim=1)
    first, second = boxes[:100], boxes[100:]
    grid_y, grid_x = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")

    def masks(boxes: torch.Tensor) -> torch.Tensor:  # (B, 9, 9): the pixels of each box
        x1, y1, x2, y2 = (boxes[:, i, None, None] for i in range(4))
        return (grid_x >= x1) & (grid_x <= x2) & (grid_y >= y1) & (grid_y <= y2)

    inside_first, inside_second = masks(first), masks(second)
    expected = (inside_first & inside_second).sum((1, 2)).double() / (
        inside_first | inside_second
    ).sum((1, 2))
    torch.testing.assert_close(box_iou(first, second), expected)
    matrix = box_iou(first[:, None], second[None])
    torch.testing.assert_close(matrix.diagonal(), expected)


def test_box_iou_counts_inclusive_pixels():
    assert box_iou(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 0])).item() == 1.0
    assert box_iou(torch.tensor([0, 0, 1, 1]), torch.tensor([2, 2, 3, 3])).item() == 0.0
    assert box_iou(torch.tensor([0, 0, 9, 9]), torch.tensor([0, 0, 4, 9])).item() == 0.5


def test_threshold_grid_is_numpy_arange():
    for count in (1, 7, 100, 1000):
        expected = np.arange(0, 1, 1 / count)
        assert np.array_equal(threshold_grid(count).numpy(), expected)


def test_quantize_maps_is_min_max_then_truncation():
    maps = torch.tensor([[[2.0, 3.0], [4.0, 6.0]]])
    assert quantize_maps(maps).tolist() == [[[0, 63], [127, 255]]]
    assert quantize_maps(torch.full((2, 3, 3), 7.5)).eq(0).all()
    scaled = torch.randn(3, 5, 6, dtype=torch.float64)
    assert torch.equal(quantize_maps(scaled), quantize_maps(scaled * 4 - 3))


# --------------------------------------------------------------------------- hand-made maps


@pytest.mark.usefixtures("box_backend")
def test_one_blob_gives_its_box_with_the_reference_convention():
    maps = _blank()
    maps[0, 3:7, 2:9] = 1.0  # rows 3..6, columns 2..8
    boxes = reference_boxes_from_maps(maps, [0.0, 0.5, 0.99, 1.0])
    # cv2.boundingRect gives (x, y, w, h); the reference keeps (x, y, x + w, y + h).
    assert boxes[0, :3].tolist() == [[2, 3, 9, 7]] * 3
    assert boxes[0, 3].tolist() == [0, 0, 0, 0]  # tau = 1: nothing is above 255
    exact = torch.tensor([[2, 3, 8, 6]])
    iou = box_iou(torch.tensor([2, 3, 9, 7]), exact[0]).item()
    assert iou == pytest.approx(28 / 40)
    hits = box_hits(maps, [exact], [0.5], iou_thresholds=[0.7, 0.71])
    assert hits[0, :, 0].tolist() == [True, False]


def test_boxes_from_maps_is_a_deprecated_alias():
    import captum_infocam.localization as package

    maps = _blank()
    maps[0, 2:5, 3:7] = 1.0
    for module in (package, protocol_module):
        with pytest.warns(DeprecationWarning, match=r"boxes_from_maps is deprecated .* use "):
            old = module.boxes_from_maps
        assert old is reference_boxes_from_maps
    with pytest.warns(DeprecationWarning, match="reference_boxes_from_maps instead"):
        from captum_infocam.localization import boxes_from_maps
    assert boxes_from_maps(maps, [0.5]).tolist() == [[[3, 2, 7, 5]]]


@pytest.mark.usefixtures("box_backend")
def test_two_blobs_largest_for_maxboxacc_every_one_for_v2():
    maps = _blank(16, 16)
    maps[0, 1:4, 1:4] = 1.0  # small blob, area 4
    maps[0, 8:15, 6:15] = 0.8  # large blob, area 48
    small = torch.tensor([[1, 1, 3, 3]])
    thresholds = [0.1, 0.5, 0.9]
    assert reference_boxes_from_maps(maps, thresholds)[0].tolist() == [
        [6, 8, 15, 15],
        [6, 8, 15, 15],
        [1, 1, 4, 4],  # only the brighter small blob is above 0.9
    ]
    largest = box_hits(maps, [small], thresholds, [0.5], multi_contour=False)
    every = box_hits(maps, [small], thresholds, [0.5], multi_contour=True)
    assert largest[0, 0].tolist() == [False, False, True]
    assert every[0, 0].tolist() == [True, True, True]


@pytest.mark.usefixtures("box_backend")
def test_a_hole_counts_in_the_contour_area_and_has_its_own_box():
    maps = _blank(20, 20)
    maps[0, 2:11, 2:11] = 1.0  # ring: 9x9 square with a 5x5 hole, 56 pixels
    maps[0, 4:9, 4:9] = 0.0
    maps[0, 13:19, 2:19] = 1.0  # solid bar, 102 pixels, contour area 5 * 16 = 80
    # The ring's outer contour encloses 8 * 8 = 64 < 80: the bar is the largest contour.
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [2, 13, 19, 19]
    # A 6x10 bar has more pixels than the ring (60 > 56) but encloses 5 * 9 = 45 < 64:
    # the largest contour is the ring's, holes included, as with cv2.contourArea.
    maps[0, 13:19, 12:19] = 0.0
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [2, 2, 11, 11]
    # The hole's contour runs through the ring pixels around it: rows/columns 3..9, so its
    # box is (3, 3, 10, 10); an object filling the hole is found only with every contour.
    hole = torch.tensor([[4, 4, 8, 8]])
    every = box_hits(maps, [hole], [0.5], [0.6], multi_contour=True)
    largest = box_hits(maps, [hole], [0.5], [0.6], multi_contour=False)
    assert box_iou(torch.tensor([3, 3, 10, 10]), hole[0]).item() == pytest.approx(25 / 64)
    assert not every.any() and not largest.any()
    assert box_hits(maps, [hole], [0.5], [25 / 64], multi_contour=True).all()
    assert not box_hits(maps, [hole], [0.5], [25 / 64], multi_contour=False).any()


@pytest.mark.usefixtures("box_backend")
def test_regions_touching_the_border_are_clipped_like_the_reference():
    maps = _blank(10, 14)
    maps[0, 6:10, 9:14] = 1.0  # bottom-right corner
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [9, 6, 13, 9]
    maps = _blank(10, 14)
    maps[0, 0:3, 0:4] = 1.0  # top-left corner
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [0, 0, 4, 3]


@pytest.mark.usefixtures("box_backend")
def test_a_constant_map_gives_the_empty_box_everywhere():
    maps = torch.full((2, 8, 8), 3.0)
    assert reference_boxes_from_maps(maps, threshold_grid(10)).eq(0).all()
    # The empty box (0, 0, 0, 0) is one pixel: it matches a one-pixel box at the origin.
    boxes = [torch.tensor([[0, 0, 0, 0]]), torch.tensor([[1, 1, 5, 5]])]
    accuracy = box_accuracy(maps, boxes, threshold_grid(10), [0.5], multi_contour=True)
    assert accuracy.eq(0.5).all()


@pytest.mark.usefixtures("box_backend")
def test_ties_go_to_the_region_found_last_like_cv2():
    maps = _blank(12, 12)
    maps[0, 1:4, 6:9] = 1.0  # same area, found first in raster order
    maps[0, 6:9, 1:4] = 1.0  # found last
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [1, 6, 4, 9]
    maps = _blank(12, 12)
    maps[0, 2, 2] = 1.0  # single pixels and a line all have contour area 0
    maps[0, 5, 4:8] = 1.0
    maps[0, 9, 1] = 1.0
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [1, 9, 2, 10]


@pytest.mark.usefixtures("box_backend")
def test_threshold_keeps_values_strictly_above_int_tau_times_255():
    maps = torch.zeros(1, 4, 4, dtype=torch.float64)
    maps[0, 0, 0] = 1.0
    maps[0, 2, 2] = 51 / 255 + 1e-9  # quantised to 51 = int(0.2 * 255)
    boxes = reference_boxes_from_maps(maps, [0.2, 0.199])[0]
    assert boxes.tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    maps[0, 2, 2] = 0.9
    maps[0, 0, 1] = 0.9  # diagonal neighbours are connected: 8-connectivity
    maps[0, 1, 2] = 0.9
    assert reference_boxes_from_maps(maps, [0.5])[0, 0].tolist() == [0, 0, 3, 3]


@pytest.mark.usefixtures("box_backend")
def test_accuracy_is_the_mean_of_hits_and_batches_are_independent():
    generator = torch.Generator().manual_seed(3)
    low = torch.randn(6, 1, 4, 4, generator=generator)
    maps = torch.nn.functional.interpolate(low, size=(24, 20), mode="bicubic")[:, 0]
    boxes = [torch.tensor([[2, 3, 12, 15], [10, 0, 19, 9]]), torch.tensor([5, 5, 14, 20])] * 3
    thresholds = threshold_grid(25)
    for multi in (False, True):
        hits = box_hits(maps, boxes, thresholds, (0.3, 0.5, 0.7), multi)
        single = torch.cat(
            [
                box_hits(maps[i : i + 1], [boxes[i]], thresholds, (0.3, 0.5, 0.7), multi)
                for i in range(6)
            ]
        )
        assert torch.equal(hits, single)
        accuracy = box_accuracy(maps.unsqueeze(1), boxes, thresholds, (0.3, 0.5, 0.7), multi)
        torch.testing.assert_close(accuracy, hits.double().mean(0))
        assert accuracy.shape == (3, 25)
        assert (accuracy[0] >= accuracy[1]).all() and (accuracy[1] >= accuracy[2]).all()


@pytest.mark.usefixtures("box_backend")
def test_best_box_iou_gives_both_rules_hits_in_one_pass():
    generator = torch.Generator().manual_seed(4)
    low = torch.randn(6, 1, 4, 4, generator=generator)
    maps = torch.nn.functional.interpolate(low, size=(24, 20), mode="bicubic")[:, 0]
    boxes = [torch.tensor([[2, 3, 12, 15], [10, 0, 19, 9]]), torch.tensor([5, 5, 14, 20])] * 3
    thresholds, deltas = threshold_grid(25), torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    iou = best_box_iou(maps, boxes, thresholds)
    for multi, best in ((False, iou.largest_contour), (True, iou.every_contour)):
        assert best.shape == (6, 25) and best.dtype == torch.float64
        hits = box_hits(maps, boxes, thresholds, deltas, multi)
        assert torch.equal(best.unsqueeze(1) >= deltas.view(1, -1, 1), hits)
    # The largest contour is one of every contour: its IoU is never the better one.
    assert (iou.every_contour >= iou.largest_contour).all()
    assert (iou.every_contour > iou.largest_contour).any()  # and the rules do differ here


@pytest.mark.usefixtures("box_backend")
def test_the_callers_maps_and_boxes_are_not_modified():
    maps = torch.randn(2, 9, 9)
    boxes = torch.tensor([[1, 1, 4, 4], [0, 2, 8, 8]])
    maps_copy, boxes_copy = maps.clone(), boxes.clone()
    box_hits(maps, boxes, threshold_grid(5), multi_contour=True)
    assert torch.equal(maps, maps_copy) and torch.equal(boxes, boxes_copy)


# --------------------------------------------------------------------------- brute force


def _flood_fill_components(mask: np.ndarray, connectivity: int) -> list[set[tuple[int, int]]]:
    height, width = mask.shape
    if connectivity == 8:
        steps = [(dy, dx) for dy, dx in itertools.product((-1, 0, 1), repeat=2) if dy or dx]
    else:
        steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    seen = np.zeros_like(mask, dtype=bool)
    components = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, pixels = [(y, x)], set()
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            pixels.add((int(cy), int(cx)))
            for dy, dx in steps:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        components.append(pixels)
    return components


@pytest.mark.parametrize("refine", [False, True], ids=["index-ties", "refined-ties"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_level_components_match_a_flood_fill_at_every_level(connectivity, refine):
    generator = torch.Generator().manual_seed(connectivity)
    values = torch.randint(0, 6, (5, 7, 9), generator=generator)
    values[4] = 2  # a constant map
    levels = torch.arange(-1, 6)
    # Any tie-breaker between pixels of equal value changes the basins, not the components.
    tie_breaker = torch.randint(0, 2 ** refinement_bits(7, 9), (5, 7, 9), generator=generator)
    basins = find_basins(values, connectivity, tie_breaker.int() if refine else None)
    components = level_components(values, levels, connectivity, with_border=True, basins=basins)
    width = values.shape[2]
    for n, (j, level) in itertools.product(range(5), enumerate(levels.tolist())):
        expected = sorted(
            (min(x for _, x in c), min(y for y, _ in c), max(x for _, x in c), max(y for y, _ in c))
            for c in _flood_fill_components(values[n].numpy() > level, connectivity)
        )
        roots = components.is_root[j] & (components.map_index == n)
        basin = roots.nonzero().squeeze(1)
        level_index = torch.full_like(basin, j)
        found = sorted(tuple(box) for box in components.boxes(level_index, basin).tolist())
        assert found == expected, (n, level)
        firsts = sorted(components.first(level_index, basin).tolist())
        assert firsts == sorted(
            min(y * width + x for y, x in c)
            for c in _flood_fill_components(values[n].numpy() > level, connectivity)
        )


def test_fill_holes_is_the_minimax_path_to_the_border():
    generator = torch.Generator().manual_seed(5)
    values = torch.randint(0, 5, (3, 6, 7), generator=generator)
    filled = fill_holes(values, find_basins(255 - values, 4))
    for n in range(3):
        for level in range(-1, 5):
            background = values[n].numpy() <= level
            outside = set().union(
                *(
                    c
                    for c in _flood_fill_components(background, 4)
                    if any(y in (0, 5) or x in (0, 6) for y, x in c)
                )
            )
            inside = {(y, x) for y in range(6) for x in range(7)} - outside
            assert {tuple(p) for p in (filled[n] > level).nonzero().tolist()} == inside


@pytest.mark.parametrize("size", [0, 7, 4096, 4100, 2**14])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.3, 1.0])
def test_sparse_nonzero_is_nonzero(size, density):
    generator = torch.Generator().manual_seed(size)
    mask = torch.rand(size, generator=generator) < density
    mask[size // 2 :: 997] = True  # runs of entries in one word and lone ones
    expected = mask.nonzero().squeeze(1)
    assert torch.equal(level_module._sparse_nonzero(mask), expected)


def test_basin_edges_are_the_largest_crossing_minimum_of_each_pair():
    generator = torch.Generator().manual_seed(3)
    values = torch.randint(0, 6, (3, 9, 10), generator=generator)
    basins = find_basins(values, 8)
    basin = basins.of_pixel.view(3, 9, 10)
    brute: dict[tuple[int, int], int] = {}
    for n, y, x in itertools.product(range(3), range(9), range(10)):
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
            if 0 <= y + dy < 9 and 0 <= x + dx < 10:
                a, b = int(basin[n, y, x]), int(basin[n, y + dy, x + dx])
                if a != b:
                    weight = min(int(values[n, y, x]), int(values[n, y + dy, x + dx]))
                    pair = (min(a, b), max(a, b))
                    brute[pair] = max(brute.get(pair, -1), weight)
    edges = zip(
        basins.edge_a.tolist(), basins.edge_b.tolist(), basins.edge_weight.tolist(), strict=True
    )
    assert {(a, b): w for a, b, w in edges} == brute


def test_edge_deduplication_by_table_and_by_sorting_agree():
    # Codes low * span + (high - low) of pairs within a map; a huge basin count forces the
    # sort, whose result must be the table's (pairs in the same order, weight -1 dropped).
    generator = torch.Generator().manual_seed(4)
    span, count = 7, 40
    low = torch.randint(0, count - span, (500,), generator=generator)
    code = low * span + torch.randint(1, span, (500,), generator=generator)
    weight = torch.randint(-1, 50, (500,), generator=generator)
    by_table = level_module._dedupe_edges(code, weight, count, span)
    by_sorting = level_module._dedupe_edges(code, weight, 10**9, span)
    for table_part, sorted_part in zip(by_table, by_sorting, strict=True):
        assert torch.equal(table_part, sorted_part)
    expected: dict[tuple[int, int], int] = {}
    for c, w in zip(code.tolist(), weight.tolist(), strict=True):
        if w >= 0:
            pair = (c // span, c // span + c % span)
            expected[pair] = max(expected.get(pair, -1), w)
    low_, high_, weight_ = by_table
    pairs = zip(low_.tolist(), high_.tolist(), strict=True)
    assert dict(zip(pairs, weight_.tolist(), strict=True)) == expected


def test_contour_area_of_simple_shapes():
    values = torch.zeros(1, 8, 8, dtype=torch.int32)
    values[0, 1:4, 1:4] = 1  # 3x3 square: area 4
    values[0, 3, 3] = 0  # minus a corner: 3.5
    values[0, 6, 1:6] = 1  # a line: 0
    components = level_components(values, torch.tensor([0]), 8, with_area=True)
    roots = components.is_root[0]
    basin = roots.nonzero().squeeze(1)
    tops = components.boxes(torch.zeros_like(basin), basin)[:, 1].tolist()
    areas = components.area2[0][roots].tolist()
    areas = dict(zip(tops, areas, strict=True))
    assert areas == {1: 7, 6: 0}  # twice the areas


# --------------------------------------------------------------------------- errors


def test_bad_maps_are_rejected_with_the_argument_name():
    boxes = [torch.tensor([0, 0, 1, 1])]
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\)"):
        box_accuracy(torch.rand(4, 4), boxes, [0.5])
    with pytest.raises(ValueError, match="maps must have shape"):
        box_accuracy(torch.rand(1, 2, 4, 4), boxes, [0.5])
    with pytest.raises(TypeError, match="maps must have a floating dtype"):
        box_accuracy(torch.ones(1, 4, 4, dtype=torch.long), boxes, [0.5])
    with pytest.raises(TypeError, match="maps must be a Tensor"):
        box_accuracy(np.ones((1, 4, 4)), boxes, [0.5])
    nan = torch.rand(1, 4, 4)
    nan[0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"maps\[0\] contains NaN.*nan_policy='zero'"):
        box_accuracy(nan, boxes, [0.5])
    infinite = torch.rand(1, 4, 4)
    infinite[0, 2, 2] = float("inf")
    with pytest.raises(ValueError, match="maps must be finite"):
        box_accuracy(infinite, boxes, [0.5], nan_policy="zero")
    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'zero'"):
        box_accuracy(nan, boxes, [0.5], nan_policy="omit")


def test_a_range_beyond_float64_is_a_clear_error():
    maps = torch.zeros(2, 4, 4, dtype=torch.float64)
    maps[1, 0, 0], maps[1, 3, 3] = -1e308, 1e308  # max - min overflows to infinity
    boxes = torch.tensor([[0, 0, 1, 1]] * 2)
    with pytest.raises(ValueError, match=r"maps\[1\]: max - min overflows float64"):
        box_accuracy(maps, boxes, [0.5])
    with pytest.raises(ValueError, match=r"maps\[1\]: max - min overflows float64"):
        quantize_maps(maps)


@pytest.mark.usefixtures("box_backend")
def test_nan_policy_zero_scores_a_nan_map_as_the_reference_does():
    # The reference's normalize_scoremap turns a map with NaN into zeros: a constant map,
    # whose box is the empty (0, 0, 0, 0) at every threshold.
    from opencv_reference import reference_box_hits

    generator = torch.Generator().manual_seed(5)
    maps = torch.nn.functional.interpolate(
        torch.randn(4, 1, 4, 4, generator=generator), size=(16, 16), mode="bicubic"
    )[:, 0]
    maps[1, 3, 4] = float("nan")
    original = maps.clone()
    boxes = torch.tensor([[2, 2, 12, 12], [0, 0, 0, 0], [0, 0, 5, 5], [4, 4, 15, 15]])
    zeroed = torch.where(torch.isnan(maps), 0.0, maps)
    zeroed[1] = 0.0
    thresholds = threshold_grid(20)
    for multi_contour in (False, True):
        hits = box_hits(maps, boxes, thresholds, (0.3, 0.5), multi_contour, nan_policy="zero")
        assert torch.equal(hits, box_hits(zeroed, boxes, thresholds, (0.3, 0.5), multi_contour))
        expected = reference_box_hits(
            maps.numpy(), list(boxes.numpy()), thresholds.tolist(), (0.3, 0.5), multi_contour
        )
        assert np.array_equal(hits.numpy(), expected)
        assert hits[1].all()  # the empty box matches the one-pixel box (0, 0, 0, 0)
    drawn = reference_boxes_from_maps(maps, [0.5], nan_policy="zero")
    assert drawn[1].tolist() == [[0, 0, 0, 0]]
    torch.testing.assert_close(maps, original, rtol=0, atol=0, equal_nan=True)  # untouched


def test_bad_thresholds_are_rejected():
    maps, boxes = torch.rand(1, 4, 4), [torch.tensor([0, 0, 1, 1])]
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0, 1\]"):
        box_accuracy(maps, boxes, [0.5, 1.5])
    with pytest.raises(ValueError, match=r"iou_thresholds must lie in \[0, 1\]"):
        box_accuracy(maps, boxes, [0.5], iou_thresholds=[-0.1])
    with pytest.raises(ValueError, match="thresholds must be a non-empty 1-D"):
        box_accuracy(maps, boxes, [])
    with pytest.raises(TypeError, match=r"multi_contour must be a bool, got builtins\.int"):
        box_accuracy(maps, boxes, [0.5], multi_contour=1)
    assert torch.equal(
        box_accuracy(maps, boxes, [0.5], multi_contour=np.bool_(True)),
        box_accuracy(maps, boxes, [0.5], multi_contour=True),
    )


def test_bad_boxes_are_rejected_with_the_image_and_box():
    maps = torch.rand(2, 6, 8)
    good = torch.tensor([[0, 0, 7, 5]])
    with pytest.raises(ValueError, match=r"gt_boxes\[1\] box 0 .* x2 < x1"):
        box_accuracy(maps, [good, torch.tensor([[3, 0, 2, 4]])], [0.5])
    with pytest.raises(ValueError, match=r"gt_boxes\[0\] box 1 .* outside the 8x6 image"):
        box_accuracy(maps, [torch.tensor([[0, 0, 1, 1], [0, 0, 8, 5]]), good], [0.5])
    with pytest.raises(ValueError, match="outside"):
        box_accuracy(maps, [good, torch.tensor([[-1, 0, 2, 2]])], [0.5])
    with pytest.raises(ValueError, match="gt_boxes must hold boxes for 2 images, got 1"):
        box_accuracy(maps, [good], [0.5])
    with pytest.raises(ValueError, match="gt_boxes must hold boxes for 1 image, got 2"):
        box_accuracy(maps[:1], [good, good], [0.5])
    with pytest.raises(ValueError, match=r"gt_boxes\[1\] must have shape \(M, 4\)"):
        box_accuracy(maps, [good, torch.zeros(0, 4)], [0.5])
    with pytest.raises(ValueError, match=r"gt_boxes\[0\] must have shape \(M, 4\)"):
        box_accuracy(maps, [torch.tensor([1, 2, 3]), good], [0.5])
    with pytest.raises(TypeError, match=r"gt_boxes\[1\] must be a Tensor"):
        box_accuracy(maps, [good, [0, 0, 1, 1]], [0.5])
    with pytest.raises(ValueError, match=r"as one tensor must have shape \(N, M, 4\)"):
        box_accuracy(maps, torch.zeros(2, 3), [0.5])


def test_ground_truth_padding():
    boxes, valid = as_ground_truth_boxes(
        [torch.tensor([1, 2, 3, 4]), torch.tensor([[0, 0, 1, 1], [2, 2, 5, 5]])], 2, 8, 8
    )
    assert boxes.dtype == torch.float64 and boxes.shape == (2, 2, 4)
    assert valid.tolist() == [[True, False], [True, True]]
    assert boxes[0, 0].tolist() == [1, 2, 3, 4] and boxes[0, 1].eq(0).all()
    same, _ = as_ground_truth_boxes(torch.tensor([[1, 2, 3, 4]] * 2), 2, 8, 8)
    assert same.shape == (2, 1, 4)


def test_rows_of_minus_one_are_padding_in_every_form():
    stacked = torch.tensor([[[2, 2, 5, 5], [-1, -1, -1, -1]], [[0, 0, 1, 1], [4, 4, 7, 7]]])
    boxes, valid = as_ground_truth_boxes(stacked, 2, 8, 8)
    assert valid.tolist() == [[True, False], [True, True]]
    assert boxes[0, 1].eq(0).all()
    listed, listed_valid = as_ground_truth_boxes([stacked[0, :1], stacked[1]], 2, 8, 8)
    assert torch.equal(boxes, listed) and torch.equal(valid, listed_valid)
    same, same_valid = as_ground_truth_boxes(list(stacked), 2, 8, 8)
    assert torch.equal(boxes, same) and torch.equal(valid, same_valid)


@pytest.mark.usefixtures("box_backend")
def test_padding_never_matches_the_empty_box():
    # A constant map has no foreground: its box is the fallback (0, 0, 0, 0), which must not
    # hit a padding row.
    maps = torch.ones(1, 8, 8)
    padded = torch.tensor([[[2, 2, 5, 5], [-1, -1, -1, -1]]])
    for multi_contour in (False, True):
        hits = box_hits(maps, padded, threshold_grid(4), multi_contour=multi_contour)
        assert not hits.any()
    assert float(pointing_game(maps, padded, tolerance=0.0)) == 0.0
    # Zero padding in the stacked form is the silent version of this bug: rejected.
    with pytest.raises(ValueError, match=r"gt_boxes\[0\] box 1 is \(0, 0, 0, 0\).*pad with -1"):
        box_accuracy(maps, torch.tensor([[[2, 2, 5, 5], [0, 0, 0, 0]]]), threshold_grid(4))
    # One box (0, 0, 0, 0) alone is a real one-pixel box.
    assert box_hits(maps, torch.tensor([[0, 0, 0, 0]]), [0.5]).all()
    with pytest.raises(ValueError, match=r"gt_boxes\[1\] has only padding rows"):
        as_ground_truth_boxes([padded[0], -torch.ones(2, 4)], 2, 8, 8)


@pytest.mark.usefixtures("box_backend")
def test_no_images_give_empty_boxes():
    for empty in ([], torch.zeros(0, 3, 4), torch.zeros(0, 4)):
        boxes, valid = as_ground_truth_boxes(empty, 0, 8, 8)
        assert boxes.shape == (0, 0, 4) and valid.shape == (0, 0)
        assert boxes.dtype == torch.float64 and valid.dtype == torch.bool
    with pytest.raises(ValueError, match="num_images must be a non-negative int"):
        as_ground_truth_boxes([], -1, 8, 8)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    generator = torch.Generator().manual_seed(0)
    maps = torch.nn.functional.interpolate(
        torch.randn(8, 1, 6, 6, generator=generator), size=(40, 40), mode="bicubic"
    )[:, 0]
    boxes = torch.tensor([[5, 5, 30, 30]]).expand(8, 4)
    for multi in (False, True):
        cpu = box_hits(maps, boxes, threshold_grid(100), (0.3, 0.5, 0.7), multi)
        gpu = box_hits(maps.cuda(), boxes.cuda(), threshold_grid(100), (0.3, 0.5, 0.7), multi)
        assert gpu.is_cuda and torch.equal(cpu, gpu.cpu())


@pytest.mark.usefixtures("torch_box_backend")
def test_memory_bounded_blocks_give_the_same_result(monkeypatch):
    generator = torch.Generator().manual_seed(7)
    maps = torch.rand(5, 20, 24, generator=generator)  # noisy: many basins per map
    boxes = torch.tensor([[2, 3, 15, 17]]).expand(5, 4)
    thresholds = threshold_grid(64)
    expected = [box_hits(maps, boxes, thresholds, (0.3, 0.5), m) for m in (False, True)]
    expected_iou = best_box_iou(maps, boxes, thresholds)
    monkeypatch.setattr(protocol_module, "_LEVEL_BASIN_BUDGET", 500)  # one map per group
    monkeypatch.setattr(level_module, "_PAIR_BUDGET", 300)  # a few levels per block
    for multi, hits in zip((False, True), expected, strict=True):
        assert torch.equal(box_hits(maps, boxes, thresholds, (0.3, 0.5), multi), hits)
    for got, want in zip(best_box_iou(maps, boxes, thresholds), expected_iou, strict=True):
        assert torch.equal(got, want)
    assert (
        len(
            protocol_module._map_groups(
                protocol_module._QuantizedMaps(*protocol_module._quantize_fine(maps)),
                64,
            )
        )
        == 5
    )
