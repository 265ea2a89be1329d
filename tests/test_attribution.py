"""Tests of cnnexplain.methods.attribution.explain: every registered method, checked against independent references."""

import copy

import pytest
import torch
from torch import nn

from cnnexplain.methods.attribution import explain as A
from cnnexplain.models.cnns import GAPCNN, SmallCNN

FAST_OPTIONS = {
    "integrated_gradients": dict(n_steps=8),
    "smoothgrad": dict(n_samples=4),
    "lime": dict(n_samples=40),
    "kernel_shap": dict(n_samples=40),
    "partition_shap": dict(max_evals=64),
    "l2x": dict(epochs=1, k=4),
    "activation_maximization": dict(steps=4),
}


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))


# shap's Partition explainer pays ~10 s of CPU once per process (import + numba compilation).
SLOW = {"partition_shap"}


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
                                    for m in A.available_methods()])
def test_every_method_runs_and_keeps_the_input_shape(method, gap_net, images):
    options = dict(FAST_OPTIONS.get(method, {}))
    if method == "l2x":
        options["train_images"] = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    out = A.explain(gap_net, images, None, method, **options)
    assert out.shape == images.shape
    assert torch.isfinite(out).all()
    if method not in ("activation_maximization", "gradcam"):  # Grad-CAM's ReLU may zero a random net's map
        assert out.abs().sum() > 0, f"{method} returned an all-zero map"


def test_every_method_runs_on_a_colour_net():
    torch.manual_seed(0)
    net = GAPCNN(in_channels=3, num_classes=4, width=4).eval()
    x = torch.rand(1, 3, 8, 8)
    for method in ("saliency", "deeplift", "lrp", "gradcam", "cam", "occlusion", "kernel_shap"):
        assert A.explain(net, x, 1, method, **FAST_OPTIONS.get(method, {})).shape == x.shape


def _autograd_gradient(model, images, target):
    x = images.clone().requires_grad_()
    model(x).gather(1, target[:, None]).sum().backward()
    return x.grad


def test_saliency_equals_the_autograd_gradient(gap_net, images):
    target = torch.tensor([0, 2])
    expected = _autograd_gradient(gap_net, images, target)
    assert torch.allclose(A.explain(gap_net, images, target, "saliency"), expected, atol=1e-7)
    assert torch.allclose(A.explain(gap_net, images, target, "saliency", abs=True), expected.abs(), atol=1e-7)
    assert torch.allclose(A.explain(gap_net, images, target, "gradient_x_input"), expected * images, atol=1e-7)


def test_lrp_epsilon_equals_gradient_times_input_on_a_relu_net(gap_net, images):
    # Ancona et al. 2018: ε-LRP with ε → 0 equals gradient × input on ReLU networks.
    lrp = A.explain(gap_net, images, 1, "lrp")
    gxi = A.explain(gap_net, images, 1, "gradient_x_input")
    assert torch.allclose(lrp, gxi, atol=1e-5)


def _score_delta(model, images, target):
    with torch.no_grad():
        out, base = model(images), model(torch.zeros_like(images))
    return (out - base).gather(1, target[:, None]).squeeze(1)


def _avgpool_copy(gap_net):
    """The same net with average instead of max pooling: piecewise linear with ReLUs only, where DeepLIFT's
    rescale rule must sum exactly to the score difference (captum's max-pool rule does not)."""
    net = copy.deepcopy(gap_net)
    for i, module in enumerate(net.features):
        if isinstance(module, nn.MaxPool2d):
            net.features[i] = nn.AvgPool2d(2)
    return net.eval()


@pytest.mark.parametrize("method,options,tolerance", [
    ("integrated_gradients", dict(n_steps=128), 2e-2),
    ("deeplift", {}, 1e-4),
    pytest.param("partition_shap", dict(max_evals=64), 1e-4, marks=pytest.mark.slow),
])
def test_completeness_holds_where_it_should(method, options, tolerance, gap_net, images):
    net = _avgpool_copy(gap_net)
    target = torch.tensor([1, 1])
    attributions = A.explain(net, images, target, method, **options)
    delta = _score_delta(net, images, target)
    relative = (attributions.flatten(1).sum(1) - delta).abs() / delta.abs()
    assert relative.max() < tolerance, relative


