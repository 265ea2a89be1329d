"""The batch runner: refusals (exit 2), failures named by notebook and cell, atomic results."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnexplain.notebook import reproduce
from helpers import write_notebook

ROOT = Path(__file__).resolve().parents[1]
WRITES_OUTPUT = (
    "import os, pathlib, json\n"
    "out = pathlib.Path(os.environ['CNNEXPLAIN_OUTPUT_DIR'])\n"
    "(out / 'marker.txt').write_text(f'{PROFILE} {VALUE}')"
)


@pytest.fixture
def project(tmp_path):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "01_good.ipynb", "PROFILE = 'default'\nSEED = 0\nVALUE = 1", WRITES_OUTPUT)
    write_notebook(notebooks / "02_bad.ipynb", "PROFILE = 'default'\nSEED = 0",
                   "x = 1", "raise ValueError('boom from the notebook')")
    (notebooks / "profiles.toml").write_text("[01_good.smoke]\nVALUE = 7\n")
    return tmp_path


def run_main(project, *args):
    return reproduce.main(["--notebooks-dir", str(project / "notebooks"),
                           "--results-dir", str(project / "results"), *args])


def test_unknown_profile_exits_2_naming_valid_profiles(project, capsys):
    assert run_main(project, "--profile", "nonsense") == 2
    err = capsys.readouterr().err
    assert "nonsense" in err and "smoke, default, paper" in err


def test_unknown_profile_from_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "cnnexplain.notebook.reproduce", "--profile", "nonsense"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "lib")})
    assert proc.returncode == 2
    assert "smoke, default, paper" in proc.stderr


def test_unknown_notebook_exits_2(project, capsys):
    assert run_main(project, "--notebooks", "99_missing") == 2
    assert "99_missing" in capsys.readouterr().err


def test_override_of_undefined_parameter_exits_2(project, capsys):
    (project / "notebooks" / "profiles.toml").write_text("[01_good.smoke]\nNOT_A_PARAMETER = 3\n")
    assert run_main(project, "--profile", "smoke", "--notebooks", "01_good") == 2
    assert "NOT_A_PARAMETER" in capsys.readouterr().err


def test_profiles_file_with_unknown_profile_or_notebook_exits_2(project, capsys):
    (project / "notebooks" / "profiles.toml").write_text("[01_good.quick]\nVALUE = 3\n")
    assert run_main(project, "--notebooks", "01_good") == 2
    (project / "notebooks" / "profiles.toml").write_text("[03_gone.smoke]\nVALUE = 3\n")
    assert run_main(project, "--notebooks", "01_good") == 2
    assert "03_gone" in capsys.readouterr().err


def test_notebook_without_parameters_cell_exits_2(project, capsys):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("PROFILE = 'default'")]
    nbformat.write(nb, project / "notebooks" / "03_untagged.ipynb")
    assert run_main(project, "--notebooks", "03_untagged") == 2
    assert "parameters" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_keeps_going_and_names_the_failed_cell(project, capsys):
    assert run_main(project, "--profile", "smoke") == 1
    captured = capsys.readouterr()
    assert "1 notebooks ok, 1 failed" in captured.out
    assert "02_bad" in captured.err and "boom from the notebook" in captured.err
    assert "raise ValueError" in captured.err  # the failing cell's source is named
    root = project / "results"
    results = root / "smoke"  # a profile other than default writes results/<profile>/<notebook>/
    assert (results / "01_good" / "marker.txt").read_text() == "smoke 7"  # override injected
    run = json.loads((results / "01_good" / "run.json").read_text())
    assert run["status"] == "ok" and run["parameters"]["VALUE"] == 7 and run["seed"] == 0
    assert run["versions"]["torch"].startswith("2.13.0")
    bad = json.loads((results / "02_bad" / "run.json").read_text())
    assert bad["status"] == "failed" and "raise ValueError" in bad["failed_cell"]
    assert (results / "02_bad" / "02_bad.ipynb").exists()  # executed notebook kept to show the error
    summary = json.loads((root / "summary.json").read_text())
    assert summary["ok"] == 1 and summary["failed"] == 1
    report = (root / "REPORT.md").read_text()
    assert "01_good" in report and "boom from the notebook" in report
    assert not list(results.glob(".tmp-*")) and not list(results.glob(".old-*"))


def test_promote_replaces_atomically_and_recover_restores(tmp_path):
    final, tmp = tmp_path / "nb", tmp_path / ".tmp-nb-1"
    final.mkdir(); (final / "a.txt").write_text("old")
    tmp.mkdir(); (tmp / "a.txt").write_text("new")
    reproduce.promote(tmp, final)
    assert (final / "a.txt").read_text() == "new" and not tmp.exists()
    # A run killed between the two renames of a swap: the old result is moved away, nothing replaced it.
    os.rename(final, tmp_path / ".old-nb")
    (tmp_path / ".tmp-nb-999999999").mkdir()
    reproduce.recover(tmp_path)
    assert (final / "a.txt").read_text() == "new"
    assert not (tmp_path / ".old-nb").exists() and not (tmp_path / ".tmp-nb-999999999").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_previous_results_intact(project, sig):
    root = project / "results"
    results = root / "smoke"
    old = results / "01_good"
    old.mkdir(parents=True)
    (old / "marker.txt").write_text("previous run")
    write_notebook(project / "notebooks" / "01_good.ipynb", "PROFILE = 'default'\nSEED = 0\nVALUE = 1",
                   WRITES_OUTPUT, "import time; time.sleep(60)")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnexplain.notebook.reproduce", "--notebooks", "01_good", "--profile", "smoke",
         "--notebooks-dir", str(project / "notebooks"), "--results-dir", str(root)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "lib")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(results.glob(".tmp-01_good-*/marker.txt")):
        time.sleep(0.2)
    assert list(results.glob(".tmp-01_good-*/marker.txt")), "the notebook never started writing"
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    if sig == signal.SIGKILL:  # nothing could clean up; the kernel notices its parent died and exits
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert (old / "marker.txt").read_text() == "previous run"
    reproduce.recover(results)  # the next run's first step
    assert (old / "marker.txt").read_text() == "previous run"
    assert not list(results.glob(".tmp-*"))


def test_parameters_cell_must_hold_literals_only(project, capsys):
    write_notebook(project / "notebooks" / "04_computed.ipynb", "PROFILE = 'default'\nSEED = 0\nN = 2 * SEED")
    assert run_main(project, "--notebooks", "04_computed") == 2
    assert "NAME = literal" in capsys.readouterr().err


def test_comments_with_equals_signs_do_not_hide_parameters(project):
    path = write_notebook(project / "notebooks" / "05_comment.ipynb",
                          "PROFILE = 'default'  # smoke = CI\nSEED = 0\nTHREADS = 1  # (0 = torch's default)")
    from cnnexplain.notebook.profiles import notebook_parameters

    assert notebook_parameters(path) == {"PROFILE": "default", "SEED": 0, "THREADS": 1}


def _fake_run(folder, profile, claims):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"profile": profile, "status": "ok", "duration_s": 1.0,
                                                 "start": "t", "seed": 0, "git_commit": "abc"}))
    (folder / "claims.json").write_text(json.dumps({c["claim_id"]: c for c in claims}))


def _claim(claim_id, verdict, ours, owner="10_nb", paper="Jung et al."):
    return {"claim_id": claim_id, "source": "Fig. 3", "statement": f"statement {claim_id}", "paper": 0.9,
            "ours": ours, "verdict": verdict, "note": "", "paper_key": "jung", "owner": owner,
            "criterion": "reproduced if >= 0.9", "profile": "", "paper_title": paper}


def test_report_counts_verdicts_per_paper_and_shows_profiles_side_by_side(tmp_path):
    from cnnexplain.notebook.report import collect, render

    _fake_run(tmp_path / "10_nb", "default", [_claim("a", "reproduced", 0.95), _claim("b", "not reproduced", 0.1)])
    _fake_run(tmp_path / "paper" / "10_nb", "paper", [_claim("a", "partly reproduced", 0.6666666865348816),
                                                      _claim("b", "not reproduced", 0.2)])
    _fake_run(tmp_path / "20_nb", "default", [_claim("c", "reproduced", 1, owner="20_nb", paper="Aamir et al.")])
    report = render(collect(tmp_path), {"profile": "default", "started": "t", "ok": 2, "failed": 0})
    assert "| Jung et al. | default | 2 | 1 | 0 | 1 | 0 |" in report
    assert "| Jung et al. | paper | 2 | 0 | 1 | 1 | 0 |" in report
    assert "| Aamir et al. | default | 1 | 1 | 0 | 0 | 0 |" in report
    assert "ours (default) | verdict (default) | ours (paper) | verdict (paper)" in report
    row = next(line for line in report.splitlines() if "(`a`)" in line)
    assert "**reproduced**" in row and "**partly reproduced**" in row and "0.6667" in row and "| 10_nb |" in row
    assert report.count("(`a`)") == 1  # every claim once


def test_html_report_lists_every_claim_with_its_figure(tmp_path):
    from cnnexplain.notebook.report import write_report

    _fake_run(tmp_path / "10_nb", "default", [_claim("a", "reproduced", 0.95), _claim("t__x", "not reproduced", 0.1),
                                              _claim("t__y", "reproduced", 0.3)])
    (tmp_path / "10_nb" / "fig3_ranks.png").write_bytes(b"png")
    write_report(tmp_path, [], started="t", profile="default")
    page = (tmp_path / "index.html").read_text()
    assert page.count("class='claim'") == 3 and "10_nb/fig3_ranks.png" in page
    assert "t (2 cells)" in page  # grouped rows for a table's cells
    assert (tmp_path / "REPORT.md").exists()
