"""Smoke test of examples/quantus_evaluation.py in its fast mode (skipped without Quantus)."""

from __future__ import annotations

import re

import pytest

from conftest import run_example

pytest.importorskip("quantus")

NUMBER = r"(?:-?[\d.]+|nan)"
RANKING = ("Pointing game ↑", "Top-k (k=100) ↑", "Rel. rank acc. ↑", "Pixel-flipping AUC ↓")


def test_fast_mode_prints_and_writes_the_table(tmp_path):
    arguments = ["--fast", "--no-progress", "--out", str(tmp_path / "out")]
    stdout = run_example("quantus_evaluation.py", *arguments, "--cache", str(tmp_path / "cache"))
    header = re.search(r"^\| method \| (.+) \|$", stdout, flags=re.MULTILINE)
    columns = header.group(1).split(" | ")
    assert len(columns) == 12
    rows = {
        name: [float(value) for value in values.split(" | ")]
        for name, values in re.findall(
            rf"^\| ([^*|]+?) \| ({NUMBER}(?: \| {NUMBER})*) \|$", stdout, flags=re.MULTILINE
        )
    }
    assert list(rows) == ["CAM", "Grad-CAM (Captum)", "infoCAM", "InfoGradCam"]
    assert all(len(values) == 12 for values in rows.values())
    # Metrics that only rank pixels cannot tell maps apart that differ by a positive factor
    # (Grad-CAM is CAM / (h * w) here) or by a constant per image (InfoGradCam is infoCAM
    # minus the bias contrast on a GAP + linear model).
    ranking = [columns.index(title) for title in RANKING]
    for pair in (("CAM", "Grad-CAM (Captum)"), ("infoCAM", "InfoGradCam")):
        assert [rows[pair[0]][i] for i in ranking] == [rows[pair[1]][i] for i in ranking]
    assert (tmp_path / "out" / "quantus_evaluation.md").read_text().startswith("| method |")
    assert len(list((tmp_path / "cache").glob("quantus-evaluation-*.pt"))) == 1
