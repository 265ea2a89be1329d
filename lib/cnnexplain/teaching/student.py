"""Write the student edition: every notebook with its solution cells replaced by stubs.

    python -m cnnexplain.teaching.student notebooks/ student/

A cell tagged ``solution`` becomes ``answer = ...`` (with a comment saying what to do); the check cell
after it stays, so a student runs the stub, sees "no answer yet", writes code and runs the check again.
Outputs are cleared. The result is reproducible: the same notebooks give the same bytes. Notebooks
without teaching cells are copied unchanged (outputs cleared); ``profiles.toml`` is copied too, so
``PROFILE = "smoke"`` works by hand in the student folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

STUB = ("# Exercise {exercise}: replace ... with your code; the result must be assigned to `answer`.\n"
        "answer = ...")


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and ("solution" in cell.metadata.get("tags", [])
                                         or cell.metadata.get("teaching") == "solution")


def student_notebook(nb):
    """Return ``nb`` (modified) as the student sees it."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if is_solution(cell):
            cell.source = STUB.format(exercise=cell.metadata.get("teaching_exercise", ""))
            cell.metadata["teaching"] = "stub"
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "solution"] + ["stub"]
    return nb


def write_edition(source: Path, target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.glob("*.ipynb")):
        nb = student_notebook(nbformat.read(path, as_version=4))
        out = target / path.name
        out.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(out)
    if (source / "profiles.toml").exists():
        shutil.copyfile(source / "profiles.toml", target / "profiles.toml")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the teacher's notebooks (e.g. notebooks/)")
    parser.add_argument("target", type=Path, help="where the student edition goes (e.g. student/)")
    args = parser.parse_args(argv)
    if args.source.resolve() == args.target.resolve():
        parser.error("source and target must differ (the student edition would overwrite the solutions)")
    written = write_edition(args.source, args.target)
    stubs = sum(1 for p in written for c in nbformat.read(p, as_version=4).cells if c.metadata.get("teaching") == "stub")
    print(f"{len(written)} notebooks written to {args.target} ({stubs} solution cells replaced by stubs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
