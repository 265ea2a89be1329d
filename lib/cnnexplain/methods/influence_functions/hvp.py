"""Parameter blocks, per-sample gradients and Hessian-vector products for influence functions.

Aamir et al. 2023 (Eq. 6) compute influence layer by layer: the gradients and the Hessian are taken
with respect to the parameters θ^l of one layer l at a time, the other layers held fixed. This module
holds the differentiation machinery behind that, independent of any solver or influence logic:

- :func:`parameter_blocks` — the blocks θ^l: by default one per ``Conv2d``/``Linear`` layer (weight and
  bias together) in forward order, named by module path (``features.0``, ``classifier.3``); or any grouping of parameter
  (or module) names a user passes. Parameters outside every block (e.g. BatchNorm affine parameters
  with the default blocks) are held fixed.
- :func:`per_sample_grads` — ∇_{θ^l} L(x_i, θ) for every example of a batch and every block, in one
  vectorised pass (``torch.func.vmap`` over ``torch.func.grad``), flattened to ``(batch, p_l)``.
- :class:`BlockHessian` — the operator v ↦ H_l v with H_l = (1/n) Σ_i ∇²_{θ^l} L(x_i, θ) (Eq. 4 restricted
  to one block), by forward-over-reverse differentiation (``jvp`` of ``grad``), batched over several
  vectors with ``vmap``; and its dense matrix for small blocks.

Models must be in eval mode when they hold BatchNorm (or dropout) layers: the influence is defined for the
deterministic function the trained network computes, and per-sample gradients are meaningless when
BatchNorm mixes the examples of a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_BLOCK_TYPES = {nn.Conv1d: "conv", nn.Conv2d: "conv", nn.Conv3d: "conv", nn.Linear: "fc"}
# Every torch.nn module whose forward depends on .training (all dropouts derive from _DropoutNd);
# InstanceNorm only with running statistics, recurrent and attention layers only with dropout.
_STOCHASTIC_TYPES = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.RReLU)


def _training_dependent(module: nn.Module) -> bool:
    if isinstance(module, _STOCHASTIC_TYPES):
        return True
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return module.track_running_stats
    if isinstance(module, (nn.RNNBase, nn.MultiheadAttention)):
        return float(getattr(module, "dropout", 0.0) or 0.0) > 0
    if type(module).__module__.split(".")[0] != "torch":  # a user's module: does its forward read .training?
        import inspect

        try:
            return "self.training" in inspect.getsource(type(module).forward)
        except (OSError, TypeError):
            return False
    return False


@dataclass(frozen=True)
class ParameterBlock:
    """One group θ^l of parameters treated as a layer: a readable ``name``, the full parameter names
    (as in ``model.named_parameters()``), their shapes and the flattened size ``numel`` = p_l."""

    name: str
    param_names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    module: str = ""

    @property
    def numel(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def flatten(self, tensors: Mapping[str, torch.Tensor], batch_dims: int = 0) -> torch.Tensor:
        """Concatenate this block's entries of ``tensors`` into one vector (keeping leading batch dims)."""
        parts = [tensors[n].reshape(*tensors[n].shape[:batch_dims], -1) for n in self.param_names]
        return torch.cat(parts, dim=-1)

    def unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector of length ``numel`` back into this block's parameter shapes."""
        out, start = {}, 0
        for name, shape in zip(self.param_names, self.shapes):
            size = math.prod(shape)
            out[name] = vector[start:start + size].reshape(shape)
            start += size
        return out


