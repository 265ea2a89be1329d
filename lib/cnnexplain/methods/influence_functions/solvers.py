"""Inverse Hessian-vector product solvers: X = (H + λI)⁻¹ B for one parameter block at a time.

Influence functions (Koh & Liang 2017; Aamir et al. 2023 Eq. 3–6) need H⁻¹∇L. Each solver here takes a
Hessian operator (anything with ``name``, ``size``, ``device``, ``dtype``, ``matvec(V)`` and, for :class:`ExactSolver`,
``dense()`` — e.g. :class:`cnnexplain.methods.influence_functions.hvp.BlockHessian`), right-hand sides ``B`` of shape ``(k, p)`` and
a damping λ ≥ 0, and returns ``X`` of the same shape:

- :class:`ExactSolver` — dense eigendecomposition of the block (small blocks; the reference).
- :class:`WoodburySolver` — exact solve for a low-rank block H = FᵀF by the Woodbury identity.
- :class:`CGSolver` — conjugate gradient on the k right-hand sides at once.
- :class:`LissaSolver` — the LiSSA / Neumann-series recursion of Agarwal et al. 2017 as used by Koh &
  Liang, h ← b + (I − (H + λI)/s) h, x = h/s, with the scale s chosen automatically from a power-iteration
  estimate of the largest eigenvalue, a stopping rule on the relative change, and divergence / NaN
  detection that raises :class:`DivergenceError` naming the block, the step and what to change.

Damping and non-convexity: a trained deep net's Hessian need not be positive definite (the global one
usually is not). The solvers never return garbage silently: :class:`ExactSolver` and :class:`CGSolver`
raise :class:`NotPositiveDefiniteError` (with the smallest eigenvalue or curvature found and the damping
that would fix it) and LiSSA raises :class:`DivergenceError`. The documented remedy is damping λ, which
solves (H + λI)X = B; with an L2 weight decay w in the training objective (1/n)ΣL + (w/2)‖θ‖², λ = w is
exactly the regulariser's curvature. Solvers that stop before their tolerance issue a
:class:`ConvergenceWarning` (or raise with ``strict=True``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch


class SolverError(RuntimeError):
    """An inverse-HVP solver could not produce a trustworthy answer; the message says what to change."""


class NotPositiveDefiniteError(SolverError):
    """(H + λI) is not positive definite for a block: raise the damping λ.

    Carries what was found as attributes, so callers choose a damping without reading the message:
    ``block`` (its name), ``damping`` (the λ tried), ``curvature`` (the smallest eigenvalue of H, or the
    Rayleigh quotient of H along CG's offending direction) and ``needed_damping`` (the smallest λ that
    would offset it: H may have more negative curvature elsewhere when it comes from CG)."""

    def __init__(self, message: str, *, block: str = "", damping: float = 0.0, curvature: float = float("nan"),
                 needed_damping: float = float("nan")):
        super().__init__(message)
        self.block, self.damping, self.curvature, self.needed_damping = block, damping, curvature, needed_damping


class DivergenceError(SolverError):
    """LiSSA's recursion diverged or produced NaN/inf: raise the scale or the damping."""


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration limit before reaching its tolerance."""


@dataclass
class SolveReport:
    """What one solve did: the block, iterations, final relative residual/change, and solver extras."""

    block: str
    solver: str
    iterations: int = 0
    relative_error: float = 0.0
    converged: bool = True
    extra: dict = field(default_factory=dict)


def _as_matrix(rhs: torch.Tensor, size: int, name: str) -> torch.Tensor:
    if rhs.dim() == 1:
        rhs = rhs.unsqueeze(0)
    if rhs.dim() != 2 or rhs.shape[1] != size:
        raise ValueError(f"block {name!r}: right-hand sides must have shape (k, {size}), got {tuple(rhs.shape)}")
    return rhs


def _check_damping(damping: float) -> float:
    damping = float(damping)
    if not math.isfinite(damping) or damping < 0:
        raise ValueError(f"damping must be a finite number >= 0, got {damping}")
    return damping


class Solver:
    """Base class: ``solve(operator, rhs, damping) -> X`` with (H + λI) X = rhs row by row."""

    name = "solver"

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.reports: list[SolveReport] = []

    def _not_converged(self, report: SolveReport, advice: str, stacklevel: int = 3) -> None:
        report.converged = False
        message = (f"{self.name} on block {report.block!r} stopped after {report.iterations} iterations with "
                   f"relative error {report.relative_error:.2e}; {advice}")
        if self.strict:
            raise SolverError(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)

    def _positively_damped(self, operator, rhs: torch.Tensor, damping: float) -> tuple[torch.Tensor, float]:
        """The right-hand sides as a (k, p) matrix, and λ checked > 0: what a solver whose preconditioner is
        built on H + λI (Nyström, Woodbury on the principal directions) needs."""
        damping = _check_damping(damping)
        b = _as_matrix(rhs, operator.size, operator.name)
        if damping <= 0:
            raise ValueError(f"block {operator.name!r}: {type(self).__name__} needs damping λ > 0 (pass e.g. 1e-3)")
        return b, damping

    def _preconditioned_solve(self, operator, b: torch.Tensor, damping: float, precondition, start: torch.Tensor,
                              rtol: float, maxiter: int, extra: dict, advice: str, exact=None) -> torch.Tensor:
        """:func:`preconditioned_cg` on ``exact`` (default ``operator``: the same block H, e.g. held another way),
        then what every preconditioned solver reports: the residual measured by one more product, a
        :class:`SolveReport` with ``extra`` plus the recursive residual and the columns started from zero, and a
        convergence warning (``advice`` says what to change) where either residual misses ``rtol``."""
        exact = operator if exact is None else exact
        x, iterations, r, from_zero = preconditioned_cg(exact, b, damping, precondition, rtol, maxiter, start=start)
        recursive = relative_norms(r, b).max().item() if len(b) else 0.0
        measured = max_relative_residual(exact, x, b, damping)
        report = SolveReport(operator.name, self.name, iterations, measured,
                             extra={**extra, "recursive_residual": recursive, "started_from_zero": from_zero})
        self.reports.append(report)
        if recursive > rtol or measured > 10 * rtol:
            self._not_converged(report, advice, stacklevel=4)
        return x

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def _symmetric_eig(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.linalg.eigh, falling back to LAPACK's relatively robust driver (scipy ``evr``) when the
    divide-and-conquer driver fails, as it does on low-rank blocks with many repeated zero eigenvalues."""
    try:
        return torch.linalg.eigh(matrix)
    except torch.linalg.LinAlgError:
        import scipy.linalg

        values, vectors = scipy.linalg.eigh(matrix.cpu().numpy(), driver="evr")
        return (torch.from_numpy(values).to(matrix.device), torch.from_numpy(vectors).to(matrix.device))


