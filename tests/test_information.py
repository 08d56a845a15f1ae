"""PC-softmax, its loss and the PMI / MI estimators: exact identities and brute-force references."""

from __future__ import annotations

import math
import os
import socket
import tempfile
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from captum_infocam.data.gaussians import GaussianMixture, mi_benchmark_mixture
from captum_infocam.information import (
    PCSoftmaxCrossEntropyLoss,
    StreamingMutualInformation,
    mutual_information,
    pc_log_softmax,
    pc_softmax,
    pointwise_mutual_information,
)

PRIOR = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=torch.float64)


def random_logits(*shape, seed=0, scale=3.0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=gen, dtype=dtype)


def random_targets(num_classes, *shape, seed=1):
    return torch.randint(num_classes, shape, generator=torch.Generator().manual_seed(seed))


def fit_logistic_regression(x, y, loss_fn, num_classes=5):
    """A linear model trained to convergence with full-batch L-BFGS."""
    model = nn.Linear(x.shape[1], num_classes).double()
    optimizer = torch.optim.LBFGS(
        model.parameters(), max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


# --------------------------------------------------------------------------- pc_log_softmax


@pytest.mark.parametrize(
    ("shape", "dim"), [((6, 5), -1), ((6, 5), 0), ((2, 5, 3, 4), 1), ((5,), 0)]
)
def test_uniform_prior_is_log_softmax_plus_log_k(shape, dim):
    logits = random_logits(*shape)
    k = shape[dim]
    expected = torch.log_softmax(logits, dim=dim) + math.log(k)
    torch.testing.assert_close(pc_log_softmax(logits, None, dim=dim), expected)
    torch.testing.assert_close(pc_log_softmax(logits, [1.0] * k, dim=dim), expected)


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_out_of_range_dim_raises_index_error_like_log_softmax(dim):
    logits = random_logits(3, 4)
    with pytest.raises(IndexError):
        torch.log_softmax(logits, dim=dim)
    with pytest.raises(IndexError, match=rf"dim is out of range.*\[-2, 1\].*got {dim}"):
        pc_log_softmax(logits, dim=dim)
    with pytest.raises(IndexError, match="dim is out of range"):
        pc_softmax(logits, dim=dim)


def test_negative_dims_in_range_are_accepted():
    logits = random_logits(3, 4)
    torch.testing.assert_close(pc_log_softmax(logits, dim=-2), pc_log_softmax(logits, dim=0))
    with pytest.raises(TypeError, match="dim must be an int"):
        pc_log_softmax(logits, dim=1.0)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_prior_weighted_pc_softmax_sums_to_one(dim):
    logits = random_logits(4, 4, 4)
    shape = [1, 1, 1]
    shape[dim] = -1
    total = (pc_softmax(logits, PRIOR, dim=dim) * PRIOR.reshape(shape)).sum(dim)
    torch.testing.assert_close(total, torch.ones_like(total))


def test_pc_log_softmax_matches_naive_formula_and_counts_equal_probabilities():
    logits = random_logits(7, 4, scale=1.0)
    naive = logits - torch.log((PRIOR * logits.exp()).sum(-1, keepdim=True))
    torch.testing.assert_close(pc_log_softmax(logits, PRIOR), naive)
    counts = (PRIOR * 1000).round().long()  # the same prior as integer counts, on any container
    torch.testing.assert_close(pc_log_softmax(logits, counts), naive)
    torch.testing.assert_close(pc_log_softmax(logits, counts.tolist()), naive)


def test_pc_log_softmax_is_stable_and_shift_invariant():
    logits = random_logits(5, 4)
    huge = logits + 1e4  # exp would overflow; a log-sum-exp does not
    out = pc_log_softmax(huge.float(), PRIOR)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), pc_log_softmax(logits, PRIOR), atol=2e-3, rtol=0)
    per_row_shift = logits + torch.arange(5.0, dtype=torch.float64)[:, None] * 7
    torch.testing.assert_close(pc_log_softmax(per_row_shift, PRIOR), pc_log_softmax(logits, PRIOR))


def test_zero_prior_class_is_allowed_and_drops_out_of_the_normaliser():
    logits = random_logits(3, 4)
    prior = torch.tensor([0.5, 0.0, 0.5, 0.0], dtype=torch.float64)
    expected = logits - torch.logsumexp(logits[:, [0, 2]] + math.log(0.5), -1, keepdim=True)
    torch.testing.assert_close(pc_log_softmax(logits, prior), expected)


