"""WSOLMetadataDataset on tiny fixture folders in the wsolevaluation metadata layout.

``write_wsol_fixture`` writes the three layouts (CUB and ILSVRC with boxes, OpenImages with
masks) for these tests and for the smoke tests of the WSOL examples.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from captum_infocam.data import LocalizationSample, WSOLMetadataDataset, collate_localization
from captum_infocam.localization import (
    BoxLocalizationMetrics,
    PixelAveragePrecision,
    threshold_grid,
)

SPLIT_COUNTS = {"train": 6, "val": 3, "test": 5}
SIZES = [(24, 16), (32, 32), (16, 24), (20, 28), (28, 20), (32, 24)]  # (width, height)
COLOURS = [(220, 40, 40), (40, 200, 60)]  # the object's colour tells the class


def _object_box(index: int, width: int, height: int) -> tuple[int, int, int, int]:
    """An inclusive box that moves with the image index."""
    x0, y0 = (index * 3) % (width // 2), (index * 5) % (height // 2)
    return x0, y0, x0 + width // 2 - 1, y0 + height // 2 - 1


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_wsol_fixture(
    root: Path, dataset: str, counts: dict[str, int] | None = None
) -> tuple[Path, Path]:
    """Images and metadata of ``dataset`` (``"CUB"``, ``"ILSVRC"`` or ``"OpenImages"``) in the
    wsolevaluation layout under ``root``; returns ``(data_root, metadata_root)``.

    Every image is dark with a bright rectangle whose colour is its class (``i % 2``). CUB
    boxes use the ``x + width`` far corner (the last image's box is the whole image), ILSVRC
    boxes are inclusive and the first ``val`` and ``test`` images get a second box; OpenImages
    has an empty ``image_sizes.txt``, masks as PNG files (the first ``val`` and ``test`` images
    split their object into two instance masks), an ignore mask named on the first line of
    each image, and none for the last image of a split.
    """
    counts = SPLIT_COUNTS if counts is None else counts
    data_root, metadata_root = root / "dataset" / dataset, root / "metadata" / dataset
    for split, count in counts.items():
        lines: dict[str, list[str]] = {"ids": [], "labels": [], "sizes": [], "boxes": []}
        for index in range(count):
            label = index % 2
            width, height = SIZES[index % len(SIZES)]
            stem = f"{split}/{label:03d}/{split}_{index}"
            image_id = f"{stem}.png"
            x0, y0, x1, y1 = _object_box(index, width, height)
            pixels = np.full((height, width, 3), 15, dtype=np.uint8)
            pixels[y0 : y1 + 1, x0 : x1 + 1] = COLOURS[label]
            _save(data_root / image_id, pixels)
            lines["ids"].append(image_id)
            lines["labels"].append(f"{image_id},{label}")
            lines["sizes"].append(f"{image_id},{width},{height}")
            if dataset == "CUB" and index == count - 1:  # a far corner on the image's edge
                lines["boxes"].append(f"{image_id},0,0,{width},{height}")
            elif dataset == "CUB":
                lines["boxes"].append(f"{image_id},{x0},{y0},{x1 + 1},{y1 + 1}")
            elif dataset == "ILSVRC":
                lines["boxes"].append(f"{image_id},{x0},{y0},{x1},{y1}")
                if index == 0:
                    lines["boxes"].append(f"{image_id},0,0,{width - 1},{height // 4}")
            else:
                halves = [(x0, (x0 + x1) // 2), ((x0 + x1) // 2 + 1, x1)] if index == 0 else []
                parts = halves or [(x0, x1)]
                for part, (left, right) in enumerate(parts):
                    mask = np.zeros((height, width), dtype=np.uint8)
                    mask[y0 : y1 + 1, left : right + 1] = 255
                    _save(data_root / f"{stem}_m{part}.png", mask)
                    ignore = ""
                    if part == 0 and index != count - 1:
                        region = np.zeros((height, width), dtype=np.uint8)
                        region[height // 2 :, width // 2 :] = 255  # overlaps the object
                        ignore = f"{stem}_ignore.png"
                        _save(data_root / ignore, region)
                    lines["boxes"].append(f"{image_id},{stem}_m{part}.png,{ignore}")
        folder = metadata_root / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "image_ids.txt").write_text("\n".join(lines["ids"]) + "\n")
        (folder / "class_labels.txt").write_text("\n".join(lines["labels"]) + "\n")
        sizes = "" if dataset == "OpenImages" else "\n".join(lines["sizes"]) + "\n"
        (folder / "image_sizes.txt").write_text(sizes)
        if split != "train" or dataset == "CUB":
            (folder / "localization.txt").write_text("\n".join(lines["boxes"]) + "\n")
    return data_root, metadata_root


def _lines(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines() if line]


@pytest.fixture
def cub(tmp_path):
    return write_wsol_fixture(tmp_path, "CUB")


@pytest.fixture
def ilsvrc(tmp_path):
    return write_wsol_fixture(tmp_path, "ILSVRC")


@pytest.fixture
def openimages(tmp_path):
    return write_wsol_fixture(tmp_path, "OpenImages")


# --------------------------------------------------------------------------- boxes


@pytest.mark.parametrize("name", ["CUB", "ILSVRC"])
@pytest.mark.parametrize("image_size", [None, 20, (12, 40)])
def test_boxes_are_rescaled_like_the_reference(tmp_path, name, image_size):
    data_root, metadata_root = write_wsol_fixture(tmp_path, name)
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test", image_size=image_size)
    metadata = metadata_root / "test"
    ids = [row[0] for row in _lines(metadata / "image_ids.txt")]
    labels = {row[0]: int(row[1]) for row in _lines(metadata / "class_labels.txt")}
    sizes = {row[0]: (int(row[1]), int(row[2])) for row in _lines(metadata / "image_sizes.txt")}
    assert dataset.image_ids == ids and dataset.annotation == "boxes"
    assert dataset.labels.tolist() == [labels[i] for i in ids]
    for index, image_id in enumerate(ids):
        width, height = sizes[image_id]
        new_h, new_w = (
            (height, width)
            if image_size is None
            else ((image_size, image_size) if isinstance(image_size, int) else image_size)
        )
        expected = []  # int(x * new_w / w) per coordinate, then clipped into the image
        for row in _lines(metadata / "localization.txt"):
            if row[0] == image_id:
                x0, y0, x1, y1 = map(int, row[1:])
                expected.append([
                    min(int(x0 * new_w / width), new_w - 1),
                    min(int(y0 * new_h / height), new_h - 1),
                    min(int(x1 * new_w / width), new_w - 1),
                    min(int(y1 * new_h / height), new_h - 1),
                ])  # fmt: skip
        sample = dataset[index]
        assert sample.boxes.tolist() == expected
        assert sample.image.shape == (3, new_h, new_w) and sample.image.dtype == torch.float32
        assert float(sample.image.min()) >= 0 and float(sample.image.max()) <= 1
        assert isinstance(sample, LocalizationSample) and len(sample) == 3
        assert sample.mask is None and sample.ignore is None
    assert len(dataset[0].boxes) == (2 if name == "ILSVRC" else 1)
    if name == "CUB":  # (0, 0, width, height) is clipped to the last pixel of the image
        assert dataset[4].boxes.tolist() == [[0, 0, new_w - 1, new_h - 1]]


def test_batches_of_several_boxes_feed_the_box_metrics(ilsvrc):
    dataset = WSOLMetadataDataset(*ilsvrc, "val", image_size=32)
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_localization)))
    assert isinstance(batch, LocalizationSample) and batch.image.shape == (3, 3, 32, 32)
    assert batch.boxes.shape == (3, 2, 4) and batch.boxes[1, 1].tolist() == [-1, -1, -1, -1]
    assert batch.mask is None and batch.ignore is None and len(batch) == 3
    # The bright object, as the map, localises every image (image 0 through its first box).
    metrics = BoxLocalizationMetrics(threshold_grid(10))
    metrics.update(batch.image.amax(1) - batch.image.amin(1), batch.boxes)
    result = metrics.compute()
    assert result.num_images == 3
    assert result.max_box_accuracy.tolist() == [1.0, 1.0, 1.0]


def test_train_split_without_localization_and_a_chosen_subset(tmp_path, ilsvrc):
    train = WSOLMetadataDataset(*ilsvrc, "train", image_size=16)
    assert train.annotation is None and len(train) == 6
    assert train[0].boxes.shape == (0, 4)
    ids = WSOLMetadataDataset(*ilsvrc, "test").image_ids
    subset = WSOLMetadataDataset(*ilsvrc, "test", image_ids=[ids[3], ids[1]])
    assert subset.image_ids == [ids[3], ids[1]] and subset.labels.tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"image_ids \['nope.png'\] are not listed in .*test"):
        WSOLMetadataDataset(*ilsvrc, "test", image_ids=["nope.png"])


def test_transform_runs_last(cub):
    dataset = WSOLMetadataDataset(*cub, "val", image_size=16, transform=lambda x: x * 2 - 1)
    assert float(dataset[0].image.min()) < 0


# --------------------------------------------------------------------------- masks


def _nearest(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV's INTER_NEAREST: destination pixel i reads source pixel floor(i * src / dst)."""
    rows = (np.arange(size[0]) * grey.shape[0] // size[0]).clip(max=grey.shape[0] - 1)
    columns = (np.arange(size[1]) * grey.shape[1] // size[1]).clip(max=grey.shape[1] - 1)
    return grey[rows][:, columns]


@pytest.mark.parametrize("image_size", [None, 24, (10, 30)])
def test_masks_are_unioned_resized_nearest_and_ignore_excludes_the_foreground(
    openimages, image_size
):
    data_root, metadata_root = openimages
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test", image_size=image_size)
    assert dataset.annotation == "masks"
    rows = _lines(metadata_root / "test" / "localization.txt")
    for index, image_id in enumerate(dataset.image_ids):
        sample = dataset[index]
        size = tuple(sample.image.shape[1:])
        foreground = np.zeros(size, dtype=bool)
        ignore_box = np.zeros(size, dtype=bool)
        for row in (row for row in rows if row[0] == image_id):
            grey = np.asarray(Image.open(data_root / row[1]).convert("L"))
            foreground |= _nearest(grey, size) > 0
            if row[2]:
                ignore_box |= _nearest(np.asarray(Image.open(data_root / row[2])), size) > 0
        assert isinstance(sample, LocalizationSample) and len(sample) == 5
        assert sample.boxes.shape == (0, 4)
        assert np.array_equal(sample.mask.numpy(), foreground)
        assert np.array_equal(sample.ignore.numpy(), ignore_box & ~foreground)
        assert sample.ignore.any() == (index != len(dataset) - 1)  # the last has no ignore mask
    assert len([row for row in rows if row[0] == dataset.image_ids[0]]) == 2  # two instances


def test_mask_batches_feed_pxap(openimages):
    dataset = WSOLMetadataDataset(*openimages, "val", image_size=16)
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_localization)))
    assert batch.mask.shape == (3, 16, 16) and batch.ignore.shape == (3, 16, 16)
    assert batch.boxes.shape == (3, 0, 4)
    pxap = PixelAveragePrecision(threshold_grid(10))
    pxap.update(batch.mask.double(), batch.mask, batch.ignore)
    assert pxap.compute().item() == 1.0
    train = WSOLMetadataDataset(*openimages, "train")  # no localization.txt: labels only
    assert train.annotation is None and train[0].mask is None


