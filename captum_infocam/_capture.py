"""One forward pass that captures what an attribution needs (internal: the capture tier).

Every attribution of the package runs the model once through :func:`capture`, which

* formats the inputs the way Captum does (a tensor or a tuple, then the additional arguments);
* hooks the explained layer and counts its runs, keeping its value (the output, or the input
  with ``attribute_to_layer_input``); the gradient form swaps that value for a detached leaf
  that requires grad, so that the backward pass starts at the layer;
* watches the modules that can be a classifier head (``nn.Linear`` and 1x1 convolutions,
  :func:`head_candidates`): each run whose input is one row per example (pooled features) is
  recorded, so that the head producing the logits is the one whose output *is* the logits;
* when no layer is given, follows the modules' outputs and, when a head candidate runs, finds
  the tensor whose average over positions is the candidate's input: the layer the head pools.

Thread safety: the hooks are registered for one call and record only the forward pass run by
the thread that registered them, so concurrent calls on one shared model (and one attribution
object) each see their own pass; nothing is stored on the attribution object. A model that
runs its modules in other threads (``nn.DataParallel`` over several devices) is therefore not
seen by the hooks; :func:`check_forward_func` refuses it with what to do instead.

Memory: only the latest spatial tensor (and the last few one-position tensors, i.e. pooled
ones) are kept while following the outputs, so no intermediate outlives the point where the
model itself would have freed it by more than one module.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar, cast

import torch
import torch.nn.functional as F
from captum._utils.common import _format_additional_forward_args, _format_tensor_into_tuples
from captum.attr import LayerAttribution
from torch import Tensor, nn

from captum_infocam._kernels import spatial_dims
from captum_infocam._validation import (
    SPATIAL_DIMS,
    check_activations,
    compute_dtype,
    full_precision,
)
from captum_infocam.heads import Classifier, head_candidates, head_parameters, is_linear_head
from captum_infocam.targets import TargetLike, format_target

__all__ = [
    "Capture",
    "HeadRun",
    "capture",
    "channels_last_evidence",
    "check_forward_func",
    "check_gap_head",
    "describe_module",
    "eager_forward",
    "input_plane",
    "layer_gradient",
    "model_of",
]

_Forward = TypeVar("_Forward", bound=Callable[..., Any])
_POOLED_HISTORY = 4  # one-position tensors kept while following outputs (pooling outputs)
_NO_INPUT: Any = object()  # the layer was called with keyword arguments only


def model_of(forward_func: Callable[..., Any]) -> nn.Module | None:
    """The ``nn.Module`` behind ``forward_func``: itself, or the owner of a bound method."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def eager_forward(forward_func: _Forward) -> _Forward:
    """The module behind a :func:`torch.compile`'d one (``_orig_mod``), else ``forward_func``.

    Hooks registered after compilation do not run in the compiled code, so the attributions
    run the original module: the same parameters, evaluated eagerly.
    """
    original = getattr(forward_func, "_orig_mod", None)
    if isinstance(forward_func, nn.Module) and isinstance(original, nn.Module):
        return cast(_Forward, original)
    return forward_func


def check_forward_func(forward_func: Callable[..., Any], device_ids: object) -> None:
    """Refuse ``device_ids`` and ``nn.DataParallel`` over several devices, saying what to do."""
    if not callable(forward_func):
        raise TypeError(f"forward_func must be a callable (a model), got {forward_func!r}")
    model = model_of(forward_func)
    data_parallel = isinstance(model, nn.DataParallel) and len(model.device_ids or ()) > 1
    if device_ids is not None or data_parallel:
        raise ValueError(
            "device_ids / nn.DataParallel over several devices is not supported: each call hooks "
            "the layer for its own thread (so that concurrent calls stay apart), and "
            "DataParallel runs the layer in worker threads. Pass the wrapped model "
            "(model.module) and its layer, and split large batches over devices yourself "
            "(one attribution per device, or one process per device with "
            "DistributedDataParallel)"
        )


def describe_module(name: str, module: nn.Module) -> str:
    """``name (Linear 512 -> 10)``: a short description for messages."""
    weight = getattr(module, "weight", None)
    shape = ""
    if isinstance(weight, Tensor) and weight.dim() >= 2:
        shape = f" {weight.shape[1]} -> {weight.shape[0]}"
    return f"`{name or '<model>'}` ({type(module).__name__}{shape})"


@dataclass
class _Group:
    """A tensor and the modules that returned it (nested modules), in the order they finished."""

    tensor: Tensor
    modules: list[tuple[str, nn.Module]] = field(default_factory=list)
    cached: tuple[int, Tensor] | None = None  # (version, average), see ``average``

    def average(self) -> Tensor:
        """The tensor's average over positions ``(N, C)``, float32 at least; computed once and
        again only after an in-place change (the tensor's version counter)."""
        version = _version(self.tensor)
        if self.cached is None or self.cached[0] != version:
            dtype = compute_dtype(self.tensor)
            with full_precision(self.tensor.device):
                average = self.tensor.mean(dim=spatial_dims(self.tensor), dtype=dtype)
            self.cached = version, average
        return self.cached[1]


class HeadRun(NamedTuple):
    """One run of a head candidate on pooled features (one row per example)."""

    name: str
    module: nn.Module
    inputs: Tensor  # (N, C)
    outputs: Tensor  # (N, K)


