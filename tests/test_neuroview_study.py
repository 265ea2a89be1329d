"""papers.neuroview.study: the training, table and reading functions notebooks 30-32 call (Table 1, Fig. 3-7)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnnexplain.papers.neuroview import study  # noqa: E402


class Fixed:
    """A stand-in NeuroView net: fixed weights (classes, units) over layers split at ``layer_boundaries``."""

    def __init__(self, weights, boundaries):
        self._w, self.layer_boundaries = np.asarray(weights, float), np.asarray(boundaries)
        self.layers = [None] * (len(boundaries) - 1)

    def weights(self):
        return self._w.copy()

    def class_weights(self, c):
        return self._w[c].copy()


def test_recipe_helpers():
    assert study.has_batch_norm("small_vgg11", True) and not study.has_batch_norm("small_vgg11", False)
    assert study.has_batch_norm("resnet18", False) and not study.has_batch_norm("vgg11", True)
    assert study.unit_site("small_alexnet", True) == "preact" and study.unit_site("alexnet", True) == "conv"
    gray = torch.zeros(2, 1, 8, 8)
    assert study.as_input_for("resnet18", gray).shape == (2, 3, 8, 8)
    assert study.as_input_for("small_vgg11", gray).shape == (2, 1, 8, 8)
    assert study.table1_runs(["a", "b"], ["x"], [["b", "resnet18"], ["c", "resnet18"]]) == \
        [("a", "x"), ("b", "x"), ("b", "resnet18")]


def test_deep_share_tv_and_early_negative_on_known_weights():
    # 3 layers of 2, 2, 6 units; class 0's top 10% positive weight (1 unit) sits in the last layer,
    # class 1's in the first
    w = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 5.0], [5.0, -3, -1, 0, 0, 0, 0, 0, 0, 0]]
    net = Fixed(w, [0, 2, 4, 10])
    share, chance = study.deep_share(net, 0.1, last=1)
    assert share == pytest.approx(0.5) and chance == pytest.approx(0.6)
    other = Fixed([[0] * 9 + [5.0], [0] * 9 + [5.0]], [0, 2, 4, 10])
    assert study.positive_layer_tv(net, other, 0.1) == pytest.approx(0.5)
    assert study.positive_layer_tv(net, net, 0.1) == 0
    # the most negative 25% (1 of the 4 early units) per class: 0 for class 0, −3 for class 1
    assert study.early_negative(net, first=2, fraction=0.25) == pytest.approx(-1.5)
    with pytest.raises(ValueError, match="one layout"):
        study.positive_layer_tv(net, Fixed(w, [0, 5, 10]), 0.1)


def test_top_concept_and_no_masks():
    table = pd.DataFrame({"class": ["barn", "barn", "ballroom"], "sign": ["+", "-", "+"],
                          "concept": ["sky", "grid", "chequered"], "weight": [1, -1, 1], "percent": [50, 50, 100]})
    assert study.top_concept(table, "barn", "-") == "grid"
    assert study.top_concept(table, "ballroom", "-") is None
    assert study.top_concept(None, "barn", "+") is None

    class NoMasks:
        concepts = []

    assert study.fig4_dissection(object(), NoMasks(), 0.99) == (None, None)


def _tiny(n_classes=3, n=6, channels=1, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat(n)
    x = torch.rand(len(y), channels, size, size, generator=g) + y.view(-1, 1, 1, 1) * 0.3
    return x, y


def test_train_table1_rows_carry_the_c1_status():
    x, y = _tiny()
    datasets = {"toy": (x, y, x, y, ["a", "b", "c"])}
    table, models = study.train_table1(datasets, [("toy", "small_alexnet")], {"small_alexnet": "mean"}, epochs=1,
                                       torchvision_epochs=1, batch_size=8, lr=1e-3, neuroview_lr=1e-3, seed=0,
                                       batch_norm=True, standardize=True, schedule="cosine", progress=False)
    row = table.iloc[0]
    assert list(models) == ["toy / small_alexnet"] and row.layers == 5 and row.batch_norm
    assert row.gap_points == pytest.approx(row.neuroview_acc - row.plain_acc, abs=0.11)
    from cnnexplain.papers.neuroview.claims import on_par_row

    assert row.c1_row == on_par_row(row.gap_points, row.plain_train_acc, row.neuroview_train_acc)
    fig = study.plot_table1_bars(table)
    fig2 = study.plot_class_weights_per_run(models, 0, "t")
    import matplotlib.pyplot as plt

    plt.close(fig), plt.close(fig2)


def test_train_multiview_and_fig5():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(2).repeat(3)
    x = torch.rand(len(y), 3, 1, 32, 32, generator=g)
    mv = study.train_multiview(x, y, x, y, 2, epochs=1, batch_size=4, lr=1e-3, neuroview_lr=1e-3, seed=0,
                               batch_norm=True)
    assert 0 <= mv["mvcnn_acc"] <= 100 and 0 <= mv["neuroview_train_acc"] <= 100
    means = mv["neuroview"].view_mean_weights()
    assert means.shape == (2, 3)
    fig, positive = study.plot_fig5(means, ["p", "q"])
    assert positive.tolist() == (means > 0).sum(1).tolist()
    import matplotlib.pyplot as plt

    plt.close(fig)
