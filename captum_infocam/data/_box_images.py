"""Shared machinery of the readers of image folders with bounding boxes.

An item is read from disk, resized (and optionally centre-cropped), and its boxes are moved
with it, so that the boxes are always in the pixel coordinates of the returned image: the
contract of :mod:`captum_infocam.localization`.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from captum_infocam._validation import is_int
from captum_infocam.data._sample import LocalizationSample

# PIL's bilinear filter (``Image.Resampling`` from Pillow 9.1; a module constant before).
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR

ImageSize = int | tuple[int, int]
"""An image size: one int for a square, or ``(height, width)``."""

ImageSelection = str | Path | Iterable[int | str]
"""Which images of a split to read: a list file, or the images themselves (ids or names)."""


def as_image_size(size: ImageSize | None, name: str) -> tuple[int, int] | None:
    """Validate an image size and return it as ``(height, width)`` (or ``None``)."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(is_int(side) and side > 0 for side in pair):
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return (int(pair[0]), int(pair[1]))


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> tuple[Tensor, tuple[int, int]]:
    """The image file at ``path`` as a ``(3, H, W)`` uint8 RGB tensor, and its original
    ``(height, width)``.

    With ``size`` ``(height, width)``, the image is resized by PIL's bilinear filter before it
    becomes a tensor: what ``torchvision.transforms.Resize`` does to a PIL image in the
    reference pipelines, pixel for pixel (torchvision's resize of a tensor differs by one
    or two grey levels).
    """
    with Image.open(path) as opened:
        rgb = opened.convert("RGB")
    original = (rgb.height, rgb.width)
    if size is not None and original != size:
        rgb = rgb.resize((size[1], size[0]), _BILINEAR)
    return TF.pil_to_tensor(rgb), original


