"""Kronecker-factored curvature (K-FAC, EK-FAC) and the preconditioned CG, against the dense block inverse.

The preconditioned path must reach the exact answer (per-layer Pearson >= 0.99, small measured residual) in
few iterations; the approximate path's agreement is measured and reported (printed with -s, and recorded as
a test property), not assumed."""

import math
import re

import pytest
import torch
from torch import nn

from cnnexplain.methods.influence_functions.hvp import (DenseBlock, ModelFunction, block_hessians_from_jacobians,
                                                        parameter_blocks, per_sample_grads)
from cnnexplain.methods.influence_functions.kfac import (GaussNewtonBlock, KroneckerSolver, PreconditionedCGSolver,
                                                         UnsupportedLayerError, gauss_newton_cache, kronecker_factors,
                                                         nystrom_is_cheaper, rows_beat_dense, solve_blocks)
from cnnexplain.methods.influence_functions.solvers import ExactSolver

DAMPING = 1e-3


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def small_cnn():
    torch.manual_seed(0)  # in-place ReLU as in torchvision's VGG: the factors must still see pre-activations
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 10),
                         nn.ReLU(), nn.Linear(10, 4)).double().eval()


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(),
                         nn.Linear(8, 4)).double().eval()


def data(n=120, seed=2, side=8):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, side, side, generator=g, dtype=torch.float64),
            torch.randint(0, 4, (n,), generator=g))


@pytest.fixture(scope="module", params=["cnn", "mlp"])
def setup(request):
    model = small_cnn() if request.param == "cnn" else mlp()
    x, y = data(side=8 if request.param == "cnn" else 4)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    cache = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=50)
    factors = {f.name: f for f in kronecker_factors(fn, fn.blocks, x, y, batch_size=50, cache=cache)}
    grads = per_sample_grads(fn, x[:5], y[:5])
    return request.param, fn, x, y, dense, cache, factors, grads


def test_cached_gauss_newton_is_the_dense_block(setup):
    _, fn, x, y, dense, cache, _, _ = setup
    for h, c in zip(dense, cache):
        torch.testing.assert_close(c.dense(), h, rtol=1e-9, atol=1e-12)


def test_streamed_factors_equal_cached_ones(setup):
    _, fn, x, y, _, _, factors, _ = setup
    streamed = kronecker_factors(fn, fn.blocks, x, y, batch_size=37)  # other batch cut, same numbers
    for f in streamed:
        torch.testing.assert_close(f.A, factors[f.name].A)
        torch.testing.assert_close(f.G, factors[f.name].G)
        torch.testing.assert_close(f.diagonal, factors[f.name].diagonal)


def test_preconditioned_cg_reaches_the_dense_inverse(setup):
    kind, fn, x, y, dense, cache, factors, grads = setup
    solver = PreconditionedCGSolver(factors, rtol=1e-6)
    for block, h, c, g in zip(fn.blocks, dense, cache, grads):
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        r = pearson(solver.solve(c, g, DAMPING), reference)
        report = solver.reports[-1]
        assert r >= 0.99, f"{kind} {block.name}: Pearson {r:.5f}"
        assert report.relative_error <= 1e-5 and report.converged
        assert report.iterations <= 40, f"{kind} {block.name}: {report.iterations} iterations"


def test_preconditioned_cg_on_the_streaming_operator(setup):
    kind, fn, x, y, dense, _, factors, grads = setup
    block, h, g = fn.blocks[0], dense[0], grads[0][:2]
    op = GaussNewtonBlock(fn, block, x, y, batch_size=64)
    v = torch.randn(2, block.numel, dtype=torch.float64)
    torch.testing.assert_close(op.matvec(v), v @ h)
    x_pcg = PreconditionedCGSolver(factors, rtol=1e-6).solve(op, g, DAMPING)
    assert pearson(x_pcg, ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)) >= 0.99


