"""Notebook 25's experiment (beyond the paper): the layer ranking, the arms, the budget held equal, the
rule's inputs."""

import numpy as np
import pandas as pd
import pytest
import torch

from cnnexplain.papers.aamir import retrain


def test_departure_is_standardised_and_ranked():
    rng = np.random.default_rng(0)
    original = rng.normal(size=(8, 3)) * np.array([1.0, 100.0, 1.0])
    textured = original + np.array([0.1, 50.0, 3.0])  # layer 1 moves most in raw units, layer 2 in sds
    features = np.concatenate([original, textured])
    table = retrain.layer_departure(features, ["original"] * 8 + ["textured"] * 8, ["a", "b", "c"])
    assert table.set_index("layer")["rank"].to_dict() == {"c": 1, "b": 2, "a": 3}
    assert np.allclose(table.difference, [0.1, 50.0, 3.0])
    with pytest.raises(ValueError, match="textured"):
        retrain.layer_departure(original, ["original"] * 8, ["a", "b", "c"])


def test_arms_choose_top_bottom_random_and_all():
    table = pd.DataFrame({"layer": list("abcde"), "layer_index": range(5), "rank": [3, 1, 5, 2, 4]})
    assert retrain.choose_layers(table, 2, "top-k") == [1, 3]
    assert retrain.choose_layers(table, 2, "bottom-k") == [2, 4]
    assert retrain.choose_layers(table, 2, "all") == [0, 1, 2, 3, 4]
    drawn = retrain.choose_layers(table, 2, "random-k", np.random.default_rng(0))
    assert len(set(drawn)) == 2
    with pytest.raises(ValueError):
        retrain.choose_layers(table, 6, "top-k")
    with pytest.raises(ValueError):
        retrain.choose_layers(table, 2, "random-k")


def test_fine_tune_moves_only_the_chosen_layers():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()
    x, y = torch.randn(16, 3, 2, 2), torch.randint(0, 3, (16,))
    tuned = retrain.fine_tune(model, [model[3]], x, y, epochs=2, lr=1e-2, seed=0)
    assert torch.equal(tuned[1].weight, model[1].weight) and not torch.equal(tuned[3].weight, model[3].weight)
    assert all(p.requires_grad for p in tuned.parameters()) and not tuned.training


def test_experiment_and_rule_inputs_on_the_smoke_study(tmp_path):
    from cnnexplain.papers.aamir import study as aamir
    from cnnexplain.papers.aamir.preset import SMOKE_STUDY

    study = aamir.build_study(SMOKE_STUDY, cache_root=tmp_path, progress=False)
    names = list(study.layer_names)
    rng = np.random.default_rng(1)
    features = rng.normal(size=(len(study.y_test), len(names)))
    departure = retrain.layer_departure(features, study.conditions, names)
    blocks = [p for p, m in study.model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    modules = retrain.layer_modules(study.model, blocks)
    runs = retrain.retrain_experiment(study, departure, modules, ks=(1, 2), seeds=(0, 1), random_draws=2,
                                      n_per_class=1, epochs=1, n_conflict_per_class=1)
    # before + per seed: top, bottom, 2 random per k, and all once
    assert len(runs) == 1 + 2 * (2 * (1 + 1 + 2) + 1)
    assert set(runs.arm) == {"before", *retrain.ARMS} and runs.shape_bias.dropna().between(0, 1).all()
    summary = retrain.retrain_summary(runs)
    assert {"shape_bias_mean", "shape_bias_sd", "n"} <= set(summary.columns)
    values = retrain.retrain_values(runs, 1)
    assert set(values) == {"top", "top_sd", "random", "random_sd", "bottom", "bottom_sd", "all_layers", "before", "k"}
    import matplotlib.pyplot as plt

    plt.close(retrain.arms_figure(summary, 2))
    plt.close(retrain.departure_figure(departure))
    with pytest.raises(KeyError):
        retrain.layer_modules(study.model, ["nope"])
