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


def use_style() -> None:
    """Apply the project's figure style (seaborn 'whitegrid', readable sizes, tight layout)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({
        "figure.dpi": 100,
        "figure.autolayout": True,
        "axes.titlesize": "medium",
        "image.cmap": "viridis",
    })


def label(ax, title: str, xlabel: str | None = None, ylabel: str | None = None):
    """Set a title and axis labels in one call; returns ``ax``."""
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax


def image_grid(images, titles=None, ncols: int = 8, cmap=None, suptitle: str | None = None,
               size: float = 1.6, vmin=None, vmax=None):
    """Show a list of images (HxW or HxWx3 arrays, or CxHxW tensors) in a grid; returns the figure."""
    import numpy as np

    images = [_to_hwc(im) for im in images]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            im = images[i]
            ax.imshow(im, cmap=cmap if im.ndim == 2 else None, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize="small")
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
