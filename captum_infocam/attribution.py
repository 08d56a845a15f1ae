"""Captum layer attributions read off a global-average-pooling + linear classifier head.

Each class runs one forward pass that captures the explained layer's activations and the
model's logits together (no backward pass), then calls the map kernels of
:mod:`captum_infocam.maps`. The maps are exact only when the logits are
``z = W mean(A) + b`` for the layer's activations ``A``; every call checks this identity for
every example and *every* class, and refuses the model otherwise (nothing is silently wrong).

**The head, found.** With ``classifier=None`` the head is the ``nn.Linear`` or 1x1 convolution
whose output *is* the model's logits, found by watching these modules during the forward pass
that the call runs anyway: auxiliary heads that do not run in eval mode (GoogLeNet, Inception-v3)
or do not produce the logits are never mistaken for it, and 1x1 convolution heads after pooling
(timm's ResNetV2) are found too.

**The layer, found.** With ``layer=None`` the layer is the module whose output the head pools,
found from the same forward pass: when the head runs, the last module to have returned a
tensor ``(N, C, *spatial)`` whose average over positions is the head's input. When several
nested modules return that same tensor (``layer4``, its last block and that block's ReLU) the
last to finish that ran once is named (``layer4``); an in-place activation after it (DenseNet's
final ReLU) is part of what is explained, as with an explicit layer. A layer whose map is
already ``1 x 1`` is found before the pooling modules that keep it so. Only the latest such
tensors are kept while the model runs, so finding the layer costs no memory beyond one
module's output. :func:`find_gap_head` says which layer and head a model gets. Models whose
head transforms the pooled features (a norm, an MLP, a class token: ConvNeXt, MobileNetV3,
VGG, vision transformers) are refused with a pointer to
:class:`~captum_infocam.gradient.InfoGradCam`.

**Threads.** The hooks of a call record only the forward pass run by the thread that made the
call, and nothing is stored on the attribution object, so one model and one attribution can
serve concurrent calls from several threads, each getting the map a lone call would.
``nn.DataParallel`` over several devices runs the layer in worker threads and is refused: pass
the wrapped model. A model compiled with :func:`torch.compile` is explained through its
original module (``model._orig_mod``, the same parameters run eagerly): hooks do not run
inside compiled code.

The model runs as it is: in train mode, BatchNorm layers update their running statistics as
in any forward pass, so call ``model.eval()`` first. The maps explain the tensor the head
pools: when an in-place operation after the layer (``ReLU(inplace=True)``, DenseNet's final
ReLU) changes the layer's output before pooling, they explain the changed tensor, and the
check that logits equal ``W mean(A) + b`` holds for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from captum.log import log_usage
from torch import Tensor, nn

from captum_infocam import _kernels
from captum_infocam._capture import GapHeadAttribution, capture_gap_head, eager_forward
from captum_infocam._validation import (
    check_contrast,
    check_contrast_weight,
    check_padding,
    check_region_size,
    compute_dtype,
)
from captum_infocam.heads import Classifier
from captum_infocam.maps import Contrast, Padding, RegionSize
from captum_infocam.priors import ClassPrior, as_class_prior
from captum_infocam.targets import TargetLike

__all__ = ["ClassActivationMap", "GapHead", "InfoCAM", "LayerPMI", "find_gap_head"]


class GapHead(NamedTuple):
    """The layer and the global-average-pooling + linear head the CAM family explains.

    Attributes:
        layer_name (str): the layer's name in the model (``model.get_submodule(layer_name)``).
        layer (nn.Module): the layer whose output the head pools.
        head_name (str): the head's name in the model.
        head (nn.Module): the ``nn.Linear`` or 1x1 convolution whose output is the logits.

    Examples::

        >>> from torchvision.models import resnet18
        >>> found = find_gap_head(resnet18(weights=None).eval(), torch.randn(1, 3, 64, 64))
        >>> found.layer_name, type(found.head).__name__
        ('layer4', 'Linear')
    """

    layer_name: str
    layer: nn.Module
    head_name: str
    head: nn.Module


def find_gap_head(
    model: nn.Module,
    inputs: Tensor | tuple[Tensor, ...],
    additional_forward_args: Any = None,
) -> GapHead:
    r"""The layer and head that the CAM-family attributions use when not given them.

    Runs the model once on ``inputs`` as the attributions do, with the same checks: the head
    is the ``nn.Linear`` or 1x1 convolution whose output is the logits, the layer the module
    whose output the head averages over positions, and the logits must equal
    ``W mean(A) + b`` for every class.

    Args:
        model (nn.Module): the model, returning logits of shape ``(N, K)``.
        inputs (Tensor or tuple[Tensor, ...]): an input batch (one example is enough).
        additional_forward_args (Any, optional): further arguments of ``model``.
            Default: None

    Returns:
        *GapHead*: ``layer_name``, ``layer``, ``head_name`` and ``head``.

    Raises:
        ValueError: if the model does not end in global average pooling and a linear head,
            with the :class:`~captum_infocam.gradient.InfoGradCam` layer to use instead.

    Examples::

        >>> from torchvision.models import resnet18
        >>> found = find_gap_head(resnet18(weights=None).eval(), torch.randn(1, 3, 64, 64))
        >>> found.layer_name, found.head_name
        ('layer4', 'fc')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    eager = eager_forward(model)
    assert isinstance(eager, nn.Module)  # the module behind a compiled module is a module
    model = eager
    found = capture_gap_head(model, inputs, additional_forward_args, None, None)
    layer_name, head_name = found.layer_name, found.head_name
    return GapHead(
        layer_name,  # type: ignore[arg-type]
        model.get_submodule(layer_name),  # type: ignore[arg-type]
        head_name,  # type: ignore[arg-type]
        model.get_submodule(head_name),  # type: ignore[arg-type]
    )


