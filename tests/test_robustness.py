"""Bad input gets a clear error, never a silent wrong result (issue 18): the influence test-side cache,
NaN/inf inputs, eval mode, labels, batch sizes, style inputs, NeuroView dtypes."""

import math

import pytest
import torch
from torch import nn

from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence, layerwise_influence


def small_cnn(dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(18, 6), nn.ReLU(), nn.Linear(6, 3)).to(dtype).eval()


def data(n, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)


@pytest.fixture(scope="module")
def setup():
    model = small_cnn()
    x_train, y_train = data(20, 1)
    return model, x_train, y_train


# ---------------------------------------------------------------------------------------------------
# item 1: the test-side cache


def test_test_side_cache_is_not_fooled_by_a_reused_tensor_id(setup):
    """A freed temporary test tensor's id is reused by the next one; the cache must not return the
    previous test set's scores."""
    model, x_train, y_train = setup
    xa, y = data(3, 2)
    xb, _ = data(3, 3)
    calc = LayerwiseInfluence(model, x_train, y_train, damping=1e-2)
    first = calc.scores(xa.clone(), y, x_train, y_train, progress=False).layers
    second = calc.scores(xb.clone(), y, x_train, y_train, progress=False).layers
    fresh = LayerwiseInfluence(model, x_train, y_train, damping=1e-2).scores(xb, y, x_train, y_train,
                                                                             progress=False).layers
    assert not torch.allclose(first, second)
    torch.testing.assert_close(second, fresh)


def test_test_side_cache_sees_in_place_changes_and_new_damping(setup):
    model, x_train, y_train = setup
    x, y = data(3, 2)
    calc = LayerwiseInfluence(model, x_train, y_train, damping=1e-2)
    first = calc.scores(x, y, x_train, y_train, progress=False).layers
    x.data.mul_(2.0)  # .data bypasses the version counter
    changed = calc.scores(x, y, x_train, y_train, progress=False).layers
    assert not torch.allclose(first, changed)
    calc.damping = 1.0
    damped = calc.scores(x, y, x_train, y_train, progress=False).layers
    assert not torch.allclose(changed, damped)
    again = calc.scores(x, y, x_train, y_train, progress=False).layers
    torch.testing.assert_close(damped, again)


# ---------------------------------------------------------------------------------------------------
# item 5: bad input gets a clear error naming what is wrong


@pytest.mark.parametrize("where", ["test", "train", "hessian"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input_is_refused_naming_the_example(setup, where, bad):
    model, x_train, y_train = setup
    x_test, y_test = data(4, 2)
    x_hessian, y_hessian = x_train.clone(), y_train
    target = {"test": x_test, "train": x_train.clone(), "hessian": x_hessian}[where]
    target[2, 0, 3, 3] = bad
    x_tr = target if where == "train" else x_train
    what = {"test": "test data", "train": "training data", "hessian": "Hessian"}[where]
    with pytest.raises(ValueError, match=rf"(?s){what}.*example 2.*(nan|inf)"):
        layerwise_influence(model, x_test, y_test, x_tr, y_train, x_hessian=x_hessian, y_hessian=y_hessian,
                            damping=1e-2, progress=False)


class UsesTrainingFlag(nn.Module):
    def forward(self, x):
        return x * 0.5 if self.training else x


@pytest.mark.parametrize("layer", [nn.Dropout1d(0.5), nn.FeatureAlphaDropout(0.5), nn.RReLU(),
                                   nn.InstanceNorm2d(2, track_running_stats=True), UsesTrainingFlag()],
                         ids=lambda m: type(m).__name__)
def test_eval_mode_check_covers_every_training_dependent_module(layer):
    x, y = data(6, 1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), layer, nn.ReLU(), nn.Flatten(), nn.Linear(72, 3)).double()
    model.eval()
    layer.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"training mode.*model\.eval\(\)"):
        LayerwiseInfluence(model, x, y)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), f"{k} was changed by the refused call"


def test_instance_norm_without_running_stats_is_deterministic_and_allowed():
    x, y = data(6, 1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(72, 3))
    model = model.double().eval()
    model[1].train()  # computes the same in both modes
    LayerwiseInfluence(model, x, y)


def test_hessian_labels_out_of_range_are_refused(setup):
    model, x_train, y_train = setup
    with pytest.raises(ValueError, match=r"Hessian.*labels must lie in \[0, 2\]"):
        LayerwiseInfluence(model, x_train, torch.full_like(y_train, 3))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_integer_labels_of_any_width_work(setup, dtype):
    model, x_train, y_train = setup
    x, y = data(3, 2)
    reference = layerwise_influence(model, x, y, x_train, y_train, damping=1e-2, progress=False).layers
    narrow = layerwise_influence(model, x, y.to(dtype), x_train, y_train.to(dtype), damping=1e-2,
                                 progress=False).layers
    torch.testing.assert_close(narrow, reference)


