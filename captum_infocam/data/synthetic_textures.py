r"""A second synthetic WSOL family: the class is a random texture that fills the whole object.

:func:`~captum_infocam.data.make_localization_data` hides the class in a small periodic
marking on part of a class-free body. This family is built differently in every ingredient
that decides how a class map can succeed or fail, so that no conclusion about a map rests on
one generator:

* **The class evidence is global and stochastic.** The whole object is filled with a random
  two-shade texture whose *statistics* name the class (see :data:`TEXTURE_NAMES`): fine
  speckle, coarse blotches, streaks, sparse dots, ... Each texture is white noise on a grid
  of class-specific cell sizes, interpolated, turned by a random angle and thresholded at a
  class-specific level, so no two objects share a pattern, nothing is periodic, and every
  part of the object carries the same evidence. ``masks`` is the evidence.
* **The object's outline carries no class information.** It is a random star polygon
  (3 to 8 points, straight edges between an outer and an inner radius, from spiky stars to
  regular polygons), with a hole of the same shape one time in four, a random rotation, a
  mild stretch (aspect 4:5 to 5:4), an outer diameter of 30%-60% of the image side by
  default, and a random position fully inside the image.
* **The background is a periodic texture**: two colours mixed by three random gratings
  (random orientations, periods of 5%-20% of the side, phases and weights) plus a colour
  gradient, where the first family has smooth noise.
* **Distractors** are up to ``max_distractors`` smooth blobs without corners (ellipses of
  aspect up to 1:2 with a small three-fold wobble) of the object's size, in plain shaded
  colours, behind the object: things as large and as visible as the object, with no class
  texture. ``distractor_masks`` holds their visible pixels.
* **Occluders** are up to ``max_occluders`` plain bars (width 6%-10%, length 50%-100% of
  the side, random colour and angle) drawn *in front of* the object. They hide part of it;
  an image whose occluders would hide more than 40% of the object is drawn without them.
  ``occluder_masks`` holds their pixels.
* Finally pixel noise of standard deviation 0.02-0.05 is added to the whole image.

The ground truth is the object's *visible* part: ``masks`` holds the object's pixels that no
occluder hides (a hole is not part of it), and ``boxes`` are exactly the bounding boxes of
``masks`` (one box around both parts of an object cut in two by a bar).

Everything is drawn from one :class:`torch.Generator` seeded by ``seed`` on the CPU, so the
same seed gives the same data on every device; rendering is vectorised over the images (a
Python loop runs over the few distractor and occluder slots, never over images or pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from captum_infocam._validation import check_int
from captum_infocam.data._batch import SyntheticBatch
from captum_infocam.data._sample import LocalizationSample
from captum_infocam.data._scenes import (
    bounding_boxes,
    check_range,
    colour_directions,
    contrasting_colour,
    render_in_chunks,
    shuffled_labels,
    uniform,
)
from captum_infocam.data._scenes import class_counts as _class_counts
from captum_infocam.data.synthetic import MIN_IMAGE_SIZE

__all__ = ["TEXTURE_NAMES", "SyntheticTextures", "TextureBatch", "make_texture_data"]

TEXTURE_NAMES: tuple[str, ...] = (
    "fine speckle",
    "coarse blotches",
    "streaks",
    "sparse dots",
    "medium mottle",
    "sparse holes",
    "long coarse streaks",
    "sparse blotches",
)
"""Names of the fill textures; class ``k`` of a ``K``-class set is ``TEXTURE_NAMES[k]``."""

# Each texture is white noise on a grid of cells (width, height, in pixels of a 64-pixel
# image), interpolated, turned by a random angle, and light where it exceeds the level
# (0: half light; 0.5: about a quarter light; -0.5: about three quarters light).
# Columns: cell width, cell height, level.
_TEXTURE_TABLE = (
    (1.5, 1.5, 0.0),  # fine speckle
    (8.0, 8.0, 0.0),  # coarse blotches
    (1.5, 10.0, 0.0),  # streaks
    (2.5, 2.5, 0.5),  # sparse dots
    (4.0, 4.0, 0.0),  # medium mottle
    (2.5, 2.5, -0.5),  # sparse holes (dark dots on light)
    (4.0, 20.0, 0.0),  # long coarse streaks
    (6.0, 6.0, 0.5),  # sparse blotches
)

_NOISE_GRID = 64  # side of the noise grid the textures are sampled from
_GRATINGS = 3  # gratings summed in the background
_MAX_HIDDEN = 0.4  # occluders hiding more of the object than this are not drawn
_RENDER_CHUNK = 256  # images rendered at once: bounds memory, fixed so results never depend on it


@dataclass(frozen=True)
class TextureBatch(SyntheticBatch):
    r"""Images of textured objects with labels and exact localisation ground truth.

    Attributes:
        images (Tensor): ``(N, 3, H, W)`` float32 in ``[0, 1]``.
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, num_classes)``.
        boxes (Tensor): ``(N, 4)`` int64 inclusive pixel coordinates ``(x1, y1, x2, y2)``,
            exactly the bounding boxes of ``masks``.
        masks (Tensor): ``(N, H, W)`` bool, the object's visible pixels, all textured with
            the class's texture.
        occluder_masks (Tensor): ``(N, H, W)`` bool, the pixels of the bars in front of the
            object; disjoint from ``masks``.
        distractor_masks (Tensor): ``(N, H, W)`` bool, the visible pixels of the blobs behind
            the object; disjoint from ``masks`` and ``occluder_masks``.
        num_classes (int): the number of classes ``K``.

    Examples::

        >>> data = make_texture_data(8, num_classes=4, seed=0)
        >>> train, test = data.subset(slice(0, 6)), data.subset(slice(6, None))
        >>> len(train), len(test), data.class_names[:2]
        (6, 2, ('fine speckle', 'coarse blotches'))
    """

    images: Tensor
    labels: Tensor
    boxes: Tensor
    masks: Tensor
    occluder_masks: Tensor
    distractor_masks: Tensor
    num_classes: int

    names_of_classes = TEXTURE_NAMES


@dataclass(frozen=True)
class _TextureParameters:
    """Every random quantity of a set of scenes except the pixel noise, on the CPU.

    Positions and lengths are in units of the image side.
    """

    labels: Tensor  # (N,)
    background_colours: Tensor  # (N, 2, 3)
    gradient_colour: Tensor  # (N, 3)
    gradient_angle: Tensor  # (N,)
    grating_angle: Tensor  # (N, G)
    grating_period: Tensor  # (N, G)
    grating_phase: Tensor  # (N, G)
    grating_weight: Tensor  # (N, G)
    object_centre: Tensor  # (N, 2), in units of the free room, in [0, 1]
    object_radius: Tensor  # (N,), outer radius
    object_angle: Tensor  # (N,)
    object_log_aspect: Tensor  # (N,)
    object_points: Tensor  # (N,), 3 to 8
    object_inner: Tensor  # (N,), inner radius in units of the regular polygon's
    object_hole: Tensor  # (N,), 0 or the hole's relative size
    object_direction: Tensor  # (N, 3), how the base colour leaves the background's
    object_strength: Tensor  # (N,)
    texture_noise: Tensor  # (N, 1, S, S)
    texture_angle: Tensor  # (N,)
    texture_offset: Tensor  # (N, 2), in noise cells
    distractor_present: Tensor  # (N, D)
    distractor_centre: Tensor  # (N, D, 2)
    distractor_radius: Tensor  # (N, D)
    distractor_log_aspect: Tensor  # (N, D)
    distractor_angle: Tensor  # (N, D)
    distractor_wobble: Tensor  # (N, D)
    distractor_wobble_phase: Tensor  # (N, D)
    distractor_direction: Tensor  # (N, D, 3)
    distractor_strength: Tensor  # (N, D)
    occluder_present: Tensor  # (N, O)
    occluder_centre: Tensor  # (N, O, 2)
    occluder_angle: Tensor  # (N, O)
    occluder_half_width: Tensor  # (N, O)
    occluder_half_length: Tensor  # (N, O)
    occluder_colour: Tensor  # (N, O, 3)
    pixel_noise_std: Tensor  # (N,)

    def chunk(self, index: slice, device: torch.device) -> _TextureParameters:
        return _TextureParameters(**{k: v[index].to(device) for k, v in vars(self).items()})


def _draw_parameters(
    gen: torch.Generator,
    counts: list[int],
    object_scale: tuple[float, float],
    max_distractors: int,
    max_occluders: int,
) -> _TextureParameters:
    n, d, o = sum(counts), max_distractors, max_occluders
    low, high = object_scale
    return _TextureParameters(
        labels=shuffled_labels(gen, counts),
        background_colours=torch.rand((n, 2, 3), generator=gen),
        gradient_colour=torch.rand((n, 3), generator=gen),
        gradient_angle=uniform(gen, (n,), 0.0, 2.0 * math.pi),
        grating_angle=uniform(gen, (n, _GRATINGS), 0.0, math.pi),
        grating_period=uniform(gen, (n, _GRATINGS), 0.05, 0.2),
        grating_phase=uniform(gen, (n, _GRATINGS), 0.0, 2.0 * math.pi),
        grating_weight=uniform(gen, (n, _GRATINGS), 0.3, 1.0),
        object_centre=torch.rand((n, 2), generator=gen),
        object_radius=uniform(gen, (n,), low / 2, high / 2),
        object_angle=uniform(gen, (n,), 0.0, 2.0 * math.pi),
        object_log_aspect=uniform(gen, (n,), -math.log(1.25), math.log(1.25)),
        object_points=torch.randint(3, 9, (n,), generator=gen).float(),
        object_inner=uniform(gen, (n,), 0.5, 1.0),
        object_hole=torch.where(
            torch.rand((n,), generator=gen) < 0.25, uniform(gen, (n,), 0.35, 0.5), 0.0
        ),
        object_direction=colour_directions(gen, (n,)),
        object_strength=uniform(gen, (n,), 0.4, 0.7),
        texture_noise=torch.randn((n, 1, _NOISE_GRID, _NOISE_GRID), generator=gen),
        texture_angle=uniform(gen, (n,), 0.0, math.pi),
        texture_offset=torch.rand((n, 2), generator=gen),
        distractor_present=torch.rand((n, d), generator=gen) < 0.7,
        distractor_centre=torch.rand((n, d, 2), generator=gen),
        distractor_radius=uniform(gen, (n, d), low / 2, high / 2),
        distractor_log_aspect=uniform(gen, (n, d), -math.log(2.0), math.log(2.0)) / 2,
        distractor_angle=uniform(gen, (n, d), 0.0, math.pi),
        distractor_wobble=uniform(gen, (n, d), 0.0, 0.08),
        distractor_wobble_phase=uniform(gen, (n, d), 0.0, 2.0 * math.pi),
        distractor_direction=colour_directions(gen, (n, d)),
        distractor_strength=uniform(gen, (n, d), 0.4, 0.7),
        occluder_present=torch.rand((n, o), generator=gen) < 0.5,
        occluder_centre=torch.rand((n, o, 2), generator=gen),
        occluder_angle=uniform(gen, (n, o), 0.0, math.pi),
        occluder_half_width=uniform(gen, (n, o), 0.03, 0.05),
        occluder_half_length=uniform(gen, (n, o), 0.25, 0.5),
        occluder_colour=torch.rand((n, o, 3), generator=gen),
        pixel_noise_std=uniform(gen, (n,), 0.02, 0.05),
    )


def _frame(
    xs: Tensor, ys: Tensor, centre: Tensor, angle: Tensor, scale: Tensor
) -> tuple[Tensor, Tensor]:
    """Coordinates ``(u, v)``, ``(N, H, W)``, in each image's frame.

    The frame is centred on ``centre`` ``(N, 2)``, turned by ``angle`` ``(N,)``, with unit
    lengths ``scale`` ``(N, 2)`` along its two axes.
    """
    dx = xs - centre[:, 0, None, None]
    dy = ys - centre[:, 1, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u = (dx * cos + dy * sin) / scale[:, 0, None, None]
    v = (dy * cos - dx * sin) / scale[:, 1, None, None]
    return u, v


def _stretched(radius: Tensor, log_aspect: Tensor) -> Tensor:
    """Unit lengths ``(N, 2)`` of a frame of size ``radius`` stretched by ``exp(log_aspect)``."""
    stretch = (0.5 * log_aspect).exp()
    return torch.stack([radius * stretch, radius / stretch], dim=-1)


def _star_polygon_radius(theta: Tensor, points: Tensor, inner: Tensor) -> Tensor:
    """Boundary radius at angle ``theta`` ``(N, H, W)`` of star polygons with outer radius 1.

    ``points`` (n) and ``inner`` (q) are ``(N,)``: outer vertices at angles ``2 pi j / n``,
    inner vertices at radius ``q`` halfway between, joined by straight edges
    (``q = cos(pi / n)`` is the regular n-gon). The ray at angle ``psi`` from a vertex
    towards the next inner vertex meets that edge at radius
    ``q sin(pi/n) / (q sin(pi/n) cos psi + (1 - q cos(pi/n)) sin psi)``.
    """
    sector = (2.0 * math.pi / points)[:, None, None]
    phi = torch.remainder(theta, sector)
    psi = torch.minimum(phi, sector - phi)
    half = sector / 2
    q = inner[:, None, None]
    numerator = q * half.sin()
    return numerator / (numerator * psi.cos() + (1.0 - q * half.cos()) * psi.sin())


def _texture(
    p: _TextureParameters, xs: Tensor, ys: Tensor, size: float, base_colour: Tensor
) -> Tensor:
    """The class textures, ``(N, 3, H, W)``, in a dark and a light shade of ``base_colour``."""
    table = torch.tensor(_TEXTURE_TABLE, dtype=xs.dtype, device=xs.device)[p.labels]
    cells = table[:, :2] * (size / 64.0)
    centre = torch.full((len(p.labels), 2), (size - 1) / 2, dtype=xs.dtype, device=xs.device)
    u, v = _frame(xs, ys, centre, p.texture_angle, cells)
    # Noise cells around the grid's centre, shifted by a random fraction of a cell; the
    # image's diagonal spans at most 91 cells of 1 px, so reflection at the border of the
    # 64-cell grid only repeats cells for the finest textures.
    grid = torch.stack(
        [u + p.texture_offset[:, 0, None, None], v + p.texture_offset[:, 1, None, None]], dim=-1
    ) / (_NOISE_GRID / 2)
    field = F.grid_sample(
        p.texture_noise, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    # Bilinear interpolation of white noise has a standard deviation of about 0.6 inside cells.
    light = torch.sigmoid(8.0 * (field / 0.6 - table[:, 2, None, None, None]))
    dark_colour = 0.3 * base_colour
    light_colour = base_colour + 0.7 * (1.0 - base_colour)
    return torch.lerp(dark_colour[:, :, None, None], light_colour[:, :, None, None], light)


def _render(
    p: _TextureParameters, pixel_noise: Tensor, image_size: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw a chunk of scenes; returns images and object, occluder and distractor masks."""
    device = p.labels.device
    n, size = p.labels.shape[0], float(image_size)
    coords = torch.arange(image_size, device=device, dtype=torch.float32)
    ys, xs = coords[None, :, None], coords[None, None, :]

    # Background: two colours mixed by three gratings, plus a colour gradient.
    angle = p.grating_angle[:, :, None, None]
    along = xs[:, None] * angle.cos() + ys[:, None] * angle.sin()  # (N, G, H, W)
    waves = torch.cos(
        2.0 * math.pi * along / (p.grating_period[:, :, None, None] * size)
        + p.grating_phase[:, :, None, None]
    )
    weights = p.grating_weight / p.grating_weight.sum(dim=1, keepdim=True)
    mix = (0.5 + 0.5 * (weights[:, :, None, None] * waves).sum(dim=1))[:, None]
    c0, c1 = p.background_colours[:, 0, :, None, None], p.background_colours[:, 1, :, None, None]
    ramp = (
        (xs - size / 2) * p.gradient_angle.cos()[:, None, None]
        + (ys - size / 2) * p.gradient_angle.sin()[:, None, None]
    ) / size + 0.5
    gradient = p.gradient_colour[:, :, None, None] * ramp.clamp(0.0, 1.0)[:, None]
    image = 0.8 * torch.lerp(c0, c1, mix) + 0.2 * gradient
    mean_background = 0.8 * p.background_colours.mean(dim=1) + 0.1 * p.gradient_colour

    # Distractors: smooth plain blobs behind the object, shaded from one side.
    distractors = torch.zeros((n, image_size, image_size), dtype=torch.bool, device=device)
    for j in range(p.distractor_present.shape[1]):
        centre = p.distractor_centre[:, j] * (size - 1)
        scale = _stretched(p.distractor_radius[:, j] * size, p.distractor_log_aspect[:, j])
        u, v = _frame(xs, ys, centre, p.distractor_angle[:, j], scale)
        theta = torch.atan2(v, u)
        phase = p.distractor_wobble_phase[:, j, None, None]
        boundary = 1.0 + p.distractor_wobble[:, j, None, None] * torch.cos(3.0 * theta + phase)
        blob = p.distractor_present[:, j, None, None] & (u.square() + v.square() <= boundary**2)
        colour = contrasting_colour(
            mean_background, p.distractor_direction[:, j], p.distractor_strength[:, j]
        )
        shade = (1.0 - 0.15 * u.clamp(-1.0, 1.0))[:, None]
        image = torch.where(blob[:, None], colour[:, :, None, None] * shade, image)
        distractors |= blob

    # The object: a star polygon fully inside the image, with an optional hole.
    radius = p.object_radius * size
    extent = radius * (0.5 * p.object_log_aspect.abs()).exp()  # farthest reach from the centre
    centre = extent[:, None] + p.object_centre * ((size - 1) - 2 * extent)[:, None].clamp(min=0)
    u, v = _frame(xs, ys, centre, p.object_angle, _stretched(radius, p.object_log_aspect))
    rho, theta = torch.sqrt(u.square() + v.square()), torch.atan2(v, u)
    inner = p.object_inner * torch.cos(math.pi / p.object_points)
    boundary = _star_polygon_radius(theta, p.object_points, inner)
    shape = (rho <= boundary) & (rho >= p.object_hole[:, None, None] * boundary)
    base_colour = contrasting_colour(mean_background, p.object_direction, p.object_strength)
    image = torch.where(shape[:, None], _texture(p, xs, ys, size, base_colour), image)

    # Occluders: bars in front of the object, unless together they hide too much of it.
    bars = torch.zeros(
        (n, p.occluder_present.shape[1], image_size, image_size), dtype=torch.bool, device=device
    )
    for j in range(p.occluder_present.shape[1]):
        half = torch.stack(
            [p.occluder_half_length[:, j] * size, p.occluder_half_width[:, j] * size], dim=-1
        )
        u, v = _frame(xs, ys, p.occluder_centre[:, j] * (size - 1), p.occluder_angle[:, j], half)
        bars[:, j] = p.occluder_present[:, j, None, None] & (u.abs() <= 1) & (v.abs() <= 1)
    hidden = (shape & bars.any(dim=1)).sum(dim=(1, 2))
    allowed = hidden <= _MAX_HIDDEN * shape.sum(dim=(1, 2))
    occluders = torch.zeros_like(shape)
    for j in range(bars.shape[1]):
        bar = bars[:, j] & allowed[:, None, None]
        image = torch.where(bar[:, None], p.occluder_colour[:, j, :, None, None], image)
        occluders |= bar

    image = (image + p.pixel_noise_std[:, None, None, None] * pixel_noise).clamp(0.0, 1.0)
    visible = shape & ~occluders
    return image, visible, occluders, distractors & ~shape & ~occluders


