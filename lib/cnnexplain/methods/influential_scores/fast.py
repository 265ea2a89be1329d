"""Influential scores (Jung, Shin, Kwon, "A Metric to Measure Contribution of Nodes in Neural Networks").

The paper (§II) defines, for an input I fed to a trained net (the *snapshot* M_I), the influential matrix
between consecutive layers

    J^{l,l+1}_{i,j} = w^l_{i,j} · L^l_i / Σ_i |w^l_{i,j} · L^l_i|                              (§II-A)

(no bias terms: the bias only enters through the node values L), influential tensors for convolutions
(§II-D: the same ratio, with positions and depths as grouped indices), max-pooling that keeps only the
selected positions (§III), and *influential scores* between any layer l and any later layer m as the
product J^{l,l+1} J^{l+1,l+2} ... J^{m-1,m} (§II-B; the "influential tensor multiplication" of §II-D is
the same sum over the grouped index).

This module computes those products **without building any matrix or tensor**: a score vector for chosen
target nodes of layer m is carried backwards, one layer at a time,

    v^l = J^{l,l+1} v^{l+1} = L^l ⊙ Wᵀ( v^{l+1} / D^{l+1} ),   D^{l+1} = |W| applied to |L^l|,

i.e. a modified backward pass: the bias-free layer's vector-Jacobian product applied to the target vector
divided by the denominators, times the node values. For a convolution the denominators are the
convolution of |W| with |L| and the product Wᵀ(·) is a transposed convolution. ReLU, Flatten and
(eval-mode) Dropout pass scores unchanged: the paper's matrix between L^l and L^{l+1} = ReLU(...) uses only
w and L^l, the ReLU acts through the zero node values it leaves in L^{l+1}. Max-pooling routes a score to
the selected (arg-max) position only. Average pooling is a linear layer with positive weights, to which
the definition applies as written (an extension: the paper does not mention it; VGG16's adaptive
average pool is the identity at 224 px).

A zero denominator (every input of a node is zero or has zero weight) gives scores 0: such a node gets
nothing from the previous layer (its value comes from its bias only).

The explicit matrices and tensors, built entry by entry from the paper's formulas, are in
:mod:`cnnexplain.methods.influential_scores.reference`; the tests check that both agree.

Layers are addressed by *position*: 0 is the input, k is the output of the k-th leaf module of the net
(see :func:`layer_table`). A module name (``"features.3"``), ``"input"`` or ``"output"`` works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Layer types whose influential matrices the paper defines (plus pass-through and linear pooling ones).
WEIGHTED_LAYERS = (nn.Linear, nn.Conv2d)
PASS_THROUGH_LAYERS = (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)
POOLING_LAYERS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
SUPPORTED_LAYERS = WEIGHTED_LAYERS + PASS_THROUGH_LAYERS + POOLING_LAYERS


class UnsupportedLayerError(TypeError):
    """A layer for which the paper defines no influential matrix (e.g. BatchNorm2d, Sigmoid)."""


def _supported_names() -> str:
    return ", ".join(t.__name__ for t in SUPPORTED_LAYERS)


def check_layer(name: str, module: nn.Module) -> None:
    """Raise :class:`UnsupportedLayerError` naming ``module`` if the method does not define it."""
    if not isinstance(module, SUPPORTED_LAYERS):
        raise UnsupportedLayerError(
            f"influential scores are not defined for layer {name!r} of type {type(module).__name__}; "
            f"supported layer types: {_supported_names()}. Fold BatchNorm into the preceding convolution, "
            "or replace the layer, before computing influential scores.")
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise UnsupportedLayerError(f"layer {name!r}: grouped convolution (groups={module.groups}) is not "
                                        "supported; only groups=1")
        if module.padding_mode != "zeros":
            raise UnsupportedLayerError(f"layer {name!r}: padding_mode={module.padding_mode!r} is not supported; "
                                        "only zero padding")
    if isinstance(module, nn.Dropout) and module.training:
        raise ValueError(f"layer {name!r} is a Dropout in training mode; call model.eval() first")


def layer_chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The net's leaf modules in order, as ``(qualified name, module)``; checks every one is supported.

    The net must compute the plain composition of its leaves (an ``nn.Sequential``, or a module whose
    ``forward`` calls its children in registration order); a Flatten before a Linear may be implicit
    (torchvision's VGG calls ``torch.flatten``). :func:`snapshot` verifies the composition against
    ``model(x)``.
    """
    chain: list[tuple[str, nn.Module]] = []

    def walk(module: nn.Module, prefix: str) -> None:
        children = list(module.named_children())
        if isinstance(module, SUPPORTED_LAYERS) or not children:
            chain.append((prefix or type(module).__name__, module))
            return
        for name, child in children:
            walk(child, f"{prefix}.{name}" if prefix else name)

    walk(model, "")
    for name, module in chain:
        check_layer(name, module)
    return chain


