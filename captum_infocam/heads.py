"""Find and read the linear classifier head that follows global average pooling.

CAM-family maps need the head's weight ``W`` of shape ``(K, C)`` and bias ``b`` of shape
``(K,)``. A head can be given as an :class:`torch.nn.Linear`, a 1x1 convolution
(:class:`torch.nn.Conv2d`, or ``Conv1d`` / ``Conv3d`` with a kernel of ones: fully
convolutional classifiers) or a ``(weight, bias)`` pair. The attributions find it themselves
when it is not given: they watch these modules during the forward pass they run anyway and take
the one whose output is the model's logits (:func:`head_candidates`); :func:`find_classifier`
is the older lookup by ``in_features``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Classifier", "find_classifier", "head_candidates", "head_parameters", "is_linear_head"]

Classifier = nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | tuple[Tensor, Tensor | None]
"""A classifier head: ``nn.Linear``, a 1x1 convolution or a ``(weight, bias)`` pair."""

_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MAX_NAMES = 4  # module names listed in a message


def is_linear_head(module: nn.Module) -> bool:
    """Whether ``module`` can be a linear classifier head of pooled features.

    That is an ``nn.Linear`` (or subclass), or a convolution whose kernel is all ones and
    ``groups=1`` (a 1x1 ``nn.Conv2d``, a kernel-1 ``nn.Conv1d``, a 1x1x1 ``nn.Conv3d``).

    Args:
        module (nn.Module): any module.

    Returns:
        *bool*.

    Examples::

        >>> is_linear_head(nn.Linear(8, 3)), is_linear_head(nn.Conv2d(8, 3, 1))
        (True, True)
        >>> is_linear_head(nn.Conv2d(8, 3, 3))
        False
    """
    if isinstance(module, nn.Linear):
        return True
    if isinstance(module, _CONVOLUTIONS):
        return module.groups == 1 and all(k == 1 for k in module.kernel_size)
    return False


def head_candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The named modules of ``model`` that can be its linear head (:func:`is_linear_head`).

    Args:
        model (nn.Module): the model.

    Returns:
        *list[tuple[str, nn.Module]]*: ``(name, module)`` pairs in the order of
        :meth:`~torch.nn.Module.named_modules`.

    Examples::

        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 2))
        >>> [name for name, _ in head_candidates(model)]
        ['2']
    """
    return [(name, module) for name, module in model.named_modules() if is_linear_head(module)]


def _names(names: list[str]) -> str:
    """At most a few names, then how many more: messages stay short on large models."""
    shown = ", ".join(names[:_MAX_NAMES])
    more = len(names) - _MAX_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def head_parameters(classifier: Classifier) -> tuple[Tensor, Tensor]:
    """The weight ``(K, C)`` and bias ``(K,)`` of a classifier head, detached.

    They are read on every call, so a head that is still being trained is always seen with its
    current parameters.

    Args:
        classifier (nn.Linear, nn.Conv2d or tuple): an ``nn.Linear``; a 1x1 ``nn.Conv2d`` (or
            a ``Conv1d`` / ``Conv3d`` with a kernel of ones) with ``groups=1``; or a pair
            ``(weight, bias)`` with ``weight`` of shape ``(K, C)`` and ``bias`` of shape
            ``(K,)`` or ``None``.

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
    weight: Tensor
    bias: Tensor | None
    if isinstance(classifier, nn.Linear):
        weight, bias = classifier.weight, classifier.bias
    elif isinstance(classifier, _CONVOLUTIONS):
        if not is_linear_head(classifier):
            raise ValueError(
                "classifier must be a 1x1 nn.Conv2d (or a Conv1d / Conv3d with a kernel of ones) "
                f"with groups=1, got kernel_size={classifier.kernel_size} and "
                f"groups={classifier.groups}"
            )
        weight, bias = classifier.weight.flatten(1), classifier.bias
    elif isinstance(classifier, (tuple, list)) and len(classifier) == 2:
        weight, bias = classifier
        if any(isinstance(part, nn.Module) for part in classifier):
            raise TypeError(
                "classifier is a pair of modules, not (weight, bias): a model whose "
                "get_classifier() returns two heads (timm's distilled DeiT: head, head_dist) "
                "averages them on different tokens, which is not a global-average-pooling + "
                "linear head. Use InfoGradCam, the gradient form, for such models"
            )
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
            "classifier must be an nn.Linear, a 1x1 convolution or a (weight, bias) pair, got "
            f"{type(classifier).__name__}"
        )
    weight = weight.detach()
    bias = torch.zeros_like(weight[:, 0]) if bias is None else bias.detach()
    return weight, bias


def find_classifier(model: nn.Module, in_features: int) -> nn.Linear:
    """The model's single ``nn.Linear`` that takes ``in_features`` inputs.

    A lookup by shape only. The attributions no longer use it: they find the head from the
    forward pass (the module whose output is the logits), which also tells apart heads of the
    same size (GoogLeNet's auxiliary heads) and finds 1x1 convolution heads.

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
        found = _names(
            [f"{name or '<model>'} ({m.in_features} -> {m.out_features})" for name, m in linears]
        )
        raise ValueError(
            f"found no nn.Linear with in_features={in_features} (the explained layer's channel "
            "count) in the model: CAM-style maps need a global-average-pooling + linear head on "
            "the explained layer; use InfoGradCam for other heads. Linear layers: "
            f"{found or 'none'}"
        )
    names = _names([name or "<model>" for name, _ in matches])
    raise ValueError(
        f"found several nn.Linear with in_features={in_features}: {names}; "
        "pass classifier= to say which one is the head"
    )