def test_functions_do_not_mutate_their_inputs():
    logits, target, prior = random_logits(6, 4), random_targets(4, 6), PRIOR.clone()
    copies = logits.clone(), target.clone(), prior.clone()
    pc_log_softmax(logits, prior)
    pointwise_mutual_information(logits, target, prior)
    mutual_information(logits, target, prior)
    PCSoftmaxCrossEntropyLoss(prior)(logits, target)
    for before, after in zip(copies, (logits, target, prior), strict=True):
        assert torch.equal(before, after)


# --------------------------------------------------------------------------- PMI and MI


def brute_force_gaussian_pmi(x, y, means, std, prior):
    """log p(y|x) - log pi_y from the textbook densities, in NumPy, no log-sum-exp."""
    x, means, std, prior = (np.asarray(a, dtype=np.float64) for a in (x, means, std, prior))
    d = x.shape[1]
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    density = np.exp(-sq / (2 * std**2)) / (2 * np.pi * std**2) ** (d / 2)
    joint = prior * density
    posterior = joint / joint.sum(1, keepdims=True)
    rows = np.arange(len(y))
    return np.log(posterior[rows, y] / prior[y])


@pytest.mark.parametrize("std", [1.0, [0.7, 1.0, 1.3]])
def test_pmi_of_exact_bayes_logits_is_the_true_pmi(std):
    mixture = GaussianMixture(
        [[0.0, 1.0], [1.5, -0.5], [-1.0, 0.0]], std=std, class_prior=[2, 5, 3]
    )
    x, y = mixture.sample(400, seed=3, dtype=torch.float64)
    bayes_logits = mixture.log_likelihoods(x)
    expected = brute_force_gaussian_pmi(x, y, mixture.means, mixture.std, mixture.class_prior)
    got = pointwise_mutual_information(bayes_logits, y, mixture.class_prior)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-10)
    # any per-input constant added to the logits cancels
    shifted = bayes_logits + 5 * x[:, :1]
    torch.testing.assert_close(pointwise_mutual_information(shifted, y, [2, 5, 3]), got)
    torch.testing.assert_close(mutual_information(bayes_logits, y, mixture.class_prior), got.mean())


def test_pmi_gathers_pc_log_softmax_on_any_leading_shape():
    logits, target = random_logits(2, 3, 4), random_targets(4, 2, 3)
    full = pc_log_softmax(logits, PRIOR)
    expected = torch.stack(
        [torch.stack([full[i, j, target[i, j]] for j in range(3)]) for i in range(2)]
    )
    torch.testing.assert_close(pointwise_mutual_information(logits, target, PRIOR), expected)


def test_mutual_information_with_uniform_prior_is_log_k_minus_cross_entropy():
    logits, labels = random_logits(50, 4), random_targets(4, 50)
    expected = math.log(4) - F.cross_entropy(logits, labels)
    torch.testing.assert_close(mutual_information(logits, labels), expected)
    torch.testing.assert_close(
        mutual_information(logits, labels, unit="bits"), expected / math.log(2)
    )


def test_mutual_information_is_differentiable():
    logits = random_logits(8, 4).requires_grad_()
    mutual_information(logits, random_targets(4, 8), PRIOR).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(8, 5), (3, 5, 4, 2), (5,)])
def test_loss_with_uniform_prior_is_cross_entropy_minus_log_k(reduction, shape):
    logits = random_logits(*shape)
    class_dim = 0 if len(shape) == 1 else 1
    target_shape = shape[:class_dim] + shape[class_dim + 1 :]
    target = random_targets(5, *target_shape)
    if target.dim() > 0:
        target.view(-1)[::3] = -100  # ignored entries
    cross_entropy = nn.CrossEntropyLoss(reduction=reduction)(logits, target)
    pc = PCSoftmaxCrossEntropyLoss(None, reduction=reduction)(logits, target)
    kept = (target != -100).to(logits.dtype)
    if reduction == "none":
        expected = cross_entropy - math.log(5) * kept  # ignored entries stay 0
    elif reduction == "sum":
        expected = cross_entropy - math.log(5) * kept.sum()
    else:
        expected = cross_entropy - math.log(5)
    torch.testing.assert_close(pc, expected)
    pc_uniform = PCSoftmaxCrossEntropyLoss([0.2] * 5, reduction=reduction)(logits, target)
    torch.testing.assert_close(pc_uniform, expected)


