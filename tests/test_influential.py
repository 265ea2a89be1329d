"""Jung et al.'s influential scores: the paper's toy numbers, the fast backward pass against the explicit
matrices/tensors built from the definitions, and the errors for what the method does not define."""

import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnexplain.methods.influential_scores.fast import (UnsupportedLayerError, filter_scores, influential_scores, layer_table,
                                    rank_of_features, scores_from_snapshot, snapshot)
from cnnexplain.methods.influential_scores.reference import conv_tensor, dense_matrix, explicit_scores, influential_matrices
from cnnexplain.papers.jung.synthetic import toy_min_network


def fast_as_matrix(model, x, source, target) -> np.ndarray:
    """Fast scores w.r.t. every target node, arranged like the explicit J^{source,target} (rows = sources)."""
    scores = influential_scores(model, x, source, target)  # (1, T, *source)
    return scores[0].reshape(scores.shape[1], -1).T.numpy()


def assert_fast_equals_explicit(model, x, source=0, target="output"):
    model = model.double().eval()
    x = x.double()
    explicit = explicit_scores(model, x, source, target)
    fast = fast_as_matrix(model, x, source, target)
    assert fast.shape == explicit.shape
    scale = np.abs(explicit).max()
    assert scale > 0, "degenerate test net: all scores are zero"
    np.testing.assert_allclose(fast, explicit, rtol=0, atol=1e-6 * scale)


# --- Fig. 2: the toy min network --------------------------------------------------------------------

def test_toy_network_computes_min():
    net = toy_min_network()
    for a, b in [(2.0, 1.0), (1.0, 2.0), (5.0, 3.0)]:
        assert net(torch.tensor([[a, b]])).item() == pytest.approx(min(a, b))


def test_toy_network_hidden_scores_match_paper():
    """§II-C: inputs 2 and 1; h1 gets 2/3 and -1/3 from i1 and i2, h2 gets 1 and 0."""
    scores = influential_scores(toy_min_network(), torch.tensor([[2.0, 1.0]]), source="input", target=2)[0]
    np.testing.assert_allclose(scores.numpy(), [[2 / 3, -1 / 3], [1.0, 0.0]], atol=1e-7)


def test_toy_network_output_scores_follow_the_definition():
    """The paper prints -1/2 and 1/2 for h1, h2 -> o 'since h1 and h2 are both 1'; but h2 = ReLU(i1) = 2,
    so the definition gives -1·1/(1+2) = -1/3 and 1·2/3 = 2/3. Input -> output: 4/9 and 1/9."""
    net, x = toy_min_network(), torch.tensor([[2.0, 1.0]])
    snap = snapshot(net, x)
    assert snap.values[2][0].tolist() == [1.0, 2.0]  # h1 = 1, h2 = 2
    hidden_to_output = influential_scores(net, x, source=2, target="output")[0, 0]
    np.testing.assert_allclose(hidden_to_output.numpy(), [-1 / 3, 2 / 3], atol=1e-7)
    input_to_output = influential_scores(net, x, source=0, target="output")[0, 0]
    np.testing.assert_allclose(input_to_output.numpy(), [4 / 9, 1 / 9], atol=1e-7)
    assert input_to_output[0] > input_to_output[1]  # "I_1 has more influence on the output even if o = i_2"


# --- fast path == explicit tensor products ----------------------------------------------------------

