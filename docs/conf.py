"""Sphinx configuration of the documentation site (``make docs``; assembled by docs/build.py, which copies
this file into the generated source folder). myst-nb renders the README, the report and the notebooks as
executed by ``make reproduce`` (never re-executed here); autodoc/autosummary build the API reference from
the docstrings."""

import ast
import os
from pathlib import Path

ROOT = Path(os.environ.get("CNNEXPLAIN_DOCS_ROOT", Path(__file__).resolve().parents[1]))


def _version() -> str:
    tree = ast.parse((ROOT / "lib" / "cnnexplain" / "__init__.py").read_text())
    return next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", None) == "__version__" for t in n.targets))


project = "cnnexplain"
author = "The cnnexplain contributors"
copyright = "2026, The cnnexplain contributors"
release = version = _version()

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst first: autosummary writes its stubs as .rst
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "**/.tmp-*", "**/.old-*"]

nb_execution_mode = "off"  # the notebooks come executed from results/ (make reproduce)
nb_output_stderr = "remove"  # progress bars and warnings are not documentation
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # README/CONTRIBUTING link to their own sections

autosummary_generate = True
autosummary_ignore_module_all = True  # document each module, not only what __all__ re-exports
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"

html_theme = "alabaster"
html_title = f"cnnexplain {release}"
html_theme_options = {"description": "Four papers on how CNNs decide, reproduced", "fixed_sidebar": True,
                      "page_width": "1240px"}  # the notebooks' 120-character lines without scrolling
# Docstrings use Sphinx roles for names outside this package; the notebooks' headings skip levels.
suppress_warnings = ["myst.header", "myst.xref_missing", "ref.python", "autosummary"]
