"""The contrast family (DESIGN.md section 8) against brute-force loops over examples and classes.

map = s_y - alpha * mean_{k in contrast} s_k, for the mean of the other classes, the least and
most likely other class, explicit contrast classes ``(N,)`` / ``(N, k)`` and no contrast.
"""

from __future__ import annotations

import math

import pytest
import torch

from captum_infocam import _kernels, gradient, maps

ALPHAS = [1.0, 0.5, 2.0, -0.25, 0.0]
K = 5


def random_head(seed, n=4, c=6, k=K, spatial=(5, 6), dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    activations = torch.randn(n, c, *spatial, generator=gen, dtype=dtype).relu()
    weight = torch.randn(k, c, generator=gen, dtype=dtype)
    bias = torch.randn(k, generator=gen, dtype=dtype)
    target = torch.randint(k, (n,), generator=gen)
    return activations, weight, bias, target


def explicit_classes(target, per_example):
    """Contrast classes different from each target: (N,) for 1, (N, k) otherwise (k may repeat)."""
    rows = [[(y + 1 + j) % K for j in range(per_example)] for y in target.tolist()]
    if per_example == 3:
        rows = [[row[0], row[1], row[0]] for row in rows]  # a repeated class counts twice
    classes = torch.tensor(rows)
    return classes[:, 0] if per_example == 1 else classes


def chosen_classes(contrast, logits, target):
    """The contrast classes of each example, by loops."""
    chosen = []
    for n, y in enumerate(target.tolist()):
        others = [k for k in range(K) if k != y]
        if isinstance(contrast, torch.Tensor):
            row = contrast[n]
            chosen.append([int(k) for k in (row if row.dim() else row[None])])
        else:
            chosen.append(
                {
                    "mean": others,
                    "least_likely": [min(others, key=lambda k: logits[n, k].item())],
                    "most_likely": [max(others, key=lambda k: logits[n, k].item())],
                    "none": [],
                }[contrast]
            )
    return chosen


def brute_scores(activations, weight, bias, region_size):
    """Region scores s_k(i, j) with clipped windows (None: the whole map), by loops."""
    n, _, h, w = activations.shape
    out = torch.empty(n, weight.shape[0], h, w, dtype=activations.dtype)
    for i in range(h):
        for j in range(w):
            if region_size is None:
                rows, cols = range(h), range(w)
            else:
                before = (region_size - 1) // 2
                rows = range(max(0, i - before), min(h, i - before + region_size))
                cols = range(max(0, j - before), min(w, j - before + region_size))
            region = activations[:, :, rows.start : rows.stop, cols.start : cols.stop]
            out[:, :, i, j] = region.mean(dim=(2, 3)) @ weight.T + bias
    return out


def brute_map(scores, target, chosen, alpha):
    expected = torch.empty(scores.shape[0], 1, *scores.shape[2:], dtype=scores.dtype)
    for n, y in enumerate(target.tolist()):
        contrast = sum(scores[n, k] for k in chosen[n]) / len(chosen[n]) if chosen[n] else 0
        expected[n, 0] = scores[n, y] - alpha * contrast if chosen[n] else scores[n, y]
    return expected


def contrasts_for(target):
    return [
        "mean",
        "least_likely",
        "most_likely",
        "none",
        explicit_classes(target, 1),
        explicit_classes(target, 2),
        explicit_classes(target, 3),
    ]


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("region_size", [1, 3, None])
def test_info_cam_matches_brute_force_for_every_contrast_and_strength(alpha, region_size):
    activations, weight, bias, target = random_head(1)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    scores = brute_scores(activations, weight, bias, region_size)
    for contrast in contrasts_for(target):
        expected = brute_map(scores, target, chosen_classes(contrast, logits, target), alpha)
        got = maps.info_cam(
            activations, weight, bias, target, contrast, region_size, contrast_weight=alpha
        )
        torch.testing.assert_close(got, expected)
        with_logits = maps.info_cam(
            activations, weight, bias, target, contrast, region_size, logits, contrast_weight=alpha
        )
        torch.testing.assert_close(with_logits, expected)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_whole_map_identities(alpha):
    activations, weight, bias, target = random_head(2)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    z_y = logits.gather(1, target[:, None])[:, 0]
    others = logits.scatter(1, target[:, None], math.nan)
    expected = {
        "mean": z_y - alpha * others.nansum(1) / (K - 1),
        "most_likely": z_y - alpha * others.nan_to_num(-math.inf).max(1).values,
        "least_likely": z_y - alpha * others.nan_to_num(math.inf).min(1).values,
        "none": z_y,
    }
    for contrast, value in expected.items():
        got = maps.info_cam(
            activations, weight, bias, target, contrast, None, contrast_weight=alpha
        )
        torch.testing.assert_close(got, value[:, None, None, None].expand_as(got))
        torch.testing.assert_close(
            maps.contrast_logit(logits, target, contrast, contrast_weight=alpha), value
        )
    classes = explicit_classes(target, 2)
    got = maps.contrast_logit(logits, target, classes, contrast_weight=alpha)
    torch.testing.assert_close(got, z_y - alpha * logits.gather(1, classes).mean(1))


def test_zero_strength_is_no_contrast_and_the_pmi_difference_is_the_map():
    activations, weight, bias, target = random_head(3)
    none = maps.info_cam(activations, weight, bias, target, "none")
    for contrast in contrasts_for(target):
        zero = maps.info_cam(activations, weight, bias, target, contrast, contrast_weight=0.0)
        torch.testing.assert_close(zero, none)
    # with alpha = 1 the map is a difference of PMI maps: the normaliser cancels, any prior
    pmi = maps.pmi_maps(activations, weight, bias, [1, 2, 3, 4, 5])
    classes = explicit_classes(target, 2)
    got = maps.info_cam(activations, weight, bias, target, classes)
    expected = pmi[torch.arange(4), target] - pmi[torch.arange(4)[:, None], classes].mean(1)
    torch.testing.assert_close(got[:, 0], expected)


def test_contrast_weights_are_one_vector_per_example():
    weight, bias = torch.randn(K, 3, dtype=torch.float64), torch.randn(K, dtype=torch.float64)
    target = torch.tensor([0, 3])
    logits = torch.tensor([[0.0, 1.0, 5.0, -2.0, 0.5], [9.0, 1.0, 5.0, 7.0, -0.5]])
    got, got_bias = maps.contrast_weights(
        weight, bias, target, "most_likely", logits, contrast_weight=0.5
    )
    torch.testing.assert_close(
        got, torch.stack([weight[0] - weight[2] / 2, weight[3] - weight[0] / 2])
    )
    torch.testing.assert_close(
        got_bias, torch.stack([bias[0] - bias[2] / 2, bias[3] - bias[0] / 2])
    )


def test_info_cam_never_builds_every_class_map(monkeypatch):
    """Every contrast is one weighted channel sum: the (N, K, h, w) class maps are never made."""
    activations, weight, bias, target = random_head(4)

    def refuse(*args, **kwargs):
        raise AssertionError("info_cam built the maps of every class")

    monkeypatch.setattr(_kernels, "class_activation_maps", refuse)
    calls = []
    channel_sum = _kernels.weighted_channel_sum
    monkeypatch.setattr(
        _kernels,
        "weighted_channel_sum",
        lambda a, w: calls.append(tuple(w.shape)) or channel_sum(a, w),
    )
    for contrast in contrasts_for(target):
        maps.info_cam(activations, weight, bias, target, contrast, contrast_weight=0.7)
    assert calls == [(4, 6)] * 7  # one (N, C) weight set per call


def test_gradient_module_reexports_the_same_functions():
    assert gradient.contrast_logit is maps.contrast_logit
    assert gradient.grad_cam_map is maps.grad_cam_map


def test_inputs_are_not_mutated():
    activations, weight, bias, target = random_head(5)
    classes = explicit_classes(target, 2)
    tensors = (activations, weight, bias, target, classes)
    copies = [t.clone() for t in tensors]
    maps.info_cam(activations, weight, bias, target, classes, 3, contrast_weight=0.5)
    maps.info_cam(activations, weight, bias, target, "most_likely", 2, padding="full")
    for original, copy in zip(tensors, copies, strict=True):
        assert torch.equal(original, copy)


# --------------------------------------------------------------------------- errors


def test_bad_contrast_classes():
    activations, weight, bias, target = random_head(6)
    good = explicit_classes(target, 2)
    cases = [
        (good.clone().fill_(K), ValueError, r"contrast classes must lie in \[0, 5\)"),
        (good - 10, ValueError, r"contrast classes must lie in \[0, 5\)"),
        (target, ValueError, "contrast classes must differ from the target: example 0"),
        (torch.cat([good[:, :1], target[:, None]], 1), ValueError, "must differ from the target"),
        (good[:3], ValueError, r"contrast classes must have shape \(4,\) or \(4, k\)"),
        (good[:, :0], ValueError, r"must have shape \(4,\) or \(4, k\) with k >= 1"),
        (good[:, :, None], ValueError, r"must have shape \(4,\) or \(4, k\)"),
        (good.double(), TypeError, "contrast classes must hold integer class indices"),
        (good > 1, TypeError, "contrast classes must hold integer class indices"),
        ("max", ValueError, "contrast must be one of .* or an integer tensor"),
        ("Mean", ValueError, "contrast must be one of"),
        ([1, 2, 3, 4], TypeError, "contrast must be one of .* got list"),
        (None, TypeError, "contrast must be one of .* got NoneType"),
    ]
    for contrast, error, message in cases:
        with pytest.raises(error, match=message):
            maps.info_cam(activations, weight, bias, target, contrast)
        logits = activations.mean(dim=(2, 3)) @ weight.T + bias
        with pytest.raises(error, match=message):
            maps.contrast_logit(logits, target, contrast)
        with pytest.raises(error, match=message):
            maps.contrast_weights(weight, bias, target, contrast, logits)


@pytest.mark.parametrize(
    "alpha", [math.nan, math.inf, -math.inf, "1", True, None, torch.tensor(1.0)]
)
def test_bad_contrast_weight(alpha):
    activations, weight, bias, target = random_head(7)
    error = ValueError if isinstance(alpha, float) else TypeError
    with pytest.raises(error, match="contrast_weight must be a finite real number"):
        maps.info_cam(activations, weight, bias, target, contrast_weight=alpha)
    with pytest.raises(error, match="contrast_weight must be a finite real number"):
        maps.contrast_logit(torch.zeros(4, K), target, "none", contrast_weight=alpha)


def test_logit_ranked_contrasts_need_logits_of_the_right_shape():
    weight, bias, target = torch.randn(K, 3), torch.randn(K), torch.tensor([0, 1])
    for contrast in ("least_likely", "most_likely"):
        with pytest.raises(ValueError, match=rf"contrast='{contrast}' needs the image-level"):
            maps.contrast_weights(weight, bias, target, contrast)
        with pytest.raises(ValueError, match=r"of shape \(2, 5\), got \(2, 4\)"):
            maps.contrast_weights(weight, bias, target, contrast, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at least 2 classes"):
        maps.contrast_logit(torch.zeros(2, 1), torch.tensor([0, 0]), "most_likely")
