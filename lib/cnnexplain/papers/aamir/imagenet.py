"""The paper profile of Aamir et al. (2023): torchvision's VGG16 with ImageNet weights on the paper's 10
classes from a user-provided ImageNet folder, with the three disturbances made by this library.

Nothing is downloaded. Expected layout under ``DATA_ROOT`` (:func:`cnnexplain.data.sources.data_root`)::

    imagenet/train/<wnid>/*.JPEG     ImageNet's training folders of the 19 wnids in :data:`PAPER_CLASSES`
    imagenet/val/<wnid>/*.JPEG       optional: test images (else the images after the first
                                     ``n_train_per_wnid`` of each training folder are used)
    styles/<name>.jpg                the style paintings of :data:`STYLE_PAINTINGS` (any image format)

and torchvision's VGG16 weights (``vgg16-397923af.pth``) in ``torch.hub.get_dir()/checkpoints`` (the
style transfer also needs VGG19's, see :func:`cnnexplain.methods.style.vgg19_features`). Missing pieces raise
:class:`cnnexplain.data.sources.DataUnavailableError` naming what to put where.

The paper trained/evaluated on 30 images × 1000 classes; its influence scores need only the training
images whose influence is read, so here the training set is ``n_train_per_wnid`` (default 30, as the
paper; the preset uses 200: >= 200 per class) images of each of the 19 wnids of its 10 classes. The loss is VGG16's own 1000-way cross-entropy
with each image's ImageNet index (the loss the network was trained with, Eq. 1); analyses use the
paper's 10 class groups (a prediction is correct when the 1000-way argmax falls in the true group).

Style paintings: the paper used Picasso's *The Muse* (1935; not public domain), Hokusai's *The Great
Wave off Kanagawa*, Matisse's *Woman with a Hat* and van Gogh's *The Starry Night*. We substitute
Kandinsky's *Composition VII* (1913, public domain) for *The Muse*. No checksum can be verified offline
here, so the user supplies the files (URLs below are Wikimedia Commons pages) instead of
:func:`cnnexplain.data.download.fetch` with guessed checksums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnexplain.papers.aamir.study import CONDITIONS, Study
from cnnexplain.data.sources import DataUnavailableError, data_root

# paper class -> [(ImageNet wnid, torchvision class index)] (DESIGN.md mapping; indices checked against
# torchvision's category names in tests/test_aamir_paper_profile.py)
PAPER_CLASSES: dict[str, list[tuple[str, int]]] = {
    "cat": [("n02123045", 281), ("n02123394", 283)],
    "bird": [("n01531178", 11), ("n01833805", 94)],
    "elephant": [("n02504013", 385), ("n02504458", 386)],
    "zebra": [("n02391049", 340)],
    "chair": [("n03376595", 559), ("n04099969", 765), ("n02791124", 423)],
    "screwdriver": [("n04154565", 784)],
    "cup": [("n03063599", 504), ("n07930864", 968)],
    "toaster": [("n04442312", 859)],
    "bus": [("n04146614", 779), ("n04487081", 874), ("n03769881", 654)],
    "bicycle": [("n03792782", 671), ("n02835271", 444)],
}

STYLE_PAINTINGS = {
    "great_wave": "https://commons.wikimedia.org/wiki/File:Tsunami_by_hokusai_19th_century.jpg",
    "starry_night": "https://commons.wikimedia.org/wiki/File:Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg",
    "woman_with_a_hat": "https://commons.wikimedia.org/wiki/File:Matisse_-_Woman_with_a_Hat.jpg",
    # substitute for Picasso's The Muse (1935, not public domain):
    "composition_vii": "https://commons.wikimedia.org/wiki/File:Vassily_Kandinsky,_1913_-_Composition_7.jpg",
}

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp")
VGG16_LAYER_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1",
                     "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "fc8")


class Normalize(nn.Module):
    """ImageNet mean/std normalisation as a parameter-free first layer, so inputs stay in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def vgg16_weights_path() -> Path:
    from cnnexplain.compat import torchvision

    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_vgg16(weights: str | None = "imagenet") -> nn.Module:
    """torchvision VGG16 (16 layers: 13 conv + 3 fc) behind a normalisation layer, in eval mode.

    ``weights="imagenet"``: the IMAGENET1K_V1 weights from torch's cache; if the file is absent this stops
    with a message (nothing is downloaded). ``weights=None``: random weights — ONLY for the structural
    smoke test of this profile; its numbers mean nothing."""
    from cnnexplain.compat import torchvision

    model = torchvision.models.vgg16(weights=None)
    if weights == "imagenet":
        path = vgg16_weights_path()
        if not path.is_file():
            url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
            raise DataUnavailableError(
                f"VGG16 ImageNet weights not found at {path}. Download {url} to that path (or run "
                f"`torchvision.models.vgg16(weights='IMAGENET1K_V1')` once on a machine with internet) and "
                f"run again; the default profile needs no weights.")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    return nn.Sequential(Normalize(), model).eval()


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _load(paths, size: int) -> torch.Tensor:
    from PIL import Image

    out = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        side = min(im.size)  # centre crop to a square, then resize (torchvision's eval transform, square)
        left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
        out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)


