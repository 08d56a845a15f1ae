#!/usr/bin/env python
"""Time and peak memory of infoCAM and its peers, relative to a plain forward pass.

For each torchvision ResNet (``weights=None``, 1000 classes, ``layer4`` explained) and batch
size, every repeat runs a plain forward pass (``torch.no_grad()``) before and after each method,
the methods' order rotating from repeat to repeat, so that each method is compared with forward
passes made under the same machine load. The table reports the median forward time and, for
each method, the median over repeats of its time divided by the mean of its two neighbouring
forward passes. Methods:

* ``InfoCAM``, ``LayerPMI`` (K = 1000), ``ClassActivationMap`` and ``InfoGradCam`` of
  captum-infocam (``InfoGradCam`` is reported missing until :mod:`captum_infocam.gradient` lands);
* Captum's ``LayerGradCam``;
* torch-cam's ``CAM`` and pytorch-grad-cam's ``GradCAM`` from the ``bench`` extra
  (``pip install -e ".[bench]"``); a peer that is not installed is reported, not fatal.

Every method is built, called and cleaned up (hooks removed) inside the timed call, returns
what its library returns by default (torch-cam: normalised maps at the layer's resolution;
pytorch-grad-cam: normalised maps upsampled to the image, as NumPy), and explains a fixed
random class per image.

Peak memory is measured in a separate, untimed call of each method: the most memory allocated
during the call above what was allocated before it (model and inputs excluded). On CUDA this is
``torch.cuda.max_memory_allocated``; on CPU it is the running total of the tensor allocations
recorded by the PyTorch profiler, which misses memory that NumPy or OpenCV allocate themselves
(pytorch-grad-cam's resizing, for one).

Usage::

    python benchmarks/attribution_speed.py                    # a few minutes on 2 CPU cores
    python benchmarks/attribution_speed.py --batch-sizes 1 8 32 --repeats 7   # the full grid
    python benchmarks/attribution_speed.py --devices cuda --batch-sizes 1 8 32 --repeats 20

It prints Markdown tables; with ``--table`` it also writes them there as reStructuredText (the
documentation includes ``docs/benchmarks/attribution_speed.rst``, which ``make bench``
rewrites).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from captum.attr import LayerGradCam
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torchvision import models
from tqdm import tqdm

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI

MODELS: dict[str, tuple[str, Callable[..., nn.Module]]] = {
    "resnet18": ("ResNet-18", models.resnet18),
    "resnet50": ("ResNet-50", models.resnet50),
}
FORWARD = "forward pass"

Call = Callable[[], object]
"""One attribution of the prepared batch, from construction to clean-up."""
Builder = Callable[[nn.Module, Tensor, Tensor], Call]
"""Prepares a method for ``(model, inputs, target)``; raises ImportError when not installed."""


# --------------------------------------------------------------------------- the methods


def _forward(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    def call() -> object:
        with torch.no_grad():
            return model(inputs)

    return call


def _info_cam(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    return lambda: InfoCAM(model, model.layer4).attribute(inputs, target=target)


def _layer_pmi(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    return lambda: LayerPMI(model, model.layer4).attribute(inputs, target=target)


def _class_activation_map(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    return lambda: ClassActivationMap(model, model.layer4).attribute(inputs, target=target)


def _info_grad_cam(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    from captum_infocam.gradient import InfoGradCam  # lands with the gradient-form issue

    return lambda: InfoGradCam(model, model.layer4).attribute(inputs, target=target)


def _captum_layer_grad_cam(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    return lambda: LayerGradCam(model, model.layer4).attribute(inputs, target=target)


def _torchcam_cam(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    from torchcam.methods import CAM

    class_idx = target.tolist()

    def call() -> object:
        with CAM(model, target_layer="layer4", fc_layer="fc") as extractor:
            with torch.no_grad():
                scores = model(inputs)
            return extractor(class_idx=class_idx, scores=scores)

    return call


def _pytorch_grad_cam(model: nn.Module, inputs: Tensor, target: Tensor) -> Call:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [ClassifierOutputTarget(index) for index in target.tolist()]

    def call() -> object:
        with GradCAM(model=model, target_layers=[model.layer4]) as grad_cam:
            return grad_cam(input_tensor=inputs, targets=targets)

    return call


@dataclass(frozen=True)
class Method:
    """A row of the table: a display name, where it comes from and how to prepare it."""

    name: str
    package: str
    build: Builder


METHODS: tuple[Method, ...] = (
    Method(FORWARD, "torch", _forward),
    Method("InfoCAM", "captum-infocam", _info_cam),
    Method("LayerPMI (K = 1000)", "captum-infocam", _layer_pmi),
    Method("ClassActivationMap", "captum-infocam", _class_activation_map),
    Method("InfoGradCam", "captum-infocam", _info_grad_cam),
    Method("LayerGradCam", "captum", _captum_layer_grad_cam),
    Method("CAM", "torchcam", _torchcam_cam),
    Method("GradCAM", "grad-cam", _pytorch_grad_cam),
)


# --------------------------------------------------------------------------- measuring


@dataclass
class Measurement:
    """What one method gave on one configuration: times, peak memory or why it has none."""

    seconds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    problem: str | None = None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Call, device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    call()
    _synchronize(device)
    return time.perf_counter() - start


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the profiler's C++ log lines, which bypass Python's ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _peak_bytes(call: Call, device: torch.device) -> int:
    """Most memory allocated during ``call`` above what was allocated before it."""
    if device.type == "cuda":
        _synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        _synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    with tempfile.TemporaryDirectory() as folder:
        trace_path = Path(folder) / "trace.json"
        prof.export_chrome_trace(str(trace_path))
        events = json.loads(trace_path.read_text())["traceEvents"]
    allocations = sorted(
        (event["ts"], event["args"]["Bytes"])
        for event in events
        if event.get("name") == "[memory]" and event["args"].get("Device Type") == 0
    )
    live = peak = 0
    for _, size in allocations:
        live += size
        peak = max(peak, live)
    return peak


def _problem(error: BaseException) -> str:
    if isinstance(error, ImportError):
        return "not installed"
    return f"failed: {type(error).__name__}"


def measure(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    methods: Sequence[Method],
    repeats: int,
    warmup: int,
    progress: tqdm | None = None,
) -> dict[str, Measurement]:
    """Time ``methods`` against the forward pass on one batch, then measure peak memory.

    ``methods[0]`` is the baseline. Each round runs the baseline before and after every other
    method (``F m1 F m2 F ... F``, the order of the others rotating from round to round); a
    method's ratio in that round is its time over the mean of its two neighbouring baselines,
    so the load of the machine at that moment divides out. A method that cannot be imported or
    that raises is reported with the reason and left out.
    """
    device = inputs.device
    results = {method.name: Measurement() for method in methods}
    calls: dict[str, Call] = {}
    for method in methods:
        try:
            calls[method.name] = method.build(model, inputs, target)
        except ImportError as error:
            results[method.name].problem = _problem(error)
    baseline, *others = [method.name for method in methods]
    if baseline not in calls:
        raise RuntimeError(f"the baseline {baseline!r} is not available")

    def run(name: str) -> float | None:
        if name not in calls:
            return None
        try:
            return _timed(calls[name], device)
        except Exception as error:  # a broken peer must not stop the others
            if name == baseline:
                raise
            print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
            results[name].problem = _problem(error)
            del calls[name]
            return None

    for round_index in range(warmup + repeats):
        record = round_index >= warmup
        first = round_index % max(len(others), 1)
        before = run(baseline)
        for name in others[first:] + others[:first]:
            seconds = run(name)
            if seconds is None:
                continue
            after = run(baseline)
            if record:
                results[name].seconds.append(seconds)
                results[name].ratios.append(2 * seconds / (before + after))
                results[baseline].seconds.append(before)
            before = after
        if record:
            results[baseline].seconds.append(before)
        if progress is not None:
            progress.update(1)
    for name, call in calls.items():
        results[name].peak_bytes = _peak_bytes(call, device)
    return results


# --------------------------------------------------------------------------- reporting


@dataclass
class Configuration:
    """One column of the tables: a model and a batch size on a device."""

    model: str
    batch_size: int
    results: dict[str, Measurement]

    @property
    def label(self) -> str:
        return f"{MODELS[self.model][0]}, batch {self.batch_size}"


def _time_cell(config: Configuration, name: str) -> str:
    result = config.results[name]
    if result.problem is not None or not result.seconds:
        return result.problem or "n/a"
    if name == FORWARD:
        return f"{1e3 * statistics.median(result.seconds):.1f} ms"
    return f"{statistics.median(result.ratios):.2f}x"


def _memory_cell(config: Configuration, name: str) -> str:
    result = config.results[name]
    if result.problem is not None or result.peak_bytes is None:
        return result.problem or "n/a"
    return f"{result.peak_bytes / 2**20:.0f} MiB"


def _rows(
    configs: Sequence[Configuration], cell: Callable[[Configuration, str], str]
) -> list[list[str]]:
    return [
        [f"{method.name} ({method.package})", *(cell(config, method.name) for config in configs)]
        for method in METHODS
        if method.name in configs[0].results
    ]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, first column left-aligned, the others right."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def rst_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A reStructuredText ``list-table`` with a header row and a stub column."""
    lines = [".. list-table::", "   :header-rows: 1", "   :stub-columns: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines)


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name()}, {torch.get_num_threads()} threads"


