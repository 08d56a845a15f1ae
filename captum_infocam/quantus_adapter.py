r"""The attributions as Quantus explanation functions.

`Quantus <https://github.com/understandable-machine-intelligence-lab/Quantus>`_ evaluates an
explanation method through an ``explain_func`` that it calls as
``explain_func(model=..., inputs=..., targets=..., **explain_func_kwargs)`` with NumPy arrays,
and that must return NumPy attributions its metrics can compare with the inputs and with
segmentation masks. :func:`quantus_explainer` builds one for any of the package's attributions
(or another Captum layer attribution, such as :class:`~captum.attr.LayerGradCam`):

* inputs and targets may be NumPy arrays or tensors; inputs are cast to the dtype and device of
  the model's parameters, targets to integer class indices on that device;
* the explained layer (given by name, by a function of the model, or found: the layer that the
  global-average-pooling head averages) is looked up on the model Quantus passes, at every
  call, so that metrics which explain *other* models work: MPRT explains deep copies of the
  model with randomised layers, and an attribution bound to the original model's layer would
  hook a layer that never runs in the copy;
* the map is upsampled to the input's resolution with
  :func:`~captum_infocam.input_space.upsample_to_input` (``single_channel=True``) and returned
  as float32 NumPy ``(N, 1, H, W)``, the shape of Quantus's segmentation masks.

Nothing here imports Quantus: the package works without it, and the explanation function is a
plain function of NumPy arrays and tensors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import torch
from captum.attr import LayerAttribution
from torch import Tensor, nn

from captum_infocam._validation import one_or_each
from captum_infocam.attribution import ClassActivationMap, InfoCAM, LayerPMI, find_gap_head
from captum_infocam.gradient import InfoGradCam
from captum_infocam.input_space import UPSAMPLING_MODES, upsample_to_input

__all__ = ["INTERPOLATE_MODES", "METHODS", "LayerSpec", "quantus_explainer"]

METHODS: dict[str, type[LayerAttribution]] = {
    "ClassActivationMap": ClassActivationMap,
    "InfoCAM": InfoCAM,
    "LayerPMI": LayerPMI,
    "InfoGradCam": InfoGradCam,
}
"""The attributions :func:`quantus_explainer` knows by name (matched without regard to case)."""

INTERPOLATE_MODES: tuple[str, ...] = UPSAMPLING_MODES
"""Upsampling modes of :func:`quantus_explainer`; ``"bilinear"`` is multilinear in any
number of spatial dimensions (linear for 1-D maps, trilinear for 3-D maps)."""

LayerSpec = str | nn.Module | Callable[[nn.Module], nn.Module] | None
"""A layer of the model being explained: its dotted name, the module, a function of the model,
or ``None`` for the layer that the model's global-average-pooling head averages."""

_SET_BY_THE_ADAPTER = {
    "forward_func": "the model that Quantus passes",
    "inputs": "the inputs that Quantus passes (its x_batch)",
    "target": "the targets that Quantus passes (its y_batch)",
    "layer": "the layer given to quantus_explainer (its layer argument)",
}


def _method_class(method: str | type[LayerAttribution]) -> type[LayerAttribution]:
    if isinstance(method, str):
        by_name = {name.lower(): cls for name, cls in METHODS.items()}
        if method.lower() not in by_name:
            raise ValueError(
                f"method {method!r} is not one of {list(METHODS)}; pass the class itself for "
                "another Captum layer attribution (e.g. captum.attr.LayerGradCam)"
            )
        return by_name[method.lower()]
    if inspect.isclass(method) and issubclass(method, LayerAttribution):
        return method
    raise TypeError(
        f"method must be one of {list(METHODS)} (a class or its name) or another Captum "
        f"LayerAttribution class, got {method!r}"
    )


def _finds_its_layer(cls: type[LayerAttribution]) -> bool:
    """Whether ``cls`` finds its layer itself when given ``layer=None`` (the CAM family)."""
    layer = inspect.signature(cls.__init__).parameters.get("layer")
    return layer is not None and layer.default is None


