"""NeuroView's study (Barberan, Balestriero & Baraniuk): Table 1's plain-vs-NeuroView training, Fig. 3's
weight plots and explorer, Fig. 4's concept bars, Table 2's colour-channel zeroing, and the paper's own
tables for side-by-side comparison. The method itself (:class:`~cnnexplain.methods.neuroview.NeuroView`)
is in :mod:`cnnexplain.methods.neuroview`."""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from cnnexplain.methods.neuroview import NeuroView, zero_channel


def train_plain_and_neuroview(make_backbone: Callable[[], nn.Module], x_train, y_train, x_test, y_test,
                              num_classes: int, pooling: str = "max", site: str = "conv", epochs: int = 3,
                              batch_size: int = 64, lr: float = 1e-3, seed: int = 0, progress: bool = False,
                              neuroview_lr: float | None = None, device=None, standardize: bool = False,
                              schedule: str = "constant") -> dict:
    """Train the plain network and its NeuroView variant from scratch with the same epochs, batch size,
    optimiser and seed (both trunks start from the same initialisation); return both models, their test
    accuracies, the gap (NeuroView − plain, in points), training seconds and last-epoch training
    accuracies (to tell an unconverged network from a worse one) (Table 1).

    ``schedule`` (``fit``'s learning-rate schedule) applies to both networks; ``standardize`` is
    NeuroView's code standardisation (see :class:`NeuroView`)."""
    from cnnexplain.seeding import seed_everything
    from cnnexplain.train import accuracy, fit

    seed_everything(seed)
    plain = make_backbone()
    started = time.perf_counter()
    plain_history = fit(plain, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                        progress=progress, device=device, schedule=schedule)
    plain_s = time.perf_counter() - started
    seed_everything(seed)
    nv = NeuroView(make_backbone(), num_classes, tuple(x_train.shape[1:]), pooling=pooling, site=site,
                   standardize=standardize)
    started = time.perf_counter()
    nv_history = fit(nv, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=neuroview_lr or lr, seed=seed,
                     progress=progress, device=device, schedule=schedule)
    nv_s = time.perf_counter() - started
    plain_acc = accuracy(plain, x_test, y_test)
    nv_acc = accuracy(nv, x_test, y_test)
    return {"plain": plain, "neuroview": nv, "plain_acc": plain_acc, "neuroview_acc": nv_acc,
            "gap_points": 100 * (nv_acc - plain_acc), "plain_train_s": plain_s, "neuroview_train_s": nv_s,
            "plain_train_acc": plain_history.accuracy[-1], "neuroview_train_acc": nv_history.accuracy[-1]}


def plot_unit_weights(ax, weights: np.ndarray, boundaries: Sequence[int], title: str,
                      layer_range: tuple[int, int] | None = None, layer_names: Sequence[str] | None = None):
    """Fig. 3: one class's weight per unit (x = unit index, first layer left), coloured by layer.

    ``layer_range=(first, last)`` (inclusive layer indices) restricts the plot to those layers.
    """
    import matplotlib.pyplot as plt

    boundaries = np.asarray(boundaries)
    n_layers = len(boundaries) - 1
    first, last = layer_range if layer_range is not None else (0, n_layers - 1)
    if not 0 <= first <= last < n_layers:
        raise ValueError(f"layer_range must satisfy 0 <= first <= last < {n_layers}, got {layer_range}")
    colours = plt.get_cmap("tab10" if n_layers <= 10 else "tab20")
    for layer in range(first, last + 1):
        start, stop = boundaries[layer], boundaries[layer + 1]
        name = layer_names[layer] if layer_names is not None else f"layer {layer + 1}"
        ax.vlines(np.arange(start, stop), 0, weights[start:stop], color=colours(layer % colours.N),
                  linewidth=max(0.6, min(2.0, 300 / max(1, boundaries[last + 1] - boundaries[first]))), label=name)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title(title)
    ax.set_xlabel("unit index (first conv layer → last)")
    ax.set_ylabel("linear classifier weight")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0), title="layer")
    return ax


