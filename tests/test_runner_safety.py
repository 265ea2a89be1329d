"""The batch runner never destroys results on bad input or between concurrent runners (issue 18):
validated options (exit 2), a refused missing profiles file, overrides papermill cannot inject refused
before anything runs, a results-folder lock honoured by recover(), promote that cannot be interleaved."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cnnexplain.notebook import reproduce
from helpers import write_notebook

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "01_good.ipynb", "PROFILE = 'default'\nSEED = 0\nVALUE = 1",
                   "import os, pathlib\nout = pathlib.Path(os.environ['CNNEXPLAIN_OUTPUT_DIR'])\n"
                   "(out / 'marker.txt').write_text(f'{PROFILE} {VALUE}')")
    (notebooks / "profiles.toml").write_text("[01_good.smoke]\nVALUE = 7\n")
    previous = tmp_path / "results" / "01_good"
    previous.mkdir(parents=True)
    (previous / "marker.txt").write_text("previous run")
    return tmp_path


def run_main(project, *args):
    return reproduce.main(["--notebooks-dir", str(project / "notebooks"),
                           "--results-dir", str(project / "results"), *args])


def previous_intact(project):
    folder = project / "results" / "01_good"
    return sorted(p.name for p in folder.iterdir()) == ["marker.txt"] and \
        (folder / "marker.txt").read_text() == "previous run"


# item 2 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "-inf"])
def test_bad_timeout_exits_2_and_keeps_previous_results(project, capsys, value):
    assert run_main(project, "--notebooks", "01_good", f"--timeout={value}") == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and "positive" in err
    assert previous_intact(project)


def test_results_dir_that_is_a_file_exits_2(tmp_path, project, capsys):
    target = tmp_path / "a_file"
    target.write_text("not a folder")
    code = reproduce.main(["--notebooks-dir", str(project / "notebooks"), "--results-dir", str(target),
                           "--notebooks", "01_good"])
    assert code == 2
    assert "results" in capsys.readouterr().err and target.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_results_dir_exits_2(project, capsys):
    results = project / "results"
    results.chmod(0o555)
    try:
        assert run_main(project, "--notebooks", "01_good") == 2
    finally:
        results.chmod(0o755)
    assert "writable" in capsys.readouterr().err


# item 3 -------------------------------------------------------------------------------------------

def test_missing_profiles_file_is_refused(project, capsys):
    (project / "notebooks" / "profiles.toml").unlink()
    assert run_main(project, "--profile", "smoke", "--notebooks", "01_good") == 2
    assert "profiles.toml" in capsys.readouterr().err
    assert previous_intact(project)


@pytest.mark.parametrize("value", ["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "[1979-05-27]",
                                   "{ when = 1979-05-27 }"])
def test_toml_datetime_override_is_refused_before_running(project, capsys, value):
    (project / "notebooks" / "profiles.toml").write_text(f"[01_good.smoke]\nVALUE = {value}\n")
    assert run_main(project, "--profile", "smoke", "--notebooks", "01_good") == 2
    err = capsys.readouterr().err
    assert "VALUE" in err and "date" in err.lower()
    assert previous_intact(project)
    assert not list((project / "results").glob(".tmp-*"))


# item 4 -------------------------------------------------------------------------------------------

LOCK = getattr(reproduce, "LOCK_NAME", ".runner.lock")  # (so that today's main fails on behaviour, not a name)


def foreign_lock(results: Path, host="other-container", pid=12345):
    results.mkdir(parents=True, exist_ok=True)
    (results / LOCK).write_text(json.dumps({"host": host, "pid": pid, "since": "now"}))


def test_recover_leaves_a_live_run_of_another_host_alone(tmp_path):
    """Two containers share a results folder: the other's pid is not visible here, its lock says it runs."""
    foreign_lock(tmp_path)
    live = tmp_path / ".tmp-01_good-12345"
    live.mkdir()
    (live / "part.txt").write_text("being written")
    moved = tmp_path / ".old-02_x"
    moved.mkdir()
    reproduce.recover(tmp_path)
    assert (live / "part.txt").read_text() == "being written" and moved.exists()


