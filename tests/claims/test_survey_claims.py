"""Every rule of the survey's book gives each of its verdicts on constructed inputs."""

from claims.rule_examples import check_rule_examples

from cnnexplain.papers.survey import claims, table1

A, B = "GAPCNN / MNIST", "VGG16Small / shapes"


def _table1_examples(method: str, column: str) -> dict:
    """Values whose label is the survey's ('High'/'Yes') or the other one, per column."""
    survey = table1.survey_label(next(row for row, ours in table1.SURVEY_ROWS.items() if method in ours), column)
    value = {"efficiency": {"High": 2.0, "Low": 50.0}, "locality": {"Yes": 0.01, "No": 0.5},
             "model_agnostic": {"Yes": True, "No": False}}[column]
    agree = value[survey]
    differ = next(v for label, v in value.items() if label != survey)
    name = table1.QUANTITY[column]
    return {"reproduced": {name: {A: agree, B: agree}},
            "partly reproduced": {name: {A: agree, B: differ}},
            "not reproduced": {name: {A: differ, B: differ}},
            "not checked": {name: {A: agree, B: float("nan")}}}


EXAMPLES = {table1.claim_id(method, column): _table1_examples(method, column)
            for _, method, column in table1.cells()}
for key in claims.SANITY_MODELS:
    EXAMPLES[f"adebayo_guided_backprop_insensitive_{key}"] = {
        "reproduced": dict(gap_all_layers=0.3, gap_top_half=0.5, accuracy=0.95),
        "partly reproduced": dict(gap_all_layers=0.1, gap_top_half=0.25, accuracy=0.95),
        "not reproduced": dict(gap_all_layers=-0.2, gap_top_half=0.0, accuracy=None),  # pretrained: judged
        "not checked": dict(gap_all_layers=0.3, gap_top_half=0.5, accuracy=0.2),
    }


def test_every_rule_gives_each_of_its_verdicts():
    check_rule_examples(claims.BOOK, EXAMPLES)


def test_one_rule_per_measured_table1_cell_and_no_train_or_taxonomy_claim():
    ids = {rule.claim_id for rule in claims.BOOK}
    assert len(table1.cells()) == 21 and {table1.claim_id(m, c) for _, m, c in table1.cells()} <= ids
    assert not any(i.endswith("_train") for i in ids) and "fig1_four_aspects" not in ids
    assert {rule.owner for rule in claims.BOOK} == {"42_measured_table1"}


def test_table1_rule_reads_the_papers_label():
    rule = claims.BOOK["table1_lime_efficiency"]  # survey: Low
    assert rule.paper_value == "Low"
    outcome = rule.evaluate(time_vs_saliency={A: 50.0, B: 5.0})
    assert outcome.verdict == "partly reproduced" and "50.0x" in outcome.ours and "5.0x" in outcome.ours
    assert B in outcome.note
    assert claims.BOOK["table1_integrated_gradients_locality"].evaluate(
        completeness_error={A: 0.5}).verdict == "reproduced"  # survey: No (not locally additive)
