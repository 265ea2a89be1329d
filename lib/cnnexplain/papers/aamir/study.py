"""The study of Aamir, Tamosiunaite & Wörgötter (2023, §3–4): layer-wise influence of training images on
disturbed test images, and the analyses behind its Tables 1–3 and Figures 2–10.

Pipeline (default profile, on the textured-shapes world of :mod:`cnnexplain.data.world`):

1. :func:`build_study` — a training set (originals on natural backgrounds) and a test set of
   ``n_test_per_class`` images × classes × the paper's four conditions (original, white background,
   textured = another class's texture, styled), the same objects in every condition; a
   :class:`cnnexplain.models.cnns.VGG16Small` (13 conv + 3 fc = the paper's 16 layers) trained ONCE and cached
   on disk under a key that hashes the whole :class:`StudyConfig` (so the 2x notebooks share it).
2. :func:`compute_influence` — layer-wise influence scores (n_test, n_train, 16) with
   :class:`cnnexplain.methods.influence_functions.layerwise.LayerwiseInfluence` (Eq. 5–7; sign of Eq. 5: the paper ranks by the
   HIGHEST score), cached beside the model.
3. Analysis helpers, one per table or figure: :func:`accuracy_table` (Table 1),
   :func:`most_influential_table` (Fig. 2, Table 2), :func:`intra_class_table` and
   :func:`reference_lines` (Fig. 3, 4), :func:`inter_class_matrix` (Fig. 7), :func:`condition_features`,
   :func:`cluster_conditions` and :func:`correlation_distance` (Fig. 8), :func:`mean_influence_per_layer`
   (Fig. 9), :func:`separability` (the paper's claim that layer-wise scores separate the conditions better
   than the total), :func:`texture_dose` (Fig. 6), :func:`shapley_maps` (Fig. 10).

The paper profile (torchvision VGG16 on ImageNet) lives in :mod:`cnnexplain.papers.aamir.imagenet` and returns the
same :class:`Study`, so every analysis here runs on either.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from cnnexplain import train as training
from cnnexplain.data import world
from cnnexplain.methods.influence_functions.layerwise import InfluenceScores, LayerwiseInfluence, class_averages
from cnnexplain.methods.influence_functions.nystrom import NystromWhereItFitsSolver
from cnnexplain.methods.influence_functions.solvers import CGSolver, ConvergenceWarning

CONDITIONS = world.CONDITIONS  # original, white_background, textured, styled
CONDITION_COLOURS = {"original": "tab:blue", "white_background": "tab:cyan", "textured": "tab:green",
                     "styled": "tab:red"}


@dataclass(frozen=True)
class StudyConfig:
    """Everything that determines the default-profile study (data, network, training).

    The world's training images carry their class texture with probability ``texture_prob`` and their
    class shape with probability ``shape_prob`` (:func:`cnnexplain.data.world.make_dataset`): high texture and
    lower shape reliability make the net texture-biased on purpose, as ImageNet-trained VGG16 is
    (Geirhos et al. 2019), which is the bias the paper's textured condition exposes.
    """

    n_train_per_class: int = 60
    n_test_per_class: int = 5
    image_size: int = 64
    texture_prob: float = 0.9
    shape_prob: float = 0.5
    width: int = 8
    hidden: int = 128
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # or "cosine": lr annealed to 0, so θ̂ is not a point of the last epoch's oscillation
    style_method: str = "gatys"
    style_steps: int = 60
    seed: int = 0

    def key(self) -> str:
        """The cache folder's name: a hash of every field and of the source of the code that builds the
        study from them (the world's data and stylization, the net, the training loop, the builder), so a
        code change gives a new folder — no version number to bump (:func:`cnnexplain.cache.source_key`)."""
        from cnnexplain import seeding
        from cnnexplain.cache import source_key
        from cnnexplain.methods import style
        from cnnexplain.models import cnns

        return source_key(asdict(self), build_study, training_end_state, make_world_data, world, style, cnns, training,
                          seeding)

    def __post_init__(self):
        for name in ("n_train_per_class", "n_test_per_class", "epochs", "batch_size", "width", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"StudyConfig.{name} must be at least 1, got {getattr(self, name)!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.style_method not in ("gatys", "colour"):
            raise ValueError(f"style_method must be 'gatys' or 'colour', got {self.style_method!r}")


@dataclass
class Study:
    """A trained classifier, its training set and the four-condition test set.

    ``x_test``/``y_test`` hold all test images (conditions stacked in :data:`CONDITIONS` order, the same
    objects in each); ``conditions`` names each test image's condition; ``texture_labels`` is the class
    whose texture a textured image carries (−1 otherwise). ``class_names`` index the labels.
    """

    model: nn.Module
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    conditions: np.ndarray
    class_names: tuple[str, ...]
    texture_labels: torch.Tensor
    layer_names: tuple[str, ...]
    cache: Path | None = None
    info: dict = field(default_factory=dict)

    def _test_probabilities(self, batch_size: int = 256) -> torch.Tensor:
        return torch.softmax(training.predict(self.model, self.x_test, batch_size=batch_size), 1)

    def predictions(self, batch_size: int = 256) -> torch.Tensor:
        """Predicted class per test image (argmax over the model's classes, or the paper class of the
        1000-way argmax for the ImageNet model, −1 outside the 10: :func:`predicted_class`)."""
        return predicted_class(self._test_probabilities(batch_size), self.info.get("groups"))

    def subset(self, n_per_class: int) -> "Study":
        """The same study with only the first ``n_per_class`` test images of every (condition, class):
        influence costs one inverse-HVP per test image and layer, so the notebooks score a subset while
        accuracy (Table 1) uses every test image."""
        y = self.y_test.numpy()
        keep = np.zeros(len(y), bool)
        for cond in dict.fromkeys(self.conditions):
            for c in np.unique(y):
                keep[np.flatnonzero((self.conditions == cond) & (y == c))[:n_per_class]] = True
        index = torch.from_numpy(np.flatnonzero(keep))
        info = dict(self.info)
        if "loss_labels_test" in info:
            info["loss_labels_test"] = info["loss_labels_test"][index]
        return Study(self.model, self.x_train, self.y_train, self.x_test[index], self.y_test[index],
                     self.conditions[index.numpy()], self.class_names, self.texture_labels[index],
                     self.layer_names, self.cache, info)

    def loss_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels of the training and test images in the model's own output space (the loss of Eq. 1):
        the class labels, or ImageNet indices for the paper profile (``info['loss_labels_*']``)."""
        return (self.info.get("loss_labels_train", self.y_train), self.info.get("loss_labels_test", self.y_test))

    def aliases(self, block_names) -> list[str]:
        """The paper's names (``conv1_1`` … ``fc8``) of the given blocks (module paths, as
        :class:`InfluenceScores` ``block_names``), by :func:`paper_layer_names`; a block without one keeps
        its path."""
        names = paper_layer_names(self.model)
        return [names.get(b, b) for b in block_names]

    def block_of(self, alias: str) -> str:
        """The module path of the layer the paper calls ``alias`` (``"fc8"`` → ``"classifier.5"``)."""
        paths = {v: k for k, v in paper_layer_names(self.model).items()}
        if alias not in paths:
            raise KeyError(f"no layer called {alias!r}; the paper's names here are: {', '.join(paths)}")
        return paths[alias]

    def true_class_probability(self) -> torch.Tensor:
        """The probability of each test image's true class (:func:`class_probability`)."""
        return class_probability(self._test_probabilities(), self.y_test, self.info.get("groups"))


def predicted_class(prob: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    """The argmax class of each row of ``prob``; with ``groups`` (the paper profile's ImageNet index →
    paper class map, −1 outside its 10 classes) the paper class of the 1000-way argmax."""
    top = prob.argmax(1)
    return top if groups is None else groups[top]


def class_probability(prob: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    """``prob[i, labels[i]]``; with ``groups`` the summed probability of the ImageNet classes of
    ``labels[i]``'s group (a paper class spans several wnids)."""
    labels = torch.as_tensor(labels).long()
    if groups is None:
        return prob[torch.arange(len(labels)), labels]
    return (prob * (groups.unsqueeze(0) == labels.unsqueeze(1))).sum(1)


def study_dir(config: StudyConfig, root: str | Path | None = None) -> Path:
    """``<root or cnnexplain.data.download.cache_dir()>/aamir/<config hash>``."""
    if root is None:
        from cnnexplain.data.download import cache_dir

        root = cache_dir()
    return Path(root) / "aamir" / config.key()


def make_world_data(config: StudyConfig, timings: dict | None = None):
    """Training batch and the four test batches of the world (the same seed → the same objects in every
    test condition). ``timings`` (a dict) receives the seconds of each step: ``world_train_s`` (training
    images), ``world_test_s`` (original, white-background and textured test images), ``styled_test_s``
    (style transfer of the styled condition)."""
    timings = {} if timings is None else timings
    start = time.perf_counter()
    train_batch = world.make_dataset(config.n_train_per_class, "original", seed=1000 * config.seed + 1,
                                     texture_prob=config.texture_prob, shape_prob=config.shape_prob,
                                     size=config.image_size)
    timings["world_train_s"] = time.perf_counter() - start
    tests = {}
    for c in CONDITIONS:
        start = time.perf_counter()
        tests[c] = world.make_dataset(config.n_test_per_class, c, seed=1000 * config.seed + 2, texture_prob=1.0,
                                      size=config.image_size, style_method=config.style_method,
                                      style_steps=config.style_steps)
        key = "styled_test_s" if c == "styled" else "world_test_s"
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
    return train_batch, tests


def training_end_state(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict:
    """How close the trained θ̂ is to a minimum of the training loss (influence functions assume one), in
    eval mode over the whole training set: accuracy, mean cross-entropy, and the norm of the full-batch
    gradient ‖∇_θ (1/n) Σ_i L(x_i, θ̂)‖ (also relative to the parameters' norm)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [torch.zeros_like(p) for p in params]
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits, yb, reduction="sum")
        for acc, g in zip(grads, torch.autograd.grad(loss, params)):
            acc += g
        loss_sum += float(loss.detach())
        correct += int((logits.argmax(1) == yb).sum())
    norm = float(torch.sqrt(sum((g / len(x)).pow(2).sum() for g in grads)))
    pnorm = float(torch.sqrt(sum(p.detach().pow(2).sum() for p in params)))
    return {"final_train_accuracy_eval": correct / len(x), "final_train_loss_eval": loss_sum / len(x),
            "final_gradient_norm": norm, "final_gradient_norm_relative": norm / max(pnorm, 1e-30)}


def build_study(config: StudyConfig = StudyConfig(), cache_root: str | Path | None = None, use_cache: bool = True,
                progress: bool = True) -> Study:
    """Data, and the VGG16Small trained on it once: loaded from the cache when the same config was
    trained before (``torch.load(weights_only=True)``), else trained and saved."""
    from cnnexplain.models.cnns import VGG16Small
    from cnnexplain.seeding import seed_everything

    folder = study_dir(config, cache_root)
    data_file = folder / "data.pt"
    step_timings: dict = {}
    if use_cache and data_file.exists():  # the styled condition (Gatys) is the slow part: generate once
        saved = torch.load(data_file, weights_only=True)
        train_batch = world.WorldBatch(saved["x_train"], saved["y_train"], saved["m_train"], saved["t_train"], "original")
        tests = {c: world.WorldBatch(saved[f"x_{c}"], saved[f"y_{c}"], saved[f"m_{c}"], saved[f"t_{c}"], c)
                 for c in CONDITIONS}
    else:
        train_batch, tests = make_world_data(config, step_timings)
        if use_cache:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "data.json").write_text(json.dumps(step_timings))
            payload = {"x_train": train_batch.images, "y_train": train_batch.labels, "m_train": train_batch.masks,
                       "t_train": train_batch.texture_labels}
            for c in CONDITIONS:
                payload.update({f"x_{c}": tests[c].images, f"y_{c}": tests[c].labels, f"m_{c}": tests[c].masks,
                                f"t_{c}": tests[c].texture_labels})
            torch.save(payload, data_file.with_suffix(".tmp"))
            data_file.with_suffix(".tmp").replace(data_file)
    seed_everything(config.seed)
    model = VGG16Small(num_classes=len(world.CLASSES), image_size=config.image_size, width=config.width,
                       hidden=config.hidden)
    weights = folder / "model.pt"
    if not step_timings and (folder / "data.json").exists():  # the data came from the cache: its timings too
        step_timings = json.loads((folder / "data.json").read_text())
    info = {"config": asdict(config), "cache": str(folder), **step_timings}
    if use_cache and weights.exists():
        model.load_state_dict(torch.load(weights, weights_only=True))
        info["trained_now"] = False
        meta = folder / "train.json"
        if meta.exists():
            info.update(json.loads(meta.read_text()))
    else:
        start = time.perf_counter()
        history = training.fit(model, train_batch.images, train_batch.labels, epochs=config.epochs,
                               batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                               seed=config.seed, progress=progress, schedule=config.schedule)
        seconds = time.perf_counter() - start
        end_state = training_end_state(model, train_batch.images, train_batch.labels)
        meta = {"train_seconds": seconds, "train_loss": list(history.loss), "train_accuracy": list(history.accuracy),
                **end_state}
        info.update(trained_now=True, **meta)
        if use_cache:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = weights.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            tmp.replace(weights)
            (folder / "train.json").write_text(json.dumps(meta))
    model.eval()
    x_test = torch.cat([tests[c].images for c in CONDITIONS])
    y_test = torch.cat([tests[c].labels for c in CONDITIONS])
    texture = torch.cat([tests[c].texture_labels if c == "textured" else torch.full_like(tests[c].labels, -1)
                         for c in CONDITIONS])
    conditions = np.repeat(np.array(CONDITIONS), [len(tests[c]) for c in CONDITIONS])
    return Study(model, train_batch.images, train_batch.labels, x_test, y_test, conditions, tuple(world.CLASSES),
                 texture, tuple(paper_layer_names(model).values()), folder if use_cache else None, info)


# ----------------------------------------------------------------------------------------------------
# influence


ANALYSIS_SIGN = "helpful"
"""The sign the 2x analyses read the scores in (:class:`InfluenceScores` ``sign``). The paper prints Eq. 5
as Koh & Liang's I_up,loss = −∇L(x̂_k)ᵀH⁻¹∇L(x_j) (``sign="harmful"``: d test loss / d up-weighting x_j,
NEGATIVE for a training image that helps), yet reads its numbers the other way round: the most
influential image is the argmax and shares the predicted class (Fig. 2), correct styled images have
intra-class scores "at or above the positive median" (Fig. 4). That is the sign of Koh & Liang's published
code (and the paper's "decreasing contributions of individual learning samples", §2): ``sign="helpful"``,
+∇L(x̂_k)ᵀH⁻¹∇L(x_j) ≈ n × the test-loss increase when x_j is removed. Notebook 21 measures both (Table 2:
which sign's argmax shares the test image's class more often). Fig. 6's "became negative" fits the
harmful sign better (notebook 22): the paper is not consistent, and every figure and table says which sign
it shows."""


def paper_layer_names(model: nn.Module) -> dict[str, str]:
    """The paper's names of a VGG's parametrised layers: ``{module path: alias}`` in forward (registration)
    order, e.g. ``{"features.0": "conv1_1", …, "classifier.6": "fc8"}`` for torchvision's VGG16 and
    :class:`cnnexplain.models.cnns.VGG16Small`. Convolutions are ``conv<block>_<i>`` with a new block after
    each max-pool; the dense layers continue the numbering (VGG16: fc6, fc7, fc8). The influence code names
    its blocks by module path (:func:`cnnexplain.methods.influence_functions.hvp.parameter_blocks`); these are
    the aliases the paper's tables and figures use."""
    names, block, i, n_fc = {}, 1, 0, 0
    for path, module in model.named_modules():
        if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and i:
            block, i = block + 1, 0
        elif isinstance(module, nn.Conv2d):
            i += 1
            names[path] = f"conv{block}_{i}"
        elif isinstance(module, nn.Linear):
            n_fc += 1
            names[path] = f"fc{block + n_fc - (0 if i else 1)}"
    return names


def hessian_subset(n_train: int, n_hessian: int | None, seed: int = 0) -> torch.Tensor:
    """Indices of the training examples whose mean loss defines H (all when ``n_hessian`` is None or
    not smaller than the training set) — Koh & Liang and the paper estimate H on mini-batches."""
    if n_hessian is None or n_hessian >= n_train:
        return torch.arange(n_train)
    if n_hessian < 1:
        raise ValueError(f"n_hessian must be at least 1, got {n_hessian}")
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_train, generator=g)[:n_hessian].sort().values


def compute_influence(study: Study, damping: float | str = "auto", n_hessian: int | None = 256, cg_iterations: int = 50,
                      cg_rtol: float = 1e-3, batch_size: int = 64, use_cache: bool = True, progress: bool = True,
                      global_influence: bool = False, layers=None, solver: str = "cg", sign: str = ANALYSIS_SIGN,
                      auto_damping_start: float = 1e-2, hessian_sample: int = 0, n_hessian_samples: int = 1):
    """Layer-wise influence scores of every training image on every test image (Eq. 5–7).

    ``solver="exact"``: per layer, the block Hessian over the ``n_hessian`` images is held as low-rank
    Jacobian factors H_l = F_lᵀF_l (exact for the block's own parameters in a ReLU/max-pool net, checked
    against HVPs) and (H_l + λI)⁻¹∇L solved EXACTLY by the Woodbury identity; the relative residual
    ‖(H_l + λI)s − g‖/‖g‖ of every block is then measured with independent forward-over-reverse HVPs and
    reported (``timings['solver']``). Memory ≈ n_hessian · classes · parameters numbers: for small nets
    (VGG16Small) only. ``solver="cg"`` (VGG16 on ImageNet):
    per layer l: s_l = (H_l + λI)⁻¹ ∇_{θ^l} L(x̂_k) by conjugate gradient (at most ``cg_iterations``,
    relative residual ``cg_rtol``; a non-converged block is reported in ``timings['solver']``, not
    hidden); ``solver="nystrom"`` the same with CG preconditioned by a randomized Nyström approximation of H_l
    where its factors fit in memory, plain CG on the other blocks (VGG16's fc6, fc7, …; the row's ``method``
    and ``why`` say which — :class:`~cnnexplain.methods.influence_functions.nystrom.NystromWhereItFitsSolver`,
    3.9× fewer products than CG on LeNet-5's blocks); H_l over ``n_hessian`` training images (the paper
    also estimated its HVPs on mini-batches),
    then one streaming pass over the training set. ``damping`` λ keeps the blocks of a non-convex net
    positive definite; ``damping="auto"`` starts at ``auto_damping_start`` and raises λ from the solver's
    :class:`NotPositiveDefiniteError` (``timings['damping_used']``, ``timings['damping_raises']``). With
    ``global_influence`` the same is done once more with ONE block of all parameters (Koh & Liang's global
    influence, cross-layer curvature included). ``layers`` restricts the layer-wise scores to some blocks
    by module path (e.g. to skip VGG16's 103M-parameter fc6, ``classifier.0``, on a small machine).
    ``sign``: the sign the scores carry (:data:`ANALYSIS_SIGN`). ``hessian_sample`` (0-based, of
    ``n_hessian_samples`` disjoint ones, :func:`hessian_samples`): which Hessian sample; 0 is always
    :func:`hessian_subset`'s.

    Returns ``(scores, global_scores_or_None, timings)``; the scores are cached beside the model when the
    study has a cache folder and ``use_cache``.
    """
    digest = hashlib.sha256(study.x_test.numpy().tobytes()).hexdigest()[:12]  # which test images
    if solver not in ("exact", "cg", "nystrom"):
        raise ValueError(f"solver must be 'exact' (low-rank Woodbury, small nets), 'cg' or 'nystrom' (Nyström-"
                         f"preconditioned CG where it fits), got {solver!r}")
    key_items = [damping, n_hessian, cg_iterations, cg_rtol, global_influence, layers, digest, len(study.x_test),
                 len(study.x_train), "eq5-harmful", "module-paths"] + ([solver] if solver != "cg" else [])
    if damping == "auto":
        key_items.append(auto_damping_start)
    if hessian_sample:
        key_items += ["sample", hessian_sample, n_hessian_samples]
    from cnnexplain.cache import source_key  # the key follows the influence code (a sign change, a new solver)
    from cnnexplain.methods.influence_functions import hvp, layerwise, solvers

    sources = [compute_influence, hessian_subset, layerwise, hvp, solvers]
    if solver == "nystrom":
        from cnnexplain.methods.influence_functions import nystrom

        sources.append(nystrom)
    key = source_key(key_items, *sources, length=12)
    path = study.cache / f"influence_{key}.pt" if (study.cache is not None and use_cache) else None
    if path is not None and path.exists():  # saved with Eq. 5's sign as printed ("harmful")
        saved = torch.load(path, weights_only=True)
        meta = json.loads((path.with_suffix(".json")).read_text())
        scores = InfluenceScores(saved["layers"], meta["block_names"], meta["timings"], "harmful").with_sign(sign)
        glob = InfluenceScores(saved["global"], ["all"], {}, "harmful").with_sign(sign) if "global" in saved else None
        return scores, glob, dict(meta["timings"], from_cache=True, sign=sign)
    subset = (hessian_samples(len(study.x_train), n_hessian, n_hessian_samples)[hessian_sample] if hessian_sample
              else hessian_subset(len(study.x_train), n_hessian, seed=0))
    y_train_loss, y_test_loss = study.loss_labels()
    xh, yh = study.x_train[subset], y_train_loss[subset]
    timings: dict = {}
    start = time.perf_counter()
    blocks = None
    if layers is not None:
        from cnnexplain.methods.influence_functions.hvp import parameter_blocks, select_blocks

        blocks = select_blocks(parameter_blocks(study.model, example_input=xh[:1]), layers)
    options = dict(damping=damping, auto_damping_start=auto_damping_start, batch_size=batch_size,
                   hvp="forward-over-reverse")
    if solver == "exact":
        scores, calc = _solve(study, xh, yh, blocks, y_test_loss, y_train_loss, progress, hessian="low-rank",
                              solver="woodbury", check_residuals=4, **options)
        calc.release_block_operators()  # the factors (n·C × parameters) are not needed any more
        rows = [{"block": r.block, "method": "woodbury (exact)", "rank": r.extra.get("rank"), "iterations": 0,
                 "converged": bool(res < 1e-3), "relative_error": float(res), "woodbury_residual": float(r.relative_error),
                 "gauss_newton_vs_hvp": float(gn)}
                for r, res, gn in zip(calc.solver.reports, calc.residuals, calc.gauss_newton_error)]
    else:
        scores, calc = _solve(study, xh, yh, blocks, y_test_loss, y_train_loss, progress,
                              solver=_iterative_solver(solver, cg_rtol, cg_iterations), **options)
        rows = [{"block": r.block, "method": r.solver, "iterations": r.iterations, "converged": bool(r.converged),
                 "relative_error": float(r.relative_error), **({"why": r.extra["why"]} if "why" in r.extra else {})}
                for r in calc.solver.reports]
    timings.update(scores.timings, total_s=time.perf_counter() - start, n_hessian=len(subset),
                   n_train=len(study.x_train), n_test=len(study.x_test), n_layers=len(scores.block_names),
                   damping_requested=damping, damping_used=calc.damping, damping_raises=calc.damping_raises,
                   method=solver, solver=rows)
    glob = None
    if global_influence:
        from cnnexplain.methods.influence_functions.hvp import global_block

        start = time.perf_counter()
        if solver == "exact":
            # one block of all parameters: its Jacobian (Gauss-Newton) Hessian is NOT the full Hessian (the
            # cross-layer terms have second-order parts); we report how far it is and skip the residual check
            glob, gcalc = _solve(study, xh, yh, global_block(study.model), y_test_loss, y_train_loss, progress,
                                 hessian="low-rank", solver="woodbury", **options)
            gcalc.release_block_operators()
            timings["global_solver"] = [{"method": "woodbury on the Gauss-Newton Hessian",
                                         "woodbury_residual": float(r.relative_error), "gauss_newton_vs_hvp": gn}
                                        for r, gn in zip(gcalc.solver.reports, gcalc.gauss_newton_error)]
        else:
            glob, gcalc = _solve(study, xh, yh, global_block(study.model), y_test_loss, y_train_loss, progress,
                                 solver=_iterative_solver(solver, cg_rtol, cg_iterations), **options)
            timings["global_solver"] = [{"iterations": r.iterations, "converged": bool(r.converged),
                                         "relative_error": float(r.relative_error)} for r in gcalc.solver.reports]
        timings["global_total_s"] = time.perf_counter() - start
        timings["global_damping_used"] = gcalc.damping
    if path is not None:
        payload = {"layers": scores.layers}
        if glob is not None:
            payload["global"] = glob.layers
        torch.save(payload, path)
        path.with_suffix(".json").write_text(json.dumps({"block_names": scores.block_names, "timings": timings}))
    timings["sign"] = sign
    scores = InfluenceScores(scores.layers, scores.block_names, timings, scores.sign).with_sign(sign)
    return scores, (glob.with_sign(sign) if glob is not None else None), timings


def _iterative_solver(solver: str, rtol: float, maxiter: int):
    """The solver object of ``solver="cg"`` or ``"nystrom"`` (Nyström-preconditioned CG where its factors fit)."""
    if solver == "nystrom":
        return NystromWhereItFitsSolver(rtol=rtol, maxiter=maxiter)
    return CGSolver(rtol=rtol, maxiter=maxiter)


def _solve(study, xh, yh, blocks, y_test, y_train, progress, **options):
    """Harmful-sign scores (Eq. 5 as printed) of every training image and the calculator that made them
    (its ``damping`` is the λ used, ``damping_raises`` says how ``"auto"`` got there). Non-convergence
    warnings of CG are kept in ``calc.solver.reports`` (reported per block by :func:`compute_influence`)."""
    calc = LayerwiseInfluence(study.model, xh, yh, blocks=blocks, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # recorded in solver.reports, reported
        scores = calc.scores(study.x_test, y_test, study.x_train, y_train, progress=progress)
    return scores, calc


GRID_DAMPINGS = (1e-3, 1e-2, 1e-1)
"""The damping values λ every influence claim is judged on (the reference is 1e-2)."""
SAMPLE_NAMES = "ABCDEFGH"


def hessian_samples(n_train: int, n_hessian: int, n_samples: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """``n_samples`` DISJOINT sets of ``n_hessian`` training indices (sorted), drawn from one seeded
    permutation; the first is :func:`hessian_subset`'s (the same seed gives the same first sample)."""
    if n_hessian < 1 or n_samples < 1:
        raise ValueError(f"n_hessian and n_samples must be at least 1, got {n_hessian}, {n_samples}")
    if n_hessian * n_samples > n_train:
        raise ValueError(f"{n_samples} disjoint Hessian samples of {n_hessian} images need {n_hessian * n_samples} "
                         f"training images; the training set has {n_train}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n_train, generator=g)
    return [perm[i * n_hessian:(i + 1) * n_hessian].sort().values for i in range(n_samples)]


def grid_cell(damping: float, sample: str) -> str:
    """The name of one cell of the sensitivity grid, e.g. ``"λ=0.01, sample A"``."""
    return f"λ={damping:g}, sample {sample}"


@dataclass
class InfluenceGrid:
    """Layer-wise influence scores of the same test and training images on a grid of damping values λ and
    disjoint Hessian samples (:func:`compute_influence_grid`): ``scores[cell name]`` (:func:`grid_cell`),
    the ``reference`` cell (λ = 1e-2, sample A: what the figures show), Koh & Liang's global scores at the
    reference cell (or None), the timings and solver reports, and (with the global solve) the layer-wise
    scores in Eq. 6's printed form (full test gradient, full H⁻¹, layer-l training gradient)."""

    scores: dict[str, InfluenceScores]
    dampings: tuple[float, ...]
    samples: tuple[str, ...]
    reference: str
    global_scores: InfluenceScores | None = None
    timings: dict = field(default_factory=dict)
    printed_eq6: InfluenceScores | None = None  # with the global solve: −∇L(test)ᵀH⁻¹∇_{θ^l}L(train) per layer

    @property
    def reference_scores(self) -> InfluenceScores:
        return self.scores[self.reference]

    def cells_reference_first(self) -> list[str]:
        """The cell names, the reference cell first (so a grid verdict's value is the reference cell's)."""
        return [self.reference] + [c for c in self.scores if c != self.reference]

    def cell(self, damping: float, sample: str) -> InfluenceScores:
        return self.scores[grid_cell(damping, sample)]

    def with_sign(self, sign: str) -> "InfluenceGrid":
        flip = lambda x: None if x is None else x.with_sign(sign)  # noqa: E731
        return InfluenceGrid({k: v.with_sign(sign) for k, v in self.scores.items()}, self.dampings, self.samples,
                             self.reference, flip(self.global_scores), dict(self.timings, sign=sign),
                             flip(self.printed_eq6))


def compute_influence_grid(study: Study, dampings=GRID_DAMPINGS, n_hessian: int = 256, n_samples: int = 2,
                           reference_damping: float = 1e-2, batch_size: int = 64, global_influence: bool = False,
                           check_residuals: int = 2, use_cache: bool = True, progress: bool = True,
                           sign: str = ANALYSIS_SIGN) -> InfluenceGrid:
    """Layer-wise influence (Eq. 5–7, block-diagonal: ∇_{θ^l}L(test)ᵀ(H_l + λI)⁻¹∇_{θ^l}L(train) per layer)
    on every cell of damping λ ∈ ``dampings`` × ``n_samples`` disjoint Hessian samples of ``n_hessian``
    training images (:func:`hessian_samples`), so a claim can be judged on all of them.

    Per sample, the exact Gauss-Newton block Hessians are held as low-rank factors (as ``solver="exact"`` of
    :func:`compute_influence`) and solved for every λ by
    :func:`cnnexplain.methods.influence_functions.solvers.woodbury_grid`, which forms each block's kernel
    once and repeats only the small Cholesky per λ; with ``global_influence`` Koh & Liang's global solve at
    the reference cell comes from the same kernels. Then ONE streaming pass over the training set scores
    every cell at once (the per-sample gradients are the expensive part, shared by all cells). Each block's
    residual is checked at the reference λ against independent forward-over-reverse HVPs on
    ``check_residuals`` test images. Cached beside the study like :func:`compute_influence`."""
    from cnnexplain.methods.influence_functions.hvp import BlockHessian
    from cnnexplain.methods.influence_functions.solvers import woodbury_grid

    dampings = tuple(float(d) for d in dampings)
    if reference_damping not in dampings:
        raise ValueError(f"the reference damping {reference_damping} must be one of the grid's {dampings}")
    names = tuple(SAMPLE_NAMES[:n_samples])
    reference = grid_cell(reference_damping, names[0])
    digest = hashlib.sha256(study.x_test.numpy().tobytes()).hexdigest()[:12]
    from cnnexplain.cache import source_key
    from cnnexplain.methods.influence_functions import hvp, layerwise, solvers

    key = source_key([dampings, n_hessian, n_samples, reference_damping, global_influence, check_residuals, digest,
                      len(study.x_test), len(study.x_train), "grid", "eq5-harmful"],
                     compute_influence_grid, hessian_samples, layerwise, hvp, solvers, length=12)
    path = study.cache / f"influence_grid_{key}.pt" if (study.cache is not None and use_cache) else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        meta = json.loads(path.with_suffix(".json").read_text())
        scores = {c: InfluenceScores(saved[c], meta["block_names"], {}, "harmful") for c in meta["cells"]}
        printed = glob = None
        if "printed_eq6" in saved:
            printed = InfluenceScores(saved["printed_eq6"], meta["block_names"], {}, "harmful")
            glob = InfluenceScores(printed.layers.sum(-1, keepdim=True), ["all"], {}, "harmful")
        timings = dict(meta["timings"], from_cache=True)
        return InfluenceGrid(scores, dampings, names, reference, glob, timings, printed).with_sign(sign)
    y_train_loss, y_test_loss = study.loss_labels()
    start = time.perf_counter()
    timings: dict = {"block_hessians_s": 0.0, "solve_s": 0.0, "residual_check_s": 0.0}
    stacked, cells, rows, glob_side, calc = None, [], [], None, None
    test_grads = None
    for sample, index in zip(names, hessian_samples(len(study.x_train), n_hessian, n_samples)):
        xh, yh = study.x_train[index], y_train_loss[index]
        calc = LayerwiseInfluence(study.model, xh, yh, hessian="low-rank", solver="woodbury",
                                  damping=reference_damping, batch_size=batch_size, hvp="forward-over-reverse")
        if test_grads is None:
            t = time.perf_counter()
            test_grads = calc.test_gradients(study.x_test, y_test_loss)
            timings["test_gradients_s"] = time.perf_counter() - t
        operators = calc.block_operators()
        timings["block_hessians_s"] += calc.timings["block_hessians_s"]
        t = time.perf_counter()
        want_global = global_influence and sample == names[0]
        solutions, glob_solution, residuals = woodbury_grid([op.factor for op in operators], test_grads, dampings,
                                                            reference_damping if want_global else None)
        timings["solve_s"] += time.perf_counter() - t
        t = time.perf_counter()
        i_ref = dampings.index(reference_damping)
        for l, (block, op) in enumerate(zip(calc.blocks, operators)):
            k = min(check_residuals, len(study.x_test)) if sample == names[0] else 0  # HVPs cost: sample A only
            s_ref, g = solutions[i_ref][l][:k], test_grads[l][:k]
            h = BlockHessian(calc.fn, block, xh, yh, batch_size=batch_size)
            r = h.matvec(s_ref) + reference_damping * s_ref - g
            hvp_residual = float((r.norm(dim=1) / g.norm(dim=1).clamp_min(1e-30)).max()) if k else float("nan")
            for i, damping in enumerate(dampings):
                rows.append({"sample": sample, "damping": damping, "block": block.name, "rank": int(op.factor.shape[0]),
                             "parameters": int(op.factor.shape[1]), "woodbury_residual": residuals[i][l],
                             "relative_error": hvp_residual if i == i_ref else float("nan"),
                             "gauss_newton_vs_hvp": float(calc.gauss_newton_error[l])})
        timings["residual_check_s"] += time.perf_counter() - t
        calc.release_block_operators()
        del operators
        for i, damping in enumerate(dampings):
            cells.append(grid_cell(damping, sample))
            stacked = solutions[i] if stacked is None else [torch.cat([a, b]) for a, b in zip(stacked, solutions[i])]
        if glob_solution is not None:
            glob_side = glob_solution
    n_test = len(study.x_test)
    if glob_side is not None:
        stacked = [torch.cat([a, b]) for a, b in zip(stacked, glob_side)]
    t = time.perf_counter()
    layers = calc.training_pass(stacked, study.x_train, y_train_loss, progress=progress)  # (cells·n_test, n_train, L)
    timings["training_pass_s"] = time.perf_counter() - t
    scores = {c: InfluenceScores(layers[i * n_test:(i + 1) * n_test].clone(), calc.block_names, {}, "harmful")
              for i, c in enumerate(cells)}
    glob = printed = None
    if glob_side is not None:  # the global solve split by the training gradient's layer: Eq. 6 as printed
        printed = InfluenceScores(layers[len(cells) * n_test:].clone(), calc.block_names, {}, "harmful")
        glob = InfluenceScores(printed.layers.sum(-1, keepdim=True), ["all"], {}, "harmful")
    del layers
    timings.update(total_s=time.perf_counter() - start, n_hessian=n_hessian, n_samples=n_samples,
                   dampings=list(dampings), reference=reference, n_train=len(study.x_train), n_test=n_test,
                   n_layers=len(calc.block_names), damping_used=reference_damping, damping_raises=[],
                   method="exact", solver=rows)
    if path is not None:
        payload = {c: scores[c].layers for c in cells}
        if printed is not None:
            payload["printed_eq6"] = printed.layers
        torch.save(payload, path)
        path.with_suffix(".json").write_text(json.dumps({"block_names": calc.block_names, "cells": cells,
                                                         "timings": timings}))
    return InfluenceGrid(scores, dampings, names, reference, glob, timings, printed).with_sign(sign)


def sensitivity_table(grid: InfluenceGrid, aliases=None) -> pd.DataFrame:
    """How stable the layer-wise scores are (issue: verdicts that survive damping and the Hessian sample):
    per layer (and the total I_total), for each comparison of the reference cell with another cell — the
    other Hessian sample at the reference λ, and each other λ on sample A — the Pearson r over all
    (test, training) pairs, the share of test images whose most influential training image (argmax) is
    the same, and the ratio of the scores' standard deviations (how much λ scales them)."""
    ref = grid.reference_scores
    ref_damping = grid.timings.get("damping_used", 1e-2)
    others = [grid_cell(ref_damping, s) for s in grid.samples[1:]]
    others += [grid_cell(d, grid.samples[0]) for d in grid.dampings if grid_cell(d, grid.samples[0]) != grid.reference]
    names = list(aliases) if aliases is not None else list(ref.block_names)
    rows = []
    for other in others:
        b = grid.scores[other]
        pairs = [(n, ref.layers[..., l], b.layers[..., l]) for l, n in enumerate(names)] + [("total", ref.total, b.total)]
        for layer, x, y in pairs:
            xf, yf = x.flatten().double(), y.flatten().double()
            r = float(torch.corrcoef(torch.stack([xf, yf]))[0, 1]) if xf.std() > 0 and yf.std() > 0 else float("nan")
            rows.append({"comparison": f"{grid.reference} vs {other}", "layer": layer, "pearson": r,
                         "same_top_image": float((x.argmax(1) == y.argmax(1)).double().mean()),
                         "std_ratio_other_over_reference": float(yf.std() / xf.std()) if xf.std() > 0 else float("nan")})
    return pd.DataFrame(rows)


def sensitivity_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison of :func:`sensitivity_table`: min / median per-layer Pearson, min / median
    per-layer same-top-image rate, and the total's Pearson and same-top rate (what REPORT.md shows)."""
    layers = table[table.layer != "total"].groupby("comparison", sort=False)
    total = table[table.layer == "total"].set_index("comparison")
    out = pd.DataFrame({"layer_pearson_min": layers.pearson.min(), "layer_pearson_median": layers.pearson.median(),
                        "layer_same_top_min": layers.same_top_image.min(),
                        "layer_same_top_median": layers.same_top_image.median(),
                        "total_pearson": total.pearson, "total_same_top": total.same_top_image,
                        "layer_std_ratio_median": layers.std_ratio_other_over_reference.median()})
    return out.reset_index()


# ----------------------------------------------------------------------------------------------------
# Table 1


def accuracy_table(predictions, labels, conditions, class_names, probabilities=None) -> pd.DataFrame:
    """Accuracy ± SEM per condition and class (Table 1). SEM = standard error of the mean of the 0/1
    correctness over the class's test images (scipy.stats.sem); with ``probabilities`` (the true class's
    softmax probability, what the paper's table seems to hold: 'Top 5 probability values') also their
    mean ± SEM."""
    from scipy.stats import sem

    predictions, labels = np.asarray(predictions), np.asarray(labels)
    conditions = np.asarray(conditions)
    rows = []
    for cond in dict.fromkeys(conditions):
        for c, name in enumerate(class_names):
            sel = (conditions == cond) & (labels == c)
            if not sel.any():
                continue
            correct = (predictions[sel] == c).astype(float)
            row = {"condition": cond, "class": name, "n": int(sel.sum()), "accuracy": correct.mean(),
                   "sem": float(sem(correct)) if sel.sum() > 1 else float("nan")}
            if probabilities is not None:
                p = np.asarray(probabilities)[sel]
                row.update(p_true=p.mean(), p_true_sem=float(sem(p)) if sel.sum() > 1 else float("nan"))
            rows.append(row)
    return pd.DataFrame(rows)


def condition_accuracy(table: pd.DataFrame) -> pd.Series:
    """Mean accuracy per condition (weighted by images) from :func:`accuracy_table`."""
    weighted = table.assign(hits=table.accuracy * table.n).groupby("condition", sort=False)[["hits", "n"]].sum()
    return weighted.hits / weighted.n


# ----------------------------------------------------------------------------------------------------
# Fig. 2 / Table 2


def most_influential_table(scores: InfluenceScores, study: Study, predictions, layer: str | None = None,
                           largest: bool = True) -> pd.DataFrame:
    """Per test image: the training image with the highest I_total (or one layer's score), its class, the
    test image's predicted class, and whether they agree (Fig. 2, Table 2). ``largest=False``: the lowest
    score instead (Koh & Liang's most *helpful* image under Eq. 5's sign)."""
    index, value = scores.most_influential(1, layer, largest)
    index, value = index[:, 0].numpy(), value[:, 0].numpy()
    names = np.array(list(study.class_names) + ["other"])  # "other": an ImageNet class outside the 10
    predictions = np.asarray(predictions)
    predictions = np.where(predictions < 0, len(study.class_names), predictions)
    y_test, y_train = study.y_test.numpy(), study.y_train.numpy()
    table = pd.DataFrame({
        "test_index": np.arange(len(y_test)), "condition": study.conditions, "true_class": names[y_test],
        "predicted_class": names[predictions], "influential_train_index": index,
        "influential_class": names[y_train[index]], "score": value})
    table["correct"] = predictions == y_test
    table["influential_is_true_class"] = y_train[index] == y_test
    table["influential_is_predicted_class"] = y_train[index] == predictions
    tex = study.texture_labels.numpy()
    table["texture_class"] = np.where(tex >= 0, names[np.clip(tex, 0, None)], "")
    return table


def influential_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per condition: fraction of test images whose most influential training image has the true class,
    the predicted class, and (textured) the added texture's class."""
    out = table.groupby("condition", sort=False).agg(
        accuracy=("correct", "mean"), influential_is_true=("influential_is_true_class", "mean"),
        influential_is_predicted=("influential_is_predicted_class", "mean"))
    tex = table[table.texture_class != ""]
    if len(tex):
        out.loc["textured", "influential_is_texture"] = (tex.influential_class == tex.texture_class).mean()
    return out


# ----------------------------------------------------------------------------------------------------
# Fig. 3, 4, 7, 8, 9


def intra_class_table(scores: InfluenceScores, study: Study, predictions) -> pd.DataFrame:
    """Per test image: its intra-class I_avg (mean I_total over the training images of its class, the
    paper's I_avg), condition, class and whether it was classified correctly (Fig. 3, 4)."""
    n_classes = len(study.class_names)
    averages = class_averages(scores.total, study.y_train, n_classes)
    y = study.y_test
    intra = averages[torch.arange(len(y)), y].numpy()
    return pd.DataFrame({"test_index": np.arange(len(y)), "condition": study.conditions,
                         "class": np.array(study.class_names)[y.numpy()], "I_avg": intra,
                         "correct": np.asarray(predictions) == y.numpy()})


def reference_lines(values) -> dict:
    """The paper's reference lines of Fig. 3, 4, 7: median (red), max (green), min (blue) of the data."""
    values = np.asarray(values, dtype=float)
    return {"median": float(np.median(values)), "max": float(values.max()), "min": float(values.min())}


def inter_class_matrix(scores: InfluenceScores, study: Study, condition: str = "original", mask=None) -> pd.DataFrame:
    """Mean influence of each training class (columns) on the test images of each class (rows) in one
    condition (Fig. 7: I_avg of training class → test class). ``mask`` selects test images further
    (e.g. styled and correctly classified)."""
    n_classes = len(study.class_names)
    averages = class_averages(scores.total, study.y_train, n_classes).numpy()  # (n_test, C)
    sel = study.conditions == condition
    if mask is not None:
        sel = sel & np.asarray(mask)
    y = study.y_test.numpy()
    rows = {}
    for c, name in enumerate(study.class_names):
        pick = sel & (y == c)
        rows[name] = averages[pick].mean(0) if pick.any() else np.full(n_classes, np.nan)
    return pd.DataFrame(rows, index=list(study.class_names)).T.rename_axis(index="test class", columns="training class")


def layer_features(scores: InfluenceScores, study: Study) -> np.ndarray:
    """Per test image its intra-class layer-wise averages I_Lavg = (l1_avg, …, l16_avg): mean score of
    each layer over the training images of the test image's class, shape (n_test, n_layers) (§3.2)."""
    n_classes = len(study.class_names)
    averages = class_averages(scores.layers, study.y_train, n_classes)  # (n_test, C, L)
    return averages[torch.arange(len(study.y_test)), study.y_test].numpy()


def condition_features(features: np.ndarray, study: Study, class_index: int | None = None) -> pd.DataFrame:
    """Mean feature vector per condition (rows, :data:`CONDITIONS` order), over one class's test images
    or all of them; columns are the layers."""
    sel = np.ones(len(study.y_test), bool) if class_index is None else study.y_test.numpy() == class_index
    rows = {c: features[sel & (study.conditions == c)].mean(0) for c in CONDITIONS
            if (sel & (study.conditions == c)).any()}
    return pd.DataFrame(rows, index=list(study.layer_names)).T


def cluster_conditions(features: pd.DataFrame):
    """Hierarchical clustering of the conditions' feature vectors (rows) with average linkage on
    Euclidean distance (§3.2, Fig. 8). Returns the scipy linkage matrix and the 3-cluster assignment
    ``{condition: cluster id}`` (the paper finds {original, white background}, {styled}, {textured})."""
    from scipy.cluster.hierarchy import fcluster, linkage

    link = linkage(features.to_numpy(), method="average", metric="euclidean")
    k = min(3, len(features))
    labels = fcluster(link, k, criterion="maxclust")
    return link, dict(zip(features.index, labels.tolist()))


def correlation_distance(features: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation distance 1 − ρ between the rows' feature vectors (Fig. 8B, D, F)."""
    from scipy.spatial.distance import pdist, squareform

    d = squareform(pdist(features.to_numpy(), metric="correlation"))
    return pd.DataFrame(d, index=features.index, columns=features.index)


def paper_grouping_holds(assignment: dict) -> bool:
    """True when the 3-cluster cut groups original with white background and keeps styled and textured
    each apart from them and from each other (the paper's Fig. 8 finding)."""
    a = assignment
    return (a["original"] == a["white_background"] and a["styled"] != a["original"]
            and a["textured"] != a["original"] and a["styled"] != a["textured"])


def mean_influence_per_layer(features: np.ndarray, study: Study, class_index: int | None = None) -> pd.DataFrame:
    """Mean intra-class layer-wise influence per condition (Fig. 9): rows conditions, columns layers."""
    return condition_features(features, study, class_index)


def separability(layer_feats: np.ndarray, total_feats: np.ndarray, conditions, seed: int = 0,
                 extra: dict | None = None) -> pd.DataFrame:
    """Do layer-wise scores separate the test conditions better than the total (the paper's §5 claim)?

    For each feature set (rows): the silhouette score of the condition labels (Euclidean, on features
    standardised per column) and the 5-fold cross-validated accuracy of a logistic regression predicting
    the condition (chance = 1 / number of conditions). ``extra`` adds more feature sets by name, e.g.
    Koh & Liang's global influence."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sets = {"layer-wise I_Lavg (16 features)": layer_feats, "total I_avg (1 feature)": total_feats}
    sets.update(extra or {})
    conditions = np.asarray(conditions)
    n_folds = int(min(5, np.unique(conditions, return_counts=True)[1].min()))
    rows = []
    for name, x in sets.items():
        x = np.asarray(x, dtype=float).reshape(len(conditions), -1)
        z = StandardScaler().fit_transform(x)
        row = {"features": name, "n_features": x.shape[1], "silhouette": float(silhouette_score(z, conditions))}
        if n_folds >= 2:
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            cv = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
            row["cv_accuracy"] = float(cross_val_score(clf, x, conditions, cv=cv).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    out["chance"] = 1.0 / len(np.unique(conditions))
    return out


# ----------------------------------------------------------------------------------------------------
# Table 3, Fig. 6


def texture_patch_table(model: nn.Module, class_names, n_per_class: int = 5, seed: int = 0, size: int = 64,
                        patches=None, groups: torch.Tensor | None = None, texture_names=None):
    """Accuracy ± SEM of the classifier on texture patches alone (Table 3, first columns).

    Default: the world's texture patches (:func:`cnnexplain.data.world.texture_patches`). Paper profile: pass
    ``patches`` (a batch with ``images`` and ``labels``, e.g. :func:`cnnexplain.papers.aamir.imagenet.paper_texture_patches`)
    and ``groups`` (ImageNet index → paper class, −1 outside), so a prediction is correct when the 1000-way
    argmax falls in the patch's class group and ``p_true`` sums the group's probabilities."""
    from scipy.stats import sem

    if patches is None:
        patches = world.texture_patches(n_per_class, seed=seed, size=size)
        texture_names = world.TEXTURES
    prob = torch.softmax(training.predict(model, patches.images), 1)
    labels = patches.labels
    pred = predicted_class(prob, groups).numpy()
    p_true = class_probability(prob, labels, groups).numpy()
    rows = []
    for c, name in enumerate(class_names):
        sel = labels.numpy() == c
        if not sel.any():
            continue
        correct = (pred[sel] == c).astype(float)
        rows.append({"texture": texture_names[c] if texture_names is not None else f"{name} object patch",
                     "texture_of_class": name, "n": int(sel.sum()), "accuracy": correct.mean(),
                     "sem": float(sem(correct)) if sel.sum() > 1 else float("nan"), "p_true": p_true[sel].mean()})
    return pd.DataFrame(rows), patches


def texture_dose(study: Study, content_index: int, texture: torch.Tensor, steps: int = 30,
                 snapshot_every: int = 3, damping: float | str = "auto", n_hessian: int | None = 256,
                 cg_iterations: int = 50, seed: int = 0, calc: LayerwiseInfluence | None = None, solver: str = "cg",
                 sign: str = ANALYSIS_SIGN, auto_damping_start: float = 1e-2, grid_dampings=None,
                 n_hessian_samples: int = 1):
    """Fig. 6: transfer ``texture`` onto the test image ``content_index`` step by step (Gatys texture
    transfer, :func:`cnnexplain.methods.style.texture_transfer` from the content image — the paper starts from the
    object on a WHITE background, so pass a ``white_background`` test image) and, at every snapshot,
    the predicted class, the true class's probability and the intra-class I_avg of the snapshot w.r.t.
    the content's class (as in the paper, 'calculated with respect to intra-class of the cat class').

    The texture dose is the step / ``steps`` in % (the paper's 'texture %' is its transfer iteration).
    ``solver``: "exact" (low-rank Woodbury, as :func:`compute_influence`), "cg" or "nystrom". Scores carry
    ``sign`` (:data:`ANALYSIS_SIGN`: helpful) and the λ used is ``table.attrs["damping_used"]``
    (``damping="auto"`` raises it from the solver's structured error; each raise is listed in
    ``table.attrs["damping_raises"]``, and CG blocks that did not converge are counted in
    ``table.attrs["blocks_not_converged"]`` — the solver's ConvergenceWarnings are recorded there, not shown).

    ``grid_dampings`` with ``n_hessian_samples``: the scores on the sensitivity grid as notebook 21 (every λ ×
    disjoint Hessian samples; the exact solver shares one factorisation per sample and one training pass,
    CG solves each cell); ``I_avg_intra`` is then the reference cell's (λ = ``damping``, sample A) and one
    column ``I_avg_intra[<cell>]`` per cell is added (``table.attrs["grid"]`` lists the cells).
    Returns ``(table, snapshots (k, 3, H, W))``."""
    from cnnexplain.methods.style import texture_transfer

    content = study.x_test[content_index:content_index + 1]
    label = int(study.y_test[content_index])
    y_train_loss, y_test_loss = study.loss_labels()
    result = texture_transfer(content, texture[None] if texture.dim() == 3 else texture, steps=steps,
                              snapshot_every=snapshot_every, seed=seed, progress=False)
    steps_taken = [s for s, _ in result.snapshots]
    images = torch.cat([im for _, im in result.snapshots])
    if steps_taken[0] != 0:
        steps_taken, images = [0] + steps_taken, torch.cat([content, images])
    if calc is None:
        subset = hessian_subset(len(study.x_train), n_hessian)
        if solver == "exact":
            calc = LayerwiseInfluence(study.model, study.x_train[subset], y_train_loss[subset], hessian="low-rank",
                                      solver="woodbury", damping=damping, batch_size=64, hvp="forward-over-reverse",
                                      auto_damping_start=auto_damping_start)
        elif solver in ("cg", "nystrom"):
            calc = LayerwiseInfluence(study.model, study.x_train[subset], y_train_loss[subset],
                                      solver=_iterative_solver(solver, 1e-3, cg_iterations), damping=damping,
                                      batch_size=64, hvp="forward-over-reverse", auto_damping_start=auto_damping_start)
        else:
            raise ValueError(f"solver must be 'exact', 'cg' or 'nystrom', got {solver!r}")
    labels = torch.full((len(images),), int(y_test_loss[content_index]), dtype=torch.long)
    cells = {}
    if grid_dampings is not None and solver == "exact":
        snapshots = replace(study, x_test=images, y_test=torch.full((len(images),), label, dtype=torch.long),
                            conditions=np.array(["dose"] * len(images)), cache=None,
                            texture_labels=torch.full((len(images),), -1, dtype=torch.long),
                            info=dict(study.info, loss_labels_test=labels))
        grid = compute_influence_grid(snapshots, dampings=grid_dampings, n_hessian=n_hessian,
                                      n_samples=n_hessian_samples, reference_damping=calc.damping, use_cache=False,
                                      progress=False, sign=sign, check_residuals=0)  # the same solves are checked in 21
        cells, scores = {c: grid.scores[c] for c in grid.cells_reference_first()}, grid.reference_scores
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)  # counted in table.attrs below
            scores = calc.scores(images, labels, study.x_train, y_train_loss, progress=False).with_sign(sign)
        if grid_dampings is not None:  # CG: one calculator per cell (its own λ and Hessian sample)
            samples = hessian_samples(len(study.x_train), n_hessian, n_hessian_samples)
            for i, index in enumerate(samples):
                for d in grid_dampings:
                    cell_calc = LayerwiseInfluence(study.model, study.x_train[index], y_train_loss[index],
                                                   blocks=calc.blocks, solver=CGSolver(rtol=1e-3, maxiter=cg_iterations),
                                                   damping="auto" if damping == "auto" else d, auto_damping_start=d,
                                                   batch_size=64, hvp="forward-over-reverse")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", category=ConvergenceWarning)  # counted below
                        cells[grid_cell(d, SAMPLE_NAMES[i])] = cell_calc.scores(
                            images, labels, study.x_train, y_train_loss, progress=False).with_sign(sign)
                    calc.solver.reports.extend(cell_calc.solver.reports)
            first = grid_cell(calc.damping, SAMPLE_NAMES[0])
            cells = {c: cells[c] for c in ([first] if first in cells else []) + [c for c in cells if c != first]}
    intra = class_averages(scores.total, study.y_train, len(study.class_names))[:, label].numpy()
    prob = torch.softmax(training.predict(study.model, images), 1)
    groups = study.info.get("groups")  # paper profile: ImageNet index -> paper class (-1 outside the 10)
    predicted = predicted_class(prob, groups).numpy()
    p_true = class_probability(prob, torch.full((len(prob),), label), groups).numpy()
    names = np.array(list(study.class_names) + ["other"])
    top = scores.most_influential(1)[0][:, 0].numpy()
    table = pd.DataFrame({"step": steps_taken, "texture_percent": 100.0 * np.array(steps_taken) / steps,
                          "predicted_class": names[predicted], "p_true": p_true,
                          "I_avg_intra": intra, "influential_class": names[study.y_train.numpy()[top]]})
    for cell, cell_scores in cells.items():
        table[f"I_avg_intra[{cell}]"] = class_averages(cell_scores.total, study.y_train,
                                                       len(study.class_names))[:, label].numpy()
    table["sign"] = sign  # of I_avg_intra
    table.attrs.update(sign=sign, damping_used=calc.damping, damping_raises=list(calc.damping_raises),
                       blocks_not_converged=sum(not r.converged for r in calc.solver.reports), grid=list(cells))
    return table, images


# ----------------------------------------------------------------------------------------------------
# Fig. 10


def shapley_maps(model: nn.Module, images: torch.Tensor, max_evals: int = 300, batch_size: int = 100,
                 masker: str = "blur(8,8)", seed: int = 0) -> np.ndarray:
    """Shapley values of the predicted class for each image (Fig. 10) with shap's Partition explainer and
    an Image masker (hierarchical Owen values over pixel regions; hidden regions are blurred). We use
    Partition rather than GradientExplainer because it is model-agnostic and explains regions of the
    input the way the paper's maps do, needs no background set of images whose choice would itself
    change the maps, and costs ``max_evals`` forward passes per image only.

    Returns (B, H, W) maps: the values summed over colour channels, for the predicted class."""
    import shap

    model.eval()
    x = images.permute(0, 2, 3, 1).numpy().astype(np.float32)  # shap's Image masker wants (H, W, C)

    def f(batch):
        t = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
        with torch.no_grad():
            return torch.softmax(model(t), 1).numpy()

    with torch.no_grad():
        predicted = model(images).argmax(1).numpy()
    image_masker = shap.maskers.Image(masker, x[0].shape)
    explainer = shap.explainers.Partition(f, image_masker)
    maps = []
    for i in range(len(x)):
        np.random.seed(seed)
        values = explainer(x[i:i + 1], max_evals=max_evals, batch_size=batch_size, outputs=[int(predicted[i])],
                           silent=True)
        maps.append(values.values[0, ..., 0].sum(-1))
    return np.stack(maps)


def shapley_spread(maps: np.ndarray, quantile: float = 0.9) -> np.ndarray:
    """Fraction of pixels whose |Shapley value| exceeds ``quantile`` of the image's own max |value|…
    a simple size measure of the influential regions (the paper: styled and textured images have larger,
    more dispersed regions than the originals)."""
    a = np.abs(maps).reshape(len(maps), -1)
    top = a.max(1, keepdims=True)
    return (a >= (1 - quantile) * top).mean(1)


# ----------------------------------------------------------------------------------------------------
# timing model: from what we measured to the paper's size


def forward_flops(model: nn.Module, input_shape) -> float:
    """Multiply-adds ×2 of one forward pass through the Conv2d and Linear layers (hooks on a dummy input)."""
    total = [0.0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2.0 * output.numel() * k
        elif isinstance(module, nn.Linear):
            total[0] += 2.0 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return total[0]


VGG16_224_FLOPS = 2 * 15.47e9  # torchvision VGG16 at 224 px: 15.47 GMACs per image


def influence_work(n_test: int, n_train: int, n_layers: int, cg_iterations: int, n_hessian: int,
                   flops_per_image: float) -> dict:
    """FLOPs of the two influence steps under a simple cost model: the test side needs about
    n_test × n_layers × (cg_iterations + 1) Hessian-vector products over n_hessian images, each ≈ 4 forward
    passes (forward-over-reverse); the training pass ≈ 3 forward passes per training image (per-sample
    gradients of all layers at once)."""
    return {"test_side": n_test * n_layers * (cg_iterations + 1) * n_hessian * 4 * flops_per_image,
            "training_pass": n_train * 3 * flops_per_image}


def estimate_paper_seconds(timings: dict, flops_per_image: float, cg_iterations: int, gpu_flops: float = 2e13,
                           paper=dict(n_test=200, n_train=30000, n_layers=16, cg_iterations=100, n_hessian=512)) -> dict:
    """Seconds the paper's size would take on one GPU delivering ``gpu_flops`` (default 20 TFLOP/s, an
    assumption for fp32 autograd on an H100-class GPU), plus our measured CPU throughput for reference."""
    ours = influence_work(timings["n_test"], timings["n_train"], timings["n_layers"], cg_iterations,
                          timings["n_hessian"], flops_per_image)
    measured = {"test_side": timings.get("test_side_s"), "training_pass": timings.get("training_pass_s")}
    if timings.get("method") == "exact":  # our test side was a Woodbury solve, not CG: no CG throughput to measure
        measured["test_side"] = None
    big = influence_work(flops_per_image=VGG16_224_FLOPS, **paper)
    out = {}
    for step in ("test_side", "training_pass"):
        if measured[step]:
            out[f"cpu_gflops_{step}"] = ours[step] / measured[step] / 1e9
        out[f"paper_gpu_s_{step}"] = big[step] / gpu_flops
    return out
