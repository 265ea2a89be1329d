"""Figures of Jung et al.: signed score maps in the paper's colours (red = positive, blue = negative; Fig. 1,
6, 8) with an optional outline, and each notebook's figures: Fig. 2-5 (notebook 10), Fig. 1, 6, 7 (11),
Fig. 8 (12), plus the plot functions their explore() widgets call."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cnnexplain.methods.influential_scores.fast import influential_scores
from cnnexplain.notebook.plots import SIGNED_CMAP, label
from cnnexplain.papers.jung.synthetic import RELEVANT_FEATURES, rank_frequencies


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


# --- notebook 10: synthetic data (§II-C, §IV-A) -------------------------------------------------------------------

def toy_network_figure(toy):
    """Fig. 2: the toy network o = min(i1, i2) with each edge's weight and score, and the inputs' scores for
    the output beside the gradient and the scores the paper's printed values imply. ``toy``: a
    :class:`cnnexplain.papers.jung.analysis.ToyExample`."""
    fig, (ax_net, ax_bar) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.4, 1]})
    pos = {"i1": (0, 1), "i2": (0, 0), "h1": (1, 1), "h2": (1, 0), "o": (2, 0.5)}
    values = {"i1": float(toy.x[0, 0]), "i2": float(toy.x[0, 1]), "h1": float(toy.hidden[0]),
              "h2": float(toy.hidden[1]), "o": toy.output}
    h, o = toy.to_hidden, toy.to_output
    edges = [("i1", "h1", 1, h[0, 0], 0.5), ("i2", "h1", -1, h[0, 1], 0.22), ("i1", "h2", 1, h[1, 0], 0.22),
             ("i2", "h2", 0, h[1, 1], 0.5), ("h1", "o", -1, o[0], 0.5), ("h2", "o", 1, o[1], 0.5)]
    for a, b, weight, score, where in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        score = float(score)
        ax_net.plot([x0, x1], [y0, y1], color="tab:red" if score > 0 else "tab:blue" if score < 0 else "grey",
                    lw=1 + 4 * abs(score), zorder=1)
        ax_net.text(x0 + where * (x1 - x0), y0 + where * (y1 - y0) + 0.06, f"w={weight}, J={score:+.3f}",
                    fontsize=8, ha="center")
    for node, (x, y) in pos.items():
        ax_net.scatter([x], [y], s=900, color="white", edgecolor="black", zorder=2)
        ax_net.text(x, y, f"{node}\n{values[node]:g}", ha="center", va="center", fontsize=9, zorder=3)
    ax_net.set_xlim(-0.3, 2.3); ax_net.set_ylim(-0.3, 1.3)
    ax_net.set_xticks([0, 1, 2], ["input", "hidden", "output"]); ax_net.set_yticks([]); ax_net.grid(False)
    label(ax_net, f"Fig. 2 - toy network o = min(i1, i2), inputs ({values['i1']:g}, {values['i2']:g})", "layer", "")
    width = 0.27
    ax_bar.bar(np.arange(2) - width, toy.gradient, width, label="gradient")
    ax_bar.bar(np.arange(2), toy.input_to_output, width, label="influential score (definition)")
    ax_bar.bar(np.arange(2) + width, toy.paper_implied_input, width, label="implied by the paper's -1/2, 1/2")
    ax_bar.set_xticks([0, 1], [f"i1 = {values['i1']:g}", f"i2 = {values['i2']:g}"]); ax_bar.legend(fontsize=8)
    label(ax_bar, "Fig. 2 - scores of the inputs for the output o", "input", "score")
    return fig


def rank_frequency_figure(ranks: dict, target: str):
    """Fig. 3: histogram of the ranks of each data set's relevant inputs. ``ranks`` from
    :func:`cnnexplain.papers.jung.analysis.rank_table`."""
    names = [name for (name, t) in ranks if t == target]
    fig, axes = plt.subplots(1, len(names), figsize=(4.7 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        xs, r, _ = ranks[(name, target)]
        relevant = RELEVANT_FEATURES[name]
        counts = rank_frequencies(r, relevant)
        width = 0.8 / len(relevant)
        for k, feature in enumerate(relevant):
            ax.bar(np.arange(r.shape[1]) + (k - (len(relevant) - 1) / 2) * width, counts[k], width, label=f"X{feature}")
        ax.set_xticks(range(r.shape[1])); ax.legend(fontsize=8)
        label(ax, name, "rank (0 = highest influential score)", f"count of {len(xs)} samples")
    fig.suptitle(f"Fig. 3 - ranks of the relevant inputs by influential score w.r.t. {target}")
    return fig


def small_input_figure(centres, shares, small: float = 0.06):
    """Fig. 3 (cause): share of ranks >= 2 of X0, X1 against the input's value
    (:func:`cnnexplain.papers.jung.analysis.high_rank_by_value`)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for k, share in enumerate(shares):
        ax.plot(centres, share, marker="o", label=f"X{k}")
    ax.axvline(small, color="grey", ls="--", label=f"{small} (paper)")
    ax.legend()
    label(ax, "Fig. 3 (cause) - two-features: share of ranks >= 2 vs the input's value", "value of the input",
          "share of ranks >= 2")
    return fig


