"""Plain softmax vs PC-softmax training of an image classifier on imbalanced classes.

The imbalanced-classification experiment of Qin, Kim & Gedeon ("Rethinking Softmax with
Cross-Entropy", arXiv 1911.10688), in a form that runs offline: the authors capped half the
classes of MNIST / CUB-200 at a tenth of the others and compared plain softmax cross-entropy
(SCE) with the probability-corrected softmax (PC-softmax). Here the data are the package's
synthetic images (:func:`~captum_infocam.data.synthetic.make_localization_data`, 8 classes of
patterned markings, 32x32 px) and the model is its small GAP + linear CNN
(:class:`~captum_infocam.models.GAPClassifier`). Half the classes get a tenth of the training
images. The same network (same initialisation, same batches) is trained twice:

* ``SCE``: ``nn.CrossEntropyLoss``;
* ``PC``: :class:`~captum_infocam.PCSoftmaxCrossEntropyLoss` with the training class
  frequencies as the prior.

Decision rules. Each model predicts with the argmax of its own output: ``softmax(z)`` for SCE
and the PC-softmax for PC. The PC-softmax divides every class by the same
``sum_k pi_k exp z_k``, so its argmax is the argmax of ``z``, the Bayes rule for a *uniform*
test prior (PC logits model ``log p(x|y)``), while the SCE argmax is the Bayes rule for the
*training* prior. So that the comparison does not hide in the rule, the table also shows each
model with the other prior: SCE with ``argmax(z - log pi)`` (a post-hoc correction to a uniform
prior) and PC with ``argmax(z + log pi)`` (back to the training prior).

Both are evaluated on a balanced test set and on an imbalanced one with the training
proportions: overall accuracy, mean per-class (balanced) accuracy, and the mean accuracy of
the majority and of the minority classes. Several seeds (initialisation and batch order) show
the spread; the data are the same for every seed.

    python examples/pc_softmax_imbalanced.py                 # about 1.5 minutes on 2 CPU cores
    python examples/pc_softmax_imbalanced.py --fast --out /tmp/pc   # seconds, smoke test
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn
from tqdm import tqdm

from captum_infocam.data.synthetic import make_localization_data
from captum_infocam.information import PCSoftmaxCrossEntropyLoss
from captum_infocam.models import GAPClassifier, train_classifier
from captum_infocam.priors import as_class_prior

METRICS = ("overall", "per-class", "majority", "minority")


def imbalanced_counts(num_classes: int, majority: int) -> list[int]:
    """Half the classes (the first) get ``majority`` images, the other half a tenth of it."""
    minority = max(1, majority // 10)
    return [majority] * (num_classes // 2) + [minority] * (num_classes - num_classes // 2)


@torch.no_grad()
def logits_of(model: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    model.eval()
    return torch.cat([model(batch) for batch in images.split(batch_size)])


def accuracies(predicted: Tensor, labels: Tensor, minority: Tensor) -> dict[str, object]:
    """Overall, mean per-class, mean majority-class and mean minority-class accuracy, and
    the accuracy of every class, from the confusion matrix."""
    num_classes = minority.numel()
    confusion = torch.bincount(labels * num_classes + predicted, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes).double()
    per_class = confusion.diag() / confusion.sum(1)
    return {
        "overall": float(confusion.diag().sum() / confusion.sum()),
        "per-class": float(per_class.mean()),
        "majority": float(per_class[~minority].mean()),
        "minority": float(per_class[minority].mean()),
        "per_class_accuracy": per_class.tolist(),
    }


def evaluate(
    logits: Tensor, labels: Tensor, log_prior: Tensor, minority: Tensor, loss: str
) -> dict[str, dict[str, object]]:
    """Accuracies of a model's own rule and of the rule with the other prior."""
    if loss == "SCE":
        rules = {"softmax argmax (own)": logits, "argmax z - log pi": logits - log_prior}
    else:
        rules = {"PC-softmax argmax (own)": logits, "argmax z + log pi": logits + log_prior}
    return {rule: accuracies(z.argmax(1), labels, minority) for rule, z in rules.items()}


def print_table(results: list[dict], seeds: list[int]) -> None:
    """Mean over seeds (and the range) of every metric, per loss, rule and test set."""
    print(
        "\naccuracy in %, mean over seeds "
        f"{seeds} [min, max]; majority / minority: mean accuracy of those classes"
    )
    header = f"{'test set':<11} {'training':<8} {'decision rule':<24}" + "".join(
        f" {metric:>20}" for metric in METRICS
    )
    print(header)
    print("-" * len(header))
    keys = sorted(
        {(r["test"], r["loss"], r["rule"]) for r in results},
        key=lambda k: (k[0], k[1] != "SCE", "own" not in k[2]),
    )
    for test, loss, rule in keys:
        runs = [r for r in results if (r["test"], r["loss"], r["rule"]) == (test, loss, rule)]
        cells = []
        for metric in METRICS:
            values = torch.tensor([100 * r[metric] for r in runs])
            cells.append(f"{values.mean():6.1f} [{values.min():5.1f},{values.max():5.1f}]")
        print(f"{test:<11} {loss:<8} {rule:<24}" + "".join(f" {c:>20}" for c in cells))


