"""Results: where outputs go, claims, refusals of bad names and verdicts; seeding; device; download."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

import cnnexplain
from cnnexplain.data import download
from cnnexplain.notebook import results
from cnnexplain.data.sources import DataUnavailableError


def test_outputs_land_in_the_runner_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(results.OUTPUT_DIR_ENV, str(tmp_path / "run"))
    out = cnnexplain.setup_notebook("07_demo", "smoke", 3)
    fig, ax = plt.subplots()
    assert out.figure(fig, "fig1_demo") == tmp_path / "run" / "fig1_demo.png"
    out.table(pd.DataFrame({"a": [1, 2]}), "table1_demo")
    assert (tmp_path / "run" / "table1_demo.csv").read_text().splitlines() == ["a", "1", "2"]
    out.value("pearson", torch.tensor(0.5))
    assert json.loads((tmp_path / "run" / "values.json").read_text()) == {"pearson": 0.5}


def test_values_tables_timer_and_finish_record_what_the_notebooks_used_to_loop_over(tmp_path):
    out = results.Results("07_demo", "default", 0, output_dir=tmp_path)
    assert out.values({"a": 1, "b": torch.tensor(2.0)}) == {"a": 1, "b": torch.tensor(2.0)}
    out.tables({"t1": pd.DataFrame({"x": [1]}), "t2": pd.DataFrame({"y": [2]})})
    with out.timer("time_block_s"):
        pass
    wall = out.finish()
    values = json.loads((tmp_path / "values.json").read_text())
    assert values["a"] == 1 and values["b"] == 2.0 and values["time_block_s"] >= 0
    assert values["notebook_seconds"] == round(wall, 1) and values["notebook_cpu_seconds"] >= 0
    assert (tmp_path / "t1.csv").exists() and (tmp_path / "t2.csv").exists()


def test_claims_are_recorded_and_replaced_by_id(tmp_path):
    out = results.Results("07_demo", "default", 0, output_dir=tmp_path)
    out.claim("acc", "Table 1", "accuracy above 99%", paper=0.99, ours=0.5, verdict="not reproduced",
              note="tiny data")
    out.claim("acc", "Table 1", "accuracy above 99%", paper=0.99, ours=0.995, verdict="reproduced")
    out.claim("nan", "Fig. 2", "a value", paper="n/a", ours=float("nan"), verdict="not checked")
    claims = out.claims()
    assert [c.claim_id for c in claims] == ["acc", "nan"]
    assert claims[0].ours == 0.995 and claims[1].ours == "nan"


def test_bad_verdict_profile_and_names_are_refused(tmp_path):
    out = results.Results("07_demo", "default", 0, output_dir=tmp_path)
    with pytest.raises(ValueError, match="verdict"):
        out.claim("x", "Fig. 1", "s", 1, 1, verdict="kind of")
    with pytest.raises(ValueError, match="smoke, default, paper"):
        results.Results("07_demo", "fast", 0, output_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        out.table(pd.DataFrame(), "../escape")


def test_same_seed_same_numbers():
    cnnexplain.seed_everything(5)
    a = torch.randn(4)
    cnnexplain.seed_everything(5)
    assert torch.equal(a, torch.randn(4))
    with pytest.raises(ValueError):
        cnnexplain.seed_everything(-1)


def test_device_choice_refuses_missing_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cnnexplain.choose_device().type == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        cnnexplain.choose_device("cuda")


def test_fetch_uses_cache_and_checks_the_checksum(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"hello weights")
    digest = download.sha256sum(source)
    target = download.fetch(source.as_uri(), digest, directory=tmp_path / "cache")
    assert target.read_bytes() == b"hello weights"
    source.unlink()  # now only the cache can serve it
    assert download.fetch(source.as_uri(), digest, directory=tmp_path / "cache") == target
    other = tmp_path / "other.bin"
    other.write_bytes(b"tampered")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download.fetch(other.as_uri(), digest, directory=tmp_path / "cache2")
    assert not list((tmp_path / "cache2").iterdir())


def test_fetch_offline_error_names_the_file_and_the_way_out(tmp_path):
    with pytest.raises(DataUnavailableError, match="default profile") as error:
        download.fetch("http://127.0.0.1:9/vgg19.pth", "0" * 64, directory=tmp_path, timeout=2)
    assert "vgg19.pth" in str(error.value)


def test_paper_mnist_missing_stops_with_instructions(tmp_path):
    from cnnexplain.data import sources as data

    with pytest.raises(DataUnavailableError, match="DATA_ROOT"):
        data.mnist(tmp_path)


def test_progress_is_silent_when_headless(monkeypatch):
    from cnnexplain.progress import progress

    monkeypatch.setenv("CNNEXPLAIN_HEADLESS", "1")
    assert progress(range(3)).disable
    monkeypatch.setenv("CNNEXPLAIN_HEADLESS", "0")
    bar = progress(range(3))
    assert not bar.disable and list(bar) == [0, 1, 2]


def test_setup_notebook_sets_torch_threads_and_refuses_bad_counts(tmp_path):
    before = torch.get_num_threads()
    try:
        cnnexplain.setup_notebook("07_demo", "smoke", 0, output_dir=tmp_path, threads=2)
        assert torch.get_num_threads() == 2
        cnnexplain.setup_notebook("07_demo", "smoke", 0, output_dir=tmp_path, threads=0)
        assert torch.get_num_threads() == 2  # 0 keeps what is set
        for bad in (-1, 1.5, True, "2"):
            with pytest.raises(ValueError, match="threads must be a non-negative int"):
                cnnexplain.setup_notebook("07_demo", "smoke", 0, output_dir=tmp_path, threads=bad)
    finally:
        torch.set_num_threads(before)
