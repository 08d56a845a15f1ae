"""The identities of DESIGN.md section 2 against brute-force loops over positions and classes."""

from __future__ import annotations

import math

import pytest
import torch

from captum_infocam import maps

REGION_SIZES = [1, 2, 3, 4, 5, 8, None]


def random_head(seed: int, n=3, c=6, k=5, h=7, w=6, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    activations = torch.randn(n, c, h, w, generator=gen, dtype=dtype).relu()
    weight = torch.randn(k, c, generator=gen, dtype=dtype)
    bias = torch.randn(k, generator=gen, dtype=dtype)
    target = torch.randint(k, (n,), generator=gen)
    return activations, weight, bias, target


def window(i: int, size: int | None, length: int) -> range:
    """Rows (or columns) of the window at ``i``: centred when odd, ``padding='same'`` when even."""
    if size is None:
        return range(length)
    before = (size - 1) // 2
    return range(max(0, i - before), min(length, i - before + size))


def brute_region_scores(activations, weight, bias, size):
    """s_k(i,j) = mean over the clipped window of sum_c W_kc A_c + b_k, position by position."""
    n, _, h, w = activations.shape
    k = weight.shape[0]
    out = torch.empty(n, k, h, w, dtype=activations.dtype)
    for i in range(h):
        for j in range(w):
            rows, cols = window(i, size, h), window(j, size, w)
            region = activations[:, :, rows.start : rows.stop, cols.start : cols.stop]
            out[:, :, i, j] = region.mean(dim=(2, 3)) @ weight.T + bias
    return out


@pytest.mark.parametrize("size", REGION_SIZES)
def test_region_mean_matches_brute_force(size):
    activations, weight, bias, _ = random_head(0)
    got = (
        maps.region_mean(maps.class_activation_maps(activations, weight), size)
        + bias[None, :, None, None]
    )
    torch.testing.assert_close(got, brute_region_scores(activations, weight, bias, size))


def test_region_mean_keeps_constant_maps_and_window_larger_than_map():
    constant = torch.full((2, 3, 4, 5), 2.5, dtype=torch.float64)
    for size in (2, 3, 9, 20):
        torch.testing.assert_close(maps.region_mean(constant, size), constant)
    ramp = torch.arange(20.0, dtype=torch.float64).reshape(1, 1, 4, 5)
    torch.testing.assert_close(maps.region_mean(ramp, 20), maps.region_mean(ramp, None))


def test_cam_mean_plus_bias_is_logit():
    activations, weight, bias, _ = random_head(1)
    cams = maps.class_activation_maps(activations, weight)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    torch.testing.assert_close(cams.mean(dim=(2, 3)) + bias, logits)


def test_target_cam_is_a_channel_of_all_cams():
    activations, weight, _, target = random_head(2)
    one = maps.class_activation_map(activations, weight, target)
    every = maps.class_activation_maps(activations, weight)
    torch.testing.assert_close(one[:, 0], every[torch.arange(len(target)), target])


@pytest.mark.parametrize("size", REGION_SIZES)
@pytest.mark.parametrize("prior", [None, [0.1, 0.2, 0.3, 0.15, 0.25], [3, 1, 1, 1, 10]])
def test_pmi_maps_match_brute_force(size, prior):
    activations, weight, bias, target = random_head(3)
    scores = brute_region_scores(activations, weight, bias, size)
    pi = torch.full((5,), 0.2, dtype=torch.float64) if prior is None else torch.tensor(prior)
    pi = (pi / pi.sum()).double()
    expected = torch.empty_like(scores)
    for k in range(5):  # PMI_k = s_k - log sum_k' pi_k' exp s_k'
        expected[:, k] = scores[:, k] - torch.log(
            sum(pi[j] * torch.exp(scores[:, j]) for j in range(5))
        )
    torch.testing.assert_close(maps.pmi_maps(activations, weight, bias, prior, size), expected)
    one = maps.pmi_map(activations, weight, bias, target, prior, size)
    torch.testing.assert_close(one[:, 0], expected[torch.arange(3), target])


def test_whole_map_pmi_is_log_softmax_plus_log_k():
    activations, weight, bias, _ = random_head(4)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    pmi = maps.pmi_maps(activations, weight, bias, None, None)
    expected = torch.log_softmax(logits, dim=1) + math.log(5)
    torch.testing.assert_close(pmi, expected[:, :, None, None].expand_as(pmi))


@pytest.mark.parametrize("size", REGION_SIZES)
@pytest.mark.parametrize("contrast", ["mean", "least_likely", "none"])
def test_info_cam_matches_brute_force(size, contrast):
    activations, weight, bias, target = random_head(5)
    scores = brute_region_scores(activations, weight, bias, size)
    pmi = maps.pmi_maps(activations, weight, bias, [2, 1, 1, 3, 1], size)  # any prior cancels
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    expected = torch.empty(3, 1, *scores.shape[2:], dtype=torch.float64)
    for n, y in enumerate(target.tolist()):
        others = [k for k in range(5) if k != y]
        if contrast == "mean":
            expected[n, 0] = scores[n, y] - scores[n, others].mean(0)
            torch.testing.assert_close(expected[n, 0], pmi[n, y] - pmi[n, others].mean(0))
        elif contrast == "least_likely":
            least = min(others, key=lambda k: logits[n, k].item())
            expected[n, 0] = scores[n, y] - scores[n, least]
            torch.testing.assert_close(expected[n, 0], pmi[n, y] - pmi[n, least])
        else:
            expected[n, 0] = scores[n, y]
    got = maps.info_cam(activations, weight, bias, target, contrast, size)
    torch.testing.assert_close(got, expected)
    with_logits = maps.info_cam(activations, weight, bias, target, contrast, size, logits=logits)
    torch.testing.assert_close(with_logits, expected)


def test_whole_map_info_cam_is_logit_contrast():
    activations, weight, bias, target = random_head(6)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    z_y = logits.gather(1, target[:, None])[:, 0]
    expected = z_y - (logits.sum(1) - z_y) / 4
    got = maps.info_cam(activations, weight, bias, target, "mean", None)
    torch.testing.assert_close(got, expected[:, None, None, None].expand_as(got))


def test_least_likely_skips_the_target_even_when_it_is_least_likely():
    activations, weight, bias, _ = random_head(7)
    logits = activations.mean(dim=(2, 3)) @ weight.T + bias
    target = logits.argmin(1)
    got = maps.info_cam(activations, weight, bias, target, "least_likely", None)
    second = logits.scatter(1, target[:, None], math.inf).min(1).values
    expected = logits.gather(1, target[:, None])[:, 0] - second
    torch.testing.assert_close(got[:, 0, 0, 0], expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_agree(dtype):
    activations, weight, bias, target = random_head(8)
    reference = maps.info_cam(activations, weight, bias, target)
    got = maps.info_cam(activations.to(dtype), weight.to(dtype), bias.to(dtype), target)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(dtype):
    activations, weight, bias, target = random_head(9, c=64)
    reference = maps.pmi_map(activations, weight, bias, target)
    got = maps.pmi_map(activations.to(dtype), weight.to(dtype), bias.to(dtype), target)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), reference, rtol=0.05, atol=0.1)


