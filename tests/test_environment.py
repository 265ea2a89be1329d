"""requirements.txt and environment.yml pin the same packages, and torch cannot drift to a CUDA build."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins_from_requirements():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_every_requirement_is_pinned_exactly():
    for line in pins_from_requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9_.+\-]*", line), f"not an exact pin: {line}"
    names = [line.split("==")[0].lower() for line in pins_from_requirements()]
    assert {"torch", "torchvision", "papermill", "jupyterlab", "ipywidgets", "shap", "seaborn", "scipy"} <= set(names)


def test_environment_yml_lists_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = sorted(p for p in pip_section if "==" in p)
    assert conda_pins == sorted(pins_from_requirements())
    assert "python=3.11" in env["dependencies"]


def test_makefile_installs_the_pinned_torch_first():
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = next(p for p in pins_from_requirements() if p.startswith("torch=="))
    assert "grep -E '^torch=='" in makefile or torch_pin in makefile
