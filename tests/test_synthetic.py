"""Tests of the synthetic weakly-supervised localisation set."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch.utils.data import DataLoader

from captum_infocam.data.synthetic import (
    CLASS_NAMES,
    MIN_IMAGE_SIZE,
    LocalizationBatch,
    LocalizationSample,
    SyntheticLocalization,
    _draw_parameters,
    make_localization_data,
)

SIZE = 64


@pytest.fixture(scope="module")
def data() -> LocalizationBatch:
    return make_localization_data(300, num_classes=4, image_size=SIZE, seed=3)


def _box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of inclusive integer boxes, row by row."""
    width = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0]) + 1).clamp(min=0)
    height = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1]) + 1).clamp(min=0)
    inter = width * height

    def area(x: torch.Tensor) -> torch.Tensor:
        return (x[:, 2] - x[:, 0] + 1) * (x[:, 3] - x[:, 1] + 1)

    return inter / (area(a) + area(b) - inter)


def _reference_box(mask: torch.Tensor) -> list[int]:
    ys, xs = mask.nonzero(as_tuple=True)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def _fields(batch: LocalizationBatch) -> list[torch.Tensor]:
    return [
        batch.images,
        batch.labels,
        batch.boxes,
        batch.masks,
        batch.evidence_masks,
        batch.decoy_masks,
    ]


@pytest.fixture(scope="module")
def small() -> LocalizationBatch:
    """A smaller set with the module's settings: what a seed decides does not need 300."""
    return make_localization_data(48, num_classes=4, image_size=SIZE, seed=3)


def test_same_seed_gives_identical_data(small: LocalizationBatch) -> None:
    again = make_localization_data(48, num_classes=4, image_size=SIZE, seed=3)
    for first, second in zip(_fields(small), _fields(again), strict=True):
        assert torch.equal(first, second)


def _fingerprint(batch: LocalizationBatch) -> dict[str, object]:
    """The labels' SHA-256 and a position-weighted sum of every other field."""
    result: dict[str, object] = {
        "labels": hashlib.sha256(batch.labels.numpy().tobytes()).hexdigest()[:16]
    }
    for name in ("images", "boxes", "masks", "evidence_masks", "decoy_masks"):
        values = getattr(batch, name).double().flatten()
        weights = torch.arange(values.numel(), dtype=torch.float64) % 97 + 1
        result[name] = float((values * weights).sum())
    return result


# make_localization_data's output before its random parameters were grouped into nested
# dataclasses (commit 29e7aee); the whole outputs were then byte-identical.
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"num_images": 40, "num_classes": 5, "image_size": 32, "seed": 7, "max_decoys": 3},
            {
                "labels": "a1d4213fc2fc4960",
                "images": 2991684.575898124,
                "boxes": 107296.0,
                "masks": 317285.0,
                "evidence_masks": 94670.0,
                "decoy_masks": 24114.0,
            },
        ),
        (
            {
                "class_counts": [9, 3, 5],
                "num_classes": 3,
                "image_size": 48,
                "seed": -2,
                "object_scale": (0.3, 0.5),
                "max_distractors": 1,
            },
            {
                "labels": "e5c8b0f262427b83",
                "images": 3010172.6688371627,
                "boxes": 53293.0,
                "masks": 271109.0,
                "evidence_masks": 66502.0,
                "decoy_masks": 10835.0,
            },
        ),
    ],
)
def test_a_seed_gives_the_data_it_always_gave(kwargs: dict, expected: dict) -> None:
    got = _fingerprint(make_localization_data(**kwargs))
    assert got["labels"] == expected["labels"]
    # Tolerances for another platform's float rounding only: a pixel on an outline may flip.
    assert got["images"] == pytest.approx(expected["images"], rel=1e-6)
    for name in ("boxes", "masks", "evidence_masks", "decoy_masks"):
        assert got[name] == pytest.approx(expected[name], rel=1e-3), name


def test_different_seed_gives_different_data(small: LocalizationBatch) -> None:
    other = make_localization_data(48, num_classes=4, image_size=SIZE, seed=4)
    assert (small.images - other.images).abs().mean() > 0.05
    assert not torch.equal(small.masks, other.masks)
    assert not torch.equal(small.labels, other.labels)


def test_shapes_dtypes_and_ranges(data: LocalizationBatch) -> None:
    n = 300
    assert data.images.shape == (n, 3, SIZE, SIZE) and data.images.dtype == torch.float32
    assert data.labels.shape == (n,) and data.labels.dtype == torch.int64
    assert data.boxes.shape == (n, 4) and data.boxes.dtype == torch.int64
    for mask in (data.masks, data.evidence_masks, data.decoy_masks):
        assert mask.shape == (n, SIZE, SIZE) and mask.dtype == torch.bool
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.images.std() > 0.15  # not a blank canvas
    assert data.labels.min() >= 0 and data.labels.max() < 4
    assert len(data) == n and data.num_classes == 4
    assert data.class_names == CLASS_NAMES[:4]