def test_collate_rejects_mixed_and_empty_batches(cub, openimages):
    boxes = WSOLMetadataDataset(*cub, "test", image_size=8)
    masks = WSOLMetadataDataset(*openimages, "test", image_size=8)
    with pytest.raises(ValueError, match="with and without masks"):
        collate_localization([boxes[0], masks[0]])
    with pytest.raises(ValueError, match="at least one sample"):
        collate_localization([])


def test_old_wsol_names_warn_and_still_work(cub, openimages):
    import captum_infocam.data as data
    import captum_infocam.data.wsol_metadata as wsol_metadata

    for module in (data, wsol_metadata):
        prefix = module.__name__.replace(".", r"\.")
        with pytest.warns(DeprecationWarning, match=rf"{prefix}\.WSOLSample is deprecated"):
            assert module.WSOLSample is LocalizationSample
        with pytest.warns(DeprecationWarning, match=r"use captum_infocam\.data\.collate_local"):
            collate_wsol = module.collate_wsol
        with pytest.warns(DeprecationWarning, match=rf"{prefix}\.WSOLBatch is deprecated"):
            WSOLBatch = module.WSOLBatch
    with pytest.warns(DeprecationWarning, match="collate_wsol"):
        from captum_infocam.data import collate_wsol as imported
    assert imported is collate_wsol
    # collate_wsol still returns the old batch, with collate_localization's tensors.
    for root in (cub, openimages):
        samples = [WSOLMetadataDataset(*root, "test", 8)[index] for index in range(3)]
        old, new = collate_wsol(samples), collate_localization(samples)
        assert isinstance(old, WSOLBatch) and len(old) == 5
        assert [torch.equal(a, b) for a, b in zip(old[:3], new[:3], strict=True)] == [True] * 3
        if root is cub:
            assert old.masks is None and old.ignore is None
        else:
            assert torch.equal(old.masks, new.mask) and torch.equal(old.ignore, new.ignore)
        with pytest.raises(AttributeError, match=r"image ids; .* dataset\.image_ids\[index\]"):
            old.image_ids
    with pytest.raises(ValueError, match="with and without masks"):
        collate_wsol([samples[0], WSOLMetadataDataset(*cub, "test", 8)[0]])
    with pytest.raises(ValueError, match="at least one sample"):
        collate_wsol([])