def check_layout(root: Path, n_train_per_wnid: int, n_test_per_class: int, styles: bool = True) -> None:
    """Raise :class:`DataUnavailableError` listing every missing folder / too-small folder / style."""
    problems = []
    for name, wnids in PAPER_CLASSES.items():
        test_found = 0
        for wnid, _ in wnids:
            n = len(_images_in(root / "imagenet" / "train" / wnid))
            if n < n_train_per_wnid:
                problems.append(f"imagenet/train/{wnid} ({name}): {n} images, need {n_train_per_wnid}")
            test_found += len(_images_in(root / "imagenet" / "val" / wnid)) or max(n - n_train_per_wnid, 0)
        if test_found < n_test_per_class:
            problems.append(f"{name}: {test_found} test images (imagenet/val/<wnid> or extra training images), "
                            f"need {n_test_per_class}")
    if styles:
        for name, url in STYLE_PAINTINGS.items():
            if not any((root / "styles" / f"{name}{s}").is_file() for s in IMAGE_SUFFIXES):
                problems.append(f"styles/{name}.jpg missing (public-domain painting: {url})")
    if problems:
        raise DataUnavailableError(
            f"the paper profile needs a user-provided ImageNet subset under DATA_ROOT={root}:\n  "
            + "\n  ".join(problems[:25]) + ("\n  ..." if len(problems) > 25 else "")
            + "\nSee cnnexplain.papers.aamir.imagenet's docstring for the layout; the default profile needs no data.")


def load_style_images(root: Path, size: int) -> torch.Tensor:
    paths = []
    for name in STYLE_PAINTINGS:
        paths += [p for p in (root / "styles" / f"{name}{s}" for s in IMAGE_SUFFIXES) if p.is_file()][:1]
    return _load(paths, size)