class Capture(NamedTuple):
    """What one forward pass captured.

    ``value`` is the layer's output or input as it is when the forward ends (in-place changes
    after the layer included), or the leaf of the gradient form. ``layer_name`` is set when the
    layer was found rather than given. ``head`` is the run of a watched head candidate whose
    output is the logits (or the last run of the only watched module, with ``match=False``);
    ``averaged_last`` names the module whose channels-last output (tokens, ``(N, h, w, C)``)
    the head averages, when that is what it pools. ``last_spatial`` names the spatial map to
    suggest to the gradient form, its shape and the pooled width it matches (or None), for
    messages (:meth:`_Follower.suggestion`). ``next_run`` is the first head-candidate run
    on pooled features after the layer's run (the first layer of an MLP head), for the
    layout checks of the gradient form.
    """

    value: Any
    logits: Any
    layer: nn.Module | None
    layer_name: str | None
    head: HeadRun | None
    averaged_last: str | None
    last_run: HeadRun | None
    last_spatial: tuple[str, tuple[int, ...], int | None] | None
    next_run: HeadRun | None = None


def _version(tensor: Tensor) -> int:
    """The tensor's version counter; 0 for an inference tensor (made under
    :func:`torch.inference_mode`), which has none and cannot change in place outside it."""
    return 0 if tensor.is_inference() else tensor._version


def _same_values(average: Tensor, pooled: Tensor) -> bool:
    """Whether an average over positions ``(N, C)`` is ``pooled`` ``(N, C)`` up to the rounding
    of the reduction (relative to each example's largest value)."""
    if average.shape != pooled.shape:
        return False
    eps = max(torch.finfo(average.dtype).eps, torch.finfo(pooled.dtype).eps)
    pooled = pooled.to(average.dtype)
    scale = average.abs().amax(dim=1, keepdim=True) + pooled.abs()
    tolerance = eps**0.5 * scale + torch.finfo(torch.float32).tiny
    return bool(((average - pooled).abs() <= tolerance).all())


class _Snapshot(NamedTuple):
    """What a head run may pool, kept for the latest head run and compared after the forward."""

    spatial: _Group | None
    pooled: tuple[_Group, ...]
    inputs: Tensor  # the head run's input (N, C)
    versions: tuple[int, ...]  # of every tensor above, to see in-place changes after the run


class _Follower:
    """Follows the modules' outputs of one forward pass to find the tensor a head pools.

    It keeps the latest tensor with more than one position and the last few one-position
    tensors (pooling outputs, or a layer already at 1 x 1), each with the modules that returned
    that very tensor (nested modules, in-place activations), in the order they finished.
    For messages it also keeps, without their tensors, every spatial map's modules and shape
    and the input widths of the head runs on pooled features.
    """

    def __init__(self) -> None:
        self.runs: dict[int, int] = {}
        self.spatial: _Group | None = None
        self.pooled: deque[_Group] = deque(maxlen=_POOLED_HISTORY)
        self.latest: tuple[int, _Snapshot] | None = None  # of the latest head run only
        self.widths: list[int] = []  # input widths of the head runs, in order
        # every spatial map: its modules (the group's list), shape, and head runs before it
        self.maps: list[tuple[list[tuple[str, nn.Module]], tuple[int, ...], int]] = []

    def record(self, name: str, module: nn.Module, output: Any) -> None:
        self.runs[id(module)] = self.runs.get(id(module), 0) + 1
        if (
            not isinstance(output, Tensor)
            or output.dim() - 2 not in SPATIAL_DIMS
            or not output.is_floating_point()
        ):
            return
        one_position = math.prod(output.shape[2:]) == 1
        latest = (self.pooled[-1] if self.pooled else None) if one_position else self.spatial
        if latest is not None and latest.tensor is output:
            latest.modules.append((name, module))
        elif one_position:
            self.pooled.append(_Group(output, [(name, module)]))
        else:
            self.spatial = _Group(output, [(name, module)])
            self.maps.append((self.spatial.modules, tuple(output.shape), len(self.widths)))

    def snapshot(self, index: int, inputs: Tensor) -> None:
        """Keep what head run ``index`` (input ``(N, C)``) may pool, replacing the previous run's
        record: the comparisons wait until the forward has ended (:meth:`source`), so they cost
        nothing for the runs that are not the head (squeeze-excitation blocks) and the forward
        never waits for the device."""
        self.widths.append(inputs.shape[1])
        groups = ((self.spatial,) if self.spatial is not None else ()) + tuple(self.pooled)
        versions = (*(_version(group.tensor) for group in groups), _version(inputs))
        self.latest = index, _Snapshot(self.spatial, tuple(self.pooled), inputs, versions)

    def source(self, index: int) -> tuple[_Group | None, str | None]:
        """The group head run ``index`` pools, or the module whose channels-last output it
        averages; ``(None, None)`` when neither, or when a later head run replaced its record,
        or when an in-place operation after the run changed those tensors.

        A spatial tensor wins over one-position ones (the pooling's own output); among those,
        the earliest (the layer before the pooling modules). A one-position tensor computed
        after the pooling of the spatial tensor is not a layer the head pools but a
        transformation of pooled features (ConvNeXt's norm after the pooling): no source.
        """
        if self.latest is None or self.latest[0] != index:
            return None, None
        spatial, groups, inputs, versions = self.latest[1]
        tensors = ((spatial,) if spatial is not None else ()) + groups
        now = (*(_version(group.tensor) for group in tensors), _version(inputs))
        if now != versions or (spatial is not None and spatial.tensor.shape[0] != len(inputs)):
            return None, None
        channels = inputs.shape[1]
        matches = spatial is not None and spatial.tensor.shape[1] == channels
        if matches and _same_values(spatial.average(), inputs):  # type: ignore[union-attr]
            return spatial, None
        if spatial is not None and spatial.tensor.shape[1] != channels:
            # Before the one-position tensors: a channels-last map permuted outside a module
            # and then pooled by one (timm's NesT, torchvision's Swin3d) must not make the
            # pooling's 1 x 1 output the layer.
            tensor = spatial.tensor  # tokens (N, L, D) or (N, h, w, C)
            if tensor.shape[-1] == channels:
                dims = tuple(range(1, tensor.dim() - 1))
                with full_precision(tensor.device):
                    average = tensor.mean(dim=dims, dtype=compute_dtype(tensor))
                if _same_values(average, inputs):
                    return None, self.name_of(spatial)
        for group in groups:
            values = group.tensor.flatten(1)
            if _same_values(values, inputs):
                return group, None
            if spatial is not None and _same_values(spatial.average(), values):
                break  # the pooling happened: later tensors transform pooled features
        return None, None

    def name_of(self, group: _Group | list[tuple[str, nn.Module]]) -> str:
        """The module to name for a group (or its modules): the last to finish among those
        that ran once."""
        modules = group.modules if isinstance(group, _Group) else group
        once = [name for name, module in modules if self.runs.get(id(module)) == 1]
        return (once or [name for name, _ in modules])[-1]

    def suggestion(self, num_classes: int | None) -> tuple[str, tuple[int, ...], int | None] | None:
        """The spatial map to suggest to the gradient form: the last one whose channels (its
        second or last dimension) are the input width of a head run on pooled features after
        the last spatial map (the head, or an MLP head's first layer), so likely on the path to
        the head; else the last spatial map. Maps of class
        scores (a linear head's output with as many channels as logits: S3D's, VOLO's
        per-token head) are never suggested.

        Returns:
            ``(name, shape, width)``, ``width`` the matched pooled width or None; None when the
            forward had no spatial map.
        """
        maps = []
        for modules, shape, runs_before in self.maps:
            producer = modules[0][1]
            weight = getattr(producer, "weight", None)
            scores = isinstance(weight, Tensor) and weight.shape[0] == num_classes
            if not (scores and is_linear_head(producer)):
                maps.append((modules, shape, runs_before))
        if not maps:
            return None
        widths = set(self.widths[maps[-1][2] :])  # of the head runs after the last map
        for modules, shape, _ in reversed(maps):
            for width in (shape[1], shape[-1]):
                if width in widths:
                    return self.name_of(modules), shape, width
        return self.name_of(maps[-1][0]), maps[-1][1], None

    def module_of(self, group: _Group, name: str) -> nn.Module:
        return next(module for module_name, module in group.modules if module_name == name)


