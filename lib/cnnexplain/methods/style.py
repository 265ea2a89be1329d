"""Gatys style transfer, texture synthesis and texture transfer on any feature extractor.

Gatys, Ecker & Bethge (2015, "A neural algorithm of artistic style"; 2015, "Texture synthesis using
convolutional neural networks") describe an image by the Gram matrices G^l = F^l F^lᵀ of its feature
maps F^l (style / texture) and by the feature maps themselves (content), and synthesise an image by
gradient descent on the pixels:

    L = content_weight · L_content(conv4_2) + style_weight · mean_l L_style(l),  l ∈ conv1_1 … conv5_1

Aamir et al. (2023, §3.1, Fig. 1, 5, 6) use it to make the "styled" and "textured" test images and the
texture-dose series (Fig. 6: the image after k transfer steps). :func:`transfer` runs it with L-BFGS or
Adam, from the content image or from noise, with a seed, a progress bar and snapshots every k steps.

Two feature profiles (:func:`vgg19_features`):

* ``"random"`` (default, offline): VGG19's layout with **random** He-initialised weights and average
  pooling, evaluated on an image pyramid (scales 1, 1/2, …): random multi-scale features suffice for
  texture synthesis (Ustyuzhaninov, Brendel, Gatys & Bethge 2016, "What does it take to generate
  natural textures?"). Styles and textures transfer; semantic content is kept only as pixel-level
  structure, since random features know nothing about objects.
* ``"pretrained"`` (the paper profile): torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``),
  read from the torch hub cache or ``weights_path``; never downloaded implicitly — when the file is
  missing :class:`WeightsUnavailableError` says where to put it.

Layer names follow Gatys's Caffe model, whose ReLUs work in place: ``conv4_2`` is the **rectified**
response of that convolution (use ``prelu4_2`` for the raw convolution output).

Losses are normalised per layer by the target's mean square (‖G−A‖²/‖A‖², ‖F−P‖²/‖P‖²), so the same
weights work for random and pretrained features; Gatys's 1/(4N²M²) factor is a constant per layer that
this normalisation absorbs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cnnexplain.progress import progress as progress_bar

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYERS = ("conv4_2",)
VGG19_CONFIG = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but are not on this machine (nothing is downloaded implicitly)."""


