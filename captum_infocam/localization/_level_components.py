r"""Connected components of every threshold of a batch of quantised maps, in one pass.

The box protocol needs, for each map and each threshold level ``l``, the connected
components of the superlevel set ``{p : v(p) > l}`` with their bounding boxes. Labelling each
level separately costs ``O(levels x pixels)`` per map; this module does it in ``O(pixels)``
dense work plus work on a graph that is tiny for smooth maps:

1. **Basins.** Pixels are grouped in blocks that are cliques of the adjacency: ``2 x 2``
   blocks for 8-connectivity, horizontal pairs for 4-connectivity. Each block points from its
   largest pixel (its *leader*, by the key ``(value, refine, raster index)``) to the block of
   that pixel's steepest-ascent neighbour; pointer jumping takes every block to the root of
   its ascent tree. Every hop (pixel to its block's leader, leader to a larger neighbour, that
   neighbour to its own block's leader) joins adjacent pixels and never goes down, so at any
   level the part of a basin above the level lies in one component, the component of the
   basin's root. Working on blocks instead of pixels makes the pointer jumping, its
   convergence checks and the basin adjacency four (two) times smaller. A basin may stop
   on a plateau that is not a regional maximum (ties of the quantised map are broken by
   raster index); it then joins its neighbour through an edge at its own peak, so the
   components are the same as with one basin per regional maximum, without a merging pass.
2. **Basin graph.** Two basins are joined at level ``l`` when two adjacent pixels, one in
   each, both exceed ``l``: the edge weight is the larger minimum ``min(v(p), v(r))`` over the
   adjacent pairs, and the edge is present at every level below it.
3. **Per-level labels on the basin graph.** One label array ``(levels, basins)`` is solved
   for all levels at once by hooking roots to smaller labels and pointer jumping (a loop
   over a few iterations of a convergent algorithm, not over levels; only when the
   (level, edge) pairs are very many, for noisy maps, are they taken a block of levels at
   a time, to bound the memory). When the pairs are many, the graph is first cut down to a
   maximum spanning forest (Boruvka's rounds over the edges), which has the same components
   at every level with about half the pairs.
4. **Attributes.** Per basin, the pixels are binned by the number of levels they exceed,
   the bins stored from the top down; a cumulative maximum (of the minima negated) and a
   cumulative sum over them give the basin's bounding box, first raster index and contour
   area at every level; a scatter over the level labels merges basins into components.
   Within a block only the extreme pixels of each side can set a box edge, so a block
   contributes one entry per side instead of one per pixel.

Everything is batched over maps and works on any device. Values are integers in
``[0, 255]`` (the protocol's ``uint8`` map); the dense per-pixel passes run in int32 and
int16, most of them in place.
"""

from __future__ import annotations

import dataclasses
import functools
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

# Blocks of pixels that are cliques of the adjacency: every pixel is adjacent to every other.
_BLOCKS = {8: (2, 2), 4: (1, 2)}
_VALUE_BITS = 8  # values are in [0, 255]
_INT32_MAX = torch.iinfo(torch.int32).max
_INT32_MIN = torch.iinfo(torch.int32).min
_PAIR_BUDGET = 2**20  # (level, edge) pairs labelled at once
_FOREST_PAIRS = 2**16  # from this many (level, edge) pairs, label on a spanning forest
_EDGE_TABLE_BUDGET = 2**16  # basin pairs deduplicated in a dense table (at least)

# For each block step (dy, dx) that can join two basins, the pixels (dy, dx) relative to the
# first block's top-left pixel that join the two blocks: two of the first block, a1 and a2,
# then two of the neighbouring block, b1 and b2 (a pixel is repeated where the side has one).
# With 8-connectivity every a is adjacent to every b, so the largest min(v(a), v(b)) over
# the pairs is min(max(v(a1), v(a2)), max(v(b1), v(b2))); with 4-connectivity the pairs are
# (a1, b1) and (a2, b2).
_CROSSINGS = {
    8: (
        ((0, 1), ((0, 1), (1, 1), (0, 2), (1, 2))),
        ((1, 0), ((1, 0), (1, 1), (2, 0), (2, 1))),
        ((1, 1), ((1, 1), (1, 1), (2, 2), (2, 2))),
        ((1, -1), ((1, 0), (1, 0), (2, -1), (2, -1))),
    ),
    4: (
        ((0, 1), ((0, 1), (0, 1), (0, 2), (0, 2))),
        ((1, 0), ((0, 0), (0, 1), (1, 0), (1, 1))),
    ),
}


