"""Randomized Nyström curvature of one block, and conjugate gradient preconditioned by it.

The damped block H + λI of a trained net is ill-conditioned (κ = 10³–10⁴ at λ = 10⁻³ on the benchmark's
LeNet-5), but only a few of H's eigenvalues lie above λ: the effective dimension
d_eff(λ) = Σ_j λ_j/(λ_j + λ) was 16–226 on LeNet-5's five blocks of 156–48,120 parameters (500 images). A
rank-r Nyström approximation Ĥ = (HΩ)(ΩᵀHΩ)⁺(HΩ)ᵀ = U Λ̂ Uᵀ from r products with a random Ω (Tropp, Yurtsever,
Udell & Cevher 2017, Alg. 3, the numerically stable form with a small shift ν) captures those directions,
and the preconditioner of Frangella, Tropp & Udell (2023, "Randomized Nyström preconditioning", SIAM J.
Matrix Anal. Appl. 44, Eq. 5.3),

    P⁻¹ = (λ̂_r + λ) U (Λ̂ + λI)⁻¹ Uᵀ + (I − UUᵀ),

makes the condition number of P^{-1/2}(H + λI)P^{-1/2} about (λ̂_r + λ + ‖H − Ĥ‖)/λ — O(1) once r is a small
multiple of d_eff(λ). :func:`nystrom_approximation` doubles r until λ̂_r ≤ ``tolerance``·λ (or a rank cap), so
the rank follows the block's spectrum instead of a guess; :class:`NystromPCGSolver` then runs CG on the exact
operator with that preconditioner and reports the residual it measured.

Works with any operator of the solvers' interface (``name``, ``size``, ``device``, ``dtype``, ``matvec``); the
r products are one batched ``matvec`` per doubling, the factor U is p × r in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnexplain.methods.influence_functions.solvers import CGSolver, Solver, _check_damping

NYSTROM_COPIES = 8  # p × r float64 matrices alive while nystrom_approximation builds U (Ω, HΩ, Q, HQ, …)
NYSTROM_STREAMING_MAX_RANK = 256  # rank cap where each sketch product is a pass over the data (streamed
                                  # Gauss-Newton products, HVPs): kfac.solve_blocks, NystromWhereItFitsSolver


def nystrom_bytes(size: int, rank: int) -> int:
    """Memory (bytes) :func:`nystrom_approximation` may hold for a block of ``size`` parameters at ``rank``:
    ``NYSTROM_COPIES`` p × r float64 matrices — e.g. 1.7 TB for VGG16's fc6 (103M parameters) at rank 256."""
    return NYSTROM_COPIES * 8 * size * min(rank, size)


class IndefiniteSketchError(ValueError):
    """The Nyström core QᵀHQ is not positive definite: H is not positive semi-definite (no damping changes
    that, since the sketch is of H itself)."""


@dataclass
class NystromApproximation:
    """Ĥ = U diag(eigenvalues) Uᵀ, U (p, r) with orthonormal columns, eigenvalues descending and ≥ 0."""

    name: str
    basis: torch.Tensor
    eigenvalues: torch.Tensor
    products: int

    @property
    def rank(self) -> int:
        return len(self.eigenvalues)

    def preconditioner(self, damping: float):
        """R ↦ P⁻¹R (Frangella, Tropp & Udell 2023, Eq. 5.3): the Nyström directions scaled by
        (λ̂_r + λ)/(λ̂_j + λ), the rest left as they are."""
        if damping <= 0:
            raise ValueError(f"block {self.name!r}: the Nyström preconditioner needs damping λ > 0")
        values = self.eigenvalues
        scale = (values[-1] + damping) / (values + damping) - 1.0
        cast = {}  # U in the residuals' dtype and device, made once: the apply is two GEMMs per iteration

        def apply(r: torch.Tensor) -> torch.Tensor:
            key = (r.dtype, r.device)
            if key not in cast:
                cast[key] = (self.basis.to(r.device, r.dtype), scale.to(r.device, r.dtype))
            u, s = cast[key]
            return r + ((r @ u) * s) @ u.T

        return apply

    def inverse_hvp(self, rhs: torch.Tensor, damping: float) -> torch.Tensor:
        """(Ĥ + λI)⁻¹B: the Nyström approximation used as the curvature itself (no iteration)."""
        if damping <= 0:
            raise ValueError(f"block {self.name!r}: (Ĥ + λI)⁻¹ of a low-rank Ĥ needs damping λ > 0")
        b = rhs.double()
        coefficients = b @ self.basis
        inside = (coefficients / (self.eigenvalues + damping)) @ self.basis.T
        return (inside + (b - coefficients @ self.basis.T) / damping).to(rhs.dtype)


