"""Image disturbances of Aamir et al. (2023, §3.1, Fig. 1): the object on a white background, and
object masks for images that come without one.

* :func:`white_background` — everything outside the object mask becomes white (exact, given a mask).
* :func:`grabcut_mask` — a mask for a user image by OpenCV's GrabCut (Rother et al. 2004), initialised
  with a rectangle (default: the image minus a 6 % border, i.e. "the object is roughly in the middle").
* :func:`saliency_mask` — a cheaper mask: colour distance of every pixel to the border's colours,
  thresholded with Otsu's method, keeping the largest connected region.
* :func:`mask_iou` — the quality of an estimated mask against a true one (intersection over union);
  the textured-shapes world (:mod:`cnnexplain.data.world`) ships true masks to measure it.

For the synthetic style and texture disturbances see :mod:`cnnexplain.methods.style`.
"""

from __future__ import annotations

import numpy as np
import torch


def _image_batch(images) -> tuple[torch.Tensor, bool]:
    """(B, C, H, W) float tensor from a (C, H, W) / (B, C, H, W) tensor or an (H, W, 3) array."""
    if isinstance(images, np.ndarray):
        if images.ndim != 3 or images.shape[-1] != 3:
            raise ValueError(f"a numpy image must be (H, W, 3), got shape {images.shape}")
        images = torch.from_numpy(np.ascontiguousarray(images.transpose(2, 0, 1)))
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        raise ValueError(f"images must be (C, H, W) or (B, C, H, W) tensors, got {getattr(images, 'shape', images)}")
    single = images.ndim == 3
    return (images[None] if single else images), single


def white_background(images, masks, white: float = 1.0):
    """Replace every pixel outside the object ``masks`` by ``white`` (1.0 for images in [0, 1]; pass
    255 for uint8 images). ``images``: (B, C, H, W) or (C, H, W) tensors or one (H, W, 3) numpy array;
    ``masks``: matching (B, H, W) / (H, W), True on the object. Returns the same type and layout."""
    as_numpy = isinstance(images, np.ndarray)
    batch, single = _image_batch(images)
    m = torch.as_tensor(np.asarray(masks) if isinstance(masks, np.ndarray) else masks)
    m = m[None] if m.ndim == 2 else m
    if m.shape != (batch.shape[0],) + tuple(batch.shape[-2:]):
        raise ValueError(f"masks of shape {tuple(m.shape)} do not match images of shape {tuple(batch.shape)}: "
                         "give one (H, W) mask per image")
    out = torch.where(m.bool()[:, None], batch, torch.as_tensor(white, dtype=batch.dtype))
    if single:
        out = out[0]
    if as_numpy:
        return out.permute(1, 2, 0).numpy()
    return out


def _to_uint8_hwc(image) -> np.ndarray:
    batch, single = _image_batch(image)
    if not single and batch.shape[0] != 1:
        raise ValueError("give one image at a time")
    x = batch[0].detach().cpu().float()
    if x.max() <= 1.0:
        x = x * 255
    return np.ascontiguousarray(x.clamp(0, 255).byte().permute(1, 2, 0).numpy())


def grabcut_mask(image, rect: tuple[int, int, int, int] | None = None, iterations: int = 5,
                 border: float = 0.06) -> np.ndarray:
    """Object mask (H, W) bool by GrabCut (``cv2.grabCut``) from a rectangle ``rect`` = (x, y, w, h)
    that contains the object; default: the image minus a ``border`` fraction on every side.
    ``image``: (3, H, W) tensor in [0, 1] or (H, W, 3) array (uint8 or [0, 1])."""
    import cv2

    img = _to_uint8_hwc(image)
    h, w = img.shape[:2]
    if rect is None:
        bx, by = max(1, int(round(border * w))), max(1, int(round(border * h)))
        rect = (bx, by, w - 2 * bx, h - 2 * by)
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means initialisation draws random numbers
    cv2.grabCut(img[..., ::-1].copy(), mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def saliency_mask(image, border: int = 2) -> np.ndarray:
    """Object mask (H, W) bool: pixels whose colour is far from every border colour (distance to the
    nearest of 64 colours sampled evenly along the ``border``-pixel frame), thresholded with Otsu,
    keeping the largest connected region and filling its holes."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    img = _to_uint8_hwc(image).astype(np.float32) / 255
    frame = np.concatenate([img[:border].reshape(-1, 3), img[-border:].reshape(-1, 3),
                            img[:, :border].reshape(-1, 3), img[:, -border:].reshape(-1, 3)])
    centres = frame[np.linspace(0, len(frame) - 1, min(64, len(frame))).astype(int)]
    dist = np.sqrt(((img[:, :, None, :] - centres[None, None]) ** 2).sum(-1)).min(-1)
    if np.ptp(dist) == 0:
        return np.zeros(dist.shape, bool)
    fg = dist > threshold_otsu(dist)
    labels, n = ndimage.label(fg)
    if n == 0:
        return fg
    largest = np.argmax(ndimage.sum(fg, labels, index=np.arange(1, n + 1))) + 1
    return ndimage.binary_fill_holes(labels == largest)


def mask_iou(predicted, true) -> np.ndarray:
    """Intersection over union per mask: (B, H, W) or (H, W) boolean arrays/tensors; an empty union
    counts as 1 (both empty). Returns an array of B values (or a 0-d array for one pair)."""
    p = np.asarray(predicted.cpu() if isinstance(predicted, torch.Tensor) else predicted).astype(bool)
    t = np.asarray(true.cpu() if isinstance(true, torch.Tensor) else true).astype(bool)
    if p.shape != t.shape:
        raise ValueError(f"predicted masks {p.shape} and true masks {t.shape} differ in shape")
    inter = (p & t).sum(axis=(-2, -1))
    union = (p | t).sum(axis=(-2, -1))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def estimate_masks(images, method: str = "grabcut", **kwargs) -> torch.Tensor:
    """Masks (B, H, W) bool for a batch of (B, 3, H, W) images by ``method`` "grabcut" or "saliency"."""
    batch, _ = _image_batch(images)
    fn = {"grabcut": grabcut_mask, "saliency": saliency_mask}.get(method)
    if fn is None:
        raise ValueError(f"method must be 'grabcut' or 'saliency', got {method!r}")
    return torch.from_numpy(np.stack([fn(im, **kwargs) for im in batch]))
