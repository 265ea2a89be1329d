"""Jung et al.'s study functions (papers/jung: synthetic training and accuracy readout, analysis, images)."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnexplain.models.cnns import jung_fake_face_cnn, jung_hybrid_cnn, jung_mlp
from cnnexplain.papers.jung import analysis, images
from cnnexplain.papers.jung.synthetic import make_synthetic, synthetic_accuracy, train_synthetic


class Constant(nn.Module):
    """Predicts the same probabilities for every input (a constant classifier)."""

    def __init__(self, p1):
        super().__init__()
        self.logits = torch.log(torch.tensor([1 - p1, p1]))

    def forward(self, x):
        return self.logits.expand(len(x), 2)


def test_two_features_accuracy_is_read_where_a_constant_classifier_cannot_pass():
    x, y = make_synthetic("two_features", 2000, seed=0)
    constant = synthetic_accuracy(Constant(0.3), x, y)
    assert constant["argmax_agreement"] == 1.0  # arg-max Y is always class 0: trivially 'accurate'
    assert constant["readout"] == "median split of Y1"
    assert constant["trivial_accuracy"] == pytest.approx(0.5, abs=0.01)
    assert constant["accuracy"] <= constant["trivial_accuracy"] + 1e-6


class Oracle(nn.Module):
    """Predicts the exact label probabilities of a synthetic data set."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def forward(self, x):
        from cnnexplain.papers.jung.synthetic import _logit_of_y1  # noqa: F401  (test helper only)
        y1 = 1 / (1 + torch.exp(_logit_of_y1(self.name, x)))
        return torch.log(torch.stack([1 - y1, y1], 1))


@pytest.mark.parametrize("name", ["two_features", "plus_one"])
def test_exact_predictions_score_one_in_either_readout(name):
    x, y = make_synthetic(name, 1000, seed=1)
    result = synthetic_accuracy(Oracle(name), x, y)
    assert result["accuracy"] == pytest.approx(1.0, abs=0.005)  # float rounding at the median
    assert result["readout"] == ("median split of Y1" if name == "two_features" else "arg-max agreement")
    assert result["trivial_accuracy"] < 0.993


def test_train_synthetic_table():
    models, test_sets, table = train_synthetic(300, 200, epochs=1, batch_size=100, lr=1e-3, datasets=("plus_one",))
    assert list(models) == ["plus_one"] and test_sets["plus_one"][0].shape == (200, 10)
    assert {"accuracy", "trivial_accuracy", "readout", "argmax_agreement"} <= set(table.columns)


def test_toy_example_follows_the_definition():
    toy = analysis.toy_example()
    torch.testing.assert_close(toy.to_hidden, torch.tensor([[2 / 3, -1 / 3], [1.0, 0.0]]))
    torch.testing.assert_close(toy.to_output, torch.tensor([-1 / 3, 2 / 3]))
    torch.testing.assert_close(toy.input_to_output, torch.tensor([4 / 9, 1 / 9]))
    assert toy.gradient.tolist() == [0.0, 1.0] and toy.output == 1.0
    assert len(toy.table()) == 8


def _relevant_net():
    """Y0 grows with X0 and X1 only; Y1 is its mirror."""
    net = nn.Sequential(nn.Linear(10, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.zero_(); net[0].bias.zero_()
        net[0].weight[0, 0] = 1.0; net[0].weight[1, 1] = 1.0
        net[0].weight[:, 2:] = 0.01
        net[2].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0]])); net[2].bias.zero_()
    return net.eval()


