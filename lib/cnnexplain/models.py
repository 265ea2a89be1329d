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


# --- issue 7 (survey methods): a CNN with global average pooling, the architecture CAM needs -------------


class GAPCNN(nn.Module):
    """Conv blocks → global average pooling → ONE linear layer: the architecture of Zhou et al. 2016 (CAM).

    For ``in_channels × H × W`` inputs (H, W divisible by 4): conv(w) → pool → conv(2w) → pool → conv(4w)
    → GAP → fc(classes). Because the class score is ``fc(mean over space of features(x))``, the class
    activation map ``Σ_k w_ck A_k(x, y)`` is exact (``cnnexplain.attribution.class_activation_map``
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