def object_patches(images: torch.Tensor, masks: torch.Tensor, fraction: float = 0.5,
                   size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Texture patches cut from the OBJECT of each image: the square window of side ``fraction`` × the
    image side that holds the most mask pixels (a box filter over the GrabCut mask), resized to ``size``
    (default: the image size). Returns ``(patches (B, 3, size, size), mask coverage of each window)`` —
    the paper's Table 3 patches are object texture alone (zebra, leopard, elephant skin, dog fur)."""
    if images.dim() != 4 or masks.shape != (images.shape[0],) + tuple(images.shape[-2:]):
        raise ValueError(f"need images (B, 3, H, W) and masks (B, H, W), got {tuple(images.shape)} and "
                         f"{tuple(masks.shape)}")
    h, w = images.shape[-2:]
    side = max(2, int(round(fraction * min(h, w))))
    coverage = nn.functional.avg_pool2d(masks.float()[:, None], side, stride=1)[:, 0]  # (B, h-side+1, w-side+1)
    flat = coverage.flatten(1)
    best = flat.argmax(1)
    top, left = best // coverage.shape[-1], best % coverage.shape[-1]
    crops = torch.stack([images[i, :, t:t + side, l:l + side] for i, (t, l) in enumerate(zip(top.tolist(), left.tolist()))])
    size = size or h
    crops = nn.functional.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return crops, flat.max(1).values


def paper_texture_patches(study: Study, n_per_class: int = 5, fraction: float = 0.5, seed: int = 0):
    """Table 3 on ImageNet: ``n_per_class`` texture patches per paper class, cut from the object region
    (GrabCut mask, :func:`cnnexplain.methods.disturb.estimate_masks`) of the class's training images by
    :func:`object_patches`. Returns a :class:`cnnexplain.data.world.WorldBatch`-like batch (images, labels,
    masks, texture_labels, condition="texture_patch") so :func:`cnnexplain.papers.aamir.study.texture_patch_table`
    takes either. The paper's own patches were of zebra, leopard, elephant and golden retriever; here every
    one of its 10 classes gets its own object's texture."""
    from cnnexplain.methods.disturb import estimate_masks
    from cnnexplain.data.world import WorldBatch

    rng = np.random.default_rng(seed)
    picks, labels = [], []
    for c in range(len(study.class_names)):
        pool = np.flatnonzero(study.y_train.numpy() == c)
        if len(pool) == 0:
            raise ValueError(f"no training images of class {study.class_names[c]!r} to cut texture patches from")
        chosen = rng.permutation(pool)[:n_per_class]
        picks += chosen.tolist()
        labels += [c] * len(chosen)
    images = study.x_train[torch.tensor(picks)]
    masks = estimate_masks(images, "grabcut")
    patches, coverage = object_patches(images, masks, fraction)
    thin = int((coverage < 0.5).sum())
    if thin:
        import warnings

        warnings.warn(f"{thin} of {len(coverage)} texture patches are less than half object (GrabCut found "
                      "little foreground in their images); their Table 3 accuracy mixes in background",
                      stacklevel=2)
    labels = torch.tensor(labels)
    batch = WorldBatch(patches, labels, torch.ones(patches.shape[0], *patches.shape[-2:], dtype=torch.bool), labels,
                       "texture_patch")
    return batch, coverage


def _study_key(root: Path, **settings) -> str:
    """The paper study's cache folder name: the settings, the data folder's file list and the source of
    the code that builds the study (:func:`cnnexplain.cache.source_key`: no hand-bumped version)."""
    import sys

    from cnnexplain.cache import source_key
    from cnnexplain.methods import disturb, style

    files = sorted(str(p.relative_to(root)) for sub in ("imagenet", "styles") if (root / sub).is_dir()
                   for p in (root / sub).rglob("*") if p.is_file())
    return "paper-" + source_key({"root": str(root.resolve()), "files": files, **settings},
                                 sys.modules[__name__], disturb, style)


def build_paper_study(data_root_dir=None, n_train_per_wnid: int = 30, n_test_per_class: int = 5,
                      image_size: int = 224, weights: str | None = "imagenet", style_steps: int = 100,
                      texture_steps: int = 100, extractor: str = "pretrained", seed: int = 0,
                      progress: bool = True, use_cache: bool = True, cache_root=None) -> Study:
    """The paper's study on ImageNet: training images, the four test conditions (original; white
    background by GrabCut masks, :func:`cnnexplain.methods.disturb.grabcut_mask`; textured = Gatys texture
    transfer of an object patch (:func:`object_patches`) of another class's training image onto the
    white-background image; styled = Gatys style transfer of one of the paintings), and VGG16.
    ``extractor``: the style-transfer features, "pretrained" (torchvision VGG19, as Gatys) or "random"
    (smoke test only).

    The images and the four conditions (GrabCut + two Gatys transfers: the expensive part) are cached
    under ``<cache_root or cnnexplain.data.download.cache_dir()>/aamir/paper-<hash>/`` keyed by every setting and
    the data folder's file list; :func:`cnnexplain.papers.aamir.study.compute_influence` caches its scores beside them."""
    root = data_root(data_root_dir)
    check_layout(root, n_train_per_wnid, n_test_per_class)
    torch.manual_seed(seed)  # weights=None (smoke): the same random net for the same seed
    model = load_vgg16(weights)  # before the heavy work: stop early when weights are missing
    names = tuple(PAPER_CLASSES)
    folder = None
    if use_cache:
        if cache_root is None:
            from cnnexplain.data.download import cache_dir

            cache_root = cache_dir()
        folder = Path(cache_root) / "aamir" / _study_key(
            root, n_train_per_wnid=n_train_per_wnid, n_test_per_class=n_test_per_class, image_size=image_size,
            weights=weights, style_steps=style_steps, texture_steps=texture_steps, extractor=extractor, seed=seed)
    saved_file = folder / "study.pt" if folder is not None else None
    if saved_file is not None and saved_file.exists():
        saved = torch.load(saved_file, weights_only=True)
        x_train, train_cls_t, x_test, y_test = saved["x_train"], saved["y_train"], saved["x_test"], saved["y_test"]
        texture_labels, train_idx, test_idx_all = saved["texture_labels"], saved["train_idx"], saved["test_idx"]
        y_cls = y_test[: len(y_test) // len(CONDITIONS)]
        from_cache = True
    else:
        x_train, train_cls_t, x_test, y_test, texture_labels, train_idx, test_idx_all, y_cls = _make_paper_data(
            root, n_train_per_wnid, n_test_per_class, image_size, style_steps, texture_steps, extractor, seed,
            progress)
        from_cache = False
        if saved_file is not None:
            folder.mkdir(parents=True, exist_ok=True)
            torch.save({"x_train": x_train, "y_train": train_cls_t, "x_test": x_test, "y_test": y_test,
                        "texture_labels": texture_labels, "train_idx": train_idx, "test_idx": test_idx_all},
                       saved_file.with_suffix(".tmp"))
            saved_file.with_suffix(".tmp").replace(saved_file)
    conditions = np.repeat(np.array(CONDITIONS), len(y_cls))
    groups = torch.full((1000,), -1, dtype=torch.long)
    for c, wnids in enumerate(PAPER_CLASSES.values()):
        for _, index in wnids:
            groups[index] = c

    # Study.predictions / true_class_probability read the paper classes through ``groups``
    info = {"groups": groups, "weights": weights,
            "root": str(root), "loss_labels_train": train_idx, "loss_labels_test": test_idx_all,
            "style_paintings": list(STYLE_PAINTINGS), "extractor": extractor, "data_from_cache": from_cache,
            "trained_now": False}
    return Study(model, x_train, train_cls_t, x_test, y_test, conditions, names, texture_labels,
                 VGG16_LAYER_NAMES, folder, info)


def _make_paper_data(root, n_train_per_wnid, n_test_per_class, image_size, style_steps, texture_steps, extractor,
                     seed, progress):
    from cnnexplain.methods.disturb import estimate_masks, white_background
    from cnnexplain.methods.style import transfer, vgg19_features

    feats = vgg19_features("pretrained" if extractor == "pretrained" else "random", seed=seed)
    names = tuple(PAPER_CLASSES)
    rng = np.random.default_rng(seed)
    train_paths, train_cls, train_idx, test_paths, test_cls, test_idx = [], [], [], [], [], []
    for c, (name, wnids) in enumerate(PAPER_CLASSES.items()):
        pool = []
        for wnid, index in wnids:
            images = _images_in(root / "imagenet" / "train" / wnid)
            train_paths += images[:n_train_per_wnid]
            train_cls += [c] * n_train_per_wnid
            train_idx += [index] * n_train_per_wnid
            val = _images_in(root / "imagenet" / "val" / wnid) or images[n_train_per_wnid:]
            pool += [(p, index) for p in val]
        pick = rng.permutation(len(pool))[:n_test_per_class]
        test_paths += [pool[i][0] for i in pick]
        test_idx += [pool[i][1] for i in pick]
        test_cls += [c] * n_test_per_class
    x_train = _load(train_paths, image_size)
    original = _load(test_paths, image_size)
    masks = estimate_masks(original, "grabcut")
    white = white_background(original, masks)
    y_cls = torch.tensor(test_cls)
    # textured: the texture of another class (an object patch of one of its training images)
    other = (y_cls + torch.from_numpy(rng.integers(1, len(names), len(y_cls)))) % len(names)
    train_cls_t = torch.tensor(train_cls)
    sources = x_train[torch.tensor([int(torch.nonzero(train_cls_t == int(o))[0]) for o in other])]
    patches, _ = object_patches(sources, estimate_masks(sources, "grabcut"), fraction=0.5, size=image_size // 2)
    textured = transfer(white, patches, steps=texture_steps, extractor=feats, seed=seed, progress=progress).image
    styles = load_style_images(root, image_size)
    which = torch.from_numpy(rng.integers(0, len(styles), len(y_cls)))
    styled = transfer(white, styles[which], steps=style_steps, extractor=feats, seed=seed, progress=progress).image
    x_test = torch.cat([original, white, textured.detach(), styled.detach()])
    y_test = y_cls.repeat(len(CONDITIONS))
    texture_labels = torch.cat([torch.full_like(y_cls, -1)] * 2 + [other] + [torch.full_like(y_cls, -1)])
    return (x_train, train_cls_t, x_test, y_test, texture_labels, torch.tensor(train_idx),
            torch.tensor(test_idx).repeat(len(CONDITIONS)), y_cls)
