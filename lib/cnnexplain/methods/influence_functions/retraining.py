"""Leave-one-out retraining: the ground truth that influence functions approximate (Koh & Liang 2017,
Fig. 2). Training minimises the L2-regularised empirical risk

    R(θ) = (1/n) Σ_i L(x_i, θ) + (w/2)‖θ‖²

with full-batch L-BFGS to a tight gradient tolerance, so that θ̂ is a (local) optimum and the
influence's Hessian is H + wI (use ``damping=w``). Removing x_j and retraining warm-started from θ̂ (as
Koh & Liang did) gives the actual change L(x̂, θ̂_{−j}) − L(x̂, θ̂) that
:func:`cnnexplain.methods.influence_functions.layerwise.predicted_removal_change` predicts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from cnnexplain.progress import progress as progress_bar


@dataclass
class FitReport:
    loss: float  # final regularised objective
    grad_norm: float  # ‖∇R(θ̂)‖ at the end: how close to an optimum
    iterations: int


def regularised_risk(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight_decay: float,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """R(θ) = mean cross-entropy (optionally weighted per example, weights summing to 1) + (w/2)‖θ‖²."""
    losses = nn.functional.cross_entropy(model(x), y, reduction="none")
    data = losses.mean() if weights is None else (weights * losses).sum()
    return data + 0.5 * weight_decay * sum((p ** 2).sum() for p in model.parameters())


def fit_lbfgs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight_decay: float, max_iter: int = 500,
              tolerance_grad: float = 1e-9, history_size: int = 50, keep: torch.Tensor | None = None) -> FitReport:
    """Minimise :func:`regularised_risk` on ``(x, y)`` (restricted to the indices ``keep``) with full-batch
    L-BFGS and a strong-Wolfe line search, in place, starting from the model's current parameters."""
    if keep is not None:
        x, y = x[keep], y[keep]
    model.eval()  # no BatchNorm/dropout noise: the objective must be deterministic
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=max_iter, tolerance_grad=tolerance_grad,
                                  tolerance_change=1e-16, history_size=history_size, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = regularised_risk(model, x, y, weight_decay)
        loss.backward()
        return loss

    optimizer.step(closure)
    loss = closure()
    grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    state = optimizer.state[optimizer._params[0]]
    return FitReport(loss.item(), grad_norm, int(state.get("n_iter", 0)))


def leave_one_out_loss_changes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
                               y_test: torch.Tensor, indices, weight_decay: float, max_iter: int = 500,
                               tolerance_grad: float = 1e-9, progress: bool = True) -> torch.Tensor:
    """Actual change of each test example's loss after removing training example j and retraining
    warm-started from the trained ``model``: a tensor ``(len(indices), n_test)``. An index ``None`` retrains
    on the full set (a control: whatever it changes is optimiser drift, not the removal)."""
    def test_losses(m):
        with torch.no_grad():
            return nn.functional.cross_entropy(m(x_test), y_test, reduction="none")

    base = test_losses(model)
    everything = torch.arange(len(x))
    changes = []
    for j in progress_bar(list(indices), desc="leave-one-out retraining", disable=not progress):
        retrained = copy.deepcopy(model)
        keep = everything if j is None else everything[everything != j]
        fit_lbfgs(retrained, x, y, weight_decay, max_iter, tolerance_grad, keep=keep)
        changes.append(test_losses(retrained) - base)
    return torch.stack(changes)


def smooth_cnn(in_channels: int = 1, num_classes: int = 10, image_size: int = 14, width: int = 4,
               hidden: int = 16, convs: int = 1, activation: type[nn.Module] = nn.Softplus) -> nn.Sequential:
    """A small CNN that is twice continuously differentiable in its parameters (softplus, average pooling):
    ``convs`` × [conv3×3(width·2^i) → softplus → avg-pool 2] → fc(hidden) → softplus → fc(classes)
    (``hidden=0``: straight from the pooled conv features to the classes).

    Influence functions rest on a second-order Taylor expansion around an optimum; with ReLU and
    max-pooling kinks, and with deep stacks, full-batch L-BFGS stalls far from a true optimum, which
    spoils a leave-one-out comparison."""
    layers: list[nn.Module] = []
    channels, side = in_channels, image_size
    for i in range(convs):
        out = width * 2 ** i
        layers += [nn.Conv2d(channels, out, 3, padding=1), activation(), nn.AvgPool2d(2)]
        channels, side = out, side // 2
    if hidden:
        layers += [nn.Flatten(), nn.Linear(channels * side * side, hidden), activation(), nn.Linear(hidden, num_classes)]
    else:  # no hidden layer: conv features straight into the classifier (closest to convex)
        layers += [nn.Flatten(), nn.Linear(channels * side * side, num_classes)]
    return nn.Sequential(*layers)
