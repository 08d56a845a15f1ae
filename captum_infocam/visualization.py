r"""Pictures of maps: overlays with boxes, and grids that compare methods across examples.

Built on :func:`captum.attr.visualization.visualize_image_attr`, so the maps are normalised and
coloured as Captum does, with localisation boxes drawn on top. Like Captum, every function
returns ``(figure, axes)``. Figures are made without :mod:`matplotlib.pyplot` (so they hold no
global state and need no closing) unless ``show=True``, which draws them with pyplot and calls
:func:`matplotlib.pyplot.show`.

Boxes are integer tensors of shape ``(B, 4)`` (or ``(4,)``) with *inclusive* pixel coordinates
``(x1, y1, x2, y2)``, the convention of :mod:`captum_infocam.localization`: a box covers
``x2 - x1 + 1`` columns, and is drawn along the outer edges of its border pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import visualization as captum_visualization
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

__all__ = [
    "PREDICTED_BOX_COLOR",
    "TRUE_BOX_COLOR",
    "BoxesLike",
    "as_hwc_array",
    "compare_maps",
    "draw_boxes",
    "overlay_map",
]

BoxesLike = Tensor | Sequence[Sequence[int]]
"""Boxes ``(B, 4)`` or one box ``(4,)``, inclusive ``(x1, y1, x2, y2)`` integer pixels."""

TRUE_BOX_COLOR = "lime"
PREDICTED_BOX_COLOR = "red"


def as_hwc_array(tensor: Tensor) -> np.ndarray:
    """A ``(C, H, W)`` or ``(H, W)`` tensor as the ``(H, W, C)`` NumPy array Captum plots.

    Captum's :func:`~captum.attr.visualization.visualize_image_attr` takes channels-last NumPy
    arrays; images and maps in PyTorch are channels-first tensors.

    Args:
        tensor (Tensor): an image or map of shape ``(C, H, W)``, ``(H, W)`` or ``(1, C, H, W)``,
            on any device, in any dtype.

    Returns:
        *numpy.ndarray* of shape ``(H, W, C)`` (``C = 1`` for a 2-D tensor), float32, a copy.

    Examples::

        >>> as_hwc_array(torch.rand(3, 32, 48)).shape
        (32, 48, 3)
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    array = tensor.detach()
    if array.dim() == 4 and array.shape[0] == 1:
        array = array[0]
    if array.dim() == 2:
        array = array[None]
    if array.dim() != 3:
        raise ValueError(
            f"tensor must have shape (C, H, W), (H, W) or (1, C, H, W), got {tuple(tensor.shape)}"
        )
    return array.permute(1, 2, 0).to("cpu", torch.float32).numpy().copy()


def _as_boxes(boxes: BoxesLike, name: str) -> Tensor:
    """Check boxes and return them as a ``(B, 4)`` long tensor on the CPU."""
    tensor = torch.as_tensor(boxes)
    if tensor.numel() == 0:  # no boxes, e.g. [] or an empty (0, 4) tensor
        return torch.zeros(0, 4, dtype=torch.long)
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer pixel coordinates (x1, y1, x2, y2), got {tensor.dtype}"
        )
    if tensor.dim() == 1 and tensor.numel() == 4:
        tensor = tensor[None]
    if tensor.dim() != 2 or tensor.shape[1] != 4:
        raise ValueError(f"{name} must have shape (B, 4) or (4,), got {tuple(tensor.shape)}")
    tensor = tensor.long().cpu()
    x1, y1, x2, y2 = tensor.unbind(1)
    if bool(((x2 < x1) | (y2 < y1)).any()):
        raise ValueError(f"{name} must satisfy x1 <= x2 and y1 <= y2 (inclusive corners)")
    return tensor


