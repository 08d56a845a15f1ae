"""Pictures: they render to a file with Agg and hold what they should (axes, one patch per box)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.patches import Rectangle

from captum_infocam.visualization import (
    PREDICTED_BOX_COLOR,
    TRUE_BOX_COLOR,
    as_hwc_array,
    compare_maps,
    draw_boxes,
    overlay_map,
)


def rectangles(axis):
    return [p for p in axis.patches if isinstance(p, Rectangle)]


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 24, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def maps() -> torch.Tensor:
    return torch.randn(2, 1, 6, 8, generator=torch.Generator().manual_seed(1))


def test_overlay_draws_map_at_image_size_and_one_patch_per_box(tmp_path, images, maps):
    true_boxes = torch.tensor([[2, 3, 10, 12], [20, 0, 31, 23]])
    predicted = torch.tensor([4, 4, 9, 15])  # one box, no batch dimension
    figures_before = plt.get_fignums()
    figure, axis = overlay_map(maps[0], images[0], true_boxes, predicted, title="infoCAM")
    assert plt.get_fignums() == figures_before  # no pyplot figure behind the caller's back
    path = tmp_path / "overlay.png"
    figure.savefig(path)
    assert path.stat().st_size > 0
    assert figure.axes == [axis] and axis.get_title() == "infoCAM"
    heat = np.asarray(axis.images[-1].get_array())
    assert heat.shape == (24, 32)
    patches = rectangles(axis)
    assert len(patches) == 3
    colors = [matplotlib.colors.to_hex(p.get_edgecolor()) for p in patches]
    assert colors == [matplotlib.colors.to_hex(TRUE_BOX_COLOR)] * 2 + [
        matplotlib.colors.to_hex(PREDICTED_BOX_COLOR)
    ]
    first = patches[0]  # inclusive corners (2, 3)-(10, 12): 9 columns, 10 rows
    assert (first.get_x(), first.get_y(), first.get_width(), first.get_height()) == (
        1.5,
        2.5,
        9,
        10,
    )
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["true", "predicted"]


def test_overlay_sign_of_the_map_is_kept(images):
    attribution = torch.tensor([[-1.0, 2.0], [3.0, -4.0]])
    _, axis = overlay_map(attribution, images[0, :, :2, :2], method="heat_map")
    shown = np.asarray(axis.images[-1].get_array())
    assert np.array_equal(np.sign(shown), np.sign(attribution.numpy()))


def test_overlay_of_a_map_without_values_of_the_sign_shows_the_image(images):
    negative = -torch.rand(6, 8)
    _, axis = overlay_map(negative, images[0], sign="positive", title="relu infoCAM")
    assert axis.get_title() == "relu infoCAM (no positive values)"
    assert len(axis.images) == 1  # the image alone, no heat map


def test_overlay_on_a_given_axis_and_show(monkeypatch, images, maps):
    figure = matplotlib.figure.Figure()
    left, right = figure.subplots(1, 2)
    got_figure, got_axis = overlay_map(maps[1], images[1], plt_fig_axis=(figure, right))
    assert got_figure is figure and got_axis is right and not left.images
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    figure, _ = overlay_map(maps[1], images[1], show=True)
    assert shown == [True] and figure.number in plt.get_fignums()
    plt.close(figure)


def test_compare_maps_grid(tmp_path, images, maps):
    attributions = {"CAM": maps, "infoCAM": -maps, "infoGradCAM": 2 * maps}
    true_boxes = [torch.tensor([[1, 1, 5, 5]]), torch.tensor([[0, 0, 3, 3], [8, 8, 20, 20]])]
    predicted = {"infoCAM": [torch.tensor([[2, 2, 6, 6]]), torch.zeros(0, 4, dtype=torch.long)]}
    figure, axes = compare_maps(
        images, attributions, true_boxes, predicted, row_labels=["cat", "dog"]
    )
    figure.savefig(tmp_path / "grid.png")
    assert axes.shape == (2, 4) and len(figure.axes) == 8
    assert [a.get_title() for a in axes[0]] == ["image", "CAM", "infoCAM", "infoGradCAM"]
    assert [a.get_title() for a in axes[1]] == [""] * 4
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["cat", "dog"]
    counts = [[len(rectangles(a)) for a in row] for row in axes]
    assert counts == [[1, 1, 2, 1], [2, 2, 2, 2]]
    assert all(len(a.images) == 1 for a in axes[:, 0])  # the image column has no heat map
    _, axes = compare_maps(images, attributions, show_image=False)
    assert axes.shape == (2, 3)


def test_as_hwc_array():
    tensor = torch.arange(24.0).reshape(2, 3, 4)
    array = as_hwc_array(tensor)
    assert array.shape == (3, 4, 2) and array.dtype == np.float32
    assert array[1, 2, 1] == tensor[1, 1, 2]
    assert as_hwc_array(tensor[0]).shape == (3, 4, 1)
    assert as_hwc_array(tensor[None]).shape == (3, 4, 2)
    assert as_hwc_array(tensor.to(torch.bfloat16)).dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        as_hwc_array(torch.zeros(2, 2, 3, 4))
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor"):
        as_hwc_array(np.zeros((3, 4)))


def test_box_and_argument_errors(images, maps):
    axis = matplotlib.figure.Figure().add_subplot()
    with pytest.raises(TypeError, match="integer pixel coordinates"):
        draw_boxes(axis, torch.tensor([[0.0, 0.0, 2.0, 2.0]]))
    with pytest.raises(ValueError, match=r"shape \(B, 4\) or \(4,\)"):
        draw_boxes(axis, torch.tensor([[0, 0, 2]]))
    with pytest.raises(ValueError, match="x1 <= x2 and y1 <= y2"):
        draw_boxes(axis, torch.tensor([[5, 0, 2, 2]]))
    with pytest.raises(ValueError, match=r"image must be a tensor of shape \(C, H, W\)"):
        overlay_map(maps[0], images)
    with pytest.raises(ValueError, match="one example's map"):
        overlay_map(maps, images[0])
    with pytest.raises(ValueError, match="sign must be one of"):
        overlay_map(maps[0], images[0], sign="both")
    with pytest.raises(ValueError, match=r"attributions\['CAM'\] must have shape \(2, 1, h, w\)"):
        compare_maps(images, {"CAM": maps[:1]})
    with pytest.raises(ValueError, match="non-empty mapping"):
        compare_maps(images, {})
    with pytest.raises(ValueError, match=r"true_boxes must have one entry per image \(2\)"):
        compare_maps(images, {"CAM": maps}, true_boxes=[torch.tensor([0, 0, 1, 1])])
    with pytest.raises(ValueError, match=r"methods not in attributions: \['PMI'\]"):
        compare_maps(images, {"CAM": maps}, predicted_boxes={"PMI": [None, None]})
