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
