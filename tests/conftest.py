"""Shared test configuration and helpers.

* CUDA-marked tests skip cleanly on machines without a GPU;
* :func:`one_torch_thread` runs a module on one torch thread;
* :class:`TinyGAPNet`, the small GAP + linear network that the attribution, gradient-form and
  precision tests share (``from conftest import TinyGAPNet``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module on one torch thread: tests of many small tensor ops lose more to OpenMP
    threads waiting on each other than they gain on a shared 2-core runner."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyGAPNet(nn.Module):
    """conv trunk -> global average pooling -> linear head; ``scale`` is an extra forward arg.

    The layers are built in one order after ``torch.manual_seed(seed)``, so the arguments fix
    the weights: Conv(3, C), BatchNorm, ReLU, Conv(C, C, stride 2), ReLU, Linear(C, K).

    Args:
        channels (int): the trunk's channels ``C``. Default: 8.
        classes (int): the classes ``K``. Default: 5.
        seed (int): the seed of the weights. Default: 0.
        inplace_relu (bool): make the last ReLU in place (it then overwrites the second
            convolution's output). Default: False.
    """

    def __init__(
        self, channels: int = 8, classes: int = 5, seed: int = 0, inplace_relu: bool = False
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(inplace=inplace_relu),
        )
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.fc(self.features(x * scale).mean(dim=(2, 3)))
