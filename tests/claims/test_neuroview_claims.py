"""Every NeuroView rule gives each of its verdicts on constructed inputs (tests/claims/rule_examples.py)."""

from claims.rule_examples import check_rule_examples

from cnnexplain.papers.neuroview import claims


def _row(gap, plain_train=100.0, nv_train=100.0, dataset="mnist", network="small_vgg11"):
    return {"dataset": dataset, "network": network, "gap_points": gap, "plain_train_acc": plain_train,
            "neuroview_train_acc": nv_train}


FIG4 = {"reproduced": dict(top_positive="chequered", top_negative="sky", has_concept_masks=True, test_acc=95.0),
        "partly reproduced": dict(top_positive="chequered", top_negative="grid", has_concept_masks=True, test_acc=95.0),
        "not reproduced": dict(top_positive="red", top_negative="grid", has_concept_masks=True, test_acc=95.0),
        "not checked": dict(top_positive=None, top_negative=None, has_concept_masks=False, test_acc=95.0)}
BARN = {"reproduced": dict(FIG4["reproduced"], top_positive="sky", top_negative="grid"),
        "partly reproduced": dict(FIG4["reproduced"], top_positive="sky", top_negative="sky"),
        "not reproduced": dict(FIG4["reproduced"], top_positive="grid", top_negative="sky"),
        "not checked": dict(FIG4["reproduced"], top_positive="sky", top_negative="grid", test_acc=20.0)}

EXAMPLES = {
    "C1_on_par_accuracy": {
        "reproduced": dict(rows=[_row(-2.7), _row(+3.0), _row(+18.8, plain_train=67.0)]),
        "partly reproduced": dict(rows=[_row(-2.0), _row(+7.0)]),
        "not reproduced": dict(rows=[_row(-9.0), _row(+8.0), _row(0.0)]),
        "not checked": dict(rows=[_row(0.0, plain_train=50.0), _row(0.0, nv_train=60.0), _row(1.0)]),
    },
    "fig3a_deep_layers": {
        "reproduced": dict(deep_share=0.6, unit_share=0.3, test_acc=90.0),
        "partly reproduced": dict(deep_share=0.35, unit_share=0.3, test_acc=90.0),
        "not reproduced": dict(deep_share=0.2, unit_share=0.3, test_acc=90.0),
        "not checked": dict(deep_share=0.6, unit_share=0.3, test_acc=17.0),
    },
    "fig3b_dataset_changes_priorities": {
        "reproduced": dict(tv=0.35, scenes_acc=90.0, textures_acc=80.0),
        "not reproduced": dict(tv=0.1, scenes_acc=90.0, textures_acc=80.0),
        "not checked": dict(tv=0.35, scenes_acc=90.0, textures_acc=12.5),
    },
    "fig3d_stylized_early_negative": {
        "reproduced": dict(plain_neg=-0.10, stylized_neg=-0.15, plain_acc=90.0, stylized_acc=88.0),
        "partly reproduced": dict(plain_neg=-0.10, stylized_neg=-0.105, plain_acc=90.0, stylized_acc=88.0),
        "not reproduced": dict(plain_neg=-0.10, stylized_neg=-0.08, plain_acc=90.0, stylized_acc=88.0),
        "not checked": dict(plain_neg=-0.10, stylized_neg=-0.15, plain_acc=90.0, stylized_acc=30.0),
    },
    "table1_stylized_same_accuracy": {
        "reproduced": dict(plain_acc=89.6, stylized_acc=89.3),
        "not reproduced": dict(plain_acc=95.0, stylized_acc=70.0),
        "not checked": dict(plain_acc=17.0, stylized_acc=16.0),  # both at chance: trivially similar
    },
    "fig4_ballroom_concepts": FIG4,
    "fig4_barn_concepts": BARN,
    "fig4_world_known_answer": {
        "reproduced": dict(hits=8, n_classes=10, chance=2.0, test_acc=85.0),
        "partly reproduced": dict(hits=5, n_classes=10, chance=2.0, test_acc=85.0),
        "not reproduced": dict(hits=3, n_classes=10, chance=2.0, test_acc=85.0),
        "not checked": dict(hits=8, n_classes=10, chance=2.0, test_acc=40.0),
    },
    "table2_indoor_robust": {
        "reproduced": dict(neuroview_drops={"aquarium": 1.0, "ballroom": 5.0},
                           plain_drops={"aquarium": 30.0, "ballroom": 37.0}, neuroview_acc=95.0, plain_acc=95.0),
        "partly reproduced": dict(neuroview_drops={"aquarium": 1.0, "ballroom": 40.0},
                                  plain_drops={"aquarium": 30.0, "ballroom": 37.0}, neuroview_acc=95.0, plain_acc=95.0),
        "not reproduced": dict(neuroview_drops={"aquarium": 31.0, "ballroom": 40.0},
                               plain_drops={"aquarium": 30.0, "ballroom": 37.0}, neuroview_acc=95.0, plain_acc=95.0),
        "not checked": dict(neuroview_drops={"aquarium": 1.0, "ballroom": 5.0},
                            plain_drops={"aquarium": 30.0, "ballroom": 37.0}, neuroview_acc=95.0, plain_acc=20.0),
    },
    "table2_scenic_drop_more": {
        "reproduced": dict(scenic_drop=54.3, indoor_drop=2.5, neuroview_acc=95.0),
        "partly reproduced": dict(scenic_drop=5.0, indoor_drop=2.5, neuroview_acc=95.0),
        "not reproduced": dict(scenic_drop=2.0, indoor_drop=2.5, neuroview_acc=95.0),
        "not checked": dict(scenic_drop=54.3, indoor_drop=2.5, neuroview_acc=16.0),
    },
    "table1_multiview_accuracy": {
        "reproduced": dict(neuroview_acc=91.6, mvcnn_acc=90.9, neuroview_train_acc=99.0, mvcnn_train_acc=98.0),
        "not reproduced": dict(neuroview_acc=70.0, mvcnn_acc=90.9, neuroview_train_acc=99.0, mvcnn_train_acc=98.0),
        "not checked": dict(neuroview_acc=91.6, mvcnn_acc=30.0, neuroview_train_acc=99.0, mvcnn_train_acc=35.0),
    },
    "fig5_views_differ_per_class": {
        "reproduced": dict(positive_views={"cube": 4, "sphere": 1}, test_acc=90.0),
        "partly reproduced": dict(positive_views={"cube": 4, "sphere": 2}, test_acc=90.0),
        "not reproduced": dict(positive_views={"cube": 3, "sphere": 3}, test_acc=90.0),
        "not checked": dict(positive_views={"cube": 4, "sphere": 1}, test_acc=12.5),
    },
    "fig6_sound_last_two_layers": {
        "reproduced": dict(deep_share=0.7, unit_share=0.4, test_acc=95.0),
        "partly reproduced": dict(deep_share=0.45, unit_share=0.4, test_acc=95.0),
        "not reproduced": dict(deep_share=0.3, unit_share=0.4, test_acc=95.0),
        "not checked": dict(deep_share=0.7, unit_share=0.4, test_acc=10.0),
    },
    "fig6_sound_differs_from_images": {
        "reproduced": dict(tv=0.3, sound_acc=95.0, scenes_acc=90.0),
        "not reproduced": dict(tv=0.05, sound_acc=95.0, scenes_acc=90.0),
        "not checked": dict(tv=0.3, sound_acc=95.0, scenes_acc=15.0),
    },
    "table1_urbansound_on_par": {
        "reproduced": dict(neuroview_acc=74.3, plain_acc=73.1, neuroview_train_acc=99.0, plain_train_acc=99.0),
        "not reproduced": dict(neuroview_acc=60.0, plain_acc=73.1, neuroview_train_acc=99.0, plain_train_acc=99.0),
        "not checked": dict(neuroview_acc=74.3, plain_acc=73.1, neuroview_train_acc=99.0, plain_train_acc=50.0),
    },
}


