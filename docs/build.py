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
MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)\)")  # (image mark, text, target)


def notebook_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))


def _copy_result(results_dir: Path, relative: str, dest_root: Path) -> bool:
    """Copy ``results_dir/relative`` to ``dest_root/relative`` (once); False if there is no such file."""
    source = (results_dir / relative).resolve()
    if not (source.is_file() and source.is_relative_to(results_dir.resolve())):
        return False
    dest = dest_root / relative
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copy2(source, dest)
    return True


def site_links(text: str, results_dir: Path, src: Path, executed: list[str]) -> str:
    """Point a top page's links (README, CONTRIBUTING, ...) at the site: a notebook at its executed page, a
    result at its copy; a link to another file of the repository, which the site does not hold, becomes
    its path as text (``lib/cnnexplain/``), so that no link of the site is dead."""

    def fix(match: re.Match) -> str:
        image, label, target = match.groups()
        parts = urlsplit(target)
        path = unquote(parts.path)
        if parts.scheme or parts.netloc or not path or path in TOP_PAGES:
            return match.group(0)
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        notebook = re.fullmatch(r"notebooks/([^/]+)\.ipynb", path)
        if notebook and notebook.group(1) in executed:
            return f"{image}[{label}](results/{notebook.group(1)}/{notebook.group(1)}.ipynb{fragment})"
        if path.startswith("results/") and (path == "results/REPORT.md"
                                            or _copy_result(results_dir, path[len("results/"):], src / "results")):
            return match.group(0)
        shown = f"`{path}`"
        return shown if label.strip("`") in (path, "") else f"{label} ({shown})"

    return MD_LINK.sub(fix, text)


def notebook_links(text: str, executed: list[str]) -> str:
    """In an executed notebook (at ``results/<nb>/<nb>.ipynb`` in the site), point a link to a sibling notebook
    (``41_attribution_gallery.ipynb``, as written in notebooks/) at that notebook's page, or name it as text
    when it has not been run."""

    def fix(match: re.Match) -> str:
        image, label, target = match.groups()
        parts = urlsplit(target)
        sibling = re.fullmatch(r"(?:\./)?([^/]+)\.ipynb", unquote(parts.path))
        if image or parts.scheme or parts.netloc or not sibling:
            return match.group(0)
        name = sibling.group(1)
        if name in executed:
            return f"[{label}](../{name}/{name}.ipynb" + (f"#{parts.fragment}" if parts.fragment else "") + ")"
        return f"`{name}.ipynb`" if label.strip("`") in (f"{name}.ipynb", name, "") else f"{label} (`{name}.ipynb`)"

    return MD_LINK.sub(fix, text)


def _copy_notebook(source: Path, dest: Path, executed: list[str]) -> None:
    import json

    nb = json.loads(source.read_text())
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:  # papermill's copy of the profile's values: the run.json has them
            cell["metadata"]["tags"] = tags + ["remove-cell"]
        if cell.get("cell_type") == "markdown":
            cell["source"] = notebook_links("".join(cell["source"]), executed)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = notebook_links("".join(data["text/markdown"]), executed)
    dest.write_text(json.dumps(nb))


def assemble(root: Path, results_dir: Path, src: Path) -> dict:
    """Write the Sphinx source folder ``src``; return what went in (executed notebooks, missing ones)."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    executed, missing = [], []
    out_results = src / "results"
    out_results.mkdir()
    for name in notebook_names(root):
        (executed if (results_dir / name / f"{name}.ipynb").is_file() else missing).append(name)
    for name in executed:
        (out_results / name).mkdir()
        _copy_notebook(results_dir / name / f"{name}.ipynb", out_results / name / f"{name}.ipynb", executed)
    for name in TOP_PAGES:
        if (root / name).is_file():
            (src / name).write_text(site_links((root / name).read_text(), results_dir, src, executed))
    report = results_dir / "REPORT.md"
    if report.is_file():
        text = report.read_text()
        shutil.copy2(report, out_results / "REPORT.md")
        for target in LINK.findall(text):  # figures, tables and notebooks the report links to
            parts = urlsplit(target)
            if parts.path and not parts.scheme and not parts.netloc and not parts.path.startswith("/"):
                _copy_result(results_dir, unquote(parts.path), out_results)
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
        self.ids: set[str] = set()
        self._last_a: int | None = None

        self.problematic: list[str] = []  # docutils' links to a reST markup error in a docstring

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "problematic" in (attrs.get("class") or "").split() and self._last_a is not None:
            self.problematic.append(self.links.pop(self._last_a))
        self._last_a = None
        for name, value in attrs.items():
            if value and ((tag in ("a", "link") and name == "href") or (tag in ("img", "script") and name == "src")):
                if tag == "a":
                    self._last_a = len(self.links)
                self.links.append(value)
            if name in ("id", "name") and value:
                self.ids.add(value)


def _parse(page: Path, cache: dict) -> _Links:
    if page not in cache:
        cache[page] = _Links()
        cache[page].feed(page.read_text(errors="replace"))
    return cache[page]


def docstring_markup_errors(site: Path) -> int:
    """How many reST markup errors docutils marked in the rendered docstrings (e.g. ``|x|`` read as a
    substitution); reported by :func:`main`, not counted as broken links."""
    cache: dict = {}
    return sum(len(_parse(page, cache).problematic) for page in site.rglob("*.html"))


def broken_links(site: Path) -> list[str]:
    """Every link or image of the site's pages that points to a file the site does not have, or to an anchor
    its page does not have (Sphinx's search page fills its anchors at run time; those are not checked;
    docutils' links to a markup error in a docstring are counted by :func:`docstring_markup_errors`)."""
    broken, cache = [], {}
    for page in sorted(site.rglob("*.html")):
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:  # external, mailto:, data:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link}")
            elif (parts.fragment and target.suffix == ".html" and target.name != "search.html"
                  and unquote(parts.fragment) not in _parse(target, cache).ids):
                broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
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
    print(f"{len(content['warnings'])} Sphinx warnings, {docstring_markup_errors(site)} reST markup errors in "
          f"docstrings; executed notebooks: {len(content['executed'])}"
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
