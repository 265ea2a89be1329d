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


# --- VGG16Small (issue 4): the VGG-16 layout at 64 px for the layer-wise influence study ---------------

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