def capture(
    forward_func: Callable[..., Any],
    inputs: Tensor | tuple[Tensor, ...],
    additional_forward_args: Any,
    layer: nn.Module | None,
    *,
    attribute_to_layer_input: bool = False,
    as_leaf: bool = False,
    heads: Sequence[tuple[str, nn.Module]] = (),
    match: bool = True,
    follow: nn.Module | None = None,
) -> Capture:
    """Run ``forward_func`` once and capture the layer's value, the logits and the head.

    Args:
        forward_func: the model.
        inputs, additional_forward_args: Captum's forms.
        layer: the module to hook, or None to find it (``follow`` must then be the model).
        attribute_to_layer_input: capture the layer's first positional input.
        as_leaf: swap the layer's value for a detached leaf that requires grad (the gradient
            form); the forward runs without autograd up to the layer. Call it inside
            ``torch.inference_mode(False)``.
        heads: the head candidates to watch (:func:`~captum_infocam.heads.head_candidates`).
        match: the head is the watched run whose output is the logits; ``False``: the last
            run of the (only) watched module.
        follow: the model whose modules' outputs are followed to find the layer a head pools.

    Returns:
        *Capture*. The layer's run count is checked here (exactly once), nothing else.
    """
    inputs = _format_tensor_into_tuples(inputs)
    additional_forward_args = _format_additional_forward_args(additional_forward_args) or ()
    owner = threading.get_ident()
    values: list[Any] = []
    runs: list[HeadRun] = []
    runs_before_layer: list[int] = []  # how many head runs preceded the layer's run
    follower = _Follower() if follow is not None else None

    def keep(value: Any) -> Any:
        """Record the layer's value; for the gradient form, return its replacement."""
        runs_before_layer.append(len(runs))
        if not as_leaf:
            values.append(value)
            return None
        if not isinstance(value, Tensor) or not value.is_floating_point():
            values.append(None)
            return None
        leaf = value.detach().requires_grad_()
        values.append(leaf)
        # Record the graph from the layer on only: the forward started without autograd.
        torch.set_grad_enabled(True)
        return leaf.clone()  # in-place operations downstream must not touch the leaf

    def on_layer_input(module: nn.Module, args: tuple) -> Any:
        if threading.get_ident() != owner:
            return None  # another thread's forward pass
        if values or not args:  # a second run is only counted
            values.append(None if values else _NO_INPUT)
            return None
        replaced = keep(args[0])
        return None if replaced is None else (replaced, *args[1:])

    def on_layer_output(module: nn.Module, args: tuple, output: Any) -> Any:
        if threading.get_ident() != owner:
            return None
        if values:
            values.append(None)
            return None
        return keep(output)

    def on_head(name: str) -> Callable[[nn.Module, tuple, Any], None]:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if threading.get_ident() != owner or not args:
                return
            x = args[0]
            if not isinstance(x, Tensor) or not isinstance(output, Tensor) or x.dim() < 1:
                return
            weight: Tensor = module.weight  # type: ignore[assignment]
            outputs, features = weight.shape[:2]
            n = x.shape[0]
            if x.numel() != n * features or output.numel() != n * outputs:
                return  # applied per position or per token, not to pooled features
            pooled = x.reshape(n, features)
            if follower is not None:
                follower.snapshot(len(runs), pooled.detach())
            runs.append(HeadRun(name, module, pooled, output.reshape(n, outputs)))

        return hook

    def on_module(name: str) -> Callable[[nn.Module, tuple, Any], None]:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if threading.get_ident() == owner:
                follower.record(name, module, output)  # type: ignore[union-attr]

        return hook

    handles = []
    try:
        if layer is not None:
            if attribute_to_layer_input:
                handles.append(layer.register_forward_pre_hook(on_layer_input))
            else:
                handles.append(layer.register_forward_hook(on_layer_output))
        if follow is not None:
            handles.extend(
                module.register_forward_hook(on_module(name))
                for name, module in follow.named_modules()
                if module is not follow
            )
        # After the followers: a head's own output is recorded before the head is resolved.
        handles.extend(module.register_forward_hook(on_head(name)) for name, module in heads)
        # Outside inference mode, so that the outputs have version counters (in-place changes
        # after the head run are seen) and the gradient form can record a graph.
        with torch.inference_mode(False), torch.no_grad():
            logits = forward_func(*inputs, *additional_forward_args)
    finally:
        for handle in handles:
            handle.remove()

    if layer is not None and len(values) != 1:
        raise ValueError(
            f"the layer ran {len(values)} times in one forward pass; explain a layer that runs "
            "exactly once"
            + (
                " (the hooks see the calling thread's eager forward only: a model that runs its "
                "layers in other threads, as nn.DataParallel does over several devices, or a "
                "function compiled with torch.compile, is not supported; pass the eager model)"
                if not values
                else ""
            )
        )
    value = values[0] if values else None
    if value is _NO_INPUT:
        raise ValueError(
            "the layer received no positional input (it was called with keyword arguments "
            "only); explain the layer's output or the layer before it"
        )
    if layer is not None and as_leaf and value is None:
        where = "input" if attribute_to_layer_input else "output"
        raise ValueError(f"the layer's {where} must be a floating-point tensor to be explained")
    index = _head_of(runs, logits) if match else len(runs) - 1
    head = runs[index] if index is not None and index >= 0 else None
    layer_name = averaged_last = None
    if follower is not None and head is not None:
        group, averaged_last = follower.source(index)  # type: ignore[arg-type]
        if group is not None:
            layer_name = follower.name_of(group)
            layer, value = follower.module_of(group, layer_name), group.tensor
    last_spatial = None
    if follower is not None:
        num_classes = logits.shape[1] if isinstance(logits, Tensor) and logits.dim() == 2 else None
        last_spatial = follower.suggestion(num_classes)
    last_run = runs[-1] if runs else None
    after = runs[runs_before_layer[0] :] if runs_before_layer else []
    next_run = after[0] if after else None
    return Capture(
        value, logits, layer, layer_name, head, averaged_last, last_run, last_spatial, next_run
    )


