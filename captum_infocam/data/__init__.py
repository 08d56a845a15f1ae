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
from captum_infocam.data.synthetic_textures import (
    TEXTURE_NAMES,
    SyntheticTextures,
    TextureBatch,
    make_texture_data,
)
from captum_infocam.data.tiny_imagenet import TinyImageNet

__all__ = [
    "CLASS_NAMES",
    "CUB200",
    "MI_BENCHMARK_BALANCED_COUNTS",
    "MI_BENCHMARK_IMBALANCED_COUNTS",
    "TEXTURE_NAMES",
    "BoxSample",
    "GaussianMixture",
    "LocalizationBatch",
    "LocalizationSample",
    "MonteCarloEstimate",
    "SyntheticLocalization",
    "SyntheticTextures",
    "TextureBatch",
    "TinyImageNet",
    "make_localization_data",
    "make_texture_data",
    "mi_benchmark_mixture",
]
