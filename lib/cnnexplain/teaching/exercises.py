"""The "given" of every exercise: small, seeded objects an exercise builds for itself, so that it works
whatever the rest of its notebook computes. Each function takes the notebook's ``seed`` (SEED) where the
values are random; the checks call the same functions with the same seed."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 * int(seed) + salt)


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng(1000 * int(seed) + salt)


# --- 00 tour
def tour_logits(seed: int = 0):
    """Logits of 20 digits over 10 classes and their true labels."""
    g = _generator(seed, 1)
    labels = torch.randint(0, 10, (20,), generator=g)
    logits = torch.randn(20, 10, generator=g)
    logits[torch.arange(20), labels] += torch.where(torch.rand(20, generator=g) < 0.7, 3.0, 0.0)
    return logits, labels


# --- 10 synthetic influential scores
def jung_layer(seed: int = 0):
    """A dense layer's weight (PyTorch layout: out=3 x in=4) and its 4 input node values L (after ReLU)."""
    g = _generator(seed, 10)
    weight = torch.randn(3, 4, generator=g)
    values = torch.rand(4, generator=g) + 0.1
    return weight, values


def toy_input():
    """The input of exercise 10.2 / 10.3 for Fig. 2's toy min network."""
    return torch.tensor([[3.0, 1.0]])


# --- 11 MNIST input and filter scores
def conv_layer_scores(seed: int = 0):
    """Scores of a 5-filter 4x4 conv layer w.r.t. one output node: shape (N=1, T=1, C=5, H=4, W=4)."""
    return torch.randn(1, 1, 5, 4, 4, generator=_generator(seed, 11))


def input_score_map(seed: int = 0):
    """Signed input scores of a 28x28 digit."""
    g = _generator(seed, 12)
    return torch.randn(28, 28, generator=g) + 0.3 * torch.linspace(-1, 1, 28)[None, :]


# --- 12 real vs fake
def rgb_scores(seed: int = 0):
    """Signed input scores per colour channel, (3, 16, 16)."""
    g = _generator(seed, 13)
    return torch.randn(3, 16, 16, generator=g) * torch.tensor([1.0, 0.6, 0.3])[:, None, None]


# --- 20 disturbed data set
def cue_conflict_decisions(seed: int = 0):
    """Predictions on 24 cue-conflict images with each image's shape class and texture class."""
    rng = _rng(seed, 20)
    shape = rng.integers(0, 10, 24)
    texture = (shape + rng.integers(1, 10, 24)) % 10
    texture[:3] = shape[:3]  # three images without a conflict (shape and texture agree)
    pick = rng.random(24)
    prediction = np.where(pick < 0.3, shape, np.where(pick < 0.8, texture, (shape + texture + 1) % 10))
    return prediction, shape, texture


def feature_map(seed: int = 0):
    """Feature maps of one image: (B=1, C=4, H=5, W=6)."""
    return torch.rand(1, 4, 5, 6, generator=_generator(seed, 21))


def image_and_mask(seed: int = 0):
    """An RGB image (3, 8, 8) in [0, 1] and its object mask (8, 8), True on the object."""
    g = _generator(seed, 22)
    image = torch.rand(3, 8, 8, generator=g) * 0.8
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    mask = (yy - 3.5) ** 2 + (xx - 3.5) ** 2 < 7
    return image, mask


# --- 21 layer-wise influence
def hessian_2x2():
    """A 2x2 block Hessian H, a test-loss gradient g and the damping λ."""
    hessian = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    gradient = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return hessian, gradient, 0.1


def influence_pair():
    """H, λ, the test image's gradient and one training image's gradient (2 parameters)."""
    hessian, g_test, damping = hessian_2x2()
    g_train = torch.tensor([0.5, -2.0], dtype=torch.float64)
    return hessian, damping, g_test, g_train


def class_scores(seed: int = 0):
    """Influence scores of 12 training images on one test image, their labels and the test image's label."""
    g = _generator(seed, 23)
    scores = torch.randn(12, generator=g)
    train_labels = torch.tensor([0, 1, 2] * 4)
    scores[train_labels == 1] += 1.5
    return scores, train_labels, 1


# --- 22 texture dose
def style_loss_history():
    """The style loss before the first step (index 0) and after each of 8 texture-transfer steps."""
    return [4.0, 3.1, 2.2, 1.6, 1.2, 0.9, 0.75, 0.7, 0.68]


def dose_probabilities():
    """The net's probability of the content's class and of the texture's class after each step."""
    p_content = np.array([0.81, 0.74, 0.66, 0.52, 0.41, 0.33, 0.22, 0.18, 0.15])
    p_texture = np.array([0.03, 0.06, 0.12, 0.25, 0.38, 0.45, 0.61, 0.66, 0.7])
    return p_content, p_texture


# --- 23 clustering
def layer_vectors(seed: int = 0):
    """Two 16-layer influence profiles I_Lavg."""
    rng = _rng(seed, 24)
    a = rng.normal(size=16)
    return a, 0.6 * a + rng.normal(scale=0.8, size=16) + 2.0


def condition_profiles(seed: int = 0):
    """Mean 16-layer influence profile of each test condition of one class."""
    rng = _rng(seed, 25)
    base = rng.normal(size=16)
    return {"original": base + rng.normal(scale=0.1, size=16),
            "white_background": 1.3 * base + rng.normal(scale=0.1, size=16),
            "styled": rng.normal(size=16),
            "textured": np.linspace(-1, 2, 16) + rng.normal(scale=0.2, size=16)}


