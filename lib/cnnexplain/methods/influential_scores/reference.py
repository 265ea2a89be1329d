"""Jung et al.'s influential matrices and tensors built explicitly, entry by entry: the reference.

Every function here materialises J^{l,l+1} for one layer and one input (the snapshot M_I) as a 2-D array
of shape (nodes of layer l, nodes of layer l+1); a convolutional layer's grouped index (d, x, y) is
flattened in PyTorch's (channel, row, column) order, so the paper's influential tensor multiplication
(the Einstein sum over the grouped index, §II-D) is the ordinary matrix product of these arrays. Only
for small nets: memory grows as the product of two layer sizes. Use :mod:`cnnexplain.methods.influential_scores.fast` for
real nets; the tests check that both give the same numbers.

Convolution (§II-D). The paper writes the layer as L^{l+1}_{x,y,d2} = ReLU(Σ_{i,j} Σ_{d1}
w_{i,j,d1,d2} L^l_{x+i,y+j,d1}); input node (x1, y1, d1) reaches output node (x2, y2, d2) through the
weight w_{x1-x2, y1-y2, d1, d2}. We apply the fully connected definition ("the basic idea is the same",
§II-D) to this linear map:

    J_{(x1,y1,d1),(x2,y2,d2)} = w_{x1-x2,y1-y2,d1,d2} L_{x1,y1,d1} / Σ_{i',j',d1'} |w_{i',j',d1',d2} L_{x2+i',y2+j',d1'}|

Read literally, the paper's intermediate tensor puts the denominator of the output node at (x1, y1)
and shifts with x2 = x1 + i, which mirrors the kernel and normalises each output node by another node's
inputs; that reading is inconsistent with its own convolution equation, so we do not follow it.
Zero padding adds nodes of value 0: they add nothing to numerators or denominators.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnnexplain.methods.influential_scores.fast import PASS_THROUGH_LAYERS, Snapshot, UnsupportedLayerError, _numeric_padding, snapshot


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = numerator / denominator
    return np.where(denominator == 0, 0.0, out)


def dense_matrix(weight: np.ndarray, values: np.ndarray) -> np.ndarray:
    """J_{i,j} = w_{i,j} L_i / Σ_i |w_{i,j} L_i| (§II-A); ``weight`` is PyTorch's (out, in)."""
    contributions = weight.T * values[:, None]  # w_{i,j} · L_i, shape (in, out)
    return _ratio(contributions, np.abs(contributions).sum(axis=0, keepdims=True))


def conv_tensor(weight: np.ndarray, values: np.ndarray, stride, padding, dilation, out_hw) -> np.ndarray:
    """The influential tensor of a Conv2d, shape (C1·H1·W1, C2·H2·W2), from the definition (§II-D).

    ``weight`` (C2, C1, kh, kw), ``values`` (C1, H1, W1); output node (d2, x2, y2) reads input
    (d1, x2·s - p + i·dil, y2·s - p + j·dil) through w[d2, d1, i, j].
    """
    c2, c1, kh, kw = weight.shape
    _, h1, w1 = values.shape
    h2, w2 = out_hw
    tensor = np.zeros((c1, h1, w1, c2, h2, w2))
    for x2 in range(h2):
        for y2 in range(w2):
            entries = []  # (x1, y1, contributions (C1, C2))
            for i in range(kh):
                for j in range(kw):
                    x1 = x2 * stride[0] - padding[0] + i * dilation[0]
                    y1 = y2 * stride[1] - padding[1] + j * dilation[1]
                    if 0 <= x1 < h1 and 0 <= y1 < w1:  # else a zero-padding node: contributes 0
                        entries.append((x1, y1, weight[:, :, i, j].T * values[:, x1, y1][:, None]))
            if not entries:
                continue
            denominator = sum(np.abs(c).sum(axis=0) for _, _, c in entries)  # per d2
            for x1, y1, contributions in entries:
                tensor[:, x1, y1, :, x2, y2] += _ratio(contributions, denominator[None, :])
    return tensor.reshape(c1 * h1 * w1, c2 * h2 * w2)


