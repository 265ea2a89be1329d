"""Networks for the NeuroView notebooks: the paper's architectures (torchvision, ``weights=None``, for the
paper profile) and reduced-width copies of the VGG11 / VGG19 / AlexNet layouts that train on a CPU.

The small copies keep each layout's sequence of convolutions (so the unit/layer structure of Fig. 3 is
the same: 8 conv layers for VGG11, 16 for VGG19, 5 for AlexNet) with every width divided by
``64 / width``; ReLUs are separate modules.
"""

from __future__ import annotations

from torch import nn

VGG_LAYOUTS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
TORCHVISION_ARCHS = ("vgg11", "vgg19", "alexnet", "resnet18", "resnet34", "resnet50")


class SmallVGG(nn.Module):
    """VGG11/VGG19 layout at reduced width for 32×32 inputs: conv stack → global average → 2 dense layers."""

    def __init__(self, layout: str = "vgg11", in_channels: int = 3, num_classes: int = 10, width: int = 8,
                 hidden: int = 64, batch_norm: bool = False):
        super().__init__()
        if layout not in VGG_LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(VGG_LAYOUTS)}, got {layout!r}")
        scale = width / 64
        layers, channels = [], in_channels
        for item in VGG_LAYOUTS[layout]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = max(1, int(round(item * scale)))
            layers.append(nn.Conv2d(channels, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(),
                                        nn.Linear(hidden, num_classes))

        self._init_like_torchvision()

    def _init_like_torchvision(self):
        # torchvision's VGG init (He, fan-out): with PyTorch's default init an 8- or 16-layer VGG stack
        # without BatchNorm barely trains in a dozen epochs.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


class SmallAlexNet(nn.Module):
    """AlexNet layout (5 convolutions: 5×5, 5×5, 3×3, 3×3, 3×3 with three max-pools) for 32×32 inputs."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16, hidden: int = 64,
                 batch_norm: bool = False):
        super().__init__()
        w = width

        def conv(c_in, c_out, k):
            block = [nn.Conv2d(c_in, c_out, k, padding=k // 2)]
            if batch_norm:
                block.append(nn.BatchNorm2d(c_out))
            return block + [nn.ReLU()]

        self.features = nn.Sequential(
            *conv(in_channels, w, 5), nn.MaxPool2d(2),
            *conv(w, 2 * w, 5), nn.MaxPool2d(2),
            *conv(2 * w, 3 * w, 3),
            *conv(3 * w, 2 * w, 3),
            *conv(2 * w, 2 * w, 3), nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 4, hidden), nn.ReLU(),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


def torchvision_net(name: str, num_classes: int):
    """A torchvision classifier with random weights (``weights=None``): the paper's architectures."""
    from cnnexplain.compat import torchvision

    if name not in TORCHVISION_ARCHS:
        raise ValueError(f"name must be one of {TORCHVISION_ARCHS}, got {name!r}")
    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)


def build(arch: str, in_channels: int, num_classes: int, width: int | None = None,
          batch_norm: bool = False) -> nn.Module:
    """One name → one plain network: 'small_vgg11', 'small_vgg19', 'small_alexnet' or a torchvision name.

    ``batch_norm`` puts a BatchNorm after every convolution of the small nets (NeuroView then reads
    its units at the BatchNorm output with ``site="preact"``); torchvision's own nets are built as named
    (``vgg11_bn`` is not in the list: the paper uses plain VGG). torchvision nets expect 3 input
    channels; repeat grayscale inputs (``x.expand(-1, 3, -1, -1)``).
    """
    if arch in ("small_vgg11", "small_vgg19"):
        return SmallVGG(arch.removeprefix("small_"), in_channels, num_classes, width=width or 8,
                        batch_norm=batch_norm)
    if arch == "small_alexnet":
        return SmallAlexNet(in_channels, num_classes, width=width or 16, batch_norm=batch_norm)
    if arch in TORCHVISION_ARCHS:
        if in_channels != 3:
            raise ValueError(f"torchvision's {arch} takes 3 input channels, the data has {in_channels}: "
                             "repeat the channel (x.expand(-1, 3, -1, -1)) first")
        return torchvision_net(arch, num_classes)
    raise ValueError(f"unknown arch {arch!r}; use small_vgg11, small_vgg19, small_alexnet or one of "
                     f"{TORCHVISION_ARCHS}")