@dataclass
class Snapshot:
    """The paper's snapshot M_I: the net's layers and every layer's node values for the inputs ``x``.

    ``values[k]`` are the nodes at position k (0 = input), shape ``(N, *layer shape)``;
    ``layers[k - 1]`` maps position k-1 to k; ``names[k]`` names position k.
    """

    layers: list[tuple[str, nn.Module]]
    values: list[torch.Tensor]

    @property
    def names(self) -> list[str]:
        return ["input"] + [name for name, _ in self.layers]

    def position(self, layer: int | str) -> int:
        """Position index of ``layer`` (an int, possibly negative, ``"input"``, ``"output"`` or a name)."""
        last = len(self.values) - 1
        if isinstance(layer, str):
            if layer == "output":
                return last
            names = self.names
            if layer not in names:
                raise KeyError(f"no layer named {layer!r}; layers are: {names}")
            return names.index(layer)
        pos = layer + last + 1 if layer < 0 else layer
        if not 0 <= pos <= last:
            raise IndexError(f"layer position {layer} out of range 0..{last}")
        return pos


def snapshot(model: nn.Module, x: torch.Tensor, check: bool = True) -> Snapshot:
    """Run ``x`` (a batch, shape ``(N, ...)``) through the leaf modules and keep every layer's values.

    With ``check`` the last values are compared with ``model(x)``; a mismatch means the net's forward is
    not the chain of its leaves, and raises a ValueError (pass an ``nn.Sequential`` instead).
    """
    chain = layer_chain(model)
    _check_finite_input(x)
    layers: list[tuple[str, nn.Module]] = []
    values = [x]
    with torch.no_grad():
        h = x
        for name, module in chain:
            if isinstance(module, nn.Linear) and h.dim() > 2:
                layers.append((f"{name}:flatten", nn.Flatten()))
                h = h.flatten(1)
                values.append(h)
            # an in-place layer (ReLU(inplace=True)) would overwrite the caller's x or the kept values
            h = module(h.clone() if getattr(module, "inplace", False) else h)
            layers.append((name, module))
            values.append(h)
        if check:
            reference = model(x.clone())
            if reference.shape != h.shape or not torch.allclose(reference, h, rtol=1e-4, atol=1e-5):
                raise ValueError(
                    f"{type(model).__name__}.forward is not the plain chain of its leaf modules "
                    f"({', '.join(n for n, _ in chain)}); influential scores need a sequential net: wrap "
                    "the layers in an nn.Sequential in the order they are applied")
    return Snapshot(layers, values)


def _check_finite_input(x: torch.Tensor) -> None:
    """Raise naming the first input of the batch that holds a NaN or an infinity."""
    if not torch.is_tensor(x) or not x.dtype.is_floating_point or x.dim() == 0:
        return
    finite = torch.isfinite(x).reshape(len(x), -1).all(1)
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0, 0])
        kind = "nan" if torch.isnan(x[first]).any() else "inf"
        raise ValueError(f"input example {first} holds {kind} values ({int((~finite).sum())} of {len(x)} "
                         "inputs are not finite): influential scores need finite node values; repair or drop it")