def test_saliency_is_not_complete(gap_net, images):
    target = torch.tensor([1, 1])
    delta = _score_delta(gap_net, images, target)
    total = A.explain(gap_net, images, target, "saliency").flatten(1).sum(1)
    assert ((total - delta).abs() / delta.abs()).max() > 0.05


def test_cam_equals_the_explicit_weighted_sum_of_feature_maps(gap_net, images):
    target = torch.tensor([2, 0])
    with torch.no_grad():
        fmap = gap_net.features(images)  # (N, K, 4, 4)
        explicit = torch.zeros(len(images), 1, *fmap.shape[-2:])
        for n in range(len(images)):
            for k in range(fmap.shape[1]):
                explicit[n, 0] += gap_net.fc.weight[target[n], k] * fmap[n, k]
        # the map's spatial mean plus the bias is the class score (what makes CAM exact on a GAP net)
        logits = gap_net(images)
        assert torch.allclose(explicit.mean((1, 2, 3)) + gap_net.fc.bias[target], logits[[0, 1], target], atol=1e-5)
        upsampled = torch.nn.functional.interpolate(explicit, size=images.shape[-2:], mode="bilinear",
                                                    align_corners=False)
    assert torch.allclose(A.explain(gap_net, images, target, "cam"), upsampled, atol=1e-5)


def test_cam_refuses_a_net_without_global_average_pooling(images):
    with pytest.raises(ValueError, match="global average pooling"):
        A.explain(SmallCNN(width=4, hidden=8).eval(), torch.rand(1, 1, 28, 28), 0, "cam")


def test_gradcam_on_a_gap_net_is_the_rectified_cam_up_to_scale(gap_net, images):
    # On fc(GAP(A)): α_k = w_ck / (h·w), so Grad-CAM = ReLU(CAM) / (h·w) before upsampling.
    target = torch.tensor([0, 1])
    with torch.no_grad():
        fmap = gap_net.features(images)
        cam = torch.einsum("nk,nkhw->nhw", gap_net.fc.weight[target], fmap).unsqueeze(1)
        expected = torch.nn.functional.interpolate(cam.relu() / fmap[0, 0].numel(), size=images.shape[-2:],
                                                   mode="bilinear", align_corners=False)
    assert torch.allclose(A.explain(gap_net, images, target, "gradcam"), expected, atol=1e-6)


def test_segment_methods_spread_each_segment_score_evenly(gap_net, images):
    out = A.explain(gap_net, images[:1], 0, "kernel_shap", n_samples=40, patch=4)
    patches = out[0, 0].reshape(4, 4, 4, 4).permute(0, 2, 1, 3).reshape(16, 16)  # (patch, pixel in patch)
    assert torch.allclose(patches, patches[:, :1].expand_as(patches))


def test_l2x_requires_training_and_reports_fidelity(gap_net, images):
    with pytest.raises(ValueError, match="train"):
        A.explain(gap_net, images, None, "l2x")
    explainer = A.train_l2x(gap_net, torch.rand(32, 1, 16, 16), k=4, epochs=1)
    assert 0.0 <= explainer.fidelity <= 1.0
    out = A.explain(gap_net, images, None, "l2x", explainer=explainer)
    assert out.shape == images.shape