def test_runner_refuses_a_results_dir_locked_by_another_runner(project, capsys):
    foreign_lock(project / "results")
    assert run_main(project, "--notebooks", "01_good") == 2
    err = capsys.readouterr().err
    assert "other-container" in err and "12345" in err and LOCK in err
    assert previous_intact(project)


def test_stale_lock_of_a_dead_runner_on_this_host_is_taken_over(project):
    foreign_lock(project / "results", host=socket.gethostname(), pid=999999999)
    (project / "results" / ".tmp-01_good-4242").mkdir()  # a dead run's leftovers, whatever its pid
    assert run_main(project, "--notebooks", "01_good") == 0
    results = project / "results"
    assert (results / "01_good" / "marker.txt").read_text() == "default 1"
    assert not list(results.glob(".tmp-*")) and not (results / LOCK).exists()


def test_leftover_tmp_with_a_reused_pid_is_removed_under_the_lock(tmp_path):
    """The pid in a leftover's name belongs to some unrelated live process now: the lock holder knows
    no other runner writes here, so the leftover goes."""
    leftover = tmp_path / f".tmp-01_good-{os.getppid()}"
    leftover.mkdir()
    with reproduce.ResultsLock(tmp_path) as lock:
        reproduce.recover(tmp_path, lock)
    assert not leftover.exists()


def test_promote_cannot_be_interleaved_with_another_runners_recover(tmp_path, monkeypatch):
    final, tmp = tmp_path / "nb", tmp_path / f".tmp-nb-{os.getpid()}"
    final.mkdir(); (final / "a.txt").write_text("old")
    tmp.mkdir(); (tmp / "a.txt").write_text("new")
    rename, calls = os.rename, []

    def rename_then_other_runner_recovers(src, dst):
        rename(src, dst)
        if not calls:
            calls.append(dst)
            subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from cnnexplain.notebook import reproduce; reproduce.recover(Path(sys.argv[1]))",
                            str(tmp_path)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "lib")})

    with reproduce.ResultsLock(tmp_path):
        monkeypatch.setattr(reproduce.os, "rename", rename_then_other_runner_recovers)
        reproduce.promote(tmp, final)
    assert (final / "a.txt").read_text() == "new"
    assert not list(tmp_path.glob(".old-*")) and not tmp.exists()


def test_lock_is_released_after_a_run_and_holds_host_and_pid(project):
    seen = {}
    real = reproduce.run_notebook

    def spy(*args, **kwargs):
        seen.update(json.loads((project / "results" / LOCK).read_text()))
        return real(*args, **kwargs)

    reproduce.run_notebook = spy
    try:
        assert run_main(project, "--notebooks", "01_good") == 0
    finally:
        reproduce.run_notebook = real
    assert seen["host"] == socket.gethostname() and seen["pid"] == os.getpid()
    assert not (project / "results" / LOCK).exists()


def test_lock_whose_pid_now_belongs_to_another_process_is_stale(project):
    """A killed runner's pid reused by some unrelated live process does not keep the folder locked."""
    if reproduce._process_start(os.getpid()) is None:
        pytest.skip("no /proc start times here")
    results = project / "results"
    (results / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(),
                                            "started": -1, "since": "then"}))
    assert run_main(project, "--notebooks", "01_good") == 0
    assert not (results / LOCK).exists()


def test_only_one_runner_holds_the_lock(tmp_path):
    with reproduce.ResultsLock(tmp_path):
        with pytest.raises(reproduce.ResultsLocked, match="in use by the runner"):
            reproduce.ResultsLock(tmp_path).acquire()
        code = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from cnnexplain.notebook import reproduce; reproduce.ResultsLock(Path(sys.argv[1])).acquire()",
                               str(tmp_path)], env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
                              capture_output=True, text=True)
        assert code.returncode != 0 and "ResultsLocked" in code.stderr
    reproduce.ResultsLock(tmp_path).acquire()  # released: free again