def _head_of(runs: Sequence[HeadRun], logits: Any) -> int | None:
    """The index of the last recorded candidate run whose output is the logits, value for
    value."""
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        return None
    found = None
    for index, run in enumerate(runs):
        outputs = run.outputs
        if outputs.shape == logits.shape and torch.equal(outputs.to(logits.dtype), logits):
            found = index
    return found


def layer_gradient(score: Tensor, leaf: Tensor) -> Tensor | None:
    """The gradient of a scalar ``score`` with respect to the captured leaf, or None."""
    if not score.requires_grad:
        return None
    (gradient,) = torch.autograd.grad(score, leaf, allow_unused=True)
    return gradient


def gap_tolerance_eps(*tensors: Tensor) -> float:
    """Rounding unit of the dot products behind the logits: dtypes, TF32 / bfloat16 matmuls."""
    eps = max(torch.finfo(t.dtype).eps for t in tensors)
    if any(t.is_cuda for t in tensors):
        precision = torch.get_float32_matmul_precision()
        if precision != "highest":
            eps = max(eps, 2.0**-7 if precision == "medium" else 2.0**-10)
    return eps


def check_gap_head(
    activations: Tensor, logits: Tensor, weight: Tensor, bias: Tensor, message: str
) -> None:
    """Check ``z_k == w_k . mean(A) + b_k`` for every example and *every* class.

    The maps are exact only for a global-average-pooling + linear head. A head that keeps the
    target's logit linear but not the others' (a ReLU after a 1x1 convolution, as in
    SqueezeNet) would give wrong contrast and PMI maps, so all ``K`` logits are checked; the
    cost, ``N x C x K`` multiply-adds, is small next to the forward pass. The tolerance is the
    square root of the coarsest rounding unit involved times the magnitude of the dot products.
    Raises ``ValueError`` with ``message`` when the identity fails.
    """
    dtype = compute_dtype(activations, weight, logits)
    eps = gap_tolerance_eps(activations, logits, weight)
    with full_precision(activations.device):
        pooled = activations.mean(dim=spatial_dims(activations), dtype=dtype)
        weight, bias = weight.to(dtype), bias.to(dtype)
        predicted = torch.addmm(bias, pooled, weight.T)
        scale = torch.addmm(bias.abs(), pooled.abs(), weight.abs().T)
    tolerance = eps**0.5 * (scale + 1e-6)
    if not bool(((predicted - logits.to(dtype)).abs() <= tolerance).all()):
        raise ValueError(message)


