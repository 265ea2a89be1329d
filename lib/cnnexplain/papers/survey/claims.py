"""The claims of Zhang, Cai, Chen & Wang 2019, survey, each a rule written before the data (:mod:`cnnexplain.claims`).

Notebook 42 owns them all:

- ``table1_<method>_<column>``: one rule per measured cell of the survey's Table 1 (efficiency, locality,
  model-agnostic; :mod:`cnnexplain.papers.survey.table1`), registered in a loop. Each takes the measured
  quantity per model (``{model description: value}``) and compares the label it gives (by the stated rule:
  High efficiency <= 10x a gradient; locally additive <= 5 % completeness error; model-agnostic = runs on a
  forward-only black box) with the survey's.
- ``adebayo_guided_backprop_insensitive_<model>``: the sanity check the survey's §3.3 guided-backprop entry
  rests on (Adebayo et al. 2018), per model.

Not claims, and why: the survey's Fig. 1 "four aspects" is a classification of the literature, not a
measurable statement (notebook 40 redraws it as a figure; comparing it with our own transcription of it
could only agree). Table 1's "train" column is a definition of each algorithm that our implementation
follows by construction (:mod:`cnnexplain.papers.survey.table1`); notebook 42 shows it as declared, with
L2X's measured training time.
"""

from __future__ import annotations

from cnnexplain.claims import NOT_CHECKED, THREE_WAY, ClaimBook, Outcome, below_floor, graded, not_checked  # noqa: F401
from cnnexplain.papers.survey import table1

BOOK = ClaimBook("survey", "Zhang, Cai, Chen & Wang 2019, survey")

OWNER = "42_measured_table1"

# ------------------------------------------------------------------------------ Table 1, one rule per cell

_CRITERION = {
    "efficiency": f"per model: High if one explanation takes <= {table1.EFFICIENCY_HIGH_MAX_RATIO:g}x the time of "
                  "one gradient (saliency) on the same images, else Low",
    "locality": f"per model: locally additive (Yes) if the median relative completeness error "
                f"|sum(a) - (S(x) - S(0))| / |S(x) - S(0)| is <= {table1.ADDITIVE_MAX_ERROR:g}, else No",
    "model_agnostic": "per model: Yes if the method runs on the model wrapped as a black box that answers "
                      "forward queries only, else No",
}
_QUANTITY = {
    "efficiency": "time per explanation / time of one gradient, per model",
    "locality": "median relative completeness error over the explained images, per model",
    "model_agnostic": "whether the method runs on a forward-only black box, per model",
}


def _table1_rule(survey_method: str, method: str, column: str):
    paper = table1.survey_label(survey_method, column)

    def judge(values: dict) -> Outcome:
        values = dict(values)
        if not values:
            return not_checked(f"precondition failed: {method} was measured on no model")
        missing = [model for model, value in values.items() if table1.is_missing(value)]
        if missing:
            return not_checked(f"precondition failed: {table1.QUANTITY[column]} of {method} not measured on {', '.join(missing)} "
                               "(the method does not apply there)")
        labels = {model: table1.LABEL[column](value) for model, value in values.items()}
        differ = [model for model, label in labels.items() if label != paper]
        ours = "; ".join(f"{model}: {labels[model]} ({table1.describe(column, value)})" for model, value in values.items())
        return graded(ours, reproduced=not differ, partly=len(differ) < len(values),
                      note="" if not differ else "measured label differs from the survey's on " + ", ".join(differ))

    BOOK.rule(table1.claim_id(method, column), owner=OWNER, source="Table 1",
              statement=f"{survey_method} ({method}): {column.replace('_', '-')} = {paper}", paper=paper,
              quantity=_QUANTITY[column],
              criterion=f"{_CRITERION[column]}; reproduced if every model's label is {paper!r}, partly if some "
                        "are, not reproduced if none is; not checked if the quantity is missing on a model "
                        "(method not applicable)")(_NAMED[column](judge))


#: Each column's rule takes its quantity by name: ``rule.evaluate(time_vs_saliency={model: ratio})``.
_NAMED = {
    "efficiency": lambda judge: lambda time_vs_saliency: judge(time_vs_saliency),
    "locality": lambda judge: lambda completeness_error: judge(completeness_error),
    "model_agnostic": lambda judge: lambda runs_on_black_box: judge(runs_on_black_box),
}


for _survey_method, _method, _column in table1.cells():
    _table1_rule(_survey_method, _method, _column)


# --------------------------------------------------------------- the sanity check (Adebayo et al. 2018)

#: Guided backprop's rank correlation (original vs randomized model) must exceed the plain-gradient methods'
#: (saliency, SmoothGrad) by at least this much for the check to "separate" them.
SANITY_SEPARATION = 0.2
#: A net explained by the sanity check must have learned something: test accuracy floor (10 classes: chance 0.1).
SANITY_ACCURACY_FLOOR = 0.5
#: The models of notebook 42 (``ExplainedModel.key``).
SANITY_MODELS = ("mnist", "shapes")


def _sanity_rule(model_key: str):
    def judge(gap_all_layers: float, gap_top_half: float, accuracy: float | None, rho: str = "") -> Outcome:
        """``gap_*``: rho(guided backprop) - max(rho(saliency), rho(SmoothGrad)) after randomizing all layers /
        the top half of them; ``accuracy``: the net's test accuracy, None for pretrained ImageNet weights
        (paper profile, not measured here); ``rho``: the correlations in words, for the report."""
        if accuracy is not None and (o := below_floor("test accuracy", accuracy, SANITY_ACCURACY_FLOOR)):
            return o
        ours = f"gap after all layers {gap_all_layers:.2f}, after the top half {gap_top_half:.2f}"
        return graded(ours + (f" ({rho})" if rho else ""), reproduced=gap_all_layers >= SANITY_SEPARATION,
                      partly=gap_top_half >= SANITY_SEPARATION)

    BOOK.rule(f"adebayo_guided_backprop_insensitive_{model_key}", owner=OWNER,
              source="Adebayo et al. 2018 (cited via survey §3.3 GBP)",
              statement="guided backprop is insensitive to model-parameter randomization, the gradient is not",
              paper="GBP stays correlated; gradient and SmoothGrad decorrelate",
              quantity=f"{model_key} model: Spearman rho of |attribution| before vs after cascading randomization "
                       "(output layer down); gap = rho(guided backprop) - max(rho(saliency), rho(SmoothGrad))",
              criterion=f"reproduced if the gap after randomizing ALL layers is >= {SANITY_SEPARATION:g}; partly if "
                        f"it is >= {SANITY_SEPARATION:g} only after randomizing the top half of the layers; not "
                        f"reproduced otherwise; not checked if the net's test accuracy < {SANITY_ACCURACY_FLOOR:g} "
                        "(pretrained ImageNet weights count as trained)")(judge)


for _key in SANITY_MODELS:
    _sanity_rule(_key)
