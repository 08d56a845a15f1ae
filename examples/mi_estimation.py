"""A softmax classifier as a mutual-information estimator, on Gaussians whose MI is known.

Reproduces the synthetic experiment of Qin, Kim & Gedeon, "Rethinking Softmax with
Cross-Entropy" (arXiv 1911.10688): five isotropic Gaussians in d = 1, 2, 5, 10 dimensions,
balanced (10,000 training points per class) and imbalanced (5,000 to 25,000), test sets one
fifth as large. Two models are trained on each set:

* the paper's MLP d-100-100-100-5 (ReLU) with Adam;
* a linear model (multinomial logistic regression, full-batch L-BFGS), which is Bayes-optimal
  here: the log-densities of Gaussians with a shared covariance are linear in x.

Each is trained with plain softmax cross-entropy (SCE) and, on the imbalanced set, also with
the PC-softmax loss (prior = the training class frequencies). The mean PMI read off the
logits is compared with the ground truth I(X;Y) (Monte Carlo on the exact densities):

* ``test``: mean PMI on the paper's test set, with the standard error of that mean. The test
  set has fixed class counts (a stratified sample), so the standard error counts only the
  spread within each class: sum_k (n_k/N)^2 s_k^2 / n_k under the square root;
* ``eval``: the same estimator on a large fresh sample (default 500,000 pairs), whose own
  sampling error is a few 1e-4 nats: this is what the estimator converges to;
* ``bias``: mean over the fresh sample of (model PMI - exact PMI), paired, so the sampling
  noise cancels: the model's own error.

Plain SCE on the imbalanced set overestimates I(X;Y) by log K - H(Y) (0.12 nats) when read
with a uniform prior, as the paper says. Two ways remove the bias, and the table shows both:
training with the PC-softmax loss, or reading a plain-SCE model's logits minus log pi with the
PC estimator. For a model whose last layer has a free bias (both models here) the two are the
same family: the PC loss is the SCE loss of z + log pi plus log pi_y, which does not depend
on the model, so the optima differ only by that shift, and the estimates agree to the
optimiser's precision.

Run ``python examples/mi_estimation.py`` (about 75 seconds on 2 CPU cores) or with ``--fast``
(seconds, smaller sets, fewer epochs: numbers are then rougher). It prints the table, writes
``mi_estimation.png`` (MI against d) and ``mi_estimation.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn
from tqdm import tqdm

from captum_infocam.data.gaussians import (
    MI_BENCHMARK_BALANCED_COUNTS,
    MI_BENCHMARK_IMBALANCED_COUNTS,
    GaussianMixture,
    mi_benchmark_mixture,
)
from captum_infocam.information import (
    PCSoftmaxCrossEntropyLoss,
    pointwise_mutual_information,
)

NUM_CLASSES = 5
TARGETS = {"MLP": 0.02, "linear": 0.005}  # |estimate - truth| in nats, from the issue
EVAL_BATCH = 1 << 16


@dataclass
class Row:
    """One estimate against the truth."""

    dim: int
    data: str  # "balanced" or "imbalanced"
    model: str  # "MLP" or "linear"
    training: str  # "SCE" or "PC"
    estimator: str  # "uniform", "PC" or "corrected"
    truth: float
    truth_se: float
    test: float
    test_se: float
    eval: float
    eval_se: float
    bias: float
    bias_se: float
    seconds: float

    @property
    def target(self) -> float | None:
        """The issue's bound when this row is one the claim is about, else None."""
        claimed = (self.data == "balanced" and self.training == "SCE") or (
            self.data == "imbalanced" and self.training == "PC"
        )
        return TARGETS[self.model] if claimed else None


def make_mlp(dim: int) -> nn.Module:
    """The paper's classifier: d-100-100-100-5 with ReLUs."""
    return nn.Sequential(
        nn.Linear(dim, 100),
        nn.ReLU(),
        nn.Linear(100, 100),
        nn.ReLU(),
        nn.Linear(100, 100),
        nn.ReLU(),
        nn.Linear(100, NUM_CLASSES),
    )


