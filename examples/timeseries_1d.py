"""Time series: train a small 1-D CNN on synthetic series, then find each series' event with CAM.

Every series of :mod:`captum_infocam.data.synthetic_series` holds one class event (a chirp,
square pulses, a damped oscillation or a sawtooth burst) at a random position and duration,
with its exact interval, on a drifting, noisy background with distractor bumps and sine
bursts and, in half the series, a decoy fragment of another class's motif. The script trains
a small ``Conv1d`` network with a global-average-pooling + linear head (cached, so a second
run skips training), explains held-out series with ``ClassActivationMap``, Captum's
``LayerGradCam``, ``InfoCAM`` (layer and head found automatically; windows of 1, 3 and 7
positions) and ``InfoGradCam``, upsamples every map to the series' length and scores it as a
localiser of the event:

* interval IoU: the largest run of samples above ``tau`` (default 0.5) of the min-max
  normalised map is the predicted interval; a hit when its IoU with the true one is >= 0.5;
* pointing game: a hit when the map's maximum falls inside the true interval.

It also checks the whole-map identity ``infoCAM(region_size=None) = z_y - mean_{k != y} z_k``
and writes a figure of examples with their maps.

    python examples/timeseries_1d.py                 # under a minute on 2 CPU cores
    python examples/timeseries_1d.py --fast --out /tmp/timeseries   # seconds: the smoke test
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from captum.attr import LayerAttribution, LayerGradCam
from matplotlib.figure import Figure
from torch import Tensor, nn

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam
from captum_infocam.data.synthetic_series import SeriesBatch, make_series_data
from captum_infocam.models import accuracy, train_classifier

CACHE = Path(__file__).resolve().parent.parent / ".cache"


class SeriesCNN(nn.Module):
    """Four ``Conv1d`` blocks (the last three after a halving max-pool), GAP and a linear head.

    A series of length ``L`` gives a feature map of ``L / 8`` positions, each of which sees
    about 60 samples.
    """

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(inputs: int, outputs: int, kernel: int) -> list[nn.Module]:
            return [
                nn.Conv1d(inputs, outputs, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(outputs),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            *block(1, width, 7),
            nn.MaxPool1d(2),
            *block(width, 2 * width, 5),
            nn.MaxPool1d(2),
            *block(2 * width, 4 * width, 5),
            nn.MaxPool1d(2),
            *block(4 * width, 4 * width, 3),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def trained_model(config: dict, cache: Path = CACHE, progress: bool = True) -> nn.Module:
    """Train the CNN on fresh series, or load it from the cache when the same configuration
    ran before."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    path = cache / f"timeseries_1d-{key}.pt"
    torch.manual_seed(config["seed"])
    model = SeriesCNN(num_classes=config["num_classes"])
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        print(f"loaded the trained model from {path}")
        return model.eval()
    train = make_series_data(config["train"], seed=config["seed"])
    train_classifier(
        model,
        train.series,
        train.labels,
        epochs=config["epochs"],
        seed=config["seed"],
        progress=progress,
    )
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model.eval()


