"""Conjugate gradient on a cached Gauss-Newton block, preconditioned by the Woodbury inverse of the block's
principal pseudo-gradient directions.

The exact Woodbury solve of a block H = (1/n) Σ_i Σ_d vec(D_id) vec(D_id)ᵀ (n examples, C − 1 pseudo-gradients
D_id each, :class:`~cnnexplain.methods.influence_functions.kfac.CachedGaussNewtonBlock`) factorises an
n(C − 1) kernel — 4,500 for LeNet-5 over 500 images, most of the benchmark's time on its fc1. Most of those
directions carry almost no curvature: a confidently classified example's softmax Hessian diag p − ppᵀ has
eigenvalues ≈ p_d ≪ 1. Per example, the eigenvectors of the (C − 1) × (C − 1) Gram of its pseudo-gradients
rotate them into orthogonal directions D'_ik of curvature w_ik = ‖D'_ik‖²/n; the rotation leaves H unchanged.
Dropping the lightest set S with Σ_S w_ik ≤ τλ leaves the kept part H_kept with

    0 ⪯ H − H_kept ⪯ τλ·I,

so the preconditioner M = H_kept + λI — applied exactly by the Woodbury identity on the m' kept directions —
puts the eigenvalues of M^{-1/2}(H + λI)M^{-1/2} in [1, 1 + τ]: CG's error in the (H + λI)-norm shrinks by at
least (√(1 + τ) − 1)/(√(1 + τ) + 1) per iteration (0.17 at τ = 1), whatever the block's condition number. The
bound Σ_S w_ik is loose (the dropped directions point different ways): on the benchmark's LeNet-5 (500 images,
λ = 1e-3) τ = 1 kept 1,825 of fc1's 4,500 directions and 1,808 of fc2's, and CG reached a relative residual of
1e-5 in one iteration on both (the exact Woodbury solve: 1.1 s and 1.2 s; this: 0.24 s and 0.14 s).

CG runs on the exact block, so the answer is exact to the measured residual ‖(H + λI)x − b‖/‖b‖ ≤ rtol. For a
Linear layer (one position per example) every product uses the Kronecker form D'_ik = g'_ik a_iᵀ (no p-long
rows); for a conv the rotated rows (n(C − 1), p) are formed once and serve both the kernel and CG's products.
A conv small enough for a dense block can also be held as its rows from the start
(:class:`PseudoGradientRowsBlock`): on LeNet-5's conv2 (p = 2,416, 4,500 rows) τ = 1 kept 1,224 directions,
and this took 0.15 s where forming the dense block (a syrk of the 4,500 rows) and its float64 Cholesky took 0.47 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cnnexplain.methods.influence_functions.hvp import FactoredBlock
from cnnexplain.methods.influence_functions.solvers import (Solver, blas_threads, cholesky_solve,
                                                            from_lower_triangle, symmetric_rank_update)

TRUNCATION = 1.0  # τ: dropped curvature ≤ τλ, preconditioned spectrum in [1, 1 + τ]


@dataclass
class PrincipalDirections:
    """A cached Gauss-Newton block's pseudo-gradients rotated, per example, onto the eigenvectors of their Gram:
    for a Linear layer the rotated output gradients ``g`` (n, C − 1, out) with the layer inputs ``a`` (n, in');
    for a conv the rotated rows scaled by 1/√n, ``rows`` F' (n·(C − 1), p) in block order, H = F'ᵀF'. ``weights``
    (n·(C − 1),) are the curvatures w_ik = ‖D'_ik‖²/n, i.e. H = (1/n) Σ D'D'ᵀ and trace H = Σ w_ik."""

    name: str
    size: int
    n: int
    weights: torch.Tensor
    layout: object = None
    a: torch.Tensor | None = None
    g: torch.Tensor | None = None
    rows: torch.Tensor | None = None

    @property
    def linear(self) -> bool:
        return self.rows is None

    def kept(self, damping: float, truncation: float = TRUNCATION) -> tuple[torch.Tensor, float]:
        """Indices of the directions to keep — all but the lightest ones whose curvatures sum to ≤ τλ — and that
        sum (the bound on ‖H − H_kept‖)."""
        order = self.weights.argsort()
        total = self.weights[order].double().cumsum(0)
        dropped = int((total <= truncation * damping).sum())
        keep = order[dropped:].sort().values
        return keep, float(total[dropped - 1]) if dropped else 0.0

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        """H V for a conv's rotated rows (a Linear block uses its cached operator's Kronecker product)."""
        return (vectors @ self.rows.T) @ self.rows


class PseudoGradientRowsBlock(FactoredBlock):
    """An exact Gauss-Newton block held as its pseudo-gradient rows scaled by 1/√n, F = [vec D_id]/√n
    ((n·(C − 1), p), block order, example i's C − 1 rows together), H = FᵀF: n·(C − 1)·p numbers, what the one
    pass over the Hessian data keeps of a conv whose solver is chosen after it (``kfac.solve_blocks``).
    :meth:`dense` forms H by a symmetric rank update (half a GEMM's multiply-adds)."""

    def __init__(self, name: str, factor: torch.Tensor, examples: int):
        super().__init__(name, factor)
        if len(factor) % examples:
            raise ValueError(f"block {name!r}: {len(factor)} pseudo-gradient rows do not split into {examples} examples")
        self.n = examples

    @property
    def nbytes(self) -> int:
        return self.factor.numel() * self.factor.element_size()

    def dense(self) -> torch.Tensor:
        h = torch.zeros(self.size, self.size, device=self.device, dtype=self.dtype)
        with blas_threads():
            symmetric_rank_update(h, self.factor)
        return from_lower_triangle(h)


def principal_directions(operator) -> PrincipalDirections:
    """The rotated pseudo-gradients of a Gauss-Newton block held as its factors — a cached block's ``a`` (n, T,
    in'), ``g`` (n, C − 1, T, out) and ``layout``, or a :class:`PseudoGradientRowsBlock`: per example, the
    eigenvectors Q_i of the Gram G_i = [⟨D_id, D_ie⟩]_de rotate the C − 1 pseudo-gradients into orthogonal ones of
    squared norm eig(G_i) (H unchanged since Q_i is orthogonal)."""
    if isinstance(operator, PseudoGradientRowsBlock):
        n = operator.n
        return _rotated_rows(operator.name, operator.size, n, operator.factor.reshape(n, -1, operator.size), 1.0)
    if not all(hasattr(operator, attr) for attr in ("a", "g", "layout", "pseudo_gradient_rows")):
        raise TypeError(f"block {operator.name!r}: Woodbury-preconditioned CG needs the cached Gauss-Newton factors "
                        f"(a CachedGaussNewtonBlock), got {type(operator).__name__}; raise cache_mb so they fit")
    n, _, positions, out = operator.g.shape
    if positions == 1:  # D_id = g_id a_iᵀ: ⟨D_id, D_ie⟩ = (g_id·g_ie)‖a_i‖²
        a, g = operator.a[:, 0], operator.g[:, :, 0]
        curvature, rotation = torch.linalg.eigh(g @ g.transpose(1, 2))
        rotated = rotation.transpose(1, 2) @ g
        weights = curvature.clamp_min(0) * (a * a).sum(1, keepdim=True) / n
        return PrincipalDirections(operator.name, operator.size, n, weights.flatten(), operator.layout, a, rotated)
    rows = torch.cat(list(operator.pseudo_gradient_rows())).reshape(n, -1, operator.size)
    return _rotated_rows(operator.name, operator.size, n, rows, 1.0 / math.sqrt(n))


def _rotated_rows(name: str, size: int, n: int, rows: torch.Tensor, scale: float) -> PrincipalDirections:
    """Principal directions from per-example rows (n, C − 1, p) that, times ``scale``, are the block's F."""
    curvature, rotation = torch.linalg.eigh(rows @ rows.transpose(1, 2))
    rotated = (rotation.transpose(1, 2) * scale) @ rows
    weights = curvature.clamp_min(0) * scale ** 2
    return PrincipalDirections(name, size, n, weights.flatten(), rows=rotated.reshape(-1, size))


class TruncatedWoodbury:
    """M⁻¹ = (H_kept + λI)⁻¹ by the Woodbury identity on the kept principal directions F (m', p), H_kept = FᵀF:
    M⁻¹r = (r − Fᵀ(λI + FFᵀ)⁻¹F r)/λ. The m' × m' kernel and its Cholesky are in the block's dtype (float64
    where the float32 factorisation fails): it only preconditions, the residual is measured on the exact block."""

    def __init__(self, directions: PrincipalDirections, damping: float, truncation: float = TRUNCATION):
        self.directions, self.damping = directions, damping
        self.keep, self.dropped_curvature = directions.kept(damping, truncation)
        d, keep = directions, self.keep
        if d.linear:
            count = d.g.shape[1]
            self.example = keep // count  # each kept direction's example
            self.g_kept = d.g.reshape(-1, d.g.shape[2])[keep]
            inputs = (d.a @ d.a.T).index_select(0, self.example).index_select(1, self.example)
            kernel = (self.g_kept @ self.g_kept.T).mul_(inputs).div_(d.n)
        else:
            self.rows_kept = d.rows[keep]
            kernel = torch.zeros(len(keep), len(keep), device=d.rows.device, dtype=d.rows.dtype)
            with blas_threads():  # F_kept F_keptᵀ by syrk: half a GEMM
                symmetric_rank_update(kernel, self.rows_kept.T)
            kernel = from_lower_triangle(kernel)
        kernel.diagonal().add_(damping)
        factor, info = torch.linalg.cholesky_ex(kernel)
        self.factor = factor if not info else torch.linalg.cholesky(kernel.double())

    @property
    def rank(self) -> int:
        return len(self.keep)

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        d, lam = self.directions, self.damping
        if not d.linear:
            f = self.rows_kept
            u = cholesky_solve((f @ r.T).to(self.factor.dtype), self.factor).to(r.dtype)
            return (r - u.T @ f) / lam
        m = d.layout.to_matrix(r.to(d.a.dtype))  # (k, out, in')
        by_example = torch.matmul(d.a, m.transpose(1, 2))  # (k, n, out): g'ᵀ M a_i needs the kept examples' rows
        fr = (by_example.index_select(1, self.example) * self.g_kept).sum(2) / math.sqrt(d.n)  # (k, m')
        u = cholesky_solve(fr.T.to(self.factor.dtype), self.factor).T.to(m.dtype)
        weighted = m.new_zeros(len(m), d.n, m.shape[1]).index_add_(1, self.example, u[:, :, None] * self.g_kept)
        back = weighted.transpose(1, 2) @ d.a / math.sqrt(d.n)  # Fᵀu in the (out, in') layout
        return d.layout.from_matrix((m - back) / lam).to(r.dtype)


class WoodburyPCGSolver(Solver):
    """Conjugate gradient on the exact (H + λI)X = B of a cached Gauss-Newton block, preconditioned by
    :class:`TruncatedWoodbury` at truncation τ (module docstring). Starts from the preconditioner's answer; stops
    when every column's residual is ≤ ``rtol``·‖b‖ or after ``maxiter`` iterations (default 50) with a
    :class:`~cnnexplain.methods.influence_functions.solvers.ConvergenceWarning`. The reported ``relative_error``
    is measured by one extra product; ``extra`` holds the kept rank m', the full n(C − 1) and the bound on the
    dropped curvature over λ. ``directions`` caches each block's :func:`principal_directions` by name (pass them
    in when they were computed already, e.g. to choose a solver)."""

    name = "woodbury-pcg"

    def __init__(self, rtol: float = 1e-4, maxiter: int | None = None, truncation: float = TRUNCATION,
                 strict: bool = False):
        super().__init__(strict)
        if not truncation >= 0:
            raise ValueError(f"truncation τ must be ≥ 0 (the dropped curvature is ≤ τλ), got {truncation}")
        self.rtol, self.maxiter, self.truncation = rtol, maxiter, truncation
        self.directions: dict[str, PrincipalDirections] = {}

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        b, damping = self._positively_damped(operator, rhs, damping)
        directions = self.directions.get(operator.name)
        if directions is None:
            directions = self.directions[operator.name] = principal_directions(operator)
        precondition = TruncatedWoodbury(directions, damping, self.truncation)
        exact = operator if directions.linear else directions  # a conv's products: its rotated rows, one GEMM each
        maxiter = self.maxiter or 50
        return self._preconditioned_solve(
            operator, b, damping, precondition, precondition(b), self.rtol, maxiter,
            extra={"rank": precondition.rank, "directions": len(directions.weights),
                   "dropped_over_damping": precondition.dropped_curvature / damping},
            advice=f"raise maxiter (now {maxiter}) or lower truncation (now {self.truncation:g})", exact=exact)