# --------------------------------------------------------------------------- messages


def _shape_of(value: Any) -> Any:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def _logits_error(logits: Any, model: nn.Module | None) -> str:
    """forward_func returned something else than ``(N, K)`` logits: what to do."""
    message = f"forward_func must return logits of shape (N, K), got {_shape_of(logits)}"
    if isinstance(logits, Tensor):
        return message
    if model is not None and model.training:
        return message + (
            " (call model.eval(): some models return auxiliary outputs in train mode)"
        )
    return message + (
        ": wrap the model in an nn.Module whose forward returns the logits tensor (e.g. "
        "output[0] or output['logits']); a module wrapper keeps the automatic layer and head "
        "search, a lambda needs layer= and classifier="
    )


def _channels_first(ndim: int) -> str:
    """The ``permute`` order that makes a channels-last ``(N, *spatial, C)`` tensor channels
    first: ``0, 3, 1, 2`` for ``ndim=4``."""
    return ", ".join(str(d) for d in (0, ndim - 1, *range(1, ndim - 1)))


def input_plane(inputs: Tensor | tuple[Any, ...], ndim: int) -> tuple[int, int] | None:
    """The last two dimensions of the first floating-point input with ``ndim`` dimensions: the
    image plane ``(h, w)`` that a layer's ``ndim``-dimensional map was computed from, or None
    when no input has that form."""
    for value in _format_tensor_into_tuples(inputs):
        if (
            isinstance(value, Tensor)
            and value.dim() == ndim
            and value.is_floating_point()
            and min(value.shape[-2:]) >= 1
        ):
            return value.shape[-2], value.shape[-1]
    return None


def _shrinks(grid: tuple[int, int], plane: tuple[int, int], slack: float) -> bool:
    """Whether ``grid`` is ``plane`` shrunk by one factor ``r <= 1`` (a network's total stride)
    in both dimensions, each side within ``slack`` positions (the rounding of strided layers)."""
    low = max(0.0, *((g - slack) / p for g, p in zip(grid, plane, strict=True)))
    high = min(1.0, *((g + slack) / p for g, p in zip(grid, plane, strict=True)))
    return low <= high


def channels_last_evidence(shape: tuple[int, ...], plane: tuple[int, int] | None) -> str:
    """Why a map of ``shape`` (2 or 3 spatial dimensions) looks channels-last
    ``(N, *spatial, C)`` rather than ``(N, C, *spatial)``, or ``""`` when it does not.

    A network shrinks its input's plane ``(h, w)`` (``plane``, from :func:`input_plane`) by one
    factor in both dimensions, so the plane of a channels-first map is its last two dimensions,
    and that of a channels-last map the two before the last. The map looks channels-last when
    only the second reading shrinks the input's plane (within 1 position per side; the first
    is given 2): a Swin stage ``(N, 14, 14, 384)`` from a 224 x 224 image, whose last two
    dimensions ``(14, 384)`` are no stride of it. When no input is an image of the same
    dimensions (``plane`` None), or when neither reading fits it (the model resizes its
    input), the map looks channels-last when the two dimensions before the last are equal
    (a square grid) and smaller than the last. Nothing is said when both readings fit (a cube
    ``(N, 96, 96, 96)`` from a 384 x 384 image).
    """
    if len(shape) - 2 not in (2, 3):
        return ""
    first, last = (shape[-2], shape[-1]), (shape[-3], shape[-2])
    if plane is not None:
        h, w = plane
        fits_last, fits_first = _shrinks(last, plane, 1), _shrinks(first, plane, 2)
        if fits_last and not fits_first:
            return (
                f"its dimensions {len(shape) - 3} and {len(shape) - 2} ({last[0]} x {last[1]}) "
                f"are the input's {h} x {w} plane scaled down by one factor, its last two "
                f"({first[0]} x {first[1]}) are not"
            )
        if fits_last or fits_first:
            return ""
    if last[0] == last[1] < shape[-1]:
        return (
            f"its dimensions {len(shape) - 3} and {len(shape) - 2} form a square "
            f"{last[0]} x {last[1]} grid and its last dimension ({shape[-1]}) is larger"
        )
    return ""


def _layout_hint(shape: tuple[int, ...], in_features: int | None) -> str:
    """How to explain a layer whose last dimension, not its second, holds the channels."""
    if in_features is None or len(shape) < 3 or shape[-1] != in_features or shape[1] == in_features:
        return ""
    if len(shape) == 3:
        return (
            f"; its {shape} looks like transformer tokens (N, L, D) with D = {in_features}: "
            "use InfoGradCam with reshape=(h, w)"
        )
    return (
        f"; its {shape} looks channels-last (N, *spatial, C) with C = {in_features}: use "
        f"InfoGradCam with reshape=lambda t: t.permute({_channels_first(len(shape))})"
    )


