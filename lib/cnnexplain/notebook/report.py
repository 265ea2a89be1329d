"""``results/REPORT.md`` and ``results/summary.json``: every notebook's outputs and every paper claim
beside our value, built from what lies in the results folder (so running a subset updates the report
without forgetting the other notebooks' last results)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from cnnexplain.notebook.results import VERDICTS, write_json_atomic


def _cell(value) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _read(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def collect(results_dir: Path) -> list[dict]:
    """One record per ``results/<notebook>/`` that holds a ``run.json``, in name order."""
    records = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        run = _read(folder / "run.json", None)
        if run is None:
            continue
        records.append({
            "dir": folder.name,
            "run": run,
            "claims": list(_read(folder / "claims.json", {}).values()),
            "values": _read(folder / "values.json", {}),
            "figures": sorted(p.name for p in folder.glob("*.png")),
            "tables": sorted(p.name for p in folder.glob("*.csv")),
        })
    return records


def render(records: list[dict], batch: dict) -> str:
    verdicts = Counter(c["verdict"] for r in records for c in r["claims"])
    lines = [
        "# cnnexplain reproduction report",
        "",
        f"Last batch: profile `{batch['profile']}`, started {batch['started']}, "
        f"{batch['ok']} notebooks ok, {batch['failed']} failed. This report covers every notebook whose "
        "results are in this folder (each row says which profile produced it).",
        "",
        "Paper claims checked: " + ", ".join(f"{verdicts.get(v, 0)} {v}" for v in VERDICTS) + ".",
        "",
        "| notebook | profile | status | duration (s) | figures | tables | claims | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        run = r["run"]
        lines.append(f"| [{r['dir']}](#{r['dir'].lower()}) | {run['profile']} | {run['status']} | "
                     f"{run['duration_s']:.0f} | {len(r['figures'])} | {len(r['tables'])} | {len(r['claims'])} | "
                     f"{(run.get('git_commit') or '?')[:12]} |")
    for r in records:
        run = r["run"]
        lines += ["", f"## {r['dir']}", "",
                  f"Status **{run['status']}** in profile `{run['profile']}` (seed {run.get('seed')}), "
                  f"{run['duration_s']:.0f} s, started {run['start']}. Executed notebook: "
                  f"[{r['dir']}.ipynb]({r['dir']}/{r['dir']}.ipynb)."]
        if run["status"] != "ok":
            lines += ["", f"**Failed** at {run.get('failed_cell') or '?'}: `{_cell(run.get('error'))}`"]
        if r["claims"]:
            lines += ["", "| claim | where | paper | ours | verdict | note |", "| --- | --- | --- | --- | --- | --- |"]
            for c in r["claims"]:
                lines.append(f"| {_cell(c['statement'])} | {_cell(c['source'])} | {_cell(c['paper'])} | "
                             f"{_cell(c['ours'])} | **{c['verdict']}** | {_cell(c.get('note', ''))} |")
        if r["values"]:
            lines += ["", "Measured: " + "; ".join(f"{k} = {_cell(v)}" for k, v in r["values"].items()) + "."]
        if r["figures"]:
            lines += ["", "Figures: " + ", ".join(f"[{f}]({r['dir']}/{f})" for f in r["figures"]) + "."]
        if r["tables"]:
            lines += ["", "Tables: " + ", ".join(f"[{t}]({r['dir']}/{t})" for t in r["tables"]) + "."]
    return "\n".join(lines) + "\n"


def write_report(results_dir: Path, runs: list, started: str, profile: str) -> Path:
    """Write ``summary.json`` (this batch) and ``REPORT.md`` (everything in the folder); returns the report."""
    batch = {
        "profile": profile,
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ok": sum(r.status == "ok" for r in runs),
        "failed": sum(r.status != "ok" for r in runs),
        "notebooks": [asdict(r) for r in runs],
    }
    write_json_atomic(results_dir / "summary.json", batch)
    report = results_dir / "REPORT.md"
    tmp = results_dir / ".REPORT.md.tmp"
    tmp.write_text(render(collect(results_dir), batch))
    tmp.replace(report)
    return report
