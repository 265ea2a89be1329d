"""Jung et al.'s models and data: shapes, the fixed 41 kernels, the synthetic labels, the real/fake stand-in."""

import numpy as np
import pytest
import torch

from cnnexplain.data.sources import DataUnavailableError
from cnnexplain.methods.influential_scores.fast import influential_scores
from cnnexplain.models.cnns import general_image_kernels, jung_fake_face_cnn, jung_hybrid_cnn, jung_mlp
from cnnexplain.data.real_fake import generator_upsampling, read_image_folders, standin_real_fake
from cnnexplain.papers.jung.synthetic import class_agreement, fit_probabilities, make_synthetic, toy_min_network


def test_hybrid_cnn_shapes_and_fixed_kernels():
    names, weights = general_image_kernels()
    assert len(names) == len(set(names)) == 41 and weights.shape == (41, 1, 3, 3)
    assert len({tuple(w.flatten().tolist()) for w in weights}) == 41  # no duplicate kernel
    model = jung_hybrid_cnn()
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert model.fc625.in_features == 2048 and model.out.in_features == 625
    assert not model.kernels41.weight.requires_grad
    torch.testing.assert_close(model.kernels41.weight, weights)
    scores = influential_scores(model.eval(), torch.rand(1, 1, 28, 28), source="L1", nodes=[9])
    assert scores.shape == (1, 1, 41, 28, 28)


def test_mlp_and_fake_face_cnn_shapes():
    assert jung_mlp()(torch.rand(3, 10)).shape == (3, 2)
    assert [m.out_features for m in jung_mlp() if hasattr(m, "out_features")] == [200, 200, 200, 2]
    assert jung_fake_face_cnn(64)(torch.rand(1, 3, 64, 64)).shape == (1, 2)
    with pytest.raises(ValueError, match="too small"):
        jung_fake_face_cnn(10)


@pytest.mark.parametrize("name,low,relevant", [("two_features", 0, 2), ("plus_one", 1, 2), ("orange_skin", 1, 4)])
def test_synthetic_labels_follow_the_paper(name, low, relevant):
    x, y = make_synthetic(name, 500, seed=3)
    assert x.shape == (500, 10) and x.min() >= low and x.max() < low + 1
    torch.testing.assert_close(y.sum(1), torch.ones(500))
    x64 = x.double()
    exponent = {"two_features": x64[:, 0] * x64[:, 1], "plus_one": x64[:, 0] * x64[:, 1] - 2,
                "orange_skin": (x64[:, :4] ** 2).sum(1) - 10}[name]
    torch.testing.assert_close(y[:, 1].double(), 1 / (1 + torch.exp(exponent)), rtol=1e-5, atol=1e-6)
    x2, _ = make_synthetic(name, 500, seed=3)
    assert torch.equal(x, x2)
    with pytest.raises(ValueError, match="unknown synthetic"):
        make_synthetic("xor", 10)


def test_two_features_is_always_class_zero():
    _, y = make_synthetic("two_features", 2000)
    assert (y[:, 1] <= 0.5).all()


def test_fit_probabilities_learns_plus_one():
    torch.manual_seed(0)
    x, y = make_synthetic("plus_one", 1000, seed=0)
    model = jung_mlp(hidden=32)
    losses = fit_probabilities(model, x, y, epochs=20, batch_size=250, lr=1e-2, progress=False)
    assert losses[-1] < losses[0]
    assert class_agreement(model, x, y) > 0.9


def test_toy_min_network_is_min():
    net = toy_min_network()
    x = torch.rand(20, 2) + 0.1
    torch.testing.assert_close(net(x)[:, 0], x.min(1).values)


def test_standin_real_fake_and_checkerboard():
    x, y = standin_real_fake(6, size=32, seed=1)
    assert x.shape == (12, 3, 32, 32) and y.sum() == 6 and 0 <= x.min() and x.max() <= 1
    flat = torch.full((1, 3, 8, 8), 0.5)
    up = generator_upsampling(flat)[0, 0, 2:-2, 2:-2]  # interior: periodic pattern of period 2
    assert not torch.allclose(up, up.mean().expand_as(up))
    torch.testing.assert_close(up[::2, ::2], up[::2, ::2].mean().expand_as(up[::2, ::2]))
    edge = generator_upsampling(flat)[0, 0]
    assert edge[-1].mean() < edge[2:-2].mean() - 0.05  # the raw last row is darker: the stand-in crops it off


def test_read_image_folders(tmp_path):
    with pytest.raises(DataUnavailableError, match="real/"):
        read_image_folders(tmp_path)
    from PIL import Image

    for folder in ("real", "fake"):
        (tmp_path / folder).mkdir()
        for k in range(2):
            Image.fromarray(np.full((10, 12, 3), 40 * k, dtype=np.uint8)).save(tmp_path / folder / f"{k}.png")
    x, y = read_image_folders(tmp_path, size=16)
    assert x.shape == (4, 3, 16, 16) and y.tolist() == [0, 0, 1, 1]


def test_score_map_and_top_fraction():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnexplain.papers.jung.plots import score_map, symmetric_limit, top_fraction_mask

    scores = np.array([[0.5, -1.0], [0.0, 0.25]])
    fig, ax = plt.subplots()
    image = score_map(ax, scores, outline=np.eye(2), title="t")
    assert image.get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="2-D"):
        score_map(ax, np.zeros((1, 2, 2)))
    plt.close(fig)
    assert symmetric_limit(scores, 3 * scores) == 3.0
    assert top_fraction_mask(scores, 0.25).tolist() == [[True, False], [False, False]]
