"""Smoke tests of the information examples in ``--fast`` mode: they run and their numbers hold."""

from __future__ import annotations

import json
import math
from types import ModuleType

import numpy as np
import pytest
import torch

from captum_infocam.data.gaussians import mi_benchmark_mixture

from conftest import EXAMPLES, load_script, run_example


def load_example(name: str) -> ModuleType:
    return load_script(EXAMPLES / f"{name}.py", f"example_{name}")


def test_mi_estimation_test_set_standard_error_is_stratified():
    """The test set has fixed class counts: its s.e. is sqrt(sum (n_k/N)^2 s_k^2 / n_k), which
    predicts the spread of the mean over such sets (the i.i.d. formula overstates it)."""
    stratified_mean_and_se = load_example("mi_estimation").stratified_mean_and_se
    counts = [40, 10, 30, 15, 5]
    labels = torch.repeat_interleave(torch.arange(5), torch.tensor(counts))
    class_means = torch.tensor([0.0, 3.0, -2.0, 5.0, 1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    draws = [
        class_means[labels] + torch.randn(len(labels), generator=gen, dtype=torch.float64)
        for _ in range(400)
    ]
    values = draws[0]
    mean, se = stratified_mean_and_se(values, labels)
    groups = [values[labels == k].numpy() for k in range(5)]
    n = len(values)
    expected = math.sqrt(sum((len(g) / n) ** 2 * g.var(ddof=1) / len(g) for g in groups))
    assert mean == pytest.approx(float(values.mean()), rel=1e-12)
    assert se == pytest.approx(expected, rel=1e-12)
    spread = float(np.std([float(d.mean()) for d in draws], ddof=1))
    reported = float(np.mean([stratified_mean_and_se(d, labels)[1] for d in draws]))
    assert reported == pytest.approx(spread, rel=0.15)  # 400 draws: about 4% precision
    assert float(values.std()) / math.sqrt(n) > 2 * se  # the i.i.d. formula is far off here


@pytest.mark.slow
def test_mi_estimation_fast(tmp_path):
    stdout = run_example("mi_estimation.py", "--fast", "--out", str(tmp_path))
    assert "targets (|eval - truth|" in stdout
    assert (tmp_path / "mi_estimation.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "mi_estimation.json").read_text())["rows"]
    by_key = {(r["data"], r["model"], r["training"], r["estimator"]): r for r in rows}
    assert len(by_key) == len(rows) == 8
    for model in ("MLP", "linear"):
        assert ("balanced", model, "SCE", "uniform") in by_key
        assert ("imbalanced", model, "PC", "PC") in by_key
    # the linear model is Bayes-optimal: its own error (paired with the exact PMI) is tiny
    for data, training, estimator in (("balanced", "SCE", "uniform"), ("imbalanced", "PC", "PC")):
        assert abs(by_key[(data, "linear", training, estimator)]["bias"]) < 0.005
    # plain SCE read with a uniform prior overshoots by log K - H(Y) on the imbalanced set
    overshoot = math.log(5) - mi_benchmark_mixture(1, imbalanced=True).class_entropy()
    sce = by_key[("imbalanced", "linear", "SCE", "uniform")]
    assert sce["bias"] == pytest.approx(overshoot, abs=0.01)
    # a free output bias makes PC training and prior-corrected SCE the same estimator
    corrected = by_key[("imbalanced", "linear", "SCE", "corrected")]
    assert corrected["eval"] == pytest.approx(
        by_key[("imbalanced", "linear", "PC", "PC")]["eval"], abs=1e-3
    )


@pytest.mark.slow
def test_pc_softmax_imbalanced_fast(tmp_path):
    stdout = run_example("pc_softmax_imbalanced.py", "--fast", "--out", str(tmp_path))
    assert "PC-softmax argmax (own)" in stdout
    assert (tmp_path / "pc_softmax_imbalanced.png").stat().st_size > 10_000
    payload = json.loads((tmp_path / "pc_softmax_imbalanced.json").read_text())
    results = payload["results"]
    assert {(r["test"], r["loss"]) for r in results} == {
        (test, loss) for test in ("balanced", "imbalanced") for loss in ("SCE", "PC")
    }
    assert len(results) == 8  # two decision rules per model and test set
    test_counts = {"balanced": [25, 25, 25, 25], "imbalanced": [50, 50, 5, 5]}
    for row in results:
        per_class = row["per_class_accuracy"]
        counts = test_counts[row["test"]]
        # the summary metrics follow from the per-class accuracies and the test counts
        overall = sum(a * n for a, n in zip(per_class, counts, strict=True)) / sum(counts)
        assert row["overall"] == pytest.approx(overall, abs=1e-12)
        assert row["per-class"] == pytest.approx(sum(per_class) / 4, abs=1e-12)
        assert row["majority"] == pytest.approx(sum(per_class[:2]) / 2, abs=1e-12)
        assert row["minority"] == pytest.approx(sum(per_class[2:]) / 2, abs=1e-12)
        assert all(0.0 <= a <= 1.0 for a in per_class)
    assert payload["train_counts"] == [150, 150, 15, 15]
