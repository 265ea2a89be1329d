"""Tests of cnnexplain.papers.survey.study (Table 1 labels, taxonomy, measured table) and cnnexplain.data.photos."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from cnnexplain.methods.attribution import explain as A
from cnnexplain.data import photos
from cnnexplain.papers.survey import study as survey
from cnnexplain.data.sources import DataUnavailableError
from cnnexplain.models.cnns import GAPCNN


def test_survey_table1_is_the_papers():
    t = survey.SURVEY_TABLE1.set_index("survey_method")
    assert t.loc["L2X", "train"] == "Yes" and (t.drop("L2X")["train"] == "No").all()
    assert list(t["efficiency"]) == ["Low", "High", "High", "Low", "High", "High"]
    assert t.loc["Integrated gradient", "locality"] == "No" and t.loc["Integrated gradient", "model_agnostic"] == "Yes"
    assert set(sum(survey.SURVEY_ROWS.values(), [])) <= set(A.METHODS)


def test_labels_follow_the_stated_rules():
    table = pd.DataFrame([
        dict(method="lime", needs_training=False, time_vs_saliency=10.0, completeness_error=0.05,
             runs_on_black_box=True),
        dict(method="integrated_gradients", needs_training=False, time_vs_saliency=10.5, completeness_error=0.051,
             runs_on_black_box=False),
    ])
    labelled = survey.label_like_survey(table).set_index("method")
    assert labelled.loc["lime", "efficiency_measured"] == "High"
    assert labelled.loc["integrated_gradients", "efficiency_measured"] == "Low"
    assert labelled.loc["lime", "locality_measured"] == "Yes"
    assert labelled.loc["integrated_gradients", "locality_measured"] == "No"
    comparison = survey.compare_with_survey(table).set_index(["method", "column"])
    assert bool(comparison.loc[("lime", "model_agnostic"), "agree"])
    assert not bool(comparison.loc[("integrated_gradients", "model_agnostic"), "agree"])  # survey: Yes


def test_measure_methods_on_a_tiny_net():
    torch.manual_seed(0)
    net = GAPCNN(1, 3, width=4).eval()
    x = torch.rand(2, 1, 16, 16)
    options = survey.method_options(16, fast=True)
    options["integrated_gradients"] = dict(n_steps=64)
    options["l2x"] = dict(patch=4, k=4, epochs=1)
    methods = ["saliency", "integrated_gradients", "occlusion", "l2x", "activation_maximization"]
    m = survey.measure_methods(net, x, None, methods, options, l2x_train_images=torch.rand(16, 1, 16, 16), steps=4,
                               sanity=["saliency", "occlusion"])
    t = m.table.set_index("method")
    assert t.loc["integrated_gradients", "completeness_error"] < 0.05
    assert not t.loc["saliency", "runs_on_black_box"] and t.loc["occlusion", "runs_on_black_box"]
    assert t.loc["l2x", "runs_on_black_box"] and t.loc["l2x", "training_s"] > 0
    assert not t.loc["activation_maximization", "runs_on_black_box"]
    assert t.loc["saliency", "time_vs_saliency"] == 1.0
    assert set(m.sanity) == {"saliency", "occlusion"}
    assert "sanity_all_layers" not in t or pd.isna(t.loc["l2x", "sanity_all_layers"])
    assert t.loc["saliency", "sanity_top_half"] == m.sanity["saliency"]["spearman_mean"].iloc[2]  # 2 of 4 layers
    assert m.deletion["saliency"][1].shape == (5,)


def test_explain_all_reports_not_applicable_methods():
    from cnnexplain.models.cnns import SmallCNN

    results = survey.explain_all(SmallCNN(width=4, hidden=8).eval(), torch.rand(1, 1, 28, 28), 0,
                                 ["saliency", "cam"], {})
    assert results["saliency"].shape == (1, 1, 28, 28)
    assert isinstance(results["cam"], str) and "global average pooling" in results["cam"]


def test_taxonomy_has_four_aspects_and_known_methods():
    assert len(survey.TAXONOMY) == 4
    table = survey.taxonomy_table()
    methods = set(table["method"]) - {""}
    assert methods - set(A.METHODS) <= {"influential_scores", "neuroview", "network_dissection"}
    # notebook 31 runs Network Dissection (NeuroView Fig. 4): the tree says so, not "not run"
    dissection = table[table.method == "network_dissection"]
    assert len(dissection) == 1 and dissection.notebooks.iat[0].startswith("31")
    # every registered method appears somewhere in the tree
    assert set(A.METHODS) <= methods


def test_patch_size():
    assert survey.patch_size(28) == 4 and survey.patch_size(32) == 4 and survey.patch_size(224) == 32
    with pytest.raises(ValueError):
        survey.patch_size(30)


def test_photo_crops_are_deterministic_and_balanced_enough():
    a = photos.photo_crops(20, 5, size=16, seed=3)
    b = photos.photo_crops(20, 5, size=16, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (20, 3, 16, 16) and x_test.shape == (5, 3, 16, 16)
    assert x_train.min() >= 0 and x_train.max() <= 1
    assert set(y_train.tolist()) <= set(range(len(photos.PHOTO_CLASSES)))
    with pytest.raises(ValueError):
        photos.photo_crops(0, 5)


def test_imagenet_photos_are_normalised():
    x = photos.imagenet_photos(64)
    assert x.shape == (4, 3, 64, 64)
    lo, hi = photos.imagenet_value_range()
    assert x.min() >= lo - 1e-5 and x.max() <= hi + 1e-5


def test_vgg16_without_cached_weights_stops_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(DataUnavailableError, match="VGG16 ImageNet weights not found"):
        survey.pretrained_vgg16()


# --- the paper path's structure: torchvision VGG16 with weights=None (nothing downloaded) ---------------


@pytest.fixture(scope="module")
def random_vgg16():
    torch.manual_seed(0)
    return survey.vgg16_for_attribution(None)


@pytest.mark.slow  # building VGG16's 138 M random weights takes a few seconds
def test_vgg16_for_attribution_is_captum_safe_and_has_no_gap(random_vgg16):
    from torch import nn

    assert not any(m.inplace for m in random_vgg16.modules() if isinstance(m, nn.ReLU))
    assert not random_vgg16.training
    assert not survey.has_global_average_pooling(random_vgg16)
    from cnnexplain.methods.attribution.metrics import parameter_layers

    assert len(parameter_layers(random_vgg16)) == 16  # 13 conv + 3 fc: the sanity check randomizes all 16


@pytest.mark.slow
@pytest.mark.parametrize("method", ["saliency", "guided_backprop", "gradcam", "deeplift"])
def test_paper_vgg16_runs_the_gradient_methods(random_vgg16, method):
    x = torch.rand(1, 3, 32, 32)  # VGG16's adaptive pooling accepts small inputs: the structure, cheaply
    out = A.explain(random_vgg16, x, 3, method)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.slow
def test_paper_vgg16_refuses_cam_with_a_clear_message(random_vgg16):
    results = survey.explain_all(random_vgg16, torch.rand(1, 3, 32, 32), 0, ["cam"], {})
    assert "global average pooling" in results["cam"]


def test_textured_shapes_paper_profile_stops_without_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(DataUnavailableError, match="VGG16 ImageNet weights not found"):
        survey.textured_shapes_model("paper", n_images=2)


def test_textured_shapes_model_reuses_the_aamir_study(monkeypatch, tmp_path):
    """smoke/default: the VGG16Small of cnnexplain.papers.aamir.study, trained once into the shared cache, then loaded."""
    monkeypatch.setenv("CNNEXPLAIN_CACHE", str(tmp_path))
    first = survey.textured_shapes_model("smoke", n_images=3, seed=0)
    again = survey.textured_shapes_model("smoke", n_images=3, seed=0)
    assert first.info["trained_now"] and not again.info["trained_now"]
    assert type(first.model).__name__ == "VGG16Small" and not survey.has_global_average_pooling(first.model)
    assert first.images.shape == (3, 3, 64, 64) and torch.equal(first.images, again.images)
    assert first.image_names == ["disk", "square", "triangle"]  # one original-condition image per class
    assert (first.images.mean(dim=(1, 2, 3)) > 0.05).all()  # natural, non-zero backgrounds
    assert len(first.l2x_images) == 40  # the smoke preset: 4 training images x 10 classes


# --- claims and summaries of the measured Table 1 ------------------------------------------------------


def _measured(eff_ratio, error, black_box):
    return pd.DataFrame([
        dict(method="saliency", label="Saliency", needs_training=False, time_per_image_s=0.001, time_vs_saliency=1.0,
             completeness_error=0.9, runs_on_black_box=False, deletion_auc=0.1, insertion_auc=0.5),
        dict(method="lime", label="LIME", needs_training=False, time_per_image_s=0.001 * eff_ratio, time_vs_saliency=eff_ratio,
             completeness_error=error, runs_on_black_box=black_box, deletion_auc=0.2, insertion_auc=0.4),
    ])


def test_table1_claim_inputs_feed_the_rules_per_model():
    from cnnexplain.papers.survey import claims

    inputs = survey.table1_claim_inputs({"A": _measured(50.0, 0.01, True), "B": _measured(5.0, 0.01, True)})
    assert set(inputs) == {f"table1_{m}_{c}" for _, m, c in survey.table1.cells()}
    assert inputs["table1_lime_efficiency"] == {"time_vs_saliency": {"A": 50.0, "B": 5.0}}
    eff = claims.BOOK["table1_lime_efficiency"].evaluate(**inputs["table1_lime_efficiency"])  # survey: Low
    assert eff.verdict == "partly reproduced" and "50.0x" in eff.ours and "B" in eff.note
    assert claims.BOOK["table1_lime_model_agnostic"].evaluate(**inputs["table1_lime_model_agnostic"]).verdict == "reproduced"
    assert claims.BOOK["table1_lime_locality"].evaluate(**inputs["table1_lime_locality"]).verdict == "reproduced"
    # a method absent from the measured tables is not checked, not judged
    assert claims.BOOK["table1_l2x_locality"].evaluate(**inputs["table1_l2x_locality"]).verdict == "not checked"
    none = survey.table1_claim_inputs({"A": _measured(5.0, 0.5, False)})
    assert claims.BOOK["table1_lime_locality"].evaluate(**none["table1_lime_locality"]).verdict == "not reproduced"


def test_train_column_is_declared_not_measured():
    labelled = survey.label_like_survey(_measured(50.0, 0.01, True))
    assert "train_measured" not in labelled and set(labelled["train_declared"]) == {"No"}
    assert set(survey.compare_with_survey(_measured(50.0, 0.01, True))["column"]) == {
        "efficiency", "locality", "model_agnostic"}


def _sanity_table(gbp=0.6):
    return pd.DataFrame(dict(method=["guided_backprop", "saliency", "smoothgrad", "lrp"],
                             sanity_all_layers=[gbp, 0.3, 0.39, 0.9], sanity_top_half=[0.95, 0.7, 0.6, 0.9]))


def test_sanity_claim_inputs_feed_the_rule():
    from cnnexplain.papers.survey import claims

    inputs = survey.sanity_claim_inputs(_sanity_table(), accuracy=0.9)
    assert inputs["gap_all_layers"] == pytest.approx(0.21) and inputs["gap_top_half"] == pytest.approx(0.25)
    assert "LRP" in inputs["rho"]
    assert claims.BOOK["adebayo_guided_backprop_insensitive_mnist"].evaluate(**inputs).verdict == "reproduced"
    partly = survey.sanity_claim_inputs(_sanity_table(gbp=0.4), accuracy=0.9)
    assert claims.BOOK["adebayo_guided_backprop_insensitive_shapes"].evaluate(**partly).verdict == "partly reproduced"
    assert survey.sanity_claim_inputs(_sanity_table().iloc[1:], accuracy=0.9) is None  # no guided backprop


def test_survey_vs_measured_tables_and_figures():
    import matplotlib.pyplot as plt
    from cnnexplain.papers.survey import plots

    curve = (np.linspace(0, 1, 5), np.linspace(1, 0, 5))
    sanity = pd.DataFrame(dict(step=[0, 1], randomized_through=["none", "fc"], spearman_mean=[1.0, 0.2]))
    measured = {key: survey.Measurements(_measured(ratio, 0.01, True), deletion={"saliency": curve},
                                         insertion={"saliency": curve}, sanity={"saliency": sanity})
                for key, ratio in (("mnist", 50.0), ("shapes", 5.0))}
    wide = survey.survey_vs_measured_wide(survey.survey_vs_measured(measured))
    assert wide.loc[("LIME", "lime", "efficiency")].to_dict() == {"mnist": "Low", "shapes": "High", "survey": "Low"}
    assert list(survey.table1_rows(measured["mnist"].table)["method"]) == ["lime"]
    assert set(survey.overview(measured).index.get_level_values("model")) == {"mnist", "shapes"}
    for m in measured.values():
        m.table["sanity_all_layers"] = [0.5, np.nan]
        m.table["sanity_top_half"] = [0.7, np.nan]
    correlations = survey.sanity_correlations(measured)
    assert list(correlations.columns) == [("mnist", "all layers"), ("mnist", "top half"), ("shapes", "all layers"),
                                          ("shapes", "top half")] and list(correlations.index) == ["saliency"]
    models = [SimpleNamespace(key=k, description=k) for k in measured]
    for fig in (plots.time_figure(models, measured), plots.deletion_insertion_figure(models, measured),
                plots.sanity_figure(models, measured), plots.method_figure(measured, "mnist", "saliency"),
                plots.method_figure(measured, "shapes", "lime")):
        assert fig is not None
        plt.close(fig)


def test_table1_summary_has_one_line_per_method():
    summary = survey.table1_summary(_measured(50.0, 0.01, True))
    assert set(summary) == {"saliency", "lime"}
    assert "efficiency Low (50.0x" in summary["lime"] and "train No (declared)" in summary["lime"] and "locality Yes" in summary["lime"]


def test_sanity_separation_criterion():
    table = pd.DataFrame(dict(method=["guided_backprop", "saliency", "smoothgrad"], sanity_all_layers=[0.6, 0.3, 0.39]))
    result = survey.sanity_separation(table)
    assert result["separates"] and result["gap"] == pytest.approx(0.21)
    table.loc[0, "sanity_all_layers"] = 0.5
    assert not survey.sanity_separation(table)["separates"]
    with pytest.raises(ValueError, match="smoothgrad"):
        survey.sanity_separation(table[table["method"] != "smoothgrad"])
    table["sanity_top_half"] = [0.95, 0.7, 0.6]
    half = survey.sanity_separation(table, "sanity_top_half")
    assert half["separates"] and half["gap"] == pytest.approx(0.25)


def test_draw_taxonomy_one_aspect():
    import matplotlib.pyplot as plt

    aspect = list(survey.TAXONOMY)[2]
    fig = survey.draw_taxonomy(aspects=[aspect])
    texts = [t.get_text().replace("\n", " ") for t in fig.axes[0].texts]  # long names are wrapped
    assert aspect in texts and list(survey.TAXONOMY)[0] not in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown aspects"):
        survey.draw_taxonomy(aspects=["nonsense"])


def test_mnist_for_profile_picks_embedded_or_full_mnist(tmp_path):
    from cnnexplain.data.sources import mnist_for_profile

    x_train, y_train, x_test, y_test = mnist_for_profile("default", 20, 10, seed=1)
    assert x_train.shape == (20, 1, 28, 28) and len(y_test) == 10
    with pytest.raises(DataUnavailableError, match="full MNIST not found"):
        mnist_for_profile("paper", 20, 10, root=tmp_path)
