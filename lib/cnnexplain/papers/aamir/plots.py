"""Figures of Aamir et al. (2023) drawn from the tables of :mod:`cnnexplain.papers.aamir.study` (one function per
figure; each returns a matplotlib figure with a title naming the paper's figure and labelled axes)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cnnexplain.papers.aamir.study import CONDITION_COLOURS, CONDITIONS
from cnnexplain.notebook.plots import SIGNED_CMAP, colorbar, label, legend_outside, short_name


def signed(name: str, sign: str = "helpful") -> str:
    """An axis label or header naming the sign its scores carry (see
    :class:`cnnexplain.methods.influence_functions.layerwise.InfluenceScores`): ``"I_avg [helpful sign:
    + = up-weighting lowers the test loss]"``."""
    effect = {"helpful": "lowers", "harmful": "raises"}[sign]
    return f"{name} [{sign} sign: + = up-weighting {effect} the test loss]"


def _img(ax, image, title=None, fontsize: float = 9):
    ax.imshow(np.clip(image.permute(1, 2, 0).numpy(), 0, 1), interpolation="nearest")  # small images stay sharp
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def accuracy_bars(table: pd.DataFrame):
    """Table 1 as bars: accuracy ± SEM per class (x) and condition (colour)."""
    classes = list(dict.fromkeys(table["class"]))
    fig, ax = plt.subplots(figsize=(10, 3.2))
    width = 0.8 / len(CONDITIONS)
    for i, cond in enumerate(CONDITIONS):
        t = table[table.condition == cond].set_index("class").reindex(classes)
        ax.bar(np.arange(len(classes)) + i * width, t.accuracy, width, yerr=t["sem"], label=cond,
               color=CONDITION_COLOURS[cond], capsize=2)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2)
    ax.set_xticklabels(classes, rotation=30)
    ax.set_ylim(0, 1.05)
    legend_outside(ax, title="condition")
    label(ax, "Table 1: accuracy ± SEM per class and condition", "class", "accuracy")
    return fig


def influential_pairs(study, table: pd.DataFrame, per_condition: int = 3, sign: str = "helpful"):
    """Fig. 2: for test images of each condition (rows), the test image and its most influential training
    image by I_total, with the predicted and the influential image's class."""
    fig, axes = plt.subplots(len(CONDITIONS), 2 * per_condition, figsize=(2 * per_condition * 1.5, 8.4))
    for r, cond in enumerate(CONDITIONS):
        rows = table[table.condition == cond].head(per_condition)
        for k, (_, row) in enumerate(rows.iterrows()):
            _img(axes[r, 2 * k], study.x_test[row.test_index],
                 f"{short_name(cond)} test\ntrue {row.true_class}\npred {row.predicted_class}")
            _img(axes[r, 2 * k + 1], study.x_train[row.influential_train_index],
                 f"influential\n{row.influential_class}\nI={row.score:.2g}")
    fig.suptitle("Fig. 2: most influential training image (highest " + signed("I_total", sign) + ")\nper test image")
    return fig


