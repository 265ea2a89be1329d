"""The ONE study of the Aamir et al. notebooks (21-24) and of the survey's shapes model (41/42), per
profile: every notebook asks for ``load_study(PROFILE)`` and gets the same trained network, built once and
cached (tests/test_aamir_preset.py proves they resolve to the same study).

- ``smoke``: a few world images and a narrow VGG16Small, so every code path runs in seconds;
- ``default``: the textured-shapes world (:mod:`cnnexplain.data.world`) and VGG16Small, trained on 2 CPU
  cores in the default batch;
- ``paper``: ImageNet + torchvision VGG16 (:func:`cnnexplain.papers.aamir.imagenet.build_paper_study`), which
  stops with a message naming what to download when data or weights are missing.
"""

from __future__ import annotations

from dataclasses import replace

from cnnexplain.notebook.results import check_profile
from cnnexplain.papers.aamir.study import Study, StudyConfig, build_study

# the default profile's study: 40 world images per class, 5 test images per class and condition (the paper's
# 200 test images), 8 epochs, a VGG16Small of width 8 (VGG16: 64), fc6/fc7 of 128 units (VGG16: 4096)
DEFAULT_STUDY = StudyConfig(n_train_per_class=40, n_test_per_class=5, epochs=8, width=8, hidden=128,
                            texture_prob=0.9, shape_prob=0.5, style_method="gatys", style_steps=60, seed=0)
SMOKE_STUDY = replace(DEFAULT_STUDY, n_train_per_class=4, n_test_per_class=2, epochs=1, width=4, hidden=16,
                      style_method="colour")
# the paper profile (ImageNet): images per wnid, test images per class, style-transfer steps
PAPER_STUDY = {"n_train_per_wnid": 30, "n_test_per_class": 5, "style_steps": 300}


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
