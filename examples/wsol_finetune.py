"""Fine-tune a WSOL backbone with Choe et al.'s recipe, then run their protocol on val and test.

Reads a benchmark in the wsolevaluation metadata layout (ILSVRC, CUB or OpenImages; see
:class:`~captum_infocam.data.WSOLMetadataDataset`), fine-tunes ResNet-50, VGG16-GAP or
Inception-v3 in the WSOL form (:mod:`captum_infocam.backbones`) on ``train``, and evaluates
CAM, infoCAM and InfoGradCam with the protocol of Choe et al. (CVPR 2020):

1. every setting of each method (infoCAM's and InfoGradCam's ``contrast`` and
   ``region_size``) is scored on ``val`` (train-fullsup) by MaxBoxAccV2 (boxes) or PxAP
   (masks); the best setting is kept, and the best score-map threshold at each IoU threshold
   is read off its ``val`` curves (:func:`~captum_infocam.wsol_protocol.best_thresholds`);
2. ``test`` is evaluated once per method, at that setting: the threshold-free MaxBoxAcc,
   MaxBoxAccV2 and PxAP that Choe et al. report, and BoxAcc, GT-known and top-1 loc at the
   thresholds chosen on ``val`` (:func:`~captum_infocam.wsol_protocol.box_accuracy_at`).

Nothing is downloaded except the ImageNet weights named by ``--weights``, which torchvision
fetches into its cache (``--weights none`` trains from scratch; a file path loads a local state
dict). Prints a Markdown table and writes ``wsol_protocol.json`` and the fine-tuned weights
under ``--out``.

    python examples/wsol_finetune.py --data-root dataset/CUB --metadata-root metadata/CUB \\
        --architecture resnet50 --out outputs/cub_resnet50
    python examples/wsol_finetune.py --fast --data-root ... --metadata-root ...   # seconds
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision.transforms.v2 as T
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam
from captum_infocam.backbones import WSOLBackbone, inception_v3_wsol, resnet50_wsol, vgg16_gap
from captum_infocam.data import WSOLMetadataDataset, collate_localization
from captum_infocam.localization import (
    BoxLocalizationMetrics,
    PixelAveragePrecision,
    threshold_grid,
)
from captum_infocam.wsol_protocol import best_thresholds, box_accuracy_at

BACKBONES = {"resnet50": resnet50_wsol, "vgg16": vgg16_gap, "inception_v3": inception_v3_wsol}

# Choe et al.'s recipe. From their code (clovaai/wsolevaluation):
# - config.py: SGD with momentum 0.9; the "classifier" part at lr_classifier_ratio = 10 times
#   the learning rate (main.py: for ResNet-50 layer4 and fc, for VGG16 and Inception-v3 the
#   layers added after the pretrained ones; WSOLBackbone.param_groups); the learning rate times
#   0.1 at every lr_decay_frequency-th epoch (main.py, adjust_learning_rate); Nesterov momentum
#   (main.py, _set_optimizer). None of the run scripts cited below changes the ratio or momentum;
# - data_loaders.py: training images resized to 256 x 256, a random 224 x 224 crop and a random
#   horizontal flip; val and test images resized to 224 x 224; ImageNet mean and std.
#
# The rest was chosen per dataset and architecture by a random search on train-fullsup, and is
# published only in the results spreadsheet that the README links ("More detailed results and
# corresponding hyperparameter sets"; issues #10 and #22 point there too), which could not be
# read from here. The values below are CAM's, as later WSOL code copies them into run scripts:
# - [dual-cam] finallyupper/dual-cam, scripts/run_train.sh, the "vanilla" CAM runs; its README
#   says these settings are "almost equivalent with" that spreadsheet. Its rates carry the
#   search's 8 to 11 significant digits, except OpenImages Inception-v3 (0.0003), left out;
# - [IVR] GenDisc/IVR, README.md (Kim, Choe, Yun, Kwak, ICCV 2021): CUB VGG16;
# - [WSOL_RS] jjRen-xd/WSOL_RS, train_PN2.sh, CAM runs: the three CUB rates below, with the
#   same weight decays and feature-map sizes, reused on its own data set;
# - [#60] github.com/clovaai/wsolevaluation/issues/60: CUB VGG16 (a user's command);
# - [#38] github.com/clovaai/wsolevaluation/issues/38: CUB Inception-v3, 28 x 28 maps, decay
#   every 15 epochs, weight decay 5e-4 (a user's setting; the maintainers asked for the script);
# - [#35] github.com/clovaai/wsolevaluation/issues/35: CUB ResNet-50 with lr 0.0002, 50 epochs,
#   decay every 15, weight decay 1e-4, batch size 32 (a user's command);
# - [README] clovaai/wsolevaluation, README.md, its example run (OpenImages, VGG16, CAM).
#   Issue #10: the maintainers call it "just an example for running code", not the run behind
#   the reported numbers, though its reporter reproduced the OpenImages table with it; [dual-cam]
#   has 0.00034052401 there instead (OpenImages was searched again for MaxBoxAccV2, issue #49).
# Epochs and decay: every run in [dual-cam], [README] (OpenImages), [IVR], [#35], [#60] (and
# decay every 15 in [#38]);
# batch size 32: every run in [dual-cam], [README], [IVR], [#35], [#60].
SCHEDULES = {"ILSVRC": (10, 3), "CUB": (50, 15), "OpenImages": (10, 3)}  # epochs, decay every
# The learning rate of the pretrained part, for CAM.
KNOWN_LEARNING_RATES = {
    ("ILSVRC", "vgg16"): 0.00001654502,  # [dual-cam]
    ("ILSVRC", "resnet50"): 0.00003108411,  # [dual-cam]
    ("ILSVRC", "inception_v3"): 0.0003606503,  # [dual-cam]
    ("CUB", "vgg16"): 0.00001268269,  # [dual-cam], [IVR], [WSOL_RS], [#60]
    ("CUB", "resnet50"): 0.00023222617,  # [dual-cam], [WSOL_RS]
    ("CUB", "inception_v3"): 0.00224844746,  # [dual-cam], [WSOL_RS], [#38]
    ("OpenImages", "vgg16"): 0.00227913316,  # [README]; see the note on issue #10 above
    ("OpenImages", "resnet50"): 0.00107117324,  # [dual-cam]
}
# The runs behind these rates used wsolevaluation's large_feature_map (28 x 28 maps at 224 px)
# for these pairs ([dual-cam]; [#38] for CUB Inception-v3); the backbones here have 14 x 14
# maps (large_feature_map off), so the rate was tuned for a slightly different network.
TUNED_ON_28_X_28 = {
    ("ILSVRC", "resnet50"),
    ("ILSVRC", "inception_v3"),
    ("CUB", "resnet50"),
    ("CUB", "inception_v3"),
}
# Weight decay per architecture: every run in [dual-cam], and [README], [#35], [#38], [#60].
WEIGHT_DECAYS = {"resnet50": 1e-4, "vgg16": 5e-4, "inception_v3": 5e-4}
BATCH_SIZE, MOMENTUM, CLASSIFIER_LR_RATIO = 32, 0.9, 10.0
RESIZE, CROP = 256, 224
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

# The hyperparameters chosen on val: infoCAM's and InfoGradCam's contrast and window.
GRID = [
    {"contrast": contrast, "region_size": size}
    for contrast in ("mean", "least_likely")
    for size in (1, 3, 5)
]
FAST_GRID = [{"contrast": "mean", "region_size": size} for size in (1, 3)]


# --------------------------------------------------------------------------- data


def datasets(args: argparse.Namespace) -> dict[str, Dataset]:
    """The train split with Choe et al.'s augmentation, val and test resized, all normalised."""
    normalise = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    augment = T.Compose([T.RandomCrop(args.crop), T.RandomHorizontalFlip(), normalise])
    common = {"mask_root": args.mask_root}
    return {
        "train": WSOLMetadataDataset(
            args.data_root, args.metadata_root, "train", args.resize, augment, **common
        ),
        **{
            split: WSOLMetadataDataset(
                args.data_root, args.metadata_root, split, args.crop, normalise, **common
            )
            for split in ("val", "test")
        },
    }