def test_approximate_solvers_report_their_measured_agreement(setup, record_property):
    kind, fn, x, y, dense, cache, factors, grads = setup
    for method in ("kfac", "ekfac"):
        solver = KroneckerSolver(factors, kind=method)
        rows = []
        for block, h, c, g in zip(fn.blocks, dense, cache, grads):
            reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
            r = pearson(solver.solve(c, g, DAMPING), reference)
            rows.append((block.name, round(r, 4), round(solver.reports[-1].relative_error, 4)))
            assert torch.isfinite(torch.tensor(solver.reports[-1].relative_error))
        print(f"{kind} {method}: (block, Pearson vs dense inverse, measured residual) {rows}")
        record_property(f"{kind}_{method}", rows)


def test_kfac_is_exact_for_one_example_through_a_linear_layer():
    """One example through a Linear layer: H = Σ_d g_d g_dᵀ ⊗ a aᵀ = G ⊗ A exactly — checks the layout."""
    model = mlp()
    x, y = data(1, side=4)
    fn = ModelFunction(model)
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    factors = {f.name: f for f in kronecker_factors(fn, fn.blocks, x, y)}
    last = fn.blocks[-1].name
    rhs = torch.randn(3, fn.blocks[-1].numel, dtype=torch.float64)
    for kind in ("kfac", "ekfac"):
        got = KroneckerSolver(factors, kind=kind, measure=False).solve(DenseBlock(last, dense[-1]), rhs, 0.1)
        torch.testing.assert_close(got, ExactSolver().solve(DenseBlock(last, dense[-1]), rhs, 0.1))


def test_sampled_labels_estimate_the_exact_expectation():
    model = mlp()
    x, y = data(200, side=4)
    fn = ModelFunction(model)
    exact = kronecker_factors(fn, fn.blocks, x, y, fisher="exact", ekfac=False)
    sampled = kronecker_factors(fn, fn.blocks, x, y, fisher="sampled", samples=20, ekfac=False)
    for e, s in zip(exact, sampled):
        assert s.fisher == "sampled"
        assert (s.G - e.G).norm() / e.G.norm() < 0.15
        torch.testing.assert_close(s.A, e.A)  # the inputs do not depend on the labels


def test_unsupported_blocks_are_refused():
    model = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2, 2)).double().eval()
    fn = ModelFunction(model)
    x, y = torch.randn(4, 2, 3, 3, dtype=torch.float64), torch.zeros(4, dtype=torch.long)
    with pytest.raises(UnsupportedLayerError, match="groups=1"):
        kronecker_factors(fn, fn.blocks, x, y)
    with pytest.raises(ValueError, match="fisher"):
        kronecker_factors(fn, fn.blocks[1:], x, y, fisher="empirical")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_the_model_device():
    model = small_cnn().cuda()
    x, y = data(30)
    fn = ModelFunction(model)
    factors = kronecker_factors(fn, fn.blocks, x, y)
    assert all(f.A.is_cuda and f.diagonal.is_cuda for f in factors)


def test_factors_held_as_rows_for_small_hessian_data_give_the_same_inverse():
    """Fewer input rows than in' (here 3 examples into a 17-input layer): A from its Gram matrix, the
    complement of the data's span at curvature 0 — the same (H̃ + λI)⁻¹ as the dense eigendecomposition."""
    model = mlp()
    x, y = data(3, side=4)
    fn = ModelFunction(model)
    low = kronecker_factors(fn, fn.blocks, x, y, low_rank=True)
    full = kronecker_factors(fn, fn.blocks, x, y, low_rank=False)
    assert low[0].partial and not full[0].partial
    rhs = torch.randn(2, fn.blocks[0].numel, dtype=torch.float64)
    for kind in ("kfac", "ekfac"):
        torch.testing.assert_close(low[0].inverse_hvp(rhs, 0.05, kind), full[0].inverse_hvp(rhs, 0.05, kind))
        torch.testing.assert_close(low[0].matvec(rhs, kind), full[0].matvec(rhs, kind))