@dataclass(frozen=True)
class _Grid:
    """A batch of ``height x width`` maps cut into blocks, padded to whole blocks."""

    num_maps: int
    height: int
    width: int
    connectivity: int

    @property
    def block(self) -> tuple[int, int]:
        return _BLOCKS[self.connectivity]

    @property
    def rows(self) -> int:
        """Block rows per map."""
        return -(-self.height // self.block[0])

    @property
    def columns(self) -> int:
        """Block columns per map."""
        return -(-self.width // self.block[1])

    @property
    def blocks_per_map(self) -> int:
        return self.rows * self.columns

    @property
    def padded(self) -> tuple[int, int]:
        return self.rows * self.block[0], self.columns * self.block[1]

    @property
    def whole(self) -> bool:
        """Whether the maps are whole blocks (no padding)."""
        return self.padded == (self.height, self.width)

    def expand(self, per_block: Tensor) -> Tensor:
        """``(N * blocks,)`` block values as ``(N, H, W)`` pixel values (a copy)."""
        (block_h, block_w), (padded_h, padded_w) = self.block, self.padded
        pixels = per_block.view(self.num_maps * self.rows, self.columns)
        pixels = pixels.repeat_interleave(block_w, dim=1)
        if block_h > 1:
            pixels = pixels.repeat_interleave(block_h, dim=0)
        pixels = pixels.view(self.num_maps, padded_h, padded_w)
        if not self.whole:
            pixels = pixels[:, : self.height, : self.width].contiguous()
        return pixels

    def pad(self, pixels: Tensor, value: int) -> Tensor:
        """``(N, H, W)`` pixels padded with ``value`` to whole blocks (themselves if whole)."""
        if self.whole:
            return pixels
        padded_h, padded_w = self.padded
        return F.pad(pixels, (0, padded_w - self.width, 0, padded_h - self.height), value=value)


@dataclass(frozen=True)
class _Layout:
    """Read-only index tables of a grid, shared by all calls on the same shape and device.

    Attributes:
        raster (Tensor): ``(H', W')`` int32 raster index in the padded map.
        block_of (Tensor): ``(H' * W',)`` int32 block (within its map) of each padded pixel.
        pixel_offset (Tensor): ``(N, 1, 1)`` int32 flat index of each map's first pixel.
        block_offset (Tensor): ``(N, 1)`` int32 flat index of each map's first block.
        corner (Tensor): ``(N * blocks,)`` int64 flat padded index of each block's top-left
            pixel.
        step_offset (Tensor): ``(S,)`` int64 flat block offset of each step of
            ``_CROSSINGS``.
        crossing (Tensor): ``(S, 4)`` int64 flat pixel offsets, from a block's corner, of
            the pixels ``a1, a2, b1, b2`` of each step of ``_CROSSINGS``.
        border (Tensor): ``(N * border,)`` int64 flat (unpadded) index of the border pixels.
        border_block (Tensor): ``(N * border,)`` int32 flat block of the border pixels.
        inside (Tensor): ``(S, N * blocks)`` bool, whether each step leads to a block of the
            same map.
    """

    raster: Tensor
    block_of: Tensor
    pixel_offset: Tensor
    block_offset: Tensor
    corner: Tensor
    step_offset: Tensor
    crossing: Tensor
    border: Tensor
    border_block: Tensor
    inside: Tensor


@functools.lru_cache(maxsize=8)
def _layout(grid: _Grid, device: torch.device) -> _Layout:
    """The index tables of ``grid`` on ``device``, built once per shape (a few kB to MB)."""
    num_maps, height, width = grid.num_maps, grid.height, grid.width
    (block_h, block_w), (padded_h, padded_w) = grid.block, grid.padded
    rows, columns = grid.rows, grid.columns
    y = torch.arange(padded_h, device=device, dtype=torch.int32).view(-1, 1)
    x = torch.arange(padded_w, device=device, dtype=torch.int32).view(1, -1)
    maps = torch.arange(num_maps, device=device)
    corner = (
        torch.arange(rows, device=device).view(-1, 1) * (block_h * padded_w)
        + torch.arange(columns, device=device).view(1, -1) * block_w
    )
    steps = _CROSSINGS[grid.connectivity]
    pixels = torch.tensor([pixel for _, pixel in steps], device=device)  # (S, 4, 2)
    xs, ys = torch.arange(width, device=device), torch.arange(height, device=device)
    border_rows = torch.cat([torch.zeros_like(xs), torch.full_like(xs, height - 1), ys, ys])
    border_columns = torch.cat([xs, xs, torch.zeros_like(ys), torch.full_like(ys, width - 1)])
    border_maps = maps.view(-1, 1)
    block_y = torch.arange(rows, device=device).view(-1, 1, 1)
    block_x = torch.arange(columns, device=device).view(1, -1, 1)
    step_y, step_x = (torch.tensor([step[i] for step, _ in steps], device=device) for i in (0, 1))
    inside = (block_y + step_y < rows) & (block_x + step_x >= 0) & (block_x + step_x < columns)
    return _Layout(
        raster=y * padded_w + x,
        block_of=(y // block_h * columns + x // block_w).view(-1),
        pixel_offset=maps.int().view(-1, 1, 1) * (padded_h * padded_w),
        block_offset=maps.int().view(-1, 1) * (rows * columns),
        corner=(maps.view(-1, 1, 1) * (padded_h * padded_w) + corner).view(-1),
        step_offset=torch.tensor([dy * columns + dx for (dy, dx), _ in steps], device=device),
        crossing=pixels[..., 0] * padded_w + pixels[..., 1],
        border=(border_maps * (height * width) + border_rows * width + border_columns).view(-1),
        border_block=(
            (border_maps * rows + border_rows // block_h) * columns + border_columns // block_w
        )
        .int()
        .view(-1),
        inside=inside.view(-1, len(steps)).t().repeat(1, num_maps),
    )


@dataclass
class Basins:
    """Steepest-ascent basins of a batch of integer maps and their adjacency graph.

    Attributes:
        of_block (Tensor): ``(N * blocks,)`` int32 basin id of every block of pixels (a block
            lies in one basin); :attr:`of_pixel` expands it to the pixels.
        grid (_Grid): the maps' shape and block layout.
        count (int): number of basins ``B`` over the batch.
        map_index (Tensor): ``(B,)`` map each basin belongs to.
        peak (Tensor): ``(B,)`` largest value in each basin (the value of its root).
        edge_a (Tensor): ``(E,)`` first basin of each adjacency edge.
        edge_b (Tensor): ``(E,)`` second basin of each edge (``edge_a < edge_b``).
        edge_weight (Tensor): ``(E,)`` the highest level below which the two basins touch.
    """

    of_block: Tensor
    grid: _Grid
    count: int
    map_index: Tensor
    peak: Tensor
    edge_a: Tensor
    edge_b: Tensor
    edge_weight: Tensor

    @property
    def of_pixel(self) -> Tensor:
        """``(N * H * W,)`` int32 basin id of every pixel (flattened batch)."""
        return self.grid.expand(self.of_block).view(-1)


@dataclass
class LevelComponents:
    """Components of ``{value > level}`` for every (level, basin) root of a batch.

    A component at level index ``j`` is identified by its root basin ``b`` (its smallest
    basin id); ``is_root[j, b]`` marks those. Other entries of the attribute tensors are
    meaningless. :meth:`boxes` and :meth:`first` read the extents of chosen (level, basin)
    entries, usually the roots.

    Attributes:
        is_root (Tensor): ``(L, B)`` bool, ``b`` is the root of a component at level ``j``.
        map_index (Tensor): ``(B,)`` map each basin belongs to.
        extent (Tensor): ``(4, L, B)`` int32 ``(-x_min, -first, x_max, y_max)``, where
            ``first`` is the smallest raster index ``y * W + x`` in the component, a key in
            the same order, or ``y_min`` (see :func:`_level_components`).
        first_divisor (int or None): ``first // first_divisor`` is ``y_min``; ``None`` when
            ``first`` is ``y_min`` itself (no first index).
        area2 (Tensor or None): ``(L, B)`` twice the area of the polygon through the centres
            of the component's boundary pixels (what ``cv2.contourArea`` gives for an outer
            contour of a hole-free component).
        border_peak (Tensor or None): ``(L, B)`` largest value of the component's pixels on the
            image border, ``-1`` if none; the component touches the border at level ``l``
            exactly when this exceeds ``l``.
    """

    is_root: Tensor
    map_index: Tensor
    extent: Tensor
    first_divisor: int | None
    area2: Tensor | None
    border_peak: Tensor | None

    def boxes(self, level: Tensor, basin: Tensor) -> Tensor:
        """Pixel extents ``(x_min, y_min, x_max, y_max)`` of the components of the given
        (level index, root basin) entries, ``(K, 4)`` int64."""
        x_min, first, x_max, y_max = self.extent[:, level, basin].long().unbind(0)
        y_min = -first if self.first_divisor is None else -first // self.first_divisor
        return torch.stack([-x_min, y_min, x_max, y_max], dim=1)

    def first(self, level: Tensor, basin: Tensor) -> Tensor:
        """Smallest raster index (or a key in the same order) of the given entries' components,
        ``(K,)`` int64; see :func:`_level_components`."""
        if self.first_divisor is None:
            raise ValueError("these components were computed without their first index")
        return -self.extent[1, level, basin].long()


def _index_bits(height: int, width: int) -> int:
    """Bits of a raster index in a map padded to an even height and width."""
    return max(1, ((height + height % 2) * (width + width % 2) - 1).bit_length())


def refinement_bits(height: int, width: int) -> int:
    """Bits of sub-level tie-breaker that fit in an int32 key beside 8 value bits and the index."""
    return max(0, 31 - _VALUE_BITS - _index_bits(height, width))


def _check_size(num_maps: int, height: int, width: int) -> None:
    if _index_bits(height, width) > 31 - _VALUE_BITS:
        raise ValueError(f"maps of {height}x{width} pixels are too large (at most 2**23 pixels)")
    if num_maps * (height + 1) * (width + 1) >= 2**31:
        raise ValueError(f"a batch of {num_maps} maps of {height}x{width} is too large at once")


def _fine_values(values: Tensor, refine: Tensor | None) -> tuple[Tensor, int]:
    """Values with the tie-breaker in their low bits, ``(value << bits) | refine``, int32."""
    _, height, width = values.shape
    if refine is None:
        return values.int(), 0
    bits = refinement_bits(height, width)
    return (values.int() << bits).bitwise_or_(refine), bits


def _neighbour_max(key: Tensor, connectivity: int) -> Tensor:
    """Largest key over each pixel and its 4- or 8-neighbours, same shape and dtype.

    Shifted maxima written into fresh buffers (separable for the 3 x 3 window): the first
    column or row is copied, the others are written once and then updated in place.
    """
    best = torch.empty_like(key)
    best[..., 0] = key[..., 0]
    torch.maximum(key[..., 1:], key[..., :-1], out=best[..., 1:])
    torch.maximum(best[..., :-1], key[..., 1:], out=best[..., :-1])
    if connectivity == 4:
        torch.maximum(best[:, 1:], key[:, :-1], out=best[:, 1:])
        torch.maximum(best[:, :-1], key[:, 1:], out=best[:, :-1])
        return best
    rows, best = best, torch.empty_like(key)
    best[:, 0] = rows[:, 0]
    torch.maximum(rows[:, 1:], rows[:, :-1], out=best[:, 1:])
    torch.maximum(best[:, :-1], rows[:, 1:], out=best[:, :-1])
    return best


def _same(a: Tensor, b: Tensor) -> bool:
    """``torch.equal``; large int32 tensors are compared as int64 pairs (half the elements)."""
    if a.dtype == torch.int32 and a.numel() >= 2**16 and a.numel() % 2 == 0:
        return torch.equal(a.view(torch.int64), b.view(torch.int64))
    return torch.equal(a, b)


def _sparse_nonzero(mask: Tensor) -> Tensor:
    """Indices of the ``True`` entries of a 1-D bool mask that is almost all ``False``, int64.

    ``nonzero`` costs about a nanosecond per entry scanned; the mask is scanned as int64
    words (eight entries each), and only the words that hold a ``True`` are expanded.
    """
    if mask.numel() % 8 or mask.numel() < 2**12:
        return mask.nonzero().squeeze(1)
    words = mask.view(torch.int64).nonzero().squeeze(1)
    word, within = mask.view(-1, 8).index_select(0, words).nonzero().unbind(1)
    return words.index_select(0, word).mul_(8).add_(within)


def _jump_to_roots(parent: Tensor, unchecked: int = 0) -> Tensor:
    """Pointer jumping until every entry points at a root (``parent[r] == r``).

    The first ``unchecked`` jumps skip the convergence check (jumping past the roots is
    harmless: a root points at itself).
    """
    grand = torch.empty_like(parent)
    for _ in range(unchecked):
        torch.index_select(parent, 0, parent, out=grand)
        parent, grand = grand, parent
    while True:
        # index_select takes int32 indices as they are; two buffers avoid fresh allocations.
        torch.index_select(parent, 0, parent, out=grand)
        if _same(grand, parent):
            return parent
        parent, grand = grand, parent


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
        *Basins*: see :class:`Basins`; one basin per local maximum of the keys
        ``(value, refine, raster index)`` over the blocks' neighbourhoods.
    """
    _check_size(*values.shape)
    fine, bits = _fine_values(values, refine)
    return _find_basins(fine, bits, connectivity)


def _find_basins(fine: Tensor, bits: int, connectivity: int) -> Basins:
    """:func:`find_basins` of int32 maps ``(value << bits) | refine``."""
    num_maps, height, width = fine.shape
    device = fine.device
    grid = _Grid(num_maps, height, width, connectivity)
    layout = _layout(grid, device)
    shift = _index_bits(height, width)
    index_mask = (1 << shift) - 1
    # Keys (value, refine, raster index of the padded map), unique; padding keys are negative.
    key = grid.pad(fine, -1).bitwise_left_shift(shift).bitwise_or_(layout.raster)
    best = _neighbour_max(key, connectivity)
    if grid.block[0] == 2:
        half = torch.maximum(key[:, 0::2], key[:, 1::2])
        leader = torch.maximum(half[..., 0::2], half[..., 1::2])
    else:
        leader = torch.maximum(key[..., 0::2], key[..., 1::2])
    # The leader (largest key of a block) points to the block of its largest neighbour; a
    # block whose leader is a local maximum is a root.
    position = (leader & index_mask).add_(layout.pixel_offset)
    leader_best = best.view(-1).index_select(0, position.view(-1))
    del best, position
    leader = leader.view(-1)
    is_root = leader_best == leader
    parent = layout.block_of.index_select(0, leader_best.bitwise_and_(index_mask))
    parent = parent.view(num_maps, -1).add_(layout.block_offset).view(-1)
    root_blocks = _sparse_nonzero(is_root)
    root = _jump_to_roots(parent, unchecked=2)
    count = root_blocks.numel()
    peak = (leader.index_select(0, root_blocks) >> (shift + bits)).long()
    compact = torch.empty_like(root)
    compact[root_blocks] = torch.arange(count, device=device, dtype=torch.int32)
    of_block = compact.index_select(0, root)
    map_index = root_blocks // grid.blocks_per_map
    # Basins are numbered map by map, so two basins of one map differ by less than this.
    span = int(torch.bincount(map_index).max()) if count else 1
    edge_a, edge_b, edge_weight = _basin_edges(
        grid, layout, of_block, key, shift + bits, count, span
    )
    return Basins(
        of_block=of_block,
        grid=grid,
        count=count,
        map_index=map_index,
        peak=peak,
        edge_a=edge_a,
        edge_b=edge_b,
        edge_weight=edge_weight,
    )


def _basin_edges(
    grid: _Grid,
    layout: _Layout,
    of_block: Tensor,
    key: Tensor,
    value_shift: int,
    count: int,
    span: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Adjacency of basins: for each touching pair, the largest ``min(v(p), v(r))`` over
    adjacent pixels ``p``, ``r`` of the two basins.

    A block lies in one basin, so basins meet only between neighbouring blocks: one dense
    pass over the block grid per block step marks the block pairs whose basins differ
    (usually a few percent), and only those are gathered, with the values of the pixels that
    join them read from the keys (``key >> value_shift``; padding reads -1 and joins
    nothing): four per block pair (see ``_CROSSINGS``).
    """
    device = of_block.device
    columns = grid.columns
    crossings = _CROSSINGS[grid.connectivity]
    num_steps = len(crossings)
    # (step, block) flags from shifted comparisons of the flattened grid (contiguous rows: a
    # strided output halves the comparisons' speed); pairs that wrap around a row or into
    # the next map are masked out afterwards. Crossings are a few percent of the flags, in
    # runs along the basins' borders, so the flags are scanned as words.
    num_blocks = of_block.numel()
    differs = torch.zeros(num_steps, num_blocks, dtype=torch.bool, device=device)
    for index, ((dy, dx), _) in enumerate(crossings):
        offset = dy * columns + dx
        if 0 < offset < num_blocks:
            torch.ne(of_block[:-offset], of_block[offset:], out=differs[index, :-offset])
    differs &= layout.inside
    flag = _sparse_nonzero(differs.view(-1))
    step, block = flag // num_blocks, flag % num_blocks
    own = of_block.index_select(0, block)
    other = of_block.index_select(0, block + layout.step_offset.index_select(0, step))
    pixel = layout.corner.index_select(0, block).view(-1, 1) + layout.crossing.index_select(0, step)
    a1, a2, b1, b2 = key.view(-1).index_select(0, pixel.view(-1)).view(-1, 4).unbind(1)
    if grid.connectivity == 8:
        weight = torch.minimum(torch.maximum(a1, a2), torch.maximum(b1, b2))
    else:
        weight = torch.maximum(torch.minimum(a1, b1), torch.minimum(a2, b2))
    low = torch.minimum(own, other).long()
    code = (torch.maximum(own, other) - low).add_(low * span)
    return _dedupe_edges(code, (weight >> value_shift).long(), count, span)


def _dedupe_edges(
    code: Tensor, weight: Tensor, count: int, span: int
) -> tuple[Tensor, Tensor, Tensor]:
    """One edge per basin pair ``code = low * span + (high - low)``, carrying the largest
    weight, as ``(low, high, weight)``.

    The two basins of a pair lie in one map, so ``0 < high - low < span``, the largest
    number of basins in a map: the codes of a batch of maps stay below ``count * span``,
    not ``count ** 2``. Pairs of weight ``< 0`` (padding only) are dropped. A dense table
    when the codes are few enough, else a sort.
    """
    size = max(count * span, 1)
    if size <= max(_EDGE_TABLE_BUDGET, 8 * code.numel()):
        table = torch.full((size,), -1, dtype=torch.long, device=code.device)
        table.scatter_reduce_(0, code, weight, "amax")
        pair = (table >= 0).nonzero().squeeze(1)
        edge_weight = table.index_select(0, pair)
    else:
        present = weight >= 0
        pair, inverse = torch.unique(code.masked_select(present), return_inverse=True)
        edge_weight = torch.full(pair.shape, -1, dtype=torch.long, device=pair.device)
        edge_weight.scatter_reduce_(0, inverse, weight.masked_select(present), "amax")
    low = pair // span
    return low, low + pair % span, edge_weight


def _levels_table(levels: Tensor) -> Tensor:
    """``(256,)`` int64: for each value ``v`` in ``[0, 255]``, how many ``levels`` are below."""
    return torch.searchsorted(levels, torch.arange(256, device=levels.device, dtype=levels.dtype))


def _lookup(table: Tensor, values: Tensor, bits: int = 0) -> Tensor:
    """``table[v]`` for values ``(v << bits) | refine``, with the shape of ``values``.

    The values are shifted right by ``bits`` first, which drops the tie-breaker (a table
    repeating each entry ``2**bits`` times would hold ~2**31 entries on small maps).
    int16 for int16 or int32 values (the counts of at most 256 levels fit), else int64.
    """
    if bits:
        values = values >> bits
    if values.dtype in (torch.int16, torch.int32):
        return table.short().index_select(0, values.reshape(-1).int()).view(values.shape)
    return table.index_select(0, values.reshape(-1)).view(values.shape)


def _label_levels(basins: Basins, num_levels_below: Tensor, num_levels: int) -> Tensor:
    """Component label (root basin id) of every (level, basin), ``(L, B)`` int64.

    Edge ``e`` is present at the level indices ``j < num_levels_below[e]``. The levels are
    independent problems solved together; when the (level, edge) pairs are many (noisy maps),
    they are solved a block of levels at a time to bound the memory.
    """
    count = basins.count
    device = basins.peak.device
    if basins.edge_a.numel() == 0:  # no edges: every basin is its own component
        return torch.arange(count, device=device).expand(num_levels, count)
    pairs_per_level = _pairs_per_level(num_levels_below, num_levels)
    if sum(pairs_per_level) >= _FOREST_PAIRS:
        # A maximum spanning forest joins the same basins at every level with about half of
        # the (level, edge) pairs; finding it costs a few rounds over the edges alone.
        forest = _maximum_spanning_forest(basins)
        basins = dataclasses.replace(
            basins,
            edge_a=basins.edge_a[forest],
            edge_b=basins.edge_b[forest],
            edge_weight=basins.edge_weight[forest],
        )
        num_levels_below = num_levels_below[forest]
        pairs_per_level = _pairs_per_level(num_levels_below, num_levels)
    if sum(pairs_per_level) <= _PAIR_BUDGET:
        return _label_level_block(basins, num_levels_below, 0, num_levels)
    labels = torch.empty(num_levels, count, dtype=torch.long, device=device)
    start = 0
    while start < num_levels:
        stop, total = start + 1, pairs_per_level[start]
        while stop < num_levels and total + pairs_per_level[stop] <= _PAIR_BUDGET:
            total += pairs_per_level[stop]
            stop += 1
        labels[start:stop] = _label_level_block(basins, num_levels_below, start, stop)
        start = stop
    return labels


def _pairs_per_level(num_levels_below: Tensor, num_levels: int) -> list[int]:
    """How many edges are present at each level index ``j`` (those with ``j < below``)."""
    below = torch.bincount(num_levels_below, minlength=num_levels + 1)
    return below.flip(0).cumsum(0).flip(0)[1:].tolist()


def _maximum_spanning_forest(basins: Basins) -> Tensor:
    """Which edges of the basin graph form a maximum spanning forest, ``(E,)`` bool.

    Two basins are joined above a level exactly when a path of edges heavier than the level
    joins them, and the heaviest such path of any graph runs through its maximum spanning
    forest, so the forest has the components of the graph at every level. Boruvka's rounds:
    every component takes its heaviest edge to another component (weights made unique by
    the edge index), and the components those edges join are merged; each round at least
    halves the number of components.
    """
    edge_a, edge_b = basins.edge_a, basins.edge_b
    device = edge_a.device
    num_edges, count = edge_a.numel(), basins.count
    key = basins.edge_weight * num_edges + torch.arange(num_edges, device=device)
    nodes = torch.arange(count, device=device)
    component = nodes.clone()
    in_forest = torch.zeros(num_edges, dtype=torch.bool, device=device)
    candidate = torch.arange(num_edges, device=device)
    while True:
        end_a = component.index_select(0, edge_a.index_select(0, candidate))
        end_b = component.index_select(0, edge_b.index_select(0, candidate))
        between = (end_a != end_b).nonzero().squeeze(1)
        if between.numel() == 0:
            return in_forest
        candidate = candidate.index_select(0, between)
        end_a, end_b = end_a.index_select(0, between), end_b.index_select(0, between)
        weight = key.index_select(0, candidate)
        heaviest = torch.full((count,), -1, dtype=torch.long, device=device)
        heaviest.scatter_reduce_(0, end_a, weight, "amax")
        heaviest.scatter_reduce_(0, end_b, weight, "amax")
        for_a = heaviest.index_select(0, end_a) == weight  # the heaviest edge of end_a's component
        for_b = heaviest.index_select(0, end_b) == weight
        in_forest[candidate[for_a | for_b]] = True
        # Each component points to the component across its heaviest edge; two components
        # that chose the same edge point to each other, and the smaller one stays a root.
        parent = nodes.clone()
        parent[end_a[for_a]] = end_b[for_a]
        parent[end_b[for_b]] = end_a[for_b]
        mutual = (parent.index_select(0, parent) == nodes) & (nodes < parent)
        parent = torch.where(mutual, nodes, parent)
        component = _jump_to_roots(parent).index_select(0, component)


def _label_level_block(basins: Basins, num_levels_below: Tensor, start: int, stop: int) -> Tensor:
    """:func:`_label_levels` for the level indices ``start <= j < stop``, ``(stop - start, B)``."""
    count = basins.count
    device = basins.peak.device
    num_levels = stop - start
    labels = torch.arange(num_levels * count, device=device)
    edge_counts = (num_levels_below.clamp(max=stop) - start).clamp_(min=0)
    total = int(edge_counts.sum())
    if total > 0:
        edge_of_pair = torch.repeat_interleave(
            torch.arange(edge_counts.numel(), device=device), edge_counts, output_size=total
        )
        starts = torch.cumsum(edge_counts, 0) - edge_counts
        level_of_pair = torch.arange(total, device=device) - starts.index_select(0, edge_of_pair)
        level_of_pair.mul_(count)
        node_a = level_of_pair + basins.edge_a.index_select(0, edge_of_pair)
        node_b = level_of_pair.add_(basins.edge_b.index_select(0, edge_of_pair))
        while True:
            label_a, label_b = labels.index_select(0, node_a), labels.index_select(0, node_b)
            if torch.equal(label_a, label_b):
                # Equal labels across every edge: each component has one label, its smallest
                # node (which always labels itself).
                break
            # Hook the larger label under the smaller one (labels only decrease, so no
            # cycles), then one pointer jump.
            labels.scatter_reduce_(
                0, torch.maximum(label_a, label_b), torch.minimum(label_a, label_b), "amin"
            )
            labels = labels.index_select(0, labels)
    level_offsets = torch.arange(num_levels, device=device).view(-1, 1) * count
    return labels.view(num_levels, count) - level_offsets


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
    _check_size(*values.shape)
    values = values.int()
    if basins is None:
        basins = _find_basins(values, 0, connectivity)
    return _level_components(
        values, 0, levels, basins, with_area=with_area, with_border=with_border, first="exact"
    )


def _level_components(
    fine: Tensor,
    bits: int,
    levels: Tensor,
    basins: Basins,
    *,
    with_area: bool = False,
    with_border: bool = False,
    first: str | None = None,
    holes_only: bool = False,
) -> LevelComponents:
    """:func:`level_components` of int32 maps ``(value << bits) | refine``.

    ``first`` chooses the first index: ``"exact"``, the smallest raster index; ``"order"``,
    a key that orders the components of one map and level as their first pixels do (cheaper:
    see :func:`_binned_extents`); ``None``, none. With ``holes_only``, ``is_root`` marks only
    the components off the image border (and ``with_border`` is implied), and the boxes are
    computed from the pixels that can lie in such a component only.
    """
    grid = basins.grid
    layout = _layout(grid, fine.device)
    width = fine.shape[2]
    device = fine.device
    count = basins.count
    num_levels = levels.numel()
    table = _levels_table(levels)

    labels = _label_levels(basins, table.index_select(0, basins.edge_weight), num_levels)
    level_ids = torch.arange(num_levels, device=device).view(-1, 1)
    slots = (labels + level_ids * count).view(-1)  # each (level, basin) entry's component
    alive = level_ids < table.index_select(0, basins.peak).view(1, -1)
    is_root = alive & (labels == torch.arange(count, device=device))
    border_peak = selected = None
    if with_border or holes_only:
        border_values = fine.view(-1).index_select(0, layout.border) >> bits
        border_basins = basins.of_block.index_select(0, layout.border_block).long()
        basin_border = torch.full((count,), -1, dtype=torch.int32, device=device)
        basin_border.scatter_reduce_(0, border_basins, border_values, "amax")
        border_peak = torch.full((num_levels * count,), -1, dtype=torch.int32, device=device)
        border_peak.scatter_reduce_(0, slots, basin_border.repeat(num_levels), "amax")
        border_peak = border_peak.view(num_levels, count).long()
    if holes_only:
        assert border_peak is not None
        is_root &= border_peak <= levels.view(-1, 1)
        # A pixel lies in a component off the border at some level only if every path from
        # it to the border climbs above its value (it is raised by hole filling): only the
        # blocks holding such a pixel need entries.
        reach = _border_reach(basins, border_basins, border_values.long()).int()
        block_peak = grid.pad(fine, -1)
        if grid.block[0] == 2:
            block_peak = torch.maximum(block_peak[:, 0::2], block_peak[:, 1::2])
        block_peak = torch.maximum(block_peak[..., 0::2], block_peak[..., 1::2]) >> bits
        raised = block_peak.view(-1) > reach.index_select(0, basins.of_block)
        selected = raised.nonzero().squeeze(1)

    # Bin every pixel by how many levels it exceeds; a pixel in bin c is in the superlevel
    # set of level index j exactly when j < c, so attributes at level j reduce bins > j.
    pixel_bin = _lookup(table, fine, bits)  # int16
    extents = _binned_extents(
        grid.pad(pixel_bin, 0), basins, layout, num_levels + 1, first, selected
    )
    # Per basin and level: maxima of (-x_min, -first, x_max, y_max) over bins > j, a
    # cumulative maximum over the reversed bins (entry r of a basin holds level L - 1 - r,
    # and entry L level -1, which goes to a spare slot); then merged into components: every
    # (level, basin) entry goes to its label's slot. Entries of basins without pixels above
    # the level are isolated and empty, so harmless.
    extents = torch.cummax(extents, dim=-1).values.view(4, -1)
    spare = torch.arange(num_levels * count, (num_levels + 1) * count, device=device)
    target = torch.cat([slots.view(num_levels, count).flip(0), spare.view(1, -1)]).t()
    target = target.reshape(-1)  # (B * (L + 1),), basin-major like the extents
    merged = torch.full((4, (num_levels + 1) * count), _INT32_MIN, dtype=torch.int32, device=device)
    merged.scatter_reduce_(1, target.expand(4, -1), extents, "amax", include_self=True)
    merged = merged[:, : num_levels * count].view(4, num_levels, count)
    area2 = None
    if with_area:
        per_basin = _binned_window_area(pixel_bin, basins, num_levels + 1)  # as the extents
        area2 = torch.zeros((num_levels + 1) * count, dtype=torch.long, device=device)
        area2.index_add_(0, target, per_basin.view(-1))
        area2 = area2[: num_levels * count].view(num_levels, count)
    divisors = {"exact": width, "order": grid.columns, None: None}
    return LevelComponents(
        is_root=is_root,
        map_index=basins.map_index,
        extent=merged,
        first_divisor=divisors[first],
        area2=area2,
        border_peak=border_peak,
    )


@functools.lru_cache(maxsize=8)
def _extent_sources(grid: _Grid, device: torch.device, first: str | None) -> tuple[Tensor, Tensor]:
    """Per block side, the coordinate each side contributes to the minima and the maxima.

    Returns ``(low, high)``, int32 ``(S, N * blocks)``, for the sides of
    :func:`_binned_extents` (left column, right column, then the rows): ``high`` holds
    ``x, x + 1, y(, y + 1)``; ``low`` the same, with the rows' entries replaced by the order
    key ``y * columns + block column`` when ``first == "order"``.
    """
    rows, columns = grid.rows, grid.columns
    block_h, block_w = grid.block
    x = torch.arange(columns, device=device, dtype=torch.int32).view(1, -1) * block_w
    y = torch.arange(rows, device=device, dtype=torch.int32).view(-1, 1) * block_h
    zero = torch.zeros(rows, columns, device=device, dtype=torch.int32)
    block_x = x // block_w
    high = [x + zero, x + 1 + zero] + [y + dy + zero for dy in range(block_h)]
    low = high[:2] + [
        (y + dy) * columns + block_x if first == "order" else y + dy + zero for dy in range(block_h)
    ]

    def over_maps(sides: list[Tensor]) -> Tensor:
        stacked = torch.stack(sides).view(len(sides), 1, -1)
        return stacked.expand(-1, grid.num_maps, -1).reshape(len(sides), -1)

    return over_maps(low), over_maps(high)


def _binned_extents(
    pixel_bin: Tensor,
    basins: Basins,
    layout: _Layout,
    num_bins: int,
    first: str | None,
    selected: Tensor | None = None,
) -> Tensor:
    """Per (basin, bin): ``(-x_min, -first, x_max, y_max)``, ``(4, B, bins)`` int32, the bins
    reversed (entry ``r`` is bin ``bins - 1 - r``, so that a cumulative maximum over the
    entries reduces the bins above a level); an empty entry holds ``-(2**31 - 1)`` in its
    negated minima and ``-2**31`` in its maxima, below every coordinate.

    ``pixel_bin`` is ``(N, H', W')``, padded to whole blocks with bin 0 (below every level).
    A block lies in one basin, and among its pixels of a bin ``> j`` the leftmost is in its
    left column if any pixel of that column is, so the left column contributes
    ``(max of its bins, x)`` and the right column ``(max of its bins, x + 1)``; likewise the
    rows: one entry per side of the block instead of one per pixel, and the same entries
    serve the minima and the maxima. ``first`` is the smallest raster index (``"exact"``;
    one entry per pixel), or the key ``y * columns + block column`` of the first row of the
    block (``"order"``): two components of one level never share a block (a block is a
    clique), so the keys order them as their first pixels; or ``y_min`` (``None``).
    ``selected``, if given, lists the blocks that get entries (the others get none).
    """
    grid = basins.grid
    device = pixel_bin.device
    count = basins.count
    num_maps, rows, columns = grid.num_maps, grid.rows, grid.columns
    size = count * num_bins
    padded_w = grid.padded[1]
    if selected is None:
        if grid.block[0] == 2:
            columns_max = torch.maximum(pixel_bin[:, 0::2], pixel_bin[:, 1::2])
            rows_max = torch.maximum(pixel_bin[..., 0::2], pixel_bin[..., 1::2])
            sides = [
                columns_max[..., 0::2],
                columns_max[..., 1::2],
                rows_max[:, 0::2],
                rows_max[:, 1::2],
            ]
        else:
            left, right = pixel_bin[..., 0::2], pixel_bin[..., 1::2]
            sides = [left, right, torch.maximum(left, right)]
        base = basins.of_block.view(num_maps, rows, columns)
    else:
        corner = layout.corner.index_select(0, selected)
        flat = pixel_bin.view(-1)
        pixels = [flat.index_select(0, corner), flat.index_select(0, corner + 1)]
        if grid.block[0] == 2:
            pixels += [
                flat.index_select(0, corner + padded_w),
                flat.index_select(0, corner + padded_w + 1),
            ]
            sides = [
                torch.maximum(pixels[0], pixels[2]),
                torch.maximum(pixels[1], pixels[3]),
                torch.maximum(pixels[0], pixels[1]),
                torch.maximum(pixels[2], pixels[3]),
            ]
        else:
            sides = [*pixels, torch.maximum(*pixels)]
        base = basins.of_block.index_select(0, selected)
    # Entry basin * bins + bins - 1 - bin, summed in int32 (the int16 sides widen cheaply)
    # unless the indices need more, then widened once for the scatters.
    base = (base if size < 2**31 else base.long()) * num_bins + (num_bins - 1)
    index = torch.empty((len(sides), *base.shape), dtype=base.dtype, device=device)
    for row, side in zip(index, sides, strict=True):
        torch.sub(base, side, out=row)
    index = index.view(len(sides), -1).long()
    low_source, high_source = _extent_sources(grid, device, "order" if first == "order" else None)
    if selected is not None:
        low_source = low_source.index_select(1, selected)
        high_source = high_source.index_select(1, selected)
    low = torch.full((len(sides), size), _INT32_MAX, dtype=torch.int32, device=device)
    low.scatter_reduce_(1, index, low_source, "amin", include_self=True)
    high = torch.full((len(sides), size), _INT32_MIN, dtype=torch.int32, device=device)
    high.scatter_reduce_(1, index, high_source, "amax", include_self=True)
    # x from the left and right columns; y (or the order key) from the rows.
    extents = torch.empty((4, size), dtype=torch.int32, device=device)
    torch.amin(low[:2], 0, out=extents[0])
    torch.amin(low[2:], 0, out=extents[1])
    torch.amax(high[:2], 0, out=extents[2])
    torch.amax(high[2:], 0, out=extents[3])
    if first == "exact":  # the smallest raster index: one entry per pixel
        height, width = grid.height, grid.width
        pixel_index = grid.expand(basins.of_block).long() * num_bins + (num_bins - 1)
        pixel_index.sub_(pixel_bin[:, :height, :width])
        raster = torch.arange(height * width, device=device, dtype=torch.int32)
        extents[1] = _INT32_MAX
        extents[1].scatter_reduce_(
            0, pixel_index.view(-1), raster.repeat(num_maps), "amin", include_self=True
        )
    extents[:2].neg_()
    return extents.view(4, count, num_bins)


def _binned_window_area(pixel_bin: Tensor, basins: Basins, num_bins: int) -> Tensor:
    """Twice the contour area of each basin's part above every level, ``(B, L + 1)``, the
    levels reversed (entry ``r`` is level index ``L - 1 - r``; entry ``L`` is level -1).

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
        return torch.zeros(count, num_bins, dtype=torch.long, device=device)
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
    # Counted at entry basin * bins + bins - 1 - bin: reversed bins, as in _binned_extents.
    window_basin = torch.addcmul(
        bottom_right_basin, top_left_basin - bottom_right_basin, top_left >= bottom_right
    )
    window_basin.mul_(num_bins).add_(num_bins - 1)
    out = torch.bincount((window_basin - smallest).view(-1), minlength=size)
    out += torch.bincount(window_basin.sub_(second).view(-1), minlength=size)
    return out.view(count, num_bins).cumsum(-1)


def _border_reach(basins: Basins, border_basins: Tensor, border_depth: Tensor) -> Tensor:
    """Maximin depth of a 4-connected path from each basin to the image border, ``(B,)`` int64.

    ``border_basins`` and ``border_depth`` (int64) are the basin and the value (a depth) of
    each border pixel. Bellman-Ford on the basin graph: a loop over a few relaxation rounds.
    """
    reach = torch.full((basins.count,), -1, dtype=torch.long, device=border_depth.device)
    reach.scatter_reduce_(0, border_basins, border_depth, "amax")
    both_a = torch.cat([basins.edge_a, basins.edge_b])
    both_b = torch.cat([basins.edge_b, basins.edge_a])
    both_weight = torch.cat([basins.edge_weight, basins.edge_weight])
    while True:
        offer = torch.minimum(both_weight, reach.index_select(0, both_b))
        updated = reach.scatter_reduce(0, both_a, offer, "amax")
        if torch.equal(updated, reach):
            return reach
        reach = updated


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
    _check_size(*values.shape)
    values = values.int()
    if basins is None:
        basins = _find_basins(255 - values, 0, 4)
    return _fill_holes(values, 0, basins)


def _fill_holes(fine: Tensor, bits: int, basins: Basins) -> Tensor:
    """:func:`fill_holes` of int32 maps ``(value << bits) | refine``.

    A filled pixel is raised to ``fill << bits``, with no tie-breaker: a filled pit is flat,
    so it drains into one basin. Pixels that are not raised keep their tie-breaker.
    """
    grid = basins.grid
    layout = _layout(grid, fine.device)
    border_basins = basins.of_block.index_select(0, layout.border_block).long()
    border_depth = 255 - (fine.view(-1).index_select(0, layout.border) >> bits).long()
    reach = _border_reach(basins, border_basins, border_depth)
    # 255 - min(255 - v, reach) = max(v, 255 - reach), one level per block.
    block_level = ((255 - reach).int() << bits).index_select(0, basins.of_block)
    if not grid.whole:
        return torch.maximum(fine, grid.expand(block_level))
    (block_h, block_w), num_maps = grid.block, grid.num_maps
    blocks = fine.view(num_maps, grid.rows, block_h, grid.columns, block_w)
    levels = block_level.view(num_maps, grid.rows, 1, grid.columns, 1)
    return torch.maximum(blocks, levels).view(fine.shape)