@pytest.mark.parametrize("batch_size", [0, -3])
def test_non_positive_batch_size_is_refused(setup, batch_size):
    model, x_train, y_train = setup
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        LayerwiseInfluence(model, x_train, y_train, batch_size=batch_size)


@pytest.mark.parametrize("damping", [math.nan, -1.0, math.inf])
def test_bad_damping_is_refused(setup, damping):
    model, x_train, y_train = setup
    x, y = data(3, 2)
    with pytest.raises(ValueError, match="damping"):
        layerwise_influence(model, x, y, x_train, y_train, damping=damping, progress=False)


def test_influential_scores_refuse_non_finite_input_naming_the_example():
    from cnnexplain.methods.influential_scores.fast import influential_scores

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    x = torch.randn(3, 4)
    x[1, 2] = math.nan
    with pytest.raises(ValueError, match=r"example 1.*nan"):
        influential_scores(model, x)


def test_influential_scores_leave_the_callers_input_and_layer_values_alone():
    from cnnexplain.methods.influential_scores.fast import influential_scores, snapshot

    torch.manual_seed(0)
    plain = nn.Sequential(nn.ReLU(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    inplace = nn.Sequential(nn.ReLU(inplace=True), plain[1], nn.ReLU(inplace=True), plain[3]).eval()
    x = torch.randn(5, 4)
    before = x.clone()
    scores = influential_scores(inplace, x)
    assert torch.equal(x, before), "the caller's x was changed by an in-place ReLU"
    torch.testing.assert_close(scores, influential_scores(plain, x))
    for a, b in zip(snapshot(inplace, x).values, snapshot(plain, x).values):
        torch.testing.assert_close(a, b)


# style inputs ---------------------------------------------------------------------------------------

def test_style_image_below_the_extractors_smallest_side_is_refused():
    from cnnexplain.methods.style import transfer

    with pytest.raises(ValueError, match=r"style.*8×8.*16"):
        transfer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 8, 8), steps=1, progress=False)


def test_content_image_below_the_extractors_smallest_side_is_refused():
    from cnnexplain.methods.style import transfer

    with pytest.raises(ValueError, match=r"content.*8×8.*16"):
        transfer(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32), steps=1, progress=False)


@pytest.mark.parametrize("scale", [255.0, -1.0])
def test_images_outside_0_1_are_refused(scale):
    from cnnexplain.methods.style import colour_transfer, transfer

    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        transfer(torch.rand(1, 3, 32, 32) * scale, torch.rand(1, 3, 32, 32), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        colour_transfer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32) * scale)


def test_colour_transfer_of_a_single_pixel_style_is_refused():
    from cnnexplain.methods.style import colour_transfer

    with pytest.raises(ValueError, match="at least 2 pixels"):
        colour_transfer(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 1, 1))


# NeuroView ------------------------------------------------------------------------------------------

def test_neuroview_takes_a_float64_backbone():
    from cnnexplain.methods.neuroview import NeuroView

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU()).double()
    model = NeuroView(backbone, num_classes=3, input_shape=(1, 12, 12))
    out = model(torch.rand(2, 1, 12, 12, dtype=torch.float64))
    assert out.shape == (2, 3) and out.dtype == torch.float64 and torch.isfinite(out).all()


# ---------------------------------------------------------------------------------------------------
# item 6: tests write only into temporary folders; cache keys follow the code


def test_cache_is_redirected_for_the_whole_session():
    """What a notebook or test caches (trained models, stylized images) goes to the session's temporary
    cache, never to ~/.cache/cnnexplain (conftest sets CNNEXPLAIN_CACHE before anything runs)."""
    from pathlib import Path

    from cnnexplain.data.download import cache_dir
    from cnnexplain.papers.aamir.study import StudyConfig, build_study

    home_cache = (Path.home() / ".cache" / "cnnexplain").resolve()
    assert home_cache not in cache_dir().resolve().parents and cache_dir().resolve() != home_cache
    study = build_study(StudyConfig(n_train_per_class=1, n_test_per_class=1, image_size=32, epochs=1,
                                    width=2, hidden=8, style_method="colour"), progress=False)
    assert study.cache is not None and (study.cache / "model.pt").is_file()
    assert home_cache not in study.cache.resolve().parents


