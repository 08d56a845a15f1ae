r"""A synthetic weakly-supervised object localisation (WSOL) set with exact boxes and masks.

Every image holds exactly one *object* of one of ``K`` classes on a cluttered background.
The generator is built so that a class map can be wrong in the ways that matter for WSOL:

* **The object** is a filled super-ellipse ("body") whose colour, size (20%-60% of the image
  side by default), aspect ratio (1:2 to 2:1), rotation, squareness and position are drawn at
  random, independently of the class. The body is the same kind of thing for every class and
  carries no class information. The ground truth (``masks`` and ``boxes``) is the *whole*
  body.
* **The class evidence** is a disc-shaped *marking* painted on the body, covering only part
  of it: its radius is 45%-75% of the body's smaller semi-axis (at least 1.2 pattern
  periods, at most 90% of that semi-axis) and it sits off-centre at random. The marking is
  a periodic pattern in a dark and a light shade of the body colour whose kind names the
  class (see :data:`CLASS_NAMES`): horizontal stripes, vertical stripes, a checkerboard,
  rings, ... Pattern orientation is jittered by up to about 9 degrees; its period (about
  4 px at 64 px) and phase are random. The marking is the *only* class-specific signal, so
  a map that highlights only the discriminative part gives a box that is too small: for
  about 99% of the images the marking's own bounding box has an IoU below 0.5 with the
  object's box (the classic WSOL failure that infoCAM is meant to address).
  ``evidence_masks`` holds the marking's pixels; it always lies inside ``masks``.
* **Distractors** are up to ``max_distractors`` plain super-ellipses (10%-30% of the side)
  of random colour behind the object: shapes that look like bodies but are not objects.
* **Decoys** are up to ``max_decoys`` small discs (radius 4%-6% of the side, smaller than
  any marking at the default settings) painted with the marking pattern of a class *other*
  than the label. A class map that also lights up other classes' evidence is wrong there.
  The object is drawn over them, so ``decoy_masks``, their visible pixels, never overlap
  ``masks``.
* **The background** mixes a random two-colour linear gradient, smooth low-frequency colour
  noise and mid-frequency luminance texture; finally pixel noise is added to the whole
  image. Body and distractor colours are pushed away from the background colour under their
  centre so that every object is visible.

Everything is drawn from one :class:`torch.Generator` seeded by ``seed`` on the CPU, so the
same seed gives the same data on every device, and rendering is vectorised over the batch
(a loop over the handful of shape layers, never over images or pixels).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from captum_infocam._validation import check_int
from captum_infocam.data._batch import SyntheticBatch
from captum_infocam.data._sample import LocalizationSample
from captum_infocam.data._scenes import bounding_boxes as _bounding_boxes
from captum_infocam.data._scenes import check_range as _check_range
from captum_infocam.data._scenes import class_counts as _class_counts
from captum_infocam.data._scenes import colour_directions as _colour_directions
from captum_infocam.data._scenes import contrasting_colour as _contrasting_colour
from captum_infocam.data._scenes import render_in_chunks as _render_in_chunks
from captum_infocam.data._scenes import shuffled_labels as _shuffled_labels
from captum_infocam.data._scenes import uniform as _uniform

__all__ = [
    "CLASS_NAMES",
    "LocalizationBatch",
    "LocalizationSample",
    "SyntheticLocalization",
    "make_localization_data",
]

CLASS_NAMES: tuple[str, ...] = (
    "horizontal stripes",
    "vertical stripes",
    "checkerboard",
    "rings",
    "diagonal stripes",
    "anti-diagonal stripes",
    "dots",
    "diamond checkerboard",
)
"""Names of the marking patterns; class ``k`` of a ``K``-class set is ``CLASS_NAMES[k]``."""

MIN_IMAGE_SIZE = 32
"""Smallest supported ``image_size``: below it the patterns cannot be resolved."""

# Each marking pattern is one formula with per-class coefficients:
#   s = alpha cos(k1.d + phi1) + beta cos(k2.d + phi2) + gamma cos(k1.d + phi1) cos(k2.d + phi2)
#       + delta cos(omega |d| + phi1) + epsilon,
# where d is the offset from the marking centre and k1, k2 are wave vectors of length
# omega = 2 pi / period at the angles below. Light where s > 0, dark where s < 0.
# Columns: angle1 (deg), angle2 (deg), alpha, beta, gamma, delta, epsilon.
_PATTERN_TABLE = (
    (90.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),  # horizontal stripes (intensity varies along y)
    (0.0, 90.0, 1.0, 0.0, 0.0, 0.0, 0.0),  # vertical stripes
    (0.0, 90.0, 0.0, 0.0, 1.0, 0.0, 0.0),  # checkerboard
    (0.0, 90.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # rings
    (135.0, 45.0, 1.0, 0.0, 0.0, 0.0, 0.0),  # diagonal stripes "/" (y grows downwards)
    (45.0, 135.0, 1.0, 0.0, 0.0, 0.0, 0.0),  # anti-diagonal stripes "\"
    (0.0, 90.0, 0.5, 0.5, 0.0, 0.0, -0.5),  # dots on a square lattice
    (45.0, 135.0, 0.0, 0.0, 1.0, 0.0, 0.0),  # checkerboard turned by 45 degrees
)

_RENDER_CHUNK = 512  # images rendered at once: bounds memory, fixed so results never depend on it


@dataclass(frozen=True)
class LocalizationBatch(SyntheticBatch):
    r"""Images with labels and exact localisation ground truth, all on one device.

    Attributes:
        images (Tensor): ``(N, 3, H, W)`` float32 in ``[0, 1]``.
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, num_classes)``.
        boxes (Tensor): ``(N, 4)`` int64 inclusive pixel coordinates ``(x1, y1, x2, y2)`` of
            the whole object; exactly the bounding box of ``masks``.
        masks (Tensor): ``(N, H, W)`` bool, the object's pixels (body and marking).
        evidence_masks (Tensor): ``(N, H, W)`` bool, the pixels of the class marking, the
            only class-specific evidence; a subset of ``masks``.
        decoy_masks (Tensor): ``(N, H, W)`` bool, visible pixels of small fragments of other
            classes' markings; disjoint from ``masks``.
        num_classes (int): the number of classes ``K``.

    Examples::

        >>> data = make_localization_data(8, num_classes=4, seed=0)
        >>> train, test = data.subset(slice(0, 6)), data.subset(slice(6, None))
        >>> len(train), len(test), data.class_names[:2]
        (6, 2, ('horizontal stripes', 'vertical stripes'))
    """

    images: Tensor
    labels: Tensor
    boxes: Tensor
    masks: Tensor
    evidence_masks: Tensor
    decoy_masks: Tensor
    num_classes: int

    names_of_classes = CLASS_NAMES


def _superellipse(
    xs: Tensor, ys: Tensor, centre: Tensor, semi_axes: Tensor, angle: Tensor, power: Tensor
) -> Tensor:
    """Pixel-centre membership ``(N, H, W)`` of rotated super-ellipses, one per image.

    ``centre`` and ``semi_axes`` are ``(N, 2)``; ``angle`` and ``power`` are ``(N,)``.
    """
    dx = xs - centre[:, 0, None, None]
    dy = ys - centre[:, 1, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u = (dx * cos + dy * sin).abs() / semi_axes[:, 0, None, None]
    v = (dy * cos - dx * sin).abs() / semi_axes[:, 1, None, None]
    p = power[:, None, None]
    return u.pow(p) + v.pow(p) <= 1.0


def _disc(xs: Tensor, ys: Tensor, centre: Tensor, radius: Tensor) -> Tensor:
    """Pixel-centre membership ``(N, H, W)`` of one disc per image."""
    dx = xs - centre[:, 0, None, None]
    dy = ys - centre[:, 1, None, None]
    return dx.square() + dy.square() <= radius[:, None, None].square()


def _pattern_colour(
    xs: Tensor,
    ys: Tensor,
    centre: Tensor,
    classes: Tensor,
    angle_jitter: Tensor,
    period: Tensor,
    phases: Tensor,
    base_colour: Tensor,
) -> Tensor:
    """Marking pattern of the given classes, ``(N, 3, H, W)``, in two shades of ``base_colour``.

    ``phases`` is ``(N, 2)``; ``classes``, ``angle_jitter`` and ``period`` are ``(N,)``.
    """
    table = torch.tensor(_PATTERN_TABLE, dtype=xs.dtype, device=xs.device)[classes]
    angles = table[:, :2].deg2rad() + angle_jitter[:, None]  # (N, 2)
    omega = (2.0 * math.pi / period)[:, None, None]
    dx = xs - centre[:, 0, None, None]
    dy = ys - centre[:, 1, None, None]

    def wave(i: int) -> Tensor:
        kx, ky = angles[:, i].cos()[:, None, None], angles[:, i].sin()[:, None, None]
        return torch.cos(omega * (dx * kx + dy * ky) + phases[:, i, None, None])

    def coefficient(j: int) -> Tensor:
        return table[:, j, None, None]

    wave1, wave2 = wave(0), wave(1)
    rings = torch.cos(omega * torch.sqrt(dx.square() + dy.square()) + phases[:, 0, None, None])
    s = (
        coefficient(2) * wave1
        + coefficient(3) * wave2
        + coefficient(4) * wave1 * wave2
        + coefficient(5) * rings
        + coefficient(6)
    )
    light = torch.sigmoid(6.0 * s)[:, None]  # crisp but anti-aliased
    dark_colour = 0.25 * base_colour
    light_colour = base_colour + 0.75 * (1.0 - base_colour)
    return torch.lerp(dark_colour[:, :, None, None], light_colour[:, :, None, None], light)


@dataclass(frozen=True)
class _Background:
    """The background of each scene: a two-colour gradient, smooth noise and texture."""

    gradient_colours: Tensor  # (N, 2, 3)
    gradient_angle: Tensor  # (N,)
    smooth_noise: Tensor  # (N, 3, 4, 4)
    texture: Tensor  # (N, 1, 12, 12)


@dataclass(frozen=True)
class _Shapes:
    """Super-ellipses in a colour pushed away from the background: the body, ``(N, ...)``,
    or the distractors, ``(N, D, ...)``."""

    centre: Tensor  # (..., 2): distractors in units of the image side, the body in units of
    #                 the free room, in [0, 1]
    axes: Tensor  # (..., 2), in units of the image side
    angle: Tensor  # (...)
    power: Tensor  # (...)
    direction: Tensor  # (..., 3)
    strength: Tensor  # (...)


@dataclass(frozen=True)
class _Pattern:
    """How a marking pattern is drawn: the body's marking, ``(N, ...)``, or the decoys',
    ``(N, F, ...)``."""

    jitter: Tensor  # (...)
    period: Tensor  # (...), in units of the default period
    phases: Tensor  # (..., 2)


@dataclass(frozen=True)
class _Distractors:
    present: Tensor  # (N, D)
    shapes: _Shapes  # (N, D, ...)


@dataclass(frozen=True)
class _Decoys:
    present: Tensor  # (N, F)
    centre: Tensor  # (N, F, 2), in units of the image side
    radius: Tensor  # (N, F), in units of the image side
    classes: Tensor  # (N, F)
    colour: Tensor  # (N, F, 3)
    pattern: _Pattern  # (N, F, ...)


@dataclass(frozen=True)
class _Marking:
    fraction: Tensor  # (N,)
    offset: Tensor  # (N, 2), in units of the free room, in [-1, 1]
    pattern: _Pattern  # (N, ...)


@dataclass(frozen=True)
class _SceneParameters:
    """Every random quantity of a set of scenes except the pixel noise, on the CPU."""

    labels: Tensor  # (N,)
    background: _Background
    distractors: _Distractors
    decoys: _Decoys
    body: _Shapes
    marking: _Marking
    pixel_noise_std: Tensor  # (N,)

    def map(self, function: Callable[[Tensor], Tensor]) -> _SceneParameters:
        """The parameters with ``function`` applied to every tensor (a slice, a move)."""
        return _map_tensors(self, function)


_Parameters = TypeVar("_Parameters")


def _map_tensors(value: _Parameters, function: Callable[[Tensor], Tensor]) -> _Parameters:
    if isinstance(value, Tensor):
        return function(value)  # type: ignore[return-value]
    changes = {f.name: _map_tensors(getattr(value, f.name), function) for f in fields(value)}  # type: ignore[arg-type]
    return type(value)(**changes)


def _draw_parameters(
    gen: torch.Generator,
    counts: list[int],
    object_scale: tuple[float, float],
    max_distractors: int,
    max_decoys: int,
) -> _SceneParameters:
    num_classes = len(counts)
    n = sum(counts)
    labels = _shuffled_labels(gen, counts)
    d, f = max_distractors, max_decoys

    def semi_axes(shape: tuple[int, ...], low: float, high: float) -> Tensor:
        # Geometric-mean diameter in [low, high], aspect ratio in [1/2, 2]; shape + (2,).
        diameter = _uniform(gen, shape, low, high)
        half_log_aspect = _uniform(gen, shape, -0.5 * math.log(2.0), 0.5 * math.log(2.0))
        return (
            0.5
            * diameter[..., None]
            * torch.stack([half_log_aspect.exp(), (-half_log_aspect).exp()], dim=-1)
        )

    body_axes = semi_axes((n,), *object_scale)
    # Decoys are other classes: an offset in [1, K-1] added to the label, modulo K.
    decoy_class = (labels[:, None] + torch.randint(1, num_classes, (n, f), generator=gen)) % (
        num_classes
    )
    distractor_axes = semi_axes((n, d), 0.1, 0.3)
    # Keyword arguments are evaluated in order: the draws below come in the order of the
    # generator's stream, which fixes the images of every seed.
    return _SceneParameters(
        labels=labels,
        background=_Background(
            gradient_colours=torch.rand((n, 2, 3), generator=gen),
            gradient_angle=_uniform(gen, (n,), 0.0, 2.0 * math.pi),
            smooth_noise=torch.rand((n, 3, 4, 4), generator=gen),
            texture=torch.randn((n, 1, 12, 12), generator=gen),
        ),
        distractors=_Distractors(
            present=torch.rand((n, d), generator=gen) < 0.75,
            shapes=_Shapes(
                centre=torch.rand((n, d, 2), generator=gen),
                axes=distractor_axes,
                angle=_uniform(gen, (n, d), 0.0, math.pi),
                power=_uniform(gen, (n, d), 2.0, 5.0),
                direction=_colour_directions(gen, (n, d)),
                strength=_uniform(gen, (n, d), 0.3, 0.6),
            ),
        ),
        decoys=_Decoys(
            present=torch.rand((n, f), generator=gen) < 0.6,
            centre=torch.rand((n, f, 2), generator=gen),
            radius=_uniform(gen, (n, f), 0.04, 0.06),
            classes=decoy_class,
            colour=torch.rand((n, f, 3), generator=gen),
            pattern=_Pattern(
                jitter=_uniform(gen, (n, f), -0.15, 0.15),
                period=_uniform(gen, (n, f), 0.9, 1.1),
                phases=_uniform(gen, (n, f, 2), 0.0, 2.0 * math.pi),
            ),
        ),
        body=_Shapes(
            centre=torch.rand((n, 2), generator=gen),
            axes=body_axes,
            angle=_uniform(gen, (n,), 0.0, math.pi),
            power=_uniform(gen, (n,), 2.0, 5.0),
            direction=_colour_directions(gen, (n,)),
            strength=_uniform(gen, (n,), 0.4, 0.7),
        ),
        marking=_Marking(
            fraction=_uniform(gen, (n,), 0.45, 0.75),
            offset=_uniform(gen, (n, 2), -1.0, 1.0),
            pattern=_Pattern(
                jitter=_uniform(gen, (n,), -0.15, 0.15),
                period=_uniform(gen, (n,), 0.9, 1.1),
                phases=_uniform(gen, (n, 2), 0.0, 2.0 * math.pi),
            ),
        ),
        pixel_noise_std=_uniform(gen, (n,), 0.02, 0.05),
    )


def _render(
    params: _SceneParameters, pixel_noise: Tensor, image_size: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw a chunk of scenes; returns images, object masks, evidence masks, decoy masks."""
    p = params.map(lambda tensor: tensor.to(device))
    n, size = p.labels.shape[0], float(image_size)
    coords = torch.arange(image_size, device=device, dtype=torch.float32)
    ys, xs = coords[None, :, None], coords[None, None, :]
    # Patterns have a period of about 4 px at 64 px, never below 3 px.
    default_period = max(3.0, 4.0 * size / 64.0)

    # Background: gradient, smooth colour noise, mid-frequency luminance texture.
    scene = p.background
    direction = torch.stack([scene.gradient_angle.cos(), scene.gradient_angle.sin()], dim=1)
    t = (xs - size / 2) * direction[:, 0, None, None] + (ys - size / 2) * direction[
        :, 1, None, None
    ]
    t = (t / size + 0.5).clamp(0.0, 1.0)[:, None]
    c0, c1 = (
        scene.gradient_colours[:, 0, :, None, None],
        scene.gradient_colours[:, 1, :, None, None],
    )
    smooth = F.interpolate(scene.smooth_noise, size=image_size, mode="bicubic", align_corners=True)
    texture = F.interpolate(scene.texture, size=image_size, mode="bilinear", align_corners=False)
    image = (0.6 * torch.lerp(c0, c1, t) + 0.4 * smooth + 0.06 * texture).clamp(0.0, 1.0)
    background = image

    def colour_under(centre: Tensor) -> Tensor:
        ix = centre.round().long().clamp(0, image_size - 1)
        return background[torch.arange(n, device=device), :, ix[:, 1], ix[:, 0]]

    # Distractors: plain bodies of random colour, anywhere.
    shapes = p.distractors.shapes
    for j in range(p.distractors.present.shape[1]):
        centre = shapes.centre[:, j] * (size - 1)
        mask = p.distractors.present[:, j, None, None] & _superellipse(
            xs,
            ys,
            centre,
            shapes.axes[:, j] * size,
            shapes.angle[:, j],
            shapes.power[:, j],
        )
        colour = _contrasting_colour(
            colour_under(centre), shapes.direction[:, j], shapes.strength[:, j]
        )
        image = torch.where(mask[:, None], colour[:, :, None, None], image)

    # Decoys: small fragments of other classes' markings, anywhere.
    decoy = p.decoys
    decoys = torch.zeros((n, image_size, image_size), dtype=torch.bool, device=device)
    for j in range(decoy.present.shape[1]):
        centre = decoy.centre[:, j] * (size - 1)
        mask = decoy.present[:, j, None, None] & _disc(xs, ys, centre, decoy.radius[:, j] * size)
        pattern = _pattern_colour(
            xs,
            ys,
            centre,
            decoy.classes[:, j],
            decoy.pattern.jitter[:, j],
            decoy.pattern.period[:, j] * default_period,
            decoy.pattern.phases[:, j],
            decoy.colour[:, j],
        )
        image = torch.where(mask[:, None], pattern, image)
        decoys |= mask

    # The object: a body placed fully inside the image, then the marking on it.
    shape = p.body
    axes = shape.axes * size
    cos, sin = shape.angle.cos().abs(), shape.angle.sin().abs()
    # Half-extent of the rotated body's box, bounded by that of its rotated rectangle.
    half_extent = torch.stack(
        [axes[:, 0] * cos + axes[:, 1] * sin, axes[:, 0] * sin + axes[:, 1] * cos], dim=1
    )
    room = (size - 1) - 2 * half_extent
    centre = half_extent + shape.centre * room.clamp(min=0.0)
    body = _superellipse(xs, ys, centre, axes, shape.angle, shape.power)
    body_colour = _contrasting_colour(colour_under(centre), shape.direction, shape.strength)
    image = torch.where(body[:, None], body_colour[:, :, None, None], image)

    marking = p.marking
    period = marking.pattern.period * default_period
    small_axis = axes.min(dim=1).values
    radius = torch.minimum(
        (marking.fraction * small_axis).clamp(min=1.2 * default_period), 0.9 * small_axis
    )
    # Offset in the body's frame, inside the box shrunk by the radius, then rotated.
    offset = 0.6 * marking.offset * (axes - radius[:, None]).clamp(min=0.0)
    bc, bs = shape.angle.cos(), shape.angle.sin()
    marking_centre = centre + torch.stack(
        [offset[:, 0] * bc - offset[:, 1] * bs, offset[:, 0] * bs + offset[:, 1] * bc], dim=1
    )
    evidence = body & _disc(xs, ys, marking_centre, radius)
    pattern = _pattern_colour(
        xs,
        ys,
        marking_centre,
        p.labels,
        marking.pattern.jitter,
        period,
        marking.pattern.phases,
        body_colour,
    )
    image = torch.where(evidence[:, None], pattern, image)

    image = (image + p.pixel_noise_std[:, None, None, None] * pixel_noise.to(device)).clamp(0, 1)
    return image, body, evidence, decoys & ~body


