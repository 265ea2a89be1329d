"""The sensitivity grid of the Aamir influence claims: several damping values and disjoint Hessian samples
solved with shared factorisations, checked against the one-cell computations they replace; the grid
combination of claim verdicts (cnnexplain.claims.combine_grid)."""

import pytest
import torch

from cnnexplain.claims import NOT_CHECKED, NOT_REPRODUCED, PARTLY, REPRODUCED, ClaimBook, combine_grid, graded, not_checked
from cnnexplain.methods.influence_functions.hvp import ModelFunction, gauss_newton_factors, global_block, parameter_blocks
from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence
from cnnexplain.methods.influence_functions.solvers import woodbury_grid
from cnnexplain.papers.aamir import study as aamir


def test_woodbury_grid_matches_dense_inverses_per_damping_and_globally(tiny_relu_problem):
    model, x, y = tiny_relu_problem
    blocks = parameter_blocks(model, example_input=x[:1])
    fn = ModelFunction(model, blocks)
    factors = gauss_newton_factors(fn, blocks, x, y)
    torch.manual_seed(1)
    rhs = [torch.randn(3, f.shape[1], dtype=torch.float64) for f in factors]
    dampings = (1e-3, 1e-1)
    solutions, glob, residuals = woodbury_grid(factors, rhs, dampings, global_damping=1e-1)
    for i, d in enumerate(dampings):
        for f, b, s in zip(factors, rhs, solutions[i]):
            torch.testing.assert_close(s, b @ torch.linalg.inv(f.T @ f + d * torch.eye(f.shape[1], dtype=f.dtype)))
        assert max(residuals[i]) < 1e-8
    # the global block: the factors' columns side by side are the all-parameter Gauss-Newton factor
    g_all = gauss_newton_factors(fn, global_block(model), x, y)[0]
    torch.testing.assert_close(g_all, torch.cat(factors, 1))
    full = torch.cat(rhs, 1) @ torch.linalg.inv(g_all.T @ g_all + 1e-1 * torch.eye(g_all.shape[1], dtype=g_all.dtype))
    torch.testing.assert_close(torch.cat(glob, 1), full)
    with pytest.raises(ValueError, match="λ > 0"):
        woodbury_grid(factors, rhs, (0.0,))


def test_training_pass_of_stacked_vectors_equals_scores(tiny_relu_problem):
    model, x, y = tiny_relu_problem
    calc = LayerwiseInfluence(model, x, y, hessian="low-rank", damping=1e-2)
    xt, yt = x[:2] + 0.1, y[:2]
    expected = calc.scores(xt, yt, x, y, progress=False).layers
    side = calc.test_side(xt, yt)
    doubled = calc.training_pass([torch.cat([s, s]) for s in side], x, y, progress=False)
    torch.testing.assert_close(doubled[:2], expected)
    torch.testing.assert_close(doubled[2:], expected)
    grads = calc.test_gradients(xt, yt)
    assert [g.shape for g in grads] == [s.shape for s in side]


def test_hessian_samples_are_disjoint_and_start_with_the_subset():
    a, b = aamir.hessian_samples(50, 10, 2)
    assert len(set(a.tolist()) & set(b.tolist())) == 0 and len(a) == len(b) == 10
    assert torch.equal(a, aamir.hessian_subset(50, 10))
    with pytest.raises(ValueError, match="disjoint"):
        aamir.hessian_samples(15, 10, 2)


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    from cnnexplain.papers.aamir.preset import SMOKE_STUDY

    study = aamir.build_study(SMOKE_STUDY, cache_root=tmp_path_factory.mktemp("cache"), progress=False)
    return study.subset(1)


