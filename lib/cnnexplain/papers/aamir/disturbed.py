"""Notebook 20: the disturbed data set on the textured-shapes world (Aamir et al. Fig. 1, 5) and two
VGG-16-layout nets made texture- and shape-biased on purpose (the texture-bias premise of §5, measured
as Geirhos et al.'s shape bias).

The world (:mod:`cnnexplain.data.world`) gives the paper's four test conditions of the same objects
(original, white background, textured, styled) with exact masks; Gatys style and texture transfer come
from :mod:`cnnexplain.methods.style`. Table 1 and Table 3 of the paper are judged on THE study
(notebooks 21 and 22); here the two nets' accuracies are the precondition of their own claims.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cnnexplain import train
from cnnexplain.data import world
from cnnexplain.methods import disturb, style
from cnnexplain.methods import shape_bias as bias
from cnnexplain.notebook import plots


def gallery_figure(seed: int, size: int, style_steps: int, features):
    """Fig. 1 on the world: one object per class (columns) in the four conditions (rows); the same seed
    gives the same objects in every condition."""
    gallery = {cond: world.make_dataset(1, cond, seed=seed, size=size, style_steps=style_steps,
                                        style_extractor=features) for cond in world.CONDITIONS}
    fig, axes = plt.subplots(4, 10, figsize=(12.5, 6.8))  # <= 12.5 in: its titles read at 1100 px
    for r, cond in enumerate(world.CONDITIONS):
        b = gallery[cond]
        for c, i in enumerate(torch.argsort(b.labels)):
            ax = axes[r, c]
            ax.imshow(b.images[i].permute(1, 2, 0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            title = world.CLASSES[b.labels[i]]
            if cond == "textured":
                title += f"\n+ {world.TEXTURES[b.texture_labels[i]]}"
            ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(cond.replace("_", " "))
    fig.suptitle("Fig. 1 (reproduced on the textured-shapes world): original, white background, textured, styled")
    return fig


def mask_quality(n_per_class: int, seed: int, size: int):
    """How well masks can be estimated for images without one (GrabCut, saliency threshold): intersection
    over union with the world's true masks on original images. Returns ``(table, figure)``."""
    test = world.make_dataset(n_per_class, "original", seed=seed, size=size)
    rows, estimated = [], {}
    for method in ("grabcut", "saliency"):
        t0 = time.perf_counter()
        estimated[method] = disturb.estimate_masks(test.images, method)
        iou = disturb.mask_iou(estimated[method], test.masks)
        rows.append({"method": method, "mean_iou": float(iou.mean()), "median_iou": float(np.median(iou)),
                     "share_iou_above_0.8": float((iou > 0.8).mean()),
                     "seconds_per_image": (time.perf_counter() - t0) / len(iou)})
    k = min(6, len(test))
    fig = plots.image_grid(list(test.images[:k]) + [m.float() for m in test.masks[:k]]
                           + [m.float() for m in estimated["grabcut"][:k]] + [m.float() for m in estimated["saliency"][:k]],
                           titles=["image"] * k + ["true mask"] * k + ["GrabCut"] * k + ["saliency"] * k, ncols=k,
                           cmap="gray", suptitle="Masks for the white-background disturbance (Fig. 1): true vs estimated")
    return pd.DataFrame(rows), fig


def train_biased_nets(texture_probs, shape_probs, *, n_train_per_class: int, epochs: int, lr: float, width: int,
                      size: int, seed: int):
    """One VGG16Small per (texture probability, shape probability) of the world's training images: a
    texture-biased net where the texture is the reliable cue, a shape-biased one where the shape is
    (Hermann et al. 2020: nets pick up whichever reliable cue is easier). Returns ``(nets, histories,
    seconds)`` keyed ``"texture_prob=<p>"``."""
    from cnnexplain.models.cnns import VGG16Small
    from cnnexplain.seeding import seed_everything

    nets, histories, seconds = {}, {}, {}
    for texture_prob, shape_prob in zip(texture_probs, shape_probs):
        name = f"texture_prob={texture_prob}"
        data = world.make_dataset(n_train_per_class, "original", seed=seed + 1, texture_prob=texture_prob,
                                  shape_prob=shape_prob, size=size)
        seed_everything(seed)
        net = VGG16Small(num_classes=len(world.CLASSES), image_size=size, width=width)
        t0 = time.perf_counter()
        histories[name] = train.fit(net, data.images, data.labels, epochs=epochs, batch_size=64, lr=lr, seed=seed)
        seconds[name] = time.perf_counter() - t0
        nets[name] = net.eval()
    return nets, histories, seconds


