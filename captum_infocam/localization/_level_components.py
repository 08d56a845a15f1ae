r"""Connected components of every threshold of a batch of quantised maps, in one pass.

The box protocol needs, for each map and each threshold level ``l``, the connected
components of the superlevel set ``{p : v(p) > l}`` with their bounding boxes. Labelling each
level separately costs ``O(levels x pixels)`` per map; this module does it in ``O(pixels)``
dense work plus work on a graph that is tiny for smooth maps:

1. **Basins.** Every pixel points to its neighbour of largest key ``(value, raster index)``
   when that key beats its own (steepest ascent, ties broken by index, so no cycles); pointer
   jumping takes every pixel to the root of its ascent tree. A pixel's ascent path never goes
   down, so at any level the part of a basin above the level lies in one component, the
   component of the basin's root. Basins that stop on a plateau are merged into the
   neighbour they touch at their own peak, leaving one basin per regional maximum.
2. **Basin graph.** Two basins are joined at level ``l`` when two adjacent pixels, one in
   each, both exceed ``l``: the edge weight is the larger minimum ``min(v(p), v(r))`` over the
   adjacent pairs, and the edge is present at every level below it.
3. **Per-level labels on the basin graph.** One label array ``(levels, basins)`` is solved
   for all levels at once by hooking roots to smaller labels and pointer jumping (a loop
   over a few iterations of a convergent algorithm, not over levels; only when the
   (level, edge) pairs are very many, for noisy maps, are they taken a block of levels at
   a time, to bound the memory).
4. **Attributes.** Per basin, the pixels are binned by the number of levels they exceed; a
   reverse cumulative min / max / sum over the bins gives the basin's bounding box, first
   raster index and contour area at every level; a scatter over the level labels merges
   basins into components.

Everything is batched over maps and works on any device. Values are integers in
``[0, 255]`` (the protocol's ``uint8`` map); the dense per-pixel passes run in int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Basins",
    "LevelComponents",
    "fill_holes",
    "find_basins",
    "level_components",
    "refinement_bits",
]

_HALF_NEIGHBOURS = {
    4: ((0, 1), (1, 0)),
    8: ((0, 1), (1, 0), (1, 1), (1, -1)),
}
_BIG = torch.iinfo(torch.int64).max


@dataclass
class Basins:
    """Steepest-ascent basins of a batch of integer maps and their adjacency graph.

    Attributes:
        of_pixel (Tensor): ``(N * H * W,)`` basin id of every pixel (flattened batch).
        count (int): number of basins ``B`` over the batch.
        map_index (Tensor): ``(B,)`` map each basin belongs to.
        peak (Tensor): ``(B,)`` largest value in each basin (the value of its root).
        edge_a (Tensor): ``(E,)`` first basin of each adjacency edge.
        edge_b (Tensor): ``(E,)`` second basin of each edge (``edge_a < edge_b``).
        edge_weight (Tensor): ``(E,)`` the highest level below which the two basins touch.
    """

    of_pixel: Tensor
    count: int
    map_index: Tensor
    peak: Tensor
    edge_a: Tensor
    edge_b: Tensor
    edge_weight: Tensor


@dataclass
class LevelComponents:
    """Components of ``{value > level}`` for every (level, basin) root of a batch.

    A component at level index ``j`` is identified by its root basin ``b`` (its smallest
    basin id); ``is_root[j, b]`` marks those. Other entries of the attribute tensors are
    meaningless.

    Attributes:
        is_root (Tensor): ``(L, B)`` bool, ``b`` is the root of a component at level ``j``.
        map_index (Tensor): ``(B,)`` map each basin belongs to.
        box (Tensor): ``(L, B, 4)`` component pixel extents ``(x_min, y_min, x_max, y_max)``.
        first_index (Tensor): ``(L, B)`` smallest raster index ``y * W + x`` in the component.
        area2 (Tensor or None): ``(L, B)`` twice the area of the polygon through the centres
            of the component's boundary pixels (what ``cv2.contourArea`` gives for an outer
            contour of a hole-free component).
        border_peak (Tensor or None): ``(L, B)`` largest value of the component's pixels on the
            image border, ``-1`` if none; the component touches the border at level ``l``
            exactly when this exceeds ``l``.
    """

    is_root: Tensor
    map_index: Tensor
    box: Tensor
    first_index: Tensor
    area2: Tensor | None
    border_peak: Tensor | None


def refinement_bits(height: int, width: int) -> int:
    """Bits of sub-level tie-breaker that fit in an int32 key beside 8 value bits and the index."""
    return max(0, 31 - 8 - max(1, (height * width - 1).bit_length()))


def _pixel_keys(values: Tensor, refine: Tensor | None = None) -> tuple[Tensor, int]:
    """Keys ``(value, refine, raster index)`` packed in an int32, and the index bit width.

    Keys order pixels by value, then by the optional tie-breaker ``refine`` (in
    ``[0, 2**refinement_bits)``), then by raster index; int32 keeps the dense passes fast.
    """
    _, height, width = values.shape
    shift = max(1, (height * width - 1).bit_length())
    if shift > 23:
        raise ValueError(f"maps of {height}x{width} pixels are too large (at most 2**23 pixels)")
    raster = torch.arange(height * width, device=values.device, dtype=torch.int32)
    key = values << (shift if refine is None else refinement_bits(height, width))
    if refine is not None:  # in place on one buffer: fresh large temporaries cost page faults
        key.bitwise_or_(refine).bitwise_left_shift_(shift)
    return key.bitwise_or_(raster.view(1, height, width)), shift


def _neighbour_max(key: Tensor, connectivity: int) -> Tensor:
    """Largest key over each pixel and its 4- or 8-neighbours, same shape and dtype."""
    padded = F.pad(key, (1, 1, 1, 1), value=-1)
    if connectivity == 8:
        rows = torch.maximum(torch.maximum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])
        return torch.maximum(torch.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    best = torch.maximum(key, padded[:, :-2, 1:-1])
    best = torch.maximum(best, padded[:, 2:, 1:-1])
    best = torch.maximum(best, padded[:, 1:-1, :-2])
    return torch.maximum(best, padded[:, 1:-1, 2:])


def _jump_to_roots(parent: Tensor) -> Tensor:
    """Pointer jumping until every entry points at a root (``parent[r] == r``)."""
    grand = torch.empty_like(parent)
    while True:
        # index_select takes int32 indices as they are; two buffers avoid fresh allocations.
        torch.index_select(parent, 0, parent, out=grand)
        if torch.equal(grand, parent):
            return parent
        torch.index_select(grand, 0, grand, out=parent)


def _shifted_pairs(grid: Tensor, dy: int, dx: int) -> tuple[Tensor, Tensor]:
    """Views of ``grid[..., y, x]`` and ``grid[..., y + dy, x + dx]`` over the valid pixels."""
    height, width = grid.shape[-2:]
    x0, x1 = max(0, -dx), width - max(0, dx)
    return (
        grid[..., 0 : height - dy, x0:x1],
        grid[..., dy:height, x0 + dx : x1 + dx],
    )


def find_basins(values: Tensor, connectivity: int, refine: Tensor | None = None) -> Basins:
    """Steepest-ascent basins of integer maps ``(N, H, W)`` and their adjacency graph.

    Args:
        values (Tensor): ``(N, H, W)`` integer maps with values in ``[0, 255]``.
        connectivity (int): 4 or 8, the pixel adjacency of the superlevel sets.
        refine (Tensor, optional): ``(N, H, W)`` int32 tie-breakers in
            ``[0, 2**refinement_bits(H, W))`` that order pixels of equal value (e.g. the
            fractional part of the unquantised map): ascent then follows the finer map and
            stops at its local maxima instead of at every plateau, so there are fewer basins.
            Any tie-breaker gives the same components.

    Returns:
        *Basins*: see :class:`Basins`; one basin per regional maximum.
    """
    num_maps, height, width = values.shape
    num_pixels = height * width
    device = values.device
    if num_maps * num_pixels >= 2**31:
        raise ValueError(f"a batch of {num_maps} maps of {height}x{width} is too large at once")
    values = values.int()
    key, shift = _pixel_keys(values, refine)
    offsets = torch.arange(num_maps, device=device, dtype=torch.int32).view(-1, 1, 1) * num_pixels
    parent = _neighbour_max(key, connectivity)
    root_pixels = (parent == key).view(-1).nonzero().squeeze(1)
    del key
    parent.bitwise_and_((1 << shift) - 1).add_(offsets)
    root = _jump_to_roots(parent.view(-1))
    count = root_pixels.numel()
    # compact[r]: the basin id of root pixel r (other entries unused); ids follow raster order.
    compact = torch.empty_like(root)
    compact[root_pixels] = torch.arange(count, device=device, dtype=torch.int32)
    map_index = root_pixels // num_pixels
    peak = values.view(-1).gather(0, root_pixels).long()

    edge_a, edge_b, edge_weight = _basin_edges(
        root.view(num_maps, height, width), compact, values, count, connectivity
    )
    relabel, count, edge_a, edge_b, edge_weight = _merge_plateau_basins(
        peak, edge_a, edge_b, edge_weight
    )
    merged_peak = torch.full((count,), -1, dtype=torch.long, device=device)
    merged_peak.scatter_reduce_(0, relabel, peak, "amax")
    compact[root_pixels] = relabel.int()
    return Basins(
        of_pixel=compact.index_select(0, root),
        count=count,
        map_index=torch.zeros(count, dtype=torch.long, device=device).scatter_(
            0, relabel, map_index
        ),
        peak=merged_peak,
        edge_a=edge_a,
        edge_b=edge_b,
        edge_weight=edge_weight,
    )


def _basin_edges(
    root_grid: Tensor, compact: Tensor, values: Tensor, count: int, connectivity: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Adjacency of basins: for each touching pair, the largest ``min(v(p), v(r))`` over
    adjacent pixels ``p``, ``r`` of the two basins.

    ``root_grid`` holds each pixel's root (flat index), ``compact`` a root's basin id. One
    dense pass over the flattened grid sets, per pixel, a bit for each half-neighbour whose
    root differs (pairs that wrap around a row or into the next map are dropped later);
    only the pixels with a bit set (usually a few percent) are gathered, once.
    """
    _, height, width = root_grid.shape
    num_pixels = height * width
    flat_root = root_grid.view(-1)
    # Two roots in one map differ by less than 2**16, so their low 16 bits differ: int16 is
    # as exact and moves half the bytes. XOR and shifts are much faster than != on CPU:
    # (x | -x) has its sign bit set exactly when x != 0.
    identity = flat_root.to(torch.int16) if num_pixels <= 2**16 else flat_root
    sign_shift = 8 * identity.element_size() - 1
    steps = [(dy, dx, dy * width + dx) for dy, dx in _HALF_NEIGHBOURS[connectivity]]
    crossing = torch.zeros_like(identity)
    for bit, (_, _, offset) in enumerate(steps):
        differs = torch.bitwise_xor(identity[:-offset], identity[offset:])
        differs.bitwise_or_(differs.neg()).bitwise_right_shift_(sign_shift)
        crossing[:-offset].bitwise_or_(differs.bitwise_and_(1 << bit))
    pixel = crossing.nonzero().squeeze(1)
    directions = crossing.index_select(0, pixel)
    local = pixel % num_pixels
    row, column = local // width, local % width
    flat_value = values.view(-1)
    codes, weights = [], []
    for bit, (dy, dx, offset) in enumerate(steps):
        keep = directions.bitwise_and(1 << bit).bool()
        keep &= row < height - 1 if dy else column < width - 1
        if dy and dx:
            keep &= column < width - 1 if dx > 0 else column > 0
        source = pixel.masked_select(keep)
        target = source + offset
        own = compact.index_select(0, flat_root.index_select(0, source)).long()
        neighbour = compact.index_select(0, flat_root.index_select(0, target)).long()
        codes.append(torch.minimum(own, neighbour) * count + torch.maximum(own, neighbour))
        weights.append(
            torch.minimum(flat_value.index_select(0, source), flat_value.index_select(0, target))
        )
    return _dedupe_edges(torch.cat(codes), torch.cat(weights).long(), count)


