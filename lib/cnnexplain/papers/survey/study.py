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
from cnnexplain.progress import progress

# --------------------------------------------------------------------------------- the survey's Table 1

#: Table 1 of the survey ("Feature importance methods comparison", adapted from Chen et al. 2018), verbatim.
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

#: How a measurement becomes a Table 1 label (stated in the notebook next to the table).
EFFICIENCY_HIGH_MAX_RATIO = 10.0  # "High" efficiency: at most 10× the time of one gradient (saliency)
ADDITIVE_MAX_ERROR = 0.05  # "locally additive": median relative completeness error at most 5 %


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
        "Semantic feature representation (Network Dissection, Net2Vec)": [],
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
}
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
                label = attr.METHODS[method].label if method in attr.METHODS else (method or "")
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


def label_like_survey(table: pd.DataFrame) -> pd.DataFrame:
    """Turn measured columns into the survey's Table 1 labels (Yes/No, High/Low)."""
    out = table.copy()
    out["train_measured"] = np.where(out["needs_training"], "Yes", "No")
    if "time_vs_saliency" in out:
        out["efficiency_measured"] = np.where(out["time_vs_saliency"] <= EFFICIENCY_HIGH_MAX_RATIO, "High", "Low")
    out["locality_measured"] = np.where(out["completeness_error"] <= ADDITIVE_MAX_ERROR, "Yes", "No")
    out.loc[out["completeness_error"].isna(), "locality_measured"] = "n/a"
    out["model_agnostic_measured"] = np.where(out["runs_on_black_box"].astype(bool), "Yes", "No")
    return out