def test_loss_with_probability_targets_matches_cross_entropy():
    logits = random_logits(6, 5)
    target = torch.softmax(random_logits(6, 5, seed=4), -1)
    expected = F.cross_entropy(logits, target) - math.log(5)
    torch.testing.assert_close(PCSoftmaxCrossEntropyLoss(None)(logits, target), expected)
    # one-hot probabilities give the class-index loss under any prior
    labels = random_targets(4, 6)
    criterion = PCSoftmaxCrossEntropyLoss(PRIOR)
    one_hot = F.one_hot(labels, 4).double()
    logits4 = random_logits(6, 4)
    torch.testing.assert_close(criterion(logits4, one_hot), criterion(logits4, labels))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4, 2), (2, 5, 3), (5,)])
def test_loss_with_probability_targets_of_any_shape_is_cross_entropy_minus_log_k(reduction, shape):
    logits = random_logits(*shape)
    class_dim = 0 if len(shape) == 1 else 1
    target = torch.softmax(random_logits(*shape, seed=4), class_dim)
    cross_entropy = nn.CrossEntropyLoss(reduction=reduction)(logits, target)
    pc = PCSoftmaxCrossEntropyLoss(None, reduction=reduction)(logits, target)
    # every element's probabilities sum to one, so each loses exactly log K
    expected_shift = math.log(5) * (target.sum(class_dim).sum() if reduction == "sum" else 1)
    assert pc.shape == cross_entropy.shape
    torch.testing.assert_close(pc, cross_entropy - expected_shift)