def make_texture_data(
    num_images: int | None = None,
    *,
    num_classes: int = 4,
    image_size: int = 64,
    seed: int = 0,
    class_counts: Sequence[int] | None = None,
    object_scale: tuple[float, float] = (0.3, 0.6),
    max_distractors: int = 2,
    max_occluders: int = 2,
    device: torch.device | str | None = None,
) -> TextureBatch:
    r"""Generate a synthetic localisation set whose classes are object textures.

    Each image holds one object, a random star polygon filled with a random texture whose
    statistics name the class, on a background of random gratings, with plain distractor
    blobs behind it and occluding bars in front (see the module docstring). The
    ground-truth mask is the object's visible part and the box its bounding box. Labels are
    shuffled, so any slice of the set is a random sample; with ``class_counts=None`` the
    classes are balanced (counts differ by at most one).

    Args:
        num_images (int, optional): the number of images ``N``. May be omitted when
            ``class_counts`` is given; if both are given they must agree. Default: None.
        num_classes (int, optional): the number of classes ``K``, from 2 to
            ``len(TEXTURE_NAMES)`` (8). Default: 4.
        image_size (int, optional): the side ``H = W`` of the square images, at least
            ``MIN_IMAGE_SIZE`` (32). Default: 64.
        seed (int, optional): the seed of the generator; the same seed gives the same data
            on any device. Default: 0.
        class_counts (sequence of int, optional): the exact number of images of each class.
            Default: None (balanced).
        object_scale (tuple of float, optional): range of the object's outer diameter (and
            of the distractors') as a fraction of the image side, within ``[0.2, 0.7]``.
            Default: ``(0.3, 0.6)``.
        max_distractors (int, optional): distractor slots per image, each filled with
            probability 0.7. Default: 2.
        max_occluders (int, optional): occluder slots per image, each filled with
            probability 0.5. Default: 2.
        device (torch.device or str, optional): where the tensors are rendered and returned.
            Default: None (CPU).

    Returns:
        *TextureBatch* with ``images`` ``(N, 3, H, W)`` float32 in ``[0, 1]``, ``labels``
        ``(N,)`` int64, ``boxes`` ``(N, 4)`` int64 inclusive ``(x1, y1, x2, y2)``, and
        ``masks``, ``occluder_masks`` and ``distractor_masks`` ``(N, H, W)`` bool.

    Raises:
        TypeError: if a count or size is not an int, or ``object_scale`` not a pair.
        ValueError: if ``num_images`` is not positive, ``num_classes`` is out of range,
            ``class_counts`` has the wrong length, a negative entry or disagrees with
            ``num_images``, ``image_size`` is below ``MIN_IMAGE_SIZE``, or
            ``object_scale`` is not an increasing pair within ``[0.2, 0.7]``.

    Examples::

        >>> data = make_texture_data(100, num_classes=4, seed=0)
        >>> data.images.shape, data.boxes.dtype
        (torch.Size([100, 3, 64, 64]), torch.int64)
        >>> data.class_names
        ('fine speckle', 'coarse blotches', 'streaks', 'sparse dots')
    """
    num_classes = check_int(num_classes, "num_classes", 2)
    if num_classes > len(TEXTURE_NAMES):
        raise ValueError(
            f"num_classes must be at most {len(TEXTURE_NAMES)} (one per texture), got {num_classes}"
        )
    image_size = check_int(image_size, "image_size", MIN_IMAGE_SIZE)
    seed = check_int(seed, "seed", -(2**63))
    max_distractors = check_int(max_distractors, "max_distractors", 0)
    max_occluders = check_int(max_occluders, "max_occluders", 0)
    scale = check_range(object_scale, "object_scale", 0.2, 0.7)
    counts = _class_counts(num_images, num_classes, class_counts)
    device = torch.device("cpu") if device is None else torch.device(device)

    gen = torch.Generator().manual_seed(seed)
    params = _draw_parameters(gen, counts, scale, max_distractors, max_occluders)
    images, masks, occluders, distractors = render_in_chunks(
        lambda part, noise: _render(params.chunk(part, device), noise.to(device), image_size),
        params.labels.shape[0],
        _RENDER_CHUNK,
        image_size,
        gen,
        device,
    )
    return TextureBatch(
        images=images,
        labels=params.labels.to(device),
        boxes=bounding_boxes(masks),
        masks=masks,
        occluder_masks=occluders,
        distractor_masks=distractors,
        num_classes=num_classes,
    )


