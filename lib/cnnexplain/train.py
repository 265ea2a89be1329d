"""A small deterministic training loop with a progress bar, and evaluation helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cnnexplain.progress import progress as progress_bar


def loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0):
    """A DataLoader over in-memory tensors with its own seeded shuffling generator."""
    from torch.utils.data import DataLoader, TensorDataset

    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator)


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    accuracy: list[float] = field(default_factory=list)  # training accuracy per epoch


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 5, batch_size: int = 64,
        lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0, device=None, progress: bool = True,
        optimizer: str = "adam", schedule: str = "constant") -> History:
    """Train ``model`` on in-memory tensors with cross-entropy; returns the per-epoch history.

    ``schedule`` is ``"constant"`` (``lr`` throughout) or ``"cosine"`` (``lr`` annealed to 0 over all
    steps, so the final weights are not a random point of the last epoch's oscillation).

    Shuffling uses its own generator seeded with ``seed``, so the same seed gives the same model.
    Raises ``FloatingPointError`` when the loss becomes NaN or infinite (lower ``lr``).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device or "cpu")
    model.to(device).train()
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    loss_fn = nn.CrossEntropyLoss()
    history = History()
    batches = loader(x, y, batch_size, shuffle=True, seed=seed)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(batches))
                 if schedule == "cosine" else None)
    for epoch in progress_bar(range(epochs), desc="epochs", disable=not progress):
        total, correct, loss_sum = 0, 0, 0.0
        for xb, yb in batches:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} in epoch {epoch}; lower lr={lr}")
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            total += len(yb)
        history.loss.append(loss_sum / total)
        history.accuracy.append(correct / total)
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256, device=None) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, batched; returned on the CPU."""
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    return torch.cat([model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **kwargs) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    return (predict(model, x, **kwargs).argmax(1) == y.cpu()).float().mean().item()
