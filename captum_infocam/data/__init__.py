"""Data sets: synthetic localisation images, Gaussian mixtures, readers for public sets."""

from captum_infocam.data._box_images import BoxSample
from captum_infocam.data.cub import CUB200
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
from captum_infocam.data.tiny_imagenet import TinyImageNet

__all__ = [
    "CLASS_NAMES",
    "CUB200",
    "MI_BENCHMARK_BALANCED_COUNTS",
    "MI_BENCHMARK_IMBALANCED_COUNTS",
    "BoxSample",
    "GaussianMixture",
    "LocalizationBatch",
    "LocalizationSample",
    "MonteCarloEstimate",
    "SyntheticLocalization",
    "TinyImageNet",
    "make_localization_data",
    "mi_benchmark_mixture",
]
