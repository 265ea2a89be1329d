"""Layer-wise influence functions (Aamir et al. 2023, Eq. 5–7) and Koh & Liang's global variant.

For a test example x̂_k and a training example x_j, the influence of up-weighting x_j on the test loss is
(Koh & Liang 2017; Aamir et al. Eq. 5)

    I(x_j, x̂_k) = −∇_θ L(x̂_k, θ̂)ᵀ H⁻¹ ∇_θ L(x_j, θ̂),     H = (1/n) Σ_i ∇²_θ L(x_i, θ̂)  (Eq. 4),

and layer-wise (Eq. 6) with the gradients and the Hessian block of the parameters θ^l of one layer:

    I_l(x_j, x̂_k) = −∇_{θ^l} L(x̂_k)ᵀ (H_l + λI)⁻¹ ∇_{θ^l} L(x_j),     I_total = Σ_l I_l  (Eq. 7).

Sign convention: every :class:`InfluenceScores` says which sign it carries (``scores.sign``).
``sign="harmful"`` (what :class:`LayerwiseInfluence` computes; Eq. 5 as printed, Koh & Liang's I_up,loss):
the score is dL_test/dε for *up-weighting* the training example, + = up-weighting x_j would raise the test
loss ("harmful"), − = it would lower it ("helpful"). ``sign="helpful"`` is its negative, +gᵀH⁻¹g (the sign
of pyDVL and of Koh & Liang's published code): + = x_j helps the test example, ≈ n × the test-loss
increase when x_j is removed. :meth:`InfluenceScores.with_sign` converts; :data:`SIGN_LABELS` words each
sign for axis labels and table headers. Removing x_j from n training examples changes the test loss by
about −I/n for harmful-sign scores (:func:`predicted_removal_change`). :meth:`InfluenceScores.most_influential`
returns the highest scores of the sign the scores carry (``largest=False``: the lowest).

How it is computed (:class:`LayerwiseInfluence`): the test side — per-layer inverse-HVPs
s_l = (H_l + λI)⁻¹ ∇_{θ^l}L(x̂_k) for all test examples — is solved once per layer and cached; then ONE
streaming pass over the training set computes per-sample gradients of all layers batch by batch (vmap)
and contracts them with the cached s_l. Training gradients are never all held in memory. The pass can be
sharded over a Dask cluster (``dask="local"`` or a scheduler address or a ``distributed.Client``), with
the same batches and hence the same results. With Kronecker curvature, when the training data are the Hessian
data and the cache fits, the one pass over that data also keeps each example's loss gradient (one backward pass
more per batch), and the scores need no second pass.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cnnexplain.methods.influence_functions.hvp import (BlockHessian, check_batch_size, check_eval_mode, DenseBlock, FactoredBlock, gauss_newton_factors, GradientGraph, LossFn, block_hessians_from_jacobians, ModelFunction, ParameterBlock, check_batch, cross_entropy,
                            global_block, parameter_blocks, per_sample_grads, select_blocks)
from cnnexplain.progress import progress as progress_bar
from cnnexplain.methods.influence_functions import kfac
from cnnexplain.methods.influence_functions.solvers import NotPositiveDefiniteError, Solver, make_solver


# "Gauss-Newton = Hessian" holds when the checks (in float64, see LayerwiseInfluence._float64_function) agree to this
GAUSS_NEWTON_TOLERANCE = 1e-8

SIGNS = ("harmful", "helpful")
SIGN_LABELS = {"harmful": "harmful sign (Eq. 5, I_up,loss): + = up-weighting raises the test loss",
               "helpful": "helpful sign (−Eq. 5): + = up-weighting lowers the test loss"}
"""How each sign is worded on axes and in table headers."""


def check_sign(sign: str) -> str:
    if sign not in SIGNS:
        raise ValueError(f"sign must be 'harmful' (Eq. 5 as printed: + = up-weighting raises the test loss) or "
                         f"'helpful' (its negative), got {sign!r}")
    return sign


@dataclass
class InfluenceScores:
    """Scores of shape ``(n_test, n_train, n_layers)`` (Eq. 5–6) and their Eq. 7 total, with the sign they
    carry: ``"harmful"`` (Eq. 5 as printed, Koh & Liang's I_up,loss; the default) or ``"helpful"`` (its
    negative). ``block_names`` are the parameter blocks' module paths (e.g. ``features.0``)."""

    layers: torch.Tensor
    block_names: list[str]
    timings: dict = field(default_factory=dict)
    sign: str = "harmful"

    def __post_init__(self):
        check_sign(self.sign)

    def with_sign(self, sign: str) -> "InfluenceScores":
        """The same scores with ``sign`` (negated when it differs from the one they carry)."""
        if check_sign(sign) == self.sign:
            return self
        return InfluenceScores(-self.layers, list(self.block_names), dict(self.timings), sign)

    @property
    def sign_label(self) -> str:
        """The sign in words, for axis labels and table headers (:data:`SIGN_LABELS`)."""
        return SIGN_LABELS[self.sign]

    @property
    def total(self) -> torch.Tensor:
        """I_total(x_j, x̂_k) = Σ_l I_l (Eq. 7), shape ``(n_test, n_train)``."""
        return self.layers.sum(-1)

    def layer(self, name: str) -> torch.Tensor:
        """Scores of one block by name, shape ``(n_test, n_train)``."""
        if name not in self.block_names:
            raise KeyError(f"no layer named {name!r}; layers are: {', '.join(self.block_names)}")
        return self.layers[..., self.block_names.index(name)]

    def most_influential(self, k: int = 1, layer: str | None = None, largest: bool = True):
        """Indices ``(n_test, k)`` and scores of the k training examples with the highest score (of the sign
        the scores carry) per test example — the paper's I_inf(l, x̂_k) = argmax_j I_l for ``layer``, or over
        I_total when None. ``largest=False`` gives the lowest."""
        scores = self.total if layer is None else self.layer(layer)
        k = min(int(k), scores.shape[1])
        values, indices = torch.topk(scores, k, dim=1, largest=largest)
        return indices, values

    def most_influential_per_layer(self, k: int = 1, largest: bool = True) -> dict[str, torch.Tensor]:
        """``{layer name: indices (n_test, k)}`` for every layer, plus ``"total"``."""
        out = {name: self.most_influential(k, name, largest)[0] for name in self.block_names}
        out["total"] = self.most_influential(k, None, largest)[0]
        return out


