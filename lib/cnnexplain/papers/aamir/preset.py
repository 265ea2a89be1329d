"""The ONE study of the Aamir et al. notebooks (21-24) and of the survey's shapes model (41/42), per
profile: every notebook asks for ``load_study(PROFILE)`` and gets the same trained network, built once and
cached (tests/test_aamir_preset.py proves they resolve to the same study), and notebooks 21-23 ask for
``load_influence(study, PROFILE)`` and get the same influence scores (one setting per profile,
:data:`INFLUENCE`, so the cached scores are shared).

- ``smoke``: a few world images and a narrow VGG16Small, so every code path runs in seconds;
- ``default``: the textured-shapes world (:mod:`cnnexplain.data.world`) and VGG16Small, trained on 2 CPU
  cores in the default batch;
- ``paper``: ImageNet + torchvision VGG16 (:func:`cnnexplain.papers.aamir.imagenet.build_paper_study`), which
  stops with a message naming what to download when data or weights are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cnnexplain.notebook.results import check_profile
from cnnexplain.papers.aamir.study import (ANALYSIS_SIGN, GRID_DAMPINGS, InfluenceGrid, Study, StudyConfig, build_study,
                                          compute_influence, compute_influence_grid, grid_cell)

# the default profile's study: 200 world images per class (2,000), 5 test images per class and condition (the
# paper's 200 test images), a VGG16Small of width 8 (VGG16: 64), fc6/fc7 of 128 units (VGG16: 4096), 12 epochs
# of Adam with a cosine schedule: ~98 % training accuracy in eval mode (the claims' precondition is 95 %,
# claims.TRAIN_ACCURACY_FLOOR). The class texture is on 97 % of the training objects (the other 3 % carry a
# neutral texture and only their shape): with 90 % the net stayed at the texture-only fit (92 % training
# accuracy, loss stuck at 0.1 x ln 10) after 20 epochs, three times the time, without learning the shapes.
DEFAULT_STUDY = StudyConfig(n_train_per_class=200, n_test_per_class=5, epochs=12, width=8, hidden=128,
                            texture_prob=0.97, shape_prob=0.5, schedule="cosine", style_method="gatys",
                            style_steps=60, seed=0)
SMOKE_STUDY = replace(DEFAULT_STUDY, n_train_per_class=4, n_test_per_class=2, epochs=1, width=4, hidden=16,
                      style_method="colour")
# the paper profile (ImageNet): images per wnid (19 wnids: 3,800 training images, >= 200 per class as the default
# profile; the paper had 30,000), test images per class, style-transfer steps
PAPER_STUDY = {"n_train_per_wnid": 200, "n_test_per_class": 5, "style_steps": 300}


def study_config(profile: str, seed: int = 0) -> StudyConfig:
    """The world study's settings for ``smoke`` or ``default`` (the paper profile uses ImageNet instead)."""
    check_profile(profile)
    if profile == "paper":
        raise ValueError("the paper profile's study is ImageNet + VGG16 (PAPER_STUDY), not a world StudyConfig")
    return replace(SMOKE_STUDY if profile == "smoke" else DEFAULT_STUDY, seed=seed)


def load_study(profile: str, *, seed: int = 0, data_root=None, progress: bool = True) -> Study:
    """The study of ``profile``: the world + VGG16Small (smoke/default, trained once and cached) or
    ImageNet + torchvision VGG16 (paper)."""
    check_profile(profile)
    if profile == "paper":
        from cnnexplain.papers.aamir.imagenet import build_paper_study

        return build_paper_study(data_root, n_train_per_wnid=PAPER_STUDY["n_train_per_wnid"],
                                 n_test_per_class=PAPER_STUDY["n_test_per_class"],
                                 style_steps=PAPER_STUDY["style_steps"], texture_steps=PAPER_STUDY["style_steps"],
                                 seed=seed, progress=progress)
    return build_study(study_config(profile, seed), progress=progress)


