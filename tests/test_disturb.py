"""White background, mask estimation and its quality, and the shape-bias measure."""

import numpy as np
import pytest
import torch

from cnnexplain.methods import shape_bias as bias
from cnnexplain.methods import disturb
from cnnexplain.data import world


def test_white_background_exact_on_tensor_and_numpy():
    images = torch.rand(2, 3, 8, 8)
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 3:6] = True
    out = disturb.white_background(images, masks)
    assert torch.equal(out[:, :, 2:5, 3:6], images[:, :, 2:5, 3:6])
    keep = masks[:, None].expand_as(images)
    assert (out[~keep] == 1).all()
    hwc = (images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    out_np = disturb.white_background(hwc, masks[0].numpy(), white=255)
    assert out_np.shape == hwc.shape and (out_np[~masks[0].numpy()] == 255).all()
    assert (out_np[masks[0].numpy()] == hwc[masks[0].numpy()]).all()


def test_white_background_rejects_mismatched_mask():
    with pytest.raises(ValueError, match="one \\(H, W\\) mask per image"):
        disturb.white_background(torch.rand(2, 3, 8, 8), torch.ones(3, 8, 8, dtype=torch.bool))


def test_mask_iou_against_hand_counts():
    a = np.zeros((4, 4), bool); a[:2, :2] = True  # 4 pixels
    b = np.zeros((4, 4), bool); b[1:3, 1:3] = True  # 4 pixels, overlap 1
    assert disturb.mask_iou(a, b) == pytest.approx(1 / 7)
    assert disturb.mask_iou(np.stack([a, a]), np.stack([a, b])).tolist() == pytest.approx([1.0, 1 / 7])
    empty = np.zeros((4, 4), bool)
    assert disturb.mask_iou(empty, empty) == 1.0


def test_estimated_masks_find_world_objects():
    batch = world.make_dataset(1, "original", seed=5)
    grab = disturb.estimate_masks(batch.images[:4], "grabcut")
    sal = disturb.estimate_masks(batch.images[:4], "saliency")
    assert grab.shape == batch.masks[:4].shape and grab.dtype == torch.bool
    assert disturb.mask_iou(grab, batch.masks[:4]).mean() > 0.6
    assert disturb.mask_iou(sal, batch.masks[:4]).mean() > 0.3
    # on a white background the object is trivially separable
    white = world.make_dataset(1, "white_background", seed=5)
    assert disturb.mask_iou(disturb.estimate_masks(white.images[:4], "saliency"), white.masks[:4]).mean() > 0.9


def test_shape_bias_counts():
    shape = [0, 1, 2, 3, 4, 5]
    texture = [1, 2, 3, 4, 5, 5]  # the last image is no conflict: skipped
    pred = [0, 1, 3, 9, 5, 5]  # shape, shape, texture, other, texture
    b = bias.shape_bias(pred, shape, texture)
    assert (b.shape_decisions, b.texture_decisions, b.other_decisions, b.n) == (2, 2, 1, 5)
    assert b.shape_bias == 0.5 and b.texture_bias == 0.5
    with pytest.raises(ValueError, match="one entry per image"):
        bias.shape_bias([0], [0, 1], [1, 0])


class _Oracle(torch.nn.Module):
    """A fake classifier that answers from a lookup: the shape class or the texture class."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        idx = (x[:, 0, 0, 0] * 1000).round().long()
        return torch.nn.functional.one_hot(self.answers[idx], 10).float()


def test_shape_bias_of_fake_classifiers():
    cc = world.make_cue_conflict(3, seed=0, size=32)
    cc.images[:, 0, 0, 0] = torch.arange(len(cc)) / 1000  # let the oracle know which image it sees
    assert bias.shape_bias_of(_Oracle(cc.labels), cc).shape_bias == 1.0
    texture_net = bias.shape_bias_of(_Oracle(cc.texture_labels), cc)
    assert texture_net.shape_bias == 0.0 and texture_net.texture_decisions == len(cc)