def check_eval_mode(model: nn.Module) -> None:
    """Raise if a module of ``model`` that computes differently in training mode is in training mode:
    BatchNorm, any dropout, RReLU, InstanceNorm with running statistics, RNN/attention with dropout, or
    a user's module whose ``forward`` reads ``self.training`` (call ``model.eval()``)."""
    found = [(name or type(model).__name__, type(m).__name__) for name, m in model.named_modules()
             if m.training and _training_dependent(m)]
    offenders = [name for name, _ in found]
    batch_statistics = [name for name, m in model.named_modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats]
    if batch_statistics:
        raise ValueError(f"BatchNorm layers without running statistics ({', '.join(batch_statistics[:5])}) "
                         "normalise with each batch's own statistics even in eval mode, so per-example "
                         "gradients are not those of one fixed function; use track_running_stats=True "
                         "(and model.eval()) or fold the normalisation into the weights")
    if offenders:
        kinds = ", ".join(dict.fromkeys(kind for _, kind in found))
        raise ValueError(
            f"model has {kinds} layers in training mode ({', '.join(offenders[:5])}"
            f"{', …' if len(offenders) > 5 else ''}), which compute differently there; influence functions need the deterministic "
            "trained network: call model.eval() first")


def _forward_order(model: nn.Module, example_input: torch.Tensor | None) -> list[str]:
    """Module names in the order the forward pass calls them (registration order without an input)."""
    names = [name for name, _ in model.named_modules()]
    if example_input is None:
        return names
    called: list[str] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, n=name: called.append(n))
             for name, m in model.named_modules()]
    first = next(model.parameters())
    try:
        with torch.no_grad():
            model(example_input[:1].to(first.device, first.dtype))
    finally:
        for h in hooks:
            h.remove()
    seen = list(dict.fromkeys(called))
    return seen + [n for n in names if n not in seen]


def parameter_blocks(model: nn.Module, groups: Mapping[str, Sequence[str]] | None = None,
                     example_input: torch.Tensor | None = None) -> list[ParameterBlock]:
    """The parameter blocks θ^l over which influence is computed layer-wise (Aamir et al. Eq. 6).

    Default (``groups=None``): one block per ``Conv``/``Linear`` module with trainable parameters
    (weight and bias together), in forward order — the order the forward pass calls them when
    ``example_input`` is given, else registration order — named by their module path (``features.0``,
    ``classifier.3``: the name ``model.get_submodule`` takes; VGG16 → 13 conv + 3 fc = 16 blocks). Papers
    that name layers their own way map these paths to aliases (e.g. Aamir et al.'s ``conv1_1 … fc8``:
    :func:`cnnexplain.papers.aamir.study.paper_layer_names`). ``groups`` maps block names to lists of parameter names
    (``"features.0.weight"``) or module names (``"features.0"``, meaning all its parameters); an unknown
    name raises ``KeyError`` listing the valid ones. One parameter may not be in two blocks.
    """
    params = dict(model.named_parameters())
    if not params:
        raise ValueError("model has no parameters")
    if groups is None:
        order = _forward_order(model, example_input)
        modules = dict(model.named_modules())
        blocks = []
        for name in order:
            module = modules[name]
            kind = next((k for t, k in _BLOCK_TYPES.items() if type(module) is t or isinstance(module, t)), None)
            if kind is None:
                continue
            own = [(f"{name}.{p}" if name else p) for p, q in module.named_parameters(recurse=False)
                   if q.requires_grad]
            if not own:
                continue
            blocks.append(ParameterBlock(name or type(module).__name__, tuple(own),
                                         tuple(params[p].shape for p in own), module=name))
        if not blocks:
            raise ValueError("model has no Conv/Linear layer with trainable parameters; pass `groups` "
                             "naming the parameters of each block")
        return blocks

    modules = dict(model.named_modules())
    used: dict[str, str] = {}
    blocks = []
    for block_name, members in groups.items():
        if isinstance(members, str):
            members = [members]
        names: list[str] = []
        for member in members:
            if member in params:
                names.append(member)
            elif member in modules and member != "":
                names.extend(f"{member}.{p}" for p, _ in modules[member].named_parameters())
            else:
                raise KeyError(
                    f"block {block_name!r}: {member!r} is neither a parameter nor a module of the model; "
                    f"parameters are: {', '.join(params)}")
        if not names:
            raise ValueError(f"block {block_name!r} holds no parameters")
        for n in names:
            if n in used:
                raise ValueError(f"parameter {n!r} is in blocks {used[n]!r} and {block_name!r}; "
                                 "blocks must not overlap")
            used[n] = block_name
        blocks.append(ParameterBlock(block_name, tuple(names), tuple(params[n].shape for n in names),
                                     module=",".join(members)))
    return blocks


