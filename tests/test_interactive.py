"""A notebook run by hand (JupyterLab), not by the batch runner: setting PROFILE in its parameters cell
applies that profile's sizes, and its outputs never touch the batch's results."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import write_notebook

BODY = ("import cnnexplain, json\n"
        "out = cnnexplain.setup_notebook('01_demo', PROFILE, SEED)\n"
        "out.value('n_train', N_TRAIN)\n")


@pytest.fixture
def project(tmp_path):
    notebooks = tmp_path / "notebooks"
    (notebooks).mkdir()
    (notebooks / "profiles.toml").write_text("[01_demo.smoke]\nN_TRAIN = 5\n")
    batch = tmp_path / "results" / "01_demo"
    batch.mkdir(parents=True)
    (batch / "values.json").write_text(json.dumps({"n_train": 5000}))
    return tmp_path


def run_by_hand(project, profile, monkeypatch):
    """Execute the notebook the way JupyterLab does: a kernel started in notebooks/, no runner variables."""
    from cnnexplain.notebook.results import OUTPUT_DIR_ENV, RESULTS_ROOT_ENV

    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ROOT_ENV, raising=False)
    path = write_notebook(project / "notebooks" / "01_demo.ipynb",
                          f"PROFILE = {profile!r}\nSEED = 0\nN_TRAIN = 5000", BODY)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_smoke_by_hand_runs_at_smoke_sizes_and_leaves_the_batch_results_alone(project, monkeypatch):
    printed = run_by_hand(project, "smoke", monkeypatch)
    assert "smoke profile: N_TRAIN = 5 (the parameters cell says 5000)" in printed
    interactive = json.loads((project / "results" / "interactive" / "01_demo" / "values.json").read_text())
    assert interactive == {"n_train": 5}
    assert json.loads((project / "results" / "01_demo" / "values.json").read_text()) == {"n_train": 5000}


def test_apply_profile_refuses_an_override_the_notebook_does_not_define(tmp_path):
    from cnnexplain.notebook.setup import apply_profile

    toml = tmp_path / "profiles.toml"
    toml.write_text("[01_demo.smoke]\nNOT_DEFINED = 1\n")
    with pytest.raises(ValueError, match="NOT_DEFINED"):
        apply_profile("01_demo", "smoke", {"PROFILE": "smoke"}, toml)
    assert apply_profile("01_demo", "default", {"PROFILE": "default"}, toml) == {}
