"""Jung et al.'s three synthetic data sets (§IV-A) and a soft-label training loop for them.

10-dimensional inputs X drawn uniformly (two-features: [0, 1); plus-one and orange skin: [1, 2)), and a
2-dimensional label Y = (Y0, Y1) with Y0 = 1 - Y1 and

- two-features: Y1 = 1 / (1 + exp(X0·X1))
- plus-one:     Y1 = 1 / (1 + exp(X0·X1 - 2))
- orange skin:  Y1 = 1 / (1 + exp(X0² + X1² + X2² + X3² - 10))

Only X0, X1 (resp. X0..X3) matter. Y is a probability vector; the paper reports 'accuracy', which we
read as agreement of the predicted class (arg-max of the net's softmax) with arg-max Y. Note: for
two-features X0·X1 ∈ [0, 1), so Y1 ≤ 1/2 always and arg-max Y is always class 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from cnnexplain.progress import progress as progress_bar

#: input range and relevant features of each data set
RANGES = {"two_features": (0.0, 1.0), "plus_one": (1.0, 2.0), "orange_skin": (1.0, 2.0)}
RELEVANT_FEATURES = {"two_features": [0, 1], "plus_one": [0, 1], "orange_skin": [0, 1, 2, 3]}
DATASETS = tuple(RANGES)


def _logit_of_y1(name: str, x: np.ndarray) -> np.ndarray:
    """The exponent e in Y1 = 1 / (1 + exp(e))."""
    if name == "two_features":
        return x[:, 0] * x[:, 1]
    if name == "plus_one":
        return x[:, 0] * x[:, 1] - 2.0
    if name == "orange_skin":
        return (x[:, :4] ** 2).sum(axis=1) - 10.0
    raise ValueError(f"unknown synthetic data set {name!r}; choose one of {DATASETS}")


def make_synthetic(name: str, n: int, seed: int = 0, dim: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of data set ``name``: X (n, dim) float32 and Y (n, 2) = (Y0, Y1) float32."""
    if name not in RANGES:
        raise ValueError(f"unknown synthetic data set {name!r}; choose one of {DATASETS}")
    if dim < 4:
        raise ValueError(f"dim must be at least 4 (orange skin uses X0..X3); got {dim}")
    low, high = RANGES[name]
    x = np.random.default_rng(seed).uniform(low, high, size=(n, dim))
    y1 = 1.0 / (1.0 + np.exp(_logit_of_y1(name, x)))
    y = np.stack([1.0 - y1, y1], axis=1)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def fit_probabilities(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 10,
                      batch_size: int = 256, lr: float = 1e-3, seed: int = 0, progress: bool = True,
                      threads: int | None = 1) -> list[float]:
    """Train ``model`` (logits) on probability targets ``y`` with soft-label cross-entropy (Adam).

    The learning rate follows a cosine decay to 0 over all steps (a close fit near the class boundary
    Y1 = 1/2 needs it). Returns the mean training loss per epoch; shuffling is seeded with ``seed``.

    ``threads``: torch's intra-op threads while training (restored afterwards; None = leave as is). For
    this small MLP a second thread gains nothing, and on a shared, busy machine it made training 40×
    slower (OpenMP threads waiting for each other), hence 1 by default.
    """
    if y.dim() != 2 or not torch.allclose(y.sum(1), torch.ones(len(y)), atol=1e-5):
        raise ValueError(f"y must be probability vectors of shape (N, C); got {tuple(y.shape)}")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _fit(model, x, y, epochs, batch_size, lr, seed, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(model, x, y, epochs, batch_size, lr, seed, progress) -> list[float]:
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    model.train()
    for _ in progress_bar(range(epochs), desc="epochs", disable=not progress):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()}; lower lr={lr}")
            loss.backward()
            opt.step()
            schedule.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
    model.eval()
    return history


