"""One figure style for every notebook, and a helper that keeps figures titled and labelled."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

# Diverging map for signed scores (red = positive, blue = negative, as in Jung et al. Fig. 1 and 6).
SIGNED_CMAP = "RdBu_r"

# The readability rule every saved figure is held to (tests/test_notebooks.py checks the smoke run's):
# no visible text smaller than MIN_FONT_PT once the figure is shown at READING_WIDTH_PX (a report column,
# a notebook cell): a 2,800-px-wide gallery is shrunk to fit, and its 8-pt titles with it.
MIN_FONT_PT = 6.0
READING_WIDTH_PX = 1100
# the dpi notebooks save figures at (cnnexplain.notebook.results.Results.figure)
SAVE_DPI = 120

# The rest of the rule, kept by the helpers below and by use_style():
# - colour bars carry a label saying what the colour means (:func:`colorbar` refuses an empty one);
# - legends sit outside the data (:func:`legend_outside`), never over lines or points;
# - tick labels are not cut: full names or readable abbreviations (:func:`short_name`), never ``name[:9]``;
#   figures are saved with ``bbox_inches="tight"`` so nothing at the edge is clipped;
# - small images are drawn pixel for pixel (``image.interpolation: nearest``), not smoothed into a blur.


def use_style() -> None:
    """Apply the project's figure style (seaborn 'whitegrid', readable sizes, tight layout).

    Default sizes read at :data:`MIN_FONT_PT` or more on figures up to ~15 inches wide (the text is
    10-12 pt; a wider figure is shrunk to :data:`READING_WIDTH_PX` and its text with it).
    """
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({
        "figure.dpi": 100,
        "figure.autolayout": True,
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "legend.title_fontsize": 10,
        "figure.titlesize": 13,
        "image.cmap": "viridis",
        "image.interpolation": "nearest",   # 32-px images stay sharp, not smoothed into a blur
        "savefig.bbox": "tight",            # no label cut at the figure's edge
    })


def readable_pt(fig, dpi: float = SAVE_DPI, minimum: float = MIN_FONT_PT) -> float:
    """The smallest font size (pt) that still reads at ``minimum`` once ``fig`` (saved at ``dpi``) is shrunk
    to :data:`READING_WIDTH_PX`: ``minimum`` for a figure that fits, proportionally more for a wider one."""
    return minimum * max(1.0, fig.get_figwidth() * dpi / READING_WIDTH_PX)


def colorbar(fig, mappable, ax, label: str, **kwargs):
    """A colour bar beside ``ax`` (an Axes or a list of them) that says what its colour means.

    The bar is as tall as the axes it serves (``fraction``/``pad`` sized for an image panel), so its tick
    labels do not run into neighbouring titles; ``label`` is required (the readability rule).
    """
    if not str(label).strip():
        raise ValueError("colorbar() needs a label saying what the colour means (e.g. 'score w.r.t. Y1')")
    options = {"fraction": 0.046, "pad": 0.04}
    options.update(kwargs)
    bar = fig.colorbar(mappable, ax=ax, **options)
    bar.set_label(label)
    return bar


def legend_outside(ax, where: str = "right", **kwargs):
    """A legend beside (``where="right"``) or below (``"below"``) the axes, so it covers no data."""
    handles, labels = kwargs.pop("handles", None), kwargs.pop("labels", None)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if where == "right":
        options = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
    elif where == "below":
        options = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.3), "borderaxespad": 0.0,
                   "ncol": max(1, min(len(labels), 4))}
    else:
        raise ValueError(f"legend_outside(where={where!r}): use 'right' or 'below'")
    options.update({"frameon": False}, **kwargs)
    return ax.legend(handles, labels, **options)


def short_name(name: str, abbreviations: dict | None = None) -> str:
    """A readable short form of a condition or class name for a crowded title or tick: a known
    abbreviation (``"white_background"`` -> ``"white bg."``), else the name with ``_`` as spaces. Never
    cut mid-word (the rule: no clipped labels)."""
    table = {"white_background": "white bg.", "styled_correct": "styled ✓", "styled_incorrect": "styled ✗"}
    table.update(abbreviations or {})
    return table.get(name, str(name).replace("_", " "))


def label(ax, title: str, xlabel: str | None = None, ylabel: str | None = None):
    """Set a title and axis labels in one call; returns ``ax``."""
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax


def image_grid(images, titles=None, ncols: int = 8, cmap=None, suptitle: str | None = None,
               size: float = 1.6, vmin=None, vmax=None, max_width: float = 14.0):
    """Show a list of images (HxW or HxWx3 arrays, or CxHxW tensors) in a grid; returns the figure.

    Panels shrink so the grid is at most ``max_width`` inches wide (its titles stay readable at
    :data:`READING_WIDTH_PX`); images are drawn pixel for pixel.
    """
    images = [_to_hwc(im) for im in images]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    size = min(size, max_width / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            im = images[i]
            ax.imshow(im, cmap=cmap if im.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=max(9.0, readable_pt(fig)))
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _to_hwc(image):
    import numpy as np

    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def text_sizes(fig, dpi: float) -> list[tuple[str, float]]:
    """Every visible, non-empty text of ``fig`` with its size in points as read at ``READING_WIDTH_PX``
    (its font size times ``min(1, READING_WIDTH_PX / the figure's saved width in pixels)``)."""
    fig.canvas.draw()
    width_px = fig.get_figwidth() * dpi
    shrink = min(1.0, READING_WIDTH_PX / width_px)
    found = []
    for text in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize")):
        if not text.get_visible() or not str(text.get_text()).strip():
            continue
        try:
            if text.get_window_extent().width == 0:
                continue
        except (RuntimeError, TypeError):  # texts without a renderer position
            continue
        found.append((str(text.get_text())[:40], float(text.get_fontsize() * shrink)))
    return found


def small_text(fig, dpi: float, minimum: float = MIN_FONT_PT) -> list[tuple[str, float]]:
    """The texts of ``fig`` that break the readability rule (see :data:`MIN_FONT_PT`)."""
    return [(t, round(float(size), 2)) for t, size in text_sizes(fig, dpi) if size < minimum]
