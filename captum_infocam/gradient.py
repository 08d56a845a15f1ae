r"""infoCAM for any differentiable head: the gradient form.

CAM-style maps (:class:`.ClassActivationMap`, :class:`.InfoCAM`)
read the classifier weights and are exact only when the explained layer feeds global average
pooling and a linear head. The gradient form needs neither: it differentiates the *contrast
logit*

.. math::

    c_y(x) = z_y(x) - \frac{1}{K-1} \sum_{k \neq y} z_k(x)

(or :math:`z_y - z_{k^*}` for the least likely other class :math:`k^*`, or :math:`z_y` alone)
with respect to the layer's activations :math:`A \in \mathbb{R}^{C \times h \times w}` in one
backward pass, and weights the channels by the spatial means of that gradient, as Grad-CAM does:

.. math::

    \alpha_c = \frac{1}{hw} \sum_{i,j} \frac{\partial c_y}{\partial A_c(i,j)}, \qquad
    \mathrm{infoGradCAM}_y(i,j) = \operatorname{mean}_{(u,v) \in R(i,j)}
    \; hw \sum_c \alpha_c A_c(u,v).

Because gradients are linear, the gradient of the contrast logit is the contrast of the
classes' gradients, so one backward pass serves every contrast. On a GAP + linear model
:math:`\partial c_y / \partial A_c(i,j) = \tilde w_c / (hw)` for the contrast weights
:math:`\tilde w` of :func:`~captum_infocam.maps.contrast_weights`, and the map equals
:func:`~captum_infocam.maps.info_cam` minus the bias contrast :math:`\tilde b` at every position,
for every window size. For other heads (fully connected, MLP, attention pooling, the CLS token
of a vision transformer) it is the first-order (linearised) infoCAM, in logit units (nats).

The map maths, :func:`~captum_infocam.maps.contrast_logit` and
:func:`~captum_infocam.maps.grad_cam_map`, lives in :mod:`captum_infocam.maps`; both names can
still be imported from this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor, nn

from captum_infocam import _kernels
from captum_infocam._capture import CaptureAttribution, capture_gradient
from captum_infocam._validation import (
    check_contrast,
    check_contrast_weight,
    check_padding,
    check_region_size,
    is_int,
)
from captum_infocam.maps import (  # contrast_logit, grad_cam_map: re-exported, see below
    Contrast,
    Padding,
    RegionSize,
    contrast_logit,  # noqa: F401
    grad_cam_map,  # noqa: F401
)
from captum_infocam.targets import TargetLike

# contrast_logit and grad_cam_map live in maps; they are imported here (the same objects) so that
# ``from captum_infocam.gradient import contrast_logit, grad_cam_map`` keeps working.
__all__ = ["GridSpec", "InfoGradCam", "tokens_to_grid"]

GridSpec = tuple[int, int] | Callable[[Tensor], Tensor]
"""How a layer's output becomes an ``(N, C, h, w)`` grid: a token grid ``(h, w)`` or a function."""


def tokens_to_grid(tokens: Tensor, height: int, width: int) -> Tensor:
    r"""Vision-transformer tokens ``(N, L, D)`` as a grid ``(N, D, height, width)``.

    The last ``height * width`` tokens are the patches in row-major order; the leading
    ``L - height * width`` tokens (class token, distillation or register tokens) are dropped.
    Returns a view, no copy.

    Args:
        tokens (Tensor): tokens of shape ``(N, L, D)``, batch first.
        height (int): rows of the patch grid.
        width (int): columns of the patch grid.

    Returns:
        *Tensor* of shape ``(N, D, height, width)``.

    Examples::

        >>> tokens = torch.randn(2, 1 + 14 * 14, 768)  # class token + 14 x 14 patches
        >>> tokens_to_grid(tokens, 14, 14).shape
        torch.Size([2, 768, 14, 14])
    """
    if not isinstance(tokens, Tensor) or tokens.dim() != 3:
        shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ValueError(
            f"reshape=({height}, {width}) needs tokens of shape (N, L, D), batch first, got "
            f"{shape}; pass a function as reshape for other layouts"
        )
    if tokens.shape[1] < height * width:
        raise ValueError(
            f"reshape=({height}, {width}) needs at least {height * width} tokens, the layer "
            f"gives {tokens.shape[1]}"
        )
    patches = tokens[:, tokens.shape[1] - height * width :]
    return patches.unflatten(1, (height, width)).permute(0, 3, 1, 2)