def global_block(model: nn.Module) -> list[ParameterBlock]:
    """All trainable parameters as ONE block: Koh & Liang's global (non-layer-wise) influence."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    return parameter_blocks(model, {"all": names})


def select_blocks(blocks: Sequence[ParameterBlock], names: Iterable[str] | None) -> list[ParameterBlock]:
    """The blocks called ``names`` (all if None); an unknown name raises ``KeyError`` listing valid ones."""
    if names is None:
        return list(blocks)
    by_name = {b.name: b for b in blocks}
    out = []
    for name in ([names] if isinstance(names, str) else names):
        if name not in by_name:
            raise KeyError(f"no parameter block named {name!r}; blocks are: {', '.join(by_name)}")
        out.append(by_name[name])
    return out


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy (Aamir et al. Eq. 1's L); the default loss."""
    return nn.functional.cross_entropy(logits, targets)


def check_batch(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    """Clear errors for the usual input mistakes: lengths that differ, float class labels, no examples."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{what}: inputs and labels must be torch tensors, got {type(x).__name__} and "
                        f"{type(y).__name__}")
    if len(x) == 0:
        raise ValueError(f"{what} is empty: pass at least one example")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} inputs but {len(y)} labels")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool or y.dim() != 1:
        raise TypeError(f"{what}: labels must be a 1-D integer tensor of class indices (torch.long), got "
                        f"dtype {y.dtype} and shape {tuple(y.shape)}")
    check_finite(x, what)


def check_finite(x: torch.Tensor, what: str) -> None:
    """Raise naming the first example of ``x`` (a batch) holding a NaN or an infinity."""
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        return
    finite = torch.isfinite(x.detach()).reshape(len(x), -1).all(1) if x.dim() else torch.isfinite(x)
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0, 0])
        bad = x[first].detach().reshape(-1)
        kind = "nan" if torch.isnan(bad).any() else "inf"
        raise ValueError(f"{what}: example {first} holds {kind} values ({int((~finite).sum())} of {len(x)} "
                         "examples are not finite); remove or repair them before computing influence")


def check_batch_size(batch_size, what: str = "batch_size") -> int:
    """A positive integer number of examples per batch, or a clear error."""
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or int(batch_size) < 1:
        raise ValueError(f"{what} must be a positive whole number of examples per batch, got {batch_size!r}")
    return int(batch_size)


class ModelFunction:
    """The trained model as a pure function of its block parameters (``torch.func.functional_call``).

    Holds the model (checked for eval mode), the blocks, the loss and the detached parameter values θ̂.
    """

    def __init__(self, model: nn.Module, blocks: Sequence[ParameterBlock] | None = None,
                 loss_fn: LossFn = cross_entropy):
        check_eval_mode(model)
        self.model = model
        self.blocks = list(blocks) if blocks is not None else parameter_blocks(model)
        self.loss_fn = loss_fn
        self.params = {n: p.detach() for n, p in model.named_parameters()}
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype

    def block_params(self, block: ParameterBlock) -> dict[str, torch.Tensor]:
        return {n: self.params[n] for n in block.param_names}

    def loss(self, varied: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss on the batch ``(x, y)`` with the parameters in ``varied`` replacing θ̂."""
        logits = functional_call(self.model, {**self.params, **varied}, (x,))
        return self.loss_fn(logits, y)

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.to(self.device, self.dtype), y.to(self.device, torch.long)  # int32/uint8 labels too


def per_sample_grads(fn: ModelFunction, x: torch.Tensor, y: torch.Tensor,
                     blocks: Sequence[ParameterBlock] | None = None) -> list[torch.Tensor]:
    """∇_{θ^l} L(x_i, θ̂) for every example i of the batch and every block l, in one vmap pass.

    Returns one tensor per block of shape ``(batch, p_l)`` (weight then bias, flattened).
    """
    blocks = fn.blocks if blocks is None else list(blocks)
    x, y = fn.to_device(x, y)
    varied = {n: fn.params[n] for b in blocks for n in b.param_names}

    def single_loss(params, xi, yi):
        return fn.loss(params, xi.unsqueeze(0), yi.unsqueeze(0))

    grads = vmap(grad(single_loss), in_dims=(None, 0, 0))(varied, x, y)
    return [b.flatten(grads, batch_dims=1) for b in blocks]


class GradientGraph:
    """Gradients of the mean loss over the Hessian data w.r.t. several blocks, kept with their autograd
    graph (``create_graph=True``) so that each later Hessian-vector product is ONE reverse pass through
    it (reverse-over-reverse): much cheaper than re-tracing forward-over-reverse when an iterative solver
    needs hundreds of products on the same data. Costs the memory of the graph for all the data; the
    forward-over-reverse path of :class:`BlockHessian` streams instead. Call :meth:`release` when done.
    """

    def __init__(self, fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                 batch_size: int = 512):
        check_batch(x, y, "Hessian data")
        batch_size = check_batch_size(batch_size)
        self.blocks = list(blocks)
        self.parts: list[tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]] = []
        n = len(x)
        for start in range(0, n, batch_size):
            xb, yb = fn.to_device(x[start:start + batch_size], y[start:start + batch_size])
            leaves = [b.flatten(fn.block_params(b)).clone().requires_grad_(True) for b in self.blocks]
            varied = {k: v for b, leaf in zip(self.blocks, leaves) for k, v in b.unflatten(leaf).items()}
            with torch.enable_grad():
                loss = fn.loss(varied, xb, yb) * (len(xb) / n)
                grads = torch.autograd.grad(loss, leaves, create_graph=True)
            self.parts.append((leaves, grads))

    def hvp(self, index: int, vectors: torch.Tensor) -> torch.Tensor:
        """H_l V for block number ``index`` and ``vectors`` of shape ``(k, p_l)``."""
        if not self.parts:
            raise RuntimeError("this GradientGraph was released; build a new one")
        out = torch.zeros_like(vectors)
        for leaves, grads in self.parts:
            # a Python loop over the vectors: measured faster on CPU than is_grads_batched (vmap), whose
            # fallback for pooling's double backward is slow
            for row, v in enumerate(vectors):
                out[row] += torch.autograd.grad(grads[index], leaves[index], v, retain_graph=True)[0]
        return out

    def release(self) -> None:
        self.parts = []


