"""NeuroView (Barberan, Balestriero & Baraniuk): turn any CNN into an explainable-by-design network.

Recipe (paper §3, Fig. 1):

1. gather every unit of every layer of a CNN — a *unit* is one output channel of a convolution;
   NeuroView VGG11 has 64+128+256+256+512+512+512+512 = 2,752 units (§4.4);
2. replace each unit's pre-activation ``W_l f_{l-1} + b_l`` (the input of its nonlinearity) by its
   soft vector-quantisation code ``q = sigmoid(pre-activation)`` (§2, Eq. 2);
3. reduce each unit's code map over space by ``max`` or ``mean`` (§3.3, Fig. 1d), so there is one
   number per unit;
4. concatenate the units from the first to the last layer, ``z = [f_1; ...; f_L]`` (§3.1), and feed them
   into ONE wide linear classifier ``y = softmax(W q(z) + b)`` (Eq. 2), replacing the network's own
   head; train everything from scratch.

The row ``W[c]`` then says which units, in which layers, push class ``c`` up or down (Fig. 3).

:class:`UnitCodes` finds the units of any ``nn.Module`` with forward hooks on a dry run (torchvision's
VGG/AlexNet/ResNet and the project's small nets alike), :class:`NeuroView` adds the linear classifier,
:class:`MultiViewNeuroView` does the multi-view variant (§4.4, Fig. 5), and :func:`dissect` is a mini
network dissection (Bau et al. 2017) for Fig. 4's class → concept mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

POOLINGS = ("max", "mean")
SITES = ("conv", "preact")


class _StopForward(Exception):
    """Raised by the last unit's hook: the network's own head is never needed by NeuroView."""


@dataclass(frozen=True)
class UnitLayer:
    """One layer of units: its module name, where its units sit in the concatenated code, its width."""

    index: int  # 0 = first layer
    name: str  # module name inside the backbone, e.g. "features.0" or "layer1.0.conv1"
    start: int  # first unit of this layer in the concatenated code vector
    stop: int  # one past its last unit

    @property
    def n_units(self) -> int:
        return self.stop - self.start


def soft_vq(pre_activation: torch.Tensor) -> torch.Tensor:
    """The soft VQ code of a pre-activation (paper §2): sigmoid, i.e. the probability the unit is on."""
    return torch.sigmoid(pre_activation)


def pool_code(code: torch.Tensor, pooling: str) -> torch.Tensor:
    """Reduce a (N, C, *spatial) code map to (N, C) by ``max`` or ``mean`` over space (Fig. 1d).

    (N, C) inputs (units of a Linear layer) are returned unchanged.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if code.dim() == 2:
        return code
    dims = tuple(range(2, code.dim()))
    return code.amax(dim=dims) if pooling == "max" else code.mean(dim=dims)


