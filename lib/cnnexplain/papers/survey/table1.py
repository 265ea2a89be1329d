"""The survey's Table 1 ("Feature importance methods comparison", Zhang et al. 2019, adapted from Chen et al.
2018) verbatim, and the stated rules that turn a measurement into one of its labels.

Kept apart from :mod:`cnnexplain.papers.survey.study` (which needs torch and captum) so that the claim
rules (:mod:`cnnexplain.papers.survey.claims`) read the paper's labels and the label rules from one light
module.

Of Table 1's four columns, three are measured (notebook 42): *efficiency* (time of one explanation against
one gradient), *locality* ("locally additive": completeness error) and *model-agnostic* (does it run on a
forward-only black box). The *train* column ("requires training on an unlabeled data set") is a definition
of each algorithm (L2X fits an explainer network, the others fit nothing); our implementation follows the
definition, so a "measured" label would only read back how the method is declared. It is shown as declared,
with L2X's training time, and is not judged as a claim.
"""

from __future__ import annotations

import math

import pandas as pd

#: Table 1 of the survey, verbatim.
SURVEY_TABLE1 = pd.DataFrame([
    ("LIME", "No", "Low", "Yes", "Yes"),
    ("DeepLIFT", "No", "High", "Yes", "No"),
    ("LRP", "No", "High", "Yes", "No"),
    ("SHAP", "No", "Low", "Yes", "Yes"),
    ("Integrated gradient", "No", "High", "No", "Yes"),
    ("L2X", "Yes", "High", "No", "Yes"),
], columns=["survey_method", "train", "efficiency", "locality", "model_agnostic"])

#: Which of our methods stands for each row of the survey's Table 1.
SURVEY_ROWS = {
    "LIME": ["lime"],
    "DeepLIFT": ["deeplift"],
    "LRP": ["lrp"],
    "SHAP": ["kernel_shap", "partition_shap"],
    "Integrated gradient": ["integrated_gradients"],
    "L2X": ["l2x"],
}

#: The columns we measure (the "train" column is a definition, see the module docstring).
MEASURED_COLUMNS = ("efficiency", "locality", "model_agnostic")

#: "High" efficiency: one explanation takes at most 10x the time of one gradient (saliency).
EFFICIENCY_HIGH_MAX_RATIO = 10.0
#: "Locally additive": median relative completeness error |sum(a) - (S(x) - S(0))| / |S(x) - S(0)| <= 5 %.
ADDITIVE_MAX_ERROR = 0.05

#: The measured quantity behind each column (a column of :func:`cnnexplain.papers.survey.study.measure_methods`).
QUANTITY = {"efficiency": "time_vs_saliency", "locality": "completeness_error", "model_agnostic": "runs_on_black_box"}


def is_missing(value) -> bool:
    """None or NaN: the quantity was not measured (e.g. the method does not apply to the architecture)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def efficiency_label(time_vs_saliency: float) -> str:
    return "High" if time_vs_saliency <= EFFICIENCY_HIGH_MAX_RATIO else "Low"


def locality_label(completeness_error: float) -> str:
    return "Yes" if completeness_error <= ADDITIVE_MAX_ERROR else "No"


def model_agnostic_label(runs_on_black_box: bool) -> str:
    return "Yes" if bool(runs_on_black_box) else "No"


LABEL = {"efficiency": efficiency_label, "locality": locality_label, "model_agnostic": model_agnostic_label}


def describe(column: str, value) -> str:
    """The number behind a measured label, in words."""
    if column == "efficiency":
        return f"{value:.1f}x the gradient's time (High if <= {EFFICIENCY_HIGH_MAX_RATIO:g}x)"
    if column == "locality":
        return f"completeness error {value:.3g} (additive if <= {ADDITIVE_MAX_ERROR:g})"
    if column == "model_agnostic":
        return "runs on a forward-only black box" if bool(value) else "fails on a forward-only black box"
    raise ValueError(f"unknown measured Table 1 column {column!r}; measured are {MEASURED_COLUMNS}")


def survey_label(survey_method: str, column: str) -> str:
    """The survey's label of ``survey_method`` (a row name of :data:`SURVEY_TABLE1`) in ``column``."""
    return str(SURVEY_TABLE1.set_index("survey_method").loc[survey_method, column])


def cells() -> list[tuple[str, str, str]]:
    """``(survey method, our method, column)`` for every measured cell of Table 1, in table order."""
    return [(row, method, column) for row in SURVEY_TABLE1["survey_method"] for method in SURVEY_ROWS[row]
            for column in MEASURED_COLUMNS]


def claim_id(method: str, column: str) -> str:
    return f"table1_{method}_{column}"
