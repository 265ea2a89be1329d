"""`make docs`: the site builds from the checkout and a results folder, holds the README, the API reference,
the executed notebooks and the report, and none of its links or images is broken."""

import importlib.util
import base64
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def png() -> bytes:
    import io

    import matplotlib.image
    import numpy as np

    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, np.eye(4), format="png")
    return buffer.getvalue()


PNG = png()


def load_builder():
    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_results(folder: Path) -> Path:
    """A results folder as `make reproduce` leaves it, for one notebook: executed copy, figure, table, report."""
    name = "00_tour"
    (folder / name).mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cell = nbformat.v4.new_code_cell("print('ran')", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(PNG).decode(),
                                                                  "text/plain": "<Figure>"})]
    nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("Next: [the tour again](00_tour.ipynb), "
                                                  "[not run](10_influential_synthetic.ipynb)."))
    nbformat.write(nb, folder / name / f"{name}.ipynb")
    (folder / name / "fig_prediction_example.png").write_bytes(PNG)
    (folder / name / "table_training_history.csv").write_text("epoch,loss\n1,0.5\n")
    (folder / name / "run.json").write_text(json.dumps({"status": "ok"}))
    (folder / "REPORT.md").write_text(
        "# Report\n\n## 00_tour\n\nExecuted notebook: [00_tour.ipynb](00_tour/00_tour.ipynb).\n\n"
        "Figures: [fig_prediction_example.png](00_tour/fig_prediction_example.png).\n\n"
        "Tables: [table_training_history.csv](00_tour/table_training_history.csv).\n")
    return folder


@pytest.mark.slow
def test_docs_build_with_every_part_and_no_broken_link(tmp_path):
    pytest.importorskip("sphinx", reason="`make install` installs requirements-docs.txt (Sphinx, myst-nb)")
    pytest.importorskip("myst_nb", reason="`make install` installs requirements-docs.txt (Sphinx, myst-nb)")
    builder = load_builder()
    site, content = builder.build(ROOT, fake_results(tmp_path / "results"), tmp_path / "site" / "html")
    assert content["executed"] == ["00_tour"] and "10_influential_synthetic" in content["missing"]

    assert builder.broken_links(site) == []
    pages = {str(p.relative_to(site)) for p in site.rglob("*.html")}
    assert {"index.html", "README.html", "CONTRIBUTING.html", "CHANGELOG.html", "api.html", "notebooks.html",
            "results/REPORT.html", "results/00_tour/00_tour.html"} <= pages
    for module in ("cnnexplain", "cnnexplain.methods.attribution.explain", "cnnexplain.papers.jung.claims",
                   "cnnexplain.notebook.reproduce", "cnnexplain.data.world", "cnnexplain.models.cnns"):
        assert f"api/{module}.html" in pages, module
    explain = (site / "api" / "cnnexplain.methods.attribution.explain.html").read_text()
    assert "WeightedRidge" in explain and "Layer-wise relevance propagation" in explain  # docstrings rendered
    notebook = (site / "results" / "00_tour" / "00_tour.html").read_text()
    assert "ran" in notebook and "<img" in notebook  # outputs rendered as run, images included
    report = (site / "results" / "REPORT.html").read_text()
    assert "00_tour.html" in report  # the report's notebook link leads to the rendered notebook
    assert "fig_prediction_example.png" in report and "table_training_history.csv" in report
    notebooks = (site / "notebooks.html").read_text()
    assert "Not run yet" in notebooks and "50_influence_vs_retraining" in notebooks


def test_broken_links_are_found(tmp_path):
    builder = load_builder()
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "sub" / "b.html").write_text('<h1 id="there">B</h1>')
    (tmp_path / "sub" / "page.html").write_text(
        '<p id="top"></p><a href="../a.png">ok</a><a href="#top">anchor</a><a href="https://example.org/x">ext</a>'
        '<img src="../missing.png"><a href="other.html#x">gone</a><script src="../a.png"></script>'
        '<a href="b.html#there">ok</a><a href="b.html#nowhere">no anchor</a><a href="#lib/x.py">myst</a>'
        '<a href="#id1"><span class="problematic" id="id2">|x|</span></a>')
    assert builder.broken_links(tmp_path) == [
        "sub/page.html: ../missing.png", "sub/page.html: other.html#x",
        "sub/page.html: b.html#nowhere (no such anchor)", "sub/page.html: #lib/x.py (no such anchor)"]
    assert builder.docstring_markup_errors(tmp_path) == 1


def test_top_pages_link_into_the_site_or_name_the_file(tmp_path):
    builder = load_builder()
    results, src = tmp_path / "results", tmp_path / "src"
    (results / "00_tour").mkdir(parents=True)
    (results / "00_tour" / "fig.png").write_bytes(PNG)
    text = ("[tour](notebooks/00_tour.ipynb) [other](notebooks/10_x.ipynb) [`lib/cnnexplain/`](lib/cnnexplain/) "
            "[pins](requirements.txt) [c](CONTRIBUTING.md#the-browser-test) [r](results/REPORT.md) "
            "![f](results/00_tour/fig.png) ![g](results/00_tour/gone.png) [w](https://example.org) [a](#top)")
    assert builder.site_links(text, results, src, ["00_tour"]).split(" ") == [
        "[tour](results/00_tour/00_tour.ipynb)", "other", "(`notebooks/10_x.ipynb`)", "`lib/cnnexplain/`",
        "pins", "(`requirements.txt`)", "[c](CONTRIBUTING.md#the-browser-test)", "[r](results/REPORT.md)",
        "![f](results/00_tour/fig.png)", "g", "(`results/00_tour/gone.png`)", "[w](https://example.org)",
        "[a](#top)"]
    assert (src / "results" / "00_tour" / "fig.png").is_file()


def test_make_docs_builds_the_site():
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndocs: $(STAMP)\n\t$(PY) docs/build.py\n" in makefile
    assert "-r requirements-docs.txt" in makefile


def test_executed_notebooks_link_to_their_siblings_pages():
    builder = load_builder()
    text = ("[41](41_attribution_gallery.ipynb) [`42_measured_table1.ipynb`](42_measured_table1.ipynb) "
            "[web](https://example.org/a.ipynb) [s](41_attribution_gallery.ipynb#fig)")
    assert builder.notebook_links(text, ["41_attribution_gallery"]).split(" ") == [
        "[41](../41_attribution_gallery/41_attribution_gallery.ipynb)", "`42_measured_table1.ipynb`",
        "[web](https://example.org/a.ipynb)", "[s](../41_attribution_gallery/41_attribution_gallery.ipynb#fig)"]
