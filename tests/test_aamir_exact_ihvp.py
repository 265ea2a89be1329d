"""Exact per-layer inverse-HVPs for the Aamir study: low-rank Gauss-Newton factors + the Woodbury identity,
checked against a dense inverse of HVP-built block Hessians (an independent reference)."""

import pytest
import torch

from cnnexplain.methods.influence_functions.hvp import BlockHessian, FactoredBlock, ModelFunction, gauss_newton_factors, parameter_blocks
from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence
from cnnexplain.methods.influence_functions.solvers import WoodburySolver


def test_factors_equal_hvp_block_hessians(tiny_relu_problem):
    model, x, y = tiny_relu_problem
    blocks = parameter_blocks(model, example_input=x[:1])
    fn = ModelFunction(model, blocks)
    for block, f in zip(blocks, gauss_newton_factors(fn, blocks, x, y, batch_size=4)):
        dense = BlockHessian(fn, block, x, y).dense()  # p_l HVPs: the reference
        assert f.shape == (len(x) * 4, block.numel)
        torch.testing.assert_close(f.T @ f, dense, atol=1e-10, rtol=1e-8)


def test_woodbury_matches_dense_inverse_and_needs_damping():
    torch.manual_seed(1)
    f = torch.randn(5, 12, dtype=torch.float64)
    b = torch.randn(3, 12, dtype=torch.float64)
    solver = WoodburySolver()
    x = solver.solve(FactoredBlock("blk", f), b, damping=0.1)
    reference = b @ torch.linalg.inv(f.T @ f + 0.1 * torch.eye(12, dtype=torch.float64))
    torch.testing.assert_close(x, reference, atol=1e-10, rtol=1e-9)
    assert solver.reports[-1].relative_error < 1e-10 and solver.reports[-1].extra["rank"] == 5
    with pytest.raises(ValueError, match="damping"):
        solver.solve(FactoredBlock("blk", f), b, damping=0.0)


def test_low_rank_influence_equals_exact_dense_influence(tiny_relu_problem):
    model, x, y = tiny_relu_problem
    xt, yt = x[:2] + 0.1, y[:2]
    low = LayerwiseInfluence(model, x, y, hessian="low-rank", damping=1e-2, check_residuals=True)
    assert low.solver.name == "woodbury"
    dense = LayerwiseInfluence(model, x, y, hessian="hvp", solver="exact", damping=1e-2)
    a = low.scores(xt, yt, x, y, progress=False).layers
    b = dense.scores(xt, yt, x, y, progress=False).layers
    torch.testing.assert_close(a, b, atol=1e-8, rtol=1e-6)
    assert max(low.residuals) < 1e-8 and max(low.gauss_newton_error) < 1e-8
