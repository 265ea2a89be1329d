"""Measurements that turn the survey's Table 1 (Zhang et al. 2019) from opinion into numbers.

One function each: :func:`time_per_explanation` (the "efficiency" column), :func:`completeness_error`
(the "locality" column, i.e. local additivity: do the scores sum to S(x) − S(baseline)?),
:func:`deletion_curve` / :func:`insertion_curve` / :func:`curve_auc` (faithfulness, Petsiuk et al.
2018), :func:`sanity_check` (model-parameter randomization, Adebayo et al. 2018) and
:func:`runs_on_black_box` (the "model-agnostic" column: does the method run when the model answers
only forward queries?).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from cnnexplain.methods.attribution.explain import check_images, explain, resolve_target


def timed_explain(model: nn.Module, images: torch.Tensor, target, method: str, warmup: bool = True,
                  **options) -> tuple[torch.Tensor, float]:
    """``(attributions, seconds per image)`` of one ``explain`` call over the whole batch, after a warm-up
    call on the first image (imports, allocator, JIT) when ``warmup``."""
    images = check_images(images)
    target = resolve_target(model, images, target)
    if warmup:
        explain(model, images[:1], target[:1], method, **options)
    start = time.perf_counter()
    attributions = explain(model, images, target, method, **options)
    return attributions, (time.perf_counter() - start) / len(images)


def time_per_explanation(model: nn.Module, images: torch.Tensor, target, method: str, repeats: int = 1,
                         warmup: bool = True, **options) -> float:
    """Wall-clock seconds per image of ``explain(model, images, target, method, **options)``: the best of
    ``repeats`` timed calls over the whole batch, after one warm-up call on the first image.

    Training (L2X) is NOT included: pass the trained ``explainer=`` and time
    :func:`cnnexplain.methods.attribution.explain.train_l2x` separately."""
    best = float("inf")
    for i in range(max(1, repeats)):
        best = min(best, timed_explain(model, images, target, method, warmup=warmup and i == 0, **options)[1])
    return best


@torch.no_grad()
def _scores(model, images, target):
    return model(images).gather(1, target[:, None]).squeeze(1)


def completeness_error(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, target,
                       baseline=0.0, relative: bool = True) -> torch.Tensor:
    """Per image |Σ attributions − (S_c(x) − S_c(x̄))|, divided by |S_c(x) − S_c(x̄)| when ``relative``.

    Completeness (Sundararajan et al. 2017), summation-to-delta (DeepLIFT), local accuracy (SHAP): the
    "locally additive" property of the survey's Table 1. ``S_c`` is the class score (logit)."""
    images = check_images(images)
    target = resolve_target(model, images, target)
    if attributions.shape != images.shape:
        raise ValueError(f"attributions {tuple(attributions.shape)} must have the images' shape {tuple(images.shape)}")
    base = baseline.to(images).expand_as(images) if isinstance(baseline, torch.Tensor) else torch.full_like(images, float(baseline))
    delta = (_scores(model, images, target) - _scores(model, base, target)).cpu()
    error = (attributions.flatten(1).sum(1).cpu() - delta).abs()
    return error / delta.abs().clamp_min(1e-8) if relative else error


def _pixel_order(attributions: torch.Tensor, seed: int) -> torch.Tensor:
    """Pixels (summed over channels) from most to least important; ties broken by a seeded random order."""
    scores = attributions.sum(1).flatten(1)  # (N, H*W)
    gen = torch.Generator().manual_seed(seed)
    shuffle = torch.stack([torch.randperm(scores.shape[1], generator=gen) for _ in range(len(scores))])
    shuffled = scores.gather(1, shuffle)
    order = torch.argsort(shuffled, dim=1, descending=True, stable=True)
    return shuffle.gather(1, order)


@torch.no_grad()
def _perturbation_curve(model, images, attributions, target, steps, baseline, insert, output, seed,
                        batch_size):
    images = check_images(images)
    target = resolve_target(model, images, target)
    n, c, h, w = images.shape
    base = baseline.to(images).expand_as(images) if isinstance(baseline, torch.Tensor) else torch.full_like(images, float(baseline))
    order = _pixel_order(attributions.to(images.device), seed)
    counts = torch.linspace(0, h * w, steps + 1).round().long()
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(h * w, device=order.device).expand(n, -1))  # rank of each pixel
    curves = torch.zeros(n, steps + 1)
    for i in range(n):
        # masks[s, p] = pixel p is among the first counts[s] pixels of the ordering
        masks = (ranks[i][None, :] < counts[:, None].to(ranks.device)).reshape(steps + 1, 1, h, w).to(images.dtype)
        if insert:
            batch = base[i] * (1 - masks) + images[i] * masks
        else:
            batch = images[i] * (1 - masks) + base[i] * masks
        outs = torch.cat([model(batch[j:j + batch_size]) for j in range(0, len(batch), batch_size)])
        if output == "probability":
            outs = torch.softmax(outs, 1)
        elif output != "logit":
            raise ValueError(f"output must be 'probability' or 'logit', got {output!r}")
        curves[i] = outs[:, target[i]].cpu()
    return (counts.float() / (h * w)).numpy(), curves.numpy()


