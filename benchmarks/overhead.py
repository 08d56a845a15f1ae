"""Overhead of the CAM-family attributions over a plain forward pass.

For a torchvision ResNet-50 (``weights=None``) at 224 px, times a ``torch.no_grad()`` forward
and ``InfoCAM.attribute`` / ``LayerPMI.attribute`` / ``ClassActivationMap.attribute``
interleaved (round-robin within each repeat, so drift hits every method alike) and prints the
median time of each and its ratio to the forward. The physical limit is 1.00x: every method
needs that forward pass.

    python benchmarks/overhead.py                 # CPU, and CUDA when available
    python benchmarks/overhead.py --batch-size 8 --repeats 30 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.models import resnet50

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    methods: dict[str, Callable[[], object]], repeats: int, warmup: int, device: torch.device
) -> dict[str, float]:
    """Median seconds per call of each method, timed round-robin."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for step in range(warmup + repeats):
        for name, method in methods.items():
            synchronize(device)
            start = time.perf_counter()
            method()
            synchronize(device)
            if step >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run(device: torch.device, batch_size: int, repeats: int, warmup: int) -> str:
    torch.manual_seed(0)
    model = resnet50(weights=None).eval().to(device)
    images = torch.randn(batch_size, 3, 224, 224, device=device)
    target = torch.randint(1000, (batch_size,), device=device)
    info_cam = InfoCAM(model, model.layer4)
    pmi = LayerPMI(model, model.layer4)
    cam = ClassActivationMap(model, model.layer4)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(images)

    methods = {
        "forward (no_grad)": forward,
        "InfoCAM": lambda: info_cam.attribute(images, target),
        "LayerPMI (K=1000)": lambda: pmi.attribute(images, target),
        "ClassActivationMap": lambda: cam.attribute(images, target),
    }
    medians = interleaved_medians(methods, repeats, warmup, device)
    base = medians["forward (no_grad)"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = torch.get_num_threads()
    lines = [
        f"ResNet-50, 224 px, batch {batch_size}, {name} ({threads} threads), "
        f"median of {repeats} interleaved repeats",
        "",
        "| method | median ms | ratio to forward |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {method} | {1000 * seconds:.1f} | {seconds / base:.3f}x |"
        for method, seconds in medians.items()
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    args = parser.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("CUDA: no device available, skipped")
            continue
        print(run(torch.device(device), args.batch_size, args.repeats, args.warmup), "\n")


if __name__ == "__main__":
    main()