def explore_unit_weights(runs: Mapping[str, tuple], figure: str = "Fig. 3"):
    """Fig. 3 / Fig. 6 explorer: a class selector and a layer-range slider on :func:`plot_unit_weights`.

    ``runs`` maps a run's name to ``(NeuroView network, class names)``. The selector lists every
    (run, class) pair that exists, so no choice silently falls back to another class; the slider spans
    the deepest run's layers and is cut to each network's own depth (the title shows the layers drawn).
    Static (the first class, all layers) under papermill, live in JupyterLab (:func:`cnnexplain.notebook.widgets.explore`).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.widgets import explore

    if not runs:
        raise ValueError("explore_unit_weights needs at least one run: {name: (NeuroView network, class names)}")
    choices = [(f"{run} / {name}", (run, index)) for run, (_, classes) in runs.items()
               for index, name in enumerate(classes)]
    depth = max(len(net.layers) for net, _ in runs.values())

    def show_class_weights(run_class, layers):
        run, index = run_class
        net, classes = runs[run]
        n = len(net.layers)
        first, last = min(layers[0], n) - 1, min(layers[1], n) - 1
        fig, ax = plt.subplots(figsize=(10, 3.5))
        plot_unit_weights(ax, net.class_weights(index), net.layer_boundaries,
                          f"{figure} explorer: {run}, class '{classes[index]}', conv{first + 1}-conv{last + 1}",
                          layer_range=(first, last), layer_names=[f"conv{i + 1}" for i in range(n)])
        return fig

    layers = w.IntRangeSlider(value=(1, depth), min=1, max=depth, description="layers", continuous_update=False)
    return explore(show_class_weights, run_class=choices, layers=layers)


def per_class_channel_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, class_names: Sequence[str]):
    """Table 2: accuracy (%) per class with no change and with the R, G or B channel zeroed."""
    import pandas as pd

    from cnnexplain.train import predict

    columns = {"None": x, "Red": zero_channel(x, 0), "Green": zero_channel(x, 1), "Blue": zero_channel(x, 2)}
    preds = {k: predict(model, v).argmax(1) for k, v in columns.items()}
    rows = []
    for c, name in enumerate(class_names):
        sel = y == c
        rows.append({"class": name, **{k: 100 * (p[sel] == c).float().mean().item() for k, p in preds.items()}})
    return pd.DataFrame(rows)


def plot_class_concepts(ax, positive, negative, title: str):
    """Fig. 4: top positive (right, red) and negative (left, blue) concepts of one class, in percent."""
    names = list(positive.concept) + list(negative.concept)
    values = list(positive.percent) + [-p for p in negative.percent]
    colours = ["tab:red"] * len(positive) + ["tab:blue"] * len(negative)
    ax.barh(np.arange(len(names)), values, color=colours)
    ax.set_yticks(np.arange(len(names)), [f"+ {n}" for n in positive.concept] + [f"− {n}" for n in negative.concept])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_title(title)
    ax.set_xlabel("% of the class's positive (+) / negative (−) labelled weight")
    return ax


# The paper's Table 1 (validation/test accuracy, %), for side-by-side tables.
PAPER_TABLE1 = [
    # network, pooling, dataset, plain accuracy, NeuroView accuracy
    ("ResNet18", "max", "Places10", 93.7, 93.1), ("ResNet34", "max", "Places10", 92.3, 93.9),
    ("ResNet50", "max", "Places10", 92.7, 91.9), ("VGG11", "max", "Places10", 92.9, 94.0),
    ("VGG19", "max", "Places10", 92.9, 92.8), ("AlexNet", "mean", "Places10", 79.6, 89.6),
    ("VGG11", "mean", "ModelNet40", 92.5, 92.7), ("VGG11", "mean", "ModelNet40 MV", 90.9, 91.6),
    ("VGG11", "mean", "Texture", 96.8, 99.3), ("AlexNet", "mean", "UrbanSound8k", 73.1, 74.3),
]


def paper_table1():
    """The paper's Table 1 as a DataFrame with the gap (NeuroView − plain, points)."""
    import pandas as pd

    frame = pd.DataFrame(PAPER_TABLE1, columns=["network", "pooling", "dataset", "plain_acc", "neuroview_acc"])
    frame["gap_points"] = (frame.neuroview_acc - frame.plain_acc).round(1)
    return frame


# The paper's Table 2 (Places10 validation accuracy, %, with one colour channel set to zero).
PAPER_TABLE2 = [
    # network, class, none, red, green, blue
    ("VGG11", "barn", 95, 0, 71, 8), ("VGG11", "aquarium", 88, 84, 18, 71), ("VGG11", "ballroom", 88, 32, 45, 75),
    ("VGG11", "baseball_field", 95, 0, 30, 0), ("VGG11", "badlands", 95, 0, 0, 20),
    ("NeuroView VGG11", "barn", 94, 63, 17, 77), ("NeuroView VGG11", "aquarium", 91, 98, 85, 89),
    ("NeuroView VGG11", "ballroom", 88, 74, 87, 89), ("NeuroView VGG11", "baseball_field", 98, 64, 0, 53),
    ("NeuroView VGG11", "badlands", 90, 25, 1, 57),
]


def channel_drops(table):
    """Mean accuracy drop (points) over the R, G and B zeroings, per (network, class) of a Table-2-shaped
    DataFrame with columns network, class, None, Red, Green, Blue. Returns a class × network DataFrame."""
    frame = table.copy()
    frame["drop"] = frame["None"] - frame[["Red", "Green", "Blue"]].mean(axis=1)
    return frame.pivot(index="class", columns="network", values="drop")