def test_loss_rejects_a_target_whose_class_has_zero_prior():
    logits = random_logits(4, 2)
    criterion = PCSoftmaxCrossEntropyLoss([1.0, 0.0])
    with pytest.raises(ValueError, match="target holds class 1, whose class_prior is 0"):
        criterion(logits, torch.tensor([0, 1, 0, 0]))
    # the loss really is unbounded below there: raising the logit of class 1 lowers it forever
    z = torch.zeros(1, 2, dtype=torch.float64)
    log_q = [pc_log_softmax(z + torch.tensor([[0.0, big]]), [1.0, 0.0])[0, 1] for big in (1, 100)]
    assert float(-log_q[1]) < float(-log_q[0]) - 98
    # ignored targets and targets of the classes with a positive prior are fine
    loss = PCSoftmaxCrossEntropyLoss([1.0, 0.0], ignore_index=1)(logits, torch.tensor([0, 1, 0, 0]))
    assert torch.isfinite(loss)
    assert torch.isfinite(criterion(logits, torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"mass on classes \[1\], whose class_prior is 0"):
        criterion(logits, torch.tensor([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [1.0, 0.0]]))
    one_hot = F.one_hot(torch.zeros(4, dtype=torch.long), 2).double()
    torch.testing.assert_close(criterion(logits, one_hot), criterion(logits, one_hot.argmax(1)))


def test_loss_is_minus_mean_pmi_and_all_ignored_mean_is_nan():
    logits, target = random_logits(10, 4), random_targets(4, 10)
    criterion = PCSoftmaxCrossEntropyLoss(PRIOR)
    torch.testing.assert_close(
        criterion(logits, target), -pointwise_mutual_information(logits, target, PRIOR).mean()
    )
    assert torch.isnan(criterion(logits, torch.full((10,), -100)))


def test_loss_gradient_matches_closed_form_and_autograd_of_the_formula():
    logits = random_logits(9, 4).requires_grad_()
    target = random_targets(4, 9)
    target[2] = 7  # a custom ignore_index
    kept = target != 7
    loss = PCSoftmaxCrossEntropyLoss(PRIOR, reduction="sum", ignore_index=7)(logits, target)
    (grad,) = torch.autograd.grad(loss, logits)
    # d/dz_k [-z_y + log sum_j pi_j e^{z_j}] = pi_k e^{z_k} / sum_j pi_j e^{z_j} - [k == y]
    weights = PRIOR * logits.detach().exp()
    closed_form = weights / weights.sum(-1, keepdim=True) - F.one_hot(target.clamp(max=3), 4)
    closed_form[~kept] = 0
    torch.testing.assert_close(grad, closed_form)
    # autograd of the formula written out naively
    z = logits.detach().clone().requires_grad_()
    naive = -(z.gather(1, target.clamp(max=3)[:, None]).squeeze(1))
    naive = naive + torch.log((PRIOR * z.exp()).sum(-1))
    naive[kept].sum().backward()
    torch.testing.assert_close(grad, z.grad)


def test_loss_passes_gradcheck():
    logits = random_logits(4, 3, 2).requires_grad_()
    target = random_targets(3, 4, 2)
    criterion = PCSoftmaxCrossEntropyLoss([1.0, 2.0, 3.0])
    assert torch.autograd.gradcheck(lambda z: criterion(z, target), (logits,))


def test_loss_prior_is_a_normalised_buffer_that_follows_the_module():
    criterion = PCSoftmaxCrossEntropyLoss([5000, 10000, 15000])
    assert dict(criterion.named_buffers())["class_prior"].tolist() == pytest.approx(
        [1 / 6, 1 / 3, 1 / 2]
    )
    assert "class_prior" in criterion.state_dict()
    criterion = criterion.to(torch.float64)
    assert criterion.class_prior.dtype == torch.float64
    logits = random_logits(5, 3, dtype=torch.float32)  # the prior is cast to the logits' dtype
    assert criterion(logits, random_targets(3, 5)).dtype == torch.float32
    assert "num_classes=3" in repr(criterion)


def test_pc_loss_training_recovers_a_balanced_classifier_on_imbalanced_data():
    """PC-softmax logits model log p(x|y): their argmax ignores the training imbalance."""
    mixture = GaussianMixture([[0.0], [1.0]], class_prior=[1, 9])
    x, y = mixture.sample(class_counts=[1000, 9000], seed=0, dtype=torch.float64)
    counts = [1000, 9000]
    for loss_fn, threshold in [
        (PCSoftmaxCrossEntropyLoss(counts), 0.5),
        (PCSoftmaxCrossEntropyLoss(None), 0.5 - math.log(9)),
    ]:
        model = fit_logistic_regression(x, y, loss_fn, num_classes=2)
        w, b = model.weight.detach(), model.bias.detach()
        boundary = -(b[1] - b[0]) / (w[1, 0] - w[0, 0])  # z_1 == z_0
        # Bayes boundary of equal-variance Gaussians at 0 and 1: 0.5 + log(pi_0 / pi_1)
        assert float(boundary) == pytest.approx(threshold, abs=0.1)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("prior", "error", "match"),
    [
        ([0.5, -0.1, 0.3, 0.3], ValueError, "non-negative"),
        ([0.0, 0.0, 0.0, 0.0], ValueError, "positive sum"),
        ([0.5, float("nan"), 0.3, 0.2], ValueError, "finite"),
        ([0.5, float("inf"), 0.3, 0.2], ValueError, "finite"),
        ([0.5, 0.5], ValueError, "one entry per class"),
        ([[0.25, 0.25], [0.25, 0.25]], ValueError, "class_prior"),
        (["a", "b", "c", "d"], TypeError, "class_prior"),
    ],
)
def test_invalid_priors_are_rejected_everywhere(prior, error, match):
    logits, target = random_logits(3, 4), random_targets(4, 3)
    with pytest.raises(error, match=match):
        pc_log_softmax(logits, prior)
    with pytest.raises(error, match=match):
        pointwise_mutual_information(logits, target, prior)
    with pytest.raises(error, match=match):
        mutual_information(logits, target, prior)
    with pytest.raises((ValueError, TypeError), match="class_prior"):
        PCSoftmaxCrossEntropyLoss(prior)(logits, target)
    with pytest.raises((ValueError, TypeError), match="class_prior"):
        StreamingMutualInformation(prior).update(logits, target)


@pytest.mark.parametrize("bad", [4, -1, -100])
def test_out_of_range_targets_are_rejected(bad):
    logits, target = random_logits(3, 4), random_targets(4, 3)
    target[1] = bad
    with pytest.raises(ValueError, match=rf"target must lie in \[0, 4\).*{bad}"):
        pointwise_mutual_information(logits, target)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        StreamingMutualInformation().update(logits, target)
    criterion = PCSoftmaxCrossEntropyLoss(None)
    if bad == -100:
        criterion(logits, target)  # the default ignore_index is allowed
    else:
        with pytest.raises(ValueError, match=r"ignore_index=-100.*got"):
            criterion(logits, target)