def _versions() -> str:
    names = ("torch", "torchvision", "captum", "torchcam", "grad-cam")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def report(
    results: dict[torch.device, list[Configuration]], command: str, repeats: int
) -> tuple[str, str]:
    """The Markdown (for the terminal) and reStructuredText (for the docs) of every table."""
    today = datetime.date.today().isoformat()
    markdown = [f"Measured {today} with `{command}`; {_versions()}."]
    rst = [
        ".. This file is written by benchmarks/attribution_speed.py; do not edit it by hand.",
        "",
        f"Measured {today} with ``{command}`` ({repeats} repeats); {_versions()}.",
    ]
    for device, configs in results.items():
        header = ["method", *(config.label for config in configs)]
        title = f"{device.type.upper()}: {_device_name(device)}"
        time_rows = _rows(configs, _time_cell)
        memory_rows = _rows(configs, _memory_cell)
        markdown += [
            f"\n### {title}\n",
            "Time: the forward pass in ms; each method as a multiple of the forward passes run "
            "just before and after it (median over repeats).\n",
            markdown_table(header, time_rows),
            "\nPeak memory above the model and inputs during one call.\n",
            markdown_table(header, memory_rows),
        ]
        rst += [
            "",
            title,
            "^" * len(title),
            "",
            "Time: the forward pass in milliseconds; each method as a multiple of the forward "
            "passes run just before and after it (median over repeats).",
            "",
            rst_table(header, time_rows),
            "",
            "Peak memory above the model and inputs during one call"
            + (
                " (tensor allocations recorded by the PyTorch profiler; NumPy and OpenCV buffers "
                "are not counted)."
                if device.type == "cpu"
                else " (``torch.cuda.max_memory_allocated``)."
            ),
            "",
            rst_table(header, memory_rows),
        ]
    return "\n".join(markdown) + "\n", "\n".join(rst) + "\n"


