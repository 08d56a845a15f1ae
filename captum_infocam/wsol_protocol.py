r"""The WSOL protocol of Choe et al. (CVPR 2020): choose on ``train-fullsup``, report on ``test``.

Everything a WSOL method needs beyond image labels (its hyperparameters, such as infoCAM's
window ``region_size`` and ``contrast``, and the score-map threshold :math:`\tau` that turns a
map into a box) is chosen on the small fully supervised split (``val`` in the metadata layout,
``train-fullsup`` in the paper); the ``test`` split is evaluated once, at that choice.

* Hyperparameters: evaluate every setting on ``val`` and keep the best by the split's
  threshold-free metric: MaxBoxAccV2 (boxes) or PxAP (masks).
* Threshold: :func:`best_thresholds` reads the best :math:`\tau` per IoU threshold
  :math:`\delta` off the ``val`` result; evaluate ``test`` on the same threshold grid, and
  :func:`box_accuracy_at` reads BoxAcc at those thresholds off the ``test`` result. GT-known
  and top-1 loc at the chosen :math:`\tau` come from the ``test`` accumulator built with
  ``fixed_threshold=`` that :math:`\tau`
  (:class:`~captum_infocam.localization.BoxLocalizationMetrics`).
* Choe et al. report MaxBoxAcc, MaxBoxAccV2 and PxAP on ``test``, maxima over every threshold
  (threshold-free by construction); BoxAcc at the ``val`` threshold is what a deployed
  localiser, which must commit to one :math:`\tau`, achieves.

Both functions read a :class:`~captum_infocam.localization.BoxLocalizationResult` and compute
nothing new, so a sharded evaluation (whose ``compute()`` sums over the processes) gives the
same choice on every process.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from captum_infocam._validation import one_or_each
from captum_infocam.localization import BoxLocalizationResult

__all__ = ["best_thresholds", "box_accuracy_at"]


def _curves(result: BoxLocalizationResult, multi_contour: bool) -> Tensor:
    if not isinstance(result, BoxLocalizationResult):
        raise TypeError(
            f"result must be a BoxLocalizationResult (BoxLocalizationMetrics.compute()), got "
            f"{type(result).__name__}"
        )
    if not isinstance(multi_contour, bool):
        raise TypeError(f"multi_contour must be a bool, got {type(multi_contour).__name__}")
    return result.box_accuracy_v2 if multi_contour else result.box_accuracy


def best_thresholds(result: BoxLocalizationResult, multi_contour: bool = False) -> Tensor:
    r"""The map threshold of best BoxAcc at each IoU threshold: the choice made on ``val``.

    Ties go to the smallest threshold, as for
    :attr:`~captum_infocam.localization.BoxLocalizationResult.best_threshold` (which this
    returns for ``multi_contour=False``).

    Args:
        result (BoxLocalizationResult): the metrics of the selection split.
        multi_contour (bool, optional): choose on BoxAcc with every contour (the curves of
            MaxBoxAccV2) instead of the largest contour. Default: ``False``.

    Returns:
        *Tensor* ``(D,)`` float64: one threshold per IoU threshold of ``result``.

    Raises:
        TypeError: if ``result`` is not a ``BoxLocalizationResult``.

    Examples::

        >>> from captum_infocam.localization import BoxLocalizationMetrics, threshold_grid
        >>> maps = torch.zeros(2, 16, 16)
        >>> maps[:, 4:12, 4:12] = torch.linspace(0.2, 1.0, 8)  # a ramp across the object
        >>> val = BoxLocalizationMetrics(threshold_grid(10), iou_thresholds=(0.5, 0.7))
        >>> val.update(maps, torch.tensor([[4, 4, 11, 11], [8, 4, 11, 11]]))
        >>> best_thresholds(val.compute())  # at IoU 0.5 and 0.7
        tensor([0.4000, 0.0000], dtype=torch.float64)
    """
    curves = _curves(result, multi_contour)
    return result.thresholds[curves.argmax(dim=1)]  # argmax: the first, smallest, maximum


def box_accuracy_at(
    result: BoxLocalizationResult,
    thresholds: Tensor | Sequence[float] | float,
    multi_contour: bool = False,
) -> Tensor:
    r"""BoxAcc of a split at map thresholds chosen on another split.

    ``result`` must have been computed on a threshold grid that contains the chosen
    thresholds, e.g. the same :func:`~captum_infocam.localization.threshold_grid` for ``val``
    and ``test``: the value is then read off the curves, exactly as if ``test`` had been
    evaluated at those thresholds alone.

    Args:
        result (BoxLocalizationResult): the metrics of the reported split.
        thresholds (Tensor, sequence of float or float): one threshold per IoU threshold of
            ``result`` (``(D,)``, e.g. :func:`best_thresholds` of the ``val`` result), or
            one threshold for all.
        multi_contour (bool, optional): BoxAcc with every contour (MaxBoxAccV2's boxes)
            instead of the largest contour. Default: ``False``.

    Returns:
        *Tensor* ``(D,)`` float64 in ``[0, 1]``: BoxAcc at each IoU threshold and its map
        threshold; with ``multi_contour=True`` and IoU thresholds ``(0.3, 0.5, 0.7)`` its mean
        is the fixed-threshold counterpart of MaxBoxAccV2.

    Raises:
        TypeError: if ``result`` is not a ``BoxLocalizationResult``.
        ValueError: if the number of thresholds is neither 1 nor ``D``, or a threshold is not
            on ``result``'s grid.

    Examples::

        >>> from captum_infocam.localization import BoxLocalizationMetrics, threshold_grid
        >>> maps = torch.zeros(2, 16, 16)
        >>> maps[:, 4:12, 4:12] = torch.linspace(0.2, 1.0, 8)
        >>> test = BoxLocalizationMetrics(threshold_grid(10), iou_thresholds=(0.5, 0.7))
        >>> test.update(maps, torch.tensor([[4, 4, 11, 11], [4, 4, 9, 11]]))
        >>> result = test.compute()
        >>> box_accuracy_at(result, [0.4, 0.0])  # the thresholds chosen on val
        tensor([0.5000, 0.5000], dtype=torch.float64)
        >>> result.max_box_accuracy  # the best threshold of test itself
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    curves = _curves(result, multi_contour)
    grid = result.thresholds
    try:
        chosen = torch.as_tensor(thresholds, dtype=torch.float64).detach().cpu().reshape(-1)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"thresholds must be a float or a 1-D sequence of floats, got {thresholds!r}"
        ) from error
    chosen = one_or_each(chosen, curves.shape[0], "thresholds", "IoU threshold")
    distance = (grid.view(1, -1) - chosen.view(-1, 1)).abs()
    column = distance.argmin(dim=1)
    off_grid = distance.gather(1, column.view(-1, 1)).view(-1) > 1e-12
    if bool(off_grid.any()):
        raise ValueError(
            f"thresholds {chosen[off_grid].tolist()} are not on the result's threshold grid: "
            "evaluate this split on the grid the thresholds were chosen on (the same "
            "threshold_grid for val and test)"
        )
    return curves.gather(1, column.view(-1, 1)).view(-1)