def paper_table2():
    """The paper's Table 2 as a DataFrame (same columns as :func:`per_class_channel_accuracy` plus network)."""
    import pandas as pd

    return pd.DataFrame(PAPER_TABLE2, columns=["network", "class", "None", "Red", "Green", "Blue"])


# ---- shared training recipe -----------------------------------------------------------------------------
def has_batch_norm(arch: str, batch_norm: bool) -> bool:
    """Whether ``build(arch, ..., batch_norm=batch_norm)`` has a BatchNorm after its convolutions: the small
    layouts when ``batch_norm``, torchvision's ResNets always, its VGG/AlexNet never."""
    return batch_norm if arch.startswith("small_") else arch.startswith("resnet")


def unit_site(arch: str, batch_norm: bool) -> str:
    """Where NeuroView reads each unit (§3.1): at the BatchNorm output (``"preact"``, the pre-activation the
    ReLU sees) when the layout has BatchNorm, else at the convolution (``"conv"``)."""
    return "preact" if has_batch_norm(arch, batch_norm) else "conv"


def as_input_for(arch: str, x: torch.Tensor) -> torch.Tensor:
    """Repeat a grayscale batch to 3 channels for torchvision's nets (they take RGB); others unchanged."""
    from cnnexplain.models.neuroview_backbones import TORCHVISION_ARCHS

    return x.expand(-1, 3, *x.shape[2:]) if arch in TORCHVISION_ARCHS and x.shape[1] == 1 else x


def train_neuroview(arch: str, x: torch.Tensor, y: torch.Tensor, num_classes: int, pooling: str, *, epochs: int,
                    batch_size: int, lr: float, seed: int, batch_norm: bool, device=None) -> NeuroView:
    """One NeuroView network (Eq. 2) on ``build(arch)``, trained from scratch with Adam (Fig. 3, 4, 6)."""
    from cnnexplain.models.neuroview_backbones import build
    from cnnexplain.seeding import seed_everything
    from cnnexplain.train import fit

    seed_everything(seed)
    model = NeuroView(build(arch, x.shape[1], num_classes, batch_norm=batch_norm), num_classes, tuple(x.shape[1:]),
                      pooling=pooling, site=unit_site(arch, batch_norm))
    fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    return model


def train_pair(arch: str, x_train, y_train, x_test, y_test, num_classes: int, pooling: str, *, epochs: int,
               batch_size: int, lr: float, neuroview_lr: float, seed: int, batch_norm: bool, standardize: bool = False,
               schedule: str = "constant", device=None) -> dict:
    """:func:`train_plain_and_neuroview` on ``build(arch)`` with this study's recipe: BatchNorm per
    ``batch_norm``, units read at :func:`unit_site`, grayscale repeated for torchvision nets."""
    from cnnexplain.models.neuroview_backbones import build

    x_train, x_test = as_input_for(arch, x_train), as_input_for(arch, x_test)
    return train_plain_and_neuroview(lambda: build(arch, x_train.shape[1], num_classes, batch_norm=batch_norm),
                                     x_train, y_train, x_test, y_test, num_classes, pooling=pooling,
                                     site=unit_site(arch, batch_norm), epochs=epochs, batch_size=batch_size, lr=lr,
                                     neuroview_lr=neuroview_lr, seed=seed, standardize=standardize, schedule=schedule,
                                     device=device)


def conv_names(model) -> list[str]:
    """``conv1``, ``conv2``, ... for a NeuroView network's unit layers (the paper's layer names)."""
    return [f"conv{i + 1}" for i in range(len(model.layers))]


# ---- notebook 30: Table 1 --------------------------------------------------------------------------------
def table1_runs(datasets: Sequence[str], archs: Sequence[str], torchvision_rows: Sequence[Sequence[str]]):
    """The (data set, architecture) pairs of Table 1: every data set × every small layout, then the extra
    ``[data set, torchvision arch]`` rows whose data set is loaded."""
    return [(d, a) for d in datasets for a in archs] + [tuple(r) for r in torchvision_rows if r[0] in datasets]


