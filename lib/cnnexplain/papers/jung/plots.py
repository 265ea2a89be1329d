"""Figures for influential scores: signed score maps in the paper's colours (red = positive, blue =
negative; Jung et al. Fig. 1, 6, 8) with an optional outline, and per-filter bars (Fig. 7a)."""

from __future__ import annotations

import numpy as np

from cnnexplain.notebook.plots import SIGNED_CMAP


def _numpy(a):
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def symmetric_limit(*maps) -> float:
    """The largest |score| over ``maps`` (so several panels share one colour scale); 1e-12 if all zero."""
    return max(max(float(np.abs(_numpy(m)).max()) for m in maps), 1e-12)


def score_map(ax, scores, outline=None, limit: float | None = None, title: str | None = None,
              outline_level: float = 0.5, colorbar: bool = False):
    """Draw a 2-D score map on ``ax``: red positive, blue negative, white 0, symmetric colour scale.

    ``outline`` (same size) is drawn as a black contour at ``outline_level`` of its maximum (the digit or
    the class template the paper overlays). Returns the image artist.
    """
    scores = _numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f"score_map needs a 2-D map; got shape {scores.shape} (select a channel first)")
    limit = limit or symmetric_limit(scores)
    image = ax.imshow(scores, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit)
    if outline is not None:
        outline = _numpy(outline)
        if outline.max() > 0:
            ax.contour(outline, levels=[outline_level * outline.max()], colors="black", linewidths=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return image


def top_fraction_mask(scores, fraction: float = 0.05):
    """Boolean mask of the ``fraction`` highest (most positive) scores: the 'important pixels' of Fig. 8."""
    scores = _numpy(scores)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    k = max(1, int(round(fraction * scores.size)))
    threshold = np.partition(scores.ravel(), -k)[-k]
    return scores >= threshold