def draw_boxes(
    axis: Axes,
    boxes: BoxesLike,
    color: str = TRUE_BOX_COLOR,
    label: str | None = None,
    linewidth: float = 2.0,
) -> list[Rectangle]:
    """Draw boxes with inclusive pixel coordinates on an axis showing an image.

    A box ``(x1, y1, x2, y2)`` is drawn from ``(x1 - 0.5, y1 - 0.5)`` with width
    ``x2 - x1 + 1`` and height ``y2 - y1 + 1``: along the outer edges of its border pixels, as
    :func:`matplotlib.pyplot.imshow` centres pixel ``(x, y)`` at ``(x, y)``.

    Args:
        axis (matplotlib.axes.Axes): the axis, already showing the image.
        boxes (Tensor or sequence): integer boxes of shape ``(B, 4)`` or ``(4,)``.
        color (str, optional): edge colour. Default: ``"lime"``
        label (str, optional): legend label, given to the first box only. Default: None
        linewidth (float, optional): edge width in points. Default: 2.0

    Returns:
        *list[matplotlib.patches.Rectangle]*: one patch per box.

    Examples::

        >>> fig, axis = overlay_map(info_map, image)
        >>> patches = draw_boxes(axis, torch.tensor([[4, 2, 20, 30]]), color="cyan", label="box")
    """
    patches = []
    for index, (x1, y1, x2, y2) in enumerate(_as_boxes(boxes, "boxes").tolist()):
        patch = Rectangle(
            (x1 - 0.5, y1 - 0.5),
            x2 - x1 + 1,
            y2 - y1 + 1,
            fill=False,
            edgecolor=color,
            linewidth=linewidth,
            label=label if index == 0 else None,
            clip_on=False,  # boxes on the image border stay whole
        )
        axis.add_patch(patch)
        patches.append(patch)
    return patches


def _new_figure(fig_size: tuple[float, float], show: bool) -> Figure:
    return plt.figure(figsize=fig_size) if show else Figure(figsize=fig_size)


def _map_at_image_size(attribution: Tensor, height: int, width: int) -> Tensor:
    """One example's map ``(h, w)``, ``(1, h, w)`` or ``(1, 1, h, w)`` at ``(height, width)``."""
    if not isinstance(attribution, Tensor):
        raise TypeError(f"attribution must be a torch.Tensor, got {type(attribution).__name__}")
    squeezed = attribution.detach()
    while squeezed.dim() > 2 and squeezed.shape[0] == 1:
        squeezed = squeezed[0]
    if squeezed.dim() != 2:
        raise ValueError(
            "attribution must be one example's map of shape (h, w), (1, h, w) or (1, 1, h, w), "
            f"got {tuple(attribution.shape)}"
        )
    grid = squeezed.float()[None, None]
    if grid.shape[-2:] != (height, width):
        grid = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
    return grid[0]


