"""Colour photographs that ship with scikit-image, as small embedded data sets (no download).

:func:`imagenet_photos` gives four photos (cat, coffee cup, astronaut, rocket) at 224 px, ImageNet-normalised:
the images torchvision's VGG16 explains in the paper profile of notebooks 41/42. :func:`photo_crops` makes
random crops of them (a 4-class colour task), used there as the unlabeled images L2X's explainer trains on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PHOTO_CLASSES = ("chelsea", "coffee", "astronaut", "rocket")  # skimage.data names, in label order
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _photo(name: str) -> torch.Tensor:
    import skimage.data

    image = getattr(skimage.data, name)()
    return torch.tensor(image, dtype=torch.float32).permute(2, 0, 1) / 255.0  # (3, H, W) in [0, 1]


def photo_crops(n_train: int = 2000, n_test: int = 400, size: int = 32, seed: int = 0,
                min_scale: float = 0.15, max_scale: float = 0.45):
    """Random square crops (side = scale × the photo's shorter side) of the four photos, resized to
    ``size`` px, randomly flipped. Returns ``(x_train, y_train, x_test, y_test)``; x in [0, 1],
    shape (N, 3, size, size); y indexes :data:`PHOTO_CLASSES`. Same seed, same crops."""
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    if not 0 < min_scale <= max_scale <= 1:
        raise ValueError(f"need 0 < min_scale <= max_scale <= 1, got {min_scale}, {max_scale}")
    photos = [_photo(name) for name in PHOTO_CLASSES]
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    labels = rng.integers(0, len(photos), size=n)
    crops = torch.empty(n, 3, size, size)
    for i, label in enumerate(labels):
        photo = photos[label]
        h, w = photo.shape[1:]
        side = int(rng.uniform(min_scale, max_scale) * min(h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = photo[:, top:top + side, left:left + side].unsqueeze(0)
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        crops[i] = crop.flip(-1) if rng.random() < 0.5 else crop
    y = torch.tensor(labels, dtype=torch.long)
    crops = crops.clamp(0, 1)
    return crops[:n_train], y[:n_train], crops[n_train:], y[n_train:]


def imagenet_photos(size: int = 224, names=PHOTO_CLASSES) -> torch.Tensor:
    """The photos resized (shorter side) and centre-cropped to ``size``, ImageNet-normalised: (N, 3, size, size)."""
    out = []
    for name in names:
        photo = _photo(name).unsqueeze(0)
        h, w = photo.shape[-2:]
        scale = size / min(h, w)
        photo = F.interpolate(photo, size=(max(size, round(h * scale)), max(size, round(w * scale))),
                              mode="bilinear", align_corners=False, antialias=True)
        h, w = photo.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        out.append(photo[0, :, top:top + size, left:left + size])
    x = torch.stack(out).clamp(0, 1)
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (x - mean) / std


def imagenet_value_range() -> tuple[float, float]:
    """The range of ImageNet-normalised pixels (for clipping synthesized inputs)."""
    lo = min((0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    hi = max((1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    return lo, hi
