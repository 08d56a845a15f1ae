"""examples/wsol_ablation.py: per-image scores against the library's metrics; a smoke run."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest
import torch

from captum_infocam.localization import (
    box_accuracy,
    box_hits,
    localization_accuracy,
    pixel_average_precision,
    pixel_score_histograms,
    threshold_grid,
)

from conftest import load_script, run_example

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wsol_ablation.py"


@pytest.fixture(scope="module")
def ablation():
    module = load_script(EXAMPLE)
    yield module
    del sys.modules[module.__name__]


def _random_maps(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    maps = torch.nn.functional.interpolate(
        torch.rand(12, 1, 6, 6, generator=generator), size=24, mode="bicubic"
    )
    maps[3] = 0.5  # a constant map
    corners = torch.randint(0, 24, (12, 2, 2), generator=generator).sort(1).values
    boxes = torch.cat([corners[:, 0], corners[:, 1]], dim=1)  # (x1, y1, x2, y2)
    masks = torch.rand(12, 24, 24, generator=generator) < 0.3
    return maps, boxes, masks


def test_per_image_scores_reproduce_the_library_metrics(ablation) -> None:
    maps, boxes, masks = _random_maps(torch.Generator().manual_seed(0))
    thresholds = threshold_grid(40)
    histograms = pixel_score_histograms(maps[:, 0], masks, thresholds, per_image=True)
    expected_ap = pixel_average_precision(maps, masks, thresholds)

    # GT-known loc is the largest-contour hit at the grid point 0.2 (8 / 40).
    hits = box_hits(maps, boxes[:, None], thresholds, (0.5,))[:, 0]
    fixed = localization_accuracy(maps, boxes[:, None], reduction="none").gt_known
    assert float(thresholds[8]) == 0.2 and torch.equal(hits[:, 8], fixed)

    correct = torch.arange(12) % 3 != 0
    scores = ablation.ImageScores(
        hits=box_hits(maps, boxes[:, None], thresholds, (0.5,))[:, 0],
        hits_v2=box_hits(maps, boxes[:, None], thresholds, (0.3, 0.5, 0.7), True),
        histograms=histograms,
        gt_known=localization_accuracy(maps, boxes[:, None], reduction="none").gt_known,
        correct=correct,
    )
    # Row 0: the whole set, every image once. Row 1: image 0 twice, image 1 left out.
    weights = torch.ones(2, 12)
    weights[1, 0], weights[1, 1] = 2.0, 0.0
    metrics = scores.metrics(weights)
    expected_v2 = box_accuracy(maps, boxes[:, None], thresholds, (0.3, 0.5, 0.7), True)
    loc = localization_accuracy(maps, boxes[:, None], correct.long(), torch.ones(12).long())
    assert metrics[0].tolist() == pytest.approx(
        [
            100 * float(box_accuracy(maps, boxes[:, None], thresholds).amax()),
            100 * float(expected_v2.amax(dim=1).mean()),
            100 * float(expected_ap),
            100 * float(loc.gt_known),
            100 * float(loc.top1),
        ]
    )
    resampled = torch.cat([torch.tensor([0]), torch.arange(12)[2:], torch.tensor([0])])
    again = localization_accuracy(maps[resampled], boxes[resampled, None])
    assert float(metrics[1, 3]) == pytest.approx(100 * float(again.gt_known))
    ap = pixel_average_precision(maps[resampled], masks[resampled], thresholds)
    assert float(metrics[1, 2]) == pytest.approx(100 * float(ap))


def test_summary_of_replicates(ablation) -> None:
    # Two seeds, one metric; rows: the test set, then two resamples.
    replicates = torch.tensor([[[10.0], [11.0], [13.0]], [[14.0], [15.0], [13.0]]])
    summary = ablation.summarise(replicates)
    assert float(summary["mean"][0]) == 12.0
    assert float(summary["seed_se"][0]) == pytest.approx(2.0)  # std 2.83 / sqrt(2)
    assert float(summary["image_se"][0]) == pytest.approx(torch.tensor([13.0, 13.0]).std().item())


def test_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_example("wsol_ablation.py", "--smoke", "--out", str(out))
    text = (out / "ablation.md").read_text()
    number = r"(-?[\d.]+) \(([\d.]+|nan), ([\d.]+)\)"
    pattern = r"^\| ([^|]+) \| ([^|]+) \| " + r" \| ".join([number] * 5) + r" \|$"
    rows = re.findall(pattern, text, re.MULTILINE)
    assert len(rows) == 2 * 14  # two families, fourteen methods
    assert [row[1] for row in rows[:2]] == ["CAM", "regional CAM (no contrast), s=3"]
    for row in rows:
        means = [float(row[2 + 3 * k]) for k in range(5)]
        assert all(0.0 <= value <= 100.0 for value in means)
        assert means[4] <= means[3]  # top-1 loc needs GT-known loc
    with (out / "ablation.csv").open() as file:
        records = list(csv.DictReader(file))
    assert len(records) == 2 * 14 * 5
    cam = [r for r in records if r["method"] == "CAM"]
    assert all(float(r["gain_over_cam"]) == 0.0 for r in cam)
    for name in ("ablation_gains.png", "ablation_maps_markings.png", "ablation_maps_textures.png"):
        assert (out / name).stat().st_size > 5_000
    assert len(list((out / "models").glob("*.pt"))) == 4  # 2 families x 2 seeds, cached
    assert "Run time:" in text


def test_every_row_is_the_attribution_class_with_its_options(ablation) -> None:
    # The example computes every map from one forward pass with the functions of
    # captum_infocam.maps; the attribution classes, given the row's options, agree.
    from captum_infocam import ClassActivationMap, InfoCAM
    from captum_infocam.models import GAPClassifier

    torch.manual_seed(0)
    model = GAPClassifier(num_classes=4, width=4).eval()
    images, labels = torch.rand(3, 3, 32, 32), torch.tensor([0, 3, 1])
    with torch.no_grad():
        activations = model.features(images)
        logits = model(images)
    for method in ablation.methods(3):
        got = ablation.explain(activations, logits, model.fc, method, labels, 3)
        if method.options is None:
            expected = ClassActivationMap(model, model.features).attribute(images, labels)
        else:
            options = {"region_size": 3, **method.options}
            expected = InfoCAM(model, model.features).attribute(images, labels, **options)
            if method.unsqueezed:
                expected = expected[..., 1:9, 1:9]  # back on the 8 x 8 layer positions
        torch.testing.assert_close(got, expected, msg=method.name)
    full = [m for m in ablation.methods(3) if (m.options or {}).get("padding") == "full"]
    squeezed = [m for m in full if not m.unsqueezed]
    assert squeezed and all(
        ablation.explain(activations, logits, model.fc, m, labels, 3).shape[-1] == 10
        for m in squeezed
    )
    # Unsqueezed: centred 3 x 3 windows that count the zeros outside the map, plus the bias.
    (unsqueezed,) = [m for m in full if m.unsqueezed]
    cam = torch.einsum("nc,nchw->nhw", model.fc.weight[labels], activations)[:, None]
    zero_padded = torch.nn.functional.avg_pool2d(cam, 3, 1, 1, count_include_pad=True)
    expected = zero_padded + model.fc.bias[labels, None, None, None]
    got = ablation.explain(activations, logits, model.fc, unsqueezed, labels, 3)
    torch.testing.assert_close(got, expected.detach())
