"""End to end in a real browser, the way a student uses the project: JupyterLab + headless Chromium.

For every notebook in notebooks/: start JupyterLab on 127.0.0.1 (random free port, a token, no
browser, a throw-away root and configuration), open the notebook in Debian's Chromium driven by
Playwright, run all cells, move every ``explore`` slider (or dropdown) and check that its figure is
redrawn, and that no cell, nor any widget output, shows an error. Screenshots go to results/browser/.
JupyterLab and its kernels are stopped at the end whatever happens.

The notebook is opened as committed, with the smoke profile's values injected after its parameters
cell (exactly what the batch runner injects), so that the run stays within CI's budget.

Needs /usr/bin/chromium (Debian: ``apt-get install chromium``; ``.ci/run`` installs it) and the pinned
``playwright`` Python package; the system browser is launched by path, Playwright never downloads one.
Without them the test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "results" / "browser"

# Every notebook is opened in the browser: each offers at least one explore box (tested below). Set
# CNNEXPLAIN_BROWSER_NOTEBOOKS="00_tour 41_attribution_gallery" to drive only some of them.
ALL_NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))


def browser_notebooks() -> list[str]:
    chosen = os.environ.get("CNNEXPLAIN_BROWSER_NOTEBOOKS", "").replace(",", " ").split()
    unknown = sorted(set(chosen) - set(ALL_NOTEBOOKS))
    if unknown:
        raise ValueError(f"CNNEXPLAIN_BROWSER_NOTEBOOKS names {unknown}, which are not notebooks; "
                         f"valid names: {ALL_NOTEBOOKS}")
    return chosen or ALL_NOTEBOOKS


CHROMIUM = Path(os.environ.get("CNNEXPLAIN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_ENABLE = ("install Debian's Chromium (`apt-get install chromium`, which .ci/run does as root) and the "
                 "pinned Playwright package (`pip install -r requirements.txt`); the test launches "
                 "/usr/bin/chromium by path (or $CNNEXPLAIN_CHROMIUM) and never downloads a browser")

SERVER_START_S = 180      # a loaded 2-core machine: JupyterLab's first start can take a while
RUN_ALL_S = 240           # every cell, smoke profile, incl. kernel start and imports of torch
REDRAW_S = 90             # one slider move → new PNG in the Output widget
UI_TIMEOUT_MS = 60_000    # any single click / wait in the page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def _requirements_or_skip():
    if not CHROMIUM.exists():
        pytest.skip(f"browser test skipped: {CHROMIUM} not found; to enable it, {HOW_TO_ENABLE}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(f"browser test skipped: the playwright package is not installed; to enable it, {HOW_TO_ENABLE}")


# ---------------------------------------------------------------------------------------------------
# JupyterLab in a throw-away root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def prepare_notebook(name: str, root_dir: Path) -> Path:
    """Copy notebooks/<name>.ipynb into ``root_dir`` with the smoke profile's values injected after its
    parameters cell (as the batch runner does), leaving every other cell as committed."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from cnnexplain.notebook.profiles import load_overrides, notebook_parameters, overrides_for

    source = ROOT / "notebooks" / f"{name}.ipynb"
    assert source.is_file(), f"{source} does not exist"
    overrides = overrides_for(load_overrides(ROOT / "notebooks" / "profiles.toml"), source, "smoke",
                              notebook_parameters(source))
    nb = load_notebook_node(str(source))
    nb = parameterize_notebook(nb, {**overrides, "PROFILE": "smoke"})
    target = root_dir / source.name
    nbformat.write(nb, target)
    return target


@dataclass
class Lab:
    url: str
    token: str
    root_dir: Path
    process: subprocess.Popen
    log: Path
    known_pids: set = field(default_factory=set)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def remember_children(self) -> None:
        """Note the server's descendants (its kernels run in sessions of their own, so killing the
        server's process group alone would leave them behind)."""
        import psutil

        try:
            self.known_pids.update(p.pid for p in psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_lab(tmp: Path) -> Lab:
    root_dir, home = tmp / "root", tmp / "jupyter"
    root_dir.mkdir(parents=True, exist_ok=True)
    settings = home / "lab-settings"
    # No news/update toasts over the page; every cell in the DOM (no virtual scrolling) so that the test
    # sees every output; no workspace restored from an earlier run.
    _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"windowingMode": "none"})
    env = {k: v for k, v in os.environ.items()
           if k not in ("CNNEXPLAIN_HEADLESS", "MPLBACKEND", "CNNEXPLAIN_OUTPUT_DIR", "JUPYTER_TOKEN")}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "lib"), os.environ.get("PYTHONPATH")])),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "CNNEXPLAIN_RESULTS_ROOT": str(tmp / "results"),
        # Other tests and helpers share the cores: one thread per kernel keeps the machine usable.
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    })
    token = secrets.token_hex(16)
    log = tmp / "jupyterlab.log"
    last_error = ""
    for _attempt in range(3):  # another process may grab the free port between probe and bind
        port = _free_port()
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                 f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
                 "--ServerApp.terminals_enabled=False", "--LabApp.expose_app_in_browser=True",
                 "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
                 *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers run as root
                cwd=root_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root_dir=root_dir, process=process, log=log)
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                lab.api("/api/status")
                return lab
            except OSError:
                time.sleep(1)
        last_error = lab.log_tail()
        stop_lab(lab)
    raise RuntimeError(f"JupyterLab did not start within {SERVER_START_S} s; its log ends with:\n{last_error}")