# --------------------------------------------------------------------------- command line


def _devices(requested: Sequence[str]) -> list[torch.device]:
    devices = []
    for name in requested:
        if name == "cuda" and not torch.cuda.is_available():
            print("CUDA is not available: skipping the CUDA measurements", file=sys.stderr)
            continue
        devices.append(torch.device(name))
    return devices


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=("cpu", "cuda"),
        default=["cpu", "cuda"],
        help="cuda is skipped when no GPU is available",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--table",
        type=Path,
        default=None,
        help="also write the reStructuredText table to this file (the docs include "
        "docs/benchmarks/attribution_speed.rst); omitted or '-': print only",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("repeats", "image_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or min(args.batch_sizes) < 1:
        parser.error("--warmup must be >= 0 and every --batch-sizes entry >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    shown_args = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/attribution_speed.py", *shown_args])
    generator = torch.Generator().manual_seed(args.seed)
    results: dict[torch.device, list[Configuration]] = {}
    devices = _devices(args.devices)
    rounds = len(devices) * len(args.models) * len(args.batch_sizes) * (args.warmup + args.repeats)
    with tqdm(total=rounds, desc="rounds", unit="round") as progress:
        for device in devices:
            for model_name in args.models:
                model = MODELS[model_name][1](weights=None).eval().to(device)
                for batch_size in args.batch_sizes:
                    progress.set_postfix_str(f"{device.type} {model_name} batch {batch_size}")
                    shape = (batch_size, 3, args.image_size, args.image_size)
                    inputs = torch.randn(shape, generator=generator).to(device)
                    target = torch.randint(1000, (batch_size,), generator=generator).to(device)
                    measured = measure(
                        model, inputs, target, METHODS, args.repeats, args.warmup, progress
                    )
                    config = Configuration(model_name, batch_size, measured)
                    results.setdefault(device, []).append(config)
    markdown, rst = report(results, command, args.repeats)
    print(markdown)
    if args.table is not None and str(args.table) != "-":
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(rst)
        print(f"wrote {args.table}")


if __name__ == "__main__":
    main()