def explain(model: nn.Module, series: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Each method's map of the true class, at the layer's resolution ``(N, 1, L / 8)``."""
    info_cam = InfoCAM(model)  # layer (model.features) and head (model.fc) found automatically
    return {
        "CAM": ClassActivationMap(model).attribute(series, labels),
        "Grad-CAM (Captum)": LayerGradCam(model, model.features).attribute(series, labels),
        "infoCAM": info_cam.attribute(series, labels),  # a window of 3 positions (24 samples)
        "infoCAM (1 position)": info_cam.attribute(series, labels, region_size=1),
        "infoCAM (7 positions)": info_cam.attribute(series, labels, region_size=7),
        "InfoGradCam": InfoGradCam(model, model.features).attribute(series, labels),
    }


def largest_segments(maps: Tensor, threshold: float) -> Tensor:
    """Per map ``(N, L)``: the half-open ``(start, end)`` of the longest run of samples at or
    above ``threshold`` of the min-max normalised map (the first, on a tie; ``(0, 0)`` for a
    constant map)."""
    low, high = torch.aminmax(maps, dim=1, keepdim=True)
    above = (maps - low >= threshold * (high - low)) & (high > low)
    begins = above & ~torch.nn.functional.pad(above, (1, 0))[:, :-1]
    run = torch.where(above, begins.long().cumsum(1), 0)  # runs 1, 2, ...; 0 (length 0) below
    lengths = torch.zeros_like(maps, dtype=torch.long).scatter_add_(1, run, above.long())
    best = lengths.argmax(1, keepdim=True)
    positions = torch.arange(maps.shape[1], device=maps.device).expand_as(run)
    in_best = (run == best) & above
    start = torch.where(in_best, positions, maps.shape[1]).amin(1)
    end = torch.where(in_best, positions + 1, 0).amax(1)
    return torch.stack((start.clamp(max=end), end), dim=1)


def interval_iou(predicted: Tensor, true: Tensor) -> Tensor:
    """IoU ``(N,)`` of half-open intervals ``(N, 2)``; 0 when both are empty."""
    overlap = (
        torch.minimum(predicted[:, 1], true[:, 1]) - torch.maximum(predicted[:, 0], true[:, 0])
    ).clamp(min=0)
    union = (predicted[:, 1] - predicted[:, 0]) + (true[:, 1] - true[:, 0]) - overlap
    return overlap / union.clamp(min=1)


def pointing_game(maps: Tensor, intervals: Tensor) -> Tensor:
    """Per map ``(N, L)``: does its maximum fall inside the half-open interval? A constant map
    points nowhere (a miss)."""
    peak = maps.argmax(1)
    low, high = torch.aminmax(maps, dim=1)
    return (peak >= intervals[:, 0]) & (peak < intervals[:, 1]) & (high > low)


def whole_map_identity(model: nn.Module, series: Tensor, labels: Tensor) -> float:
    """``max |infoCAM(region_size=None) - (z_y - mean_{k != y} z_k)|`` over series and positions."""
    whole = InfoCAM(model).attribute(series, labels, region_size=None)
    with torch.no_grad():
        logits = model(series)
    z_y = logits.gather(1, labels[:, None])
    contrast = z_y - (logits.sum(1, keepdim=True) - z_y) / (logits.shape[1] - 1)
    return float((whole[:, 0] - contrast).abs().max())


def plot(
    data: SeriesBatch,
    maps: dict[str, Tensor],
    segments: dict[str, Tensor],
    threshold: float,
) -> Figure:
    """One column per series: the series with its true interval (green) and decoy (grey), then
    each normalised map with the threshold and the interval drawn from it (red)."""
    rows, columns = 1 + len(maps), len(data)
    figure = Figure(figsize=(3.2 * columns, 1.1 * rows))  # no pyplot: no global state
    axes = figure.subplots(rows, columns, sharex=True, squeeze=False)
    time = torch.arange(data.series.shape[-1])
    for column in range(columns):
        top = axes[0, column]
        top.plot(time, data.series[column, 0], color="black", linewidth=0.6)
        top.axvspan(*data.intervals[column].tolist(), color="tab:green", alpha=0.25)
        decoy = data.decoy_intervals[column].tolist()
        if decoy[1] > decoy[0]:
            top.axvspan(*decoy, color="grey", alpha=0.3)
        top.set_title(data.class_names[int(data.labels[column])], fontsize=9)
        for row, (name, m) in enumerate(maps.items(), start=1):
            ax = axes[row, column]
            values = m[column, 0]
            values = (values - values.min()) / (values.max() - values.min()).clamp(min=1e-12)
            ax.axvspan(*data.intervals[column].tolist(), color="tab:green", alpha=0.25)
            ax.axvspan(*segments[name][column].tolist(), color="tab:red", alpha=0.25)
            ax.plot(time, values, color="tab:blue", linewidth=0.9)
            ax.axhline(threshold, color="grey", linewidth=0.5, linestyle="--")
            ax.set_ylim(-0.05, 1.05)
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("series", rotation=0, ha="right", va="center", fontsize=8)
    figure.tight_layout(h_pad=0.2, w_pad=0.4)
    return figure


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the example; return its numbers (for the smoke test) after printing them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/timeseries_1d"))
    parser.add_argument("--fast", "--smoke", action="store_true", help="seconds: smoke tests")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where trained weights are kept")
    parser.add_argument("--threshold", type=float, default=0.5, help="relative map threshold")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    config = {
        "num_classes": 4,
        "seed": 0,
        "epochs": 3 if args.fast else 8,
        "train": 800 if args.fast else 2000,
    }
    model = trained_model(config, args.cache, progress=not args.no_progress)
    test = make_series_data(64 if args.fast else 500, seed=config["seed"] + 1)

    length = test.series.shape[-1]
    layer_maps = {name: m.detach() for name, m in explain(model, test.series, test.labels).items()}
    maps = {  # (N, 1, L / 8) -> (N, 1, L)
        name: LayerAttribution.interpolate(m, (length,), "linear") for name, m in layer_maps.items()
    }
    segments = {name: largest_segments(m[:, 0], args.threshold) for name, m in maps.items()}
    ious = {name: interval_iou(s, test.intervals) for name, s in segments.items()}
    pointing = {name: pointing_game(m[:, 0], test.intervals) for name, m in maps.items()}

    top1 = accuracy(model, test.series, test.labels)
    print(f"\nheld-out accuracy: {100 * top1:.1f}% on {len(test)} series of {length} samples")
    print(f"(chance: {100 / test.num_classes:.0f}%)\n")
    print(f"| method | interval IoU >= 0.5 (tau {args.threshold:g}) | mean IoU | pointing game |")
    print("|---|---:|---:|---:|")
    rows = {}
    for name in maps:
        hit = float((ious[name] >= 0.5).double().mean())
        mean_iou, point = float(ious[name].mean()), float(pointing[name].double().mean())
        rows[name] = {"interval_hit": hit, "mean_iou": mean_iou, "pointing": point}
        print(f"| {name} | {100 * hit:.1f}% | {mean_iou:.2f} | {100 * point:.1f}% |")

    print("\nper class, interval IoU >= 0.5 / pointing game:\n")
    print("| class | CAM | infoCAM |")
    print("|---|---:|---:|")
    for k, class_name in enumerate(test.class_names):
        of_class = test.labels == k
        cells = [
            f"{100 * (ious[name][of_class] >= 0.5).double().mean():.0f}% / "
            f"{100 * pointing[name][of_class].double().mean():.0f}%"
            for name in ("CAM", "infoCAM")
        ]
        print(f"| {class_name} | {' | '.join(cells)} |")

    identity = whole_map_identity(model, test.series, test.labels)
    print(
        "\nwhole map (region_size=None): max |infoCAM - (z_y - mean_{k!=y} z_k)| = "
        f"{identity:.1e} over {len(test)} series"
    )

    shown = torch.cat([torch.nonzero(test.labels == k)[:1, 0] for k in range(test.num_classes)])
    figure = plot(
        test.subset(shown),
        {name: m[shown] for name, m in maps.items()},
        {name: s[shown] for name, s in segments.items()},
        args.threshold,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "timeseries_1d.png"
    figure.savefig(path, dpi=80, bbox_inches="tight")
    print(f"\nfigure: {path} (green: true interval, grey: decoy, red: interval from the map)")
    return {
        "model": model,
        "accuracy": top1,
        "rows": rows,
        "identity_error": identity,
        "test": test,
        "layer_maps": layer_maps,
        "maps": maps,
        "figure": path,
    }


if __name__ == "__main__":
    main()
