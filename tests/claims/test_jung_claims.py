"""Every Jung et al. rule gives each of its verdicts on constructed inputs (cnnexplain.papers.jung.claims)."""

import math

from claims.rule_examples import check_rule_examples
from cnnexplain.papers.jung import claims

NAMES = ("two_features", "plus_one", "orange_skin")
TRIVIAL = {"two_features": 0.5, "plus_one": 0.62, "orange_skin": 0.64}


def _acc(value, **changed):
    return {**{name: value for name in NAMES}, **changed}


EXAMPLES = {
    "toy_h1_scores": {"reproduced": dict(scores=[2 / 3, -1 / 3]), "not reproduced": dict(scores=[0.5, -0.5])},
    "toy_h2_scores": {"reproduced": dict(scores=[1.0, 0.0]), "not reproduced": dict(scores=[0.9, 0.1])},
    "toy_output_scores": {"reproduced": dict(scores=[-0.5, 0.5], h2_value=1.0),
                          "not reproduced": dict(scores=[-1 / 3, 2 / 3], h2_value=2.0)},
    "toy_i1_more_influential": {"reproduced": dict(scores=[4 / 9, 1 / 9]),
                                "not reproduced": dict(scores=[1 / 9, 4 / 9])},
    "accuracy_synthetic": {
        "reproduced": dict(accuracy=_acc(0.995), trivial=TRIVIAL),
        "partly reproduced": dict(accuracy=_acc(0.995, plus_one=0.985), trivial=TRIVIAL),
        "not reproduced": dict(accuracy=_acc(0.995, orange_skin=0.9), trivial=TRIVIAL)},
    "two_features_high_rank_share": {
        "reproduced": dict(share=0.12, accuracy=0.99), "partly reproduced": dict(share=0.20, accuracy=0.99),
        "not reproduced": dict(share=0.40, accuracy=0.99), "not checked": dict(share=0.12, accuracy=0.5)},
    "two_features_high_rank_cause": {
        "reproduced": dict(p_small=0.9, p_large=0.01, accuracy=0.99),
        "partly reproduced": dict(p_small=0.5, p_large=0.08, accuracy=0.99),
        "not reproduced": dict(p_small=0.2, p_large=0.1, accuracy=0.99),
        "not checked": dict(p_small=math.nan, p_large=0.1, accuracy=0.99)},
    "rank_relevant_found": {
        "reproduced": dict(share=0.01, accuracy=0.99), "partly reproduced": dict(share=0.1, accuracy=0.99),
        "not reproduced": dict(share=0.5, accuracy=0.99), "not checked": dict(share=0.01, accuracy=0.6)},
    "fig4_opposite_signs": {
        "reproduced": dict(correlation={"input": -0.9, "L1": -0.9, "L2": -0.8, "L3": -0.6}, accuracy=0.99),
        "partly reproduced": dict(correlation={"input": -0.9, "L1": -0.9, "L2": -0.8, "L3": -0.2}, accuracy=0.99),
        "not reproduced": dict(correlation={"input": -0.9, "L1": -0.9, "L2": 0.1, "L3": -0.6}, accuracy=0.99),
        "not checked": dict(correlation={"input": -0.9, "L1": -0.9, "L2": -0.8, "L3": -0.6}, accuracy=0.5)},
    "fig4_more_peaks_near_output": {
        "reproduced": dict(peaks={"input": 5, "L1": 10, "L2": 20, "L3": 30}, accuracy=0.99),
        "not reproduced": dict(peaks={"input": 5, "L1": 60, "L2": 37, "L3": 42}, accuracy=0.99),
        "not checked": dict(peaks={"input": 5, "L1": 10, "L2": 20, "L3": 30}, accuracy=0.5)},
    "fig5_peaks_control_y1": {
        "reproduced": dict(rho_negative=0.8, rho_positive=0.7, n_held_out=100, accuracy=0.99),
        "partly reproduced": dict(rho_negative=0.8, rho_positive=0.1, n_held_out=100, accuracy=0.99),
        "not reproduced": dict(rho_negative=-0.3, rho_positive=0.2, n_held_out=100, accuracy=0.99),
        "not checked": dict(rho_negative=0.8, rho_positive=0.7, n_held_out=5, accuracy=0.99)},
    # (also not checked: accuracy below the floor, or no peaks picked -> NaN correlations; see the test below)
    "accuracy_mnist": {
        "reproduced": dict(accuracy=0.996, n_train=60000), "partly reproduced": dict(accuracy=0.992, n_train=60000),
        "not reproduced": dict(accuracy=0.96, n_train=60000), "not checked": dict(accuracy=0.999, n_train=4000)},
    "fig1_mostly_red_for_own_class": {
        "reproduced": dict(own=0.9, others=0.3, top_is_predicted=0.95, accuracy=0.98),
        "partly reproduced": dict(own=0.6, others=0.55, top_is_predicted=0.7, accuracy=0.98),
        "not reproduced": dict(own=0.4, others=0.5, top_is_predicted=0.2, accuracy=0.98),
        "not checked": dict(own=0.9, others=0.3, top_is_predicted=0.95, accuracy=0.3)},
    "fig7_filter_ranking": {
        "reproduced": dict(most=[15, 14, 13], least=4, papers_kernels=True),
        "partly reproduced": dict(most=[13, 15, 2], least=7, papers_kernels=True),
        "not reproduced": dict(most=[1, 2, 3], least=7, papers_kernels=True),
        "not checked": dict(most=[15, 14, 13], least=4, papers_kernels=False)},
    "fake_detection": {
        "reproduced": dict(accuracy=0.95, majority=0.6, paper_data=True),
        "partly reproduced": dict(accuracy=0.8, majority=0.6, paper_data=True),
        "not reproduced": dict(accuracy=0.62, majority=0.6, paper_data=True),
        "not checked": dict(accuracy=0.97, majority=0.5, paper_data=False)},
    "real_fake_opposite_signs": {
        "reproduced": dict(correlation=-0.99, accuracy=0.9, data="faces"),
        "partly reproduced": dict(correlation=-0.2, accuracy=0.9, data="faces"),
        "not reproduced": dict(correlation=0.3, accuracy=0.9, data="faces"),
        "not checked": dict(correlation=-0.99, accuracy=0.55, data="faces")},
    "real_fake_eyes_and_wrinkles": {
        "reproduced": dict(top_share=0.5, region_share=0.1), "partly reproduced": dict(top_share=0.15, region_share=0.1),
        "not reproduced": dict(top_share=0.1, region_share=0.1),
        "not checked": dict(top_share=None, region_share=None)},
}


def test_every_rule_gives_each_of_its_verdicts():
    check_rule_examples(claims.BOOK, EXAMPLES)


def test_accuracy_at_the_constant_classifier_is_not_reproduced():
    """The old two-features accuracy was trivially high: a net no better than the constant guess must fail."""
    outcome = claims.BOOK["accuracy_synthetic"].evaluate(accuracy=_acc(0.999), trivial={**TRIVIAL, "two_features": 1.0})
    assert outcome.verdict == "not reproduced" and "constant" in outcome.note


def test_every_rule_is_owned_by_one_of_the_three_notebooks():
    assert {rule.owner for rule in claims.BOOK} == {claims.SYNTHETIC, claims.MNIST, claims.REAL_FAKE}


def test_fig5_without_picked_peaks_or_a_trained_net_is_not_checked():
    rule = claims.BOOK["fig5_peaks_control_y1"]
    assert rule.evaluate(rho_negative=math.nan, rho_positive=math.nan, n_held_out=100, accuracy=0.99).verdict == "not checked"
    assert rule.evaluate(rho_negative=0.9, rho_positive=0.9, n_held_out=100, accuracy=0.6).verdict == "not checked"
