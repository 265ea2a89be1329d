"""Zhang et al. 2019 (the survey) as data and measurements: its Fig. 1 taxonomy, its Table 1 labels, and
the measured version of Table 1 built from :mod:`cnnexplain.methods.attribution.explain` and :mod:`cnnexplain.methods.attribution.metrics`.

Kept here (not in the notebooks) because notebooks 40–42 share it and because the rules that turn a
measurement into a Table 1 label (``High``/``Low`` efficiency, locally additive or not) deserve tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from cnnexplain.methods.attribution import explain as attr
from cnnexplain.methods.attribution import metrics
from cnnexplain.papers.survey import table1
from cnnexplain.papers.survey.claims import SANITY_SEPARATION  # the rule's threshold, kept in one place
from cnnexplain.papers.survey.table1 import (ADDITIVE_MAX_ERROR, EFFICIENCY_HIGH_MAX_RATIO,  # noqa: F401
                                             MEASURED_COLUMNS, SURVEY_ROWS, SURVEY_TABLE1)
from cnnexplain.progress import progress

# --------------------------------------------------------------------------------- the survey's Table 1

# the paper's Table 1 and the label rules live in table1.py (light, shared with the claim rules): imported above

# ------------------------------------------------------------------------------------ Fig. 1 taxonomy

#: The survey's Fig. 1 ("Interpretable research structure diagram") as a tree: its four aspects (§3.1–3.4)
#: and their sub-topics, as the section headings name them; leaves list the methods we run and where.
TAXONOMY = {
    "3.1 Data characteristics and rule processing": {
        "Data characteristics (feature selection)": ["l2x"],
        "Rule-based extraction (DeepRED, CRED)": [],
        "Embedding of prior rules (ReNN)": [],
    },
    "3.2 Model internal space analysis": {
        "Neural units (activation maximization, deconvolution)": ["activation_maximization", "deconvnet"],
        "Hierarchical / layer analysis": ["influential_scores"],
        "Hierarchical unit combinations (Net2Vec, TCAV, SVCCA)": [],
        "Perturbation (occlusion, noise, LIME)": ["occlusion", "lime"],
    },
    "3.3 Explain to predict": {
        "Feature importance (DeepLIFT, LRP, SHAP, IG, L2X; Table 1)": [
            "deeplift", "lrp", "kernel_shap", "partition_shap", "integrated_gradients", "l2x"],
        "Feature text interpretation": [],
        "Visualization, gradient-based": ["saliency", "gradient_x_input", "guided_backprop", "deconvnet",
                                          "integrated_gradients", "smoothgrad"],
        "Visualization, activation-based": ["activation_maximization", "cam", "gradcam"],
        "Semantic feature representation (Network Dissection, Net2Vec)": ["network_dissection"],
    },
    "3.4 Model interpretation": {
        "Model processing (compression, decomposition)": [],
        "Interpretable model systems (interpretable CNN, AOG)": ["neuroview"],
    },
}

#: Notebook(s) that run each taxonomy leaf's methods (other papers of the project included).
LEAF_NOTEBOOKS = {
    "influential_scores": ["1x (Jung et al., influential scores)"],
    "neuroview": ["3x (NeuroView, interpretable by design)"],
    "network_dissection": ["31 (NeuroView Fig. 4: units labelled by Network Dissection)"],
}
#: Labels of the leaves that are not attribution methods of :data:`cnnexplain.methods.attribution.explain.METHODS`.
LEAF_LABELS = {"influential_scores": "influential scores", "neuroview": "NeuroView",
               "network_dissection": "Network Dissection"}
SURVEY_NOTEBOOKS = ["41_attribution_gallery", "42_measured_table1"]


def taxonomy_table() -> pd.DataFrame:
    """One row per (aspect, topic, method) of :data:`TAXONOMY`, with the notebooks that run the method."""
    rows = []
    for aspect, topics in TAXONOMY.items():
        for topic, methods in topics.items():
            for method in methods or [None]:
                if method is None:
                    notebooks = []
                elif method in LEAF_NOTEBOOKS:
                    notebooks = LEAF_NOTEBOOKS[method]
                else:
                    notebooks = SURVEY_NOTEBOOKS
                label = attr.METHODS[method].label if method in attr.METHODS else LEAF_LABELS.get(method, method or "")
                rows.append(dict(aspect=aspect, topic=topic, method=method or "", label=label,
                                 notebooks=", ".join(notebooks) if notebooks else "not implemented here"))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- method option presets


def patch_size(image_size: int) -> int:
    """Segment side for grid methods (LIME, KernelSHAP, occlusion, L2X): a 7×7 or 8×8 grid."""
    for cells in (7, 8):
        if image_size % cells == 0:
            return image_size // cells
    raise ValueError(f"image size {image_size} is divisible by neither 7 nor 8; pick a patch size explicitly")


def method_options(image_size: int, fast: bool = False, value_range=(0.0, 1.0)) -> dict[str, dict]:
    """Per-method options used by notebooks 41 and 42: ``fast`` for the smoke profile."""
    patch = patch_size(image_size)
    return {
        "integrated_gradients": dict(n_steps=16 if fast else 32),
        "smoothgrad": dict(n_samples=8 if fast else 16),
        "occlusion": dict(window=patch, stride=max(1, patch // 2)),
        "lime": dict(n_samples=100 if fast else 200, patch=patch),
        "kernel_shap": dict(n_samples=100 if fast else 200, patch=patch),
        "partition_shap": dict(max_evals=200 if fast else 300),
        # L2X: 8 patches of the 7×7 / 8×8 grid; Adam at 5e-3 on batches of 32 (more steps per epoch than 64)
        "l2x": dict(patch=patch, k=8, epochs=1 if fast else 4, lr=5e-3, batch_size=32),
        "activation_maximization": dict(steps=16 if fast else 64, value_range=value_range),
    }


def explain_all(model: nn.Module, images: torch.Tensor, target, methods, options: dict[str, dict]):
    """``{method: attributions}`` for each method; a method that does not apply to this architecture
    (e.g. CAM without global average pooling) maps to the ``ValueError`` message instead."""
    results = {}
    for method in progress(methods, desc="methods"):
        try:
            results[method] = attr.explain(model, images, target, method, **options.get(method, {}))
        except ValueError as error:
            results[method] = str(error)
    return results


# ----------------------------------------------------------------------------------- measured Table 1


@dataclass
class Measurements:
    table: pd.DataFrame  # one row per method
    deletion: dict = field(default_factory=dict)  # method -> (fractions, mean curve)
    insertion: dict = field(default_factory=dict)
    sanity: dict = field(default_factory=dict)  # method -> sanity_check DataFrame


def measure_methods(model: nn.Module, images: torch.Tensor, target, methods, options: dict[str, dict],
                    l2x_train_images: torch.Tensor, steps: int = 28, sanity=True,
                    black_box_images: int = 1) -> Measurements:
    """Measure every method on ``images`` (the survey's Table 1 columns plus ours).

    Columns: declared ``needs_training`` / ``needs_internals``; ``training_s`` (L2X's explainer);
    ``time_per_image_s`` and its ratio to saliency; median relative ``completeness_error``;
    mean ``deletion_auc`` / ``insertion_auc`` (probability of the target class, zero baseline);
    Spearman rank correlation after randomizing the top layer and after randomizing all layers
    (cascading, Adebayo et al. 2018); ``runs_on_black_box``. L2X is trained once on ``l2x_train_images``
    for timing and the faithfulness metrics and retrained on each randomized model for the sanity check.
    """
    target = attr.resolve_target(model, images, target)
    options = {m: dict(options.get(m, {})) for m in methods}
    measured = Measurements(table=pd.DataFrame())
    rows = []
    for method in progress(methods, desc="measure"):
        info = attr.method_info(method)
        opts = options[method]
        row = dict(method=method, label=info.label, family=info.family, needs_training=info.needs_training,
                   needs_internals=info.needs_internals, library=info.library)
        training_opts = opts
        if method == "l2x":
            train_opts = {k: v for k, v in opts.items() if k not in ("explainer", "train_images")}
            start = time.perf_counter()
            explainer = attr.train_l2x(model, l2x_train_images, **train_opts)
            row["training_s"] = time.perf_counter() - start
            row["l2x_fidelity"] = explainer.fidelity
            opts = dict(explainer=explainer)
            training_opts = dict(train_images=l2x_train_images, **train_opts)
        try:
            a, row["time_per_image_s"] = metrics.timed_explain(model, images, target, method, **opts)
        except ValueError as error:  # not applicable to this architecture
            row["note"] = str(error)
            rows.append(row)
            continue
        if row["time_per_image_s"] * len(images) < 0.5:  # fast methods: best of 5 more runs, less timer noise
            row["time_per_image_s"] = min(row["time_per_image_s"], metrics.time_per_explanation(
                model, images, target, method, repeats=5, warmup=False, **opts))
        # L2X on the black box: does TRAINING work from forward queries alone? One short epoch answers that.
        black_box_opts = dict(training_opts, epochs=1, train_images=l2x_train_images[:64]) if method == "l2x" else opts
        ok, why = metrics.runs_on_black_box(model, images[:black_box_images], target[:black_box_images], method,
                                            **black_box_opts)
        row["runs_on_black_box"] = ok
        row["black_box_error"] = why
        if info.output == "attribution":
            row["completeness_error"] = float(metrics.completeness_error(model, images, a, target).median())
            f, dc = metrics.deletion_curve(model, images, a, target, steps=steps)
            _, ic = metrics.insertion_curve(model, images, a, target, steps=steps)
            row["deletion_auc"] = float(metrics.curve_auc(f, dc).mean())
            row["insertion_auc"] = float(metrics.curve_auc(f, ic).mean())
            measured.deletion[method] = (f, dc.mean(0))
            measured.insertion[method] = (f, ic.mean(0))
            if sanity is True or (not isinstance(sanity, bool) and method in sanity):
                s = metrics.sanity_check(model, images, target, method, **training_opts)
                measured.sanity[method] = s
                row["sanity_top_layer"] = float(s["spearman_mean"].iloc[1])
                row["sanity_top_half"] = float(s["spearman_mean"].iloc[(len(s) - 1 + 1) // 2])  # ceil(L/2) layers
                row["sanity_all_layers"] = float(s["spearman_mean"].iloc[-1])
        else:
            row["note"] = "synthesizes an input (not an attribution): no completeness, deletion or sanity"
        rows.append(row)
    table = pd.DataFrame(rows)
    if "saliency" in set(table["method"]):
        base = float(table.loc[table["method"] == "saliency", "time_per_image_s"].iloc[0])
        table["time_vs_saliency"] = table["time_per_image_s"] / base
    measured.table = table
    return measured


def measure_models(models: list, methods, *, fast: bool = False, sanity=True) -> dict:
    """``{model key: Measurements}``: :func:`measure_methods` on each :class:`ExplainedModel`, explaining the
    predicted class of its images with :func:`method_options` (``fast``: the smoke sizes). ``sanity``: True
    (all methods), False (none) or the methods that get the cascading-randomization check."""
    measured = {}
    for m in models:
        with torch.no_grad():
            target = m.model(m.images).argmax(1)
        options = method_options(image_size=m.image_size, fast=fast, value_range=m.value_range)
        chosen = sanity if isinstance(sanity, bool) else [s for s in sanity if s in methods]
        measured[m.key] = measure_methods(m.model, m.images, target, methods, options,
                                          l2x_train_images=m.l2x_images, sanity=chosen)
    return measured


#: Columns of the side-by-side table of notebook 42 (both models, every method).
OVERVIEW_COLUMNS = ["label", "training_s", "l2x_fidelity", "time_per_image_s", "time_vs_saliency",
                    "completeness_error", "runs_on_black_box", "deletion_auc", "insertion_auc", "sanity_top_layer",
                    "sanity_top_half", "sanity_all_layers"]
#: Columns of the per-model Table 1 beside the survey's.
TABLE1_COLUMNS = ["method", "train_declared", "efficiency_measured", "locality_measured", "model_agnostic_measured",
                  "training_s", "time_per_image_s", "time_vs_saliency", "completeness_error", "deletion_auc",
                  "insertion_auc", "sanity_all_layers"]


def overview(measured: dict) -> pd.DataFrame:
    """Every method's measurements on every model, one row per (model, method)."""
    both = pd.concat({key: m.table.set_index("method") for key, m in measured.items()}, names=["model"])
    return both[[c for c in OVERVIEW_COLUMNS if c in both]]


def table1_rows(table: pd.DataFrame) -> pd.DataFrame:
    """One model's Table 1: the survey's methods, their measured labels and the numbers behind them."""
    labelled = label_like_survey(table)
    labelled = labelled[labelled["method"].isin(sum(SURVEY_ROWS.values(), []))]
    return labelled[[c for c in TABLE1_COLUMNS if c in labelled]]


def survey_vs_measured(measured: dict) -> pd.DataFrame:
    """Long table (model, survey method, method, column, survey, measured, agree) over every model."""
    comparison = pd.concat({key: compare_with_survey(m.table) for key, m in measured.items()}, names=["model"])
    return comparison.reset_index(level=0).reset_index(drop=True)


def survey_vs_measured_wide(comparison: pd.DataFrame) -> pd.DataFrame:
    """:func:`survey_vs_measured` with one column per model's label beside the survey's."""
    wide = comparison.pivot_table(index=["survey_method", "method", "column"], columns="model", values="measured",
                                  aggfunc="first")
    survey = comparison.drop_duplicates(["survey_method", "method", "column"]).set_index(
        ["survey_method", "method", "column"])["survey"]
    return wide.join(survey)


def label_like_survey(table: pd.DataFrame) -> pd.DataFrame:
    """Turn measured columns into the survey's Table 1 labels (Yes/No, High/Low) by the rules of
    :mod:`cnnexplain.papers.survey.table1`; ``train_declared`` is the registry's declaration (not measured)."""
    out = table.copy()
    out["train_declared"] = np.where(out["needs_training"].astype(bool), "Yes", "No")
    if "time_vs_saliency" in out:
        out["efficiency_measured"] = [("n/a" if table1.is_missing(v) else table1.efficiency_label(v))
                                      for v in out["time_vs_saliency"]]
    out["locality_measured"] = [("n/a" if table1.is_missing(v) else table1.locality_label(v))
                                for v in out.get("completeness_error", pd.Series(np.nan, index=out.index))]
    out["model_agnostic_measured"] = [("n/a" if table1.is_missing(v) else table1.model_agnostic_label(v))
                                      for v in out["runs_on_black_box"]]
    return out


def compare_with_survey(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (survey method, our method, measured column): the survey's label, ours, and whether they agree."""
    labelled = label_like_survey(table).set_index("method")
    rows = []
    for survey_method, method, column in table1.cells():
        if method not in labelled.index or f"{column}_measured" not in labelled:
            continue
        survey_label = table1.survey_label(survey_method, column)
        measured = labelled.loc[method, f"{column}_measured"]
        rows.append(dict(survey_method=survey_method, method=method, column=column, survey=survey_label,
                         measured=measured, agree=survey_label == measured))
    return pd.DataFrame(rows)


def table1_claim_inputs(measured: dict) -> dict:
    """``{claim id: keyword arguments}`` for every rule ``table1_<method>_<column>`` of
    :mod:`cnnexplain.papers.survey.claims`: each column's quantity per model, e.g.
    ``{"table1_lime_efficiency": {"time_vs_saliency": {"GAPCNN / MNIST digits": 180.0, ...}}}``.

    ``measured``: ``{model description: measured table}`` (:func:`measure_methods`' ``.table``). A method that
    was not measured on a model (not applicable) gives NaN there, which the rule reports as not checked."""
    inputs = {}
    for _, method, column in table1.cells():
        quantity = table1.QUANTITY[column]
        values = {}
        for name, table in measured.items():
            rows = table[table["method"] == method]
            value = rows[quantity].iloc[0] if len(rows) and quantity in rows else np.nan
            values[name] = (bool(value) if column == "model_agnostic" and not table1.is_missing(value)
                            else float(value))
        inputs[table1.claim_id(method, column)] = {quantity: values}
    return inputs


def table1_summary(table: pd.DataFrame) -> dict:
    """``{method: "train No; efficiency High (2.0x); locality No (0.31); agnostic No; del 0.12 / ins 0.55;
    sanity 0.04"}`` — the measured Table 1 in one line per method, for the report."""
    labelled = label_like_survey(table).set_index("method")
    out = {}
    for method, r in labelled.iterrows():
        if pd.isna(r.get("time_per_image_s")):
            out[method] = "n/a: " + str(r.get("note", ""))[:80]
            continue
        parts = [f"train {r['train_declared']} (declared)", f"efficiency {r['efficiency_measured']} ({r['time_vs_saliency']:.1f}x, "
                 f"{r['time_per_image_s'] * 1e3:.1f} ms)"]
        if pd.notna(r.get("completeness_error")):
            parts.append(f"locality {r['locality_measured']} ({r['completeness_error']:.3g})")
        parts.append(f"agnostic {r['model_agnostic_measured']}")
        if pd.notna(r.get("deletion_auc")):
            parts.append(f"del {r['deletion_auc']:.3f} / ins {r['insertion_auc']:.3f}")
        if pd.notna(r.get("sanity_all_layers")):
            parts.append(f"sanity rho {r['sanity_all_layers']:.2f}")
        if pd.notna(r.get("l2x_fidelity")):
            parts.append(f"L2X agreement {r['l2x_fidelity']:.2f}")
        out[method] = "; ".join(parts)
    return out


def sanity_separation(table: pd.DataFrame, column: str = "sanity_all_layers") -> dict:
    """Does the cascading randomization separate guided backprop (fails the check per Adebayo et al. 2018)
    from the plain gradient and SmoothGrad (pass)? ``column``: the correlation compared, after randomizing
    all layers (``sanity_all_layers``) or the top half of them (``sanity_top_half``: Adebayo et al.'s
    cascade figures show guided backprop unchanged while the higher layers are randomized). Returns the
    correlations, the gap ``rho(GBP) − max(rho(saliency), rho(SmoothGrad))`` and ``separates``
    (gap ≥ :data:`SANITY_SEPARATION`)."""
    final = table.set_index("method")[column].dropna()
    needed = {"guided_backprop", "saliency", "smoothgrad"}
    if not needed <= set(final.index):
        raise ValueError(f"the sanity check needs {sorted(needed)} measured; have {sorted(final.index)}")
    gap = float(final["guided_backprop"] - final[["saliency", "smoothgrad"]].max())
    return dict(rho=final.round(4).to_dict(), gap=gap, separates=gap >= SANITY_SEPARATION)


def sanity_correlations(measured: dict) -> pd.DataFrame:
    """Rank correlation after randomizing all layers and the top half of them: one column per (model key,
    "all layers" / "top half"), one row per method that got the sanity check."""
    columns = {}
    for key, m in measured.items():
        table = m.table.set_index("method")
        for column, where in (("sanity_all_layers", "all layers"), ("sanity_top_half", "top half")):
            if column in table and table[column].notna().any():
                columns[(key, where)] = table[column].dropna()
    return pd.DataFrame(columns).round(3)


def sanity_claim_inputs(table: pd.DataFrame, accuracy: float | None) -> dict | None:
    """Keyword arguments of the rule ``adebayo_guided_backprop_insensitive_<model>``
    (:mod:`cnnexplain.papers.survey.claims`) from one model's measured table: the gaps after randomizing all
    layers and the top half of them, the correlations in words, and the model's test accuracy. ``None``
    when guided backprop, saliency or SmoothGrad lack a sanity check (e.g. left out of ``SANITY``)."""
    needed = {"guided_backprop", "saliency", "smoothgrad"}
    if "sanity_all_layers" not in table or not needed <= set(table.dropna(subset=["sanity_all_layers"])["method"]):
        return None
    full, half = sanity_separation(table), sanity_separation(table, "sanity_top_half")
    words = ", ".join(f"{attr.METHODS[m].label} {full['rho'][m]:.2f} / {half['rho'][m]:.2f}"
                      for m in ("guided_backprop", "saliency", "smoothgrad"))
    others = ", ".join(f"{attr.METHODS[m].label} {v:.2f}" for m, v in full["rho"].items() if m not in needed)
    return dict(gap_all_layers=full["gap"], gap_top_half=half["gap"], accuracy=accuracy,
                rho=f"rho after all layers / top half: {words}; others after all layers: {others}")


# ----------------------------------------------------------------------------- the two models of 41 / 42


@dataclass
class ExplainedModel:
    """A trained model and the images notebooks 41 and 42 explain with it."""

    key: str  # short name used in file names and widgets ("mnist", "shapes")
    description: str  # for titles and claims, e.g. "VGG16Small / textured shapes"
    model: nn.Module
    images: torch.Tensor  # the images every method explains
    image_names: list  # one label per image (its true class)
    l2x_images: torch.Tensor  # unlabeled images L2X's explainer is trained on
    value_range: tuple  # input range (activation maximization clips to it)
    accuracy: float | None = None  # test accuracy (None where not measured)
    display: object = None  # maps images to what to draw (ImageNet de-normalisation), or None
    info: dict = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])


def mnist_gap_model(profile: str, *, n_train: int, n_test: int, epochs: int, n_images: int, n_l2x: int,
                    seed: int = 0, data_root=None) -> ExplainedModel:
    """Model 1 of the issue: a small CNN with global average pooling (:class:`cnnexplain.models.cnns.GAPCNN`, so
    CAM applies) trained on embedded MNIST digits (smoke/default) or full MNIST from ``data_root`` (paper,
    which stops with a message when the files are missing)."""
    from cnnexplain.data import sources as data
    from cnnexplain.models import cnns as models
    from cnnexplain import train

    x_train, y_train, x_test, y_test = data.mnist_for_profile(profile, n_train, n_test, seed=seed, root=data_root)
    model = models.GAPCNN(in_channels=1, num_classes=10)
    start = time.perf_counter()
    train.fit(model, x_train, y_train, epochs=epochs, lr=3e-3, batch_size=32, seed=seed)
    seconds = time.perf_counter() - start
    model.eval()
    return ExplainedModel("mnist", "GAPCNN / MNIST digits", model, x_test[:n_images],
                          [f"digit {int(c)}" for c in y_test[:n_images]], x_train[:n_l2x], (0.0, 1.0),
                          accuracy=train.accuracy(model, x_test, y_test), info=dict(train_seconds=seconds))


def textured_shapes_model(profile: str, *, n_images: int, seed: int = 0, n_l2x: int | None = None,
                          data_root=None) -> ExplainedModel:
    """Model 2 of the issue: the VGG-16-layout net of the Aamir notebooks (2x).

    smoke/default: the Aamir study preset of ``profile`` (:func:`cnnexplain.papers.aamir.preset.load_study`, the
    same trained net as notebooks 21-24, from the shared cache); the images are original-condition test images (object on a
    natural, non-zero background), one per class. paper: torchvision's VGG16 with ImageNet weights
    (:func:`pretrained_vgg16`, stops with instructions when the weights are absent) on scikit-image photos.
    VGG16Small (like VGG16) has no global average pooling, so CAM does not apply to it.
    """
    if profile == "paper":
        from cnnexplain.data import photos

        model = pretrained_vgg16()
        crops = photos.photo_crops(n_train=n_l2x or 64, n_test=1, size=224, seed=seed)[0]
        mean = torch.tensor(photos.IMAGENET_MEAN).reshape(1, 3, 1, 1)
        std = torch.tensor(photos.IMAGENET_STD).reshape(1, 3, 1, 1)
        names = list(photos.PHOTO_CLASSES[:n_images])
        return ExplainedModel("shapes", "VGG16 (ImageNet weights) / photos", model, photos.imagenet_photos(224)[:n_images],
                              names, (crops - mean) / std, photos.imagenet_value_range(),
                              display=lambda x: (x * std + mean).clamp(0, 1))
    from cnnexplain.papers.aamir.preset import load_study

    built = load_study(profile, seed=seed, progress=False)
    model = attr.prepare_model(built.model)
    original = np.flatnonzero(built.conditions == "original")
    y = built.y_test[original]
    picks = []
    for c in range(len(built.class_names)):  # one image per class, in class order
        hits = np.flatnonzero(y.numpy() == c)
        if len(hits):
            picks.append(int(original[hits[0]]))
    picks = picks[:n_images]
    predictions = built.predictions()
    accuracy = float((predictions[original] == y).float().mean())
    l2x_images = built.x_train if n_l2x is None else built.x_train[:n_l2x]
    return ExplainedModel("shapes", "VGG16Small / textured shapes", model, built.x_test[picks],
                          [built.class_names[int(built.y_test[i])] for i in picks], l2x_images, (0.0, 1.0),
                          accuracy=accuracy, info=dict(built.info, cache=str(built.cache)))


def has_global_average_pooling(model: nn.Module) -> bool:
    """Whether CAM applies: the model has ``features`` and a single linear ``fc`` after global average pooling."""
    return isinstance(getattr(model, "features", None), nn.Module) and isinstance(getattr(model, "fc", None), nn.Linear)


# ----------------------------------------------------------------------------- paper profile: VGG16


def vgg16_for_attribution(weights_file=None) -> nn.Module:
    """torchvision's VGG16 made safe for captum (:func:`attribution.prepare_model`): with the ImageNet
    weights of ``weights_file`` (a state dict), or randomly initialised when ``weights_file`` is None
    (torchvision's ``weights=None``: nothing is downloaded; used by the tests of the paper path)."""
    from cnnexplain.compat import torchvision

    model = torchvision.models.vgg16(weights=None)
    if weights_file is not None:
        model.load_state_dict(torch.load(weights_file, weights_only=True))
    return attr.prepare_model(model)


def pretrained_vgg16() -> nn.Module:
    """torchvision's VGG16 with ImageNet weights from the local torch hub cache, never downloaded here.

    Raises :class:`cnnexplain.data.sources.DataUnavailableError` naming the file and how to fetch it when the
    weights are missing. In-place ReLUs are switched off for captum (:func:`attribution.prepare_model`)."""
    from pathlib import Path

    from cnnexplain.compat import torchvision
    from cnnexplain.data.sources import DataUnavailableError

    weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not file.is_file():
        raise DataUnavailableError(
            f"VGG16 ImageNet weights not found at {file}. On a machine with internet run once: "
            "python -c \"from cnnexplain.compat import torchvision; "
            "torchvision.models.vgg16(weights='IMAGENET1K_V1')\" (or copy "
            f"{weights.url} to {file}), or use the default profile.")
    return vgg16_for_attribution(file)


# ---------------------------------------------------------------------------------------------- figures


def show_explanation(ax, result, title: str = "", image=None):
    """Draw one explanation on ``ax``: an attribution (C, H, W) summed over channels in a symmetric
    signed colour map, divided by its own max |value| (so one colour bar, -1 to 1, serves every map), a
    synthesized input as an image, or a "not applicable" message (a string). Returns the map's image
    artist (None for the others)."""
    import matplotlib.pyplot as plt  # noqa: F401

    from cnnexplain.notebook.plots import SIGNED_CMAP

    ax.set_xticks([])
    ax.set_yticks([])
    if isinstance(result, str):
        import textwrap

        reason = "\n".join(textwrap.wrap(result, 16)[:4]) + ("…" if len(result) > 64 else "")
        ax.text(0.5, 0.5, "n/a\n" + reason if result else "n/a", ha="center", va="center", fontsize=8,
                transform=ax.transAxes)
        ax.set_box_aspect(1)  # a square cell like the maps beside it
        artist = None
    elif image is not None:  # a synthesized input
        array = image.detach().cpu().float()
        array = (array - array.min()) / (array.max() - array.min() + 1e-12)
        ax.imshow(array[0] if array.shape[0] == 1 else array.permute(1, 2, 0),
                  cmap="gray" if array.shape[0] == 1 else None, interpolation="nearest")
        artist = None
    else:
        heat = result.detach().cpu().float().sum(0)
        limit = float(heat.abs().max()) or 1.0
        artist = ax.imshow(heat / limit, cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    if title:
        ax.set_title(title.replace(" (", "\n("), fontsize=9)
    return artist


def gallery_figure(images, results: dict, row_titles=None, suptitle: str = "", display=None, size: float = 1.5,
                   methods_per_row: int = 6):
    """Rows = images, columns = the input then one column per method in ``results`` (``explain_all``).

    The methods are split into bands of ``methods_per_row`` columns (each band repeats the inputs), so the
    figure stays ~10 in wide and its titles readable (the readability rule of
    :mod:`cnnexplain.notebook.plots`); one labelled colour bar serves every map (each map is divided by its
    own max |value|). ``display`` maps the images to what to show in the first column (e.g. ImageNet
    de-normalisation)."""
    import matplotlib.pyplot as plt

    from cnnexplain.notebook.plots import colorbar

    methods = list(results)
    bands = [methods[k:k + methods_per_row] for k in range(0, len(methods), methods_per_row)] or [[]]
    n = len(images)
    ncols = max(len(b) for b in bands) + 1
    fig, axes = plt.subplots(n * len(bands), ncols, figsize=(size * ncols, (size + 0.15) * n * len(bands) + 1.2),
                             squeeze=False, layout="constrained")  # constrained: room for the colour bar and titles
    shown = display(images) if display else images
    artist = None
    for b, band in enumerate(bands):
        for i in range(n):
            row = axes[b * n + i]
            show_explanation(row[0], None, "input" if i == 0 else "", image=shown[i])
            if row_titles is not None:
                row[0].set_ylabel(str(row_titles[i]), fontsize=9)
            for j in range(len(band) + 1, ncols):
                row[j].axis("off")
            for j, method in enumerate(band, start=1):
                result = results[method]
                label = attr.METHODS[method].label if method in attr.METHODS else method
                title = label if i == 0 else ""
                if isinstance(result, str):  # not applicable: the reason once, in the band's first row
                    if i == 0:
                        show_explanation(row[j], result, title)
                    else:
                        row[j].axis("off")
                elif attr.METHODS[method].output == "synthesis":
                    show_explanation(row[j], None, title, image=result[i])
                else:
                    artist = show_explanation(row[j], result[i], title) or artist
    if artist is not None:
        colorbar(fig, artist, axes, "attribution / its map's max |value| (red +, blue −)", location="bottom",
                 fraction=0.02, pad=0.01, shrink=0.6, aspect=40)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def draw_taxonomy(ax=None, aspects=None):
    """The survey's Fig. 1 redrawn as a tree: root → four aspects (§3.1–3.4) → topics → our methods.

    ``aspects``: draw only these aspects (keys of :data:`TAXONOMY`), e.g. one branch for a widget."""
    import textwrap

    import matplotlib.pyplot as plt

    def wrap(text, width):
        return "\n".join(textwrap.wrap(text, width))

    if aspects is not None:
        unknown = [a for a in aspects if a not in TAXONOMY]
        if unknown:
            raise ValueError(f"unknown aspects {unknown}; the survey's aspects are {list(TAXONOMY)}")
    leaves = [(aspect, topic, methods) for aspect, topics in TAXONOMY.items() for topic, methods in topics.items()
              if aspects is None or aspect in aspects]
    if ax is None:
        # 12 in wide and 0.62 in a leaf: its 9-11 pt text reads at 1100 px (the readability rule)
        fig, ax = plt.subplots(figsize=(12, 0.62 * len(leaves) + 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, len(leaves) - 0.5)
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.3", fc="white", ec="0.4")
    colours = plt.get_cmap("tab10")
    y_of_leaf = {i: len(leaves) - 1 - i for i in range(len(leaves))}
    aspect_y = {}
    for i, (aspect, _, _) in enumerate(leaves):
        aspect_y.setdefault(aspect, []).append(y_of_leaf[i])
    root_y = np.mean([np.mean(v) for v in aspect_y.values()])
    ax.text(0.02, root_y, "Interpretability\nof CNNs\n(survey Fig. 1)", ha="left", va="center", bbox=box,
            fontsize=10, fontweight="bold")
    for aspect, ys in aspect_y.items():
        y = float(np.mean(ys))
        colour = colours(list(TAXONOMY).index(aspect))
        ax.plot([0.13, 0.16], [root_y, y], color="0.5", lw=1)
        ax.text(0.16, y, wrap(aspect, 22), ha="left", va="center", fontsize=10, color=colour,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=colour))
        for i, (a, topic, methods) in enumerate(leaves):
            if a != aspect:
                continue
            ly = y_of_leaf[i]
            ax.plot([0.36, 0.38], [y, ly], color=colour, lw=0.8)
            ax.text(0.38, ly, wrap(topic, 34), ha="left", va="center", fontsize=9.5)
            if methods:
                names = ", ".join(attr.METHODS[m].label if m in attr.METHODS else LEAF_LABELS.get(m, m)
                                  for m in methods)
                where = ", ".join(sorted({nb for m in methods
                                          for nb in LEAF_NOTEBOOKS.get(m, ["41", "42"])}))
                ax.text(0.66, ly, wrap(f"{names} → nb {where}", 44), ha="left", va="center", fontsize=9,
                        color="0.15")
            else:
                ax.text(0.66, ly, "(not run in this project)", ha="left", va="center", fontsize=9,
                        color="0.45", style="italic")
    ax.set_title("Survey Fig. 1 redrawn: four aspects of CNN interpretability,\ntheir topics, and the methods we run")
    return ax.figure