def _called_leaves_and_sites(backbone: nn.Module, input_shape: Sequence[int], unit_types, site: str):
    """Dry-run the backbone once; return (unit sites in call order, leaf modules called up to the last site).

    A site is ``(name, module, n_units)``. With ``site="preact"`` a convolution followed directly by a
    BatchNorm (its output is the BatchNorm's input) is replaced by that BatchNorm, whose output is the
    pre-activation ``BN(conv(x))`` that the ReLU sees.
    """
    records = []  # (kind, name, module, input_id, output)
    handles = []

    def recorder(kind, name):
        def hook(module, inputs, output):
            first = inputs[0] if inputs else None
            records.append((kind, name, module, id(first) if first is not None else None, output))
        return hook

    for name, module in backbone.named_modules():
        is_unit = isinstance(module, unit_types)
        is_bn = isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
        is_leaf = not any(True for _ in module.children())
        if is_unit or is_bn or is_leaf:
            kind = "unit" if is_unit else ("bn" if is_bn else "leaf")
            handles.append(module.register_forward_hook(recorder(kind, name)))
    was_training = backbone.training
    backbone.eval()
    first = next(backbone.parameters(), None)  # dry-run in the backbone's own dtype and device (float64 too)
    like = {"dtype": first.dtype, "device": first.device} if first is not None else {}
    try:
        with torch.no_grad():
            backbone(torch.zeros(2, *input_shape, **like))
    except Exception as error:  # a wrong input shape is the usual cause: say so
        raise ValueError(f"the backbone failed on a dry run with input_shape={tuple(input_shape)}: {error}. "
                         "Pass the (channels, height, width) of one input image.") from error
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)

    unit_calls = [r for r in records if r[0] == "unit"]
    if not unit_calls:
        raise ValueError(f"no {[t.__name__ for t in unit_types]} module ran in the backbone: nothing to "
                         "turn into NeuroView units")
    names = [r[1] for r in unit_calls]
    reused = sorted({n for n in names if names.count(n) > 1})
    if reused:
        raise ValueError(f"modules {reused} run more than once per forward; NeuroView needs one call per "
                         "unit layer (use separate module instances)")
    bn_by_input = {r[3]: r for r in records if r[0] == "bn"}
    sites = []
    for kind, name, module, _, output in unit_calls:
        if site == "preact" and id(output) in bn_by_input:
            _, name, module, _, output = bn_by_input[id(output)]
        sites.append((name, module, output.shape[1]))
    last_module = sites[-1][1]
    last_position = max(i for i, r in enumerate(records) if r[2] is last_module)
    called = {id(r[2]) for r in records[:last_position + 1]}
    return sites, called


class UnitCodes(nn.Module):
    """All units of ``backbone`` as one vector of pooled soft-VQ codes, first layer first.

    ``forward(x)`` returns (N, n_units). The backbone's forward stops right after the last unit layer,
    so its own classifier head never runs; with ``prune_head=True`` the parameterised leaf modules that
    would only run after that point (e.g. VGG's ``classifier``, ResNet's ``fc``) are replaced by
    ``nn.Identity`` so they do not count as parameters.
    """

    def __init__(self, backbone: nn.Module, input_shape: Sequence[int], pooling: str = "max",
                 site: str = "conv", unit_types=(nn.Conv2d,), prune_head: bool = True):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if site not in SITES:
            raise ValueError(f"site must be one of {SITES} ('conv': convolution outputs; 'preact': the "
                             f"BatchNorm output after a convolution where there is one), got {site!r}")
        self.backbone = backbone
        self.pooling = pooling
        self.site = site
        self.input_shape = tuple(input_shape)
        sites, called = _called_leaves_and_sites(backbone, input_shape, tuple(unit_types), site)
        self.site_names = [name for name, _, _ in sites]
        layers, start = [], 0
        for i, (name, _, width) in enumerate(sites):
            layers.append(UnitLayer(i, name, start, start + width))
            start += width
        self.layers: list[UnitLayer] = layers
        self.n_units = start
        if prune_head:
            self._prune_unreached(called)

    def _prune_unreached(self, called: set[int]) -> None:
        for name, module in list(self.backbone.named_modules()):
            if not name or any(True for _ in module.children()):
                continue
            if id(module) not in called and any(True for _ in module.parameters(recurse=False)):
                parent_name, _, child = name.rpartition(".")
                parent = self.backbone.get_submodule(parent_name) if parent_name else self.backbone
                setattr(parent, child, nn.Identity())

    def _run(self, x: torch.Tensor, keep_maps: bool, raw: bool = False) -> list[torch.Tensor]:
        """Run the backbone up to its last unit layer; return one code per layer (pooled or maps;
        with ``raw`` the pre-activation maps themselves)."""
        modules = [self.backbone.get_submodule(n) for n in self.site_names]
        codes: list[torch.Tensor | None] = [None] * len(modules)
        last = len(modules) - 1

        def make_hook(i):
            def hook(module, inputs, output):
                if raw:
                    codes[i] = output
                else:
                    code = soft_vq(output)
                    codes[i] = code if keep_maps else pool_code(code, self.pooling)
                if i == last:
                    raise _StopForward
            return hook

        handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(modules)]
        try:
            self.backbone(x)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [self.site_names[i] for i, c in enumerate(codes) if c is None]
        if missing:
            raise RuntimeError(f"unit layers {missing} did not run for an input of shape {tuple(x.shape)}")
        return codes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self._run(x, keep_maps=False), dim=1)

    def code_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The un-pooled soft-VQ code maps, one (N, C_l, h_l, w_l) tensor per unit layer (for dissection)."""
        return self._run(x, keep_maps=True)

    def pre_activation_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The pre-activation maps of every unit layer (what the sigmoid is applied to). Dissection
        thresholds these: the sigmoid is monotone, so the top-quantile regions are the same, but
        saturated codes (exactly 1.0 in float32 above ~17) would make ties at the threshold."""
        return self._run(x, keep_maps=True, raw=True)

    # ---- unit bookkeeping -------------------------------------------------------------------------
    def unit_location(self, unit: int) -> tuple[int, str, int]:
        """(layer index, layer name, channel) of a unit index in the concatenated code."""
        if not 0 <= unit < self.n_units:
            raise IndexError(f"unit {unit} out of range: this network has {self.n_units} units")
        for layer in self.layers:
            if unit < layer.stop:
                return layer.index, layer.name, unit - layer.start
        raise AssertionError("unreachable")

    def unit_table(self):
        """A DataFrame with one row per unit: unit, layer, layer_name, channel."""
        import pandas as pd

        rows = [(layer.start + c, layer.index, layer.name, c) for layer in self.layers for c in range(layer.n_units)]
        return pd.DataFrame(rows, columns=["unit", "layer", "layer_name", "channel"])

    @property
    def layer_boundaries(self) -> np.ndarray:
        """Start index of every layer plus the total, e.g. [0, 64, 192, ..., 2752] for VGG11."""
        return np.array([layer.start for layer in self.layers] + [self.n_units])

    def unit_layer_index(self) -> np.ndarray:
        """For every unit, the index of its layer (for colouring plots)."""
        return np.concatenate([np.full(layer.n_units, layer.index) for layer in self.layers])


