"""Tests of the reference GAP + linear classifier and its training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from captum_infocam.data.synthetic import make_localization_data
from captum_infocam.models import GAPClassifier, accuracy, train_classifier


def _model(num_classes: int = 4, width: int = 4, seed: int = 0) -> GAPClassifier:
    torch.manual_seed(seed)
    return GAPClassifier(num_classes, width=width)


def _with_nontrivial_batchnorm(model: GAPClassifier) -> GAPClassifier:
    # Random running statistics and affine parameters, so eval-mode BN is not the identity.
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=gen))
            module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            module.weight.data.copy_(torch.randn(c, generator=gen))
            module.bias.data.copy_(torch.randn(c, generator=gen))
    return model.eval()


def test_structure_and_shapes() -> None:
    model = GAPClassifier(5, in_channels=1, width=6)
    assert isinstance(model.features, nn.Sequential)
    assert isinstance(model.pool, nn.AdaptiveAvgPool2d)
    assert isinstance(model.fc, nn.Linear)
    assert model.fc.in_features == 24 and model.fc.out_features == 5
    x = torch.rand(3, 1, 64, 48)
    assert model.features(x).shape == (3, 24, 16, 12)
    assert model(x).shape == (3, 5)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_cam_identity_holds_exactly(mode: str) -> None:
    model = _with_nontrivial_batchnorm(_model(num_classes=5, width=4)).double()
    model.train(mode == "train")
    x = torch.rand(6, 3, 32, 40, dtype=torch.float64)
    with torch.no_grad():
        logits = model(x)
        acts = model.features(x)
    weight, bias = model.fc.weight, model.fc.bias
    # CAM_k(i, j) = sum_c W_kc A_c(i, j), as an explicit broadcast sum.
    cams = (weight[None, :, :, None, None] * acts[:, None]).sum(2)
    torch.testing.assert_close(cams.mean((2, 3)) + bias, logits, rtol=0, atol=1e-10)


def test_forward_is_fc_after_pool_after_features() -> None:
    model = _with_nontrivial_batchnorm(_model())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.fc(model.features(x).mean((2, 3)))
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_classes": 0}, ValueError, "num_classes"),
        ({"num_classes": 3, "width": 0}, ValueError, "width"),
        ({"num_classes": 3, "in_channels": 2.0}, TypeError, "in_channels"),
    ],
)
def test_model_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        GAPClassifier(**kwargs)


@pytest.fixture(scope="module")
def small_set() -> tuple[torch.Tensor, torch.Tensor]:
    data = make_localization_data(96, num_classes=2, image_size=32, seed=0)
    return data.images, data.labels


def _mean_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(images), labels))


def test_training_lowers_the_loss_and_leaves_eval_mode(
    small_set: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = small_set
    images_before, labels_before = images.clone(), labels.clone()
    model = _model(num_classes=2, width=4)
    before = _mean_loss(model, images, labels)
    losses = train_classifier(
        model, images, labels, epochs=4, batch_size=16, lr=1e-2, progress=False
    )
    assert len(losses) == 4 and all(isinstance(v, float) for v in losses)
    assert not model.training
    assert losses[-1] < losses[0]
    assert _mean_loss(model, images, labels) < before
    assert torch.equal(images, images_before) and torch.equal(labels, labels_before)


def test_training_is_reproducible(small_set: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = small_set[0][:48], small_set[1][:48]
    runs = []
    for _ in range(2):
        model = _model(num_classes=2, width=2)
        losses = train_classifier(model, images, labels, epochs=2, batch_size=16, progress=False)
        runs.append((losses, model.fc.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_custom_loss_is_used_and_averaged_per_epoch() -> None:
    images, labels = torch.rand(37, 3, 16, 16), torch.randint(0, 3, (37,))
    calls = []

    def constant_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(len(target))
        return logits.sum() * 0.0 + 2.5

    model = _model(num_classes=3, width=2)
    losses = train_classifier(
        model, images, labels, epochs=3, batch_size=12, loss_fn=constant_loss, progress=False
    )
    assert losses == [2.5, 2.5, 2.5]
    # 37 = 12 + 12 + 12 + 1: the single-example batch is skipped (BatchNorm cannot train on it).
    assert calls == [12, 12, 12] * 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"images": torch.rand(4, 3, 8)}, ValueError, "images"),
        ({"labels": torch.zeros(5, dtype=torch.long)}, ValueError, "same"),
        ({"labels": torch.zeros(4)}, TypeError, "integer"),
    ],
)
def test_training_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"images": torch.rand(4, 3, 8, 8), "labels": torch.zeros(4, dtype=torch.long)}
    args.update(kwargs)
    images, labels = args.pop("images"), args.pop("labels")
    with pytest.raises(error, match=match):
        train_classifier(_model(2, width=2), images, labels, progress=False, **args)


def test_accuracy_matches_a_direct_count() -> None:
    model = _with_nontrivial_batchnorm(_model(num_classes=3, width=3))
    images, labels = torch.rand(23, 3, 16, 16), torch.randint(0, 3, (23,))
    with torch.no_grad():
        expected = (model(images).argmax(1) == labels).sum().item() / 23
    assert accuracy(model, images, labels, batch_size=5) == expected
    assert accuracy(model, images, labels) == expected
    with pytest.raises(ValueError, match="batch_size"):
        accuracy(model, images, labels, batch_size=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_with_images_on_cpu(
    small_set: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = small_set
    model = _model(num_classes=2, width=4).cuda()
    losses = train_classifier(model, images, labels, epochs=2, batch_size=16, progress=False)
    assert len(losses) == 2 and not model.training
    assert 0.0 <= accuracy(model, images, labels) <= 1.0
    x = images[:4].cuda()
    with torch.no_grad():
        cams = torch.einsum("kc,nchw->nkhw", model.fc.weight, model.features(x))
        torch.testing.assert_close(cams.mean((2, 3)) + model.fc.bias, model(x))
