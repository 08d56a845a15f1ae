"""Readers of CUB-200-2011 and Tiny-ImageNet on tiny fixture folders in the official layouts."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from captum_infocam.data import (
    CUB200,
    LocalizationSample,
    SyntheticLocalization,
    TinyImageNet,
    collate_localization,
)
from captum_infocam.data._box_images import fit_boxes
from captum_infocam.localization import box_accuracy


def _write_image(path: Path, size: tuple[int, int], box: tuple[int, int, int, int], mode="RGB"):
    """An image ``(width, height)`` that is dark except for a bright inclusive ``box``."""
    width, height = size
    pixels = np.full((height, width, 3), 20, dtype=np.uint8)
    x1, y1, x2, y2 = box
    pixels[y1 : y2 + 1, x1 : x2 + 1] = 230
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    (image.convert("L") if mode == "L" else image).save(path)


# (image id, relative path, class id, is_training, size (w, h), CUB box (x, y, w, h))
CUB_IMAGES = [
    (1, "001.Albatross/a_1.jpg", 1, 1, (40, 30), (4, 6, 10, 8)),
    (2, "001.Albatross/a_2.png", 1, 0, (50, 60), (10, 20, 29, 29)),
    (3, "002.Auklet/b_1.png", 2, 0, (30, 40), (0, 0, 30, 40)),  # the whole image
    (4, "002.Auklet/b_2.png", 2, 1, (64, 48), (30, 10, 20, 30)),
]


def write_cub_fixture(root: Path) -> Path:
    """A four-image CUB-200-2011 folder in the official layout (also used by other tests)."""
    lines: dict[str, list[str]] = {"images": [], "labels": [], "split": [], "boxes": []}
    for image_id, relative, class_id, training, size, (x, y, w, h) in CUB_IMAGES:
        _write_image(root / "images" / relative, size, (x, y, x + w - 1, y + h - 1))
        lines["images"].append(f"{image_id} {relative}")
        lines["labels"].append(f"{image_id} {class_id}")
        lines["split"].append(f"{image_id} {training}")
        lines["boxes"].append(f"{image_id} {x:.1f} {y:.1f} {w:.1f} {h:.1f}")
    for name, file in (
        ("images", "images.txt"),
        ("labels", "image_class_labels.txt"),
        ("split", "train_test_split.txt"),
        ("boxes", "bounding_boxes.txt"),
    ):
        (root / file).write_text("\n".join(lines[name]) + "\n")
    (root / "classes.txt").write_text("1 001.Albatross\n2 002.Auklet\n")
    return root


@pytest.fixture
def cub_root(tmp_path: Path) -> Path:
    return write_cub_fixture(tmp_path / "CUB_200_2011")


def test_cub_splits_labels_and_boxes(cub_root):
    test = CUB200(cub_root, split="test", image_size=None)
    assert test.image_ids == [2, 3] and len(test) == 2
    assert test.labels.tolist() == [0, 1]
    assert test.class_names == ["001.Albatross", "002.Auklet"]
    image, label, boxes = test[0]
    assert image.shape == (3, 60, 50) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    # (x, y, w, h) = (10, 20, 29, 29) -> (10, 20, 39, 49): the reference's far corner
    assert boxes.tolist() == [[10, 20, 39, 49]] and label.item() == 0
    # The far corner (30, 40) of a whole-image box is clipped to the image.
    assert test[1].boxes.tolist() == [[0, 0, 29, 39]]
    assert CUB200(cub_root, split="train").image_ids == [1, 4]
    assert len(CUB200(cub_root, split="all")) == 4


def test_cub_boxes_follow_the_resize_like_the_reference(cub_root):
    dataset = CUB200(cub_root, split="all", image_size=20)
    image, _, boxes = dataset[0]  # 40 x 30 image, box (4, 6) .. (14, 14)
    assert image.shape == (3, 20, 20)
    # int(x * 20 / 40), int(y * 20 / 30): 6 * 20 / 30 = 4 exactly, not 3.999...
    assert boxes.tolist() == [[2, 4, 7, 9]]
    for index in range(4):
        image, _, boxes = dataset[index]
        bright = image.mean(0) > 0.5
        rows, columns = bright.any(1).nonzero().squeeze(1), bright.any(0).nonzero().squeeze(1)
        found = torch.stack([columns.min(), rows.min(), columns.max(), rows.max()])
        # The box keeps the reference's far corner (one past the object) and truncation:
        # it matches the bright region of the resized image within one pixel.
        assert (boxes[0] - found).abs().max() <= 1, (index, boxes.tolist(), found.tolist())


def test_cub_centre_crop_moves_and_clips_the_boxes(cub_root):
    dataset = CUB200(cub_root, split="all", image_size=24, crop_size=16)
    image, _, boxes = dataset[3]  # 64 x 48, box (30, 10) .. (50, 40)
    assert image.shape == (3, 16, 16)
    # resize: (30*24/64, 10*24/48, 50*24/64, 40*24/48) = (11.25, 5, 18.75, 20) -> (11, 5, 18, 20)
    # crop offset 4: (7, 1, 14, 16) -> clipped to (7, 1, 14, 15)
    assert boxes.tolist() == [[7, 1, 14, 15]]


def test_a_box_outside_the_crop_warns():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])  # the top-left corner of a 100 x 100 image
    with pytest.warns(UserWarning, match=r"wholly outside the 50x50 centre crop"):
        clipped = fit_boxes(box, (100, 100), (100, 100), (50, 50), inclusive=False)
    assert clipped.tolist() == [[0, 0, 0, 0]]


def test_cub_batches_feed_the_localisation_metrics(cub_root):
    dataset = CUB200(cub_root, split="all", image_size=32, transform=lambda x: x * 2 - 1)
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    assert isinstance(batch, LocalizationSample)
    assert batch.image.shape == (4, 3, 32, 32) and batch.boxes.shape == (4, 1, 4)
    assert batch.mask is None and len(batch) == 3  # CUB has boxes only
    assert float(batch.image.min()) < 0  # the transform ran
    # The bright object itself, as the map, localises every image whose object is not the
    # whole image (image 3 is: its map is constant, so its box is the empty (0, 0, 0, 0)).
    maps = batch.image.mean(1)
    hits = box_accuracy(maps[[0, 1, 3]], batch.boxes[[0, 1, 3]], [0.5], [0.5])
    assert hits.item() == 1.0
    assert box_accuracy(maps[2:3], batch.boxes[2:3], [0.5], [0.5]).item() == 0.0


def test_cub_errors(cub_root):
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        CUB200(cub_root, split="val")
    with pytest.raises(ValueError, match=r"crop_size .* needs an image_size"):
        CUB200(cub_root, image_size=None, crop_size=16)
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        CUB200(cub_root, image_size=0)
    lines = (cub_root / "bounding_boxes.txt").read_text().splitlines()
    (cub_root / "bounding_boxes.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"bounding_boxes.txt has no entry for image ids \[4\]"):
        CUB200(cub_root)
    (cub_root / "bounding_boxes.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"bounding_boxes\.txt"):
        CUB200(cub_root)


def test_a_short_row_is_named_by_its_line_in_the_file(cub_root):
    # Blank lines count: the error must point at the line an editor shows.
    lines = (cub_root / "images.txt").read_text().splitlines()
    (cub_root / "images.txt").write_text("\n\n".join([*lines[:-1], "4"]) + "\n")
    with pytest.raises(ValueError, match=rf"images\.txt, line {2 * len(lines) - 1}: expected 2"):
        CUB200(cub_root)


# --------------------------------------------------------------------------- Tiny-ImageNet

WNIDS = ["n01443537", "n01629819"]


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-imagenet-200"
    root.mkdir()
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (root / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\n"
        "n99999999\tnot in this set\n"
    )
    train_boxes = {
        WNIDS[0]: [("n01443537_1.JPEG", (3, 4, 40, 50)), ("n01443537_0.JPEG", (0, 0, 63, 63))],
        WNIDS[1]: [("n01629819_0.JPEG", (10, 12, 30, 33))],
    }
    for wnid, rows in train_boxes.items():
        folder = root / "train" / wnid
        for name, box in rows:
            _write_image(folder / "images" / name, (64, 64), box)
        (folder / f"{wnid}_boxes.txt").write_text(
            "".join(f"{name}\t" + "\t".join(map(str, box)) + "\n" for name, box in rows)
        )
    val = [
        ("val_0.JPEG", WNIDS[1], (0, 32, 44, 62), "L"),  # a greyscale file, as in the real set
        ("val_1.JPEG", WNIDS[0], (5, 6, 20, 21), "RGB"),
    ]
    for name, _, box, mode in val:
        _write_image(root / "val" / "images" / name, (64, 64), box, mode)
    (root / "val" / "val_annotations.txt").write_text(
        "".join(f"{n}\t{w}\t" + "\t".join(map(str, b)) + "\n" for n, w, b, _ in val)
    )
    return root


def test_tiny_imagenet_val_and_train(tiny_root):
    val = TinyImageNet(tiny_root, split="val")
    assert len(val) == 2 and val.labels.tolist() == [1, 0]
    assert val.class_names == ["goldfish, Carassius auratus", "European fire salamander"]
    image, label, boxes = val[0]
    assert image.shape == (3, 64, 64)  # greyscale converted to RGB
    assert boxes.tolist() == [[0, 32, 44, 62]] and label.item() == 1
    train = TinyImageNet(tiny_root, split="train")
    assert [path.name for path in train.paths] == [
        "n01443537_0.JPEG",
        "n01443537_1.JPEG",
        "n01629819_0.JPEG",
    ]
    assert train.labels.tolist() == [0, 0, 1]
    assert train[0].boxes.tolist() == [[0, 0, 63, 63]]


def test_tiny_imagenet_resize_keeps_boxes_on_the_object(tiny_root):
    dataset = TinyImageNet(tiny_root, split="val", image_size=(32, 48))
    image, _, boxes = dataset[1]  # box (5, 6, 20, 21) of 64 x 64
    assert image.shape == (3, 32, 48)
    # Inclusive boxes cover the pixels the object touches: floor(x1 * s), ceil((x2 + 1) * s) - 1
    # = (floor(3.75), floor(3), ceil(15.75) - 1, ceil(11) - 1)
    assert boxes.tolist() == [[3, 3, 15, 10]]
    bright = image.mean(0) > 0.5
    rows, columns = bright.any(1).nonzero().squeeze(1), bright.any(0).nonzero().squeeze(1)
    found = [int(columns.min()), int(rows.min()), int(columns.max()), int(rows.max())]
    assert max(abs(a - b) for a, b in zip(found, boxes[0].tolist(), strict=True)) <= 1


def test_tiny_imagenet_boxes_scale_as_inclusive_pixel_ranges(tiny_root):
    # An integer factor maps pixel i to pixels k*i .. k*i + k - 1: the whole image stays whole.
    dataset = TinyImageNet(tiny_root, split="train", image_size=256)
    assert dataset[0].boxes.tolist() == [[0, 0, 255, 255]]  # (0, 0, 63, 63)
    assert dataset[1].boxes.tolist() == [[12, 16, 163, 203]]  # (3, 4, 40, 50) times 4
    assert TinyImageNet(tiny_root, "train", image_size=224)[0].boxes.tolist() == [[0, 0, 223, 223]]


@pytest.mark.parametrize("new_size", [(32, 48), (224, 224), (100, 37)])
def test_inclusive_box_resize_commutes_with_a_flip(new_size):
    # Mirroring the image then resizing equals resizing then mirroring: no side shrinks.
    generator = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 64, (50, 2, 2), generator=generator).sort(1).values
    boxes = torch.cat([corners[:, 0], corners[:, 1]], 1).double()  # (x1, y1, x2, y2)
    mirrored = torch.stack([63 - boxes[:, 2], boxes[:, 1], 63 - boxes[:, 0], boxes[:, 3]], 1)
    resized = fit_boxes(boxes, (64, 64), new_size, None, inclusive=True)
    mirrored_resized = fit_boxes(mirrored, (64, 64), new_size, None, inclusive=True)
    width = new_size[1]
    flipped = torch.stack(
        [width - 1 - resized[:, 2], resized[:, 1], width - 1 - resized[:, 0], resized[:, 3]], 1
    )
    assert torch.equal(mirrored_resized, flipped)


def test_tiny_imagenet_errors(tiny_root):
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        TinyImageNet(tiny_root, split="test")
    annotations = tiny_root / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_9.JPEG\tn00000000\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match=r"line 3: wnid 'n00000000' is not in wnids\.txt"):
        TinyImageNet(tiny_root)
    annotations.write_text("val_0.JPEG\tn01443537\t0\t0\n")
    with pytest.raises(ValueError, match="expected 6 fields"):
        TinyImageNet(tiny_root)
    (tiny_root / "wnids.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"wnids\.txt"):
        TinyImageNet(tiny_root)


# --------------------------------------------------------------------------- the sample type


def test_one_sample_type_with_an_optional_mask_and_ignore_region():
    image, label = torch.rand(3, 4, 5), torch.tensor(2)
    boxes, mask = torch.tensor([[0, 0, 2, 3], [1, 1, 4, 3]]), torch.rand(4, 5) > 0.5
    ignore = torch.rand(4, 5) > 0.5
    boxed = LocalizationSample(image, label, boxes)
    masked = LocalizationSample(image, label, boxes, mask)
    ignoring = LocalizationSample(image, label, boxes, mask, ignore)
    assert len(boxed) == 3 and boxed.mask is None and boxed.ignore is None
    assert len(masked) == 4 and masked.mask is mask and masked.ignore is None
    assert len(ignoring) == 5 and ignoring.mask is mask and ignoring.ignore is ignore
    assert ignoring.image is image and ignoring.label is label and ignoring.boxes is boxes
    assert tuple(ignoring) == (image, label, boxes, mask, ignore)
    assert masked._replace(mask=None) == (image, label, boxes)
    assert boxed._replace(mask=mask).mask is mask
    assert masked._replace(ignore=ignore) == ignoring
    assert ignoring._replace(ignore=None) == masked
    assert ignoring._replace(mask=None, ignore=None) == boxed
    with pytest.raises(ValueError, match="no field 'box'"):
        boxed._replace(box=boxes)
    with pytest.raises(ValueError, match="got ignore without mask"):
        ignoring._replace(mask=None)
    with pytest.raises(ValueError, match="got ignore without mask"):
        LocalizationSample(image, label, boxes, ignore=ignore)
    with pytest.raises(ValueError, match=r"ignore in the shape of mask, \(4, 5\), got \(5, 4\)"):
        LocalizationSample(image, label, boxes, mask, ignore.T)
    assert repr(boxed).startswith("LocalizationSample(image=tensor(")
    assert ", mask=tensor(" in repr(ignoring) and ", ignore=tensor(" in repr(ignoring)
    assert "ignore=" not in repr(masked)
    for sample in (boxed, masked, ignoring):
        copy = pickle.loads(pickle.dumps(sample))  # DataLoader workers pickle the samples
        assert type(copy) is LocalizationSample and len(copy) == len(sample)
        assert all(torch.equal(a, b) for a, b in zip(copy, sample, strict=True))
    for sample in (boxed, masked, ignoring):
        batch = default_collate([sample, sample])  # rebuilt as LocalizationSample(*fields)
        assert isinstance(batch, LocalizationSample) and len(batch) == len(sample)
        assert batch.boxes.shape == (2, 2, 4)
        for field, value in zip(batch, sample, strict=True):
            assert torch.equal(field, torch.stack([value, value]))
    assert default_collate([ignoring, ignoring]).ignore.shape == (2, 4, 5)


def _boxes(count: int, offset: int) -> torch.Tensor:
    return torch.arange(4 * count).reshape(count, 4) + offset


def test_collate_localization_pads_boxes_with_minus_one_rows():
    image, label = torch.rand(3, 6, 6), torch.tensor(1)
    counts = [1, 0, 3, 2]
    samples = [
        LocalizationSample(image * i, label + i, _boxes(count, 10 * i))
        for i, count in enumerate(counts)
    ]
    batch = collate_localization(samples)
    assert isinstance(batch, LocalizationSample) and len(batch) == 3
    assert torch.equal(batch.image, torch.stack([image * i for i in range(4)]))
    assert batch.label.tolist() == [1, 2, 3, 4]
    assert batch.boxes.shape == (4, 3, 4) and batch.boxes.dtype == torch.long
    for i, count in enumerate(counts):  # the sample's rows, then (-1, -1, -1, -1) rows
        expected = _boxes(count, 10 * i).tolist() + [[-1, -1, -1, -1]] * (3 - count)
        assert batch.boxes[i].tolist() == expected
    masks = [torch.rand(6, 6) > 0.5 for _ in counts]
    ignores = [torch.rand(6, 6) > 0.5 for _ in counts]
    masked = collate_localization(
        [
            sample._replace(mask=m, ignore=g)
            for sample, m, g in zip(samples, masks, ignores, strict=True)
        ]
    )
    assert len(masked) == 5 and torch.equal(masked.boxes, batch.boxes)
    assert torch.equal(masked.mask, torch.stack(masks))
    assert torch.equal(masked.ignore, torch.stack(ignores))
    assert collate_localization([samples[1], samples[1]]).boxes.shape == (2, 0, 4)


def test_collate_localization_is_default_collate_for_every_reader(cub_root, tiny_root):
    readers = [
        CUB200(cub_root, split="all", image_size=32),
        TinyImageNet(tiny_root, split="val"),
        SyntheticLocalization(4, num_classes=2, image_size=32, seed=3),
    ]
    for dataset in readers:
        peer = next(iter(DataLoader(dataset, batch_size=2)))
        batch = next(iter(DataLoader(dataset, batch_size=2, collate_fn=collate_localization)))
        assert type(batch) is type(peer) is LocalizationSample and len(batch) == len(peer)
        assert all(torch.equal(a, b) for a, b in zip(batch, peer, strict=True))


def test_collate_localization_errors():
    image, label = torch.rand(3, 4, 4), torch.tensor(0)
    mask = torch.ones(4, 4, dtype=torch.bool)
    boxed = LocalizationSample(image, label, _boxes(1, 0))
    masked = boxed._replace(mask=mask)
    with pytest.raises(ValueError, match="at least one sample, got an empty batch"):
        collate_localization([])
    with pytest.raises(ValueError, match="with and without masks in one batch"):
        collate_localization([boxed, masked])
    with pytest.raises(ValueError, match="with and without ignore regions in one batch"):
        collate_localization([masked, masked._replace(ignore=~mask)])
    with pytest.raises(TypeError, match="LocalizationSample items, got tuple at position 1"):
        collate_localization([boxed, tuple(boxed)])
    with pytest.raises(ValueError, match=r"boxes of shape \(M, 4\), got \(4,\) at position 0"):
        collate_localization([boxed._replace(boxes=torch.tensor([0, 0, 1, 1]))])


def test_box_sample_is_a_deprecated_alias():
    import captum_infocam.data as data

    with pytest.warns(DeprecationWarning, match=r"data\.BoxSample is deprecated .* use "):
        alias = data.BoxSample
    assert alias is LocalizationSample
    with pytest.warns(DeprecationWarning, match="BoxSample"):
        from captum_infocam.data import BoxSample  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        data.NoSuchName


# --------------------------------------------------------------------------- image lists


def test_cub_image_ids_select_in_the_given_order(cub_root):
    everything = CUB200(cub_root, split="all", image_size=None)
    chosen = CUB200(cub_root, split="all", image_size=None, image_ids=[4, 1])
    assert chosen.image_ids == [4, 1] and len(chosen) == 2
    assert chosen.labels.tolist() == [1, 0]
    assert chosen.paths == [everything.paths[3], everything.paths[0]]
    assert torch.equal(chosen[0].boxes, everything[3].boxes)
    assert torch.equal(chosen[1].image, everything[0].image)
    # 0-d tensors and NumPy integers are ids too.
    assert CUB200(cub_root, image_ids=[torch.tensor(3), np.int64(2)]).image_ids == [3, 2]


def test_cub_image_ids_from_list_files(cub_root, tmp_path):
    # The authors' layout: "<id> <path> <label>", their labels being 0-based.
    authors = tmp_path / "test.txt"
    authors.write_text("3 002.Auklet/b_1.png 1\n\n2 001.Albatross/a_2.png 0\n")
    assert CUB200(cub_root, image_ids=authors).image_ids == [3, 2]
    assert CUB200(cub_root, image_ids=str(authors)).image_ids == [3, 2]
    # Paths alone, and the official images.txt itself (with split="all").
    paths = tmp_path / "paths.txt"
    paths.write_text("001.Albatross/a_2.png\n")
    assert CUB200(cub_root, image_ids=paths).image_ids == [2]
    assert CUB200(cub_root, split="all", image_ids=cub_root / "images.txt").image_ids == [
        1,
        2,
        3,
        4,
    ]
    assert CUB200(cub_root, image_ids=["002.Auklet/b_1.png"]).image_ids == [3]


def test_cub_image_ids_errors(cub_root, tmp_path):
    with pytest.raises(ValueError, match=r"ids \[7\] are not in images\.txt"):
        CUB200(cub_root, image_ids=[2, 7])
    with pytest.raises(
        ValueError, match=r"ids \[1, 4\] are not in the 'test' split .* split='all'"
    ):
        CUB200(cub_root, image_ids=[1, 2, 4])
    with pytest.raises(ValueError, match=r"more than once: \[2\]"):
        CUB200(cub_root, image_ids=[2, 3, 2])
    with pytest.raises(ValueError, match="selects no image"):
        CUB200(cub_root, image_ids=[])
    with pytest.raises(TypeError, match=r"image_ids\[1\] must be an int or a str, got float"):
        CUB200(cub_root, image_ids=[2, 3.0])
    with pytest.raises(TypeError, match=r"image_ids\[0\] must be an int or a str, got bool"):
        CUB200(cub_root, image_ids=[True])
    with pytest.raises(TypeError, match="must be a path to a list file or a sequence"):
        CUB200(cub_root, image_ids=3)
    with pytest.raises(FileNotFoundError, match="no list file"):
        CUB200(cub_root, image_ids=tmp_path / "missing.txt")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("2 001.Albatross/a_2.png 0\n3 001.Albatross/a_2.png 0\n")
    with pytest.raises(
        ValueError, match=r"wrong\.txt, line 2: image id 3 is '002\.Auklet/b_1\.png'"
    ):
        CUB200(cub_root, image_ids=wrong)
    wrong.write_text("bird.jpg\n")
    with pytest.raises(ValueError, match=r"line 1: 'bird\.jpg' is neither an image id nor a path"):
        CUB200(cub_root, image_ids=wrong)


def test_tiny_imagenet_image_files(tiny_root, tmp_path):
    val = TinyImageNet(tiny_root, split="val")
    chosen = TinyImageNet(tiny_root, split="val", image_files=["val_1.JPEG"])
    assert len(chosen) == 1 and chosen.labels.tolist() == [0]
    assert torch.equal(chosen[0].image, val[1].image)
    assert torch.equal(chosen[0].boxes, val[1].boxes)
    # The authors' layout: "<index> <wnid>/<file> <label>", in their order.
    authors = tmp_path / "test_.txt"
    authors.write_text(f"10 {WNIDS[0]}/val_1.JPEG 0\n34 {WNIDS[1]}/val_0.JPEG 1\n")
    both = TinyImageNet(tiny_root, image_files=authors)
    assert [path.name for path in both.paths] == ["val_1.JPEG", "val_0.JPEG"]
    assert both.labels.tolist() == [0, 1]
    train = TinyImageNet(tiny_root, split="train", image_files=["n01629819_0.JPEG"])
    assert train.labels.tolist() == [1] and train[0].boxes.tolist() == [[10, 12, 30, 33]]


def test_tiny_imagenet_image_files_errors(tiny_root, tmp_path):
    with pytest.raises(ValueError, match=r"'val_7\.JPEG' is not an image of the 'val' split"):
        TinyImageNet(tiny_root, image_files=["val_0.JPEG", "val_7.JPEG"])
    with pytest.raises(ValueError, match=r"n01629819_0\.JPEG' is not an image of the 'val' split"):
        TinyImageNet(tiny_root, image_files=["n01629819_0.JPEG"])
    with pytest.raises(ValueError, match=r"puts val_1\.JPEG in class n01629819, but .* n01443537"):
        TinyImageNet(tiny_root, image_files=[f"{WNIDS[1]}/val_1.JPEG"])
    with pytest.raises(ValueError, match=r"more than once: \['val_0\.JPEG'\]"):
        TinyImageNet(tiny_root, image_files=["val_0.JPEG", "x/val_0.JPEG"])
    listing = tmp_path / "list.txt"
    listing.write_text("val_0.JPEG\n12 0\n")
    with pytest.raises(ValueError, match=r"list\.txt, line 2: no field names an image file"):
        TinyImageNet(tiny_root, image_files=listing)
