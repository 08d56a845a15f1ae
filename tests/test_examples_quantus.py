"""Smoke test of examples/quantus_evaluation.py in its fast mode (skipped without Quantus)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("quantus")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quantus_evaluation.py"
NUMBER = r"(?:-?[\d.]+|nan)"
RANKING = ("Pointing game ↑", "Top-k (k=100) ↑", "Rel. rank acc. ↑", "Pixel-flipping AUC ↓")


def test_fast_mode_prints_and_writes_the_table(tmp_path):
    command = [sys.executable, str(EXAMPLE), "--fast", "--no-progress"]
    command += ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    header = re.search(r"^\| method \| (.+) \|$", done.stdout, flags=re.MULTILINE)
    columns = header.group(1).split(" | ")
    assert len(columns) == 12
    rows = {
        name: [float(value) for value in values.split(" | ")]
        for name, values in re.findall(
            rf"^\| ([^*|]+?) \| ({NUMBER}(?: \| {NUMBER})*) \|$", done.stdout, flags=re.MULTILINE
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
