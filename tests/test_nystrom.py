"""Randomized Nyström curvature and the CG it preconditions, against the dense block and its inverse."""

import pytest
import torch
from torch import nn

from cnnexplain.methods.influence_functions.hvp import (DenseBlock, ModelFunction, block_hessians_from_jacobians,
                                                        parameter_blocks, per_sample_grads)
from cnnexplain.methods.influence_functions.kfac import gauss_newton_cache
from cnnexplain.methods.influence_functions.nystrom import (IndefiniteSketchError, NystromPCGSolver,
                                                           NystromWhereItFitsSolver, nystrom_approximation,
                                                           nystrom_bytes)
from cnnexplain.methods.influence_functions.solvers import (ConvergenceWarning, ExactSolver,
                                                           NotPositiveDefiniteError, SolverError)

DAMPING = 1e-3


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def low_rank_psd(p=60, rank=12, seed=0, decay=1.0):
    """V diag(values) Vᵀ, the values 10^(−decay·j) for j = 0..rank−1."""
    g = torch.Generator().manual_seed(seed)
    v, _ = torch.linalg.qr(torch.randn(p, rank, generator=g, dtype=torch.float64))
    values = 10.0 ** (-decay * torch.arange(rank, dtype=torch.float64))
    return (v * values) @ v.T, values


def test_nystrom_is_exact_when_the_sketch_covers_the_range():
    h, values = low_rank_psd()
    approximation = nystrom_approximation(DenseBlock("h", h), DAMPING, rank=16, max_rank=16)
    reconstructed = (approximation.basis * approximation.eigenvalues) @ approximation.basis.T
    torch.testing.assert_close(reconstructed, h, rtol=0, atol=1e-10)
    torch.testing.assert_close(approximation.eigenvalues[:len(values)], values, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(approximation.basis.T @ approximation.basis, torch.eye(approximation.rank,
                                                                                        dtype=torch.float64))
    b = torch.randn(3, 60, dtype=torch.float64)
    exact = torch.linalg.solve(h + DAMPING * torch.eye(60, dtype=torch.float64), b.T).T
    torch.testing.assert_close(approximation.inverse_hvp(b, DAMPING), exact)


def test_rank_doubles_until_the_smallest_eigenvalue_falls_below_tolerance_times_damping():
    h, values = low_rank_psd(p=200, rank=200, decay=0.05)  # 10⁰ … 10⁻¹⁰, 20 values per decade
    for damping in (1e-2, 1e-4):
        approximation = nystrom_approximation(DenseBlock("h", h), damping, rank=8, tolerance=10.0)
        assert approximation.eigenvalues[-1] <= 10 * damping
        assert approximation.rank in (8, 16, 32, 64, 128, 200)
        # one doubling less had not reached it (the same seed: the first r/2 test vectors are the same)
        half = nystrom_approximation(DenseBlock("h", h), damping, rank=8, max_rank=approximation.rank // 2)
        assert half.eigenvalues[-1] > 10 * damping
        assert approximation.rank <= 4 * int((values > 10 * damping).sum())  # no more than a few × needed
    coarse = nystrom_approximation(DenseBlock("h", h), 1e-2, rank=8)
    fine = nystrom_approximation(DenseBlock("h", h), 1e-4, rank=8)
    assert coarse.rank < fine.rank
    assert nystrom_approximation(DenseBlock("h", h), 1e-4, rank=8, max_rank=24).rank == 24


@pytest.fixture(scope="module")
def trained_like_blocks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 4)).double().eval()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(120, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 4, (120,), generator=g)
    fn = ModelFunction(model, parameter_blocks(model, example_input=x[:1]))
    dense = block_hessians_from_jacobians(fn, fn.blocks, x, y)
    cache = gauss_newton_cache(fn, fn.blocks, x, y, batch_size=50)
    return fn, dense, cache, per_sample_grads(fn, x[:5], y[:5])


def test_nystrom_pcg_reaches_the_dense_inverse(trained_like_blocks):
    fn, dense, cache, grads = trained_like_blocks
    solver = NystromPCGSolver(rtol=1e-6, rank=4)
    for block, h, c, g in zip(fn.blocks, dense, cache, grads):
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        r = pearson(solver.solve(c, g, DAMPING), reference)
        report = solver.reports[-1]
        assert r >= 0.999, f"{block.name}: Pearson {r:.5f}"
        assert report.relative_error <= 1e-5 and report.converged
        assert report.iterations <= 40, f"{block.name}: {report.iterations} iterations"
        assert report.extra["smallest_over_damping"] <= 10 or report.extra["rank"] == block.numel
    # the approximation is built once per block and reused by the next right-hand side
    products = sum(a.products for a in solver.approximations.values())
    solver.solve(cache[1], grads[1], DAMPING)
    assert sum(a.products for a in solver.approximations.values()) == products