def test_boxes_are_the_bounding_boxes_of_the_masks(data: LocalizationBatch) -> None:
    assert data.masks.flatten(1).any(1).all()
    expected = torch.tensor([_reference_box(mask) for mask in data.masks])
    assert torch.equal(data.boxes, expected)


def test_object_pixels_differ_from_the_background_outside(data: LocalizationBatch) -> None:
    # The mask is what is drawn: the colour jumps across the object's outline on average.
    inside = data.masks & ~data.evidence_masks
    ring = torch.nn.functional.max_pool2d(data.masks[:, None].float(), 5, 1, 2)[:, 0].bool()
    ring &= ~data.masks
    image = data.images
    mean_in = (image * inside[:, None]).sum((2, 3)) / inside.sum((1, 2))[:, None]
    mean_ring = (image * ring[:, None]).sum((2, 3)) / ring.sum((1, 2)).clamp(min=1)[:, None]
    contrast = (mean_in - mean_ring).norm(dim=1)
    assert contrast.median() > 0.2


def test_labels_are_balanced_by_default() -> None:
    labels = make_localization_data(103, num_classes=5, image_size=32, seed=1).labels
    counts = torch.bincount(labels, minlength=5)
    assert counts.sum() == 103 and counts.max() - counts.min() <= 1
    assert not torch.equal(labels, labels.sort().values)  # shuffled, so slices are samples


def test_class_counts_are_respected_exactly() -> None:
    counts = [40, 40, 4, 0]
    batch = make_localization_data(class_counts=counts, image_size=32, seed=2)
    assert torch.bincount(batch.labels, minlength=4).tolist() == counts
    same = make_localization_data(44 + 40, class_counts=counts, image_size=32, seed=2)
    assert torch.equal(same.images, batch.images)


def test_objects_come_in_several_sizes(data: LocalizationBatch) -> None:
    side = torch.maximum(
        data.boxes[:, 2] - data.boxes[:, 0] + 1, data.boxes[:, 3] - data.boxes[:, 1] + 1
    ).float()
    low, high = side.quantile(torch.tensor([0.1, 0.9])).tolist()
    assert low < 0.35 * SIZE and high > 0.6 * SIZE
    centres = (data.boxes[:, :2] + data.boxes[:, 2:]).float() / 2
    assert centres.std(0).min() > 0.1 * SIZE  # positions vary too


def test_object_scale_sets_the_size() -> None:
    small = make_localization_data(64, object_scale=(0.2, 0.25), image_size=SIZE, seed=0)
    large = make_localization_data(64, object_scale=(0.5, 0.6), image_size=SIZE, seed=0)
    assert small.masks.sum((1, 2)).float().max() < large.masks.sum((1, 2)).float().min()


def test_class_evidence_lies_inside_the_object_and_covers_only_part(
    data: LocalizationBatch,
) -> None:
    evidence = data.evidence_masks
    assert evidence.flatten(1).any(1).all()
    assert not (evidence & ~data.masks).any()
    share = evidence.sum((1, 2)).float() / data.masks.sum((1, 2)).float()
    assert share.max() < 0.8 and share.median() < 0.4
    # A box around the evidence alone fails the usual IoU >= 0.5 test for most images.
    evidence_boxes = torch.tensor([_reference_box(mask) for mask in evidence])
    assert (_box_iou(evidence_boxes, data.boxes) < 0.5).float().mean() > 0.8


def test_decoys_lie_outside_the_object_and_come_from_other_classes(
    data: LocalizationBatch,
) -> None:
    assert not (data.decoy_masks & data.masks).any()
    assert data.decoy_masks.flatten(1).any(1).float().mean() > 0.5
    params = _draw_parameters(torch.Generator().manual_seed(0), [50, 50, 50], (0.2, 0.6), 3, 4)
    assert (params.decoys.classes != params.labels[:, None]).all()
    assert set(params.decoys.classes.unique().tolist()) == {0, 1, 2}


def test_clutter_can_be_switched_off() -> None:
    plain = make_localization_data(32, max_distractors=0, max_decoys=0, image_size=32, seed=0)
    assert not plain.decoy_masks.any()


def test_marking_patterns_are_what_their_names_say() -> None:
    # Horizontal stripes change along y, vertical stripes along x.
    batch = make_localization_data(200, num_classes=2, seed=5)
    grey = batch.images.mean(1)
    inner = batch.evidence_masks
    along_y = inner[:, 1:, :] & inner[:, :-1, :]
    along_x = inner[:, :, 1:] & inner[:, :, :-1]
    dy = ((grey[:, 1:, :] - grey[:, :-1, :]).abs() * along_y).sum((1, 2)) / along_y.sum((1, 2))
    dx = ((grey[:, :, 1:] - grey[:, :, :-1]).abs() * along_x).sum((1, 2)) / along_x.sum((1, 2))
    horizontal = batch.labels == CLASS_NAMES.index("horizontal stripes")
    vertical = batch.labels == CLASS_NAMES.index("vertical stripes")
    assert (dy[horizontal] > 2 * dx[horizontal]).float().mean() > 0.95
    assert (dx[vertical] > 2 * dy[vertical]).float().mean() > 0.95