def train_table1(datasets: Mapping[str, tuple], runs, pooling: Mapping[str, str], *, epochs: int,
                 torchvision_epochs: int, batch_size: int, lr: float, neuroview_lr: float, seed: int,
                 batch_norm: bool, standardize: bool, schedule: str, device=None, progress: bool = True):
    """Table 1 (C1): train the plain net and its NeuroView variant for every ``(data set, arch)`` run with
    the same budget (:func:`train_plain_and_neuroview`); torchvision rows get ``torchvision_epochs``.

    ``datasets[name] = (x_train, y_train, x_test, y_test, classes)``. Returns ``(table, models)``: one row
    per run with both test accuracies, the gap (points), both last-epoch training accuracies (%), the
    seconds, and ``c1_row`` — the row's status under claim C1 (:func:`claims.on_par_row`: ``not checked``
    unless both nets converged); ``models["<data set> / <arch>"] = (NeuroView net, classes)``.
    """
    import pandas as pd

    from cnnexplain.models.neuroview_backbones import TORCHVISION_ARCHS
    from cnnexplain.papers.neuroview.claims import on_par_row
    from cnnexplain.progress import progress as progress_bar

    rows, models = [], {}
    for dataset, arch in progress_bar(runs, desc="Table 1", disable=not progress):
        xtr, ytr, xte, yte, classes = datasets[dataset]
        run_epochs = torchvision_epochs if arch in TORCHVISION_ARCHS else epochs
        result = train_pair(arch, xtr, ytr, xte, yte, len(classes), pooling[arch], epochs=run_epochs,
                            batch_size=batch_size, lr=lr, neuroview_lr=neuroview_lr, seed=seed, batch_norm=batch_norm,
                            standardize=standardize, schedule=schedule, device=device)
        models[f"{dataset} / {arch}"] = (result["neuroview"], classes)
        row = {"dataset": dataset, "network": arch, "pooling": pooling[arch],
               "batch_norm": has_batch_norm(arch, batch_norm), "epochs": run_epochs,
               "units": result["neuroview"].n_units, "layers": len(result["neuroview"].layers),
               **{k: round(100 * result[k], 1) for k in ("plain_acc", "neuroview_acc")},
               "gap_points": round(result["gap_points"], 1),
               **{k: round(100 * result[k], 1) for k in ("plain_train_acc", "neuroview_train_acc")},
               **{k: round(result[k], 1) for k in ("plain_train_s", "neuroview_train_s")}}
        row["c1_row"] = on_par_row(row["gap_points"], row["plain_train_acc"], row["neuroview_train_acc"])
        rows.append(row)
    return pd.DataFrame(rows), models


def dataset_overview(datasets: Mapping[str, tuple], per_dataset: int = 6, title: str = "Embedded data sets"):
    """The first ``per_dataset`` training examples of every data set, titled with their class."""
    from cnnexplain.notebook.plots import image_grid

    images, titles = [], []
    for name, (xtr, ytr, _, _, classes) in datasets.items():
        for i in range(min(per_dataset, len(xtr))):
            images.append(xtr[i])
            titles.append(f"{name}: {classes[ytr[i]]}")
    return image_grid(images, titles, ncols=per_dataset, cmap="gray", suptitle=title)


def plot_table1_bars(table1):
    """Table 1 (ours) as bars: plain vs NeuroView test accuracy per run, the gap written above each pair."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(table1)), 4))
    x = np.arange(len(table1))
    ax.bar(x - 0.2, table1.plain_acc, width=0.4, label="plain")
    ax.bar(x + 0.2, table1.neuroview_acc, width=0.4, label="NeuroView")
    for i, r in enumerate(table1.itertuples()):
        ax.text(i, max(r.plain_acc, r.neuroview_acc) + 1, f"{r.gap_points:+.1f}", ha="center", fontsize="small")
    ax.set_xticks(x, [f"{r.dataset}\n{r.network}" for r in table1.itertuples()], fontsize="small")
    ax.set_ylim(0, 110)
    ax.legend(loc="lower right")
    label(ax, "Table 1 (ours): test accuracy, plain vs NeuroView (gap in points above bars)", "data set / network",
          "test accuracy (%)")
    return fig


def plot_class_weights_per_run(runs: Mapping[str, tuple], class_index: int = 0, title: str = ""):
    """One Fig. 3-style row per run: the weights of class ``class_index`` per unit, coloured by layer.
    ``runs[name] = (NeuroView net, class names)``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 2.6 * len(runs)), squeeze=False)
    for ax, (key, (net, classes)) in zip(axes[:, 0], runs.items()):
        plot_unit_weights(ax, net.class_weights(class_index), net.layer_boundaries,
                          f"{key}: class '{classes[class_index]}'", layer_names=conv_names(net))
    fig.suptitle(title)
    return fig


# ---- notebook 31: Fig. 3 and Fig. 4 ------------------------------------------------------------------------
FIG3_RUNS = ("a: VGG11 scenes", "b: VGG11 textures", "c: AlexNet scenes", "d: AlexNet scenes + Gatys-stylized")


def stylized_training_set(scenes, n_styles: int, n_per_class: int, steps: int, size: int, seed: int):
    """Fig. 3(d) / §4.2: Gatys-stylized copies of the first ``n_per_class`` training scenes of every class,
    each with one of ``n_styles`` random texture styles (cached, :func:`gatys_stylize`). Returns a dict with
    the augmented training set ``x``/``y`` (scenes + copies), the ``content`` images, their ``stylized``
    copies and labels ``content_y``, and the ``seconds`` it took (~0 from the cache)."""
    from cnnexplain.data.neuroview_datasets import first_per_class, gatys_stylize, random_styles

    started = time.perf_counter()
    styles = random_styles(n_styles, size, seed=seed)
    content, content_y = first_per_class(scenes.x_train, scenes.y_train, n_per_class)
    stylized = gatys_stylize(content, styles, steps=steps, seed=seed, progress=True)
    return {"x": torch.cat([scenes.x_train, stylized]), "y": torch.cat([scenes.y_train, content_y]),
            "content": content, "stylized": stylized, "content_y": content_y,
            "seconds": time.perf_counter() - started}