def layer_table(model: nn.Module, x: torch.Tensor):
    """A pandas DataFrame of positions, names, layer types and node shapes for one input ``x``."""
    import pandas as pd

    snap = snapshot(model, x[:1])
    rows = [{"position": 0, "name": "input", "type": "input", "shape": tuple(x.shape[1:])}]
    for k, (name, module) in enumerate(snap.layers, start=1):
        rows.append({"position": k, "name": name, "type": type(module).__name__,
                     "shape": tuple(snap.values[k].shape[1:])})
    return pd.DataFrame(rows)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, and 0 where the denominator is 0 (a node with no incoming contribution)."""
    zero = denominator == 0
    return torch.where(zero, torch.zeros((), dtype=numerator.dtype, device=numerator.device),
                       numerator / torch.where(zero, torch.ones_like(denominator), denominator))


def _bias_free(module: nn.Module, absolute: bool = False):
    """The layer's linear map without bias (with |W| when ``absolute``), as a function of a batch."""
    if isinstance(module, nn.Linear):
        w = module.weight.detach()
        w = w.abs() if absolute else w
        return lambda z: F.linear(z, w)
    if isinstance(module, nn.Conv2d):
        w = module.weight.detach()
        w = w.abs() if absolute else w
        return lambda z: F.conv2d(z, w, None, module.stride, module.padding, module.dilation)
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return module  # positive weights: |W| = W
    raise TypeError(type(module).__name__)


