"""CG preconditioned by the Woodbury inverse of a block's principal pseudo-gradient directions, against the
dense block and its inverse (woodbury_pcg module)."""

import pytest
import torch
from torch import nn

from cnnexplain.methods.influence_functions.hvp import (DenseBlock, ModelFunction, block_hessians_from_jacobians,
                                                        parameter_blocks, per_sample_grads)
from cnnexplain.methods.influence_functions.kfac import gauss_newton_cache, solve_blocks
from cnnexplain.methods.influence_functions.solvers import ConvergenceWarning, ExactSolver, SolverError
from cnnexplain.methods.influence_functions.woodbury_pcg import (PseudoGradientRowsBlock, TruncatedWoodbury,
                                                                 WoodburyPCGSolver, principal_directions)

DAMPING = 1e-3


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


@pytest.fixture(scope="module", params=["cnn", "mlp"])
def problem(request):
    """A small trained-looking CNN or MLP: 60 examples, 5 classes, blocks of 28–342 parameters; the second half
    of the examples is scaled up so that their softmax is confident and their pseudo-gradients light."""
    torch.manual_seed(0)
    if request.param == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3),
                              nn.ReLU(), nn.Flatten(), nn.Linear(16, 18), nn.ReLU(), nn.Linear(18, 5))
        side = 8
    else:
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 20), nn.ReLU(), nn.Linear(20, 12), nn.ReLU(),
                              nn.Linear(12, 5))
        side = 4
    model = model.double().eval()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(60, 1, side, side, generator=g, dtype=torch.float64)
    x[30:] *= 6.0
    with torch.no_grad():
        y = model(x).argmax(1)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    cache = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=25)
    grads = per_sample_grads(fn, x[:4], y[:4])
    return fn, x, y, dense, cache, grads


def _held_block(directions):
    """H as the directions hold it: (1/n) Σ D'D'ᵀ, from g'_ik a_iᵀ or from the rows F' (already over √n)."""
    if not directions.linear:
        return directions.rows.T @ directions.rows
    d = torch.einsum("ndo,ni->ndoi", directions.g, directions.a).reshape(-1, *directions.g.shape[2:],
                                                                         directions.a.shape[1])
    rows = directions.layout.from_matrix(d)
    return rows.T @ rows / directions.n


def test_the_rotation_leaves_the_block_unchanged_and_weighs_its_trace(problem):
    fn, x, y, dense, cache, _ = problem
    for h, op in zip(dense, cache):
        directions = principal_directions(op)
        torch.testing.assert_close(_held_block(directions), h, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(directions.weights.sum(), h.trace(), rtol=1e-9, atol=1e-12)
        assert len(directions.weights) == len(x) * 4  # C − 1 = 4 per example


@pytest.mark.parametrize("truncation", [0.0, 1.0, 100.0])
def test_preconditioned_spectrum_lies_in_one_to_one_plus_tau(problem, truncation):
    """M = H_kept + λI with 0 ⪯ H − H_kept ⪯ τλI: the eigenvalues of M⁻¹(H + λI) are in [1, 1 + τ]."""
    fn, x, y, dense, cache, _ = problem
    for h, op in zip(dense, cache):
        precondition = TruncatedWoodbury(principal_directions(op), DAMPING, truncation)
        assert precondition.dropped_curvature <= truncation * DAMPING * (1 + 1e-12)
        shifted = h + DAMPING * torch.eye(len(h), dtype=h.dtype)
        values = torch.linalg.eigvals(precondition(shifted)).real  # M⁻¹A column by column (A symmetric)
        assert values.min() >= 1 - 1e-6 and values.max() <= 1 + truncation + 1e-6, (op.name, values.aminmax())
        if truncation == 0.0:
            assert precondition.rank == min(len(precondition.directions.weights),
                                            int((precondition.directions.weights > 0).sum()))


def test_heavier_truncation_keeps_fewer_directions(problem):
    fn, x, y, dense, cache, _ = problem
    op = cache[-2]
    ranks = [TruncatedWoodbury(principal_directions(op), DAMPING, t).rank for t in (0.0, 1.0, 100.0)]
    assert ranks[0] > ranks[1] > ranks[2] > 0, ranks


@pytest.mark.parametrize("truncation", [0.0, 1.0, 100.0])
def test_woodbury_pcg_reaches_the_dense_inverse(problem, truncation):
    fn, x, y, dense, cache, grads = problem
    solver = WoodburyPCGSolver(rtol=1e-8, truncation=truncation)
    for block, h, op, g in zip(fn.blocks, dense, cache, grads):
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        got = solver.solve(op, g, DAMPING)
        report = solver.reports[-1]
        assert report.converged and report.relative_error <= 1e-7, report
        assert pearson(got, reference) >= 0.99999
        torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-6 * reference.abs().max().item())
        assert report.extra["rank"] <= report.extra["directions"] == len(x) * 4
        assert report.extra["dropped_over_damping"] <= truncation * (1 + 1e-12)
    iterations = [r.iterations for r in solver.reports]
    assert max(iterations) <= (1 if truncation == 0.0 else 30), iterations


