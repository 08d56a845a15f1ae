"""Find and read the linear classifier head that follows global average pooling.

CAM-family maps need the head's weight ``W`` of shape ``(K, C)`` and bias ``b`` of shape
``(K,)``. A head can be given as an :class:`torch.nn.Linear`, a 1x1 :class:`torch.nn.Conv2d`
(fully convolutional classifiers) or a ``(weight, bias)`` pair, or found in the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Classifier", "find_classifier", "head_parameters"]

Classifier = nn.Linear | nn.Conv2d | tuple[Tensor, Tensor | None]
"""A classifier head: ``nn.Linear``, 1x1 ``nn.Conv2d`` or a ``(weight, bias)`` pair."""


def head_parameters(classifier: Classifier) -> tuple[Tensor, Tensor]:
    """The weight ``(K, C)`` and bias ``(K,)`` of a classifier head, detached.

    They are read on every call, so a head that is still being trained is always seen with its
    current parameters.

    Args:
        classifier (nn.Linear, nn.Conv2d or tuple): an ``nn.Linear``; a 1x1 ``nn.Conv2d`` with
            ``groups=1``; or a pair ``(weight, bias)`` with ``weight`` of shape ``(K, C)`` and
            ``bias`` of shape ``(K,)`` or ``None``.

    Returns:
        *tuple[Tensor, Tensor]*: ``weight`` of shape ``(K, C)`` and ``bias`` of shape ``(K,)``
        (zeros when the head has none), detached from the autograd graph.

    Raises:
        TypeError: if ``classifier`` is none of the accepted kinds.
        ValueError: if a convolution is not 1x1 or grouped, or a pair has the wrong shapes.

    Examples::

        >>> weight, bias = head_parameters(nn.Linear(512, 10))
        >>> weight.shape, bias.shape
        (torch.Size([10, 512]), torch.Size([10]))
    """
    if isinstance(classifier, nn.Linear):
        weight, bias = classifier.weight, classifier.bias
    elif isinstance(classifier, nn.Conv2d):
        if classifier.kernel_size != (1, 1) or classifier.groups != 1:
            raise ValueError(
                "classifier must be a 1x1 nn.Conv2d with groups=1, got kernel_size="
                f"{classifier.kernel_size} and groups={classifier.groups}"
            )
        weight, bias = classifier.weight.flatten(1), classifier.bias
    elif isinstance(classifier, (tuple, list)) and len(classifier) == 2:
        weight, bias = classifier
        if not isinstance(weight, Tensor) or weight.dim() != 2:
            raise ValueError(
                "classifier=(weight, bias) needs weight as a tensor of shape (K, C), got "
                f"{tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__}"
            )
        if bias is not None and (not isinstance(bias, Tensor) or bias.shape != weight.shape[:1]):
            raise ValueError(
                f"classifier=(weight, bias) needs bias of shape ({weight.shape[0]},) or None, got "
                f"{tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__}"
            )
    else:
        raise TypeError(
            "classifier must be an nn.Linear, a 1x1 nn.Conv2d or a (weight, bias) pair, got "
            f"{type(classifier).__name__}"
        )
    weight = weight.detach()
    bias = torch.zeros_like(weight[:, 0]) if bias is None else bias.detach()
    return weight, bias


def find_classifier(model: nn.Module, in_features: int) -> nn.Linear:
    """The model's single ``nn.Linear`` that takes ``in_features`` inputs.

    Args:
        model (nn.Module): the model to search.
        in_features (int): the channel count of the explained layer.

    Returns:
        *nn.Linear*: the only linear layer of ``model`` with that input size.

    Raises:
        ValueError: if there is no such layer or several; the message lists the candidates, and
            the caller can pass ``classifier=`` explicitly.

    Examples::

        >>> from torchvision.models import resnet18
        >>> find_classifier(resnet18(weights=None), 512)
        Linear(in_features=512, out_features=1000, bias=True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            "cannot search for the classifier head: forward_func is not an nn.Module "
            f"({type(model).__name__}); pass classifier= explicitly"
        )
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    matches = [(name, m) for name, m in linears if m.in_features == in_features]
    if len(matches) == 1:
        return matches[0][1]
    if not matches:
        found = (
            ", ".join(
                f"{name or '<model>'} ({m.in_features} -> {m.out_features})" for name, m in linears
            )
            or "none"
        )
        raise ValueError(
            f"found no nn.Linear with in_features={in_features} (the explained layer's channel "
            f"count) in the model; linear layers: {found}. CAM-style maps need a global-average-"
            "pooling + linear head on the explained layer: pass classifier= explicitly, or use "
            "InfoGradCam for other heads"
        )
    names = ", ".join(name or "<model>" for name, _ in matches)
    raise ValueError(
        f"found several nn.Linear with in_features={in_features}: {names}; "
        "pass classifier= to say which one is the head"
    )
