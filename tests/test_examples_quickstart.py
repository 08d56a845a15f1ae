"""Smoke test of examples/quickstart.py in its fast mode, so the demo can never rot."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_example


def run(tmp_path: Path) -> str:
    arguments = ["--fast", "--no-progress", "--out", str(tmp_path / "out")]
    return run_example("quickstart.py", *arguments, "--cache", str(tmp_path / "cache"))


def test_quickstart_fast_mode_trains_caches_and_plots(tmp_path):
    first = run(tmp_path)
    rows = re.findall(r"^\| (.+?) \| ([\d.]+)% \| ([\d.]+)% \|$", first, flags=re.MULTILINE)
    assert [name for name, *_ in rows] == [
        "CAM",
        "Grad-CAM (Captum)",
        "infoCAM",
        "infoCAM (1x1 regions)",
        "PMI",
    ]
    for _, gt_known, top1 in rows:
        assert 0 <= float(top1) <= float(gt_known) <= 100
    cam, grad_cam = rows[0][1], rows[1][1]
    assert cam == grad_cam  # CAM and Grad-CAM are proportional on a GAP + linear model
    assert (tmp_path / "out" / "quickstart.png").stat().st_size > 10_000
    assert len(list((tmp_path / "cache").glob("quickstart-*.pt"))) == 1
    assert "loaded the trained model" in run(tmp_path)  # the second run skips training
