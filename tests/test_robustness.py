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