def train_fig3_models(scenes, textures: tuple, stylized: Mapping, vgg_arch: str, alexnet_arch: str, **train):
    """The four NeuroView networks of Fig. 3: (a) VGG11 layout, max pooling, scenes; (b) the same on
    textures (mean pooling, the paper's Texture row); (c) AlexNet layout, mean pooling, scenes; (d) the same
    with the stylized copies added. ``train`` goes to :func:`train_neuroview`. Returns
    ``{FIG3_RUNS[i]: (net, classes, x_test, y_test)}``."""
    tex_xtr, tex_ytr, tex_xte, tex_yte, tex_classes = textures
    n = len(scenes.classes)
    return {
        FIG3_RUNS[0]: (train_neuroview(vgg_arch, scenes.x_train, scenes.y_train, n, "max", **train),
                       scenes.classes, scenes.x_test, scenes.y_test),
        FIG3_RUNS[1]: (train_neuroview(vgg_arch, tex_xtr, tex_ytr, len(tex_classes), "mean", **train),
                       tex_classes, tex_xte, tex_yte),
        FIG3_RUNS[2]: (train_neuroview(alexnet_arch, scenes.x_train, scenes.y_train, n, "mean", **train),
                       scenes.classes, scenes.x_test, scenes.y_test),
        FIG3_RUNS[3]: (train_neuroview(alexnet_arch, stylized["x"], stylized["y"], n, "mean", **train),
                       scenes.classes, scenes.x_test, scenes.y_test),
    }


def model_accuracy_table(models: Mapping[str, tuple]):
    """Units, layers and test accuracy (%) of every ``models[name] = (net, classes, x_test, y_test)``."""
    import pandas as pd

    from cnnexplain.train import accuracy

    return pd.DataFrame([{"model": k, "units": m.n_units, "layers": len(m.layers),
                          "test_acc": round(100 * accuracy(m, xt, yt), 1)} for k, (m, _, xt, yt) in models.items()])


def plot_fig3(models: Mapping[str, tuple], panels: Sequence[tuple[str, str]]):
    """Fig. 3 (a-d): one panel per ``(run, class name)``: that class's weight per unit, coloured by layer."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 7))
    for ax, (key, cls) in zip(axes.flat, panels):
        model, classes = models[key][:2]
        plot_unit_weights(ax, model.class_weights(classes.index(cls)), model.layer_boundaries,
                          f"Fig. 3{key[0]}: NeuroView {key[3:]}, class '{cls}'", layer_names=conv_names(model))
    fig.suptitle("Fig. 3: per-unit linear-classifier weights, units ordered first → last conv layer")
    return fig


def positive_layer_shares(model, top_fraction: float) -> np.ndarray:
    """Per layer, its share of every class's top ``top_fraction`` positive weights (all classes pooled)."""
    from cnnexplain.methods.neuroview import top_weight_layer_shares

    return top_weight_layer_shares(model.weights(), model.layer_boundaries, top_fraction, "pos")


def layer_share_table(models: Mapping[str, tuple], top_fraction: float):
    """Fig. 3 summary: per model, sign (pos / neg / abs) and layer, the layer's share of the top weights and
    its share of all units (chance)."""
    import pandas as pd

    from cnnexplain.methods.neuroview import layer_unit_shares, top_weight_layer_shares

    rows = []
    for key, (model, *_rest) in models.items():
        w, b = model.weights(), model.layer_boundaries
        for sign in ("pos", "neg", "abs"):
            for layer, (s, u) in enumerate(zip(top_weight_layer_shares(w, b, top_fraction, sign),
                                               layer_unit_shares(b))):
                rows.append({"model": key, "sign": sign, "layer": f"conv{layer + 1}", "top_share": round(s, 3),
                             "unit_share": round(u, 3)})
    return pd.DataFrame(rows)