def test_a_test_run_leaves_the_home_cache_untouched(tmp_path):
    """A `make test`-style run (no CNNEXPLAIN_CACHE set, HOME pointing at an empty folder) of a test
    that caches a trained study writes nothing under $HOME/.cache/cnnexplain."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CNNEXPLAIN_CACHE", "DATA_ROOT",
                                                             "CNNEXPLAIN_TEST_CACHE", "PYTEST_XDIST_WORKER")}
    env.update(HOME=str(home), PYTHONPATH=str(root / "lib"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/test_robustness.py::test_cache_is_redirected_for_the_whole_session"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if "cnnexplain" in str(p))
    assert not written, f"the test run wrote into the home folder: {written[:10]}"


def test_source_key_follows_settings_and_code(tmp_path, monkeypatch):
    import importlib
    import sys

    from cnnexplain.cache import source_key

    (tmp_path / "builder_mod.py").write_text("def build(n):\n    return list(range(n))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import builder_mod

    first = source_key({"n": 3}, builder_mod.build)
    assert first == source_key({"n": 3}, builder_mod.build) and first != source_key({"n": 4}, builder_mod.build)
    (tmp_path / "builder_mod.py").write_text("def build(n):\n    return list(range(n + 1))\n")
    importlib.reload(builder_mod)
    assert source_key({"n": 3}, builder_mod.build) != first
    sys.modules.pop("builder_mod", None)
    with pytest.raises(ValueError, match="needs the code"):
        source_key({"n": 3})


def test_study_cache_key_changes_with_the_code_that_builds_the_study(monkeypatch):
    """No hand-bumped version: editing the world, the training loop, the net or the study builder
    gives a new cache folder."""
    from cnnexplain import cache
    from cnnexplain.data import world
    from cnnexplain.papers.aamir import study

    assert not hasattr(study, "STUDY_CACHE_VERSION")
    config = study.StudyConfig()
    before = config.key()
    real = cache.source_text
    for edited in (world, study.build_study):
        monkeypatch.setattr(cache, "source_text", lambda obj, e=edited: real(obj) + ("#edit" if obj is e else ""))
        assert config.key() != before, f"editing {edited} left the study key unchanged"
    monkeypatch.setattr(cache, "source_text", real)
    assert config.key() == before


def test_influence_cache_key_changes_with_the_influence_code(tmp_path, monkeypatch):
    """A change to the influence code (e.g. its sign convention) must not reuse cached scores."""
    from cnnexplain import cache
    from cnnexplain.methods.influence_functions import layerwise
    from cnnexplain.papers.aamir import study as aamir

    config = aamir.StudyConfig(n_train_per_class=2, n_test_per_class=1, image_size=32, width=2, hidden=8,
                               epochs=1, style_method="colour")
    built = aamir.build_study(config, cache_root=tmp_path, progress=False)
    small = built.subset(1)
    small.x_test, small.y_test = small.x_test[:2], small.y_test[:2]
    kwargs = dict(damping=1e-1, n_hessian=8, cg_iterations=5, batch_size=16, progress=False)
    aamir.compute_influence(small, **kwargs)
    assert aamir.compute_influence(small, **kwargs)[2].get("from_cache")
    real = cache.source_text
    monkeypatch.setattr(cache, "source_text", lambda obj: real(obj) + ("#edit" if obj is layerwise else ""))
    assert not aamir.compute_influence(small, **kwargs)[2].get("from_cache")
    assert len(list(built.cache.glob("influence_*.pt"))) == 2


def test_non_finite_scores_raise_instead_of_being_returned(setup, monkeypatch):
    """Finite inputs whose gradients still overflow: an error naming the pair, not NaN scores and
    arbitrary most_influential indices."""
    from cnnexplain.methods.influence_functions import layerwise

    model, x_train, y_train = setup
    x, y = data(2, 2)
    real = layerwise.per_sample_grads

    def overflowing(fn, xb, yb, blocks=None):
        grads = real(fn, xb, yb, blocks)
        if len(xb) == len(x_train):  # the training pass
            grads[0][3] = math.inf
        return grads

    monkeypatch.setattr(layerwise, "per_sample_grads", overflowing)
    with pytest.raises(FloatingPointError, match=r"training example 3 .*overflow"):
        layerwise_influence(model, x, y, x_train, y_train, damping=1e-1, progress=False)


def test_parameters_changed_in_place_rebuild_the_cached_block_hessians(setup):
    """Training the model further (in place) after a first call: the dense block Hessians built for the
    first call must not be reused with the new parameters."""
    _, x_train, y_train = setup
    model = small_cnn()
    x, y = data(3, 2)
    calc = LayerwiseInfluence(model, x_train, y_train, damping=1e-2, hessian="jacobian", solver="exact")
    calc.scores(x, y, x_train, y_train, progress=False)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    after = calc.scores(x, y, x_train, y_train, progress=False).layers
    fresh = LayerwiseInfluence(model, x_train, y_train, damping=1e-2, hessian="jacobian", solver="exact")
    torch.testing.assert_close(after, fresh.scores(x, y, x_train, y_train, progress=False).layers)


def test_batchnorm_without_running_statistics_is_refused_even_in_eval_mode():
    """Such a BatchNorm normalises with the batch's own statistics in eval mode too: per-sample
    gradients (a batch of one) would be those of a different function."""
    x, y = data(6, 1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(72, 3)).double().eval()
    with pytest.raises(ValueError, match="running statistics"):
        LayerwiseInfluence(model, x, y)