def test_every_rule_gives_each_of_its_verdicts():
    check_rule_examples(claims.BOOK, EXAMPLES)


def test_c1_is_two_sided_and_skips_unconverged_rows():
    rule = claims.BOOK["C1_on_par_accuracy"]
    # a large positive gap from a converged pair is not "on par" (the old one-sided rule passed it)
    assert rule.evaluate(rows=[_row(+18.8)]).verdict == claims.NOT_REPRODUCED
    # the same gap from an unconverged plain net is not judged; the note names the row
    outcome = rule.evaluate(rows=[_row(+18.8, plain_train=67.0, dataset="texture"), _row(1.0)])
    assert outcome.verdict == claims.REPRODUCED and "texture/small_vgg11" in outcome.note
    assert claims.on_par_row(+18.8, 67.0, 100.0) == claims.NOT_CHECKED
    assert claims.on_par_row(-5.0, 95.0, 95.0) == claims.REPRODUCED


def test_every_rule_is_owned_by_a_neuroview_notebook():
    owners = {rule.owner for rule in claims.BOOK}
    assert owners == {"30_neuroview_accuracy", "31_neuroview_weights", "32_neuroview_case_studies"}
    assert len(claims.BOOK.owned_by("30_neuroview_accuracy")) == 1
    assert len(claims.BOOK.owned_by("31_neuroview_weights")) == 7
    assert len(claims.BOOK.owned_by("32_neuroview_case_studies")) == 7
