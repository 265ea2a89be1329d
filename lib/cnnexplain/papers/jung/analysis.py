"""Jung et al.'s analyses of influential scores on the synthetic data (§II-C, §IV-A): the toy network
(Fig. 2), rank frequencies (Fig. 3), layer statistics (Fig. 4) and the L2 peaks while Y1 rises (Fig. 5).

Each function returns plain tensors, dicts or DataFrames; the figures are in :mod:`.plots`, the claims'
rules in :mod:`.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from cnnexplain.methods.influential_scores.fast import (influential_scores, rank_of_features, scores_from_snapshot,
                                                        snapshot)
from cnnexplain.papers.jung.claims import PAPER_TOY_H1, PAPER_TOY_H2, PAPER_TOY_OUTPUT
from cnnexplain.papers.jung.synthetic import RELEVANT_FEATURES, toy_min_network

#: the layers of Fig. 4 (the input and the three hidden layers of jung_mlp)
FIG4_LAYERS = ("input", "L1", "L2", "L3")
#: Fig. 5's range of the output Y1
FIG5_RANGE = (0.1, 0.7)
#: a node is a 'significant peak' of a layer when |score| >= this share of the layer's largest (Fig. 4)
PEAK_SHARE = 0.1
#: the paper's 'small number' behind two-features' higher ranks (§IV-A)
SMALL_INPUT = 0.06


# --- Fig. 2 ------------------------------------------------------------------------------------------------------

@dataclass
class ToyExample:
    """Fig. 2's toy network o = min(i1, i2) at inputs (2, 1): scores by the definition, the gradient, and the
    input scores the paper's printed output scores (-1/2, 1/2) would imply."""

    x: torch.Tensor
    hidden: torch.Tensor  # (2,) values of h1, h2
    output: float
    to_hidden: torch.Tensor  # (2 hidden, 2 inputs)
    to_output: torch.Tensor  # (2,) h1, h2 -> o
    input_to_output: torch.Tensor  # (2,) i1, i2 -> o
    gradient: torch.Tensor  # (2,)
    paper_implied_input: torch.Tensor  # (2,)

    def table(self) -> pd.DataFrame:
        """Paper's values (§II-C) beside ours; i1 -> o, i2 -> o in the paper column are implied, not printed."""
        return pd.DataFrame({
            "score": ["i1 -> h1", "i2 -> h1", "i1 -> h2", "i2 -> h2", "h1 -> o", "h2 -> o", "i1 -> o", "i2 -> o"],
            "paper": np.round([*PAPER_TOY_H1, *PAPER_TOY_H2, *PAPER_TOY_OUTPUT, *self.paper_implied_input.tolist()], 4),
            "ours (definition)": np.round([*self.to_hidden.reshape(-1).tolist(), *self.to_output.tolist(),
                                           *self.input_to_output.tolist()], 4),
        })


def toy_example(i1: float = 2.0, i2: float = 1.0) -> ToyExample:
    """§II-C, Fig. 2: influential scores of :func:`toy_min_network` at inputs (i1, i2), the gradient, and
    what the paper's printed output scores would give for the inputs (their product with the input -> hidden scores)."""
    toy = toy_min_network()
    x = torch.tensor([[i1, i2]])
    to_hidden = influential_scores(toy, x, source="input", target=2)[0]  # rows h1, h2; columns i1, i2
    x_grad = x.clone().requires_grad_(True)
    toy(x_grad).sum().backward()
    return ToyExample(x=x, hidden=snapshot(toy, x).values[2][0], output=toy(x).item(), to_hidden=to_hidden,
                      to_output=influential_scores(toy, x, source=2, target="output")[0, 0],
                      input_to_output=influential_scores(toy, x, source="input", target="output")[0, 0],
                      gradient=x_grad.grad[0], paper_implied_input=to_hidden.T @ torch.tensor(PAPER_TOY_OUTPUT))


# --- Fig. 3 ------------------------------------------------------------------------------------------------------

RANK_TARGETS = ("Y0", "predicted", "abs_predicted")


def input_ranks(model, x: torch.Tensor, target: str = "Y0") -> torch.Tensor:
    """§IV-A 'Ranks': rank (0 = highest) of each input by its influential score to the output layer.

    ``target``: the output node the scores are taken w.r.t.: ``"Y0"`` (the node the relevant inputs push
    up in all three data sets), ``"predicted"`` (the predicted node) or ``"abs_predicted"`` (|score| w.r.t.
    the predicted node). Returns (N, F) ranks.
    """
    if target not in RANK_TARGETS:
        raise ValueError(f"target must be one of {RANK_TARGETS}; got {target!r}")
    with torch.no_grad():
        predicted = model(x).argmax(1)
    both = influential_scores(model, x, source="input", target="output")  # (N, 2, F)
    own = both[torch.arange(len(x)), predicted]
    return rank_of_features({"Y0": both[:, 0], "predicted": own, "abs_predicted": own.abs()}[target])