@pytest.mark.parametrize("name,net,shape", [
    ("linear", lambda: nn.Sequential(nn.Linear(7, 5)), (7,)),
    ("linear_relu_chain", lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(),
                                                nn.Linear(5, 3)), (6,)),
    ("conv_padding", lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1)), (2, 6, 5)),
    ("conv_same_padding", lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding="same")), (2, 5, 6)),
    ("conv_no_padding", lambda: nn.Sequential(nn.Conv2d(3, 2, 3)), (3, 6, 6)),
    ("conv_stride_dilation", lambda: nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=2, dilation=2)),
     (2, 7, 7)),
    ("conv_5x5_rect", lambda: nn.Sequential(nn.Conv2d(1, 2, (5, 3), padding=(2, 1))), (1, 6, 5)),
    ("relu", lambda: nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()), (2, 5, 5)),
    ("maxpool", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)), (1, 6, 6)),
    ("maxpool_overlap_ceil", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1),
                                                   nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)), (1, 7, 7)),
    ("flatten", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 16, 3)),
     (1, 4, 4)),
    ("avgpool", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)), (1, 6, 6)),
    ("adaptive_avgpool", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                                               nn.AdaptiveAvgPool2d(2)), (1, 6, 6)),
])
def test_fast_equals_explicit_per_layer_type(name, net, shape):
    torch.manual_seed(zlib.crc32(name.encode()))  # str hash() is salted per process
    assert_fast_equals_explicit(net(), torch.randn(1, *shape))


def small_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                         nn.Flatten(), nn.Linear(6 * 3 * 3, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 4)).eval()


@pytest.mark.parametrize("source,target", [(0, "output"), (0, 3), (2, 5), (3, "output"), (8, 11), (5, 7)])
def test_fast_equals_explicit_small_cnn_any_pair_of_layers(source, target):
    torch.manual_seed(1)
    assert_fast_equals_explicit(small_cnn(), torch.rand(1, 1, 10, 10), source, target)


def test_batched_scores_equal_one_at_a_time_and_chosen_nodes():
    torch.manual_seed(2)
    net, x = small_cnn().double().eval(), torch.rand(3, 1, 10, 10, dtype=torch.float64)
    batch = influential_scores(net, x, 0, "output")
    for n in range(3):
        single = influential_scores(net, x[n:n + 1], 0, "output")
        torch.testing.assert_close(batch[n], single[0], rtol=1e-12, atol=1e-14)
    chosen = influential_scores(net, x, 0, "output", nodes=[3, 1])
    torch.testing.assert_close(chosen, batch[:, [3, 1]])
    per_input = torch.tensor([[0], [2], [1]])
    own = influential_scores(net, x, 0, "output", nodes=per_input)
    torch.testing.assert_close(own[:, 0], batch[torch.arange(3), per_input[:, 0]])


def test_one_backward_pass_gives_every_source_layer():
    torch.manual_seed(3)
    net, x = small_cnn().double().eval(), torch.rand(1, 1, 10, 10, dtype=torch.float64)
    found = scores_from_snapshot(snapshot(net, x), sources=[0, 2, 5, 8], target="output")
    for pos in (0, 2, 5, 8):
        torch.testing.assert_close(found[pos], influential_scores(net, x, pos, "output"))


# --- the explicit reference against independent constructions ---------------------------------------

def test_conv_tensor_equals_dense_definition_on_the_convolution_matrix():
    """The loop-built influential tensor equals the dense definition applied to the conv's explicit
    (Jacobian) weight matrix: the convolution is a linear map and §II-D says the idea is the same."""
    torch.manual_seed(4)
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=1).double()
    values = torch.randn(2, 5, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda z: F.conv2d(z, conv.weight, None, 1, 1), values.unsqueeze(0))
    weight_matrix = jac.reshape(3 * 5 * 4, 2 * 5 * 4).detach().numpy()
    expected = dense_matrix(weight_matrix, values.reshape(-1).numpy())
    got = conv_tensor(conv.weight.detach().numpy(), values.numpy(), (1, 1), (1, 1), (1, 1), (5, 4))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_columns_are_normalised_and_sum_to_preactivation_ratio():
    """Σ_i |J_ij| = 1 and Σ_i J_ij · Σ_i |w_ij L_i| = Σ_i w_ij L_i (= pre-activation minus bias)."""
    torch.manual_seed(5)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    _, (matrix,) = influential_matrices(nn.Sequential(conv), x)
    np.testing.assert_allclose(np.abs(matrix).sum(axis=0), 1.0, atol=1e-12)
    unfolded = F.unfold(x, 3, padding=1)[0]  # (C1·9, positions)
    weights = conv.weight.detach().reshape(3, -1)
    denominator = (weights.abs() @ unfolded.abs()).reshape(-1).numpy()
    preactivation = (conv(x) - conv.bias[:, None, None]).reshape(-1).detach().numpy()
    np.testing.assert_allclose(matrix.sum(axis=0) * denominator, preactivation, atol=1e-10)


