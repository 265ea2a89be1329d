"""Every Aamir et al. claim rule gives each of its verdicts on constructed inputs."""

from claims.rule_examples import check_rule_examples

from cnnexplain.papers.aamir import claims

NAN = float("nan")
OK, LOW = 0.9, 0.3  # original-condition test accuracy above / below the floor (0.5)
TRAIN_OK, TRAIN_LOW = 0.98, 0.7  # training accuracy above / below the influence claims' floor (0.95)
INFLUENCE = ["influential_class_original", "influential_class_white", "influential_class_disturbed",
             "styled_correct_above_median", "disturbed_more_dispersed", "fig9_original_white_similar",
             "fig9_textured_last_layers", "layerwise_separates_better", "fig6_influence_falls", "fig8_three_clusters",
             "fig8_white_closest"]


def _cases(build, reproduced, not_reproduced, partly=None, low_key="original_accuracy"):
    out = {"reproduced": build(*reproduced), "not reproduced": build(*not_reproduced),
           "not checked": dict(build(*reproduced), **{low_key: LOW})}
    if partly is not None:
        out["partly reproduced"] = build(*partly)
    return out


EXAMPLES = {
    "shape_bias_texture_net": _cases(lambda b: dict(shape_bias=b, original_accuracy=OK), (0.2,), (0.7,)),
    "shape_bias_shape_net": _cases(lambda b: dict(shape_bias=b, original_accuracy=OK), (0.8,), (0.4,)),
    "fig5_transfer_predicts_texture": _cases(lambda s: dict(share=s, n=4, original_accuracy=OK), (1.0,), (0.0,), (0.5,)),
    "textured_zero": _cases(lambda t: dict(textured=t, original=0.8), (0.0,), (0.6,), (0.2,), low_key="original"),
    "white_background_comparable": _cases(lambda w: dict(original=0.8, white_background=w), (0.75,), (0.5,),
                                          low_key="original"),
    "styled_lower": _cases(lambda s: dict(original=0.8, styled=s), (0.4,), (0.85,), low_key="original"),
    "influential_class_original": _cases(lambda s: dict(share=s, original_accuracy=OK, train_accuracy=TRAIN_OK), (0.9,), (0.2,), (0.6,)),
    "influential_class_white": _cases(lambda s: dict(share=s, original_accuracy=OK, train_accuracy=TRAIN_OK), (0.9,), (0.2,), (0.6,)),
    "influential_class_disturbed": _cases(lambda s, t: dict(styled_differs=s, textured_differs=t, original_accuracy=OK, train_accuracy=TRAIN_OK),
                                          (0.6, 0.9), (0.1, 0.2), (0.1, 0.9)),
    "styled_correct_above_median": _cases(lambda a, b: dict(accuracy_above=a, accuracy_below=b, original_accuracy=OK, train_accuracy=TRAIN_OK),
                                          (0.8, 0.2), (0.2, 0.8)),
    "disturbed_more_dispersed": _cases(lambda s, t: dict(original_std=1.0, styled_std=s, textured_std=t,
                                                         original_accuracy=OK, train_accuracy=TRAIN_OK), (2.0, 3.0), (0.5, 0.5), (2.0, 0.5)),
    "fig9_original_white_similar": _cases(lambda w, t: dict(r_white=w, r_textured=t, original_accuracy=OK, train_accuracy=TRAIN_OK),
                                          (0.95, 0.3), (0.5, 0.3)),
    "fig9_textured_last_layers": _cases(lambda i: dict(peak_layer="x", peak_index=i, n_layers=16, original_accuracy=OK, train_accuracy=TRAIN_OK),
                                        (15,), (3,)),
    "layerwise_separates_better": _cases(
        lambda cl, ct, sl, st: dict(cv_layerwise=cl, cv_total=ct, silhouette_layerwise=sl, silhouette_total=st,
                                    chance=0.25, original_accuracy=OK, train_accuracy=TRAIN_OK),
        (0.7, 0.4, 0.2, 0.0), (0.3, 0.3, 0.0, 0.0), (0.7, 0.4, -0.1, 0.0)),
    "table3_patches_recognised": _cases(lambda a: dict(patch_accuracy=a, original_accuracy=OK), (0.9,), (0.2,), (0.6,)),
    "table3_texture_decides": _cases(lambda t, s: dict(texture_share=t, shape_share=s, original_accuracy=OK),
                                     (0.7, 0.1), (0.1, 0.6), (0.3, 0.1)),
    "fig6_prediction_flips": _cases(lambda f, c: dict(flip_percent=f, start_correct=c, p_true_first=0.9,
                                                      p_true_last=0.2, original_accuracy=OK), (30.0, True), (NAN, True)),
    "fig6_influence_falls": _cases(lambda r: dict(r=r, last_I_avg=-1.0, original_accuracy=OK, train_accuracy=TRAIN_OK), (-0.9,), (0.4,)),
    "fig8_three_clusters": _cases(lambda s: dict(share=s, n_classes=10, original_accuracy=OK, train_accuracy=TRAIN_OK), (0.8,), (0.1,), (0.5,)),
    "fig8_white_closest": _cases(lambda s: dict(share=s, original_accuracy=OK, train_accuracy=TRAIN_OK), (0.8,), (0.1,), (0.5,)),
    "fig10_disturbed_more_dispersed": _cases(lambda s, t: dict(original=0.2, styled=s, textured=t, original_accuracy=OK),
                                             (0.4, 0.5), (0.1, 0.1), (0.4, 0.1)),
    "fig10_original_white_alike": _cases(lambda w: dict(r_white=w, r_textured=0.3, r_styled=0.4, original_accuracy=OK),
                                         (0.8,), (0.2,)),
    "retrain_top_layers_best": {
        "reproduced": dict(top=0.8, top_sd=0.05, random=0.5, random_sd=0.1, bottom=0.4, bottom_sd=0.05, all_layers=0.9,
                           before=0.1, k=4, original_accuracy=OK, train_accuracy=TRAIN_OK),
        "partly reproduced": dict(top=0.8, top_sd=0.05, random=0.75, random_sd=0.1, bottom=0.4, bottom_sd=0.05,
                                  all_layers=0.9, before=0.1, k=4, original_accuracy=OK, train_accuracy=TRAIN_OK),
        "not reproduced": dict(top=0.5, top_sd=0.05, random=0.6, random_sd=0.1, bottom=0.55, bottom_sd=0.05,
                               all_layers=0.9, before=0.1, k=4, original_accuracy=OK, train_accuracy=TRAIN_OK),
        "not checked": dict(top=0.8, top_sd=0.05, random=0.5, random_sd=0.1, bottom=0.4, bottom_sd=0.05,
                            all_layers=0.12, before=0.1, k=4, original_accuracy=OK, train_accuracy=TRAIN_OK)},
}


