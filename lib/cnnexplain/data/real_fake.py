"""Real-vs-fake images for Jung et al. §IV-C (Fig. 8).

The paper's data (114,000 GAN faces from Karras et al.'s progressive GAN and 73,877 UMDFaces crops) is not
available here. :func:`standin_real_fake` builds an offline stand-in that keeps the one property a fake
detector can use: generator upsampling artefacts. 'Real' images are random colour crops of scikit-image's
photographs; 'fake' images are the same kind of crops re-synthesised the way a GAN generator's last
layers produce pixels: downsampled 2×, then upsampled by a stride-2 transposed convolution with a 3×3
kernel, which leaves the well-known checkerboard pattern (Odena et al., Distill 2016). It is NOT faces
and NOT a GAN; the notebook says so.

:func:`read_image_folders` reads the paper profile's data: ``<root>/real/*`` and ``<root>/fake/*``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnexplain.data.sources import DataUnavailableError

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "cat", "colorwheel")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _photos() -> list[np.ndarray]:
    import skimage.data

    return [getattr(skimage.data, name)().astype(np.float32) / 255.0 for name in PHOTOS]


def _random_crops(n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    photos = _photos()
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        scale = rng.uniform(1.0, 3.0)  # crop a window of size·scale pixels, resized to size
        side = int(min(size * scale, *photo.shape[:2]))
        r = rng.integers(photo.shape[0] - side + 1)
        c = rng.integers(photo.shape[1] - side + 1)
        crop = torch.from_numpy(np.ascontiguousarray(photo[r:r + side, c:c + side])).permute(2, 0, 1)
        crop = F.interpolate(crop[None], size=(size, size), mode="area")[0]
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        crops.append(crop)
    return torch.stack(crops).clamp(0, 1)


def generator_upsampling(images: torch.Tensor, checkerboard: float = 0.3) -> torch.Tensor:
    """Re-synthesise images as a generator's last layer would: 2× down, then a stride-2 transposed 3×3
    convolution per channel. Its kernel mixes exact bilinear interpolation with a fraction
    ``checkerboard`` of a box kernel, whose uneven overlap (1, 2 or 4 taps per output pixel) leaves the
    checkerboard pattern; the mean brightness is kept."""
    c = images.shape[1]
    small = F.avg_pool2d(images, 2)
    bilinear = torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    kernel = (1 - checkerboard) * bilinear + checkerboard * torch.ones(3, 3) / 2.25
    weight = kernel.expand(c, 1, 3, 3).contiguous()
    up = F.conv_transpose2d(small, weight, stride=2, padding=1, output_padding=1, groups=c)
    return up.clamp(0, 1)


def standin_real_fake(n_per_class: int, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``2·n_per_class`` colour images (N, 3, size, size) in [0, 1] and labels (0 = real, 1 = fake),
    shuffled. Real and fake images come from independent crops, so no pair shares content."""
    if size % 2:
        raise ValueError(f"size must be even (2× down/up-sampling); got {size}")
    rng = np.random.default_rng(seed)
    real = _random_crops(n_per_class, size, rng)
    # 2-pixel margins are cut off: the transposed convolution darkens the last row and column, an edge
    # a detector would otherwise use instead of the checkerboard
    fake = generator_upsampling(_random_crops(n_per_class, size + 4, rng))[..., 2:-2, 2:-2]
    x = torch.cat([real, fake])
    y = torch.cat([torch.zeros(n_per_class, dtype=torch.long), torch.ones(n_per_class, dtype=torch.long)])
    order = torch.from_numpy(rng.permutation(len(x)))
    return x[order], y[order]


def read_image_folders(root, size: int = 224, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper profile's data: images under ``<root>/real`` (label 0) and ``<root>/fake`` (label 1),
    resized to ``size``×``size`` RGB in [0, 1]. At most ``limit`` images per class. Stops with a clear
    message when a folder is missing or empty."""
    from PIL import Image

    root = Path(root).expanduser() if root else None
    images, labels = [], []
    for label, folder in enumerate(("real", "fake")):
        path = root / folder if root else None
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path and path.is_dir() else []
        if not files:
            raise DataUnavailableError(
                f"no images in {path if path else '<DATA_ROOT>/' + folder}: the paper profile of the real-vs-fake "
                "notebook needs DATA_ROOT with real/ (e.g. UMDFaces crops) and fake/ (e.g. progressive-GAN faces) "
                "image folders; set DATA_ROOT in the parameters cell or use the default profile (stand-in data)")
        for file in files[:limit]:
            with Image.open(file) as im:
                im = im.convert("RGB").resize((size, size), Image.BILINEAR)
                images.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1))
            labels.append(label)
    return torch.stack(images), torch.tensor(labels)
