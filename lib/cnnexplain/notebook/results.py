"""Where a notebook's outputs go, and the calls that write them: figures, tables, measured values and
paper claims.

Layout: ``results/<notebook>/`` holds PNG figures named after the paper's figure (``fig3_....png``),
CSV tables (``table1_....csv``), ``claims.json`` (each paper claim beside our value), ``values.json``
(other measured numbers, e.g. timings) and, when run by the batch runner, the executed notebook and
``run.json``. The runner points ``$CNNEXPLAIN_OUTPUT_DIR`` at a temporary directory that it moves into
place only when the notebook has finished, so an interrupted run never leaves mixed results.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnexplain.claims import NOT_CHECKED, VERDICTS, ClaimRule, Outcome, combine_grid

PROFILES = ("smoke", "default", "paper")
SMOKE_NOTE = ("smoke profile: sizes chosen to exercise the code, too small for a verdict; run the default or paper "
              "profile")
OUTPUT_DIR_ENV = "CNNEXPLAIN_OUTPUT_DIR"
RESULTS_ROOT_ENV = "CNNEXPLAIN_RESULTS_ROOT"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles are: {', '.join(PROFILES)}")
    return profile


def repo_root(start: Path | None = None) -> Path | None:
    """The checkout that holds ``notebooks/profiles.toml``, searched upwards from ``start`` (cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks" / "profiles.toml").is_file():
            return folder
    return None


def default_results_root() -> Path:
    if os.environ.get(RESULTS_ROOT_ENV):
        return Path(os.environ[RESULTS_ROOT_ENV])
    root = repo_root()
    return (root / "results") if root else Path.cwd() / "results"


def profile_results_dir(root: Path, profile: str) -> Path:
    """Where a profile's notebook folders live under the results root: the default profile's directly in it
    (``results/<notebook>/``), every other profile's in a folder of its own (``results/paper/<notebook>/``,
    ``results/smoke/<notebook>/``), so a paper or smoke run never replaces the default results and the
    report can show the verdicts of two profiles side by side."""
    check_profile(profile)
    return Path(root) if profile == "default" else Path(root) / profile


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} name {name!r} must be a plain file name (letters, digits, _ . -)")
    return name