def rank_table(models: dict, test_sets: dict, n_rank: int, targets=RANK_TARGETS):
    """Fig. 3 for every data set and rank target: the share of relevant ranks below the top ``len(relevant)``
    (Fig. 3's histogram counts ranks) and the share of samples with a relevant input below the top.

    Returns ``(table, ranks)`` with ``ranks[(name, target)] = (x, ranks, high)``; ``high`` (N, len(relevant))
    marks relevant inputs ranked below the top.
    """
    rows, ranks = [], {}
    for name, model in models.items():
        relevant = RELEVANT_FEATURES[name]
        xs = test_sets[name][0][:n_rank]
        for target in targets:
            r = input_ranks(model, xs, target)
            high = r[:, relevant] >= len(relevant)
            ranks[(name, target)] = (xs, r, high)
            rows.append({"dataset": name, "ranked_by_scores_wrt": target, "samples": len(xs),
                         "share_of_relevant_ranks_below_top": high.float().mean().item(),
                         "share_of_samples_with_a_relevant_input_below_top": high.any(1).float().mean().item()})
    return pd.DataFrame(rows), ranks


def rank_share(table: pd.DataFrame, dataset: str, target: str, column: str) -> float:
    """One value of :func:`rank_table`'s table."""
    row = table[(table["dataset"] == dataset) & (table["ranked_by_scores_wrt"] == target)]
    if row.empty:
        raise KeyError(f"no row for dataset={dataset!r}, target={target!r}")
    return float(row.iloc[0][column])


def small_input_cause(x: torch.Tensor, high: torch.Tensor, small: float = SMALL_INPUT) -> dict:
    """§IV-A: do two-features' higher ranks come from relevant inputs close to 0? ``x`` (N, F) inputs,
    ``high`` (N, 2) ranks >= 2 of X0, X1 (from :func:`rank_table`). NaN where no input falls in a group."""
    is_small = x[:, :high.shape[1]] < small

    def share(mask):
        return high[mask].float().mean().item() if mask.any() else float("nan")

    return {f"P(rank >= 2 | input < {small})": share(is_small), f"P(rank >= 2 | input >= {small})": share(~is_small),
            f"share of high ranks from inputs < {small}": high[is_small].sum().item() / max(1, high.sum().item())}