def nystrom_approximation(operator, damping: float, rank: int = 32, max_rank: int = 1024,
                          tolerance: float = 10.0, seed: int = 0) -> NystromApproximation:
    """Rank-adaptive randomized Nyström approximation of the operator's H.

    Starts at ``rank`` Gaussian test vectors and doubles them (keeping every product made so far) until the
    smallest Nyström eigenvalue λ̂_r ≤ ``tolerance``·λ — then the preconditioned condition number is about
    ``tolerance`` + 1 plus the approximation error — or r reaches ``max_rank`` (or the block size).
    Deterministic for a given ``seed``."""
    damping = _check_damping(damping)
    if damping <= 0:
        raise ValueError(f"block {operator.name!r}: Nyström preconditioning needs damping λ > 0")
    if rank < 1 or max_rank < 1:
        raise ValueError(f"rank and max_rank must be >= 1, got rank={rank}, max_rank={max_rank}")
    p = operator.size
    max_rank = min(max_rank, p)
    generator = torch.Generator().manual_seed(seed)
    omega = torch.empty(p, 0, dtype=torch.float64)
    sketch = torch.empty(p, 0, dtype=torch.float64)
    r = min(rank, max_rank)
    while True:
        new = torch.randn(p, r - omega.shape[1], generator=generator, dtype=torch.float64)
        products = operator.matvec(new.T.to(operator.device, operator.dtype)).double().cpu()  # (new, p)
        omega, sketch = torch.cat([omega, new], 1), torch.cat([sketch, products.T], 1)
        approximation = _stable_nystrom(operator.name, omega, sketch)
        if approximation.eigenvalues[-1] <= tolerance * damping or r >= max_rank:
            return approximation
        r = min(2 * r, max_rank)


def _stable_nystrom(name: str, omega: torch.Tensor, sketch: torch.Tensor) -> NystromApproximation:
    """Tropp et al. 2017, Alg. 3, for Y = HΩ with Ω of any full-rank columns: Ω = QR, so HQ = YR⁻¹; the shift
    ν = √p·eps·‖HQ‖_F makes the core Qᵀ(HQ + νQ) = CCᵀ positive definite; B = (HQ + νQ)C⁻ᵀ = UΣVᵀ (thin SVD)
    and Λ̂ = max(Σ² − ν, 0). All p-sized work is O(p·r²): one QR, two triangular solves, one thin SVD — no
    Gram matrix, whose squared spectrum would lose the eigenvalues below √eps of the largest."""
    q, r_factor = torch.linalg.qr(omega)
    hq = torch.linalg.solve_triangular(r_factor, sketch, upper=True, left=False)  # Y R⁻¹
    nu = omega.shape[0] ** 0.5 * torch.finfo(torch.float64).eps * torch.linalg.matrix_norm(hq)
    shifted = hq + nu * q
    core = q.T @ shifted
    chol, info = torch.linalg.cholesky_ex(0.5 * (core + core.T))
    if info:  # only for an operator that is not positive semi-definite
        raise IndefiniteSketchError(f"block {name!r}: the Nyström core QᵀHQ is not positive definite; is H positive "
                         "semi-definite (a Gauss-Newton block is)? Use CG with damping instead")
    b = torch.linalg.solve_triangular(chol.T, shifted, upper=True, left=False)  # (HQ + νQ) C⁻ᵀ
    u, sigma, _ = torch.linalg.svd(b, full_matrices=False)
    return NystromApproximation(name, u, (sigma ** 2 - nu).clamp_min(0.0), omega.shape[1])