@dataclass(frozen=True)
class InfluenceSettings:
    """How the 2x notebooks compute layer-wise influence (Eq. 5-7) in one profile."""

    n_per_class: int  # test images per class and condition that get scores (5: all of them, as the paper)
    n_hessian: int  # training images whose mean loss defines each layer's Hessian block (a mini-batch, as the paper)
    solver: str  # "exact" (low-rank Jacobian blocks + Woodbury), "cg" or "nystrom" (VGG16 with 1000 classes)
    cg_iterations: int  # CG iterations per layer ("cg", "nystrom"; residuals are reported)
    damping: float | str  # λ in (H_l + λI)^-1, or "auto": raised from the solver's NotPositiveDefiniteError
    auto_damping_start: float  # where "auto" starts
    global_influence: bool  # also Koh & Liang's global (one-block) influence
    sign: str = ANALYSIS_SIGN  # the sign the analyses read the scores in
    # the sensitivity grid every influence claim is judged on: damping values λ x disjoint Hessian samples;
    # the figures show the reference cell (λ = ``damping``, sample A)
    grid_dampings: tuple = GRID_DAMPINGS
    n_hessian_samples: int = 2

    def solve_options(self) -> dict:
        """The keyword arguments of :func:`cnnexplain.papers.aamir.study.texture_dose` (notebook 22), the same
        solve and grid as :func:`load_influence` uses for notebooks 21 and 23."""
        return dict(damping=self.damping, n_hessian=self.n_hessian, cg_iterations=self.cg_iterations,
                    solver=self.solver, sign=self.sign, auto_damping_start=self.auto_damping_start,
                    grid_dampings=tuple(self.grid_dampings), n_hessian_samples=self.n_hessian_samples)


INFLUENCE = {
    # the Woodbury solve of positive semi-definite Gauss-Newton blocks never needs λ raised: a fixed λ; each
    # Hessian sample holds 128 training images (rank <= 1,280 per block; 64 before issue 14), two disjoint samples
    "default": InfluenceSettings(n_per_class=5, n_hessian=128, solver="exact", cg_iterations=100, damping=1e-2,
                                 auto_damping_start=1e-2, global_influence=True),
    "smoke": InfluenceSettings(n_per_class=1, n_hessian=8, solver="exact", cg_iterations=1, damping=1e-2,
                               auto_damping_start=1e-2, global_influence=False),
    # VGG16's true block Hessians can be indefinite: CG says so, and λ is raised from 1e-2 (and reported).
    # "nystrom": CG preconditioned by a randomized Nyström sketch of each block whose factors fit in 8 GB
    # (conv1_1 … conv3_1), plain CG on the others — the fastest solver shown to reach the exact answer at this
    # scale (LeNet-5, every block streamed: 3.9× fewer products than CG, all blocks at rtol; issue 16)
    "paper": InfluenceSettings(n_per_class=5, n_hessian=512, solver="nystrom", cg_iterations=100, damping="auto",
                               auto_damping_start=1e-2, global_influence=True),
}


def influence_settings(profile: str) -> InfluenceSettings:
    """The influence settings of ``profile`` (:data:`INFLUENCE`)."""
    check_profile(profile)
    return INFLUENCE[profile]


def load_influence(study: Study, profile: str, *, progress: bool = True):
    """The influence scores of the 2x notebooks in ``profile`` on the sensitivity grid (damping λ ×
    disjoint Hessian samples): the study's test subset that gets scores and an
    :class:`cnnexplain.papers.aamir.study.InfluenceGrid` (cached beside the study). ``"exact"`` settings:
    :func:`cnnexplain.papers.aamir.study.compute_influence_grid` (one factorisation per sample reused for
    every λ, one training pass for all cells); ``"cg"``/``"nystrom"`` (VGG16): :func:`compute_influence` once
    per cell.
    Returns ``(subset study, grid, global scores or None, timings)``; ``grid.reference_scores`` are what
    the figures show."""
    settings = influence_settings(profile)
    subset = study.subset(settings.n_per_class)
    if settings.solver == "exact":
        grid = compute_influence_grid(subset, dampings=settings.grid_dampings, n_hessian=settings.n_hessian,
                                      n_samples=settings.n_hessian_samples, reference_damping=settings.damping,
                                      global_influence=settings.global_influence, progress=progress,
                                      sign=settings.sign)
        return subset, grid, grid.global_scores, grid.timings
    options = settings.solve_options()
    for key in ("grid_dampings", "n_hessian_samples"):
        options.pop(key)
    scores, glob, timings = {}, None, {}
    samples = "ABCDEFGH"[:settings.n_hessian_samples]
    for i, sample in enumerate(samples):
        for damping in settings.grid_dampings:
            cell = grid_cell(damping, sample)
            reference = i == 0 and damping == settings.grid_dampings[len(settings.grid_dampings) // 2]
            options.update(damping=damping if settings.damping != "auto" else "auto", auto_damping_start=damping)
            scores[cell], g, t = compute_influence(subset, global_influence=settings.global_influence and reference,
                                                   progress=progress, hessian_sample=i,
                                                   n_hessian_samples=settings.n_hessian_samples, **options)
            if reference:
                glob, timings, ref = g, t, cell
    timings = dict(timings, cells=list(scores))
    return subset, InfluenceGrid(scores, tuple(settings.grid_dampings), tuple(samples), ref, glob, timings), glob, timings
