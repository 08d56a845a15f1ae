"""Input handling shared by the localisation metrics (internal).

Every public function of :mod:`captum_infocam.localization` validates its maps, thresholds,
masks and NaN policy here, so that each check is written once and its error message is the
same everywhere. Nothing here is public API: the names carry no underscore because the
module itself is private.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

NAN_POLICIES = ("raise", "zero")


def as_maps(maps: Tensor, name: str = "maps", check_finite: bool = True) -> Tensor:
    """Validate maps ``(N, H, W)`` or ``(N, 1, H, W)`` and return them as ``(N, H, W)``."""
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(maps).__name__}")
    if not maps.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {maps.dtype}")
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.dim() != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W) or (N, 1, H, W), got {tuple(maps.shape)}"
        )
    if maps.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(maps.shape)}")
    if check_finite and not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return maps


def as_unit_interval(values: Tensor | Sequence[float], name: str, device: torch.device) -> Tensor:
    """Validate a non-empty 1-D sequence of numbers in ``[0, 1]``, returned as float64."""
    if isinstance(values, Tensor):
        tensor = values.detach().to(device=device, dtype=torch.float64)
    else:
        try:
            tensor = torch.as_tensor(values, dtype=torch.float64, device=device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a 1-D sequence of floats, got {values!r}") from error
    if tensor.dim() == 0:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence, got shape {tuple(tensor.shape)}"
        )
    if not bool(((tensor >= 0) & (tensor <= 1)).all()):
        raise ValueError(f"{name} must lie in [0, 1], got {tensor.tolist()}")
    return tensor


def check_nan_policy(nan_policy: str) -> None:
    """Raise unless ``nan_policy`` is ``"raise"`` or ``"zero"``."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")


def map_ranges(maps: Tensor, nan_policy: str) -> tuple[Tensor, Tensor, Tensor | None]:
    """Per-map float64 minimum and span ``max - min``, ``(N,)`` each, checked in one sync.

    Returns ``(low, span, nan_maps)``: ``nan_maps`` is the ``(N,)`` bool mask of the maps
    holding NaN (whose ``low`` is 0 and ``span`` 0) under ``nan_policy="zero"``, or ``None``
    when no map does. Raises on infinite values, on NaN under ``"raise"``, and on a span
    beyond float64.
    """
    check_nan_policy(nan_policy)
    flat = maps.reshape(maps.shape[0], -1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)  # on CPU, much faster than aminmax
    low, high = low.double(), high.double()
    span = high - low
    has_nan = torch.isnan(low) | torch.isnan(high)  # amin and amax propagate NaN
    bad_range = ~torch.isfinite(span) & ~has_nan
    any_nan, any_bad_range = torch.stack([has_nan.any(), bad_range.any()]).tolist()
    if any_bad_range:
        if bool((bad_range & (torch.isinf(low) | torch.isinf(high))).any()):
            raise ValueError("maps must be finite (no infinity)")
        index = int(bad_range.nonzero()[0])
        raise ValueError(
            f"maps[{index}]: max - min overflows float64 ({float(high[index]):.3g} - "
            f"{float(low[index]):.3g}); rescale the maps"
        )
    if not any_nan:
        return low, span, None
    if nan_policy == "raise":
        index = int(has_nan.nonzero()[0])
        raise ValueError(
            f"maps[{index}] contains NaN; pass nan_policy='zero' to score a map with NaN as a "
            "constant map (a miss), as the reference evaluation does"
        )
    zero = torch.zeros((), dtype=torch.float64, device=maps.device)
    return torch.where(has_nan, zero, low), torch.where(has_nan, zero, span), has_nan


def as_increasing_thresholds(
    thresholds: Tensor | Sequence[float], device: torch.device, why: str
) -> Tensor:
    """Validate strictly increasing thresholds in ``[0, 1]``, returned as float64;
    ``why`` completes the error message (what needs them increasing)."""
    taus = as_unit_interval(thresholds, "thresholds", device)
    if taus.numel() > 1 and not bool((taus[1:] > taus[:-1]).all()):
        raise ValueError(f"thresholds must be strictly increasing {why}, got {taus.tolist()}")
    return taus


def as_histogram_edges(thresholds: Tensor | Sequence[float], device: torch.device) -> Tensor:
    """PxAP histogram edges: the strictly increasing thresholds in ``[0, 1)``, then ``1, 2, 3``."""
    taus = as_increasing_thresholds(thresholds, device, "for PxAP")
    if float(taus[-1]) >= 1.0:
        raise ValueError("thresholds must be below 1 for PxAP (1 is the first fixed edge)")
    return torch.cat([taus, torch.tensor([1.0, 2.0, 3.0], dtype=taus.dtype, device=device)])


def as_masks(masks: Tensor, shape: torch.Size, name: str, device: torch.device) -> Tensor:
    """Validate bool or 0/1 masks of the maps' shape; return them as bool on ``device``."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(masks).__name__}")
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != shape:
        raise ValueError(
            f"{name} must have the maps' shape {tuple(shape)}, got {tuple(masks.shape)}"
        )
    if masks.dtype != torch.bool:
        if masks.dtype.is_floating_point or masks.is_complex():
            raise TypeError(f"{name} must be a bool or integer 0/1 tensor, got {masks.dtype}")
        if not bool(((masks == 0) | (masks == 1)).all()):
            raise ValueError(f"{name} must hold only 0 and 1")
        masks = masks.bool()
    return masks.to(device)
