"""Gatys style transfer: Gram matrices, losses that fall, determinism, the paper profile's weights."""

import pytest
import torch

from cnnexplain.methods import style


def test_gram_matrix_matches_explicit_sum():
    f = torch.randn(2, 3, 4, 5)
    g = style.gram_matrix(f)
    explicit = torch.zeros(2, 3, 3)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                explicit[b, i, j] = sum(f[b, i, y, x] * f[b, j, y, x] for y in range(4) for x in range(5)) / 20
    torch.testing.assert_close(g, explicit)


def test_vgg19_layer_names_match_torchvision_indices():
    from cnnexplain.compat import torchvision

    index = style.vgg19_layer_index()
    tv = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])  # = vgg19().features
    for name in style.STYLE_LAYERS + style.CONTENT_LAYERS:
        assert isinstance(tv[index[name]], torch.nn.ReLU)  # rectified, as in Gatys's Caffe model
        assert isinstance(tv[index[name] - 1], torch.nn.Conv2d)
    assert index["conv4_2"] == 22 and index["conv5_1"] == 29
    mine = style.vgg19_layers("max", 1.0)
    assert [type(m) for m in mine] == [type(m) for m in tv]
    assert mine[index["conv5_1"] - 1].weight.shape == tv[index["conv5_1"] - 1].weight.shape


@pytest.fixture(scope="module")
def small_extractor():
    return style.vgg19_features("random", seed=0, width=0.125, scales=(1.0, 0.5))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_style_loss_decreases(small_extractor, optimizer):
    g = torch.Generator().manual_seed(0)
    content, sty = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g) ** 3
    r = style.transfer(content, sty, steps=15, extractor=small_extractor, optimizer=optimizer, progress=False,
                       snapshot_every=5)
    assert len(r.history["total"]) == 16
    assert r.history["style"][-1] < 0.5 * r.history["style"][0]
    assert r.history["content"][0] == pytest.approx(0.0, abs=1e-6)  # starts at the content image
    assert [s for s, _ in r.snapshots] == [0, 5, 10, 15]
    assert 0 <= r.image.min() and r.image.max() <= 1
    dose = r.dose()
    assert dose[0] == 0 and dose[-1] > 0.5


def test_texture_synthesis_same_seed_same_image(small_extractor):
    tex = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    kw = dict(steps=5, extractor=small_extractor, progress=False)
    a = style.texture_synthesis(tex, seed=3, **kw).image
    b = style.texture_synthesis(tex, seed=3, **kw).image
    c = style.texture_synthesis(tex, seed=4, **kw).image
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pretrained_profile_without_weights_stops_with_a_message(tmp_path):
    with pytest.raises(style.WeightsUnavailableError, match="download"):
        style.vgg19_features("pretrained", weights_path=tmp_path / "missing.pth")


def test_pretrained_profile_loads_torchvision_state_dict(tmp_path):
    from cnnexplain.compat import torchvision

    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}  # vgg19()'s key layout
    torch.save(state, tmp_path / "vgg19.pth")
    ex = style.vgg19_features("pretrained", weights_path=tmp_path / "vgg19.pth")
    torch.testing.assert_close(ex.features[0].weight, state["features.0.weight"])


def test_bad_inputs_are_named(small_extractor):
    with pytest.raises(ValueError, match="unknown layer"):
        style.transfer(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), steps=1, extractor=small_extractor,
                       style_layers=("conv9_9",), progress=False)
    with pytest.raises(ValueError, match="RGB"):
        style.transfer(torch.rand(1, 16, 16), torch.rand(1, 3, 16, 16), steps=1, progress=False)
    with pytest.raises(ValueError, match="one style image"):
        style.transfer(torch.rand(3, 3, 16, 16), torch.rand(2, 3, 16, 16), steps=1, extractor=small_extractor,
                       progress=False)
