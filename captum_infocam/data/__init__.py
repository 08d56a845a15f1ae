"""Data sets: synthetic localisation images, Gaussian mixtures, readers for public sets."""

from captum_infocam.data.gaussians import (
    MI_BENCHMARK_BALANCED_COUNTS,
    MI_BENCHMARK_IMBALANCED_COUNTS,
    GaussianMixture,
    MonteCarloEstimate,
    mi_benchmark_mixture,
)
from captum_infocam.data.synthetic import (
    CLASS_NAMES,
    LocalizationBatch,
    LocalizationSample,
    SyntheticLocalization,
    make_localization_data,
)

__all__ = [
    "CLASS_NAMES",
    "MI_BENCHMARK_BALANCED_COUNTS",
    "MI_BENCHMARK_IMBALANCED_COUNTS",
    "GaussianMixture",
    "LocalizationBatch",
    "LocalizationSample",
    "MonteCarloEstimate",
    "SyntheticLocalization",
    "make_localization_data",
    "mi_benchmark_mixture",
]