class BlockHessian:
    """The Hessian of one block, H_l = (1/n) Σ_i ∇²_{θ^l} L(x_i, θ̂) over the Hessian data (Eq. 4), as
    an operator: :meth:`matvec` multiplies by k vectors at once. Two ways, same numbers:

    - default: forward-over-reverse differentiation (``torch.func.jvp`` of ``torch.func.grad``, ``vmap``-ed
      over the vectors), streaming the data in batches of ``batch_size`` — constant memory;
    - with ``graph`` (a :class:`GradientGraph` holding this block): one reverse pass through the cached
      gradient graph per product — fast for iterative solvers, memory grows with the data.
    """

    def __init__(self, fn: ModelFunction, block: ParameterBlock, x: torch.Tensor, y: torch.Tensor,
                 batch_size: int = 512, vector_chunk: int = 64, graph: GradientGraph | None = None):
        check_batch(x, y, "Hessian data")
        self.fn, self.block = fn, block
        self.x, self.y = x, y
        self.batch_size = check_batch_size(batch_size)
        self.vector_chunk = check_batch_size(vector_chunk, "vector_chunk")
        self.theta = block.flatten(fn.block_params(block))
        self.graph = graph
        self._graph_index = None
        if graph is not None:
            if block not in graph.blocks:
                raise ValueError(f"block {block.name!r} is not part of the given GradientGraph")
            self._graph_index = graph.blocks.index(block)
        self.matvecs = 0  # number of vectors multiplied so far (for reports)

    @property
    def name(self) -> str:
        return self.block.name

    @property
    def size(self) -> int:
        return self.block.numel

    @property
    def device(self) -> torch.device:
        return self.fn.device

    @property
    def dtype(self) -> torch.dtype:
        return self.fn.dtype

    def _batch_hvp(self, xb: torch.Tensor, yb: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        block, fn = self.block, self.fn

        def loss_of_flat(flat):
            return fn.loss(block.unflatten(flat), xb, yb)

        grad_fn = grad(loss_of_flat)

        def hvp_one(v):
            return jvp(grad_fn, (self.theta,), (v,))[1]

        return vmap(hvp_one)(vectors)

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        """H_l V for ``vectors`` of shape ``(k, p_l)`` (or ``(p_l,)``); same shape back."""
        single = vectors.dim() == 1
        v = vectors.reshape(-1, self.size).to(self.fn.device, self.fn.dtype)
        out = torch.zeros_like(v)
        if self.graph is not None and self.graph.parts:
            for c in range(0, len(v), self.vector_chunk):
                out[c:c + self.vector_chunk] = self.graph.hvp(self._graph_index, v[c:c + self.vector_chunk])
        else:
            n = len(self.x)
            for start in range(0, n, self.batch_size):
                xb, yb = self.fn.to_device(self.x[start:start + self.batch_size],
                                           self.y[start:start + self.batch_size])
                weight = len(xb) / n
                for c in range(0, len(v), self.vector_chunk):
                    out[c:c + self.vector_chunk] += weight * self._batch_hvp(xb, yb, v[c:c + self.vector_chunk])
        self.matvecs += len(v)
        out = out.detach()
        return out[0] if single else out

    def dense(self) -> torch.Tensor:
        """The dense ``(p_l, p_l)`` matrix H_l, from p_l Hessian-vector products (small blocks only)."""
        eye = torch.eye(self.size, device=self.fn.device, dtype=self.fn.dtype)
        hessian = self.matvec(eye)
        return 0.5 * (hessian + hessian.T)  # symmetric up to round-off; make it exactly so


class DenseBlock:
    """A block's Hessian held as a dense matrix, exposing the operator interface the solvers use."""

    def __init__(self, name: str, matrix: torch.Tensor):
        self.name, self.matrix = name, matrix
        self.size, self.device, self.dtype = matrix.shape[0], matrix.device, matrix.dtype
        self.matvecs = 0

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        self.matvecs += 1 if vectors.dim() == 1 else len(vectors)
        return vectors @ self.matrix  # symmetric

    def dense(self) -> torch.Tensor:
        return self.matrix


def _gauss_newton_rows(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                       batch_size: int):
    """Yields, batch by batch, one matrix per block of shape (b·C, p_l) whose rows M satisfy
    Σ_rows MᵀM = Σ_i J_ilᵀ (diag p_i − p_i p_iᵀ) J_il over the batch (the cross-entropy's Gauss-Newton part)."""
    if fn.loss_fn is not cross_entropy:
        raise ValueError("Jacobian block Hessians assume the default mean cross-entropy loss")
    check_batch(x, y, "Hessian data")
    varied = {n: fn.params[n] for b in blocks for n in b.param_names}

    def logits_one(params, xi):
        return functional_call(fn.model, {**fn.params, **params}, (xi.unsqueeze(0),))[0]

    jacobian = vmap(torch.func.jacrev(logits_one), in_dims=(None, 0))
    for start in range(0, len(x), batch_size):
        xb, _ = fn.to_device(x[start:start + batch_size], y[start:start + batch_size])
        jac = jacobian(varied, xb)  # name -> (b, C, *shape)
        with torch.no_grad():
            p = torch.softmax(functional_call(fn.model, fn.params, (xb,)), dim=-1)  # (b, C)
            root = p.sqrt()
            # A with A Aᵀ = diag(p) − p pᵀ:  A = diag(√p) − p √pᵀ
            a = torch.diag_embed(root) - p.unsqueeze(2) * root.unsqueeze(1)  # (b, C, C)
            yield [torch.einsum("bcd,bcp->bdp", a, block.flatten(jac, batch_dims=2)).reshape(-1, block.numel)
                   for block in blocks]  # Aᵀ J
        del jac


def block_hessians_from_jacobians(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor,
                                  y: torch.Tensor, batch_size: int = 128) -> list[torch.Tensor]:
    """Dense block Hessians H_l of the mean cross-entropy, all blocks at once, from per-sample Jacobians
    of the logits: H_l = (1/n) Σ_i J_il^T (diag p_i − p_i p_iᵀ) J_il with J_il = ∂f(x_i)/∂θ^l.

    This is the Gauss-Newton part of the Hessian. For a block's OWN parameters it equals the exact block
    Hessian whenever the layers after that block are piecewise linear (ReLU, max/avg pooling, conv, linear,
    eval-mode BatchNorm): the block's pre-activation is linear in θ^l and the rest of the net has zero
    curvature almost everywhere. :class:`cnnexplain.methods.influence_functions.layerwise.LayerwiseInfluence` checks that equality
    numerically before relying on it. Costs C (classes) backward passes per example plus one GEMM per
    block, instead of p_l Hessian-vector products.
    """
    out = [torch.zeros(b.numel, b.numel, device=fn.device, dtype=fn.dtype) for b in blocks]
    for rows in _gauss_newton_rows(fn, blocks, x, y, batch_size):
        for l, m in enumerate(rows):
            out[l] += m.T @ m
    return [h / len(x) for h in out]


def gauss_newton_factors(fn: ModelFunction, blocks: Sequence[ParameterBlock], x: torch.Tensor, y: torch.Tensor,
                         batch_size: int = 32) -> list[torch.Tensor]:
    """Low-rank factors F_l of shape (n·C, p_l) with H_l = F_lᵀ F_l: the same block Hessians as
    :func:`block_hessians_from_jacobians` (exact for the block's own parameters in piecewise-linear nets),
    but never formed — a block of p_l parameters over n Hessian images has rank at most n·(C−1), so
    (H_l + λI)⁻¹ is solved exactly by the Woodbury identity (:class:`cnnexplain.methods.influence_functions.solvers.WoodburySolver`)
    at the cost of an (n·C)×(n·C) Cholesky, whatever p_l is. Memory: n·C·Σp_l numbers."""
    parts = [[] for _ in blocks]
    for rows in _gauss_newton_rows(fn, blocks, x, y, batch_size):
        for l, m in enumerate(rows):
            parts[l].append(m)
    scale = 1.0 / math.sqrt(len(x))
    return [torch.cat(p) * scale for p in parts]


class FactoredBlock:
    """A block Hessian held as H = FᵀF (F: (r, p), r ≪ p), with the operator interface of the solvers."""

    def __init__(self, name: str, factor: torch.Tensor):
        self.name, self.factor = name, factor
        self.size, self.device, self.dtype = factor.shape[1], factor.device, factor.dtype
        self.matvecs = 0

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        self.matvecs += 1 if vectors.dim() == 1 else len(vectors)
        return (vectors @ self.factor.T) @ self.factor

    def dense(self) -> torch.Tensor:
        return self.factor.T @ self.factor
