"""Smoke test of examples/timeseries_1d.py in its fast mode (run in-process), and of its 1-D
localisation scores against brute force."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

from conftest import load_script

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "timeseries_1d.py"
METHODS = [
    "CAM",
    "Grad-CAM (Captum)",
    "infoCAM",
    "infoCAM (1 position)",
    "infoCAM (7 positions)",
    "InfoGradCam",
]


example = load_script(EXAMPLE)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out, cache = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("cache")
    arguments = ["--fast", "--no-progress", "--out", str(out), "--cache", str(cache)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = example.main(arguments)
    return result, printed.getvalue(), arguments


def _table(printed: str) -> dict[str, tuple[float, float, float]]:
    rows = re.findall(
        r"^\| (.+?) \| ([\d.]+)% \| ([\d.]+) \| ([\d.]+)% \|$", printed, flags=re.MULTILINE
    )
    return {name: (float(hit), float(iou), float(point)) for name, hit, iou, point in rows}


def test_fast_mode_trains_a_model_that_beats_chance_and_explains_it(run):
    result, _, arguments = run
    cache = Path(arguments[arguments.index("--cache") + 1])
    assert result["accuracy"] > 0.5  # 4 balanced classes: chance is 0.25
    test = result["test"]
    n, length = len(test), test.series.shape[-1]
    feature_length = length // 8  # three halving max-pools
    for name in METHODS:
        assert result["layer_maps"][name].shape == (n, 1, feature_length), name
        assert result["maps"][name].shape == (n, 1, length), name
        assert torch.isfinite(result["maps"][name]).all()
    assert len(list(cache.glob("timeseries_1d-*.pt"))) == 1
    assert result["figure"].stat().st_size > 10_000


def test_the_identities_hold_on_the_trained_model(run):
    result, _, _ = run
    model, layer_maps, test = result["model"], result["layer_maps"], result["test"]
    assert result["identity_error"] < 1e-4  # infoCAM(region_size=None) = z_y - mean_{k!=y} z_k
    feature_length = layer_maps["CAM"].shape[-1]
    # CAM is L' times Captum's Grad-CAM on a GAP + linear model ...
    torch.testing.assert_close(
        layer_maps["Grad-CAM (Captum)"] * feature_length, layer_maps["CAM"], rtol=1e-4, atol=1e-4
    )
    # ... and InfoGradCam is infoCAM minus the bias contrast b_y - mean_{k!=y} b_k.
    bias = model.fc.bias.detach()
    b_y = bias[test.labels]
    bias_contrast = b_y - (bias.sum() - b_y) / (bias.numel() - 1)
    torch.testing.assert_close(
        layer_maps["InfoGradCam"] + bias_contrast[:, None, None],
        layer_maps["infoCAM"],
        rtol=1e-4,
        atol=1e-4,
    )


def test_the_printed_table_agrees_with_the_maps_and_the_maps_localise(run):
    result, printed, _ = run
    table = _table(printed)
    assert list(table) == METHODS
    for name, (hit, iou, point) in table.items():
        assert 0 <= hit <= 100 and 0 <= iou <= 1 and 0 <= point <= 100
        assert hit == pytest.approx(100 * result["rows"][name]["interval_hit"], abs=0.06)
    # proportional maps (and maps equal up to a constant) give the same intervals and peaks
    assert table["CAM"] == table["Grad-CAM (Captum)"]
    assert table["infoCAM"] == table["InfoGradCam"]
    # the maps localise: their peak falls in the event far more often than a random sample
    random_point = float(result["test"].masks.double().mean())
    assert table["infoCAM"][2] / 100 > random_point + 0.2
    assert "max |infoCAM - (z_y - mean_{k!=y} z_k)|" in printed


def test_a_second_run_loads_the_cached_model_and_prints_the_same_table(run, capsys):
    _, printed, arguments = run
    example.main(arguments)
    again = capsys.readouterr().out
    assert "loaded the trained model" in again
    assert _table(again) == _table(printed)


def _brute_force_segment(values: list[float], threshold: float) -> tuple[int, int]:
    low, high = min(values), max(values)
    if high == low:
        return (0, 0)
    above = [v - low >= threshold * (high - low) for v in values]
    best, start = (0, 0), None
    for index, flag in enumerate([*above, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            if index - start > best[1] - best[0]:
                best = (start, index)
            start = None
    return best


def test_largest_segments_interval_iou_and_pointing_match_brute_force():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randint(0, 4, (200, 23), generator=generator).double()  # many ties and runs
    maps[0] = 1.0  # a constant map: no segment, no pointing
    for threshold in (0.0, 0.3, 0.5, 1.0):
        segments = example.largest_segments(maps, threshold)
        expected = [_brute_force_segment(row.tolist(), threshold) for row in maps]
        assert segments.tolist() == [list(pair) for pair in expected]
    true = torch.sort(torch.randint(0, 24, (200, 2), generator=generator), dim=1).values
    segments = example.largest_segments(maps, 0.5)
    iou = example.interval_iou(segments, true)
    for (a, b), (c, d), value in zip(segments.tolist(), true.tolist(), iou.tolist(), strict=True):
        first, second = set(range(a, b)), set(range(c, d))
        union = len(first | second)
        assert value == pytest.approx(len(first & second) / union if union else 0.0)
    hits = example.pointing_game(maps, true)
    for row, (c, d), hit in zip(maps, true.tolist(), hits.tolist(), strict=True):
        peak = int(torch.argmax(row))
        assert hit == (c <= peak < d and bool(row.max() > row.min()))
