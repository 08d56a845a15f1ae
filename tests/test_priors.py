"""Class priors: normalisation, counting and the errors bad priors and labels raise."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from captum_infocam.priors import as_class_prior, class_counts_from_labels, class_prior_from_labels


def test_counts_and_probabilities_give_the_same_normalised_prior():
    expected = torch.tensor([1 / 6, 1 / 3, 1 / 2], dtype=torch.float64)
    for prior in (
        [5000, 10000, 15000],
        (1, 2, 3),
        torch.tensor([0.5, 1.0, 1.5]),
        [1 / 6, 1 / 3, 0.5],
    ):
        got = as_class_prior(prior, 3, dtype=torch.float64)
        torch.testing.assert_close(got, expected)


def test_python_floats_are_normalised_in_float64_without_a_float32_rounding():
    floats = [0.1, 0.2, 0.7, 1 / 3]
    exact = torch.tensor(floats, dtype=torch.float64)
    got = as_class_prior(floats, 4, dtype=torch.float64)
    assert torch.equal(got, exact / exact.sum())  # bit for bit, not merely close
    assert torch.equal(as_class_prior(tuple(floats), 4, dtype=torch.float64), got)
    # a float32 tensor is taken as given: its values are already rounded
    rounded = torch.tensor(floats, dtype=torch.float32).double()
    assert torch.equal(
        as_class_prior(torch.tensor(floats), 4, dtype=torch.float64), rounded / rounded.sum()
    )


def test_none_is_uniform_and_dtype_device_are_honoured():
    got = as_class_prior(None, 4, dtype=torch.float64, device="cpu")
    assert got.dtype == torch.float64 and got.device.type == "cpu"
    torch.testing.assert_close(got, torch.full((4,), 0.25, dtype=torch.float64))
    assert as_class_prior([1, 3], 2).dtype == torch.float32


def test_zero_entries_are_allowed_and_input_is_not_mutated():
    counts = torch.tensor([0.0, 2.0, 6.0])
    got = as_class_prior(counts, 3)
    torch.testing.assert_close(got, torch.tensor([0.0, 0.25, 0.75]))
    torch.testing.assert_close(counts, torch.tensor([0.0, 2.0, 6.0]))


@pytest.mark.parametrize(
    ("prior", "error", "match"),
    [
        ([1.0, -0.5, 1.0], ValueError, "my_prior must be non-negative"),
        ([0, 0, 0], ValueError, "my_prior must have a positive sum"),
        ([1.0, float("nan"), 1.0], ValueError, "my_prior must be finite"),
        ([1.0, float("-inf"), 1.0], ValueError, "my_prior must be finite"),
        ([1.0, 1.0], ValueError, r"one entry per class \(3\), got shape \(2,\)"),
        (torch.ones(3, 1), ValueError, r"got shape \(3, 1\)"),
        (torch.tensor(1.0), ValueError, r"got shape \(\)"),
        (["a", "b", "c"], TypeError, "my_prior must be None, a tensor or a sequence"),
        ([True, False, True], TypeError, "my_prior must hold real numbers"),
        (torch.ones(3, dtype=torch.complex64), TypeError, "my_prior must hold real numbers"),
    ],
)
def test_invalid_priors_name_the_argument(prior, error, match):
    with pytest.raises(error, match=match):
        as_class_prior(prior, 3, name="my_prior")


@pytest.mark.parametrize("num_classes", [0, -2, 2.0, True, None])
def test_invalid_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        as_class_prior(None, num_classes)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        class_counts_from_labels([0, 1], num_classes)


def test_integer_output_dtype_is_rejected():
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        as_class_prior([1, 2], 2, dtype=torch.int64)


def test_counts_and_prior_from_labels_match_python_counting():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(6, (7, 13), generator=gen)  # any shape
    counter = Counter(labels.flatten().tolist())
    expected = torch.tensor([counter[k] for k in range(7)])
    counts = class_counts_from_labels(labels, 7)
    assert counts.dtype == torch.int64
    assert torch.equal(counts, expected)
    torch.testing.assert_close(
        class_prior_from_labels(labels, 7), expected.float() / labels.numel()
    )
    assert class_prior_from_labels([0, 1, 1, 2], 3).tolist() == [0.25, 0.5, 0.25]


def test_counts_are_additive_over_shards():
    labels = torch.randint(4, (100,), generator=torch.Generator().manual_seed(1))
    shards = labels.split(30)
    total = sum(class_counts_from_labels(shard, 4) for shard in shards)
    assert torch.equal(total, class_counts_from_labels(labels, 4))


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (torch.tensor([], dtype=torch.long), ValueError, "must not be empty"),
        (torch.tensor([0.0, 1.0]), TypeError, "integer class indices"),
        (torch.tensor([True, False]), TypeError, "integer class indices"),
        ([0, 3], ValueError, r"labels must lie in \[0, 3\), got values in \[0, 3\]"),
        ([-1, 2], ValueError, r"labels must lie in \[0, 3\), got values in \[-1, 2\]"),
    ],
)
def test_invalid_labels(labels, error, match):
    with pytest.raises(error, match=match):
        class_prior_from_labels(labels, 3)


@pytest.mark.cuda
def test_prior_stays_on_the_labels_device():
    labels = torch.tensor([0, 1, 1], device="cuda")
    assert class_prior_from_labels(labels, 2).device.type == "cuda"
    assert as_class_prior(torch.tensor([1.0, 2.0], device="cuda"), 2).device.type == "cuda"


def test_counts_are_normalised_before_a_half_precision_cast():
    """Counts above float16's range (65504) must not overflow before normalisation."""
    prior = as_class_prior([50_000, 100_000, 150_000], 3, dtype=torch.float16)
    torch.testing.assert_close(
        prior.float(), torch.tensor([1 / 6, 1 / 3, 1 / 2]), atol=1e-3, rtol=0
    )


def test_half_precision_logits_with_count_priors_give_the_float64_answer():
    """Big counts with float16 logits: the loss and the PMI stay finite and accurate."""
    from captum_infocam import PCSoftmaxCrossEntropyLoss, pointwise_mutual_information

    counts = [70_000, 140_000, 210_000]  # each above float16's largest value
    gen = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(6, 3, generator=gen)).half()
    target = torch.randint(3, (6,), generator=gen)
    expected = pointwise_mutual_information(logits.double(), target, counts)
    pmi = pointwise_mutual_information(logits, target, counts)
    assert torch.isfinite(pmi).all()
    torch.testing.assert_close(pmi.double(), expected, atol=1e-5, rtol=0)
    loss = PCSoftmaxCrossEntropyLoss(counts)(logits, target)
    assert loss.dtype == torch.float16 and torch.isfinite(loss)
    torch.testing.assert_close(loss.double(), -expected.mean(), atol=1e-2, rtol=0)