class NeuroView(nn.Module):
    """A CNN turned into its NeuroView variant: pooled soft-VQ codes of all units → one linear layer.

    ``backbone`` is the plain network (its head is dropped), ``input_shape`` one input's (C, H, W).
    ``pooling`` is 'max' or 'mean' (Table 1 uses both). ``site='conv'`` takes each convolution's
    output as the pre-activation (exact for nets without BatchNorm, e.g. VGG11, AlexNet); ``'preact'``
    takes the BatchNorm output after a convolution where there is one (ResNets), i.e. the true input
    of the nonlinearity.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, input_shape: Sequence[int], pooling: str = "max",
                 site: str = "conv", unit_types=(nn.Conv2d,), prune_head: bool = True, standardize: bool = False):
        super().__init__()
        self.units = UnitCodes(backbone, input_shape, pooling, site, unit_types, prune_head)
        # Optional: standardise every pooled code to zero mean / unit variance before the linear layer (a
        # BatchNorm without learnable scale or shift). Pooled soft-VQ codes of different units have very
        # different means and spreads, which makes the wide linear layer badly conditioned (it under-fits).
        # In eval mode this is a fixed affine map per unit, so weights()/bias() fold it into W and b:
        # the folded model is exactly Eq. 2, softmax(W' q(z) + b'), on the raw codes in [0, 1].
        self.standardize = nn.BatchNorm1d(self.units.n_units, affine=False) if standardize else None
        self.classifier = nn.Linear(self.units.n_units, num_classes)
        first = next(backbone.parameters(), None)
        if first is not None:  # the head in the backbone's dtype and device (a float64 backbone stays float64)
            self.classifier.to(first.device, first.dtype)
            if self.standardize is not None:
                self.standardize.to(first.device, first.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = self.units(x)
        if self.standardize is not None:
            codes = self.standardize(codes)
        return self.classifier(codes)

    @property
    def n_units(self) -> int:
        return self.units.n_units

    @property
    def layers(self) -> list[UnitLayer]:
        return self.units.layers

    @property
    def layer_boundaries(self) -> np.ndarray:
        return self.units.layer_boundaries

    def unit_location(self, unit: int) -> tuple[int, str, int]:
        return self.units.unit_location(unit)

    def unit_table(self):
        return self.units.unit_table()

    def _folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, b) of Eq. 2 acting on the raw pooled codes, with the eval-mode standardisation folded in:
        W' = W / s, b' = b − W' μ with s = sqrt(running_var + eps), μ = running_mean."""
        w = self.classifier.weight.detach()
        b = self.classifier.bias.detach()
        if self.standardize is None:
            return w, b
        scale = torch.sqrt(self.standardize.running_var.detach() + self.standardize.eps)
        w_folded = w / scale
        return w_folded, b - w_folded @ self.standardize.running_mean.detach()

    def weights(self) -> np.ndarray:
        """The linear classifier's weights W on the raw soft-VQ codes, shape (classes, units) (Eq. 2).

        With ``standardize=True`` this is the folded weight W / s (see :meth:`_folded`), so that
        ``codes @ weights().T + bias()`` equals the model's eval-mode logits."""
        return self._folded()[0].cpu().numpy().copy()

    def bias(self) -> np.ndarray:
        """The classifier bias b on the raw codes (folded like :meth:`weights`), shape (classes,)."""
        return self._folded()[1].cpu().numpy().copy()

    def class_weights(self, class_index: int) -> np.ndarray:
        """W[class_index]: how much each unit pushes that class up (+) or down (−) (Fig. 3)."""
        w = self.weights()
        if not 0 <= class_index < len(w):
            raise IndexError(f"class {class_index} out of range: {len(w)} classes")
        return w[class_index]


