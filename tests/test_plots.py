"""The readability rule's helpers (cnnexplain.notebook.plots, issue 17 item 7)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnnexplain.notebook import plots  # noqa: E402


def test_colorbar_needs_a_label():
    fig, ax = plt.subplots()
    image = ax.imshow(np.random.rand(4, 4))
    with pytest.raises(ValueError, match="label"):
        plots.colorbar(fig, image, ax, " ")
    bar = plots.colorbar(fig, image, ax, "score")
    assert bar.ax.get_ylabel() == "score"
    plt.close(fig)


@pytest.mark.parametrize("where", ["right", "below"])
def test_legend_outside_covers_no_data(where):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    legend = plots.legend_outside(ax, where)
    fig.canvas.draw()
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes_box.x1 or box.y1 <= axes_box.y0, "the legend overlaps the axes"
    with pytest.raises(ValueError, match="right"):
        plots.legend_outside(ax, "inside")
    plt.close(fig)


def test_short_names_are_never_cut_mid_word():
    assert plots.short_name("white_background") == "white bg."
    assert plots.short_name("styled_incorrect") == "styled ✗"
    assert plots.short_name("some_condition") == "some condition"


def test_image_grid_stays_readable_when_wide():
    plots.use_style()
    fig = plots.image_grid([np.random.rand(8, 8) for _ in range(18)], [f"method {i}" for i in range(18)], ncols=18)
    assert fig.get_figwidth() <= 14.0 + 1e-9
    assert plots.small_text(fig, plots.SAVE_DPI) == []
    plt.close(fig)


def test_readable_pt_grows_with_the_figure_width():
    fig = plt.figure(figsize=(5, 3))
    assert plots.readable_pt(fig) == plots.MIN_FONT_PT
    fig.set_figwidth(2 * plots.READING_WIDTH_PX / plots.SAVE_DPI)
    assert plots.readable_pt(fig) == pytest.approx(2 * plots.MIN_FONT_PT)
    plt.close(fig)
