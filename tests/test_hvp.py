"""Parameter blocks, per-sample gradients and Hessian-vector products against explicit references."""

import pytest
import torch
from torch import nn
from torch.autograd.functional import hessian

from cnnexplain.methods.influence_functions.hvp import (BlockHessian, GradientGraph, ModelFunction, check_batch, global_block, parameter_blocks,
                            per_sample_grads, select_blocks)


class Shuffled(nn.Module):
    """Registers its layers in an order that differs from the forward order, and has a BatchNorm."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(12, 3)
        self.conv = nn.Conv2d(1, 3, 3)
        self.norm = nn.BatchNorm2d(3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        h = self.pool(torch.relu(self.norm(self.conv(x))))
        return self.head(h.flatten(1))


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(2 * 3 * 3, 4), nn.Tanh(), nn.Linear(4, 3)).double().eval()


def data(n=12, side=8, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, side, side, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


def test_default_blocks_follow_forward_order_with_readable_names():
    model = Shuffled().double().eval()
    x, _ = data(side=6)
    blocks = parameter_blocks(model, example_input=x)
    assert [b.name for b in blocks] == ["conv", "head"]  # module paths
    assert blocks[0].param_names == ("conv.weight", "conv.bias")
    assert blocks[0].numel == 3 * 9 + 3 and blocks[1].numel == 12 * 3 + 3
    # without an input, registration order is all we know
    assert [b.name for b in parameter_blocks(model)] == ["head", "conv"]


def test_user_groupings_and_bad_names():
    model = small_net()
    blocks = parameter_blocks(model, {"features": ["0"], "dense": ["4.weight", "4.bias", "6"]})
    assert [b.name for b in blocks] == ["features", "dense"]
    assert blocks[1].numel == 18 * 4 + 4 + 4 * 3 + 3
    with pytest.raises(KeyError, match="'conv9'.*neither a parameter nor a module"):
        parameter_blocks(model, {"x": ["conv9"]})
    with pytest.raises(ValueError, match="must not overlap"):
        parameter_blocks(model, {"a": ["0"], "b": ["0.weight"]})
    with pytest.raises(KeyError, match="no parameter block named 'fc7'; blocks are: 0, 4, 6"):
        select_blocks(parameter_blocks(model), ["fc7"])
    assert global_block(model)[0].numel == sum(p.numel() for p in model.parameters())


def test_per_sample_grads_match_a_python_loop():
    model = small_net()
    x, y = data()
    fn = ModelFunction(model)
    grads = per_sample_grads(fn, x, y)
    for i in range(len(x)):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for block, g in zip(fn.blocks, grads):
            expected = torch.cat([dict(model.named_parameters())[n].grad.flatten() for n in block.param_names])
            torch.testing.assert_close(g[i], expected, rtol=1e-10, atol=1e-12)


def test_hvp_matches_explicit_hessian_of_every_block():
    model = small_net()
    x, y = data()
    fn = ModelFunction(model)
    graph = GradientGraph(fn, fn.blocks, x, y, batch_size=7)  # reverse-over-reverse, two data batches
    for block in fn.blocks:
        names = block.param_names

        def loss(*tensors):
            return fn.loss(dict(zip(names, tensors)), x, y)

        parts = hessian(loss, tuple(fn.params[n] for n in names), vectorize=True)
        sizes = [fn.params[n].numel() for n in names]
        explicit = torch.cat([torch.cat([parts[i][j].reshape(sizes[i], sizes[j]) for j in range(len(names))], 1)
                              for i in range(len(names))], 0)
        v = torch.randn(3, block.numel, dtype=torch.float64)
        for op in (BlockHessian(fn, block, x, y, batch_size=7, vector_chunk=48),  # forward-over-reverse
                   BlockHessian(fn, block, x, y, graph=graph, vector_chunk=48)):
            torch.testing.assert_close(op.dense(), explicit, rtol=1e-9, atol=1e-11)
            torch.testing.assert_close(op.matvec(v), v @ explicit.T, rtol=1e-9, atol=1e-11)


def test_batchnorm_needs_eval_mode_and_then_works():
    model = Shuffled().double()
    x, y = data(side=6)
    with pytest.raises(ValueError, match=r"training mode \(norm\).*model.eval\(\)"):
        ModelFunction(model)
    model.eval()
    fn = ModelFunction(model, parameter_blocks(model, example_input=x))
    grads = per_sample_grads(fn, x, y)
    model.zero_grad()
    nn.functional.cross_entropy(model(x[3:4]), y[3:4]).backward()
    torch.testing.assert_close(grads[0][3], torch.cat([model.conv.weight.grad.flatten(), model.conv.bias.grad]))


def test_check_batch_errors_name_the_problem():
    x, y = data()
    with pytest.raises(ValueError, match="12 inputs but 11 labels"):
        check_batch(x, y[:-1], "training data")
    with pytest.raises(TypeError, match="integer tensor of class indices"):
        check_batch(x, y.double(), "training data")
    with pytest.raises(TypeError, match="integer tensor"):
        check_batch(x, nn.functional.one_hot(y), "test data")
    with pytest.raises(ValueError, match="training data is empty"):
        check_batch(x[:0], y[:0], "training data")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_hvp_on_cuda_matches_cpu():
    model = small_net()
    x, y = data()
    cpu = BlockHessian(ModelFunction(model), parameter_blocks(model)[1], x, y).dense()
    gpu_model = small_net().cuda()
    gpu = BlockHessian(ModelFunction(gpu_model), parameter_blocks(gpu_model)[1], x, y).dense()
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-8, atol=1e-10)
