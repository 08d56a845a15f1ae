"""captum-infocam: softmax classifiers as mutual-information estimators, for Captum.

The attributions (:class:`ClassActivationMap`, :class:`InfoCAM`, :class:`LayerPMI` and the
gradient form :class:`InfoGradCam`) are :class:`captum.attr.LayerAttribution` subclasses; the
maps themselves are pure tensor functions in :mod:`captum_infocam.maps`. PC-softmax and the
information estimators live in :mod:`captum_infocam.information`, the weakly-supervised
localisation metrics in :mod:`captum_infocam.localization`, the data sets in
:mod:`captum_infocam.data`.
"""

from captum_infocam.attribution import ClassActivationMap, InfoCAM, LayerPMI, find_gap_head
from captum_infocam.gradient import InfoGradCam
from captum_infocam.heads import find_classifier, head_parameters
from captum_infocam.information import (
    PCSoftmaxCrossEntropyLoss,
    StreamingMutualInformation,
    mutual_information,
    pc_log_softmax,
    pc_softmax,
    pointwise_mutual_information,
)
from captum_infocam.input_space import as_input_attribution, upsample_to_input
from captum_infocam.priors import as_class_prior, class_counts_from_labels, class_prior_from_labels
from captum_infocam.visualization import compare_maps, overlay_map

__version__ = "0.1.0"

__all__ = [
    "ClassActivationMap",
    "InfoCAM",
    "InfoGradCam",
    "LayerPMI",
    "PCSoftmaxCrossEntropyLoss",
    "StreamingMutualInformation",
    "as_class_prior",
    "as_input_attribution",
    "class_counts_from_labels",
    "class_prior_from_labels",
    "compare_maps",
    "find_classifier",
    "find_gap_head",
    "head_parameters",
    "mutual_information",
    "overlay_map",
    "pc_log_softmax",
    "pc_softmax",
    "pointwise_mutual_information",
    "upsample_to_input",
]