def vgg19_layer_index() -> dict[str, int]:
    """Index in ``torchvision.models.vgg19().features`` of every named layer: ``convB_I`` (rectified,
    Caffe naming), ``preluB_I`` (raw convolution), ``poolB``, and ``pixels`` (-1: the normalised input,
    whose Gram matrix is the colour second-moment matrix)."""
    index, i = {"pixels": -1}, 0
    for block, widths in enumerate(VGG19_CONFIG, start=1):
        for j in range(1, len(widths) + 1):
            index[f"prelu{block}_{j}"] = i
            index[f"conv{block}_{j}"] = i + 1
            i += 2
        index[f"pool{block}"] = i
        i += 1
    return index


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices (B, C, C) of feature maps (B, C, H, W), divided by H·W (Gatys et al. 2015, Eq. 3)."""
    if features.ndim != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


class FeatureExtractor(nn.Module):
    """Named activations of a ``Sequential`` feature stack in one truncated forward pass, on an image
    pyramid. ``images`` are RGB in [0, 1]; they are normalised with ``mean``/``std`` first.

    ``forward(images, layers)`` returns ``{layer: [activation at scale 1, at scale 1/2, ...]}``; scales
    whose image would be smaller than ``min_side`` pixels are skipped.
    """

    def __init__(self, features: nn.Sequential, layer_index: dict[str, int], scales=(1.0,),
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, min_side: int = 16, name: str = "features"):
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.layer_index = dict(layer_index)
        self.scales = tuple(scales)
        self.min_side = min_side
        self.name = name
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def _check_layers(self, layers) -> dict[int, list[str]]:
        unknown = [name for name in layers if name not in self.layer_index]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; {self.name} has {list(self.layer_index)}")
        wanted: dict[int, list[str]] = {}
        for name in layers:
            wanted.setdefault(self.layer_index[name], []).append(name)
        return wanted

    def forward(self, images: torch.Tensor, layers) -> dict[str, list[torch.Tensor]]:
        wanted = self._check_layers(layers)
        last = max(wanted)
        out: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
        x0 = (images - self.mean) / self.std
        for scale in self.scales:
            x = x0 if scale == 1 else F.interpolate(x0, scale_factor=scale, mode="bilinear",
                                                   align_corners=False, antialias=True)
            if min(x.shape[-2:]) < self.min_side:
                continue
            for name in wanted.get(-1, ()):  # "pixels": the normalised image itself
                out[name].append(x)
            for i, module in enumerate(self.features[:last + 1]):
                x = module(x)
                for name in wanted.get(i, ()):
                    out[name].append(x)
        return out


def vgg19_layers(pool: str = "avg", width: float = 1.0) -> nn.Sequential:
    """VGG19's convolutional stack (``torchvision.models.vgg19().features`` indexing) with channel
    counts scaled by ``width`` and ``pool`` = "avg" (Gatys et al.: smoother gradients for synthesis) or
    "max" (torchvision's)."""
    if pool not in ("avg", "max"):
        raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
    layers, channels = [], 3
    for widths in VGG19_CONFIG:
        for w in widths:
            out = max(1, int(round(w * width)))
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
            channels = out
        layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def pretrained_vgg19_path() -> Path:
    """Where torchvision keeps the ImageNet VGG19 weights (torch hub cache)."""
    from cnnexplain.compat import torchvision

    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def vgg19_features(profile: str = "random", seed: int = 0, pool: str = "avg", scales=None,
                   weights_path: str | Path | None = None, width: float | None = None) -> FeatureExtractor:
    """VGG19 feature extractor for style transfer.

    ``profile="random"``: He-initialised random weights drawn from ``seed``, the image pyramid
    ``scales`` (default (1, 0.5, 0.25)) — random multi-scale features (Ustyuzhaninov et al. 2016) — and
    a quarter of VGG19's channels (``width=0.25``: 16 … 128 channels, 16× fewer operations, so that a
    128 px transfer runs in about a minute on two CPU cores; ``width=1`` for the full layout).
    ``profile="pretrained"``: torchvision's ImageNet weights from ``weights_path`` or the torch hub cache
    (default scales (1,)); raises :class:`WeightsUnavailableError` if the file is absent.
    """
    if profile == "random":
        features = vgg19_layers(pool, 0.25 if width is None else width)
        generator = torch.Generator().manual_seed(seed)
        for m in features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                    m.bias.zero_()
        scales = (1.0, 0.5, 0.25) if scales is None else scales
        name = f"random multi-scale VGG19 (seed {seed}, width {0.25 if width is None else width})"
    elif profile == "pretrained":
        if width not in (None, 1, 1.0):
            raise ValueError("pretrained VGG19 has its own widths; leave width=None")
        features = vgg19_layers(pool, 1.0)
        path = Path(weights_path) if weights_path is not None else pretrained_vgg19_path()
        if not path.is_file():
            from cnnexplain.compat import torchvision

            url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
            raise WeightsUnavailableError(
                f"pretrained VGG19 weights not found at {path}. The paper profile needs torchvision's "
                f"ImageNet VGG19 (548 MB): download {url} to that path (or run "
                f"`torchvision.models.vgg19(weights='IMAGENET1K_V1')` once on a machine with internet and "
                f"copy {torch.hub.get_dir()}/checkpoints here), or pass weights_path=. Nothing is "
                f"downloaded automatically; use profile='random' for the offline default.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        prefix = "features."
        features.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        scales = (1.0,) if scales is None else scales
        name = "pretrained VGG19 (torchvision IMAGENET1K_V1)"
    else:
        raise ValueError(f"profile must be 'random' or 'pretrained', got {profile!r}")
    return FeatureExtractor(features, vgg19_layer_index(), scales=scales, name=name)


@lru_cache(maxsize=2)
def default_extractor(seed: int = 0) -> FeatureExtractor:
    """The random multi-scale VGG19 extractor, built once per process."""
    return vgg19_features("random", seed=seed)


# ----------------------------------------------------------------------------------------------------


@dataclass
class StyleResult:
    """Output of :func:`transfer`: the final ``image`` (B, 3, H, W) in [0, 1], the loss ``history``
    per step ('total', 'content', 'style'; index 0 = before the first step), ``snapshots`` as
    (step, image) pairs, and wall-clock ``seconds``."""

    image: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0

    def dose(self) -> list[float]:
        """Texture dose per step: the fraction of the initial style loss removed so far,
        1 − L_style(k)/L_style(0), in [0, 1] (our measurable stand-in for Fig. 6's "texture %")."""
        s = self.history["style"]
        return [max(0.0, 1.0 - v / s[0]) if s[0] > 0 else 0.0 for v in s]


class StyleLoss:
    """Normalised content and style losses of images against fixed targets (computed once)."""

    def __init__(self, extractor: FeatureExtractor, style: torch.Tensor | None, content: torch.Tensor | None,
                 style_layers=STYLE_LAYERS, content_layers=CONTENT_LAYERS):
        self.extractor = extractor
        self.style_layers = tuple(style_layers) if style is not None else ()
        self.content_layers = tuple(content_layers) if content is not None else ()
        self.layers = self.style_layers + tuple(l for l in self.content_layers if l not in self.style_layers)
        with torch.no_grad():
            self.style_targets = ({name: [gram_matrix(f) for f in fs]
                                   for name, fs in extractor(style, self.style_layers).items()}
                                  if style is not None else {})
            self.content_targets = (extractor(content, self.content_layers) if content is not None else {})
            # normalisers of the losses, computed once
            self.style_norms = {n: [(t ** 2).mean() + 1e-12 for t in ts] for n, ts in self.style_targets.items()}
            self.content_norms = {n: [(t ** 2).mean() + 1e-12 for t in ts] for n, ts in self.content_targets.items()}

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.extractor(images, self.layers)
        zero = images.new_zeros(())
        style = zero
        for name in self.style_layers:
            for f, target, norm in zip(feats[name], self.style_targets[name], self.style_norms[name]):
                style = style + ((gram_matrix(f) - target) ** 2).mean() / norm
        content = zero
        for name in self.content_layers:
            for f, target, norm in zip(feats[name], self.content_targets[name], self.content_norms[name]):
                content = content + ((f - target) ** 2).mean() / norm
        n_style = max(1, sum(len(self.style_targets[n]) for n in self.style_layers))
        n_content = max(1, sum(len(self.content_targets[n]) for n in self.content_layers))
        return content / n_content, style / n_style


def _check_image(x: torch.Tensor, what: str, min_pixels: int = 1) -> torch.Tensor:
    """(B, 3, H, W) float images with values in [0, 1] and at least ``min_pixels`` pixels, or a clear error."""
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"{what} must be a (3, H, W) or (B, 3, H, W) RGB tensor in [0, 1], got "
                         f"{getattr(x, 'shape', type(x))}")
    x = (x if x.ndim == 4 else x[None]).float()
    if x.shape[-2] * x.shape[-1] < min_pixels:
        raise ValueError(f"{what} is {x.shape[-2]}×{x.shape[-1]} px; it needs at least {min_pixels} pixels")
    if x.numel() and not (torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise ValueError(f"{what} must hold values in [0, 1], got range [{x.min().item():g}, {x.max().item():g}]"
                         f"{' (0..255 images: divide by 255)' if x.max() > 1 else ''}")
    return x


def _check_side(x: torch.Tensor, what: str, extractor: "FeatureExtractor") -> None:
    """Refuse an image on which every scale of the extractor is skipped (its loss would be 0 forever)."""
    smallest = min(x.shape[-2:])
    if smallest < getattr(extractor, "min_side", 1):
        raise ValueError(f"{what} is {x.shape[-2]}×{x.shape[-1]} px, smaller than the feature extractor's "
                         f"smallest side of {extractor.min_side} px: its loss would be 0 at every step; "
                         f"pass a larger image or size=")


def transfer(content: torch.Tensor | None, style: torch.Tensor, steps: int = 100,
             extractor: FeatureExtractor | None = None, content_weight: float = 1.0,
             style_weight: float = 10.0, optimizer: str = "adam", lr: float | None = None,
             init: str | None = None, size: int | None = None, seed: int = 0,
             snapshot_every: int | None = None, style_layers=STYLE_LAYERS, content_layers=CONTENT_LAYERS,
             progress: bool = True) -> StyleResult:
    """Gatys style transfer of ``style`` onto ``content``; with ``content=None``, texture synthesis.

    ``content``: (B, 3, H, W) or (3, H, W) in [0, 1], or None. ``style``: one image or one per content
    image (any size: Gram matrices do not depend on it). ``size`` resizes content (and style) to
    ``size``×``size`` first. ``init``: "content" (default with content: the texture-transfer dose of
    Aamir Fig. 6 grows step by step from the content image) or "noise" (default without content;
    uniform noise drawn from ``seed``). ``optimizer``: "lbfgs" (one iteration, one function evaluation
    per step; lr default 1) or "adam" (lr default 0.02). Pixels are clamped to [0, 1] after every step.
    ``snapshot_every=k`` keeps the image at steps 0, k, 2k, … and the last.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    style = _check_image(style, "style")
    if content is not None:
        content = _check_image(content, "content")
    if size is not None:
        def resize(x):
            return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        style = resize(style).clamp(0, 1)
        content = resize(content).clamp(0, 1) if content is not None else None
    if content is not None and len(style) not in (1, len(content)):
        raise ValueError(f"give one style image or one per content image: {len(style)} styles for "
                         f"{len(content)} content images")
    extractor = extractor if extractor is not None else default_extractor()
    _check_side(style, "style", extractor)
    if content is not None:
        _check_side(content, "content", extractor)
    loss_fn = StyleLoss(extractor, style, content, style_layers, content_layers)
    if content is None:
        content_weight = 0.0
    init = init or ("content" if content is not None else "noise")
    if init == "content":
        if content is None:
            raise ValueError("init='content' needs a content image; use init='noise' for texture synthesis")
        x = content.clone()
    elif init == "noise":
        shape = content.shape if content is not None else (len(style),) + style.shape[1:]
        x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    else:
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    x.requires_grad_(True)
    if optimizer == "lbfgs":
        # One L-BFGS run with a strong-Wolfe line search; a "step" is one loss evaluation, as in the
        # PyTorch neural-style tutorial (one iteration per step() call stalls: its state is per call).
        opt = torch.optim.LBFGS([x], lr=lr or 1.0, max_iter=steps, max_eval=steps, history_size=50,
                                line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
    elif optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr or 0.02)
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")

    history = {"total": [], "content": [], "style": []}
    snapshots: list[tuple[int, torch.Tensor]] = []

    def evaluate():
        c, s = loss_fn(x)
        return content_weight * c + style_weight * s, c, s

    def record(total, c, s):
        if not torch.isfinite(total):
            raise FloatingPointError(f"style-transfer loss became {total.item()} after {len(history['total'])} "
                                     f"steps; lower lr or the weights")
        history["total"].append(total.item())
        history["content"].append(c.item())
        history["style"].append(s.item())

    bar = progress_bar(total=steps, desc="style transfer", disable=not progress)

    def closure():
        """Loss and gradient at the current image, i.e. after ``len(history)`` steps."""
        k = len(history["total"])
        if snapshot_every and k % snapshot_every == 0:
            snapshots.append((k, x.detach().clamp(0, 1)))
        opt.zero_grad(set_to_none=True)
        total, c, s = evaluate()
        record(total.detach(), c.detach(), s.detach())
        total.backward()
        bar.update(1)
        return total

    start = time.perf_counter()
    if optimizer == "adam":
        for _ in range(steps):
            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)
    else:
        opt.step(closure)  # stops after `steps` evaluations, or earlier if L-BFGS converges
    bar.close()
    with torch.no_grad():
        x.clamp_(0, 1)
        record(*evaluate())
    done = len(history["total"]) - 1
    if snapshot_every and (not snapshots or snapshots[-1][0] != done):
        snapshots.append((done, x.detach().clone()))
    return StyleResult(image=x.detach(), history=history, snapshots=snapshots,
                       seconds=time.perf_counter() - start)


def texture_transfer(content: torch.Tensor, texture: torch.Tensor, steps: int = 50, **kwargs) -> StyleResult:
    """Texture transfer (Aamir et al. §4.2.1, Fig. 5, 6): Gatys transfer with a texture patch as the
    style, starting from the content image, so that snapshots show the texture dose growing."""
    return transfer(content, texture, steps=steps, **kwargs)


def texture_synthesis(texture: torch.Tensor, steps: int = 100, **kwargs) -> StyleResult:
    """A new sample of ``texture`` from noise (Gatys et al. 2015, texture synthesis)."""
    return transfer(None, texture, steps=steps, **kwargs)


def colour_transfer(images: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """Cheap stand-in for style transfer: match each image's per-channel mean and std to its style
    image's (Reinhard et al. 2001 in RGB). Keeps every edge; changes only the colour statistics."""
    images, styles = _check_image(images, "images", 2), _check_image(styles, "styles", 2)
    mu_i, sd_i = images.mean((2, 3), keepdim=True), images.std((2, 3), keepdim=True) + 1e-6
    mu_s, sd_s = styles.mean((2, 3), keepdim=True), styles.std((2, 3), keepdim=True)
    return ((images - mu_i) / sd_i * sd_s + mu_s).clamp(0, 1)


def stylize_batch(images: torch.Tensor, styles: torch.Tensor, which: torch.Tensor, method: str = "gatys",
                  steps: int = 60, seed: int = 0, progress: bool = False, batch_size: int = 64,
                  content_weight: float = 1.0, style_weight: float = 3.0,
                  extractor: FeatureExtractor | None = None) -> torch.Tensor:
    """Restyle every image ``images[i]`` with ``styles[which[i]]`` (the "styled" condition of Aamir
    Fig. 1). ``method="gatys"``: Adam on random multi-scale VGG19 features, in batches;
    ``method="colour"``: :func:`colour_transfer` (fast, colour only)."""
    images = _check_image(images, "images")
    styles = _check_image(styles, "styles")
    which = torch.as_tensor(which, dtype=torch.long)
    if which.shape != (len(images),) or (len(which) and (which.min() < 0 or which.max() >= len(styles))):
        raise ValueError(f"which must hold one index into the {len(styles)} styles per image")
    if method == "colour":
        return colour_transfer(images, styles[which])
    if method != "gatys":
        raise ValueError(f"method must be 'gatys' or 'colour', got {method!r}")
    out = []
    for i in progress_bar(range(0, len(images), batch_size), desc="styling", disable=not progress):
        result = transfer(images[i:i + batch_size], styles[which[i:i + batch_size]], steps=steps,
                          optimizer="adam", lr=0.03, seed=seed, content_weight=content_weight,
                          style_weight=style_weight, progress=False, extractor=extractor)
        out.append(result.image)
    return torch.cat(out) if out else images.clone()
