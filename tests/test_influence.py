"""Layer-wise and global influence against independent references: explicit Hessians from
torch.autograd.functional.hessian, gradients from a Python loop, and exact leave-one-out retraining of a
convex model (which checks the sign convention and the 1/n scale)."""

import pytest
import torch
from torch import nn
from torch.autograd.functional import hessian

from cnnexplain.methods.influence_functions.hvp import global_block, parameter_blocks
from cnnexplain.methods.influence_functions.layerwise import (InfluenceScores, LayerwiseInfluence, class_averages, global_influence,
                                  intra_class_average, layerwise_influence, predicted_removal_change)
from cnnexplain.methods.influence_functions.solvers import CGSolver, LissaSolver, NotPositiveDefiniteError

DAMPING = 1e-3


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(18, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


@pytest.fixture(scope="module")
def setup():
    model = small_cnn()
    x_train, y_train = data(50, 1)
    x_test, y_test = data(4, 2)
    return model, x_train, y_train, x_test, y_test


def reference_scores(model, x_train, y_train, x_test, y_test, groups, damping):
    """−g_testᵀ (H_l + λI)⁻¹ g_train per group, from an explicit Hessian and looped gradients."""
    params = dict(model.named_parameters())
    out = []
    for names in groups:
        def mean_loss(*tensors):
            merged = {**{k: v.detach() for k, v in params.items()}, **dict(zip(names, tensors))}
            return nn.functional.cross_entropy(torch.func.functional_call(model, merged, (x_train,)), y_train)

        parts = hessian(mean_loss, tuple(params[n].detach() for n in names), vectorize=True)
        sizes = [params[n].numel() for n in names]
        h = torch.cat([torch.cat([parts[i][j].reshape(sizes[i], sizes[j]) for j in range(len(names))], 1)
                       for i in range(len(names))])
        h = h + damping * torch.eye(len(h), dtype=h.dtype)

        def grads(x, y):
            rows = []
            for i in range(len(x)):
                model.zero_grad()
                nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
                rows.append(torch.cat([params[n].grad.flatten() for n in names]))
            return torch.stack(rows)

        out.append(-grads(x_test, y_test) @ torch.linalg.solve(h, grads(x_train, y_train).T))
    return torch.stack(out, -1)


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def test_layerwise_scores_match_explicit_reference_and_total_is_sum(setup):
    model, x_train, y_train, x_test, y_test = setup
    scores = layerwise_influence(model, x_test, y_test, x_train, y_train, solver="exact", damping=DAMPING,
                                 batch_size=16, progress=False)
    blocks = parameter_blocks(model)
    expected = reference_scores(model, x_train, y_train, x_test, y_test, [b.param_names for b in blocks], DAMPING)
    assert scores.layers.shape == (4, 50, 3) and scores.block_names == ["0", "4", "6"]  # module paths in the Sequential
    torch.testing.assert_close(scores.layers, expected, rtol=1e-7, atol=1e-9)
    rel = (scores.total - scores.layers.sum(-1)).abs().max() / scores.total.abs().max()
    assert rel <= 1e-6
    torch.testing.assert_close(scores.total, expected.sum(-1), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("hessian", ["jacobian", "hvp"])
@pytest.mark.parametrize("solver, threshold", [(CGSolver(rtol=1e-8), 0.999), (LissaSolver(rtol=1e-6), 0.99)])
def test_every_solver_matches_the_dense_inverse_per_layer(setup, solver, threshold, hessian):
    model, x_train, y_train, x_test, y_test = setup
    damping = 0.01  # LiSSA's step count is ~ λ_max/λ per e-fold: keep the test fast
    exact = layerwise_influence(model, x_test, y_test, x_train, y_train, solver="exact", damping=damping,
                                progress=False, hessian="hvp")
    approx = layerwise_influence(model, x_test, y_test, x_train, y_train, solver=solver, damping=damping,
                                 progress=False, hessian=hessian)
    for l, name in enumerate(exact.block_names):
        r = pearson(approx.layers[..., l], exact.layers[..., l])
        assert r >= threshold, f"{solver.name} on {name}: Pearson {r:.5f}"


def test_forward_over_reverse_and_cached_graph_agree(setup):
    model, x_train, y_train, x_test, y_test = setup
    a = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=DAMPING, hvp="forward-over-reverse",
                           batch_size=32, hessian="hvp").scores(x_test, y_test, x_train, y_train, progress=False)
    b = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=DAMPING, hvp="cached-graph",
                           batch_size=32, hessian="hvp").scores(x_test, y_test, x_train, y_train, progress=False)
    torch.testing.assert_close(a.layers, b.layers, rtol=1e-8, atol=1e-10)


