"""Beyond the paper (notebook 25): does layer-wise influence say WHICH layers to retrain?

Aamir et al. conclude (§5) that layer-wise influence shows which layers are responsible for the texture
bias and hence which to retrain. On the world the answer can be checked:

1. :func:`layer_departure` — rank the 16 layers by how strongly the textured condition departs from the
   original in Fig. 9's measure (the mean intra-class I_Lavg per layer and condition): the standardised
   difference |mean_textured − mean_original| / pooled standard deviation, so layers whose scores have
   different scales can be compared;
2. :func:`retrain_experiment` — fine-tune copies of the study net with only some layers trainable, each
   with the same small budget on shape-consistent data (every object has its class shape, its class
   texture rarely): (a) the top-k layers of that ranking, (b) k random layers (several draws), (c) the
   bottom-k, (d) all layers; after each, the shape bias on cue-conflict images
   (:mod:`cnnexplain.methods.shape_bias`) and the accuracy on the study's textured and original test
   images; every arm over several seeds (fine-tuning data and order);
3. :func:`retrain_values` — mean ± standard deviation per arm and the rule arguments of
   ``retrain_top_layers_best`` (:mod:`cnnexplain.papers.aamir.claims`).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from cnnexplain import train as training
from cnnexplain.data import world
from cnnexplain.methods.shape_bias import shape_bias_of
from cnnexplain.papers.aamir.study import Study

ARMS = ("top-k", "random-k", "bottom-k", "all")


def layer_departure(features: np.ndarray, conditions, names) -> pd.DataFrame:
    """Per layer: the mean I_Lavg of the original and textured test images (Fig. 9), their difference and
    the standardised departure |Δ| / pooled std (ranked, 1 = departs most). ``features``: (n_test,
    n_layers) I_Lavg (:func:`cnnexplain.papers.aamir.study.layer_features`)."""
    conditions = np.asarray(conditions)
    orig, tex = features[conditions == "original"], features[conditions == "textured"]
    if not len(orig) or not len(tex):
        raise ValueError("layer_departure needs original and textured test images")
    pooled = np.sqrt((orig.var(0, ddof=1 if len(orig) > 1 else 0) + tex.var(0, ddof=1 if len(tex) > 1 else 0)) / 2)
    diff = tex.mean(0) - orig.mean(0)
    departure = np.abs(diff) / np.where(pooled > 0, pooled, np.inf)
    table = pd.DataFrame({"layer": list(names), "layer_index": np.arange(len(names)), "mean_original": orig.mean(0),
                          "mean_textured": tex.mean(0), "difference": diff, "departure": departure})
    table["rank"] = table.departure.rank(ascending=False, method="first").astype(int)
    return table


def choose_layers(departure: pd.DataFrame, k: int, arm: str, rng: np.random.Generator | None = None) -> list[int]:
    """Indices of the layers arm ``arm`` fine-tunes: the k most departing, k random (``rng``), the k least
    departing, or all."""
    n = len(departure)
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in [1, {n}], got {k}")
    order = departure.sort_values("rank").layer_index.to_numpy()
    if arm == "top-k":
        return sorted(order[:k].tolist())
    if arm == "bottom-k":
        return sorted(order[-k:].tolist())
    if arm == "random-k":
        if rng is None:
            raise ValueError("the random-k arm needs an rng")
        return sorted(rng.choice(n, size=k, replace=False).tolist())
    if arm == "all":
        return list(range(n))
    raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")


def fine_tune(model: torch.nn.Module, modules: list[torch.nn.Module], x: torch.Tensor, y: torch.Tensor, epochs: int,
              lr: float, seed: int) -> torch.nn.Module:
    """A copy of ``model`` fine-tuned with only the parameters of ``modules`` (by identity in ``model``)
    trainable; Adam, constant ``lr``, ``epochs`` over ``(x, y)``."""
    index = {id(m): i for i, m in enumerate(model.modules())}
    wanted = {index[id(m)] for m in modules}
    tuned = copy.deepcopy(model)
    for i, m in enumerate(tuned.modules()):
        for p in m.parameters(recurse=False):
            p.requires_grad_(i in wanted)
    torch.manual_seed(seed)
    training.fit(tuned, x, y, epochs=epochs, batch_size=32, lr=lr, seed=seed, progress=False)
    for p in tuned.parameters():
        p.requires_grad_(True)
    return tuned.eval()


def evaluate(model: torch.nn.Module, study: Study, conflict) -> dict:
    """Shape bias on the cue-conflict batch and accuracy on the study's original and textured test images
    (textured: the shape's class is the correct one)."""
    predictions = training.predict(model, study.x_test).argmax(1).numpy()
    y = study.y_test.numpy()
    out = {"shape_bias": shape_bias_of(model, conflict).shape_bias}
    for c in ("original", "textured"):
        sel = study.conditions == c
        out[f"{c}_accuracy"] = float((predictions[sel] == y[sel]).mean())
    return out


def retrain_experiment(study: Study, departure: pd.DataFrame, modules: list[torch.nn.Module], ks=(4,),
                       seeds=(0, 1, 2), random_draws: int = 4, n_per_class: int = 30, epochs: int = 2,
                       lr: float = 1e-3, texture_prob: float = 0.1, n_conflict_per_class: int = 10,
                       progress: bool = False) -> pd.DataFrame:
    """One row per (k, arm, seed, draw): the layers fine-tuned and :func:`evaluate` after the same budget
    (``n_per_class`` × 10 shape-consistent world images — shape_prob 1, class texture with ``texture_prob``
    — for ``epochs`` at ``lr``). ``modules[l]`` is the module of layer l (the order of ``departure``). Seed s
    draws the fine-tuning data, its order and the random layers; the row ``arm="before"`` is the net as
    trained."""
    from cnnexplain.progress import progress as progress_bar

    image_size = int(study.x_train.shape[-1])
    conflict = world.make_cue_conflict(n_conflict_per_class, seed=7919, size=image_size)
    rows = [{"k": 0, "arm": "before", "seed": -1, "draw": 0, "layers": "", **evaluate(study.model, study, conflict)}]
    names = departure.layer.tolist()
    jobs = [(k, arm, seed, draw) for k in ks for seed in seeds for arm in ARMS
            for draw in range(random_draws if arm == "random-k" else 1) if not (arm == "all" and k != ks[0])]
    data = {}
    for k, arm, seed, draw in progress_bar(jobs, desc="fine-tuning", disable=not progress):
        if seed not in data:
            data[seed] = world.make_dataset(n_per_class, "original", seed=50_000 + seed, texture_prob=texture_prob,
                                            shape_prob=1.0, size=image_size)
        rng = np.random.default_rng([seed, k, draw])
        chosen = choose_layers(departure, k, arm, rng)
        tuned = fine_tune(study.model, [modules[i] for i in chosen], data[seed].images, data[seed].labels, epochs, lr,
                          seed)
        rows.append({"k": k if arm != "all" else len(names), "arm": arm, "seed": seed, "draw": draw,
                     "layers": " ".join(names[i] for i in chosen), **evaluate(tuned, study, conflict)})
    return pd.DataFrame(rows)


def retrain_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds and random draws) of each measure per (k, arm)."""
    measures = ["shape_bias", "original_accuracy", "textured_accuracy"]
    grouped = results.groupby(["k", "arm"], sort=False)[measures]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_sd")).join(
        grouped.size().rename("n"))
    return out.reset_index()


def retrain_values(results: pd.DataFrame, k: int) -> dict:
    """The arguments of the ``retrain_top_layers_best`` rule at ``k``: mean and sd of the shape bias of
    top-k, random-k and bottom-k, the all-layers arm's mean, and the shape bias before fine-tuning."""
    def stats(arm, kk=k):
        v = results[(results.arm == arm) & (results.k == kk)].shape_bias.to_numpy(float)
        return float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0

    all_k = int(results[results.arm == "all"].k.iloc[0])
    (top, top_sd), (rand, rand_sd), (bottom, bottom_sd) = stats("top-k"), stats("random-k"), stats("bottom-k")
    return {"top": top, "top_sd": top_sd, "random": rand, "random_sd": rand_sd, "bottom": bottom,
            "bottom_sd": bottom_sd, "all_layers": stats("all", all_k)[0],
            "before": float(results[results.arm == "before"].shape_bias.iloc[0]), "k": int(k)}


