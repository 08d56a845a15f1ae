"""WSOL ablation: what infoCAM's localisation gain over CAM is made of.

infoCAM changes CAM in two ways at once: it averages the map over an ``s x s`` window (the
region the head is applied to) and it subtracts a contrast (the mean of the other classes,
the least or the most likely other class). The infoCAM authors' scripts add a third
ingredient, their geometry: a window summed with zero "full" padding, so the map grows to
``(h + s - 1) x (w + s - 1)`` and is stretched over the image. This script separates the
three on two synthetic families with exact boxes and masks:

* ``markings`` (:func:`~captum_infocam.data.make_localization_data`): the class is a small
  periodic marking on part of a class-free body, with decoys of other classes' markings;
* ``textures`` (:func:`~captum_infocam.data.make_texture_data`): the class is a random
  texture over the whole object, with plain blobs behind it and bars in front.

For each family it trains ``--seeds`` small GAP CNNs (:class:`~captum_infocam.models.
GAPClassifier`, cached under ``--cache``), explains the true class of the held-out images
with every method of :data:`METHODS`, upsamples the maps bicubically to the image and scores
them with the public metrics of :mod:`captum_infocam.localization`: MaxBoxAcc (IoU 0.5),
MaxBoxAccV2 (IoU 0.3/0.5/0.7, every contour), PxAP, and the infoCAM papers' GT-known and
top-1 loc at the fixed threshold 0.2. Each cell is the mean over the training seeds with two
standard errors: over the seeds, and over the test images (a bootstrap that resamples the
images, the same resamples for every seed and method). Gains over CAM are reported with the
standard errors of the paired differences. Writes ``ablation.md``, ``ablation.csv`` and
figures under ``--out``.

    python examples/wsol_ablation.py                          # 26 CPU-min; models cached
    python examples/wsol_ablation.py --smoke --out /tmp/abl   # seconds, for the tests
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from captum_infocam.data import make_localization_data, make_texture_data
from captum_infocam.localization import (
    box_hits,
    histogram_average_precision,
    pixel_score_histograms,
    reference_boxes_from_maps,
    threshold_grid,
    top1_correct,
)
from captum_infocam.maps import class_activation_map, info_cam
from captum_infocam.models import GAPClassifier, accuracy, train_classifier
from captum_infocam.visualization import compare_maps

FAMILIES: dict[str, Callable[..., Any]] = {
    "markings": make_localization_data,
    "textures": make_texture_data,
}
METRICS = ("MaxBoxAcc", "MaxBoxAccV2", "PxAP", "GT-known loc", "top-1 loc")
IOU_V2 = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class Method:
    """One row of the ablation: a name, the ingredient it tests, ``InfoCAM`` options
    (``None`` for plain CAM), and whether a ``padding="full"`` map is cropped back to the
    layer's positions (zeros outside the map, but no squeeze toward the centre)."""

    name: str
    group: str
    options: dict[str, Any] | None
    unsqueezed: bool = False


def methods(window: int) -> list[Method]:
    """The rows of the table; ``window`` is the side ``s`` of every windowed map."""
    s = window
    return [
        Method("CAM", "baseline", None),
        Method(f"regional CAM (no contrast), s={s}", "window only", {"contrast": "none"}),
        Method("mean contrast, s=1", "contrast only", {"contrast": "mean", "region_size": 1}),
        Method(
            "least-likely contrast, s=1",
            "contrast only",
            {"contrast": "least_likely", "region_size": 1},
        ),
        Method(
            "most-likely contrast (Finer-CAM, alpha=1), s=1",
            "contrast only",
            {"contrast": "most_likely", "region_size": 1},
        ),
        Method(f"infoCAM mean, s={s}", "window + contrast", {"contrast": "mean"}),
        Method(f"infoCAM least-likely, s={s}", "window + contrast", {"contrast": "least_likely"}),
        Method(f"infoCAM most-likely, s={s}", "window + contrast", {"contrast": "most_likely"}),
        Method(
            f"full padding, no contrast, s={s}",
            "authors' geometry",
            {"contrast": "none", "padding": "full"},
        ),
        Method(
            f"zeros outside but not squeezed, no contrast, s={s}",
            "authors' geometry",
            {"contrast": "none", "padding": "full"},
            unsqueezed=True,
        ),
        Method(
            f"full padding, least-likely, s={s}",
            "authors' geometry",
            {"contrast": "least_likely", "padding": "full"},
        ),
        Method(
            f"full padding, mean, s={s}",
            "authors' geometry",
            {"contrast": "mean", "padding": "full"},
        ),
        Method(
            "most-likely, alpha=0.5, s=1",
            "Finer-CAM strength",
            {"contrast": "most_likely", "contrast_weight": 0.5, "region_size": 1},
        ),
        Method(
            f"most-likely, alpha=0.5, s={s}",
            "Finer-CAM strength",
            {"contrast": "most_likely", "contrast_weight": 0.5},
        ),
    ]


