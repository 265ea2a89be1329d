"""Build the documentation site: the README, the API reference, the executed notebooks and the report.

    python docs/build.py [--results-dir results] [--out docs/_build/html]      (what ``make docs`` runs)

It assembles a source folder (``docs/_build/src``) from the checkout and from ``results/`` as ``make reproduce``
left it: README.md, CONTRIBUTING.md, CHANGELOG.md at the top (so the README's links to them resolve),
``results/REPORT.md`` with every file it links and each executed notebook ``results/<nb>/<nb>.ipynb``
(rendered as run, never re-executed; a notebook not run yet is listed as such), and an API page that
autosummary expands into one page per module. Sphinx (myst-nb) renders it with ``docs/conf.py``; then every
link and image of the site is checked, and the build fails naming each broken one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOP_PAGES = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")  # markdown link targets


def notebook_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))


def assemble(root: Path, results_dir: Path, src: Path) -> dict:
    """Write the Sphinx source folder ``src``; return what went in (executed notebooks, missing ones)."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in TOP_PAGES:
        if (root / name).is_file():
            shutil.copy2(root / name, src / name)
    executed, missing = [], []
    out_results = src / "results"
    out_results.mkdir()
    for name in notebook_names(root):
        ran = results_dir / name / f"{name}.ipynb"
        if ran.is_file():
            (out_results / name).mkdir()
            shutil.copy2(ran, out_results / name / ran.name)
            executed.append(name)
        else:
            missing.append(name)
    report = results_dir / "REPORT.md"
    if report.is_file():
        text = report.read_text()
        shutil.copy2(report, out_results / "REPORT.md")
        for target in LINK.findall(text):  # figures, tables and notebooks the report links to
            path = urlsplit(target).path
            if not path or urlsplit(target).scheme or path.startswith("/"):
                continue
            source = (results_dir / unquote(path)).resolve()
            if source.is_file() and source.is_relative_to(results_dir.resolve()):
                dest = out_results / unquote(path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not dest.exists():
                    shutil.copy2(source, dest)
    else:
        (out_results / "REPORT.md").write_text(
            "# Report\n\nNo report yet: `make reproduce` runs every notebook and writes it.\n")
    lines = ["# Notebooks", "", "Each notebook as `make reproduce` last ran it (outputs included).", ""]
    if executed:
        lines += ["```{toctree}", ":maxdepth: 1", ""] + [f"results/{n}/{n}" for n in executed] + ["```", ""]
    if missing:
        lines += ["Not run yet (run `make reproduce`): " + ", ".join(f"`{n}`" for n in missing) + "."]
    (src / "notebooks.md").write_text("\n".join(lines) + "\n")
    (src / "api.md").write_text("\n".join([
        "# API reference", "",
        "Generated from the docstrings. The public entry points are re-exported by `cnnexplain` itself.", "",
        "```{eval-rst}", ".. autosummary::", "   :toctree: api", "   :recursive:", "", "   cnnexplain", "```", ""]))
    (src / "index.md").write_text("\n".join([
        "# cnnexplain", "",
        "Reproducible notebooks for four papers on how CNNs decide, and the tested library behind them.", "",
        "```{toctree}", ":maxdepth: 2", "",
        "README", "results/REPORT", "notebooks", "api", "CONTRIBUTING", "CHANGELOG", "```", ""]))
    return {"executed": executed, "missing": missing}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and ((tag in ("a", "link") and name == "href") or (tag in ("img", "script") and name == "src")):
                self.links.append(value)


def broken_links(site: Path) -> list[str]:
    """Every link or image of the site's pages that points to a file the site does not have."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        parser = _Links()
        parser.feed(page.read_text(errors="replace"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:  # external, mailto:, data:, or "#anchor"
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link}")
    return broken


def build(root: Path = ROOT, results_dir: Path | None = None, out: Path | None = None,
          src: Path | None = None) -> tuple[Path, dict]:
    results_dir = (results_dir or root / "results").resolve()
    out = (out or root / "docs" / "_build" / "html").resolve()
    src = (src or out.parent / "src").resolve()
    content = assemble(root, results_dir, src)
    env = {**os.environ, "CNNEXPLAIN_DOCS_ROOT": str(root),
           "PYTHONPATH": os.pathsep.join(p for p in (str(root / "lib"), os.environ.get("PYTHONPATH")) if p),
           "CNNEXPLAIN_HEADLESS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-c", str(DOCS),
                           "-d", str(out.parent / "doctrees"), str(src), str(out)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    content["warnings"] = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    return out, content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_build" / "html")
    args = parser.parse_args(argv)
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as error:
        print(f"error: {error.name} is missing: `make install` installs requirements-docs.txt", file=sys.stderr)
        return 2
    try:
        site, content = build(ROOT, args.results_dir, args.out)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(content['warnings'])} Sphinx warnings; executed notebooks: {len(content['executed'])}"
          + (f"; not run yet: {', '.join(content['missing'])}" if content["missing"] else ""))
    broken = broken_links(site)
    for link in broken:
        print(f"broken link: {link}", file=sys.stderr)
    if broken:
        return 1
    print(f"Documentation: {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
