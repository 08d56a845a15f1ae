"""Concurrent calls: one shared model, one attribution object, many threads, exact maps."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI

THREADS = 8
CALLS = 120


class GAPNet(nn.Module):
    """conv trunk (BatchNorm, in-place ReLU) -> global average pooling -> linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Inputs of several sizes and their targets: each call explains different images."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(CALLS):
        n = 1 + i % 3
        out.append((torch.randn(n, 3, 8 + 2 * (i % 4), 8, generator=gen), torch.arange(n) % 5))
    return out


def attribution_methods(model: GAPNet) -> dict[str, object]:
    return {
        "ClassActivationMap": ClassActivationMap(model, model.features),
        "InfoCAM": InfoCAM(model, model.features),
        "LayerPMI": LayerPMI(model, model.features),
        "InfoCAM(found layer)": InfoCAM(model),
        "InfoGradCam": InfoGradCam(model, model.features),
    }


@pytest.mark.parametrize("name", list(attribution_methods(GAPNet())))
def test_concurrent_calls_return_the_lone_call_maps(one_torch_thread, name):
    model = GAPNet().eval()
    method = attribution_methods(model)[name]
    work = batches()
    expected = [method.attribute(x, target) for x, target in work]  # one at a time
    start = threading.Barrier(THREADS)

    def call(index: int) -> torch.Tensor:
        if index < THREADS:
            start.wait()  # the first calls of every thread begin together
        x, target = work[index]
        return method.attribute(x, target)

    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(call, range(CALLS)))
    mismatches = [i for i in range(CALLS) if not torch.equal(got[i], expected[i])]
    assert not mismatches
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("cls", [InfoCAM, InfoGradCam], ids=lambda c: c.__name__)
def test_hooks_ignore_a_forward_pass_of_another_thread(cls):
    """During the call, another thread runs the model (and the layer) once more: only the
    calling thread's pass is recorded, so the layer ran once and the map is the lone one."""
    model = GAPNet().eval()
    x, other = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)

    def with_another_thread(images: torch.Tensor) -> torch.Tensor:
        thread = threading.Thread(target=model, args=(other,))
        thread.start()
        thread.join()
        return model(images)

    head = {"classifier": model.fc} if cls is InfoCAM else {}  # not a module: say the head
    got = cls(with_another_thread, model.features, **head).attribute(x, [1, 2])
    torch.testing.assert_close(got, cls(model, model.features).attribute(x, [1, 2]))


def test_a_layer_run_only_in_other_threads_is_refused():
    model = GAPNet().eval()

    def in_a_worker(images: torch.Tensor) -> torch.Tensor:
        result = []
        thread = threading.Thread(target=lambda: result.append(model(images)))
        thread.start()
        thread.join()
        return result[0]

    with pytest.raises(ValueError, match=r"ran 0 times.*other threads.*DataParallel"):
        InfoCAM(in_a_worker, model.features, model.fc).attribute(torch.randn(2, 3, 8, 8))


def test_device_ids_and_data_parallel():
    model = GAPNet().eval()
    for cls in (InfoCAM, ClassActivationMap, LayerPMI, InfoGradCam):
        with pytest.raises(ValueError, match=r"device_ids.*not supported.*model\.module"):
            cls(model, model.features, device_ids=[0, 1])
    # DataParallel that runs in the calling thread (no or one device) is an ordinary model
    wrapped = nn.DataParallel(model, device_ids=[]) if not torch.cuda.is_available() else None
    if wrapped is not None:
        x = torch.randn(2, 3, 8, 8)
        torch.testing.assert_close(
            InfoCAM(wrapped).attribute(x, 1), InfoCAM(model, model.features).attribute(x, 1)
        )