def test_jacobian_hessians_are_used_only_where_exact(setup):
    model, x_train, y_train, x_test, y_test = setup
    relu = LayerwiseInfluence(model, x_train, y_train, damping=DAMPING)
    assert relu.curvature == "jacobian" and relu.solver.name == "exact"  # ReLU + max-pool: piecewise linear
    by_hvp = LayerwiseInfluence(model, x_train, y_train, damping=DAMPING, hessian="hvp", solver="exact")
    torch.testing.assert_close(relu.scores(x_test, y_test, x_train, y_train, progress=False).layers,
                               by_hvp.scores(x_test, y_test, x_train, y_train, progress=False).layers,
                               rtol=1e-8, atol=1e-10)
    torch.manual_seed(0)
    smooth = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(72, 3)).double().eval()
    assert LayerwiseInfluence(smooth, x_train, y_train, damping=DAMPING).curvature == "hvp"


def test_jacobian_curvature_builds_single_layer_blocks_from_the_layer_pass(setup):
    # blocks that are one Linear/Conv2d each: the Gauss-Newton pass of kfac (inputs and output gradients);
    # any other block (here all parameters as one): per-sample Jacobians. The same matrices either way.
    from cnnexplain.methods.influence_functions.hvp import block_hessians_from_jacobians
    from cnnexplain.methods.influence_functions.kfac import kronecker_supported

    model, x_train, y_train, _, _ = setup
    for blocks in (None, global_block(model)):
        calc = LayerwiseInfluence(model, x_train, y_train, blocks=blocks, damping=DAMPING, hessian="jacobian")
        assert kronecker_supported(model, calc.blocks) == (blocks is None)
        for op, h in zip(calc.block_operators(), block_hessians_from_jacobians(calc.fn, calc.blocks, x_train, y_train)):
            torch.testing.assert_close(op.matrix, h, rtol=1e-9, atol=1e-12)


def test_global_influence_matches_full_hessian(setup):
    model, x_train, y_train, x_test, y_test = setup
    damping = 0.5  # the global Hessian here has eigenvalue -0.25: damping past it makes it solvable
    scores = global_influence(model, x_test, y_test, x_train, y_train, solver="exact", damping=damping,
                              progress=False)
    names = [n for n, _ in model.named_parameters()]
    expected = reference_scores(model, x_train, y_train, x_test, y_test, [names], damping)
    assert scores.block_names == ["all"]
    torch.testing.assert_close(scores.layers, expected, rtol=1e-7, atol=1e-9)


def test_auto_damping_is_raised_from_the_solvers_structured_error(setup):
    model, x_train, y_train, x_test, y_test = setup
    # the global Hessian has eigenvalue -0.25: starting at 1e-3, λ must be raised past it
    calc = LayerwiseInfluence(model, x_train, y_train, blocks=global_block(model), solver="exact", damping="auto")
    scores = calc.scores(x_test, y_test, x_train, y_train, progress=False)
    assert calc.damping_raises and calc.damping_raises[0]["from"] == 1e-3 and calc.damping_raises[0]["block"] == "all"
    assert calc.damping > 0.25 and scores.timings["damping"] == calc.damping
    names = [n for n, _ in model.named_parameters()]
    expected = reference_scores(model, x_train, y_train, x_test, y_test, [names], calc.damping)
    torch.testing.assert_close(scores.layers, expected, rtol=1e-7, atol=1e-9)
    # positive-definite blocks keep the starting value
    calc = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping="auto", auto_damping_start=DAMPING)
    calc.test_side(x_test, y_test)
    assert calc.damping == DAMPING and calc.damping_raises == []
    with pytest.raises(ValueError, match="'auto'"):
        LayerwiseInfluence(model, x_train, y_train, damping="big")
    with pytest.raises(NotPositiveDefiniteError, match="stayed indefinite"):
        LayerwiseInfluence(model, x_train, y_train, blocks=global_block(model), solver="exact", damping="auto",
                           auto_damping_start=1e-6, max_damping_raises=0).test_side(x_test, y_test)