class MultiViewNeuroView(nn.Module):
    """Multi-view NeuroView (§4.4): one trunk per view, all views' units concatenated, one linear layer.

    Input (N, V, C, H, W). ``make_backbone()`` builds a fresh plain network (one per view).
    """

    def __init__(self, make_backbone: Callable[[], nn.Module], n_views: int, num_classes: int,
                 input_shape: Sequence[int], pooling: str = "mean", site: str = "conv"):
        super().__init__()
        if n_views < 1:
            raise ValueError(f"n_views must be at least 1, got {n_views}")
        self.views = nn.ModuleList([UnitCodes(make_backbone(), input_shape, pooling, site) for _ in range(n_views)])
        self.units_per_view = self.views[0].n_units
        self.classifier = nn.Linear(n_views * self.units_per_view, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != len(self.views):
            raise ValueError(f"expected input (N, {len(self.views)}, C, H, W), got {tuple(x.shape)}")
        return self.classifier(torch.cat([trunk(x[:, v]) for v, trunk in enumerate(self.views)], dim=1))

    def weights(self) -> np.ndarray:
        return self.classifier.weight.detach().cpu().numpy().copy()

    def view_mean_weights(self) -> np.ndarray:
        """(classes, views): the mean classifier weight over each view's units (Fig. 5)."""
        w = self.weights()
        return w.reshape(w.shape[0], len(self.views), self.units_per_view).mean(axis=2)


class ViewPoolingCNN(nn.Module):
    """The plain multi-view baseline (MVCNN, Su et al. 2015): a shared trunk, element-wise max over views.

    ``features`` maps (N, C, H, W) to a feature map; ``feature_dim`` is its flattened size.
    """

    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int, hidden: int = 64):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, v = x.shape[:2]
        f = self.features(x.flatten(0, 1)).flatten(1).reshape(n, v, -1)
        return self.head(f.amax(dim=1))


# ---- training plain vs NeuroView with the same budget ---------------------------------------------------


