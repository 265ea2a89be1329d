"""Every rule of Koh & Liang's book gives each of its verdicts on constructed inputs."""

from claims.rule_examples import check_rule_examples

from cnnexplain.papers.koh_liang import claims

OK = dict(accuracy=0.85, n_removals=20, control_drift=1e-6, median_abs_actual=1e-3)

EXAMPLES = {
    "koh_liang_fig2_cnn_pearson": {
        "reproduced": dict(pearson=0.9, **OK),
        "partly reproduced": dict(pearson=0.6, **OK),
        "not reproduced": dict(pearson=0.2, **OK),
        "not checked": dict(pearson=0.9, **dict(OK, control_drift=1e-2)),
    },
}


def test_every_rule_gives_each_of_its_verdicts():
    check_rule_examples(claims.BOOK, EXAMPLES)


def test_fig2_preconditions():
    rule = claims.BOOK["koh_liang_fig2_cnn_pearson"]
    assert rule.evaluate(pearson=0.9, **dict(OK, accuracy=0.1)).verdict == "not checked"
    assert rule.evaluate(pearson=0.9, **dict(OK, n_removals=4)).verdict == "not checked"
    assert rule.evaluate(pearson=0.825, **OK).verdict == "reproduced"
