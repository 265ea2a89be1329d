"""The teaching cells of every notebook, as data: one module per notebook (``nb00`` … ``nb50``).

Each module defines ``NOTEBOOK`` (the notebook's stem), ``OBJECTIVES`` (3–5 strings), ``EQUATIONS`` (one
markdown cell: the method's defining equation(s), symbols tied to the code's names) and ``EXERCISES``
(2–4 :class:`Exercise`). The insertion tool turns them into cells; the tests run every reference
solution and every listed wrong answer through its check.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

KINDS = ("predict", "parameter", "implement")
MODULES = ("nb00", "nb10", "nb11", "nb12", "nb20", "nb21", "nb22", "nb23", "nb24", "nb25", "nb30", "nb31", "nb32",
           "nb40", "nb41", "nb42", "nb50")


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``prompt`` (markdown), ``given`` (code the student keeps: imports and the exercise's
    own objects), ``solution`` (the reference code assigning ``answer``; the student edition replaces it by
    ``answer = ...``), ``check`` (the call that grades ``answer``) and ``wrong`` (plausible wrong answers,
    code assigning ``answer``, used by the tests: each must fail with a helpful message)."""

    id: str
    kind: str
    title: str
    prompt: str
    given: str
    solution: str
    check: str
    wrong: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"exercise {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if "answer" not in self.solution or not self.wrong:
            raise ValueError(f"exercise {self.id}: the solution must assign `answer` and a wrong answer is needed")


@dataclass(frozen=True)
class NotebookCells:
    notebook: str
    objectives: tuple[str, ...]
    equations: str
    exercises: tuple[Exercise, ...]


def load(module: str) -> NotebookCells:
    m = importlib.import_module(f"{__name__}.{module}")
    cells = NotebookCells(m.NOTEBOOK, tuple(m.OBJECTIVES), m.EQUATIONS.strip(), tuple(m.EXERCISES))
    if not 3 <= len(cells.objectives) <= 5 or not 2 <= len(cells.exercises) <= 4:
        raise ValueError(f"{module}: needs 3-5 objectives and 2-4 exercises")
    return cells


def all_cells() -> dict[str, NotebookCells]:
    """{notebook stem: its teaching cells} for every notebook."""
    found = [load(m) for m in MODULES]
    return {c.notebook: c for c in found}
