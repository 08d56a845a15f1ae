"""captum-infocam: softmax classifiers as mutual-information estimators, for Captum."""

__version__ = "0.1.0"