def stop_lab(lab: Lab) -> None:
    """Shut JupyterLab and every kernel down: politely first, then by signal, whatever state they are in."""
    import psutil

    lab.remember_children()
    if lab.process.poll() is None:
        try:
            lab.api("/api/shutdown", method="POST")  # shuts the kernels down too
            lab.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if lab.process.poll() is None:
            try:
                os.killpg(lab.process.pid, sig)
            except ProcessLookupError:
                pass
        survivors = []
        for pid in lab.known_pids:
            try:
                child = psutil.Process(pid)
                child.send_signal(sig)
                survivors.append(child)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(survivors, timeout=wait_s)
        try:
            lab.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in lab.known_pids):
            break


@pytest.fixture
def lab(tmp_path):
    _requirements_or_skip()
    server = start_lab(tmp_path)
    try:
        yield server
    finally:
        stop_lab(server)
        leftover = []
        for pid in server.known_pids | {server.process.pid}:
            try:
                os.kill(pid, 0)
                leftover.append(pid)
            except ProcessLookupError:
                pass
        assert not [pid for pid in leftover if _is_running(pid)], f"processes left running: {leftover}"


def _is_running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ---------------------------------------------------------------------------------------------------
# The browser


@pytest.fixture
def browser_page():
    _requirements_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _wait_until(condition, timeout_s: float, what: str, poll_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


# Read the open notebook's model through the app JupyterLab exposes (--LabApp.expose_app_in_browser).
CELLS_JS = r"""() => {
  if (!window.jupyterapp) return null;
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {
    kernel: kernel ? kernel.status : null,
    cells: panel.content.widgets.map(cell => ({
      type: cell.model.type,
      count: cell.model.type === 'code' ? cell.model.executionCount : null,
      outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
      prompt: cell.node.querySelector('.jp-InputPrompt') ? cell.node.querySelector('.jp-InputPrompt').textContent : '',
      source: cell.model.sharedModel.getSource().slice(0, 80),
      empty: cell.model.sharedModel.getSource().trim() === '',
      explore_calls: (cell.model.sharedModel.getSource().match(/\bexplore\w*\(/g) || []).length,
    })),
  };
}"""


def _errors_in(state: dict, page) -> list[str]:
    errors = [f"cell {i} ({c['source']!r}): {o.get('ename')}: {o.get('evalue')}"
              for i, c in enumerate(state["cells"]) for o in c["outputs"] if o.get("output_type") == "error"]
    # explore shows an exception of its plot function in its error pane, not in the cell's model.
    for text in page.locator(".cnnexplain-explore-error").all_inner_texts():
        if text.strip():
            errors.append("explore error pane: " + text.strip()[:800])
    for text in page.locator(".jp-RenderedText").all_inner_texts():
        if "Traceback (most recent call last)" in text:
            errors.append("rendered traceback: " + text.strip()[:500])
    return errors


# One atomic look at the box: the SHA-256 of its single figure, or null while it shows none or several
# (a failing redraw removes the image; reading count and src in two calls could race with that).
IMAGE_DIGEST_JS = """async (box) => {
  const images = box.querySelectorAll('img.widget-image');
  if (images.length !== 1 || !images[0].src) return null;
  const bytes = await (await fetch(images[0].src)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def _image_src(box) -> str | None:
    """SHA-256 of the PNG the box shows (its one ipywidgets.Image), or None while it shows no single image."""
    return box.evaluate(IMAGE_DIGEST_JS)


def _one_image_src(box) -> str:
    count = box.locator("img.widget-image").count()
    assert count == 1, f"the explore box should show exactly one figure (no pile-up), found {count}"
    return _image_src(box)


def _settled_image(page, box) -> str:
    """The box's figure once the kernel is idle and the image has stayed the same for two polls (each
    key press redraws; a screenshot should show the last one)."""
    seen = []

    def settled():
        if (page.evaluate(CELLS_JS) or {}).get("kernel") != "idle":
            seen.clear()
            return None
        seen.append(_image_src(box))
        return seen[-1] if len(seen) >= 2 and seen[-1] is not None and seen[-1] == seen[-2] else None

    return _wait_until(settled, REDRAW_S, "the figure to settle after the last redraw")


def _controls(box) -> list:
    """The box's sliders (one per slider widget, range sliders included) and dropdowns, in order."""
    return box.locator(".widget-slider, .widget-dropdown").all()


