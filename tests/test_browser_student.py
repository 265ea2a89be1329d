"""A student's path in a real browser: open a notebook of the student edition in JupyterLab (headless
Chromium), run it, type a wrong answer into an exercise and see its check fail, type the right one and
see it pass, then move a slider. Uses tests/test_browser.py's JupyterLab and Chromium helpers (skipped,
saying why, without /usr/bin/chromium or playwright)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from test_browser import (CELLS_JS, REDRAW_S, RUN_ALL_S, SCREENSHOTS, SERVER_START_S, UI_TIMEOUT_MS,  # noqa: F401
                          _controls, _errors_in, _image_src, _move_control, _one_image_src, _wait_until,
                          browser_page, lab)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_tour"
EXERCISE = "00.2"
WRONG = "answer = (logits.argmax(dim=1) == labels).sum().item()"
RIGHT = "answer = (logits.argmax(dim=1) == labels).float().mean().item()"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def student_notebook(root_dir: Path, tmp: Path) -> Path:
    """The student edition of NOTEBOOK (teaching cells inserted into a copy first), with the smoke
    profile's values injected after its parameters cell as the batch runner does."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from cnnexplain.notebook.profiles import load_overrides, notebook_parameters, overrides_for
    from cnnexplain.teaching import insert, student

    teacher = tmp / "teacher"
    teacher.mkdir()
    shutil.copy(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", teacher)
    shutil.copy(ROOT / "notebooks" / "profiles.toml", teacher)
    insert.main([str(teacher)])
    student.main([str(teacher), str(tmp / "student")])
    source = tmp / "student" / f"{NOTEBOOK}.ipynb"
    overrides = overrides_for(load_overrides(teacher / "profiles.toml"), source, "smoke", notebook_parameters(source))
    nb = parameterize_notebook(load_notebook_node(str(source)), {**overrides, "PROFILE": "smoke"})
    target = root_dir / source.name
    nbformat.write(nb, target)
    return target


def _cell_index(page, predicate) -> int:
    state = page.evaluate(CELLS_JS)
    return next(i for i, c in enumerate(state["cells"]) if predicate(c))


def _text(outputs) -> str:
    return "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"]) for o in outputs)


def _type_and_run(page, index: int, code: str) -> None:
    """Replace the source of cell ``index`` by typing into its editor, then run it and the next cell
    (the check) with Shift+Enter twice, as a student does."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    editor = cell.locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")


def _check_output(page, check_index: int, count_before) -> str:
    def done():
        state = page.evaluate(CELLS_JS)
        c = state["cells"][check_index]
        if state["kernel"] == "idle" and c["count"] is not None and c["count"] != count_before and c["outputs"]:
            return c
        return None

    cell = _wait_until(done, 120, "the check cell to run")
    return _text(cell["outputs"])


def test_a_student_answers_an_exercise_and_moves_a_slider(lab, browser_page, tmp_path):
    page = browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    notebook = student_notebook(lab.root_dir, tmp_path)
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook.name}?reset&token={lab.token}", timeout=UI_TIMEOUT_MS * 2)
        page.locator(".jp-NotebookPanel").first.wait_for(state="visible", timeout=UI_TIMEOUT_MS * 2)
        _wait_until(lambda: (page.evaluate(CELLS_JS) or {}).get("kernel") == "idle", SERVER_START_S,
                    "the kernel to start (status idle)")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

        def finished():
            state = page.evaluate(CELLS_JS)
            code = [c for c in state["cells"] if c["type"] == "code" and not c["empty"]]
            done = all(c["count"] is not None and "*" not in c["prompt"] for c in code)
            return state if done and state["kernel"] == "idle" else None

        state = _wait_until(finished, RUN_ALL_S, "all cells to run")
        assert not _errors_in(state, page), _errors_in(state, page)
        every_output = "".join(_text(c["outputs"]) for c in state["cells"])
        assert "no answer yet" in every_output and "✔ correct" not in every_output

        stub = _cell_index(page, lambda c: c["source"].startswith(f"# Exercise {EXERCISE}:"))
        check = stub + 1
        assert page.evaluate(CELLS_JS)["cells"][check]["source"].startswith("checks.check_accuracy")

        count = page.evaluate(CELLS_JS)["cells"][check]["count"]
        _type_and_run(page, stub, WRONG)
        wrong = _check_output(page, check, count)
        assert "✘ not yet" in wrong and "share" in wrong, wrong
        page.screenshot(path=str(SCREENSHOTS / "student-1-wrong-answer.png"))

        count = page.evaluate(CELLS_JS)["cells"][check]["count"]
        _type_and_run(page, stub, RIGHT)
        right = _check_output(page, check, count)
        assert "✔ correct" in right, right
        page.screenshot(path=str(SCREENSHOTS / "student-2-right-answer.png"))

        box = page.locator(".cnnexplain-explore").first
        box.scroll_into_view_if_needed()
        before = _one_image_src(box)
        move = _move_control(_controls(box)[0])
        _wait_until(lambda: _image_src(box) not in (before, None), REDRAW_S, f"the figure to redraw after {move}")
        assert not _errors_in(page.evaluate(CELLS_JS), page)
        page.screenshot(path=str(SCREENSHOTS / "student-3-slider.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "student-failure.png"))
        print(f"JupyterLab log ({lab.log}):\n{lab.log_tail()}")
        raise