def layer_scores_figure(scores: dict, y1: float, dataset: str):
    """Fig. 4: one sample's scores of each layer w.r.t. Y0 (blue) and Y1 (red). ``scores``: ``{layer: (1, 2, nodes)}``;
    ``y1``: the sample's predicted Y1."""
    fig, axes = plt.subplots(len(scores), 1, figsize=(12, 2.5 * len(scores)), squeeze=False)
    for ax, (layer, s) in zip(axes[:, 0], scores.items()):
        s = s[0]
        nodes = np.arange(s.shape[1])
        width = 1.0 if len(nodes) > 20 else 0.4
        ax.bar(nodes, s[0], width=width, color="tab:blue", label="w.r.t. Y0")
        ax.bar(nodes, s[1], width=width, color="tab:red", alpha=0.6, label="w.r.t. Y1")
        ax.axhline(0, color="black", lw=0.5)
        label(ax, f"{layer}", "node", "influential score")
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Fig. 4 - influential scores for {dataset}, prediction ({1 - y1:.3f}, {y1:.3f})")
    return fig


def fig5_figure(y1, l2, trends: dict, peaks: dict, dataset: str):
    """Fig. 5: L2 scores w.r.t. Y1 at rising Y1 levels (heat map) and the score curves of the rising, falling
    and stationary nodes (``trends``) and of the held-out test's negative and positive peaks (``peaks``)."""
    fig, (ax_map, ax_lines) = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    limit = symmetric_limit(l2)
    image = ax_map.imshow(l2, aspect="auto", cmap=SIGNED_CMAP, vmin=-limit, vmax=limit)
    ax_map.set_yticks(range(len(y1)), [f"{v:.2f}" for v in y1]); ax_map.grid(False)
    fig.colorbar(image, ax=ax_map, label="influential score w.r.t. Y1")
    label(ax_map, "L2 scores (red positive, blue negative)", "L2 node", "predicted Y1")
    lines = [(trends["rising"], "rising", "green", "-"), (trends["falling"], "falling", "goldenrod", "-"),
             (trends["stationary"], "stationary", "grey", "-")]
    lines += [(peaks[f"{kind}_peak_node"], f"{kind} peak (held-out test)", color, "--")
              for kind, color in (("negative", "tab:blue"), ("positive", "tab:red")) if peaks[f"{kind}_peak_node"] is not None]
    for node, name, color, style in lines:
        ax_lines.plot(y1, l2[:, node], marker="o", color=color, ls=style, label=f"node {node} ({name})")
    ax_lines.axhline(0, color="black", lw=0.5); ax_lines.legend(fontsize=7)
    label(ax_lines, "peaks while Y1 rises", "predicted Y1", "influential score w.r.t. Y1")
    fig.suptitle(f"Fig. 5 - L2 influential scores w.r.t. Y1 while Y1 rises ({dataset})")
    return fig


def level_plotter(y1, l2):
    """For explore(): ``plot(level)`` draws the L2 scores w.r.t. Y1 at one Fig. 5 level."""
    limit = symmetric_limit(l2)

    def plot_level(level):
        fig, ax = plt.subplots(figsize=(11, 3.2))
        ax.bar(np.arange(l2.shape[1]), l2[level], width=1.0, color=np.where(l2[level] >= 0, "tab:red", "tab:blue"))
        ax.set_ylim(-limit, limit)
        label(ax, f"Fig. 5 - L2 scores w.r.t. Y1 at predicted Y1 = {y1[level]:.2f}", "L2 node", "influential score")
        return fig

    return plot_level


# --- notebook 11: MNIST (§IV-B) -------------------------------------------------------------------------------------

