"""WSOL benchmark: how well do CAM, Grad-CAM and infoCAM localise objects?

Trains (or loads) a small global-average-pooling + linear CNN
(:class:`~captum_infocam.models.GAPClassifier`), explains the true class of every test image
with ``ClassActivationMap``, Captum's ``LayerGradCam`` and ``InfoCAM`` (each contrast, a few
region sizes), and scores the maps with the box protocol of Choe et al. (CVPR 2020):

* MaxBoxAcc at IoU 0.5 (largest contour, best threshold) and MaxBoxAccV2 (every contour,
  mean over IoU 0.3, 0.5, 0.7), over the thresholds ``0, 0.001, ..., 0.999``;
* the infoCAM papers' GT-known loc and top-1 loc at the fixed threshold 0.2, IoU 0.5.

Maps are upsampled to the image bicubically (as the reference does), then evaluated by
:class:`~captum_infocam.localization.BoxLocalizationMetrics`. The data is the synthetic
localisation set by default; ``--root`` points to CUB-200-2011 (``CUB_200_2011``) or
Tiny-ImageNet (``tiny-imagenet-200``) on disk instead. Nothing is downloaded. Prints a
Markdown table and writes a figure of examples with their boxes.

    python examples/wsol_benchmark.py                          # a few minutes on 2 CPU cores
    python examples/wsol_benchmark.py --fast --out /tmp/wsol   # seconds, for smoke tests
    python examples/wsol_benchmark.py --root data/CUB_200_2011 --image-size 128 --epochs 20
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from captum_infocam import ClassActivationMap, InfoCAM
from captum_infocam.data import CUB200, TinyImageNet
from captum_infocam.data.synthetic import make_localization_data
from captum_infocam.localization import (
    BoxLocalizationMetrics,
    BoxLocalizationResult,
    reference_boxes_from_maps,
    threshold_grid,
)
from captum_infocam.models import GAPClassifier, train_classifier
from captum_infocam.visualization import compare_maps

CACHE = Path(__file__).resolve().parent.parent / ".cache"
Batch = tuple[Tensor, Tensor, Tensor]  # images (N, 3, H, W), labels (N,), boxes (N, M, 4)
Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------- data


def open_dataset(root: Path, split: str, image_size: int) -> Dataset:
    """CUB-200-2011 or Tiny-ImageNet, recognised by their metadata files."""
    if (root / "images.txt").is_file():
        return CUB200(root, split="train" if split == "train" else "test", image_size=image_size)
    if (root / "wnids.txt").is_file():
        return TinyImageNet(
            root, split="train" if split == "train" else "val", image_size=image_size
        )
    raise FileNotFoundError(
        f"{root} is neither CUB_200_2011 (images.txt) nor tiny-imagenet-200 (wnids.txt)"
    )


def batches(source: Dataset | tuple[Tensor, Tensor, Tensor], size: int) -> Iterator[Batch]:
    """Batches of (images, labels, boxes) from an in-memory set or a dataset on disk."""
    if isinstance(source, tuple):
        images, labels, boxes = source
        for start in range(0, len(labels), size):
            yield (
                images[start : start + size],
                labels[start : start + size],
                boxes[start : start + size],
            )
        return
    for sample in DataLoader(source, batch_size=size, num_workers=0):
        yield sample.image, sample.label, sample.boxes


def load_sets(args: argparse.Namespace) -> tuple[Tensor, Tensor, object, list[str]]:
    """Training images and labels in memory, the test source, and the class names."""
    if args.root is None:
        train = make_localization_data(args.train_images, num_classes=args.classes, seed=0)
        test = make_localization_data(args.test_images, num_classes=args.classes, seed=1)
        source = (test.images, test.labels, test.boxes.unsqueeze(1))
        return train.images, train.labels, source, list(test.class_names)
    train_set = open_dataset(args.root, "train", args.image_size)
    test_set = open_dataset(args.root, "test", args.image_size)
    generator = torch.Generator().manual_seed(0)
    keep = torch.randperm(len(train_set), generator=generator)[: args.train_images]
    images, labels = [], []
    for image, label, _ in tqdm(
        DataLoader(Subset(train_set, keep.tolist()), batch_size=64),
        desc="reading training images",
        disable=args.no_progress,
    ):
        images.append(image)
        labels.append(label)
    test_keep = torch.randperm(len(test_set), generator=generator)[: args.test_images]
    source = Subset(test_set, test_keep.tolist())
    return torch.cat(images), torch.cat(labels), source, list(train_set.class_names)


# --------------------------------------------------------------------------- model


def trained_model(
    args: argparse.Namespace, images: Tensor, labels: Tensor, num_classes: int
) -> nn.Module:
    """Train the CNN, or load it from ``--weights`` or from the cache of an earlier run."""
    torch.manual_seed(args.seed)
    model = GAPClassifier(num_classes=num_classes)
    if args.weights is not None:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        return model.eval()
    config = {
        "root": str(args.root),
        "image_size": args.image_size,
        "train_images": len(labels),
        "classes": num_classes,
        "epochs": args.epochs,
        "seed": args.seed,
    }
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = args.cache / f"wsol-benchmark-{key}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        print(f"loaded the trained model from {path}")
        return model.eval()
    train_classifier(
        model, images, labels, epochs=args.epochs, seed=args.seed, progress=not args.no_progress
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


# --------------------------------------------------------------------------- methods


def info_cam(contrast: str, region_size: int) -> Explainer:
    def explain(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        method = InfoCAM(model, model.features)
        return method.attribute(images, labels, contrast=contrast, region_size=region_size)

    return explain


METHODS: dict[str, Explainer] = {
    "CAM": lambda model, x, y: ClassActivationMap(model, model.features).attribute(x, y),
    "Grad-CAM (Captum)": lambda model, x, y: LayerGradCam(model, model.features).attribute(x, y),
    "infoCAM mean, s=1": info_cam("mean", 1),
    "infoCAM mean, s=3": info_cam("mean", 3),
    "infoCAM mean, s=5": info_cam("mean", 5),
    "infoCAM least-likely, s=3": info_cam("least_likely", 3),
    "infoCAM none (regional CAM), s=3": info_cam("none", 3),
}
FIGURE_METHODS = ("CAM", "infoCAM mean, s=3", "infoCAM least-likely, s=3")


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps at the layer's resolution to the image's, bicubically and in float64 like the
    reference (``cv2.resize`` of a float64 map)."""
    return F.interpolate(maps.double(), size=size, mode="bicubic", align_corners=False)