class ClassActivationMap(GapHeadAttribution):
    r"""Class activation map (CAM, Zhou et al., 2016) of a global-average-pooling + linear head.

    For the activations :math:`A` of the explained layer and the head's weight :math:`W`,

    .. math::

        M_y(i, j) = \sum_c W_{yc} A_c(i, j),

    in logit units: its mean over positions plus the bias :math:`b_y` is the logit :math:`z_y`.
    It equals ``h * w`` times Captum's :class:`~captum.attr.LayerGradCam` on such a model, at the
    cost of a forward pass alone.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module or None, optional): the layer whose output (``N x C x h x w``, or
            ``N x C x L`` / ``N x C x d x h x w``) feeds global average pooling and the linear
            head, e.g. ``model.layer4`` of a ResNet. ``None`` finds it from the forward pass
            (see the module's description and :func:`find_gap_head`). Default: None
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head: an
            ``nn.Linear``, a 1x1 convolution or a ``(weight, bias)`` pair. ``None`` finds the
            module whose output is the logits during the forward pass. Default: None
        device_ids (list[int] or None, optional): accepted for Captum's signature and refused
            when set: the hooks follow the calling thread, and ``nn.DataParallel`` runs the
            layer in other threads. Pass the wrapped model instead. Default: None

    Examples::

        >>> from torchvision.models import resnet18
        >>> model = resnet18(weights=None).eval()
        >>> cam = ClassActivationMap(model, model.layer4)
        >>> cam.attribute(torch.randn(2, 3, 224, 224), target=[1, 7]).shape
        torch.Size([2, 1, 7, 7])
        >>> ClassActivationMap(model).attribute(torch.randn(2, 3, 224, 224)).shape  # found
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
        *,
        region_size: RegionSize = 1,
        padding: Padding = "same",
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
            region_size (int, tuple of int or None, optional): a window to average the map
                over, as in :meth:`InfoCAM.attribute`; ``1`` gives the plain CAM.
                Default: 1
            padding (str, optional): ``"same"`` or ``"full"``, as in
                :meth:`InfoCAM.attribute`. Default: ``"same"``

        Returns:
            *Tensor* of shape ``(N, 1, *spatial)``: :math:`M_y` at the layer's resolution (1 to
            3 spatial dimensions; grown by ``s - 1`` per dimension with ``padding="full"``),
            in logit units. Upsample it with
            :meth:`~captum.attr.LayerAttribution.interpolate`.

        Examples::

            >>> cam = ClassActivationMap(model, model.layer4)
            >>> maps = cam.attribute(images, target=labels)
            >>> from captum.attr import LayerAttribution
            >>> upsampled = LayerAttribution.interpolate(maps, images.shape[-2:], "bilinear")
        """
        check_padding(padding, check_region_size(region_size))
        evaluation, target = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        activations = evaluation.activations
        check_region_size(region_size, activations.dim() - 2)
        cam = _kernels.weighted_channel_sum(activations, evaluation.weight[target])
        return self._finish(_kernels.region_mean(cam, region_size, padding), relu_attributions)