def _dedupe_edges(code: Tensor, weight: Tensor, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """One edge per basin pair ``code = low * count + high``, carrying the largest weight."""
    pair, inverse = torch.unique(code, return_inverse=True)
    edge_weight = torch.full(pair.shape, -1, dtype=torch.long, device=pair.device)
    edge_weight.scatter_reduce_(0, inverse, weight, "amax")
    return pair // max(count, 1), pair % max(count, 1), edge_weight


def _merge_plateau_basins(
    peak: Tensor, edge_a: Tensor, edge_b: Tensor, edge_weight: Tensor
) -> tuple[Tensor, int, Tensor, Tensor, Tensor]:
    """Merge every basin that touches a neighbour at its own peak into that neighbour.

    Ties on plateaus make steepest ascent stop at pixels that are not regional maxima.
    Such a basin ``b`` has an edge of weight ``peak[b]`` to a basin ``c``: at every level where
    ``b`` has a pixel above the level, ``b`` and ``c`` are in one component, so merging them
    changes no component and leaves only one basin per regional maximum. Merges follow
    increasing ``(peak, id)`` keys (no cycles) and are resolved by pointer jumping; a few
    rounds reach the fixed point.

    Returns:
        ``(relabel, count, edge_a, edge_b, edge_weight)``: ``relabel[b]`` is the kept basin
        (compacted id) of original basin ``b``; the edges are those of the kept basins.
    """
    device = peak.device
    total = peak.numel()
    identity = torch.arange(total, device=device)
    relabel = identity
    current_peak = peak
    while edge_a.numel() > 0:
        count = current_peak.numel()
        ids = torch.arange(count, device=device)
        key = current_peak * count + ids
        source = torch.cat([edge_a, edge_b])
        target = torch.cat([edge_b, edge_a])
        weight = torch.cat([edge_weight, edge_weight])
        mergeable = (weight == current_peak[source]) & (key[target] > key[source])
        if not bool(mergeable.any()):
            break
        best = torch.full((count,), -1, dtype=torch.long, device=device)
        best.scatter_reduce_(0, source[mergeable], key[target[mergeable]], "amax")
        parent = _jump_to_roots(torch.where(best >= 0, best % count, ids))
        kept = parent == ids
        compact = (torch.cumsum(kept, 0) - 1).gather(0, parent)
        relabel = compact.gather(0, relabel)
        current_peak = current_peak[kept]
        count = int(kept.sum())
        new_a, new_b = compact.gather(0, edge_a), compact.gather(0, edge_b)
        distinct = new_a != new_b
        low = torch.minimum(new_a, new_b).masked_select(distinct)
        high = torch.maximum(new_a, new_b).masked_select(distinct)
        edge_a, edge_b, edge_weight = _dedupe_edges(
            low * count + high, edge_weight.masked_select(distinct), count
        )
    return relabel, current_peak.numel(), edge_a, edge_b, edge_weight


def _levels_below(levels: Tensor, values: Tensor) -> Tensor:
    """For each value ``v`` in ``[0, 255]``, how many of the sorted ``levels`` are below ``v``.

    Returns the counts with the shape of ``values``: int16 for int16 or int32 values (at
    most 256 levels, so they fit), else int64.
    """
    table = torch.searchsorted(levels, torch.arange(256, device=levels.device, dtype=levels.dtype))
    if values.dtype in (torch.int16, torch.int32):
        return table.short().index_select(0, values.reshape(-1).int()).view(values.shape)
    return table.index_select(0, values.reshape(-1)).view(values.shape)


_PAIR_BUDGET = 2**20  # (level, edge) pairs labelled at once


def _label_levels(basins: Basins, num_levels_below: Tensor, num_levels: int) -> Tensor:
    """Component label (root basin id) of every (level, basin), ``(L, B)`` int64.

    Edge ``e`` is present at the level indices ``j < num_levels_below[e]``. The levels are
    independent problems solved together; when the (level, edge) pairs are many (noisy maps),
    they are solved a block of levels at a time to bound the memory.
    """
    count = basins.count
    device = basins.peak.device
    labels = torch.empty(num_levels, count, dtype=torch.long, device=device)
    pairs_per_level = torch.bincount(num_levels_below, minlength=num_levels + 1)
    pairs_per_level = pairs_per_level.flip(0).cumsum(0).flip(0)[1:].tolist()  # edges at j
    start = 0
    while start < num_levels:
        stop, total = start + 1, pairs_per_level[start]
        while stop < num_levels and total + pairs_per_level[stop] <= _PAIR_BUDGET:
            total += pairs_per_level[stop]
            stop += 1
        labels[start:stop] = _label_level_block(basins, num_levels_below, start, stop)
        start = stop
    return labels


def _label_level_block(basins: Basins, num_levels_below: Tensor, start: int, stop: int) -> Tensor:
    """:func:`_label_levels` for the level indices ``start <= j < stop``, ``(stop - start, B)``."""
    count = basins.count
    device = basins.peak.device
    num_levels = stop - start
    labels = torch.arange(num_levels * count, device=device)
    edge_counts = num_levels_below.clamp(max=stop) - start
    active = edge_counts > 0
    edge_counts = edge_counts[active]
    edge_a, edge_b = basins.edge_a[active], basins.edge_b[active]
    total = int(edge_counts.sum())
    if total > 0:
        edge_of_pair = torch.repeat_interleave(
            torch.arange(edge_counts.numel(), device=device), edge_counts, output_size=total
        )
        starts = torch.cumsum(edge_counts, 0) - edge_counts
        level_of_pair = torch.arange(total, device=device) - starts.index_select(0, edge_of_pair)
        node_a = level_of_pair * count + edge_a.index_select(0, edge_of_pair)
        node_b = level_of_pair.mul_(count).add_(edge_b.index_select(0, edge_of_pair))
        while True:
            label_a, label_b = labels.index_select(0, node_a), labels.index_select(0, node_b)
            unmerged = label_a != label_b
            if not bool(unmerged.any()):
                break
            node_a, node_b = node_a.masked_select(unmerged), node_b.masked_select(unmerged)
            label_a, label_b = label_a.masked_select(unmerged), label_b.masked_select(unmerged)
            # Hook the larger root under the smaller one: labels only decrease, so no cycles.
            labels.scatter_reduce_(
                0, torch.maximum(label_a, label_b), torch.minimum(label_a, label_b), "amin"
            )
            labels = _jump_to_roots(labels)
    level_offsets = torch.arange(num_levels, device=device).view(-1, 1) * count
    return labels.view(num_levels, count) - level_offsets


def _reverse_cumulative(binned: Tensor, reduce: str) -> Tensor:
    """Reduce over the bins ``> j`` for each ``j``: ``(B, L + 1)`` -> ``(B, L)``."""
    flipped = binned.flip(1)
    if reduce == "min":
        cumulative = torch.cummin(flipped, 1).values
    elif reduce == "max":
        cumulative = torch.cummax(flipped, 1).values
    else:
        cumulative = torch.cumsum(flipped, 1)
    return cumulative.flip(1)[:, 1:]


def level_components(
    values: Tensor,
    levels: Tensor,
    connectivity: int,
    *,
    with_area: bool = False,
    with_border: bool = False,
    basins: Basins | None = None,
) -> LevelComponents:
    """Components of ``{values > level}`` for every level, with boxes and optional areas.

    Args:
        values (Tensor): ``(N, H, W)`` integer maps with values in ``[0, 255]``.
        levels (Tensor): ``(L,)`` strictly increasing int64 levels on the same device.
        connectivity (int): 4 or 8.
        with_area (bool, optional): also compute twice the contour area of each component
            (meaningful for 8-connectivity). Default: ``False``.
        with_border (bool, optional): also compute the largest border value of each component.
            Default: ``False``.
        basins (Basins, optional): precomputed ``find_basins(values, connectivity)``.

    Returns:
        *LevelComponents*: see :class:`LevelComponents`.
    """
    num_maps, height, width = values.shape
    num_pixels = height * width
    device = values.device
    if basins is None:
        basins = find_basins(values, connectivity)
    count = basins.count
    num_levels = levels.numel()
    num_bins = num_levels + 1

    # Bin every pixel by how many levels it exceeds; a pixel in bin c is in the superlevel
    # set of level index j exactly when j < c, so attributes at level j reduce bins > j.
    pixel_bin = _levels_below(levels, values.int())  # int16
    if count * num_bins < 2**31:  # int32 arithmetic is faster; scatter wants int64 indices
        slot = (basins.of_pixel * num_bins).add_(pixel_bin.view(-1)).long()
    else:
        slot = basins.of_pixel.long().mul_(num_bins).add_(pixel_bin.view(-1))
    raster = torch.arange(num_pixels, device=device, dtype=torch.int32).repeat(num_maps)
    column = torch.arange(width, device=device, dtype=torch.int32).repeat(num_maps * height)
    big = torch.iinfo(torch.int32).max

    def binned(source: Tensor, reduce: str, fill: int) -> Tensor:
        out = torch.full((count * num_bins,), fill, dtype=torch.int32, device=device)
        out.scatter_reduce_(0, slot, source, reduce, include_self=True)
        return _reverse_cumulative(out.view(count, num_bins).long(), reduce[1:])

    # The smallest raster index gives the top row, the largest the bottom row.
    first, last = binned(raster, "amin", big), binned(raster, "amax", -1)
    basin_attributes = [
        binned(column, "amin", big),
        first,
        binned(column, "amax", -1),
        last,
    ]
    if with_area:
        basin_attributes.append(_binned_window_area(pixel_bin, basins, num_bins))

    labels = _label_levels(basins, _levels_below(levels, basins.edge_weight), num_levels)
    level_ids = torch.arange(num_levels, device=device).view(-1, 1)
    alive = (level_ids < _levels_below(levels, basins.peak).view(1, -1)).view(-1)
    flat_labels = (labels + level_ids * count).view(-1).masked_select(alive)

    def merged(per_basin: Tensor, reduce: str, fill: int) -> Tensor:
        out = torch.full((num_levels * count,), fill, dtype=torch.long, device=device)
        source = per_basin.t().reshape(-1).masked_select(alive)
        out.scatter_reduce_(0, flat_labels, source, reduce, include_self=True)
        return out.view(num_levels, count)

    reductions = ["amin", "amin", "amax", "amax", "sum"]
    fills = [_BIG, _BIG, -1, -1, 0]
    component = [
        merged(attribute, reduce, fill)
        for attribute, reduce, fill in zip(basin_attributes, reductions, fills, strict=False)
    ]
    border_peak = None
    if with_border:
        border = _border_pixels(num_maps, height, width, device)
        basin_border = torch.full((count,), -1, dtype=torch.long, device=device)
        basin_border.scatter_reduce_(
            0,
            basins.of_pixel.index_select(0, border).long(),
            values.reshape(-1).index_select(0, border).long(),
            "amax",
        )
        border_peak = merged(basin_border.view(count, 1).expand(count, num_levels), "amax", -1)
    is_root = alive.view(num_levels, count) & (labels == torch.arange(count, device=device))
    box = torch.stack(component[:4], dim=-1)
    first_index = box[..., 1].clone()
    box[..., 1] = box[..., 1] // width
    box[..., 3] = box[..., 3] // width
    return LevelComponents(
        is_root=is_root,
        map_index=basins.map_index,
        box=box,
        first_index=first_index,
        area2=component[4] if with_area else None,
        border_peak=border_peak,
    )


def _border_pixels(num_maps: int, height: int, width: int, device: torch.device) -> Tensor:
    """Flat indices of the image-border pixels of every map (corners twice), int64."""
    row = torch.arange(width, device=device)
    column = torch.arange(height, device=device) * width
    local = torch.cat([row, row + (height - 1) * width, column, column + (width - 1)])
    offsets = torch.arange(num_maps, device=device).view(-1, 1) * (height * width)
    return (offsets + local).view(-1)


def _binned_window_area(pixel_bin: Tensor, basins: Basins, num_bins: int) -> Tensor:
    """Twice the contour area of each basin's part above every level, ``(B, L)``.

    ``pixel_bin`` ``(N, H, W)`` holds the number of levels below each pixel's value: a pixel
    is above level index ``j`` exactly when ``j < pixel_bin``. The polygon through the
    centres of an 8-connected region's boundary pixels is the union of the unit squares
    between pixel centres whose four corners are all in the region, and of half of each
    square with exactly three corners in it. A 2x2 window with corner bins
    ``m1 <= m2 <= m3 <= m4`` thus adds 1 (in halves) at every level index below ``m2`` and 1
    more below ``m1``. It is credited to the basin of its larger diagonal corner (top-left or
    bottom-right), which is above the level whenever the window counts, so it lies in the
    component holding the window's other foreground corners.
    """
    num_maps, height, width = pixel_bin.shape
    count = basins.count
    device = pixel_bin.device
    if height < 2 or width < 2:
        return torch.zeros(count, num_bins - 1, dtype=torch.long, device=device)
    # Minimum and maximum of each horizontal pair, shared by the windows above and below it
    # (small integers: the bins are int16, which the elementwise passes run through fast).
    pair_low = torch.minimum(pixel_bin[:, :, :-1], pixel_bin[:, :, 1:])
    pair_high = torch.maximum(pixel_bin[:, :, :-1], pixel_bin[:, :, 1:])
    low_top, low_bottom = pair_low[:, :-1], pair_low[:, 1:]
    smallest = torch.minimum(low_top, low_bottom)
    second = torch.minimum(
        torch.maximum(low_top, low_bottom), torch.minimum(pair_high[:, :-1], pair_high[:, 1:])
    )
    # With three or four corners above a level, the top-left or the bottom-right corner is one
    # of them: the larger of the two is (either one when their bins are equal).
    basin_grid = basins.of_pixel.view(num_maps, height, width)
    top_left, bottom_right = pixel_bin[:, :-1, :-1], pixel_bin[:, 1:, 1:]
    size = count * num_bins
    top_left_basin, bottom_right_basin = basin_grid[:, :-1, :-1], basin_grid[:, 1:, 1:]
    if size >= 2**31:
        top_left_basin, bottom_right_basin = top_left_basin.long(), bottom_right_basin.long()
    # bottom_right + (top_left >= bottom_right) * (difference): much faster than torch.where.
    window_basin = torch.addcmul(
        bottom_right_basin, top_left_basin - bottom_right_basin, top_left >= bottom_right
    ).mul_(num_bins)
    out = torch.bincount((window_basin + smallest).view(-1), minlength=size)
    out += torch.bincount(window_basin.add_(second).view(-1), minlength=size)
    return _reverse_cumulative(out.view(count, num_bins), "sum")


def fill_holes(values: Tensor, basins: Basins | None = None) -> Tensor:
    """Grayscale hole filling: the level at which each pixel joins the image's outside.

    With 8-connected foreground ``{v > l}`` and 4-connected background ``{v <= l}`` (the
    convention of ``cv2.findContours``), a pixel is inside the outer contour of some
    foreground region at level ``l`` exactly when ``l < fill_holes(v)``: the returned map is
    the minimax value of 4-connected paths from the pixel to the image border.

    Args:
        values (Tensor): ``(N, H, W)`` integer maps with values in ``[0, 255]``.
        basins (Basins, optional): precomputed ``find_basins(255 - values, 4)``.

    Returns:
        *Tensor* ``(N, H, W)`` int32, ``>= values``.
    """
    num_maps, height, width = values.shape
    values = values.int()
    if basins is None:
        basins = find_basins(255 - values, 4)
    device = values.device
    border = _border_pixels(num_maps, height, width, device)
    # Maximin value (in depth 255 - v) of a path from each basin to the border: Bellman-Ford
    # on the basin graph, a loop over a few relaxation rounds.
    reach = torch.full((basins.count,), -1, dtype=torch.long, device=device)
    reach.scatter_reduce_(
        0,
        basins.of_pixel.index_select(0, border).long(),
        255 - values.view(-1).index_select(0, border).long(),
        "amax",
    )
    both_a = torch.cat([basins.edge_a, basins.edge_b])
    both_b = torch.cat([basins.edge_b, basins.edge_a])
    both_weight = torch.cat([basins.edge_weight, basins.edge_weight])
    while True:
        offer = torch.minimum(both_weight, reach[both_b])
        updated = reach.scatter_reduce(0, both_a, offer, "amax")
        if torch.equal(updated, reach):
            break
        reach = updated
    # 255 - min(255 - v, reach) = max(v, 255 - reach).
    basin_level = (255 - reach).int().index_select(0, basins.of_pixel)
    return torch.maximum(values, basin_level.view(num_maps, height, width))
