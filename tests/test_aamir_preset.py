"""Notebooks 21-24 and the survey's shapes model (41/42) resolve to ONE Aamir study per profile, and 21-23
to one influence setting: the preset (cnnexplain.papers.aamir.preset) is the only place they are defined."""

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest

from cnnexplain.papers.aamir import preset

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STUDY_NOTEBOOKS = ["21_layerwise_influence", "22_texture_dose", "23_influence_clustering", "24_shapley_maps",
                   "25_retrain_by_layer"]
# what the preset decides: the study (StudyConfig / PAPER_STUDY) and the influence settings (INFLUENCE)
PRESET_PARAMETERS = {"N_TRAIN_PER_CLASS", "N_TEST_PER_CLASS", "EPOCHS", "WIDTH", "HIDDEN", "TEXTURE_PROB",
                     "SHAPE_PROB", "STYLE_METHOD", "STYLE_STEPS", "N_TRAIN_PER_WNID", "N_INFLUENCE_PER_CLASS",
                     "N_HESSIAN", "SOLVER", "CG_ITERATIONS", "DAMPING", "GLOBAL_INFLUENCE"}


def cells(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{name}: one parameters cell"
    rest = "\n".join("".join(c["source"]) for c in code if c not in params)
    return "".join(params[0]["source"]), rest


def assigned(source):
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)}


@pytest.mark.parametrize("name", STUDY_NOTEBOOKS)
def test_notebook_takes_the_study_from_the_preset_only(name):
    params, body = cells(name)
    assert not assigned(params) & PRESET_PARAMETERS, f"{name} still sets {sorted(assigned(params) & PRESET_PARAMETERS)}"
    assert "load_study(PROFILE, seed=SEED, data_root=DATA_ROOT)" in body
    # nothing else builds a study or picks influence settings of its own
    for other in ("build_study(", "StudyConfig(", "compute_influence(", "build_paper_study(", "if PROFILE"):
        assert other not in body, f"{name} calls {other}"
    assert not re.search(r"\b_[a-z]\w*\(", body.replace("__", "")), f"{name} calls a private function"


def test_influence_notebooks_take_the_preset_settings():
    for name in ("21_layerwise_influence", "23_influence_clustering", "25_retrain_by_layer"):
        assert "load_influence(study, PROFILE)" in cells(name)[1]
    assert "influence_settings(PROFILE).solve_options()" in cells("22_texture_dose")[1]


def test_profiles_toml_overrides_no_preset_parameter():
    profiles = tomllib.loads((NOTEBOOKS / "profiles.toml").read_text())
    for name in STUDY_NOTEBOOKS:
        for profile, overrides in profiles.get(name, {}).items():
            assert not set(overrides) & PRESET_PARAMETERS, f"[{name}.{profile}] overrides {set(overrides) & PRESET_PARAMETERS}"


def test_survey_shapes_model_asks_the_preset_for_the_same_study(monkeypatch):
    from cnnexplain.papers.survey import study as survey

    calls = []

    class Asked(Exception):
        pass

    def fake(profile, **kwargs):
        calls.append((profile, kwargs.get("seed")))
        raise Asked

    monkeypatch.setattr(preset, "load_study", fake)
    for profile in ("smoke", "default"):
        with pytest.raises(Asked):
            survey.textured_shapes_model(profile, n_images=1, seed=0)
    assert calls == [("smoke", 0), ("default", 0)]
    for name in ("41_attribution_gallery", "42_measured_table1"):
        assert "textured_shapes_model(PROFILE" in cells(name)[1]


def test_one_setting_per_profile_and_load_influence_uses_it(monkeypatch):
    assert preset.study_config("default") == preset.DEFAULT_STUDY and preset.study_config("smoke") == preset.SMOKE_STUDY
    assert set(preset.INFLUENCE) == {"smoke", "default", "paper"}
    with pytest.raises(ValueError):
        preset.study_config("paper")
    seen = {}

    class FakeStudy:
        def subset(self, n):
            seen["subset"] = n
            return "subset"

    class FakeGrid:
        global_scores, timings = "global", {"t": 1}

    def fake_grid(study, **kwargs):
        seen.update(kwargs, study=study, how="grid")
        return FakeGrid()

    def fake_compute(study, **kwargs):
        seen.setdefault("cells", []).append((kwargs["damping"], kwargs["hessian_sample"]))
        seen.update(kwargs, study=study, how="cells")
        return "scores", None, {}

    monkeypatch.setattr(preset, "compute_influence_grid", fake_grid)
    monkeypatch.setattr(preset, "compute_influence", fake_compute)
    for profile, settings in preset.INFLUENCE.items():
        seen.clear()
        subset, grid, glob, timings = preset.load_influence(FakeStudy(), profile, progress=False)
        assert subset == "subset" and seen["subset"] == settings.n_per_class and seen["study"] == "subset"
        if settings.solver == "exact":  # one factorisation per Hessian sample, every λ, one training pass
            assert seen["how"] == "grid" and isinstance(grid, FakeGrid) and glob == "global"
            assert seen["dampings"] == settings.grid_dampings and seen["n_samples"] == settings.n_hessian_samples
            assert seen["reference_damping"] == settings.damping and seen["n_hessian"] == settings.n_hessian
            assert seen["global_influence"] == settings.global_influence
        else:  # CG: one computation per cell, every (λ, sample) of the grid
            assert seen["how"] == "cells" and len(seen["cells"]) == len(settings.grid_dampings) * settings.n_hessian_samples
            assert set(grid.scores) == {preset.grid_cell(d, s) for d in settings.grid_dampings
                                        for s in "AB"[:settings.n_hessian_samples]}
    assert set(preset.influence_settings("default").solve_options()) >= {"damping", "n_hessian", "grid_dampings"}