def plot(results: list[dict], path: Path) -> None:
    """Per-class accuracy of each model's own rule, balanced and imbalanced test sets."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    lowest = 100.0
    for axis, test in zip(axes, ("balanced", "imbalanced"), strict=True):
        means = []
        for offset, (loss, color) in enumerate((("SCE", "tab:blue"), ("PC", "tab:red"))):
            runs = [
                r for r in results if r["test"] == test and r["loss"] == loss and "own" in r["rule"]
            ]
            per_class = 100 * torch.tensor([r["per_class_accuracy"] for r in runs]).mean(0)
            lowest = min(lowest, float(per_class.min()))
            classes = torch.arange(len(per_class))
            axis.bar(
                (classes + 0.4 * offset - 0.2).tolist(), per_class.tolist(), width=0.4,
                color=color,
                label=f"{loss}, {'softmax' if loss == 'SCE' else 'PC-softmax'} argmax",
            )  # fmt: skip
            means.append(f"{loss} {per_class.mean():.1f}%")
        num_classes = len(per_class)
        axis.axvspan(num_classes // 2 - 0.5, num_classes - 0.5, color="grey", alpha=0.12, lw=0)
        axis.set_xticks(range(num_classes))
        axis.set_xlabel("class (shaded: a tenth of the training images)")
        axis.set_title(f"{test} test set\nmean per-class accuracy: {', '.join(means)}", fontsize=10)
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(max(0.0, lowest - 10), 100.5)
    axes[0].set_ylabel("per-class accuracy (%), mean over seeds")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=2, fontsize=9)
    figure.suptitle("Plain softmax vs PC-softmax training on imbalanced classes")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    parser.add_argument("--fast", action="store_true", help="seconds: 4 classes, tiny sets")
    parser.add_argument("--num-classes", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--majority", type=int, default=800, help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is robust on a busy machine)"
    )
    args = parser.parse_args(argv)
    if args.fast:
        args.num_classes, args.majority, args.test_per_class = 4, 150, 25
        args.epochs, args.seeds = 3, [0]
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    k = args.num_classes
    train_counts = imbalanced_counts(k, args.majority)
    data_kwargs = {"num_classes": k, "image_size": args.image_size}
    train = make_localization_data(class_counts=train_counts, seed=100, **data_kwargs)
    tests = {
        "balanced": make_localization_data(
            class_counts=[args.test_per_class] * k, seed=101, **data_kwargs
        ),
        "imbalanced": make_localization_data(
            class_counts=imbalanced_counts(k, 2 * args.test_per_class), seed=102, **data_kwargs
        ),
    }
    prior = as_class_prior(train_counts, k)  # the training class frequencies
    minority = prior < prior.max()
    print(f"training counts per class: {train_counts} ({sum(train_counts)} images)")
    for name, test in tests.items():
        print(f"{name} test counts: {torch.bincount(test.labels, minlength=k).tolist()}")

    results = []
    runs = [(seed, loss) for seed in args.seeds for loss in ("SCE", "PC")]
    for seed, loss in tqdm(runs, desc="models", unit="model"):
        torch.manual_seed(seed)  # the same initialisation for both losses
        model = GAPClassifier(num_classes=k)
        loss_fn = nn.CrossEntropyLoss() if loss == "SCE" else PCSoftmaxCrossEntropyLoss(prior)
        train_classifier(
            model, train.images, train.labels, epochs=args.epochs, loss_fn=loss_fn, seed=seed
        )
        for test_name, test in tests.items():
            logits = logits_of(model, test.images)
            rules = evaluate(logits, test.labels, prior.log(), minority, loss)
            for rule, metrics in rules.items():
                results.append(
                    {"seed": seed, "loss": loss, "test": test_name, "rule": rule, **metrics}
                )

    print_table(results, args.seeds)
    plot(results, args.out / "pc_softmax_imbalanced.png")
    settings = {key: str(value) for key, value in vars(args).items()}
    payload = {"settings": settings, "train_counts": train_counts, "results": results}
    (args.out / "pc_softmax_imbalanced.json").write_text(json.dumps(payload, indent=1))
    print(
        f"wrote {args.out / 'pc_softmax_imbalanced.png'} and pc_softmax_imbalanced.json "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return results


if __name__ == "__main__":
    main()
