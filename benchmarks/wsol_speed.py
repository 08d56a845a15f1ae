#!/usr/bin/env python
"""Time per map of the WSOL box metrics: captum-infocam against the OpenCV reference protocol.

The reference (``clovaai/wsolevaluation``, re-implemented in ``tests/opencv_reference.py``,
the test suite's oracle) evaluates one map and one threshold at a
time with ``cv2.threshold`` and ``cv2.findContours``; captum-infocam evaluates a batch of maps
at every threshold in one pass. Both compute the same thing: the benchmark checks that their
per-image hits are identical before it reports a time.

Maps are random smooth score maps like real CAMs: a random ``7 x 7`` (or ``14 x 14``) grid
upsampled bicubically to ``224 x 224``, with one to three random ground-truth boxes each.
For each number of thresholds ``T`` and each metric (MaxBoxAcc: the largest contour at
IoU 0.5; MaxBoxAccV2: every contour at IoU 0.3, 0.5, 0.7), every repeat times the reference
on ``--reference-maps`` maps and captum-infocam on a batch of ``--batch-size`` maps and on
single maps, one after the other, so they share the machine's state; the table reports
medians over repeats of the time per map.

Usage::

    python benchmarks/wsol_speed.py                      # about a minute on 2 CPU cores
    python benchmarks/wsol_speed.py --repeats 7 --reference-maps 32
    python benchmarks/wsol_speed.py --device cuda --batch-size 256

It prints a Markdown table and writes it to ``--table`` (``docs/benchmarks/wsol_speed.md``).
"""

from __future__ import annotations

import argparse
import datetime
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
    as_ground_truth_boxes,
    box_hits,
    box_iou,
    reference_boxes_from_maps,
    threshold_grid,
)

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))  # the OpenCV reference is the tests' oracle
from opencv_reference import normalize_scoremap, reference_box_hits  # noqa: E402

DEFAULT_TABLE = REPOSITORY / "docs" / "benchmarks" / "wsol_speed.md"
METRICS = {"MaxBoxAcc": (False, (0.5,)), "MaxBoxAccV2": (True, (0.3, 0.5, 0.7))}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--size", type=int, default=224, help="map side in pixels")
    parser.add_argument("--grid", type=int, default=7, help="side of the random field")
    parser.add_argument("--batch-size", type=int, default=64, help="captum-infocam batch")
    parser.add_argument("--reference-maps", type=int, default=16, help="maps per reference run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation-maps", type=int, default=64, help="for the region rule")
    args = parser.parse_args(argv)

    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    maps = smooth_maps(args.batch_size, args.size, args.grid, args.seed)
    boxes = random_boxes(args.batch_size, args.size, args.seed + 1)
    device_maps = maps.to(device)
    device_boxes = [b.to(device) for b in boxes]
    reference_maps = maps[: args.reference_maps].numpy()
    reference_boxes = [b.numpy() for b in boxes[: args.reference_maps]]

    rows = []
    settings = [(t, name) for t in args.thresholds for name in METRICS]
    for count, name in tqdm(settings, desc="settings"):
        multi_contour, deltas = METRICS[name]
        thresholds = threshold_grid(count)

        def reference(thresholds=thresholds, multi_contour=multi_contour, deltas=deltas):
            return reference_box_hits(
                reference_maps, reference_boxes, thresholds.tolist(), deltas, multi_contour
            )

        def batched(thresholds=thresholds, multi_contour=multi_contour, deltas=deltas):
            return box_hits(device_maps, device_boxes, thresholds, deltas, multi_contour)

        def single(thresholds=thresholds, multi_contour=multi_contour, deltas=deltas):
            return box_hits(device_maps[:1], device_boxes[:1], thresholds, deltas, multi_contour)

        ours = batched().cpu().numpy()  # warm-up, and the parity check
        identical = np.array_equal(ours[: args.reference_maps], reference())
        if not identical:
            print(f"{name}, T={count}: hits differ from the reference", file=sys.stderr)
        times: dict[str, list[float]] = {"reference": [], "batch": [], "single": []}
        for _ in tqdm(range(args.repeats), desc=f"{name} T={count}", leave=False):
            times["reference"].append(timed(reference, synchronize) / len(reference_maps))
            times["batch"].append(timed(batched, synchronize) / args.batch_size)
            times["single"].append(timed(single, synchronize))
        median = {key: statistics.median(values) * 1000 for key, values in times.items()}
        rows.append((count, name, median, identical))

    header = (
        "| T | metric | reference, OpenCV (ms/map) "
        f"| captum-infocam, batch of {args.batch_size} (ms/map) "
        "| captum-infocam, one map (ms) | speed-up (batch) | identical hits |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---|"]
    for count, name, median, identical in rows:
        lines.append(
            f"| {count} | {name} | {median['reference']:.2f} | {median['batch']:.2f} "
            f"| {median['single']:.2f} | {median['reference'] / median['batch']:.1f}x "
            f"| {'yes' if identical else 'NO'} |"
        )
    changed, protocol, alternative = largest_region_ablation(
        maps[: args.ablation_maps], boxes[: args.ablation_maps]
    )
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    )
    notes = [
        "",
        f"Maps: {args.size} x {args.size}, bicubic upsampling of random {args.grid} x "
        f"{args.grid} fields; reference timed on {len(reference_maps)} maps, captum-infocam on "
        f"a batch of {args.batch_size} and on one map; medians of {args.repeats} repeats.",
        f"Device: {device.type} ({device_name or 'unknown CPU'}), torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}, {args.threads} thread(s) each, "
        f"{datetime.date.today().isoformat()}.",
        f"Largest region by pixel count instead of contour area (T=100, "
        f"{min(args.ablation_maps, len(maps))} maps and their random boxes): "
        f"{100 * changed:.2f}% of the boxes change and MaxBoxAcc (IoU 0.5) moves "
        f"from {100 * protocol:.1f} to {100 * alternative:.1f}. captum-infocam uses the contour "
        "area, as the reference.",
    ]
    text = "\n".join(lines + notes) + "\n"
    print(text)
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
