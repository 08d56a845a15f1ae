"""Evaluate CAM, Grad-CAM, infoCAM and InfoGradCam with Quantus on the synthetic images.

Trains (or loads from the cache) the small GAP + linear CNN of the quickstart, explains the true
class of held-out synthetic images through :func:`captum_infocam.quantus_explainer`, and scores
the maps with Quantus metrics of five families: localisation against the objects' exact masks,
faithfulness, robustness, complexity and randomisation (MPRT). Every metric runs with Quantus's
defaults except where its column says otherwise, and NumPy's global generator is reseeded
before each one, so every method meets the same perturbations. Prints a Markdown table and
writes it to ``--out``.

    python examples/quantus_evaluation.py                 # about 15 minutes of CPU time
    python examples/quantus_evaluation.py --fast --out /tmp/quantus   # seconds: the smoke test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import quantus
import torch
from captum.attr import LayerGradCam
from torch import nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, quantus_explainer
from captum_infocam.data.synthetic import LocalizationBatch, make_localization_data
from captum_infocam.models import GAPClassifier, accuracy, train_classifier

CACHE = Path(__file__).resolve().parent.parent / ".cache"

METHODS: dict[str, Callable[..., np.ndarray]] = {
    "CAM": quantus_explainer(ClassActivationMap, "features"),
    "Grad-CAM (Captum)": quantus_explainer(LayerGradCam, "features"),
    "infoCAM": quantus_explainer(InfoCAM, "features"),
    "InfoGradCam": quantus_explainer(InfoGradCam, "features"),
}
"""Each method's Quantus explain_func: the true class's map upsampled bilinearly to the image."""


def metrics(fast: bool) -> dict[str, tuple[str, Callable[[], quantus.Metric]]]:
    """Column title -> (family, a new metric): Quantus's defaults unless the title says."""
    samples = 2 if fast else 10
    return {
        "Pointing game ↑": ("localisation", quantus.PointingGame),
        "Top-k (k=100) ↑": ("localisation", lambda: quantus.TopKIntersection(k=100)),
        "Rel. rank acc. ↑": ("localisation", quantus.RelevanceRankAccuracy),
        "Rel. mass acc. ↑": ("localisation", quantus.RelevanceMassAccuracy),
        "Attr. localisation (abs) ↑": ("localisation", quantus.AttributionLocalisation),
        "Faithfulness corr. ↑": (
            "faithfulness",
            lambda: quantus.FaithfulnessCorrelation(
                nr_runs=5 if fast else 100, return_aggregate=False
            ),
        ),
        "Pixel-flipping AUC ↓": (
            "faithfulness",
            lambda: quantus.PixelFlipping(features_in_step=1024 if fast else 256),
        ),
        "Max-sensitivity ↓": ("robustness", lambda: quantus.MaxSensitivity(nr_samples=samples)),
        "Local Lipschitz ↓": (
            "robustness",
            lambda: quantus.LocalLipschitzEstimate(nr_samples=samples),
        ),
        "Sparseness (abs) ↑": ("complexity", quantus.Sparseness),
        "Complexity (abs) ↓": ("complexity", quantus.Complexity),
        "MPRT, all layers (abs) ↓": (
            "randomisation",
            lambda: quantus.MPRT(return_last_correlation=True, skip_layers=True),
        ),
    }


def trained_model(config: dict, train: LocalizationBatch, cache: Path, progress: bool) -> nn.Module:
    """Train the CNN, or load it from the cache when the same configuration ran before."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = cache / f"quantus-evaluation-{key}.pt"
    torch.manual_seed(config["seed"])
    model = GAPClassifier(num_classes=config["num_classes"], width=config["width"])
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        print(f"loaded the trained model from {path}")
        return model.eval()
    train_classifier(
        model, train.images, train.labels, epochs=config["epochs"], seed=config["seed"],
        progress=progress,
    )  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


def score(
    metric: quantus.Metric,
    model: nn.Module,
    test: LocalizationBatch,
    explain: Callable[..., np.ndarray],
    seed: int,
) -> float:
    """The metric's mean over the images, with NumPy's generator reseeded first."""
    np.random.seed(seed)  # noqa: NPY002 -- Quantus draws from NumPy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = metric(
            model=model,
            x_batch=test.images.numpy(),
            y_batch=test.labels.numpy(),
            s_batch=test.masks[:, None].numpy(),
            explain_func=explain,
        )
    if isinstance(metric, quantus.PixelFlipping):
        # AUC of the class probability over the share of pixels flipped. Quantus's own
        # return_auc_per_sample calls np.trapz, which NumPy 2 removed.
        curves = np.asarray(scores, dtype=float)
        return float(np.trapezoid(curves, dx=1 / curves.shape[1], axis=1).mean())
    return float(np.nanmean(np.asarray(scores, dtype=float)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/quantus_evaluation"))
    parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
    parser.add_argument("--images", type=int, default=256, help="held-out images to explain")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where trained weights are kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    config = {
        "num_classes": 4,
        "seed": args.seed,
        "epochs": 1 if args.fast else 4,
        "train": 256 if args.fast else 2000,
        "image_size": 32 if args.fast else 64,
        "width": 8 if args.fast else 16,
    }
    size = config["image_size"]
    train = make_localization_data(config["train"], num_classes=4, image_size=size, seed=0)
    test = make_localization_data(
        8 if args.fast else args.images, num_classes=4, image_size=size, seed=1
    )
    model = trained_model(config, train, args.cache, progress=not args.no_progress)
    print(f"\nheld-out accuracy: {100 * accuracy(model, test.images, test.labels):.1f}%")

    columns = metrics(args.fast)
    rows = {}
    for name, explain in METHODS.items():
        start = time.perf_counter()
        rows[name] = [
            score(make(), model, test, explain, args.seed) for _, make in columns.values()
        ]
        print(f"{name}: {time.perf_counter() - start:.0f} s")

    families = " | ".join(family for family, _ in columns.values())
    lines = [
        f"| method | {' | '.join(columns)} |",
        "|---|" + "---:|" * len(columns),
        f"| *family* | {families} |",
        *(
            f"| {name} | {' | '.join(f'{v:.3f}' for v in values)} |"
            for name, values in rows.items()
        ),
    ]
    table = "\n".join(lines)
    print(f"\n{len(test)} held-out images, {test.images.shape[-1]} x {test.images.shape[-2]}:\n")
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "quantus_evaluation.md"
    path.write_text(table + "\n")
    print(f"\ntable: {path}")


if __name__ == "__main__":
    main()
