"""``results/index.html``: the reproduction report for people — per paper a verdict summary and a
claim × profile grid, then each claim with the paper's value, ours, the rule it was judged by, and a
thumbnail of its figure. Built from the same records as ``REPORT.md`` (:mod:`cnnexplain.notebook.report`).

Claims whose ids share a prefix before ``__`` (e.g. the survey's ``table1_additive__lime``) are grouped
in one row set under that prefix, so a table of 30 cells reads as a few rows.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path

from cnnexplain.notebook.results import VERDICTS, rounded

COLOURS = {"reproduced": "#2e7d32", "partly reproduced": "#f9a825", "not reproduced": "#c62828",
           "not checked": "#757575"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;line-height:1.4}
h1{font-size:1.7em}h2{font-size:1.35em;margin-top:2em;border-bottom:2px solid #ddd}h3{font-size:1.1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.3em .5em;
vertical-align:top;text-align:left}th{background:#f3f3f3}.v{color:#fff;border-radius:.3em;padding:.1em .4em;
white-space:nowrap;font-size:.85em}.thumb{max-width:180px;max-height:120px}.rule{color:#555;font-size:.85em}
.bar{display:flex;height:1.1em;width:320px;border-radius:.2em;overflow:hidden}.bar span{display:block}
"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        text = json.dumps(rounded(value, 3))
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)


def _badge(verdict: str) -> str:
    return f'<span class="v" style="background:{COLOURS.get(verdict, "#999")}">{html.escape(verdict)}</span>'


def figure_for(claim: dict, record: dict | None) -> str | None:
    """The figure of the claim's owner notebook named after the claim's source (``Fig. 3`` -> ``fig3_*.png``)."""
    if not record:
        return None
    match = re.search(r"Fig(?:ure)?\.?\s*(\d+)", str(claim.get("source", "")))
    if not match:
        return None
    number = match.group(1)
    for name in record["figures"]:
        if re.match(rf"fig{number}(?!\d)", name):
            return f"{record['path']}/{name}"
    return None


def render_html(papers: dict[str, dict], records: list[dict], batch: dict) -> str:
    profiles = [p for p in ("default", "paper", "smoke") if any(r["profile"] == p for r in records)]
    by_dir = {(r["dir"], r["profile"]): r for r in records}
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>cnnexplain reproduction report</title>"
           f"<style>{STYLE}</style></head><body>",
           "<h1>cnnexplain reproduction report</h1>",
           f"<p>Last batch: profile <code>{html.escape(batch['profile'])}</code>, started "
           f"{html.escape(str(batch['started']))}, {batch['ok']} notebooks ok, {batch['failed']} failed. "
           "Each verdict says which profile's run it speaks for; smoke runs only prove the code runs.</p>",
           "<h2>Summary per paper</h2><table><tr><th>paper</th><th>profile</th><th>claims</th>"
           + "".join(f"<th>{html.escape(v)}</th>" for v in VERDICTS) + "<th></th></tr>"]
    for title, claims in papers.items():
        for profile in profiles:
            counts = Counter(e["by_profile"][profile]["verdict"] for e in claims.values() if profile in e["by_profile"])
            total = sum(counts.values())
            if not total:
                continue
            bar = "".join(f'<span style="width:{100 * counts.get(v, 0) / total:.1f}%;background:{COLOURS[v]}" '
                          f'title="{v}: {counts.get(v, 0)}"></span>' for v in VERDICTS)
            out.append(f"<tr><td><a href='#{_anchor(title)}'>{html.escape(title)}</a></td><td>{profile}</td>"
                       f"<td>{total}</td>" + "".join(f"<td>{counts.get(v, 0)}</td>" for v in VERDICTS)
                       + f"<td><div class='bar'>{bar}</div></td></tr>")
    out.append("</table>")
    for title, claims in papers.items():
        out.append(f"<h2 id='{_anchor(title)}'>{html.escape(title)}</h2>")
        groups: dict[str, list] = {}
        for claim_id, entry in claims.items():
            groups.setdefault(claim_id.split("__", 1)[0], []).append((claim_id, entry))
        out.append("<table><tr><th>claim</th><th>owner</th><th>paper</th>"
                   + "".join(f"<th>ours ({p})</th><th>verdict ({p})</th>" for p in profiles)
                   + "<th>figure</th></tr>")
        for group, members in groups.items():
            if len(members) > 1:
                out.append(f"<tr><th colspan='{4 + 2 * len(profiles)}'>{html.escape(group)} "
                           f"({len(members)} cells)</th></tr>")
            for claim_id, entry in members:
                claim = entry["claim"]
                cells = []
                for p in profiles:
                    c = entry["by_profile"].get(p)
                    cells.append(f"<td>{html.escape(_fmt(c['ours']))}</td><td>{_badge(c['verdict'])}"
                                 f"<div class='rule'>{html.escape(c.get('note') or '')}</div></td>"
                                 if c else "<td>—</td><td>—</td>")
                record = next((by_dir.get((entry["owner"], p)) for p in profiles if by_dir.get((entry["owner"], p))), None)
                thumb = figure_for(claim, record)
                out.append(
                    f"<tr id='claim-{html.escape(claim_id)}' class='claim'><td><b>{html.escape(claim['statement'])}</b>"
                    f"<div class='rule'>{html.escape(str(claim.get('source', '')))} · <code>{html.escape(claim_id)}</code>"
                    f"<br>rule: {html.escape(claim.get('criterion') or '—')}</div></td>"
                    f"<td>{html.escape(entry['owner'])}</td><td>{html.escape(_fmt(claim['paper']))}</td>"
                    + "".join(cells)
                    + (f"<td><a href='{html.escape(thumb)}'><img class='thumb' src='{html.escape(thumb)}' "
                       f"alt='{html.escape(claim_id)} figure'></a></td>" if thumb else "<td></td>") + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def write_html(results_dir: Path, papers: dict, records: list[dict], batch: dict) -> Path:
    path = Path(results_dir) / "index.html"
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(render_html(papers, records, batch))
    tmp.replace(path)
    return path