@pytest.mark.parametrize("solver", ["auto", "exact", "woodbury", "woodbury-pcg", "nystrom", "pcg", "ekfac"])
def test_solve_blocks_chooses_and_reports(setup, solver):
    kind, fn, x, y, dense, _, _, grads = setup
    solved, choices, info = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, solver=solver, dense_limit=100,
                                         low_rank_limit=600, rtol=1e-6)
    for block, h, g, s, choice in zip(fn.blocks, dense, grads, solved, choices):
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        r = pearson(s, reference)
        if choice.method != "ekfac":
            assert r >= 0.99 and choice.residual <= 1e-4, (choice, r)
        assert choice.method == solver or solver == "auto"
    if solver == "auto":  # dense where small, Woodbury-PCG where n·(C−1) < p, Nyström-preconditioned CG otherwise
        expected = ["exact" if b.numel <= 100 else "woodbury-pcg" if len(x) * 3 < b.numel else "nystrom"
                    for b in fn.blocks]
        assert [c.method for c in choices] == expected
    # the approximate solvers need no exact block: no cache pass, residual not measured
    assert info["operator"] == ("cached Gauss-Newton factors" if solver != "ekfac" else
                                "streaming Gauss-Newton products (jvp + vjp)")


class _ShapeOnly:
    """Just the shapes nystrom_is_cheaper reads: g (n, C − 1, T, out) and the block size."""

    def __init__(self, n, classes, positions, out, size):
        self.g, self.size = torch.empty(n, classes, positions, out, device="meta"), size


def test_woodbury_or_nystrom_by_estimated_flops():
    """LeNet-5's measured cases (500 images, 10 test vectors): fc1 (48,120 parameters) Woodbury 1.29 s against
    Nyström-PCG 1.54 s; fc2 (10,164) Woodbury 1.15 s against Nyström-PCG 0.18 s — and against Woodbury-PCG on the
    1,808 principal directions that carry all but λ of fc2's curvature, 0.11 s."""
    fc1, fc2 = _ShapeOnly(500, 9, 1, 120, 48120), _ShapeOnly(500, 9, 1, 84, 10164)
    assert not nystrom_is_cheaper(fc1, 10) and nystrom_is_cheaper(fc2, 10)
    assert not nystrom_is_cheaper(fc2, 10, rank=1808) and not nystrom_is_cheaper(fc1, 10, rank=1825)
    assert nystrom_is_cheaper(fc2, 10, rank=4500)  # nothing dropped: the exact kernel's cost and CG's products
    assert nystrom_is_cheaper(fc1, 1)  # CG's cost grows with the right-hand sides, Woodbury's hardly
    assert not nystrom_is_cheaper(_ShapeOnly(50, 9, 1, 84, 10164), 10)  # 450 pseudo-gradients: Woodbury
    # a conv's Woodbury forms its m × p pseudo-gradient rows: m²·p, so a wide conv goes to CG sooner
    assert nystrom_is_cheaper(_ShapeOnly(500, 9, 16, 64, 36928), 10)


def test_rows_or_dense_block_by_estimated_flops():
    """LeNet-5's conv2 over 500 images (p = 2,416, 4,500 pseudo-gradient rows, 10 test vectors): Woodbury-PCG on
    the 1,224 kept directions measured 0.15 s against 0.47 s for the dense block's syrk and Cholesky."""
    assert rows_beat_dense(2416, 4500, 10, kept=1224)
    assert not rows_beat_dense(2416, 4500, 10, kept=4500)  # nothing dropped: the kernel outgrows the dense block
    assert rows_beat_dense(2416, 4500, 10)  # the lower bound (CG's products alone): worth holding the rows
    assert not rows_beat_dense(30, 360, 5)  # a tiny conv: its dense block costs less than CG's products
    assert not rows_beat_dense(2416, 4500, 10_000, kept=1224)  # CG's cost grows with the right-hand sides


