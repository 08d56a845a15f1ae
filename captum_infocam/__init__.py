"""captum-infocam: softmax classifiers as mutual-information estimators, for Captum.

The CAM-family attributions (:class:`ClassActivationMap`, :class:`InfoCAM`, :class:`LayerPMI`)
are :class:`captum.attr.LayerAttribution` subclasses; the maps themselves are pure tensor
functions in :mod:`captum_infocam.maps`.
"""

from captum_infocam.attribution import ClassActivationMap, InfoCAM, LayerPMI
from captum_infocam.heads import find_classifier, head_parameters
from captum_infocam.information import pc_log_softmax, pc_softmax
from captum_infocam.priors import as_class_prior, class_prior_from_labels

__version__ = "0.1.0"

__all__ = [
    "ClassActivationMap",
    "InfoCAM",
    "LayerPMI",
    "as_class_prior",
    "class_prior_from_labels",
    "find_classifier",
    "head_parameters",
    "pc_log_softmax",
    "pc_softmax",
]