class InfoCAM(GapHeadAttribution):
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

    for ``contrast="mean"``. The ``contrast`` of :meth:`attribute` takes every form of
    :func:`~captum_infocam.maps.contrast_weights`:

    * ``"mean"``: the mean over the other classes, as above (the paper);
    * ``"least_likely"``: the other class with the lowest image-level logit (target excluded);
    * ``"most_likely"``: the other class with the highest image-level logit (Finer-CAM);
    * an integer tensor of contrast classes ``(N,)`` or ``(N, k)``: their mean (not the target);
    * ``"none"``: no contrast, the regional CAM :math:`s_y`;

    and ``contrast_weight`` :math:`\alpha` scales it: :math:`s_y - \alpha` times the contrast.
    The contrast is formed in weight space, so the map costs one channel reduction and one box
    filter, :math:`O(N C h w)`, like CAM.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module or None, optional): the layer whose output (``N x C x h x w``, or
            ``N x C x L`` / ``N x C x d x h x w``) feeds global average pooling and the linear
            head, e.g. ``model.layer4`` of a ResNet. ``None`` finds it from the forward pass
            (see the module's description and :func:`find_gap_head`). Default: None
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head: an
            ``nn.Linear``, a 1x1 convolution or a ``(weight, bias)`` pair. ``None`` finds the
            module whose output is the logits during the forward pass. Default: None
        device_ids (list[int] or None, optional): accepted for Captum's signature and refused
            when set: the hooks follow the calling thread, and ``nn.DataParallel`` runs the
            layer in other threads. Pass the wrapped model instead. Default: None

    Examples::

        >>> from torchvision.models import resnet18
        >>> model = resnet18(weights=None).eval()
        >>> info_cam = InfoCAM(model)  # layer4 and fc, found from the forward pass
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
        contrast: Contrast | Tensor = "mean",
        contrast_weight: float = 1.0,
        region_size: RegionSize = 3,
        padding: Padding = "same",
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
            contrast (str or Tensor, optional): what the target's information is compared
                with: ``"mean"`` (the mean over the other classes, as in the paper),
                ``"least_likely"`` (the other class with the lowest image-level logit, the
                target excluded; the authors' scripts took the lowest of all classes (the 200
                of CUB), the target included, so theirs is the target itself, and the map
                zero, when the target is the lowest), ``"most_likely"`` (the other class with
                the highest image-level logit, the most similar class, as in Finer-CAM),
                ``"none"`` (no contrast: regional CAM with bias), or an integer tensor of
                contrast classes of shape ``(N,)`` or ``(N, k)`` (their mean; none equal to
                the example's target). See :func:`~captum_infocam.maps.contrast_weights`.
                Default: ``"mean"``
            contrast_weight (float, optional): the strength :math:`\alpha` of the contrast:
                the map is :math:`s_y - \alpha \operatorname{mean}_{k \in \bar y} s_k`;
                ``0`` gives the regional CAM. Default: 1.0
            region_size (int, tuple of int or None, optional): side ``s`` of the window the
                head is applied to, along every spatial dimension (a segment, a square, a
                cube), or one side per spatial dimension. Odd windows are centred; an even
                window reaches ``s/2 - 1`` positions before and ``s/2`` after (PyTorch's
                ``padding="same"``). ``1`` explains single positions and ``None`` the whole
                map (a constant map equal to the image-level information difference). The
                authors' scripts summed 4 x 4 windows of 14 x 14 CUB maps and 3 x 3 windows
                of 4 x 4 Tiny-ImageNet maps (64 px inputs), with ``padding="full"``; see the
                theory page for their whole protocol. Default: 3
            padding (str, optional): the border: ``"same"`` clips the windows at the border
                (positions outside are left out of the mean; the map keeps the layer's
                size); ``"full"`` counts positions outside as zeros and grows the map by
                ``s - 1`` along each spatial dimension, the geometry of the authors' scripts
                (see :func:`~captum_infocam.maps.region_mean`). Default: ``"same"``
            relu_attributions (bool, optional): keep only the positive part. Default: False

        Returns:
            *Tensor* of shape ``(N, 1, *spatial)``: infoCAM at the layer's resolution (grown by
            ``s - 1`` per dimension with ``padding="full"``), in nats.

        Examples::

            >>> info_cam = InfoCAM(model, model.layer4)
            >>> maps = info_cam.attribute(images, target=labels, region_size=5)
        """
        check_padding(padding, check_region_size(region_size))
        alpha = check_contrast_weight(contrast_weight)
        evaluation, target = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        activations, weight = evaluation.activations, evaluation.weight
        check_region_size(region_size, activations.dim() - 2)
        chosen = check_contrast(contrast, target, weight.shape[0])
        attributions = _kernels.info_cam(  # the evaluation's target and head are already checked
            activations,
            weight,
            evaluation.bias,
            target,
            chosen,
            region_size,
            evaluation.logits.detach(),
            alpha,
            padding,
        )
        return self._finish(attributions, relu_attributions)


class LayerPMI(GapHeadAttribution):
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
        layer (nn.Module or None, optional): the layer whose output (``N x C x h x w``, or
            ``N x C x L`` / ``N x C x d x h x w``) feeds global average pooling and the linear
            head, e.g. ``model.layer4`` of a ResNet. ``None`` finds it from the forward pass
            (see the module's description and :func:`find_gap_head`). Default: None
        classifier (nn.Linear, nn.Conv2d, tuple or None, optional): the head: an
            ``nn.Linear``, a 1x1 convolution or a ``(weight, bias)`` pair. ``None`` finds the
            module whose output is the logits during the forward pass. Default: None
        device_ids (list[int] or None, optional): accepted for Captum's signature and refused
            when set: the hooks follow the calling thread, and ``nn.DataParallel`` runs the
            layer in other threads. Pass the wrapped model instead. Default: None
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
        layer: nn.Module | None = None,
        classifier: Classifier | None = None,
        class_prior: ClassPrior = None,
        *,
        device_ids: list[int] | None = None,
    ) -> None:
        super().__init__(forward_func, layer, classifier, device_ids=device_ids)
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
        region_size: RegionSize = 3,
        padding: Padding = "same",
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
            region_size (int, tuple of int or None, optional): side ``s`` of the window the
                head is applied to, or one side per spatial dimension; the conventions of
                :meth:`InfoCAM.attribute`. ``None``: the whole map, where the map is the
                image's PMI computed from the captured logits themselves (exact even when the
                logits reach 1e8 or more, as in some untrained models). Default: 3
            padding (str, optional): ``"same"`` or ``"full"`` (zeros outside, the map grows by
                ``s - 1`` per dimension), as in :meth:`InfoCAM.attribute`. Default: ``"same"``
            relu_attributions (bool, optional): keep only the positive part. Default: False

        Returns:
            *Tensor* of shape ``(N, 1, *spatial)``: :math:`\mathrm{PMI}_y` in nats.

        Examples::

            >>> pmi = LayerPMI(model, model.layer4, class_prior=train_counts)
            >>> maps = pmi.attribute(images, target=labels)
        """
        check_padding(padding, check_region_size(region_size))
        evaluation, target = self._evaluate(
            inputs, target, additional_forward_args, attribute_to_layer_input
        )
        check_region_size(region_size, evaluation.activations.dim() - 2)
        num_classes = evaluation.weight.shape[0]
        if self.class_prior is not None and self.class_prior.numel() != num_classes:
            raise ValueError(
                f"class_prior has {self.class_prior.numel()} entries but the classifier has "
                f"{num_classes} classes"
            )
        log_prior = as_class_prior(self.class_prior, num_classes, dtype=torch.float64).log()
        activations = evaluation.activations
        log_prior = log_prior.to(activations.device)
        if region_size is None:
            # The whole map is the image: its region scores are the logits, so use them. The
            # map's own sums carry a rounding error of the logits' size, which is nats when
            # logits reach 1e8 (as in some untrained torchvision models).
            dtype = compute_dtype(activations, evaluation.weight, evaluation.logits)
            pmi = _kernels.pc_log_softmax(evaluation.logits.to(dtype), log_prior, dim=1)
            whole = pmi.gather(1, target[:, None])
            attributions = whole.view(-1, 1, *[1] * (activations.dim() - 2))
            attributions = attributions.expand(-1, 1, *activations.shape[2:]).contiguous()
        else:
            attributions = _kernels.pmi_map(  # the target and head are already checked
                activations,
                evaluation.weight,
                evaluation.bias,
                target,
                log_prior,
                region_size,
                padding,
            )
        return self._finish(attributions, relu_attributions)
