"""Tests of the second synthetic localisation family: textured objects, occluders, blobs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader

from captum_infocam.data import LocalizationSample
from captum_infocam.data.synthetic_textures import (
    TEXTURE_NAMES,
    SyntheticTextures,
    TextureBatch,
    _draw_parameters,
    _render,
    make_texture_data,
)
from captum_infocam.models import GAPClassifier, accuracy, train_classifier

SIZE = 40


@pytest.fixture(scope="module")
def data() -> TextureBatch:
    return make_texture_data(120, num_classes=4, image_size=SIZE, seed=3)


def _fields(batch: TextureBatch) -> list[torch.Tensor]:
    return [
        batch.images,
        batch.labels,
        batch.boxes,
        batch.masks,
        batch.occluder_masks,
        batch.distractor_masks,
    ]


def test_same_seed_gives_identical_data(data: TextureBatch) -> None:
    again = make_texture_data(120, num_classes=4, image_size=SIZE, seed=3)
    for first, second in zip(_fields(data), _fields(again), strict=True):
        assert torch.equal(first, second)
    other = make_texture_data(120, num_classes=4, image_size=SIZE, seed=4)
    assert (data.images - other.images).abs().mean() > 0.05
    assert not torch.equal(data.masks, other.masks)
    assert not torch.equal(data.labels, other.labels)


def test_shapes_dtypes_and_ranges(data: TextureBatch) -> None:
    n = 120
    assert data.images.shape == (n, 3, SIZE, SIZE) and data.images.dtype == torch.float32
    assert data.labels.shape == (n,) and data.labels.dtype == torch.int64
    assert data.boxes.shape == (n, 4) and data.boxes.dtype == torch.int64
    for mask in (data.masks, data.occluder_masks, data.distractor_masks):
        assert mask.shape == (n, SIZE, SIZE) and mask.dtype == torch.bool
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.labels.min() >= 0 and data.labels.max() < 4
    assert len(data) == n and data.class_names == TEXTURE_NAMES[:4]
    assert torch.bincount(data.labels).tolist() == [30] * 4
    assert not torch.equal(data.labels, data.labels.sort().values)  # shuffled


def test_boxes_are_the_bounding_boxes_of_the_masks(data: TextureBatch) -> None:
    assert data.masks.flatten(1).any(1).all()
    for mask, box in zip(data.masks, data.boxes, strict=True):
        ys, xs = mask.nonzero(as_tuple=True)
        assert box.tolist() == [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def test_masks_layers_are_disjoint_and_present(data: TextureBatch) -> None:
    assert not (data.masks & data.occluder_masks).any()
    assert not (data.masks & data.distractor_masks).any()
    assert not (data.occluder_masks & data.distractor_masks).any()
    assert data.occluder_masks.flatten(1).any(1).float().mean() > 0.4
    assert data.distractor_masks.flatten(1).any(1).float().mean() > 0.6
    area = data.masks.sum((1, 2)).float() / SIZE**2
    assert 0.02 < area.median() < 0.3


def test_object_pixels_differ_from_their_surroundings(data: TextureBatch) -> None:
    # The mask is what is drawn: the mean colour jumps across the object's outline.
    ring = torch.nn.functional.max_pool2d(data.masks[:, None].float(), 5, 1, 2)[:, 0].bool()
    ring &= ~data.masks
    image = data.images
    mean_in = (image * data.masks[:, None]).sum((2, 3)) / data.masks.sum((1, 2))[:, None]
    mean_ring = (image * ring[:, None]).sum((2, 3)) / ring.sum((1, 2)).clamp(min=1)[:, None]
    assert (mean_in - mean_ring).norm(dim=1).median() > 0.15


def test_textures_are_what_their_names_say() -> None:
    batch = make_texture_data(
        class_counts=[30] * len(TEXTURE_NAMES),
        num_classes=len(TEXTURE_NAMES),
        seed=5,
        max_occluders=0,
        object_scale=(0.5, 0.7),
    )
    grey = batch.images.mean(1)
    inner = batch.masks
    # Light pixels: above the midpoint of the object's darkest and lightest grey. Fine
    # textures switch shade between neighbours often, coarse ones rarely.
    darkest = grey.masked_fill(~inner, 1.0).amin((1, 2), keepdim=True)
    lightest = grey.masked_fill(~inner, 0.0).amax((1, 2), keepdim=True)
    light = grey > (darkest + lightest) / 2
    pairs = inner[:, :, 1:] & inner[:, :, :-1]
    switches = ((light[:, :, 1:] != light[:, :, :-1]) & pairs).sum((1, 2)) / pairs.sum((1, 2))
    light_share = (light & inner).sum((1, 2)) / inner.sum((1, 2))

    def median(values: torch.Tensor, name: str) -> float:
        return float(values[batch.labels == TEXTURE_NAMES.index(name)].median())

    assert median(switches, "fine speckle") > 2 * median(switches, "coarse blotches")
    assert median(switches, "medium mottle") > 1.3 * median(switches, "coarse blotches")
    assert median(light_share, "sparse dots") < 0.4 < 0.6 < median(light_share, "sparse holes")
    # Streaks: shade changes much more often across them than along them.
    rows = inner[:, 1:, :] & inner[:, :-1, :]
    across = ((light[:, 1:, :] != light[:, :-1, :]) & rows).sum((1, 2)) / rows.sum((1, 2))
    anisotropy = torch.maximum(switches / across, across / switches)
    assert median(anisotropy, "streaks") > 1.5 * median(anisotropy, "fine speckle")


def test_occluders_are_in_front_and_hide_at_most_40_percent() -> None:
    gen = torch.Generator().manual_seed(0)
    params = _draw_parameters(gen, [40, 40], (0.3, 0.6), 2, 3)
    params = dataclasses.replace(params, occluder_present=torch.ones_like(params.occluder_present))
    plain = dataclasses.replace(params, occluder_present=torch.zeros_like(params.occluder_present))
    noise = torch.randn((80, 3, SIZE, SIZE), generator=gen)
    image, visible, occluders, _ = _render(params, noise, SIZE)
    image_plain, whole, none, _ = _render(plain, noise, SIZE)
    assert not none.any() and occluders.any()
    # Occluders change their own pixels only, and only hide the object, never add to it.
    outside = ~occluders[:, None].expand_as(image)
    assert torch.equal(image[outside], image_plain[outside])
    assert torch.equal(visible, whole & ~occluders)
    hidden = (whole & occluders).sum((1, 2)) / whole.sum((1, 2))
    assert hidden.max() <= 0.4
    # Images where the bars would hide too much are drawn without them.
    dropped = ~occluders.flatten(1).any(1)
    assert dropped.any() and (~dropped).sum() > 40


def test_clutter_can_be_switched_off() -> None:
    plain = make_texture_data(16, max_distractors=0, max_occluders=0, image_size=32, seed=0)
    assert not plain.distractor_masks.any() and not plain.occluder_masks.any()


def test_class_counts_and_subset(data: TextureBatch) -> None:
    counts = [10, 0, 3, 7]
    batch = make_texture_data(class_counts=counts, image_size=32, seed=2)
    assert torch.bincount(batch.labels, minlength=4).tolist() == counts
    chosen = data.subset(data.labels == 2)
    assert (chosen.labels == 2).all() and torch.equal(chosen.masks, data.masks[data.labels == 2])
    assert torch.equal(data.subset([3, 1]).boxes, data.boxes[[3, 1]])
    assert torch.equal(data.subset(slice(0, 5)).images, data.images[:5])
    assert data.to("cpu").occluder_masks.device.type == "cpu"


def test_dataset_items_and_collation() -> None:
    dataset = SyntheticTextures(12, num_classes=3, image_size=32, seed=7)
    item = dataset[4]
    assert isinstance(item, LocalizationSample) and torch.equal(item.boxes, dataset.data.boxes[4:5])
    batch = next(iter(DataLoader(dataset, batch_size=8)))
    assert batch.image.shape == (8, 3, 32, 32) and torch.equal(batch.label, dataset.data.labels[:8])


def test_classes_are_learnable(one_torch_thread: None) -> None:
    # A small GAP CNN, a few seconds of training: clearly above chance (25%) on new images.
    train = make_texture_data(1200, image_size=32, seed=0)
    test = make_texture_data(400, image_size=32, seed=1)
    torch.manual_seed(0)
    model = GAPClassifier(num_classes=4, width=8)
    train_classifier(model, train.images, train.labels, epochs=6, progress=False)
    assert accuracy(model, test.images, test.labels) > 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_images": 0}, ValueError, "num_images"),
        ({"num_images": 2.5}, TypeError, "num_images"),
        ({}, ValueError, "num_images"),
        ({"class_counts": [10, 10, 10]}, ValueError, "class_counts"),
        ({"num_images": 8, "image_size": 16}, ValueError, "image_size"),
        ({"num_images": 8, "num_classes": 1}, ValueError, "num_classes"),
        ({"num_images": 8, "num_classes": 9}, ValueError, "num_classes must be at most 8"),
        ({"num_images": 8, "object_scale": (0.5, 0.3)}, ValueError, "object_scale"),
        ({"num_images": 8, "object_scale": (0.1, 0.3)}, ValueError, "object_scale"),
        ({"num_images": 8, "max_occluders": -1}, ValueError, "max_occluders"),
        ({"num_images": 8, "max_distractors": 1.0}, TypeError, "max_distractors"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_texture_data(**kwargs)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rendering_matches_cpu() -> None:
    cpu = make_texture_data(300, seed=11)
    gpu = make_texture_data(300, seed=11, device="cuda")
    assert gpu.images.is_cuda and torch.equal(gpu.labels.cpu(), cpu.labels)
    # Same maths; only a rounding flip on an outline pixel may differ.
    assert (gpu.masks.cpu() != cpu.masks).float().mean() < 1e-3
    assert ((gpu.images.cpu() - cpu.images).abs() > 1e-3).float().mean() < 1e-2
