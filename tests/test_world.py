"""The textured-shapes world: determinism, masks, labels, conditions; and the VGG16Small net that
learns it."""

import numpy as np
import pytest
import torch

from cnnexplain.data import world
from cnnexplain.models.cnns import VGG16Small


def test_same_seed_same_pixels_and_different_seed_differs():
    a = world.make_dataset(2, "original", seed=3, texture_prob=0.5)
    b = world.make_dataset(2, "original", seed=3, texture_prob=0.5)
    c = world.make_dataset(2, "original", seed=4, texture_prob=0.5)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.texture_labels, b.texture_labels)
    assert not torch.equal(a.images, c.images)


def test_shapes_types_and_class_balance():
    batch = world.make_dataset(3, "original", seed=0, size=48)
    images, labels, masks = batch  # unpacks as images, labels, masks
    assert images.shape == (30, 3, 48, 48) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert masks.shape == (30, 48, 48) and masks.dtype == torch.bool
    assert torch.equal(torch.bincount(labels, minlength=10), torch.full((10,), 3))
    # every object is visible and smaller than the image
    frac = masks.float().mean((1, 2))
    assert (frac > 0.05).all() and (frac < 0.8).all()


def test_texture_prob_controls_class_texture_share():
    always = world.make_dataset(5, seed=0, texture_prob=1.0)
    never = world.make_dataset(5, seed=0, texture_prob=0.0)
    assert torch.equal(always.texture_labels, always.labels)
    assert (never.texture_labels == world.NEUTRAL).all()
    half = world.make_dataset(40, seed=0, texture_prob=0.5)
    share = (half.texture_labels == half.labels).float().mean().item()
    assert 0.4 < share < 0.6


def test_shape_prob_keeps_at_least_one_cue():
    batch = world.make_dataset(20, seed=1, texture_prob=0.5, shape_prob=0.0)
    texture_ok = batch.texture_labels == batch.labels
    shape_ok = batch.shape_labels == batch.labels
    assert (texture_ok | shape_ok).all()
    assert torch.equal(shape_ok, ~texture_ok)  # shape_prob=0: shape only where texture is neutral


def test_conditions_share_objects_and_white_background_is_exact():
    orig = world.make_dataset(2, "original", seed=7)
    white = world.make_dataset(2, "white_background", seed=7)
    tex = world.make_dataset(2, "textured", seed=7)
    assert torch.equal(orig.masks, white.masks) and torch.equal(orig.masks, tex.masks)
    m = orig.masks[:, None].expand_as(orig.images)
    assert torch.equal(white.images[m], orig.images[m])  # object pixels unchanged
    assert (white.images[~m] == 1.0).all()  # everything else white
    assert not (orig.images[~m] == 1.0).all()


def test_cue_conflict_labels():
    cc = world.make_cue_conflict(5, seed=2)
    assert cc.condition == "textured"
    assert (cc.texture_labels != cc.labels).all()
    assert (cc.texture_labels >= 0).all() and (cc.texture_labels < 10).all()
    # the texture is drawn on the object: the object's colours follow the texture class, not the shape
    same_tex = world.make_dataset(5, "white_background", seed=2)
    assert torch.equal(cc.masks, same_tex.masks)


def test_texture_patches_fill_the_image_with_one_texture():
    p = world.texture_patches(2, seed=0, size=32)
    assert p.images.shape == (20, 3, 32, 32) and p.masks.all()
    assert torch.equal(p.labels, p.texture_labels)
    # different textures differ in their mean colour far more than two samples of one texture
    means = torch.stack([p.images[p.labels == k].mean((0, 2, 3)) for k in range(10)])
    assert torch.cdist(means, means).fill_diagonal_(1).min() > 0.02


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="condition"):
        world.make_dataset(1, "blurred")
    with pytest.raises(ValueError, match="texture_prob"):
        world.make_dataset(1, texture_prob=1.5)
    with pytest.raises(ValueError, match="n_per_class"):
        world.make_dataset(0)


def test_styled_condition_colour_fallback_keeps_shape():
    styled = world.make_dataset(1, "styled", seed=0, size=32, style_method="colour")
    white = world.make_dataset(1, "white_background", seed=0, size=32)
    assert styled.images.shape == white.images.shape
    assert not torch.allclose(styled.images, white.images)
    assert torch.equal(styled.labels, white.labels)


def test_vgg16small_layout():
    net = VGG16Small()
    layers = net.layers()
    assert list(layers) == [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3))
                            for i in range(1, n + 1)] + ["fc6", "fc7", "fc8"]
    assert len(layers) == 16
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 5
    relus = [m for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 15 and len({id(m) for m in relus}) == 15 and not any(m.inplace for m in relus)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="multiple of 32"):
        VGG16Small(image_size=50)


def test_vgg16small_trains_on_the_world():
    """He init lets the 16-layer plain net learn: the training loss falls well below chance."""
    from cnnexplain.train import fit

    torch.manual_seed(0)
    data = world.make_dataset(12, seed=0, size=32)
    net = VGG16Small(image_size=32, width=8, hidden=64)
    history = fit(net, data.images, data.labels, epochs=12, batch_size=30, lr=2e-3, seed=0, progress=False)
    assert history.loss[-1] < 0.7 * np.log(10), history.loss
