"""NeuroView wrapper: unit discovery, unit → (layer, channel), pooling against explicit computation,
gradients, multi-view aggregation, and the mini dissection's IoU on hand-made cases."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnexplain.models.cnns import SmallCNN
from cnnexplain.methods.neuroview import MultiViewNeuroView, NeuroView, UnitCodes, class_concepts, dissect, pool_code, unit_iou, unit_thresholds, zero_channel
from cnnexplain.models.neuroview_backbones import SmallAlexNet, SmallVGG, torchvision_net


def test_small_cnn_units_and_boundaries():
    nv = NeuroView(SmallCNN(), num_classes=10, input_shape=(1, 28, 28))
    assert nv.n_units == 16 + 32
    assert [layer.name for layer in nv.layers] == ["features.0", "features.3"]
    assert nv.layer_boundaries.tolist() == [0, 16, 48]
    assert nv.unit_location(0) == (0, "features.0", 0)
    assert nv.unit_location(15) == (0, "features.0", 15)
    assert nv.unit_location(16) == (1, "features.3", 0)
    assert nv.unit_location(47) == (1, "features.3", 31)
    with pytest.raises(IndexError):
        nv.unit_location(48)
    table = nv.unit_table()
    assert len(table) == 48 and table.channel.iloc[20] == 4 and table.layer.iloc[20] == 1
    # the plain head is pruned: only the conv trunk and the wide linear layer hold parameters
    assert isinstance(nv.units.backbone.classifier[1], nn.Identity)
    assert nv.classifier.weight.shape == (10, 48)


def test_torchvision_vgg11_has_the_papers_2752_units():
    # §4.4: "For each view, there are 2,752 units since we use the NeuroView VGG11 network."
    nv = NeuroView(torchvision_net("vgg11", 5), num_classes=5, input_shape=(3, 32, 32))
    assert nv.n_units == 2752
    assert np.diff(nv.layer_boundaries).tolist() == [64, 128, 256, 256, 512, 512, 512, 512]
    assert nv(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def test_torchvision_resnet18_units_in_call_order():
    net = torchvision_net("resnet18", 4)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    nv = NeuroView(net, num_classes=4, input_shape=(3, 32, 32))
    assert len(nv.layers) == len(convs) == 20  # stem + 16 block convs + 3 downsample convs
    assert nv.n_units == sum(c.out_channels for c in convs)
    assert nv.layers[0].name == "conv1" and nv.layers[-1].name == "layer4.1.conv2"
    names = [layer.name for layer in nv.layers]
    assert names.index("layer2.0.conv2") < names.index("layer2.0.downsample.0") < names.index("layer2.1.conv1")
    # 'preact' hooks the BatchNorm that follows each conv instead (the ReLU's true input)
    pre = NeuroView(torchvision_net("resnet18", 4), num_classes=4, input_shape=(3, 32, 32), site="preact")
    assert pre.n_units == nv.n_units and pre.layers[0].name == "bn1"
    assert pre.layers[-1].name == "layer4.1.bn2"


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_codes_equal_explicit_sigmoid_pooling(pooling):
    torch.manual_seed(0)
    net = SmallCNN()
    nv = NeuroView(net, num_classes=10, input_shape=(1, 28, 28), pooling=pooling)
    x = torch.randn(3, 1, 28, 28)
    conv1, conv2 = net.features[0], net.features[3]
    pre1 = conv1(x)
    pre2 = conv2(net.features[2](net.features[1](pre1)))
    reduce = (lambda t: t.amax(dim=(2, 3))) if pooling == "max" else (lambda t: t.mean(dim=(2, 3)))
    expected = torch.cat([reduce(torch.sigmoid(pre1)), reduce(torch.sigmoid(pre2))], dim=1)
    codes = nv.units(x)
    torch.testing.assert_close(codes, expected)
    torch.testing.assert_close(nv(x), codes @ nv.classifier.weight.T + nv.classifier.bias)
    assert codes.min() >= 0 and codes.max() <= 1


def test_pool_code_rejects_unknown_pooling():
    with pytest.raises(ValueError, match="pooling"):
        pool_code(torch.zeros(1, 2, 3, 3), "median")


def test_gradients_reach_every_trunk_layer():
    nv = NeuroView(SmallVGG("vgg11", 3, 6, width=8), num_classes=6, input_shape=(3, 32, 32))
    loss = nn.functional.cross_entropy(nv(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for layer in nv.layers:
        grad = nv.units.backbone.get_submodule(layer.name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, layer.name
    assert nv.classifier.weight.grad.abs().sum() > 0


def test_class_weights_follow_layer_boundaries():
    nv = NeuroView(SmallAlexNet(1, 3, width=4), num_classes=3, input_shape=(1, 32, 32))
    with torch.no_grad():
        nv.classifier.weight.zero_()
        first = nv.layers[1]
        nv.classifier.weight[2, first.start:first.stop] = 1.0
    w = nv.class_weights(2)
    assert w.shape == (nv.n_units,) and w.sum() == first.n_units
    assert set(nv.units.unit_layer_index()[w == 1]) == {1}


def test_multiview_concatenates_views_and_averages_weights_per_view():
    make = lambda: SmallCNN(1, 3, image_size=16, width=2, hidden=4)  # noqa: E731
    mv = MultiViewNeuroView(make, n_views=3, num_classes=3, input_shape=(1, 16, 16))
    assert mv.units_per_view == 6 and mv.classifier.in_features == 18
    x = torch.randn(2, 3, 1, 16, 16)
    expected = torch.cat([mv.views[v](x[:, v]) for v in range(3)], 1) @ mv.classifier.weight.T + mv.classifier.bias
    torch.testing.assert_close(mv(x), expected)
    with torch.no_grad():
        mv.classifier.weight.copy_(torch.arange(3 * 18, dtype=torch.float32).reshape(3, 18))
    means = mv.view_mean_weights()
    assert means.shape == (3, 3)
    np.testing.assert_allclose(means[1], [18 + 2.5, 18 + 8.5, 18 + 14.5])
    with pytest.raises(ValueError, match="expected input"):
        mv(torch.randn(2, 2, 1, 16, 16))


def test_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match="input_shape"):
        NeuroView(SmallCNN(), 10, input_shape=(3, 28, 28))


def test_unit_iou_hand_made_case():
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, :2, :2] = 1.0  # unit 0 fires on the top-left 2×2 block
    maps[0, 1, :, 0] = 1.0  # unit 1 fires on the first column
    masks = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    masks[0, 0, :2, :] = True  # concept 0: top two rows (8 px)
    masks[0, 1, :2, :2] = True  # concept 1: exactly unit 0's block
    iou = unit_iou(maps, masks, torch.tensor([0.5, 0.5]))
    expected = torch.tensor([[4 / 8, 1.0], [2 / 10, 2 / 6]])
    torch.testing.assert_close(iou, expected)


def test_unit_thresholds_match_numpy_quantile_on_distinct_values():
    values = torch.randperm(1000).float().reshape(2, 500)
    t = unit_thresholds(values, 0.9)
    for row, th in zip(values.numpy(), t.numpy()):
        assert np.mean(row > th) == pytest.approx(0.1, abs=0.003)


def test_dissect_finds_the_concept_a_unit_detects():
    # a 1-conv net whose only unit is the red channel minus the green one: it detects red pixels; its
    # pre-activation is so large that the sigmoid saturates at exactly 1.0 (dissection must still work)
    net = nn.Sequential(nn.Conv2d(3, 1, 1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([100.0, -100.0, 0.0]).view(1, 3, 1, 1))
        net[0].bias.zero_()
    nv = NeuroView(net, num_classes=2, input_shape=(3, 8, 8))
    g = torch.Generator().manual_seed(0)
    red = torch.rand(20, 1, 8, 8, generator=g) > 0.3  # 70% red pixels of varying intensity
    intensity = 0.5 + 0.5 * torch.rand(20, 8, 8, generator=g)
    images = torch.zeros(20, 3, 8, 8)
    images[:, 0] = red[:, 0].float() * intensity
    images[:, 1] = (~red[:, 0]).float()
    masks = torch.cat([red, ~red], dim=1)
    assert torch.sigmoid(nv.units.pre_activation_maps(images)[0])[red.expand(-1, 1, -1, -1)].min() == 1.0
    table = dissect(nv, images, masks, ["red", "green"], quantile=0.5)
    # the top half of all pixels = the brighter ~5/7 of the red ones: IoU with 'red' about 5/7
    assert table.concept.tolist() == ["red"] and 0.6 < table.iou.iloc[0] < 0.8
    with torch.no_grad():
        nv.classifier.weight.copy_(torch.tensor([[2.0], [-1.0]]))
    pos, neg = class_concepts(nv, table, 0)
    assert pos.concept.tolist() == ["red"] and pos.percent.iloc[0] == pytest.approx(100) and neg.empty
    pos, neg = class_concepts(nv, table, 1)
    assert neg.concept.tolist() == ["red"] and pos.empty


def test_zero_channel():
    x = torch.ones(2, 3, 4, 4)
    out = zero_channel(x, "green")
    assert out[:, 1].sum() == 0 and out[:, [0, 2]].min() == 1 and x.min() == 1
    with pytest.raises(ValueError):
        zero_channel(torch.ones(2, 1, 4, 4), "red")


def test_embedded_data_shapes_and_determinism():
    from cnnexplain.data import neuroview_datasets as d

    a = d.texture_set(3, 1, seed=1)
    b = d.texture_set(3, 1, seed=1)
    assert a[0].shape == (8 * 3, 1, 32, 32) and torch.equal(a[0], b[0]) and a[2].shape == (8, 1, 32, 32)
    s = d.sound_spectrograms(2, 1)
    assert s[0].shape == (20, 1, 32, 32) and s[0].min() >= 0 and s[0].max() <= 1
    m = d.multiview_shapes(1, 1, n_points=800)
    assert m[0].shape == (8, 12, 1, 32, 32)
    sc = d.colour_scenes(2, 1, 2)
    assert sc.x_train.shape == (12, 3, 32, 32) and sc.probe_masks.shape[:2] == (12, len(sc.concepts))
    # colour names cover every pixel exactly once
    assert torch.all(sc.probe_masks[:, :10].sum(1) == 1)


def test_stft_spectrogram_puts_a_tone_in_the_right_row():
    from cnnexplain.data.neuroview_datasets import spectrogram

    rate, f = 8000, 1000.0
    t = torch.arange(rate) / rate
    spec = spectrogram(torch.sin(2 * torch.pi * f * t)[None], size=32)[0, 0]
    row = spec.mean(1).argmax().item()
    expected = round((1 - f / (rate / 2)) * 31)  # rows run from the highest frequency down
    assert abs(row - expected) <= 1


def test_channel_drops_on_the_papers_table2():
    from cnnexplain.papers.neuroview.study import channel_drops, paper_table2

    drops = channel_drops(paper_table2())
    # NeuroView aquarium: 91 -> 98, 85, 89, mean drop (−7 + 6 + 2) / 3; plain ballroom: 88 -> 32, 45, 75
    assert drops.loc["aquarium", "NeuroView VGG11"] == pytest.approx(1 / 3)
    assert drops.loc["ballroom", "VGG11"] == pytest.approx((56 + 43 + 13) / 3)


def test_weight_explorer_lists_every_run_class_and_cuts_layers_per_network(monkeypatch):
    import ipywidgets
    import matplotlib.pyplot as plt

    from cnnexplain.papers.neuroview.study import explore_unit_weights

    monkeypatch.setenv("CNNEXPLAIN_HEADLESS", "")
    plt.close("all")  # figures other tests of this worker left open are not this explorer's
    shallow = NeuroView(SmallCNN(), num_classes=10, input_shape=(1, 28, 28))
    deep = NeuroView(SmallAlexNet(1, 3, width=4), num_classes=3, input_shape=(1, 32, 32))
    box = explore_unit_weights({"shallow": (shallow, [str(d) for d in range(10)]),
                                "deep": (deep, ["a", "b", "c"])})
    choice, layers = box.children[0].children
    assert len(choice.options) == 13 and choice.label == "shallow / 0"
    # the slider spans the selected network's layers (issue 17: it read "8-8" on a 5-layer AlexNet)
    assert isinstance(layers, ipywidgets.IntRangeSlider) and layers.value == (1, len(shallow.layers))
    assert layers.max == len(shallow.layers)
    first = bytes(box.children[2].children[0].value)
    choice.label = "deep / c"
    assert layers.max == len(deep.layers) and layers.value == (1, len(deep.layers))
    layers.value = (len(deep.layers), len(deep.layers))
    assert box.children[1].value == "", "no error for any run, class or layer range"
    assert bytes(box.children[2].children[0].value) != first
    choice.label = "shallow / 9"  # back to the shallow net: the slider shrinks to its layers, all selected
    assert layers.max == len(shallow.layers) and layers.value == (1, len(shallow.layers))
    assert box.children[1].value == ""
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="at least one run"):
        explore_unit_weights({})


def test_standardized_codes_fold_into_weights_and_bias():
    """With standardize=True the eval-mode logits equal raw codes @ weights().T + bias(), and the folded
    weights are the trained weights divided by each unit's running standard deviation."""
    torch.manual_seed(0)
    nv = NeuroView(SmallCNN(), num_classes=10, input_shape=(1, 28, 28), pooling="mean", standardize=True)
    nv.train()
    with torch.no_grad():  # a few training-mode passes so the running statistics are far from (0, 1)
        for _ in range(20):
            nv(torch.rand(16, 1, 28, 28))
        nv.classifier.weight.normal_()
    nv.eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        codes = nv.units(x)
        logits = nv(x)
        unfolded = nv.classifier((codes - nv.standardize.running_mean)
                                 / torch.sqrt(nv.standardize.running_var + nv.standardize.eps))
    torch.testing.assert_close(logits, unfolded)
    w, b = torch.from_numpy(nv.weights()), torch.from_numpy(nv.bias())
    torch.testing.assert_close(logits, codes @ w.T + b, rtol=1e-4, atol=1e-4)
    std = torch.sqrt(nv.standardize.running_var + nv.standardize.eps)
    torch.testing.assert_close(torch.from_numpy(nv.class_weights(3)), nv.classifier.weight[3].detach() / std)
    assert not torch.allclose(std, torch.ones_like(std))  # the folding is not a no-op here
    plain = NeuroView(SmallCNN(), num_classes=10, input_shape=(1, 28, 28))
    np.testing.assert_array_equal(plain.weights(), plain.classifier.weight.detach().numpy())


def test_fit_cosine_schedule_anneals_to_zero_and_rejects_unknown():
    from cnnexplain.train import fit

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x, y = torch.randn(40, 4), (torch.arange(40) % 2)
    seen = []
    original_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        fit(model, x, y, epochs=3, batch_size=10, lr=0.1, progress=False, schedule="cosine")
    finally:
        torch.optim.Adam.step = original_step
    assert len(seen) == 12 and seen[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(seen, seen[1:]))  # strictly decreasing
    assert seen[-1] == pytest.approx(0.1 * (1 + np.cos(np.pi * 11 / 12)) / 2)
    with pytest.raises(ValueError, match="schedule"):
        fit(model, x, y, epochs=1, schedule="step")
