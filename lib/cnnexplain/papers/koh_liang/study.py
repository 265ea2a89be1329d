"""Koh & Liang 2017, Fig. 2 (CNN panel) on a small scale: do influence functions predict the leave-one-out
change of a test loss? Notebook 50 calls these.

Sign convention (stated on every table header and axis of notebook 50): the influence score is Koh & Liang's
I_up,loss(x_j, x̂) = dL(x̂)/dε for up-weighting training image x_j (Aamir et al.'s Eq. 5 as printed,
:mod:`cnnexplain.methods.influence_functions.layerwise`), so **+ = harmful**: more weight on x_j would raise
the test loss. Removing x_j (ε = −1/n) changes the test loss by about −I_up,loss/n, the "predicted change".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats

from cnnexplain.data.sources import embedded_mnist
from cnnexplain.methods.influence_functions.layerwise import (global_influence, layerwise_influence,
                                                            predicted_removal_change)
from cnnexplain.methods.influence_functions.retraining import fit_lbfgs, leave_one_out_loss_changes, smooth_cnn
from cnnexplain.train import fit

#: In words, for table headers and axes: the sign of the influence scores notebook 50 shows.
SIGN = "I = I_up,loss (Koh & Liang; Eq. 5 as printed): + = harmful, up-weighting the image raises the test loss"
PREDICTED_AXIS = "predicted change on removal\n−I/n (I: + = harmful)"
ACTUAL_AXIS = "actual change of the test loss\non removal (retrained)"


def small_mnist(n_train: int, n_test: int, seed: int = 0):
    """Embedded MNIST digits average-pooled to 14×14 px, in float64 (the influence and L-BFGS computations
    need the precision; the smaller images keep every retraining cheap)."""
    x_train, y_train, x_test, y_test = embedded_mnist(n_train, n_test, seed=seed)
    pool = torch.nn.functional.avg_pool2d
    return pool(x_train.double(), 2), y_train, pool(x_test.double(), 2), y_test


@dataclass
class TrainedNet:
    """A smooth CNN trained to an optimum of the L2-regularised risk, and how close it got."""

    model: torch.nn.Module
    accuracy: float
    risk: float  # final regularised objective
    grad_norm: float  # ‖∇R(θ̂)‖: how close to a stationary point
    iterations: int  # L-BFGS iterations
    test_losses: torch.Tensor

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def train_to_optimum(x_train, y_train, x_test, y_test, *, width: int, hidden: int, convs: int, adam_epochs: int,
                     weight_decay: float, lbfgs_iterations: int, seed: int = 0) -> TrainedNet:
    """Adam gets close, full-batch L-BFGS polishes (:func:`~cnnexplain.methods.influence_functions.retraining.fit_lbfgs`):
    influence functions are a Taylor expansion around an optimum of R(θ) = (1/n) Σ L + (w/2)‖θ‖²."""
    model = smooth_cnn(width=width, hidden=hidden, convs=convs, image_size=int(x_train.shape[-1])).double()
    fit(model, x_train, y_train, epochs=adam_epochs, batch_size=50, lr=1e-2, seed=seed)
    report = fit_lbfgs(model, x_train, y_train, weight_decay, max_iter=lbfgs_iterations, tolerance_grad=1e-8)
    with torch.no_grad():
        logits = model(x_test)
        losses = torch.nn.functional.cross_entropy(logits, y_test, reduction="none")
        accuracy = (logits.argmax(1) == y_test).double().mean().item()
    return TrainedNet(model, accuracy, report.loss, report.grad_norm, report.iterations, losses)


@dataclass
class Fig2Check:
    """Predicted vs actual leave-one-out changes for one test image (Koh & Liang's Fig. 2)."""

    test_index: int
    test_loss: float
    x_hat: torch.Tensor
    y_hat: torch.Tensor
    table: pd.DataFrame  # one row per removal, columns as in :func:`fig2_check`
    control_drift: float  # change of the test loss after retraining with nothing removed
    block_names: list
    seconds: dict = field(default_factory=dict)

    def correlations(self) -> dict:
        """Pearson and Spearman of predicted vs actual, for the global and the layer-wise-total predictions."""
        out = {}
        for name, column in (("global", "predicted_change_global"), ("layerwise_total", "predicted_change_layerwise")):
            out[f"pearson_{name}"] = float(stats.pearsonr(self.table[column], self.table["actual_change"])[0])
            out[f"spearman_{name}"] = float(stats.spearmanr(self.table[column], self.table["actual_change"])[0])
        return out

    def claim_inputs(self, accuracy: float) -> dict:
        """Keyword arguments of the rule ``koh_liang_fig2_cnn_pearson`` (:mod:`cnnexplain.papers.koh_liang.claims`)."""
        r = self.correlations()
        return dict(pearson=r["pearson_global"], spearman=r["spearman_global"], accuracy=accuracy,
                    n_removals=len(self.table), control_drift=self.control_drift,
                    median_abs_actual=float(np.median(np.abs(self.table["actual_change"]))))


def fig2_check(net: TrainedNet, x_train, y_train, x_test, y_test, *, test_loss_rank: int, n_removals: int,
               weight_decay: float, damping: float, retrain_iterations: int) -> Fig2Check:
    """Koh & Liang's Fig. 2 experiment on the test image with the (rank+1)-th highest loss.

    Scores each training image by the global influence (full damped Hessian H + λI, conjugate gradient) and
    by Aamir et al.'s layer-wise total (Eq. 7: block-diagonal Hessian), removes the ``n_removals`` with the
    largest |predicted change| one at a time, retrains warm-started L-BFGS for ``retrain_iterations`` and
    subtracts the drift of a control retraining with nothing removed. Table columns:
    ``train_index``, ``train_label``, ``influence_global`` (I, + = harmful), ``predicted_change_global`` and
    ``predicted_change_layerwise`` (−I/n), ``actual_change`` (retrained, drift subtracted)."""
    if damping < weight_decay:
        raise ValueError(f"damping {damping:g} < weight decay {weight_decay:g}: the damped Hessian must include "
                         "the regulariser's curvature")
    model, n = net.model, len(x_train)
    k = int(torch.argsort(net.test_losses, descending=True)[test_loss_rank])
    x_hat, y_hat = x_test[k:k + 1], y_test[k:k + 1]
    seconds = {}
    t0 = time.perf_counter()
    global_scores = global_influence(model, x_hat, y_hat, x_train, y_train, solver="cg", damping=damping,
                                     progress=False)
    seconds["influence_global_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    layer_scores = layerwise_influence(model, x_hat, y_hat, x_train, y_train, solver="cg", damping=damping,
                                       progress=False)
    seconds["influence_layerwise_s"] = time.perf_counter() - t0
    predicted = predicted_removal_change(global_scores.total[0], n)
    predicted_layerwise = predicted_removal_change(layer_scores.total[0], n)
    picks = torch.argsort(predicted.abs(), descending=True)[:n_removals]
    t0 = time.perf_counter()
    changes = leave_one_out_loss_changes(model, x_train, y_train, x_hat, y_hat, [None] + picks.tolist(), weight_decay,
                                         max_iter=retrain_iterations, tolerance_grad=1e-8, progress=False)[:, 0]
    seconds["retraining_s"] = time.perf_counter() - t0
    drift = float(changes[0])
    table = pd.DataFrame({"train_index": picks.numpy(), "train_label": y_train[picks].numpy(),
                          "influence_global": global_scores.total[0][picks].numpy(),
                          "predicted_change_global": predicted[picks].numpy(),
                          "predicted_change_layerwise": predicted_layerwise[picks].numpy(),
                          "actual_change": (changes[1:] - changes[0]).numpy()})
    return Fig2Check(k, float(net.test_losses[k]), x_hat, y_hat, table, drift, list(layer_scores.block_names), seconds)


#: Headers of notebook 50's removal table, with the sign convention in words.
TABLE_HEADERS = {
    "train_index": "training image",
    "train_label": "its label",
    "influence_global": "influence I, global (+ = harmful)",
    "predicted_change_global": "predicted change −I/n, global",
    "predicted_change_layerwise": "predicted change −I/n, layer-wise total (Eq. 7)",
    "actual_change": "actual change (retrained, drift subtracted)",
}


def removal_table(check: Fig2Check) -> pd.DataFrame:
    """:attr:`Fig2Check.table` with the headers of :data:`TABLE_HEADERS` (sign convention in words)."""
    return check.table.rename(columns=TABLE_HEADERS)


def fig2_figure(check: Fig2Check, n_train: int):
    """Koh & Liang's Fig. 2: predicted vs actual change, global Hessian beside the layer-wise total."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    r = check.correlations()
    table = check.table
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.4))
    for ax, column, title, name in [(axes[0], "predicted_change_global", "global Hessian (Koh & Liang)", "global"),
                                    (axes[1], "predicted_change_layerwise", "sum of layer-wise scores (Aamir Eq. 7)",
                                     "layerwise_total")]:
        lim = float(np.abs(np.r_[table[column], table["actual_change"]]).max()) * 1.1 or 1.0
        ax.plot([-lim, lim], [-lim, lim], color="grey", lw=1, ls="--")
        ax.scatter(table["actual_change"], table[column], s=22)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        label(ax, f"{title}\nPearson {r[f'pearson_{name}']:.3f}, Spearman {r[f'spearman_{name}']:.3f}", ACTUAL_AXIS,
              PREDICTED_AXIS)
    fig.suptitle(f"Fig. 2 check (Koh & Liang 2017): removing the {len(table)} most influential of {n_train} "
                 f"training images\n{SIGN}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def removal_figure(check: Fig2Check, x_train, removal: int):
    """One removal: the removed training image, the test image, and where it sits on Fig. 2's scatter."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import label

    row = check.table.iloc[removal]
    fig, (ax_train, ax_test, ax_scatter) = plt.subplots(1, 3, figsize=(11, 3.8),
                                                        gridspec_kw={"width_ratios": [1, 1, 1.6]})
    ax_train.imshow(x_train[int(row.train_index), 0].numpy(), cmap="gray")
    ax_train.set_title(f"removed: training image {int(row.train_index)}\nlabel {int(row.train_label)}, "
                       f"I = {row.influence_global:+.2e} (+ = harmful)", fontsize=9)
    ax_test.imshow(check.x_hat[0, 0].numpy(), cmap="gray")
    ax_test.set_title(f"test image {check.test_index}\nlabel {check.y_hat.item()}, loss {check.test_loss:.3f}",
                      fontsize=9)
    for ax in (ax_train, ax_test):
        ax.axis("off")
    ax_scatter.scatter(check.table["actual_change"], check.table["predicted_change_global"], s=18, color="lightgrey")
    ax_scatter.scatter([row.actual_change], [row.predicted_change_global], s=60, color="crimson")
    label(ax_scatter, f"removal {removal + 1} of {len(check.table)}:\npredicted {row.predicted_change_global:+.2e}, "
          f"actual {row.actual_change:+.2e}", ACTUAL_AXIS, PREDICTED_AXIS)
    fig.suptitle("Fig. 2 check (Koh & Liang 2017), one removal")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
