#!/usr/bin/env python
"""Time per map of the WSOL box metrics: captum-infocam against the OpenCV reference protocol.

The reference (``clovaai/wsolevaluation``, re-implemented in ``tests/opencv_reference.py``,
the test suite's oracle) evaluates one map and one threshold at a time with
``cv2.threshold`` and ``cv2.findContours``; captum-infocam evaluates a batch of maps at every
threshold in one pass. Both compute the same thing: the benchmark checks that their per-image
hits are identical before it reports a time.

Maps are random score maps like real CAMs: a random ``7 x 7`` field upsampled bicubically to
``224 x 224`` (one or two blobs), and a ``14 x 14`` field (several blobs, more local maxima and
holes), with one to three random ground-truth boxes each. For each kind of map, number of
thresholds ``T`` and metric (MaxBoxAcc: the largest contour at IoU 0.5; MaxBoxAccV2: every
contour at IoU 0.3, 0.5, 0.7), every repeat times, for one thread and for the default thread
count in turn, the reference on ``--reference-maps`` maps, captum-infocam on a batch of
``--batch-size`` maps and captum-infocam on ``--single-maps`` maps one at a time, so that all
of them share the machine's state. On the CPU, captum-infocam runs its native kernel
(``captum_infocam/localization/_contours.c``); the batch is also timed on the torch
implementation (``CAPTUM_INFOCAM_NATIVE=0``), which is what CUDA devices and machines without a
C compiler run. The table reports medians over the repeats of the time per map, the ratio of
the medians, and the range of the per-repeat ratios.

Usage::

    python benchmarks/wsol_speed.py                      # a few minutes on 2 CPU cores
    python benchmarks/wsol_speed.py --repeats 9 --reference-maps 32
    python benchmarks/wsol_speed.py --device cuda --batch-size 256
    python benchmarks/wsol_speed.py --repeats 7 --table docs/benchmarks/wsol_speed.md

It prints a Markdown table; with ``--table`` it also writes it there (the docs include
``docs/benchmarks/wsol_speed.md``, which ``make bench`` rewrites).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from captum_infocam.localization import (
    _contours,
    as_ground_truth_boxes,
    box_hits,
    box_iou,
    reference_boxes_from_maps,
    threshold_grid,
)

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))  # the OpenCV reference is the tests' oracle
from opencv_reference import normalize_scoremap, reference_box_hits  # noqa: E402

METRICS = {"MaxBoxAcc": (False, (0.5,)), "MaxBoxAccV2": (True, (0.3, 0.5, 0.7))}
MAP_KINDS = {"smooth (7 x 7 field)": 7, "multi-blob (14 x 14 field)": 14}


def smooth_maps(count: int, size: int, grid: int, seed: int) -> torch.Tensor:
    """Random CAM-like maps: bicubic upsampling of a random ``grid x grid`` field (float64)."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.randn(count, 1, grid, grid, generator=generator, dtype=torch.float64)
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


def random_boxes(count: int, size: int, seed: int) -> list[torch.Tensor]:
    """One to three random inclusive boxes per image, at least 8 pixels wide and high."""
    generator = torch.Generator().manual_seed(seed)
    boxes = []
    for _ in range(count):
        number = int(torch.randint(1, 4, (1,), generator=generator))
        corner = torch.randint(0, size - 8, (number, 2), generator=generator)
        extent = (torch.rand(number, 2, generator=generator) * (size - corner)).long()
        far = torch.minimum(corner + extent.clamp(min=7), torch.tensor(size - 1))
        boxes.append(torch.cat([corner, far], dim=1))
    return boxes


def timed(call: Callable[[], object], synchronize: Callable[[], None]) -> float:
    """Wall-clock seconds of one call, synchronising the device before and after."""
    synchronize()
    start = time.perf_counter()
    call()
    synchronize()
    return time.perf_counter() - start