def train_mlp(
    x: Tensor, y: Tensor, loss_fn: nn.Module, *, epochs: int, seed: int, batch_size: int = 500
) -> nn.Module:
    """Adam with a one-cycle learning-rate schedule (peak 3e-3), shuffled mini-batches."""
    torch.manual_seed(seed)
    model = make_mlp(x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch
    )
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="    MLP epochs", leave=False, unit="ep"):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            loss = loss_fn(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def fit_linear(x: Tensor, y: Tensor, loss_fn: nn.Module, *, seed: int) -> nn.Module:
    """Multinomial logistic regression to convergence: full-batch L-BFGS in float64."""
    torch.manual_seed(seed)
    model = nn.Linear(x.shape[1], NUM_CLASSES).double()
    x = x.double()
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        max_iter=200,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return model.float().eval()


@torch.no_grad()
def pmi_of(model: nn.Module, x: Tensor, y: Tensor, class_prior: Tensor | None, shift: Tensor):
    """Estimated PMI of every pair, in batches; ``shift`` is subtracted from the logits."""
    return torch.cat(
        [
            pointwise_mutual_information(model(xb) - shift, yb, class_prior)
            for xb, yb in zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH), strict=True)
        ]
    )


def mean_and_se(values: Tensor) -> tuple[float, float]:
    """Mean of i.i.d. values and the standard error of that mean."""
    values = values.double()
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