def _plane_hint(shape: tuple[int, ...], plane: tuple[int, int] | None) -> str:
    """:func:`_layout_hint` from the input's plane (:func:`channels_last_evidence`)."""
    evidence = channels_last_evidence(shape, plane)
    if not evidence:
        return ""
    return (
        f"; its {shape} looks channels-last (N, *spatial, C): {evidence}; to explain it, use "
        f"InfoGradCam with reshape=lambda t: t.permute({_channels_first(len(shape))})"
    )


def _gradient_hint(captured: Capture, in_features: int | None, averaged: bool = False) -> str:
    """Which layer to give InfoGradCam, from the spatial map the head reads last
    (:meth:`_Follower.suggestion`); ``averaged``: the head averages those tokens (no class
    token), so a token grid is named."""
    if captured.last_spatial is None:
        return " (the documentation lists the layer to explain for each model family)"
    name, shape, width = captured.last_spatial
    in_features = width or in_features
    layer = f"model.get_submodule({name!r})"
    if len(shape) == 3 and shape[-1] == in_features and shape[1] != in_features:
        side = math.isqrt(shape[1])
        if averaged and side > 1 and side * side == shape[1]:
            return (
                f", e.g. InfoGradCam(model, {layer}, reshape=({side}, {side})) for the tokens "
                f"{shape} the head averages"
            )
        return (
            ", with reshape=(h, w) for transformer tokens; for a class-token head explain the "
            "last block's input norm (encoder.layers[-1].ln_1 in torchvision, "
            "blocks[-1].norm1 in timm)"
        )
    if len(shape) >= 4 and shape[-1] == in_features and shape[1] != in_features:
        order = _channels_first(len(shape))
        return (
            f", e.g. InfoGradCam(model, {layer}, reshape=lambda t: t.permute({order})) for "
            f"the channels-last map {shape} the head reads last"
        )
    return f", e.g. InfoGradCam(model, {layer}), the last spatial map {shape} before the head"


def _not_gap(reason: str, captured: Capture, in_features: int | None) -> ValueError:
    return ValueError(
        f"not a global-average-pooling + linear head: {reason}. CAM-style maps read the head's "
        "weights and are exact only for such heads; use InfoGradCam, the gradient form, which "
        f"works for any differentiable head{_gradient_hint(captured, in_features)}"
    )


def _channels_last(head: HeadRun, captured: Capture, in_features: int) -> ValueError:
    return ValueError(
        f"the head {describe_module(head.name, head.module)} averages the channels-last "
        f"output of `{captured.averaged_last}` (transformer tokens (N, L, D) or an (N, h, w, C) "
        "map), while CAM-style maps read channels-first activations (N, C, *spatial): use "
        f"InfoGradCam, the gradient form{_gradient_hint(captured, in_features, averaged=True)}"
    )


# --------------------------------------------------------------------------- the CAM family


class GapCapture(NamedTuple):
    """A checked global-average-pooling + linear evaluation: the CAM family's input."""

    activations: Tensor  # (N, C, *spatial), 1 to 3 spatial dimensions
    logits: Tensor  # (N, K)
    weight: Tensor  # (K, C), on the activations' device
    bias: Tensor  # (K,)
    layer_name: str | None  # when the layer was found
    head_name: str | None  # when the head was found


def _module_name(model: nn.Module | None, module: nn.Module) -> str:
    if model is not None:
        for name, candidate in model.named_modules():
            if candidate is module:
                return name
    return "classifier"