@pytest.mark.parametrize("damping", [1e-3, 1e-1])
def test_auto_holds_a_conv_s_rows_and_chooses_after_the_pass(damping):
    """A conv below dense_limit whose rows are worth holding: the pass keeps its pseudo-gradient rows, and the
    kept principal directions then pick the dense block (λ = 1e-3: 289 of 360 kept) or Woodbury-PCG (λ = 0.1:
    none kept) — as rows_beat_dense says; either way the dense inverse."""
    model = small_cnn()
    x, y = data(side=8)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    grads = per_sample_grads(fn, x[:5], y[:5])
    solved, choices, info = solve_blocks(fn, fn.blocks, x, y, grads, damping, dense_limit=200, rtol=1e-8)
    assert info["row_blocks"] == 1 and info["dense_blocks"] == 3, info  # conv2 (112): rows; the 30-parameter conv1 stays dense
    conv2 = choices[1]
    kept = int(re.search(r"(?:on|rank) (\d+) (?:principal|of \d+)", conv2.reason).group(1))
    assert conv2.method == ("woodbury-pcg" if rows_beat_dense(112, len(x) * 3, 5, kept) else "exact")
    assert conv2.method == ("exact" if damping == 1e-3 else "woodbury-pcg"), conv2
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    for block, h, g, s, choice in zip(fn.blocks, dense, grads, solved, choices):
        assert choice.residual <= 1e-7, choice
        assert pearson(s, ExactSolver().solve(DenseBlock(block.name, h), g, damping)) >= 0.99999
    # a forced solver and a cache too small for the rows: no rows held, the dense block as before
    assert solve_blocks(fn, fn.blocks, x, y, grads, damping, solver="exact", dense_limit=200)[2]["row_blocks"] == 0
    small = solve_blocks(fn, fn.blocks, x, y, grads, damping, dense_limit=200, cache_mb=0.05)
    assert small[2]["row_blocks"] == 0 and small[1][1].method == "exact", small[2]


@pytest.mark.parametrize("dense_limit", [50, 200])
def test_hessian_data_scores_equal_a_scoring_pass(dense_limit):
    """solve_blocks(hessian_data_scores=True) scores the Hessian data from the loss gradients its one pass kept:
    a conv's by its weight-gradient kernel (dense, or held as rows) or from its cached patches, a Linear layer's as
    factors (cached, or beside its dense block). They equal a separate kronecker_scores pass over the data."""
    from cnnexplain.methods.influence_functions.kfac import kronecker_scores

    model = small_cnn()  # blocks of 30, 112, 170, 44 parameters
    x, y = data(side=8)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    grads = per_sample_grads(fn, x[:5], y[:5])
    solved, choices, info, scores = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, dense_limit=dense_limit,
                                                 rtol=1e-8, hessian_data_scores=True)
    # 50: conv1 and fc2 dense, conv2 and fc1 cached as factors; 200: conv2's rows held, the other three dense
    assert (info["dense_blocks"], info["row_blocks"]) == ((2, 0) if dense_limit == 50 else (3, 1)), info
    assert info["hessian_data_scores"] and scores.shape == (5, len(x), 4)
    torch.testing.assert_close(scores, kronecker_scores(fn, fn.blocks, solved, x, y, batch_size=16))
    plain = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, dense_limit=dense_limit, rtol=1e-8)
    assert len(plain) == 3  # without the flag: solutions, choices, info as before
    for a, b in zip(plain[0], solved):
        torch.testing.assert_close(a, b)


