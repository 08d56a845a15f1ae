"""Captum layer attributions read off a global-average-pooling + linear classifier head.

Each class runs one forward pass that captures the explained layer's activations and the
model's logits together (no backward pass), then calls the pure functions of
:mod:`captum_infocam.maps`.

The model runs as it is: in train mode, BatchNorm layers update their running statistics as
in any forward pass, so call ``model.eval()`` first. The maps explain the tensor the head
pools: when an in-place operation after the layer (``ReLU(inplace=True)``, DenseNet's final
ReLU) changes the layer's output before pooling, they explain the changed tensor, and the
check that logits equal ``W mean(A) + b`` holds for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum.attr import LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_infocam import _kernels, maps
from captum_infocam._validation import check_contrast, check_region_size, compute_dtype
from captum_infocam.heads import Classifier, find_classifier, head_parameters
from captum_infocam.maps import Contrast
from captum_infocam.priors import ClassPrior, as_class_prior
from captum_infocam.targets import TargetLike, format_target

__all__ = ["ClassActivationMap", "InfoCAM", "LayerPMI"]


class _Evaluation(NamedTuple):
    activations: Tensor  # (N, C, h, w)
    logits: Tensor  # (N, K)
    weight: Tensor  # (K, C)
    bias: Tensor  # (K,)
    target: Tensor  # (N,)


def _check_gap_head(evaluation: _Evaluation) -> None:
    """Check ``z_y == w_y . mean(A) + b_y`` for the targets: maps are exact for GAP + linear heads.

    Checking the explained logits only keeps the cost at O(N C); a head that is not linear in
    the pooled activations breaks the identity for every class, so nothing is lost.
    """
    activations, logits, weight, bias, target = evaluation
    dtype = compute_dtype(activations, weight, logits)
    pooled = activations.mean(dim=(2, 3), dtype=dtype)
    weight_y, bias_y = weight[target].to(dtype), bias[target].to(dtype)
    predicted = (pooled * weight_y).sum(dim=1) + bias_y
    # Rounding bound of the dot products in the coarsest precision involved: the dtypes, and
    # on CUDA the reduced-precision float32 matmuls (TF32, bfloat16) the user may allow.
    eps = max(torch.finfo(activations.dtype).eps, torch.finfo(logits.dtype).eps)
    if logits.is_cuda and torch.get_float32_matmul_precision() != "highest":
        eps = max(eps, 2.0**-7 if torch.get_float32_matmul_precision() == "medium" else 2.0**-10)
    scale = (pooled.abs() * weight_y.abs()).sum(dim=1) + bias_y.abs() + 1e-6
    tolerance = eps**0.5 * scale
    logit_y = logits.gather(1, target[:, None])[:, 0].to(dtype)
    if not bool(((predicted - logit_y).abs() <= tolerance).all()):
        raise ValueError(
            "the model's logits are not a linear function of the global average of the layer's "
            "activations (logits != W mean(A) + b), so CAM-style maps would not explain them. "
            "Explain the last layer before global average pooling, pass the right classifier=, "
            "put the model in eval mode if dropout is active, or use InfoGradCam, the gradient "
            "form, which works for any differentiable head"
        )


class _HeadAttribution(LayerAttribution):
    """Shared forward capture and head lookup of the CAM-family attributions."""

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        classifier: Classifier | None = None,
    ) -> None:
        if not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
        if classifier is not None:
            head_parameters(classifier)  # fail early on a malformed head
        LayerAttribution.__init__(self, forward_func, layer)
        self.classifier = classifier

    def _evaluate(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetLike,
        additional_forward_args: Any,
        attribute_to_layer_input: bool,
    ) -> _Evaluation:
        inputs = _format_tensor_into_tuples(inputs)
        additional_forward_args = _format_additional_forward_args(additional_forward_args) or ()
        captured: list[Tensor] = []

        def capture(module: nn.Module, args: tuple, output: Any) -> None:
            if attribute_to_layer_input:
                captured.append(args[0] if args else None)  # None: called with keywords only
            else:
                captured.append(output)

        handle = self.layer.register_forward_hook(capture)
        try:
            with torch.no_grad():
                logits = self.forward_func(*inputs, *additional_forward_args)
        finally:
            handle.remove()

        where = "input" if attribute_to_layer_input else "output"
        if len(captured) != 1:
            raise ValueError(
                f"the layer ran {len(captured)} times in one forward pass; explain a layer that "
                "runs exactly once"
            )
        activations = captured[0]
        if activations is None:
            raise ValueError(
                "the layer received no positional input (it was called with keyword arguments "
                "only); explain the layer's output or the layer before it"
            )
        if not isinstance(activations, Tensor) or activations.dim() != 4:
            got = tuple(activations.shape) if isinstance(activations, Tensor) else type(activations)
            raise ValueError(f"the layer's {where} must be a tensor N x C x h x w, got {got}")
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits)
            raise ValueError(f"forward_func must return logits of shape (N, K), got {got}")

        classifier = self.classifier
        if classifier is None:
            classifier = find_classifier(self.forward_func, activations.shape[1])
        weight, bias = head_parameters(classifier)
        weight, bias = weight.to(activations.device), bias.to(activations.device)
        if weight.shape[1] != activations.shape[1]:
            raise ValueError(
                f"the classifier takes {weight.shape[1]} input channels but the layer's {where} "
                f"has {activations.shape[1]}: explain the layer that feeds the pooled classifier"
            )
        if weight.shape[0] != logits.shape[1]:
            raise ValueError(
                f"the classifier has {weight.shape[0]} classes but forward_func returns "
                f"{logits.shape[1]} logits: it is not the model's output layer. CAM-style maps "
                "need a global-average-pooling + linear head; pass classifier=, or use "
                "InfoGradCam, the gradient form, for other heads"
            )
        evaluation = _Evaluation(activations, logits, weight, bias, format_target(target, logits))
        _check_gap_head(evaluation)
        return evaluation


class ClassActivationMap(_HeadAttribution):
    r"""Class activation map (CAM, Zhou et al., 2016) of a global-average-pooling + linear head.

    For the activations :math:`A` of the explained layer and the head's weight :math:`W`,

    .. math::

        M_y(i, j) = \sum_c W_{yc} A_c(i, j),

    in logit units: its mean over positions plus the bias :math:`b_y` is the logit :math:`z_y`.
    It equals ``h * w`` times Captum's :class:`~captum.attr.LayerGradCam` on such a model, at the
    cost of a forward pass alone.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module): the layer whose output (``N x C x h x w``) feeds global average
            pooling and the linear head, e.g. ``model.layer4`` of a ResNet.
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head: an
            ``nn.Linear``, a 1x1 ``nn.Conv2d`` or a ``(weight, bias)`` pair. ``None`` finds the
            model's only ``nn.Linear`` whose ``in_features`` is the layer's channel count.
            Default: None

    Examples::

        >>> from torchvision.models import resnet18
        >>> model = resnet18(weights=None).eval()
        >>> cam = ClassActivationMap(model, model.layer4)
        >>> cam.attribute(torch.randn(2, 3, 224, 224), target=[1, 7]).shape
        torch.Size([2, 1, 7, 7])
    """

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetLike = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
    ) -> Tensor:
        r"""Class activation map of each example's target class.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): input of ``forward_func``; a tuple when it
                takes several tensors. Dimension 0 indexes the examples.
            target (int, list[int], Tensor or None, optional): the class explained for each
                example: an int for all examples, a list or 1-D tensor of ``N`` ints, a 0-d
                tensor, or ``None`` for each example's top-1 class. Default: None
            additional_forward_args (Any, optional): further arguments of ``forward_func``,
                passed after ``inputs`` (a single object or a tuple). Default: None
            attribute_to_layer_input (bool, optional): explain the layer's input instead of its
                output. Default: False
            relu_attributions (bool, optional): keep only the positive part of the map.
                Default: False

        Returns:
            *Tensor* of shape ``(N, 1, h, w)``: :math:`M_y` at the layer's resolution, in logit
            units. Upsample it with :meth:`~captum.attr.LayerAttribution.interpolate`.

        Examples::

            >>> cam = ClassActivationMap(model, model.layer4)
            >>> maps = cam.attribute(images, target=labels)
            >>> upsampled = LayerAttribution.interpolate(maps, images.shape[-2:], "bilinear")
        """
        evaluation = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        attributions = _kernels.weighted_channel_sum(
            evaluation.activations, evaluation.weight[evaluation.target]
        )
        return F.relu(attributions) if relu_attributions else attributions


class InfoCAM(_HeadAttribution):
    r"""Informative class activation map (infoCAM, Qin, Kim and Gedeon).

    The information a region carries about the target class minus the information it carries
    about the other classes, in nats. The head applied to the mean features of the
    ``s x s`` window :math:`R(i, j)` gives region scores :math:`s_k(i, j)`, whose
    probability-corrected log-softmax is the region's pointwise mutual information with each
    class; the map is

    .. math::

        \mathrm{infoCAM}_y(i, j) = \mathrm{PMI}_y(i, j) - \frac{1}{K-1}
        \sum_{k \neq y} \mathrm{PMI}_k(i, j)
        = s_y(i, j) - \frac{1}{K-1} \sum_{k \neq y} s_k(i, j)

    for ``contrast="mean"``; ``"least_likely"`` subtracts the PMI of the other class with the
    lowest image-level logit instead, and ``"none"`` gives the regional CAM :math:`s_y`. The
    contrast is formed in weight space, so the map costs one channel reduction and one box
    filter, :math:`O(N C h w)`, like CAM.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module): the layer whose output feeds global average pooling and the head.
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head; ``None`` finds the
            model's only ``nn.Linear`` with the layer's channel count as ``in_features``.
            Default: None

    Examples::

        >>> from torchvision.models import resnet18
        >>> model = resnet18(weights=None).eval()
        >>> info_cam = InfoCAM(model, model.layer4)
        >>> info_cam.attribute(torch.randn(2, 3, 224, 224), target=3).shape
        torch.Size([2, 1, 7, 7])
    """

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetLike = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        *,
        contrast: Contrast = "mean",
        region_size: int | None = 3,
        relu_attributions: bool = False,
    ) -> Tensor:
        r"""infoCAM map of each example's target class, in nats.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): input of ``forward_func``; a tuple when it
                takes several tensors. Dimension 0 indexes the examples.
            target (int, list[int], Tensor or None, optional): the class explained for each
                example: an int for all examples, a list or 1-D tensor of ``N`` ints, a 0-d
                tensor, or ``None`` for each example's top-1 class. Default: None
            additional_forward_args (Any, optional): further arguments of ``forward_func``,
                passed after ``inputs`` (a single object or a tuple). Default: None
            attribute_to_layer_input (bool, optional): explain the layer's input instead of its
                output. Default: False
            contrast (str, optional): what the target's information is compared with:
                ``"mean"`` (the mean over the other classes, as in the paper),
                ``"least_likely"`` (the other class with the lowest image-level logit,
                close to the authors' scripts: see
                :func:`~captum_infocam.maps.contrast_weights`) or ``"none"`` (no
                contrast: regional CAM with bias). Default: ``"mean"``
            region_size (int or None, optional): side ``s`` of the window the head is applied
                to. Odd windows are centred; an even window reaches ``s/2 - 1``
                positions up/left and ``s/2`` down/right (PyTorch's
                ``padding="same"``); windows are clipped at the border. ``1`` explains
                single positions and ``None`` the whole map (a constant map equal to
                the image-level information difference). The authors used 3 on 8x8
                Tiny-ImageNet maps and 4 on 14x14 CUB maps. Default: 3
            relu_attributions (bool, optional): keep only the positive part. Default: False

        Returns:
            *Tensor* of shape ``(N, 1, h, w)``: infoCAM at the layer's resolution, in nats.

        Examples::

            >>> info_cam = InfoCAM(model, model.layer4)
            >>> maps = info_cam.attribute(images, target=labels, region_size=5)
        """
        if contrast not in maps.CONTRASTS:
            raise ValueError(f"contrast must be one of {maps.CONTRASTS}, got {contrast!r}")
        check_region_size(region_size)
        evaluation = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        check_contrast(contrast, evaluation.target, evaluation.weight.shape[0])
        attributions = _kernels.info_cam(  # the evaluation's target and head are already checked
            evaluation.activations,
            evaluation.weight,
            evaluation.bias,
            evaluation.target,
            contrast,
            region_size,
            evaluation.logits.detach(),
        )
        return F.relu(attributions) if relu_attributions else attributions


class LayerPMI(_HeadAttribution):
    r"""Pointwise mutual information map of a global-average-pooling + linear classifier.

    The head applied to the mean features of the ``s x s`` window :math:`R(i, j)` gives the
    region scores :math:`s_k(i, j)`; the map is their probability-corrected log-softmax

    .. math::

        \mathrm{PMI}_y(i, j) = s_y(i, j) - \log \sum_k \pi_k \exp s_k(i, j),

    an estimate of :math:`\log p(y \mid R) / p(y)` in nats: positive where the region makes the
    class more likely than its prior, negative where less. For the whole map
    (``region_size=None``) it is the image's PMI, ``log_softmax(z)_y + log K`` for a uniform
    prior. Costs one matmul and a log-sum-exp over the ``K`` classes.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module): the layer whose output feeds global average pooling and the head.
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head; ``None`` finds the
            model's only ``nn.Linear`` with the layer's channel count as ``in_features``.
            Default: None
        class_prior (Tensor, sequence of float or None, optional): the class prior :math:`\pi`
            of the training data as probabilities or counts; ``None`` for uniform.
            Default: None

    Examples::

        >>> from torchvision.models import resnet18
        >>> model = resnet18(weights=None).eval()
        >>> pmi = LayerPMI(model, model.layer4)
        >>> pmi.attribute(torch.randn(2, 3, 224, 224), target=3, region_size=None).shape
        torch.Size([2, 1, 7, 7])
    """

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        classifier: Classifier | None = None,
        class_prior: ClassPrior = None,
    ) -> None:
        super().__init__(forward_func, layer, classifier)
        if class_prior is not None:
            prior = torch.as_tensor(class_prior)
            class_prior = as_class_prior(prior, prior.numel(), dtype=torch.float64)
        self.class_prior = class_prior

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetLike = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        *,
        region_size: int | None = 3,
        relu_attributions: bool = False,
    ) -> Tensor:
        r"""Pointwise mutual information map of each example's target class, in nats.

        Args:
            inputs (Tensor or tuple[Tensor, ...]): input of ``forward_func``; a tuple when it
                takes several tensors. Dimension 0 indexes the examples.
            target (int, list[int], Tensor or None, optional): the class explained for each
                example: an int for all examples, a list or 1-D tensor of ``N`` ints, a 0-d
                tensor, or ``None`` for each example's top-1 class. Default: None
            additional_forward_args (Any, optional): further arguments of ``forward_func``,
                passed after ``inputs`` (a single object or a tuple). Default: None
            attribute_to_layer_input (bool, optional): explain the layer's input instead of its
                output. Default: False
            region_size (int or None, optional): side ``s`` of the window the head is applied
                to; the conventions of :meth:`InfoCAM.attribute`. Default: 3
            relu_attributions (bool, optional): keep only the positive part. Default: False

        Returns:
            *Tensor* of shape ``(N, 1, h, w)``: :math:`\mathrm{PMI}_y` in nats.

        Examples::

            >>> pmi = LayerPMI(model, model.layer4, class_prior=train_counts)
            >>> maps = pmi.attribute(images, target=labels)
        """
        check_region_size(region_size)
        evaluation = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        num_classes = evaluation.weight.shape[0]
        if self.class_prior is None:
            log_prior = torch.full((num_classes,), -math.log(num_classes), dtype=torch.float64)
        elif self.class_prior.numel() == num_classes:
            log_prior = self.class_prior.log()
        else:
            raise ValueError(
                f"class_prior has {self.class_prior.numel()} entries but the classifier has "
                f"{num_classes} classes"
            )
        attributions = _kernels.pmi_map(  # the evaluation's target and head are already checked
            evaluation.activations,
            evaluation.weight,
            evaluation.bias,
            evaluation.target,
            log_prior.to(evaluation.activations.device),
            region_size,
        )
        return F.relu(attributions) if relu_attributions else attributions