def capture_gap_head(
    forward_func: Callable[..., Any],
    inputs: Tensor | tuple[Tensor, ...],
    additional_forward_args: Any,
    layer: nn.Module | None,
    classifier: Classifier | None,
    attribute_to_layer_input: bool = False,
) -> GapCapture:
    """One forward pass, the head and layer found where not given, and the GAP check."""
    model = model_of(forward_func)
    where = "input" if attribute_to_layer_input else "output"
    if layer is None:
        if attribute_to_layer_input:
            raise ValueError("attribute_to_layer_input=True explains a layer's input: pass layer=")
        if model is None:
            raise TypeError(
                "cannot find the layer: forward_func is not an nn.Module "
                f"({type(forward_func).__name__}); pass layer= (the module whose output the "
                "head pools) and classifier= explicitly"
            )
        if classifier is not None and not isinstance(classifier, nn.Module):
            raise ValueError(
                "layer=None finds the layer from the head module's input; with "
                "classifier=(weight, bias), pass layer= too"
            )
    if classifier is None:
        if model is None:
            raise TypeError(
                "cannot search for the classifier head: forward_func is not an nn.Module "
                f"({type(forward_func).__name__}); pass classifier= explicitly"
            )
        heads = head_candidates(model)
    elif layer is None:
        heads = [(_module_name(model, classifier), classifier)]  # type: ignore[arg-type, list-item]
    else:
        heads = []
    captured = capture(
        forward_func,
        inputs,
        additional_forward_args,
        layer,
        attribute_to_layer_input=attribute_to_layer_input,
        heads=heads,
        match=classifier is None,
        follow=model if layer is None else None,
    )
    logits = captured.logits
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise ValueError(_logits_error(logits, model))
    head = captured.head
    head_name = None
    if classifier is None:
        if head is None:
            last = captured.last_run
            raise _not_gap(
                "no nn.Linear or 1x1 convolution of the model outputs its logits",
                captured,
                None if last is None else last.inputs.shape[1],
            )
        classifier, head_name = head.module, head.name  # type: ignore[assignment]
    weight, bias = head_parameters(classifier)  # type: ignore[arg-type]
    described = (
        "head " + describe_module(head_name, classifier)  # type: ignore[arg-type]
        if head_name is not None
        else "classifier"
    )
    if captured.value is None:  # the layer was to be found and was not
        if head is None:
            raise ValueError(
                f"the classifier {describe_module(heads[0][0], heads[0][1])} never ran on "
                "pooled features (one row per example) in the forward pass, so the layer it "
                "pools cannot be found: pass layer="
            )
        if captured.averaged_last is not None:
            raise _channels_last(head, captured, weight.shape[1])
        training = model is not None and model.training
        raise _not_gap(
            f"the logits come from {describe_module(head.name, head.module)}, whose input is "
            "not the average over positions of any module's output (the model transforms the "
            "pooled features before the head, e.g. a norm, an MLP or a class token, or "
            "computes the map it pools outside a module, e.g. x * mask"
            + ("; or dropout is active: call model.eval()" if training else "")
            + ")",
            captured,
            weight.shape[1],
        )
    activations = captured.value
    check_activations(activations, f"the layer's {where}")
    weight, bias = weight.to(activations.device), bias.to(activations.device)
    shape = tuple(activations.shape)
    if weight.shape[1] != activations.shape[1]:
        raise ValueError(
            f"the {described} takes {weight.shape[1]} input channels but the layer's {where} "
            f"has {activations.shape[1]}: explain the layer that feeds the pooled classifier"
            + (" (or omit layer= to find it)" if model is not None else "")
            + (
                _layout_hint(shape, weight.shape[1])
                or _plane_hint(shape, input_plane(inputs, len(shape)))
                or "; if the head is not global-average-pooling + linear (an MLP, or a head on "
                "the flattened map as in VGG), use InfoGradCam, the gradient form"
            )
        )
    if weight.shape[0] != logits.shape[1]:
        raise ValueError(
            f"the classifier has {weight.shape[0]} classes but forward_func returns "
            f"{logits.shape[1]} logits: it is not the model's output layer. CAM-style maps "
            "need a global-average-pooling + linear head: omit classifier= to find the head "
            "from the forward pass, or use InfoGradCam, the gradient form, for other heads"
        )
    options = []
    if captured.layer_name is None:
        options.append("explain the last layer before global average pooling")
    if head_name is None:
        options.append("check classifier=")
    if model is not None and model.training:
        options.append("put the model in eval mode (dropout is active in train mode)")
    options.append("use InfoGradCam, the gradient form, which works for any differentiable head")
    advice = ", ".join(options[:-1]) + (", or " if len(options) > 1 else "") + options[-1]
    check_gap_head(
        activations,
        logits,
        weight,
        bias,
        "not a global-average-pooling + linear head: the model's logits are not a linear "
        f"function of the global average of the layer's {where} (logits != W mean(A) + b for "
        f"some class), so CAM-style maps would not explain them. {advice[0].upper()}"
        f"{advice[1:]}",
    )
    return GapCapture(activations, logits, weight, bias, captured.layer_name, head_name)


# --------------------------------------------------------------------------- the gradient form


def capture_gradient(
    forward_func: Callable[..., Any],
    inputs: Tensor | tuple[Tensor, ...],
    target: TargetLike,
    additional_forward_args: Any,
    layer: nn.Module,
    attribute_to_layer_input: bool,
    score: Callable[[Tensor, Tensor], Tensor],
    to_grid: Callable[[Tensor], Tensor] | None,
) -> tuple[Tensor, Tensor]:
    """One forward pass with the layer's value swapped for a leaf, one backward pass of
    ``score(logits, target).sum()``: the activations and gradients as ``(N, C, *spatial)``.

    Without ``to_grid``, a value that looks channels-last or like tokens is refused: its last
    dimension is the width of the pooled features (:func:`_layout_hint`), or its dimensions
    before the last are the input's plane (:func:`channels_last_evidence`).

    Warns (pointing at the caller of ``attribute``) when the gradient is zero everywhere.
    """
    model = model_of(forward_func)
    where = "input" if attribute_to_layer_input else "output"
    # inference_mode(False) lets the method run inside torch.inference_mode(); the forward runs
    # under no_grad until the layer (its hook turns grad on), and leaving no_grad restores the
    # caller's grad mode.
    with torch.inference_mode(False):
        captured = capture(
            forward_func,
            inputs,
            additional_forward_args,
            layer,
            attribute_to_layer_input=attribute_to_layer_input,
            as_leaf=True,
            heads=head_candidates(model) if model is not None else (),
        )
        logits, leaf = captured.logits, captured.value
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise ValueError(_logits_error(logits, model))
        target = format_target(target, logits.detach())
        with torch.enable_grad():
            total = score(logits, target).sum()
        gradient = layer_gradient(total, leaf)
        if gradient is None:
            raise ValueError(
                f"the model's logits do not depend on the layer's {where}: explain a layer on "
                "the path to the output"
            )
        activations = leaf.detach()
    head = captured.head
    # The widths of the pooled features: the head's input, and that of the first linear layer
    # run on pooled features after the layer (an MLP head's first layer, as in timm's MambaOut).
    widths = [run.inputs.shape[1] for run in (head, captured.next_run) if run is not None]
    shape = tuple(activations.shape)
    in_features = _layout_width(shape, widths)
    full_gradient = gradient
    if to_grid is None:
        if len(shape) - 2 not in SPATIAL_DIMS:
            raise ValueError(
                f"the layer's {where} must be a grid N x C x h x w (or N x C x L, "
                f"N x C x d x h x w), got {shape}: pass reshape=(h, w) for transformer tokens "
                "or a function for other layouts"
            )
        if _layout_hint(shape, in_features):
            raise ValueError(_layout_error(shape, in_features, where))
        evidence = channels_last_evidence(shape, input_plane(inputs, len(shape)))
        if evidence:
            raise ValueError(_plane_error(shape, evidence, where))
    else:
        activations, gradient = to_grid(activations), to_grid(gradient)
        if activations.dim() - 2 not in SPATIAL_DIMS or gradient.shape != activations.shape:
            raise ValueError(
                f"the layer's {where} must be a grid N x C x h x w (1 to 3 spatial dimensions), "
                f"got {tuple(activations.shape)} from {shape}: reshape must map it to "
                "(N, C, h, w)"
            )
        grid = tuple(activations.shape)
        in_features = _layout_width(grid, widths)
        if _layout_hint(grid, in_features):
            raise ValueError(
                f"reshape turns the layer's {where} into {grid}, whose last dimension is the "
                f"{in_features} pooled features of the head (tokens or channels last): reshape "
                "must map it to a channels-first grid (N, C, *spatial)"
            )
    if not bool(gradient.any()):  # one reduction and one sync: worth the warning
        warnings.warn(_zero_gradient_message(full_gradient, head, where), stacklevel=4)
    return activations, gradient


