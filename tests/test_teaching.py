"""The teaching layer: every check passes on its reference solution and fails, helpfully and without
giving the solution away, on plausible wrong answers; the insertion tool is idempotent and gives every
notebook objectives, an equation cell and at least two exercises; the student edition has no solution
code and is reproducible; a notebook with the inserted cells still runs in the smoke profile."""

import contextlib
import io
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnnexplain.teaching import checks, insert, student
from cnnexplain.teaching.cells import all_cells
from cnnexplain.teaching.grading import NO_ANSWER

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELLS = all_cells()
EXERCISES = [ex for c in CELLS.values() for ex in c.exercises]


def run_exercise(ex, answer_code):
    """Run an exercise's given, an answer and its check as the notebook does; returns (Result, namespace)."""
    ns = {"SEED": 0}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(ex.given, ns)
        exec(answer_code, ns)
        result = eval(ex.check, ns)
    assert out.getvalue().strip(), f"{ex.id}: the check printed nothing"
    return result, ns


def spelled(value) -> list[str]:
    """Ways a scalar solution could appear in a message (skipping trivially short ones like '1')."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return [str(value)] if isinstance(value, str) else []
    v = float(value)
    forms = {f"{v:.2f}", f"{v:.3f}", f"{v:.4f}", f"{v:.3g}", f"{v:.4g}", repr(v), str(value)}
    return [f for f in forms if len(f.lstrip("-")) >= 3 and f not in ("0.0", "1.0", "0.00", "1.00")]


def test_every_notebook_has_teaching_cells():
    assert {p.stem for p in NOTEBOOKS} == set(CELLS), "teaching cells and notebooks/ disagree"
    for stem, c in CELLS.items():
        assert 3 <= len(c.objectives) <= 5 and 2 <= len(c.exercises) <= 4, stem
        assert "$$" in c.equations or "$" in c.equations, f"{stem}: the equation cell has no LaTeX"
        assert {ex.id.split(".")[0] for ex in c.exercises} == {stem[:2]}, stem


def test_exercise_ids_and_checks_are_unique():
    ids = [ex.id for ex in EXERCISES]
    assert len(ids) == len(set(ids))
    called = [ex.check.split("(")[0].split(".")[-1] for ex in EXERCISES]
    assert len(called) == len(set(called)) and set(called) == set(checks.__all__)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_check_passes_on_the_reference_solution(ex):
    result, _ = run_exercise(ex, ex.solution)
    assert result.ok, f"{ex.id}: the reference solution fails: {result.message}"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_check_fails_helpfully_on_wrong_answers(ex):
    _, ns = run_exercise(ex, ex.solution)
    solution = ns["answer"]
    if hasattr(solution, "item") and getattr(solution, "ndim", 1) == 0:
        solution = solution.item()
    for wrong in ex.wrong:
        result, _ = run_exercise(ex, wrong)
        assert not result.ok, f"{ex.id}: wrong answer {wrong!r} passes"
        assert len(result.message) > 20, f"{ex.id}: message too short to help: {result.message!r}"
        for form in spelled(solution):
            assert form not in result.message, f"{ex.id}: message reveals the solution {form!r}: {result.message}"
        for line in ex.solution.splitlines():
            code = line.split("#")[0].strip().removeprefix("answer = ")
            assert len(code) < 12 or code not in result.message, f"{ex.id}: message shows solution code {code!r}"
    result, _ = run_exercise(ex, "answer = ...")
    assert not result.ok and result.message == NO_ANSWER


def test_a_wrong_type_gets_a_clear_message():
    result = checks.check_inverse_hvp("a string")
    assert not result.ok and "shape" in result.message


@pytest.fixture
def copies(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, folder)
    shutil.copy(ROOT / "notebooks" / "profiles.toml", folder)
    return folder


def test_insertion_is_idempotent_and_complete(copies):
    originals = {p.stem: nbformat.read(p, as_version=4) for p in copies.glob("*.ipynb")}
    assert insert.main([str(copies)]) == 0
    first = {p.name: p.read_bytes() for p in copies.glob("*.ipynb")}
    assert insert.main([str(copies)]) == 0
    assert {p.name: p.read_bytes() for p in copies.glob("*.ipynb")} == first, "a second run changed a notebook"
    assert insert.main([str(copies), "--check"]) == 0
    for path in sorted(copies.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        kinds = [c.metadata.get("teaching") for c in nb.cells]
        assert kinds.count("objectives") == 1 and kinds.count("equations") == 1, path.stem
        assert kinds.count("solution") >= 2 and kinds.count("solution") == kinds.count("check"), path.stem
        assert kinds[1] == "objectives", f"{path.stem}: objectives must follow the title cell"
        setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "setup_notebook(" in c.source)
        assert kinds[setup + 1] == "equations", f"{path.stem}: the equation cell must follow the setup cell"
        assert kinds.index("exercises") > max(i for i, k in enumerate(kinds) if k is None), \
            f"{path.stem}: the exercises must come last"
        own = [c.source for c in nb.cells if "teaching" not in c.metadata]
        assert own == [c.source for c in originals[path.stem].cells if "teaching" not in c.metadata], \
            f"{path.stem}: its own cells changed"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.outputs or c.execution_count for c in code), f"{path.stem} has outputs"
        solutions = [c for c in nb.cells if c.metadata.get("teaching") == "solution"]
        assert all("solution" in c.metadata.get("tags", []) for c in solutions)


def test_insertion_replaces_changed_cells(copies):
    path = copies / "00_tour.ipynb"
    insert.main([str(copies)])
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.metadata.get("teaching") == "objectives":
            c.source = "stale objectives"
    nbformat.write(nb, path)
    assert insert.main([str(copies), "--check"]) == 1
    insert.main([str(copies)])
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert "stale objectives" not in sources and sum(s.startswith("## What you will learn") for s in sources) == 1


def test_student_edition_has_no_solution_and_is_reproducible(copies, tmp_path):
    insert.main([str(copies)])
    one, two = tmp_path / "student1", tmp_path / "student2"
    assert student.main([str(copies), str(one)]) == 0
    assert student.main([str(copies), str(two)]) == 0
    names = sorted(p.name for p in one.glob("*.ipynb"))
    assert names == sorted(p.name for p in copies.glob("*.ipynb"))
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), f"{name}: not reproducible"
    assert (one / "profiles.toml").exists()
    for stem, c in CELLS.items():
        nb = nbformat.read(one / f"{stem}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
        for ex in c.exercises:
            for line in ex.solution.splitlines():
                if len(line.strip()) > 12:
                    assert line.strip() not in text, f"{stem}: solution line of {ex.id} in the student edition: {line}"
        stubs = [i for i, cell in enumerate(nb.cells) if cell.metadata.get("teaching") == "stub"]
        assert len(stubs) == len(c.exercises)
        for i in stubs:
            assert "answer = ..." in nb.cells[i].source and "solution" not in nb.cells[i].metadata.get("tags", [])
            assert nb.cells[i + 1].metadata.get("teaching") == "check" and "checks.check_" in nb.cells[i + 1].source
    with pytest.raises(SystemExit):
        student.main([str(copies), str(copies)])


def test_checks_report_the_stub_as_no_answer():
    ex = EXERCISES[0]
    result, _ = run_exercise(ex, student.STUB.format(exercise=ex.id))
    assert not result.ok and result.message == NO_ANSWER


def _outputs(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if c.cell_type == "code")


@pytest.mark.notebook
@pytest.mark.parametrize("stem", ["00_tour", "50_influence_vs_retraining"])
def test_a_notebook_with_teaching_cells_runs_in_the_smoke_profile(stem, copies, tmp_path):
    from cnnexplain.notebook import reproduce

    insert.main([str(copies)])
    results = tmp_path / "results"
    code = reproduce.main(["--profile", "smoke", "--notebooks", stem, "--notebooks-dir", str(copies),
                           "--results-dir", str(results)])
    folder = results / "smoke" / stem
    run = json.loads((folder / "run.json").read_text())
    assert code == 0 and run["status"] == "ok", run
    executed = nbformat.read(folder / f"{stem}.ipynb", as_version=4)
    text = _outputs(executed)
    n = len(CELLS[stem].exercises)
    assert text.count("✔ correct") == n and "✘ not yet" not in text, text[-2000:]


@pytest.mark.notebook
def test_the_student_edition_runs_and_reports_no_answer_yet(copies, tmp_path):
    from cnnexplain.notebook import reproduce

    insert.main([str(copies)])
    edition = tmp_path / "student"
    student.main([str(copies), str(edition)])
    results = tmp_path / "results"
    assert reproduce.main(["--profile", "smoke", "--notebooks", "00_tour", "--notebooks-dir", str(edition),
                           "--results-dir", str(results)]) == 0
    text = _outputs(nbformat.read(results / "smoke" / "00_tour" / "00_tour.ipynb", as_version=4))
    assert text.count("✘ not yet") == len(CELLS["00_tour"].exercises) and "no answer yet" in text


def test_committed_notebooks_carry_the_current_teaching_cells():
    """Once inserted (python -m cnnexplain.teaching.insert notebooks/), the committed notebooks must keep
    up with lib/cnnexplain/teaching/cells: edit the cells there, then re-run the insertion."""
    inserted = [p for p in NOTEBOOKS if any("teaching" in c.metadata for c in nbformat.read(p, as_version=4).cells)]
    if not inserted:
        pytest.skip("the teaching cells are not inserted yet: python -m cnnexplain.teaching.insert notebooks/")
    assert len(inserted) == len(NOTEBOOKS), f"only {len(inserted)} notebooks carry teaching cells"
    assert insert.main([str(ROOT / "notebooks"), "--check"]) == 0, \
        "notebooks are behind lib/cnnexplain/teaching/cells: python -m cnnexplain.teaching.insert notebooks/"


SHARED_OK = {"np", "torch", "math", "itertools", "influential_scores", "toy_min_network", "linkage", "fcluster",
             "spearmanr", "NeuroView", "METHODS"}  # modules and library functions: rebinding them is harmless


def _assigned(source: str) -> set[str]:
    import ast

    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))  # magics
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.alias):
            found.add((node.asname or node.name).split(".")[0])
    for node in ast.walk(ast.parse(source)):  # comprehension variables do not leak
        if isinstance(node, ast.comprehension):
            found -= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_do_not_rebind_the_notebooks_names(path):
    """The exercises run after the notebook's explore() widgets, whose callbacks read the notebook's globals:
    an exercise must not rebind one of them (a slider moved afterwards would draw the exercise's object)."""
    nb = nbformat.read(path, as_version=4)
    own = set().union(*[_assigned(c.source) for c in nb.cells
                        if c.cell_type == "code" and "teaching" not in c.metadata])
    mine = set().union(*[_assigned(ex.given) | _assigned(ex.solution) for ex in CELLS[path.stem].exercises])
    clash = sorted((own & mine) - SHARED_OK)
    assert not clash, f"{path.stem}: exercise cells rebind the notebook's {clash}: rename them in teaching/cells"
