"""results/index.html in a real browser: every claim present, no broken image, a screenshot."""

from __future__ import annotations

import json

import pytest

from test_browser import CHROMIUM, CHROMIUM_ARGS, _requirements_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _fake_results(root):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    claims = {}
    for i, verdict in enumerate(["reproduced", "partly reproduced", "not reproduced", "not checked"]):
        claims[f"claim{i}"] = {"claim_id": f"claim{i}", "source": "Fig. 3", "statement": f"statement {i}",
                               "paper": 0.9, "ours": 0.1 * i, "verdict": verdict, "note": "why",
                               "paper_key": "jung", "owner": "10_nb", "criterion": "reproduced if >= 0.9",
                               "profile": "default", "paper_title": "Jung et al."}
    folder = root / "10_nb"
    folder.mkdir(parents=True)
    (folder / "claims.json").write_text(json.dumps(claims))
    (folder / "run.json").write_text(json.dumps({"profile": "default", "status": "ok", "duration_s": 1.0,
                                                 "start": "t", "seed": 0}))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(folder / "fig3_ranks.png")
    plt.close(fig)
    return list(claims)


def test_index_html_shows_every_claim_and_its_figure(tmp_path):
    _requirements_or_skip()
    from playwright.sync_api import sync_playwright

    from cnnexplain.notebook.report import write_report

    ids = _fake_results(tmp_path)
    write_report(tmp_path, [], started="t", profile="default")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((tmp_path / "index.html").as_uri())
            for claim_id in ids:
                assert page.locator(f"#claim-{claim_id}").is_visible()
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            assert page.evaluate("document.images.length") == len(ids) and broken == 0
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "index.png").stat().st_size > 1000
