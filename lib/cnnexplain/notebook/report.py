"""``results/REPORT.md`` and ``results/summary.json``: every paper claim once, with its owner notebook, its
rule and our value beside the paper's, per profile; built from what lies in the results folder (so running
a subset updates the report without forgetting the other notebooks' last results).

The default profile's notebook folders are ``results/<notebook>/``; another profile's are
``results/<profile>/<notebook>/`` (:func:`cnnexplain.notebook.results.profile_results_dir`). Where a claim
was judged in more than one profile the report shows the verdicts side by side and says which profile
each speaks for.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from cnnexplain.notebook.results import PROFILES, VERDICTS, profile_results_dir, rounded, write_json_atomic

# the order the report shows profiles in: what a verdict speaks for, strongest evidence last
PROFILE_ORDER = ("default", "paper", "smoke")
SHORT = {"reproduced": "R", "partly reproduced": "P", "not reproduced": "N", "not checked": "–"}


def _cell(value, limit: int = 300) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(rounded(value))
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _read_csv_rows(path: Path, limit: int = 40) -> list[dict]:
    """The first ``limit`` rows of a small CSV table as dicts (what :func:`render` shows inline)."""
    import csv

    try:
        with open(path, newline="") as handle:
            return [row for _, row in zip(range(limit), csv.DictReader(handle))]
    except OSError:
        return []


def _markdown_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(empty)"]
    def fmt(v):
        try:
            return _cell(float(v))
        except (TypeError, ValueError):
            return _cell(v)
    head = list(rows[0])
    return (["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
            + ["| " + " | ".join(fmt(r.get(h, "")) for h in head) + " |" for r in rows])


def collect(results_dir: Path) -> list[dict]:
    """One record per notebook folder that holds a ``run.json``: ``results/<nb>/`` (default profile) and
    ``results/<profile>/<nb>/`` (the others), in profile then name order."""
    records = []
    for profile in PROFILE_ORDER:
        base = profile_results_dir(results_dir, profile)
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")
                             and p.name not in PROFILES):
            run = _read(folder / "run.json", None)
            if run is None:
                continue
            records.append({
                "dir": folder.name,
                "path": folder.relative_to(results_dir).as_posix(),
                "profile": run.get("profile", profile),
                "run": run,
                "claims": list(_read(folder / "claims.json", {}).values()),
                "values": _read(folder / "values.json", {}),
                "figures": sorted(p.name for p in folder.glob("*.png")),
                "tables": sorted(p.name for p in folder.glob("*.csv")),
                "shown": {name: _read_csv_rows(folder / f"{name}.csv")
                          for name in _read(folder / "report_tables.json", [])},
            })
    return records


def claims_by_paper(records: list[dict]) -> dict[str, dict]:
    """``{paper title: {claim_id: {"claim": first record's claim, "owner": nb, "by_profile": {profile: claim}}}}``.

    A claim recorded by two notebooks (it has one owner) is kept under the first and listed in ``"also"``.
    """
    papers: dict[str, dict] = {}
    for record in records:
        for claim in record["claims"]:
            title = claim.get("paper_title") or claim.get("paper_key") or f"notebook {record['dir']}"
            entry = papers.setdefault(title, {}).setdefault(
                claim["claim_id"], {"claim": claim, "owner": claim.get("owner") or record["dir"], "by_profile": {},
                                    "also": set()})
            if (claim.get("owner") or record["dir"]) != entry["owner"]:
                entry["also"].add(record["dir"])
            entry["by_profile"].setdefault(record["profile"], claim)
    return papers


def render(records: list[dict], batch: dict) -> str:
    papers = claims_by_paper(records)
    profiles = [p for p in PROFILE_ORDER if any(r["profile"] == p for r in records)]
    lines = [
        "# cnnexplain reproduction report",
        "",
        f"Last batch: profile `{batch['profile']}`, started {batch['started']}, "
        f"{batch['ok']} notebooks ok, {batch['failed']} failed. This report covers every notebook whose "
        "results are in this folder; each verdict says which profile's run it speaks for "
        "(smoke runs only prove that the code runs: their claims are all 'not checked').",
        "",
        "## Verdicts per paper",
        "",
        "| paper | profile | claims | " + " | ".join(VERDICTS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in VERDICTS) + " |",
    ]
    for title, claims in papers.items():
        for profile in profiles:
            counts = Counter(e["by_profile"][profile]["verdict"] for e in claims.values() if profile in e["by_profile"])
            if counts:
                lines.append(f"| {title} | {profile} | {sum(counts.values())} | "
                             + " | ".join(str(counts.get(v, 0)) for v in VERDICTS) + " |")
    lines += ["", "## Notebooks", "",
              "| notebook | profile | status | duration (s) | figures | tables | claims | commit |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        run = r["run"]
        lines.append(f"| [{r['dir']}](#{r['dir'].lower()}) | {r['profile']} | {run['status']} | "
                     f"{run['duration_s']:.0f} | {len(r['figures'])} | {len(r['tables'])} | {len(r['claims'])} | "
                     f"{(run.get('git_commit') or '?')[:12]} |")
    lines += ["", "## Claims", "",
              "Every claim once, under its paper, with the notebook that owns it (records it). Verdicts: "
              + ", ".join(f"{v} = {k}" for k, v in SHORT.items()) + "."]
    for title, claims in papers.items():
        header = " | ".join(f"ours ({p}) | verdict ({p})" for p in profiles)
        lines += ["", f"### {title}", "",
                  f"| claim | owner | where | paper | {header} | rule | note |",
                  "| --- | --- | --- | --- | " + " | ".join("--- | ---" for _ in profiles) + " | --- | --- |"]
        for claim_id, entry in claims.items():
            claim = entry["claim"]
            cells = []
            for p in profiles:
                c = entry["by_profile"].get(p)
                cells.append(f"{_cell(c['ours'])} | **{c['verdict']}**" if c else "— | —")
            notes = " / ".join(f"{p}: {_cell(entry['by_profile'][p].get('note', ''), 200)}" for p in profiles
                               if entry["by_profile"].get(p, {}).get("note"))
            if entry["also"]:
                notes += f" (ALSO recorded by {', '.join(sorted(entry['also']))}: a claim has one owner)"
            lines.append(f"| {_cell(claim['statement'])} (`{claim_id}`) | {entry['owner']} | {_cell(claim['source'])} | "
                         f"{_cell(claim['paper'])} | {' | '.join(cells)} | {_cell(claim.get('criterion', ''), 240)} | "
                         f"{notes} |")
    for r in records:
        run = r["run"]
        lines += ["", f"## {r['dir']}" + ("" if r["profile"] == "default" else f" ({r['profile']} profile)"), "",
                  f"Status **{run['status']}** in profile `{run['profile']}` (seed {run.get('seed')}), "
                  f"{run['duration_s']:.0f} s, started {run['start']}. Executed notebook: "
                  f"[{r['dir']}.ipynb]({r['path']}/{r['dir']}.ipynb)."]
        if run["status"] != "ok":
            lines += ["", f"**Failed** at {run.get('failed_cell') or '?'}: `{_cell(run.get('error'))}`"]
        if r["values"]:
            lines += ["", "Measured:", ""] + [f"- {k} = {_cell(v, 160)}" for k, v in r["values"].items()]
        for name, rows in r.get("shown", {}).items():
            lines += ["", f"Table `{name}`:", ""] + _markdown_table(rows)
        if r["figures"]:
            lines += ["", "Figures: " + ", ".join(f"[{f}]({r['path']}/{f})" for f in r["figures"]) + "."]
        if r["tables"]:
            lines += ["", "Tables: " + ", ".join(f"[{t}]({r['path']}/{t})" for t in r["tables"]) + "."]
    return "\n".join(lines) + "\n"


def write_report(results_dir: Path, runs: list, started: str, profile: str) -> Path:
    """Write ``summary.json`` (this batch), ``REPORT.md`` and ``index.html`` (everything in the folder);
    returns the Markdown report's path."""
    batch = {
        "profile": profile,
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ok": sum(r.status == "ok" for r in runs),
        "failed": sum(r.status != "ok" for r in runs),
        "notebooks": [asdict(r) for r in runs],
    }
    write_json_atomic(results_dir / "summary.json", batch)
    from cnnexplain.notebook.report_html import write_html

    records = collect(results_dir)
    report = results_dir / "REPORT.md"
    tmp = results_dir / ".REPORT.md.tmp"
    tmp.write_text(render(records, batch))
    tmp.replace(report)
    write_html(results_dir, claims_by_paper(records), records, batch)  # results/index.html, for people
    return report
