"""Quickstart: train a small GAP + linear CNN on synthetic images, then localise with its maps.

Trains :class:`~captum_infocam.models.GAPClassifier` on the synthetic localisation set (cached,
so a second run skips training), explains held-out images with ``ClassActivationMap``,
Captum's ``LayerGradCam``, ``InfoCAM`` and ``LayerPMI``, and prints, for each method, the share
of images whose box -- drawn around the largest connected region above 20% of the map's
maximum, the authors' fixed threshold -- has IoU >= 0.5 with the true box (GT-known
localisation). Writes a figure of examples with their maps and boxes.

    python examples/quickstart.py                  # about a minute on 2 CPU cores
    python examples/quickstart.py --fast --out /tmp/quickstart
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import Tensor, nn

from captum_infocam import ClassActivationMap, InfoCAM, LayerPMI
from captum_infocam.data.synthetic import LocalizationBatch, make_localization_data
from captum_infocam.localization import box_iou, reference_boxes_from_maps
from captum_infocam.models import GAPClassifier, accuracy, train_classifier
from captum_infocam.visualization import compare_maps

CACHE = Path(__file__).resolve().parent.parent / ".cache"


def trained_model(
    config: dict, train: LocalizationBatch, cache: Path = CACHE, progress: bool = True
) -> nn.Module:
    """Train the CNN, or load it from the cache when the same configuration ran before."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = cache / f"quickstart-{key}.pt"
    torch.manual_seed(config["seed"])
    model = GAPClassifier(num_classes=config["num_classes"])
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        print(f"loaded the trained model from {path}")
        return model.eval()
    train_classifier(
        model,
        train.images,
        train.labels,
        epochs=config["epochs"],
        seed=config["seed"],
        progress=progress,
    )
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


def explain(model: nn.Module, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Each method's map of the true class, at the layer's resolution."""
    layer = model.features
    return {
        "CAM": ClassActivationMap(model, layer).attribute(images, labels),
        "Grad-CAM (Captum)": LayerGradCam(model, layer).attribute(images, labels),
        "infoCAM": InfoCAM(model, layer).attribute(images, labels),
        "infoCAM (1x1 regions)": InfoCAM(model, layer).attribute(images, labels, region_size=1),
        "PMI": LayerPMI(model, layer).attribute(images, labels),
    }


def gt_known_localization(maps: Tensor, true_boxes: Tensor, threshold: float = 0.2) -> Tensor:
    """Per image: the box of the largest region above ``threshold`` and whether IoU >= 0.5."""
    boxes = reference_boxes_from_maps(maps, [threshold])[:, 0]
    return boxes, box_iou(boxes, true_boxes) >= 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/quickstart"))
    parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where trained weights are kept")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    config = {
        "num_classes": 4,
        "seed": 0,
        "epochs": 1 if args.fast else 4,
        "train": 256 if args.fast else 2000,
    }
    train = make_localization_data(config["train"], num_classes=4, seed=0)
    test = make_localization_data(64 if args.fast else 500, num_classes=4, seed=1)
    model = trained_model(config, train, args.cache, progress=not args.no_progress)

    with torch.no_grad():
        predicted = model(test.images).argmax(1)
    maps = {
        name: LayerAttribution.interpolate(m, test.images.shape[-2:], "bilinear")
        for name, m in explain(model, test.images, test.labels).items()
    }
    results = {name: gt_known_localization(m, test.boxes) for name, m in maps.items()}

    top1 = accuracy(model, test.images, test.labels)
    print(f"\nheld-out accuracy: {100 * top1:.1f}% on {len(test)} images\n")
    print("| method | GT-known loc (tau 0.2, IoU >= 0.5) | top-1 loc |")
    print("|---|---:|---:|")
    correct = predicted == test.labels
    for name, (_, hit) in results.items():
        print(
            f"| {name} | {100 * hit.double().mean():.1f}% | "
            f"{100 * (hit & correct).double().mean():.1f}% |"
        )

    shown = torch.arange(6)
    figure, _ = compare_maps(
        test.images[shown],
        {name: m[shown] for name, m in maps.items()},
        true_boxes=[box[None] for box in test.boxes[shown]],
        predicted_boxes={
            name: [box[None] for box in boxes[shown]] for name, (boxes, _) in results.items()
        },
        row_labels=[test.class_names[y] for y in test.labels[shown].tolist()],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "quickstart.png"
    figure.savefig(path, dpi=80, bbox_inches="tight")
    print(f"\nfigure: {path} (green: true box, red: box from the map)")


if __name__ == "__main__":
    main()
