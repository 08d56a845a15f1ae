"""Quantus evaluates the attributions through quantus_explainer: shapes, casting, layers, MPRT.

Skipped as a whole when Quantus is not installed (it is in the ``quantus`` and ``dev`` extras).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI, quantus_explainer
from captum_infocam.data.synthetic import make_localization_data
from captum_infocam.localization import pointing_game
from captum_infocam.models import GAPClassifier, train_classifier

quantus = pytest.importorskip("quantus")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

METHODS = [ClassActivationMap, InfoCAM, LayerPMI, InfoGradCam, LayerGradCam]


@pytest.fixture(scope="module")
def trained():
    """A small GAP + linear CNN trained for a second on 32 x 32 synthetic images, and 200
    held-out images with their masks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train = make_localization_data(512, num_classes=4, image_size=32, seed=0)
    test = make_localization_data(200, num_classes=4, image_size=32, seed=1)
    torch.manual_seed(0)
    model = GAPClassifier(4, width=8)
    train_classifier(
        model, train.images, train.labels, epochs=4, batch_size=32, lr=1e-2, progress=False
    )
    torch.set_num_threads(threads)
    return model.eval(), test


def reference(method, model, layer, images, labels, mode="bilinear", **options):
    """The attribution run directly on tensors and upsampled with Captum's interpolate."""
    constructor = {k: v for k, v in options.items() if k in ("classifier", "reshape")}
    attribute = {k: v for k, v in options.items() if k not in constructor}
    maps = method(model, layer, **constructor).attribute(images, target=labels, **attribute)
    return LayerAttribution.interpolate(maps.detach().float(), images.shape[-2:], mode).numpy()


def quiet(metric, **arguments):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metric(**arguments), dtype=float)


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("method", METHODS, ids=lambda cls: cls.__name__)
def test_numpy_and_torch_inputs_give_the_attribution_upsampled_as_float32(trained, method):
    model, test = trained
    images, labels = test.images[:8], test.labels[:8]
    explain = quantus_explainer(method, "features")
    expected = reference(method, model, model.features, images, labels)
    for inputs, targets in [
        (images.numpy(), labels.numpy()),
        (images, labels),
        (images.double().numpy(), labels.int().numpy()),  # cast to the model's float32
        (images.numpy(), labels.tolist()),
    ]:
        got = explain(model=model, inputs=inputs, targets=targets)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        assert got.shape == (8, 1, 32, 32)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    one_class = explain(model=model, inputs=images.numpy(), targets=np.int64(2))
    twos = reference(method, model, model.features, images, torch.full((8,), 2))
    np.testing.assert_allclose(one_class, twos, rtol=1e-5, atol=1e-5)


