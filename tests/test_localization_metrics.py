"""Dataset accumulators, fixed-threshold loc, PxAP and the pointing game."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from captum_infocam.localization import (
    BoxLocalizationMetrics,
    PixelAveragePrecision,
    box_accuracy,
    box_hits,
    histogram_average_precision,
    localization_accuracy,
    pixel_average_precision,
    pixel_score_histograms,
    pointing_game,
    threshold_grid,
    top1_correct,
)

from conftest import run_processes
from opencv_reference import reference_pixel_average_precision

DELTAS = (0.3, 0.5, 0.7)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dataset(count: int = 24, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    low = torch.randn(count, 1, 5, 5, generator=generator)
    maps = F.interpolate(low, size=(28, 32), mode="bicubic")[:, 0]
    corners = torch.randint(0, 28, (count, 2, 2), generator=generator).sort(1).values
    boxes = torch.stack(
        [corners[:, 0, 0], corners[:, 0, 1], corners[:, 1, 0] + 3, corners[:, 1, 1]], 1
    )
    boxes = [b.unsqueeze(0) for b in boxes]
    boxes[3] = torch.tensor([[0, 0, 10, 10], [15, 12, 31, 27]])  # two objects
    logits = torch.randn(count, 4, generator=generator)
    labels = torch.randint(0, 4, (count,), generator=generator)
    return maps, boxes, logits, labels


# --------------------------------------------------------------------------- accumulator


def test_accumulator_equals_one_shot():
    maps, boxes, logits, labels = _dataset()
    thresholds = threshold_grid(50)
    metrics = BoxLocalizationMetrics(thresholds, DELTAS)
    for start, stop in ((0, 5), (5, 6), (6, 17), (17, 24)):
        metrics.update(maps[start:stop], boxes[start:stop], logits[start:stop], labels[start:stop])
    result = metrics.compute()
    largest = box_accuracy(maps, boxes, thresholds, DELTAS, multi_contour=False)
    every = box_accuracy(maps, boxes, thresholds, DELTAS, multi_contour=True)
    torch.testing.assert_close(result.box_accuracy, largest, rtol=0, atol=1e-15)
    torch.testing.assert_close(result.box_accuracy_v2, every, rtol=0, atol=1e-15)
    torch.testing.assert_close(result.max_box_accuracy, largest.amax(1), rtol=0, atol=1e-15)
    torch.testing.assert_close(result.max_box_accuracy_v2, every.amax(1).mean(), rtol=0, atol=1e-15)
    for d in range(3):
        first_best = int(torch.nonzero(largest[d] == largest[d].max())[0])
        assert result.best_threshold[d] == thresholds[first_best]
    fixed = localization_accuracy(maps, boxes, logits, labels)
    torch.testing.assert_close(result.gt_known_loc, fixed.gt_known)
    torch.testing.assert_close(result.top1_loc, fixed.top1)
    assert result.num_images == metrics.num_images == 24
    assert 0 < float(result.max_box_accuracy[0]) < 1  # not a trivial set


def test_accumulator_top1_counts_only_batches_with_predictions_and_resets():
    maps, boxes, logits, labels = _dataset()
    metrics = BoxLocalizationMetrics(threshold_grid(20))
    metrics.update(maps[:10], boxes[:10])
    assert metrics.compute().top1_loc is None
    metrics.update(maps[10:], boxes[10:], logits[10:], labels[10:])
    expected = localization_accuracy(maps[10:], boxes[10:], logits[10:], labels[10:]).top1
    torch.testing.assert_close(metrics.compute().top1_loc, expected)
    metrics.reset()
    with (
        pytest.warns(UserWarning, match="before the ``update``"),  # torchmetrics' note
        pytest.raises(RuntimeError, match="no image seen"),
    ):
        metrics.compute()
    with pytest.raises(ValueError, match="both predictions and labels"):
        metrics.update(maps, boxes, predictions=logits)


def test_max_box_accuracy_v2_is_always_over_the_three_standard_ious():
    maps, boxes, _, _ = _dataset()
    thresholds = threshold_grid(30)
    metrics = BoxLocalizationMetrics(thresholds, (0.5,))
    metrics.update(maps, boxes)
    result = metrics.compute()
    every = box_accuracy(maps, boxes, thresholds, DELTAS, multi_contour=True)
    torch.testing.assert_close(result.max_box_accuracy_v2, every.amax(1).mean(), rtol=0, atol=0)
    assert torch.equal(result.box_accuracy_v2, every[1:2])  # the curves at the chosen IoU


def test_thresholds_must_increase_so_best_threshold_is_the_smallest():
    with pytest.raises(ValueError, match="thresholds must be strictly increasing"):
        BoxLocalizationMetrics([0.5, 0.2, 0.7])
    with pytest.raises(ValueError, match="thresholds must be strictly increasing"):
        BoxLocalizationMetrics([0.2, 0.2])


def test_nan_policy_zero_lets_the_evaluation_go_on():
    maps, boxes, logits, labels = _dataset()
    broken = maps.clone()
    broken[7, 3, 3] = float("nan")
    zeroed = maps.clone()
    zeroed[7] = 0.0
    metrics = BoxLocalizationMetrics(threshold_grid(20), DELTAS)
    with pytest.raises(ValueError, match=r"maps\[7\] contains NaN"):
        metrics.update(broken, boxes, logits, labels)
    tolerant = BoxLocalizationMetrics(threshold_grid(20), DELTAS, nan_policy="zero")
    tolerant.update(broken, boxes, logits, labels)
    expected = BoxLocalizationMetrics(threshold_grid(20), DELTAS)
    expected.update(zeroed, boxes, logits, labels)
    got, want = tolerant.compute(), expected.compute()
    assert torch.equal(got.box_accuracy, want.box_accuracy)
    assert torch.equal(got.box_accuracy_v2, want.box_accuracy_v2)
    assert torch.equal(got.top1_loc, want.top1_loc)
    fixed = localization_accuracy(broken, boxes, logits, labels, nan_policy="zero")
    assert torch.equal(fixed.gt_known, want.gt_known_loc)
    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'zero'"):
        BoxLocalizationMetrics(nan_policy="ignore")


def _distributed_worker(rank: int, world_size: int, init_file: str, result_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    torch.set_num_threads(1)
    try:
        maps, boxes, logits, labels = _dataset()
        shard = slice(rank * 10, 10 + rank * 14)  # uneven shards: 10 and 14 images
        metrics = BoxLocalizationMetrics(threshold_grid(50), DELTAS)
        metrics.update(maps[shard], boxes[shard], logits[shard], labels[shard])
        pxap = PixelAveragePrecision(threshold_grid(50))
        pxap.update(maps[shard], maps[shard].flip(-1) > 0.3)
        result = metrics.compute()
        # A file, not a queue: a tensor sent through a queue is read from the sender's shared
        # memory, which is gone if the sender has already exited.
        torch.save(
            (
                rank,
                result.box_accuracy,
                result.box_accuracy_v2,
                result.gt_known_loc,
                result.top1_loc,
                result.num_images,
                pxap.compute(),
            ),
            os.path.join(result_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_sum_equals_a_single_process(tmp_path):
    init_file = str(tmp_path / "rendezvous")
    run_processes(_distributed_worker, (2, init_file, str(tmp_path)))
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]

    maps, boxes, logits, labels = _dataset()
    single = BoxLocalizationMetrics(threshold_grid(50), DELTAS)
    single.update(maps, boxes, logits, labels)
    expected = single.compute()
    expected_pxap = pixel_average_precision(maps, maps.flip(-1) > 0.3, threshold_grid(50))
    for _, largest, every, gt_known, top1, count, pxap in results:
        assert torch.equal(largest, expected.box_accuracy)
        assert torch.equal(every, expected.box_accuracy_v2)
        assert torch.equal(gt_known, expected.gt_known_loc)
        assert torch.equal(top1, expected.top1_loc)
        assert count == 24
        torch.testing.assert_close(pxap, expected_pxap)


# --------------------------------------------------------------------------- fixed threshold


def test_gt_known_and_top1_loc():
    maps = torch.zeros(3, 10, 10)
    maps[:, 2:6, 2:6] = 1.0  # box (2, 2, 6, 6) at tau = 0.2
    maps[2, 8:10, 8:10] = 0.1  # below 0.2 of the maximum: ignored
    boxes = torch.tensor([[2, 2, 6, 6], [2, 2, 5, 5], [6, 6, 9, 9]])
    labels = torch.tensor([0, 1, 2])
    logits = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [0, 0, 5.0]])
    result = localization_accuracy(maps, boxes, logits, labels, reduction="none")
    # IoU: 1, 16/25 = 0.64, 1/25 + ...: (6, 6) only overlaps -> miss
    assert result.gt_known.tolist() == [True, True, False]
    assert result.top1.tolist() == [True, False, False]
    means = localization_accuracy(maps, boxes, logits.argmax(1), labels)
    assert float(means.gt_known) == pytest.approx(2 / 3) and float(means.top1) == pytest.approx(
        1 / 3
    )
    assert localization_accuracy(maps, boxes).top1 is None
    strict = localization_accuracy(maps, boxes, iou_threshold=0.65, reduction="none")
    assert strict.gt_known.tolist() == [True, False, False]
    hits = box_hits(maps, boxes, [0.2], [0.5])[:, 0, 0]
    assert torch.equal(hits, result.gt_known)


def test_top1_correct_and_its_errors():
    assert top1_correct(torch.tensor([2, 1]), torch.tensor([2, 2])).tolist() == [True, False]
    with pytest.raises(TypeError, match="labels must hold integer class indices"):
        top1_correct(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\), got \(2, 1\)"):
        top1_correct(torch.tensor([1, 2]), torch.tensor([[1], [2]]))
    with pytest.raises(TypeError, match="predictions must be"):
        top1_correct(torch.tensor([0.5, 2.0]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="must cover the 3 images"):
        top1_correct(torch.tensor([1, 2]), torch.tensor([1, 2]), 3)
    maps, boxes = torch.rand(2, 6, 6), torch.tensor([[0, 0, 3, 3]] * 2)
    with pytest.raises(ValueError, match="both predictions and labels"):
        localization_accuracy(maps, boxes, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\]"):
        localization_accuracy(maps, boxes, threshold=1.2)
    with pytest.raises(ValueError, match="reduction must be"):
        localization_accuracy(maps, boxes, reduction="sum")


def test_pointing_game():
    maps = torch.zeros(4, 12, 12)
    maps[0, 4, 5] = 1.0  # inside
    maps[1, 0, 11] = 1.0  # 3 columns right of and 2 rows above the box corner (8, 2)
    maps[3, 6, 6] = maps[3, 9, 9] = 1.0  # a tie: the first in raster order counts
    boxes = [torch.tensor([[2, 2, 8, 8]])] * 3 + [torch.tensor([[9, 9, 11, 11]])]
    # the constant map points at (0, 0), outside (2, 2, 8, 8)
    assert pointing_game(maps, boxes, reduction="none").tolist() == [True, False, False, False]
    maps[2, 0, 0] = 1.0
    boxes[2] = torch.tensor([[1, 1, 3, 3]])
    assert pointing_game(maps, boxes, tolerance=1.5, reduction="none").tolist() == [
        True,
        False,
        True,  # (0, 0) is sqrt(2) from (1, 1)
        False,
    ]
    # A constant map points nowhere: a miss, even where argmax's (0, 0) lies in the box.
    constant = torch.full((2, 12, 12), 0.3)
    constant[1, 5, 5] = 0.4
    covering = torch.tensor([[0, 0, 11, 11]] * 2)
    assert pointing_game(constant, covering, reduction="none").tolist() == [False, True]
    for tolerance in (torch.tensor(1.0), np.float32(1.0), 2):
        assert float(pointing_game(maps[:1], boxes[:1], tolerance=tolerance)) == 1.0
    with pytest.raises(TypeError, match="tolerance must be a real number of pixels, got bool"):
        pointing_game(maps, boxes, tolerance=True)
    with pytest.raises(TypeError, match="tolerance must be a real number"):
        pointing_game(maps, boxes, tolerance="3")
    near = pointing_game(
        maps[1:2], [torch.tensor([[2, 2, 8, 8]])], tolerance=3.61
    )  # sqrt(13) = 3.606
    assert float(near) == 1.0
    with pytest.raises(ValueError, match="tolerance must be a non-negative"):
        pointing_game(maps, boxes, tolerance=-1)


def test_pointing_game_with_masks_of_the_boxes_equals_the_boxes():
    generator = torch.Generator().manual_seed(3)
    maps = torch.rand(64, 1, 9, 11, generator=generator)
    maps[::7] = 0.5  # constant maps: misses either way
    corners = torch.randint(0, 9, (64, 2, 2), generator=generator).sort(dim=1).values
    boxes = torch.cat([corners[:, 0], corners[:, 1]], dim=1)  # (x1, y1, x2, y2)
    rows, columns = torch.arange(9).view(1, 9, 1), torch.arange(11).view(1, 1, 11)
    x1, y1, x2, y2 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    masks = (rows >= y1) & (rows <= y2) & (columns >= x1) & (columns <= x2)
    for tolerance in (0.0, 1.0, 1.5, 2.9):
        expected = pointing_game(maps, boxes, tolerance=tolerance, reduction="none")
        for form in (masks, masks[:, None]):
            got = pointing_game(maps, form, tolerance=tolerance, reduction="none")
            assert torch.equal(got, expected)
    assert 0.1 < float(pointing_game(maps, masks, tolerance=1.0)) < 0.9


def test_pointing_game_with_masks_reads_pixels_not_boxes():
    maps = torch.zeros(3, 8, 8)
    maps[:, 4, 4] = 1.0
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, 4, 4] = True  # the peak itself
    masks[1, 2:7, 2:7] = True
    masks[1, 4, 4] = False  # a ring around the peak: its box holds the peak, the mask not
    masks[2, 4, 7] = True  # 3 pixels right of the peak
    assert pointing_game(maps, masks, reduction="none").tolist() == [True, False, False]
    assert pointing_game(maps, masks, tolerance=1.0, reduction="none").tolist() == [
        True,
        True,
        False,
    ]
    assert pointing_game(maps, masks, tolerance=3.0, reduction="none").tolist() == [True] * 3
    with pytest.raises(ValueError, match=r"masks must have the maps' shape \(3, 8, 8\)"):
        pointing_game(maps, masks[:, :4])
    with pytest.raises(ValueError, match="the mask of image 1 has no object pixel"):
        pointing_game(maps, torch.stack([masks[0], torch.zeros_like(masks[0]), masks[2]]))


# --------------------------------------------------------------------------- PxAP


def test_pixel_average_precision_matches_the_reference_formula():
    generator = torch.Generator().manual_seed(1)
    maps = torch.rand(6, 20, 20, generator=generator, dtype=torch.float64)
    masks = torch.rand(6, 20, 20, generator=generator) > 0.7
    ignore = torch.rand(6, 20, 20, generator=generator) > 0.9  # overlaps the foreground
    for thresholds in (threshold_grid(100), [0.0, 0.25, 0.6, 0.61]):
        ours = pixel_average_precision(maps, masks, thresholds, ignore)
        expected = reference_pixel_average_precision(
            maps.numpy(), masks.numpy(), list(thresholds), ignore.numpy()
        )
        assert float(ours) == pytest.approx(expected, abs=1e-12)


def test_ignore_leaves_out_background_only_like_the_reference_get_mask():
    # The reference's get_mask ignores ``ignore_box & ~foreground``: foreground pixels inside
    # an ignore box still count.
    generator = torch.Generator().manual_seed(3)
    maps = torch.rand(4, 12, 12, generator=generator)
    masks = torch.rand(4, 12, 12, generator=generator) > 0.6
    ignore = torch.zeros(4, 12, 12, dtype=torch.bool)
    ignore[:, 2:9, 3:10] = True  # overlaps foreground and background
    thresholds = threshold_grid(50)
    histograms = pixel_score_histograms(maps, masks, thresholds, ignore)
    assert int(histograms[0].sum()) == int(masks.sum())
    assert int(histograms[1].sum()) == int((~masks & ~ignore).sum())
    expected = pixel_average_precision(maps, masks, thresholds, ignore & ~masks)
    assert torch.equal(pixel_average_precision(maps, masks, thresholds, ignore), expected)
    reference = reference_pixel_average_precision(
        maps.numpy(), masks.numpy(), list(thresholds), ignore.numpy()
    )
    assert float(expected) == pytest.approx(reference, abs=1e-12)
    # Everything in an ignore box: only foreground is left, so every prediction is right.
    everything = torch.ones_like(ignore)
    assert float(pixel_average_precision(maps, masks, thresholds, everything)) == 1.0


def test_pixel_average_precision_extremes_and_accumulation():
    generator = torch.Generator().manual_seed(2)
    maps = torch.rand(5, 16, 16, generator=generator)
    masks = maps > 0.6
    separated = maps + masks  # every foreground pixel above every background pixel
    assert float(pixel_average_precision(separated, masks)) == 1.0
    masks = torch.rand(5, 16, 16, generator=generator) > 0.5
    pxap = PixelAveragePrecision(threshold_grid(64))
    for start, stop in ((0, 2), (2, 5)):
        pxap.update(maps[start:stop].unsqueeze(1), masks[start:stop].long())
    torch.testing.assert_close(
        pxap.compute(), pixel_average_precision(maps, masks, threshold_grid(64))
    )
    histograms = pixel_score_histograms(maps, masks, threshold_grid(64))
    assert int(histograms.sum()) == masks.numel()
    assert int(histograms[0].sum()) == int(masks.sum())


def test_per_image_histograms_sum_to_the_batch_and_give_each_images_pxap():
    generator = torch.Generator().manual_seed(4)
    maps = torch.rand(5, 14, 14, generator=generator)
    masks = torch.rand(5, 14, 14, generator=generator) > 0.6
    masks[3] = False  # no foreground: PxAP undefined for that image
    ignore = torch.rand(5, 14, 14, generator=generator) > 0.8
    ignore[4] = True  # only foreground counts
    thresholds = threshold_grid(30)
    per_image = pixel_score_histograms(maps, masks, thresholds, ignore, per_image=True)
    assert per_image.shape == (5, 2, 32)
    assert torch.equal(per_image.sum(0), pixel_score_histograms(maps, masks, thresholds, ignore))
    scores = pixel_average_precision(maps, masks, thresholds, ignore, per_image=True)
    for image in range(5):
        if image == 3:
            assert torch.isnan(scores[image])
            continue
        one = pixel_average_precision(
            maps[image : image + 1], masks[image : image + 1], thresholds, ignore[image : image + 1]
        )
        reference = reference_pixel_average_precision(
            maps[image : image + 1].numpy(),
            masks[image : image + 1].numpy(),
            list(thresholds),
            ignore[image : image + 1].numpy(),
        )
        assert float(scores[image]) == float(one) == pytest.approx(reference, abs=1e-12)
    assert float(scores[4]) == 1.0
    # A weighted sum of per-image histograms is the PxAP of the images repeated that often.
    weights = torch.tensor([2, 0, 1, 3, 1])
    weighted = (weights.view(-1, 1, 1).double() * per_image).sum(0)
    images = torch.arange(5).repeat_interleave(weights)
    expected = pixel_average_precision(maps[images], masks[images], thresholds, ignore[images])
    assert float(histogram_average_precision(weighted)) == pytest.approx(float(expected), abs=1e-12)


def test_histogram_average_precision_shapes_and_errors():
    histograms = torch.tensor([[[0, 1, 1, 0], [2, 0, 0, 0]], [[0, 0, 0, 0], [1, 1, 1, 1]]])
    scores = histogram_average_precision(histograms)
    assert float(scores[0]) == 1.0 and torch.isnan(scores[1])
    assert histogram_average_precision(histograms[0]).dim() == 0
    with pytest.raises(ValueError, match=r"histograms must be \(\.\.\., 2, bins\)"):
        histogram_average_precision(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="at least one bin"):
        histogram_average_precision(torch.zeros(2, 0))
    with pytest.raises(TypeError, match="histograms must be a Tensor, got list"):
        histogram_average_precision([[0, 1], [1, 0]])


def test_pixel_average_precision_nan_policy_and_overflow():
    generator = torch.Generator().manual_seed(5)
    maps = torch.rand(3, 10, 10, generator=generator, dtype=torch.float64)
    masks = torch.rand(3, 10, 10, generator=generator) > 0.6
    maps[1, 4, 4] = float("nan")
    thresholds = threshold_grid(25)
    with pytest.raises(ValueError, match=r"maps\[1\] contains NaN"):
        pixel_average_precision(maps, masks, thresholds)
    ours = pixel_average_precision(maps, masks, thresholds, nan_policy="zero")
    expected = reference_pixel_average_precision(maps.numpy(), masks.numpy(), list(thresholds))
    assert float(ours) == pytest.approx(expected, abs=1e-12)
    pxap = PixelAveragePrecision(thresholds, nan_policy="zero")
    pxap.update(maps, masks)
    assert torch.equal(pxap.compute(), ours)
    assert bool(torch.isnan(maps[1, 4, 4]))  # the caller's maps are untouched
    huge = torch.zeros(1, 4, 4, dtype=torch.float64)
    huge[0, 0, 0], huge[0, 1, 1] = -1e308, 1e308
    with pytest.raises(ValueError, match=r"maps\[0\]: max - min overflows float64"):
        pixel_average_precision(huge, huge > 0)


def test_pixel_average_precision_errors():
    maps = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match=r"masks must have the maps' shape \(2, 4, 4\)"):
        pixel_average_precision(maps, torch.ones(2, 4, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="masks must be a bool or integer 0/1 tensor"):
        pixel_average_precision(maps, torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match="masks must hold only 0 and 1"):
        pixel_average_precision(maps, torch.full((2, 4, 4), 2))
    with pytest.raises(ValueError, match="strictly increasing"):
        pixel_average_precision(maps, maps > 0.5, [0.5, 0.2])
    with pytest.raises(RuntimeError, match="no foreground pixel"):
        pixel_average_precision(maps, torch.zeros(2, 4, 4, dtype=torch.bool))


@pytest.mark.cuda
def test_pixel_average_precision_with_cuda_maps_and_cpu_masks():
    generator = torch.Generator().manual_seed(4)
    maps = torch.rand(3, 10, 10, generator=generator)
    masks = torch.rand(3, 10, 10, generator=generator) > 0.5
    ignore = torch.rand(3, 10, 10, generator=generator) > 0.8
    expected = pixel_average_precision(maps, masks, threshold_grid(20), ignore)
    ours = pixel_average_precision(maps.cuda(), masks, threshold_grid(20), ignore)
    assert ours.is_cuda and torch.equal(ours.cpu(), expected)
    pxap = PixelAveragePrecision(threshold_grid(20))
    pxap.update(maps.cuda(), masks.long(), ignore)
    assert torch.equal(pxap.compute().cpu(), expected)