def test_hessian_data_scores_need_the_cache_and_room_beside_it():
    """No cache (products stream) or no room for the gradients beside the factors: the fourth value is None, so
    the caller scores by a pass; the solutions are the same."""
    model = small_cnn()
    x, y = data(side=8)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    grads = per_sample_grads(fn, x[:5], y[:5])
    full = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, dense_limit=50, rtol=1e-8, hessian_data_scores=True)
    tight = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, dense_limit=50, rtol=1e-8, hessian_data_scores=True,
                         cache_mb=full[2]["cache_mb"] * 1.001)  # the factors fit, the gradients do not
    assert tight[3] is None and not tight[2]["hessian_data_scores"]
    assert tight[2]["operator"] == "cached Gauss-Newton factors"
    for a, b in zip(tight[0], full[0]):
        torch.testing.assert_close(a, b)
    streamed = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, dense_limit=50, cache_mb=0, solver="ekfac",
                            hessian_data_scores=True)
    assert streamed[3] is None and not streamed[2]["hessian_data_scores"]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        solve_blocks(fn, fn.blocks, x, y + 1, grads, DAMPING, dense_limit=50, hessian_data_scores=True)


def test_solve_blocks_streams_nystrom_where_its_factors_fit(setup):
    """Where the Gauss-Newton cache (growing with the images) does not fit in cache_mb but the Nyström factors
    (NYSTROM_COPIES p × rank float64 matrices) do, auto streams products and runs Nyström-preconditioned CG on
    the exact block, to rtol."""
    from cnnexplain.methods.influence_functions.nystrom import nystrom_bytes

    kind, fn, _, _, _, _, _, grads = setup
    x, y = data(n=1500 if kind == "cnn" else 4000, seed=3, side=8 if kind == "cnn" else 4)
    nystrom_mb = max(nystrom_bytes(b.numel, 256) for b in fn.blocks) / 2 ** 20
    solved, choices, info = solve_blocks(fn, fn.blocks, x, y, [g[:2] for g in grads], DAMPING, dense_limit=0,
                                         cache_mb=1.01 * nystrom_mb, rtol=1e-6)
    assert info["cache_mb"] > 1.01 * nystrom_mb, info  # the cache would not have fitted
    assert info["operator"].startswith("streaming") and {c.method for c in choices} == {"nystrom"}
    assert "factors_s" not in info  # no K-FAC pass
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    for block, h, g, s, choice in zip(fn.blocks, dense, grads, solved, choices):
        assert choice.residual <= 1e-5, choice
        assert pearson(s, ExactSolver().solve(DenseBlock(block.name, h), g[:2], DAMPING)) >= 0.99


def test_solve_blocks_streams_when_the_cache_does_not_fit(setup):
    kind, fn, x, y, dense, _, _, grads = setup
    # cache_mb=0: not even Nyström's factors fit, so streamed blocks take EK-FAC-preconditioned CG
    solved, choices, info = solve_blocks(fn, fn.blocks, x, y, [g[:2] for g in grads], DAMPING, cache_mb=0,
                                         rtol=1e-6, dense_limit=0)
    assert info["operator"].startswith("streaming") and {c.method for c in choices} == {"pcg"}
    assert all("would exceed cache_mb=0" in c.reason for c in choices)
    # blocks up to dense_limit get their dense H in one pass even when nothing per example is cached
    _, choices_d, info_d = solve_blocks(fn, fn.blocks, x, y, [g[:2] for g in grads], DAMPING, cache_mb=0,
                                        dense_limit=100)
    assert info_d["operator"].startswith("streaming") and info_d["dense_blocks"] == sum(b.numel <= 100 for b in fn.blocks)
    assert [c.method for c in choices_d] == ["exact" if b.numel <= 100 else "pcg" for b in fn.blocks]
    assert all(c.residual <= 1e-5 for c in choices_d if c.method == "exact")
    solved_k, choices_k, _ = solve_blocks(fn, fn.blocks, x, y, [g[:2] for g in grads], DAMPING, cache_mb=0,
                                          budget_s=0.0, dense_limit=0)
    assert {c.method for c in choices_k} == {"kfac"} and all(math.isnan(c.residual) for c in choices_k)
    for h, g, s in zip(dense, grads, solved):
        assert pearson(s, ExactSolver().solve(DenseBlock("b", h), g[:2], DAMPING)) >= 0.99