def _jsonable(value: Any) -> Any:
    """Plain JSON types for numpy/torch scalars and arrays; NaN and inf become strings."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats (also inside lists and dicts) rounded to ``digits`` significant digits, for reports."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


@dataclass
class Claim:
    """One claim of a paper set beside our measurement."""

    claim_id: str
    source: str  # where the paper says it, e.g. "Fig. 3" or "§4.1"
    statement: str  # the claim in words
    paper: Any  # the paper's value (number or text)
    ours: Any  # our measured value
    verdict: str  # one of VERDICTS
    note: str = ""  # why, especially for 'not reproduced' or 'not checked'
    paper_key: str = ""  # the paper's ClaimBook, e.g. "jung"
    owner: str = ""  # the notebook that records it
    quantity: str = ""  # what we measured
    criterion: str = ""  # the rule, written before the data
    profile: str = ""  # the profile whose run produced the value
    paper_title: str = ""  # the paper in words


class Results:
    """Saves one notebook's outputs into its results folder.

    >>> out = Results("00_tour", profile="smoke", seed=0, output_dir=tmp)  # doctest: +SKIP
    >>> out.figure(fig, "fig1_digits"); out.table(df, "table1_accuracy")   # doctest: +SKIP
    >>> out.claim("acc", "Table 1", "test accuracy above 99%", paper=0.99, ours=acc,
    ...           verdict="reproduced")                                     # doctest: +SKIP
    """

    def __init__(self, notebook: str, profile: str, seed: int, output_dir: str | Path | None = None):
        self.notebook = _check_name(notebook, "notebook")
        self.profile = check_profile(profile)
        self.seed = seed
        if output_dir is None:
            output_dir = os.environ.get(OUTPUT_DIR_ENV) or profile_results_dir(default_results_root(), profile) / notebook
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._started = (time.perf_counter(), time.process_time())

    def path(self, name: str) -> Path:
        """A path inside this notebook's results folder, for outputs other than figures and tables."""
        return self.dir / _check_name(name, "output")

    def figure(self, fig, name: str, dpi: int = 120) -> Path:
        """Save a matplotlib figure as ``<name>.png`` (name it after the paper's figure)."""
        from cnnexplain.notebook.plots import small_text

        path = self.dir / f"{_check_name(name, 'figure')}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        # the readability rule's evidence, per figure (tests/test_notebooks.py holds every smoke figure to it)
        self._update_json("figures.json", path.stem, {"small_text": small_text(fig, dpi),
                                                      "width_px": round(fig.get_figwidth() * dpi)})
        return path

    def table(self, frame, name: str, index: bool = False, in_report: bool = False) -> Path:
        """Save a pandas DataFrame as ``<name>.csv`` (name it after the paper's table). ``in_report``: also
        show it inline in REPORT.md (small tables only: the first 40 rows are shown)."""
        path = self.dir / f"{_check_name(name, 'table')}.csv"
        frame.to_csv(path, index=index)
        if in_report:
            listed = self.dir / "report_tables.json"
            names = json.loads(listed.read_text()) if listed.exists() else []
            write_json_atomic(listed, names + [name] if name not in names else names)
        return path

    def tables(self, tables: dict[str, Any]) -> dict[str, Any]:
        """Save every ``name: DataFrame`` of a dict (see :meth:`table`); returns the dict."""
        for name, frame in tables.items():
            self.table(frame, name)
        return tables

    def _update_json(self, file: str, key: str, value: Any) -> None:
        path = self.dir / file
        data = json.loads(path.read_text()) if path.exists() else {}
        data[key] = value
        write_json_atomic(path, data)

    def value(self, name: str, value: Any) -> Any:
        """Record a measured number (a timing, a correlation, ...) in ``values.json``; returns it."""
        self._update_json("values.json", _check_name(name, "value"), _jsonable(value))
        return value

    def values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Record every ``name: value`` of a dict (see :meth:`value`); returns the dict."""
        for name, value in values.items():
            self.value(name, value)
        return values

    @contextmanager
    def timer(self, name: str):
        """``with out.timer("time_fig1_s"): ...`` records the block's wall-clock seconds as a value."""
        start = time.perf_counter()
        yield
        self.value(name, round(time.perf_counter() - start, 1))

    def finish(self) -> float:
        """Record the notebook's wall-clock and CPU seconds since setup (``notebook_seconds``,
        ``notebook_cpu_seconds``) and print the wall time; call it in the last cell."""
        wall, cpu = time.perf_counter() - self._started[0], time.process_time() - self._started[1]
        self.value("notebook_seconds", round(wall, 1))
        self.value("notebook_cpu_seconds", round(cpu, 1))
        print(f"{self.notebook}: done in {wall:.1f} s")
        return wall

    def claim(self, claim_id: str, source: str, statement: str, paper: Any, ours: Any, verdict: str,
              note: str = "") -> Claim:
        """Record a paper claim with our value and a verdict (one of ``VERDICTS``) in ``claims.json``.

        Recording the same ``claim_id`` again replaces the earlier entry.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
        claim = Claim(_check_name(claim_id, "claim"), source, statement, _jsonable(paper), _jsonable(ours),
                      verdict, note)
        self._update_json("claims.json", claim.claim_id, asdict(claim))
        return claim

    def judge(self, rule: ClaimRule, grid: dict[str, dict] | None = None, **measured) -> Claim:
        """Evaluate a paper's claim rule on measured values and record the outcome in ``claims.json``.

        ``grid``: ``{cell name: measured values}`` of a sensitivity grid (e.g. damping × Hessian sample);
        the rule is judged in every cell and the verdicts combined by :func:`cnnexplain.claims.combine_grid`
        (reproduced only across the whole grid); ``measured`` then holds the arguments shared by all cells.

        The rule must be owned by this notebook (each claim has one owner). In the smoke profile the
        verdict is ``not checked`` (the rule's value is still recorded): smoke sizes prove the code runs,
        not the claim.
        """
        if not isinstance(rule, ClaimRule):
            raise TypeError(f"judge() takes a ClaimRule from cnnexplain.papers.<paper>.claims, got {type(rule).__name__}")
        if rule.owner != self.notebook:
            raise ValueError(f"claim {rule.claim_id!r} is owned by notebook {rule.owner!r}, not {self.notebook!r}: "
                             "each claim is recorded by exactly one notebook")
        outcome: Outcome = rule.evaluate(**measured) if grid is None else combine_grid(rule, grid, **measured)
        verdict, note = outcome.verdict, outcome.note
        if self.profile == "smoke" and verdict != NOT_CHECKED:
            verdict, note = NOT_CHECKED, f"{SMOKE_NOTE} (the rule gave {outcome.verdict!r})"
        claim = Claim(_check_name(rule.claim_id, "claim"), rule.source, rule.statement, _jsonable(rule.paper_value),
                      _jsonable(outcome.ours), verdict, note, rule.paper, rule.owner, rule.quantity, rule.criterion,
                      self.profile, rule.paper_title)
        self._update_json("claims.json", claim.claim_id, asdict(claim))
        return claim

    def claims(self) -> list[Claim]:
        path = self.dir / "claims.json"
        if not path.exists():
            return []
        return [Claim(**c) for c in json.loads(path.read_text()).values()]
