"""The explanation methods surveyed by Zhang et al. 2019 behind ONE entry point, :func:`explain`.

``explain(model, images, target, method="integrated_gradients", **options)`` returns a tensor of the
images' shape (attribution per input element; activation maximization returns a synthesized input).
Every method is registered in :data:`METHODS` with its metadata (family, whether it needs training or
the model's internals, the library that implements it, the paper). captum and shap do the work where
they implement the method; CAM, L2X and activation maximization are written here.

Conventions (so that maps can be compared and summed):

- ``target``: an int (same class for every image), a tensor of N class indices, or ``None`` (the model's
  predicted class).
- Baselines are zero (black) unless ``baseline=`` says otherwise; deletion/insertion metrics use the same.
- Methods that score groups of elements (LIME, KernelSHAP on patches, L2X on patches, CAM/Grad-CAM maps
  shared by the colour channels) spread each group's score evenly over its elements, so a map's sum is
  the sum of its feature scores (what additivity/completeness is about).
- captum's pitfalls are avoided by the models here: out-of-place ``nn.ReLU`` modules, never reused.
  :func:`prepare_model` makes a torchvision model safe (in-place ReLUs switched off).

Plugging in another method (e.g. Jung et al.'s influential scores, ``cnnexplain.methods.influential_scores.fast``)::

    from cnnexplain.methods.attribution.explain import register
    register("influential_scores", fn, label="Influential scores", family="propagation",
             needs_training=False, needs_internals=True, library="cnnexplain", reference="Jung et al.")

where ``fn(model, images, target, **options)`` returns a tensor shaped like ``images``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class MethodInfo:
    """What the survey's Table 1 asks of a method, declared (the metrics module measures the rest)."""

    name: str
    label: str  # human-readable name for tables and figures
    family: str  # gradient | propagation | perturbation | surrogate | class activation map | ...
    needs_training: bool  # an explainer must be trained before explaining (L2X)
    needs_internals: bool  # needs gradients, layers or weights (i.e. NOT model-agnostic)
    library: str  # "captum", "shap" or "cnnexplain"
    reference: str  # the paper (survey reference number where it has one)
    survey_section: str  # where Zhang et al. 2019 discuss it
    output: str = "attribution"  # "attribution" or "synthesis" (activation maximization)
    requires: str = ""  # an architectural requirement, e.g. "global average pooling"
    fn: Callable = field(default=None, repr=False, compare=False)


METHODS: dict[str, MethodInfo] = {}


def register(name: str, fn: Callable, **info) -> MethodInfo:
    """Add (or replace) a method: ``fn(model, images, target, **options) -> tensor like images``."""
    method = MethodInfo(name=name, fn=fn, **info)
    METHODS[name] = method
    return method


def method_info(name: str) -> MethodInfo:
    """The registry entry for ``name``; a ``KeyError`` naming the valid methods otherwise."""
    if name not in METHODS:
        raise KeyError(f"unknown attribution method {name!r}; valid methods are: {', '.join(METHODS)}")
    return METHODS[name]


def available_methods(output: str | None = None) -> list[str]:
    """Names of registered methods, optionally only those with ``output`` ("attribution"/"synthesis")."""
    return [n for n, m in METHODS.items() if output is None or m.output == output]


def methods_table():
    """The registry as a pandas DataFrame (one row per method, the declared metadata)."""
    import pandas as pd

    rows = [{k: v for k, v in vars(m).items() if k != "fn"} for m in METHODS.values()]
    return pd.DataFrame(rows)


def explain(model: nn.Module, images: torch.Tensor, target=None, method: str = "integrated_gradients",
            **options) -> torch.Tensor:
    """Explain ``model``'s score for ``target`` on a batch ``images`` (N, C, H, W) with ``method``.

    Returns a detached CPU float tensor shaped like ``images``. Options go to the method (see each
    method's function, e.g. :func:`integrated_gradients`). The model is put in eval mode.
    """
    info = method_info(method)
    images = check_images(images)
    model.eval()
    target = resolve_target(model, images, target)
    with warnings.catch_warnings():  # captum's notes on hooks and requires_grad, not problems here
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\..*")
        warnings.filterwarnings("ignore", message=r".*(hooks|requires_grad|required_grads).*")
        result = info.fn(model, images, target, **options)
    if tuple(result.shape) != tuple(images.shape):
        raise RuntimeError(f"method {method!r} returned shape {tuple(result.shape)}, expected the input's "
                           f"{tuple(images.shape)}")
    return result.detach().float().cpu()


