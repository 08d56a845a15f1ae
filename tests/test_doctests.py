"""The ``>>>`` examples of every docstring of the package run and print what they show.

Snippets that use objects a reader supplies (``model``, ``images``, ``labels``, ``boxes``) run
with small stand-ins (a ``weights=None`` ResNet-18, random images), so every example is executed;
the package's public names, ``torch`` and the module's own names are in scope.
"""

from __future__ import annotations

import copy
import doctest
import functools
import importlib
import pkgutil

import pytest
import torch
from torchvision.models import resnet18

import captum_infocam

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(captum_infocam.__path__, prefix="captum_infocam.")
)


def reader_objects() -> dict[str, object]:
    """The objects that usage snippets take from the reader: a model, images, labels, boxes;
    a fresh copy for each module, built once (building them costs more than most modules'
    examples)."""
    return copy.deepcopy(_reader_objects())


@functools.cache
def _reader_objects() -> dict[str, object]:
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=10).eval()
    images = torch.rand(2, 3, 64, 64)
    labels = torch.tensor([1, 7])

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = 0.01 * torch.randn_like(inputs)
        return noise, inputs - noise

    info_map = captum_infocam.InfoCAM(model, model.layer4).attribute(images, labels)[0]
    return {
        "model": model,
        "images": images,
        "image": images[0],
        "labels": labels,
        "y": labels,
        "train_counts": [100] * 5 + [10] * 5,
        "boxes": torch.tensor([[4, 4, 40, 40], [10, 12, 50, 60]]),
        "info_map": info_map,
        "perturb": perturb,
    }


@pytest.mark.parametrize("name", ["captum_infocam", *MODULES])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets save figures under outputs/
    (tmp_path / "outputs").mkdir()
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    state = torch.random.get_rng_state()
    namespace = {"torch": torch, **vars(captum_infocam), **reader_objects(), **vars(module)}
    try:
        for test in finder.find(module, name, globs=namespace):
            torch.manual_seed(0)
            runner.run(test)
    finally:
        torch.random.set_rng_state(state)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} docstring examples of {name} failed (above)"
