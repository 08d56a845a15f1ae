r"""The wsolevaluation metadata layout (Choe et al., CVPR 2020): ILSVRC, CUB and OpenImages.

Choe et al. ("Evaluating Weakly Supervised Object Localization Methods Right", reference code
``clovaai/wsolevaluation``) describe each benchmark by plain-text files under
``metadata/<CUB|ILSVRC|OpenImages>/<train|val|test>/``, comma-separated, without a header:

* ``image_ids.txt``: one image path per line, relative to the data root;
* ``class_labels.txt``: ``image_id,class_index``;
* ``image_sizes.txt``: ``image_id,width,height`` of the image on disk (empty, or absent, for
  OpenImages: the size is then read from the image);
* ``localization.txt``: either boxes, ``image_id,x0,y0,x1,y1`` (ILSVRC, CUB; one line per box,
  several lines for several objects), or masks, ``image_id,mask_path,ignore_path`` (OpenImages;
  one line per instance mask, paths relative to the mask root; the image's ignore mask is
  named on one of its lines and the others leave the field empty).

``train`` is the weakly supervised training split (``train-weaksup``), ``val`` the small fully
supervised split (``train-fullsup``) on which thresholds and hyperparameters are chosen, and
``test`` the split that is reported.

Conventions, as in the reference evaluation: every image is resized to ``image_size``
(224 x 224, aspect ratio not kept) by PIL's bilinear filter, as ``transforms.Resize`` resizes
the reference's PIL images; each box coordinate is rescaled as
``int(x * new_width / width)`` (``y`` likewise) with the size from ``image_sizes.txt``; masks are
resized with nearest-neighbour interpolation (OpenCV's ``INTER_NEAREST`` rule, which
``torch.nn.functional.interpolate(mode="nearest")`` shares), a pixel is foreground when its grey
level is positive, the instance masks of an image are unioned, and the ignore region is the
ignore mask minus the foreground. Boxes are then returned in the inclusive pixel convention of
:mod:`captum_infocam.localization`: a far corner on the image's edge (CUB's ``x + width``)
rescales to ``new_width`` and is clipped to ``new_width - 1``, where the reference keeps
``new_width`` (a difference of at most one pixel column or row in the IoU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from captum_infocam._deprecation import renamed_attributes
from captum_infocam.data._box_images import (
    ImageSize,
    as_image_size,
    fit_boxes,
    read_rgb,
)
from captum_infocam.data._sample import WSOL_RENAMED, LocalizationSample

__all__ = ["WSOLMetadataDataset"]

WSOLSplit = Literal["train", "val", "test"]
Annotation = Literal["boxes", "masks"]

_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def _rows(path: Path, columns: int, *, required: bool) -> list[tuple[int, list[str]]]:
    """The non-blank lines of a comma-separated file as ``(line number, fields)``."""
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"expected the metadata file {path}")
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != columns:
            raise ValueError(
                f"{path}, line {number}: expected {columns} comma-separated fields, "
                f"got {len(fields)}: {line!r}"
            )
        rows.append((number, fields))
    return rows


def _check_listed(image_id: str, listed: dict[str, int], path: Path, number: int) -> None:
    """A metadata line names an image of ``image_ids.txt`` (a typo would drop its data)."""
    if image_id not in listed:
        raise ValueError(
            f"{path}, line {number}: image {image_id!r} is not listed in image_ids.txt; fix the "
            "id or remove the line (every line must name an image of the split)"
        )


def _integer(text: str, path: Path, number: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        message = f"{path}, line {number}: {what} must be an integer, got {text!r}"
        raise ValueError(message) from None


def _coordinate(text: str, path: Path, number: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value == value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{path}, line {number}: box coordinate must be a number, got {text!r}")
    return value


class _Box(NamedTuple):
    coordinates: tuple[float, float, float, float]
    line: int


class _Masks(NamedTuple):
    paths: list[Path]
    ignore: Path | None


class WSOLMetadataDataset(Dataset[LocalizationSample]):
    r"""A WSOL benchmark split in the wsolevaluation metadata layout (ILSVRC, CUB, OpenImages).

    Reads ``<metadata_root>/<split>/{image_ids, class_labels, image_sizes, localization}.txt``
    (see the module documentation for the format and the resizing conventions). Whether the
    split has boxes or masks is read from ``localization.txt``: five fields a line are boxes,
    three are masks. Items are :class:`~captum_infocam.data.LocalizationSample` tuples ready
    for :class:`~captum_infocam.localization.BoxLocalizationMetrics` (boxes) and
    :class:`~captum_infocam.localization.PixelAveragePrecision` (mask and ignore region):
    ``(image, label, boxes)`` for boxes, ``(image, label, boxes, mask, ignore)`` with ``(0, 4)``
    boxes for masks (the ignore region all false when the image has none). Item ``i`` is the
    image ``image_ids[i]``. Batch them with
    :func:`~captum_infocam.data.collate_localization`,
    ``DataLoader(dataset, batch_size, collate_fn=collate_localization)``, which pads images
    with fewer boxes.

    The metadata is checked when the dataset is built, every problem an error that names the
    file and the line: a malformed line, a label or size that is not an integer, an image id
    listed twice or missing from ``class_labels.txt`` or ``localization.txt`` (``val`` and
    ``test``), an image or mask file that does not exist, a box with ``x0 > x1`` or outside
    the image (``0 <= x0 < width``, ``x1 <= width``, and likewise for ``y``; ``x1 == width``
    is CUB's far corner). When ``image_sizes.txt`` gives no size, boxes are checked against
    the image when it is read, and a size that disagrees with the image is an error then too.

    Args:
        data_root (str or Path): the folder the image ids are relative to (the reference's
            ``dataset/<CUB|ILSVRC|OpenImages>``).
        metadata_root (str or Path): the dataset's metadata folder, ``metadata/<dataset>``,
            holding one folder per split.
        split (str, optional): ``"train"`` (train-weaksup), ``"val"`` (train-fullsup) or
            ``"test"``. Default: ``"test"``.
        image_size (int or tuple of int, optional): resize every image (and its boxes and
            masks) to this ``(height, width)``; ``None`` keeps each image's size.
            Default: 224 (the reference's).
        transform (callable, optional): applied to the ``(3, H, W)`` float image last, e.g.
            ``Normalize(mean, std)``. For evaluation it must not move pixels, or the boxes
            and masks no longer match; a training transform that does (random crops and
            flips) is fine, as training uses the labels only. Default: None.
        mask_root (str or Path, optional): the folder the mask paths are relative to.
            Default: ``data_root`` (as the reference lays them out).
        image_ids (sequence of str, optional): restrict the split to these image ids, in this
            order (each must be listed in ``image_ids.txt``). Default: the whole split.

    Attributes:
        image_ids (list of str): the items' image ids, in order: item ``i`` is the image
            ``image_ids[i]``.
        paths (list of Path): the image files.
        labels (Tensor): ``(N,)`` int64 class indices.
        annotation (str or None): what the samples carry: ``"boxes"``, ``"masks"``, or
            ``None``. ``localization.txt`` is required for ``"val"`` and ``"test"``, where every
            image needs a line; on ``"train"`` it is optional, images without a line get no
            boxes, and masks are never loaded (training uses the labels).

    Raises:
        FileNotFoundError: if ``image_ids.txt`` or ``class_labels.txt`` is missing,
            ``localization.txt`` is missing for ``"val"`` or ``"test"``, or an image or mask
            file listed in them does not exist.
        ValueError: on an unknown split, a malformed or inconsistent line, or a box outside
            its image; the message names the file and the line.

    Examples::

        >>> dataset = WSOLMetadataDataset("dataset/CUB", "metadata/CUB", "test")  # doctest: +SKIP
        >>> sample = dataset[0]  # doctest: +SKIP
        >>> sample.image.shape, sample.boxes.shape  # doctest: +SKIP
        (torch.Size([3, 224, 224]), torch.Size([1, 4]))
        >>> loader = DataLoader(dataset, 32, collate_fn=collate_localization)  # doctest: +SKIP
    """

    def __init__(
        self,
        data_root: str | Path,
        metadata_root: str | Path,
        split: WSOLSplit = "test",
        image_size: ImageSize | None = 224,
        transform: Callable[[Tensor], Tensor] | None = None,
        *,
        mask_root: str | Path | None = None,
        image_ids: Sequence[str] | None = None,
    ) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.data_root = Path(data_root)
        self.mask_root = self.data_root if mask_root is None else Path(mask_root)
        self.split = split
        self.image_size = as_image_size(image_size, "image_size")
        self.transform = transform
        folder = Path(metadata_root) / split
        if not folder.is_dir():
            raise FileNotFoundError(
                f"expected the metadata folder {folder} (metadata_root is metadata/<dataset>, "
                "holding one folder per split)"
            )
        ids_file, labels_file, sizes_file, localization_file = (folder / f for f in _FILES)

        listed: dict[str, int] = {}
        for number, (image_id,) in _rows(ids_file, 1, required=True):
            if image_id in listed:
                raise ValueError(
                    f"{ids_file}, line {number}: image id {image_id!r} is listed twice "
                    f"(first on line {listed[image_id]})"
                )
            listed[image_id] = number
        if image_ids is None:
            chosen = list(listed)
        else:
            if isinstance(image_ids, str):
                raise TypeError("image_ids must be a sequence of image ids, not one string")
            chosen = list(image_ids)
            unknown = [image_id for image_id in chosen if image_id not in listed]
            if unknown:
                raise ValueError(f"image_ids {unknown[:5]} are not listed in {ids_file}")
            if len(set(chosen)) != len(chosen):
                raise ValueError("image_ids must not repeat an image id")

        labels: dict[str, int] = {}
        for number, (image_id, text) in _rows(labels_file, 2, required=True):
            _check_listed(image_id, listed, labels_file, number)
            label = _integer(text, labels_file, number, "the class index")
            if label < 0:
                raise ValueError(
                    f"{labels_file}, line {number}: the class index must be >= 0, got {label}"
                )
            if labels.setdefault(image_id, label) != label:
                raise ValueError(
                    f"{labels_file}, line {number}: image {image_id!r} has two labels, "
                    f"{labels[image_id]} and {label}"
                )
        self._sizes: dict[str, tuple[int, int, int]] = {}  # image id -> (width, height, line)
        for number, (image_id, width, height) in _rows(sizes_file, 3, required=False):
            _check_listed(image_id, listed, sizes_file, number)
            size = (
                _integer(width, sizes_file, number, "the width"),
                _integer(height, sizes_file, number, "the height"),
            )
            if min(size) < 1:
                raise ValueError(f"{sizes_file}, line {number}: sizes must be positive, got {size}")
            self._sizes[image_id] = (*size, number)
        self._sizes_file = sizes_file
        self._localization_file = localization_file
        self.annotation, self._boxes, self._masks = self._read_localization(
            localization_file, listed, required=split != "train"
        )

        for image_id in chosen:
            where = f"{ids_file}, line {listed[image_id]}: image {image_id!r}"
            if image_id not in labels:
                raise ValueError(f"{where} has no line in {labels_file}")
            if self._sizes and image_id not in self._sizes:
                raise ValueError(f"{where} has no line in {sizes_file}")
            annotated = image_id in self._boxes or image_id in self._masks
            if self.annotation is not None and split != "train" and not annotated:
                raise ValueError(f"{where} has no line in {localization_file}")
            if not (self.data_root / image_id).is_file():
                raise FileNotFoundError(
                    f"{where}: the image file {self.data_root / image_id} does not exist"
                )
        self.image_ids = chosen
        self.paths = [self.data_root / image_id for image_id in chosen]
        self.labels = torch.tensor([labels[image_id] for image_id in chosen], dtype=torch.long)
        for image_id in chosen:
            if image_id in self._sizes and image_id in self._boxes:
                self._check_boxes(image_id, self._sizes[image_id][:2])

    def _read_localization(
        self, path: Path, listed: dict[str, int], *, required: bool
    ) -> tuple[Annotation | None, dict[str, list[_Box]], dict[str, _Masks]]:
        """Boxes or masks per image id, from ``localization.txt``."""
        boxes: dict[str, list[_Box]] = {}
        masks: dict[str, _Masks] = {}
        if not path.is_file():
            if required:
                raise FileNotFoundError(
                    f"expected the metadata file {path}: the {self.split!r} split is evaluated "
                    "and needs boxes or masks"
                )
            return None, boxes, masks
        lines = enumerate(path.read_text().splitlines(), start=1)
        first_number, first = next(((n, line) for n, line in lines if line.strip()), (0, None))
        if first is None:
            if required:
                raise ValueError(f"{path} is empty: the {self.split!r} split needs annotations")
            return None, boxes, masks
        columns = len(first.split(","))
        if columns not in (3, 5):
            raise ValueError(
                f"{path}, line {first_number}: expected 5 comma-separated fields a line "
                "(image_id,x0,y0,x1,y1: boxes) or 3 (image_id,mask_path,ignore_path: masks), "
                f"got {columns}: {first!r}"
            )
        annotation: Annotation = "boxes" if columns == 5 else "masks"
        if annotation == "masks" and self.split == "train":
            return None, boxes, masks  # training reads labels only; masks are not loaded
        if annotation == "boxes":
            for number, (image_id, *values) in _rows(path, 5, required=True):
                _check_listed(image_id, listed, path, number)
                x0, y0, x1, y1 = (_coordinate(value, path, number) for value in values)
                if x0 > x1 or y0 > y1:
                    raise ValueError(
                        f"{path}, line {number}: a box needs x0 <= x1 and y0 <= y1, got "
                        f"({x0:g}, {y0:g}, {x1:g}, {y1:g})"
                    )
                boxes.setdefault(image_id, []).append(_Box((x0, y0, x1, y1), number))
            return annotation, boxes, masks
        ignore_lines: dict[str, tuple[str, int]] = {}
        for number, (image_id, mask_path, ignore_path) in _rows(path, 3, required=True):
            _check_listed(image_id, listed, path, number)
            if not mask_path:
                raise ValueError(f"{path}, line {number}: the mask path is empty")
            mask_file = self.mask_root / mask_path
            if not mask_file.is_file():
                raise FileNotFoundError(
                    f"{path}, line {number}: the mask file {mask_file} does not exist"
                )
            entry = masks.setdefault(image_id, _Masks([], None))
            entry.paths.append(mask_file)
            if not ignore_path:
                continue
            earlier = ignore_lines.setdefault(image_id, (ignore_path, number))
            if earlier[0] != ignore_path:
                raise ValueError(
                    f"{path}, line {number}: image {image_id!r} names a second ignore mask "
                    f"{ignore_path!r} (line {earlier[1]} named {earlier[0]!r}); an image has "
                    "one ignore mask"
                )
            ignore_file = self.mask_root / ignore_path
            if not ignore_file.is_file():
                raise FileNotFoundError(
                    f"{path}, line {number}: the ignore mask file {ignore_file} does not exist"
                )
            masks[image_id] = _Masks(entry.paths, ignore_file)
        return annotation, boxes, masks

    def _check_boxes(self, image_id: str, size: tuple[int, int]) -> None:
        """Every box of ``image_id`` lies in a ``size = (width, height)`` image."""
        width, height = size
        for box in self._boxes[image_id]:
            x0, y0, x1, y1 = box.coordinates
            if not (0 <= x0 < width and 0 <= y0 < height and x1 <= width and y1 <= height):
                source = (
                    f"its size {width}x{height} in {self._sizes_file}, line "
                    f"{self._sizes[image_id][2]}"
                    if image_id in self._sizes
                    else f"the {width}x{height} image"
                )
                raise ValueError(
                    f"{self._localization_file}, line {box.line}: the box "
                    f"({x0:g}, {y0:g}, {x1:g}, {y1:g}) of image {image_id!r} lies outside "
                    f"{source} (0 <= x0 < width, x1 <= width, and likewise for y)"
                )

    def __len__(self) -> int:
        return len(self.image_ids)

    def _read_mask(self, path: Path, size: tuple[int, int]) -> Tensor:
        """A mask file as ``(H, W)`` bool: grey level > 0, resized nearest to ``size``."""
        with Image.open(path) as opened:
            grey = TF.pil_to_tensor(opened.convert("L"))[0]
        if tuple(grey.shape) != size:
            grey = F.interpolate(grey[None, None].float(), size=size, mode="nearest")[0, 0]
        return grey > 0

    def __getitem__(self, index: int) -> LocalizationSample:
        image_id = self.image_ids[index]
        image, (height, width) = read_rgb(self.paths[index], self.image_size)
        if image_id in self._sizes and self._sizes[image_id][:2] != (width, height):
            listed_width, listed_height, line = self._sizes[image_id]
            raise ValueError(
                f"{self._sizes_file}, line {line}: image {image_id!r} is listed as "
                f"{listed_width}x{listed_height} but the file {self.paths[index]} is "
                f"{width}x{height}"
            )
        out_size = (image.shape[1], image.shape[2])
        boxes = torch.zeros(0, 4, dtype=torch.long)
        if image_id in self._boxes:
            if image_id not in self._sizes:
                self._check_boxes(image_id, (width, height))
            original = torch.tensor(
                [box.coordinates for box in self._boxes[image_id]], dtype=torch.float64
            )
            boxes = fit_boxes(original, (height, width), self.image_size, None, inclusive=False)
        mask = ignore = None
        if image_id in self._masks:
            entry = self._masks[image_id]
            mask = torch.zeros(out_size, dtype=torch.bool)
            for path in entry.paths:
                mask |= self._read_mask(path, out_size)
            ignore = torch.zeros_like(mask)
            if entry.ignore is not None:
                ignore = self._read_mask(entry.ignore, out_size) & ~mask
        pixels = image.float() / 255.0
        if self.transform is not None:
            pixels = self.transform(pixels)
        return LocalizationSample(pixels, self.labels[index], boxes, mask, ignore)


__getattr__ = renamed_attributes(__name__, WSOL_RENAMED)
