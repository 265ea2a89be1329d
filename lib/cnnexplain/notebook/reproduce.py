"""The batch runner: execute notebooks with papermill in one profile and collect their results.

    python -m cnnexplain.notebook.reproduce [--profile default] [--notebooks 00_tour 10_...] [--results-dir results]

Each notebook runs in a fresh kernel with ``PROFILE`` and its overrides from ``notebooks/profiles.toml``
injected, writing into a temporary folder that replaces ``results/<notebook>/`` only when it has
finished (also when it failed: the executed notebook shows where). A killed run leaves the previous
results in place; leftovers of killed runs are cleaned up by the next run. The runner keeps going after
a failure, writes ``results/summary.json`` and ``results/REPORT.md``, and exits 1 naming each failed
notebook and cell, or 2 for bad input (unknown profile, notebook or override, a missing profiles file,
a bad ``--timeout``, a results folder that is not a writable folder or is locked by another runner).
A lock file in the results folder (host and pid) keeps two runners, also of two containers sharing the
folder, from promoting or recovering there at the same time. The default profile's
results go to ``results/<notebook>/``, another profile's to ``results/<profile>/<notebook>/``; the report
shows every profile's verdicts side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from cnnexplain.notebook.profiles import ProfileError, load_overrides, notebook_parameters, overrides_for
from cnnexplain.notebook.results import OUTPUT_DIR_ENV, PROFILES, check_profile, profile_results_dir, write_json_atomic
from cnnexplain.notebook.widgets import HEADLESS_ENV

PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the checkout: lib/cnnexplain/notebook/reproduce.py
# The checkout this module runs from, or None where cnnexplain is installed (a wheel has no notebooks/).
CHECKOUT = PACKAGE_ROOT if (PACKAGE_ROOT / "notebooks").is_dir() else None
VERSIONED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "scikit-image",
                      "captum", "shap", "papermill", "matplotlib", "seaborn")
TMP_PREFIX, OLD_PREFIX = ".tmp-", ".old-"
LOCK_NAME = ".runner.lock"


class NotebookTimeout(Exception):
    pass


class ResultsLocked(ProfileError):
    """Another runner holds the results folder's lock (exit 2: the folder is not this run's to touch)."""


class ResultsLock:
    """``<results>/.runner.lock``, created exclusively, holding this runner's host and pid: while it is
    held no other runner (in this container or another one sharing the folder) promotes or recovers
    there. A lock whose runner is gone (same host, pid not alive) is stale and taken over; a lock of
    another host cannot be checked, so it is honoured until someone deletes it."""

    def __init__(self, results_dir: Path):
        self.path = Path(results_dir) / LOCK_NAME
        self.host, self.pid = socket.gethostname(), os.getpid()

    def __enter__(self) -> "ResultsLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        text = json.dumps({"host": self.host, "pid": self.pid, "started": _process_start(self.pid),
                           "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    raw = self.path.read_text()
                except FileNotFoundError:
                    continue
                holder = _parse_lock(raw)
                if holder_alive(holder):
                    raise ResultsLocked(
                        f"results folder {self.path.parent} is in use by the runner with pid "
                        f"{holder.get('pid')} on host {holder.get('host')} (since {holder.get('since')}); "
                        f"wait for it to finish, use another --results-dir, or, if no such runner is "
                        f"alive, delete {self.path}") from None
                aside = self.path.with_name(f"{LOCK_NAME}.stale-{self.pid}")  # stale: its runner is gone
                try:
                    os.rename(self.path, aside)
                except FileNotFoundError:
                    continue
                if aside.read_text() != raw:  # another runner took the stale lock over meanwhile: give it back
                    with contextlib.suppress(FileExistsError):
                        os.link(aside, self.path)
                os.unlink(aside)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            return
        raise ResultsLocked(f"could not take the lock {self.path}: another runner keeps creating it")

    def release(self) -> None:
        holder = read_lock(self.path.parent)
        if holder is not None and holder.get("host") == self.host and holder.get("pid") == self.pid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def owns(self, holder: dict | None) -> bool:
        return holder is not None and holder.get("host") == self.host and holder.get("pid") == self.pid


def read_lock(results_dir: Path) -> dict | None:
    """The lock's ``{"host", "pid", "since"}``, or None when there is none (an unreadable lock counts as
    held by an unknown runner)."""
    try:
        raw = (Path(results_dir) / LOCK_NAME).read_text()
    except FileNotFoundError:
        return None
    except OSError:
        raw = ""
    return _parse_lock(raw)


def _parse_lock(raw: str) -> dict:
    unknown = {"host": "unknown", "pid": "unknown", "since": "unknown"}
    try:
        holder = json.loads(raw)
    except ValueError:
        return unknown
    return holder if isinstance(holder, dict) else unknown


def holder_alive(holder: dict) -> bool:
    """Whether the runner named by a lock may still run: always when it is on another host; on this
    host when its pid is alive and (where /proc tells) is still the same process, not a reused pid."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True
    if not _alive(pid):
        return False
    started, now = holder.get("started"), _process_start(pid)
    return started is None or now is None or started == now


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class NotebookRun:
    notebook: str
    profile: str
    status: str = "not run"  # ok | failed | timeout
    parameters: dict = field(default_factory=dict)
    seed: int | None = None
    start: str = ""
    duration_s: float = 0.0
    failed_cell: str | None = None
    error: str | None = None
    versions: dict = field(default_factory=dict)
    git_commit: str | None = None
    python: str = platform.python_version()
    machine: str = platform.platform()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path) -> str | None:
    """HEAD of the checkout, with '+dirty' when tracked files have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def discover(notebooks_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(notebooks_dir.glob("*.ipynb"))}


def select(available: dict[str, Path], requested: list[str] | None) -> list[Path]:
    if not requested:
        return list(available.values())
    names = [Path(r).stem for r in requested]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ProfileError(f"unknown notebook(s): {', '.join(unknown)}; available: {', '.join(available)}")
    return [available[n] for n in dict.fromkeys(names)]


def recover(results_dir: Path, lock: ResultsLock | None = None) -> None:
    """Undo what a killed run left: restore a moved-away result whose replacement never arrived, and
    delete temporary folders of runs that are no longer alive.

    Honours the results folder's lock: while another live runner holds it (or a runner of another host,
    whose pids are not visible here), nothing is touched. Under this runner's own ``lock`` every other
    temporary folder is a leftover, whatever pid its name carries (pids are reused)."""
    if not results_dir.is_dir():
        return
    holder = read_lock(lock.path.parent if lock is not None else results_dir)
    ours = lock is not None and lock.owns(holder)
    if holder is not None and not ours and holder_alive(holder):
        return
    for old in results_dir.glob(OLD_PREFIX + "*"):
        final = results_dir / old.name[len(OLD_PREFIX):]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, final)
    for tmp in results_dir.glob(TMP_PREFIX + "*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not ours and pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def promote(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` with two renames; :func:`recover` completes an interrupted swap."""
    old = final.with_name(OLD_PREFIX + final.name)
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _environment(**variables):
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: str(v) for k, v in variables.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _deadline(seconds: float):
    """Raise NotebookTimeout after ``seconds`` (main thread only; elsewhere papermill's per-cell limit)."""
    if threading_is_main() and hasattr(signal, "SIGALRM"):
        def expire(signum, frame):
            raise NotebookTimeout(f"notebook exceeded its {seconds:.0f} s limit")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    else:
        yield


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_notebook(notebook: Path, profile: str, results_dir: Path, overrides: dict, parameters: dict,
                 timeout: float, lib_dir: Path | None = None) -> NotebookRun:
    """Execute one notebook into ``results_dir/<name>/`` (via a temporary folder) and return its record."""
    import logging

    import papermill
    from papermill.exceptions import PapermillExecutionError

    # The runner reads the parameters cell itself (profiles.notebook_parameters); papermill's own parser
    # only adds misleading "Unable to parse line" warnings for comments that contain '='.
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    name = notebook.stem
    effective = dict(parameters)
    effective.update(overrides, PROFILE=profile)
    run = NotebookRun(notebook=name, profile=profile, parameters=effective, seed=effective.get("SEED"),
                      versions=package_versions(), git_commit=git_commit(notebook.parent))
    tmp = results_dir / f"{TMP_PREFIX}{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lib_dir = lib_dir or Path(__file__).resolve().parents[2]  # where this cnnexplain is: lib/ or site-packages
    python_path = os.pathsep.join(p for p in (str(lib_dir), os.environ.get("PYTHONPATH", "")) if p)
    run.start = datetime.now(timezone.utc).isoformat(timespec="seconds")
    began = time.perf_counter()
    try:
        with _environment(**{OUTPUT_DIR_ENV: tmp.resolve(), HEADLESS_ENV: "1", "PYTHONPATH": python_path}), \
                _deadline(timeout):
            papermill.execute_notebook(
                str(notebook), str(tmp / notebook.name), parameters={**overrides, "PROFILE": profile},
                kernel_name="python3", cwd=str(notebook.parent), execution_timeout=int(timeout),
                progress_bar=False, log_output=False,
            )
        run.status = "ok"
    except PapermillExecutionError as error:
        first_line = (error.source or "").strip().splitlines()[:1]
        run.status = "failed"
        run.failed_cell = f"cell {error.cell_index} of the executed notebook (In [{error.exec_count}]): {first_line[0] if first_line else ''}"
        run.error = f"{error.ename}: {error.evalue}"
    except NotebookTimeout as error:
        run.status, run.error = "timeout", str(error)
    except Exception as error:  # kernel died, notebook unreadable, ...: record it and go on with the batch
        run.status, run.error = "failed", f"{type(error).__name__}: {error}"
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # interrupted: keep the previous results untouched
        raise
    run.duration_s = round(time.perf_counter() - began, 2)
    write_json_atomic(tmp / "run.json", asdict(run))
    promote(tmp, results_dir / name)
    return run


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnexplain.notebook.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)} (default: default)")
    parser.add_argument("--notebooks", nargs="+", metavar="NAME", help="run only these (default: all)")
    parser.add_argument("--results-dir", type=Path, default=(CHECKOUT or Path.cwd()) / "results",
                        help="where results/<notebook>/ and REPORT.md go (default: results/ of the checkout, "
                             "or of the current folder where cnnexplain is installed)")
    parser.add_argument("--notebooks-dir", type=Path, default=CHECKOUT and CHECKOUT / "notebooks",
                        help="the notebooks and their profiles.toml (default: the checkout's notebooks/)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per notebook (default: 300 smoke, 1800 default, 36000 paper)")
    args = parser.parse_args(argv)
    if args.notebooks_dir is None:
        print("error: no notebooks folder: this cnnexplain is installed, not run from a checkout of the project; "
              "pass --notebooks-dir (the notebooks/ folder of a clone)", file=sys.stderr)
        return 2

    try:
        check_profile(args.profile)
        if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
            raise ProfileError(f"--timeout must be a positive, finite number of seconds per notebook, got "
                               f"{args.timeout}; leave it out for the profile's default")
        available = discover(args.notebooks_dir)
        if not available:
            raise ProfileError(f"no notebooks found in {args.notebooks_dir}")
        chosen = select(available, args.notebooks)
        overrides = load_overrides(args.notebooks_dir / "profiles.toml")
        stray = sorted(set(overrides) - set(available))
        if stray:
            raise ProfileError(f"profiles.toml has sections for unknown notebook(s): {', '.join(stray)}")
        plan = []
        for notebook in chosen:
            parameters = notebook_parameters(notebook)
            plan.append((notebook, parameters, overrides_for(overrides, notebook, args.profile, parameters)))
    except (ProfileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    timeout = args.timeout if args.timeout is not None else {"smoke": 300, "default": 1800, "paper": 36000}[args.profile]
    results_root = args.results_dir.resolve()
    results_dir = profile_results_dir(results_root, args.profile)  # default: <root>/<nb>; others: <root>/<profile>/<nb>
    lock = ResultsLock(results_root)  # one lock for the root: its report and every profile's folders
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except ResultsLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file in the way, a read-only folder, ...
        print(f"error: --results-dir {args.results_dir} is not a writable folder ({error.strerror or error}); "
              "pass a folder this user can write to", file=sys.stderr)
        return 2
    try:
        return _run_plan(args, plan, results_root, results_dir, timeout, lock)
    finally:
        lock.release()


def _run_plan(args, plan, results_root: Path, results_dir: Path, timeout: float, lock: ResultsLock) -> int:
    recover(results_dir, lock)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)

    from tqdm.auto import tqdm

    from cnnexplain.notebook.report import write_report

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    runs = []
    bar = tqdm(plan, desc=f"notebooks ({args.profile})", unit="nb", file=sys.stdout)
    for notebook, parameters, chosen_overrides in bar:
        bar.set_postfix_str(notebook.stem)
        run = run_notebook(notebook, args.profile, results_dir, chosen_overrides, parameters, timeout)
        runs.append(run)
        bar.write(f"{run.status:>7}  {run.notebook}  {run.duration_s:.1f} s"
                  + (f"  -- {run.failed_cell or ''} {run.error}" if run.status != "ok" else ""))
    report = write_report(results_root, runs, started=started, profile=args.profile)

    failed = [r for r in runs if r.status != "ok"]
    print(f"\nReport: {report}")
    print(f"{len(runs) - len(failed)} notebooks ok, {len(failed)} failed")
    for run in failed:
        print(f"FAILED {run.notebook}: {run.failed_cell or run.status}: {run.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