def deletion_curve(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, target, steps: int = 28,
                   baseline=0.0, output: str = "probability", seed: int = 0, batch_size: int = 256):
    """Deletion (Petsiuk et al. 2018): remove pixels, most important first (set to ``baseline``), and
    follow the target class's probability. Returns ``(fractions (steps+1,), curves (N, steps+1))``.
    A faithful attribution makes the curve fall fast (low AUC)."""
    return _perturbation_curve(model, images, attributions, target, steps, baseline, False, output, seed, batch_size)


def insertion_curve(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, target, steps: int = 28,
                    baseline=0.0, output: str = "probability", seed: int = 0, batch_size: int = 256):
    """Insertion (Petsiuk et al. 2018): start from ``baseline`` and insert pixels, most important first.
    A faithful attribution makes the curve rise fast (high AUC)."""
    return _perturbation_curve(model, images, attributions, target, steps, baseline, True, output, seed, batch_size)


def curve_auc(fractions: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Area under each curve over the fraction of pixels (trapezoid rule), one value per image."""
    return np.trapezoid(curves, fractions, axis=-1)


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's Conv2d / Linear / BatchNorm layers in forward (definition) order, with their names."""
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant map keeps no ranking of the original
        return 0.0
    return float(spearmanr(a, b).statistic)


def sanity_check(model: nn.Module, images: torch.Tensor, target, method: str, layers: list[str] | None = None,
                 seed: int = 0, progress: bool = False, **options) -> pd.DataFrame:
    """Cascading model-parameter randomization (Adebayo et al. 2018, §3.1).

    Randomizes the layers top-down (output layer first), one more at each step, in a copy of the model,
    re-explains the same images for the SAME target and measures the Spearman rank correlation of
    |attributions| (summed over channels) with the original ones. A method that explains the model
    should decorrelate; one that mostly reflects the input (guided backprop, per Adebayo et al.) does
    not. Returns one row per step: ``step`` (0 = original), ``randomized_through`` (layer name),
    ``spearman_mean``, ``spearman_std``. A constant map counts as correlation 0.
    """
    from cnnexplain.progress import progress as progress_bar

    images = check_images(images)
    target = resolve_target(model, images, target)
    named = parameter_layers(model)
    if layers is not None:
        unknown = [n for n in layers if n not in dict(named)]
        if unknown:
            raise ValueError(f"unknown layers {unknown}; parameter layers are {[n for n, _ in named]}")
        named = [(n, m) for n, m in named if n in layers]
    if not named:
        raise ValueError("the model has no Conv2d/Linear/BatchNorm layer to randomize")

    def maps(m):
        a = explain(m, images, target, method, **options)
        return a.abs().sum(1).flatten(1).numpy()

    reference = maps(model)
    rows = [dict(step=0, randomized_through="(original)", spearman_mean=1.0, spearman_std=0.0)]
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        for step, (name, _) in enumerate(progress_bar(named[::-1], desc=f"randomize ({method})", disable=not progress,
                                                        leave=False), start=1):
            modules[name].reset_parameters()
            current = maps(randomized)
            rho = np.array([_rank_correlation(r, c) for r, c in zip(reference, current)])
            rows.append(dict(step=step, randomized_through=name, spearman_mean=float(rho.mean()),
                             spearman_std=float(rho.std())))
    finally:
        torch.set_rng_state(torch_state)
    return pd.DataFrame(rows)


class BlackBox(nn.Module):
    """A model seen from outside: forward queries only, detached outputs, no layers, weights or gradients."""

    def __init__(self, model: nn.Module):
        super().__init__()
        object.__setattr__(self, "_query", model)  # not registered as a submodule: its layers stay hidden

    def forward(self, x):
        with torch.no_grad():
            return self._query(x).detach()


def runs_on_black_box(model: nn.Module, images: torch.Tensor, target, method: str, **options) -> tuple[bool, str]:
    """Whether ``method`` runs on :class:`BlackBox` ``(model)`` — the measured "model-agnostic" column.

    Returns ``(True, "")`` or ``(False, "<error type>: <message>")``."""
    images = check_images(images)
    target = resolve_target(model, images, target)
    try:
        explain(BlackBox(model), images, target, method, **options)
    except Exception as error:  # noqa: BLE001 — any failure means "needs more than forward queries"
        return False, f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return True, ""