def maxpool_tensor(values: np.ndarray, kernel, stride, padding, dilation, out_hw) -> np.ndarray:
    """Max-pooling (§III): 1 from the selected (first maximal) position of each window, 0 elsewhere."""
    c, h, w = values.shape
    h2, w2 = out_hw
    tensor = np.zeros((c, h, w, c, h2, w2))
    for d in range(c):
        for x2 in range(h2):
            for y2 in range(w2):
                best, where = -np.inf, None
                for i in range(kernel[0]):  # row-major scan, first maximum wins (PyTorch's rule)
                    for j in range(kernel[1]):
                        x1 = x2 * stride[0] - padding[0] + i * dilation[0]
                        y1 = y2 * stride[1] - padding[1] + j * dilation[1]
                        if 0 <= x1 < h and 0 <= y1 < w and values[d, x1, y1] > best:
                            best, where = values[d, x1, y1], (x1, y1)
                if where is not None:
                    tensor[d, where[0], where[1], d, x2, y2] = 1.0
    return tensor.reshape(c * h * w, c * h2 * w2)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _linear_operator(module: nn.Module, in_shape) -> np.ndarray:
    """The bias-free linear map of a pooling layer as an explicit (out, in) matrix, by probing unit vectors."""
    size = int(np.prod(in_shape))
    with torch.no_grad():
        basis = torch.eye(size, dtype=torch.float64).reshape(size, *in_shape)
        return module(basis).reshape(size, -1).T.numpy()


def layer_matrix(module: nn.Module, values: torch.Tensor, out_values: torch.Tensor) -> np.ndarray:
    """J^{l,l+1} for one layer and one input, explicit, float64. ``values``: the layer's input nodes."""
    l_in = values.detach().double().numpy()
    n_in, n_out = l_in.size, out_values[0].numel()
    if isinstance(module, PASS_THROUGH_LAYERS):
        return np.eye(n_in)
    if isinstance(module, nn.Linear):
        return dense_matrix(module.weight.detach().double().numpy(), l_in.reshape(-1))
    if isinstance(module, nn.Conv2d):
        return conv_tensor(module.weight.detach().double().numpy(), l_in, _pair(module.stride),
                           _pair(_numeric_padding(module)), _pair(module.dilation), tuple(out_values.shape[-2:]))
    if isinstance(module, nn.MaxPool2d):
        return maxpool_tensor(l_in, _pair(module.kernel_size), _pair(module.stride or module.kernel_size),
                              _pair(module.padding), _pair(module.dilation), tuple(out_values.shape[-2:]))
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return dense_matrix(_linear_operator(module, l_in.shape), l_in.reshape(-1))
    raise UnsupportedLayerError(f"influential scores are not defined for {type(module).__name__}")


def influential_matrices(model: nn.Module, x: torch.Tensor) -> tuple[Snapshot, list[np.ndarray]]:
    """Every consecutive influential matrix J^{k,k+1} for ONE input ``x`` of shape (1, ...)."""
    if x.shape[0] != 1:
        raise ValueError(f"the explicit reference takes one input (a snapshot M_I); got a batch of {x.shape[0]}")
    snap = snapshot(model, x)
    matrices = [layer_matrix(module, snap.values[k][0], snap.values[k + 1])
                for k, (_, module) in enumerate(snap.layers)]
    return snap, matrices


def explicit_scores(model: nn.Module, x: torch.Tensor, source: int | str = 0,
                    target: int | str = "output") -> np.ndarray:
    """J^{source,target} = J^{source,source+1} ⋯ J^{target-1,target} (§II-B), shape (n_source, n_target)."""
    snap, matrices = influential_matrices(model, x)
    s, t = snap.position(source), snap.position(target)
    if s >= t:
        raise ValueError(f"source position {s} must come before target position {t}")
    product = matrices[s]
    for matrix in matrices[s + 1:t]:
        product = product @ matrix
    return product
