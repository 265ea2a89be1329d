"""Shape bias of a classifier on cue-conflict images (Geirhos et al. 2019, ICLR, §2 "cue conflict").

A cue-conflict image carries the shape of one class and the texture of another. Of the decisions that
pick either cue's class, the shape bias is the fraction that pick the shape:

    shape_bias = shape decisions / (shape decisions + texture decisions)

Decisions for any third class are counted (``other``) but left out of the ratio, as in Geirhos et al.;
images whose shape and texture class agree are skipped. 1.0 = decides by shape only, 0.0 = by texture
only. Aamir et al. (2023, §4.1, Table 3, Fig. 6) observe the texture side of this on VGG16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ShapeBias:
    shape_bias: float  # shape / (shape + texture); NaN when no decision picked either cue
    shape_decisions: int
    texture_decisions: int
    other_decisions: int  # predicted neither the shape nor the texture class
    n: int  # cue-conflict images counted (shape class != texture class)

    @property
    def texture_bias(self) -> float:
        return 1.0 - self.shape_bias


def _as_array(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one label per image (1-d), got shape {x.shape}")
    return x.astype(np.int64)


def shape_bias(predictions, shape_labels, texture_labels) -> ShapeBias:
    """Shape bias from predicted classes and the shape / texture class of each cue-conflict image."""
    pred = _as_array(predictions, "predictions")
    shape = _as_array(shape_labels, "shape_labels")
    texture = _as_array(texture_labels, "texture_labels")
    if not len(pred) == len(shape) == len(texture):
        raise ValueError(f"predictions ({len(pred)}), shape_labels ({len(shape)}) and texture_labels "
                         f"({len(texture)}) must have one entry per image")
    conflict = shape != texture
    pred, shape, texture = pred[conflict], shape[conflict], texture[conflict]
    n_shape = int((pred == shape).sum())
    n_texture = int((pred == texture).sum())
    decided = n_shape + n_texture
    return ShapeBias(shape_bias=n_shape / decided if decided else float("nan"), shape_decisions=n_shape,
                     texture_decisions=n_texture, other_decisions=int(len(pred) - decided), n=int(len(pred)))


def shape_bias_of(model, batch, batch_size: int = 256) -> ShapeBias:
    """Shape bias of any ``torch.nn.Module`` classifier (logits out) on a cue-conflict batch with
    ``images``, ``labels`` (shape class) and ``texture_labels`` (e.g. :func:`cnnexplain.data.world.make_cue_conflict`)."""
    from cnnexplain.train import predict

    predictions = predict(model, batch.images, batch_size=batch_size).argmax(1)
    return shape_bias(predictions, batch.labels, batch.texture_labels)


def accuracy_by_condition(model, batches: dict, class_names=None, batch_size: int = 256):
    """Accuracy ± standard error of the mean per condition and class (Aamir et al. Table 1).

    ``batches``: condition name → batch with ``images`` and ``labels`` (e.g. :class:`cnnexplain.data.world.WorldBatch`).
    Returns a pandas DataFrame with columns condition, class, n, accuracy, sem (SEM = sqrt(p(1-p)/(n-1)),
    the standard error of a mean of 0/1 outcomes; NaN for n = 1).
    """
    import pandas as pd

    from cnnexplain.train import predict

    rows = []
    for condition, batch in batches.items():
        correct = (predict(model, batch.images, batch_size=batch_size).argmax(1) == batch.labels).float().numpy()
        labels = batch.labels.numpy()
        for cls in np.unique(labels):
            hits = correct[labels == cls]
            n = len(hits)
            rows.append({"condition": condition, "class": class_names[cls] if class_names else int(cls), "n": n,
                         "accuracy": float(hits.mean()),
                         "sem": float(hits.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")})
    return pd.DataFrame(rows)