def test_kronecker_scores_equal_per_sample_gradient_scores(setup):
    from cnnexplain.methods.influence_functions.kfac import kronecker_scores

    kind, fn, x, y, _, _, _, _ = setup
    test_side = [torch.randn(3, b.numel, dtype=torch.float64) for b in fn.blocks]
    got = kronecker_scores(fn, fn.blocks, test_side, x[:40], y[:40], batch_size=16, chunk_elements=500)
    grads = per_sample_grads(fn, x[:40], y[:40])
    for l, (s, g) in enumerate(zip(test_side, grads)):
        torch.testing.assert_close(got[..., l], -(s @ g.T))
    # one test vector: the same per-example gradients, contracted once
    one = kronecker_scores(fn, fn.blocks, [s[:1] for s in test_side], x[:40], y[:40], batch_size=16, chunk_elements=500)
    torch.testing.assert_close(one, got[:1])


def strided_cnn():
    """Convs whose weight gradients the conv's own kernel forms (ConvInput): stride, dilation, a rectangular
    kernel, asymmetric padding, no bias — each must match the im2col patches' layout."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 3, (3, 2), stride=2, padding=(1, 0)), nn.ReLU(),
                         nn.Conv2d(3, 4, 3, dilation=2, padding=2, bias=False), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 4)).double().eval()


def test_conv_weight_gradient_kernel_matches_the_patches():
    from cnnexplain.methods.influence_functions.kfac import ConvInput, _inputs

    model = strided_cnn()
    x, y = data(n=30, side=10)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    for conv, inputs in ((model[0], x), (model[2], model[1](model[0](x)))):
        out = conv(inputs)
        g = torch.randn(len(x), 2, conv.out_channels, out.shape[2] * out.shape[3], dtype=torch.float64)
        bias = conv.bias is not None
        got = ConvInput(conv, inputs, bias, tuple(out.shape[2:])).example_gradients(g, 5, 17)
        patches = _inputs(conv, inputs, bias)[5:17]  # (b, T, in')
        torch.testing.assert_close(got, torch.einsum("bmot,bti->bmoi", g[5:17], patches))
    # the dense blocks and the scores through it equal the Jacobian blocks and per-sample gradients
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    held = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=16, dense=[True] * len(fn.blocks))
    for d, h in zip(held, dense):
        torch.testing.assert_close(d.matrix, h, rtol=1e-9, atol=1e-12)
    from cnnexplain.methods.influence_functions.kfac import kronecker_scores

    test_side = [torch.randn(3, b.numel, dtype=torch.float64) for b in fn.blocks]
    got = kronecker_scores(fn, fn.blocks, test_side, x, y, batch_size=16, chunk_elements=200)
    for l, (s, g) in enumerate(zip(test_side, per_sample_grads(fn, x, y))):
        torch.testing.assert_close(got[..., l], -(s @ g.T))


def test_woodbury_on_the_kronecker_kernel_of_a_linear_layer(setup):
    from cnnexplain.methods.influence_functions.kfac import woodbury_linear

    kind, fn, x, y, dense, cache, _, grads = setup
    for block, h, c, g in zip(fn.blocks, dense, cache, grads):
        if c.g.shape[2] != 1:
            continue
        torch.testing.assert_close(woodbury_linear(c, g, DAMPING),
                                   ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING), rtol=1e-6, atol=1e-8)


def test_layerwise_influence_auto_uses_kronecker_curvature_for_large_blocks(setup):
    from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence

    kind, fn, x, y, _, _, _, _ = setup
    model = fn.model
    xt, yt = x[:4], y[:4]
    auto = LayerwiseInfluence(model, x, y, damping=DAMPING, dense_limit=50)  # blocks above 50 parameters
    assert auto.curvature == "kronecker"
    scores = auto.scores(xt, yt, x[:30], y[:30], progress=False)
    assert [c["block"] for c in auto.choices] == auto.block_names
    assert all(c["residual"] <= 1e-4 for c in auto.choices), auto.choices
    assert {c["method"] for c in auto.choices} <= {"exact", "woodbury-pcg", "nystrom", "pcg"}
    exact = LayerwiseInfluence(model, x, y, damping=DAMPING, hessian="hvp", solver="exact").scores(
        xt, yt, x[:30], y[:30], progress=False)
    torch.testing.assert_close(scores.layers, exact.layers, rtol=1e-5, atol=1e-8)
    # a smooth net: the Gauss-Newton block is not the Hessian, so auto keeps Hessian-vector products
    smooth = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), 12), nn.Tanh(), nn.Linear(12, 4)).double().eval()
    assert LayerwiseInfluence(smooth, x, y, damping=DAMPING, dense_limit=50).curvature == "hvp"


def test_an_explicit_cg_solver_keeps_hessian_vector_products(setup):
    from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence

    kind, fn, x, y, _, _, _, _ = setup
    calc = LayerwiseInfluence(fn.model, x, y, damping=DAMPING, dense_limit=50, solver="cg")
    assert calc.curvature == "hvp" and calc.solver.name == "cg"


def test_gauss_newton_check_covers_one_block_only_for_piecewise_linear_modules():
    """On a net of piecewise-linear modules one block is checked (the first, which sees every non-linearity
    after it); a module the whitelist does not know means every block is checked. A smooth function hidden
    in ``forward`` (no module shows it) is still caught by that one numerical check."""
    from cnnexplain.methods.influence_functions.kfac import gauss_newton_check_blocks, only_piecewise_linear_modules
    from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence

    x, y = data(side=8)
    cnn = small_cnn()
    blocks = parameter_blocks(cnn, example_input=x[:1])
    assert only_piecewise_linear_modules(cnn) and gauss_newton_check_blocks(cnn, blocks) == blocks[:1]
    auto = LayerwiseInfluence(cnn, x, y, damping=DAMPING, dense_limit=50)
    assert auto.curvature == "kronecker" and list(auto.gauss_newton_check) == [blocks[0].name]
    assert auto.gauss_newton_check[blocks[0].name] < 1e-8

    smooth = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 4)).double().eval()
    assert not only_piecewise_linear_modules(smooth)
    assert len(gauss_newton_check_blocks(smooth, parameter_blocks(smooth, example_input=x[:1]))) == 2

    class HiddenGelu(nn.Module):  # only Linear modules, but a smooth function in forward
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(64, 12), nn.Linear(12, 4)

        def forward(self, v):
            return self.fc2(nn.functional.gelu(self.fc1(v.flatten(1))))

    torch.manual_seed(0)
    hidden = HiddenGelu().double().eval()
    assert only_piecewise_linear_modules(hidden)
    checked = LayerwiseInfluence(hidden, x, y, damping=DAMPING, dense_limit=50)
    assert checked.curvature == "hvp" and max(checked.gauss_newton_check.values()) > 1e-3


def test_softmax_hessian_root_is_exact_with_one_column_fewer():
    from cnnexplain.methods.influence_functions.kfac import softmax_hessian_root

    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.randn(6, 7, generator=g, dtype=torch.float64),
                        torch.tensor([[40.0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 40.0]], dtype=torch.float64)])
    p = torch.softmax(logits, -1)  # includes near one-hot rows, the last class certain in one of them
    root = softmax_hessian_root(p)
    assert root.shape == (8, 7, 6)
    torch.testing.assert_close(root @ root.transpose(1, 2), torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1),
                               atol=1e-14, rtol=0)


def test_many_classes_never_take_the_exact_expectation_pass():
    """With more classes than exact_classes the dense pass would need C − 1 backward passes per batch (999
    for ImageNet: it ran VGG16 out of memory); small blocks then go the streaming way like the others."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 30)).double().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 30, (24,), generator=g)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    grads = per_sample_grads(fn, x[:2], y[:2], fn.blocks)
    _, choices, info = solve_blocks(fn, fn.blocks, x, y, grads, DAMPING, cache_mb=0, budget_s=0.0)
    assert info["dense_blocks"] == 0 and {c.method for c in choices} == {"kfac"}