def _layout_width(shape: tuple[int, ...], widths: Sequence[int]) -> int | None:
    """The first of ``widths`` that makes ``shape`` look channels-last (:func:`_layout_hint`),
    else the first of them (None when there is none)."""
    return next((w for w in widths if _layout_hint(shape, w)), widths[0] if widths else None)


def _layout_error(shape: tuple[int, ...], in_features: int | None, where: str) -> str:
    if len(shape) == 3:
        return (
            f"the layer's {where} {shape} looks like transformer tokens (N, L, D), not a grid "
            f"N x C x L: its last dimension is the head's {in_features} pooled features; pass "
            "reshape=(h, w) for transformer tokens (the last h * w tokens are the patches), or "
            "reshape=lambda t: t.unsqueeze(-1) if it is a channels-first 1-D map"
        )
    return (
        f"the layer's {where} {shape} looks channels-last (N, *spatial, C), not N x C x "
        f"*spatial: its last dimension is the head's {in_features} pooled features (a Swin "
        f"stage or a ConvNeXt block); pass reshape=lambda t: t.permute("
        f"{_channels_first(len(shape))})"
    )


def _plane_error(shape: tuple[int, ...], evidence: str, where: str) -> str:
    return (
        f"the layer's {where} {shape} looks channels-last (N, *spatial, C), not N x C x "
        f"*spatial: {evidence} (a Swin stage, or the inside of a ConvNeXt block). Pass "
        f"reshape=lambda t: t.permute({_channels_first(len(shape))}) to read it as "
        "channels-last, or reshape=lambda t: t if it really is channels-first"
    )


def _zero_gradient_message(full_gradient: Tensor, head: HeadRun | None, where: str) -> str:
    message = (
        f"the gradient of the contrast logit with respect to the layer's {where} is zero for "
        "every example, so the map is zero: "
    )
    if bool(full_gradient.any()):
        return message + (
            "the entries that reshape keeps get no gradient. With a class-token head, the patch "
            "tokens leaving the last block never reach the class token: explain the last "
            "block's input norm (encoder.layers[-1].ln_1 in torchvision, blocks[-1].norm1 in "
            "timm) or an earlier block"
        )
    weight = None if head is None else getattr(head.module, "weight", None)
    if head is not None and isinstance(weight, Tensor) and not bool(weight.any()):
        return message + (
            f"the head {describe_module(head.name, head.module)} has all-zero weights (untrained "
            "torchvision and timm vision transformers and MLP-Mixers start with a zero head): "
            "load trained weights"
        )
    return message + (
        "the score does not depend on the layer's value for these inputs (a zero or dead "
        "path between the layer and the logits)"
    )


# --------------------------------------------------------------------------- the private bases


class CaptureAttribution(LayerAttribution):
    """Private base of the attributions: the layer, the model check, the optional ReLU."""

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module | None,
        device_ids: list[int] | None = None,
    ) -> None:
        if layer is not None and not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
        forward_func = eager_forward(forward_func)
        check_forward_func(forward_func, device_ids)
        LayerAttribution.__init__(self, forward_func, layer)

    @staticmethod
    def _finish(attributions: Tensor, relu_attributions: bool) -> Tensor:
        """The map, or its positive part (Captum's ``relu_attributions``)."""
        return F.relu(attributions) if relu_attributions else attributions


class GapHeadAttribution(CaptureAttribution):
    """Private base of the CAM family: the head (given or found) and its GAP check."""

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: nn.Module | None = None,
        classifier: Classifier | None = None,
        *,
        device_ids: list[int] | None = None,
    ) -> None:
        if classifier is not None:
            head_parameters(classifier)  # fail early on a malformed head
        super().__init__(forward_func, layer, device_ids)
        self.classifier = classifier

    def _evaluate(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetLike,
        additional_forward_args: Any,
        attribute_to_layer_input: bool,
    ) -> tuple[GapCapture, Tensor]:
        """One checked forward pass and the target classes."""
        evaluation = capture_gap_head(
            self.forward_func,
            inputs,
            additional_forward_args,
            self.layer,
            self.classifier,
            attribute_to_layer_input,
        )
        return evaluation, format_target(target, evaluation.logits)