def intra_class_scatter(intra: pd.DataFrame, classes=None, split_styled: bool = False, sign: str = "helpful"):
    """Fig. 3 (``split_styled=False``): intra-class I_avg of each test image, per class (panels) and
    condition (x), with the median (red dotted), max (green) and min (blue) of the whole data set.
    Fig. 4 (``split_styled=True``): the styled images only, correct vs incorrect."""
    from cnnexplain.papers.aamir.study import reference_lines

    classes = classes or list(dict.fromkeys(intra["class"]))
    lines = reference_lines(intra.I_avg)
    fig, axes = plt.subplots(1, len(classes), figsize=(2.3 * len(classes), 3.4), sharey=True, squeeze=False)
    for ax, cls in zip(axes[0], classes):
        t = intra[intra["class"] == cls]
        if split_styled:
            t = t[t.condition == "styled"]
            groups = [("correct", t[t.correct]), ("incorrect", t[~t.correct])]
            for i, (name, g) in enumerate(groups):
                ax.scatter(np.full(len(g), i), g.I_avg, color=("tab:green", "tab:red")[i], s=18)
            ax.set_xticks([0, 1])
            ax.set_xticklabels(["correct", "incorrect"], fontsize=9)
        else:
            for i, cond in enumerate(CONDITIONS):
                g = t[t.condition == cond]
                ax.scatter(np.full(len(g), i) + np.linspace(-0.15, 0.15, len(g)), g.I_avg,
                           color=CONDITION_COLOURS[cond], s=18, marker="o" if True else "x")
                wrong = g[~g.correct]
                ax.scatter(np.full(len(wrong), i) + np.linspace(-0.15, 0.15, len(g))[~g.correct.to_numpy()],
                           wrong.I_avg, facecolors="none", edgecolors="k", s=40, linewidths=0.6)
            ax.set_xticks(range(len(CONDITIONS)))
            ax.set_xticklabels([short_name(c, {"original": "original"}) for c in CONDITIONS], rotation=45, fontsize=9)
        scale = float(np.median(np.abs(intra.I_avg))) or 1.0
        ax.set_yscale("symlog", linthresh=scale)  # a few images have scores 100x the median: keep all visible
        ax.axhline(lines["median"], color="red", ls=":")
        ax.axhline(lines["max"], color="green", lw=0.8)
        ax.axhline(lines["min"], color="blue", lw=0.8)
        label(ax, cls, None, "intra-class I_avg" if ax is axes[0, 0] else None)
    fig.suptitle(("Fig. 4: styled images split into correct / incorrect" if split_styled else
                  "Fig. 3: intra-class I_avg per condition (black ring = misclassified)") + "\n" + signed("I_avg", sign))
    return fig


def inter_class_heatmaps(matrices: dict, sign: str = "helpful"):
    """Fig. 7: mean influence of each training class (x) on each test class (y), one panel per
    condition or split."""
    ncols = min(2, len(matrices))  # two panels a row keep the class names readable (the readability rule)
    nrows = -(-len(matrices) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.6 * nrows), squeeze=False)
    for ax in axes.flat[len(matrices):]:
        ax.axis("off")
    for ax, (name, m) in zip(axes.flat, matrices.items()):
        finite = np.abs(m.to_numpy())[np.isfinite(m.to_numpy())]
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0  # one scale per panel
        im = ax.imshow(m.to_numpy(), cmap=SIGNED_CMAP, vmin=-vmax, vmax=vmax)
        colorbar(fig, im, ax, "mean I_total")
        ax.set_xticks(range(m.shape[1]))
        ax.set_xticklabels(m.columns, rotation=90, fontsize=8)
        ax.set_yticks(range(m.shape[0]))
        ax.set_yticklabels(m.index, fontsize=8)
        label(ax, name, "training class", "test class")
        ax.grid(False)
    fig.suptitle("Fig. 7: inter-class influence (training class → test class; own scale per panel),\n"
                 + signed("mean I_total", sign))
    return fig


def clustering_panels(per_class: dict):
    """Fig. 8: per class (columns) the average-linkage dendrogram of the four conditions' I_Lavg vectors
    (top) and their Pearson correlation-distance matrix (bottom). ``per_class``: {class: (linkage,
    features DataFrame, distance DataFrame)}."""
    from scipy.cluster.hierarchy import dendrogram

    fig, axes = plt.subplots(2, len(per_class), figsize=(max(4.5, 3.6 * len(per_class)), 7), squeeze=False)
    for c, (cls, (link, feats, dist)) in enumerate(per_class.items()):
        dendrogram(link, labels=[short_name(i) for i in feats.index], ax=axes[0, c], leaf_rotation=45,
                   leaf_font_size=9, color_threshold=0)
        label(axes[0, c], f"{cls}: average linkage", None, "Euclidean distance")
        im = axes[1, c].imshow(dist.to_numpy(), cmap="viridis", vmin=0, vmax=2)
        axes[1, c].set_xticks(range(len(dist)))
        axes[1, c].set_xticklabels([short_name(i) for i in dist.columns], rotation=45, fontsize=9)
        axes[1, c].set_yticks(range(len(dist)))
        axes[1, c].set_yticklabels([short_name(i) for i in dist.index], fontsize=9)
        for i in range(len(dist)):
            for j in range(len(dist)):
                axes[1, c].text(j, i, f"{dist.iat[i, j]:.2f}", ha="center", va="center", fontsize=8, color="w")
        label(axes[1, c], f"{cls}: Pearson distance 1−ρ", "condition", "condition")
    for ax in axes[1]:
        ax.grid(False)
    colorbar(fig, im, axes[1, -1], "Pearson distance 1−ρ")
    fig.suptitle("Fig. 8: clustering of layer-wise influence vectors I_Lavg")
    return fig