def test_scores_carry_their_sign():
    layers = torch.tensor([[[1.0, 2.0], [5.0, -1.0]]])
    harmful = InfluenceScores(layers, ["features.0", "classifier.1"])
    assert harmful.sign == "harmful" and "raises the test loss" in harmful.sign_label
    helpful = harmful.with_sign("helpful")
    assert helpful.sign == "helpful" and "lowers the test loss" in helpful.sign_label
    torch.testing.assert_close(helpful.layers, -layers)
    assert helpful.with_sign("helpful") is helpful and harmful.with_sign("harmful") is harmful
    # the most influential image is the highest score OF THE SIGN CARRIED: most harmful vs most helpful
    assert harmful.most_influential(1)[0][0, 0].item() == 1 and helpful.most_influential(1)[0][0, 0].item() == 0
    torch.testing.assert_close(predicted_removal_change(helpful, 10), predicted_removal_change(harmful.total, 10))
    with pytest.raises(ValueError, match="harmful"):
        InfluenceScores(layers, ["a", "b"], sign="positive")


def test_test_side_is_cached_and_training_pass_streams(setup):
    model, x_train, y_train, x_test, y_test = setup
    calc = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=DAMPING, batch_size=8)
    first = calc.test_side(x_test, y_test)
    assert calc.test_side(x_test, y_test) is first
    full = calc.scores(x_test, y_test, x_train, y_train, progress=False)
    half = calc.scores(x_test, y_test, x_train[:24], y_train[:24], progress=False)
    torch.testing.assert_close(half.layers, full.layers[:, :24])


def test_kronecker_scores_of_the_hessian_data_come_from_its_pass(setup):
    """With Kronecker curvature, scoring the Hessian data itself (equal tensors) takes the loss gradients from the
    one pass over it; the same scores as a pass over the training data and as the explicit block Hessians."""
    model, x_train, y_train, x_test, y_test = setup
    calc = LayerwiseInfluence(model, x_train, y_train, damping=DAMPING, hessian="kronecker")
    merged = calc.scores(x_test, y_test, x_train.clone(), y_train.clone(), progress=False)
    assert merged.timings["training_scores"] == "from the pass over the Hessian data"
    again = calc.scores(x_test, y_test, x_train, y_train, progress=False)  # the test side is cached now
    assert again.timings["training_scores"] == "a pass over the training data"
    torch.testing.assert_close(merged.layers, again.layers)
    other = LayerwiseInfluence(model, x_train, y_train, damping=DAMPING, hessian="kronecker")
    part = other.scores(x_test, y_test, x_train[:24], y_train[:24], progress=False)
    assert part.timings["training_scores"] == "a pass over the training data"
    torch.testing.assert_close(part.layers, merged.layers[:, :24])
    expected = reference_scores(model, x_train, y_train, x_test, y_test,
                                [b.param_names for b in parameter_blocks(model)], DAMPING)
    torch.testing.assert_close(merged.layers, expected, rtol=1e-6, atol=1e-8)


def test_dask_local_cluster_gives_identical_scores(setup):
    pytest.importorskip("distributed")
    model, x_train, y_train, x_test, y_test = setup
    calc = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=DAMPING, batch_size=8)
    single = calc.scores(x_test, y_test, x_train, y_train, progress=False)
    sharded = calc.scores(x_test, y_test, x_train, y_train, dask="local", n_shards=3)
    torch.testing.assert_close(sharded.layers, single.layers, rtol=1e-12, atol=1e-14)


def test_most_influential_and_class_averages():
    layers = torch.tensor([[[1.0, 2.0], [5.0, -1.0], [0.0, 0.5]],
                           [[-3.0, 0.0], [1.0, 1.0], [4.0, 4.0]]])  # (2 test, 3 train, 2 layers)
    scores = InfluenceScores(layers, ["conv1", "fc1"])
    idx, val = scores.most_influential(1)
    assert idx[:, 0].tolist() == [1, 2] and val[:, 0].tolist() == [4.0, 8.0]
    assert scores.most_influential(1, layer="fc1")[0][:, 0].tolist() == [0, 2]
    assert scores.most_influential(1, largest=False)[0][:, 0].tolist() == [2, 0]
    assert set(scores.most_influential_per_layer(2)) == {"conv1", "fc1", "total"}
    with pytest.raises(KeyError, match="no layer named 'fc9'"):
        scores.layer("fc9")
    train_labels = torch.tensor([0, 1, 0])
    averages = class_averages(scores.total, train_labels)  # I_avg
    torch.testing.assert_close(averages, torch.tensor([[(3.0 + 0.5) / 2, 4.0], [(-3.0 + 8.0) / 2, 2.0]]))
    per_layer = class_averages(scores.layers, train_labels, num_classes=3)  # I_Lavg
    assert per_layer.shape == (2, 3, 2) and torch.isnan(per_layer[:, 2]).all()
    torch.testing.assert_close(per_layer[0, 0], torch.tensor([0.5, 1.25]))
    intra = intra_class_average(scores.total, torch.tensor([1, 0]), train_labels)
    torch.testing.assert_close(intra, torch.tensor([4.0, 2.5]))