def training_summary(histories: dict, seconds: dict) -> tuple[dict, str]:
    """The values notebook 20 records about :func:`train_biased_nets` (training seconds and final training
    accuracy per net) and a line per net to print. Returns ``(values, text)``."""
    values, lines = {}, []
    for name, s in seconds.items():
        key = name.replace("=", "_")
        values[f"train_time_s_{key}"] = round(s, 1)
        values[f"train_accuracy_{key}"] = round(float(histories[name].accuracy[-1]), 4)
        lines.append(f"{name}: training accuracy {histories[name].accuracy[-1]:.3f} in {s:.0f} s")
    return values, "\n".join(lines)


def test_sets(n_per_class: int, seed: int, size: int, style_steps: int, features) -> dict:
    """The four test conditions (:data:`cnnexplain.data.world.CONDITIONS`), ``n_per_class`` objects each."""
    return {cond: world.make_dataset(n_per_class, cond, seed=seed, size=size, style_steps=style_steps,
                                     style_extractor=features) for cond in world.CONDITIONS}


def shape_bias_values(table: pd.DataFrame, accuracy: pd.DataFrame) -> dict:
    """The measured values of the two shape-bias claims (``claims.shape_bias_texture_net`` for the first
    net of :func:`train_biased_nets`, ``shape_bias_shape_net`` for the second) from :func:`shape_bias_table`
    and :func:`accuracy_per_condition`'s means."""
    return {claim_id: {"shape_bias": float(bias), "original_accuracy": float(accuracy.loc["original", net])}
            for claim_id, net, bias in zip(["shape_bias_texture_net", "shape_bias_shape_net"], table.net,
                                           table.shape_bias)}


def transfer_values(transfer: dict, original_accuracy: float) -> dict:
    """The measured values of ``claims.fig5_transfer_predicts_texture`` from :func:`texture_transfer`."""
    hits = transfer["table"]["predicted = texture class"]
    return {"share": float(hits.mean()), "n": len(hits), "original_accuracy": float(original_accuracy)}


def first_step_predicting(dose: pd.DataFrame, texture_class: int) -> int | None:
    """The first snapshot step of :func:`dose_series` at which the net predicts the texture's class (None:
    never)."""
    return next((int(s) for s, p in zip(dose.step, dose.predicted) if p == world.CLASSES[texture_class]), None)