class SyntheticTextures(Dataset[LocalizationSample]):
    r"""Map-style dataset over :func:`make_texture_data`, generated once at construction.

    Items are :class:`~captum_infocam.data.LocalizationSample` tuples
    ``(image, label, boxes, mask)`` with ``boxes`` of shape ``(1, 4)``, as for
    :class:`~captum_infocam.data.SyntheticLocalization`, which
    :class:`torch.utils.data.DataLoader` collates into batched tensors.

    Args:
        num_images (int, optional): the number of images; may be omitted when
            ``class_counts`` is given. Default: None.
        **kwargs: any keyword argument of :func:`make_texture_data` (``num_classes``,
            ``image_size``, ``seed``, ``class_counts``, ...).

    Attributes:
        data (TextureBatch): the whole set, including ``occluder_masks`` and
            ``distractor_masks``.

    Examples::

        >>> dataset = SyntheticTextures(40, num_classes=4, seed=1)
        >>> image, label, box, mask = dataset[0]
        >>> image.shape, label.dtype, mask.shape
        (torch.Size([3, 64, 64]), torch.int64, torch.Size([64, 64]))
    """

    def __init__(self, num_images: int | None = None, **kwargs: Any) -> None:
        self.data = make_texture_data(num_images, **kwargs)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> LocalizationSample:
        d = self.data
        return LocalizationSample(
            d.images[index], d.labels[index], d.boxes[index].unsqueeze(0), d.masks[index]
        )
