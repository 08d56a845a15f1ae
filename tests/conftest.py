"""Shared test configuration and helpers.

* the session runs torch on one CPU thread (see :func:`pytest_configure`);
* CUDA-marked tests skip cleanly on machines without a GPU;
* :func:`one_torch_thread` runs a module on one torch thread (also where the session's
  default is changed);
* :func:`box_backend` runs a test of the box protocol on the native CPU kernel and on the
  torch implementation; :func:`torch_box_backend` on the torch implementation only (tests of
  its internals);
* :func:`run_example` runs a script of ``examples/`` in this process, as ``python`` would;
* :func:`load_script` imports a script (an example, a benchmark, a docs extension) as a
  module, to test its functions;
* :func:`run_processes` runs a worker in fresh processes forked from a server that has already
  imported the package (the gloo tests), so no process imports torch again;
* :class:`TinyGAPNet`, the small GAP + linear network that the attribution, gradient-form and
  precision tests share (``from conftest import TinyGAPNet``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import multiprocessing
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.multiprocessing
from torch import nn


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread for the whole session. The tests' tensors are small: a second
    intra-op thread gains little on an idle 2-core runner, and beside other CPU-bound work its
    OpenMP threads spin waiting on each other (measured on 400 tests of the maps, attribution,
    gradient, zoo and synthetic-data modules on a shared 2-core machine: 47 CPU-s and 121 s
    with torch's default threads, 31 CPU-s and 62 s with one). Tests of thread handling set
    their own counts."""
    torch.set_num_threads(1)


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


def _use_torch_box_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from captum_infocam.localization import _contours

    monkeypatch.setattr(_contours, "available", lambda device, *shape: False)


@pytest.fixture(params=["native", "torch"])
def box_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the box protocol's native CPU kernel, then on its torch implementation
    (what every other device and a machine without a C compiler use)."""
    if request.param == "native":
        from captum_infocam.localization import _contours

        if not _contours.available(torch.device("cpu")):
            pytest.fail("the native box-protocol kernel did not compile; see the log")
    else:
        _use_torch_box_backend(monkeypatch)
    return request.param


@pytest.fixture
def torch_box_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the test on the box protocol's torch implementation (tests of its internals)."""
    _use_torch_box_backend(monkeypatch)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_script(path: Path, name: str | None = None) -> ModuleType:
    """The script at ``path`` imported as a module named ``name`` (default: its file stem).

    The module is registered in ``sys.modules`` before it runs: dataclasses look their module
    up there while they are built.
    """
    name = path.stem if name is None else name
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *arguments: str, threads: int | None = None) -> str:
    """Run ``python examples/<name> <arguments>`` in this process and return what it printed.

    The script runs as ``__main__`` with its folder first on ``sys.path`` and ``sys.argv`` set,
    as the interpreter would run it; a new interpreter would spend more CPU importing torch,
    torchvision and the package than most examples spend in ``--fast`` mode. A non-zero exit
    fails the test. What a script changes globally is put back afterwards: the torch threads
    and random state, ``sys.argv``, ``sys.path`` and the figures it left open.

    Args:
        name (str): the script's file name in ``examples/``.
        *arguments (str): its command-line arguments.
        threads (int, optional): torch threads while it runs (as ``OMP_NUM_THREADS`` would
            set them); default: unchanged.

    Returns:
        str: its standard output.
    """
    script = EXAMPLES / name
    saved = sys.argv, sys.path[:], torch.get_num_threads(), torch.random.get_rng_state()
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot else set()
    sys.argv, sys.path[:0] = [str(script), *arguments], [str(script.parent)]
    if threads is not None:
        torch.set_num_threads(threads)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        assert exit_.code in (None, 0), f"{name} exited with {exit_.code}: {stdout.getvalue()}"
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        torch.set_num_threads(saved[2])
        torch.random.set_rng_state(saved[3])
        pyplot = sys.modules.get("matplotlib.pyplot")
        for number in set(pyplot.get_fignums()) - figures if pyplot else ():
            pyplot.close(number)
    return stdout.getvalue()


def run_processes(worker: Callable[..., None], args: tuple, nprocs: int = 2) -> None:
    """Run ``worker(rank, *args)`` in ``nprocs`` new processes and wait for them (any failure
    is raised here, with the worker's traceback), like ``torch.multiprocessing.spawn``.

    Where the platform has it, the processes come from multiprocessing's fork server, started
    once per test session from a clean single-threaded state with torch and ``captum_infocam``
    already imported: a spawned process would spend seconds of CPU importing them again, on
    every rank of every test. Elsewhere (Windows) they are spawned.
    """
    torch.multiprocessing.start_processes(
        worker, args=args, nprocs=nprocs, join=True, start_method=start_method()
    )


def start_method() -> str:
    """``"forkserver"``, its server set to import ``captum_infocam`` before it forks, where the
    platform has one (see :func:`run_processes`); else ``"spawn"``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.get_context("forkserver").set_forkserver_preload(["captum_infocam"])
    return "forkserver"


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