@torch.no_grad()
def class_agreement(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose predicted class (arg-max) equals arg-max of the label probabilities."""
    model.eval()
    return (model(x).argmax(1) == y.argmax(1)).float().mean().item()


def rank_frequencies(ranks: torch.Tensor, features) -> "np.ndarray":
    """Counts of each rank (0..F-1) of the chosen ``features`` over all samples: Fig. 3's histogram.

    ``ranks``: (N, F) from :func:`cnnexplain.methods.influential_scores.fast.rank_of_features`. Returns (len(features), F).
    """
    f = ranks.shape[1]
    return np.stack([np.bincount(ranks[:, j].numpy(), minlength=f) for j in features])


def toy_min_network() -> nn.Sequential:
    """Fig. 2's toy network, o = min(i1, i2) for positive inputs, as described in §II-C:
    h1 = ReLU(i1 - i2), h2 = ReLU(i1), o = ReLU(-h1 + h2); all biases 0."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 0.0]]))
        net[2].weight.copy_(torch.tensor([[-1.0, 1.0]]))
    return net.eval()


#: accuracy a constant classifier may reach before arg-max agreement stops being informative: the paper's 0.993
INFORMATIVE_MAJORITY = 0.993


@torch.no_grad()
def synthetic_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """§IV-A's 'accuracy' in a readout a constant classifier cannot pass, and what that classifier gets.

    The paper does not define accuracy for probability labels. We read it as arg-max agreement
    (:func:`class_agreement`) when the classes are mixed. For two-features arg-max Y is always class 0, so a
    constant classifier scores 1.0 and arg-max agreement says nothing; when the larger class already exceeds
    :data:`INFORMATIVE_MAJORITY` we split at the median of the label Y1 instead (predicted Y1 above the median
    vs true Y1 above it; a constant guess gets 0.5). Returns ``readout``, ``accuracy``, ``trivial_accuracy``
    and ``argmax_agreement``.
    """
    model.eval()
    p1 = model(x).softmax(1)[:, 1]
    majority = max((y.argmax(1) == c).float().mean().item() for c in range(y.shape[1]))
    argmax = class_agreement(model, x, y)
    if majority < INFORMATIVE_MAJORITY:
        return {"readout": "arg-max agreement", "accuracy": argmax, "trivial_accuracy": majority,
                "argmax_agreement": argmax}
    median = y[:, 1].median()
    truth = y[:, 1] > median
    split = ((p1 > median) == truth).float().mean().item()
    trivial = max(truth.float().mean().item(), 1 - truth.float().mean().item())
    return {"readout": "median split of Y1", "accuracy": split, "trivial_accuracy": trivial, "argmax_agreement": argmax}


def train_synthetic(n_train: int, n_test: int, epochs: int, batch_size: int, lr: float, seed: int = 0,
                    datasets=DATASETS):
    """§IV-A: one ``jung_mlp`` (10 → 200 → 200 → 200 → 2, ReLU) per synthetic data set, trained with
    :func:`fit_probabilities`; the test sets are drawn with ``seed + 1``.

    Returns ``(models, test_sets, table)``: dicts by data set name and a DataFrame with the accuracy
    readout (:func:`synthetic_accuracy`), the share of class 1, the mean |error| of Y1 and the training time.
    """
    import time

    import pandas as pd

    from cnnexplain.models.cnns import jung_mlp
    from cnnexplain.seeding import seed_everything

    models, test_sets, rows = {}, {}, []
    for name in datasets:
        seed_everything(seed)
        x_train, y_train = make_synthetic(name, n_train, seed=seed)
        x_test, y_test = make_synthetic(name, n_test, seed=seed + 1)
        model = jung_mlp()
        start = time.perf_counter()
        fit_probabilities(model, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            mae = (model(x_test).softmax(1)[:, 1] - y_test[:, 1]).abs().mean().item()
        models[name], test_sets[name] = model, (x_test, y_test)
        rows.append({"dataset": name, "n_train": n_train, "epochs": epochs, **synthetic_accuracy(model, x_test, y_test),
                     "share_of_class_1": (y_test[:, 1] > 0.5).float().mean().item(), "mean_abs_error_Y1": mae,
                     "train_seconds": round(seconds, 1)})
    return models, test_sets, pd.DataFrame(rows)