def test_every_class_pattern_renders() -> None:
    batch = make_localization_data(
        len(CLASS_NAMES) * 4, num_classes=len(CLASS_NAMES), image_size=48, seed=0
    )
    assert torch.bincount(batch.labels).tolist() == [4] * len(CLASS_NAMES)
    # The marking uses a dark and a light shade: strong contrast inside the evidence.
    grey = batch.images.mean(1)
    spread = torch.stack([grey[i][m].std() for i, m in enumerate(batch.evidence_masks)])
    assert spread.min() > 0.1


def test_subset_and_to(data: LocalizationBatch) -> None:
    first = data.subset(slice(0, 10))
    assert len(first) == 10 and torch.equal(first.images, data.images[:10])
    chosen = data.subset(data.labels == 2)
    assert (chosen.labels == 2).all() and torch.equal(chosen.masks, data.masks[data.labels == 2])
    indexed = data.subset([3, 1])
    assert torch.equal(indexed.boxes, data.boxes[[3, 1]])
    assert data.to("cpu").images.device.type == "cpu"


def test_dataset_items_and_collation() -> None:
    dataset = SyntheticLocalization(20, num_classes=3, image_size=32, seed=7)
    assert len(dataset) == 20
    item = dataset[4]
    assert isinstance(item, LocalizationSample)
    assert torch.equal(item.image, dataset.data.images[4])
    assert torch.equal(item.boxes, dataset.data.boxes[4:5])  # (M, 4) with M = 1
    assert torch.equal(item.mask, dataset.data.masks[4])
    image, label, boxes, mask = item
    assert image is item.image and label is item.label
    assert boxes is item.boxes and mask is item.mask
    batch = next(iter(DataLoader(dataset, batch_size=8)))
    assert isinstance(batch, LocalizationSample)
    assert batch.image.shape == (8, 3, 32, 32) and torch.equal(batch.label, dataset.data.labels[:8])
    assert torch.equal(batch.boxes, dataset.data.boxes[:8, None])
    assert torch.equal(batch.mask, dataset.data.masks[:8])
    with pytest.warns(DeprecationWarning, match=r"LocalizationSample\.box is deprecated"):
        assert torch.equal(batch.box, dataset.data.boxes[:8])  # the old (N, 4) field
    with pytest.warns(DeprecationWarning, match=r"use LocalizationSample\.boxes"):
        assert torch.equal(item.box, dataset.data.boxes[4])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_images": 0}, ValueError, "num_images"),
        ({"num_images": -5}, ValueError, "num_images"),
        ({"num_images": 2.5}, TypeError, "num_images"),
        ({}, ValueError, "num_images"),
        ({"class_counts": [10, 10, 10]}, ValueError, "class_counts"),
        ({"class_counts": [10, -1, 10, 10]}, ValueError, r"class_counts\[1\]"),
        ({"class_counts": [0, 0, 0, 0]}, ValueError, "class_counts"),
        ({"num_images": 5, "class_counts": [1, 1, 1, 1]}, ValueError, "sum"),
        ({"num_images": 8, "image_size": 16}, ValueError, "image_size"),
        ({"num_images": 8, "num_classes": 1}, ValueError, "num_classes"),
        ({"num_images": 8, "num_classes": 9}, ValueError, "num_classes"),
        ({"num_images": 8, "object_scale": (0.5, 0.3)}, ValueError, "object_scale"),
        ({"num_images": 8, "object_scale": (0.2, 0.9)}, ValueError, "object_scale"),
        ({"num_images": 8, "object_scale": 0.3}, TypeError, "object_scale"),
        ({"num_images": 8, "max_decoys": -1}, ValueError, "max_decoys"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_localization_data(**kwargs)


def test_smallest_image_size_works() -> None:
    batch = make_localization_data(16, image_size=MIN_IMAGE_SIZE, seed=0)
    assert batch.evidence_masks.flatten(1).any(1).all()
    assert not (batch.evidence_masks & ~batch.masks).any()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rendering_matches_cpu() -> None:
    cpu = make_localization_data(600, seed=11)
    gpu = make_localization_data(600, seed=11, device="cuda")
    assert gpu.images.is_cuda and gpu.boxes.is_cuda
    assert torch.equal(gpu.labels.cpu(), cpu.labels)
    # Rendering is the same maths; only a rounding flip on an outline pixel may differ.
    assert (gpu.masks.cpu() != cpu.masks).float().mean() < 1e-4
    assert ((gpu.images.cpu() - cpu.images).abs() > 1e-3).float().mean() < 1e-3