class NystromPCGSolver(Solver):
    """Conjugate gradient on the exact (H + λI)X = B preconditioned by a rank-adaptive Nyström approximation of H
    (:func:`nystrom_approximation`, built on the first call for each block and kept in ``approximations``).

    Stops when every column's residual is ≤ ``rtol``·‖b‖ or after ``maxiter`` iterations (default 100) with a
    :class:`~cnnexplain.methods.influence_functions.solvers.ConvergenceWarning`. The reported ``relative_error``
    is measured by one extra product after the last iteration; ``extra`` holds the rank, the products the
    sketch took and λ̂_r/λ."""

    name = "nystrom"

    def __init__(self, rtol: float = 1e-4, maxiter: int | None = None, rank: int = 32, max_rank: int = 1024,
                 tolerance: float = 10.0, seed: int = 0, strict: bool = False):
        super().__init__(strict)
        self.rtol, self.maxiter = rtol, maxiter
        self.rank, self.max_rank, self.tolerance, self.seed = rank, max_rank, tolerance, seed
        self.approximations: dict[str, NystromApproximation] = {}

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        b, damping = self._positively_damped(operator, rhs, damping)
        approximation = self.approximations.get(operator.name)
        if approximation is None:
            approximation = nystrom_approximation(operator, damping, self.rank, self.max_rank, self.tolerance,
                                                  self.seed)
            self.approximations[operator.name] = approximation
        maxiter = self.maxiter or 100
        precondition = approximation.preconditioner(damping)
        return self._preconditioned_solve(
            operator, b, damping, precondition, approximation.inverse_hvp(b, damping), self.rtol, maxiter,
            extra={"rank": approximation.rank, "sketch_products": approximation.products,
                   "smallest_over_damping": approximation.eigenvalues[-1].item() / damping},
            advice=f"raise maxiter (now {maxiter}), max_rank (now {self.max_rank}) or damping (now {damping:g}), "
                   "or loosen rtol")


class NystromWhereItFitsSolver(Solver):
    """Per block, the fastest solver measured to reach the exact answer that the block's size allows:
    :class:`NystromPCGSolver` where its factors (:func:`nystrom_bytes` at ``max_rank``) fit in ``max_mb``, plain
    :class:`~cnnexplain.methods.influence_functions.solvers.CGSolver` elsewhere (e.g. VGG16's fc6 and fc7) and
    where H is not positive semi-definite on the sketch (:class:`IndefiniteSketchError`: CG then meets the
    negative curvature and raises the ``NotPositiveDefiniteError`` from which ``damping="auto"`` raises λ).

    Measured on LeNet-5 with every block's Gauss-Newton products streamed over 500 images (10 right-hand sides,
    rtol 1e-4, 1 thread): Nyström-PCG 14.9 s and 1,021 products for the five blocks, all at rtol in 3–25
    iterations; plain CG 50.7 s and 4,009 products, 19–168 iterations. Each report's ``solver`` says which ran
    and ``extra["why"]`` why; ``maxiter`` applies to both."""

    name = "nystrom-or-cg"

    def __init__(self, rtol: float = 1e-4, maxiter: int | None = None, max_rank: int = NYSTROM_STREAMING_MAX_RANK,
                 max_mb: float = 8192.0, strict: bool = False):
        super().__init__(strict)
        if max_mb <= 0:
            raise ValueError(f"max_mb must be > 0, got {max_mb}")
        self.rtol, self.maxiter, self.max_rank, self.max_mb = rtol, maxiter, max_rank, max_mb
        self.nystrom = NystromPCGSolver(rtol=rtol, maxiter=maxiter, max_rank=max_rank, strict=strict)
        self.cg = CGSolver(rtol=rtol, maxiter=maxiter, strict=strict)
        self.indefinite: dict[str, str] = {}  # blocks whose sketch failed: the next solve (a raised λ) goes to CG

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        need_mb = nystrom_bytes(operator.size, self.max_rank) / 2 ** 20
        if need_mb > self.max_mb:
            why = f"Nyström factors {need_mb:,.0f} MB at rank {self.max_rank} > max_mb={self.max_mb:g}: plain CG"
        elif operator.name in self.indefinite:
            why = self.indefinite[operator.name]
        else:
            try:
                return self._record(self.nystrom, self.nystrom.solve(operator, rhs, damping),
                                    f"Nyström factors ≤ {need_mb:,.0f} MB")
            except IndefiniteSketchError as error:
                why = self.indefinite[operator.name] = f"{error} — plain CG instead"
        return self._record(self.cg, self.cg.solve(operator, rhs, damping), why)

    def _record(self, inner: Solver, x: torch.Tensor, why: str) -> torch.Tensor:
        report = inner.reports[-1]
        report.extra["why"] = why
        self.reports.append(report)
        return x