def read_table(path: Path, columns: int, name: str) -> list[list[str]]:
    """The whitespace-separated rows of a text file, each with at least ``columns`` fields."""
    if not path.is_file():
        raise FileNotFoundError(f"{name}: expected the file {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        row = line.split()
        if not row:
            continue
        if len(row) < columns:
            raise ValueError(f"{path}, line {number}: expected {columns} fields, got {row}")
        rows.append(row)
    return rows


def selection_rows(selection: ImageSelection, argument: str) -> list[tuple[str, list[str]]]:
    """The rows that name the selected images, each with where it came from (for errors).

    A ``str`` or ``Path`` is a list file: one image per non-blank line, its fields separated
    by whitespace (the readers say which field names the image). Anything else is iterated:
    each item is one image, an int-like (``int``, NumPy or 0-d tensor integer) or a ``str``.

    Args:
        selection (str, Path or iterable): the list file or the images.
        argument (str): the argument's name, for the error messages.

    Returns:
        *list* of ``(where, fields)``: ``where`` is ``"<file>, line <n>"`` or
        ``"<argument>[<k>]"``; ``fields`` the line's fields or the item as one field.
    """
    if isinstance(selection, str | Path):
        path = Path(selection)
        if not path.is_file():
            raise FileNotFoundError(
                f"{argument}: no list file {path}; pass a path to a text file with one image per "
                "line, or a sequence of images"
            )
        return [
            (f"{path}, line {number}", line.split())
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if line.strip()
        ]
    try:
        items = list(selection)
    except TypeError:
        raise TypeError(
            f"{argument} must be a path to a list file or a sequence of images, "
            f"got {type(selection).__name__}"
        ) from None
    rows = []
    for k, item in enumerate(items):
        if not isinstance(item, str):
            try:
                index = None if isinstance(item, bool) else operator.index(item)
            except TypeError:
                index = None
            if index is None:
                raise TypeError(
                    f"{argument}[{k}] must be an int or a str, got {type(item).__name__}"
                )
            item = str(index)
        rows.append((f"{argument}[{k}]", [item]))
    return rows


def check_selection(chosen: Sequence[Hashable], argument: str) -> None:
    """Refuse an empty selection or one that names an image twice."""
    if not chosen:
        raise ValueError(f"{argument} selects no image; pass at least one")
    repeated = [item for item, count in Counter(chosen).items() if count > 1]
    if repeated:
        raise ValueError(f"{argument} names these images more than once: {repeated[:5]}")


def fit_boxes(
    boxes: Tensor,
    original_size: tuple[int, int],
    image_size: tuple[int, int] | None,
    crop_size: tuple[int, int] | None,
    *,
    inclusive: bool,
) -> Tensor:
    """Move boxes of an ``original_size`` image through the resize and the centre crop.

    How the resize scales the far corner depends on what it means:

    * ``inclusive=False`` (CUB-200-2011, whose far corner ``(x + w, y + h)`` is one past the
      object): every coordinate is scaled and truncated, as the reference evaluation's
      ``resize_bbox`` does;
    * ``inclusive=True`` (Tiny-ImageNet, whose ``(x2, y2)`` is the object's last pixel): the
      box is the pixel range ``[x1, x2 + 1)``, and the resized box keeps every pixel that
      range touches, ``floor(x1 * s)`` to ``ceil((x2 + 1) * s) - 1``; an integer factor ``k``
      maps ``(0, 63)`` to ``(0, 64 k - 1)``, and the rule commutes with mirroring.

    The centre crop shifts the boxes as
    :func:`torchvision.transforms.v2.functional.center_crop` shifts the pixels. Boxes are
    then clipped to the image; a box wholly outside the crop would become a degenerate box
    on the border, so that raises a warning.

    Args:
        boxes (Tensor): ``(M, 4)`` float boxes ``(x1, y1, x2, y2)`` in original pixels.
        original_size (tuple of int): ``(height, width)`` of the image on disk.
        image_size (tuple of int or None): ``(height, width)`` after resizing, if resized.
        crop_size (tuple of int or None): ``(height, width)`` of the centre crop, if any.
        inclusive (bool): whether ``(x2, y2)`` is the last pixel of the object.

    Returns:
        *Tensor* ``(M, 4)`` int64 boxes in the pixels of the returned image.
    """
    height, width = original_size
    boxes = boxes.double()
    if image_size is not None:
        # (x * new_width) / width, in this order, as the reference computes it (exact for
        # integer coordinates whenever the result is an integer).
        new = torch.tensor([image_size[1], image_size[0]] * 2, dtype=torch.float64)
        old = torch.tensor([width, height] * 2, dtype=torch.float64)
        if inclusive:
            far = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
            scaled = (boxes + far) * new / old
            boxes = torch.cat([scaled[:, :2].floor(), scaled[:, 2:].ceil() - 1], dim=1)
        else:
            boxes = boxes * new / old
        height, width = image_size
    boxes = boxes.long()
    if crop_size is not None:
        top = round((height - crop_size[0]) / 2.0)
        left = round((width - crop_size[1]) / 2.0)
        boxes = boxes - torch.tensor([left, top, left, top])
        height, width = crop_size
        outside = (boxes[:, 2] < 0) | (boxes[:, 3] < 0) | (boxes[:, 0] > width - 1)
        if bool((outside | (boxes[:, 1] > height - 1)).any()):
            warnings.warn(
                f"a box lies wholly outside the {width}x{height} centre crop; it is clipped "
                "to a degenerate box on the border",
                stacklevel=3,
            )
    limit = torch.tensor([width - 1, height - 1] * 2)
    return torch.minimum(boxes.clamp(min=0), limit)


class BoxImageFolder(Dataset[LocalizationSample]):
    """Images on disk with labels and boxes; the base of the public readers.

    Args:
        paths (sequence of Path): one image file per item.
        labels (Tensor): ``(N,)`` int64 class indices.
        boxes (sequence of Tensor): per item, ``(M, 4)`` float boxes in original pixels.
        inclusive_boxes (bool): whether the far corner is the object's last pixel
            (Tiny-ImageNet) or one past it (CUB-200-2011); see :func:`fit_boxes`.
        image_size (int or tuple of int, optional): resize every image to this size.
        crop_size (int or tuple of int, optional): then take a centre crop of this size
            (needs ``image_size``).
        transform (callable, optional): applied to the float image last; it must not move
            pixels (e.g. ``Normalize``), or the boxes no longer match.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Tensor,
        boxes: Sequence[Tensor],
        image_size: ImageSize | None,
        crop_size: ImageSize | None,
        transform: Callable[[Tensor], Tensor] | None,
        *,
        inclusive_boxes: bool,
    ) -> None:
        self.inclusive_boxes = inclusive_boxes
        self.paths = list(paths)
        self.labels = labels
        self.boxes = list(boxes)
        self.image_size = as_image_size(image_size, "image_size")
        self.crop_size = as_image_size(crop_size, "crop_size")
        if self.crop_size is not None and (
            self.image_size is None
            or self.crop_size[0] > self.image_size[0]
            or self.crop_size[1] > self.image_size[1]
        ):
            raise ValueError(
                f"crop_size {self.crop_size} needs an image_size that contains it, "
                f"got image_size {self.image_size}"
            )
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> LocalizationSample:
        image, original_size = read_rgb(self.paths[index], self.image_size)
        if self.crop_size is not None:
            image = TF.center_crop(image, list(self.crop_size))
        boxes = fit_boxes(
            self.boxes[index],
            original_size,
            self.image_size,
            self.crop_size,
            inclusive=self.inclusive_boxes,
        )
        image = image.float() / 255.0
        if self.transform is not None:
            image = self.transform(image)
        return LocalizationSample(image, self.labels[index], boxes)