def test_bad_input_is_refused_with_the_reason():
    h, _ = low_rank_psd()
    op = DenseBlock("h", h)
    with pytest.raises(ValueError, match="damping"):
        nystrom_approximation(op, 0.0)
    with pytest.raises(ValueError, match="damping"):
        NystromPCGSolver().solve(op, torch.ones(60, dtype=torch.float64), 0.0)
    with pytest.raises(ValueError, match="rank"):
        nystrom_approximation(op, DAMPING, rank=0)
    indefinite = DenseBlock("indefinite", torch.diag(torch.linspace(-1, 1, 60, dtype=torch.float64)))
    with pytest.raises(ValueError, match="positive"):
        nystrom_approximation(indefinite, DAMPING, rank=60)


def test_too_few_iterations_warn_or_raise():
    h, _ = low_rank_psd(p=200, rank=200, decay=0.05)
    b = torch.randn(2, 200, dtype=torch.float64)
    with pytest.warns(ConvergenceWarning, match="maxiter"):
        NystromPCGSolver(rtol=1e-12, maxiter=1, rank=4, max_rank=4).solve(DenseBlock("h", h), b, 1e-6)
    with pytest.raises(SolverError):
        NystromPCGSolver(rtol=1e-12, maxiter=1, rank=4, max_rank=4, strict=True).solve(DenseBlock("h", h), b, 1e-6)


def test_tiny_right_hand_sides_in_float32_are_solved_not_stopped():
    """A confidently right test image has a gradient of norm ~1e-19: in float32 its CG curvature pᵀ(H + λI)p
    would underflow to 0 unless each column is solved at unit norm."""
    h, _ = low_rank_psd(p=80, rank=80, decay=0.08)
    op = DenseBlock("h", h.float())
    b = torch.randn(3, 80, generator=torch.Generator().manual_seed(1))
    b[0] *= 1e-19
    b[2] = 0.0
    x = NystromPCGSolver(rtol=1e-4, rank=8, max_rank=16).solve(op, b, DAMPING)
    exact = torch.linalg.solve(h + DAMPING * torch.eye(80, dtype=torch.float64), b.double().T).T
    assert pearson(x[0].double(), exact[0]) > 0.999 and pearson(x[1].double(), exact[1]) > 0.999
    assert torch.equal(x[2], torch.zeros(80))


def test_nystrom_where_it_fits_routes_each_block_by_the_memory_of_its_factors(trained_like_blocks):
    """The paper profile's solver: Nyström-PCG on blocks whose factors fit in max_mb, plain CG on the others —
    both reach the dense inverse, and each report says which ran and why."""
    fn, dense, cache, grads = trained_like_blocks
    sizes = sorted(b.numel for b in fn.blocks)
    limit_mb = nystrom_bytes(sizes[len(sizes) // 2], 256) / 2 ** 20  # the smaller half fits
    solver = NystromWhereItFitsSolver(rtol=1e-6, max_mb=limit_mb)
    for block, h, c, g in zip(fn.blocks, dense, cache, grads):
        reference = ExactSolver().solve(DenseBlock(block.name, h), g, DAMPING)
        r = pearson(solver.solve(c, g, DAMPING), reference)
        report = solver.reports[-1]
        fits = nystrom_bytes(block.numel, 256) / 2 ** 20 <= limit_mb
        assert report.solver == ("nystrom" if fits else "cg"), (block.numel, report)
        assert ("plain CG" in report.extra["why"]) != fits
        assert r >= 0.999 and report.converged, (block.name, r, report)
    assert {r.solver for r in solver.reports} == {"nystrom", "cg"}
    with pytest.raises(ValueError, match="max_mb"):
        NystromWhereItFitsSolver(max_mb=0)


def test_nystrom_where_it_fits_hands_an_indefinite_block_to_cg():
    """H not positive semi-definite on the sketch: CG takes the block, and meets the negative curvature with the
    NotPositiveDefiniteError that damping="auto" raises λ from (no damping repairs a Nyström sketch of H)."""
    indefinite = DenseBlock("indefinite", torch.diag(torch.linspace(-1, 1, 60, dtype=torch.float64)))
    with pytest.raises(IndefiniteSketchError):
        nystrom_approximation(indefinite, DAMPING, rank=60)
    solver = NystromWhereItFitsSolver(rtol=1e-10)
    with pytest.raises(NotPositiveDefiniteError):
        solver.solve(indefinite, torch.ones(60, dtype=torch.float64), DAMPING)
    x = solver.solve(indefinite, torch.ones(60, dtype=torch.float64), 1.5)  # H + 1.5 I is positive definite
    assert solver.reports[-1].solver == "cg" and "plain CG instead" in solver.reports[-1].extra["why"]
    assert "indefinite" in solver.indefinite  # remembered: a later solve (a raised λ) goes to CG without a sketch
    torch.testing.assert_close(x[0], 1 / (torch.linspace(-1, 1, 60, dtype=torch.float64) + 1.5), rtol=1e-4, atol=0)
