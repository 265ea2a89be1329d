"""Kronecker-factored curvature per layer (K-FAC, EK-FAC) and a conjugate gradient preconditioned by it.

For a ``Linear`` or ``Conv2d`` layer with weight and bias written as one matrix W̃ = [W, b] of shape
(out, in') (a conv's weight flattened to (out, in·kh·kw), in' = that + 1 for the bias), the gradient of a
per-example loss is Σ_t g_t a_tᵀ over the layer's positions t (one for a Linear layer, the output pixels
for a conv): a_t the layer input at t (the im2col patch, with a 1 for the bias) and g_t the gradient with
respect to the pre-activation output at t. The per-layer Gauss-Newton block of the mean cross-entropy,

    H_l = (1/n) Σ_i J_ilᵀ (diag p_i − p_i p_iᵀ) J_il,

is, for the layers after l piecewise linear (ReLU, max-pool), exactly the block Hessian that
:mod:`cnnexplain.methods.influence_functions.layerwise` uses. K-FAC (Martens & Grosse 2015; Grosse &
Martens 2016 for convs) approximates it by G ⊗ A with

    A = (1/(n·T)) Σ_i Σ_t a_it a_itᵀ,      G = (1/n) Σ_i Σ_d Σ_t g_idt g_idtᵀ,

and EK-FAC (George et al. 2018; what kronfluence computes) keeps the eigenbases Q_A, Q_G of A and G but
re-fits the diagonal in that basis, s_oi = (1/n) Σ_i Σ_d (Q_Gᵀ D_id Q_A)²_oi with D_id the i-th
pseudo-gradient — the best diagonal in the Kronecker eigenbasis in Frobenius norm.

Which output gradients g_id: ``fisher="exact"`` (default for up to ``exact_classes`` classes) backpropagates
the C − 1 columns d of a factor R_i of diag p_i − p_i p_iᵀ = R_i R_iᵀ (:func:`softmax_hessian_root`; that
matrix has rank C − 1): the exact expectation over the model's predictive distribution, deterministic, so
the factors approximate exactly the Gauss-Newton block that the preconditioned CG then solves, at C − 1
backward passes per batch. ``fisher="sampled"`` draws
labels ŷ ~ p_i (``samples`` per example) and backpropagates p_i − e_ŷ, an unbiased one-backward-pass
estimate — the choice for many classes (ImageNet's 1000), where C passes would dominate. Labels are never
the TRUE labels (the "empirical Fisher" is not the Gauss-Newton matrix and is a poor curvature far from
a perfect fit).

All of it streams over the Hessian data in batches: memory is that of the factors (in'² + out² + out·in'
per layer) and one batch, independent of the number of images; it runs on the model's device.

Solvers (same interface as :mod:`cnnexplain.methods.influence_functions.solvers`):

- :class:`KroneckerSolver` — (a) the fast approximate inverse (G ⊗ A + λI)⁻¹ or its EK-FAC form, with
  the relative residual against the block operator it is given measured by one product (``measure``);
- :class:`PreconditionedCGSolver` — (b) conjugate gradient on the exact block (e.g.
  :class:`GaussNewtonBlock`, a streaming J ᵀΛJ product) preconditioned by the EK-FAC inverse: the exact
  answer in a few iterations, with the residual measured by a final explicit product.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp, vmap

from cnnexplain.methods.influence_functions.hvp import ModelFunction, ParameterBlock, check_batch, cross_entropy
from cnnexplain.methods.influence_functions.solvers import (NotPositiveDefiniteError, Solver, SolveReport,
                                                            _as_matrix, _check_damping, blas_threads,
                                                            cholesky_solve, from_lower_triangle,
                                                            max_relative_residual, symmetric_rank_update)


class UnsupportedLayerError(TypeError):
    """A block is not a plain Linear/Conv2d layer's weight (and bias): K-FAC does not apply to it."""


@dataclass
class KroneckerFactors:
    """K-FAC / EK-FAC curvature of one block: H_l ≈ G ⊗ A in the (out, in') layout (see the module doc)."""

    name: str
    out: int
    inp: int  # in' (with the bias column when there is a bias)
    bias: bool
    weight_first: bool  # block flat order: weight then bias (True) or bias then weight
    A: torch.Tensor | None  # None while A is held as ``rows`` (A = Σ rowsᵀ rows)
    G: torch.Tensor
    n: int = 0
    fisher: str = "exact"
    qa: torch.Tensor | None = None
    la: torch.Tensor | None = None
    qg: torch.Tensor | None = None
    lg: torch.Tensor | None = None
    diagonal: torch.Tensor | None = None  # EK-FAC eigenvalues (out, in'), None until refitted
    timings: dict = field(default_factory=dict)
    rows: list | None = None

    @property
    def size(self) -> int:
        return self.out * self.inp

    def to_matrix(self, v: torch.Tensor) -> torch.Tensor:
        """Flat block vectors (k, p) → matrices (k, out, in') with the bias as last column."""
        k = v.shape[0]
        w_size = self.out * (self.inp - self.bias)
        if not self.bias:
            return v.reshape(k, self.out, self.inp)
        w, b = (v[:, :w_size], v[:, w_size:]) if self.weight_first else (v[:, self.out:], v[:, :self.out])
        return torch.cat([w.reshape(k, self.out, self.inp - 1), b.reshape(k, self.out, 1)], dim=2)

    def from_matrix(self, m: torch.Tensor) -> torch.Tensor:
        k = m.shape[0]
        if not self.bias:
            return m.reshape(k, -1)
        w, b = m[:, :, :-1].reshape(k, -1), m[:, :, -1]
        return torch.cat([w, b] if self.weight_first else [b, w], dim=1)

    def eigendecompose(self) -> None:
        """Eigenbases of A and G (float64 eigh). When A was held as its rows X (A = XᵀX, fewer rows than
        in': small Hessian data or a wide Linear layer such as VGG16's fc1), its eigenbasis comes from the
        small Gram matrix XXᵀ and covers only span(X); the complement has eigenvalue 0 in A and, since every
        pseudo-gradient's rows lie in span(X), in the exact block too."""
        if self.A is None:
            x = torch.cat(self.rows).double()
            gram = x @ x.T
            w, vectors = torch.linalg.eigh(gram)
            keep = w > 1e-10 * w.max().clamp_min(1e-300)
            w, vectors = w[keep], vectors[:, keep]
            self.la, self.qa = w.to(self.G.dtype), ((x.T @ vectors) / w.sqrt()).to(self.G.dtype)
            self.rows = None
        else:
            la, qa = torch.linalg.eigh(self.A.double())
            self.la, self.qa = la.clamp_min(0).to(self.A.dtype), qa.to(self.A.dtype)
        lg, qg = torch.linalg.eigh(self.G.double())
        self.lg, self.qg = lg.clamp_min(0).to(self.G.dtype), qg.to(self.G.dtype)

    @property
    def partial(self) -> bool:
        """True when A's eigenbasis covers only the span of the Hessian data's inputs (see eigendecompose)."""
        return self.qa is not None and self.qa.shape[1] < self.inp

    def eigenvalues(self, kind: str = "ekfac") -> torch.Tensor:
        """(out, r) curvature eigenvalues in the Kronecker eigenbasis: EK-FAC's re-fit or K-FAC's λ_G λ_A."""
        if self.qa is None:
            self.eigendecompose()
        if kind == "ekfac":
            if self.diagonal is None:
                raise RuntimeError(f"block {self.name!r}: EK-FAC diagonal not fitted (use kind='kfac' or "
                                   "kronecker_factors(..., ekfac=True))")
            return self.diagonal
        if kind != "kfac":
            raise ValueError(f"kind must be 'ekfac' or 'kfac', got {kind!r}")
        return self.lg[:, None] * self.la[None, :]

    def _apply(self, v: torch.Tensor, scale) -> torch.Tensor:
        m = self.to_matrix(v.to(self.G.dtype))
        projected = m @ self.qa  # (k, out, r)
        inside = self.qg @ scale(self.qg.T @ projected) @ self.qa.T
        if self.partial:  # the complement of span(A): curvature 0 there
            inside = inside + scale(None, m - projected @ self.qa.T)
        return self.from_matrix(inside).to(v.dtype)

    def inverse_hvp(self, v: torch.Tensor, damping: float, kind: str = "ekfac") -> torch.Tensor:
        """(H̃ + λI)⁻¹ v for flat vectors (k, p), H̃ the K-FAC or EK-FAC approximation."""
        values = self.eigenvalues(kind)
        if self.partial and damping <= 0:
            raise ValueError(f"block {self.name!r}: the curvature is singular off the span of the Hessian data; "
                             "pass damping λ > 0")
        return self._apply(v, lambda m, rest=None: m / (values + damping) if rest is None else rest / damping)

    def matvec(self, v: torch.Tensor, kind: str = "ekfac") -> torch.Tensor:
        values = self.eigenvalues(kind)
        return self._apply(v, lambda m, rest=None: m * values if rest is None else rest * 0)


def _layer_of(model: nn.Module, block: ParameterBlock):
    """(module, weight_first, has_bias) for a block that is exactly one Linear/Conv2d's weight (+ bias)."""
    modules = dict(model.named_modules())
    module = modules.get(block.module)
    if not isinstance(module, (nn.Linear, nn.Conv2d)):
        raise UnsupportedLayerError(f"block {block.name!r} (module {block.module!r}) is not a single Linear or "
                                    "Conv2d layer; K-FAC needs one")
    if isinstance(module, nn.Conv2d) and (module.groups != 1 or isinstance(module.padding, str)
                                          or module.padding_mode != "zeros"):
        raise UnsupportedLayerError(f"block {block.name!r}: K-FAC here supports Conv2d with groups=1, numeric "
                                    "padding and padding_mode='zeros'")
    prefix = f"{block.module}." if block.module else ""
    expected = {f"{prefix}weight"} | ({f"{prefix}bias"} if module.bias is not None else set())
    if set(block.param_names) != expected:
        raise UnsupportedLayerError(f"block {block.name!r} holds {block.param_names}, not exactly the weight and "
                                    f"bias of {block.module!r}")
    weight_first = block.param_names[0].endswith("weight")
    return module, weight_first, module.bias is not None


