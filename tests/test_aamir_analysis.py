"""The measurements behind the Aamir claims (cnnexplain.papers.aamir.analysis): by hand where they are
arithmetic, and end to end on a tiny study, where each rule must accept what its measurement returns."""

import numpy as np
import pandas as pd
import pytest
import torch

from cnnexplain.papers.aamir import analysis, claims
from cnnexplain.papers.aamir import study as aamir
from cnnexplain.papers.aamir.preset import load_influence

TINY = aamir.StudyConfig(n_train_per_class=3, n_test_per_class=2, width=2, hidden=8, epochs=1, batch_size=16,
                         style_method="colour")
OK = {"original_accuracy": 0.9}


def test_styled_median_split_and_dispersion_by_hand():
    intra = pd.DataFrame({"condition": ["original"] * 2 + ["styled"] * 4, "I_avg": [5.0, 6.0, 1.0, 2.0, 7.0, 8.0],
                          "correct": [True, True, False, False, True, True]})
    # median of all six = 5.5: the styled images at 7 and 8 are above (both correct), 1 and 2 below (both wrong)
    assert analysis.styled_median_split(intra) == {"accuracy_above": 1.0, "accuracy_below": 0.0}
    none_below = intra.assign(I_avg=[0.0, 0.0, 9.0, 9.0, 9.0, 9.0])
    assert np.isnan(analysis.styled_median_split(none_below)["accuracy_below"])
    spread = pd.DataFrame({"std": [1.0, 2.0, 3.0]}, index=["original", "styled", "textured"])
    assert analysis.dispersion(spread) == {"original_std": 1.0, "styled_std": 2.0, "textured_std": 3.0}


