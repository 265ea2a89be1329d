"""Insert the teaching cells into the notebooks, idempotently.

    python -m cnnexplain.teaching.insert notebooks/            # every notebook that has teaching cells
    python -m cnnexplain.teaching.insert notebooks/ --check    # exit 1 if a notebook is not up to date

Every inserted cell carries ``metadata["teaching"]`` (its kind) and a stable id; a run first removes every
such cell and then inserts the current ones, so re-running replaces them and never duplicates. Where:

- ``objectives`` ("What you will learn") right after the title cell (the first markdown cell);
- ``equations`` right after the setup cell (the first code cell calling ``setup_notebook``; else right after
  the ``parameters`` cell), i.e. before the first code cell of the method;
- ``exercises`` (the "Check your understanding" heading) and ``imports`` (one code cell: every import the
  exercises' givens make, once), then per exercise ``prompt`` (markdown), ``given`` (code: the exercise's
  own objects), ``solution`` (code, tagged ``solution``) and ``check`` (code), at the end.

Code cells are written without outputs; the notebook's own cells are left as they are (their outputs
cleared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from cnnexplain.teaching.cells import Exercise, NotebookCells, all_cells

KIND = "teaching"
KIND_LABEL = {"predict": "predict, then run", "parameter": "change a parameter and explain",
              "implement": "implement a small piece"}


def _cell(kind: str, source: str, cell_id: str, code: bool = False, tags=(), exercise: str | None = None):
    make = nbformat.v4.new_code_cell if code else nbformat.v4.new_markdown_cell
    cell = make(source.strip("\n"))
    cell.id = cell_id
    cell.metadata = {KIND: kind}
    if exercise:
        cell.metadata["teaching_exercise"] = exercise
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def objectives_cell(cells: NotebookCells):
    lines = "\n".join(f"* {o}" for o in cells.objectives)
    return _cell("objectives", f"## What you will learn\n\n{lines}", "teaching-objectives")


def equations_cell(cells: NotebookCells):
    return _cell("equations", cells.equations, "teaching-equations")


def _is_import(line: str) -> bool:
    return line.startswith(("import ", "from ")) and " import " in f" {line}"


def split_given(given: str) -> tuple[list[str], str]:
    """An exercise's given as (its top-level import lines, the rest)."""
    lines = given.strip("\n").splitlines()
    imports = [line for line in lines if _is_import(line)]
    return imports, "\n".join(line for line in lines if not _is_import(line))


def imports_cell(cells: NotebookCells):
    """One cell with every import of the exercises' givens, in first-seen order (so a given cell holds only
    its exercise's own objects)."""
    imports = dict.fromkeys(line for ex in cells.exercises for line in split_given(ex.given)[0])
    plain = [line for line in imports if line.startswith("import ")]
    return _cell("imports", "\n".join(plain + [line for line in imports if line not in plain]),
                 "teaching-imports", code=True)


def exercise_cells(ex: Exercise) -> list:
    slug = ex.id.replace(".", "-")
    return [
        _cell("prompt", f"### Exercise {ex.id} · {ex.title} ({KIND_LABEL[ex.kind]})\n\n{ex.prompt}",
              f"teaching-{slug}-prompt", exercise=ex.id),
        _cell("given", split_given(ex.given)[1], f"teaching-{slug}-given", code=True, exercise=ex.id),
        _cell("solution", ex.solution, f"teaching-{slug}-solution", code=True, tags=("solution",), exercise=ex.id),
        _cell("check", ex.check, f"teaching-{slug}-check", code=True, exercise=ex.id),
    ]


def section_cells(cells: NotebookCells) -> list:
    intro = _cell("exercises",
                  "## Check your understanding\n\n"
                  "Run the imports cell first. Each exercise then builds its own small objects (its first code "
                  "cell), so it runs whatever you changed above. Write your answer in the cell that assigns `answer`, then run the check below it: it says "
                  "whether the answer is right and, if not, what to look at — never the solution.",
                  "teaching-exercises")
    return [intro, imports_cell(cells)] + [c for ex in cells.exercises for c in exercise_cells(ex)]


def strip_teaching(nb) -> int:
    before = len(nb.cells)
    nb.cells = [c for c in nb.cells if KIND not in c.get("metadata", {})]
    return before - len(nb.cells)


def _title_index(nb) -> int:
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            return i
    return -1


def _setup_index(nb) -> int:
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and "setup_notebook(" in c.source:
            return i
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []):
            return i
    raise ValueError("notebook has neither a setup_notebook(...) cell nor a cell tagged 'parameters'")


def insert(nb, cells: NotebookCells):
    """Return ``nb`` with the teaching cells of ``cells`` (old ones removed first)."""
    strip_teaching(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    setup = _setup_index(nb)
    nb.cells.insert(setup + 1, equations_cell(cells))
    nb.cells.insert(_title_index(nb) + 1, objectives_cell(cells))
    nb.cells.extend(section_cells(cells))
    return nb


def insert_file(path: Path, cells: NotebookCells) -> bool:
    """Insert into the notebook at ``path``; returns True when the file changed."""
    old = path.read_text(encoding="utf-8")
    nb = insert(nbformat.reads(old, as_version=4), cells)
    new = nbformat.writes(nb) + "\n"
    if new != old:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder holding the notebooks (e.g. notebooks/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs an update")
    args = parser.parse_args(argv)
    missing, stale = [], []
    for stem, cells in sorted(all_cells().items()):
        path = args.folder / f"{stem}.ipynb"
        if not path.exists():
            missing.append(stem)
            continue
        if args.check:
            old = path.read_text(encoding="utf-8")
            if nbformat.writes(insert(nbformat.reads(old, as_version=4), cells)) + "\n" != old:
                stale.append(stem)
        elif insert_file(path, cells):
            print(f"{path}: teaching cells inserted ({len(cells.exercises)} exercises)")
        else:
            print(f"{path}: up to date")
    for stem in missing:
        print(f"warning: {args.folder / (stem + '.ipynb')} not found; its teaching cells were not inserted",
              file=sys.stderr)
    if stale:
        print("not up to date: " + ", ".join(stale) + " (run python -m cnnexplain.teaching.insert "
              f"{args.folder})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