def test_single_nonzero_weight_gives_plus_or_minus_one():
    """§II-C: with all weights 0 but one, the latter node's scores are 0 except one of ±1."""
    layer = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 2] = 2.5
        layer.weight[1, 0] = -0.7
    scores = influential_scores(nn.Sequential(layer), torch.tensor([[1.5, 2.0, 3.0, 4.0]]))[0]
    np.testing.assert_allclose(scores.numpy(), [[0, 0, 1, 0], [-1, 0, 0, 0], [0, 0, 0, 0]])


def test_bias_only_node_gets_zero_scores_but_passes_its_value():
    """No bias terms in J: a node reached by zero inputs has scores 0 (its value comes from its bias)."""
    net = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        net[0].bias.fill_(3.0)
    assert influential_scores(net, torch.zeros(1, 2)).abs().sum() == 0


# --- helpers ------------------------------------------------------------------------------------------

def test_filter_scores_sum_each_channel():
    torch.manual_seed(6)
    net, x = small_cnn().eval(), torch.rand(2, 1, 10, 10)
    layer_scores = influential_scores(net, x, source=2, target="output")
    per_filter = filter_scores(layer_scores)
    assert per_filter.shape == (2, 4, 4)
    torch.testing.assert_close(per_filter[1, 3, 2], layer_scores[1, 3, 2].sum())
    with pytest.raises(ValueError, match="convolutional"):
        filter_scores(torch.zeros(1, 2, 3))


def test_rank_of_features():
    ranks = rank_of_features(torch.tensor([[0.1, 0.9, -0.5, 0.3]]))
    assert ranks.tolist() == [[2, 0, 3, 1]]


def test_layer_table_and_names():
    table = layer_table(small_cnn(), torch.rand(1, 1, 10, 10))
    assert table["name"].tolist()[:3] == ["input", "0", "1"]
    assert table.loc[6, "shape"] == (6, 3, 3)
    snap = snapshot(small_cnn(), torch.rand(1, 1, 10, 10))
    assert snap.position("output") == len(snap.values) - 1 == snap.position(-1)
    with pytest.raises(KeyError, match="no layer named"):
        snap.position("nope")


# --- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer,name", [(nn.BatchNorm2d(2), "BatchNorm2d"), (nn.Sigmoid(), "Sigmoid"),
                                        (nn.Conv2d(2, 2, 3, padding=1, groups=2), "groups")])
def test_unsupported_layer_is_named(layer, name):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), layer)
    with pytest.raises(UnsupportedLayerError, match=name):
        influential_scores(net, torch.rand(1, 1, 5, 5))


def test_non_sequential_forward_is_rejected():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.b(self.a(x)) + x

    with pytest.raises(ValueError, match="not the plain chain"):
        influential_scores(Skip(), torch.rand(1, 3))


def test_source_must_precede_target_and_nodes_must_exist():
    net, x = small_cnn(), torch.rand(1, 1, 10, 10)
    with pytest.raises(ValueError, match="before the target"):
        influential_scores(net, x, source=5, target=3)
    with pytest.raises(IndexError, match="flat indices"):
        influential_scores(net, x, nodes=[4])
    wide = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1))  # 6,400 target nodes: too many by default
    with pytest.raises(ValueError, match="choose target nodes"):
        influential_scores(wide, x, source=0, target=1)
    assert influential_scores(wide, x, source=0, target=1, nodes=[5, 6400 - 1]).shape == (1, 2, 1, 10, 10)