def input_score_figure(model, image, label_value: int, templates, fig_label: str):
    """Fig. 1 / 6: a digit and its input scores w.r.t. each of the 10 output nodes, one colour scale, the class
    templates as outlines. Returns ``(fig, scores)`` with scores (10, 28, 28)."""
    scores = influential_scores(model, image[None], source="input", target="output")[0, :, 0]
    limit = symmetric_limit(scores)
    fig, axes = plt.subplots(1, 12, figsize=(17, 2.2), gridspec_kw={"width_ratios": [1] * 11 + [0.08]})
    axes[0].imshow(image[0], cmap="gray_r"); axes[0].set_xticks([]); axes[0].set_yticks([])
    axes[0].set_title(f"input (label {label_value})", fontsize="small")
    for c in range(10):
        artist = score_map(axes[c + 1], scores[c], outline=templates[c], limit=limit, title=f"class {c}")
    fig.colorbar(artist, cax=axes[11], label="score")
    fig.suptitle(f"{fig_label} - input scores w.r.t. each output node (red positive, blue negative)")
    return fig, scores


def filter_scores_figure(model, image, label_value: int, found: dict, node: int):
    """Fig. 7: (a) filter scores, (b) the digit, (c) its input scores, and for four filters of decreasing
    importance (d) the kernel, (e) the kernel on the digit (L1 after ReLU), (f) that filter's L1 scores.
    ``found`` from :func:`cnnexplain.papers.jung.images.fig7_filter_scores`."""
    per_filter, order, names = found["per_filter"], found["order"], model.kernel_names
    n = len(per_filter)
    chosen = [order[0], order[n // 3], order[2 * n // 3], order[-1]]
    fig = plt.figure(figsize=(14, 13))
    grid = fig.add_gridspec(4, 6, height_ratios=[1.2, 1, 1, 1])
    ax = fig.add_subplot(grid[0, :])
    ax.bar(np.arange(1, n + 1), per_filter, color=np.where(per_filter >= 0, "tab:red", "tab:blue"))
    ax.set_xticks(np.arange(1, n + 1), [f"{i + 1} {k}" for i, k in enumerate(names)], rotation=90, fontsize=6)
    label(ax, f"(a) filter scores w.r.t. output node {node}", "filter", "sum of L1 scores")
    ax = fig.add_subplot(grid[1, 0:2]); ax.imshow(image[0], cmap="gray_r"); ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"(b) input, label {label_value}", fontsize="small")
    score_map(fig.add_subplot(grid[2:4, 0:2]), found["input_scores"], title=f"(c) input scores, class {node}",
              colorbar=True)
    for col, f in enumerate(chosen):
        ax = fig.add_subplot(grid[1, col + 2])
        ax.imshow(model.kernels41.weight[f, 0].numpy(), cmap="gray"); ax.set_xticks([]); ax.set_yticks([])
        rank = int(np.where(order == f)[0][0]) + 1
        ax.set_title(f"(d) filter {f + 1}: {names[f]}\nscore {per_filter[f]:+.2e} (rank {rank})", fontsize="small")
        ax = fig.add_subplot(grid[2, col + 2])
        ax.imshow(found["l1_values"][f], cmap="gray_r"); ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(f"(e) filter {f + 1} on the digit (L1)", fontsize="small")
        l1 = found["l1_scores"][f]
        score_map(fig.add_subplot(grid[3, col + 2]), l1,
                  title=f"(f) L1 scores, filter {f + 1}\n(own scale, max |s| {np.abs(_numpy(l1)).max():.1e})")
    fig.suptitle(f"Fig. 7 - filter scores of the hybrid CNN's {n} fixed kernels for a {node}")
    return fig


def class_filter_figure(mean_by_class, names):
    """Fig. 7 extension: mean filter scores w.r.t. the true class, one row per class."""
    fig, ax = plt.subplots(figsize=(14, 4))
    limit = symmetric_limit(np.nan_to_num(mean_by_class))
    image = ax.imshow(mean_by_class, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(names)), [f"{i + 1} {n}" for i, n in enumerate(names)], rotation=90, fontsize=6)
    ax.set_yticks(range(len(mean_by_class)))
    fig.colorbar(image, ax=ax, label="mean filter score")
    label(ax, "Fig. 7 (extension) - mean filter scores w.r.t. the true class, per class", "filter", "class")
    return fig