def test_too_few_iterations_warn_or_raise(problem):
    fn, x, y, dense, cache, grads = problem
    op, g = cache[-2], grads[-2]
    with pytest.warns(ConvergenceWarning, match="lower truncation"):
        WoodburyPCGSolver(rtol=1e-12, maxiter=1, truncation=1e6).solve(op, g, DAMPING)
    with pytest.raises(SolverError, match="woodbury-pcg"):
        WoodburyPCGSolver(rtol=1e-12, maxiter=1, truncation=1e6, strict=True).solve(op, g, DAMPING)


def test_bad_input_is_named(problem):
    fn, x, y, dense, cache, grads = problem
    with pytest.raises(ValueError, match="damping"):
        WoodburyPCGSolver().solve(cache[0], grads[0], 0.0)
    with pytest.raises(ValueError, match="truncation"):
        WoodburyPCGSolver(truncation=-1.0)
    with pytest.raises(TypeError, match="cache_mb"):
        WoodburyPCGSolver().solve(DenseBlock(fn.blocks[0].name, dense[0]), grads[0], DAMPING)


def test_solve_blocks_auto_chooses_it_where_the_hessian_data_is_small(problem):
    """n·(C − 1) = 60 pseudo-gradient directions below the blocks' p: auto runs Woodbury-PCG (not the exact
    Woodbury solve) above dense_limit, reports the kept rank and reaches rtol."""
    fn, x, y, dense, _, grads = problem
    n = 15
    small = block_hessians_from_jacobians(fn, fn.blocks, x[:n], y[:n])
    solved, choices, _ = solve_blocks(fn, fn.blocks, x[:n], y[:n], grads, DAMPING, dense_limit=100, rtol=1e-6)
    wide = [i for i, b in enumerate(fn.blocks) if b.numel > 100]
    assert wide and all(choices[i].method == "woodbury-pcg" for i in wide), choices
    for i in wide:
        assert "rank" in choices[i].reason and "of 60" in choices[i].reason and choices[i].residual <= 1e-6
        reference = ExactSolver().solve(DenseBlock(fn.blocks[i].name, small[i]), grads[i], DAMPING)
        assert pearson(solved[i], reference) >= 0.99999


def test_rows_held_in_the_pass_are_the_block_and_solve_like_the_cache(problem):
    """gauss_newton_cache(rows=…) keeps each block as its pseudo-gradient rows over √n (PseudoGradientRowsBlock):
    the same H, the same principal directions as the cached factors give, and Woodbury-PCG on them reaches the
    dense inverse — also where every direction is dropped (τ huge: M = I/λ)."""
    fn, x, y, dense, cache, grads = problem
    held = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=25, rows=[True] * len(fn.blocks))
    for block, h, rows, op, g in zip(fn.blocks, dense, held, cache, grads):
        assert isinstance(rows, PseudoGradientRowsBlock) and rows.factor.shape == (len(x) * 4, block.numel)
        torch.testing.assert_close(rows.dense(), h, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(rows.matvec(g), g @ h, rtol=1e-9, atol=1e-12)
        directions = principal_directions(rows)
        assert not directions.linear  # rows, whatever the layer
        torch.testing.assert_close(_held_block(directions), h, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(directions.weights.sort().values, principal_directions(op).weights.sort().values,
                                   rtol=1e-9, atol=1e-14)
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        for truncation in (1.0, 1e12):
            solver = WoodburyPCGSolver(rtol=1e-8, truncation=truncation, maxiter=2000)  # τ huge: plain CG
            got = solver.solve(rows, g, DAMPING)
            assert solver.reports[-1].relative_error <= 1e-7 and pearson(got, reference) >= 0.99999
        assert solver.reports[-1].extra["rank"] == 0


def test_rows_and_dense_marks_are_checked(problem):
    fn, x, y, *_ = problem
    count = len(fn.blocks)
    with pytest.raises(ValueError, match="dense or as its rows"):
        gauss_newton_cache(fn, fn.blocks, x, y, dense=[True] * count, rows=[True] * count)
    with pytest.raises(ValueError, match="rows has 1 entries"):
        gauss_newton_cache(fn, fn.blocks, x, y, rows=[True])
    with pytest.raises(ValueError, match="do not split into 7 examples"):
        PseudoGradientRowsBlock("b", torch.zeros(60, 3), 7)
