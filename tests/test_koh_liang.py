"""Tests of cnnexplain.papers.koh_liang.study: the Fig. 2 leave-one-out check of notebook 50, tiny."""

import matplotlib.pyplot as plt
import pytest

from cnnexplain.papers.koh_liang import claims, study


@pytest.fixture(scope="module")
def tiny():
    x_train, y_train, x_test, y_test = study.small_mnist(60, 20, seed=0)
    net = study.train_to_optimum(x_train, y_train, x_test, y_test, width=2, hidden=0, convs=1, adam_epochs=2,
                                 weight_decay=1e-2, lbfgs_iterations=30)
    return x_train, y_train, x_test, y_test, net


def test_small_mnist_is_14px_float64(tiny):
    x_train, _, x_test, _, net = tiny
    assert x_train.shape == (60, 1, 14, 14) and x_test.dtype.is_floating_point and str(x_test.dtype) == "torch.float64"
    assert 0 <= net.accuracy <= 1 and net.grad_norm >= 0 and len(net.test_losses) == 20


def test_fig2_check_table_sign_and_rule_inputs(tiny):
    x_train, y_train, x_test, y_test, net = tiny
    check = study.fig2_check(net, x_train, y_train, x_test, y_test, test_loss_rank=0, n_removals=3,
                             weight_decay=1e-2, damping=1e-1, retrain_iterations=5)
    t = check.table
    assert len(t) == 3 and check.test_loss == pytest.approx(float(net.test_losses.max()))
    # predicted change on removal = -I/n with I the "harmful" score
    assert list(t["predicted_change_global"]) == pytest.approx(list(-t["influence_global"] / 60))
    assert t["predicted_change_global"].abs().is_monotonic_decreasing
    inputs = check.claim_inputs(net.accuracy)
    assert inputs["n_removals"] == 3 and set(check.correlations()) == {
        "pearson_global", "spearman_global", "pearson_layerwise_total", "spearman_layerwise_total"}
    outcome = claims.BOOK["koh_liang_fig2_cnn_pearson"].evaluate(**inputs)
    assert outcome.verdict == "not checked"  # 3 removals (or an untrained net): too few to judge
    headers = list(study.removal_table(check).columns)
    assert "influence I, global (+ = harmful)" in headers
    for fig in (study.fig2_figure(check, 60), study.removal_figure(check, x_train, 1)):
        assert "harmful" in " ".join(ax.get_ylabel() + ax.get_title() for ax in fig.axes) + fig._suptitle.get_text()
        plt.close(fig)


def test_fig2_check_refuses_damping_below_weight_decay(tiny):
    x_train, y_train, x_test, y_test, net = tiny
    with pytest.raises(ValueError, match="damping"):
        study.fig2_check(net, x_train, y_train, x_test, y_test, test_loss_rank=0, n_removals=2, weight_decay=1e-2,
                         damping=1e-3, retrain_iterations=2)