def make_localization_data(
    num_images: int | None = None,
    *,
    num_classes: int = 4,
    image_size: int = 64,
    seed: int = 0,
    class_counts: Sequence[int] | None = None,
    object_scale: tuple[float, float] = (0.2, 0.6),
    max_distractors: int = 3,
    max_decoys: int = 2,
    device: torch.device | str | None = None,
) -> LocalizationBatch:
    r"""Generate a synthetic weakly-supervised localisation set (see the module docstring).

    Each image holds one object: a body of random colour and shape common to all classes,
    carrying a class-specific patterned marking that covers only part of it, on a cluttered
    background with distractor shapes and small decoy fragments of other classes' markings.
    The ground-truth box and mask cover the whole body. Labels are shuffled, so any slice of
    the set is a random sample; with ``class_counts=None`` the classes are balanced (counts
    differ by at most one).

    Args:
        num_images (int, optional): the number of images ``N``. May be omitted when
            ``class_counts`` is given; if both are given they must agree. Default: None.
        num_classes (int, optional): the number of classes ``K``, from 2 to
            ``len(CLASS_NAMES)`` (8). Default: 4.
        image_size (int, optional): the side ``H = W`` of the square images, at least
            ``MIN_IMAGE_SIZE`` (32). Default: 64.
        seed (int, optional): the seed of the generator; the same seed gives the same data
            on any device. Default: 0.
        class_counts (sequence of int, optional): the exact number of images of each class,
            e.g. ``[1000, 1000, 100, 100]`` for an imbalanced set. Default: None (balanced).
        object_scale (tuple of float, optional): range of the object's size (the geometric
            mean of its two diameters) as a fraction of the image side, within ``[0.1, 0.6]``.
            Default: ``(0.2, 0.6)``.
        max_distractors (int, optional): distractor slots per image, each filled with
            probability 0.75. Default: 3.
        max_decoys (int, optional): decoy slots per image, each filled with probability 0.6.
            Default: 2.
        device (torch.device or str, optional): where the tensors are rendered and returned.
            Default: None (CPU).

    Returns:
        *LocalizationBatch* with ``images`` ``(N, 3, H, W)`` float32 in ``[0, 1]``,
        ``labels`` ``(N,)`` int64, ``boxes`` ``(N, 4)`` int64 inclusive ``(x1, y1, x2, y2)``,
        ``masks``, ``evidence_masks`` and ``decoy_masks`` ``(N, H, W)`` bool.

    Raises:
        TypeError: if a count or size is not an int.
        ValueError: if ``num_images`` is not positive, ``num_classes`` is out of range,
            ``class_counts`` has the wrong length, a negative entry or disagrees with
            ``num_images``, ``image_size`` is below ``MIN_IMAGE_SIZE``, or
            ``object_scale`` is not an increasing pair within ``[0.1, 0.6]``.

    Examples::

        >>> data = make_localization_data(1000, num_classes=4, seed=0)
        >>> data.images.shape, data.boxes.dtype
        (torch.Size([1000, 3, 64, 64]), torch.int64)
        >>> imbalanced = make_localization_data(class_counts=[500, 500, 50, 50])
        >>> torch.bincount(imbalanced.labels).tolist()
        [500, 500, 50, 50]
    """
    num_classes = check_int(num_classes, "num_classes", 2)
    if num_classes > len(CLASS_NAMES):
        raise ValueError(
            f"num_classes must be at most {len(CLASS_NAMES)} (one per marking pattern), "
            f"got {num_classes}"
        )
    image_size = check_int(image_size, "image_size", MIN_IMAGE_SIZE)
    seed = check_int(seed, "seed", -(2**63))
    max_distractors = check_int(max_distractors, "max_distractors", 0)
    max_decoys = check_int(max_decoys, "max_decoys", 0)
    scale = _check_range(object_scale, "object_scale", 0.1, 0.6)
    counts = _class_counts(num_images, num_classes, class_counts)
    device = torch.device("cpu") if device is None else torch.device(device)

    gen = torch.Generator().manual_seed(seed)
    params = _draw_parameters(gen, counts, scale, max_distractors, max_decoys)
    images, masks, evidence, decoys = _render_in_chunks(
        lambda part, noise: _render(
            params.map(operator.itemgetter(part)), noise, image_size, device
        ),
        params.labels.shape[0],
        _RENDER_CHUNK,
        image_size,
        gen,
        device,
    )
    return LocalizationBatch(
        images=images,
        labels=params.labels.to(device),
        boxes=_bounding_boxes(masks),
        masks=masks,
        evidence_masks=evidence,
        decoy_masks=decoys,
        num_classes=num_classes,
    )