def digit_class_plotter(model, x, y, predicted, templates):
    """For explore(): ``plot(digit, output_class)`` draws a test digit's input scores w.r.t. one class."""
    def plot_digit_class(digit, output_class):
        scores = influential_scores(model, x[digit:digit + 1], source="input", target="output",
                                    nodes=[output_class])[0, 0, 0]
        fig, (ax_in, ax_score) = plt.subplots(1, 2, figsize=(7, 3.4))
        ax_in.imshow(x[digit, 0], cmap="gray_r"); ax_in.set_xticks([]); ax_in.set_yticks([])
        ax_in.set_title(f"test digit {digit}: label {int(y[digit])}, predicted {int(predicted[digit])}", fontsize="small")
        score_map(ax_score, scores, outline=templates[output_class], colorbar=True,
                  title=f"Fig. 1/6 - input scores w.r.t. class {output_class}")
        return fig

    return plot_digit_class


# --- notebook 12: real vs fake (§IV-C) ------------------------------------------------------------------------------

REAL_FAKE_CLASSES = ("real", "fake")


def real_fake_examples_figure(x, y, per_class: int = 4, corner: int = 16):
    """Fig. 8 data: ``per_class`` test images of each class (upper row) and their top-left corner pixels (lower)."""
    picks = [int(i) for c in (0, 1) for i in np.nonzero(_numpy(y) == c)[0][:per_class]]
    fig, axes = plt.subplots(2, len(picks), figsize=(1.5 * len(picks), 3), squeeze=False)
    for k, i in enumerate(picks):
        axes[0, k].imshow(x[i].permute(1, 2, 0)); axes[0, k].set_title(REAL_FAKE_CLASSES[int(y[i])], fontsize="small")
        axes[1, k].imshow(x[i].permute(1, 2, 0)[:corner, :corner], interpolation="nearest")
        axes[1, k].set_title(f"{corner}x{corner} corner", fontsize="x-small")
    for ax in axes.flat:
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle(f"Fig. 8 data - test images (upper) and their top-left {corner}x{corner} pixels (lower)")
    return fig


def informative_regions_figure(model, x, y, predicted, indices, top_fraction: float, title: str):
    """Fig. 8: per image, the input scores w.r.t. the predicted node for each colour channel (one scale per
    image) and the ``top_fraction`` highest-scoring pixels (channels summed) as red dots."""
    fig, axes = plt.subplots(len(indices), 5, figsize=(12, 2.6 * len(indices)), squeeze=False)
    for row, index in zip(axes, indices):
        scores = influential_scores(model, x[index:index + 1], source="input", target="output",
                                    nodes=[int(predicted[index])])[0, 0]  # (3, H, W)
        image = x[index].permute(1, 2, 0).numpy()
        row[0].imshow(image); row[0].set_xticks([]); row[0].set_yticks([])
        row[0].set_title(f"{REAL_FAKE_CLASSES[int(y[index])]} (predicted {REAL_FAKE_CLASSES[int(predicted[index])]})",
                         fontsize="small")
        limit = symmetric_limit(scores)
        for c, channel in enumerate(["red", "green", "blue"]):
            score_map(row[c + 1], scores[c], limit=limit, title=f"{channel} channel scores")
        rows, cols = np.nonzero(top_fraction_mask(scores.sum(0), top_fraction))
        row[4].imshow(image); row[4].scatter(cols, rows, s=4, color="red"); row[4].set_xticks([]); row[4].set_yticks([])
        row[4].set_title(f"top {top_fraction:.0%} pixels", fontsize="small")
    fig.suptitle(title)
    return fig


def channel_share_figure(shares):
    """Fig. 8 extension: each colour channel's mean share of |input score|."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(["red", "green", "blue"], shares, color=["tab:red", "tab:green", "tab:blue"])
    label(ax, "Fig. 8 (extension) - share of |input score| per colour channel", "channel", "mean share")
    return fig


def image_node_plotter(model, x, y, predicted):
    """For explore(): ``plot(image, node)`` draws a test image's per-channel input scores w.r.t. one node."""
    def plot_image_node(image, node):
        scores = influential_scores(model, x[image:image + 1], source="input", target="output", nodes=[node])[0, 0]
        fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
        axes[0].imshow(x[image].permute(1, 2, 0)); axes[0].set_xticks([]); axes[0].set_yticks([])
        axes[0].set_title(f"{REAL_FAKE_CLASSES[int(y[image])]} (predicted {REAL_FAKE_CLASSES[int(predicted[image])]})",
                          fontsize="small")
        limit = symmetric_limit(scores)
        for c, channel in enumerate(["red", "green", "blue"]):
            score_map(axes[c + 1], scores[c], limit=limit, title=f"Fig. 8 - {channel} scores w.r.t. '{REAL_FAKE_CLASSES[node]}'")
        return fig

    return plot_image_node