def _gap_layer(
    cls: type[LayerAttribution], model: nn.Module, inputs: Tensor, forward_args: Any
) -> nn.Module:
    """The layer that the model's global-average-pooling head averages, found by
    :func:`~captum_infocam.attribution.find_gap_head` on one input (all when there are
    additional forward arguments, which may be per input)."""
    try:
        return find_gap_head(
            model, inputs if forward_args is not None else inputs[:1], forward_args
        ).layer
    except ValueError as error:
        raise ValueError(
            f"layer=None: {cls.__name__} would explain the layer that the model's global-average-"
            f"pooling head averages, and there is none ({error}). Pass layer= (a name, a "
            "module or a function of the model)"
        ) from error


def _parameters(function: Callable[..., Any]) -> set[str]:
    names = set(inspect.signature(function).parameters)
    return names - {"self", "args", "kwargs"}


def _split_options(
    cls: type[LayerAttribution], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of the constructor and those of ``attribute``, checked by name."""
    constructor, attribute = _parameters(cls.__init__), _parameters(cls.attribute)
    for name in options:
        if name in _SET_BY_THE_ADAPTER:
            raise TypeError(
                f"option {name!r} cannot be given: the explanation function sets it to "
                f"{_SET_BY_THE_ADAPTER[name]}"
            )
        if name not in constructor | attribute:
            accepted = sorted((constructor | attribute) - set(_SET_BY_THE_ADAPTER))
            raise TypeError(f"{cls.__name__} takes no option {name!r}; its options are {accepted}")
    return (
        {name: value for name, value in options.items() if name in constructor},
        {name: value for name, value in options.items() if name not in constructor},
    )


class _ModuleOfModel:
    """A module of whichever model is being explained: given by name, by a function of the
    model, or as a module object, which is found in a model by identity and, in a model that
    does not hold it (a copy), by the name it had in the first model that did."""

    def __init__(self, spec: LayerSpec, argument: str) -> None:
        if not (spec is None or isinstance(spec, (str, nn.Module)) or callable(spec)):
            raise TypeError(
                f"{argument} must be a module name (str), an nn.Module, a function of the model "
                f"or None, got {type(spec).__name__}"
            )
        self.spec = spec
        self.argument = argument
        self.name: str | None = spec if isinstance(spec, str) else None

    def find(self, model: nn.Module) -> nn.Module | None:
        spec = self.spec
        if spec is None:
            return None
        if isinstance(spec, nn.Module):
            name = next((name for name, m in model.named_modules() if m is spec), None)
            if name is not None:
                self.name = name
                return spec
            if self.name is None:
                raise ValueError(
                    f"the {self.argument} module is not part of the model being explained, and "
                    "no model holding it was explained before; pass its name (e.g. "
                    f"{self.argument}='features') or a function of the model instead"
                )
        if self.name is not None:
            try:
                return model.get_submodule(self.name)
            except AttributeError:
                raise ValueError(
                    f"the model being explained ({type(model).__name__}) has no submodule "
                    f"{self.name!r} ({self.argument}); pass a name from model.named_modules()"
                ) from None
        assert not isinstance(spec, str)  # a name was looked up above
        found = spec(model)
        if not isinstance(found, nn.Module) or not any(m is found for m in model.modules()):
            raise ValueError(
                f"the function given as {self.argument} must return a module of the model it "
                f"is given, got {type(found).__name__}"
                + ("" if not isinstance(found, nn.Module) else " that is not part of the model")
            )
        return found


def _dtype_and_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    tensors = chain(model.parameters(), model.buffers())
    floating = next((t for t in tensors if t.is_floating_point()), None)
    if floating is None:
        return torch.get_default_dtype(), torch.device("cpu")
    return floating.dtype, floating.device


def _as_inputs(inputs: Any, dtype: torch.dtype, device: torch.device) -> Tensor:
    if isinstance(inputs, np.ndarray):
        inputs = torch.as_tensor(np.require(inputs, requirements="W"))  # no read-only warning
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a NumPy array or a tensor, got {type(inputs).__name__}")
    if inputs.dtype == torch.bool or inputs.is_complex() or inputs.dim() < 3:
        raise ValueError(
            "inputs must be real-valued, channel-first and batched, (N, C, H, W) for images, "
            f"got {inputs.dtype} of shape {tuple(inputs.shape)}"
        )
    return inputs.detach().to(device=device, dtype=dtype)


def _as_targets(targets: Any, num_inputs: int, device: torch.device) -> Tensor | None:
    if targets is None:
        return None
    if not isinstance(targets, Tensor):
        try:
            targets = torch.as_tensor(np.asarray(targets))
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"targets must hold class indices, got {targets!r}") from error
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"targets must hold integer class indices, got {targets.dtype}; pass y_batch as "
            "integers, e.g. y_batch.astype(int)"
        )
    return one_or_each(targets.to(device=device, dtype=torch.long), num_inputs, "targets", "input")


def _upsample(maps: Tensor, inputs: Tensor, mode: str) -> Tensor:
    dims = inputs.dim() - 2
    if not isinstance(maps, Tensor) or maps.dim() != dims + 2 or maps.shape[1] != 1:
        got = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(
            f"the attribution must return one map per input, (N, 1) and {dims} spatial "
            f"dimension(s) like the inputs, got {got}"
        )
    if mode == "bicubic" and dims != 2:
        raise ValueError(f"interpolate_mode='bicubic' needs 2-D maps, got {dims}-D ones")
    maps = maps.detach()
    maps = maps.to(torch.promote_types(maps.dtype, torch.float32))
    return upsample_to_input(maps, inputs, mode, single_channel=True)


def quantus_explainer(
    method: str | type[LayerAttribution],
    layer: LayerSpec = None,
    *,
    interpolate_mode: str = "bilinear",
    **options: Any,
) -> Callable[..., np.ndarray]:
    r"""A Quantus ``explain_func`` for one of the attributions and its options.

    The function returned is called by Quantus as
    ``explain_func(model=model, inputs=x_batch, targets=y_batch, **explain_func_kwargs)``. At
    each call it

    #. casts ``inputs`` (NumPy or tensor, ``(N, C, *spatial)``) to the dtype and device of the
       model's parameters, and ``targets`` (NumPy, tensor, list or int; ``None`` for each
       input's top-1 class) to integer classes on that device;
    #. finds ``layer`` (and a ``classifier=`` option given as a module, name or function) on
       *that* model, so that MPRT's randomised copies are explained through their own layers;
    #. runs ``method(model, layer, **constructor options).attribute(inputs, target=targets,
       **attribute options)``;
    #. upsamples the ``(N, 1, h, w)`` map to the input's resolution with
       :func:`~captum_infocam.input_space.upsample_to_input` and returns it as float32 NumPy
       ``(N, 1, H, W)``.

    The maps are returned as the attribution computes them, signed and in its units (nats
    for :class:`~captum_infocam.attribution.InfoCAM`,
    :class:`~captum_infocam.attribution.LayerPMI` and
    :class:`~captum_infocam.gradient.InfoGradCam`): Quantus's ``abs`` and ``normalise``
    options apply on top, and several of its metrics depend on where the zero of a map lies (see the
    :doc:`/tutorials/quantus` tutorial). Keyword arguments that Quantus passes on (its
    ``explain_func_kwargs``) override ``options`` for that call; ``device`` is accepted and
    ignored, since the model's own device is used. The model is run as it is: Quantus requires
    it in eval mode.

    Args:
        method (str or type): :class:`~captum_infocam.attribution.ClassActivationMap`,
            :class:`~captum_infocam.attribution.InfoCAM`,
            :class:`~captum_infocam.attribution.LayerPMI` or
            :class:`~captum_infocam.gradient.InfoGradCam`, as the class or its name (any case), or
            another Captum :class:`~captum.attr.LayerAttribution` class taking
            ``(forward_func, layer)``, such as :class:`~captum.attr.LayerGradCam`.
        layer (str, nn.Module, Callable or None, optional): the layer to explain: its dotted
            name in the model (``"layer4"``, ``"features.7"``), a function that takes the model
            and returns the layer (``lambda model: model.layer4``), or the module itself (then
            found by identity, and by its name in copies of the model). ``None``: the layer
            whose output the model's global-average-pooling + linear head averages, found by
            the CAM-family classes from their forward pass and, for the other classes
            (``InfoGradCam``, ``LayerGradCam``), by
            :func:`~captum_infocam.attribution.find_gap_head` on the first input; models with
            another head need a layer. Default: None
        interpolate_mode (str, optional): upsampling mode, one of :data:`INTERPOLATE_MODES`;
            ``"bilinear"`` is linear or trilinear for 1-D or 3-D maps. Default: ``"bilinear"``
        **options: options of ``method``'s constructor (``classifier``, ``class_prior``,
            ``reshape``) and of its ``attribute`` (``contrast``, ``region_size``,
            ``relu_attributions``, ``additional_forward_args``, ...), checked by name now.

    Returns:
        *Callable*: ``explain_func(model, inputs, targets, **kwargs) -> numpy.ndarray`` of
        shape ``(N, 1, *spatial)``, float32, at the inputs' spatial size.

    Raises:
        TypeError: if ``method`` is not an attribution class or known name, or an option is
            not one of its options (or is set by the explanation function itself).
        ValueError: if ``interpolate_mode`` is unknown.

    Examples::

        >>> explain = quantus_explainer(InfoCAM, region_size=1)  # the layer: found (layer4)
        >>> a_batch = explain(model=model, inputs=images.numpy(), targets=labels.numpy())
        >>> a_batch.shape, a_batch.dtype
        ((2, 1, 64, 64), dtype('float32'))
        >>> explain = quantus_explainer("InfoGradCam", layer="layer3", contrast="least_likely")
        >>> explain(model=model, inputs=images.numpy(), targets=labels.numpy()).shape
        (2, 1, 64, 64)
        >>> # with Quantus: quantus.PointingGame()(model=model, x_batch=x_batch,
        >>> #     y_batch=y_batch, s_batch=s_batch, explain_func=explain)
    """
    cls = _method_class(method)
    if interpolate_mode not in INTERPOLATE_MODES:
        raise ValueError(
            f"interpolate_mode must be one of {INTERPOLATE_MODES}, got {interpolate_mode!r}"
        )
    _split_options(cls, options)  # fail now on a misspelt option
    layer_of = _ModuleOfModel(layer, "layer")
    classifier = options.get("classifier")
    classifier_of = (
        _ModuleOfModel(classifier, "classifier")
        if isinstance(classifier, (str, nn.Module)) or callable(classifier)
        else None
    )

    def explain_func(model: nn.Module, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a torch nn.Module (the model Quantus evaluates), got "
                f"{type(model).__name__}"
            )
        kwargs.pop("device", None)  # Quantus's device: the model's own is the one that works
        constructor, attribute = _split_options(cls, {**options, **kwargs})
        if classifier_of is not None and "classifier" not in kwargs:
            constructor["classifier"] = classifier_of.find(model)
        dtype, device = _dtype_and_device(model)
        x = _as_inputs(inputs, dtype, device)
        target = _as_targets(targets, x.shape[0], device)
        layer = layer_of.find(model)
        if layer is None and not _finds_its_layer(cls):
            layer = _gap_layer(cls, model, x, attribute.get("additional_forward_args"))
        attribution = cls(model, layer, **constructor)
        maps = attribution.attribute(x, target=target, **attribute)
        upsampled = _upsample(maps, x, interpolate_mode)
        return upsampled.to(torch.float32).cpu().numpy()

    explain_func.__name__ = explain_func.__qualname__ = f"explain_with_{cls.__name__}"
    return explain_func