FIGURE_METHODS = (0, 1, 2, 5, 8, 10)  # rows of methods() drawn in the example figure


# --------------------------------------------------------------------------- maps


def explain(
    activations: Tensor,
    logits: Tensor,
    head: nn.Linear,
    method: Method,
    labels: Tensor,
    window: int,
) -> Tensor:
    """The method's map of the true class from the layer's activations ``(N, C, h, w)``.

    The pure functions of :mod:`captum_infocam.maps`, so that one forward pass serves every
    method; ``InfoCAM(model, model.features).attribute(images, labels, **options)`` returns
    the same maps. The result has the layer's resolution, or ``h + s - 1`` with
    ``padding="full"``. An ``unsqueezed`` row crops the full map back to the layer's
    positions: output ``o`` of the full map covers positions ``o - s + 1 .. o``, so the crop
    from ``s // 2`` puts each window back on the position it is centred on (the ``"same"``
    convention), with the zeros outside still counted.
    """
    weight, bias = head.weight.detach(), head.bias.detach()
    if method.options is None:
        return class_activation_map(activations, weight, labels)
    options = {"region_size": window, **method.options}
    result = info_cam(activations, weight, bias, labels, logits=logits, **options)
    if method.unsqueezed:
        start = window // 2
        height, width = activations.shape[-2:]
        result = result[..., start : start + height, start : start + width]
    return result


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps (any resolution: a "full" map is larger than the layer) stretched over the image,
    bicubically in float64 as the reference evaluation (and the authors' OpenCV resize) do."""
    return F.interpolate(maps.double(), size=size, mode="bicubic", align_corners=False)


# --------------------------------------------------------------------------- per-image scores


@dataclass
class ImageScores:
    """Everything a metric needs, per test image, so that images can be resampled."""

    hits: Tensor  # (N, T) bool: largest-contour box at IoU >= 0.5, per threshold
    hits_v2: Tensor  # (N, 3, T) bool: best contour box at IoU 0.3, 0.5, 0.7
    histograms: Tensor  # (N, 2, T' + 2) int64: pixel score counts, foreground / background
    gt_known: Tensor  # (N,) bool at threshold 0.2, IoU 0.5
    correct: Tensor  # (N,) bool: top-1 prediction is the label

    def metrics(self, weights: Tensor) -> Tensor:
        """The five metrics (in %) under image weights ``(B, N)``: ``(B, 5)``.

        Row ``b`` weighs image ``n`` by ``weights[b, n]`` (a bootstrap resample counts how
        often each image was drawn; all ones is the test set itself).
        """
        w = weights.double()
        total = w.sum(dim=1, keepdim=True)
        box = (w @ self.hits.double()) / total
        v2 = (w @ self.hits_v2.flatten(1).double()).view(len(w), *self.hits_v2.shape[1:])
        v2 = (v2 / total[:, :, None]).amax(dim=2).mean(dim=1)
        hist = (w @ self.histograms.flatten(1).double()).view(len(w), *self.histograms.shape[1:])
        gt_known = (w @ self.gt_known.double()) / total[:, 0]
        top1 = (w @ (self.gt_known & self.correct).double()) / total[:, 0]
        return 100 * torch.stack(
            [box.amax(dim=1), v2, histogram_average_precision(hist), gt_known, top1], dim=1
        )


def score_methods(
    model: nn.Module, rows: list[Method], test: Any, args: argparse.Namespace
) -> tuple[dict[str, ImageScores], dict[str, Tensor]]:
    """Per-image scores of every method over the test set, and each method's first maps."""
    thresholds = threshold_grid(args.thresholds)
    # GT-known loc is the box hit at the fixed threshold 0.2, a point of every grid used here
    # (localization_accuracy computes the same hits on its own; the tests check it).
    fixed = int(torch.isclose(thresholds, torch.tensor(0.2, dtype=thresholds.dtype)).nonzero())
    parts: dict[str, list[ImageScores]] = {method.name: [] for method in rows}
    first: dict[str, Tensor] = {}
    for start in range(0, len(test), args.batch_size):
        batch = test.subset(slice(start, start + args.batch_size))
        images, labels, boxes = batch.images, batch.labels, batch.boxes[:, None]
        with torch.no_grad():
            activations = model.features(images)
            logits = model.fc(model.pool(activations).flatten(1))
        correct = top1_correct(logits, labels)
        for method in rows:
            layer_maps = explain(activations, logits, model.fc, method, labels, args.window)
            image_maps = upsample(layer_maps, images.shape[-2:])
            first.setdefault(method.name, image_maps)
            hits = box_hits(image_maps, boxes, thresholds, (0.5,))[:, 0]
            parts[method.name].append(
                ImageScores(
                    hits=hits,
                    hits_v2=box_hits(image_maps, boxes, thresholds, IOU_V2, multi_contour=True),
                    histograms=pixel_score_histograms(
                        image_maps[:, 0], batch.masks, thresholds, per_image=True
                    ),
                    gt_known=hits[:, fixed],
                    correct=correct,
                )
            )
    fields = list(ImageScores.__dataclass_fields__)
    scores = {
        name: ImageScores(*(torch.cat([getattr(p, f) for p in chunks]) for f in fields))
        for name, chunks in parts.items()
    }
    return scores, first


# --------------------------------------------------------------------------- training


def trained_model(family: str, seed: int, train: Any, args: argparse.Namespace) -> nn.Module:
    """A GAP CNN trained on ``train`` with ``seed``, from the cache when it was trained before."""
    config = {
        "family": family,
        "seed": seed,
        "train_images": len(train),
        "image_size": args.image_size,
        "classes": args.classes,
        "epochs": args.epochs,
        "width": args.width,
    }
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = args.cache / f"{family}-seed{seed}-{key}.pt"
    torch.manual_seed(seed)
    model = GAPClassifier(num_classes=args.classes, width=args.width)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    train_classifier(
        model, train.images, train.labels, epochs=args.epochs, seed=seed, progress=False
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


# --------------------------------------------------------------------------- tables


def summarise(per_seed: Tensor) -> dict[str, Tensor]:
    """Mean and standard errors from bootstrap replicates ``(S, 1 + B, ...)``.

    Row 0 of dimension 1 is the test set itself, rows 1.. the resamples. Returns the mean over
    seeds, its standard error over seeds, and its bootstrap standard error over images (the
    spread of the seed-mean across resamples).
    """
    values = per_seed[:, 0]
    seeds = values.shape[0]
    seed_se = (
        values.std(dim=0) / math.sqrt(seeds) if seeds > 1 else torch.full_like(values[0], math.nan)
    )
    image_se = per_seed[:, 1:].mean(dim=0).std(dim=0)
    return {"mean": values.mean(dim=0), "seed_se": seed_se, "image_se": image_se}


def cell(mean: float, seed_se: float, image_se: float) -> str:
    return f"{mean:.1f} ({seed_se:.1f}, {image_se:.1f})"


def write_tables(
    results: dict[str, dict[str, dict[str, Tensor]]],
    gains: dict[str, dict[str, dict[str, Tensor]]],
    rows: list[Method],
    header: list[str],
    out: Path,
) -> str:
    """Markdown (returned and written) and CSV of every family's results and gains."""
    lines = list(header)
    csv_rows = []
    for family, by_method in results.items():
        lines += [
            "",
            f"**{family}**: scores",
            "",
            "| ingredient | method | " + " | ".join(METRICS) + " |",
            "|---|---|" + "---:|" * len(METRICS),
        ]
        for method in rows:
            stats = by_method[method.name]
            cells = [
                cell(
                    float(stats["mean"][k]), float(stats["seed_se"][k]), float(stats["image_se"][k])
                )
                for k in range(len(METRICS))
            ]
            lines.append(f"| {method.group} | {method.name} | " + " | ".join(cells) + " |")
            gain = gains[family][method.name]
            for k, metric in enumerate(METRICS):
                csv_rows.append(
                    {
                        "family": family,
                        "ingredient": method.group,
                        "method": method.name,
                        "metric": metric,
                        "mean": f"{float(stats['mean'][k]):.3f}",
                        "se_seeds": f"{float(stats['seed_se'][k]):.3f}",
                        "se_images": f"{float(stats['image_se'][k]):.3f}",
                        "gain_over_cam": f"{float(gain['mean'][k]):.3f}",
                        "gain_se_seeds": f"{float(gain['seed_se'][k]):.3f}",
                        "gain_se_images": f"{float(gain['image_se'][k]):.3f}",
                    }
                )
        lines += [
            "",
            f"**{family}**: gain over CAM (paired differences, with the standard errors of the "
            "difference over seeds and over images)",
            "",
            "| method | " + " | ".join(METRICS) + " |",
            "|---|" + "---:|" * len(METRICS),
        ]
        for method in rows[1:]:
            gain = gains[family][method.name]
            cells = [
                f"{float(gain['mean'][k]):+.1f} ({float(gain['seed_se'][k]):.1f}, "
                f"{float(gain['image_se'][k]):.1f})"
                for k in range(len(METRICS))
            ]
            lines.append(f"| {method.name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(text)
    with (out / "ablation.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(csv_rows[0]))
        writer.writeheader()
        writer.writerows(csv_rows)
    return text


def gain_figure(
    gains: dict[str, dict[str, dict[str, Tensor]]], rows: list[Method], path: Path
) -> None:
    """Bars of the gain over CAM in MaxBoxAccV2, PxAP and GT-known loc, per family."""
    shown = [METRICS.index(m) for m in ("MaxBoxAccV2", "PxAP", "GT-known loc")]
    figure = Figure(figsize=(6.5 * len(gains), 0.42 * len(rows) + 1.5))
    axes = figure.subplots(1, len(gains), sharey=True, squeeze=False)[0]
    names = [method.name for method in rows[1:]]
    height = 0.8 / len(shown)
    for ax, (family, by_method) in zip(axes, gains.items(), strict=True):
        for j, k in enumerate(shown):
            means = [float(by_method[name]["mean"][k]) for name in names]
            errors = [
                math.hypot(
                    float(by_method[name]["seed_se"][k]), float(by_method[name]["image_se"][k])
                )
                for name in names
            ]
            positions = [i + (j - 1) * height for i in range(len(names))]
            ax.barh(positions, means, height, xerr=errors, label=METRICS[k], capsize=2)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"{family}: gain over CAM (points)")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    figure.savefig(path, dpi=100, bbox_inches="tight")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per family")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--test-images", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--width", type=int, default=16, help="GAPClassifier width")
    parser.add_argument("--window", type=int, default=3, help="window side s of windowed maps")
    parser.add_argument("--thresholds", type=int, default=1000, help="size of the tau grid")
    parser.add_argument("--bootstrap", type=int, default=1000, help="image resamples")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--figure-images", type=int, default=5, help="rows of the map figure")
    parser.add_argument("--out", type=Path, default=Path("outputs/wsol_ablation"))
    parser.add_argument("--cache", type=Path, default=None, help="default: <out>/models")
    parser.add_argument(
        "--smoke", "--fast", action="store_true", help="tiny run in seconds, for the tests"
    )
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    if args.smoke:
        args.seeds, args.image_size, args.train_images, args.test_images = 2, 32, 96, 24
        args.epochs, args.width, args.thresholds, args.bootstrap = 1, 4, 50, 50
        args.figure_images = 2
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.thresholds % 5:
        parser.error("--thresholds must be a multiple of 5, so that 0.2 is on the grid")
    args.cache = args.cache or args.out / "models"
    args.out.mkdir(parents=True, exist_ok=True)
    rows = methods(args.window)
    started = time.perf_counter()
    timings = {"training": 0.0, "evaluation": 0.0}
    results: dict[str, dict[str, dict[str, Tensor]]] = {}
    gains: dict[str, dict[str, dict[str, Tensor]]] = {}
    accuracies: dict[str, list[float]] = {}

    for family in args.families:
        make = FAMILIES[family]
        common = {"num_classes": args.classes, "image_size": args.image_size}
        train = make(args.train_images, seed=0, **common)
        test = make(args.test_images, seed=1, **common)
        # The same image resamples for every seed and method: paired comparisons.
        draws = torch.randint(
            len(test), (args.bootstrap, len(test)), generator=torch.Generator().manual_seed(0)
        )
        weights = torch.ones(1 + args.bootstrap, len(test))
        weights[1:] = 0
        weights[1:].scatter_add_(1, draws, torch.ones_like(draws, dtype=weights.dtype))
        replicates: dict[str, list[Tensor]] = {method.name: [] for method in rows}
        figure_maps: list[Tensor] = []
        accuracies[family] = []
        for seed in range(args.seeds):
            tick = time.perf_counter()
            model = trained_model(family, seed, train, args)
            timings["training"] += time.perf_counter() - tick
            accuracies[family].append(100 * accuracy(model, test.images, test.labels))
            tick = time.perf_counter()
            scores, first_maps = score_methods(model, rows, test, args)
            for method in rows:
                replicates[method.name].append(scores[method.name].metrics(weights))
            if seed == 0:
                figure_maps = [first_maps[rows[i].name] for i in FIGURE_METHODS]
            timings["evaluation"] += time.perf_counter() - tick
        per_method = {name: torch.stack(values) for name, values in replicates.items()}
        results[family] = {name: summarise(values) for name, values in per_method.items()}
        cam = per_method[rows[0].name]
        gains[family] = {name: summarise(values - cam) for name, values in per_method.items()}
        shown = [rows[i] for i in FIGURE_METHODS]
        example_figure(test, figure_maps, shown, family, args.out, args.figure_images)
        print(
            f"{family}: top-1 accuracy "
            + ", ".join(f"{a:.1f}%" for a in accuracies[family])
            + f" (seeds 0..{args.seeds - 1})",
            flush=True,
        )

    elapsed = time.perf_counter() - started
    header = [
        "**WSOL ablation**",
        "",
        f"{args.seeds} training seeds per family, {args.train_images} training and "
        f"{args.test_images} test images of {args.image_size} px, {args.classes} classes, "
        f"GAPClassifier(width={args.width}) trained {args.epochs} epochs; window s={args.window} "
        f"on {args.image_size // 4} x {args.image_size // 4} maps; {args.thresholds} thresholds; "
        f"{args.bootstrap} image resamples.",
        "Cells: mean over seeds (standard error over seeds, bootstrap standard error over "
        "test images), in %.",
        "Top-1 accuracy: "
        + "; ".join(
            f"{family} " + ", ".join(f"{a:.1f}" for a in values) + "%"
            for family, values in accuracies.items()
        )
        + ".",
        f"Run time: {elapsed:.0f} s ({timings['training']:.0f} s training or loading, "
        f"{timings['evaluation']:.0f} s maps and metrics).",
    ]
    text = write_tables(results, gains, rows, header, args.out)
    gain_figure(gains, rows, args.out / "ablation_gains.png")
    print(text)
    print(f"tables: {args.out / 'ablation.md'}, {args.out / 'ablation.csv'}")
    print(f"figures: {args.out / 'ablation_gains.png'}, {args.out}/ablation_maps_<family>.png")


def example_figure(
    test: Any, maps: list[Tensor], shown: list[Method], family: str, out: Path, count: int
) -> None:
    """``count`` test images with a few methods' maps, true boxes and boxes at tau 0.2."""
    index = torch.arange(min(count, len(test)))
    images = test.images[index]
    attributions = {method.name: m[index] for method, m in zip(shown, maps, strict=True)}
    predicted = {
        name: [box[None] for box in reference_boxes_from_maps(m, [0.2])[:, 0]]
        for name, m in attributions.items()
    }
    figure, _ = compare_maps(
        images,
        attributions,
        true_boxes=[box[None] for box in test.boxes[index]],
        predicted_boxes=predicted,
        row_labels=[test.class_names[int(y)] for y in test.labels[index]],
    )
    figure.savefig(out / f"ablation_maps_{family}.png", dpi=70, bbox_inches="tight")


if __name__ == "__main__":
    main()