def layer_means(per_class: dict, layer_names, sign: str = "helpful"):
    """Fig. 9: mean intra-class influence per layer (x, the 16 layers) for each condition (lines), one
    panel per class (or 'all')."""
    ncols = min(2, len(per_class))  # two panels a row: the 16 layer names stay readable
    nrows = -(-len(per_class) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(per_class):]:
        ax.axis("off")
    for ax, (cls, table) in zip(axes.flat, per_class.items()):
        for cond in table.index:
            ax.plot(range(len(layer_names)), table.loc[cond].to_numpy(), marker="o", ms=3,
                    color=CONDITION_COLOURS[cond], label=cond)
        ax.set_xticks(range(len(layer_names)))
        ax.set_xticklabels(layer_names, rotation=90, fontsize=8)
        ax.axhline(0, color="k", lw=0.5)
        label(ax, cls, "layer", "mean intra-class I_l")
    legend_outside(axes[0, -1], title="condition")  # beside the panels, over no data
    fig.suptitle("Fig. 9: mean influence per layer and condition,\n" + signed("I_l", sign))
    return fig


def texture_dose_figure(table: pd.DataFrame, snapshots, content_class: str, texture_name: str, sign: str = "helpful"):
    """Fig. 6: the texture dose (snapshots, top) and the prediction and intra-class influence along it."""
    k = len(snapshots)
    fig = plt.figure(figsize=(max(8, 1.1 * k), 5))
    grid = fig.add_gridspec(2, k)
    for i in range(k):
        ax = fig.add_subplot(grid[0, i])
        _img(ax, snapshots[i], f"{table.texture_percent.iat[i]:.0f}%\n{table.predicted_class.iat[i]}")
    ax1 = fig.add_subplot(grid[1, :])
    ax1.plot(table.texture_percent, table.p_true, "o-", color="tab:blue", label=f"p({content_class})")
    ax1.set_ylim(0, 1.05)
    ax2 = ax1.twinx()
    ax2.plot(table.texture_percent, table.I_avg_intra, "s--", color="tab:red", label="intra-class I_avg")
    ax2.set_ylabel(signed("intra-class I_avg", sign).replace(" [", "\n["), color="tab:red", fontsize=9)
    label(ax1, f"Fig. 6: {texture_name} texture onto a {content_class} — prediction and influence",
          "texture dose (% of transfer steps)", f"p({content_class})")
    lines = ax1.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    legend_outside(ax1, "below", handles=lines[0][0] + lines[1][0], labels=lines[0][1] + lines[1][1])
    return fig


