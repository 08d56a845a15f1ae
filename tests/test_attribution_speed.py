"""The attribution speed benchmark: its measurements, its tables and a tiny end-to-end run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "attribution_speed.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


def test_cpu_peak_memory_sees_a_transient_tensor(bench):
    size = 8 * 2**20

    def call():
        kept = torch.ones(size // 4)  # float32: `size` bytes, alive during the call only
        return float(kept[0] + torch.zeros(size // 8).sum())  # another size / 2 bytes

    peak = bench._peak_bytes(call, torch.device("cpu"))
    assert 1.5 * size <= peak < 1.6 * size


def test_time_cells_are_medians_of_per_repeat_ratios(bench):
    forward = bench.Measurement(seconds=[1.0, 2.0, 4.0])
    method = bench.Measurement(seconds=[3.0, 2.0, 4.0], ratios=[3.0, 1.0, 1.0])
    missing = bench.Measurement(problem="not installed")
    config = bench.Configuration(
        "resnet18", 8, {bench.FORWARD: forward, "InfoCAM": method, "CAM": missing}
    )
    assert bench._time_cell(config, bench.FORWARD) == "2000.0 ms"
    assert bench._time_cell(config, "InfoCAM") == "1.00x"
    assert bench._time_cell(config, "CAM") == "not installed"
    assert config.label == "ResNet-18, batch 8"


def test_tables_have_one_row_per_method_and_one_cell_per_column(bench):
    header, rows = ["method", "a", "b"], [["x", "1", "2"], ["y", "3", "4"]]
    markdown = bench.markdown_table(header, rows).splitlines()
    assert markdown[0] == "| method | a | b |"
    assert markdown[1] == "|:---|---:|---:|"
    assert markdown[3] == "| y | 3 | 4 |"
    rst = bench.rst_table(header, rows)
    assert rst.startswith(".. list-table::\n   :header-rows: 1\n")
    assert rst.count("   * - ") == 3
    assert rst.count("     - ") == 6


def test_each_method_is_compared_with_the_forward_passes_around_it(bench, monkeypatch):
    clock = iter([1.0, 3.0, 1.0, 6.0, 3.0, 1.0, 6.0, 3.0, 3.0, 1.0])  # F a F b F, F b F a F
    monkeypatch.setattr(bench, "_timed", lambda call, device: next(clock))
    monkeypatch.setattr(bench, "_peak_bytes", lambda call, device: 0)
    methods = tuple(
        bench.Method(name, "test", lambda model, inputs, target: lambda: None)
        for name in (bench.FORWARD, "a", "b")
    )
    results = bench.measure(None, torch.zeros(1), torch.zeros(1), methods, repeats=2, warmup=0)
    # round 1: F=1 a=3 F=1 b=6 F=3; round 2 starts with b: F=1 b=6 F=3 a=3 F=1
    assert results["a"].ratios == [3 / 1, 3 / 2]
    assert results["b"].ratios == [6 / 2, 6 / 2]
    assert results[bench.FORWARD].seconds == [1.0, 1.0, 3.0, 1.0, 3.0, 1.0]


def test_a_broken_method_is_reported_and_the_others_still_run(bench):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1))

    def broken(model, inputs, target):
        def call():
            raise RuntimeError("peer crashed")

        return call

    def missing(model, inputs, target):
        raise ImportError("no module named peer")

    methods = (
        bench.Method(bench.FORWARD, "torch", bench._forward),
        bench.Method("broken", "peer", broken),
        bench.Method("missing", "peer", missing),
    )
    inputs, target = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    results = bench.measure(model, inputs, target, methods, repeats=3, warmup=1)
    assert len(results[bench.FORWARD].seconds) == 3  # the broken method ran in the warm-up
    assert results[bench.FORWARD].peak_bytes > 0
    assert results["broken"].problem == "failed: RuntimeError"
    assert results["missing"].problem == "not installed"


def test_end_to_end_run_writes_every_method(bench, tmp_path, capsys):
    table = tmp_path / "speed.rst"
    bench.main(
        [
            "--models", "resnet18",
            "--batch-sizes", "2",
            "--image-size", "32",
            "--repeats", "1",
            "--warmup", "0",
            "--devices", "cpu",
            "--table", str(table),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    text = table.read_text()
    for method in bench.METHODS:
        row = f"| {method.name} ({method.package}) |"
        assert row in printed
        cells = next(line for line in printed.splitlines() if line.startswith(row))
        assert len(cells.split("|")) == 2 + 1 + 1  # borders, the name, one configuration
        assert "failed" not in cells
        assert f"   * - {method.name} ({method.package})" in text
    assert "ResNet-18, batch 2" in text
    assert "--image-size 32" in text