def test_names_options_and_modes(trained):
    model, test = trained
    images, labels = test.images[:4], test.labels[:4]
    x, y = images.numpy(), labels.numpy()
    for name in ("InfoCAM", "infocam", "INFOCAM"):
        got = quantus_explainer(name, "features", region_size=1, contrast="least_likely")
        np.testing.assert_allclose(
            got(model=model, inputs=x, targets=y),
            reference(
                InfoCAM, model, model.features, images, labels, region_size=1,
                contrast="least_likely",
            ),
            rtol=1e-5, atol=1e-5,
        )  # fmt: skip
    # Quantus's explain_func_kwargs override the options for the call; device is ignored.
    explain = quantus_explainer(LayerPMI, "features", class_prior=[0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(
        explain(model=model, inputs=x, targets=y, region_size=None, device="cpu"),
        reference(
            lambda m, layer: LayerPMI(m, layer, class_prior=[0.4, 0.3, 0.2, 0.1]),
            model, model.features, images, labels, region_size=None,
        ),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip
    for mode in ("nearest", "bicubic", "area"):
        np.testing.assert_allclose(
            quantus_explainer(InfoGradCam, "features", interpolate_mode=mode)(
                model=model, inputs=x, targets=y
            ),
            reference(InfoGradCam, model, model.features, images, labels, mode),
            rtol=1e-5, atol=1e-5,
        )  # fmt: skip


def test_the_model_dtype_decides_the_computation(trained):
    model, test = trained
    x, y = test.images[:4].numpy(), test.labels[:4].numpy()
    double = copy.deepcopy(model).double()
    for method in (InfoCAM, InfoGradCam):
        explain = quantus_explainer(method, "features")
        single = explain(model=model, inputs=x, targets=y)
        got = explain(model=double, inputs=x, targets=y)  # float32 inputs, float64 model
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, single, rtol=1e-4, atol=1e-4)
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched


@pytest.mark.cuda
def test_numpy_inputs_run_on_the_model_device(trained):
    model, test = trained
    x, y = test.images[:4].numpy(), test.labels[:4].numpy()
    on_gpu = copy.deepcopy(model).cuda()
    for method in (InfoCAM, InfoGradCam, LayerGradCam):
        explain = quantus_explainer(method, "features")
        got = explain(model=on_gpu, inputs=x, targets=torch.from_numpy(y).cuda())
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        np.testing.assert_allclose(got, explain(model=model, inputs=x, targets=y), atol=1e-3)


def test_layers_by_name_by_function_and_by_module(trained):
    model, test = trained
    x, y = test.images[:4].numpy(), test.labels[:4].numpy()
    by_name = quantus_explainer(InfoCAM, "features")(model=model, inputs=x, targets=y)
    for layer in (lambda m: m.features, model.features):
        got = quantus_explainer(InfoCAM, layer)(model=model, inputs=x, targets=y)
        np.testing.assert_array_equal(got, by_name)
    # A dotted name: InfoGradCam of an inner convolution.
    inner = quantus_explainer(InfoGradCam, "features.7")(model=model, inputs=x, targets=y)
    expected = reference(InfoGradCam, model, model.features[7], test.images[:4], test.labels[:4])
    np.testing.assert_allclose(inner, expected, rtol=1e-5, atol=1e-5)
    hooks = [m._forward_hooks or m._forward_pre_hooks for m in model.modules()]
    assert not any(hooks) and not model.training  # nothing left behind on the model


@pytest.mark.parametrize("method", METHODS, ids=lambda cls: cls.__name__)
def test_layer_none_is_the_layer_the_head_averages(trained, method):
    model, test = trained
    x, y = test.images[:4].numpy(), test.labels[:4].numpy()
    found = quantus_explainer(method)(model=model, inputs=x, targets=y)
    given = quantus_explainer(method, "features")(model=model, inputs=x, targets=y)
    np.testing.assert_array_equal(found, given)


def test_layer_none_without_a_gap_head_asks_for_a_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x, y = np.zeros((2, 3, 8, 8), dtype=np.float32), np.array([0, 2])
    with pytest.raises(ValueError, match=r"layer=None: InfoGradCam .* Pass layer="):
        quantus_explainer(InfoGradCam)(model=model, inputs=x, targets=y)
    got = quantus_explainer(InfoGradCam, "0", region_size=1)(model=model, inputs=x, targets=y)
    assert got.shape == (2, 1, 8, 8)


def test_randomised_copies_are_explained_through_their_own_layers(trained):
    """MPRT explains deep copies with layers reset: each through its own layer and head."""
    model, test = trained
    images, labels = test.images[:4], test.labels[:4]
    x, y = images.numpy(), labels.numpy()
    randomised = copy.deepcopy(model)
    torch.manual_seed(1)
    randomised.fc.reset_parameters()
    expected = reference(InfoCAM, randomised, randomised.features, images, labels)
    specs = {
        "name": quantus_explainer(InfoCAM, "features", classifier="fc"),
        "function": quantus_explainer(InfoCAM, lambda m: m.features, classifier=lambda m: m.fc),
        "module": quantus_explainer(InfoCAM, model.features, classifier=model.fc),
    }
    for explain in specs.values():
        original = explain(model=model, inputs=x, targets=y)  # first the original (as MPRT)
        got = explain(model=randomised, inputs=x, targets=y)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        assert np.abs(got - original).max() > 0.1
    # Bound to the original's layer without the adapter, the copy is refused, not misread.
    with pytest.raises(ValueError, match="the layer ran 0 times"):
        InfoCAM(randomised, model.features).attribute(images, target=labels)


def test_mprt_runs_on_randomised_copies(trained):
    model, test = trained
    x, y = test.images[:8].numpy(), test.labels[:8].numpy()
    resettable = [name for name, m in model.named_modules() if hasattr(m, "reset_parameters")]
    for method in (InfoCAM, InfoGradCam):
        explain = quantus_explainer(method, model.features)  # the module: found by name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = quantus.MPRT()(model=model, x_batch=x, y_batch=y, explain_func=explain)
        assert list(scores) == ["original", *reversed(resettable)]
        np.testing.assert_allclose(scores["original"], 1.0, atol=1e-6)
        for name in resettable:
            assert np.isfinite(scores[name]).all() and len(scores[name]) == 8
        assert np.mean(scores["features.0"]) < 0.9  # fully randomised: another map


# --------------------------------------------------------------------------- metrics


def test_quantus_metrics_of_each_family_run_on_our_maps(trained):
    model, test = trained
    x, y = test.images[:16].numpy(), test.labels[:16].numpy()
    s = test.masks[:16, None].numpy()
    metrics = [
        quantus.PointingGame(),
        quantus.AttributionLocalisation(),
        quantus.TopKIntersection(k=100),
        quantus.RelevanceRankAccuracy(),
        quantus.RelevanceMassAccuracy(),
        quantus.FaithfulnessCorrelation(nr_runs=10, subset_size=64, return_aggregate=False),
        quantus.MaxSensitivity(nr_samples=2),
        quantus.LocalLipschitzEstimate(nr_samples=2),
        quantus.Sparseness(),
        quantus.Complexity(),
    ]
    for method in METHODS:
        explain = quantus_explainer(method, "features")
        for metric in metrics:
            scores = quiet(
                metric, model=model, x_batch=x, y_batch=y, s_batch=s, explain_func=explain
            )
            assert scores.shape == (16,) and np.isfinite(scores).all(), type(metric).__name__
        curves = quiet(
            quantus.PixelFlipping(features_in_step=256),
            model=model, x_batch=x, y_batch=y, explain_func=explain,
        )  # fmt: skip
        assert curves.shape == (16, 12) and np.isfinite(curves).all()


def test_metrics_that_ignore_the_zero_agree_for_infocam_and_infogradcam(trained):
    """On a GAP + linear model InfoGradCam is InfoCAM minus a constant per image, so metrics
    that only rank a map's pixels give the same scores; those that read its zero do not."""
    model, test = trained
    x, y = test.images[:64].numpy(), test.labels[:64].numpy()
    s = test.masks[:64, None].numpy()
    info_cam = quantus_explainer(InfoCAM, "features")(model=model, inputs=x, targets=y)
    info_grad = quantus_explainer(InfoGradCam, "features")(model=model, inputs=x, targets=y)
    shift = (info_cam - info_grad).reshape(64, -1)
    np.testing.assert_allclose(shift, shift[:, :1].repeat(shift.shape[1], 1), atol=1e-4)
    assert np.abs(shift[:, 0]).min() > 1e-2  # a real shift: the bias contrast

    def score(metric, a_batch):
        arguments = {"model": model, "x_batch": x, "y_batch": y, "s_batch": s, "a_batch": a_batch}
        return quiet(metric, **arguments)

    for metric in (quantus.TopKIntersection(k=100), quantus.RelevanceRankAccuracy()):
        np.testing.assert_allclose(score(metric, info_cam), score(metric, info_grad), atol=0.02)
    hits = score(quantus.PointingGame(), info_cam), score(quantus.PointingGame(), info_grad)
    assert (hits[0] == hits[1]).mean() >= 0.95
    # Relevance mass reads the zero: the shift moves it, and abs=True moves it again.
    mass = [score(quantus.RelevanceMassAccuracy(), a) for a in (info_cam, info_grad)]
    assert np.abs(mass[0] - mass[1]).max() > 0.01


def test_pointing_game_with_masks_agrees_with_quantus_image_by_image(trained):
    model, test = trained
    x, y = test.images.numpy(), test.labels.numpy()
    a_batch = quantus_explainer(InfoCAM, "features")(model=model, inputs=x, targets=y)
    expected = quiet(
        quantus.PointingGame(),
        model=model, x_batch=x, y_batch=y, a_batch=a_batch, s_batch=test.masks[:, None].numpy(),
    ).astype(bool)  # fmt: skip
    maps = torch.from_numpy(a_batch)
    hits = pointing_game(maps, test.masks, reduction="none").numpy()
    flat = a_batch.reshape(len(a_batch), -1)
    tied = (flat == flat.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert len(hits) == 200 and tied.mean() < 0.1  # bilinear maps tie only on a border peak
    np.testing.assert_array_equal(hits[~tied], expected[~tied])
    # Quantus counts a hit when any tied maximum is on the object, ours the first one only.
    assert (expected[tied] >= hits[tied]).all()
    boxes = pointing_game(maps, test.boxes, reduction="none").numpy()
    assert (boxes >= hits).all()  # each box holds its mask: a mask hit is a box hit


def test_pointing_game_ties_any_is_quantus_on_tied_and_constant_maps(trained):
    model, test = trained
    x, y = test.images.numpy(), test.labels.numpy()
    a_batch = quantus_explainer(InfoCAM, "features")(model=model, inputs=x, targets=y)
    # Coarse maps tie often; a few constant ones (positive: Quantus divides by the maximum).
    coarse = np.round(a_batch / np.abs(a_batch).max(axis=(1, 2, 3), keepdims=True) * 3) + 4
    coarse[::10] = 1.0
    coarse = coarse.astype(np.float32)
    expected = quiet(
        quantus.PointingGame(),
        model=model, x_batch=x, y_batch=y, a_batch=coarse, s_batch=test.masks[:, None].numpy(),
    ).astype(bool)  # fmt: skip
    maps = torch.from_numpy(coarse)
    flat = coarse.reshape(len(coarse), -1)
    tied = (flat == flat.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert tied.mean() > 0.5  # the case the default rule does not match
    any_hit = pointing_game(maps, test.masks, reduction="none", ties="any").numpy()
    np.testing.assert_array_equal(any_hit, expected)
    first_hit = pointing_game(maps, test.masks, reduction="none").numpy()
    assert (any_hit >= first_hit).all() and (any_hit != first_hit).any()


def test_pointing_game_ties_any_with_tolerance_and_boxes_is_brute_force():
    generator = torch.Generator().manual_seed(3)
    maps = torch.randint(0, 3, (24, 12, 10), generator=generator).float()
    maps[0] = 5.0  # constant: every pixel is a maximum
    corner = torch.randint(0, 8, (24, 1, 2), generator=generator)
    boxes = torch.cat([corner, corner + torch.randint(0, 3, (24, 1, 2), generator=generator)], -1)
    boxes = torch.cat([boxes, torch.full((24, 1, 4), -1)], dim=1)  # a padding row each
    boxes[::2, 1] = torch.tensor([6, 9, 8, 11])  # and a second box for half of them
    for tolerance in (0.0, 1.0, 2.5):
        found = pointing_game(maps, boxes, tolerance, reduction="none", ties="any")
        for n in range(24):
            peaks = (maps[n] == maps[n].max()).nonzero().tolist()
            near = any(
                (max(x1 - px, px - x2, 0) ** 2 + max(y1 - py, py - y2, 0) ** 2) <= tolerance**2
                for py, px in peaks
                for x1, y1, x2, y2 in boxes[n].tolist()
                if x1 >= 0
            )
            assert bool(found[n]) == near, (n, tolerance)
        # The masks of the same boxes give the same hits.
        masks = torch.zeros(24, 12, 10, dtype=torch.bool)
        for n in range(24):
            for x1, y1, x2, y2 in boxes[n].tolist():
                if x1 >= 0:
                    masks[n, y1 : y2 + 1, x1 : x2 + 1] = True
        by_mask = pointing_game(maps, masks, tolerance, reduction="none", ties="any")
        assert torch.equal(by_mask, found)
    with pytest.raises(ValueError, match="ties"):
        pointing_game(maps, boxes, ties="all")


# --------------------------------------------------------------------------- other data


class _Volume(nn.Module):
    """A 1-D or 3-D CNN with a global-average-pooling + linear head, 3 classes."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv3d
        self.features = nn.Sequential(conv(2, 6, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(2).mean(dim=2))


@pytest.mark.parametrize("method", [InfoCAM, InfoGradCam, LayerGradCam], ids=lambda c: c.__name__)
@pytest.mark.parametrize(("dims", "mode"), [(1, "linear"), (3, "trilinear")])
def test_one_and_three_dimensional_maps_are_upsampled_multilinearly(method, dims, mode):
    torch.manual_seed(0)
    model = _Volume(dims).eval()
    shape = (3, 2, 40) if dims == 1 else (3, 2, 8, 10, 6)
    x, y = np.random.default_rng(0).normal(size=shape).astype(np.float32), [0, 1, 2]
    got = quantus_explainer(method)(model=model, inputs=x, targets=y)  # layer: features
    maps = method(model, model.features).attribute(torch.from_numpy(x), target=y)
    assert got.shape == (3, 1, *shape[2:]) and got.dtype == np.float32
    expected = LayerAttribution.interpolate(maps.detach(), shape[2:], mode).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="interpolate_mode='bicubic' needs 2-D maps"):
        quantus_explainer(method, interpolate_mode="bicubic")(model=model, inputs=x, targets=y)


# --------------------------------------------------------------------------- errors


def test_bad_arguments_get_clear_errors(trained):
    model, test = trained
    x, y = test.images[:2].numpy(), test.labels[:2].numpy()
    with pytest.raises(ValueError, match="method 'GradCAM' is not one of"):
        quantus_explainer("GradCAM", "features")
    with pytest.raises(TypeError, match="method must be one of"):
        quantus_explainer(InfoCAM(model, model.features))
    with pytest.raises(TypeError, match=r"InfoCAM takes no option 'regionsize'; its options"):
        quantus_explainer(InfoCAM, "features", regionsize=3)
    with pytest.raises(TypeError, match=r"'target' cannot be given: .* Quantus passes"):
        quantus_explainer(InfoCAM, "features", target=1)
    with pytest.raises(ValueError, match="interpolate_mode must be one of"):
        quantus_explainer(InfoCAM, "features", interpolate_mode="cubic")
    with pytest.raises(TypeError, match="layer must be a module name"):
        quantus_explainer(InfoCAM, 3)
    explain = quantus_explainer(InfoCAM, "features")
    with pytest.raises(TypeError, match=r"targets must hold integer class indices, got .*float"):
        explain(model=model, inputs=x, targets=y.astype(float))
    with pytest.raises(
        ValueError, match=r"targets must hold one value for all or one per input \(2\), got 3"
    ):
        explain(model=model, inputs=x, targets=[0, 1, 2])
    with pytest.raises(TypeError, match="inputs must be a NumPy array or a tensor"):
        explain(model=model, inputs=x.tolist(), targets=y)
    with pytest.raises(TypeError, match=r"model must be a torch nn\.Module"):
        explain(model=lambda t: t, inputs=x, targets=y)
    with pytest.raises(TypeError, match="takes no option 'method'"):
        explain(model=model, inputs=x, targets=y, method="Saliency")  # a Quantus explain kwarg
    with pytest.raises(ValueError, match="has no submodule 'layer4'"):
        quantus_explainer(InfoCAM, "layer4")(model=model, inputs=x, targets=y)
    other = GAPClassifier(4, width=8).eval()
    with pytest.raises(ValueError, match=r"must return a module of the model .* not part"):
        quantus_explainer(InfoCAM, lambda m: other.features)(model=model, inputs=x, targets=y)
    with pytest.raises(ValueError, match="not part of the model being explained"):
        quantus_explainer(InfoCAM, other.features)(model=model, inputs=x, targets=y)