def compare_with_survey(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (survey method, our method, column): the survey's label, ours, and whether they agree."""
    labelled = label_like_survey(table).set_index("method")
    rows = []
    for _, survey_row in SURVEY_TABLE1.iterrows():
        for method in SURVEY_ROWS[survey_row["survey_method"]]:
            if method not in labelled.index:
                continue
            ours = labelled.loc[method]
            for column in ("train", "efficiency", "locality", "model_agnostic"):
                measured_column = f"{column}_measured"
                if measured_column not in ours:
                    continue
                rows.append(dict(survey_method=survey_row["survey_method"], method=method, column=column,
                                 survey=survey_row[column], measured=ours[measured_column],
                                 agree=survey_row[column] == ours[measured_column]))
    return pd.DataFrame(rows)


def evidence(table: pd.DataFrame, method: str, column: str) -> str:
    """The number behind a measured Table 1 label, in words (for claims and the report)."""
    row = table.set_index("method").loc[method]
    if column == "train":
        return f"training {row['training_s']:.1f} s" if row.get("needs_training") and "training_s" in row else "no training step"
    if column == "efficiency":
        return (f"{row['time_per_image_s'] * 1e3:.1f} ms/image, {row['time_vs_saliency']:.1f}x the gradient "
                f"(High if <= {EFFICIENCY_HIGH_MAX_RATIO:g}x)")
    if column == "locality":
        return f"completeness error {row['completeness_error']:.3g} (additive if <= {ADDITIVE_MAX_ERROR:g})"
    if column == "model_agnostic":
        return "runs on a forward-only black box" if row["runs_on_black_box"] else "fails on a forward-only black box"
    raise ValueError(f"unknown Table 1 column {column!r}")


def table1_claims(measured: dict) -> list[dict]:
    """One claim per (survey method, our method, Table 1 column), over several models.

    ``measured``: ``{model description: measured table}`` (:func:`measure_methods`' ``.table``). Verdict:
    "reproduced" when every model's measured label equals the survey's, "partly reproduced" when some do,
    "not reproduced" when none does; ``ours`` gives each model's label with the number behind it."""
    comparisons = {name: compare_with_survey(table) for name, table in measured.items()}
    first = next(iter(comparisons.values()))
    claims = []
    for row in first.itertuples():
        labels, agree = [], []
        for name, comparison in comparisons.items():
            hit = comparison[(comparison["method"] == row.method) & (comparison["column"] == row.column)]
            if hit.empty:
                continue
            agree.append(bool(hit["agree"].iloc[0]))
            labels.append(f"{name}: {hit['measured'].iloc[0]} ({evidence(measured[name], row.method, row.column)})")
        verdict = "reproduced" if all(agree) else ("not reproduced" if not any(agree) else "partly reproduced")
        claims.append(dict(claim_id=f"table1_{row.method}_{row.column}", source="Table 1",
                           statement=f"{row.survey_method}: {row.column.replace('_', '-')} = {row.survey}",
                           paper=row.survey, ours="; ".join(labels), verdict=verdict,
                           note="" if verdict == "reproduced" else
                           "measured label differs from the survey's on " + ", ".join(
                               n for n, a in zip(comparisons, agree) if not a)))
    return claims


def table1_summary(table: pd.DataFrame) -> dict:
    """``{method: "train No; efficiency High (2.0x); locality No (0.31); agnostic No; del 0.12 / ins 0.55;
    sanity 0.04"}`` — the measured Table 1 in one line per method, for the report."""
    labelled = label_like_survey(table).set_index("method")
    out = {}
    for method, r in labelled.iterrows():
        if pd.isna(r.get("time_per_image_s")):
            out[method] = "n/a: " + str(r.get("note", ""))[:80]
            continue
        parts = [f"train {r['train_measured']}", f"efficiency {r['efficiency_measured']} ({r['time_vs_saliency']:.1f}x, "
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


#: Sanity-check criterion: guided backprop's rank correlation after randomizing every layer must exceed
#: the plain-gradient methods' (saliency, SmoothGrad) by at least this much for the check to "separate" them.
SANITY_SEPARATION = 0.2


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

    if profile == "paper":
        x_train, y_train, x_test, y_test = data.mnist(data_root, n_train, n_test)
    else:
        x_train, y_train, x_test, y_test = data.embedded_mnist(n_train, n_test, seed=seed)
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

    smoke/default: :func:`cnnexplain.papers.aamir.study.build_study` on the textured-shapes world (``study`` holds the
    2x notebooks' study parameters: pass the SAME values as notebook 21 and the trained net comes from the
    shared cache instead of being trained again); the images are original-condition test images (object on a
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
    signed colour map, a synthesized input as an image, or a "not applicable" message (a string)."""
    import matplotlib.pyplot as plt  # noqa: F401

    from cnnexplain.notebook.plots import SIGNED_CMAP

    ax.set_xticks([])
    ax.set_yticks([])
    if isinstance(result, str):
        import textwrap

        reason = "\n".join(textwrap.wrap(result, 16)[:4]) + ("…" if len(result) > 64 else "")
        ax.text(0.5, 0.5, "n/a\n" + reason if result else "n/a", ha="center", va="center", fontsize=5,
                transform=ax.transAxes)
        ax.set_box_aspect(1)  # a square cell like the maps beside it
    elif image is not None:  # a synthesized input
        array = image.detach().cpu().float()
        array = (array - array.min()) / (array.max() - array.min() + 1e-12)
        ax.imshow(array[0] if array.shape[0] == 1 else array.permute(1, 2, 0),
                  cmap="gray" if array.shape[0] == 1 else None)
    else:
        heat = result.detach().cpu().float().sum(0)
        limit = float(heat.abs().max()) or 1.0
        ax.imshow(heat, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit)
    if title:
        ax.set_title(title.replace(" (", "\n("), fontsize=7)


def gallery_figure(images, results: dict, row_titles=None, suptitle: str = "", display=None, size: float = 1.3):
    """Rows = images, columns = the input then one column per method in ``results`` (``explain_all``).

    ``display`` maps the images to what to show in the first column (e.g. ImageNet de-normalisation)."""
    import matplotlib.pyplot as plt

    methods = list(results)
    n = len(images)
    fig, axes = plt.subplots(n, len(methods) + 1, figsize=(size * (len(methods) + 1), size * n + 0.6),
                             squeeze=False)
    shown = display(images) if display else images
    for i in range(n):
        show_explanation(axes[i, 0], None, "input" if i == 0 else "", image=shown[i])
        if row_titles is not None:
            axes[i, 0].set_ylabel(str(row_titles[i]), fontsize="small")
        for j, method in enumerate(methods, start=1):
            result = results[method]
            label = attr.METHODS[method].label if method in attr.METHODS else method
            title = label if i == 0 else ""
            if isinstance(result, str):
                show_explanation(axes[i, j], result if i == 0 else "", title)
            elif attr.METHODS[method].output == "synthesis":
                show_explanation(axes[i, j], None, title, image=result[i])
            else:
                show_explanation(axes[i, j], result[i], title)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def draw_taxonomy(ax=None, aspects=None):
    """The survey's Fig. 1 redrawn as a tree: root → four aspects (§3.1–3.4) → topics → our methods.

    ``aspects``: draw only these aspects (keys of :data:`TAXONOMY`), e.g. one branch for a widget."""
    import matplotlib.pyplot as plt

    if aspects is not None:
        unknown = [a for a in aspects if a not in TAXONOMY]
        if unknown:
            raise ValueError(f"unknown aspects {unknown}; the survey's aspects are {list(TAXONOMY)}")
    leaves = [(aspect, topic, methods) for aspect, topics in TAXONOMY.items() for topic, methods in topics.items()
              if aspects is None or aspect in aspects]
    if ax is None:
        fig, ax = plt.subplots(figsize=(15, 0.55 * len(leaves) + 1))
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
            fontsize=9, fontweight="bold")
    for aspect, ys in aspect_y.items():
        y = float(np.mean(ys))
        colour = colours(list(TAXONOMY).index(aspect))
        ax.plot([0.12, 0.16], [root_y, y], color="0.5", lw=1)
        ax.text(0.16, y, aspect, ha="left", va="center", fontsize=8.5, color=colour,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=colour))
        for i, (a, topic, methods) in enumerate(leaves):
            if a != aspect:
                continue
            ly = y_of_leaf[i]
            ax.plot([0.37, 0.40], [y, ly], color=colour, lw=0.8)
            ax.text(0.40, ly, topic, ha="left", va="center", fontsize=8)
            if methods:
                names = ", ".join(attr.METHODS[m].label if m in attr.METHODS else m for m in methods)
                where = ", ".join(sorted({nb for m in methods
                                          for nb in LEAF_NOTEBOOKS.get(m, ["41", "42"])}))
                ax.text(0.70, ly, f"{names}  → nb {where}", ha="left", va="center", fontsize=7.5, color="0.15")
            else:
                ax.text(0.70, ly, "(not run in this project)", ha="left", va="center", fontsize=7.5,
                        color="0.6", style="italic")
    ax.set_title("Survey Fig. 1 redrawn: four aspects of CNN interpretability, their topics, and the methods we run")
    return ax.figure