def test_inputs_are_not_mutated():
    activations, weight, bias, target = random_head(10)
    copies = [t.clone() for t in (activations, weight, bias, target)]
    maps.info_cam(activations, weight, bias, target, "least_likely", 3)
    maps.pmi_map(activations, weight, bias, target, [1, 2, 3, 4, 5], 2)
    for original, copy in zip((activations, weight, bias, target), copies, strict=True):
        assert torch.equal(original, copy)


@pytest.mark.parametrize("size", [0, -1, 2.0, True, "3"])
def test_bad_region_size(size):
    activations, weight, bias, target = random_head(11)
    with pytest.raises(ValueError, match="region_size"):
        maps.info_cam(activations, weight, bias, target, region_size=size)


def test_bad_contrast_and_target():
    activations, weight, bias, target = random_head(12)
    with pytest.raises(ValueError, match="contrast"):
        maps.info_cam(activations, weight, bias, target, contrast="max")
    with pytest.raises(ValueError, match=r"target must lie in \[0, 5\)"):
        maps.info_cam(activations, weight, bias, torch.tensor([0, 5, 1]))
    with pytest.raises(
        ValueError, match=r"target must have shape \(\d+,\) \(one class per example\)"
    ):
        maps.info_cam(activations, weight, bias, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="target"):
        maps.info_cam(activations, weight, bias, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        maps.info_cam(activations, weight[:1], bias[:1], torch.zeros(3, dtype=torch.long))


def test_bad_shapes():
    activations, weight, bias, target = random_head(13)
    shape = r"activations must be a tensor of shape \(N, C, \*spatial\) with 1, 2 or 3 spatial"
    with pytest.raises(ValueError, match=shape):
        maps.info_cam(activations[0, 0], weight, bias, target)  # (h, w): no batch, no channels
    with pytest.raises(ValueError, match=shape):
        maps.info_cam(activations[..., None, None], weight, bias, target)  # 4 spatial dims
    with pytest.raises(ValueError, match="input channels"):
        maps.info_cam(activations, weight[:, :4], bias, target)
    with pytest.raises(ValueError, match="bias"):
        maps.pmi_maps(activations, weight, bias[:3])


@pytest.mark.parametrize(
    "prior, message",
    [
        ([0.5, -0.1, 0.2, 0.2, 0.2], "non-negative"),
        ([0, 0, 0, 0, 0], "positive sum"),
        ([1, float("nan"), 1, 1, 1], "finite"),
        ([0.5, 0.5], "one entry per class"),
    ],
)
def test_bad_prior(prior, message):
    activations, weight, bias, _ = random_head(14)
    with pytest.raises(ValueError, match=message):
        maps.pmi_maps(activations, weight, bias, prior)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    activations, weight, bias, target = random_head(15, dtype=torch.float32)
    for fn in (
        lambda *a: maps.info_cam(*a, "least_likely", 4),
        lambda *a: maps.pmi_map(*a, [1, 2, 3, 4, 5], 3),
    ):
        cpu = fn(activations, weight, bias, target)
        gpu = fn(*(t.cuda() for t in (activations, weight, bias, target)))
        assert gpu.is_cuda
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