def test_grid_reference_cell_equals_the_one_cell_computation(smoke_study):
    grid = aamir.compute_influence_grid(smoke_study, n_hessian=8, n_samples=2, global_influence=True,
                                        use_cache=False, progress=False)
    assert set(grid.scores) == {aamir.grid_cell(d, s) for d in aamir.GRID_DAMPINGS for s in "AB"}
    for sample in (0, 1):
        one, glob, _ = aamir.compute_influence(smoke_study, damping=1e-2, n_hessian=8, solver="exact",
                                               use_cache=False, progress=False, hessian_sample=sample,
                                               n_hessian_samples=2, global_influence=sample == 0)
        cell = grid.cell(1e-2, "AB"[sample])
        torch.testing.assert_close(cell.layers, one.layers, rtol=1e-3, atol=1e-5 * one.layers.abs().max().item())
        if sample == 0:
            torch.testing.assert_close(grid.global_scores.layers, glob.layers, rtol=1e-3,
                                       atol=1e-5 * glob.layers.abs().max().item())
    assert grid.reference_scores.sign == aamir.ANALYSIS_SIGN
    table = aamir.sensitivity_table(grid, smoke_study.aliases(grid.reference_scores.block_names))
    assert set(table.comparison) == {f"{grid.reference} vs {c}" for c in
                                     ("λ=0.01, sample B", "λ=0.001, sample A", "λ=0.1, sample A")}
    assert table.pearson.between(-1, 1).all() and table.same_top_image.between(0, 1).all()
    summary = aamir.sensitivity_summary(table)
    assert len(summary) == 3 and {"layer_pearson_min", "total_same_top"} <= set(summary.columns)


BOOK = ClaimBook("test")


@BOOK.rule("big", owner="nb", source="-", statement="x is big", paper=1, quantity="x",
           criterion="reproduced if x > 1; partly if x > 0; not checked if floor < 0.5",
           verdicts=(REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_CHECKED))
def big(x, floor):
    if floor < 0.5:
        return not_checked("precondition failed: floor")
    return graded(x, reproduced=x > 1, partly=x > 0)


def test_combine_grid_gives_each_verdict_and_names_the_cells():
    grid = lambda *xs: {f"cell {i}": {"x": x} for i, x in enumerate(xs)}  # noqa: E731
    assert combine_grid(BOOK["big"], grid(2, 3), floor=1).verdict == REPRODUCED
    assert combine_grid(BOOK["big"], grid(-1, -2), floor=1).verdict == NOT_REPRODUCED
    mixed = combine_grid(BOOK["big"], grid(2, -1), floor=1)
    assert mixed.verdict == PARTLY and "reproduced on cell 0" in mixed.note and "not reproduced on cell 1" in mixed.note
    assert "1 of 2" in mixed.ours
    assert combine_grid(BOOK["big"], grid(0.5, 0.5), floor=1).verdict == PARTLY  # partly everywhere
    off = combine_grid(BOOK["big"], grid(2, 3), floor=0)
    assert off.verdict == NOT_CHECKED and "floor" in off.note
    with pytest.raises(ValueError, match="empty"):
        combine_grid(BOOK["big"], {}, floor=1)


def test_results_judge_takes_a_grid(tmp_path):
    from cnnexplain.notebook.results import Results

    out = Results("nb", "default", 0, output_dir=tmp_path)
    claim = out.judge(BOOK["big"], grid={"a": {"x": 2}, "b": {"x": -1}}, floor=1)
    assert claim.verdict == PARTLY and "grid" in claim.note


def test_a_table_marked_in_report_is_shown_inline(tmp_path):
    import json

    import pandas as pd

    from cnnexplain.notebook.report import collect, render
    from cnnexplain.notebook.results import Results

    out = Results("21_nb", "default", 0, output_dir=tmp_path / "21_nb")
    out.table(pd.DataFrame({"comparison": ["A vs B"], "total_pearson": [0.912345]}), "table_sensitivity_summary",
              in_report=True)
    out.table(pd.DataFrame({"x": [1]}), "not_shown")
    (tmp_path / "21_nb" / "run.json").write_text(json.dumps({"profile": "default", "status": "ok", "duration_s": 1.0,
                                                             "start": "t", "seed": 0}))
    report = render(collect(tmp_path), {"profile": "default", "started": "t", "ok": 1, "failed": 0})
    assert "Table `table_sensitivity_summary`:" in report and "| A vs B | 0.9123 |" in report
    assert "Table `not_shown`" not in report


def test_grid_claims_put_the_reference_cell_first():
    grid = aamir.InfluenceGrid({aamir.grid_cell(d, s): None for s in "AB" for d in aamir.GRID_DAMPINGS},
                               aamir.GRID_DAMPINGS, ("A", "B"), aamir.grid_cell(1e-2, "A"))
    order = grid.cells_reference_first()
    assert order[0] == "λ=0.01, sample A" and sorted(order) == sorted(grid.scores)
