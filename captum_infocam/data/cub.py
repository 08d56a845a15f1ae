r"""CUB-200-2011 (Caltech-UCSD Birds) with its bounding boxes, read from the official layout.

Nothing is downloaded: ``root`` is the extracted ``CUB_200_2011`` folder, holding

* ``images.txt``: ``<image_id> <relative path>``, paths under ``images/``;
* ``image_class_labels.txt``: ``<image_id> <class_id>`` (1-based);
* ``train_test_split.txt``: ``<image_id> <is_training_image>``;
* ``bounding_boxes.txt``: ``<image_id> <x> <y> <width> <height>`` in pixels;
* ``classes.txt`` (optional): ``<class_id> <name>``.

A box ``(x, y, width, height)`` becomes ``(x, y, x + width, y + height)``, as in the reference
WSOL evaluation and the infoCAM authors' scripts, then follows the resize and crop of the
image (see :class:`CUB200`).

``image_ids=`` reads a chosen part of a split, e.g. the infoCAM authors' test list
(``datalist/CUB/test_package/test.txt`` in their repository: 2,878 of the 5,794 official test
images, one ``<image_id> <path> <label>`` line each).
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

__all__ = ["CUB200"]

CUBSplit = Literal["train", "test", "all"]


class CUB200(BoxImageFolder):
    r"""CUB-200-2011: 11,788 bird photographs of 200 species, one box per image.

    Items are :class:`~captum_infocam.data.LocalizationSample` tuples ``(image, label, boxes)``
    without a mask; the boxes are in the pixels of the returned image. Images are resized to
    ``image_size`` (each coordinate scaled and truncated, as the reference's
    ``resize_bbox``), then optionally centre-cropped to ``crop_size`` (boxes shifted and
    clipped; a box wholly outside the crop becomes a degenerate box on the border, with a
    warning). The WSOL protocol of Choe et al. evaluates the test split resized to 224 x 224,
    no crop; the infoCAM scripts resize to 256 and crop 224.

    ``image_ids`` restricts the items to a list of images of the split, in the list's order:
    the infoCAM authors evaluated on 2,878 of the 5,794 test images, and their list file can be
    passed as it is.

    Args:
        root (str or Path): the ``CUB_200_2011`` folder.
        split (str, optional): ``"train"``, ``"test"`` (the official split) or ``"all"``.
            Default: ``"test"``.
        image_size (int or tuple of int, optional): resize to this ``(height, width)``;
            ``None`` keeps each image's own size. Default: 224.
        crop_size (int or tuple of int, optional): centre crop after resizing. Default: None.
        transform (callable, optional): applied to the ``(3, H, W)`` float image last; it
            must not move pixels (e.g. ``Normalize``). Default: None.
        image_ids (sequence of int, str or Path, optional): read only these images of the
            split, in this order: a sequence of official image ids (or of paths relative to
            ``images/``), or the path of a list file with one image per line, named by its
            first field, an id or a relative path. A second field with a ``/`` is read as the
            id's relative path and must match ``images.txt``; further fields are ignored, so
            ``images.txt`` itself and the authors' ``<id> <path> <label>`` lists are valid list
            files. ``None`` reads the whole split. Default: None.

    Attributes:
        image_ids (list of int): the official ids of the items, in order.
        paths (list of Path): the image files.
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, 200)``.
        class_names (list of str): names from ``classes.txt`` (ids if it is missing).

    Raises:
        FileNotFoundError: if a metadata file is missing.
        ValueError: on an unknown split, malformed or inconsistent metadata, or an
            ``image_ids`` entry that is unknown, outside the split, repeated or inconsistent.
        TypeError: if ``image_ids`` is neither a path nor a sequence of ints or strs.

    Examples::

        >>> dataset = CUB200("data/CUB_200_2011", split="test")  # doctest: +SKIP
        >>> image, label, boxes = dataset[0]  # doctest: +SKIP
        >>> image.shape, boxes.shape  # doctest: +SKIP
        (torch.Size([3, 224, 224]), torch.Size([1, 4]))
        >>> # the infoCAM authors' half-size test list
        >>> half = CUB200(  # doctest: +SKIP
        ...     "data/CUB_200_2011", image_ids="datalist/CUB/test_package/test.txt"
        ... )
        >>> len(half)  # doctest: +SKIP
        2878
    """

    def __init__(
        self,
        root: str | Path,
        split: CUBSplit = "test",
        image_size: ImageSize | None = 224,
        crop_size: ImageSize | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        image_ids: ImageSelection | None = None,
    ) -> None:
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        root = Path(root)
        name = "CUB-200-2011"
        paths = {int(row[0]): row[1] for row in read_table(root / "images.txt", 2, name)}
        labels = {
            int(row[0]): int(row[1]) - 1
            for row in read_table(root / "image_class_labels.txt", 2, name)
        }
        training = {
            int(row[0]): row[1] == "1" for row in read_table(root / "train_test_split.txt", 2, name)
        }
        boxes = {
            int(row[0]): [float(value) for value in row[1:5]]
            for row in read_table(root / "bounding_boxes.txt", 5, name)
        }
        for table, entries in (
            ("image_class_labels.txt", labels),
            ("train_test_split.txt", training),
            ("bounding_boxes.txt", boxes),
        ):
            missing = sorted(set(paths) - set(entries))
            if missing:
                raise ValueError(f"{root / table} has no entry for image ids {missing[:5]}")
        wanted = {"train": (True,), "test": (False,), "all": (True, False)}[split]
        in_split = [image for image in sorted(paths) if training[image] in wanted]
        if image_ids is None:
            self.image_ids = in_split
        else:
            self.image_ids = _selected_ids(image_ids, paths, set(in_split), split)
        corner_sizes = torch.tensor([boxes[image] for image in self.image_ids], dtype=torch.float64)
        corner_sizes = corner_sizes.view(-1, 4)
        far_corner = corner_sizes[:, :2] + corner_sizes[:, 2:]
        super().__init__(
            paths=[root / "images" / paths[image] for image in self.image_ids],
            labels=torch.tensor([labels[image] for image in self.image_ids], dtype=torch.long),
            boxes=list(torch.cat([corner_sizes[:, :2], far_corner], dim=1).unsqueeze(1)),
            image_size=image_size,
            crop_size=crop_size,
            transform=transform,
            inclusive_boxes=False,
        )
        classes_file = root / "classes.txt"
        if classes_file.is_file():
            names = {int(row[0]): row[1] for row in read_table(classes_file, 2, name)}
            self.class_names = [names[k] for k in sorted(names)]
        else:
            num_classes = int(self.labels.max()) + 1 if len(self.labels) else 0
            self.class_names = [str(k + 1) for k in range(num_classes)]


def _selected_ids(
    selection: ImageSelection, paths: dict[int, str], in_split: set[int], split: str
) -> list[int]:
    """The official ids that ``image_ids`` names, checked against ``images.txt`` and the split."""
    ids_of = {path: image for image, path in paths.items()}
    chosen = []
    for where, fields in selection_rows(selection, "image_ids"):
        first = fields[0]
        if first in ids_of:
            chosen.append(ids_of[first])
            continue
        try:
            image = int(first)
        except ValueError:
            raise ValueError(
                f"image_ids: {where}: {first!r} is neither an image id nor a path listed in "
                "images.txt (paths are relative to images/, e.g. '001.Black_footed_Albatross/"
                "Black_Footed_Albatross_0001_796111.jpg')"
            ) from None
        named = fields[1] if len(fields) > 1 and "/" in fields[1] else None
        if image in paths and named is not None and paths[image] != named:
            raise ValueError(
                f"image_ids: {where}: image id {image} is {paths[image]!r} in images.txt, not "
                f"{named!r}; the list does not match this copy of CUB-200-2011"
            )
        chosen.append(image)
    check_selection(chosen, "image_ids")
    unknown = [image for image in chosen if image not in paths]
    if unknown:
        raise ValueError(f"image_ids: ids {unknown[:5]} are not in images.txt")
    outside = [image for image in chosen if image not in in_split]
    if outside:
        raise ValueError(
            f"image_ids: ids {outside[:5]} are not in the {split!r} split "
            f"({len(outside)} in all); pass split='all' to choose from every image"
        )
    return chosen