def pixel_count_boxes(maps: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """Boxes ``(N, T, 4)`` if "the largest region" were the component with most pixels.

    The reference keeps the contour of largest ``cv2.contourArea`` (the polygon through the
    boundary pixels, holes included); counting pixels instead is the common shortcut,
    measured here to show what the choice is worth.
    """
    import cv2

    boxes = np.zeros((len(maps), len(thresholds), 4), dtype=np.int64)
    for index, scoremap in enumerate(maps):
        quantised = (normalize_scoremap(scoremap) * 255).astype(np.uint8)
        peak = int(quantised.max())
        height, width = quantised.shape
        for t, threshold in enumerate(thresholds):
            binary = (quantised > int(threshold * peak)).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            if count > 1:
                largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                x, y, w, h = stats[largest, :4]
                boxes[index, t] = [x, y, min(x + w, width - 1), min(y + h, height - 1)]
    return boxes


def largest_region_ablation(
    maps: torch.Tensor, boxes: list[torch.Tensor]
) -> tuple[float, float, float]:
    """Share of (map, threshold) boxes that change, and MaxBoxAcc (IoU 0.5) with the contour
    area (the reference) and with the pixel count, at T = 100."""
    thresholds = threshold_grid(100)
    protocol = reference_boxes_from_maps(maps, thresholds)
    alternative = torch.from_numpy(pixel_count_boxes(maps.numpy(), thresholds.tolist()))
    changed = float((protocol != alternative).any(-1).double().mean())
    truth, valid = as_ground_truth_boxes(boxes, len(maps), maps.shape[1], maps.shape[2])

    def max_box_acc(predicted: torch.Tensor) -> float:
        iou = box_iou(predicted.unsqueeze(2), truth.unsqueeze(1))  # (N, T, M)
        best = torch.where(valid.unsqueeze(1), iou, -1.0).amax(-1)
        return float((best >= 0.5).double().mean(0).max())

    return changed, max_box_acc(protocol), max_box_acc(alternative)


@contextlib.contextmanager
def torch_implementation():
    """Evaluate on the torch implementation instead of the native CPU kernel."""
    previous = os.environ.get("CAPTUM_INFOCAM_NATIVE")
    os.environ["CAPTUM_INFOCAM_NATIVE"] = "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["CAPTUM_INFOCAM_NATIVE"]
        else:
            os.environ["CAPTUM_INFOCAM_NATIVE"] = previous


def pair(values: tuple[float, float], digits: int = 2, suffix: str = "") -> str:
    """``"a / b"``: the one-thread and the default-thread figures of one cell."""
    return " / ".join(f"{value:.{digits}f}{suffix}" for value in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--size", type=int, default=224, help="map side in pixels")
    parser.add_argument("--batch-size", type=int, default=64, help="captum-infocam batch")
    parser.add_argument("--reference-maps", type=int, default=16, help="maps per reference run")
    parser.add_argument("--single-maps", type=int, default=8, help="maps timed one at a time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--table", type=Path, default=None, help="also write the Markdown table to this file"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation-maps", type=int, default=64, help="for the region rule")
    args = parser.parse_args(argv)

    import cv2

    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # The thread settings compared: one thread, and the defaults of this process.
    default_threads = (torch.get_num_threads(), cv2.getNumThreads())
    settings = {"1 thread": (1, 1), "default": default_threads}

    native = _contours.available(device)
    methods = (
        ("reference", "batch", "single", "torch") if native else ("reference", "batch", "single")
    )
    rows = []
    cases = [
        (kind, count, name) for kind in MAP_KINDS for count in args.thresholds for name in METRICS
    ]
    for kind, count, name in tqdm(cases, desc="cases"):
        grid = MAP_KINDS[kind]
        maps = smooth_maps(args.batch_size, args.size, grid, args.seed)
        boxes = random_boxes(args.batch_size, args.size, args.seed + 1)
        device_maps = maps.to(device)
        device_boxes = [b.to(device) for b in boxes]
        reference_maps = maps[: args.reference_maps].numpy()
        reference_boxes = [b.numpy() for b in boxes[: args.reference_maps]]
        multi_contour, deltas = METRICS[name]
        thresholds = threshold_grid(count)

        case = (thresholds, deltas, multi_contour)

        def reference(maps=reference_maps, boxes=reference_boxes, case=case):
            thresholds, deltas, multi_contour = case
            return reference_box_hits(maps, boxes, thresholds.tolist(), deltas, multi_contour)

        def batched(maps=device_maps, boxes=device_boxes, case=case):
            return box_hits(maps, boxes, *case)

        def single(maps=device_maps, boxes=device_boxes, case=case):
            for index in range(args.single_maps):
                box_hits(maps[index : index + 1], boxes[index : index + 1], *case)

        def torch_batched(maps=device_maps, boxes=device_boxes, case=case):
            with torch_implementation():
                return box_hits(maps, boxes, *case)

        expected = reference()
        identical = np.array_equal(batched().cpu().numpy()[: args.reference_maps], expected)
        if native:
            hits = torch_batched().cpu().numpy()[: args.reference_maps]
            identical = identical and np.array_equal(hits, expected)
        if not identical:
            print(f"{kind}, {name}, T={count}: hits differ from the reference", file=sys.stderr)
        times = {(s, m): [] for s in settings for m in methods}
        for repeat in range(args.repeats + 1):  # the first round warms up and is dropped
            for setting, (torch_threads, cv2_threads) in settings.items():
                torch.set_num_threads(torch_threads)
                cv2.setNumThreads(cv2_threads)
                for method, call, per in (
                    ("reference", reference, len(reference_maps)),
                    ("batch", batched, args.batch_size),
                    ("single", single, args.single_maps),
                    ("torch", torch_batched, args.batch_size),
                ):
                    if method not in methods:
                        continue
                    elapsed = timed(call, synchronize) / per * 1000
                    if repeat:
                        times[setting, method].append(elapsed)
        torch.set_num_threads(default_threads[0])
        cv2.setNumThreads(default_threads[1])
        rows.append((kind, count, name, times, identical))

    names = {"batch": f"batch of {args.batch_size}", "single": "one map at a time"}
    if native:
        names["torch"] = f"torch implementation, batch of {args.batch_size}"
    header = "| T | maps | metric | reference (ms/map) | " + " | ".join(
        [f"{label} (ms/map)" for label in names.values()]
        + [f"speed-up, {label}" for label in names.values()]
    )
    columns = 3 + 2 * len(names)
    lines = [header + " | identical hits |", "|---|---|---|" + "---:|" * columns + "---|"]
    for kind, count, name, times, identical in sorted(rows, key=lambda row: row[1]):
        median = {key: statistics.median(values) for key, values in times.items()}
        cells = [pair(tuple(median[s, "reference"] for s in settings))]
        cells += [pair(tuple(median[s, method] for s in settings)) for method in names]
        for method in names:
            ratios = tuple(median[s, "reference"] / median[s, method] for s in settings)
            spread = [
                [r / m for r, m in zip(times[s, "reference"], times[s, method], strict=True)]
                for s in settings
            ]
            ranges = " / ".join(f"{min(values):.1f}-{max(values):.1f}" for values in spread)
            cells.append(f"{pair(ratios, 1, 'x')} ({ranges})")
        lines.append(
            f"| {count} | {kind} | {name} | "
            + " | ".join(cells)
            + f" | {'yes' if identical else 'NO'} |"
        )
    ablation_maps = smooth_maps(args.ablation_maps, args.size, MAP_KINDS["smooth (7 x 7 field)"], 0)
    ablation_boxes = random_boxes(args.ablation_maps, args.size, args.seed + 1)
    changed, protocol, alternative = largest_region_ablation(ablation_maps, ablation_boxes)
    compiled = " ".join(_contours.compile_command("<library>")).replace(f"{REPOSITORY}/", "")
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    )
    notes = [
        "",
        "Each cell gives one thread / the default thread count "
        f"(torch {default_threads[0]}, OpenCV {default_threads[1]}); a speed-up is the ratio "
        "of the median times, with the range of the per-repeat ratios in brackets.",
        f"Maps: {args.size} x {args.size}, bicubic upsampling of random fields; the reference "
        f"timed on {args.reference_maps} maps, captum-infocam on a batch of {args.batch_size} "
        f"and on {args.single_maps} maps one at a time; medians of {args.repeats} repeats after "
        "a warm-up, all methods and thread settings interleaved in every repeat.",
        f"Device: {device.type} ({device_name or 'unknown CPU'}), torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}, {datetime.date.today().isoformat()}.",
        (
            f"captum-infocam ran its native CPU kernel (compiled with `{compiled}`); the torch "
            "implementation's column is the same evaluation with `CAPTUM_INFOCAM_NATIVE=0`, "
            "as on CUDA devices and machines without a C compiler."
            if native
            else "captum-infocam ran its torch implementation (no native kernel on this device)."
        ),
        f"Largest region by pixel count instead of contour area (T=100, {args.ablation_maps} "
        f"smooth maps and their random boxes): {100 * changed:.2f}% of the boxes change and "
        f"MaxBoxAcc (IoU 0.5) moves from {100 * protocol:.1f} to {100 * alternative:.1f}. "
        "captum-infocam uses the contour area, as the reference.",
    ]
    text = "\n".join(lines + notes) + "\n"
    print(text)
    if args.table is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(
            "<!-- written by benchmarks/wsol_speed.py "
            + " ".join(sys.argv[1:] if argv is None else argv)
            + " -->\n"
            + text
        )
    return 0 if all(identical for *_, identical in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