def blas_threads():
    """SciPy's BLAS (used by :func:`symmetric_rank_update`) limited to torch's thread count: OpenBLAS would
    otherwise start one thread per core beside torch's."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=torch.get_num_threads(), user_api="blas")


def symmetric_rank_update(h: torch.Tensor, rows: torch.Tensor, alpha: float = 1.0) -> None:
    """h += alpha · rowsᵀ rows. On the CPU by BLAS syrk (half the multiply-adds of a GEMM), which writes only
    h's lower triangle: read h through :func:`from_lower_triangle`. ``rows`` may be C- or Fortran-ordered
    (a conv's im2col patches come as the transpose of a C-ordered array); neither is copied. Elsewhere a
    full GEMM."""
    if h.numel() == 0 or rows.numel() == 0:  # nothing to add (f2py refuses empty arrays)
        return
    if h.device.type != "cpu" or h.dtype not in (torch.float32, torch.float64) or not h.is_contiguous():
        h.addmm_(rows.T, rows, alpha=alpha)
        return
    from scipy.linalg import blas

    syrk = blas.ssyrk if h.dtype == torch.float32 else blas.dsyrk
    rows = rows.detach().to(h.dtype)
    if rows.T.is_contiguous():  # Fortran order: syrk forms aᵀa from it as it is
        a, trans = rows.numpy(), 1
    else:
        a, trans = rows.contiguous().numpy().T, 0  # the transpose of a C-ordered array is Fortran-ordered
    target = h.numpy().T  # the same memory, Fortran order: its upper triangle is h's lower one
    result = syrk(alpha, a, beta=1.0, c=target, trans=trans, lower=0, overwrite_c=1)
    if not np.shares_memory(result, target):  # f2py copied instead of writing in place
        h.copy_(torch.from_numpy(np.ascontiguousarray(result.T)))


def from_lower_triangle(h: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose lower triangle :func:`symmetric_rank_update` kept."""
    full = torch.tril(h)
    full += torch.tril(h, -1).T
    return full


def cholesky_solve(rhs: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """A⁻¹ rhs from the lower Cholesky factor L of A (A = LLᵀ), rhs of shape (p, k): two triangular solves.
    The same numbers as ``torch.cholesky_solve``, which on the CPU build here took 4× as long (p = 2,416 and
    4,500, k = 10: 62 and 223 ms against 17 and 58 ms in float64, 97 against 27 ms in float32)."""
    inner = torch.linalg.solve_triangular(factor, rhs, upper=False)
    return torch.linalg.solve_triangular(factor.T, inner, upper=True)


def relative_norms(r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖r_i‖/‖b_i‖ per row (right-hand side), 0 where both are 0. The floor is the dtype's smallest normal
    number: a fixed 1e-300 is 0 in float32, and a zero right-hand side (a block whose test gradient vanishes)
    would report the residual 0/0 = NaN, which every ``> rtol`` check reads as converged."""
    return r.norm(dim=1) / b.norm(dim=1).clamp_min(torch.finfo(b.dtype).tiny)


def max_relative_residual(operator, x: torch.Tensor, b: torch.Tensor, damping: float) -> float:
    """max_i ‖(H + λI)x_i − b_i‖/‖b_i‖ with one product of ``operator`` (0 for no right-hand sides)."""
    if not len(b):
        return 0.0
    return relative_norms(operator.matvec(x) + damping * x - b, b).max().item()


class ExactSolver(Solver):
    """Dense (H + λI)⁻¹ by a symmetric eigendecomposition of the block (the reference for small blocks).

    Raises :class:`NotPositiveDefiniteError` when the smallest eigenvalue of H + λI is not above
    ``min_eigenvalue`` (relative to the largest), naming the damping that would make it so.
    """

    name = "exact"

    def __init__(self, min_eigenvalue: float = 1e-10, strict: bool = False):
        super().__init__(strict)
        self.min_eigenvalue = min_eigenvalue

    def _cholesky(self, operator, damping: float):
        """(H, the Cholesky factor of H + λI in float64), the factor None when it fails or has a tiny pivot."""
        hessian = operator.dense()
        shifted = hessian.to(torch.float64, copy=True)  # + λI on the diagonal: an eye of p² numbers cost as much as
        shifted.diagonal().add_(damping)                # the Cholesky itself (p = 2,416)
        factor, info = torch.linalg.cholesky_ex(shifted)
        if info.item() == 0:
            diagonal = factor.diagonal() ** 2  # bounds: a tiny pivot means a nearly singular H + λI
            if diagonal.min() > self.min_eigenvalue * diagonal.max():
                self.reports.append(SolveReport(operator.name, self.name, extra={"method": "cholesky"}))
                return hessian, factor
        return hessian, None

    def _eigh_inverse(self, operator, hessian: torch.Tensor, damping: float) -> torch.Tensor:
        # float64 eigendecomposition: float32 eigh fails on the ill-conditioned, low-rank blocks of real nets
        eigenvalues, vectors = _symmetric_eig(hessian.double())
        shifted_values = eigenvalues + damping
        floor = self.min_eigenvalue * max(shifted_values.abs().max().item(), 1e-30)
        if shifted_values.min().item() <= floor:
            needed = max(-eigenvalues.min().item(), 0) + floor
            raise NotPositiveDefiniteError(
                f"block {operator.name!r}: H + λI is not positive definite (smallest eigenvalue of H is "
                f"{eigenvalues.min().item():.3e}, damping λ={damping:g}); set damping above "
                f"{needed:.3e} (e.g. the training weight decay, or a small fraction of the largest eigenvalue "
                f"{eigenvalues.max().item():.3e})", block=operator.name, damping=damping,
                curvature=eigenvalues.min().item(), needed_damping=needed)
        self.reports.append(SolveReport(operator.name, self.name, extra={
            "method": "eigh", "min_eigenvalue": eigenvalues.min().item(), "max_eigenvalue": eigenvalues.max().item()}))
        return ((vectors / shifted_values) @ vectors.T).to(hessian.dtype)

    def inverse(self, operator, damping: float = 0.0) -> torch.Tensor:
        """(H + λI)⁻¹ in float64: a Cholesky factorisation when it succeeds (proof of positive definiteness,
        and fast), else an eigendecomposition that names the smallest eigenvalue in the error."""
        damping = _check_damping(damping)
        hessian, factor = self._cholesky(operator, damping)
        if factor is None:
            return self._eigh_inverse(operator, hessian, damping)
        return torch.cholesky_inverse(factor).to(hessian.dtype)

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        rhs = _as_matrix(rhs, operator.size, operator.name)
        damping = _check_damping(damping)
        hessian, factor = self._cholesky(operator, damping)
        if factor is None:
            return rhs @ self._eigh_inverse(operator, hessian, damping).to(rhs.dtype)  # inverse is symmetric
        if len(rhs) < operator.size // 4:  # few right-hand sides: two triangular solves, no p×p inverse
            return cholesky_solve(rhs.double().T, factor).T.to(rhs.dtype)
        return rhs @ torch.cholesky_inverse(factor).to(hessian.dtype).to(rhs.dtype)  # as inverse() gives it


class WoodburySolver(Solver):
    """Exact (H + λI)⁻¹B for a low-rank block H = FᵀF (``operator.factor``, shape (r, p), e.g.
    :class:`cnnexplain.methods.influence_functions.hvp.FactoredBlock`) by the Woodbury identity

        (FᵀF + λI)⁻¹ b = (b − Fᵀ (λI_r + FFᵀ)⁻¹ F b) / λ,

    one r×r Cholesky in float64 instead of a p×p one: exact for any block size as long as λ > 0 (FᵀF is
    positive semi-definite, so no damping raise is ever needed). The report holds the relative residual
    ‖(H + λI)x − b‖/‖b‖ (max over the right-hand sides) computed with the operator's own matvec."""

    name = "woodbury"

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        damping = _check_damping(damping)
        if damping <= 0:
            raise ValueError(f"block {operator.name!r}: the Woodbury solve needs damping λ > 0 (a low-rank H is "
                             "singular); pass e.g. damping=1e-2")
        factor = getattr(operator, "factor", None)
        if factor is None:
            raise TypeError(f"block {operator.name!r}: WoodburySolver needs an operator with a low-rank "
                            "'factor' (cnnexplain.methods.influence_functions.hvp.FactoredBlock); use 'exact' or 'cg' for other operators")
        rhs = _as_matrix(rhs, operator.size, operator.name)
        f = factor.double()
        b = rhs.double()
        kernel = f @ f.T
        kernel.diagonal().add_(damping)
        chol = torch.linalg.cholesky(kernel)
        projected = cholesky_solve((b @ f.T).T, chol).T  # (k, r)
        x = (b - projected @ f) / damping
        residual = (x @ f.T) @ f + damping * x - b
        rel = relative_norms(residual, b).max().item() if len(b) else 0.0
        self.reports.append(SolveReport(operator.name, self.name, iterations=0, relative_error=rel,
                                        extra={"method": "woodbury", "rank": int(f.shape[0])}))
        return x.to(rhs.dtype)


def woodbury_grid(factors, rhs, dampings, global_damping: float | None = None, check_rows: int | None = 8):
    """Exact block-diagonal inverse-HVPs for several damping values λ at once, and optionally the global one.

    ``factors[l]`` is block l's low-rank factor F_l (r × p_l) with H_l = F_lᵀF_l, ``rhs[l]`` the right-hand
    sides of block l (k × p_l, e.g. the test gradients). For each λ the Woodbury identity
    (F_lᵀF_l + λI)⁻¹b = (b − F_lᵀ(λI_r + F_lF_lᵀ)⁻¹F_l b)/λ is applied: the r × r kernel F_lF_lᵀ and F_l b, the
    parts that grow with p_l, are formed ONCE per block and only the r × r Cholesky is repeated per λ.

    When the factors of all blocks share their rows (the Gauss-Newton factors of
    :func:`cnnexplain.methods.influence_functions.hvp.gauss_newton_factors`: one row per example and class),
    the global factor is their column concatenation F = [F_1 … F_L], so the global kernel is Σ_l F_lF_lᵀ and
    F b = Σ_l F_l b_l: ``global_damping`` adds Koh & Liang's global (all-parameter, Gauss-Newton) solve at
    that λ for the price of one more r × r Cholesky, returned split per block.

    Returns ``(solutions, global_solution, residuals)``: ``solutions[i][l]`` for ``dampings[i]``;
    ``global_solution[l]`` (None without ``global_damping``); ``residuals[i][l]`` the relative residual
    max ‖(H_l + λI)x − b‖/‖b‖ of each solve, computed with the factors (round-off level when exact) on the
    first ``check_rows`` right-hand sides (None: all; the check costs twice the solve)."""
    dampings = [_check_damping(d) for d in dampings]
    if not dampings or min(dampings) <= 0 or (global_damping is not None and global_damping <= 0):
        raise ValueError(f"the Woodbury solve needs every damping λ > 0, got {dampings} (global {global_damping})")
    if len(factors) != len(rhs):
        raise ValueError(f"{len(factors)} factors but {len(rhs)} right-hand sides")
    rows = {f.shape[0] for f in factors}
    if global_damping is not None and len(rows) != 1:
        raise ValueError(f"a global solve needs factors with the same rows, got row counts {sorted(rows)}")
    solutions = [[None] * len(factors) for _ in dampings]
    residuals = [[0.0] * len(factors) for _ in dampings]
    kernel_sum = fb_sum = None
    for l, (factor, b) in enumerate(zip(factors, rhs)):
        f, b = factor.double(), b.double()
        if b.dim() != 2 or b.shape[1] != f.shape[1]:
            raise ValueError(f"block {l}: right-hand sides of shape {tuple(b.shape)} do not match a factor with "
                             f"{f.shape[1]} columns")
        kernel, fb = f @ f.T, f @ b.T  # (r, r), (r, k)
        eye = torch.eye(len(kernel), dtype=kernel.dtype)
        for i, damping in enumerate(dampings):
            x = (b - cholesky_solve(fb, torch.linalg.cholesky(kernel + damping * eye)).T @ f) / damping
            xs, bs = x[:check_rows], b[:check_rows]
            r = (xs @ f.T) @ f + damping * xs - bs
            residuals[i][l] = relative_norms(r, bs).max().item() if len(bs) else 0.0
            solutions[i][l] = x.to(rhs[l].dtype)
        if global_damping is not None:
            kernel_sum = kernel if kernel_sum is None else kernel_sum + kernel
            fb_sum = fb if fb_sum is None else fb_sum + fb
    global_solution = None
    if global_damping is not None:
        eye = torch.eye(len(kernel_sum), dtype=kernel_sum.dtype)
        y = cholesky_solve(fb_sum, torch.linalg.cholesky(kernel_sum + global_damping * eye)).T  # (k, r)
        global_solution = [((b.double() - y @ f.double()) / global_damping).to(b.dtype) for f, b in zip(factors, rhs)]
    return solutions, global_solution, residuals


class CGSolver(Solver):
    """Conjugate gradient on all k right-hand sides at once (one batched HVP per iteration).

    Stops when every column's residual ‖b − (H+λI)x‖ ≤ ``rtol``·‖b‖, or after ``maxiter`` iterations
    (default: twice the block size — CG needs about the block size in exact arithmetic — capped at 1000) with a
    :class:`ConvergenceWarning`. A direction of non-positive curvature raises
    :class:`NotPositiveDefiniteError`: the block needs damping.
    """

    name = "cg"

    def __init__(self, rtol: float = 1e-6, maxiter: int | None = None, strict: bool = False):
        super().__init__(strict)
        self.rtol, self.maxiter = rtol, maxiter

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        damping = _check_damping(damping)
        b = _as_matrix(rhs, operator.size, operator.name)
        scale = _column_norms(b)
        b = b / scale  # each column at unit norm, the answer scaled back below: relative residuals are unchanged
        maxiter = self.maxiter or min(2 * operator.size + 10, 1000)
        x = torch.zeros_like(b)
        r = b.clone()
        p = r.clone()
        rr = (r * r).sum(1)
        b_norm = b.norm(dim=1).clamp_min(torch.finfo(b.dtype).tiny)  # see relative_norms
        active = rr.sqrt() > self.rtol * b_norm
        iterations = 0
        while active.any() and iterations < maxiter:
            iterations += 1
            ap = operator.matvec(p[active]) + damping * p[active]
            pap = (p[active] * ap).sum(1)
            if not torch.all(pap > 0):
                # Rayleigh quotient of H alone along the offending direction
                curvature = (pap / (p[active] * p[active]).sum(1)).min().item() - damping
                raise NotPositiveDefiniteError(
                    f"block {operator.name!r}: conjugate gradient met a direction where H has curvature "
                    f"{curvature:.3e} at iteration {iterations}, not offset by the damping λ={damping:g}: H + λI is "
                    f"not positive definite. Raise damping above {-curvature:.3e} (H may have more negative "
                    "curvature elsewhere; ExactSolver reports the smallest eigenvalue on small blocks), or "
                    "train closer to a minimum", block=operator.name, damping=damping, curvature=curvature,
                    needed_damping=max(-curvature, 0.0))
            alpha = rr[active] / pap
            idx = active.nonzero().squeeze(1)
            x[idx] += alpha[:, None] * p[idx]
            r[idx] -= alpha[:, None] * ap
            rr_new = (r[idx] * r[idx]).sum(1)
            beta = rr_new / rr[idx]
            p[idx] = r[idx] + beta[:, None] * p[idx]
            rr[idx] = rr_new
            active = rr.sqrt() > self.rtol * b_norm
        report = SolveReport(operator.name, self.name, iterations,
                             (rr.sqrt() / b_norm).max().item())
        self.reports.append(report)
        if active.any():
            self._not_converged(report, f"raise maxiter (now {maxiter}) or damping (now {damping:g}), "
                                        "or loosen rtol")
        return x * scale


def _column_norms(b: torch.Tensor) -> torch.Tensor:
    """‖b_i‖ as a (k, 1) column, 1 where b_i = 0: the CG loops solve for b_i/‖b_i‖ and scale the answer back
    (exact for a linear system), since a test gradient of norm 1e-19 (a confidently right prediction) would
    otherwise drive pᵀ(H + λI)p and ‖r‖² below float32's smallest normal number."""
    norms = b.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, norms, torch.ones_like(norms))


def preconditioned_cg(operator, b: torch.Tensor, damping: float, precondition, rtol: float, maxiter: int,
                      start: torch.Tensor | None = None) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """Conjugate gradient on (H + λI)X = B, all k columns at once, with the preconditioner
    ``precondition(R) ≈ (H + λI)⁻¹R`` (symmetric positive definite). ``start``: a first guess X₀ (e.g. the
    preconditioner's own answer); columns where it has a larger residual than X = 0 start from 0 instead.
    Returns (X, iterations, the recursive residual R = B − (H + λI)X as CG updated it, the number of columns
    started from 0). Non-positive curvature of H + λI raises :class:`NotPositiveDefiniteError`.

    Each column is solved at unit norm (see :func:`_column_norms`)."""
    scale = _column_norms(b)
    x, iterations, r, started_from_zero = _unit_preconditioned_cg(
        operator, b / scale, damping, precondition, rtol, maxiter, None if start is None else start / scale)
    return x * scale, iterations, r * scale, started_from_zero


def _unit_preconditioned_cg(operator, b, damping, precondition, rtol, maxiter, start):
    b_norm = b.norm(dim=1).clamp_min(torch.finfo(b.dtype).tiny)  # see relative_norms
    if start is None:
        x, r, worse = torch.zeros_like(b), b.clone(), torch.zeros(len(b), dtype=torch.bool, device=b.device)
    else:
        x = start.clone()
        r = b - (operator.matvec(x) + damping * x)
        worse = r.norm(dim=1) > b_norm  # a poor preconditioner can overshoot: start those columns from 0
        x[worse], r[worse] = 0.0, b[worse]
    active = r.norm(dim=1) > rtol * b_norm
    p, rz = torch.zeros_like(r), torch.ones_like(b_norm)  # search directions of the columns still to solve
    if active.any():
        idx = active.nonzero().squeeze(1)
        p[idx] = precondition(r[idx])
        rz[idx] = (r[idx] * p[idx]).sum(1)
    iterations = 0
    while active.any() and iterations < maxiter:
        iterations += 1
        idx = active.nonzero().squeeze(1)
        ap = operator.matvec(p[idx]) + damping * p[idx]
        pap = (p[idx] * ap).sum(1)
        if not torch.all(pap > 0):
            curvature = (pap / (p[idx] * p[idx]).sum(1)).min().item() - damping
            raise NotPositiveDefiniteError(
                f"block {operator.name!r}: preconditioned CG met curvature {curvature:.3e} at iteration "
                f"{iterations}, not offset by the damping λ={damping:g}; raise damping above {-curvature:.3e}",
                block=operator.name, damping=damping, curvature=curvature, needed_damping=-curvature)
        alpha = rz[idx] / pap
        x[idx] += alpha[:, None] * p[idx]
        r[idx] -= alpha[:, None] * ap
        active = r.norm(dim=1) > rtol * b_norm
        idx = idx[active[idx]]  # the next direction only where it will be used: a preconditioner call is a solve
        if len(idx) == 0 or iterations == maxiter:
            break
        z_new = precondition(r[idx])
        rz_new = (r[idx] * z_new).sum(1)
        p[idx] = z_new + (rz_new / rz[idx])[:, None] * p[idx]
        rz[idx] = rz_new
    return x, iterations, r, int(worse.sum())


def power_iteration(operator, iterations: int = 100, seed: int = 0, rtol: float = 1e-5) -> float:
    """Estimate of the largest-magnitude eigenvalue of the operator (Rayleigh quotient of power iteration)."""
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(operator.size, generator=generator, dtype=torch.float64)
    v = (v / v.norm()).to(operator.device, operator.dtype)
    estimate = 0.0
    for _ in range(iterations):
        hv = operator.matvec(v.unsqueeze(0))[0]
        new = torch.dot(v, hv).item()
        norm = hv.norm()
        if not torch.isfinite(norm):
            raise DivergenceError(f"block {operator.name!r}: the Hessian-vector product is not finite; "
                                  "check the model and data for NaN/inf")
        if norm == 0:
            return 0.0
        v = hv / norm
        if abs(new - estimate) <= rtol * abs(new):
            return new
        estimate = new
    return estimate


class LissaSolver(Solver):
    """LiSSA (Agarwal et al. 2017; Koh & Liang 2017): x = h/s with h ← b + (I − (H + λI)/s) h.

    The recursion is a Neumann series for s(H + λI)⁻¹ and converges iff every eigenvalue of (H + λI)/s
    lies in (0, 2). ``scale=None`` sets s = ``scale_factor``·(λ_max + λ) from a power-iteration estimate
    λ_max of the block's largest eigenvalue (the default factor 0.75 leaves a 50 % margin against an
    underestimate while converging faster than s = λ_max). Each iteration multiplies by the block's Hessian
    over the whole Hessian data (deterministic LiSSA; pass a subsample as Hessian data for the stochastic
    flavour). Stops when the relative change ‖h_{j+1} − h_j‖/‖h_{j+1}‖ < ``rtol`` for every column.

    Divergence: when H + λI is positive definite and s is large enough, the increments ‖h_{j+1} − h_j‖
    never grow. If they grow ``divergence_factor``-fold over their smallest value, or turn NaN/inf, a
    :class:`DivergenceError` names the block, the step, λ_max, s and λ, and what to change.
    Convergence needs about (λ_max + λ)/(λ_min + λ)·ln(1/rtol) steps, so LiSSA suits well-damped blocks;
    prefer CG otherwise.
    """

    name = "lissa"

    def __init__(self, scale: float | None = None, scale_factor: float = 0.75, rtol: float = 1e-7,
                 maxiter: int = 5000, power_iterations: int = 100, divergence_factor: float = 10.0,
                 seed: int = 0, strict: bool = False):
        super().__init__(strict)
        if scale is not None and not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive finite number, got {scale}")
        self.scale, self.scale_factor = scale, scale_factor
        self.rtol, self.maxiter = rtol, maxiter
        self.power_iterations, self.divergence_factor, self.seed = power_iterations, divergence_factor, seed

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        damping = _check_damping(damping)
        b = _as_matrix(rhs, operator.size, operator.name)
        lambda_max = None
        if self.scale is None:
            lambda_max = power_iteration(operator, self.power_iterations, self.seed)
            scale = self.scale_factor * (abs(lambda_max) + damping)
            if scale <= 0:
                raise SolverError(f"block {operator.name!r}: the Hessian is zero and damping is 0; "
                                  "set damping > 0")
        else:
            scale = self.scale
        h = b.clone()
        smallest_step = None
        relative_change = math.inf
        step = 0
        for step in range(1, self.maxiter + 1):
            new = b + h - (operator.matvec(h) + damping * h) / scale
            change = (new - h).norm(dim=1)
            if not torch.isfinite(new).all():
                self._diverged(operator.name, step, "produced NaN/inf", lambda_max, scale, damping)
            top = change.max().item()
            smallest_step = top if smallest_step is None else min(smallest_step, top)
            if top > self.divergence_factor * smallest_step:
                self._diverged(operator.name, step,
                               f"grew its update {top / smallest_step:.1f}-fold", lambda_max, scale, damping)
            relative_change = (change / new.norm(dim=1).clamp_min(torch.finfo(new.dtype).tiny)).max().item()
            h = new
            if relative_change < self.rtol:
                break
        report = SolveReport(operator.name, self.name, step, relative_change,
                             extra={"scale": scale, "lambda_max": lambda_max, "damping": damping})
        self.reports.append(report)
        if relative_change >= self.rtol:
            self._not_converged(report, f"raise maxiter (now {self.maxiter}) or damping (now {damping:g}): "
                                        f"LiSSA needs about s/(λ_min+λ) = {scale:.3g}/(λ_min+{damping:g}) "
                                        "steps per e-fold; or use CGSolver")
        return h / scale

    @staticmethod
    def _diverged(block, step, what, lambda_max, scale, damping):
        est = f"power-iteration λ_max≈{lambda_max:.3e}, " if lambda_max is not None else ""
        raise DivergenceError(
            f"LiSSA diverged on block {block!r} at step {step}: the recursion {what} ({est}scale s={scale:.3e}, "
            f"damping λ={damping:g}). The recursion converges only if all eigenvalues of (H+λI)/s lie in (0, 2): "
            f"raise the scale (e.g. scale={2 * scale:.3e}) if s is below λ_max/2, and raise the damping above "
            "the magnitude of H's most negative eigenvalue if the block is not positive semi-definite "
            "(typical for the global Hessian of a non-convex net).")


SOLVERS = {"exact": ExactSolver, "cg": CGSolver, "lissa": LissaSolver, "woodbury": WoodburySolver}


def make_solver(solver: str | Solver) -> Solver:
    """A solver instance from a name (``"exact"``, ``"cg"``, ``"lissa"``) or pass one through."""
    if isinstance(solver, Solver):
        return solver
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)} or pass a Solver")
    return SOLVERS[solver]()