def test_own_class_and_profile_and_clustering_values_by_hand():
    m = pd.DataFrame([[3.0, 1.0, 1.0], [0.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    assert analysis.own_class_above_others(m) == pytest.approx(2 / 3)
    names = [f"l{i}" for i in range(5)]
    profile = pd.DataFrame([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [0, 0, 0, 0, -9], [5, 4, 3, 2, 1]],
                           index=["original", "white_background", "textured", "styled"], columns=names, dtype=float)
    v = analysis.layer_profile_values(profile, names)
    assert v["similar"]["r_white"] > 0.9 and v["last_layers"] == {"peak_layer": "l4", "peak_index": 4, "n_layers": 5}
    table = pd.DataFrame({"paper_grouping": [True, False], "corrdist_original_white": [0.1, 0.5],
                          "corrdist_original_styled": [0.3, 0.2], "corrdist_original_textured": [0.4, 0.9]})
    assert analysis.clustering_values(table) == {"fig8_three_clusters": {"share": 0.5, "n_classes": 2},
                                                 "fig8_white_closest": {"share": 0.5}}


def test_dose_values_find_the_flip_and_the_trend():
    dose = pd.DataFrame({"texture_percent": [0.0, 50.0, 100.0], "predicted_class": ["cat", "cat", "zebra"],
                         "p_true": [0.9, 0.6, 0.2], "I_avg_intra": [3.0, 2.0, -1.0]})
    v = analysis.dose_values(dose, "cat")
    assert v["fig6_prediction_flips"] == {"flip_percent": 100.0, "start_correct": True, "p_true_first": 0.9,
                                          "p_true_last": 0.2}
    assert v["fig6_influence_falls"]["r"] < -0.9
    flat = analysis.dose_values(dose.assign(predicted_class="cat", I_avg_intra=1.0), "cat")
    assert np.isnan(flat["fig6_prediction_flips"]["flip_percent"]) and np.isnan(flat["fig6_influence_falls"]["r"])
    for claim_id, measured in v.items():
        extra = {"train_accuracy": 0.99} if claim_id == "fig6_influence_falls" else {}  # an influence claim
        assert claims.BOOK[claim_id].evaluate(**measured, **OK, **extra).verdict == "reproduced"
    # the grid columns of texture_dose: one rule input per cell, the reference first
    gridded = dose.assign(**{"I_avg_intra[λ=0.01, sample A]": [3.0, 2.0, -1.0], "I_avg_intra[λ=0.1, sample A]": [1, 2, 3]})
    gridded.attrs["grid"] = ["λ=0.01, sample A", "λ=0.1, sample A"]
    cells = analysis.dose_grid(gridded)
    assert list(cells) == gridded.attrs["grid"] and cells["λ=0.01, sample A"]["r"] < -0.9 < 0.9 < cells["λ=0.1, sample A"]["r"]
    signs = analysis.dose_sign_values(dose.assign(sign="helpful"))
    assert signs["fig6_r_dose_I_avg_literal_eq5_sign"] == -signs["fig6_r_dose_I_avg_helpful_sign"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    return aamir.build_study(TINY, cache_root=tmp_path_factory.mktemp("cache"), progress=False)


def names_of(study, scores):
    return study.aliases(scores.block_names)


def test_every_measurement_feeds_its_rule_on_a_tiny_study(tiny):
    study = tiny
    floor = analysis.accuracy_floor(study)
    assert 0 <= floor["original_accuracy"] <= 1 and "training images" in analysis.describe(study)
    ifloor = analysis.influence_floor(study)
    assert ifloor["train_accuracy"] == study.info["final_train_accuracy_eval"]
    values = analysis.study_values(study)
    assert {"study_train_accuracy_eval", "study_final_gradient_norm", "timing_training_s",
            "study_test_accuracy_textured"} <= set(values)
    istudy, grid, glob, timings = load_influence(study, "smoke", progress=False)
    scores = grid.reference_scores
    assert scores.sign == "helpful" and scores.block_names[0] == "features.0"
    on_grid, thresholds = analysis.grid_claims(grid, istudy)
    assert len(thresholds) == len(grid.scores) and all(len(cells) == len(grid.scores) for cells in on_grid.values())
    for claim_id, cells in on_grid.items():
        assert claims.BOOK[claim_id].evaluate(**next(iter(cells.values())), **ifloor).verdict in claims.BOOK[claim_id].verdicts
    for claim_id, cells in analysis.clustering_grid_claims(grid, istudy).items():
        assert set(cells) == set(grid.scores)
    sensitivity, summary = analysis.sensitivity(grid, istudy)
    assert len(summary) == 3 and set(sensitivity.layer) == set(names_of(istudy, scores)) | {"total"}
    values, tables = analysis.influence_run_values(istudy, timings)
    assert values["influence_sign"] == "helpful" and "table_ihvp_residuals_per_layer" in tables
    table1, acc = analysis.table1(study)
    assert set(acc.index) == set(aamir.CONDITIONS)
    table2, agreement, other = analysis.table2(scores, istudy)
    assert {"harmful_sign_is_predicted", "harmful_sign_is_true"} <= set(agreement.columns)
    judged = dict(analysis.influential_class_values(agreement))
    intra, spread = analysis.intra_class(scores, istudy)
    judged["styled_correct_above_median"] = analysis.styled_median_split(intra)
    judged["disturbed_more_dispersed"] = analysis.dispersion(spread)
    features, per_class = analysis.layer_profiles(scores, istudy)
    names = istudy.aliases(scores.block_names)
    assert names[0] == "conv1_1" and names[-1] == "fc8"
    fig9 = analysis.layer_profile_values(per_class["all classes"], names)
    judged["fig9_original_white_similar"], judged["fig9_textured_last_layers"] = fig9["similar"], fig9["last_layers"]
    sep, _, judged["layerwise_separates_better"] = analysis.layerwise_vs_total(scores, glob, istudy, features, intra)
    assert len(analysis.inter_class_matrices(scores, istudy)) == 4
    table8, panels = analysis.clustering_table(features, istudy)
    judged.update(analysis.clustering_values(table8))
    t3 = analysis.table3(study, 1)
    judged.update(t3["rules"])
    for claim_id, measured in judged.items():
        rule = claims.BOOK[claim_id]
        precondition = ifloor if "train_accuracy" in rule.judge.__code__.co_varnames else floor
        assert rule.evaluate(**measured, **precondition).verdict in rule.verdicts
    content, texture_class, texture = analysis.dose_content_and_texture(study, t3["patches"], t3["batch"])
    assert study.conditions[content] == "white_background" and texture.shape == study.x_test.shape[1:]
    assert study.class_names[texture_class] != study.class_names[int(study.y_test[content])]