def layer_modules(model: torch.nn.Module, block_names) -> list[torch.nn.Module]:
    """The module of each influence block (module paths, as :class:`InfluenceScores` ``block_names``)."""
    named = dict(model.named_modules())
    missing = [b for b in block_names if b not in named]
    if missing:
        raise KeyError(f"no module called {missing[0]!r} in the model")
    return [named[b] for b in block_names]


def departure_figure(departure: pd.DataFrame):
    """Bar chart of each layer's standardised departure (textured vs original), the ranking's input."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    fig, ax = plt.subplots(figsize=(10, 3.4))
    colours = ["tab:red" if r <= 4 else "tab:grey" for r in departure["rank"]]
    ax.bar(departure.layer, departure.departure, color=colours)
    ax.tick_params(axis="x", rotation=60)
    label(ax, "Beyond the paper: departure of textured from original per layer (Fig. 9's I_Lavg; red: top 4)",
          "layer", "|Δ mean I_Lavg| / pooled sd")
    fig.tight_layout()
    return fig


def arms_figure(summary: pd.DataFrame, k: int):
    """Shape bias and textured / original accuracy per arm at ``k`` (mean ± sd over seeds and draws), with
    the net before fine-tuning as a dashed line."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    before = summary[summary.arm == "before"].iloc[0]
    rows = summary[((summary.k == k) & summary.arm.isin(["top-k", "random-k", "bottom-k"])) | (summary.arm == "all")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (measure, name) in zip(axes, (("shape_bias", "shape bias (cue conflict)"),
                                          ("textured_accuracy", "textured accuracy (shape class)"),
                                          ("original_accuracy", "original accuracy"))):
        ax.bar(rows.arm, rows[f"{measure}_mean"], yerr=rows[f"{measure}_sd"].fillna(0), capsize=4,
               color=["tab:red", "tab:grey", "tab:blue", "tab:green"][:len(rows)])
        ax.axhline(before[f"{measure}_mean"], ls="--", color="k", lw=1, label="before fine-tuning")
        ax.set_ylim(0, 1.05)
        label(ax, name, "layers fine-tuned", "mean ± sd")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Beyond the paper: retraining the layers layer-wise influence points to (k = {k} of "
                 f"{int(summary[summary.arm == 'all'].k.iloc[0])})")
    fig.tight_layout()
    return fig
