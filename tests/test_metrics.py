"""Tests of cnnexplain.methods.attribution.metrics: timing, completeness, deletion/insertion, sanity check, black-box runs."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnexplain.methods.attribution import explain as A
from cnnexplain.methods.attribution import metrics as M



@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))


def test_time_per_explanation_is_positive(gap_net, images):
    seconds = M.time_per_explanation(gap_net, images, None, "saliency")
    assert 0 < seconds < 5


def test_completeness_error_small_for_ig_large_for_saliency(gap_net, images):
    target = torch.tensor([0, 1, 2])
    ig = A.explain(gap_net, images, target, "integrated_gradients", n_steps=128)
    sal = A.explain(gap_net, images, target, "saliency")
    assert M.completeness_error(gap_net, images, ig, target).max() < 2e-2
    assert M.completeness_error(gap_net, images, sal, target).min() > 0.05
    # absolute error against an explicit computation
    with torch.no_grad():
        delta = (gap_net(images) - gap_net(torch.zeros_like(images)))[[0, 1, 2], target]
    expected = (sal.flatten(1).sum(1) - delta).abs()
    assert torch.allclose(M.completeness_error(gap_net, images, sal, target, relative=False), expected, atol=1e-6)


def test_deletion_and_insertion_rank_an_oracle_above_random():
    # A linear "model" whose exact per-pixel contributions w ⊙ x are known: the oracle attribution.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval()
    x = torch.rand(4, 1, 8, 8)
    target = torch.zeros(4, dtype=torch.long)
    oracle = (model[1].weight[0] - model[1].weight[1]).reshape(1, 1, 8, 8) * x  # contributions to the margin
    random = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    f, del_oracle = M.deletion_curve(model, x, oracle, target, steps=16)
    _, del_random = M.deletion_curve(model, x, random, target, steps=16)
    assert f[0] == 0 and f[-1] == 1 and del_oracle.shape == (4, 17)
    assert M.curve_auc(f, del_oracle).mean() < M.curve_auc(f, del_random).mean()
    _, ins_oracle = M.insertion_curve(model, x, oracle, target, steps=16)
    _, ins_random = M.insertion_curve(model, x, random, target, steps=16)
    assert M.curve_auc(f, ins_oracle).mean() > M.curve_auc(f, ins_random).mean()
    # both ends are the intact image and the baseline
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[:, 0].numpy()
        p0 = torch.softmax(model(torch.zeros_like(x)), 1)[:, 0].numpy()
    assert np.allclose(del_oracle[:, 0], p, atol=1e-6) and np.allclose(del_oracle[:, -1], p0, atol=1e-6)
    assert np.allclose(ins_oracle[:, 0], p0, atol=1e-6) and np.allclose(ins_oracle[:, -1], p, atol=1e-6)


def test_curve_auc_of_a_constant_is_the_constant():
    f = np.linspace(0, 1, 11)
    assert np.allclose(M.curve_auc(f, np.full((2, 11), 0.3)), 0.3)


def test_rank_correlation_is_one_for_identical_maps_and_zero_for_constant():
    a = np.random.default_rng(0).random(50)
    assert M._rank_correlation(a, a) == pytest.approx(1.0)
    assert M._rank_correlation(a, np.zeros(50)) == 0.0


def test_sanity_check_identical_model_one_randomized_drops(gap_net, images):
    table = M.sanity_check(gap_net, images, None, "saliency")
    names = [n for n, _ in M.parameter_layers(gap_net)]
    assert list(table["randomized_through"]) == ["(original)"] + names[::-1]
    assert table["spearman_mean"].iloc[0] == 1.0
    assert table["spearman_mean"].iloc[-1] < 0.5
    # a method that does not depend on the model (the input itself) keeps correlation 1 throughout
    A.register("input_itself", lambda model, x, target: x.clone(), label="input", family="test",
               needs_training=False, needs_internals=False, library="test", reference="-", survey_section="-")
    try:
        constant = M.sanity_check(gap_net, images, None, "input_itself")
    finally:
        del A.METHODS["input_itself"]
    assert np.allclose(constant["spearman_mean"], 1.0)
    # the original model is left untouched
    assert torch.equal(gap_net.fc.weight, gap_net.fc.weight.clone())


def test_sanity_check_does_not_modify_the_model(gap_net, images):
    before = {k: v.clone() for k, v in gap_net.state_dict().items()}
    M.sanity_check(gap_net, images, None, "saliency", layers=["fc"])
    assert all(torch.equal(before[k], v) for k, v in gap_net.state_dict().items())
    with pytest.raises(ValueError, match="unknown layers"):
        M.sanity_check(gap_net, images, None, "saliency", layers=["nope"])


def test_black_box_separates_model_agnostic_methods(gap_net, images):
    ok, why = M.runs_on_black_box(gap_net, images[:1], 0, "occlusion")
    assert ok and why == ""
    ok, why = M.runs_on_black_box(gap_net, images[:1], 0, "saliency")
    assert not ok and why
    ok, _ = M.runs_on_black_box(gap_net, images[:1], 0, "cam")
    assert not ok
    assert list(M.BlackBox(gap_net).parameters()) == []