class SyntheticLocalization(Dataset[LocalizationSample]):
    r"""Map-style dataset over :func:`make_localization_data`, generated once at construction.

    Items are :class:`~captum_infocam.data.LocalizationSample` tuples
    ``(image, label, boxes, mask)`` with one ``(1, 4)`` box, which
    :class:`torch.utils.data.DataLoader` collates into batched tensors.

    Args:
        num_images (int, optional): the number of images; may be omitted when
            ``class_counts`` is given. Default: None.
        **kwargs: any keyword argument of :func:`make_localization_data` (``num_classes``,
            ``image_size``, ``seed``, ``class_counts``, ...).

    Attributes:
        data (LocalizationBatch): the whole set, including ``evidence_masks`` and
            ``decoy_masks``.

    Examples::

        >>> dataset = SyntheticLocalization(100, num_classes=4, seed=1)
        >>> image, label, boxes, mask = dataset[0]
        >>> image.shape, label.dtype, boxes.shape, mask.shape
        (torch.Size([3, 64, 64]), torch.int64, torch.Size([1, 4]), torch.Size([64, 64]))
        >>> loader = torch.utils.data.DataLoader(dataset, batch_size=32)
        >>> batch = next(iter(loader))
        >>> batch.image.shape, batch.boxes.shape, batch.mask.shape
        (torch.Size([32, 3, 64, 64]), torch.Size([32, 1, 4]), torch.Size([32, 64, 64]))
    """

    def __init__(self, num_images: int | None = None, **kwargs: Any) -> None:
        self.data = make_localization_data(num_images, **kwargs)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> LocalizationSample:
        d = self.data
        return LocalizationSample(
            d.images[index], d.labels[index], d.boxes[index].unsqueeze(0), d.masks[index]
        )