def test_shape_dtype_and_argument_errors():
    logits, target = random_logits(3, 4), random_targets(4, 3)
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        pointwise_mutual_information(logits, target[:2])
    with pytest.raises(TypeError, match="integer class indices"):
        pointwise_mutual_information(logits, target.double())
    with pytest.raises(TypeError, match="logits must have a floating dtype"):
        mutual_information(target[:, None].expand(3, 4), target)
    with pytest.raises(ValueError, match="at least one example"):
        mutual_information(logits[:0], target[:0])
    with pytest.raises(ValueError, match="unit must be one of"):
        mutual_information(logits, target, unit="hartleys")
    with pytest.raises(ValueError, match="class_prior has 3 classes but the logits have 4"):
        PCSoftmaxCrossEntropyLoss([1, 1, 1])(logits, target)
    with pytest.raises(ValueError, match="reduction must be one of"):
        PCSoftmaxCrossEntropyLoss(None, reduction="max")
    with pytest.raises(ValueError, match="target probabilities must have the input's shape"):
        PCSoftmaxCrossEntropyLoss(None)(logits, torch.rand(3, 5))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        PCSoftmaxCrossEntropyLoss(None)(logits, target[:, None])


# --------------------------------------------------------------------------- streaming


def test_streaming_estimate_equals_one_shot_estimate():
    logits, labels = random_logits(103, 4), random_targets(4, 103)
    estimator = StreamingMutualInformation(PRIOR)
    for chunk_logits, chunk_labels in zip(logits.split(17), labels.split(17), strict=True):
        estimator.update(chunk_logits.float(), chunk_labels)
    assert estimator.num_samples == 103
    pmi = pointwise_mutual_information(logits, labels, PRIOR)
    torch.testing.assert_close(estimator.compute(), pmi.mean(), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        estimator.standard_error(), pmi.std() / math.sqrt(103), atol=1e-6, rtol=0
    )
    bits = StreamingMutualInformation(PRIOR, unit="bits")
    bits.update(logits, labels)
    torch.testing.assert_close(bits.compute(), pmi.mean() / math.log(2))
    estimator.reset()
    with pytest.raises(RuntimeError, match="call update"):
        estimator.compute()
    estimator.update(logits[:5], labels[:5])  # usable again after reset
    torch.testing.assert_close(estimator.compute(), pmi[:5].mean())


def test_streaming_number_of_classes_is_fixed_by_the_first_batch_without_a_prior():
    estimator = StreamingMutualInformation()
    estimator.update(random_logits(5, 4), random_targets(4, 5))
    with pytest.raises(ValueError, match="logits have 3 classes but earlier batches had 4"):
        estimator.update(random_logits(5, 3), random_targets(3, 5))
    assert estimator.num_samples == 5  # the rejected batch left no trace
    estimator.reset()
    estimator.update(random_logits(5, 3), random_targets(3, 5))  # a new problem after reset
    expected = pointwise_mutual_information(random_logits(5, 3), random_targets(3, 5)).mean()
    torch.testing.assert_close(estimator.compute(), expected)
    with pytest.raises(ValueError, match="class_prior has 4 classes but the logits have 3"):
        StreamingMutualInformation(PRIOR).update(random_logits(5, 3), random_targets(3, 5))
    with pytest.raises(TypeError, match="sync must be a bool"):
        StreamingMutualInformation(sync=1)


def test_estimators_compute_half_precision_logits_in_float32():
    logits, labels = random_logits(400, 4, dtype=torch.float32), random_targets(4, 400)
    for dtype in (torch.bfloat16, torch.float16):
        low = logits.to(dtype)
        expected = pointwise_mutual_information(low.double(), labels, PRIOR)
        got = pointwise_mutual_information(low, labels, PRIOR)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=0)
        estimate = mutual_information(low, labels, PRIOR)
        assert estimate.dtype == torch.float32
        torch.testing.assert_close(estimate.double(), expected.mean(), atol=1e-6, rtol=0)
        streaming = StreamingMutualInformation(PRIOR)
        streaming.update(low, labels)
        torch.testing.assert_close(streaming.compute(), expected.mean(), atol=1e-6, rtol=0)