def high_rank_by_value(x: torch.Tensor, high: torch.Tensor, bins: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Share of ranks >= 2 of X0, X1 per bin of the input's value in [0, 1): the curve of the cause figure.
    Returns bin centres (bins,) and shares (2, bins), NaN for empty bins."""
    edges = np.linspace(0, 1, bins + 1)
    shares = np.full((high.shape[1], bins), np.nan)
    for k in range(high.shape[1]):
        which = np.digitize(x[:, k].numpy(), edges) - 1
        for b in range(bins):
            if (which == b).any():
                shares[k, b] = high[torch.from_numpy(which == b), k].float().mean().item()
    return (edges[:-1] + edges[1:]) / 2, shares


# --- Fig. 4 ------------------------------------------------------------------------------------------------------

def closest_prediction(model, x: torch.Tensor, y1: float = 0.152) -> int:
    """Index of the sample whose predicted Y1 is closest to ``y1`` (Fig. 4's example predicts (0.848, 0.152))."""
    with torch.no_grad():
        return int((model(x).softmax(1)[:, 1] - y1).abs().argmin())


def layer_scores(model, x: torch.Tensor, layers=FIG4_LAYERS) -> dict:
    """Fig. 4: scores of each layer w.r.t. both outputs, ``{layer: (N, 2, nodes)}``, and the node values."""
    snap = snapshot(model, x)
    found = scores_from_snapshot(snap, sources=layers, target="output")
    return {layer: found[snap.position(layer)] for layer in layers}, {layer: snap.values[snap.position(layer)]
                                                                      for layer in layers}


def layer_statistics(model, x: torch.Tensor, layers=FIG4_LAYERS) -> pd.DataFrame:
    """§IV-A, Fig. 4 over many samples, per layer: the mean Pearson correlation of the Y0 and Y1 score
    vectors (opposite signs: near -1), the mean number of significant peaks (|score w.r.t. Y1| >=
    :data:`PEAK_SHARE` of the layer's largest) and the mean number of active nodes."""
    scores, values = layer_scores(model, x, layers)
    rows = []
    for layer in layers:
        s = scores[layer]
        corr = [np.corrcoef(s[n, 0], s[n, 1])[0, 1] for n in range(len(x))
                if s[n, 0].abs().sum() > 0 and s[n, 0].std() > 0 and s[n, 1].std() > 0]
        peak = (s[:, 1].abs() >= PEAK_SHARE * s[:, 1].abs().amax(1, keepdim=True)).sum(1).float()
        rows.append({"layer": layer, "mean_corr_Y0_Y1_scores": float(np.mean(corr)) if corr else float("nan"),
                     "mean_significant_peaks": peak.mean().item(),
                     "mean_active_nodes": (values[layer] > 0).sum(1).float().mean().item()})
    return pd.DataFrame(rows)


# --- Fig. 5 ------------------------------------------------------------------------------------------------------

def predicted_y1(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).softmax(1)[:, 1]


def l2_scores_y1(model, x: torch.Tensor, layer: str = "L2") -> np.ndarray:
    """Scores of ``layer``'s nodes w.r.t. Y1, (N, nodes)."""
    snap = snapshot(model, x)
    return scores_from_snapshot(snap, [layer], "output", nodes=[1])[snap.position(layer)][:, 0].numpy()


def fig5_levels(model, x: torch.Tensor, n_levels: int, span=FIG5_RANGE):
    """Fig. 5: for ``n_levels`` evenly spaced Y1 levels in ``span`` the sample predicting closest to each.
    Returns ``(y1, l2)``: the picked samples' predicted Y1 (levels,) and their L2 scores w.r.t. Y1 (levels, 200)."""
    prob = predicted_y1(model, x)
    picked = [int((prob - level).abs().argmin()) for level in np.linspace(*span, n_levels)]
    return prob[picked].numpy(), l2_scores_y1(model, x[picked])


def trend_nodes(y1: np.ndarray, l2: np.ndarray) -> dict:
    """Fig. 5's arrows: the L2 node whose score rises most with Y1 (least-squares slope), the one falling most,
    and the most 'stationary' one (large mean |score|, small slope). For the figure only, not for a verdict."""
    slope = np.polyfit(y1, l2, 1)[0]
    size = np.abs(l2).mean(0)
    return {"rising": int(np.argmax(slope)), "falling": int(np.argmin(slope)),
            "stationary": int(np.argmax(np.where(size > 0, size / (np.abs(slope) + 1e-3), 0)))}


def fig5_held_out_peaks(model, x: torch.Tensor, span=FIG5_RANGE, band: float = 0.25) -> dict:
    """§IV-A, Fig. 5, tested on samples the nodes were not picked on.

    The test samples with predicted Y1 in ``span`` are split alternately into a picking half and a held-out
    half. On the picking half, the *negative peak* is the L2 node with the most negative mean score w.r.t. Y1
    over the samples in the lowest ``band`` of the span ("deep when Y1 is small"), the *positive peak* the
    node with the most positive mean score over the highest ``band`` ("high when Y1 is large"). On the
    held-out half we measure the Spearman correlation of each node's score with the predicted Y1: the paper
    says both rise with Y1 ("if the 136th and the 9th nodes have smaller scores, then Y1 becomes small").
    Returns the nodes, both correlations and the number of held-out samples.
    """
    prob = predicted_y1(model, x)
    inside = torch.nonzero((prob >= span[0]) & (prob <= span[1])).flatten()
    pick, held = inside[0::2], inside[1::2]
    result = {"negative_peak_node": None, "positive_peak_node": None, "rho_negative": float("nan"),
              "rho_positive": float("nan"), "n_picking": len(pick), "n_held_out": len(held)}
    if len(pick) < 2 or len(held) < 3:
        return result
    width = band * (span[1] - span[0])
    y_pick, s_pick = prob[pick].numpy(), l2_scores_y1(model, x[pick])
    low, high = y_pick <= span[0] + width, y_pick >= span[1] - width
    if not low.any() or not high.any():
        return result
    negative, positive = int(np.argmin(s_pick[low].mean(0))), int(np.argmax(s_pick[high].mean(0)))
    y_held, s_held = prob[held].numpy(), l2_scores_y1(model, x[held])

    def rho(node):
        column = s_held[:, node]
        return float(spearmanr(y_held, column).statistic) if np.ptp(column) > 0 else 0.0

    return {**result, "negative_peak_node": negative, "positive_peak_node": positive,
            "rho_negative": rho(negative), "rho_positive": rho(positive)}