def test_sign_and_scale_against_exact_leave_one_out_retraining():
    """A convex model (L2-regularised softmax regression): influence must predict the change of the test
    loss after removing a training point and retraining, with the documented sign and 1/n scale."""
    g = torch.Generator().manual_seed(3)
    n, weight_decay = 200, 0.05
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * torch.randn(n, generator=g, dtype=torch.float64) > 0).long()
    x_test, y_test = torch.randn(1, 5, generator=g, dtype=torch.float64), torch.tensor([1])

    def train(keep, init=None):
        model = nn.Linear(5, 2).double()
        if init is not None:
            model.load_state_dict(init)
        opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-12,
                                tolerance_change=1e-14, history_size=50, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[keep]), y[keep]) + weight_decay / 2 * sum(
                (p ** 2).sum() for p in model.parameters())
            loss.backward()
            return loss

        opt.step(closure)
        return model.eval()

    everything = torch.arange(n)
    model = train(everything)
    base = nn.functional.cross_entropy(model(x_test), y_test).item()
    # damping = weight decay is exactly the regulariser's curvature
    scores = layerwise_influence(model, x_test, y_test, x, y, solver="exact", damping=weight_decay,
                                 progress=False)
    predicted = predicted_removal_change(scores.total[0], n)
    picks = torch.argsort(scores.total[0].abs(), descending=True)[:8]
    actual = []
    for j in picks.tolist():
        retrained = train(everything[everything != j], init=model.state_dict())
        actual.append(nn.functional.cross_entropy(retrained(x_test), y_test).item() - base)
    actual = torch.tensor(actual, dtype=torch.float64)
    assert pearson(predicted[picks], actual) > 0.99
    # first-order: high-leverage points are off by ~10 %, a wrong sign or 1/n would be off by 100 %+
    torch.testing.assert_close(predicted[picks], actual, rtol=0.2, atol=1e-6)


def test_bad_inputs_give_clear_errors(setup):
    model, x_train, y_train, x_test, y_test = setup
    kwargs = dict(solver="exact", damping=DAMPING, progress=False)
    with pytest.raises(ValueError, match=r"training\) data: 50 inputs but 49 labels"):
        layerwise_influence(model, x_test, y_test, x_train, y_train[:-1], **kwargs)
    with pytest.raises(TypeError, match="test data: labels must be a 1-D integer tensor"):
        layerwise_influence(model, x_test, y_test.double(), x_train, y_train, **kwargs)
    with pytest.raises(ValueError, match="test data: the model cannot take inputs of shape"):
        layerwise_influence(model, torch.randn(4, 1, 5, 5, dtype=torch.float64), y_test, x_train, y_train, **kwargs)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        layerwise_influence(model, x_test, y_test + 5, x_train, y_train, **kwargs)
    with pytest.raises(KeyError, match="no parameter block named 'conv5'"):
        layerwise_influence(model, x_test, y_test, x_train, y_train, layers=["conv5"], **kwargs)
    with pytest.raises(ValueError, match="empty"):
        layerwise_influence(model, x_test, y_test, x_train[:0], y_train[:0], **kwargs)
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(72, 3)).double()
    with pytest.raises(ValueError, match="training mode.*model.eval"):
        layerwise_influence(bn, x_test, y_test, x_train, y_train, **kwargs)
    bn.eval()
    assert layerwise_influence(bn, x_test, y_test, x_train, y_train, **kwargs).layers.shape == (4, 50, 2)


def test_gauss_newton_check_runs_in_float64_for_a_float32_net():
    """hessian="auto" tells a piecewise-linear float32 net (dense Gauss-Newton blocks) from a smooth one (HVPs)
    by a float64 check: float32 round-off of a deep net's HVP alone reaches 1e-3, the old tolerance."""
    from torch import nn

    from cnnexplain.methods.influence_functions.layerwise import GAUSS_NEWTON_TOLERANCE, LayerwiseInfluence

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 1, 6, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()]
    for _ in range(6):
        layers += [nn.Conv2d(3, 3, 3, padding=1), nn.ReLU()]
    relu = nn.Sequential(*layers, nn.Flatten(), nn.Linear(108, 3)).eval()
    calc = LayerwiseInfluence(relu, x, y, damping=1e-3)
    assert calc.curvature == "jacobian" and next(relu.parameters()).dtype == torch.float32
    assert len(calc.gauss_newton_check) == 8 and max(calc.gauss_newton_check.values()) <= GAUSS_NEWTON_TOLERANCE
    smooth = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    assert LayerwiseInfluence(smooth, x, y, damping=1e-3).curvature == "hvp"