# --- 24 Shapley values
def three_player_game():
    """A cooperative game on players 0, 1, 2: the value (e.g. class score) of every coalition of regions."""
    v = {(): 0.1, (0,): 0.4, (1,): 0.3, (2,): 0.1, (0, 1): 0.9, (0, 2): 0.5, (1, 2): 0.4, (0, 1, 2): 1.0}
    return {frozenset(k): value for k, value in v.items()}


# --- 30 NeuroView
def pre_activations(seed: int = 0):
    """Pre-activations of a conv layer: (N=2, C=3, H=4, W=4)."""
    return 2 * torch.randn(2, 3, 4, 4, generator=_generator(seed, 30))


def standardized_classifier(seed: int = 0):
    """A linear classifier W (2 classes x 5 units), b on standardised codes (q - mu) / s."""
    g = _generator(seed, 31)
    return (torch.randn(2, 5, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64),
            torch.rand(5, generator=g, dtype=torch.float64) * 0.5 + 0.25,
            torch.rand(5, generator=g, dtype=torch.float64) * 0.2 + 0.05)


def tiny_backbone():
    """A small plain CNN: two convolutions (4 and 6 filters) and a dense head, for 3x8x8 inputs."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 2))


# --- 31 NeuroView weights
def class_weight_row(seed: int = 0):
    """One class's weights over 30 units and each unit's layer (0, 1 or 2; 6, 10 and 14 units)."""
    rng = _rng(seed, 32)
    layer = np.repeat([0, 1, 2], [6, 10, 14])
    return rng.normal(size=30) + 0.5 * layer, layer


def unit_map_and_concept(seed: int = 0):
    """A unit's code map (8, 8), the threshold, and a concept's mask (8, 8)."""
    rng = _rng(seed, 33)
    unit = rng.random((8, 8))
    unit[2:6, 2:6] += 0.6
    concept = np.zeros((8, 8), bool)
    concept[3:7, 3:7] = True
    return unit, 0.9, concept


# --- 32 NeuroView case studies
def rgb_batch(seed: int = 0):
    """Two RGB images (2, 3, 4, 4)."""
    return torch.rand(2, 3, 4, 4, generator=_generator(seed, 34)) + 0.1


def multiview_weights(seed: int = 0):
    """Classifier weights of a multi-view NeuroView: 3 classes x (4 views x 5 units), view after view."""
    return torch.randn(3, 20, generator=_generator(seed, 35))


# --- 40 taxonomy
METHOD_CHOICES = ["saliency", "integrated_gradients", "occlusion", "lime", "kernel_shap", "gradcam", "lrp"]


# --- 41 gallery
def linear_model(seed: int = 0):
    """A linear classifier on 1x2x3 'images' (3 classes), one image and the class to explain."""
    g = _generator(seed, 41)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 6, generator=g))
        model[1].bias.copy_(torch.randn(3, generator=g))
    return model.eval(), torch.rand(1, 1, 2, 3, generator=g), 2


# --- 42 measured Table 1
def deletion_curve_data():
    """Fractions of pixels deleted and the target-class probability at each."""
    fractions = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])
    curve = np.array([0.95, 0.7, 0.52, 0.31, 0.2, 0.12, 0.1, 0.1])
    return fractions, curve


def completeness_data(seed: int = 0):
    """An attribution map (1, 4, 4) and the class score at the image and at the baseline."""
    g = _generator(seed, 42)
    return torch.randn(1, 4, 4, generator=g) * 0.3, 3.2, 0.4


def two_maps(seed: int = 0):
    """An attribution map before and after randomizing the top layer (each 6x6)."""
    rng = _rng(seed, 43)
    before = rng.normal(size=(6, 6))
    return before, 0.5 * before + rng.normal(scale=0.6, size=(6, 6))


# --- 50 influence vs retraining
def removal_problem():
    """A 2-parameter Hessian, the test and one training gradient, and the number of training points."""
    hessian, _, _ = hessian_2x2()
    return hessian, torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([1.0, 0.4], dtype=torch.float64), 500


def predicted_and_actual(seed: int = 0):
    """Predicted and retrained changes of the test loss for 12 removals."""
    rng = _rng(seed, 50)
    predicted = rng.normal(scale=1e-3, size=12)
    return predicted, 0.8 * predicted + rng.normal(scale=3e-4, size=12)


# --- 25 retrain by layer
def layer_scores_two_conditions(seed: int = 0):
    """I_Lavg of 6 original and 6 textured test images over 5 layers: arrays (6, 5) each."""
    rng = _rng(seed, 25)
    original = rng.normal(size=(6, 5)) * np.array([1.0, 10.0, 0.1, 1.0, 5.0])
    shift = np.array([0.2, 30.0, 0.25, 2.5, 1.0])
    textured = original + shift + rng.normal(size=(6, 5)) * np.array([1.0, 10.0, 0.1, 1.0, 5.0])
    return original, textured


def arm_shape_biases():
    """Shape bias after fine-tuning the top-k layers (3 seeds) and k random layers (3 seeds × 4 draws)."""
    top = np.array([0.62, 0.66, 0.60])
    random = np.array([0.55, 0.48, 0.61, 0.52, 0.57, 0.44, 0.63, 0.50, 0.58, 0.47, 0.60, 0.53])
    return top, random
