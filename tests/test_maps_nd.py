"""Maps in 1, 2 and 3 spatial dimensions and the two border conventions, against brute force.

Every identity of DESIGN.md section 2 is checked in 1-D and 3-D against loops over positions and
classes written here; ``padding="full"`` is checked against the infoCAM authors' geometry as
DESIGN.md section 7 describes it (an all-ones window sum with zero padding ``s - 1``, no bias).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from captum_infocam import maps

SPATIAL = {1: (9,), 2: (5, 6), 3: (3, 4, 5)}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def random_head(seed, spatial, n=3, c=5, k=4, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    activations = torch.randn(n, c, *spatial, generator=gen, dtype=dtype).relu()
    weight = torch.randn(k, c, generator=gen, dtype=dtype)
    bias = torch.randn(k, generator=gen, dtype=dtype)
    target = torch.randint(k, (n,), generator=gen)
    return activations, weight, bias, target


def sides(region_size, dims):
    if region_size is None or isinstance(region_size, tuple):
        return region_size
    return (region_size,) * dims


def window(position, side, length, padding):
    """Input positions of one dimension in the window at ``position`` (clipped to the map)."""
    # "full": output o covers o - s + 1 .. o; "same": centred for odd sides, s/2 - 1 before
    # and s/2 after for even sides
    start = position - side + 1 if padding == "full" else position - (side - 1) // 2
    return range(max(0, start), min(length, start + side))


def brute_region_scores(activations, weight, bias, region_size, padding="same"):
    """s_k(p) = W_k . (window mean of the features, zeros outside for "full") + b_k, by loops."""
    spatial = activations.shape[2:]
    size = sides(region_size, len(spatial))
    if size is None:
        logits = activations.mean(dim=tuple(range(2, activations.dim()))) @ weight.T + bias
        return logits.reshape(*logits.shape, *[1] * len(spatial)).expand(-1, -1, *spatial)
    grown = [n + s - 1 if padding == "full" else n for n, s in zip(spatial, size, strict=True)]
    out = torch.empty(activations.shape[0], weight.shape[0], *grown, dtype=activations.dtype)
    for position in itertools.product(*(range(n) for n in grown)):
        ranges = [window(p, s, n, padding) for p, s, n in zip(position, size, spatial, strict=True)]
        region = activations[(slice(None), slice(None), *(slice(r.start, r.stop) for r in ranges))]
        count = math.prod(size) if padding == "full" else math.prod(len(r) for r in ranges)
        features = region.sum(dim=tuple(range(2, region.dim()))) / count
        out[(slice(None), slice(None), *position)] = features @ weight.T + bias
    return out


def logits_of(activations, weight, bias):
    return activations.mean(dim=tuple(range(2, activations.dim()))) @ weight.T + bias


def per_example(values, like):
    return values.reshape(-1, *[1] * (like.dim() - 1))


# --------------------------------------------------------------------------- region_mean


WINDOWS = [  # padding="full" needs a window: None goes with "same" only
    (padding, size)
    for padding in ("same", "full")
    for size in (1, 2, 3, 4, 12, (2, 3, 1), None)
    if size is not None or padding == "same"
]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize(("padding", "region_size"), WINDOWS)
def test_region_scores_match_brute_force(dims, padding, region_size):
    if isinstance(region_size, tuple):
        region_size = region_size[:dims]
    activations, weight, bias, _ = random_head(dims, SPATIAL[dims])
    cams = maps.class_activation_maps(activations, weight)
    got = maps.region_mean(cams, region_size, padding=padding)
    got = got + bias.reshape(1, -1, *[1] * dims)
    expected = brute_region_scores(activations, weight, bias, region_size, padding)
    torch.testing.assert_close(got, expected)
    # the windowed class maps are the same box filter of the same CAMs
    windowed = maps.class_activation_maps(
        activations, weight, region_size=region_size, padding=padding
    )
    torch.testing.assert_close(windowed + bias.reshape(1, -1, *[1] * dims), expected)


@pytest.mark.parametrize("dims", [1, 3])
def test_region_mean_keeps_constant_maps_and_full_sums_every_position_s_times(dims):
    constant = torch.full((2, 3, *SPATIAL[dims]), 2.5, dtype=torch.float64)
    for size in (2, 3, 20, (1, 2, 3)[:dims]):
        torch.testing.assert_close(maps.region_mean(constant, size), constant)
    ramp = torch.randn(2, 3, *SPATIAL[dims], dtype=torch.float64)
    # "full": every input position lies in exactly prod(s) windows of prod(s) positions each
    full = maps.region_mean(ramp, 3, padding="full")
    spatial = tuple(range(2, 2 + dims))
    torch.testing.assert_close(full.sum(dim=spatial), ramp.sum(dim=spatial))
    assert full.shape[2:] == tuple(n + 2 for n in SPATIAL[dims])


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("dims", [1, 3])
def test_cam_mean_plus_bias_is_logit(dims):
    activations, weight, bias, target = random_head(10 + dims, SPATIAL[dims])
    cams = maps.class_activation_maps(activations, weight)
    assert cams.shape == (3, 4, *SPATIAL[dims])
    spatial = tuple(range(2, 2 + dims))
    torch.testing.assert_close(cams.mean(dim=spatial) + bias, logits_of(activations, weight, bias))
    one = maps.class_activation_map(activations, weight, target)
    torch.testing.assert_close(one[:, 0], cams[torch.arange(3), target])


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("padding", ["same", "full"])
@pytest.mark.parametrize("region_size", [1, 2, 3, None])
@pytest.mark.parametrize("prior", [None, [1, 2, 3, 4]])
def test_pmi_maps_match_brute_force(dims, padding, region_size, prior):
    if padding == "full" and region_size is None:
        return
    activations, weight, bias, target = random_head(20 + dims, SPATIAL[dims])
    scores = brute_region_scores(activations, weight, bias, region_size, padding)
    pi = torch.full((4,), 0.25, dtype=torch.float64) if prior is None else torch.tensor(prior)
    pi = (pi / pi.sum()).double()
    expected = torch.empty_like(scores)
    for k in range(4):  # PMI_k = s_k - log sum_k' pi_k' exp s_k'
        expected[:, k] = scores[:, k] - torch.log(
            sum(pi[j] * torch.exp(scores[:, j]) for j in range(4))
        )
    got = maps.pmi_maps(activations, weight, bias, prior, region_size, padding=padding)
    torch.testing.assert_close(got, expected)
    one = maps.pmi_map(activations, weight, bias, target, prior, region_size, padding=padding)
    torch.testing.assert_close(one[:, 0], expected[torch.arange(3), target])


@pytest.mark.parametrize("dims", [1, 3])
def test_whole_map_pmi_is_log_softmax_plus_log_k_or_log_q_pc(dims):
    activations, weight, bias, _ = random_head(30 + dims, SPATIAL[dims])
    logits = logits_of(activations, weight, bias)
    pmi = maps.pmi_maps(activations, weight, bias, None, None)
    expected = torch.log_softmax(logits, dim=1) + math.log(4)
    torch.testing.assert_close(pmi, expected.reshape(3, 4, *[1] * dims).expand_as(pmi))
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    pmi = maps.pmi_maps(activations, weight, bias, prior, None)
    log_q = logits - torch.logsumexp(logits + prior.log(), dim=1, keepdim=True)
    torch.testing.assert_close(pmi, log_q.reshape(3, 4, *[1] * dims).expand_as(pmi))


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("padding", ["same", "full"])
@pytest.mark.parametrize("region_size", [1, 2, 3, None])
@pytest.mark.parametrize("contrast", ["mean", "least_likely", "most_likely", "none"])
def test_info_cam_matches_brute_force(dims, padding, region_size, contrast):
    if padding == "full" and region_size is None:
        return
    activations, weight, bias, target = random_head(40 + dims, SPATIAL[dims])
    scores = brute_region_scores(activations, weight, bias, region_size, padding)
    pmi = maps.pmi_maps(activations, weight, bias, [2, 1, 1, 3], region_size, padding=padding)
    logits = logits_of(activations, weight, bias)
    expected = torch.empty(3, 1, *scores.shape[2:], dtype=torch.float64)
    for n, y in enumerate(target.tolist()):
        others = [k for k in range(4) if k != y]
        chosen = {
            "mean": others,
            "least_likely": [min(others, key=lambda k: logits[n, k].item())],
            "most_likely": [max(others, key=lambda k: logits[n, k].item())],
            "none": [],
        }[contrast]
        expected[n, 0] = scores[n, y] - sum((scores[n, k] for k in chosen), 0) / max(len(chosen), 1)
        if chosen:  # the log-normaliser of the PMI cancels: any prior gives the same map
            torch.testing.assert_close(expected[n, 0], pmi[n, y] - pmi[n, chosen].mean(0))
    got = maps.info_cam(activations, weight, bias, target, contrast, region_size, padding=padding)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("dims", [1, 3])
def test_whole_map_info_cam_is_logit_contrast(dims):
    activations, weight, bias, target = random_head(50 + dims, SPATIAL[dims])
    logits = logits_of(activations, weight, bias)
    z_y = logits.gather(1, target[:, None])[:, 0]
    expected = z_y - (logits.sum(1) - z_y) / 3
    got = maps.info_cam(activations, weight, bias, target, "mean", None)
    torch.testing.assert_close(got, per_example(expected, got).expand_as(got))


@pytest.mark.parametrize("dims", [1, 3])
def test_info_cam_with_tuple_window_is_a_box(dims):
    activations, weight, bias, target = random_head(60 + dims, SPATIAL[dims])
    size = (3, 1, 2)[:dims]
    got = maps.info_cam(activations, weight, bias, target, "none", size)
    scores = brute_region_scores(activations, weight, bias, size)
    torch.testing.assert_close(got[:, 0], scores[torch.arange(3), target])


# --------------------------------------------------------------------------- the authors' geometry


def min_max(maps_):
    flat = maps_.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - low) / (high - low)).reshape(maps_.shape)


def authors_window_sum(activations, weight, target, contrast, logits, side):
    """The authors' map as DESIGN.md section 7 describes it: the (contrast) class activation map
    without bias, summed over each s x s window by an all-ones convolution with zero padding
    s - 1, so the map grows to (h + s - 1) x (w + s - 1)."""
    rows = []
    for n, y in enumerate(target.tolist()):
        others = [k for k in range(weight.shape[0]) if k != y]
        if contrast == "mean":  # --sub-oth-cams
            contrast_weight = weight[y] - weight[others].mean(0)
        elif contrast == "least_likely":  # --max-cam (a target that is not the least likely)
            least = min(others, key=lambda k: logits[n, k].item())
            contrast_weight = weight[y] - weight[least]
        else:  # neither flag: the plain windowed CAM
            contrast_weight = weight[y]
        rows.append(torch.einsum("c,c...->...", contrast_weight, activations[n]))
    cam = torch.stack(rows)[:, None]
    dims = cam.dim() - 2
    ones = torch.ones(1, 1, *[side] * dims, dtype=cam.dtype)
    return CONV[dims](cam, ones, padding=side - 1)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("side", [2, 3, 4])
@pytest.mark.parametrize("contrast", ["mean", "least_likely", "none"])
def test_full_padding_is_the_authors_map_after_min_max(dims, side, contrast):
    spatial = {1: (14,), 2: (14, 14), 3: (4, 6, 5)}[dims]
    activations, weight, bias, target = random_head(70 + dims, spatial, k=6)
    logits = logits_of(activations, weight, bias)
    theirs = authors_window_sum(activations, weight, target, contrast, logits, side)
    ours = maps.info_cam(activations, weight, bias, target, contrast, side, padding="full")
    assert ours.shape == theirs.shape == (3, 1, *(n + side - 1 for n in spatial))
    torch.testing.assert_close(min_max(ours), min_max(theirs))
    # precisely: ours = theirs / |R| + the example's bias contrast, a positive affine map
    _, biases = maps.contrast_weights(weight, bias, target, contrast, logits)
    torch.testing.assert_close(ours, theirs / side**dims + per_example(biases, ours))
    # with "same" windows the border differs: not the authors' map
    same = maps.info_cam(activations, weight, bias, target, contrast, side)
    assert same.shape[2:] == spatial
    if contrast == "none":  # without contrast and bias, the class map is theirs / |R| itself
        cam = maps.class_activation_map(
            activations, weight, target, region_size=side, padding="full"
        )
        torch.testing.assert_close(cam, theirs / side**dims)


@pytest.mark.parametrize("dims", [1, 3])
def test_grad_cam_map_in_nd_is_info_cam_minus_bias_contrast(dims):
    activations, weight, bias, target = random_head(80 + dims, SPATIAL[dims])
    leaf = activations.clone().requires_grad_()
    score = maps.contrast_logit(logits_of(leaf, weight, bias), target, "most_likely").sum()
    (gradients,) = torch.autograd.grad(score, leaf)
    _, biases = maps.contrast_weights(
        weight, bias, target, "most_likely", logits_of(activations, weight, bias)
    )
    for region_size, padding in [(1, "same"), (3, "same"), (2, "full"), (None, "same")]:
        got = maps.grad_cam_map(activations, gradients, region_size, padding=padding)
        expected = maps.info_cam(
            activations, weight, bias, target, "most_likely", region_size, padding=padding
        )
        torch.testing.assert_close(got, expected - per_example(biases, expected))


# --------------------------------------------------------------------------- precision and errors


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(dims, dtype):
    activations, weight, bias, target = random_head(90 + dims, SPATIAL[dims], c=64)
    reference = maps.info_cam(activations, weight, bias, target, "most_likely", 2, padding="full")
    half = [t.to(dtype) for t in (activations, weight, bias)]
    got = maps.info_cam(*half, target, "most_likely", 2, padding="full")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), reference, rtol=0.05, atol=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = maps.pmi_map(*half, target, None, 3, padding="full")
    assert under_autocast.dtype == torch.float32


@pytest.mark.parametrize(
    ("region_size", "dims"),
    [((3, 3), 1), ((3,), 2), ((3, 0), 2), ((3, True), 2), ((2.0, 2), 2), ([], 1), ("3", 1)],
)
def test_bad_region_size(region_size, dims):
    activations, weight, bias, target = random_head(0, SPATIAL[dims])
    with pytest.raises(ValueError, match="region_size must be an int >= 1, one int >= 1 per"):
        maps.info_cam(activations, weight, bias, target, region_size=region_size)


def test_bad_padding():
    activations, weight, bias, target = random_head(0, SPATIAL[2])
    with pytest.raises(ValueError, match=r"padding must be one of \('same', 'full'\)"):
        maps.info_cam(activations, weight, bias, target, padding="valid")
    with pytest.raises(ValueError, match=r"padding='full' .* needs a window"):
        maps.pmi_maps(activations, weight, bias, region_size=None, padding="full")
    with pytest.raises(ValueError, match="maps must be a tensor of shape"):
        maps.region_mean(torch.zeros(3, 4), 3)


@pytest.mark.cuda
@pytest.mark.parametrize("dims", [1, 3])
def test_cuda_matches_cpu(dims):
    activations, weight, bias, target = random_head(100 + dims, SPATIAL[dims], dtype=torch.float32)
    classes = (target + 1) % 4  # explicit contrast classes, left on the CPU
    gradients = torch.randn_like(activations)
    for fn in (
        lambda a, w, b, t: maps.info_cam(a, w, b, t, classes, 3, contrast_weight=0.5),
        lambda a, w, b, t: maps.info_cam(a, w, b, t, "most_likely", 2, padding="full"),
        lambda a, w, b, t: maps.pmi_map(a, w, b, t, [1, 2, 3, 4], (2,) * dims, padding="full"),
        lambda a, w, b, t: maps.grad_cam_map(a, gradients.to(a.device), 3, padding="full"),
    ):
        cpu = fn(activations, weight, bias, target)
        gpu = fn(*(t.cuda() for t in (activations, weight, bias, target)))
        assert gpu.is_cuda and gpu.dtype == torch.float32
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
        with torch.autocast("cuda", dtype=torch.float16):
            autocast = fn(*(t.cuda() for t in (activations, weight, bias, target)))
        assert autocast.dtype == torch.float32
        torch.testing.assert_close(autocast.cpu(), cpu, rtol=1e-4, atol=1e-4)
