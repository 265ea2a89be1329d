"""Model builders shared by the notebooks. ReLUs are separate ``nn.ReLU`` modules (never reused,
never in place) so captum's DeepLIFT / LRP / guided backprop and shap's DeepExplainer can hook them."""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Module):
    """A small MNIST-sized CNN: two 3×3 conv blocks with max-pooling, then two dense layers.

    For 28×28 inputs: conv(16) → pool → conv(32) → pool → fc(64) → fc(classes).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 width: int = 16, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * side * side, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


# --- Jung, Shin, Kwon (influential scores): the synthetic-data MLP, the 41-kernel hybrid CNN and the
# --- fake-face CNN. Plain nn.Sequential with named layers, so cnnexplain.methods.influential_scores.fast addresses them by name.

def jung_mlp(in_features: int = 10, hidden: int = 200, depth: int = 3, num_outputs: int = 2) -> nn.Sequential:
    """Jung et al. §IV-A: 10 inputs, three fully connected ReLU hidden layers L1, L2, L3 of 200 nodes,
    2 outputs (Y0, Y1). Returns logits; names ``fc1, L1, fc2, L2, fc3, L3, out``."""
    from collections import OrderedDict

    layers, width = OrderedDict(), in_features
    for k in range(1, depth + 1):
        layers[f"fc{k}"] = nn.Linear(width, hidden)
        layers[f"L{k}"] = nn.ReLU()
        width = hidden
    layers["out"] = nn.Linear(width, num_outputs)
    return nn.Sequential(layers)


def _rotate45(kernel):
    """Rotate a 3×3 kernel by 45° (shift the outer ring one step clockwise)."""
    import numpy as np

    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    out = np.array(kernel, dtype=float)
    for (r, c), (r2, c2) in zip(ring, ring[1:] + ring[:1]):
        out[r2, c2] = kernel[r][c]
    return out


def general_image_kernels():
    """41 commonly used 3×3 image kernels for the hybrid CNN's fixed first layer, as ``(names, (41,1,3,3))``.

    Jung et al. [10] substitute the first conv layer with '41 pre-defined and commonly used image kernels
    such as sharpening, embossing, gradient operators, etc.' without listing them; this is our list of
    the same families (so the paper's filter numbers, e.g. 'the 15th filter', do not map onto ours):
    identity, box and Gaussian blur, 2 sharpen, 2 Laplacian, Sobel/Prewitt/Scharr gradients in ±x and ±y,
    2 diagonal Sobel, 8 emboss directions, 4 line detectors and 8 Kirsch compass kernels.
    """
    import numpy as np
    import torch

    kernels: list[tuple[str, np.ndarray]] = []

    def add(name, k):
        kernels.append((name, np.asarray(k, dtype=float)))

    add("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    add("box blur", np.full((3, 3), 1 / 9))
    add("gaussian blur", np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    add("sharpen 4", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    add("sharpen 8", [[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]])
    add("laplacian 4", [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    add("laplacian 8", [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    for family, x_kernel in [("sobel", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
                             ("prewitt", [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
                             ("scharr", [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])]:
        k = np.array(x_kernel, dtype=float)
        add(f"{family} +x", k)
        add(f"{family} -x", -k)
        add(f"{family} +y", k.T)
        add(f"{family} -y", -k.T)
    add("sobel diagonal 45", [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]])
    add("sobel diagonal 135", [[2, 1, 0], [1, 0, -1], [0, -1, -2]])
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=float)
    for step in range(8):
        add(f"emboss {45 * step}", emboss)
        emboss = _rotate45(emboss)
    add("line horizontal", [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]])
    add("line vertical", [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]])
    add("line 45", [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]])
    add("line 135", [[2, -1, -1], [-1, 2, -1], [-1, -1, 2]])
    kirsch = np.array([[5, 5, 5], [-3, 0, -3], [-3, -3, -3]], dtype=float)
    for step in range(8):
        add(f"kirsch {45 * step}", kirsch)
        kirsch = _rotate45(kirsch)
    names = [n for n, _ in kernels]
    weights = torch.tensor(np.stack([k for _, k in kernels]), dtype=torch.float32).unsqueeze(1)
    assert weights.shape == (41, 1, 3, 3), weights.shape
    return names, weights


def jung_hybrid_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Jung et al. §IV-B hybrid CNN for 28×28 digits: 41 fixed image kernels (not trained), then 64 and 128
    3×3 convolutions ('same' padding), a 2×2 max-pool after each of the three convolutions, and dense
    layers 2048×625 and 625×10. 28 → 14 → 7 → 4 (the last pool rounds up, as TensorFlow's 'SAME' pooling
    does; 128·4·4 = 2048). Layer names: ``kernels41, L1, pool1, conv64, ..., fc625, L4, out``."""
    from collections import OrderedDict

    import torch

    names, weights = general_image_kernels()
    kernels = nn.Conv2d(in_channels, 41, 3, padding=1, bias=False)
    with torch.no_grad():
        kernels.weight.copy_(weights.repeat(1, in_channels, 1, 1) / in_channels)
    kernels.weight.requires_grad_(False)
    model = nn.Sequential(OrderedDict([
        ("kernels41", kernels), ("L1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv64", nn.Conv2d(41, 64, 3, padding=1)), ("L2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("conv128", nn.Conv2d(64, 128, 3, padding=1)), ("L3", nn.ReLU()), ("pool3", nn.MaxPool2d(2, ceil_mode=True)),
        ("flatten", nn.Flatten()), ("fc625", nn.Linear(2048, 625)), ("L4", nn.ReLU()),
        ("out", nn.Linear(625, num_classes)),
    ]))
    model.kernel_names = names
    return model


def jung_fake_face_cnn(image_size: int = 224, in_channels: int = 3, num_classes: int = 2) -> nn.Sequential:
    """Jung et al. §IV-C real-vs-fake CNN: 32, 64, 128 3×3 convolutions ('same' padding), max-pools of
    3×3, 3×3 and 2×2 after them, a 625-node dense layer and the 625×2 output layer (224 px in the paper)."""
    from collections import OrderedDict

    side = image_size // 3 // 3 // 2
    if side < 1:
        raise ValueError(f"image_size={image_size} is too small for pools of 3, 3 and 2 (need at least 18)")
    return nn.Sequential(OrderedDict([
        ("conv32", nn.Conv2d(in_channels, 32, 3, padding=1)), ("L1", nn.ReLU()), ("pool1", nn.MaxPool2d(3)),
        ("conv64", nn.Conv2d(32, 64, 3, padding=1)), ("L2", nn.ReLU()), ("pool2", nn.MaxPool2d(3)),
        ("conv128", nn.Conv2d(64, 128, 3, padding=1)), ("L3", nn.ReLU()), ("pool3", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc625", nn.Linear(128 * side * side, 625)), ("L4", nn.ReLU()),
        ("out", nn.Linear(625, num_classes)),
    ]))

# --- end of Jung et al. models


# --- VGG16Small: the VGG-16 layout at 64 px for the layer-wise influence study ---------------

VGG16_BLOCKS = ((2, 1), (2, 2), (3, 4), (3, 8), (3, 8))  # (conv layers, width multiplier) per block


class VGG16Small(nn.Module):
    """VGG-16's layout (Simonyan & Zisserman 2015, configuration D) shrunk for 64 px images on a CPU.

    13 3×3 conv layers in five blocks of 2, 2, 3, 3, 3, each block ending in a 2×2 max-pool, then three
    dense layers: the 16 layers Aamir et al. (2023) score one by one. Widths are ``width`` × (1, 2, 4,
    8, 8) (VGG-16 proper: 64 × the same) and ``hidden`` units in the first two dense layers (VGG-16:
    4096). No BatchNorm and no dropout (influence functions want a deterministic, smooth loss); every
    ReLU is its own ``nn.ReLU`` module. Without BatchNorm such a deep plain net trains only from He
    (kaiming) initialisation, which ``__init__`` applies.

    ``conv_layers()`` / ``linear_layers()`` / ``layers()`` return the 13 + 3 = 16 parametrised modules in
    order, named ``conv1_1`` … ``conv5_3``, ``fc6``, ``fc7``, ``fc8`` (``layer_names``).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 64, width: int = 8,
                 hidden: int = 128):
        super().__init__()
        if image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (five 2x2 max-pools), got {image_size}")
        layers, names, channels = [], [], in_channels
        for block, (repeat, mult) in enumerate(VGG16_BLOCKS, start=1):
            for i in range(1, repeat + 1):
                layers += [nn.Conv2d(channels, width * mult, 3, padding=1), nn.ReLU()]
                names.append(f"conv{block}_{i}")
                channels = width * mult
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = image_size // 32
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        self.layer_names = tuple(names) + ("fc6", "fc7", "fc8")
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(self.features(x))

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.classifier if isinstance(m, nn.Linear)]

    def layers(self) -> dict[str, nn.Module]:
        """The 16 parametrised layers by name, in forward order."""
        return dict(zip(self.layer_names, self.conv_layers() + self.linear_layers()))


# --- survey methods: a CNN with global average pooling, the architecture CAM needs -------------


class GAPCNN(nn.Module):
    """Conv blocks → global average pooling → ONE linear layer: the architecture of Zhou et al. 2016 (CAM).

    For ``in_channels × H × W`` inputs (H, W divisible by 4): conv(w) → pool → conv(2w) → pool → conv(4w)
    → GAP → fc(classes). Because the class score is ``fc(mean over space of features(x))``, the class
    activation map ``Σ_k w_ck A_k(x, y)`` is exact (``cnnexplain.methods.attribution.explain.class_activation_map``
    checks this). The parts are named ``features`` (ending in the last ReLU), ``gap`` and ``fc``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(),
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * width, num_classes)
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # He initialisation: with torch's default the GAP net stalls at chance
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.fc(self.flatten(self.gap(self.features(x))))