# --------------------------------------------------------------------------- training


def train(model: WSOLBackbone, train_set: Dataset, args: argparse.Namespace) -> None:
    """Choe et al.'s fine-tuning: SGD, 10x rate on the classifier part, step decay."""
    optimizer = torch.optim.SGD(
        model.param_groups(args.lr, CLASSIFIER_LR_RATIO),
        momentum=MOMENTUM,
        weight_decay=args.weight_decay,
        nesterov=True,
    )
    loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate_localization,
        num_workers=args.workers,
        generator=torch.Generator().manual_seed(args.seed),
    )
    model.train()
    for epoch in range(1, args.epochs + 1):
        if epoch % args.lr_decay_every == 0:  # main.py: decay before epochs 3, 6, ... (or 15)
            for group in optimizer.param_groups:
                group["lr"] *= 0.1
        total = correct = 0
        for batch in tqdm(loader, desc=f"epoch {epoch}", disable=args.no_progress):
            images, labels = batch.image.to(args.device), batch.label.to(args.device)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += len(labels)
            correct += int((logits.argmax(1) == labels).sum())
        print(f"epoch {epoch}: training accuracy {100 * correct / max(total, 1):.1f}%")
    model.eval()


# --------------------------------------------------------------------------- the protocol


def settings(fast: bool) -> list[tuple[str, dict[str, Any]]]:
    """Every (method, hyperparameters) pair scored on val."""
    grid = FAST_GRID if fast else GRID
    return [("CAM", {})] + [(m, dict(s)) for m in ("infoCAM", "InfoGradCam") for s in grid]