def predicted_removal_change(scores: torch.Tensor | InfluenceScores, n_train: int) -> torch.Tensor:
    """Koh & Liang's prediction of L_test(θ̂ without x_j) − L_test(θ̂) ≈ −I(x_j, x̂)/n (ε = −1/n) for
    harmful-sign scores I; an :class:`InfluenceScores` is converted from whichever sign it carries (its
    total)."""
    if isinstance(scores, InfluenceScores):
        scores = scores.with_sign("harmful").total
    return -scores / n_train


def class_averages(scores: torch.Tensor, train_labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Mean score over the training examples of each class: the paper's I_avg (pass ``scores.total``,
    shape ``(n_test, n_train)`` → ``(n_test, C)``) or I_Lavg (pass ``scores.layers`` → ``(n_test, C, L)``).
    A class without training examples gets NaN."""
    if scores.shape[1] != len(train_labels):
        raise ValueError(f"scores cover {scores.shape[1]} training examples but {len(train_labels)} labels given")
    labels = train_labels.to(scores.device).long()
    num_classes = int(num_classes if num_classes is not None else labels.max().item() + 1)
    onehot = nn.functional.one_hot(labels, num_classes).to(scores.dtype)  # (n_train, C)
    counts = onehot.sum(0)
    sums = torch.einsum("kj...,jc->kc...", scores, onehot)
    shape = (1, num_classes) + (1,) * (scores.dim() - 2)
    return sums / counts.reshape(shape).where(counts.reshape(shape) > 0, torch.nan)


def intra_class_average(scores: torch.Tensor, test_labels: torch.Tensor, train_labels: torch.Tensor,
                        num_classes: int | None = None) -> torch.Tensor:
    """Intra-class I_avg: for each test example the mean score over training examples of its own class
    (shape ``(n_test,)``, or ``(n_test, L)`` for layer scores). Inter-class averages are the other columns
    of :func:`class_averages`."""
    if scores.shape[0] != len(test_labels):
        raise ValueError(f"scores cover {scores.shape[0]} test examples but {len(test_labels)} labels given")
    num_classes = num_classes or int(max(train_labels.max().item(), test_labels.max().item()) + 1)
    averages = class_averages(scores, train_labels, num_classes)
    return averages[torch.arange(len(test_labels)), test_labels.to(scores.device).long()]


def _train_batches(n: int, batch_size: int, start: int = 0, stop: int | None = None):
    stop = n if stop is None else stop
    for begin in range(start, stop, batch_size):
        yield begin, min(begin + batch_size, stop)


def tensor_digest(t: torch.Tensor) -> str:
    """A hash of a tensor's shape, dtype and values (what a cache may key on; ids are reused)."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.blake2b(f"{tuple(t.shape)}|{t.dtype}".encode(), digest_size=16)
    digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def _score_range(fn: ModelFunction, blocks: Sequence[ParameterBlock], test_side: Sequence[torch.Tensor],
                 x: torch.Tensor, y: torch.Tensor, batch_size: int, progress: bool = False) -> torch.Tensor:
    """Scores (n_test, len(x), n_layers) of training examples ``x`` against cached test-side iHVPs."""
    n_test = test_side[0].shape[0]
    out = torch.empty(n_test, len(x), len(blocks), dtype=fn.dtype)
    for begin, end in progress_bar(list(_train_batches(len(x), batch_size)), desc="training pass",
                                   disable=not progress, leave=False):
        grads = per_sample_grads(fn, x[begin:end], y[begin:end], blocks)
        for l, (g, s) in enumerate(zip(grads, test_side)):
            out[:, begin:end, l] = -(s @ g.T).detach().cpu()
    if not bool(torch.isfinite(out).all()):  # finite inputs can still overflow: never hand back NaN scores
        k, j, l = (int(i) for i in (~torch.isfinite(out)).nonzero()[0])
        raise FloatingPointError(f"influence score of training example {j} (of this pass) on test example {k} "
                                 f"is {out[k, j, l].item()} in block {blocks[l].name}: the gradients or "
                                 "inverse-HVPs overflow; use float64 or more damping")
    return out


