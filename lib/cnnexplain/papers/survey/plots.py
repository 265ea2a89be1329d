"""Figures of notebook 42 (the survey's Table 1, measured): time per explanation, deletion / insertion curves
(Petsiuk et al. 2018), the cascading-randomization sanity check (Adebayo et al. 2018) and one method's curves.

``models``: the :class:`cnnexplain.papers.survey.study.ExplainedModel` list; ``measured``: ``{model key:
Measurements}`` from :func:`cnnexplain.papers.survey.study.measure_models`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cnnexplain.methods.attribution import explain as attr
from cnnexplain.notebook.plots import label, legend_outside


def time_figure(models, measured):
    """Table 1's "efficiency" as seconds per explanation (log scale), one panel per model; L2X's training time
    is printed beside its bar."""
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 5.5), squeeze=False)
    for ax, m in zip(axes[0], models):
        timed = measured[m.key].table.dropna(subset=["time_per_image_s"]).sort_values("time_per_image_s")
        ax.barh(timed["label"], timed["time_per_image_s"], color="C0")
        ax.set_xscale("log")
        for y, (_, row) in enumerate(timed.iterrows()):
            if row["method"] == "l2x":
                ax.text(row["time_per_image_s"] * 1.3, y, f"+ {row['training_s']:.1f} s training", va="center",
                        fontsize=9)
        label(ax, f"Table 1 'efficiency', measured\n({m.description})", "seconds per image (log)", "method")
    return fig


def deletion_insertion_figure(models, measured):
    """Mean probability of the explained class while the top pixels are deleted / inserted; both AUCs in the
    legend beside each row (outside the curves)."""
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 4.2 * len(models)), squeeze=False)
    for (ax_del, ax_ins), m in zip(axes, models):
        labels = []
        for k, (method, (f, curve)) in enumerate(measured[m.key].deletion.items()):
            style = "-" if k < 10 else "--"
            name = attr.METHODS[method].label
            ax_del.plot(f, curve, style)
            f_ins, curve_ins = measured[m.key].insertion[method]
            ax_ins.plot(f_ins, curve_ins, style)
            labels.append(f"{name} ({np.trapezoid(curve, f):.3f} / {np.trapezoid(curve_ins, f_ins):.3f})")
        label(ax_del, f"Deletion, {m.description}:\nlower AUC = more faithful", "fraction of pixels deleted",
              "probability of the explained class")
        label(ax_ins, f"Insertion, {m.description}:\nhigher AUC = more faithful", "fraction of pixels inserted",
              "probability of the explained class")
        if labels:  # 17 curves: one legend beside the row, not on the data
            legend_outside(ax_ins, handles=ax_ins.get_lines(), labels=labels, title="method (AUC deletion / insertion)",
                           fontsize=9)
    return fig


def sanity_figure(models, measured):
    """Rank correlation with the original explanation as layers are randomized from the output down, one panel
    per model; ``None`` when no method got the sanity check."""
    if not any(measured[m.key].sanity for m in models):
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 5.5), squeeze=False)
    for ax, m in zip(axes[0], models):
        sanity = measured[m.key].sanity
        for k, (method, s) in enumerate(sanity.items()):
            ax.plot(s["step"], s["spearman_mean"], "-o" if k < 10 else "--s", ms=3, label=attr.METHODS[method].label)
        if sanity:
            steps = next(iter(sanity.values()))
            ax.set_xticks(steps["step"], steps["randomized_through"], rotation=60, ha="right", fontsize=9)
        label(ax, f"Sanity check (Adebayo et al. 2018):\n{m.description}", "randomized from the output layer down through",
              "Spearman ρ of |attribution| vs original")
        ax.axhline(0, color="0.5", lw=0.8)
    if axes[0, -1].get_legend_handles_labels()[0]:
        legend_outside(axes[0, -1], title="method")  # the same methods in every panel: one legend, beside them
    return fig


def method_figure(measured, model: str, method: str):
    """One method on one model: its deletion and insertion curves beside its sanity-check curve."""
    result = measured[model]
    fig, (ax_c, ax_s) = plt.subplots(1, 2, figsize=(10, 3.5))
    if method in result.deletion:
        f, curve = result.deletion[method]
        ax_c.plot(f, curve, label="deletion")
        ax_c.plot(*result.insertion[method], label="insertion")
        ax_c.legend()
    else:
        ax_c.text(0.5, 0.5, "not measured / not applicable", ha="center", transform=ax_c.transAxes)
    label(ax_c, f"{attr.METHODS[method].label}: deletion / insertion ({model})", "fraction of pixels", "probability")
    if method in result.sanity:
        s = result.sanity[method]
        ax_s.plot(s["step"], s["spearman_mean"], "-o")
        ax_s.set_xticks(s["step"], s["randomized_through"], rotation=60, ha="right", fontsize=9)
    label(ax_s, "sanity check (cascading randomization)", "randomized through", "Spearman ρ")
    return fig
