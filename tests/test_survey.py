"""Tests of cnnexplain.survey (Table 1 labels, taxonomy, measured table) and cnnexplain.photos."""

import pandas as pd
import pytest
import torch

from cnnexplain import attribution as A
from cnnexplain import photos, survey
from cnnexplain.data import DataUnavailableError
from cnnexplain.models import GAPCNN


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
    assert m.deletion["saliency"][1].shape == (5,)


def test_explain_all_reports_not_applicable_methods():
    from cnnexplain.models import SmallCNN

    results = survey.explain_all(SmallCNN(width=4, hidden=8).eval(), torch.rand(1, 1, 28, 28), 0,
                                 ["saliency", "cam"], {})
    assert results["saliency"].shape == (1, 1, 28, 28)
    assert isinstance(results["cam"], str) and "global average pooling" in results["cam"]


def test_taxonomy_has_four_aspects_and_known_methods():
    assert len(survey.TAXONOMY) == 4
    table = survey.taxonomy_table()
    methods = set(table["method"]) - {""}
    assert methods - set(A.METHODS) <= {"influential_scores", "neuroview"}
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