def test_ranks_put_the_relevant_inputs_first_and_small_inputs_lower():
    x = torch.rand(200, 10) * 0.9 + 0.1
    x[:20, 0] = 0.001  # a relevant input close to 0 gets a score close to 0
    table, ranks = analysis.rank_table({"plus_one": _relevant_net()}, {"plus_one": (x, None)}, n_rank=200)
    xs, r, high = ranks[("plus_one", "Y0")]
    assert (r[20:, :2] < 2).all() and high[:20, 0].all()
    share = analysis.rank_share(table, "plus_one", "Y0", "share_of_samples_with_a_relevant_input_below_top")
    assert share == pytest.approx(0.1)
    cause = analysis.small_input_cause(xs, high)
    assert list(cause.values())[:2] == [1.0, 0.0]
    centres, shares = analysis.high_rank_by_value(xs, high)
    assert shares.shape == (2, 25) and shares[0, 0] == 1.0
    with pytest.raises(ValueError, match="target"):
        analysis.input_ranks(_relevant_net(), x, "Y7")


def test_layer_statistics_of_opposite_outputs():
    net = _relevant_net()
    stats = analysis.layer_statistics(net, torch.rand(50, 10) + 0.1, layers=("input", "1"))
    assert list(stats["layer"]) == ["input", "1"]
    assert (stats["mean_corr_Y0_Y1_scores"] < -0.99).all()  # mirrored outputs: exactly opposite scores


def test_fig5_peaks_are_picked_and_tested_on_different_samples():
    torch.manual_seed(0)
    model = jung_mlp().eval()
    x, _ = make_synthetic("plus_one", 600, seed=0)
    with torch.no_grad():
        model[-1].bias.copy_(torch.tensor([0.0, 0.0]))
    y1 = analysis.predicted_y1(model, x)
    result = analysis.fig5_held_out_peaks(model, x, span=(float(y1.min()), float(y1.max())))
    assert result["n_picking"] + result["n_held_out"] == len(x)
    assert result["n_held_out"] == len(x) // 2
    assert 0 <= result["negative_peak_node"] < 200 and 0 <= result["positive_peak_node"] < 200
    assert -1 <= result["rho_negative"] <= 1 and -1 <= result["rho_positive"] <= 1
    empty = analysis.fig5_held_out_peaks(model, x, span=(2.0, 3.0))  # no sample predicts Y1 there
    assert empty["n_held_out"] == 0 and np.isnan(empty["rho_negative"])
    levels, l2 = analysis.fig5_levels(model, x, 5)
    assert l2.shape == (5, 200) and set(analysis.trend_nodes(levels, l2)) == {"rising", "falling", "stationary"}


def test_image_helpers():
    labels, predicted = torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0])
    assert images.majority_share(torch.tensor([0, 0, 0, 1])) == 0.75
    assert images.pick_example(labels, predicted, 1) == [1]
    assert images.pick_example(labels, predicted, 1, count=2) == [1, 2]  # too few correct: any of the class
    shares = torch.tensor([[0.9, 0.2, 0.1], [0.1, 0.2, 0.8]])
    summary = images.own_class_summary(shares, torch.tensor([0, 2]))
    assert summary["own"] == pytest.approx(0.85) and summary["others"] == pytest.approx(0.15)
    assert summary["top_is_predicted"] == 1.0
    ranking = images.filter_ranking(np.array([0.1, 0.5, -0.2]), ["a", "b", "c"])
    assert ranking["filter"].tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match="data must be"):
        images.mnist_split("paper", 10, 10)
    with pytest.raises(ValueError, match="data must be"):
        images.real_fake_split("faces", 32, 4, 2)


def test_scores_statistics_on_the_papers_cnns():
    model = jung_hybrid_cnn().eval()
    x = torch.rand(3, 1, 28, 28)
    shares = images.positive_shares(model, x)
    assert shares.shape == (3, 10) and ((shares >= 0) & (shares <= 1)).all()
    found = images.fig7_filter_scores(model, x[0], 9)
    assert found["per_filter"].shape == (41,) and found["per_filter"][found["order"][0]] == found["per_filter"].max()
    split = images.real_fake_split("standin", 36, 4, 2, seed=0)
    assert not split.paper_data and split.x_test.shape[1:] == (3, 36, 36)
    detector = jung_fake_face_cnn(36).eval()
    stats = images.two_output_statistics(detector, split.x_test, images.predictions(detector, split.x_test))
    assert len(stats["channel_shares"]) == 3 and -1 <= stats["correlation"] <= 1