def _grid_function(reshape: GridSpec | None) -> Callable[[Tensor], Tensor] | None:
    """Check ``reshape`` and turn a ``(h, w)`` spec into a function."""
    if reshape is None or callable(reshape):
        return reshape
    if (
        isinstance(reshape, tuple)
        and len(reshape) == 2
        and all(is_int(s) and s >= 1 for s in reshape)
    ):
        height, width = reshape
        return lambda tokens: tokens_to_grid(tokens, height, width)
    raise TypeError(
        "reshape must be None, a (height, width) tuple of positive ints or a function mapping "
        f"the layer's output to (N, C, h, w), got {reshape!r}"
    )


class InfoGradCam(CaptureAttribution, GradientAttribution):
    r"""infoCAM for any differentiable head: the gradient form.

    One backward pass of the contrast logit :math:`c_y`
    (:func:`~captum_infocam.maps.contrast_logit`), Grad-CAM channel weights
    :math:`\alpha_c = \operatorname{mean}_{ij} \partial c_y / \partial A_c(i,j)` and the window
    mean of :math:`hw \sum_c \alpha_c A_c`:

    .. math::

        \mathrm{infoGradCAM}_y(i,j) = \operatorname{mean}_{(u,v) \in R(i,j)}
        \; hw \sum_c \alpha_c A_c(u,v).

    On a global-average-pooling + linear model this is exactly
    :class:`.InfoCAM` minus the bias contrast :math:`\tilde b` (a constant per
    example), for every contrast and window; with ``contrast="none"`` and ``region_size=1`` it
    is ``h * w`` times Captum's :class:`~captum.attr.LayerGradCam`. For other heads (fully
    connected, MLP, transformer class token) it is the first-order infoCAM, in logit units.

    The gradient is taken with respect to the layer's real output: a forward hook replaces it
    by a detached copy that requires grad, so the model's parameters and inputs get no
    gradients and nothing upstream of the layer is recorded (the part of the forward before
    the layer runs without autograd). The hook is removed even when the forward raises, and the
    method works under :func:`torch.no_grad` and :func:`torch.inference_mode`. A
    :func:`torch.compile`'d model is run through its original module (``model._orig_mod``).

    With a class-token head, explain tokens that still reach the class token: the patch tokens
    leaving the *last* block do not (only the class token goes on to the head), so their
    gradient, and the map, is zero, and a warning says so. Explain the last block's input norm
    (``encoder.layers[-1].ln_1`` in torchvision, ``blocks[-1].norm1`` in timm) or an earlier
    block's output.

    Which layer: the last map before the head, e.g. ``model.layer4`` (ResNet),
    ``model.features[-2]`` (VGG), ``model.features`` (DenseNet, EfficientNet, MobileNet,
    ConvNeXt), ``model.inception5b`` (GoogLeNet), ``model.encoder.layers[-1].ln_1`` with
    ``reshape=(h, w)`` (torchvision ViT), ``model.norm`` with
    ``reshape=lambda t: t.permute(0, 3, 1, 2)`` (Swin), ``model.blocks[-1]`` (MaxViT); the
    getting-started page has the table. On a GAP + linear model,
    :func:`~captum_infocam.attribution.find_gap_head` finds it. Layers with 1 or 3 spatial
    dimensions (``(N, C, L)``, ``(N, C, d, h, w)``) work as images do.

    Without ``reshape``, an output that looks channels-last or like tokens is refused with the
    ``reshape`` to pass rather than misread: one whose last dimension, not its second, is the
    head's input size, or that of the first linear layer run on pooled features after the
    layer (an MLP head's), such as transformer tokens ``(N, L, D)`` or a Swin model's last
    stage; and a 4-D or 5-D output whose dimensions before the last, not its last two, are the
    input image's height and width scaled down by one factor, such as an intermediate Swin
    stage ``(N, 14, 14, 384)`` from a 224 x 224 image (``model.features[5]``), whose width is
    not the head's. When no input is an image with as many dimensions as the output, a square
    grid before a larger last dimension counts as channels-last. Pass
    ``reshape=lambda t: t.permute(0, 3, 1, 2)`` to read such a layer channels-last, or
    ``reshape=lambda t: t`` when it really is channels-first (a map pooled more along one
    axis than the other can look channels-last). An output whose two readings both fit the
    input (a cube ``(N, 96, 96, 96)`` from a 384 x 384 image) is read channels-first.

    The backward pass differentiates the sum of the examples' contrast logits, so each example
    gets its own gradient as long as the model treats examples independently; a model that mixes
    the batch (BatchNorm in train mode) mixes the maps too: call ``model.eval()`` first.

    Args:
        forward_func (Callable or nn.Module): the model, returning logits of shape ``(N, K)``.
        layer (nn.Module): the layer to explain: a convolutional layer with output
            ``(N, C, h, w)`` (or ``(N, C, L)``, ``(N, C, d, h, w)``), or any layer whose output
            ``reshape`` turns into one.
        reshape (tuple[int, int] or Callable, optional): how the layer's output becomes a grid
            ``(N, C, h, w)``. ``None``: it already is one. ``(h, w)``: batch-first
            transformer tokens ``(N, L, D)`` whose last ``h * w`` tokens are the patches in
            row-major order; leading class, distillation or register tokens are dropped
            (:func:`tokens_to_grid`). A function: applied to the layer's output *and* to its
            gradient, so it must only select and rearrange entries (slicing, ``reshape``,
            ``permute``), e.g. ``lambda t: t.permute(0, 3, 1, 2)`` for a channels-last
            ``(N, h, w, C)`` Swin stage, or
            ``lambda t: tokens_to_grid(t.transpose(0, 1), 14, 14)`` for sequence-first tokens;
            ``lambda t: t`` keeps a channels-first output that the layout check above takes
            for channels-last. Default: None
        device_ids (list[int] or None, optional): accepted for Captum's signature and refused
            when set: the hooks follow the calling thread (so that concurrent calls stay
            apart), and ``nn.DataParallel`` runs the layer in other threads. Pass the wrapped
            model instead. Default: None

    Examples::

        >>> from torchvision.models import vgg11, vit_b_16
        >>> vgg = vgg11(weights=None).eval()  # fully connected head
        >>> grad_cam = InfoGradCam(vgg, vgg.features[-2])  # the last convolution's ReLU
        >>> grad_cam.attribute(torch.randn(2, 3, 224, 224), target=[1, 7]).shape
        torch.Size([2, 1, 14, 14])
        >>> vit = vit_b_16(weights=None).eval()  # class-token head, 14 x 14 patches
        >>> # (torchvision zero-initialises the head: an untrained ViT's maps are zero)
        >>> grad_cam = InfoGradCam(vit, vit.encoder.layers[-1].ln_1, reshape=(14, 14))
        >>> grad_cam.attribute(torch.randn(1, 3, 224, 224), target=3).shape
        torch.Size([1, 1, 14, 14])
        >>> from torchvision.models import swin_t
        >>> swin = swin_t(weights=None).eval()
        >>> stage = swin.features[5]  # channels last: (N, 14, 14, 384)
        >>> InfoGradCam(swin, stage).attribute(torch.randn(1, 3, 224, 224), target=3)
        Traceback (most recent call last):
        ValueError: the layer's output (1, 14, 14, 384) looks channels-last (N, *spatial, C), ...
        >>> grad_cam = InfoGradCam(swin, stage, reshape=lambda t: t.permute(0, 3, 1, 2))
        >>> grad_cam.attribute(torch.randn(1, 3, 224, 224), target=3).shape
        torch.Size([1, 1, 14, 14])
    """

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module,
        reshape: GridSpec | None = None,
        *,
        device_ids: list[int] | None = None,
    ) -> None:
        if not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
        self.reshape = reshape
        self._to_grid = _grid_function(reshape)
        CaptureAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, self.forward_func)  # the eager model, as above

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
        r"""Gradient-form infoCAM map of each example's target class, in logit units (nats).

        Args:
            inputs (Tensor or tuple[Tensor, ...]): input of ``forward_func``; a tuple when it
                takes several tensors. Dimension 0 indexes the examples.
            target (int, list[int], Tensor or None, optional): the class explained for each
                example: an int for all examples, a list or 1-D tensor of ``N`` ints, a 0-d
                tensor, or ``None`` for each example's top-1 class. Default: None
            additional_forward_args (Any, optional): further arguments of ``forward_func``,
                passed after ``inputs`` (a single object or a tuple). Default: None
            attribute_to_layer_input (bool, optional): explain the layer's input instead of its
                output. The gradient then flows through the layer only: when the same tensor
                also feeds another path (a residual skip), explain the output of the layer
                that produced it instead. Default: False
            contrast (str or Tensor, optional): the score differentiated, the contrast
                logit :func:`~captum_infocam.maps.contrast_logit`: ``"mean"`` (:math:`z_y`
                minus the mean of the other logits, as in the paper), ``"least_likely"``
                (:math:`z_y` minus the lowest logit of the other classes, the target excluded;
                the authors' scripts took the lowest of all classes (the 200 of CUB), the
                target included, so theirs is the target itself, and the score zero, when the
                target is the lowest), ``"most_likely"`` (:math:`z_y` minus the highest
                other logit, as in Finer-CAM), ``"none"`` (:math:`z_y`, Grad-CAM scaled by
                the number of positions) or an integer tensor of contrast classes ``(N,)`` or
                ``(N, k)``. Default: ``"mean"``
            contrast_weight (float, optional): the strength :math:`\alpha`: the score is
                :math:`z_y - \alpha` times the contrast. Default: 1.0
            region_size (int, tuple of int or None, optional): side ``s`` of the window the
                map is averaged over, or one side per spatial dimension, with the conventions
                of :meth:`InfoCAM.attribute <.InfoCAM.attribute>`: ``1`` for single positions,
                ``None`` for the whole map. Default: 3
            padding (str, optional): ``"same"`` (clipped windows) or ``"full"`` (zeros
                outside; the map grows by ``s - 1`` per dimension), as in
                :meth:`InfoCAM.attribute <.InfoCAM.attribute>`. Default: ``"same"``
            relu_attributions (bool, optional): keep only the positive part. Default: False

        Returns:
            *Tensor* of shape ``(N, 1, *spatial)``: the map at the layer's (grid) resolution
            (grown by ``s - 1`` per dimension with ``padding="full"``), in the logits' units,
            dtype at least float32 (float32 under autocast). Upsample it with
            :meth:`~captum.attr.LayerAttribution.interpolate` or
            :func:`~captum_infocam.input_space.upsample_to_input`.

        Examples::

            >>> grad_cam = InfoGradCam(model, model.layer4)
            >>> maps = grad_cam.attribute(images, target=labels, contrast="least_likely")
            >>> from captum.attr import LayerAttribution
            >>> upsampled = LayerAttribution.interpolate(maps, images.shape[-2:], "bilinear")
        """
        check_padding(padding, check_region_size(region_size))
        alpha = check_contrast_weight(contrast_weight)

        def score(logits: Tensor, target: Tensor) -> Tensor:
            chosen = check_contrast(contrast, target, logits.shape[1])
            return _kernels.contrast_logit(logits, target, chosen, alpha)

        activations, gradients = capture_gradient(
            self.forward_func,
            inputs,
            target,
            additional_forward_args,
            self.layer,
            attribute_to_layer_input,
            score,
            self._to_grid,
        )
        check_region_size(region_size, activations.dim() - 2)
        attributions = _kernels.grad_cam(activations, gradients, region_size, padding)
        return self._finish(attributions.contiguous(), relu_attributions)