def _numeric_padding(conv: nn.Conv2d) -> tuple[int, int]:
    """Conv2d padding as numbers ('valid' = 0; 'same' = symmetric half of the receptive field)."""
    if not isinstance(conv.padding, str):
        return conv.padding
    if conv.padding == "valid":
        return (0, 0)
    totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
    if any(total % 2 for total in totals):
        raise UnsupportedLayerError(f"padding='same' with an even kernel pads asymmetrically; use numeric padding")
    return tuple(total // 2 for total in totals)


def _transpose(linear_map, s: torch.Tensor, in_shape: Sequence[int]) -> torch.Tensor:
    """Wᵀ s for a bias-free linear map, as its vector-Jacobian product (a transposed convolution)."""
    with torch.enable_grad():
        z = torch.zeros((s.shape[0], *in_shape), dtype=s.dtype, device=s.device, requires_grad=True)
        (grad,) = torch.autograd.grad(linear_map(z), z, grad_outputs=s)
    return grad


def propagate(module: nn.Module, l_in: torch.Tensor, v_out: torch.Tensor) -> torch.Tensor:
    """One step of the modified backward pass: ``v_in = J^{l,l+1} v_out`` for one layer.

    ``l_in``: node values of the layer's input, shape ``(N, *in)``; ``v_out``: scores of the layer's
    output nodes with respect to T target nodes, shape ``(N, T, *out)``. Returns ``(N, T, *in)``.
    """
    n, t = v_out.shape[:2]
    in_shape = tuple(l_in.shape[1:])
    if isinstance(module, PASS_THROUGH_LAYERS):
        return v_out.reshape(n, t, *in_shape)
    if isinstance(module, nn.MaxPool2d):
        _, index = F.max_pool2d(l_in, module.kernel_size, module.stride, module.padding, module.dilation,
                                module.ceil_mode, return_indices=True)
        c, h, w = in_shape
        index = index.reshape(n, 1, c, -1).expand(n, t, c, index.shape[-2] * index.shape[-1])
        v_in = torch.zeros((n, t, c, h * w), dtype=v_out.dtype, device=v_out.device)
        v_in.scatter_add_(3, index, v_out.reshape(n, t, c, -1))
        return v_in.reshape(n, t, c, h, w)
    if isinstance(module, WEIGHTED_LAYERS + (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        denominator = _bias_free(module, absolute=True)(l_in.abs())  # Σ_i |w_ij L_i|, shape (N, *out)
        s = _safe_divide(v_out, denominator.unsqueeze(1))
        if isinstance(module, nn.Linear):
            back = s @ module.weight.detach()
        elif isinstance(module, nn.Conv2d):  # a transposed convolution, without a forward pass
            back = torch.nn.grad.conv2d_input((n * t, *in_shape), module.weight.detach(),
                                              s.reshape(n * t, *s.shape[2:]), module.stride,
                                              _numeric_padding(module), module.dilation)
            back = back.reshape(n, t, *in_shape)
        else:
            back = _transpose(_bias_free(module), s.reshape(n * t, *s.shape[2:]), in_shape)
            back = back.reshape(n, t, *in_shape)
        return l_in.unsqueeze(1) * back
    raise UnsupportedLayerError(f"no influential matrix for {type(module).__name__}")


def _target_vectors(shape: Sequence[int], nodes, n: int, dtype, device) -> torch.Tensor:
    """One-hot vectors e_k for the chosen target nodes (flat indices into the target layer)."""
    size = int(torch.tensor(shape).prod()) if len(shape) else 1
    if nodes is None:
        if size > 4096:
            raise ValueError(f"the target layer has {size} nodes; choose target nodes (nodes=[...], flat "
                             "indices) instead of all of them")
        nodes = range(size)
    nodes = torch.as_tensor(list(nodes) if not torch.is_tensor(nodes) else nodes, dtype=torch.long)
    if nodes.dim() == 0:
        nodes = nodes.unsqueeze(0)
    if nodes.numel() == 0 or nodes.min() < 0 or nodes.max() >= size:
        raise IndexError(f"target nodes must be flat indices in 0..{size - 1}; got {nodes.tolist()}")
    if nodes.dim() == 1:  # the same nodes for every input
        nodes = nodes.unsqueeze(0).expand(n, -1)
    elif nodes.shape[0] != n:
        raise ValueError(f"per-input target nodes need one row per input ({n}); got shape {tuple(nodes.shape)}")
    v = torch.zeros((n, nodes.shape[1], size), dtype=dtype, device=device)
    v.scatter_(2, nodes.unsqueeze(-1).to(device), 1.0)
    return v.reshape(n, nodes.shape[1], *shape)


def scores_from_snapshot(snap: Snapshot, sources: Iterable[int | str] = (0,), target: int | str = "output",
                         nodes=None) -> dict[int, torch.Tensor]:
    """Influential scores of every node of each source layer with respect to chosen target nodes.

    ``nodes``: flat indices into the target layer (``None`` = all of them); either one list for every
    input, or a ``(N, T)`` tensor of per-input nodes (e.g. each input's predicted class).
    Returns ``{source position: scores}``, scores of shape ``(N, T, *source layer shape)``:
    ``scores[n, t]`` is the column ``J^{source,target}_{:, nodes[t]}`` of the paper's influential matrix.
    """
    target_pos = snap.position(target)
    positions = sorted({snap.position(s) for s in sources})
    if not positions or positions[-1] >= target_pos:
        raise ValueError(f"source layers {list(sources)} must come before the target layer {target!r} "
                         f"(position {target_pos}); the paper defines J^(l,m) only for l < m")
    l_target = snap.values[target_pos]
    v = _target_vectors(tuple(l_target.shape[1:]), nodes, l_target.shape[0], l_target.dtype, l_target.device)
    found: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for pos in range(target_pos - 1, positions[0] - 1, -1):
            v = propagate(snap.layers[pos][1], snap.values[pos], v)
            if pos in positions:
                found[pos] = v
    return found


def influential_scores(model: nn.Module, x: torch.Tensor, source: int | str = 0, target: int | str = "output",
                       nodes=None) -> torch.Tensor:
    """Scores of every node of layer ``source`` with respect to target nodes of a later layer ``target``.

    ``x``: a batch of inputs ``(N, ...)``. Default: input scores w.r.t. every output node (the paper's
    'input scores', Fig. 1 and 6). Returns a tensor of shape ``(N, T, *source layer shape)``.
    """
    snap = snapshot(model, x)
    return scores_from_snapshot(snap, [source], target, nodes)[snap.position(source)]


def filter_scores(layer_scores: torch.Tensor) -> torch.Tensor:
    """The paper's 'filter scores' (Fig. 7a): a convolutional layer's scores summed per filter (channel).

    ``layer_scores``: ``(N, T, C, H, W)`` from :func:`influential_scores` with a conv layer as source.
    Returns ``(N, T, C)``.
    """
    if layer_scores.dim() != 5:
        raise ValueError(f"filter scores need scores of a convolutional layer, shape (N, T, C, H, W); got "
                         f"shape {tuple(layer_scores.shape)}")
    return layer_scores.sum(dim=(-2, -1))


def rank_of_features(scores: torch.Tensor) -> torch.Tensor:
    """Rank of each feature when sorted by score in descending order (0 = highest), as in Fig. 3.

    ``scores``: ``(N, F)``. Returns ``(N, F)`` integer ranks; ties are broken by feature index.
    """
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(scores.shape[1]).expand_as(order).contiguous())
    return ranks
