"""Gaussian mixtures: exact densities, sampling, and the Monte Carlo ground-truth MI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from captum_infocam.data.gaussians import (
    MI_BENCHMARK_BALANCED_COUNTS,
    MI_BENCHMARK_IMBALANCED_COUNTS,
    GaussianMixture,
    MonteCarloEstimate,
    mi_benchmark_mixture,
)


def mixture_1d():
    return GaussianMixture([[0.0], [1.5], [-1.0]], std=[1.0, 0.5, 2.0], class_prior=[2, 5, 3])


def quadrature_mutual_information(mixture, lo=-30.0, hi=30.0, points=400_001):
    """I(X;Y) of a 1-D mixture by the trapezoidal rule on the textbook densities."""
    x = np.linspace(lo, hi, points)
    means, std = mixture.means.numpy()[:, 0], mixture.std.numpy()
    prior = mixture.class_prior.numpy()
    density = np.exp(-((x[None] - means[:, None]) ** 2) / (2 * std[:, None] ** 2))
    density /= np.sqrt(2 * np.pi) * std[:, None]
    marginal = (prior[:, None] * density).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = prior[:, None] * density * np.log(density / marginal)
    integrand = np.nan_to_num(integrand).sum(0)
    return float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(x)))


def test_log_likelihoods_match_the_textbook_density():
    mixture = GaussianMixture(
        [[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]], std=[0.5, 2.0], class_prior=[1, 1]
    )
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xn, means, std = x.numpy(), mixture.means.numpy(), mixture.std.numpy()
    sq = ((xn[:, None] - means[None]) ** 2).sum(-1)
    expected = np.log(np.exp(-sq / (2 * std**2)) / (2 * np.pi * std**2) ** 1.5)
    np.testing.assert_allclose(mixture.log_likelihoods(x).numpy(), expected, rtol=1e-12)
    assert mixture.log_likelihoods(x.float()).dtype == torch.float32
    assert mixture.log_likelihoods(x[None]).shape == (1, 20, 2)  # any leading shape


def test_exact_pmi_is_log_posterior_over_prior():
    mixture = mixture_1d()
    x, y = mixture.sample(50, seed=0, dtype=torch.float64)
    joint = mixture.log_likelihoods(x).exp() * mixture.class_prior
    posterior = joint / joint.sum(-1, keepdim=True)
    expected = torch.log(posterior[torch.arange(50), y] / mixture.class_prior[y])
    torch.testing.assert_close(mixture.pointwise_mutual_information(x, y), expected)
    torch.testing.assert_close(mixture.log_posteriors(x).exp(), posterior)


def test_sample_with_class_counts_is_exact_and_reproducible():
    mixture = mixture_1d()
    x, y = mixture.sample(class_counts=[3, 0, 7], seed=5)
    assert x.shape == (10, 1) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.bincount(minlength=3).tolist() == [3, 0, 7]
    x2, y2 = mixture.sample(class_counts=[3, 0, 7], seed=5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = mixture.sample(class_counts=[3, 0, 7], seed=6)
    assert not torch.equal(x, x3)
    _, sorted_y = mixture.sample(class_counts=[3, 0, 7], seed=5, shuffle=False)
    assert sorted_y.tolist() == [0] * 3 + [2] * 7


def test_seeded_sampling_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mixture_1d().sample(100, seed=0)
    mixture_1d().mutual_information(num_samples=1000, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_sample_moments_and_label_frequencies():
    mixture = GaussianMixture([[0.0, 3.0], [-2.0, 1.0]], std=[0.5, 2.0], class_prior=[1, 3])
    n = 40_000
    x, y = mixture.sample(n, seed=1, dtype=torch.float64)
    share = (y == 1).double().mean()
    assert abs(float(share) - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)
    for k in range(2):
        xk = x[y == k]
        se = float(mixture.std[k]) / math.sqrt(len(xk))
        assert (xk.mean(0) - mixture.means[k]).abs().max() < 4 * se
        torch.testing.assert_close(xk.var(0), mixture.std[k].square().expand(2), rtol=0.05, atol=0)


def test_mutual_information_matches_quadrature_within_its_standard_error():
    mixture = mixture_1d()
    exact = quadrature_mutual_information(mixture)
    estimate = mixture.mutual_information(num_samples=200_000, seed=0)
    assert isinstance(estimate, MonteCarloEstimate) and estimate.num_samples == 200_000
    assert 0 < estimate.standard_error < 0.003
    assert abs(estimate.value - exact) < 4 * estimate.standard_error


def test_rao_blackwellised_truth_agrees_with_mean_exact_pmi_of_pairs():
    mixture = mi_benchmark_mixture(dim=2, imbalanced=True)
    truth = mixture.mutual_information(num_samples=200_000, seed=0)
    x, y = mixture.sample(200_000, seed=1, dtype=torch.float64)
    pmi = mixture.pointwise_mutual_information(x, y)
    pair_se = float(pmi.std()) / math.sqrt(len(pmi))
    assert truth.standard_error < pair_se  # the variance reduction is real
    assert abs(truth.value - float(pmi.mean())) < 4 * math.hypot(pair_se, truth.standard_error)


def test_mutual_information_limits_zero_and_class_entropy():
    same = GaussianMixture([[1.0, 2.0]] * 3, class_prior=[1, 2, 3])
    estimate = same.mutual_information(num_samples=1000)
    assert estimate.value == pytest.approx(0.0, abs=1e-12)
    assert estimate.standard_error == pytest.approx(0.0, abs=1e-12)
    apart = GaussianMixture([[0.0], [100.0], [200.0], [300.0]], class_prior=[1, 2, 3, 0])
    estimate = apart.mutual_information(num_samples=1000)
    entropy = -sum(p * math.log(p) for p in (1 / 6, 2 / 6, 3 / 6))
    assert apart.class_entropy() == pytest.approx(entropy)
    assert estimate.value == pytest.approx(entropy, abs=1e-9)  # zero-prior class included


def test_benchmark_mixture_is_the_papers_set_up():
    balanced = mi_benchmark_mixture(dim=3)
    expected_means = torch.tensor([0.0, 2.0, -2.0, 4.0, -4.0], dtype=torch.float64)
    torch.testing.assert_close(balanced.means, expected_means[:, None].expand(5, 3))
    torch.testing.assert_close(balanced.std, torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(balanced.class_prior, torch.full((5,), 0.2, dtype=torch.float64))
    imbalanced = mi_benchmark_mixture(dim=1, imbalanced=True)
    counts = torch.tensor(MI_BENCHMARK_IMBALANCED_COUNTS, dtype=torch.float64)
    torch.testing.assert_close(imbalanced.class_prior, counts / counts.sum())
    assert sum(MI_BENCHMARK_BALANCED_COUNTS) == 50_000 and sum(counts) == 75_000
    assert (balanced.num_classes, balanced.dim) == (5, 3)
    assert "num_classes=5" in repr(balanced)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"means": [0.0, 1.0]}, ValueError, r"means must have shape \(K, d\)"),
        ({"means": [[0.0], [float("nan")]]}, ValueError, "means must be finite"),
        ({"means": "ab"}, TypeError, "means must be"),
        ({"means": [[0.0], [1.0]], "std": 0.0}, ValueError, "std must be positive"),
        ({"means": [[0.0], [1.0]], "std": [1.0, 1.0, 1.0]}, ValueError, "one value per class"),
        ({"means": [[0.0], [1.0]], "class_prior": [1, -1]}, ValueError, "non-negative"),
    ],
)
def test_invalid_mixtures(kwargs, error, match):
    with pytest.raises(error, match=match):
        GaussianMixture(**kwargs)


def test_invalid_calls():
    mixture = mixture_1d()
    with pytest.raises(ValueError, match="exactly one of num_samples and class_counts"):
        mixture.sample()
    with pytest.raises(ValueError, match="exactly one of num_samples and class_counts"):
        mixture.sample(10, class_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="class_counts must hold 3 non-negative"):
        mixture.sample(class_counts=[1, -2, 3])
    with pytest.raises(TypeError, match="class_counts must be integers"):
        mixture.sample(class_counts=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="num_samples must be non-negative"):
        mixture.sample(-1)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 1\)"):
        mixture.log_likelihoods(torch.zeros(4, 2))
    with pytest.raises(TypeError, match="x must be a floating Tensor"):
        mixture.log_likelihoods(torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
        mixture.pointwise_mutual_information(torch.zeros(2, 1), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="num_samples must be an int >= 2"):
        mixture.mutual_information(num_samples=1)
    with pytest.raises(ValueError, match="dim must be a positive int"):
        mi_benchmark_mixture(0)


@pytest.mark.cuda
def test_cuda_densities_and_truth_match_cpu():
    mixture = mi_benchmark_mixture(dim=2, imbalanced=True)
    x, y = mixture.sample(1000, seed=0, dtype=torch.float64, device="cuda")
    assert x.device.type == "cuda" and y.device.type == "cuda"
    torch.testing.assert_close(
        mixture.pointwise_mutual_information(x, y).cpu(),
        mixture.pointwise_mutual_information(x.cpu(), y.cpu()),
    )
    on_gpu = mixture.mutual_information(num_samples=10_000, device="cuda")
    on_cpu = mixture.mutual_information(num_samples=10_000)
    assert on_gpu.value == pytest.approx(on_cpu.value, abs=1e-9)


def test_monte_carlo_standard_error_is_the_spread_over_seeds():
    """The reported standard error predicts how much the estimate moves between seeds."""
    mixture = mixture_1d()
    estimates = [mixture.mutual_information(num_samples=2000, seed=seed) for seed in range(200)]
    spread = float(np.std([estimate.value for estimate in estimates], ddof=1))
    reported = float(np.mean([estimate.standard_error for estimate in estimates]))
    # 200 seeds pin the spread down to about 5%; a wrong formula is off by far more
    assert reported == pytest.approx(spread, rel=0.2)


def test_monte_carlo_standard_error_is_the_stratified_formula_on_its_own_draws():
    """Brute force on few samples, where the Bessel correction matters: the same draws, the
    Rao-Blackwellised terms, and sqrt(sum_k pi_k^2 s_k^2 / n_k) with s_k the sample std."""
    mixture = mixture_1d()
    estimate = mixture.mutual_information(num_samples=13, seed=7)
    prior = mixture.class_prior.numpy()
    allocation = np.maximum(np.round(prior * 13).astype(int), 2)  # [3, 6, 4]
    labels = torch.repeat_interleave(torch.arange(3), torch.as_tensor(allocation))
    noise = torch.randn(
        len(labels), 1, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )
    x = mixture.means[labels] + mixture.std[labels, None] * noise
    posterior = mixture.log_posteriors(x).exp().numpy()
    terms = (posterior * np.log(posterior / prior)).sum(1)
    by_class = [terms[labels.numpy() == k] for k in range(3)]
    value = sum(p * t.mean() for p, t in zip(prior, by_class, strict=True))
    variance = sum(p**2 * t.var(ddof=1) / len(t) for p, t in zip(prior, by_class, strict=True))
    assert estimate.num_samples == 13
    assert estimate.value == pytest.approx(value, rel=1e-12)
    assert estimate.standard_error == pytest.approx(math.sqrt(variance), rel=1e-12)
