"""Tests of the synthetic time series: determinism, exact intervals, decoys, arguments."""

from __future__ import annotations

import pytest
import torch

from captum_infocam.data import SERIES_CLASS_NAMES, SeriesBatch, make_series_data
from captum_infocam.data.synthetic_series import MIN_SERIES_LENGTH


@pytest.fixture(scope="module")
def data() -> SeriesBatch:
    return make_series_data(400, seed=3)


def test_shapes_dtypes_and_balanced_shuffled_labels(data):
    assert data.series.shape == (400, 1, 384) and data.series.dtype == torch.float32
    assert data.events.shape == (400, 384) and data.events.dtype == torch.float32
    assert data.intervals.shape == data.decoy_intervals.shape == (400, 2)
    assert data.intervals.dtype == data.decoy_intervals.dtype == torch.int64
    assert torch.bincount(data.labels).tolist() == [100] * 4
    assert not torch.equal(data.labels, data.labels.sort().values)  # shuffled
    assert data.class_names == SERIES_CLASS_NAMES
    assert torch.isfinite(data.series).all()


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (make_series_data(50, seed=s) for s in (7, 7, 8))
    for name in ("series", "labels", "intervals", "events", "decoy_intervals"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    assert not torch.equal(first.series, other.series)
    assert not torch.equal(first.intervals, other.intervals)


def test_intervals_are_exact_the_event_fills_its_interval_and_nothing_else(data):
    start, end = data.intervals.unbind(1)
    duration = end - start
    assert (start >= 0).all() and (end <= 384).all()
    assert ((duration >= round(0.15 * 384)) & (duration <= round(0.35 * 384))).all()
    outside = data.events.masked_fill(data.masks, 0.0)
    assert outside.eq(0).all()  # nothing of the event outside its interval
    # ...and the event reaches both ends: it is non-zero within 3 samples of each end.
    positions = torch.arange(384)
    near_start = data.masks & (positions < start[:, None] + 3)
    near_end = data.masks & (positions >= end[:, None] - 3)
    assert (data.events.abs() * near_start).amax(1).gt(0).all()
    assert (data.events.abs() * near_end).amax(1).gt(0).all()
    # most of the interval carries the event (the motifs cross zero at isolated samples only)
    filled = (data.events != 0).sum(1).double() / duration
    assert filled.min() > 0.9


def test_events_is_what_the_series_holds_over_the_interval():
    """``series - events`` (drift and noise here) is uncorrelated with the event over its
    interval: had ``events`` not been what was added, the difference would hold the event's
    shape (correlation near 1) or its negative (near -1)."""
    data = make_series_data(400, seed=5, max_distractors=0, decoy_probability=0.0)
    rest = data.series[:, 0] - data.events
    inside = data.masks
    event = data.events * inside
    correlation = (rest * event).sum(1) / (rest.mul(inside).norm(dim=1) * event.norm(dim=1))
    assert correlation.abs().mean() < 0.1
    assert rest.std() < data.series.std()


def test_decoys_lie_outside_the_event_and_appear_at_the_requested_rate():
    data = make_series_data(1000, seed=2, decoy_probability=0.5)
    start, end = data.decoy_intervals.unbind(1)
    present = end > start
    assert 0.4 < present.double().mean() < 0.6
    assert (start[~present] == 0).all() and (end[~present] == 0).all()
    overlap = torch.minimum(end, data.intervals[:, 1]) - torch.maximum(start, data.intervals[:, 0])
    assert (overlap[present] <= 0).all()
    assert (start >= 0).all() and (end <= 384).all()
    decoy_free = make_series_data(100, seed=2, decoy_probability=0.0)
    assert (decoy_free.decoy_intervals == 0).all()


def test_subset_masks_and_to():
    data = make_series_data(20, num_classes=3, length=MIN_SERIES_LENGTH, seed=0)
    assert data.class_names == SERIES_CLASS_NAMES[:3] and set(data.labels.tolist()) == {0, 1, 2}
    part = data.subset(data.labels == 1)
    assert len(part) == int((data.labels == 1).sum()) and (part.labels == 1).all()
    assert torch.equal(data.subset([3, 5]).series, data.series[[3, 5]])
    mask = data.masks[4]
    assert torch.equal(torch.nonzero(mask)[[0, -1], 0] + torch.tensor([0, 1]), data.intervals[4])
    assert data.to("cpu").series.device.type == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_series": 0}, ValueError, "num_series"),
        ({"num_series": 2.5}, TypeError, "num_series"),
        ({"num_classes": 1}, ValueError, "num_classes"),
        ({"num_classes": 5}, ValueError, "at most 4"),
        ({"length": 100}, ValueError, "length"),
        ({"event_scale": (0.1, 0.3)}, ValueError, "event_scale"),
        ({"event_scale": (0.3, 0.2)}, ValueError, "event_scale"),
        ({"event_scale": 0.3}, TypeError, "event_scale"),
        ({"max_distractors": -1}, ValueError, "max_distractors"),
        ({"decoy_probability": 1.5}, ValueError, "decoy_probability"),
        ({"decoy_probability": "half"}, TypeError, "decoy_probability"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    arguments = {"num_series": 4, **kwargs}
    with pytest.raises(error, match=match):
        make_series_data(arguments.pop("num_series"), **arguments)
