"""Data sets: synthetic localisation images and time series, Gaussian mixtures, readers for
public sets (CUB-200-2011, Tiny-ImageNet and the wsolevaluation metadata layout).

Every localisation set returns :class:`LocalizationSample` items ``(image, label, boxes)``,
with a fourth field ``mask`` when the set has object masks and a fifth, ``ignore``, when it
also has ignore regions; :func:`collate_localization` batches them.
"""

from captum_infocam._deprecation import renamed_attributes
from captum_infocam.data._batch import SyntheticBatch
from captum_infocam.data._sample import WSOL_RENAMED, LocalizationSample, collate_localization
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
    SyntheticLocalization,
    make_localization_data,
)
from captum_infocam.data.synthetic_series import (
    SERIES_CLASS_NAMES,
    SeriesBatch,
    make_series_data,
)
from captum_infocam.data.synthetic_textures import (
    TEXTURE_NAMES,
    SyntheticTextures,
    TextureBatch,
    make_texture_data,
)
from captum_infocam.data.tiny_imagenet import TinyImageNet
from captum_infocam.data.wsol_metadata import WSOLMetadataDataset

__all__ = [
    "CLASS_NAMES",
    "CUB200",
    "MI_BENCHMARK_BALANCED_COUNTS",
    "MI_BENCHMARK_IMBALANCED_COUNTS",
    "SERIES_CLASS_NAMES",
    "TEXTURE_NAMES",
    "GaussianMixture",
    "LocalizationBatch",
    "LocalizationSample",
    "MonteCarloEstimate",
    "SeriesBatch",
    "SyntheticBatch",
    "SyntheticLocalization",
    "SyntheticTextures",
    "TextureBatch",
    "TinyImageNet",
    "WSOLMetadataDataset",
    "collate_localization",
    "make_localization_data",
    "make_series_data",
    "make_texture_data",
    "mi_benchmark_mixture",
]

__getattr__ = renamed_attributes(
    __name__,
    {
        "BoxSample": ("captum_infocam.data.LocalizationSample", LocalizationSample),
        **WSOL_RENAMED,
    },
)