def _inputs(module: nn.Module, x: torch.Tensor, bias: bool) -> torch.Tensor:
    """Layer inputs as (b, T, in'): im2col patches for a conv, a trailing 1 for the bias. A conv's come as a
    transposed view of unfold's (b, in', T): appending the bias row there and not copying into (b, T, in')
    saves a strided copy that cost more than the unfold (the consumers are GEMMs, which take either)."""
    if isinstance(module, nn.Conv2d):
        patches = nn.functional.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)
        if bias:  # (b, in·kh·kw, T), channel-major like weight.flatten(1)
            patches = torch.cat([patches, patches.new_ones(patches.shape[0], 1, patches.shape[2])], dim=1)
        return patches.transpose(1, 2)
    a = x.reshape(x.shape[0], -1, x.shape[-1])
    if bias:
        a = torch.cat([a, a.new_ones(*a.shape[:2], 1)], dim=2)
    return a


def _outputs(module: nn.Module, g: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return g.flatten(2).transpose(1, 2)  # (b, T, out)
    return g.reshape(g.shape[0], -1, g.shape[-1])


@dataclass
class ConvInput:
    """A batch of a conv layer's raw inputs (b, in, H, W), kept instead of its im2col patches (T·in' numbers per
    example, 9× the input for a 3×3 kernel) where only per-example gradients are needed: those come from the
    conv's own weight-gradient kernel (:meth:`example_gradients`)."""

    module: nn.Conv2d
    x: torch.Tensor
    bias: bool
    out_size: tuple[int, int]  # (H', W') of the layer's output

    @property
    def positions(self) -> int:
        return self.out_size[0] * self.out_size[1]

    def example_gradients(self, g: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Σ_t g_t a_tᵀ, shape (b, m, out, in'), for output gradients ``g`` of shape (b, m, out, T) (the conv's
        own layout; m per example: directions or test vectors), examples ``start:stop`` of the batch. By
        ``torch.nn.grad.conv2d_weight`` with one group per example — no patches formed. Against patches and a
        batched GEMM (1 thread): 1.5–3.3× faster on VGG16's 224–56 px layers, 1.4× slower on its 14 px × 512
        ones; 1.2–1.8× faster on the MNIST benchmark's 4–8-channel convs at 7–28 px, 1.3–1.4× slower on its
        1-channel and 3 px ones."""
        module, x, g = self.module, self.x[start:stop], g[start:stop]
        b, m, out, _ = g.shape
        kernel = torch.nn.grad.conv2d_weight(
            x.reshape(1, b * x.shape[1], *x.shape[2:]), (b * m * out, x.shape[1], *module.kernel_size),
            g.reshape(1, b * m * out, *self.out_size), module.stride, module.padding, module.dilation, groups=b)
        kernel = kernel.reshape(b, m, out, -1)
        if not self.bias:
            return kernel
        rows = kernel.new_empty(b, m, out, kernel.shape[-1] + 1)
        rows[..., :-1] = kernel
        rows[..., -1] = g.sum(3)
        return rows


def softmax_hessian_root(p: torch.Tensor) -> torch.Tensor:
    """R of shape (b, C, C − 1) with R Rᵀ = diag p − p pᵀ, the Hessian of the cross-entropy in the logits.

    The C columns √p_d (e_d − p) of the obvious root are linearly dependent (Σ_d √p_d · column_d = 0), so
    one is redundant: reflecting them by the Householder H = I − 2wwᵀ/wᵀw, w = √p + e_C, which maps √p
    to −e_C, makes the last column exactly zero (R H e_C = −R √p = 0) and leaves R H Hᵀ Rᵀ unchanged.
    One backward pass per example fewer, and Woodbury kernels of n(C − 1) instead of nC."""
    root = p.sqrt()
    full = torch.diag_embed(root) - p.unsqueeze(2) * root.unsqueeze(1)  # columns √p_d (e_d − p)
    w = root.clone()
    w[:, -1] += 1.0  # never small: √p_C ≥ 0
    reflected = full - (2.0 / (w * w).sum(1, keepdim=True)).unsqueeze(1) * (full @ w.unsqueeze(2)) * w.unsqueeze(1)
    return reflected[:, :, :-1]


def _layer_input(mod: nn.Module, x: torch.Tensor, output: torch.Tensor, bias: bool, raw: bool):
    """What a forward hook keeps of a layer's input: a :class:`ConvInput` for a conv with ``raw`` and more than
    one output position, else the (b, T, in') inputs of :func:`_inputs`."""
    if raw and isinstance(mod, nn.Conv2d) and output.shape[2] * output.shape[3] > 1:
        return ConvInput(mod, x, bias, tuple(output.shape[2:]))
    return _inputs(mod, x, bias)


def _stream(fn: ModelFunction, layers, x, y, batch_size, fisher, samples, generator, raw: Sequence[bool] | None = None,
            loss: bool = False):
    """Yields per batch: (batch size, [(a, [g_d (b,T,out) for each pseudo-gradient d], weight_d)]), a the layer
    inputs (b, T, in') — or, for the layers marked in ``raw`` that are convs of more than one position, a
    :class:`ConvInput`. With ``loss`` a third item per batch: each layer's output gradients (b, T, out) of the
    examples' own cross-entropy (p − e_y backpropagated: one more backward pass), from which their loss gradients
    follow as Σ_t g_t a_tᵀ."""
    model = fn.model
    raw = [False] * len(layers) if raw is None else list(raw)
    captured: dict[int, tuple] = {}
    hooks = []
    for index, (module, _, bias) in enumerate(layers):
        def hook(mod, args, output, index=index, bias=bias):
            # differentiate w.r.t. a zero added to the output: its gradient is the pre-activation one even
            # when the next layer is an in-place ReLU (torchvision's VGG)
            zero = torch.zeros_like(output, requires_grad=True)
            captured[index] = (_layer_input(mod, args[0].detach(), output, bias, raw[index]), zero)
            return output + zero
        hooks.append(module.register_forward_hook(hook))
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = fn.to_device(x[start:start + batch_size], y[start:start + batch_size])
            captured.clear()
            with torch.enable_grad():
                logits = model(xb)
                outs = [captured[i][1] for i in range(len(layers))]
                p = torch.softmax(logits.detach(), dim=-1)
                if fisher == "exact":
                    factor = softmax_hessian_root(p)  # R Rᵀ = diag p − p pᵀ, C − 1 columns
                    directions = [factor[:, :, d] for d in range(factor.shape[2])]
                    weight = 1.0
                else:
                    draws = torch.multinomial(p.cpu(), samples, replacement=True, generator=generator).to(p.device)
                    directions = [p - nn.functional.one_hot(draws[:, s], p.shape[1]).to(p.dtype)
                                  for s in range(samples)]
                    weight = 1.0 / samples
                count = len(directions)
                if loss:  # the gradient of each example's cross-entropy in its logits
                    directions.append(p - nn.functional.one_hot(yb.long(), p.shape[1]).to(p.dtype))
                grads = [[] for _ in layers]
                for d, direction in enumerate(directions):
                    gs = torch.autograd.grad(logits, outs, direction, retain_graph=d < len(directions) - 1)
                    for i, (module, _, _) in enumerate(layers):
                        grads[i].append(_outputs(module, gs[i].detach()))
            per_layer = [(captured[i][0], grads[i][:count], weight) for i in range(len(layers))]
            if loss:
                yield len(xb), per_layer, [grads[i][count] for i in range(len(layers))]
            else:
                yield len(xb), per_layer
    finally:
        for h in hooks:
            h.remove()


def _layouts(fn: ModelFunction, blocks: Sequence[ParameterBlock], fisher: str):
    layers = [_layer_of(fn.model, b) for b in blocks]
    factors = []
    for block, (module, weight_first, bias) in zip(blocks, layers):
        out = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
        inp = module.weight[0].numel() + bias
        factors.append(KroneckerFactors(block.name, out, inp, bias, weight_first, None,
                                        torch.zeros(out, out, device=fn.device, dtype=fn.dtype), fisher=fisher))
    return layers, factors


def _classes(fn: ModelFunction, x, y) -> int:
    with torch.no_grad():
        return fn.model(fn.to_device(x[:1], y[:1])[0]).shape[-1]


def kronecker_factors(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                      batch_size: int = 64, fisher: str = "auto", samples: int = 1, ekfac: bool = True,
                      exact_classes: int = 20, seed: int = 0, chunk_elements: int = 1 << 24,
                      cache: Sequence["CachedGaussNewtonBlock"] | None = None, low_rank: bool = True
                      ) -> list[KroneckerFactors]:
    """K-FAC factors (and, with ``ekfac``, the EK-FAC diagonal, from a second streaming pass) of every
    block over the Hessian data ``(x, y)`` (the labels are not used: the curvature is the model's own
    Gauss-Newton/Fisher; see the module doc for ``fisher``). ``chunk_elements`` bounds the per-example
    gradient matrices formed at once in the EK-FAC pass of a conv layer. ``low_rank``: hold A as its rows when
    the Hessian data has fewer input rows n·T than half of in' (see :meth:`KroneckerFactors.eigendecompose`).
    ``cache``: the blocks' cached
    Gauss-Newton factors (:func:`gauss_newton_cache`, exact expectation) to read instead of running the net."""
    if fn.loss_fn is not cross_entropy:
        raise ValueError("Kronecker factors here assume the default mean cross-entropy loss")
    check_batch(x, y, "Hessian data")
    if cache is not None:
        fisher = "exact"
    elif fisher == "auto":
        fisher = "exact" if _classes(fn, x, y) <= exact_classes else "sampled"
    if fisher not in ("exact", "sampled"):
        raise ValueError(f"fisher must be 'auto', 'exact' or 'sampled', got {fisher!r}")
    layers, factors = _layouts(fn, blocks, fisher)

    def batches():
        if cache is not None:
            yield from _cached_batches(cache, batch_size)
        else:
            yield from _stream(fn, layers, x, y, batch_size, fisher, samples, torch.Generator().manual_seed(seed))

    start = time.perf_counter()
    n = 0
    with blas_threads():  # the A factors' syrk
        for b, per_layer in batches():
            n += b
            for f, (a, gs, weight) in zip(factors, per_layer):
                if f.A is None and f.rows is None:  # first batch: hold A densely or as its rows (fewer than in')
                    if low_rank and len(x) * a.shape[1] <= f.inp // 2:
                        f.rows = []
                    else:
                        f.A = torch.zeros(f.inp, f.inp, device=fn.device, dtype=fn.dtype)
                if f.A is None:
                    f.rows.append(a.reshape(-1, f.inp) / math.sqrt(a.shape[1]))
                else:
                    for rows in _example_rows(a):  # syrk: lower triangle only, mirrored after the pass
                        symmetric_rank_update(f.A, rows, 1.0 / a.shape[1])
                for g in gs:
                    f.G += weight * torch.einsum("bto,btp->op", g, g)
    for f in factors:
        if f.A is None:
            f.rows = [r / math.sqrt(n) for r in f.rows]
        else:
            f.A = from_lower_triangle(f.A) / n
        f.G /= n
        f.n = n
        f.eigendecompose()
        f.timings["factors_s"] = time.perf_counter() - start
    if ekfac:
        start = time.perf_counter()
        for f in factors:
            f.diagonal = torch.zeros(f.out, f.qa.shape[1], device=fn.device, dtype=fn.dtype)
        for b, per_layer in batches():
            for f, (a, gs, weight) in zip(factors, per_layer):
                aq = a @ f.qa  # (b, T, in')
                for g in gs:
                    gq = g @ f.qg  # (b, T, out)
                    if a.shape[1] == 1:
                        f.diagonal += weight * torch.einsum("bo,bi->oi", gq[:, 0] ** 2, aq[:, 0] ** 2)
                        continue
                    step = max(1, chunk_elements // (f.out * f.qa.shape[1]))
                    for c in range(0, len(aq), step):
                        d = torch.bmm(gq[c:c + step].transpose(1, 2), aq[c:c + step])  # (b, out, in')
                        f.diagonal += weight * (d * d).sum(0)
        for f in factors:
            f.diagonal /= n
            f.timings["ekfac_s"] = time.perf_counter() - start
    return factors


class CachedGaussNewtonBlock:
    """The exact Gauss-Newton block H_l = (1/n) Σ_i Σ_d vec(D_id) vec(D_id)ᵀ held as the factors of its
    pseudo-gradients D_id = g_idᵀ a_i: the layer inputs ``a`` (n, T, in') and the output gradients ``g``
    (n, C − 1, T, out) of the columns of R_i (diag p_i − p_i p_iᵀ = R_i R_iᵀ, :func:`softmax_hessian_root`).
    A product costs a few GEMMs
    (no pass through the network); memory n·T·(in' + C·out) — for a Linear layer n·(in' + C·out), far
    below the n·C·p of dense factors. Same operator interface as the solvers'."""

    def __init__(self, layout: KroneckerFactors, a: torch.Tensor, g: torch.Tensor, chunk_elements: int = 1 << 24):
        self.layout, self.a, self.g = layout, a, g
        self.name, self.size = layout.name, layout.size
        self.device, self.dtype = a.device, a.dtype
        self.n = a.shape[0]
        self.chunk_elements = chunk_elements
        self.matvecs = 0

    @property
    def nbytes(self) -> int:
        return self.a.numel() * self.a.element_size() + self.g.numel() * self.g.element_size()

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        single = vectors.dim() == 1
        v = vectors.reshape(-1, self.size).to(self.device, self.dtype)
        m = self.layout.to_matrix(v)  # (k, out, in')
        k, (_, C, T, out_features) = len(v), self.g.shape
        result = torch.zeros_like(m)
        step = max(1, self.chunk_elements // max(1, k * T * max(out_features, C)))
        for c in range(0, self.n, step):
            a, g = self.a[c:c + step], self.g[c:c + step]
            s = torch.einsum("nti,koi->nkto", a, m)  # δ pre-activations
            coeff = torch.einsum("nkto,ndto->nkd", s, g)  # ⟨D_id, V_k⟩
            back = torch.einsum("nkd,ndto->nkto", coeff, g)
            result += torch.einsum("nkto,nti->koi", back, a)
        self.matvecs += k
        out = self.layout.from_matrix(result / self.n).detach()
        return out[0] if single else out

    def pseudo_gradient_rows(self, chunk_elements: int = 1 << 24):
        """The rows vec D_id (examples·(C − 1), p) in block order, a chunk of examples at a time (example-major):
        H = (1/n) Σ rowsᵀ rows."""
        for rows in pseudo_gradient_row_chunks(self.a, self.g.transpose(2, 3), chunk_elements):
            yield self.layout.from_matrix(rows.reshape(len(rows), self.layout.out, self.layout.inp))

    def dense(self) -> torch.Tensor:
        eye = torch.eye(self.size, device=self.device, dtype=self.dtype)
        h = self.matvec(eye)
        return 0.5 * (h + h.T)


class LossGradients:
    """One block's per-example loss gradients ∇_{θ^l} L(x_j, y_j) over the Hessian data itself, kept by the one pass
    over it (:func:`gauss_newton_cache` with ``loss_gradients``) so that the influence of that data needs no second
    pass: for a layer of one position as their factors g_j a_jᵀ (``a`` (n, in'), ``g`` (n, out): n·(in' + out)
    numbers), otherwise as the (n, out, in') matrices Σ_t g_jt a_jtᵀ."""

    def __init__(self, layout: KroneckerFactors, matrices: torch.Tensor | None = None, a: torch.Tensor | None = None,
                 g: torch.Tensor | None = None):
        if (matrices is None) == (a is None or g is None):
            raise ValueError("LossGradients holds either the matrices or the factors a and g")
        self.layout, self.matrices, self.a, self.g = layout, matrices, a, g

    @staticmethod
    def elements(examples: int, positions: int, inp: int, out: int) -> int:
        """How many numbers the gradients of ``examples`` take in the form they are held in."""
        return examples * (inp + out if positions == 1 else inp * out)

    def dot(self, vectors: torch.Tensor) -> torch.Tensor:
        """⟨∇L_j, v_k⟩ for block-order ``vectors`` (k, p): shape (k, n)."""
        m = self.layout.to_matrix(vectors.to(self.a.dtype if self.matrices is None else self.matrices.dtype))
        if self.matrices is not None:
            return m.reshape(len(m), -1) @ self.matrices.reshape(len(self.matrices), -1).T
        return ((m @ self.a.T) * self.g.T).sum(1)  # g_jᵀ M_k a_j: (k, out, n) summed over out


def gauss_newton_cache(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                       batch_size: int = 64, dense: Sequence[bool] | None = None,
                       rows: Sequence[bool] | None = None, loss_gradients: bool = False):
    """One pass (a forward and C − 1 backward passes per batch) over the Hessian data storing, per block, the
    factors of its exact Gauss-Newton block (:class:`CachedGaussNewtonBlock`); memory grows with the data.

    Blocks marked in ``dense`` get instead their dense block H_l = (1/n) Σ_i Σ_d vec(D_id) vec(D_id)ᵀ,
    accumulated batch by batch (a :class:`DenseBlock`; memory p_l², nothing stored per example): for small
    blocks this skips holding and re-reading n·T·(in' + C·out) numbers. Blocks marked in ``rows`` get their
    pseudo-gradient rows (a :class:`~cnnexplain.methods.influence_functions.woodbury_pcg.PseudoGradientRowsBlock`,
    n·(C − 1)·p_l numbers): for a conv formed as the dense accumulation forms them, by its weight-gradient kernel,
    so either the dense block or a solve on the rows can follow.

    With ``loss_gradients`` it also backpropagates each example's own cross-entropy (one backward pass more per
    batch) and returns ``(held, gradients)``, one :class:`LossGradients` per block: what the influence scores of the
    Hessian data need (:func:`solve_blocks` with ``hessian_data_scores``)."""
    from cnnexplain.methods.influence_functions.hvp import DenseBlock
    from cnnexplain.methods.influence_functions.woodbury_pcg import PseudoGradientRowsBlock

    if fn.loss_fn is not cross_entropy:
        raise ValueError("Gauss-Newton blocks here assume the default mean cross-entropy loss")
    check_batch(x, y, "Hessian data")
    dense = [False] * len(blocks) if dense is None else list(dense)
    rows = [False] * len(blocks) if rows is None else list(rows)
    for name, marks in (("dense", dense), ("rows", rows)):
        if len(marks) != len(blocks):
            raise ValueError(f"{name} has {len(marks)} entries for {len(blocks)} blocks")
    if any(d and r for d, r in zip(dense, rows)):
        raise ValueError("a block can be held dense or as its rows, not both: "
                         f"{[b.name for b, d, r in zip(blocks, dense, rows) if d and r]}")
    if loss_gradients and len(y):  # the labels are used only for the examples' own loss gradients
        classes = _classes(fn, x, y)
        if y.min() < 0 or y.max() >= classes:
            raise ValueError(f"Hessian data: labels must lie in [0, {classes - 1}] (the model has {classes} outputs) "
                             f"for its loss gradients, got range [{y.min().item()}, {y.max().item()}]")
    layers, layouts = _layouts(fn, blocks, "exact")
    n = len(x)
    full_a: list[torch.Tensor | None] = [None] * len(blocks)
    full_g: list[torch.Tensor | None] = [None] * len(blocks)
    factor: list[torch.Tensor | None] = [None] * len(blocks)
    grams = [torch.zeros(f.size, f.size, device=fn.device, dtype=fn.dtype) if d else None
             for f, d in zip(layouts, dense)]
    loss_matrices: list[torch.Tensor | None] = [None] * len(blocks)
    loss_a: list[torch.Tensor | None] = [None] * len(blocks)
    loss_g: list[torch.Tensor | None] = [None] * len(blocks)
    start = 0
    raw = [d or r for d, r in zip(dense, rows)]
    with blas_threads():
        for size, per_layer, *loss in _stream(fn, layers, x, y, batch_size, "exact", 1, None, raw=raw,
                                              loss=loss_gradients):
            for l, g in enumerate(loss[0] if loss else ()):
                a, f = per_layer[l][0], layouts[l]
                if isinstance(a, ConvInput):  # by the conv's weight-gradient kernel, as the pass forms its rows
                    grads = a.example_gradients(g.transpose(1, 2).unsqueeze(1))[:, 0]
                elif a.shape[1] > 1:
                    grads = torch.bmm(g.transpose(1, 2), a)  # (b, out, in')
                else:
                    if loss_g[l] is None:
                        loss_g[l] = g.new_empty(n, f.out)
                        loss_a[l] = a.new_empty(n, f.inp) if raw[l] else None  # else: the cached inputs serve
                    loss_g[l][start:start + size] = g[:, 0]
                    if loss_a[l] is not None:
                        loss_a[l][start:start + size] = a[:, 0]
                    continue
                if loss_matrices[l] is None:
                    loss_matrices[l] = grads.new_empty(n, f.out, f.inp)
                loss_matrices[l][start:start + size] = grads
            for l, (a, gs, _) in enumerate(per_layer):
                if dense[l]:
                    _accumulate_dense_block(grams[l], a, gs)
                    continue
                if rows[l]:
                    if factor[l] is None:
                        factor[l] = torch.empty(n * len(gs), layouts[l].size, device=fn.device, dtype=fn.dtype)
                    at = start * len(gs)  # example-major: the batch's rows follow the earlier batches'
                    for chunk in pseudo_gradient_row_chunks(a, _stacked(gs)):
                        factor[l][at:at + len(chunk)] = layouts[l].from_matrix(
                            chunk.view(len(chunk), layouts[l].out, layouts[l].inp))
                        at += len(chunk)
                    continue
                if full_a[l] is None:  # written in place: concatenating the batches at the end would copy it all
                    full_a[l] = a.new_empty(n, *a.shape[1:])
                    full_g[l] = gs[0].new_empty(n, len(gs), *gs[0].shape[1:])
                full_a[l][start:start + size] = a
                for d, g in enumerate(gs):
                    full_g[l][start:start + size, d] = g
            start += size
    held = []
    for f, a, g, h, r in zip(layouts, full_a, full_g, grams, factor):
        if h is not None:
            held.append(DenseBlock(f.name, _in_block_order(f, h) / n))
        elif r is not None:
            held.append(PseudoGradientRowsBlock(f.name, r.mul_(1.0 / math.sqrt(n)), n))
        else:
            held.append(CachedGaussNewtonBlock(f, a, g))
    if not loss_gradients:
        return held
    gradients = [LossGradients(f, matrices=m) if m is not None else
                 LossGradients(f, a=la if la is not None else a[:, 0], g=lg)
                 for f, m, la, lg, a in zip(layouts, loss_matrices, loss_a, loss_g, full_a)]
    return held, gradients


def _example_rows(a: torch.Tensor):
    """A batch of layer inputs (b, T, in') as row matrices for :func:`symmetric_rank_update` without a
    copy: all at once where ``a`` is C-ordered, else (a conv's transposed patches) example by example."""
    if a.is_contiguous():
        yield a.reshape(-1, a.shape[-1])
    else:
        yield from a.unbind(0)


def pseudo_gradient_row_chunks(a, g: torch.Tensor, chunk_elements: int = 1 << 24):
    """The rows vec(D_id) of a batch, D_id = Σ_t g_idt a_itᵀ (out, in'), a chunk of examples at a time as
    (examples·(C − 1), out·in') matrices in that layout (example-major), from the output gradients ``g`` (b, C − 1,
    out, T) — a view will do, only a chunk is copied: by the conv's weight-gradient kernel where ``a`` is a
    :class:`ConvInput`, else by one batched GEMM on the inputs (b, T, in'). The one pass's dense blocks and held
    rows and a cached block's :meth:`CachedGaussNewtonBlock.pseudo_gradient_rows` all form their rows here."""
    b, d, out, positions = g.shape
    inp = a.module.weight[0].numel() + a.bias if isinstance(a, ConvInput) else a.shape[2]
    step = max(1, chunk_elements // max(1, d * out * max(inp, positions)))
    for c in range(0, b, step):
        if isinstance(a, ConvInput):  # no patches formed
            rows = a.example_gradients(g, c, c + step)
        else:
            gc = g[c:c + step]
            rows = torch.bmm(gc.reshape(len(gc), d * out, positions), a[c:c + step])  # (b, d·out, in')
        yield rows.reshape(-1, out * inp)


def _stacked(gs: Sequence[torch.Tensor]) -> torch.Tensor:
    """A batch's per-direction output gradients (b, T, out) each as one (b, C − 1, out, T) tensor: contiguous, the
    layout autograd gave a conv's."""
    return torch.stack([x.transpose(1, 2) for x in gs], dim=1)


def _accumulate_dense_block(h: torch.Tensor, a, gs: Sequence[torch.Tensor], chunk_elements: int = 1 << 24) -> None:
    """h += Σ_i Σ_d vec(D_id) vec(D_id)ᵀ over one batch, D_id = Σ_t g_idt a_itᵀ (out, in'), h indexed in that
    matrix layout (o·in' + i); only its lower triangle is kept up to date (see :func:`_in_block_order`).

    One position (a Linear layer): Σ_i (Σ_d g_id g_idᵀ) ⊗ (a_i a_iᵀ), one GEMM of b·p² multiply-adds instead
    of the (C − 1)·b·p² of the pseudo-gradient rows' Gram. Several positions (a conv): the rows
    (:func:`pseudo_gradient_row_chunks`), then a symmetric rank update."""
    if not isinstance(a, ConvInput) and a.shape[1] == 1:
        inp, out = a.shape[2], gs[0].shape[2]
        if inp * inp + out * out <= chunk_elements:
            g = torch.stack([x[:, 0] for x in gs], dim=1)  # (b, d, out)
            step = max(1, chunk_elements // (inp * inp + out * out))
            for c in range(0, len(a), step):
                ai = a[c:c + step, 0]
                aa = (ai[:, :, None] * ai[:, None, :]).reshape(len(ai), inp * inp)
                gg = torch.einsum("ndo,ndq->noq", g[c:c + step], g[c:c + step]).reshape(len(ai), out * out)
                h.view(out, inp, out, inp).add_((gg.T @ aa).view(out, out, inp, inp).transpose(1, 2))
            return
    for rows in pseudo_gradient_row_chunks(a, _stacked(gs), chunk_elements):
        symmetric_rank_update(h, rows)


def _in_block_order(layout: KroneckerFactors, h: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose lower triangle :func:`_accumulate_dense_block` filled, from the (out, in')
    matrix layout to the block's flat parameter order (weight then bias, or bias then weight)."""
    full = from_lower_triangle(h)
    order = layout.from_matrix(torch.arange(layout.size, device=h.device).reshape(1, layout.out, layout.inp))[0]
    return full.index_select(0, order).index_select(1, order)  # measured 1.7–6× faster than full[order][:, order]


def _cached_batches(cache: Sequence[CachedGaussNewtonBlock], batch_size: int):
    n = cache[0].n
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield stop - start, [(c.a[start:stop], list(c.g[start:stop].unbind(1)), 1.0) for c in cache]


class GaussNewtonBlock:
    """The exact Gauss-Newton block H_l = (1/n) Σ_i J_ilᵀ (diag p_i − p_i p_iᵀ) J_il of the mean cross-entropy
    as an operator (name, size, device, dtype, matvec): per batch one forward-mode product J v (``jvp``,
    ``vmap``-ed over the vectors) and one reverse pass Jᵀ(Λ J v), streaming the Hessian data — memory
    independent of the number of images. Positive semi-definite by construction; equal to the block
    Hessian when the layers after the block are piecewise linear."""

    def __init__(self, fn: ModelFunction, block: ParameterBlock, x: torch.Tensor, y: torch.Tensor,
                 batch_size: int = 256, vector_chunk: int = 32):
        if fn.loss_fn is not cross_entropy:
            raise ValueError("GaussNewtonBlock assumes the default mean cross-entropy loss")
        check_batch(x, y, "Hessian data")
        self.fn, self.block, self.x = fn, block, x
        self.batch_size, self.vector_chunk = int(batch_size), int(vector_chunk)
        self.theta = block.flatten(fn.block_params(block))
        self.matvecs = 0

    name = property(lambda self: self.block.name)
    size = property(lambda self: self.block.numel)
    device = property(lambda self: self.fn.device)
    dtype = property(lambda self: self.fn.dtype)

    def _batch(self, xb, vectors):
        fn, block = self.fn, self.block

        def logits(flat):
            return functional_call(fn.model, {**fn.params, **block.unflatten(flat)}, (xb,))

        out, pullback = vjp(logits, self.theta)
        p = torch.softmax(out.detach(), dim=-1)

        def one(v):
            jv = jvp(logits, (self.theta,), (v,))[1]
            lam = p * jv - p * (p * jv).sum(-1, keepdim=True)
            return pullback(lam)[0]

        return vmap(one)(vectors)

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        single = vectors.dim() == 1
        v = vectors.reshape(-1, self.size).to(self.fn.device, self.fn.dtype)
        out = torch.zeros_like(v)
        n = len(self.x)
        for start in range(0, n, self.batch_size):
            xb = self.x[start:start + self.batch_size].to(self.fn.device, self.fn.dtype)
            for c in range(0, len(v), self.vector_chunk):
                out[c:c + self.vector_chunk] += self._batch(xb, v[c:c + self.vector_chunk]) / n
        self.matvecs += len(v)
        out = out.detach()
        return out[0] if single else out


def _factors_for(factors, operator) -> KroneckerFactors:
    if isinstance(factors, KroneckerFactors):
        return factors
    try:
        return factors[operator.name]
    except KeyError:
        raise KeyError(f"no Kronecker factors for block {operator.name!r}; have: {', '.join(factors)}") from None


class KroneckerSolver(Solver):
    """Approximate (H_l + λI)⁻¹B by the K-FAC (``kind="kfac"``) or EK-FAC (``kind="ekfac"``) inverse:
    two small rotations per right-hand side, no iteration. ``factors``: a mapping block name →
    :class:`KroneckerFactors` (from :func:`kronecker_factors`). With ``measure`` (default) the report's
    ``relative_error`` is the measured ‖(H + λI)x − b‖/‖b‖ with one product of the operator passed to
    :meth:`solve` — how far the approximation is from the block it stands for, never assumed."""

    def __init__(self, factors: Mapping[str, KroneckerFactors], kind: str = "ekfac", measure: bool = True,
                 strict: bool = False):
        super().__init__(strict)
        self.factors, self.kind, self.measure = factors, kind, measure
        self.name = kind

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        damping = _check_damping(damping)
        b = _as_matrix(rhs, operator.size, operator.name)
        f = _factors_for(self.factors, operator)
        if damping <= 0 and self.kind == "kfac":
            raise ValueError(f"block {operator.name!r}: the K-FAC inverse needs damping λ > 0")
        x = f.inverse_hvp(b, damping, self.kind)
        rel = max_relative_residual(operator, x, b, damping) if self.measure else float("nan")
        self.reports.append(SolveReport(operator.name, self.name, 0, rel, True,
                                        extra={"method": self.kind, "fisher": f.fisher, "measured": self.measure}))
        return x


class PreconditionedCGSolver(Solver):
    """Conjugate gradient on (H + λI)X = B (all k right-hand sides at once) preconditioned by the EK-FAC (or
    K-FAC) inverse M⁻¹ = (H̃ + λI)⁻¹ of :class:`KroneckerFactors` — the exact answer of the operator it is
    given (e.g. :class:`GaussNewtonBlock`), in few iterations where H̃ is close to H.

    Stops when every column's residual is ≤ ``rtol``·‖b‖ or after ``maxiter`` iterations (default
    min(2p + 10, 200)) with a :class:`ConvergenceWarning`. The reported ``relative_error`` is MEASURED:
    one extra product ‖(H + λI)x − b‖/‖b‖ after the last iteration (the recursive residual is in
    ``extra``). Non-positive curvature raises :class:`NotPositiveDefiniteError` as in CGSolver. Columns
    whose EK-FAC start has a larger residual than x = 0 start from 0 (``extra["started_from_zero"]``)."""

    name = "pcg"

    def __init__(self, factors: Mapping[str, KroneckerFactors], kind: str = "ekfac", rtol: float = 1e-4,
                 maxiter: int | None = None, strict: bool = False):
        super().__init__(strict)
        self.factors, self.kind, self.rtol, self.maxiter = factors, kind, rtol, maxiter

    def solve(self, operator, rhs: torch.Tensor, damping: float = 0.0) -> torch.Tensor:
        damping = _check_damping(damping)
        b = _as_matrix(rhs, operator.size, operator.name)
        f = _factors_for(self.factors, operator)
        precondition = (lambda r: f.inverse_hvp(r, max(damping, 1e-12), self.kind))
        maxiter = self.maxiter or min(2 * operator.size + 10, 200)
        # the EK-FAC answer as the starting point, where it is closer than 0
        return self._preconditioned_solve(
            operator, b, damping, precondition, precondition(b), self.rtol, maxiter,
            extra={"preconditioner": self.kind, "fisher": f.fisher},
            advice=f"raise maxiter (now {maxiter}) or damping (now {damping:g}), or loosen rtol")


# ---------------------------------------------------------------------------------------------------------
# Choosing per block: dense where small, low-rank where the Hessian data is small, preconditioned CG otherwise


@dataclass
class BlockChoice:
    """What :func:`solve_blocks` did for one block, and the relative residual ‖(H_l + λI)s − g‖/‖g‖ reached
    (measured on the exact Gauss-Newton block; NaN where measuring would cost more than the solve)."""

    block: str
    size: int
    method: str
    reason: str
    iterations: int = 0
    residual: float = float("nan")
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def kronecker_supported(model: nn.Module, blocks: Sequence[ParameterBlock]) -> bool:
    """True when every block is exactly one Linear/Conv2d layer's weight (and bias)."""
    try:
        for b in blocks:
            _layer_of(model, b)
    except UnsupportedLayerError:
        return False
    return True


# modules that are affine or piecewise linear in their input (BatchNorm in eval mode is affine)
PIECEWISE_LINEAR_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.Hardtanh,
                            nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten,
                            nn.Dropout, nn.Dropout2d, nn.Identity, nn.BatchNorm1d, nn.BatchNorm2d, nn.Sequential,
                            nn.ModuleList)


def only_piecewise_linear_modules(model: nn.Module) -> bool:
    """True when every submodule is affine or piecewise linear in its input (:data:`PIECEWISE_LINEAR_MODULES`,
    or a container of them). Necessary for "the Gauss-Newton block is the block Hessian" but not sufficient:
    a ``forward`` may call a smooth function (``F.gelu``) that no module shows, hence
    :func:`gauss_newton_check_blocks` still checks one block numerically."""
    return all(type(m) in PIECEWISE_LINEAR_MODULES for m in model.modules() if m is not model)


def gauss_newton_check_blocks(model: nn.Module, blocks: Sequence[ParameterBlock]) -> list[ParameterBlock]:
    """The blocks on which "Gauss-Newton = Hessian" is checked numerically: the first block alone when the
    model is built from piecewise-linear modules only (the first layer's block Hessian sees the curvature of
    every non-linearity after it, so one smooth function anywhere downstream shows there), else every block.
    On torchvision VGG16 at 224 px this is 1 check instead of 16 (each one forward-over-reverse product
    through the whole net)."""
    return list(blocks[:1]) if only_piecewise_linear_modules(model) else list(blocks)


def _positions(fn: ModelFunction, layers, x) -> list[int]:
    sizes = {}
    hooks = [m.register_forward_hook(lambda mod, args, out, i=i, b=b: sizes.__setitem__(i, _inputs(mod, args[0], b).shape[1]))
             for i, (m, _, b) in enumerate(layers)]
    try:
        with torch.no_grad():
            fn.model(x[:1].to(fn.device, fn.dtype))
    finally:
        for h in hooks:
            h.remove()
    return [sizes[i] for i in range(len(layers))]


def batch_for_memory(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, batch_size: int,
                     memory_mb: float = 1024.0, per_position: int = 0) -> int:
    """``batch_size`` capped so that one batch's layer inputs and outputs (im2col patches included), times 4
    for the autograd graph, plus ``per_position`` numbers per output position, stay within ``memory_mb``:
    the defaults then scale from MNIST nets to VGG16 at 224 px."""
    layers = [_layer_of(fn.model, b) for b in blocks]
    positions = _positions(fn, layers, x)
    element = torch.empty(0, dtype=fn.dtype).element_size()
    per_image = sum(t * (m.weight[0].numel() + 1 + (4 + per_position) * m.weight.shape[0])
                    for t, (m, _, _) in zip(positions, layers)) * element
    return int(max(1, min(batch_size, memory_mb * 2 ** 20 // max(per_image, 1))))


def gauss_newton_is_hessian(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                            n: int = 2, tolerance: float | None = None) -> list[float]:
    """Per block ‖G v − H v‖/‖H v‖ for a random v on ``n`` examples (G: :class:`GaussNewtonBlock`, H: the
    block Hessian by forward-over-reverse HVPs). Round-off where the layers after the block are piecewise
    linear (ReLU, max-pool): then the Gauss-Newton block IS the block Hessian."""
    from cnnexplain.methods.influence_functions.hvp import BlockHessian

    xs, ys = x[:n], y[:n]
    generator = torch.Generator().manual_seed(0)
    errors = []
    for block in blocks:
        v = torch.randn(1, block.numel, generator=generator, dtype=torch.float64).to(fn.device, fn.dtype)
        reference = BlockHessian(fn, block, xs, ys, batch_size=n).matvec(v)
        got = GaussNewtonBlock(fn, block, xs, ys, batch_size=n).matvec(v)
        errors.append(float((got - reference).norm() / reference.norm().clamp_min(1e-30)))
    return errors


def woodbury_linear(op: CachedGaussNewtonBlock, rhs: torch.Tensor, damping: float) -> torch.Tensor:
    """Exact (H + λI)⁻¹B for a Linear layer's cached Gauss-Newton block by the Woodbury identity, without
    forming its n·C pseudo-gradient rows D_id = g_id a_iᵀ: their Gram matrix is (g_id·g_je)(a_i·a_j), F b is
    g_idᵀ B a_i and Fᵀu is Σ u_id g_id a_iᵀ — an (n·C)² kernel and O(n·C·out·in') work, whatever p is."""
    if op.g.shape[2] != 1:
        raise ValueError(f"block {op.name!r}: woodbury_linear needs one position per example (a Linear layer)")
    if damping <= 0:
        raise ValueError(f"block {op.name!r}: the Woodbury solve needs damping λ > 0")
    b = _as_matrix(rhs, op.size, op.name)
    a, g = op.a[:, 0].double(), op.g[:, :, 0].double()  # (n, in'), (n, C, out)
    n, C = g.shape[:2]
    rows = g.reshape(n * C, -1)
    kernel = rows @ rows.T  # (g_id·g_je), then times (a_i·a_j) / n in place: the kernel is the largest array here
    kernel.view(n, C, n, C).mul_((a @ a.T / n)[:, None, :, None])
    kernel.diagonal().add_(damping)
    m = op.layout.to_matrix(b.double())  # (k, out, in')
    fb = torch.einsum("kno,ndo->knd", torch.einsum("koi,ni->kno", m, a), g).reshape(len(b), n * C) / math.sqrt(n)
    u = solve_positive_definite(kernel, fb.T).T.reshape(len(b), n, C)
    ftu = torch.einsum("kno,ni->koi", torch.einsum("knd,ndo->kno", u, g), a) / math.sqrt(n)
    return op.layout.from_matrix((m - ftu) / damping).to(rhs.dtype)


def solve_positive_definite(matrix: torch.Tensor, rhs: torch.Tensor, refinements: int = 10,
                             rtol: float = 1e-12) -> torch.Tensor:
    """matrix⁻¹ rhs for a symmetric positive definite float64 ``matrix`` (p, p) and ``rhs`` (p, k) by mixed
    precision iterative refinement: a float32 Cholesky (about half the time of a float64 one), then
    corrections from float64 residuals until ‖rhs − matrix·x‖ ≤ ``rtol``·‖rhs‖. The corrections shrink by
    about cond(matrix)·2⁻²⁴ per step, so they converge where cond(matrix) < ~10⁷; where the float32
    factorisation fails or they do not converge in ``refinements`` steps, a float64 Cholesky solves it
    instead — the answer is float64-accurate either way."""
    chol, info = torch.linalg.cholesky_ex(matrix.float())
    if not info:
        x = cholesky_solve(rhs.float(), chol).to(matrix.dtype)
        target = rtol * rhs.norm()
        for _ in range(refinements):
            residual = rhs - matrix @ x
            if residual.norm() <= target:
                return x
            x += cholesky_solve(residual.float(), chol).to(matrix.dtype)
        if (rhs - matrix @ x).norm() <= target:
            return x
    return cholesky_solve(rhs, torch.linalg.cholesky(matrix))


def exact_classes_for(classes: int, exact_classes: int = 20) -> int:
    """Output gradients kept per example: all C classes for the exact expectation, else 1 sampled label."""
    return classes if classes <= exact_classes else 1


# What nystrom_is_cheaper assumes a Nyström-preconditioned CG takes: the sketch's products and CG iterations per
# right-hand side (LeNet-5, 500 images, λ = 1e-3: ranks 32–64, 16–26 iterations; taken at the top of that range)
NYSTROM_SKETCH_PRODUCTS = 64
NYSTROM_ITERATIONS = 30
# ... and the products per right-hand side of Woodbury-preconditioned CG (the start's residual, 1–2 iterations on
# LeNet-5 at τ = 1, the measured residual)
WOODBURY_PCG_PRODUCTS = 4


def nystrom_is_cheaper(op: CachedGaussNewtonBlock, k: int, rank: int | None = None) -> bool:
    """Whether Nyström-preconditioned CG on ``op`` should take fewer flops than a Woodbury solve for k
    right-hand sides. Woodbury's cost is fixed by the kernel's rank m — n·(C−1) for the exact solve, the kept
    ``rank`` m' for Woodbury-preconditioned CG (plus its ``WOODBURY_PCG_PRODUCTS``·k products): the kernel (m²·out
    for a Linear layer's Kronecker form, m²·p from a conv's pseudo-gradient rows) and its Cholesky (m³/3, in
    float32 at about half the float64 time); Nyström's is (``NYSTROM_SKETCH_PRODUCTS`` + ``NYSTROM_ITERATIONS``·k)
    products of about 4·n·T·(p + (C−1)·out) flops each — it grows with p and k, Woodbury's with m³."""
    n, classes, positions, out = op.g.shape
    m = n * classes if rank is None else rank
    linear = positions == 1
    product = 4 * n * positions * (op.size + classes * out)
    woodbury = m ** 2 * (out if linear else op.size) + (0.5 if linear else 1.0) * m ** 3 / 3
    if rank is not None:
        woodbury += WOODBURY_PCG_PRODUCTS * k * product
    return (NYSTROM_SKETCH_PRODUCTS + NYSTROM_ITERATIONS * k) * product < woodbury


def rows_beat_dense(size: int, rows: int, k: int, kept: int = 0) -> bool:
    """Whether CG preconditioned by Woodbury on ``kept`` principal directions of a block held as ``rows``
    pseudo-gradient rows (p = ``size`` columns) should take fewer multiply-adds for k right-hand sides than the
    dense block formed from the rows and factorised: the kernel's syrk and Cholesky (kept²·p/2 + kept³/3) and
    ``WOODBURY_PCG_PRODUCTS``·k products of 2·rows·p, against the dense block's syrk and its float64 Cholesky
    (rows·p²/2 + 2·p³/3, float64 at about twice the float32 time). ``kept=0`` bounds the first from below by its
    products alone: where even that loses, the rows need not be held. The flops, not the seconds: on LeNet-5's
    conv2 (500 images, p = 2,416, 1,224 of 4,500 directions kept) it estimated 3.3 against 22.5 G and measured
    0.15 against 0.47 s."""
    woodbury = kept ** 2 * size / 2 + kept ** 3 / 3 + WOODBURY_PCG_PRODUCTS * k * 2 * rows * size
    return woodbury < rows * size ** 2 / 2 + 2 * size ** 3 / 3


def solve_blocks(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                 rhs: Sequence[torch.Tensor], damping: float, solver: str = "auto", dense_limit: int = 4096,
                 low_rank_limit: int = 8192, cache_mb: float = 2048.0, rtol: float = 1e-4,
                 maxiter: int | None = None, batch_size: int = 64, budget_s: float | None = 3600.0,
                 fisher: str = "auto", low_rank_elements: int = 1 << 27, hessian_data_scores: bool = False):
    """(H_l + λI)⁻¹ rhs_l for every Linear/Conv2d block, H_l the exact Gauss-Newton block of the mean
    cross-entropy over ``(x, y)`` (= the block Hessian where the later layers are piecewise linear).

    One pass over the Hessian data stores each block's Gauss-Newton factors
    (:class:`CachedGaussNewtonBlock`) when they fit in ``cache_mb``; otherwise products stream
    (:class:`GaussNewtonBlock`). ``solver="auto"`` then chooses per block:

    - ``"exact"`` for p_l ≤ ``dense_limit`` (and C ≤ 20 classes): the dense block, accumulated in the one pass
      over the Hessian data, and a Cholesky — except for a conv whose n·(C−1)·p_l pseudo-gradient rows fit
      (≤ ``low_rank_elements``, and in ``cache_mb`` beside the other factors) and for which
      :func:`rows_beat_dense` does not rule Woodbury-PCG out: the pass keeps its rows
      (:class:`~cnnexplain.methods.influence_functions.woodbury_pcg.PseudoGradientRowsBlock`), and its kept
      principal directions then decide between the dense block formed from them and ``"woodbury-pcg"`` on
      them. On LeNet-5's conv2 (500 images, 1,224 of 4,500 directions kept) that took 0.15 s against 0.47 s;
    - ``"woodbury-pcg"`` where the Hessian data is small, n·(C−1) ≤ ``low_rank_limit`` and n·(C−1) < p_l: CG on
      the exact block preconditioned by the Woodbury inverse of its principal pseudo-gradient directions, all
      but those carrying ≤ λ of its curvature
      (:class:`~cnnexplain.methods.influence_functions.woodbury_pcg.WoodburyPCGSolver`) — for a Linear layer in
      its Kronecker form (any p_l), for a conv on the (n·(C−1), p_l) pseudo-gradient rows (held if
      n·(C−1)·p_l ≤ ``low_rank_elements``). On LeNet-5 (500 images) it kept 1,825 of fc1's 4,500 directions and
      reached rtol in one iteration: 0.22 s against 1.1 s for the exact Woodbury solve (``"woodbury"``);
      — unless :func:`nystrom_is_cheaper` estimates fewer flops for ``"nystrom"`` at the kept rank;
    - ``"nystrom"`` for the other cached blocks: CG on the exact block preconditioned by its rank-adaptive
      randomized Nyström approximation (:class:`~cnnexplain.methods.influence_functions.nystrom.NystromPCGSolver`),
      to ``rtol`` — it converged in 16–26 iterations on LeNet-5 where EK-FAC-preconditioned CG had not in 30;
    - ``"nystrom"`` also where products stream, its sketch capped at rank ``NYSTROM_STREAMING_MAX_RANK``: on
      LeNet-5 with every block streamed (500 images, 10 right-hand sides) it took 15.0 s and reached rtol on all
      five blocks in 3–25 iterations, where EK-FAC-preconditioned CG took 46.6 s and stopped at 60 iterations
      on three of them with residuals up to 5e-2;
    - ``"pcg"`` (CG preconditioned by EK-FAC, whose factors are out² + in'² numbers) where products stream and
      the Nyström factors — about ``NYSTROM_COPIES`` p × rank float64 matrices while they are built — would
      exceed ``cache_mb``;
    - ``"kfac"`` (the K-FAC inverse, residual not measured) only where products stream and their estimated
      cost — ``NYSTROM_SKETCH_PRODUCTS`` + ``NYSTROM_ITERATIONS``·k products per Nyström block, 10·k per EK-FAC
      one — exceeds ``budget_s`` (default an hour; None: never) (e.g. VGG16 at 224 px on a CPU).

    ``solver`` may also force one of ``"exact"``, ``"woodbury"`` (exact: :func:`woodbury_linear` or the Woodbury
    identity on the rows), ``"woodbury-pcg"``, ``"nystrom"``, ``"pcg"``, ``"ekfac"``, ``"kfac"`` for all blocks.
    Returns the solutions, one :class:`BlockChoice` per block, and timings/info.

    ``hessian_data_scores``: also return, fourth, the harmful-sign scores −s_lkᵀ ∇_{θ^l} L(x_j, y_j) of the Hessian
    data itself (s_l the solutions), shape (k, n, L) as :func:`kronecker_scores` gives them, from each example's
    loss gradient kept by the one pass (:class:`LossGradients`; one backward pass more per batch) — where the
    cache holds the factors and those gradients fit beside them in ``cache_mb``; else None (score by
    :func:`kronecker_scores`). The influence of the training set on which the Hessian is taken then needs no
    second pass over it.
    """
    from cnnexplain.methods.influence_functions.hvp import DenseBlock, FactoredBlock
    from cnnexplain.methods.influence_functions.nystrom import (NYSTROM_COPIES, NYSTROM_STREAMING_MAX_RANK,
                                                                NystromPCGSolver, nystrom_bytes)
    from cnnexplain.methods.influence_functions.solvers import ExactSolver, WoodburySolver
    from cnnexplain.methods.influence_functions.woodbury_pcg import (TRUNCATION, PseudoGradientRowsBlock,
                                                                     WoodburyPCGSolver, principal_directions)

    if solver not in PLANNED_SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(map(repr, PLANNED_SOLVERS))}, got {solver!r}")
    info: dict = {}
    layers = [_layer_of(fn.model, b) for b in blocks]
    classes = _classes(fn, x, y)
    n = len(x)
    positions = _positions(fn, layers, x)
    element = torch.empty(0, dtype=fn.dtype).element_size()
    # small blocks solved exactly get their dense H in the pass itself; only the others are cached
    # (only where the exact expectation over the C classes is affordable: C − 1 backward passes per batch)
    dense = [solver in ("auto", "exact") and b.numel <= dense_limit and exact_classes_for(classes) == classes
             for b in blocks]
    # ... except, under auto, the convs whose pseudo-gradient rows are few enough to hold: the pass keeps the rows,
    # and the block's kept principal directions then decide between the dense block and Woodbury-PCG on them
    rank = n * (classes - 1)  # softmax_hessian_root: C − 1 pseudo-gradients per example
    held_rows = [solver == "auto" and d and t > 1 and rank * b.numel <= low_rank_elements
                 and rows_beat_dense(b.numel, rank, len(g))
                 for b, d, t, g in zip(blocks, dense, positions, rhs)]
    factor_bytes = n * sum(t * (m.weight[0].numel() + bias + (classes - 1) * m.weight.shape[0])
                           for t, (m, _, bias), d, r in zip(positions, layers, dense, held_rows) if not (d or r))
    rows_bytes = rank * sum(b.numel for b, r in zip(blocks, held_rows) if r)
    if (factor_bytes + rows_bytes) * element > cache_mb * 2 ** 20:  # no room for the rows: dense, as decided
        held_rows, rows_bytes = [False] * len(blocks), 0
    dense = [d and not r for d, r in zip(dense, held_rows)]
    cache_bytes = (factor_bytes + rows_bytes) * element
    loss_bytes = element * sum(LossGradients.elements(n, t, m.weight[0].numel() + bias, m.weight.shape[0])
                               for t, (m, _, bias) in zip(positions, layers)) if hessian_data_scores else 0
    batch_size = batch_for_memory(fn, blocks, x, batch_size, per_position=min(classes, exact_classes_for(classes)))
    info.update(classes=classes, n_hessian=n, cache_mb=cache_bytes / 2 ** 20, batch_size=batch_size)
    start = time.perf_counter()
    # a forced approximate solve needs no exact block: no cache pass (its residual is then not measured)
    cached = cache_bytes <= cache_mb * 2 ** 20 and solver not in ("ekfac", "kfac")
    gradients = None
    if cached and hessian_data_scores and cache_bytes + loss_bytes <= cache_mb * 2 ** 20:
        operators, gradients = gauss_newton_cache(fn, blocks, x, y, batch_size, dense=dense, rows=held_rows,
                                                  loss_gradients=True)
        info["operator"] = "cached Gauss-Newton factors (and the Hessian data's loss gradients)"
    elif cached:
        operators = gauss_newton_cache(fn, blocks, x, y, batch_size, dense=dense, rows=held_rows)
        info["operator"] = "cached Gauss-Newton factors"
    else:
        operators = [GaussNewtonBlock(fn, b, x, y, batch_size) for b in blocks]
        if any(dense):
            held = iter(gauss_newton_cache(fn, [b for b, d in zip(blocks, dense) if d], x, y, batch_size,
                                           dense=[True] * sum(dense)))
            operators = [next(held) if d else op for op, d in zip(operators, dense)]
        info["operator"] = "streaming Gauss-Newton products (jvp + vjp)"
    info["dense_blocks"], info["row_blocks"] = sum(dense), sum(held_rows)
    info["cache_s"] = time.perf_counter() - start

    product_s = 0.0
    if not cached and solver == "auto":  # one forward on a batch, times ~4 (jvp + vjp) per vector, over the Hessian data
        probe = x[:min(batch_size, n)].to(fn.device, fn.dtype)
        t0 = time.perf_counter()
        with torch.no_grad():
            fn.model(probe)
        product_s = 4 * (time.perf_counter() - t0) * n / len(probe)
        info["product_s_per_vector_estimate"] = product_s

    k = len(rhs[0]) if len(rhs) else 0
    nystrom_fits = [nystrom_bytes(b.numel, NYSTROM_STREAMING_MAX_RANK) <= cache_mb * 2 ** 20 for b in blocks]
    streamed_products = sum(NYSTROM_SKETCH_PRODUCTS + NYSTROM_ITERATIONS * k if fits else 10 * k
                            for fits, d in zip(nystrom_fits, dense) if not d) if not cached else 0
    methods, reasons = [], []
    directions: dict[int, object] = {}  # principal_directions of the blocks auto weighed for Woodbury-PCG

    def kept_directions(i: int) -> int:
        directions[i] = principal_directions(operators[i])
        return len(directions[i].kept(damping, TRUNCATION)[0])

    for i, (block, op) in enumerate(zip(blocks, operators)):
        p = block.numel
        if solver != "auto":
            methods.append(solver), reasons.append("requested")
        elif held_rows[i]:
            kept = kept_directions(i)
            if rows_beat_dense(p, rank, len(rhs[i]), kept):
                methods.append("woodbury-pcg"), reasons.append(  # the solve appends the kept rank
                    f"p={p} <= dense_limit={dense_limit}, but CG preconditioned by Woodbury on its principal "
                    "pseudo-gradient directions estimated cheaper than forming and factorising the dense block")
            else:
                del directions[i]  # its rotated rows: as large as the block's own
                methods.append("exact"), reasons.append(
                    f"p={p} <= dense_limit={dense_limit} (dense block formed from its {rank} pseudo-gradient rows: "
                    f"estimated cheaper than Woodbury-PCG on {kept} principal directions)")
        elif dense[i]:
            methods.append("exact"), reasons.append(f"p={p} <= dense_limit={dense_limit}")
        elif (cached and rank <= low_rank_limit and rank < p
              and (op.g.shape[2] == 1 or rank * p <= low_rank_elements)):
            linear = op.g.shape[2] == 1
            kept = kept_directions(i)
            if nystrom_is_cheaper(op, len(rhs[i]), rank=kept):
                methods.append("nystrom"), reasons.append(
                    f"rank n·(C−1)={rank} < p={p}, but Nyström-preconditioned CG estimated cheaper than Woodbury "
                    f"on the {kept} principal directions")
            else:
                methods.append("woodbury-pcg"), reasons.append(
                    f"rank n·(C−1)={rank} < p={p}: CG preconditioned by Woodbury on the principal directions"
                    + (" (Kronecker form of a Linear layer)" if linear else ""))
        elif cached:
            methods.append("nystrom"), reasons.append("large block: Nyström-preconditioned CG on the exact block")
        elif budget_s is not None and product_s * streamed_products > budget_s:
            methods.append("kfac"), reasons.append(
                f"streaming products ≈{product_s:.1f} s/vector × {streamed_products} for CG exceed the budget "
                f"{budget_s:g} s")
        elif nystrom_fits[i]:
            methods.append("nystrom"), reasons.append(
                "large block, streaming products: Nyström-preconditioned CG on the exact block")
        else:
            methods.append("pcg"), reasons.append(
                f"large block, streaming products: EK-FAC-preconditioned CG (Nyström's {NYSTROM_COPIES} p × "
                f"{NYSTROM_STREAMING_MAX_RANK} float64 factors would exceed cache_mb={cache_mb:g})")
    needs = [i for i, m in enumerate(methods) if m in ("pcg", "ekfac", "kfac")]
    factors: dict[str, KroneckerFactors] = {}
    if needs:
        start = time.perf_counter()
        sub = [blocks[i] for i in needs]
        ekfac = any(methods[i] in ("pcg", "ekfac") for i in needs)
        made = kronecker_factors(fn, sub, x, y, batch_size, fisher=fisher, ekfac=ekfac,
                                 cache=[operators[i] for i in needs] if cached else None)
        factors = {f.name: f for f in made}
        info["factors_s"] = time.perf_counter() - start
        info["fisher"] = made[0].fisher
    solved, choices = [], []
    for i, (block, op, method, reason, g) in enumerate(zip(blocks, operators, methods, reasons, rhs)):
        start = time.perf_counter()
        g = g.detach().to(fn.device, fn.dtype)
        iterations, residual = 0, float("nan")
        if method == "exact":
            if isinstance(op, PseudoGradientRowsBlock):  # auto chose the dense block after holding the rows
                op = DenseBlock(block.name, op.dense())
            elif not isinstance(op, DenseBlock):  # forced "exact" on a block above dense_limit: form it from the cache
                if not cached:
                    raise ValueError(f"block {block.name!r} ({block.numel} parameters): solver='exact' needs its "
                                     f"Gauss-Newton factors cached, {cache_bytes / 2 ** 20:.0f} MB > cache_mb={cache_mb:g}; "
                                     "raise cache_mb or use solver='pcg'")
                h = torch.zeros(block.numel, block.numel, device=fn.device, dtype=fn.dtype)
                with blas_threads():  # the same accumulation as the pass's dense blocks, batch by batch
                    for _, [(a, gs, _)] in _cached_batches([op], batch_size):
                        _accumulate_dense_block(h, a, gs)
                op = DenseBlock(block.name, _in_block_order(op.layout, h) / n)
            s = ExactSolver().solve(op, g, damping)
            residual = max_relative_residual(op, s, g, damping)  # the same H, in one GEMM
        elif method == "woodbury" and cached and op.g.shape[2] == 1:
            s = woodbury_linear(op, g, damping)
        elif method == "woodbury":
            f = torch.cat(list(op.pseudo_gradient_rows())) / math.sqrt(n)
            s = WoodburySolver().solve(FactoredBlock(block.name, f), g, damping)
        elif method == "woodbury-pcg":
            if not cached:
                raise ValueError(f"block {block.name!r}: solver='woodbury-pcg' needs the Gauss-Newton factors cached, "
                                 f"{cache_bytes / 2 ** 20:.0f} MB > cache_mb={cache_mb:g}; raise cache_mb or use "
                                 "solver='nystrom'")
            woodbury = WoodburyPCGSolver(rtol=rtol, maxiter=maxiter)
            if i in directions:
                woodbury.directions[block.name] = directions[i]
            s = woodbury.solve(op, g, damping)
            report = woodbury.reports[-1]
            iterations, residual = report.iterations, report.relative_error
            reason += (f" (rank {report.extra['rank']} of {report.extra['directions']}, dropped curvature ≤ "
                       f"{report.extra['dropped_over_damping']:.2g}λ)")
        elif method == "nystrom":  # where products stream every sketch vector is a pass over the Hessian data
            nystrom = NystromPCGSolver(rtol=rtol, maxiter=maxiter,
                                       max_rank=1024 if cached else NYSTROM_STREAMING_MAX_RANK)
            s = nystrom.solve(op, g, damping)
            report = nystrom.reports[-1]
            iterations, residual = report.iterations, report.relative_error
            reason += f" (rank {report.extra['rank']}, λ̂_r/λ = {report.extra['smallest_over_damping']:.2g})"
        elif method == "pcg":
            pcg = PreconditionedCGSolver(factors, rtol=rtol, maxiter=maxiter)
            s = pcg.solve(op, g, damping)
            iterations, residual = pcg.reports[-1].iterations, pcg.reports[-1].relative_error
        else:
            approx = KroneckerSolver(factors, kind=method, measure=cached)  # measured where products are cheap
            s = approx.solve(op, g, damping)
            residual = approx.reports[-1].relative_error
        if method == "woodbury":
            residual = max_relative_residual(op, s, g, damping)
        solved.append(s)
        choices.append(BlockChoice(block.name, block.numel, method, reason, iterations, residual,
                                   time.perf_counter() - start))
    if not hessian_data_scores:
        return solved, choices, info
    info["hessian_data_scores"] = gradients is not None
    if gradients is None:
        return solved, choices, info, None
    start = time.perf_counter()
    scores = torch.stack([-held.dot(s).detach().cpu() for held, s in zip(gradients, solved)], dim=2)
    info["scores_s"] = time.perf_counter() - start
    return solved, choices, info, scores



def kronecker_scores(fn: ModelFunction, blocks: Sequence[ParameterBlock], test_side: Sequence[torch.Tensor],
                     x: torch.Tensor, y: torch.Tensor, batch_size: int = 32, chunk_elements: int = 1 << 24,
                     progress: bool = False) -> torch.Tensor:
    """Layer-wise scores −s_lᵀ ∇_{θ^l} L(x_j, y_j), shape (n_test, n_train, n_layers), for Linear/Conv2d
    blocks WITHOUT forming per-sample gradients of all blocks at once: one forward and one backward per
    batch give each layer's inputs a_j and output gradients g_j, and ⟨S, Σ_t g_jt a_jtᵀ⟩ = Σ_t g_jtᵀ S a_jt
    is contracted layer by layer in chunks — memory that of one batch of activations, whatever the
    parameter count (VGG16's 138M), instead of batch × parameters. For a conv of several positions the
    chunk's per-example gradients Σ_t g_jt a_jtᵀ are formed first, by the conv's weight-gradient kernel
    (:meth:`ConvInput.example_gradients`: no im2col patches; T·in'·out work, then k·out·in' for the dots), k
    times less than contracting each test vector over the T positions."""
    from cnnexplain.progress import progress as progress_bar

    check_batch(x, y, "training data")
    batch_size = batch_for_memory(fn, blocks, x, batch_size, per_position=len(test_side[0]))
    layers = [_layer_of(fn.model, b) for b in blocks]
    _, layouts = _layouts(fn, blocks, "exact")
    mats = [f.to_matrix(s.to(fn.device, fn.dtype)) for f, s in zip(layouts, test_side)]  # (k, out, in')
    k = mats[0].shape[0]
    out = torch.empty(k, len(x), len(blocks), dtype=fn.dtype)
    captured: dict[int, tuple] = {}

    def hook(mod, args, output, index, bias):
        zero = torch.zeros_like(output, requires_grad=True)
        captured[index] = (_layer_input(mod, args[0].detach(), output, bias, raw=True), zero)
        return output + zero

    hooks = [m.register_forward_hook(lambda mod, args, o, i=i, b=b: hook(mod, args, o, i, b))
             for i, (m, _, b) in enumerate(layers)]
    try:
        for start in progress_bar(list(range(0, len(x), batch_size)), desc="training pass", disable=not progress,
                                  leave=False):
            xb, yb = fn.to_device(x[start:start + batch_size], y[start:start + batch_size])
            captured.clear()
            with torch.enable_grad():
                logits = fn.model(xb)
                loss = nn.functional.cross_entropy(logits, yb, reduction="sum")  # per-example gradients
                grads = torch.autograd.grad(loss, [captured[i][1] for i in range(len(layers))])
            for l, (module, _, _) in enumerate(layers):
                a, m = captured[l][0], mats[l]
                if isinstance(a, ConvInput):  # a conv's per-example gradients by its weight-gradient kernel
                    g = grads[l].detach().flatten(2).unsqueeze(1)  # (b, 1, out, T)
                    step = max(1, chunk_elements // max(1, g.shape[2] * max(m.shape[2], a.positions)))
                    scores = torch.cat([torch.einsum("boi,koi->kb", a.example_gradients(g, c, c + step)[:, 0], m)
                                        for c in range(0, len(g), step)], dim=1)
                    out[:, start:start + len(xb), l] = -scores.detach().cpu()
                    continue
                g = _outputs(module, grads[l].detach())
                if a.shape[1] == 1:
                    scores = torch.einsum("bo,koi,bi->kb", g[:, 0], m, a[:, 0])
                elif k > 1:  # the layer's per-example gradient first: T·in'·out + k·out·in', not k·T·in'·out
                    step = max(1, chunk_elements // max(1, a.shape[2] * g.shape[2]))
                    scores = torch.cat([torch.einsum("boi,koi->kb", torch.einsum("bti,bto->boi", a[c:c + step],
                                                                                 g[c:c + step]), m)
                                        for c in range(0, len(a), step)], dim=1)
                else:
                    step = max(1, chunk_elements // max(1, k * a.shape[1] * m.shape[1]))
                    scores = torch.cat([torch.einsum("btko,bto->kb", torch.einsum("bti,koi->btko", a[c:c + step], m),
                                                     g[c:c + step]) for c in range(0, len(a), step)], dim=1)
                out[:, start:start + len(xb), l] = -scores.detach().cpu()
    finally:
        for h in hooks:
            h.remove()
    return out


PLANNED_SOLVERS = ("auto", "exact", "woodbury", "woodbury-pcg", "nystrom", "pcg", "ekfac", "kfac")


class PlannedSolver(Solver):
    """What :class:`cnnexplain.methods.influence_functions.layerwise.LayerwiseInfluence` holds as ``solver``
    when :func:`solve_blocks` chooses per block: its ``reports`` are filled from the choices."""

    name = "per-block (kfac.solve_blocks)"

    def __init__(self, choice: str = "auto", strict: bool = False):
        super().__init__(strict)
        if choice not in PLANNED_SOLVERS:
            raise ValueError(f"with Kronecker curvature the solver must be one of "
                             f"{', '.join(map(repr, PLANNED_SOLVERS))}, got {choice!r}")
        self.choice = choice

    def record(self, choices: Sequence[BlockChoice]) -> None:
        self.reports = [SolveReport(c.block, c.method, c.iterations, c.residual,
                                    converged=not (c.residual > 1e-3), extra={"reason": c.reason, "seconds": c.seconds})
                        for c in choices]