def plot_layer_shares(shares, top_fraction: float):
    """Heat map of :func:`layer_share_table`'s positive shares (model × layer); returns ``(fig, pivot)``."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    pivot = shares[shares.sign == "pos"].pivot(index="model", columns="layer", values="top_share")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    im = ax.imshow(pivot.to_numpy(), cmap="viridis", vmin=0)
    ax.set_xticks(range(pivot.shape[1]), pivot.columns)
    ax.set_yticks(range(pivot.shape[0]), pivot.index)
    fig.colorbar(im, ax=ax, label=f"share of top-{top_fraction:.0%} positive weights")
    label(ax, "Fig. 3 summary: layer of each class's largest positive weights (all classes)", "layer", "model")
    return fig, pivot


def deep_share(model, top_fraction: float, last: int = 2) -> tuple[float, float]:
    """Fig. 3(a) / Fig. 6: the share of the top positive weights in the last ``last`` conv layers, and those
    layers' share of all units (what chance gives)."""
    from cnnexplain.methods.neuroview import layer_unit_shares

    return (float(positive_layer_shares(model, top_fraction)[-last:].sum()),
            float(layer_unit_shares(model.layer_boundaries)[-last:].sum()))


def positive_layer_tv(model_a, model_b, top_fraction: float) -> float:
    """Fig. 3(b) / Fig. 6: total-variation distance between two nets' per-layer shares of the top positive
    weights (same layout; 0 = same layers, 1 = disjoint layers)."""
    a, b = positive_layer_shares(model_a, top_fraction), positive_layer_shares(model_b, top_fraction)
    if len(a) != len(b):
        raise ValueError(f"the two nets have {len(a)} and {len(b)} unit layers; compare nets of one layout")
    return float(0.5 * np.abs(a - b).sum())


def early_negative(model, first: int = 2, fraction: float = 0.2) -> float:
    """Fig. 3(d): the mean of every class's ``fraction`` most negative weights among the units of the first
    ``first`` conv layers (more negative = larger negative early weights)."""
    w = model.weights()[:, : model.layer_boundaries[first]]
    return float(np.sort(w, axis=1)[:, : max(1, int(fraction * w.shape[1]))].mean())


def fig4_dissection(model, scenes, quantile: float):
    """Fig. 4 / §4.1: dissect every unit on the probe scenes (:func:`dissect`) and sum each class's weights
    per concept (:func:`class_concepts`). Returns ``(unit labels, class-concept table)``; both ``None`` when
    the scenes carry no concept masks (a paper data set: Broden is not wired in)."""
    import pandas as pd

    from cnnexplain.methods.neuroview import class_concepts, dissect

    if not len(scenes.concepts):
        return None, None
    labels = dissect(model, scenes.probe_images, scenes.probe_masks, scenes.concepts, quantile=quantile)
    labels = labels.merge(model.unit_table()[["unit", "layer_name"]], on="unit")
    rows = []
    for c, cls in enumerate(scenes.classes):
        pos, neg = class_concepts(model, labels, c)
        rows += [{"class": cls, "sign": "+", **r} for r in pos.to_dict("records")]
        rows += [{"class": cls, "sign": "-", **r} for r in neg.to_dict("records")]
    return labels, pd.DataFrame(rows, columns=["class", "sign", "concept", "weight", "percent"])


def top_concept(concepts_table, cls: str, sign: str):
    """The first concept of class ``cls`` with ``sign`` ('+' or '-') in :func:`fig4_dissection`'s table,
    ``None`` when there is none (or no table)."""
    if concepts_table is None:
        return None
    rows = concepts_table[(concepts_table["class"] == cls) & (concepts_table.sign == sign)]
    return rows.concept.iloc[0] if len(rows) else None


def plot_fig4(model, labels, class_names: Sequence[str], classes: Sequence[int], title: str,
              notes: Sequence[str] | None = None):
    """Fig. 4: the top positive / negative concepts of each class index in ``classes``, side by side.
    ``title`` is formatted with ``cls`` (the class name); ``notes[c]``, if given, is appended in brackets."""
    import matplotlib.pyplot as plt

    from cnnexplain.methods.neuroview import class_concepts

    fig, axes = plt.subplots(1, len(classes), figsize=(6 * len(classes), 4), squeeze=False)
    for ax, c in zip(axes[0], classes):
        pos, neg = class_concepts(model, labels, c)
        plot_class_concepts(ax, pos, neg, title.format(cls=class_names[c]) + (f" ({notes[c]})" if notes else ""))
    return fig


