"""Smoke test of examples/wsol_benchmark.py in its fast mode, on synthetic and on CUB-like data."""

from __future__ import annotations

import re

from test_datasets import write_cub_fixture

from conftest import run_example

ROW = r"^\| (.+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+|nan) \|$"


def run(*arguments: str) -> list[tuple[str, ...]]:
    stdout = run_example("wsol_benchmark.py", "--fast", "--no-progress", *arguments)
    return re.findall(ROW, stdout, flags=re.MULTILINE)


def test_fast_mode_on_the_synthetic_set(tmp_path):
    rows = run("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    names = [row[0] for row in rows]
    assert names[:3] == ["CAM", "Grad-CAM (Captum)", "infoCAM mean, s=1"]
    assert len(names) == 7 and all(name.startswith("infoCAM") for name in names[2:])
    for _, max_box_acc, tau, v2, gt_known, top1 in rows:
        assert 0 <= float(top1) <= float(gt_known) <= 100
        assert 0 <= float(max_box_acc) <= 100 and 0 <= float(v2) <= 100
        assert 0 <= float(tau) < 1
    # CAM and Captum's Grad-CAM are proportional on a GAP + linear model: same boxes.
    assert rows[0][1:] == rows[1][1:]
    assert (tmp_path / "out" / "wsol_benchmark.png").stat().st_size > 10_000
    assert len(list((tmp_path / "cache").glob("wsol-benchmark-*.pt"))) == 1


def test_fast_mode_on_a_cub_folder(tmp_path):
    root = write_cub_fixture(tmp_path / "CUB_200_2011")
    rows = run(
        "--root", str(root), "--image-size", "32",
        "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert len(rows) == 7
    assert (tmp_path / "out" / "wsol_benchmark.png").is_file()