def stratified_mean_and_se(values: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean of values drawn with fixed class counts ``n_k`` (a stratified sample) and its
    standard error ``sqrt(sum_k (n_k / N)^2 s_k^2 / n_k)``, ``s_k`` the within-class standard
    deviation: the class shares do not vary between such samples, so neither does their part
    of the spread, which the i.i.d. formula would count."""
    values = values.double()
    counts = torch.bincount(labels, minlength=NUM_CLASSES).double()
    sums = torch.zeros(NUM_CLASSES, dtype=torch.float64).index_add_(0, labels, values)
    means = sums / counts.clamp_min(1)
    squares = torch.zeros(NUM_CLASSES, dtype=torch.float64).index_add_(
        0, labels, (values - means[labels]).square()
    )
    variances = squares / (counts - 1).clamp_min(1)
    share = counts / counts.sum()
    return float(values.mean()), float(
        (share.square() * variances / counts.clamp_min(1)).sum().sqrt()
    )


def run_setting(dim: int, imbalanced: bool, args: argparse.Namespace, progress: tqdm) -> list[Row]:
    """Train every model of one (d, balance) set and compare its estimates with the truth."""
    data = "imbalanced" if imbalanced else "balanced"
    mixture: GaussianMixture = mi_benchmark_mixture(dim, imbalanced=imbalanced)
    counts = MI_BENCHMARK_IMBALANCED_COUNTS if imbalanced else MI_BENCHMARK_BALANCED_COUNTS
    counts = [max(1, round(c * args.data_scale)) for c in counts]
    seed = 1000 * dim + 100 * imbalanced + args.seed
    x_train, y_train = mixture.sample(class_counts=counts, seed=seed)
    x_test, y_test = mixture.sample(class_counts=[c // 5 for c in counts], seed=seed + 1)
    x_eval, y_eval = mixture.sample(args.eval_samples, seed=seed + 2)
    exact_eval = mixture.pointwise_mutual_information(x_eval.double(), y_eval)
    truth = mixture.mutual_information(num_samples=args.truth_samples, seed=seed + 3)
    prior = mixture.class_prior.float()  # = the training class frequencies
    log_prior = prior.log()
    no_shift = torch.zeros(NUM_CLASSES)

    trainings = [("SCE", nn.CrossEntropyLoss())]
    if imbalanced:
        trainings.append(("PC", PCSoftmaxCrossEntropyLoss(counts)))
    rows = []
    for model_name in ("MLP", "linear"):
        for training, loss_fn in trainings:
            progress.set_postfix_str(f"d={dim} {data} {model_name} {training}")
            start = time.perf_counter()
            if model_name == "MLP":
                model = train_mlp(x_train, y_train, loss_fn, epochs=args.epochs, seed=seed)
            else:
                model = fit_linear(x_train, y_train, loss_fn, seed=seed)
            seconds = time.perf_counter() - start
            if training == "PC":
                estimators = [("PC", prior, no_shift)]
            elif imbalanced:  # plain SCE: the paper's estimator and a prior-corrected one
                estimators = [("uniform", None, no_shift), ("corrected", prior, log_prior)]
            else:
                estimators = [("uniform", None, no_shift)]
            for estimator, class_prior, shift in estimators:
                test = stratified_mean_and_se(
                    pmi_of(model, x_test, y_test, class_prior, shift), y_test
                )
                pmi_eval = pmi_of(model, x_eval, y_eval, class_prior, shift)
                evaluation = mean_and_se(pmi_eval)
                bias = mean_and_se(pmi_eval.double() - exact_eval)
                rows.append(
                    Row(dim, data, model_name, training, estimator, truth.value,
                        truth.standard_error, *test, *evaluation, *bias, seconds)
                )  # fmt: skip
            progress.update()
    return rows


ESTIMATOR_TEXT = {
    "uniform": "log softmax + log K",
    "PC": "PC-softmax, prior",
    "corrected": "logits - log pi, PC",
}


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    """The results table and the check of the issue's targets."""
    print(
        f"\nI(X;Y) in nats. truth: Monte Carlo on the exact densities "
        f"({args.truth_samples:,} stratified samples) +- s.e.\n"
        "test: mean PMI on the paper's test set +- its stratified s.e.; "
        f"eval: on {args.eval_samples:,} fresh pairs +- s.e.;\n"
        "bias: mean (model PMI - exact PMI) on the fresh pairs +- s.e. (the model's own error)."
    )
    header = (
        f"{'d':>3} {'data':<10} {'model':<6} {'train':<5} {'estimator':<20} "
        f"{'truth':>15} {'test':>15} {'err':>7} {'eval':>15} {'err':>7} {'bias':>16} {'target':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        target = ""
        if row.target is not None:
            passed = abs(row.eval - row.truth) <= row.target
            target = f"{row.target:.3f} {'ok' if passed else 'MISS'}"
        print(
            f"{row.dim:>3} {row.data:<10} {row.model:<6} {row.training:<5} "
            f"{ESTIMATOR_TEXT[row.estimator]:<20} "
            f"{row.truth:7.4f}+-{row.truth_se:.4f} {row.test:7.4f}+-{row.test_se:.4f} "
            f"{row.test - row.truth:+7.4f} {row.eval:7.4f}+-{row.eval_se:.4f} "
            f"{row.eval - row.truth:+7.4f} {row.bias:+8.4f}+-{row.bias_se:.4f} {target:>10}"
        )
    claimed = [row for row in rows if row.target is not None]
    for name, key in (("eval", "eval"), ("test", "test")):
        met = sum(abs(getattr(row, key) - row.truth) <= row.target for row in claimed)
        print(
            f"targets (|{name} - truth| <= 0.02 MLP / 0.005 linear; balanced SCE and "
            f"imbalanced PC): {met}/{len(claimed)} met"
        )
    sce = [row for row in rows if row.data == "imbalanced" and row.estimator == "uniform"]
    if sce:
        expected = [
            math.log(NUM_CLASSES) - mi_benchmark_mixture(1, imbalanced=True).class_entropy()
        ]
        print(
            "plain SCE on the imbalanced set, eval - truth: "
            + ", ".join(f"{r.model} d={r.dim}: {r.eval - r.truth:+.3f}" for r in sce)
            + f"  (log K - H(Y) = {expected[0]:+.3f})"
        )


PLOT_STYLES = {
    ("MLP", "SCE", "uniform"): ("o", "tab:blue", "MLP, SCE"),
    ("linear", "SCE", "uniform"): ("s", "tab:cyan", "linear, SCE"),
    ("MLP", "PC", "PC"): ("^", "tab:red", "MLP, PC-softmax"),
    ("linear", "PC", "PC"): ("v", "tab:orange", "linear, PC-softmax"),
    ("MLP", "SCE", "corrected"): ("x", "tab:green", "MLP, SCE, prior-corrected"),
}


def plot(rows: list[Row], path: Path) -> None:
    """Top: MI against d, truth and eval-sample estimates. Bottom: estimate - truth."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, height_ratios=(3, 2))
    for column, data in enumerate(("balanced", "imbalanced")):
        top, bottom = axes[0, column], axes[1, column]
        subset = [row for row in rows if row.data == data]
        if not subset:
            continue
        dims = sorted({row.dim for row in subset})
        position = {d: i for i, d in enumerate(dims)}  # evenly spaced, labelled with d
        truth = {row.dim: (row.truth, row.truth_se) for row in subset}
        top.errorbar(
            range(len(dims)), [truth[d][0] for d in dims], yerr=[2 * truth[d][1] for d in dims],
            color="black", lw=1.5, label="truth (Monte Carlo)",
        )  # fmt: skip
        entropy = mi_benchmark_mixture(1, imbalanced=data == "imbalanced").class_entropy()
        top.axhline(entropy, color="grey", ls=":", lw=1, label="H(Y), upper bound")
        for target, shade in ((TARGETS["MLP"], 0.08), (TARGETS["linear"], 0.16)):
            bottom.axhspan(-target, target, color="tab:green", alpha=shade, lw=0)
        bottom.axhline(0, color="black", lw=1)
        for key, (marker, color, label) in PLOT_STYLES.items():
            points = [row for row in subset if (row.model, row.training, row.estimator) == key]
            if not points:
                continue
            x = [position[row.dim] for row in points]
            style = {"color": color, "ms": 7, "mfc": "none", "ls": "none", "label": label}
            top.plot(x, [row.eval for row in points], marker, **style)
            bottom.errorbar(
                x, [row.eval - row.truth for row in points],
                yerr=[2 * math.hypot(row.eval_se, row.truth_se) for row in points],
                fmt=marker, **style,
            )  # fmt: skip
        top.set_title(f"{data} classes")
        top.legend(fontsize=8, loc="lower right")
        bottom.set_yscale("symlog", linthresh=0.02, linscale=2)
        bottom.set_ylim(-0.03, 0.16)
        ticks = [-0.02, -0.005, 0, 0.005, 0.02, 0.1]
        bottom.set_yticks(ticks, [f"{t:+g}" if t else "0" for t in ticks])
        bottom.minorticks_off()
        bottom.set_xlabel("input dimension d")
        for axis in (top, bottom):
            axis.set_xticks(range(len(dims)), [str(d) for d in dims])
            axis.set_xlim(-0.5, len(dims) - 0.5)
            axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("I(X;Y) (nats)")
    axes[1, 0].set_ylabel("estimate - truth (nats)\nshaded: targets +-0.02, +-0.005")
    figure.suptitle(
        "Mean PMI read off a softmax classifier (on fresh pairs) vs the true mutual information"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    parser.add_argument(
        "--fast", action="store_true", help="seconds: d=2, 1/5 of the data, 6 epochs"
    )
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--epochs", type=int, default=20, help="MLP epochs")
    parser.add_argument("--eval-samples", type=int, default=500_000)
    parser.add_argument("--truth-samples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest for these small models on a shared machine)",
    )
    args = parser.parse_args(argv)
    args.data_scale = 1.0
    if args.fast:
        args.dims, args.epochs, args.data_scale = [2], 6, 0.2
        args.eval_samples, args.truth_samples = 50_000, 100_000
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows: list[Row] = []
    settings = [(dim, imbalanced) for dim in args.dims for imbalanced in (False, True)]
    total = sum(2 * (1 + imbalanced) for _, imbalanced in settings)
    with tqdm(total=total, desc="models trained", unit="model") as progress:
        for dim, imbalanced in settings:
            rows += run_setting(dim, imbalanced, args, progress)
    print_table(rows, args)
    plot(rows, args.out / "mi_estimation.png")
    results = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": [asdict(row) | {"target": row.target} for row in rows],
    }
    (args.out / "mi_estimation.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'mi_estimation.png'} and mi_estimation.json "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
