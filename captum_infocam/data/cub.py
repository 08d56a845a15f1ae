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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from captum_infocam.data._box_images import BoxImageFolder, ImageSize, read_table

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

    Args:
        root (str or Path): the ``CUB_200_2011`` folder.
        split (str, optional): ``"train"``, ``"test"`` (the official split) or ``"all"``.
            Default: ``"test"``.
        image_size (int or tuple of int, optional): resize to this ``(height, width)``;
            ``None`` keeps each image's own size. Default: 224.
        crop_size (int or tuple of int, optional): centre crop after resizing. Default: None.
        transform (callable, optional): applied to the ``(3, H, W)`` float image last; it
            must not move pixels (e.g. ``Normalize``). Default: None.

    Attributes:
        image_ids (list of int): the official ids of the items, in order.
        paths (list of Path): the image files.
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, 200)``.
        class_names (list of str): names from ``classes.txt`` (ids if it is missing).

    Raises:
        FileNotFoundError: if a metadata file is missing.
        ValueError: on an unknown split, malformed or inconsistent metadata.

    Examples::

        >>> dataset = CUB200("data/CUB_200_2011", split="test")  # doctest: +SKIP
        >>> image, label, boxes = dataset[0]  # doctest: +SKIP
        >>> image.shape, boxes.shape  # doctest: +SKIP
        (torch.Size([3, 224, 224]), torch.Size([1, 4]))
    """

    def __init__(
        self,
        root: str | Path,
        split: CUBSplit = "test",
        image_size: ImageSize | None = 224,
        crop_size: ImageSize | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
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
        self.image_ids = [image for image in sorted(paths) if training[image] in wanted]
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
