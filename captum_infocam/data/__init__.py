"""Data sets: synthetic localisation images, Gaussian mixtures, readers for public sets."""

from captum_infocam.data.synthetic import (
    CLASS_NAMES,
    LocalizationBatch,
    LocalizationSample,
    SyntheticLocalization,
    make_localization_data,
)

__all__ = [
    "CLASS_NAMES",
    "LocalizationBatch",
    "LocalizationSample",
    "SyntheticLocalization",
    "make_localization_data",
]