def world_known_answer(n_per_class: int, n_probe_per_class: int, texture_prob: float, quantile: float, *,
                       seed: int, size: int = 32, arch: str = "small_vgg11", **train):
    """Fig. 4 with a known answer: train NeuroView (``arch``, max pooling) on the textured-shapes world
    (class c = shape c, filled with texture c with probability ``texture_prob``), dissect it with the world's
    22 concepts and, per class, read its top positive concept by the paper's summed weights (§4.1) and by
    the mean weight per unit (shown, not judged). ``hit``: the top concept is the class's own shape or
    texture; ``chance``: the share of own concepts among the class's positive concepts.

    Returns a dict: ``model``, ``test_acc`` (%), ``labels`` (unit concepts), ``table`` (one row per readout
    and class), and for the summed readout ``hits`` and ``chance`` (sums over classes)."""
    import pandas as pd

    from cnnexplain.data import world
    from cnnexplain.data.neuroview_datasets import own_concepts, world_concept_masks
    from cnnexplain.methods.neuroview import class_concepts, dissect
    from cnnexplain.train import accuracy

    make = lambda n, s: world.make_dataset(n, "original", seed=s, texture_prob=texture_prob, size=size)  # noqa: E731
    train_set, test_set, probe = make(n_per_class, seed), make(max(1, n_per_class // 3), seed + 1), \
        make(n_probe_per_class, seed + 2)
    model = train_neuroview(arch, train_set.images, train_set.labels, len(world.CLASSES), "max", seed=seed, **train)
    masks, names = world_concept_masks(probe)
    labels = dissect(model, probe.images, masks, names, quantile=quantile)
    rows = []
    for reduce in ("sum", "mean"):
        for c, name in enumerate(world.CLASSES):
            pos, neg = class_concepts(model, labels, c, top=100, reduce=reduce)
            own = own_concepts(name, c)
            rows.append({"reduce": reduce, "class": name, "class_texture": world.TEXTURES[c],
                         "top_positive": pos.concept.iloc[0] if len(pos) else None,
                         "top_negative": neg.concept.iloc[0] if len(neg) else None,
                         "hit": bool(len(pos)) and pos.concept.iloc[0] in own,
                         "chance": float(pos.concept.isin(own).mean()) if len(pos) else 0.0})
    table = pd.DataFrame(rows)
    summed = table[table.reduce == "sum"]
    return {"model": model, "test_acc": 100 * accuracy(model, test_set.images, test_set.labels), "labels": labels,
            "table": table, "hits": int(summed.hit.sum()), "chance": float(summed.chance.sum()),
            "n_classes": len(world.CLASSES), "classes": list(world.CLASSES), "textures": list(world.TEXTURES)}


# ---- notebook 32: Table 2 / Fig. 7, Fig. 5, Fig. 6 ------------------------------------------------------------
INDOOR_CLASSES = ("aquarium", "ballroom")  # Table 2 / §4.6: texture-driven, robust to colour zeroing
SCENIC_CLASSES = ("barn", "baseball_field", "badlands")  # drop considerably


def table2_experiment(scenes, arch: str, *, epochs: int, batch_size: int, lr: float, neuroview_lr: float, seed: int,
                      batch_norm: bool, device=None):
    """Table 2 / §4.6: train the plain net and NeuroView (max pooling) on the scenes, then the per-class test
    accuracy (%) with no change and with R, G or B zeroed. Returns ``(pair, table2)``: ``pair`` from
    :func:`train_plain_and_neuroview`; ``table2`` with columns network, class, None, Red, Green, Blue."""
    import pandas as pd

    pair = train_pair(arch, scenes.x_train, scenes.y_train, scenes.x_test, scenes.y_test, len(scenes.classes), "max",
                      epochs=epochs, batch_size=batch_size, lr=lr, neuroview_lr=neuroview_lr, seed=seed,
                      batch_norm=batch_norm, device=device)
    table2 = pd.concat([per_class_channel_accuracy(pair[k], scenes.x_test, scenes.y_test, scenes.classes)
                        .assign(network=name) for k, name in (("plain", "VGG11 layout"),
                                                              ("neuroview", "NeuroView VGG11 layout"))])
    return pair, table2[["network", "class", "None", "Red", "Green", "Blue"]].round(1)


def plot_fig7(scenes, drops, cls: str = "ballroom"):
    """Fig. 7: one test image of ``cls`` unmodified and with R, G, B zeroed, and Table 2's mean drops as bars."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    example = scenes.x_test[scenes.y_test == scenes.classes.index(cls)][:1]
    views = [example[0]] + [zero_channel(example, c)[0] for c in ("red", "green", "blue")]
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 3]})
    for ax, im, title in zip(axes, views, ["(a) unmodified", "(b) red = 0", "(c) green = 0", "(d) blue = 0"]):
        ax.imshow(im.permute(1, 2, 0).numpy())
        ax.set_title(f"Fig. 7{title[:3]} '{cls}' {title[4:]}", fontsize="small")
        ax.axis("off")
    drops.plot.bar(ax=axes[4])
    label(axes[4], "Table 2: mean accuracy drop over R/G/B zeroing", "class", "drop (points)")
    return fig


def train_multiview(x_train, y_train, x_test, y_test, num_classes: int, *, epochs: int, batch_size: int, lr: float,
                    neuroview_lr: float, seed: int, batch_norm: bool, width: int = 4, device=None) -> dict:
    """Fig. 5 / §4.4: MVCNN view pooling (one shared VGG11-layout trunk, element-wise max over the views;
    Su et al.) vs multi-view NeuroView (one trunk per view, mean soft-VQ pooling, all views' units into one
    linear layer), same epochs and optimiser. Inputs (N, V, C, H, W). Returns both nets, their test
    accuracies and last-epoch training accuracies (%)."""
    from torch import nn

    from cnnexplain.methods.neuroview import MultiViewNeuroView, ViewPoolingCNN
    from cnnexplain.models.neuroview_backbones import SmallVGG
    from cnnexplain.seeding import seed_everything
    from cnnexplain.train import accuracy, fit

    make_trunk = lambda: SmallVGG("vgg11", x_train.shape[2], num_classes, width=width, batch_norm=batch_norm)  # noqa: E731
    seed_everything(seed)
    trunk = make_trunk()
    mvcnn = ViewPoolingCNN(nn.Sequential(trunk.features, trunk.pool), trunk.classifier[1].in_features, num_classes)
    mvcnn_history = fit(mvcnn, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    seed_everything(seed)
    nv = MultiViewNeuroView(make_trunk, x_train.shape[1], num_classes, tuple(x_train.shape[2:]), pooling="mean",
                            site="preact" if batch_norm else "conv")
    nv_history = fit(nv, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=neuroview_lr, seed=seed,
                     device=device)
    return {"mvcnn": mvcnn, "neuroview": nv, "mvcnn_acc": 100 * accuracy(mvcnn, x_test, y_test),
            "neuroview_acc": 100 * accuracy(nv, x_test, y_test), "mvcnn_train_acc": 100 * mvcnn_history.accuracy[-1],
            "neuroview_train_acc": 100 * nv_history.accuracy[-1]}


def plot_fig5(view_means: np.ndarray, classes: Sequence[str]):
    """Fig. 5: the mean weight of each view's units per class (heat map), and bars for the class with the
    most and the fewest positive views. Returns ``(fig, positive views per class)``."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import SIGNED_CMAP, label

    n_views = view_means.shape[1]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), gridspec_kw={"width_ratios": [2, 1, 1]})
    top = np.abs(view_means).max()
    im = axes[0].imshow(view_means, cmap=SIGNED_CMAP, vmin=-top, vmax=top, aspect="auto")
    axes[0].set_yticks(range(len(classes)), classes)
    fig.colorbar(im, ax=axes[0], label="mean weight of the view's units")
    label(axes[0], "Fig. 5: mean NeuroView weight per view and class", "view", "class")
    positive_views = (view_means > 0).sum(1)
    for ax, c in zip(axes[1:], (int(positive_views.argmax()), int(positive_views.argmin()))):
        ax.bar(range(n_views), view_means[c], color=["tab:red" if v > 0 else "tab:blue" for v in view_means[c]])
        label(ax, f"Fig. 5: class '{classes[c]}' ({positive_views[c]} positive views)", "view", "mean unit weight")
        ax.set_xticks(range(n_views))
    return fig, positive_views


