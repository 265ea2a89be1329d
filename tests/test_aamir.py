"""Tests of the Aamir et al. study pipeline (cnnexplain.papers.aamir.study) on a tiny world and on hand-made scores."""

import numpy as np
import pandas as pd
import pytest
import torch

from cnnexplain.papers.aamir import study as aamir
from cnnexplain.methods.influence_functions.layerwise import InfluenceScores

TINY = aamir.StudyConfig(n_train_per_class=3, n_test_per_class=1, width=2, hidden=8, epochs=1, batch_size=16,
                         style_method="colour")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    torch.set_num_threads(1)
    study = aamir.build_study(TINY, cache_root=root, progress=False)
    return root, study


def test_study_layout_and_cache_reuse(tiny):
    root, study = tiny
    assert study.x_test.shape == (40, 3, 64, 64) and study.x_train.shape == (30, 3, 64, 64)
    assert list(dict.fromkeys(study.conditions)) == list(aamir.CONDITIONS)
    assert len(study.layer_names) == 16
    # the same objects in every condition: labels repeat per condition
    assert torch.equal(study.y_test[:10], study.y_test[10:20])
    assert study.info["trained_now"] and (aamir.study_dir(TINY, root) / "model.pt").exists()
    again = aamir.build_study(TINY, cache_root=root, progress=False)
    assert not again.info["trained_now"]
    for a, b in zip(study.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    # a different config trains into a different folder
    assert aamir.StudyConfig(epochs=2).key() != aamir.StudyConfig().key()


def test_bad_config():
    with pytest.raises(ValueError, match="n_test_per_class"):
        aamir.StudyConfig(n_test_per_class=0)
    with pytest.raises(ValueError, match="style_method"):
        aamir.StudyConfig(style_method="oil")


def test_influence_shapes_and_cache(tiny):
    root, study = tiny
    scores, glob, timings = aamir.compute_influence(study, n_hessian=8, cg_iterations=2, progress=False,
                                                    global_influence=True)
    assert scores.layers.shape == (40, 30, 16) and glob.layers.shape == (40, 30, 1)
    assert torch.isfinite(scores.layers).all()
    assert {"test_side_s", "training_pass_s"} <= set(timings)
    cached, glob2, t2 = aamir.compute_influence(study, n_hessian=8, cg_iterations=2, progress=False,
                                                global_influence=True)
    assert t2["from_cache"] and torch.equal(cached.layers, scores.layers) and torch.equal(glob2.layers, glob.layers)


def test_accuracy_table_by_hand():
    pred = [0, 1, 1, 0, 0, 0]
    lab = [0, 0, 1, 1, 0, 0]
    cond = ["a", "a", "a", "a", "b", "b"]
    t = aamir.accuracy_table(pred, lab, cond, ("x", "y"))
    row = t[(t.condition == "a") & (t["class"] == "x")].iloc[0]
    assert row.accuracy == 0.5 and row["sem"] == pytest.approx(np.std([1, 0], ddof=1) / np.sqrt(2))
    assert t[(t.condition == "b")].accuracy.item() == 1.0
    acc = aamir.condition_accuracy(t)
    assert acc["a"] == 0.5 and acc["b"] == 1.0


def _fake_study(n_classes=2, per=2):
    conds = np.repeat(np.array(aamir.CONDITIONS), n_classes * per)
    y_test = torch.arange(n_classes).repeat_interleave(per).repeat(4)
    y_train = torch.tensor([0, 0, 1, 1, 1])
    return aamir.Study(None, torch.zeros(5, 1), y_train, torch.zeros(len(y_test), 1), y_test, conds,
                       tuple("ab"[:n_classes]), torch.full_like(y_test, -1), tuple(f"l{i}" for i in range(3)))


def test_most_influential_inter_and_intra_by_hand():
    study = _fake_study()
    g = torch.Generator().manual_seed(0)
    layers = torch.randn(len(study.y_test), 5, 3, generator=g)
    scores = InfluenceScores(layers, list(study.layer_names))
    pred = study.y_test.numpy().copy()
    pred[0] = 1
    table = aamir.most_influential_table(scores, study, pred)
    j = layers.sum(-1).argmax(1).numpy()
    assert (table.influential_train_index.to_numpy() == j).all()
    assert table.influential_class.tolist() == [("a", "b")[c] for c in study.y_train[j].tolist()]
    assert not table.correct[0] and table.correct[1:].all()
    intra = aamir.intra_class_table(scores, study, pred)
    k = 3
    own = study.y_train == study.y_test[k]
    assert intra.I_avg[k] == pytest.approx(layers.sum(-1)[k, own].mean().item(), rel=1e-6)
    m = aamir.inter_class_matrix(scores, study, "styled")
    sel = np.flatnonzero((study.conditions == "styled") & (study.y_test.numpy() == 1))
    expect = layers.sum(-1)[sel][:, study.y_train == 0].mean().item()
    assert m.loc["b", "a"] == pytest.approx(expect, rel=1e-6)
    f = aamir.layer_features(scores, study)
    assert f.shape == (len(study.y_test), 3)
    assert f[k] == pytest.approx(layers[k, own].mean(0).numpy(), rel=1e-6)
    assert f.sum(1) == pytest.approx(intra.I_avg.to_numpy(), rel=1e-5)


def test_reference_lines():
    assert aamir.reference_lines([3, 1, 2, 10]) == {"median": 2.5, "max": 10.0, "min": 1.0}


def test_clustering_finds_a_planted_grouping_and_correlation_distance_matches_numpy():
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    feats = pd.DataFrame({"original": base, "white_background": base + 0.01 * rng.normal(size=16),
                          "textured": -3 * base + rng.normal(size=16), "styled": 2 + rng.normal(size=16)}).T
    _, assignment = aamir.cluster_conditions(feats)
    assert aamir.paper_grouping_holds(assignment)
    feats2 = feats.loc[["original", "textured", "white_background", "styled"]]
    # a planted grouping that is NOT the paper's: original with textured, white background apart
    wrong = feats.loc[["original", "textured", "white_background", "styled"]].copy()
    wrong.loc["textured"] = base + 0.01 * rng.normal(size=16)
    wrong.loc["white_background"] = -3 * base + rng.normal(size=16)
    _, assignment = aamir.cluster_conditions(wrong)
    assert assignment["original"] == assignment["textured"] != assignment["white_background"]
    assert not aamir.paper_grouping_holds(assignment)
    assert not aamir.paper_grouping_holds({"original": 1, "white_background": 1, "styled": 2, "textured": 2})
    d = aamir.correlation_distance(feats2)
    assert d.loc["original", "textured"] == pytest.approx(1 - np.corrcoef(feats2.loc["original"], feats2.loc["textured"])[0, 1])
    assert np.allclose(np.diag(d), 0)


def test_separability_prefers_informative_features():
    rng = np.random.default_rng(0)
    conds = np.repeat(np.array(aamir.CONDITIONS), 20)
    codes = np.repeat(np.arange(4), 20)
    layered = rng.normal(size=(80, 16)) * 0.1
    layered[np.arange(80), codes] += 1.0  # each condition lights up its own layer; the sum is the same
    total = layered.sum(1) + 0 * codes
    table = aamir.separability(layered, total, conds).set_index("features")
    assert table.loc["layer-wise I_Lavg (16 features)", "cv_accuracy"] > 0.9
    assert table.loc["total I_avg (1 feature)", "cv_accuracy"] < 0.6
    assert table.silhouette.iloc[0] > table.silhouette.iloc[1]


def test_hessian_subset():
    assert torch.equal(aamir.hessian_subset(5, None), torch.arange(5))
    s = aamir.hessian_subset(100, 10, seed=1)
    assert len(s) == 10 and len(set(s.tolist())) == 10 and torch.equal(s, aamir.hessian_subset(100, 10, seed=1))
    with pytest.raises(ValueError):
        aamir.hessian_subset(100, 0)


def test_texture_patch_table_and_shapley_additivity(tiny):
    _, study = tiny
    table, patches = aamir.texture_patch_table(study.model, study.class_names, n_per_class=1)
    assert len(table) == 10 and table.accuracy.between(0, 1).all()
    model = study.model
    x = study.x_test[:1]
    maps = aamir.shapley_maps(model, x, max_evals=64, batch_size=64)
    assert maps.shape == (1, 64, 64) and np.isfinite(maps).all()
    # Owen values are efficient: they sum to f(x) - f(everything blurred)
    import shap

    masker = shap.maskers.Image("blur(8,8)", (64, 64, 3))
    blurred = masker(np.zeros((64, 64, 3), bool).ravel(), x[0].permute(1, 2, 0).numpy())[0]
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[0]
        c = int(p.argmax())
        pb = torch.softmax(model(torch.from_numpy(np.asarray(blurred, np.float32)).reshape(1, 64, 64, 3).permute(0, 3, 1, 2)), 1)[0, c]
    assert maps.sum() == pytest.approx((p[c] - pb).item(), abs=1e-3)


def test_shapley_spread():
    m = np.zeros((2, 4, 4))
    m[0, 0, 0] = 1
    m[1] = 1
    assert aamir.shapley_spread(m).tolist() == [1 / 16, 1.0]


def test_a_study_rebuilt_from_scratch_is_identical(tiny, tmp_path):
    """Determinism: the same config in an empty cache trains the same weights and makes the same images."""
    _, study = tiny
    rebuilt = aamir.build_study(TINY, cache_root=tmp_path, progress=False)
    assert rebuilt.info["trained_now"]
    assert torch.equal(study.x_train, rebuilt.x_train) and torch.equal(study.x_test, rebuilt.x_test)
    for a, b in zip(study.model.state_dict().values(), rebuilt.model.state_dict().values()):
        assert torch.equal(a, b)


def test_class_probability_and_prediction_with_and_without_paper_groups():
    torch.manual_seed(0)
    prob = torch.softmax(torch.randn(6, 12), 1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.equal(aamir.class_probability(prob, labels), prob[torch.arange(6), labels])
    assert torch.equal(aamir.predicted_class(prob), prob.argmax(1))
    groups = torch.tensor([0, 0, 1, 1, 1, 2, -1, -1, 2, 0, -1, 1])  # 12 "ImageNet" classes -> 3 paper classes
    expected = torch.tensor([sum(prob[i, j].item() for j in range(12) if groups[j] == labels[i]) for i in range(6)])
    assert torch.allclose(aamir.class_probability(prob, labels, groups), expected)
    assert torch.equal(aamir.predicted_class(prob, groups), groups[prob.argmax(1)])


def test_paper_layer_names_alias_the_module_paths():
    from cnnexplain.models.cnns import VGG16Small

    model = VGG16Small(width=2, hidden=8)
    names = aamir.paper_layer_names(model)
    assert list(names.values()) == list(model.layer_names)  # conv1_1 ... conv5_3, fc6, fc7, fc8
    assert names["features.0"] == "conv1_1" and names["features.5"] == "conv2_1" and names["classifier.5"] == "fc8"
    from cnnexplain.methods.influence_functions.hvp import parameter_blocks

    assert [b.name for b in parameter_blocks(model, example_input=torch.zeros(1, 3, 64, 64))] == list(names)
    study = aamir.Study(model, None, None, None, None, None, (), None, tuple(names.values()))
    assert study.aliases(["classifier.3", "features.2"]) == ["fc7", "conv1_2"]
    assert study.block_of("fc8") == "classifier.5"
    with pytest.raises(KeyError, match="fc9"):
        study.block_of("fc9")


def test_compute_influence_carries_the_requested_sign(tiny):
    root, study = tiny
    helpful, _, t = aamir.compute_influence(study, n_hessian=8, solver="exact", damping=1e-2, progress=False,
                                            use_cache=False)
    harmful, _, _ = aamir.compute_influence(study, n_hessian=8, solver="exact", damping=1e-2, progress=False,
                                            use_cache=False, sign="harmful")
    assert helpful.sign == "helpful" == t["sign"] and harmful.sign == "harmful"
    torch.testing.assert_close(helpful.layers, -harmful.layers)
    assert helpful.block_names[0] == "features.0" and t["damping_used"] == 1e-2 and t["damping_raises"] == []