def shapley_figure(images, maps, titles):
    """Fig. 10: test images (top) and their Shapley maps for the predicted class (bottom, red = raises it)."""
    n = len(images)
    ncols = min(n, 6)  # at most 6 images a row (readable titles); each image's map below it
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(2 * nrows, ncols, figsize=(1.8 * ncols + 1.2, 4.2 * nrows), squeeze=False,
                             layout="constrained")  # constrained: the colour bar gets its own room
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        top, bottom = axes[2 * (i // ncols), i % ncols], axes[2 * (i // ncols) + 1, i % ncols]
        top.axis("on")
        bottom.axis("on")
        _img(top, images[i], titles[i])
        v = np.abs(maps[i]).max() or 1.0
        im = bottom.imshow(maps[i] / v, cmap="bwr", vmin=-1, vmax=1, interpolation="nearest")  # own scale
        bottom.set_xticks([])
        bottom.set_yticks([])
        bottom.grid(False)
        if i % ncols == 0:
            top.set_ylabel("image")
            bottom.set_ylabel("Shapley map")
    colorbar(fig, im, axes, "Shapley value / its map's max |value|\n(red raises the prediction)", shrink=0.8)
    fig.suptitle("Fig. 10: Shapley values (shap Partition, blur masker) per condition")
    return fig


def layer_scatter(features, study, layer: int, condition: str, names, sign: str = "helpful"):
    """Fig. 3 for one layer: each test image's intra-class score of layer ``layer`` per class, the
    ``condition`` highlighted (the explore widget of notebook 21)."""
    f = features[:, layer]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for i, cond in enumerate(CONDITIONS):
        sel = study.conditions == cond
        ax.scatter(study.y_test.numpy()[sel] + 0.15 * (i - 1.5), f[sel], s=30 if cond == condition else 12,
                   color=CONDITION_COLOURS[cond], label=cond, alpha=1 if cond == condition else 0.35)
    ax.set_xticks(range(len(study.class_names)))
    ax.set_xticklabels(study.class_names, rotation=30, fontsize=9)
    legend_outside(ax, title="condition")
    return label(ax, f"intra-class influence of layer {names[layer]} (Fig. 3 per layer)", "test class",
                 signed("I_l avg", sign)).figure


def top_influential(scores, study, predictions, test_index: int = 0, k: int = 5, block: str | None = None,
                    title: str = "total"):
    """A test image and its ``k`` most influential training images by one block's score (module path) or
    by I_total (``block=None``), in the sign the scores carry."""
    idx, val = scores.most_influential(k, block)
    fig, axes = plt.subplots(1, k + 1, figsize=(1.6 * (k + 1), 2.4))
    names = list(study.class_names) + ["other"]
    _img(axes[0], study.x_test[test_index], f"test ({short_name(study.conditions[test_index])})\n"
         f"pred {names[predictions[test_index]]}")
    for j in range(k):
        _img(axes[j + 1], study.x_train[idx[test_index, j]],
             f"{study.class_names[study.y_train[idx[test_index, j]]]}\nI={val[test_index, j]:.2g}")
    fig.suptitle(f"top-{k} influential training images by {title} ({scores.sign} sign)")
    return fig


def explore_layer_scatter(features, study, names, sign: str = "helpful"):
    """Notebook 21's widget: :func:`layer_scatter` with a layer dropdown (the paper's layer names) and a
    condition dropdown."""
    from cnnexplain.notebook.widgets import explore

    return explore(lambda layer=names[-1], condition="original": layer_scatter(
        features, study, names.index(layer), condition, names, sign),
        layer=list(names), condition=list(dict.fromkeys(study.conditions)))


def explore_top_influential(scores, study, names):
    """Notebook 21's widget: :func:`top_influential` over the test images, k and the layer (the paper's
    layer names, or "total" for I_total)."""
    from cnnexplain.notebook.widgets import explore

    predictions = study.predictions().numpy()
    return explore(lambda test_index=0, k=5, layer="total": top_influential(
        scores, study, predictions, test_index, k, None if layer == "total" else study.block_of(layer), layer),
        test_index=range(len(study.y_test)), k=[5, 3, 8], layer=["total"] + list(names))


def table3_figure(study, patches: pd.DataFrame, batch, after: pd.DataFrame):
    """Table 3 / Fig. 5: one texture patch per class with its accuracy (top) and textured test objects with
    their prediction (bottom)."""
    n = len(study.class_names)
    fig, axes = plt.subplots(2, n, figsize=(min(13, 1.5 * n + 1), 4.6), squeeze=False)
    textured = np.flatnonzero(study.conditions == "textured")
    for c in range(n):
        row = patches[patches.texture_of_class == study.class_names[c]]
        if len(row):
            _img(axes[0, c], batch.images[batch.labels == c][0], f"{row.texture.iat[0]}\nacc {row.accuracy.iat[0]:.2f}")
        else:
            axes[0, c].axis("off")
        k = c % len(textured)
        _img(axes[1, c], study.x_test[textured[k]], f"{after.iat[k, 0]}+{after.iat[k, 1]}\n→ {after.iat[k, 2]}")
    fig.suptitle("Table 3 / Fig. 5: texture patches (top) and textured objects with their prediction (bottom)")
    return fig


def dose_snapshot(dose: pd.DataFrame, snapshots, snapshot: int):
    """One snapshot of Fig. 6's dose series with its prediction and intra-class I_avg."""
    fig, ax = plt.subplots(figsize=(4, 4.4))  # shown at its own size: large enough not to be stretched
    sign = dose.attrs.get("sign", "helpful")
    _img(ax, snapshots[snapshot], f"{dose.texture_percent.iat[snapshot]:.0f}% texture\npred "
         f"{dose.predicted_class.iat[snapshot]}, I_avg ({sign}) {dose.I_avg_intra.iat[snapshot]:.2g}")
    return fig