# ----------------------------------------------------------------------------------------------- helpers


def check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, C, H, W), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W); got shape {tuple(images.shape)} "
                         "(add a batch dimension with images.unsqueeze(0))")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got {images.dtype}")
    return images.detach()


def resolve_target(model: nn.Module, images: torch.Tensor, target) -> torch.Tensor:
    """Class indices as a long tensor of length N (``None`` = the model's prediction)."""
    n = len(images)
    if target is None:
        with torch.no_grad():
            return model(images).argmax(1)
    if isinstance(target, int) or (isinstance(target, torch.Tensor) and target.dim() == 0):
        return torch.full((n,), int(target), dtype=torch.long, device=images.device)
    target = torch.as_tensor(target, dtype=torch.long, device=images.device)
    if target.shape != (n,):
        raise ValueError(f"target must be an int, None or {n} class indices; got shape {tuple(target.shape)}")
    return target


def prepare_model(model: nn.Module) -> nn.Module:
    """Make a model safe for captum's DeepLIFT / LRP / guided backprop: switch off in-place ReLUs, eval mode.

    Reused activation modules cannot be repaired automatically; :func:`check_no_reused_modules` finds them.
    """
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    check_no_reused_modules(model)
    return model.eval()


def check_no_reused_modules(model: nn.Module) -> None:
    """Raise when a module object appears twice in the model (captum's hooks would then mix layers)."""
    seen: dict[int, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name and id(module) in seen and len(list(module.children())) == 0:
            raise ValueError(f"module {name!r} is the same object as {seen[id(module)]!r}; captum's DeepLIFT, "
                             "LRP and guided backprop need one module per use (define a separate nn.ReLU)")
        seen.setdefault(id(module), name)


def _baseline(images: torch.Tensor, baseline) -> torch.Tensor:
    if isinstance(baseline, torch.Tensor):
        return baseline.to(images).expand_as(images)
    return torch.full_like(images, float(baseline))


def _spread(maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(N, 1, h, w) map → the images' shape: upsampled bilinearly, shared evenly by the channels."""
    if maps.shape[-2:] != images.shape[-2:]:
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return (maps / images.shape[1]).expand_as(images).contiguous()


def grid_segments(images: torch.Tensor, patch: int) -> torch.Tensor:
    """A (1, 1, H, W) mask of square ``patch`` × ``patch`` segments (ids 0..P-1), shared by all channels."""
    h, w = images.shape[-2:]
    rows = torch.arange(h, device=images.device) // patch
    cols = torch.arange(w, device=images.device) // patch
    ncols = (w + patch - 1) // patch
    return (rows[:, None] * ncols + cols[None, :]).reshape(1, 1, h, w)


def slic_segments(image: torch.Tensor, n_segments: int = 50, compactness: float = 10.0) -> torch.Tensor:
    """SLIC superpixels (skimage) of ONE image (C, H, W) as a (1, 1, H, W) mask of ids 0..P-1."""
    from skimage.segmentation import slic

    array = image.detach().cpu().permute(1, 2, 0).numpy().astype(np.float64)
    labels = slic(array, n_segments=n_segments, compactness=compactness, start_label=0,
                  channel_axis=-1 if array.shape[-1] > 1 else None)
    return torch.as_tensor(labels, device=image.device).reshape(1, 1, *labels.shape)


def _segments_for(image: torch.Tensor, segments: str, patch: int, n_segments: int) -> torch.Tensor:
    if segments == "grid":
        return grid_segments(image.unsqueeze(0), patch)
    if segments == "slic":
        return slic_segments(image, n_segments)
    raise ValueError(f"segments must be 'grid' or 'slic', got {segments!r}")


def _per_element(attribution: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Spread each segment's score (repeated on its elements by captum) evenly over those elements."""
    c = attribution.shape[1]
    ids, counts = torch.unique(mask, return_counts=True)
    size = torch.zeros(int(ids.max()) + 1, device=mask.device)
    size[ids] = counts.float() * c
    return attribution / size[mask].expand_as(attribution)


def default_gradcam_layer(model: nn.Module) -> nn.Module:
    """The last ReLU that directly follows the last Conv2d (the rectified last conv map), else that Conv2d."""
    modules = list(model.modules())
    conv_positions = [i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
    if not conv_positions:
        raise ValueError("Grad-CAM needs a convolutional layer; the model has no nn.Conv2d "
                         "(pass layer=<module> explicitly)")
    last = conv_positions[-1]
    if last + 1 < len(modules) and isinstance(modules[last + 1], nn.ReLU):
        return modules[last + 1]
    return modules[last]


# ----------------------------------------------------------------------------------------- captum methods


def saliency(model, images, target, abs: bool = False):
    """Gradient of the class score w.r.t. the input, E_grad(x) = ∂S/∂x (survey §3.3, Simonyan et al. [35]).

    Signed by default (``abs=True`` gives Simonyan's magnitude)."""
    from captum.attr import Saliency

    return Saliency(model).attribute(images.clone().requires_grad_(), target=target, abs=abs)


def gradient_x_input(model, images, target):
    """Gradient × input (Shrikumar et al. 2016); equals DeepLIFT/LRP-0 on some piecewise-linear nets."""
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(images.clone().requires_grad_(), target=target)


def guided_backprop(model, images, target):
    """Guided backpropagation (Springenberg et al. [38]): negative gradients zeroed at every ReLU."""
    from captum.attr import GuidedBackprop

    return GuidedBackprop(model).attribute(images.clone().requires_grad_(), target=target)


def deconvnet(model, images, target):
    """DeconvNet (Zeiler & Fergus [14, 36]): ReLU applied to the backward signal instead of the gradient mask."""
    from captum.attr import Deconvolution

    return Deconvolution(model).attribute(images.clone().requires_grad_(), target=target)


def integrated_gradients(model, images, target, n_steps: int = 32, baseline=0.0,
                         internal_batch_size: int | None = None):
    """Integrated gradients (Sundararajan et al. [31]): (x − x̄) × ∫₀¹ ∂S(x̄ + α(x − x̄))/∂x dα, Gauss–Legendre."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(images, baselines=_baseline(images, baseline), target=target,
                                                n_steps=n_steps, internal_batch_size=internal_batch_size)


def smoothgrad(model, images, target, n_samples: int = 16, noise_level: float = 0.15,
               samples_batch_size: int | None = None):
    """SmoothGrad (Smilkov et al. [39]): E_SG(x) = 1/N Σ E(x + N(0, σ²)), σ = noise_level × (max − min).

    captum's NoiseTunnel around the gradient (saliency)."""
    from captum.attr import NoiseTunnel, Saliency

    sigma = noise_level * float(images.max() - images.min() or 1.0)
    return NoiseTunnel(Saliency(model)).attribute(
        images.clone().requires_grad_(), target=target, nt_type="smoothgrad", nt_samples=n_samples,
        stdevs=sigma, nt_samples_batch_size=samples_batch_size, abs=False)


def deeplift(model, images, target, baseline=0.0):
    """DeepLIFT, rescale rule (Shrikumar et al. [28]): contributions sum to S(x) − S(x̄) (summation-to-delta)."""
    from captum.attr import DeepLift

    check_no_reused_modules(model)
    return DeepLift(model).attribute(images, baselines=_baseline(images, baseline), target=target)


class _RelevancePassThrough(nn.Module):
    """Stands in for a reshape (``nn.Flatten``) or ``nn.Identity`` while captum's LRP runs.

    captum refuses a layer type it has no rule for. The wrapped module still does the work (its hooks
    fire); its output goes through a ``nn.Dropout(p=0)``, an identity in every mode, which captum's LRP
    treats as an activation that passes relevance on unchanged — what LRP prescribes for a reshape.
    (The library used captum's private ε-rule class here before; that gave the same maps up to a factor
    x / (x + 1e-9·sign x) per element.)"""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.wrapped = [module]  # a list, so that captum does not see the module as a layer of its own
        self.pass_relevance = nn.Dropout(p=0.0)

    def forward(self, *inputs):
        return self.pass_relevance(self.wrapped[0](*inputs))


def _swap_reshapes(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every ``nn.Flatten`` / ``nn.Identity`` without a user-set LRP ``rule`` by a pass-through;
    return (parent, name, original) triples for :func:`_restore_reshapes`."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.Flatten, nn.Identity)) and not hasattr(child, "rule"):
                setattr(parent, name, _RelevancePassThrough(child))
                swapped.append((parent, name, child))
    return swapped


def _restore_reshapes(swapped) -> None:
    for parent, name, original in reversed(swapped):
        setattr(parent, name, original)


def lrp(model, images, target):
    """Layer-wise relevance propagation (Bach et al. [29]), captum's ε-rule (ε = 1e-9) on every layer
    with weights or pooling; ReLUs, ``nn.Flatten`` and ``nn.Identity`` pass relevance on unchanged."""
    from captum.attr import LRP

    check_no_reused_modules(model)
    if isinstance(model, (nn.Flatten, nn.Identity)):
        raise ValueError("LRP needs a model with layers, not a bare nn.Flatten / nn.Identity")
    swapped = _swap_reshapes(model)
    try:
        return LRP(model).attribute(images.clone().requires_grad_(), target=target)
    finally:
        _restore_reshapes(swapped)


def occlusion(model, images, target, window: int = 4, stride: int | None = None, baseline=0.0,
              perturbations_per_eval: int = 16):
    """Occlusion (Zeiler & Fergus [14]): slide a ``window`` square of ``baseline`` and record the score drop."""
    from captum.attr import Occlusion

    c = images.shape[1]
    stride = stride or max(1, window // 2)
    return Occlusion(model).attribute(images, sliding_window_shapes=(c, window, window),
                                      strides=(c, stride, stride), baselines=float(baseline), target=target,
                                      perturbations_per_eval=perturbations_per_eval)


def _per_image_surrogate(make_explainer, model, images, target, n_samples, segments, patch, n_segments,
                         baseline, seed, perturbations_per_eval):
    out = torch.zeros_like(images)
    for i in range(len(images)):
        mask = _segments_for(images[i], segments, patch, n_segments)
        torch.manual_seed(seed + i)  # captum samples with torch's global generator
        a = make_explainer(model).attribute(images[i:i + 1], target=target[i:i + 1], feature_mask=mask,
                                            n_samples=n_samples, baselines=float(baseline),
                                            perturbations_per_eval=perturbations_per_eval)
        out[i] = _per_element(a, mask)[0]
    return out


class WeightedRidge:
    """LIME's interpretable model: scikit-learn's ``Ridge`` fitted with LIME's similarity weights.

    captum's ``Lime`` needs only ``fit(loader)`` (a DataLoader of (samples, scores, weights) batches) and
    ``representation()`` (the coefficients, one row per output); this is that, without captum's private
    ``SkLearnRidge`` (same fit: sklearn ``Ridge(alpha)`` with ``sample_weight``, float32 coefficients)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha
        self.coef_: torch.Tensor | None = None

    def fit(self, loader, **fit_options):
        from sklearn.linear_model import Ridge

        batches = [tuple(t.detach().cpu().numpy() for t in batch) for batch in loader]
        x, y, *w = (np.concatenate(parts, axis=0) for parts in zip(*batches))
        ridge = Ridge(alpha=self.alpha).fit(x, y, sample_weight=w[0] if w else None, **fit_options)
        coef = torch.as_tensor(ridge.coef_, dtype=torch.float32)
        self.coef_ = coef.view(coef.shape[0] if coef.ndim > 1 else 1, -1)
        return {}

    def representation(self) -> torch.Tensor:
        if self.coef_ is None:
            raise RuntimeError("WeightedRidge.representation() before fit()")
        return self.coef_


def lime(model, images, target, n_samples: int = 200, segments: str = "grid", patch: int = 4,
         n_segments: int = 50, baseline=0.0, seed: int = 0, ridge_alpha: float = 1.0,
         perturbations_per_eval: int = 50):
    """LIME (Ribeiro et al. [27]) with captum: a weighted ridge model (as the ``lime`` package; captum's
    default Lasso zeroes every coefficient for small score changes) on ``n_samples`` random segment
    subsets, weighted by an exponential cosine-distance kernel.

    Segments: a ``patch`` grid or SLIC superpixels; an absent segment is set to ``baseline``."""
    from captum.attr import Lime

    def make(m):
        return Lime(m, interpretable_model=WeightedRidge(alpha=ridge_alpha))

    return _per_image_surrogate(make, model, images, target, n_samples, segments, patch, n_segments, baseline,
                                seed, perturbations_per_eval)


def kernel_shap(model, images, target, n_samples: int = 200, segments: str = "grid", patch: int = 4,
                n_segments: int = 50, baseline=0.0, seed: int = 0, perturbations_per_eval: int = 50):
    """KernelSHAP (Lundberg & Lee [30]) with captum: Shapley values of segments by weighted regression."""
    from captum.attr import KernelShap

    return _per_image_surrogate(KernelShap, model, images, target, n_samples, segments, patch, n_segments,
                                baseline, seed, perturbations_per_eval)


def partition_shap(model, images, target, max_evals: int = 500, mask_value="zeros", batch_size: int = 100):
    """Partition SHAP (shap's image explainer): Owen values over a hierarchy of image regions.

    ``mask_value``: "zeros" (the baseline every other method here uses), a number, or one of shap's
    strings such as ``"blur(5,5)"`` / ``"inpaint_telea"`` (OpenCV)."""
    import shap

    n, c, h, w = images.shape
    if isinstance(mask_value, str) and mask_value == "zeros":
        mask = np.zeros((h, w, c), dtype=np.float32)
    elif isinstance(mask_value, (int, float)):
        mask = np.full((h, w, c), float(mask_value), dtype=np.float32)
    else:
        mask = mask_value
    masker = shap.maskers.Image(mask, (h, w, c))
    device = images.device
    out = torch.zeros_like(images)
    for i in range(n):
        cls = int(target[i])

        def score(batch_hwc, cls=cls):
            x = torch.as_tensor(np.asarray(batch_hwc), dtype=images.dtype, device=device).permute(0, 3, 1, 2)
            with torch.no_grad():
                return model(x)[:, cls:cls + 1].cpu().numpy()

        explainer = shap.PartitionExplainer(score, masker)
        image = images[i].permute(1, 2, 0).cpu().numpy()[None]
        values = explainer(image, max_evals=max_evals, batch_size=batch_size, silent=True).values
        out[i] = torch.as_tensor(np.asarray(values)[0, ..., 0]).permute(2, 0, 1)
    return out


def gradcam(model, images, target, layer: nn.Module | None = None):
    """Grad-CAM (Selvaraju et al. [45]): ReLU(Σ_k α_k A_k), α_k = spatial mean of ∂S/∂A_k, upsampled.

    ``layer`` defaults to the rectified output of the last conv layer (:func:`default_gradcam_layer`)."""
    from captum.attr import LayerGradCam

    layer = layer or default_gradcam_layer(model)
    maps = LayerGradCam(model, layer).attribute(images, target=target, relu_attributions=True)
    return _spread(maps, images)


# ------------------------------------------------------------------------------------- CAM (own code)


def _gap_parts(model, features, fc):
    features = features or getattr(model, "features", None)
    fc = fc or getattr(model, "fc", None)
    if not isinstance(features, nn.Module) or not isinstance(fc, nn.Linear):
        raise ValueError("CAM needs a net with global average pooling: conv `features` → GAP → one linear "
                         "`fc` (e.g. cnnexplain.models.cnns.GAPCNN); pass features=<module>, fc=<nn.Linear> or use "
                         "method='gradcam' for other nets")
    return features, fc


def class_activation_map(model, images, target, features: nn.Module | None = None, fc: nn.Linear | None = None,
                         check: bool = True):
    """CAM (Zhou et al. [44]): M_c(x, y) = Σ_k w_ck A_k(x, y) on a GAP net, upsampled to the input.

    Checks that the model really is ``fc(GAP(features(x)))`` (``check=False`` skips it); then the mean of
    the map over the feature grid plus the bias is exactly the class score."""
    features, fc = _gap_parts(model, features, fc)
    with torch.no_grad():
        fmap = features(images)  # (N, K, h, w)
        if check:
            logits = model(images)
            via_gap = fc(fmap.mean(dim=(2, 3)))
            if not torch.allclose(logits, via_gap, rtol=1e-4, atol=1e-4):
                raise ValueError("the model's output is not fc(global-average-pool(features(x))): CAM does not "
                                 "apply to this architecture (use method='gradcam')")
        weights = fc.weight[target]  # (N, K)
        maps = torch.einsum("nk,nkhw->nhw", weights, fmap).unsqueeze(1)
    return _spread(maps, images)


# ------------------------------------------------------------------------------------- L2X (own code)


class L2XExplainer(nn.Module):
    """L2X (Chen et al. 2018, survey [7]): a selector that scores P patches and picks k of them, trained
    jointly with an approximator q that must predict the black-box model's output from the k patches alone.

    The model is only queried for its output probabilities (no gradients): L2X is model-agnostic.
    """

    def __init__(self, in_channels: int, num_classes: int, patch: int = 4, k: int = 8, width: int = 32,
                 tau: float = 0.5, straight_through: bool = True):
        super().__init__()
        self.patch, self.k, self.tau, self.straight_through = patch, k, tau, straight_through
        self.selector = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.AvgPool2d(patch),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 1, 1),
        )
        # the approximator keeps a coarse 4×4 layout (not one global average): which patches were kept,
        # and where, is what it must read a class from
        self.approximator = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, num_classes),
        )

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Patch logits, shape (N, 1, H/patch, W/patch)."""
        h, w = images.shape[-2:]
        if h % self.patch or w % self.patch:
            raise ValueError(f"L2X patch size {self.patch} must divide the image size {h}×{w}")
        return self.selector(images)

    def relaxed_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Continuous k-subset sample (Gumbel-softmax, k draws, element-wise max), shape like ``logits``."""
        flat = logits.flatten(1)
        u = torch.rand(flat.shape[0], self.k, flat.shape[1], device=flat.device).clamp_(1e-10, 1 - 1e-10)
        gumbel = -torch.log(-torch.log(u))
        samples = torch.softmax((flat.unsqueeze(1) + gumbel) / self.tau, dim=-1)
        return samples.max(dim=1).values.reshape(logits.shape)

    def hard_mask(self, logits: torch.Tensor) -> torch.Tensor:
        flat = logits.flatten(1)
        top = flat.topk(self.k, dim=1).indices
        return torch.zeros_like(flat).scatter_(1, top, 1.0).reshape(logits.shape)

    def upsample(self, patch_map: torch.Tensor) -> torch.Tensor:
        return patch_map.repeat_interleave(self.patch, dim=2).repeat_interleave(self.patch, dim=3)

    def forward(self, images: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """q(x ⊙ mask). ``hard``: the top-k patches of the selector (explaining). Training: a relaxed
        k-subset sample; with ``straight_through`` (default) the approximator sees that sample's top-k
        patches as a HARD mask while gradients flow through the relaxation, so it learns on the same kind
        of input it is evaluated on (Chen et al. use the relaxed mask itself; at our small training budget
        that train/test mismatch left the approximator near chance)."""
        logits = self.scores(images)
        if hard:
            mask = self.hard_mask(logits)
        else:
            mask = self.relaxed_mask(logits)
            if self.straight_through:
                mask = self.hard_mask(mask) + mask - mask.detach()
        return self.approximator(images * self.upsample(mask))


def train_l2x(model: nn.Module, images: torch.Tensor, patch: int = 4, k: int = 8, epochs: int = 5,
              batch_size: int = 64, lr: float = 2e-3, tau: float = 0.5, seed: int = 0,
              straight_through: bool = True, progress: bool = False) -> L2XExplainer:
    """Train an :class:`L2XExplainer` on unlabeled ``images`` to mimic ``model`` (Chen et al. 2018, Eq. 6).

    Loss: cross-entropy between the model's output distribution and q(x ⊙ mask), mask a relaxed k-subset
    of patches. Returns the explainer in eval mode with ``.fidelity`` = agreement of q on the hard top-k
    mask with the model's prediction on ``images``."""
    from cnnexplain.progress import progress as progress_bar

    images = check_images(images)
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    with torch.no_grad():
        model.eval()
        probs = torch.cat([torch.softmax(model(images[i:i + 256]), 1) for i in range(0, len(images), 256)])
    explainer = L2XExplainer(images.shape[1], probs.shape[1], patch=patch, k=k, tau=tau,
                             straight_through=straight_through).to(images.device)
    opt = torch.optim.Adam(explainer.parameters(), lr=lr)
    order_gen = torch.Generator().manual_seed(seed)
    explainer.train()
    for _ in progress_bar(range(epochs), desc="L2X epochs", disable=not progress):
        for idx in torch.randperm(len(images), generator=order_gen).split(batch_size):
            q = explainer(images[idx])
            loss = -(probs[idx] * torch.log_softmax(q, 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    explainer.eval()
    with torch.no_grad():
        agree = (explainer(images, hard=True).argmax(1) == probs.argmax(1)).float().mean().item()
    explainer.fidelity = agree
    torch.set_rng_state(generator_state)
    return explainer


def l2x(model, images, target, explainer: L2XExplainer | None = None, train_images: torch.Tensor | None = None,
        **train_options):
    """L2X patch scores (the selector's logits), spread evenly over each patch's elements.

    Pass a trained ``explainer`` (:func:`train_l2x`), or ``train_images`` to train one on the fly (the
    model is queried only for its outputs). The scores are instance-wise but not class-specific: L2X
    explains the model's whole output distribution, so ``target`` is not used."""
    if explainer is None:
        if train_images is None:
            raise ValueError("L2X needs training: pass explainer=train_l2x(model, images) or train_images=<tensor>")
        explainer = train_l2x(model, train_images, **train_options)
    with torch.no_grad():
        logits = explainer.scores(images)
        pixel = explainer.upsample(logits)
    return pixel.expand_as(images) / (explainer.patch ** 2 * images.shape[1])


# ------------------------------------------------------------------------ activation maximization (own code)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k1 = k1 / k1.sum()
    c = x.shape[1]
    kh = k1.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1)
    kv = k1.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kh, groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kv, groups=c)


def activation_maximization(model, images, target, layer: nn.Module | None = None, unit=None,
                            steps: int = 64, lr: float = 0.05, l2: float = 1e-2, blur_sigma: float = 0.5,
                            blur_every: int = 4, value_range=(0.0, 1.0), start: str = "noise", seed: int = 0):
    """Activation maximization (Erhan et al. [12], Simonyan et al. [35], regularised as Yosinski et al. [42]).

    Gradient ascent on the input to maximize, per image, the class score ``target`` (``layer=None``) or
    the mean activation of channel/unit ``unit`` of ``layer`` (an int or N ints). L2 decay, a Gaussian
    blur every ``blur_every`` steps and clipping to ``value_range`` keep the image natural. ``start``:
    "noise" (seeded low noise, a global explanation: the same for every image of a class) or "image".
    Returns the synthesized inputs (N, C, H, W)."""
    lo, hi = value_range
    gen = torch.Generator().manual_seed(seed)
    if start == "noise":
        x = lo + (hi - lo) * (0.5 + 0.1 * torch.randn(images.shape, generator=gen)).to(images)
    elif start == "image":
        x = images.clone()
    else:
        raise ValueError(f"start must be 'noise' or 'image', got {start!r}")
    x = x.clamp(lo, hi).requires_grad_()
    if layer is not None:
        if unit is None:
            raise ValueError("activation maximization of a unit needs unit=<channel index> with layer=")
        units = torch.as_tensor(unit, dtype=torch.long).expand(len(images)).to(images.device)
        store = {}
        handle = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    opt = torch.optim.Adam([x], lr=lr)
    centre = (lo + hi) / 2
    try:
        for step in range(steps):
            out = model(x)
            if layer is None:
                objective = out.gather(1, target[:, None]).squeeze(1)
            else:
                act = store["a"]
                act = act.flatten(2).mean(2) if act.dim() > 2 else act
                objective = act.gather(1, units[:, None]).squeeze(1)
            if not objective.requires_grad:
                raise RuntimeError("activation maximization needs gradients of the model's output w.r.t. its input; "
                                   "this model gives none (a black box)")
            loss = -objective.sum() + l2 * ((x - centre) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                if blur_sigma and blur_every and (step + 1) % blur_every == 0:
                    x.copy_(_gaussian_blur(x, blur_sigma))
                x.clamp_(lo, hi)
    finally:
        if layer is not None:
            handle.remove()
    return x.detach()


# ---------------------------------------------------------------------------------------- the registry

_GRAD = dict(needs_training=False, needs_internals=True, library="captum")
register("saliency", saliency, label="Saliency (gradient)", family="gradient", reference="Simonyan et al. 2013 [35]",
         survey_section="3.3 Visualization, gradient-based", **_GRAD)
register("gradient_x_input", gradient_x_input, label="Gradient × input", family="gradient",
         reference="Shrikumar et al. 2016", survey_section="3.3 Visualization, gradient-based", **_GRAD)
register("guided_backprop", guided_backprop, label="Guided backprop", family="gradient",
         reference="Springenberg et al. 2014 [38]", survey_section="3.3 Visualization, gradient-based", **_GRAD)
register("deconvnet", deconvnet, label="DeconvNet", family="gradient", reference="Zeiler & Fergus 2014 [14, 36]",
         survey_section="3.2 Neural units; 3.3 gradient-based", **_GRAD)
register("integrated_gradients", integrated_gradients, label="Integrated gradients", family="gradient",
         reference="Sundararajan et al. 2017 [31]", survey_section="3.3 Feature importance (Table 1)", **_GRAD)
register("smoothgrad", smoothgrad, label="SmoothGrad", family="gradient", reference="Smilkov et al. 2017 [39]",
         survey_section="3.3 Visualization, gradient-based", **_GRAD)
register("deeplift", deeplift, label="DeepLIFT (rescale)", family="propagation",
         reference="Shrikumar et al. 2017 [28]", survey_section="3.3 Feature importance (Table 1)", **_GRAD)
register("lrp", lrp, label="LRP (ε)", family="propagation", reference="Bach et al. 2015 [29]",
         survey_section="3.3 Feature importance (Table 1)", **_GRAD)
register("gradcam", gradcam, label="Grad-CAM", family="class activation map",
         reference="Selvaraju et al. 2016 [45]", survey_section="3.3 Visualization, activation-based", **_GRAD)
register("cam", class_activation_map, label="CAM", family="class activation map", needs_training=False,
         needs_internals=True, library="cnnexplain", reference="Zhou et al. 2016 [44]",
         survey_section="3.3 Visualization, activation-based", requires="global average pooling")
_PERTURB = dict(needs_training=False, needs_internals=False)
register("occlusion", occlusion, label="Occlusion", family="perturbation", library="captum",
         reference="Zeiler & Fergus 2014 [14]", survey_section="3.2 Perturbation", **_PERTURB)
register("lime", lime, label="LIME", family="surrogate", library="captum", reference="Ribeiro et al. 2016 [27]",
         survey_section="3.2 Perturbation; Table 1", **_PERTURB)
register("kernel_shap", kernel_shap, label="KernelSHAP", family="surrogate", library="captum",
         reference="Lundberg & Lee 2017 [30]", survey_section="3.3 Feature importance (Table 1)", **_PERTURB)
register("partition_shap", partition_shap, label="Partition SHAP", family="surrogate", library="shap",
         reference="Lundberg & Lee 2017 [30] (shap's image explainer)",
         survey_section="3.3 Feature importance (Table 1)", **_PERTURB)
register("l2x", l2x, label="L2X", family="learned explainer", needs_training=True, needs_internals=False,
         library="cnnexplain", reference="Chen et al. 2018 [7]", survey_section="3.1 Data characteristics; Table 1")
register("activation_maximization", activation_maximization, label="Activation maximization",
         family="activation maximization", needs_training=False, needs_internals=True, library="cnnexplain",
         reference="Erhan et al. 2009 [12]; Simonyan et al. 2013 [35]",
         survey_section="3.2 Neural units; 3.3 activation-based", output="synthesis")



def _register_influential_scores():
    """Jung et al.'s influential scores (``cnnexplain.methods.influential_scores.fast``), registered when present."""
    try:
        from cnnexplain.methods.influential_scores import fast as influential
    except ImportError:  # not merged yet: the registry simply lacks the method
        return None

    def influential_input_scores(model, images, target):
        """Jung et al.'s input scores: the column J^(input, output)[:, target] of the influential matrix
        (product of the layers' influential matrices/tensors), per image and its target class."""
        scores = influential.influential_scores(model, images, source=0, target="output", nodes=target[:, None])
        return scores[:, 0]

    return register("influential_scores", influential_input_scores, label="Influential scores (Jung et al.)",
                    family="propagation", needs_training=False, needs_internals=True, library="cnnexplain",
                    reference="Jung, Shin & Kwon (influential scores)", survey_section="3.2 Hierarchical analysis")


_register_influential_scores()