def _shard_task(model, blocks, loss_fn, test_side, x, y, batch_size):
    # functional_call swaps parameters into the module while it runs; in-process workers (a LocalCluster
    # with processes=False) share one scattered module, so each task works on its own copy.
    model = copy.deepcopy(model)
    fn = ModelFunction(model, blocks, loss_fn)
    return _score_range(fn, blocks, test_side, x, y, batch_size)


class LayerwiseInfluence:
    """Layer-wise influence (Aamir et al. Eq. 5–7) of a trained model.

    Parameters
    ----------
    model: the trained network, in eval mode if it holds BatchNorm/dropout.
    x_hessian, y_hessian: the data whose mean loss defines the Hessian H (Eq. 4) — normally the training
        set, or a subsample of it to save time.
    blocks: parameter blocks (default :func:`cnnexplain.methods.influence_functions.hvp.parameter_blocks`: one per Conv/Linear layer);
        ``layers`` restricts to some of them by name.
    solver: ``"auto"`` (default: ``"exact"`` when the block Hessians are held densely, else ``"cg"``),
        ``"exact"``, ``"cg"``, ``"lissa"`` or a :class:`cnnexplain.methods.influence_functions.solvers.Solver`.
    damping: λ in (H_l + λI)⁻¹; use the training weight decay (that is the regulariser's curvature), and
        more if a block is not positive definite (the solvers say so). ``"auto"``: start at
        ``auto_damping_start`` and, whenever a block's solve raises
        :class:`cnnexplain.methods.influence_functions.solvers.NotPositiveDefiniteError`, raise λ for ALL
        blocks to max(2 × the error's ``needed_damping``, 10 × λ) and solve again (at most
        ``max_damping_raises`` times); ``self.damping`` is then the λ used and ``self.damping_raises``
        lists each raise (block, from, to, curvature). Report them: λ scales the scores.
    loss_fn: ``loss_fn(logits, targets)`` giving the mean loss (default cross-entropy).
    batch_size: examples per vectorised batch in the Hessian products and the training pass.
    hvp: how Hessian-vector products are taken: ``"forward-over-reverse"`` (torch.func, streams the
        Hessian data, constant memory), ``"cached-graph"`` (the gradient graph over the Hessian data is
        built once and each product is one reverse pass through it: far faster for CG/LiSSA, memory grows
        with the Hessian data; freed after the test side is solved) or ``"auto"`` (cached graph when the
        Hessian data has at most ``cache_limit`` examples).
    hessian: ``"auto"`` (default), ``"jacobian"``, ``"low-rank"``, ``"kronecker"`` or ``"hvp"``. Where a block
        exceeds ``dense_limit``, ``"auto"`` takes ``"kronecker"`` for nets of Linear/Conv2d blocks whose
        Gauss-Newton block equals the block Hessian (checked on one example): per block,
        :func:`cnnexplain.methods.influence_functions.kfac.solve_blocks` chooses dense where small, CG
        preconditioned by Woodbury on the principal pseudo-gradient directions where the Hessian data is small,
        Nyström-preconditioned CG on the exact block otherwise (also where
        products stream; EK-FAC-preconditioned where the Nyström factors would not fit in memory, K-FAC where
        the products would exceed the time budget) (``solver`` "auto", or one of "exact", "woodbury",
        "woodbury-pcg", "nystrom", "pcg", "ekfac", "kfac" for all), and ``self.choices`` says, per block, what it
        chose, why, and the residual reached; the training pass then contracts layer inputs and output
        gradients (:func:`cnnexplain.methods.influence_functions.kfac.kronecker_scores`), memory flat in
        the parameter count. ``"jacobian"`` builds every block's dense Gauss-Newton
        Hessian at once: from each layer's inputs and output gradients in one pass
        (:func:`cnnexplain.methods.influence_functions.kfac.gauss_newton_cache`) where every block is one
        Linear/Conv2d layer, else from per-sample logit Jacobians (:func:`cnnexplain.methods.influence_functions.hvp.block_hessians_from_jacobians`):
        exact when the layers after each block are piecewise linear (ReLU/max-pool CNNs), and far faster
        than p_l HVPs. ``"auto"`` uses it only after checking, on a few examples and a random vector per
        block, that it matches forward-over-reverse HVPs to round-off, and only for blocks of at most
        ``dense_limit`` parameters and the cross-entropy loss; otherwise it uses HVPs (``"hvp"``).
        ``self.curvature`` says which was used. ``"low-rank"`` holds the same Jacobian block Hessians as
        factors H_l = F_lᵀF_l (:func:`cnnexplain.methods.influence_functions.hvp.gauss_newton_factors`) and solves them exactly with the
        Woodbury identity (solver ``"woodbury"``): exact inverse-HVPs for blocks of any size, as long as the
        Hessian data is small (rank ≤ n·C); ``self.gauss_newton_error`` gives, per block, the relative
        difference between FᵀF v and a forward-over-reverse HVP on 8 examples (≈ round-off where the layers
        after the block are piecewise linear; not so for a global block, whose cross-layer terms hold
        second-order parts: there it is Koh & Liang's influence with the Gauss-Newton Hessian).
    check_residuals: after the test side is solved, also compute per block the relative residual
        ‖(H_l + λI)s − g‖/‖g‖ with forward-over-reverse HVPs over the Hessian data, independent of how
        the solve was done (``self.residuals``; one batched HVP per block). An integer k checks only the
        first k test examples' solves (HVPs cost as much as k forward-backward passes over the Hessian data).
    """

    def __init__(self, model: nn.Module, x_hessian: torch.Tensor, y_hessian: torch.Tensor,
                 blocks: Sequence[ParameterBlock] | None = None, layers: Sequence[str] | None = None,
                 solver: str | Solver = "auto", damping: float = 0.0, loss_fn: LossFn = cross_entropy,
                 batch_size: int = 256, hvp: str = "auto", cache_limit: int = 2048, hessian: str = "auto",
                 dense_limit: int = 4096, check_residuals: bool | int = False, auto_damping_start: float = 1e-3,
                 max_damping_raises: int = 8):
        check_batch(x_hessian, y_hessian, "Hessian (training) data")
        batch_size = check_batch_size(batch_size)
        if hvp not in ("auto", "forward-over-reverse", "cached-graph"):
            raise ValueError(f"hvp must be 'auto', 'forward-over-reverse' or 'cached-graph', got {hvp!r}")
        self.use_graph = hvp == "cached-graph" or (hvp == "auto" and len(x_hessian) <= cache_limit)
        self.x_hessian, self.y_hessian = x_hessian, y_hessian
        check_eval_mode(model)  # before any forward pass, which would update BatchNorm statistics
        blocks = list(blocks) if blocks is not None else parameter_blocks(model, example_input=x_hessian[:1])
        self.blocks = select_blocks(blocks, layers)
        self.fn = ModelFunction(model, self.blocks, loss_fn)
        self._check_input(x_hessian, "Hessian data")
        self._check_labels(y_hessian, "Hessian data")
        if hessian not in ("auto", "jacobian", "low-rank", "hvp", "kronecker"):
            raise ValueError(f"hessian must be 'auto', 'jacobian', 'low-rank', 'hvp' or 'kronecker', got {hessian!r}")
        self.check_residuals = check_residuals
        self.residuals: list[float] | None = None
        self.gauss_newton_error: list[float] | None = None
        # hessian="auto" on large blocks: {block checked: ‖G v − H v‖/‖H v‖} (kfac.gauss_newton_check_blocks)
        self.gauss_newton_check: dict[str, float] = {}
        self.choices: list[dict] | None = None  # per block, with Kronecker curvature: what was chosen, residual
        self.curvature = self._choose_curvature(hessian, dense_limit)
        self._operators: list | None = None
        if (self.curvature == "kronecker" and hessian == "auto"
                and not (isinstance(solver, str) and solver in kfac.PLANNED_SOLVERS)):
            self.curvature = "hvp"  # an explicit CG/LiSSA solver (or instance) keeps Hessian-vector products
        if self.curvature == "kronecker":
            solver = kfac.PlannedSolver(solver)
        elif solver == "auto":
            solver = {"jacobian": "exact", "low-rank": "woodbury"}.get(self.curvature, "cg")
        self.solver = make_solver(solver)
        if isinstance(damping, str) and damping != "auto":
            raise ValueError(f"damping must be a number >= 0 or 'auto', got {damping!r}")
        self.auto_damping = damping == "auto"
        self.damping = float(auto_damping_start if self.auto_damping else damping)
        self.max_damping_raises = int(max_damping_raises)
        self.damping_raises: list[dict] = []
        self.batch_size = int(batch_size)
        self._cache_key = None
        self._cache: list[torch.Tensor] | None = None
        self._pending_hessian_scores: torch.Tensor | None = None
        self.timings: dict[str, float] = {}

    def _choose_curvature(self, hessian: str, dense_limit: int) -> str:
        if hessian == "low-rank":
            self.gauss_newton_error = self._factor_check()
            return hessian
        if hessian != "auto":
            return hessian
        if hessian == "kronecker":
            return hessian
        if self.fn.loss_fn is not cross_entropy:
            return "hvp"
        if max(b.numel for b in self.blocks) > dense_limit:
            # too large to hold densely: per block on the exact Gauss-Newton block (kfac.solve_blocks) where
            # that IS the block Hessian (checked on one example), else Hessian-vector products
            if kfac.kronecker_supported(self.fn.model, self.blocks):
                checked = kfac.gauss_newton_check_blocks(self.fn.model, self.blocks)
                errors = kfac.gauss_newton_is_hessian(self._float64_function(), checked, self.x_hessian,
                                                      self.y_hessian, n=1)
                self.gauss_newton_check = dict(zip([b.name for b in checked], errors))
                if max(errors) <= GAUSS_NEWTON_TOLERANCE:
                    return "kronecker"
            return "hvp"
        xs, ys = self.x_hessian[:8], self.y_hessian[:8]
        fn64 = self._float64_function()
        jac = block_hessians_from_jacobians(fn64, self.blocks, xs, ys)
        generator = torch.Generator().manual_seed(0)
        for block, h in zip(self.blocks, jac):
            v = torch.randn(1, block.numel, generator=generator, dtype=torch.float64).to(fn64.device)
            reference = BlockHessian(fn64, block, xs, ys).matvec(v)
            error = float((v @ h - reference).norm() / reference.norm().clamp_min(1e-30))
            self.gauss_newton_check[block.name] = error
            if error > GAUSS_NEWTON_TOLERANCE:
                return "hvp"
        return "jacobian"

    def _float64_function(self) -> ModelFunction:
        """The model function in float64, for the "Gauss-Newton = Hessian" checks only: in float32 the
        round-off of a deep net's Hessian-vector product alone reaches 1e-3 relative (measured: 1.9e-3 on a
        trained 16-layer VGG-layout net), so a float32 check cannot tell a piecewise-linear net from a smooth
        one; in float64 the two differ by round-off (~1e-13) or by the second-order term (>= 1e-3)."""
        if self.fn.dtype == torch.float64:
            return self.fn
        model = copy.deepcopy(self.fn.model).double()
        return ModelFunction(model, self.blocks, self.fn.loss_fn)

    def _factor_check(self, n: int = 8) -> list[float]:
        """Per block: ‖FᵀF v − H v‖/‖H v‖ for a random v, F from ``n`` Hessian examples, H v by HVP."""
        xs, ys = self.x_hessian[:n], self.y_hessian[:n]
        factors = gauss_newton_factors(self.fn, self.blocks, xs, ys)
        generator = torch.Generator().manual_seed(0)
        errors = []
        for block, f in zip(self.blocks, factors):
            v = torch.randn(1, block.numel, generator=generator, dtype=torch.float64).to(self.fn.device, self.fn.dtype)
            reference = BlockHessian(self.fn, block, xs, ys).matvec(v)
            errors.append(float((v @ f.T @ f - reference).norm() / reference.norm().clamp_min(1e-30)))
        return errors

    def block_operators(self) -> list:
        """The block Hessians over the Hessian data, built once: dense (``"jacobian"`` curvature) or as
        low-rank factors (``"low-rank"``)."""
        if self._operators is None:
            start = time.perf_counter()
            if self.curvature == "low-rank":
                factors = gauss_newton_factors(self.fn, self.blocks, self.x_hessian, self.y_hessian,
                                               batch_size=min(self.batch_size, 32))
                self._operators = [FactoredBlock(b.name, f) for b, f in zip(self.blocks, factors)]
            elif self.fn.loss_fn is cross_entropy and kfac.kronecker_supported(self.fn.model, self.blocks):
                # the same Gauss-Newton blocks from each layer's inputs and output gradients: C − 1 backward
                # passes, a Kronecker sum per Linear layer, a syrk per conv (measured 1.6-2x faster than
                # per-sample Jacobians on the MNIST benchmark nets, equal to 4e-7 in float32)
                self._operators = kfac.gauss_newton_cache(self.fn, self.blocks, self.x_hessian, self.y_hessian,
                                                          batch_size=min(self.batch_size, 64),
                                                          dense=[True] * len(self.blocks))
            else:
                matrices = block_hessians_from_jacobians(self.fn, self.blocks, self.x_hessian, self.y_hessian,
                                                         batch_size=min(self.batch_size, 128))
                self._operators = [DenseBlock(b.name, m) for b, m in zip(self.blocks, matrices)]
            self.timings["block_hessians_s"] = time.perf_counter() - start
        return self._operators

    def release_block_operators(self) -> None:
        """Free the block Hessians (dense or factored: up to n·C × parameters numbers each); the test-side
        solves already cached stay valid, and :meth:`block_operators` rebuilds them if asked again."""
        self._operators = None

    @property
    def block_names(self) -> list[str]:
        return [b.name for b in self.blocks]

    def _check_input(self, x: torch.Tensor, what: str) -> None:
        try:
            with torch.no_grad():
                logits = self.fn.model(x[:1].to(self.fn.device, self.fn.dtype))
        except RuntimeError as error:
            raise ValueError(f"{what}: the model cannot take inputs of shape {tuple(x.shape[1:])}: {error}") from None
        self._num_outputs = logits.shape[-1]

    def _check_labels(self, y: torch.Tensor, what: str) -> None:
        if len(y) and (y.min() < 0 or y.max() >= self._num_outputs):
            raise ValueError(f"{what}: labels must lie in [0, {self._num_outputs - 1}] (the model has "
                             f"{self._num_outputs} outputs), got range [{y.min().item()}, {y.max().item()}]")

    def test_side(self, x_test: torch.Tensor, y_test: torch.Tensor, *,
                  _hessian_data_scores: bool = False) -> list[torch.Tensor]:
        """Per-layer s_l = (H_l + λI)⁻¹ ∇_{θ^l} L(x̂_k) for all test examples, shape ``(n_test, p_l)`` each;
        cached for the same test tensors. (:meth:`scores` asks, with Kronecker curvature, that the one pass over
        the Hessian data also keep that data's scores where they fit: ``self._pending_hessian_scores``.)"""
        check_batch(x_test, y_test, "test data")
        # keyed by content, not by id(): a freed tensor's id is reused, and .data writes skip _version
        key = (tensor_digest(x_test), tensor_digest(y_test), self.damping, id(self.solver),
               tuple(p._version for p in self.fn.params.values()))
        if key == self._cache_key and self._cache is not None:
            return self._cache
        state, built = (key[-1], self.x_hessian._version), getattr(self, "_operator_state", None)
        if built is not None and built != state:
            self._operators = None  # parameters or Hessian data changed in place: rebuild the block Hessians
        self._operator_state = state
        self._check_input(x_test, "test data")
        self._check_labels(y_test, "test data")
        start = time.perf_counter()
        grads = [torch.cat(parts) for parts in zip(*(
            per_sample_grads(self.fn, x_test[b:e], y_test[b:e], self.blocks)
            for b, e in _train_batches(len(x_test), self.batch_size)))]
        if self.curvature == "kronecker":
            solved, choices, info, *scored = kfac.solve_blocks(
                self.fn, self.blocks, self.x_hessian, self.y_hessian, [g.detach() for g in grads], self.damping,
                solver=self.solver.choice, batch_size=min(self.batch_size, 64),
                hessian_data_scores=_hessian_data_scores)
            self._pending_hessian_scores = scored[0] if scored else None
            self.solver.record(choices)
            self.choices = [c.as_dict() for c in choices]
            self.timings.update(test_side_s=time.perf_counter() - start, kronecker=info)
            if self.check_residuals:
                self.residuals = self._true_residuals(solved, grads, None)
            self._cache_key, self._cache = key, solved
            return solved
        graph = (GradientGraph(self.fn, self.blocks, self.x_hessian, self.y_hessian, self.batch_size)
                 if self.use_graph and self.curvature == "hvp" else None)
        try:
            if self.curvature in ("jacobian", "low-rank"):
                hessians = self.block_operators()
            else:
                hessians = [BlockHessian(self.fn, b, self.x_hessian, self.y_hessian, batch_size=self.batch_size,
                                         graph=graph) for b in self.blocks]
            solved = self._solve_blocks(hessians, grads)
            self.timings["test_side_s"] = time.perf_counter() - start
            if self.check_residuals:
                self.residuals = self._true_residuals(solved, grads, graph)
        finally:
            if graph is not None:
                graph.release()
        self._cache_key, self._cache = key, solved
        return solved

    def _solve_blocks(self, hessians, grads) -> list[torch.Tensor]:
        """Every block's inverse-HVPs at ``self.damping``; with ``damping="auto"`` λ is raised from the
        solver's structured :class:`NotPositiveDefiniteError` (its ``needed_damping``) and all blocks are
        solved again, so every block carries the same λ."""
        while True:
            try:
                return [self.solver.solve(h, g.detach(), self.damping) for h, g in zip(hessians, grads)]
            except NotPositiveDefiniteError as error:
                if not self.auto_damping:
                    raise
                if len(self.damping_raises) >= self.max_damping_raises:
                    raise NotPositiveDefiniteError(
                        f"damping='auto': the blocks stayed indefinite after {len(self.damping_raises)} raises up "
                        f"to λ={self.damping:g} (last: block {error.block!r}, curvature {error.curvature:.3e}); "
                        "pass a larger damping explicitly", block=error.block, damping=self.damping,
                        curvature=error.curvature, needed_damping=error.needed_damping) from error
                needed = error.needed_damping if np.isfinite(error.needed_damping) else 0.0
                raised = max(2 * needed, 10 * self.damping if self.damping > 0 else 1e-3)
                self.damping_raises.append({"block": error.block, "from": self.damping, "to": raised,
                                            "curvature": error.curvature})
                self.damping = raised
                self.solver.reports = []  # the reports of the failed round would be mistaken for the final ones

    def _true_residuals(self, solved, grads, graph) -> list[float]:
        """Per block max over test examples of ‖(H_l + λI)s − g‖/‖g‖, H_l by forward-over-reverse HVPs."""
        start = time.perf_counter()
        out = []
        k = None if self.check_residuals is True else int(self.check_residuals)
        for block, s, g in zip(self.blocks, solved, grads):
            s, g = s[:k], g[:k]
            h = BlockHessian(self.fn, block, self.x_hessian, self.y_hessian, batch_size=self.batch_size, graph=graph)
            r = h.matvec(s) + self.damping * s - g.detach()
            out.append(float((r.norm(dim=1) / g.norm(dim=1).clamp_min(1e-30)).max()))
        self.timings["residual_check_s"] = time.perf_counter() - start
        return out

    def scores(self, x_test: torch.Tensor, y_test: torch.Tensor, x_train: torch.Tensor, y_train: torch.Tensor,
               dask=None, n_shards: int | None = None, progress: bool = True) -> InfluenceScores:
        """Scores ``(n_test, n_train, n_layers)`` of every training example on every test example's loss.

        ``dask``: None (one process), ``"local"`` (a 2-worker ``distributed.LocalCluster`` for this call),
        a scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``. The training set is cut
        into ``n_shards`` (default: 2 per worker) contiguous shards on batch boundaries, so each example
        is computed in the same batch as in the one-process run.

        With Kronecker curvature (``self.curvature == "kronecker"``), when the training data are the Hessian data
        (equal tensors: the usual case) and the test side is not cached yet, the one pass over that data also
        keeps each example's loss gradient where it fits (``kfac.solve_blocks(hessian_data_scores=True)``), and
        no second pass is needed; ``timings["training_scores"]`` says which way the scores came.
        """
        check_batch(x_train, y_train, "training data")
        self._check_input(x_train, "training data")
        self._check_labels(y_train, "training data")
        # scoring the Hessian data itself (the usual case): its loss gradients can come from the pass over it
        self._pending_hessian_scores = None
        test_side = self.test_side(x_test, y_test, _hessian_data_scores=(
            dask is None and self.curvature == "kronecker" and self._is_hessian_data(x_train, y_train)))
        start = time.perf_counter()
        held, self._pending_hessian_scores = self._pending_hessian_scores, None
        self.timings["training_scores"] = ("from the pass over the Hessian data" if held is not None
                                           else "a pass over the training data")
        if held is not None:
            layers = held
        elif dask is None and self.curvature == "kronecker":  # no batch × parameters per-sample gradients
            layers = kfac.kronecker_scores(self.fn, self.blocks, test_side, x_train, y_train, self.batch_size,
                                           progress=progress)
        elif dask is None:
            layers = _score_range(self.fn, self.blocks, test_side, x_train, y_train, self.batch_size, progress)
        else:
            layers = self._dask_scores(test_side, x_train, y_train, dask, n_shards)
        self.timings["training_pass_s"] = time.perf_counter() - start
        return InfluenceScores(layers, self.block_names, dict(self.timings, damping=self.damping,
                                                              damping_raises=list(self.damping_raises)))

    def _is_hessian_data(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        if x is self.x_hessian and y is self.y_hessian:
            return True
        return all(a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
                   for a, b in ((y, self.y_hessian), (x, self.x_hessian)))

    def training_pass(self, test_side: Sequence[torch.Tensor], x_train: torch.Tensor, y_train: torch.Tensor,
                      progress: bool = True) -> torch.Tensor:
        """Harmful-sign scores ``(k, n_train, n_layers)`` of every training example against given test-side
        vectors (``test_side[l]``: ``(k, p_l)`` inverse-HVPs of block l, e.g. several damping values or
        Hessian samples stacked): one streaming pass of per-sample gradients, however many vectors."""
        check_batch(x_train, y_train, "training data")
        self._check_input(x_train, "training data")
        self._check_labels(y_train, "training data")
        if len(test_side) != len(self.blocks):
            raise ValueError(f"{len(test_side)} test-side tensors for {len(self.blocks)} blocks")
        return _score_range(self.fn, self.blocks, test_side, x_train, y_train, self.batch_size, progress)

    def test_gradients(self, x_test: torch.Tensor, y_test: torch.Tensor) -> list[torch.Tensor]:
        """Per block the gradients ∇_{θ^l} L(x̂_k) of every test example, ``(n_test, p_l)`` each."""
        check_batch(x_test, y_test, "test data")
        self._check_input(x_test, "test data")
        self._check_labels(y_test, "test data")
        return [torch.cat(parts).detach() for parts in zip(*(
            per_sample_grads(self.fn, x_test[b:e], y_test[b:e], self.blocks)
            for b, e in _train_batches(len(x_test), self.batch_size)))]

    def _dask_scores(self, test_side, x_train, y_train, dask, n_shards):
        from distributed import Client, LocalCluster

        own_cluster = None
        if isinstance(dask, Client):
            client = dask
        elif dask == "local":
            own_cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
            client = Client(own_cluster)
        elif isinstance(dask, str):
            client = Client(dask)
        else:
            raise TypeError(f"dask must be None, 'local', a scheduler address or a distributed.Client, got {dask!r}")
        try:
            workers = max(len(client.scheduler_info().get("workers", {})), 1)
            n_shards = n_shards or 2 * workers
            n_batches = -(-len(x_train) // self.batch_size)
            per_shard = -(-n_batches // n_shards)
            bounds = [(b * self.batch_size, min((b + per_shard) * self.batch_size, len(x_train)))
                      for b in range(0, n_batches, per_shard)]
            model = client.scatter(self.fn.model, broadcast=True)
            sides = client.scatter(list(test_side), broadcast=True)
            futures = [client.submit(_shard_task, model, self.blocks, self.fn.loss_fn, sides,
                                     x_train[a:b], y_train[a:b], self.batch_size, pure=False)
                       for a, b in bounds]
            return torch.cat(client.gather(futures), dim=1)
        finally:
            if own_cluster is not None:
                client.close()
                own_cluster.close()


def layerwise_influence(model: nn.Module, x_test, y_test, x_train, y_train, *, x_hessian=None, y_hessian=None,
                        blocks=None, layers=None, solver="auto", damping=0.0, batch_size=256, dask=None,
                        progress=True, hessian="auto", sign: str = "harmful") -> InfluenceScores:
    """One-call layer-wise influence (Eq. 5–7); the Hessian is over the training data unless
    ``x_hessian``/``y_hessian`` are given. ``sign``: ``"harmful"`` (Eq. 5 as printed) or ``"helpful"``.
    ``damping="auto"`` raises λ as needed (the λ used is in the scores' ``timings["damping"]``). See
    :class:`LayerwiseInfluence`."""
    if x_hessian is None:
        x_hessian, y_hessian = x_train, y_train
    calc = LayerwiseInfluence(model, x_hessian, y_hessian, blocks=blocks, layers=layers, solver=solver,
                              damping=damping, batch_size=batch_size, hessian=hessian)
    return calc.scores(x_test, y_test, x_train, y_train, dask=dask, progress=progress).with_sign(sign)


def global_influence(model: nn.Module, x_test, y_test, x_train, y_train, *, x_hessian=None, y_hessian=None,
                     solver="auto", damping=0.0, batch_size=256, dask=None, progress=True,
                     hessian="auto", sign: str = "harmful") -> InfluenceScores:
    """Koh & Liang's global influence (Eq. 5 with the full Hessian over all parameters, cross-layer
    terms included): an :class:`InfluenceScores` with one layer named ``"all"``. The global Hessian of a
    non-convex net is usually indefinite: expect to need damping (the solvers say how much)."""
    return layerwise_influence(model, x_test, y_test, x_train, y_train, x_hessian=x_hessian, y_hessian=y_hessian,
                               blocks=global_block(model), solver=solver, damping=damping,
                               batch_size=batch_size, dask=dask, progress=progress, hessian=hessian, sign=sign)


def to_numpy(scores: InfluenceScores) -> tuple[np.ndarray, list[str]]:
    """Layer scores as a NumPy array and the layer names (for pandas / seaborn)."""
    return scores.layers.numpy(), list(scores.block_names)