def _distributed_worker(rank, world_size, port, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # a collective that one rank calls alone fails after the timeout instead of hanging
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=30))
    try:
        logits, labels = random_logits(30, 4), random_targets(4, 30)
        shard = slice(0, 11) if rank == 0 else slice(11, 30)  # unequal shards
        if rank == 0:  # rank-0-only evaluation: no collective, this rank's examples only
            local = StreamingMutualInformation(PRIOR, sync=False)
            local.update(logits[shard], labels[shard])
            torch.save(torch.stack([local.compute(), local.standard_error()]),
                       os.path.join(result_dir, "local.pt"))  # fmt: skip
        estimator = StreamingMutualInformation(PRIOR)
        estimator.update(logits[shard], labels[shard])
        result = torch.stack([estimator.compute(), estimator.standard_error()])
        torch.save(result, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_streaming_estimator_sums_its_state_across_gloo_processes():
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    with tempfile.TemporaryDirectory() as result_dir:
        mp.spawn(_distributed_worker, args=(2, _free_port(), result_dir), nprocs=2, join=True)
        results = [torch.load(os.path.join(result_dir, f"rank{r}.pt")) for r in range(2)]
        local = torch.load(os.path.join(result_dir, "local.pt"))
    pmi = pointwise_mutual_information(random_logits(30, 4), random_targets(4, 30), PRIOR)
    expected = torch.stack([pmi.mean(), pmi.std() / math.sqrt(30)])
    for result in results:  # every rank gets the whole dataset's estimate
        torch.testing.assert_close(result, expected)
    torch.testing.assert_close(
        local, torch.stack([pmi[:11].mean(), pmi[:11].std() / math.sqrt(11)])
    )


# --------------------------------------------------------------------------- devices


@pytest.mark.cuda
def test_cuda_matches_cpu():
    logits, labels = random_logits(64, 4), random_targets(4, 64)
    criterion = PCSoftmaxCrossEntropyLoss([1, 2, 3, 4])
    expected = criterion(logits, labels)
    cuda = torch.device("cuda")
    got = criterion.to(cuda)(logits.to(cuda), labels.to(cuda))
    assert criterion.class_prior.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected)
    prior = torch.tensor([1.0, 2.0, 3.0, 4.0], device=cuda)
    torch.testing.assert_close(
        mutual_information(logits.to(cuda), labels.to(cuda), prior).cpu(),
        mutual_information(logits, labels, [1, 2, 3, 4]),
    )
    estimator = StreamingMutualInformation([1, 2, 3, 4])
    estimator.update(logits.to(cuda), labels.to(cuda))
    assert estimator.compute().device.type == "cuda"


# --------------------------------------------------------------------------- Gaussian experiment


def test_short_gaussian_experiment_linear_model_meets_the_error_bound():
    """The synthetic experiment of the paper, small: linear models within 0.005 nats."""
    mixture = mi_benchmark_mixture(dim=2, imbalanced=True)
    counts = [1000, 2000, 3000, 4000, 5000]
    x, y = mixture.sample(class_counts=counts, seed=0, dtype=torch.float64)
    x_eval, y_eval = mixture.sample(200_000, seed=1, dtype=torch.float64)
    truth = mixture.mutual_information(num_samples=400_000, seed=2)
    true_pmi = mixture.pointwise_mutual_information(x_eval, y_eval)

    pc_model = fit_logistic_regression(x, y, PCSoftmaxCrossEntropyLoss(counts))
    sce_model = fit_logistic_regression(x, y, nn.CrossEntropyLoss())
    with torch.no_grad():
        pc_pmi = pointwise_mutual_information(pc_model(x_eval), y_eval, counts)
        sce_pmi = pointwise_mutual_information(sce_model(x_eval), y_eval)  # uniform prior
    # the estimate on a large evaluation sample against the Monte Carlo truth
    assert abs(float(pc_pmi.mean()) - truth.value) <= 0.005
    # the model's own error, free of sampling noise: paired with the exact PMI
    assert abs(float((pc_pmi - true_pmi).mean())) <= 0.002
    # plain SCE overshoots by log K - H(Y) (0.12 nats here)
    bias = math.log(5) - mixture.class_entropy()
    assert float((sce_pmi - true_pmi).mean()) == pytest.approx(bias, abs=0.005)