def test_dense_blocks_accumulated_in_the_pass_equal_the_dense_block(setup):
    # Linear layers by the Kronecker sum Σ_i (Σ_d g g ᵀ) ⊗ a aᵀ, convs by a symmetric rank update (BLAS syrk:
    # lower triangle only), both read back in the block's flat order
    _, fn, x, y, dense, _, _, _ = setup
    held = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=50, dense=[True] * len(fn.blocks))
    for h, d in zip(dense, held):
        assert isinstance(d, DenseBlock)
        torch.testing.assert_close(d.matrix, h, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_accumulation_in_float32_and_in_small_chunks(bias):
    from cnnexplain.methods.influence_functions.kfac import _accumulate_dense_block, _in_block_order, _stream

    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=bias), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3, bias=bias)).eval()
    x, y = torch.randn(40, 1, 6, 6), torch.randint(0, 3, (40,))
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    cache = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=16)
    held = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=16, dense=[True, True])
    assert [d.matrix.dtype for d in held] == [torch.float32] * 2
    for d, c in zip(held, cache):
        torch.testing.assert_close(d.matrix, c.dense(), rtol=1e-4, atol=1e-6)
    # chunks of a few examples (chunk_elements bounds the rows and Kronecker terms formed at once)
    from cnnexplain.methods.influence_functions.kfac import _layouts

    layers, layouts = _layouts(fn, fn.blocks, "exact")
    grams = [torch.zeros(f.size, f.size) for f in layouts]
    for _, per_layer in _stream(fn, layers, x, y, 16, "exact", 1, None):
        for h, (a, gs, _) in zip(grams, per_layer):
            _accumulate_dense_block(h, a, gs, chunk_elements=300)
    for f, h, d in zip(layouts, grams, held):
        torch.testing.assert_close(_in_block_order(f, h) / len(x), d.matrix, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("condition", [1e3, 1e13])
def test_mixed_precision_solve_is_as_accurate_as_float64(monkeypatch, condition):
    from cnnexplain.methods.influence_functions.kfac import solve_positive_definite

    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(80, 80, generator=g, dtype=torch.float64))
    matrix = (q * torch.logspace(0, -math.log10(condition), 80, dtype=torch.float64)) @ q.T
    rhs = torch.randn(80, 3, generator=g, dtype=torch.float64)
    reference = torch.cholesky_solve(rhs, torch.linalg.cholesky(matrix))
    calls = []
    float64_cholesky = torch.linalg.cholesky
    monkeypatch.setattr(torch.linalg, "cholesky", lambda m: calls.append(m.dtype) or float64_cholesky(m))
    got = solve_positive_definite(matrix, rhs)
    assert got.dtype == torch.float64

    def residual(x):
        return ((matrix @ x - rhs).norm() / rhs.norm()).item()

    if condition < 1e6:  # float32 factor + float64 refinement: no float64 factorisation at all
        assert calls == [] and residual(got) <= 1e-12
        torch.testing.assert_close(got, reference, rtol=1e-9, atol=1e-12)
    else:  # beyond float32: the refinement cannot converge, so the float64 Cholesky answers
        assert calls == [torch.float64] and residual(got) <= 10 * residual(reference) + 1e-15


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_symmetric_rank_update_takes_either_memory_order(dtype):
    from cnnexplain.methods.influence_functions.solvers import from_lower_triangle, symmetric_rank_update

    g = torch.Generator().manual_seed(0)
    rows = torch.randn(30, 7, generator=g, dtype=dtype)
    layouts = {"C order": rows, "Fortran order": rows.T.contiguous().T, "strided": torch.randn(30, 14, dtype=dtype)[:, ::2]}
    for name, r in layouts.items():
        h = torch.zeros(7, 7, dtype=dtype)
        symmetric_rank_update(h, r, 0.5)
        symmetric_rank_update(h, r, 0.5)  # accumulates in place
        torch.testing.assert_close(from_lower_triangle(h), r.T @ r, msg=name)