# --------------------------------------------------------------------------- errors


def _edit(path: Path, line: int, text: str | None) -> None:
    """Replace (or, with None, delete) the 1-based ``line`` of ``path``."""
    lines = path.read_text().splitlines()
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_malformed_lines_name_the_file_and_the_line(cub):
    data_root, metadata_root = cub
    test = metadata_root / "test"
    image_id = (test / "image_ids.txt").read_text().splitlines()[1]
    labels = (test / "class_labels.txt").read_text()
    _edit(test / "class_labels.txt", 2, f"{image_id};1")
    with pytest.raises(ValueError, match=r"class_labels\.txt, line 2: expected 2 comma-sep"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    _edit(test / "class_labels.txt", 2, f"{image_id},one")
    with pytest.raises(ValueError, match=r"class_labels\.txt, line 2: the class index must be"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    (test / "class_labels.txt").write_text(labels)
    _edit(test / "localization.txt", 3, f"{image_id},1,2,x,4")
    with pytest.raises(ValueError, match=r"localization\.txt, line 3: box coordinate must be"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    _edit(test / "localization.txt", 3, f"{image_id},5,2,4,4")
    with pytest.raises(ValueError, match=r"localization\.txt, line 3: a box needs x0 <= x1"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    _edit(test / "localization.txt", 1, "a,b,c,d")
    with pytest.raises(ValueError, match=r"localization\.txt, line 1: expected 5 comma-sep"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    _edit(test / "image_sizes.txt", 4, "x.png,10")
    with pytest.raises(ValueError, match=r"image_sizes\.txt, line 4: expected 3 comma-sep"):
        WSOLMetadataDataset(data_root, metadata_root, "test")


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("CUB", "class_labels.txt"),
        ("CUB", "image_sizes.txt"),
        ("CUB", "localization.txt"),
        ("OpenImages", "localization.txt"),  # the masks' format
    ],
)
def test_a_line_for_an_image_not_in_image_ids_is_an_error(tmp_path, name, file):
    # A typo in an id would otherwise drop that line's label, size, box or mask without a word.
    data_root, metadata_root = write_wsol_fixture(tmp_path, name)
    path = metadata_root / "test" / file
    lines = path.read_text().splitlines()
    first = lines[1].split(",", 1)
    _edit(path, 2, f"{first[0]}.typo,{first[1]}")
    with pytest.raises(ValueError, match=re.escape(file) + r", line 2: image '.*\.typo' is not"):
        WSOLMetadataDataset(data_root, metadata_root, "test")


def test_images_are_resized_as_torchvision_resize_on_a_pil_image(cub):
    # The reference pipelines resize PIL images (transforms.Resize then ToTensor); the
    # readers return the same pixels, not those of a resized tensor (1 to 2 grey levels off).
    torchvision_transforms = pytest.importorskip("torchvision.transforms")
    data_root, metadata_root = cub
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test", image_size=(20, 30))
    reference = torchvision_transforms.Compose(
        [torchvision_transforms.Resize((20, 30)), torchvision_transforms.ToTensor()]
    )
    for index in range(len(dataset)):
        with Image.open(dataset.paths[index]) as opened:
            expected = reference(opened.convert("RGB"))
        assert torch.equal(dataset[index].image, expected)


def test_a_box_outside_the_image_is_an_error_at_construction_or_when_read(cub, openimages):
    data_root, metadata_root = cub
    test = metadata_root / "test"
    image_id, width, height = _lines(test / "image_sizes.txt")[2]
    _edit(test / "localization.txt", 3, f"{image_id},2,2,{int(width) + 1},{height}")
    with pytest.raises(
        ValueError,
        match=rf"localization\.txt, line 3: the box \(2, 2, {int(width) + 1}, {height}\) of image "
        rf"'{image_id}' lies outside its size {width}x{height} in .*image_sizes\.txt, line 3",
    ):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    # Without image_sizes.txt the size comes from the image, and the box is checked on reading.
    (test / "image_sizes.txt").write_text("")
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test")
    dataset[0]
    with pytest.raises(ValueError, match=rf"line 3: .* outside the {width}x{height} image"):
        dataset[2]


def test_inconsistent_metadata_is_an_error(cub):
    data_root, metadata_root = cub
    test = metadata_root / "test"
    ids = (test / "image_ids.txt").read_text().splitlines()
    _edit(test / "image_sizes.txt", 2, f"{ids[1]},99,99")
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test")
    with pytest.raises(ValueError, match=r"image_sizes\.txt, line 2: .* listed as 99x99 but"):
        dataset[1]
    _edit(test / "image_sizes.txt", 2, None)
    with pytest.raises(ValueError, match=rf"image_ids\.txt, line 2: image '{ids[1]}' has no"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    (test / "image_sizes.txt").write_text("")
    _edit(test / "localization.txt", 4, None)
    with pytest.raises(ValueError, match=r"image_ids\.txt, line 4: .* no line in .*localization"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    _edit(test / "image_ids.txt", 5, ids[0])
    with pytest.raises(ValueError, match=r"image_ids\.txt, line 5: .* listed twice \(first on"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    val = metadata_root / "val"
    first = (val / "class_labels.txt").read_text().splitlines()[0]
    (val / "class_labels.txt").write_text(
        (val / "class_labels.txt").read_text() + first.replace(",0", ",1") + "\n"
    )
    with pytest.raises(ValueError, match=r"class_labels\.txt, line 4: .* has two labels, 0 and 1"):
        WSOLMetadataDataset(data_root, metadata_root, "val")


def test_missing_files_are_errors(cub, openimages):
    data_root, metadata_root = cub
    ids = (metadata_root / "test" / "image_ids.txt").read_text().splitlines()
    (data_root / ids[2]).unlink()
    with pytest.raises(FileNotFoundError, match=r"image_ids\.txt, line 3: .* does not exist"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    (metadata_root / "val" / "localization.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"val.localization\.txt: the 'val' split"):
        WSOLMetadataDataset(data_root, metadata_root, "val")
    with pytest.raises(FileNotFoundError, match=r"expected the metadata folder"):
        WSOLMetadataDataset(data_root, metadata_root / "val", "test")
    with pytest.raises(ValueError, match="split must be 'train', 'val' or 'test'"):
        WSOLMetadataDataset(data_root, metadata_root, "train-fullsup")
    data_root, metadata_root = openimages
    rows = _lines(metadata_root / "test" / "localization.txt")
    (data_root / rows[1][1]).unlink()
    with pytest.raises(FileNotFoundError, match=r"localization\.txt, line 2: the mask file"):
        WSOLMetadataDataset(data_root, metadata_root, "test")


def test_an_image_has_one_ignore_mask(openimages):
    data_root, metadata_root = openimages
    path = metadata_root / "val" / "localization.txt"
    rows = _lines(path)
    assert rows[0][0] == rows[1][0] and rows[0][2] and not rows[1][2]
    # The ignore path repeated on a later line is accepted; a different one is an error.
    _edit(path, 2, ",".join([*rows[1][:2], rows[0][2]]))
    WSOLMetadataDataset(data_root, metadata_root, "val")
    _edit(path, 2, ",".join([*rows[1][:2], rows[1][1]]))
    with pytest.raises(ValueError, match=r"localization\.txt, line 2: .* second ignore mask"):
        WSOLMetadataDataset(data_root, metadata_root, "val")


@pytest.mark.parametrize("name", ["CUB", "ILSVRC", "OpenImages"])
def test_every_layout_names_the_line_of_a_malformed_line_a_bad_box_or_a_missing_image(
    tmp_path, name
):
    data_root, metadata_root = write_wsol_fixture(tmp_path, name)
    test = metadata_root / "test"
    ids = (test / "image_ids.txt").read_text().splitlines()
    localization = (test / "localization.txt").read_text()
    _edit(test / "localization.txt", 2, localization.splitlines()[1] + ",7")
    columns = 5 if name != "OpenImages" else 3
    with pytest.raises(ValueError, match=rf"localization\.txt, line 2: expected {columns} comma"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
    (test / "localization.txt").write_text(localization)
    if name != "OpenImages":  # a box starting below the image, on line 2
        image_id, width, height = _lines(test / "image_sizes.txt")[1]
        _edit(test / "localization.txt", 2, f"{image_id},0,{height},{width},{height}")
        with pytest.raises(ValueError, match=r"localization\.txt, line 2: the box .* outside"):
            WSOLMetadataDataset(data_root, metadata_root, "test")
        (test / "localization.txt").write_text(localization)
    (data_root / ids[3]).unlink()
    with pytest.raises(FileNotFoundError, match=rf"image_ids\.txt, line 4: image '{ids[3]}'"):
        WSOLMetadataDataset(data_root, metadata_root, "test")