def sound_layer_shares(sound_net, image_net, top_fraction: float):
    """Fig. 6 summary: per layer, the share of the top positive weights of the sound net and of the image
    net (same layout), and the layer's share of units."""
    import pandas as pd

    from cnnexplain.methods.neuroview import layer_unit_shares

    b = sound_net.layer_boundaries
    return pd.DataFrame({"layer": conv_names(sound_net), "sound": positive_layer_shares(sound_net, top_fraction),
                         "scenes": positive_layer_shares(image_net, top_fraction),
                         "unit_share": layer_unit_shares(b)}).round(3)


def plot_fig6(sound_net, classes: Sequence[str], to_plot: Sequence[int]):
    """Fig. 6: per-unit weights of the sound NeuroView net for the classes ``to_plot``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(to_plot), figsize=(13, 3.6), squeeze=False)
    for ax, c in zip(axes[0], to_plot):
        plot_unit_weights(ax, sound_net.class_weights(c), sound_net.layer_boundaries,
                          f"Fig. 6: NeuroView AlexNet layout, class {c} ('{classes[c]}')",
                          layer_names=conv_names(sound_net))
    return fig


def plot_sound_layer_shares(shares):
    """Fig. 6 summary: :func:`sound_layer_shares` as grouped bars per layer."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    fig, ax = plt.subplots(figsize=(7, 3.5))
    shares.set_index("layer").plot.bar(ax=ax)
    label(ax, "Fig. 6 summary: layer of the top-5% positive weights, sound vs scenes (AlexNet layout)", "layer",
          "share")
    return fig


def plot_multiview_inputs(x, y, classes: Sequence[str], other: int = 4):
    """Fig. 5 input: every view of the first object and of the first object of class ``other``."""
    from cnnexplain.notebook.plots import image_grid

    other = min(other, len(classes) - 1)
    n_views = x.shape[1]
    return image_grid(list(x[0]) + list(x[y == other][0]), [f"view {v}" for v in range(n_views)] * 2, ncols=n_views,
                      cmap="gray", size=1.1, suptitle=f"Fig. 5 input: {n_views} views of a '{classes[y[0]]}' and a "
                                                      f"'{classes[other]}'")