# --------------------------------------------------------------------------- main


def evaluate(
    model: nn.Module, source: object, args: argparse.Namespace
) -> tuple[dict[str, BoxLocalizationResult], float, Batch, dict[str, Tensor]]:
    """Every method's metrics over the test set, the accuracy, and the first batch's maps."""
    thresholds = threshold_grid(100 if args.fast else 1000)
    metrics = {name: BoxLocalizationMetrics(thresholds) for name in METHODS}
    correct = seen = 0
    first: Batch | None = None
    first_maps: dict[str, Tensor] = {}
    progress = tqdm(batches(source, args.batch_size), desc="evaluating", disable=args.no_progress)
    for images, labels, boxes in progress:
        with torch.no_grad():
            logits = model(images)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        for name, explain in METHODS.items():
            maps = upsample(explain(model, images, labels).detach(), images.shape[-2:])
            metrics[name].update(maps, boxes, predictions=logits, labels=labels)
            if first is None:
                first_maps[name] = maps
        first = first or (images, labels, boxes)
    assert first is not None
    return {name: m.compute() for name, m in metrics.items()}, correct / seen, first, first_maps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="CUB_200_2011 or Tiny-ImageNet")
    parser.add_argument("--image-size", type=int, default=64, help="with --root")
    parser.add_argument("--classes", type=int, default=4, help="synthetic set only")
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--test-images", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--weights", type=Path, default=None, help="a GAPClassifier state dict")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs"))
    parser.add_argument("--cache", type=Path, default=CACHE, help="where trained weights are kept")
    parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files only, never a window
    if args.fast:
        args.train_images, args.test_images, args.epochs = 256, 64, 1

    images, labels, source, class_names = load_sets(args)
    model = trained_model(args, images, labels, len(class_names))
    results, top1, (images, labels, boxes), maps = evaluate(model, source, args)

    print(f"\ntop-1 accuracy: {100 * top1:.1f}% on the test images\n")
    print(
        "| method | MaxBoxAcc (IoU 0.5) | best tau | MaxBoxAccV2 | GT-known loc (tau 0.2) "
        "| top-1 loc (tau 0.2) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        middle = int((result.iou_thresholds == 0.5).nonzero()[0])
        top1_loc = result.top1_loc if result.top1_loc is not None else torch.tensor(float("nan"))
        print(
            f"| {name} | {100 * result.max_box_accuracy[middle]:.1f} "
            f"| {result.best_threshold[middle]:.3f} | {100 * result.max_box_accuracy_v2:.1f} "
            f"| {100 * result.gt_known_loc:.1f} | {100 * top1_loc:.1f} |"
        )

    print(
        "\nCAM and Grad-CAM rows match by construction: on a GAP + linear model Captum's "
        "LayerGradCam\n(no ReLU) weighs channel c by W[y, c] / (h * w), so its map is CAM "
        "divided by h * w, and\nmin-max normalisation removes the factor. The row checks the "
        "pipeline against a peer."
    )

    shown = torch.arange(min(6, len(labels)))
    figure, _ = compare_maps(
        images[shown],
        {name: maps[name][shown] for name in FIGURE_METHODS},
        true_boxes=list(boxes[shown]),
        predicted_boxes={
            name: [b[None] for b in reference_boxes_from_maps(maps[name][shown], [0.2])[:, 0]]
            for name in FIGURE_METHODS
        },
        row_labels=[class_names[int(y)] for y in labels[shown]],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "wsol_benchmark.png"
    figure.savefig(path, dpi=80, bbox_inches="tight")
    print(f"\nfigure: {path} (green: true box, red: largest region above 0.2 of the maximum)")


if __name__ == "__main__":
    main()