def test_activation_maximization_raises_the_class_score_and_the_unit(gap_net):
    x = torch.rand(1, 1, 16, 16)
    start = A.activation_maximization(gap_net, x, torch.tensor([2]), steps=0)
    end = A.activation_maximization(gap_net, x, torch.tensor([2]), steps=20, lr=0.1)
    with torch.no_grad():
        assert gap_net(end)[0, 2] > gap_net(start)[0, 2]
    layer = gap_net.features[3]  # the second conv's ReLU
    unit = A.explain(gap_net, x, 0, "activation_maximization", layer=layer, unit=5, steps=20, lr=0.1)
    with torch.no_grad():
        assert gap_net.features[:4](unit)[0, 5].mean() > gap_net.features[:4](start)[0, 5].mean()
    with pytest.raises(ValueError, match="unit"):
        A.explain(gap_net, x, 0, "activation_maximization", layer=layer)


def test_registry_metadata():
    info = A.METHODS
    assert info["l2x"].needs_training and not info["l2x"].needs_internals
    assert not info["integrated_gradients"].needs_training and info["integrated_gradients"].needs_internals
    for agnostic in ("lime", "kernel_shap", "partition_shap", "occlusion"):
        assert not info[agnostic].needs_internals
    assert info["cam"].requires == "global average pooling"
    assert info["activation_maximization"].output == "synthesis"
    assert "activation_maximization" not in A.available_methods("attribution")
    table = A.methods_table()
    assert set(table["name"]) == set(A.METHODS) and "fn" not in table.columns
    required = {"saliency", "gradient_x_input", "guided_backprop", "deconvnet", "integrated_gradients",
                "smoothgrad", "deeplift", "lrp", "occlusion", "lime", "kernel_shap", "partition_shap",
                "gradcam", "cam", "l2x", "activation_maximization"}
    assert required <= set(A.METHODS)


def test_register_plugs_in_a_new_method(images):
    A.register("zeros_for_test", lambda model, x, target: torch.zeros_like(x), label="zeros", family="test",
               needs_training=False, needs_internals=False, library="test", reference="-", survey_section="-")
    try:
        assert A.explain(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)), images, 0, "zeros_for_test").sum() == 0
    finally:
        del A.METHODS["zeros_for_test"]


def test_unknown_method_names_the_valid_ones(gap_net, images):
    with pytest.raises(KeyError, match="integrated_gradients.*lime|lime.*integrated_gradients"):
        A.explain(gap_net, images, 0, "gradcam++")


def test_bad_inputs_give_clear_errors(gap_net):
    with pytest.raises(ValueError, match="N, C, H, W"):
        A.explain(gap_net, torch.rand(1, 16, 16), 0, "saliency")
    with pytest.raises(ValueError, match="class indices"):
        A.explain(gap_net, torch.rand(2, 1, 16, 16), [0, 1, 2], "saliency")


def test_reused_modules_are_refused():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), relu, nn.Conv2d(2, 2, 3, padding=1), relu,
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="same object"):
        A.explain(net, torch.rand(1, 1, 8, 8), 0, "deeplift")


def test_prepare_model_switches_off_inplace_relus():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
    A.prepare_model(net)
    assert not net[1].inplace


def test_influential_scores_plug_in_when_issue_9_module_is_present():
    try:
        import cnnexplain.methods.influential_scores.fast  # noqa: F401
    except ImportError:
        assert "influential_scores" not in A.METHODS
        return
    info = A.METHODS["influential_scores"]
    assert info.needs_internals and not info.needs_training


def test_l2x_straight_through_trains_on_hard_masks():
    """Training with straight_through: the approximator's input keeps exactly k whole patches (hard mask),
    while the selector still gets gradients through the relaxation."""
    torch.manual_seed(0)
    explainer = A.L2XExplainer(1, 3, patch=4, k=3, width=4)
    explainer.train()
    seen = {}
    handle = explainer.approximator[0].register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0]))
    x = torch.rand(2, 1, 16, 16) + 0.5
    explainer(x).sum().backward()
    handle.remove()
    kept = (seen["x"].abs() > 0).float().reshape(2, 4, 4, 4, 4).amax(dim=(2, 4))  # (N, 4, 4) patches kept
    assert kept.sum(dim=(1, 2)).tolist() == [3.0, 3.0]
    assert explainer.selector[0].weight.grad.abs().sum() > 0
