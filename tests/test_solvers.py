"""Inverse-HVP solvers against a dense inverse, and their failure modes (which must be loud)."""

import pytest
import torch
from torch import nn

from cnnexplain.methods.influence_functions.hvp import BlockHessian, GradientGraph, ModelFunction
from cnnexplain.methods.influence_functions.solvers import (CGSolver, ConvergenceWarning, DivergenceError, ExactSolver, LissaSolver,
                                NotPositiveDefiniteError, SolverError, make_solver, max_relative_residual,
                                power_iteration)


class DenseOperator:
    """A matrix posing as a Hessian block (name, size, device, dtype, matvec, dense)."""

    def __init__(self, matrix, name="toy"):
        self.matrix, self.name = matrix, name
        self.size, self.device, self.dtype = matrix.shape[0], matrix.device, matrix.dtype

    def matvec(self, v):
        return v @ self.matrix.T

    def dense(self):
        return self.matrix


def spd(size, condition=100.0, negative=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(size, size, generator=g, dtype=torch.float64))
    eigenvalues = torch.logspace(0, torch.log10(torch.tensor(condition)).item(), size, dtype=torch.float64)
    eigenvalues[:negative] *= -1
    return (q * eigenvalues) @ q.T


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def net_blocks():
    """Hessian blocks of a small ReLU CNN in float64 at random weights (block Hessians are PSD there)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(18, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=g)
    fn = ModelFunction(model)
    graph = GradientGraph(fn, fn.blocks, x, y)  # cached reverse-over-reverse: fast repeated products
    return [BlockHessian(fn, b, x, y, graph=graph, vector_chunk=128) for b in fn.blocks]


@pytest.fixture(scope="module")
def blocks():
    ops = net_blocks()
    return [(op, DenseOperator(op.dense(), op.name)) for op in ops]  # dense once, reused by every solver


def test_exact_solver_matches_linalg_solve():
    a = spd(20)
    b = torch.randn(4, 20, dtype=torch.float64)
    x = ExactSolver().solve(DenseOperator(a), b, damping=0.5)
    torch.testing.assert_close(x, torch.linalg.solve(a + 0.5 * torch.eye(20, dtype=torch.float64), b.T).T)


@pytest.mark.parametrize("solver, threshold", [(CGSolver(rtol=1e-8), 0.999), (LissaSolver(rtol=1e-5), 0.99)])
def test_solvers_match_dense_inverse_on_every_block(blocks, solver, threshold):
    damping = 1e-3
    for op, dense_op in blocks:
        lam = torch.linalg.eigvalsh(dense_op.matrix)
        g = torch.Generator().manual_seed(2)
        rhs = torch.randn(5, op.size, generator=g, dtype=torch.float64)
        reference = ExactSolver().solve(dense_op, rhs, damping)
        # LiSSA's step count grows with the condition number, so give it a damping it can afford
        lam_damping = damping if solver.name == "cg" else 0.05 * lam.max().item()
        if solver.name == "lissa":
            reference = ExactSolver().solve(dense_op, rhs, lam_damping)
        approx = solver.solve(op, rhs, lam_damping)
        r = pearson(approx, reference)
        assert r >= threshold, f"{solver.name} on {op.name}: Pearson {r:.5f} < {threshold}"
    assert all(report.converged for report in solver.reports)


def test_power_iteration_finds_largest_eigenvalue():
    a = spd(30, condition=50.0)
    assert power_iteration(DenseOperator(a), iterations=500, rtol=1e-9) == pytest.approx(50.0, rel=1e-3)


def test_lissa_divergence_on_indefinite_block_names_layer_step_and_fix():
    op = DenseOperator(spd(10, negative=2), name="conv7")
    with pytest.raises(DivergenceError) as info:
        LissaSolver().solve(op, torch.ones(1, 10, dtype=torch.float64), damping=0.0)
    message = str(info.value)
    assert "conv7" in message and "at step" in message and "damping" in message and "scale" in message


def test_lissa_divergence_when_scale_too_small():
    op = DenseOperator(spd(10, condition=10.0), name="fc1")
    with pytest.raises(DivergenceError, match=r"fc1.*raise the scale"):
        LissaSolver(scale=1.0).solve(op, torch.ones(2, 10, dtype=torch.float64))


def test_lissa_nan_is_reported():
    class NanOperator(DenseOperator):
        def matvec(self, v):
            return v * float("nan")

    with pytest.raises(DivergenceError, match="NaN"):
        LissaSolver(scale=1.0).solve(NanOperator(spd(5), name="fc2"), torch.ones(1, 5, dtype=torch.float64))


def test_indefinite_block_raises_with_the_damping_that_fixes_it():
    op = DenseOperator(spd(12, negative=1), name="conv2")
    b = torch.randn(3, 12, dtype=torch.float64)
    with pytest.raises(NotPositiveDefiniteError, match=r"conv2.*set damping above 1\.0"):
        ExactSolver().solve(op, b)
    with pytest.raises(NotPositiveDefiniteError, match="conv2.*Raise damping above"):
        CGSolver().solve(op, b)
    # the error carries what it found as attributes: no caller needs to read the message
    with pytest.raises(NotPositiveDefiniteError) as exact_error:
        ExactSolver().solve(op, b, damping=0.25)
    e = exact_error.value
    assert e.block == "conv2" and e.damping == 0.25 and e.curvature == pytest.approx(-1.0)
    assert 1.0 <= e.needed_damping <= 1.0 + 1e-6
    with pytest.raises(NotPositiveDefiniteError) as cg_error:
        CGSolver().solve(op, b)
    assert cg_error.value.block == "conv2" and cg_error.value.curvature <= 0
    assert cg_error.value.needed_damping == pytest.approx(-cg_error.value.curvature)
    # damping past the negative eigenvalue (-1) makes it solvable, and the solvers agree
    x = ExactSolver().solve(op, b, damping=2.0)
    torch.testing.assert_close(CGSolver(rtol=1e-10).solve(op, b, damping=2.0), x)


def test_not_converged_warns_or_raises():
    op = DenseOperator(spd(40, condition=1e4), name="fc3")
    b = torch.randn(2, 40, dtype=torch.float64)
    with pytest.warns(ConvergenceWarning, match="fc3.*stopped after 3 iterations"):
        CGSolver(maxiter=3).solve(op, b)
    with pytest.raises(SolverError, match="fc3"):
        LissaSolver(maxiter=5, strict=True).solve(op, b)


def test_a_zero_right_hand_side_in_float32_reports_a_residual_not_nan():
    """A block whose test gradient vanishes: its relative residual 0/0 must read 0, not a NaN that every
    ``> rtol`` check passes as converged (a fixed floor of 1e-300 is 0 in float32)."""
    op = DenseOperator(spd(20, condition=10.0).float())
    b = torch.randn(2, 20, generator=torch.Generator().manual_seed(0))
    b[1] = 0.0
    for solver in (CGSolver(rtol=1e-5), LissaSolver(rtol=1e-5)):
        x = solver.solve(op, b, damping=0.1)
        assert torch.equal(x[1], torch.zeros(20))
        assert 0.0 <= solver.reports[-1].relative_error < 1e-3, solver.name
    assert max_relative_residual(op, torch.zeros_like(b), torch.zeros_like(b), 0.1) == 0.0
    assert max_relative_residual(op, x, b, 0.1) < 1e-3


def test_bad_arguments():
    op = DenseOperator(spd(4))
    with pytest.raises(ValueError, match=r"shape \(k, 4\)"):
        CGSolver().solve(op, torch.ones(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="damping"):
        CGSolver().solve(op, torch.ones(1, 4, dtype=torch.float64), damping=-1)
    with pytest.raises(ValueError, match="unknown solver 'arnoldi'"):
        make_solver("arnoldi")


def test_cg_solves_a_tiny_float32_right_hand_side_as_accurately_as_a_unit_one():
    """A confidently right test image has a gradient of norm ~1e-22: unscaled, ‖r‖² is subnormal in float32
    and CG's answer degrades without a warning (Pearson 0.992 here before each column was solved at unit
    norm)."""
    h = spd(50, condition=30.0)
    op = DenseOperator(h.float())
    b = torch.randn(2, 50, generator=torch.Generator().manual_seed(2))
    b[0] *= 1e-22
    x = CGSolver(rtol=1e-5).solve(op, b, damping=1e-3)
    exact = torch.linalg.solve(h + 1e-3 * torch.eye(50, dtype=torch.float64), b.double().T).T
    for i in range(2):
        assert pearson(x[i].double(), exact[i]) > 0.9999


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cholesky_solve_by_two_triangular_solves_equals_torchs(dtype):
    from cnnexplain.methods.influence_functions.solvers import cholesky_solve

    g = torch.Generator().manual_seed(0)
    m = torch.randn(50, 60, generator=g, dtype=torch.float64)
    factor = torch.linalg.cholesky(m @ m.T / 60 + 1e-2 * torch.eye(50, dtype=torch.float64)).to(dtype)
    for k in (1, 7):
        rhs = torch.randn(50, k, generator=g, dtype=torch.float64).to(dtype)
        torch.testing.assert_close(cholesky_solve(rhs, factor), torch.cholesky_solve(rhs, factor))