def overlay_map(
    attribution: Tensor,
    image: Tensor,
    true_boxes: BoxesLike | None = None,
    predicted_boxes: BoxesLike | None = None,
    *,
    method: str = "blended_heat_map",
    sign: str = "all",
    cmap: str | Colormap | None = None,
    alpha_overlay: float = 0.5,
    outlier_perc: float = 2,
    title: str | None = None,
    legend: bool = True,
    show_colorbar: bool = False,
    plt_fig_axis: tuple[Figure, Axes] | None = None,
    fig_size: tuple[float, float] = (6, 6),
    show: bool = False,
) -> tuple[Figure, Axes]:
    r"""One map over its image, with the true boxes and the predicted boxes.

    The map is upsampled bilinearly to the image, drawn with Captum's
    :func:`~captum.attr.visualization.visualize_image_attr` (its normalisation: values divided
    by the ``100 - outlier_perc`` percentile of their absolute values and clipped to
    :math:`[-1, 1]`), and the boxes are drawn on top (:func:`draw_boxes`): true boxes in
    ``TRUE_BOX_COLOR``, predicted ones in ``PREDICTED_BOX_COLOR``. A map with no value of the
    requested ``sign`` (e.g. ``sign="positive"`` on a map that is negative everywhere, where
    Captum would fail) shows the image alone, with a note in the title.

    Args:
        attribution (Tensor): one example's map, ``(h, w)``, ``(1, h, w)`` or ``(1, 1, h, w)``,
            e.g. ``InfoCAM(...).attribute(images)[n]``.
        image (Tensor): the image, ``(C, H, W)`` with values in ``[0, 1]`` (or ``[0, 255]``).
        true_boxes (Tensor or sequence, optional): ground-truth boxes ``(B, 4)``, inclusive
            integer ``(x1, y1, x2, y2)``. Default: None
        predicted_boxes (Tensor or sequence, optional): boxes predicted from the map, same form.
            Default: None
        method (str, optional): Captum's visualisation method: ``"blended_heat_map"``,
            ``"heat_map"``, ``"masked_image"``, ``"alpha_scaling"`` or ``"original_image"``.
            Default: ``"blended_heat_map"``
        sign (str, optional): which values to show: ``"all"``, ``"positive"``, ``"negative"``
            or ``"absolute_value"``. infoCAM and PMI maps are signed (nats), so the default
            keeps both signs. Default: ``"all"``
        cmap (str or Colormap, optional): colour map; Captum's default for the sign when None.
            Default: None
        alpha_overlay (float, optional): opacity of the blended heat map. Default: 0.5
        outlier_perc (float, optional): percentage of the largest absolute values clipped by
            the normalisation. Default: 2
        title (str, optional): axis title. Default: None
        legend (bool, optional): add a legend naming the box kinds when boxes are drawn.
            Default: True
        show_colorbar (bool, optional): add Captum's colour bar under the axis. Default: False
        plt_fig_axis (tuple[Figure, Axes], optional): draw on this figure and axis instead of a
            new one. Default: None
        fig_size (tuple[float, float], optional): size in inches of a new figure.
            Default: (6, 6)
        show (bool, optional): create the figure with pyplot and call
            :func:`matplotlib.pyplot.show`. Default: False

    Returns:
        *tuple[Figure, Axes]*: the figure and the axis drawn on.

    Examples::

        >>> maps = InfoCAM(model, model.layer4).attribute(images, target=labels)
        >>> fig, axis = overlay_map(maps[0], images[0], true_boxes=boxes[0])
        >>> fig.savefig("outputs/overlay.png")
    """
    if not isinstance(image, Tensor) or image.dim() != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"image must be a tensor of shape (C, H, W), got {shape}")
    boxes = {
        "true": None if true_boxes is None else _as_boxes(true_boxes, "true_boxes"),
        "predicted": None
        if predicted_boxes is None
        else _as_boxes(predicted_boxes, "predicted_boxes"),
    }
    height, width = image.shape[-2:]
    attr = as_hwc_array(_map_at_image_size(attribution, height, width))
    if plt_fig_axis is None:
        figure = _new_figure(fig_size, show)
        axis = figure.add_subplot()
    else:
        figure, axis = plt_fig_axis
    selected = {
        "all": attr,
        "positive": np.maximum(attr, 0),
        "negative": np.minimum(attr, 0),
        "absolute_value": attr,
    }.get(sign)
    if selected is None:
        raise ValueError(
            f"sign must be one of 'all', 'positive', 'negative', 'absolute_value', got {sign!r}"
        )
    if not np.any(selected):
        note = f"(no {sign} values)"
        title = f"{title} {note}" if title else note
        method, attr, sign = "original_image", np.ones_like(attr), "absolute_value"
    captum_visualization.visualize_image_attr(
        attr,
        as_hwc_array(image),
        method=method,
        sign=sign,
        plt_fig_axis=(figure, axis),
        outlier_perc=outlier_perc,
        cmap=cmap,
        alpha_overlay=alpha_overlay,
        show_colorbar=show_colorbar,
        title=title,
        use_pyplot=False,
    )
    drawn = []
    if boxes["true"] is not None:
        drawn += draw_boxes(axis, boxes["true"], TRUE_BOX_COLOR, "true")
    if boxes["predicted"] is not None:
        drawn += draw_boxes(axis, boxes["predicted"], PREDICTED_BOX_COLOR, "predicted")
    if legend and drawn:
        axis.legend(loc="lower right", fontsize="small", framealpha=0.6)
    if show:
        plt.show()
    return figure, axis