def _move_control(control) -> str:
    """Move a slider's first handle to its far end by keyboard (or pick another dropdown option).

    The far end, not a step: on smoke data neighbouring values can draw identical figures (e.g. two
    levels that pick the same test sample), and an unchanged PNG is what this test must catch."""
    handle = control.locator(".noUi-handle").first
    if handle.count():
        handle.scroll_into_view_if_needed()
        readout = control.locator(".widget-readout").first
        before = readout.inner_text()
        handle.focus()
        handle.press("End")
        if readout.inner_text() == before:  # it started at the far end
            handle.press("Home")
        _wait_until(lambda: readout.inner_text() != before, 30, "the slider readout to change")
        return f"slider {before} -> {readout.inner_text()}"
    select = control.locator("select").first
    options = select.locator("option").all_inner_texts()
    assert len(options) > 1, "a dropdown with a single option cannot be explored"
    current = select.evaluate("s => s.options[s.selectedIndex].text")  # a label: option values are indices
    choice = next(o for o in options if o != current)
    select.select_option(label=choice)
    return f"dropdown {current} -> {choice}"


@pytest.mark.parametrize("name", browser_notebooks())
def test_notebook_runs_in_jupyterlab_and_its_sliders_redraw(name, lab, browser_page):
    page = browser_page
    timings = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SCREENSHOTS.glob(f"{name}-*"):  # this run's pictures only, e.g. no old failure shot
        stale.unlink()
    notebook = prepare_notebook(name, lab.root_dir)
    began = time.monotonic()
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook.name}?reset&token={lab.token}", timeout=UI_TIMEOUT_MS * 2)
        page.locator(".jp-NotebookPanel").first.wait_for(state="visible", timeout=UI_TIMEOUT_MS * 2)
        _wait_until(lambda: (page.evaluate(CELLS_JS) or {}).get("kernel") == "idle", SERVER_START_S,
                    "the kernel to start (status idle)")
        timings["open_s"] = time.monotonic() - began

        # Run all cells, as a student would: Run menu → Run All Cells.
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        started = time.monotonic()

        def finished():
            state = page.evaluate(CELLS_JS)
            code = [c for c in state["cells"] if c["type"] == "code" and not c["empty"]]  # empty: never run
            if any(o.get("output_type") == "error" for c in code for o in c["outputs"]):
                return state  # stop waiting: the assertion below names the failing cell
            done = all(c["count"] is not None and "*" not in c["prompt"] for c in code)
            return state if done and state["kernel"] == "idle" else None

        state = _wait_until(finished, RUN_ALL_S, f"{name}: all cells to run")
        timings["run_all_s"] = time.monotonic() - started
        lab.remember_children()
        errors = _errors_in(state, page)
        assert not errors, f"{name}: error output after Run All:\n" + "\n".join(errors)

        boxes = page.locator(".cnnexplain-explore")
        n_boxes = boxes.count()
        assert n_boxes >= 1, f"{name} shows no cnnexplain.notebook.widgets.explore box"
        explore_calls = sum(c["explore_calls"] for c in state["cells"] if c["type"] == "code")
        assert n_boxes <= explore_calls, \
            f"{name}: {n_boxes} explore boxes for {explore_calls} explore() calls (one shown twice?)"
        first = boxes.first
        first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"{name}-1-after-run-all.png"))

        moves = []
        for i in range(n_boxes):
            box = boxes.nth(i)
            controls = _controls(box)
            assert controls, f"{name}: explore box {i} has no slider or dropdown"
            before = _one_image_src(box)
            for j, control in enumerate(controls):
                began_move = time.monotonic()
                moves.append(f"box {i} control {j}: " + _move_control(control))

                def redrawn():
                    errors = _errors_in(page.evaluate(CELLS_JS), page)
                    assert not errors, f"{name}: error output after moving a control ({moves[-1]}):\n" + "\n".join(errors)
                    return _image_src(box) not in (before, None)

                _wait_until(redrawn, REDRAW_S, f"{name}: explore box {i} to redraw after {moves[-1]}")
                timings[f"redraw_{i}_{j}_s"] = time.monotonic() - began_move
                final = _settled_image(page, box)
                assert final != before, f"the figure's PNG did not change after {moves[-1]}"
                assert _one_image_src(box) == final
                before = final
            box.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"{name}-2-after-slider-{i}.png"))
            box.screenshot(path=str(SCREENSHOTS / f"{name}-3-explore-box-{i}.png"))
        print(f"{name}: moved {moves}")

        state = page.evaluate(CELLS_JS)
        errors = _errors_in(state, page)
        assert not errors, f"{name}: error output after moving the sliders ({moves}):\n" + "\n".join(errors)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"{name}-failure.png"))
        print(f"JupyterLab log ({lab.log}):\n{lab.log_tail()}")
        raise
    finally:
        timings["total_s"] = time.monotonic() - began
        (SCREENSHOTS / f"{name}-timings.json").write_text(json.dumps(
            {k: round(v, 1) for k, v in timings.items()}, indent=1))
        print(f"{name}: {timings}")