def training_loss_figure(histories: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, h in histories.items():
        ax.plot(range(1, len(h.loss) + 1), h.loss, marker="o", label=name)
    plots.label(ax, "VGG16Small training loss on the world", "epoch", "cross-entropy")
    ax.legend()
    return fig


def accuracy_per_condition(nets: dict, test_sets: dict):
    """Each net's accuracy per class and condition (Table 1's layout), the mean per net and condition, and
    a bar figure. Returns ``(table, means (condition x net), figure)``."""
    table = pd.concat([bias.accuracy_by_condition(net, test_sets, world.CLASSES).assign(net=name)
                       for name, net in nets.items()])
    grouped = table.groupby(["condition", "net"], sort=False).accuracy
    means, sems = grouped.mean().unstack(), grouped.sem().unstack()
    order = [c for c in world.CONDITIONS if c in means.index]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    means.loc[order].plot.bar(yerr=sems.loc[order], ax=ax, rot=0, capsize=3)
    plots.label(ax, "the two nets' accuracy per condition (mean over classes ± SEM)", "condition", "accuracy")
    return table, means.loc[order], fig


def shape_bias_table(nets: dict, n_per_class: int, seed: int, size: int):
    """Geirhos et al.'s shape bias of each net on cue-conflict images (shape of one class, texture of
    another): shape decisions / (shape + texture decisions). Returns ``(table, figure)``."""
    conflict = world.make_cue_conflict(n_per_class, seed=seed, size=size)
    rows = []
    for name, net in nets.items():
        b = bias.shape_bias_of(net, conflict)
        rows.append({"net": name, "shape_bias": b.shape_bias, "shape_decisions": b.shape_decisions,
                     "texture_decisions": b.texture_decisions, "other_decisions": b.other_decisions, "n": b.n})
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(table.net, table.shape_bias, color=["tab:orange", "tab:blue"][:len(table)])
    ax.axhline(0.5, color="grey", ls="--")
    ax.set_ylim(0, 1)
    plots.label(ax, "Shape bias on cue-conflict images", "training set", "shape decisions / (shape + texture)")
    return table, fig


def texture_transfer(net, white, *, n_patches_per_class: int, steps: int, features, seed: int, snapshot_every: int,
                     size: int, n: int = 4):
    """Fig. 5: Gatys texture transfer of a texture patch onto ``n`` white-background objects of classes
    0..n-1, each with the patch of the class three places on (the content image starts the optimisation,
    the patch is the style target), and what ``net`` predicts afterwards.

    Returns ``{"patch_accuracy": net's accuracy on the patches alone, "table": one row per transfer,
    "figure", "result": the StyleResult (snapshots for the dose), "texture_classes"}``."""
    patches = world.texture_patches(max(1, n_patches_per_class), seed=seed + 4, size=size)
    patch_acc = bias.accuracy_by_condition(net, {"texture_patch": patches}, world.TEXTURES)
    first = [int(torch.nonzero(white.labels == k)[0]) for k in range(n)]
    contents = white.images[first]
    texture_classes = [(k + 3) % len(world.CLASSES) for k in range(n)]
    sources = torch.stack([patches.images[torch.nonzero(patches.labels == t)[0, 0]] for t in texture_classes])
    result = style.texture_transfer(contents, sources, steps=steps, extractor=features, seed=seed,
                                    snapshot_every=snapshot_every)
    pred = train.predict(net, result.image).argmax(1)
    by_texture = patch_acc.set_index("class").accuracy
    table = pd.DataFrame({
        "texture patch": [world.TEXTURES[t] for t in texture_classes],
        "patch accuracy": [float(by_texture[world.TEXTURES[t]]) for t in texture_classes],
        "content image": [world.CLASSES[k] for k in range(n)],
        "predicted after transfer": [world.CLASSES[p] for p in pred],
        "predicted = texture class": [int(p) == t for p, t in zip(pred, texture_classes)]})
    titles = ([f"content: {world.CLASSES[k]}" for k in range(n)] + [f"patch: {world.TEXTURES[t]}" for t in texture_classes]
              + [f"→ {world.CLASSES[p]}" for p in pred])
    fig = plots.image_grid(list(contents) + list(sources) + list(result.image), titles=titles, ncols=n, size=2.2,
                           suptitle="Fig. 5 (reproduced): texture patches transferred onto white-background objects")
    return {"patch_accuracy": patch_acc, "table": table, "figure": fig, "result": result,
            "texture_classes": texture_classes}


def dose_series(net, result, texture_class: int, content_class: int = 0):
    """The first transfer of :func:`texture_transfer` step by step: the texture dose (share of the initial
    style loss removed, ``StyleResult.dose()``) and the net's probabilities of the content's and the
    texture's class at every snapshot (the paper's Fig. 6 is judged by notebook 22 on the study).
    Returns ``(table, figure, snapshots (k, 3, H, W))``."""
    steps = [s for s, _ in result.snapshots]
    series = torch.stack([im[0] for _, im in result.snapshots])
    probs = torch.softmax(train.predict(net, series), 1)
    dose = result.dose()
    content, texture = world.CLASSES[content_class], world.CLASSES[texture_class]
    table = pd.DataFrame({"step": steps, "texture_dose": [dose[s] for s in steps],
                          f"p({content}) content": probs[:, content_class].numpy(),
                          f"p({texture}) texture": probs[:, texture_class].numpy(),
                          "predicted": [world.CLASSES[p] for p in probs.argmax(1)]})
    fig = plt.figure(figsize=(13, 5.2))
    for i, (s, im) in enumerate(result.snapshots):
        ax = fig.add_subplot(2, len(steps), i + 1)
        ax.imshow(im[0].permute(1, 2, 0), interpolation="nearest")
        ax.axis("off")
        ax.set_title(f"step {s}", fontsize="small")
    ax = fig.add_subplot(2, 1, 2)
    ax.plot(steps, probs[:, content_class], marker="o", label=f"p(content class: {content})")
    ax.plot(steps, probs[:, texture_class], marker="s", label=f"p(texture class: {texture})")
    ax.plot(range(len(dose)), dose, color="grey", ls="--", label="texture dose")
    plots.label(ax, "texture dose vs prediction of the texture-biased net", "transfer step", "probability / dose")
    plots.legend_outside(ax)
    fig.suptitle(f"{content} object receiving the {world.TEXTURES[texture_class]} texture")
    return table, fig, series


def style_curve(features, steps: int, size: int, seed: int):
    """Gatys style transfer of ``skimage.data.chelsea`` towards ``immunohistochemistry`` at ``size`` px:
    the loss curve, snapshots, and whether the same seed gives the same image twice. Returns ``(values,
    figure)``."""
    import skimage.data

    def rgb(image):
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255

    content, target = rgb(skimage.data.chelsea()), rgb(skimage.data.immunohistochemistry())
    curve = style.transfer(content, target, steps=steps, size=size, extractor=features, seed=seed,
                           snapshot_every=max(1, steps // 4))
    h = curve.history
    tail = h["total"][-max(2, steps // 10):]
    short = dict(steps=5, size=size, extractor=features, seed=seed, progress=False)
    values = {"style_transfer_128px_seconds": round(curve.seconds, 1),
              "style_transfer_128px_steps_per_s": round(steps / curve.seconds, 2),
              "style_transfer_loss_first_last": [h["total"][0], h["total"][-1]],
              "style_transfer_last10pct_relative_change": round(abs(tail[0] - tail[-1]) / tail[0], 4),
              "style_transfer_same_seed_same_image": torch.equal(style.transfer(content, target, **short).image,
                                                                 style.transfer(content, target, **short).image)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1.3, 2]})
    for key in ("total", "content", "style"):
        axes[0].plot(h[key], label=key)
    axes[0].set_yscale("symlog", linthresh=1e-3)
    axes[0].legend()
    plots.label(axes[0], f"Gatys style transfer at {size} px", "step", "loss (normalised)")
    axes[1].imshow(torch.cat([im[0] for _, im in curve.snapshots], dim=2).permute(1, 2, 0))
    axes[1].set_yticks([])
    axes[1].set_xticks([size * (i + 0.5) for i in range(len(curve.snapshots))])
    axes[1].set_xticklabels([f"step {s}" for s, _ in curve.snapshots])
    plots.label(axes[1], "content → styled", "snapshot", None)
    return values, fig


def world_figure(texture_prob: float, seed: int, size: int):
    """One world image per class at a class-texture probability (the explore widget of notebook 20)."""
    b = world.make_dataset(1, "original", seed=seed, texture_prob=texture_prob, size=size)
    titles = [f"{world.CLASSES[l]}\n{'class texture' if t == l else 'neutral'}" for l, t in zip(b.labels, b.texture_labels)]
    return plots.image_grid(list(b.images), titles=titles, ncols=10, suptitle=f"world at texture probability {texture_prob}")


def dose_step_figure(dose: pd.DataFrame, series, k: int):
    """One step of the dose series with its dose and prediction."""
    fig, ax = plt.subplots(figsize=(3, 3.2))
    ax.imshow(series[k].permute(1, 2, 0))
    ax.axis("off")
    ax.set_title(f"step {dose.step.iat[k]}: dose {dose.texture_dose.iat[k]:.2f}\npredicted {dose.predicted.iat[k]}")
    return fig
