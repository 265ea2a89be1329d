"""Property-based check of the influence entry points (issue 18): random small nets, shapes, dtypes,
damping values and bad inputs give either finite scores equal to a dense reference, or a clear error —
never NaN, never a stale (cached) result of an earlier call."""

import copy
import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.autograd.functional import hessian

from cnnexplain.methods.influence_functions.hvp import parameter_blocks
from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence
from cnnexplain.methods.influence_functions.solvers import SolverError

CLEAR_ERRORS = (ValueError, TypeError, SolverError, FloatingPointError)


def reference(model, x_train, y_train, x_test, y_test, blocks, damping):
    """−g_testᵀ (H_l + λI)⁻¹ g_train per block from explicit float64 Hessians, and each block's condition."""
    model = copy.deepcopy(model).double()  # .double() would convert the caller's model in place
    params = dict(model.named_parameters())
    x_train, x_test = x_train.double(), x_test.double()
    y_train, y_test = y_train.long(), y_test.long()
    out, conditions = [], []
    for block in blocks:
        names = block.param_names

        def mean_loss(*tensors):
            merged = {**{k: v.detach() for k, v in params.items()}, **dict(zip(names, tensors))}
            return nn.functional.cross_entropy(torch.func.functional_call(model, merged, (x_train,)), y_train)

        parts = hessian(mean_loss, tuple(params[n].detach() for n in names))
        sizes = [params[n].numel() for n in names]
        h = torch.cat([torch.cat([parts[i][j].reshape(sizes[i], sizes[j]) for j in range(len(names))], 1)
                       for i in range(len(names))])
        h = 0.5 * (h + h.T) + damping * torch.eye(len(h), dtype=h.dtype)
        eig = torch.linalg.eigvalsh(h)
        conditions.append(math.inf if eig.min() <= 0 else (eig.max() / eig.min()).item())

        def grads(x, y):
            rows = []
            for i in range(len(x)):
                g = torch.autograd.grad(nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]),
                                        [params[n] for n in names])
                rows.append(torch.cat([t.flatten() for t in g]))
            return torch.stack(rows)

        out.append(-grads(x_test, y_test) @ torch.linalg.lstsq(h, grads(x_train, y_train).T).solution)
    return torch.stack(out, -1), conditions


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    channels, side = draw(st.integers(1, 2)), draw(st.integers(4, 7))
    width, kernel = draw(st.integers(1, 3)), draw(st.integers(2, 3))
    hidden, classes = draw(st.integers(2, 5)), draw(st.integers(2, 4))
    activation = draw(st.sampled_from([nn.ReLU, nn.Tanh]))
    seed = draw(st.integers(0, 2 ** 16))
    torch.manual_seed(seed)
    flat = width * (side - kernel + 1) ** 2
    model = nn.Sequential(nn.Conv2d(channels, width, kernel), activation(), nn.Flatten(),
                          nn.Linear(flat, hidden), activation(), nn.Linear(hidden, classes)).to(dtype).eval()
    n_train, n_test = draw(st.integers(2, 8)), draw(st.integers(1, 3))
    g = torch.Generator().manual_seed(seed)
    x_train = torch.randn(n_train, channels, side, side, generator=g, dtype=dtype)
    y_train = torch.randint(0, classes, (n_train,), generator=g)
    tests = [torch.randn(n_test, channels, side, side, generator=g, dtype=dtype) for _ in range(2)]
    y_test = torch.randint(0, classes, (n_test,), generator=g)
    damping = draw(st.sampled_from([0.0, 1e-3, 1e-1, 0.3, 1.0, 3.0, -1e-2, math.nan, math.inf]))
    label_dtype = draw(st.sampled_from([torch.long, torch.int32]))
    fault = draw(st.sampled_from([None] * 6 + ["nan_test", "inf_train", "label_out_of_range"]))
    if fault == "nan_test":
        tests[1][-1, 0, 0, 0] = math.nan
    elif fault == "inf_train":
        x_train[0, 0, 1, 1] = math.inf
    elif fault == "label_out_of_range":
        y_test = y_test.clone()
        y_test[0] = classes
    return dict(model=model, x_train=x_train, y_train=y_train.to(label_dtype), tests=tests,
                y_test=y_test.to(label_dtype), damping=damping, hessian=draw(st.sampled_from(["auto", "hvp"])),
                batch_size=draw(st.integers(1, 4)), fault=fault, dtype=dtype)


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_scores_are_finite_and_match_the_reference_or_a_clear_error(p):
    model, x_train, y_train, y_test = p["model"], p["x_train"], p["y_train"], p["y_test"]
    xa, xb = p["tests"]
    try:
        calc = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=p["damping"],
                                  batch_size=p["batch_size"], hessian=p["hessian"])
        first = calc.scores(xa.clone(), y_test, x_train, y_train, progress=False)
        second = calc.scores(xb.clone(), y_test, x_train, y_train, progress=False)  # temporaries: ids reused
    except CLEAR_ERRORS as error:
        event(f"refused: {type(error).__name__}")
        message = str(error)
        expected = []  # what the error may name: any of the faults put in (checked in any order)
        if not (math.isfinite(p["damping"]) and p["damping"] >= 0):
            expected.append("damping")
        if p["fault"] == "nan_test":
            expected.append("test data: example")
        if p["fault"] == "inf_train":
            expected.append("example 0 holds inf")
        if p["fault"] == "label_out_of_range":
            expected.append("labels must lie")
        if isinstance(error, SolverError) and math.isfinite(p["damping"]) and p["damping"] >= 0:
            assert "damping" in message  # (H + λI) not positive definite: says which damping would do
            return
        assert expected, f"valid input refused: {message}"
        assert any(e in message for e in expected), f"{message!r} names none of {expected}"
        return
    event("scored")
    assert p["fault"] is None and math.isfinite(p["damping"]) and p["damping"] >= 0
    for scores in (first, second):
        assert torch.isfinite(scores.layers).all()
    blocks = parameter_blocks(model, example_input=x_train[:1])
    for x, scores in ((xa, first), (xb, second)):
        expected, conditions = reference(model, x_train, y_train, x, y_test, blocks, p["damping"])
        well_posed = max(conditions) < (1e6 if p["dtype"] == torch.float64 else 1e3)
        if well_posed:
            event("compared with the reference")
            tol = 1e-5 if p["dtype"] == torch.float64 else 5e-2
            scale = expected.abs().max().item() + 1e-12
            assert (scores.layers.double() - expected).abs().max().item() <= tol * scale, \
                "scores differ from the dense reference (or are a stale result of the first call)"
    fresh = LayerwiseInfluence(model, x_train, y_train, solver="exact", damping=p["damping"],
                               batch_size=p["batch_size"], hessian=p["hessian"])
    torch.testing.assert_close(second.layers, fresh.scores(xb, y_test, x_train, y_train, progress=False).layers,
                               msg="the second call returned a stale result of the first")