def test_every_rule_gives_each_of_its_verdicts():
    check_rule_examples(claims.BOOK, EXAMPLES)


def test_one_owner_per_notebook_group():
    owners = {r.claim_id: r.owner for r in claims.BOOK}
    assert {o for o in owners.values()} == {"20_disturbed_dataset", "21_layerwise_influence", "22_texture_dose",
                                            "23_influence_clustering", "24_shapley_maps", "25_retrain_by_layer"}
    # Table 1 and Table 3 are judged once, by 21 and 22 (notebook 20 no longer re-derives them)
    assert owners["textured_zero"] == "21_layerwise_influence" and owners["table3_texture_decides"] == "22_texture_dose"
    assert not any(k.startswith(("table1", "table3")) for k, o in owners.items() if o == "20_disturbed_dataset")


def test_disturbed_rule_tests_styled_as_well_as_textured():
    rule = claims.BOOK["influential_class_disturbed"]
    assert rule.evaluate(styled_differs=0.0, textured_differs=1.0, original_accuracy=OK, train_accuracy=TRAIN_OK).verdict == "partly reproduced"
    assert rule.evaluate(styled_differs=1.0, textured_differs=0.0, original_accuracy=OK, train_accuracy=TRAIN_OK).verdict == "partly reproduced"


def test_a_misclassified_start_is_not_checked_rather_than_not_reproduced():
    out = claims.BOOK["fig6_prediction_flips"].evaluate(flip_percent=NAN, start_correct=False, p_true_first=0.3,
                                                        p_true_last=0.1, original_accuracy=OK)
    assert out.verdict == "not checked" and "misclassified" in out.note
    out = claims.BOOK["styled_correct_above_median"].evaluate(accuracy_above=NAN, accuracy_below=0.5,
                                                              original_accuracy=OK, train_accuracy=TRAIN_OK)
    assert out.verdict == "not checked"


def test_influence_claims_are_not_checked_below_the_training_accuracy_floor():
    for claim_id in INFLUENCE:
        measured = dict(EXAMPLES[claim_id]["reproduced"], train_accuracy=TRAIN_LOW)
        outcome = claims.BOOK[claim_id].evaluate(**measured)
        assert outcome.verdict == "not checked" and "training accuracy" in outcome.note, claim_id
        assert "sensitivity grid" in claims.BOOK[claim_id].criterion
