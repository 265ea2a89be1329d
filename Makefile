# The two commands of the README. Both create the project's own virtual environment (.venv) and
# install the pinned requirements first; nothing else needs to be installed by hand.
#   make test        unit tests + every notebook in the smoke profile (what CI runs)
#   make reproduce   every notebook in the default profile -> results/REPORT.md
# Options: PROFILE=smoke|default|paper  NOTEBOOKS="00_tour 10_..."  PYTHON=python3.11
#          TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"  (where pip would pick a CUDA torch)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := $(shell grep -E '^torch==' requirements.txt)
TORCH_PIP_ARGS ?=
PROFILE ?= default
NOTEBOOKS ?=
PYTEST_ARGS ?=

.PHONY: install test unit browser reproduce reproduce-paper-cpu lab clean-results clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-docs.txt pyproject.toml lib/cnnexplain/compat.py
	$(PYTHON) -m venv $(VENV) || { echo "creating $(VENV) failed: on Debian/Ubuntu install python3-venv (apt install python3-venv)"; exit 1; }
	# torch first, with its pin, so that no later step can resolve a (multi-GB) CUDA build instead.
	$(PY) -m pip install --quiet $(TORCH_PIN) $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -r requirements.txt
	# Sphinx + myst-nb for `make docs` (and its test): only adds packages, pins none of the above differently.
	$(PY) -m pip install --quiet -r requirements-docs.txt
	# The package itself without its declared (range) dependencies: requirements.txt already pinned them.
	# Built with .venv's setuptools, which must read pyproject.toml's SPDX licence (python 3.11's venv has 65).
	$(PY) -m pip install --quiet --no-deps "setuptools>=77"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# Start-up hook: a plain `import torchvision` works in every interpreter of .venv (no-op where it loads).
	$(PY) -I lib/cnnexplain/compat.py install
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 --timeout 900 $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -n 2 -m "not notebook and not browser" $(PYTEST_ARGS)

browser: $(STAMP)
	$(PY) -m pytest -n 2 --timeout 900 tests/test_browser.py $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(PY) -m cnnexplain.notebook.reproduce --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

# The paper profiles that run on 2 CPU cores in minutes: notebook 10 (synthetic data) and 11 (the full
# MNIST in torchvision's layout under DATA_ROOT). Their verdicts appear beside the default ones in the report.
CPU_PAPER_NOTEBOOKS := 10_influential_synthetic 11_influential_mnist
reproduce-paper-cpu: $(STAMP)
	$(PY) -m cnnexplain.notebook.reproduce --profile paper --notebooks $(CPU_PAPER_NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# The documentation site: README, API reference, the notebooks as `make reproduce` ran them, the report.
.PHONY: docs
docs: $(STAMP)
	$(PY) docs/build.py

clean-results:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

clean: clean-results
	rm -rf $(VENV) docs/_build