def setting_name(method: str, setting: dict[str, Any]) -> str:
    if not setting:
        return method
    return f"{method} {setting['contrast']}, s={setting['region_size']}"


def explain(model: WSOLBackbone, method: str, setting: dict[str, Any], images, labels) -> Tensor:
    """The method's maps of the true class, at the image's resolution (bicubic, float64, as
    the reference resizes them)."""
    if method == "CAM":
        maps = ClassActivationMap(model, model.cam_layer).attribute(images, labels)
    elif method == "infoCAM":
        maps = InfoCAM(model, model.cam_layer).attribute(images, labels, **setting)
    else:
        maps = InfoGradCam(model, model.cam_layer).attribute(images, labels, **setting)
    return F.interpolate(maps.detach().double(), images.shape[-2:], mode="bicubic")


def evaluate(
    model: WSOLBackbone,
    loader: Iterable,
    pairs: list[tuple[str, dict[str, Any]]],
    thresholds: Tensor,
    annotation: str,
    fixed_thresholds: dict[str, float] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[dict[str, Any], tuple[int, int]]:
    """Metrics of every (method, setting) on one split, and the correct and seen counts.

    The metric accumulators sum their states over the processes in ``compute()`` when
    ``torch.distributed`` runs (``wsol_sharded_eval.py``), as does the accuracy count here,
    so every process returns the numbers of the whole split.
    """
    fixed_thresholds = fixed_thresholds or {}
    metrics: dict[str, Any] = {}
    for method, setting in pairs:
        name = setting_name(method, setting)
        if annotation == "masks":
            metrics[name] = PixelAveragePrecision(thresholds)
        else:
            tau = fixed_thresholds.get(name, 0.2)
            metrics[name] = BoxLocalizationMetrics(thresholds, fixed_threshold=tau)
    counts = torch.zeros(2, dtype=torch.long)  # correct, seen
    for batch in tqdm(loader, desc="evaluating", disable=not progress):
        images, labels = batch.image.to(device), batch.label.to(device)
        with torch.no_grad():
            logits = model(images)
        counts += torch.tensor([int((logits.argmax(1) == labels).sum()), len(labels)])
        for method, setting in pairs:
            maps = explain(model, method, setting, images, labels)
            name = setting_name(method, setting)
            if annotation == "masks":
                metrics[name].update(maps, batch.mask, batch.ignore)
            else:
                metrics[name].update(maps, batch.boxes, predictions=logits, labels=labels)
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        counts = counts.to(device)
        distributed.all_reduce(counts)
    correct, seen = counts.tolist()
    return {name: metric.compute() for name, metric in metrics.items()}, (correct, seen)


def run_protocol(
    model: WSOLBackbone,
    loaders: dict[str, Iterable],
    annotation: str,
    thresholds: Tensor,
    fast: bool,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Choose each method's setting and thresholds on val, then evaluate test once there."""
    val, (val_correct, val_images) = evaluate(
        model, loaders["val"], settings(fast), thresholds, annotation, None, device, progress
    )
    chosen: dict[str, tuple[dict[str, Any], str]] = {}
    for method, setting in settings(fast):
        name = setting_name(method, setting)
        score = float(val[name] if annotation == "masks" else val[name].max_box_accuracy_v2)
        best = chosen.get(method)
        if best is None or score > best[1]:  # ties keep the first setting of the grid
            chosen[method] = (setting, score)  # type: ignore[assignment]
    report: dict[str, Any] = {
        "annotation": annotation,
        "num_thresholds": len(thresholds),
        "setting_grid": "fast" if fast else "full",
        "val_images": val_images,
        "val_top1": val_correct / val_images,
        "methods": {},
    }
    pairs = [(method, setting) for method, (setting, _) in chosen.items()]
    fixed = {}
    if annotation == "boxes":
        for method, setting in pairs:
            result = val[setting_name(method, setting)]
            middle = int((result.iou_thresholds == 0.5).nonzero()[0])
            fixed[setting_name(method, setting)] = float(best_thresholds(result)[middle])
    test, (test_correct, test_images) = evaluate(
        model, loaders["test"], pairs, thresholds, annotation, fixed, device, progress
    )
    report.update(test_images=test_images, test_top1=test_correct / test_images)
    for method, setting in pairs:
        name = setting_name(method, setting)
        entry: dict[str, Any] = {"setting": setting, "name": name}
        if annotation == "masks":
            entry.update(val_pxap=float(val[name]), test_pxap=float(test[name]))
        else:
            chosen_v1 = best_thresholds(val[name])
            chosen_v2 = best_thresholds(val[name], multi_contour=True)
            result = test[name]
            middle = int((result.iou_thresholds == 0.5).nonzero()[0])
            entry.update(
                val_max_box_acc_v2=float(val[name].max_box_accuracy_v2),
                val_threshold_iou_50=float(chosen_v1[middle]),
                thresholds=chosen_v1.tolist(),
                thresholds_v2=chosen_v2.tolist(),
                test_max_box_acc=float(result.max_box_accuracy[middle]),
                test_max_box_acc_v2=float(result.max_box_accuracy_v2),
                test_box_acc_at_val_threshold=float(box_accuracy_at(result, chosen_v1)[middle]),
                test_box_acc_v2_at_val_thresholds=float(
                    box_accuracy_at(result, chosen_v2, multi_contour=True).mean()
                ),
                test_gt_known_loc=float(result.gt_known_loc),
                test_top1_loc=float(result.top1_loc) if result.top1_loc is not None else None,
            )
        report["methods"][method] = entry
    return report


def print_report(report: dict[str, Any]) -> None:
    """The protocol's numbers as a Markdown table (scores in %)."""
    caveat = ""
    if report["setting_grid"] == "fast":
        caveat = (
            " (--fast: fewer settings and thresholds, smaller images; not a full run's numbers)"
        )
    print(f"\n{report['num_thresholds']} thresholds, the {report['setting_grid']} grid of "
          f"settings{caveat}")  # fmt: skip
    print(f"top-1 accuracy: val {100 * report['val_top1']:.1f}%, test "
          f"{100 * report['test_top1']:.1f}%\n")  # fmt: skip
    if report["annotation"] == "masks":
        print("| method (setting chosen on val) | val PxAP | test PxAP |")
        print("|---|---:|---:|")
        for entry in report["methods"].values():
            print(f"| {entry['name']} | {100 * entry['val_pxap']:.1f} "
                  f"| {100 * entry['test_pxap']:.1f} |")  # fmt: skip
        return
    print(
        "| method (setting chosen on val) | val MaxBoxAccV2 | val tau (IoU 0.5) "
        "| test MaxBoxAcc | test MaxBoxAccV2 | test BoxAcc at val tau | test BoxAccV2 at val "
        "taus | test GT-known loc | test top-1 loc |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for entry in report["methods"].values():
        values = [
            entry["val_max_box_acc_v2"],
            None,
            entry["test_max_box_acc"],
            entry["test_max_box_acc_v2"],
            entry["test_box_acc_at_val_threshold"],
            entry["test_box_acc_v2_at_val_thresholds"],
            entry["test_gt_known_loc"],
            entry["test_top1_loc"],
        ]
        cells = [f"{100 * v:.1f}" if v is not None else "" for v in values]
        cells[1] = f"{entry['val_threshold_iou_50']:.3f}"
        print(f"| {entry['name']} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- main


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """The options shared with wsol_sharded_eval.py (each script adds --out and --fast),
    under the calling script's ``description`` (default: this script's)."""
    if description is None:
        description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-root", type=Path, required=True, help="dataset/<name>")
    parser.add_argument("--metadata-root", type=Path, required=True, help="metadata/<name>")
    parser.add_argument("--mask-root", type=Path, default=None, help="default: --data-root")
    parser.add_argument("--architecture", choices=sorted(BACKBONES), default="resnet50")
    parser.add_argument("--num-classes", type=int, default=None, help="default: from train")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--thresholds", type=int, default=1000, help="the reference's 1000")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    options = parser()
    options.add_argument("--out", type=Path, default=Path("outputs"))
    options.add_argument("--fast", "--smoke", action="store_true", help="tiny settings: seconds")
    options.add_argument("--weights", default="IMAGENET1K_V1", help="torchvision name, file, none")
    options.add_argument("--lr", type=float, default=None, help="the pretrained part's rate")
    options.add_argument("--epochs", type=int, default=None)
    options.add_argument("--lr-decay-every", type=int, default=None)
    options.add_argument("--weight-decay", type=float, default=None, help="default: per arch")
    options.add_argument("--resize", type=int, default=RESIZE)
    options.add_argument("--crop", type=int, default=CROP)
    options.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = options.parse_args(argv)
    name = args.metadata_root.name
    epochs, decay = SCHEDULES.get(name, (10, 3))
    if args.fast:  # a smoke test: random weights, tiny images, one epoch, few thresholds
        args.weights, args.resize, args.crop, epochs = "none", 40, 32, 1
        args.batch_size, args.thresholds = 4, 20
        args.lr = 0.001 if args.lr is None else args.lr
    args.epochs = epochs if args.epochs is None else args.epochs
    args.lr_decay_every = decay if args.lr_decay_every is None else args.lr_decay_every
    if args.weight_decay is None:
        args.weight_decay = WEIGHT_DECAYS[args.architecture]
    if args.lr is None:
        args.lr = KNOWN_LEARNING_RATES.get((name, args.architecture))
        if args.lr is None:
            options.error(
                f"pass --lr: Choe et al. chose the learning rate per dataset and architecture "
                f"on train-fullsup; no published value for {name} and {args.architecture} is "
                "recorded here"
            )
        if (name, args.architecture) in TUNED_ON_28_X_28:
            print(f"note: Choe et al. chose this rate for {args.architecture} with 28 x 28 maps "
                  "(large_feature_map); this backbone has 14 x 14")  # fmt: skip
    print(f"recipe: lr {args.lr:g} (x{CLASSIFIER_LR_RATIO:g} on the classifier part), "
          f"weight decay {args.weight_decay:g}, batch size {args.batch_size}, "
          f"{args.epochs} epochs, lr x0.1 every {args.lr_decay_every}")  # fmt: skip
    torch.manual_seed(args.seed)
    data = datasets(args)
    num_classes = args.num_classes or int(data["train"].labels.max()) + 1
    weights = None if args.weights.lower() == "none" else args.weights
    model = BACKBONES[args.architecture](num_classes, weights=weights).to(args.device)
    train(model, data["train"], args)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / f"{args.architecture}.pt")
    loaders = {
        split: DataLoader(data[split], batch_size=args.batch_size, collate_fn=collate_localization)
        for split in ("val", "test")
    }
    annotation = data["test"].annotation
    report = run_protocol(
        model,
        loaders,
        annotation,
        threshold_grid(args.thresholds),
        args.fast,
        args.device,
        not args.no_progress,
    )
    print_report(report)
    (args.out / "wsol_protocol.json").write_text(json.dumps(report, indent=2))
    print(f"\nweights: {args.out / f'{args.architecture}.pt'}; numbers: "
          f"{args.out / 'wsol_protocol.json'}")  # fmt: skip


if __name__ == "__main__":
    main()
