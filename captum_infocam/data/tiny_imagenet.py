r"""Tiny-ImageNet (200 classes, 64 x 64 images) with its bounding boxes, from the official layout.

Nothing is downloaded: ``root`` is the extracted ``tiny-imagenet-200`` folder, holding

* ``wnids.txt``: one WordNet id per line; the line order gives the class indices;
* ``words.txt`` (optional): ``<wnid>\t<names>``;
* ``train/<wnid>/images/*.JPEG`` with ``train/<wnid>/<wnid>_boxes.txt``:
  ``<file> <x1> <y1> <x2> <y2>``;
* ``val/images/*.JPEG`` with ``val/val_annotations.txt``: ``<file> <wnid> <x1> <y1> <x2> <y2>``.

The boxes are inclusive pixel coordinates of the 64 x 64 images. The test split has no labels
and is not read. ``image_files=`` reads a chosen part of a split, e.g. the infoCAM authors'
test list (``datalist/tiny_imagenet/test_packages/test_.txt`` in their repository: 5,000 of
the 10,000 validation images, one ``<index> <wnid>/<file> <label>`` line each).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from captum_infocam.data._box_images import (
    BoxImageFolder,
    ImageSelection,
    ImageSize,
    check_selection,
    read_table,
    selection_rows,
)

__all__ = ["TinyImageNet"]

TinyImageNetSplit = Literal["train", "val"]


class TinyImageNet(BoxImageFolder):
    r"""Tiny-ImageNet: 100,000 training and 10,000 validation images, one box per image.

    Items are :class:`~captum_infocam.data.LocalizationSample` tuples ``(image, label, boxes)``
    without a mask; the boxes follow the resize and crop of the image. Tiny-ImageNet boxes
    are inclusive (``x2`` is the object's last pixel), so a resize keeps every pixel the
    object touches: ``floor(x1 * s)`` to ``ceil((x2 + 1) * s) - 1`` (64 to 224 maps
    ``(0, 0, 63, 63)`` to ``(0, 0, 223, 223)``). A centre crop shifts and clips them, as for
    :class:`~captum_infocam.data.CUB200`. The infoCAM authors evaluate localisation on the
    validation split at 64 x 64, on a list of 5,000 of its 10,000 images; ``image_files``
    takes that list file as it is.

    Args:
        root (str or Path): the ``tiny-imagenet-200`` folder.
        split (str, optional): ``"train"`` or ``"val"``. Default: ``"val"``.
        image_size (int or tuple of int, optional): resize to this ``(height, width)``;
            ``None`` keeps 64 x 64. Default: None.
        crop_size (int or tuple of int, optional): centre crop after resizing. Default: None.
        transform (callable, optional): applied to the ``(3, H, W)`` float image last; it
            must not move pixels. Default: None.
        image_files (sequence of str, str or Path, optional): read only these images of the
            split, in this order: a sequence of file names (``"val_8475.JPEG"``; a folder
            before the name, as in ``"n04149813/val_8475.JPEG"``, is allowed), or the path
            of a list file with one image per line, named by the line's first field that has
            a file extension (other fields, such as indices and labels, are ignored). A
            folder that is a WordNet id of the set must be the image's class. ``None`` reads
            the whole split. Default: None.

    Attributes:
        wnids (list of str): the WordNet id of each class index.
        class_names (list of str): the names from ``words.txt`` (the wnids if it is missing).
        paths (list of Path): the image files, in order (train: class by class, files sorted;
            val: the order of ``val_annotations.txt``).
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, 200)``.

    Raises:
        FileNotFoundError: if a metadata file is missing.
        ValueError: on an unknown split or a wnid not in ``wnids.txt``, or an
            ``image_files`` entry that is not in the split, repeated or of another class.
        TypeError: if ``image_files`` is neither a path nor a sequence of strs.

    Examples::

        >>> dataset = TinyImageNet("data/tiny-imagenet-200", split="val")  # doctest: +SKIP
        >>> image, label, boxes = dataset[0]  # doctest: +SKIP
        >>> image.shape, boxes  # doctest: +SKIP
        (torch.Size([3, 64, 64]), tensor([[ 0, 32, 44, 62]]))
        >>> half = TinyImageNet(  # doctest: +SKIP
        ...     "data/tiny-imagenet-200", image_files="test_packages/test_.txt"
        ... )
        >>> len(half)  # doctest: +SKIP
        5000
    """

    def __init__(
        self,
        root: str | Path,
        split: TinyImageNetSplit = "val",
        image_size: ImageSize | None = None,
        crop_size: ImageSize | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        image_files: ImageSelection | None = None,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        root = Path(root)
        name = "Tiny-ImageNet"
        self.wnids = [row[0] for row in read_table(root / "wnids.txt", 1, name)]
        index = {wnid: k for k, wnid in enumerate(self.wnids)}
        paths, labels, boxes = [], [], []
        if split == "train":
            for wnid in self.wnids:
                rows = read_table(root / "train" / wnid / f"{wnid}_boxes.txt", 5, name)
                for row in sorted(rows):
                    paths.append(root / "train" / wnid / "images" / row[0])
                    labels.append(index[wnid])
                    boxes.append([float(value) for value in row[1:5]])
        else:
            for number, row in enumerate(
                read_table(root / "val" / "val_annotations.txt", 6, name), start=1
            ):
                if row[1] not in index:
                    raise ValueError(
                        f"{root / 'val' / 'val_annotations.txt'}, line {number}: "
                        f"wnid {row[1]!r} is not in wnids.txt"
                    )
                paths.append(root / "val" / "images" / row[0])
                labels.append(index[row[1]])
                boxes.append([float(value) for value in row[2:6]])
        if image_files is not None:
            keep = _selected_items(image_files, paths, labels, self.wnids, split)
            paths = [paths[k] for k in keep]
            labels = [labels[k] for k in keep]
            boxes = [boxes[k] for k in keep]
        super().__init__(
            paths=paths,
            labels=torch.tensor(labels, dtype=torch.long),
            boxes=list(torch.tensor(boxes, dtype=torch.float64).view(-1, 1, 4)),
            image_size=image_size,
            crop_size=crop_size,
            transform=transform,
            inclusive_boxes=True,
        )
        words_file = root / "words.txt"
        names = {}
        if words_file.is_file():
            for line in words_file.read_text().splitlines():
                wnid, _, words = line.partition("\t")
                names[wnid.strip()] = words.strip()
        self.class_names = [names.get(wnid, wnid) for wnid in self.wnids]


def _selected_items(
    selection: ImageSelection, paths: list[Path], labels: list[int], wnids: list[str], split: str
) -> list[int]:
    """Positions in the split of the files that ``image_files`` names, checked."""
    position = {path.name: k for k, path in enumerate(paths)}
    known_wnids = set(wnids)
    chosen = []
    for where, fields in selection_rows(selection, "image_files"):
        named = next((field for field in fields if "." in field.rsplit("/", 1)[-1]), None)
        if named is None:
            raise ValueError(
                f"image_files: {where}: no field names an image file (expected a name with an "
                f"extension, such as 'val_8475.JPEG'), got {fields}"
            )
        folder, _, name = named.rpartition("/")
        if name not in position:
            raise ValueError(
                f"image_files: {where}: {name!r} is not an image of the {split!r} split"
            )
        k = position[name]
        wnid = folder.rpartition("/")[2]
        if wnid in known_wnids and wnid != wnids[labels[k]]:
            raise ValueError(
                f"image_files: {where}: {named!r} puts {name} in class {wnid}, but the "
                f"annotations say {wnids[labels[k]]}"
            )
        chosen.append(k)
    check_selection([paths[k].name for k in chosen], "image_files")
    return chosen