# ---- reading the weights --------------------------------------------------------------------------------
def layer_weight_summary(model: NeuroView, class_index: int):
    """Per layer: number of units, mean / max / min weight, and share of the class's top-5% |w| (Fig. 3)."""
    import pandas as pd

    w = model.class_weights(class_index)
    k = max(1, int(round(0.05 * len(w))))
    top = np.argsort(-np.abs(w))[:k]
    layer_of = model.units.unit_layer_index()
    rows = []
    for layer in model.layers:
        wl = w[layer.start:layer.stop]
        rows.append({"layer": layer.index, "layer_name": layer.name, "units": layer.n_units,
                     "mean_w": wl.mean(), "max_w": wl.max(), "min_w": wl.min(),
                     "share_of_top5pct_abs": float(np.mean(layer_of[top] == layer.index))})
    return pd.DataFrame(rows)


# ---- mini network dissection (Bau et al. 2017) for Fig. 4 ------------------------------------------------
def unit_iou(maps: torch.Tensor, masks: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """IoU of each unit's thresholded activation map with each concept mask.

    ``maps`` (N, U, H, W) activations at the masks' resolution, ``masks`` (N, K, H, W) booleans,
    ``thresholds`` (U,). IoU_{u,k} = Σ_n |{maps_u > t_u} ∩ mask_k| / Σ_n |{maps_u > t_u} ∪ mask_k|
    (Bau et al.'s dataset-wide IoU); 0 where the union is empty. Returns (U, K).
    """
    if maps.shape[0] != masks.shape[0] or maps.shape[2:] != masks.shape[2:]:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must share N, H and W")
    active = (maps > thresholds.view(1, -1, 1, 1)).float()
    m = masks.float()
    inter = torch.einsum("nuhw,nkhw->uk", active, m)
    union = active.sum(dim=(0, 2, 3))[:, None] + m.sum(dim=(0, 2, 3))[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def unit_thresholds(values: torch.Tensor, quantile: float) -> torch.Tensor:
    """Per-row ``quantile`` of a (U, M) tensor via ``kthvalue`` (no size limit, unlike torch.quantile)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    k = min(values.shape[1], max(1, int(np.ceil(quantile * values.shape[1]))))
    return values.kthvalue(k, dim=1).values


@torch.no_grad()
def dissect(model: NeuroView, images: torch.Tensor, masks: torch.Tensor, concept_names: Sequence[str],
            quantile: float = 0.99, min_iou: float = 0.04, batch_size: int = 128):
    """Label every unit of ``model`` with the concept whose mask best overlaps its top activations.

    Each unit's map (its pre-activation; the soft-VQ code is a monotone function of it, so the
    top-quantile region is the same) is thresholded at its ``quantile`` over the whole probe set (Bau
    et al. use 0.995 on Broden), upsampled bilinearly to the masks' size; the label is the concept of highest IoU,
    or ``None`` when that IoU is below ``min_iou``. Returns a DataFrame: unit, layer, channel, concept, iou.
    """
    import pandas as pd

    if masks.shape[1] != len(concept_names):
        raise ValueError(f"masks have {masks.shape[1]} concepts but {len(concept_names)} names were given")
    model.eval()
    per_layer = [[] for _ in model.layers]
    for i in range(0, len(images), batch_size):
        for layer, code in zip(per_layer, model.units.pre_activation_maps(images[i:i + batch_size])):
            layer.append(code)
    per_layer = [torch.cat(chunks) for chunks in per_layer]
    size = masks.shape[2:]
    rows = []
    for layer, maps in zip(model.layers, per_layer):
        flat = maps.transpose(0, 1).reshape(maps.shape[1], -1)
        thresholds = unit_thresholds(flat, quantile)
        inter_union = None
        for i in range(0, len(maps), batch_size):
            up = F.interpolate(maps[i:i + batch_size], size=size, mode="bilinear", align_corners=False)
            active = (up > thresholds.view(1, -1, 1, 1)).float()
            m = masks[i:i + batch_size].float()
            inter = torch.einsum("nuhw,nkhw->uk", active, m)
            sums = (inter, active.sum(dim=(0, 2, 3)), m.sum(dim=(0, 2, 3)))
            inter_union = sums if inter_union is None else tuple(a + b for a, b in zip(inter_union, sums))
        inter, act_sum, mask_sum = inter_union
        union = act_sum[:, None] + mask_sum[None, :] - inter
        iou = torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))
        best_iou, best = iou.max(dim=1)
        for c in range(layer.n_units):
            ok = best_iou[c].item() >= min_iou
            rows.append({"unit": layer.start + c, "layer": layer.index, "channel": c,
                         "concept": concept_names[best[c].item()] if ok else None, "iou": best_iou[c].item()})
    return pd.DataFrame(rows)


def class_concepts(model: NeuroView, dissection, class_index: int, top: int = 5, reduce: str = "sum"):
    """Fig. 4: sum the class's weights over the units labelled with each concept; top positive and negative.

    ``reduce="sum"`` is the paper's reading (§4.1); it favours concepts that label many units, which then
    top both lists. ``reduce="mean"`` divides by the number of units carrying the concept (with that
    sign), so a concept held by a few strongly weighted units can win.
    Returns (positive, negative) DataFrames with concept, summed (or mean) weight and percent of the
    class's total positive (resp. negative) value.
    """
    import pandas as pd

    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    w = model.class_weights(class_index)
    labelled = dissection.dropna(subset=["concept"])
    frame = pd.DataFrame({"concept": labelled["concept"].to_numpy(), "w": w[labelled["unit"].to_numpy()]})
    pos = frame[frame.w > 0].groupby("concept").w.agg(reduce).sort_values(ascending=False)
    neg = frame[frame.w < 0].groupby("concept").w.agg(reduce).sort_values()
    positive = pd.DataFrame({"concept": pos.index, "weight": pos.values,
                             "percent": 100 * pos.values / pos.sum() if len(pos) else []}).head(top)
    negative = pd.DataFrame({"concept": neg.index, "weight": neg.values,
                             "percent": 100 * neg.values / neg.sum() if len(neg) else []}).head(top)
    return positive, negative


# ---- the RGB perturbation study (Table 2, Fig. 7) ---------------------------------------------------------
def zero_channel(images: torch.Tensor, channel: int | str) -> torch.Tensor:
    """A copy of (N, 3, H, W) images with the red, green or blue channel set to zero (Fig. 7)."""
    index = {"red": 0, "green": 1, "blue": 2, "r": 0, "g": 1, "b": 2}.get(channel, channel) \
        if isinstance(channel, str) else channel
    if not isinstance(index, int) or not 0 <= index <= 2 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"need (N, 3, H, W) images and a channel in red/green/blue or 0..2; got "
                         f"{tuple(images.shape)} and {channel!r}")
    out = images.clone()
    out[:, index] = 0
    return out


def top_weight_layer_shares(weights: np.ndarray, boundaries: Sequence[int], fraction: float = 0.05,
                            sign: str = "abs") -> np.ndarray:
    """Share of each layer among the top ``fraction`` of weights of every class (all classes pooled).

    ``weights`` (classes, units); ``sign`` 'pos' ranks the largest weights, 'neg' the most negative,
    'abs' the largest magnitudes. Returns one share per layer (sums to 1): where a class's strongest
    units sit (Fig. 3, Fig. 6).
    """
    if sign not in ("abs", "pos", "neg"):
        raise ValueError(f"sign must be 'abs', 'pos' or 'neg', got {sign!r}")
    weights = np.atleast_2d(weights)
    boundaries = np.asarray(boundaries)
    layer_of = np.searchsorted(boundaries, np.arange(weights.shape[1]), side="right") - 1
    k = max(1, int(round(fraction * weights.shape[1])))
    key = {"abs": -np.abs(weights), "pos": -weights, "neg": weights}[sign]
    top = np.argsort(key, axis=1)[:, :k]
    counts = np.bincount(layer_of[top].ravel(), minlength=len(boundaries) - 1)
    return counts / counts.sum()


def layer_unit_shares(boundaries: Sequence[int]) -> np.ndarray:
    """Each layer's share of all units: what :func:`top_weight_layer_shares` would be by chance."""
    widths = np.diff(np.asarray(boundaries))
    return widths / widths.sum()