def compare_maps(
    images: Tensor,
    attributions: Mapping[str, Tensor],
    true_boxes: Sequence[BoxesLike] | None = None,
    predicted_boxes: Mapping[str, Sequence[BoxesLike]] | None = None,
    *,
    method: str = "blended_heat_map",
    sign: str = "all",
    cmap: str | Colormap | None = None,
    alpha_overlay: float = 0.5,
    outlier_perc: float = 2,
    show_image: bool = True,
    row_labels: Sequence[str] | None = None,
    cell_size: float = 2.5,
    show: bool = False,
) -> tuple[Figure, np.ndarray]:
    r"""A grid comparing methods across examples: one row per example, one column per method.

    Each cell is :func:`overlay_map` of one method's map for one example; the first column
    shows the image itself when ``show_image`` is set. True boxes are drawn in every cell of
    their example, each method's predicted boxes in its own cells. Each map is normalised on
    its own (Captum's convention), so colours compare rankings within a map, not values across
    maps.

    Args:
        images (Tensor): images of shape ``(N, C, H, W)`` with values in ``[0, 1]``.
        attributions (Mapping[str, Tensor]): method name to its maps, each ``(N, 1, h, w)``
            (any resolution; upsampled to the images). Columns follow the mapping's order.
        true_boxes (sequence, optional): ``N`` entries, the ground-truth boxes of each example
            (``(B_n, 4)`` integer tensors). Default: None
        predicted_boxes (Mapping[str, sequence], optional): method name to ``N`` entries of
            predicted boxes; methods left out get none. Default: None
        method (str, optional): Captum's visualisation method for the maps.
            Default: ``"blended_heat_map"``
        sign (str, optional): ``"all"``, ``"positive"``, ``"negative"`` or
            ``"absolute_value"``. Default: ``"all"``
        cmap (str or Colormap, optional): colour map. Default: None
        alpha_overlay (float, optional): opacity of blended heat maps. Default: 0.5
        outlier_perc (float, optional): percentage of outliers clipped. Default: 2
        show_image (bool, optional): add a first column with the plain image. Default: True
        row_labels (sequence of str, optional): ``N`` labels written left of the rows, e.g.
            the class names. Default: None
        cell_size (float, optional): side of one cell in inches. Default: 2.5
        show (bool, optional): create the figure with pyplot and call
            :func:`matplotlib.pyplot.show`. Default: False

    Returns:
        *tuple[Figure, numpy.ndarray]*: the figure and its axes, an array of shape
        ``(N, M + 1)`` (``(N, M)`` without the image column) for ``M`` methods.

    Examples::

        >>> maps = {
        ...     "CAM": ClassActivationMap(model, model.layer4).attribute(images, labels),
        ...     "infoCAM": InfoCAM(model, model.layer4).attribute(images, labels),
        ...     "infoGradCAM": InfoGradCam(model, model.layer4).attribute(images, labels),
        ... }
        >>> fig, axes = compare_maps(images, maps, true_boxes=boxes)
        >>> fig.savefig("outputs/comparison.png")
    """
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got {shape}")
    if not isinstance(attributions, Mapping) or not attributions:
        raise ValueError("attributions must be a non-empty mapping from method name to maps")
    num_examples = images.shape[0]
    for name, maps in attributions.items():
        if not isinstance(maps, Tensor) or maps.dim() != 4 or maps.shape[:2] != (num_examples, 1):
            shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
            raise ValueError(
                f"attributions[{name!r}] must have shape ({num_examples}, 1, h, w), got {shape}"
            )
    predicted_boxes = dict(predicted_boxes or {})
    unknown = set(predicted_boxes) - set(attributions)
    if unknown:
        raise ValueError(f"predicted_boxes names methods not in attributions: {sorted(unknown)}")
    per_example = {"true_boxes": true_boxes, "row_labels": row_labels}
    per_example.update({f"predicted_boxes[{k!r}]": v for k, v in predicted_boxes.items()})
    for name, values in per_example.items():
        if values is not None and len(values) != num_examples:
            raise ValueError(
                f"{name} must have one entry per image ({num_examples}), got {len(values)}"
            )

    columns = (["image"] if show_image else []) + list(attributions)
    figure = _new_figure((cell_size * len(columns), cell_size * num_examples), show)
    axes = figure.subplots(num_examples, len(columns), squeeze=False)
    for row in range(num_examples):
        truth = None if true_boxes is None else true_boxes[row]
        for column, name in enumerate(columns):
            axis = axes[row, column]
            common: dict[str, Any] = {
                "legend": False,
                "plt_fig_axis": (figure, axis),
                "title": name if row == 0 else None,
                "outlier_perc": outlier_perc,
            }
            if show_image and column == 0:
                image_only = torch.ones(images.shape[-2:])
                overlay_map(
                    image_only, images[row], truth, method="original_image", sign="all", **common
                )
            else:
                predicted = predicted_boxes.get(name)
                overlay_map(
                    attributions[name][row],
                    images[row],
                    truth,
                    None if predicted is None else predicted[row],
                    method=method,
                    sign=sign,
                    cmap=cmap,
                    alpha_overlay=alpha_overlay,
                    **common,
                )
        if row_labels is not None:
            axes[row, 0].set_ylabel(str(row_labels[row]))
    figure.tight_layout()
    if show:
        plt.show()
    return figure, axes
