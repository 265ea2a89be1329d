"""The textured-shapes world: a generated image set where shape and texture cues agree or conflict.

Aamir et al. (2023, §3.1, Fig. 1) test a CNN on ImageNet images in four conditions: original, the
object on a white background, the object with another class's texture ("textured") and styled. Offline
there is no ImageNet, so the default profile runs the study on this world instead:

* 10 object classes, each defined by a **shape** (:data:`CLASSES`), drawn at a random position, size
  and tilt (±20°) on a random crop of a natural image from ``skimage.data`` (:data:`BACKGROUNDS`);
* each object is filled with its **class-typical texture** (:data:`TEXTURES`, same order as the
  classes) with probability ``texture_prob``, otherwise with a neutral texture (plain colour plus mild
  noise) that says nothing about the class. A net trained with ``texture_prob=0.9`` can solve almost
  every training image from texture alone and becomes texture-biased; with ``texture_prob=0.1`` it must
  learn shapes (Geirhos et al. 2019 on purpose, :mod:`cnnexplain.methods.shape_bias` measures it);
* exact object masks, so the white-background condition is exact and mask estimators can be scored.

Everything is vectorised numpy over the whole batch (under 1 ms per 64 px image on one core) and
seeded: the same arguments give the same pixels.

Main entry points: :func:`make_dataset` (any condition, returns a :class:`WorldBatch` that unpacks as
``images, labels, masks``), :func:`make_cue_conflict` (shape class ≠ texture class, for the shape-bias
measure) and :func:`texture_patches` (texture alone, the paper's Table 3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch

CLASSES = ("disk", "square", "triangle", "cross", "star", "ring", "heart", "crescent", "ell", "bar")
TEXTURES = ("stripes", "dots", "checker", "spots", "waves", "grid", "hatch", "speckle", "bricks", "zigzag")
CONDITIONS = ("original", "white_background", "textured", "styled")
BACKGROUNDS = ("chelsea", "coffee", "astronaut", "rocket", "brick", "grass", "gravel", "camera", "moon",
               "hubble_deep_field", "immunohistochemistry", "coins")
NEUTRAL = -1  # texture label of an object drawn in a neutral (class-free) texture

# Two characteristic colours per class texture (RGB in [0, 1]); each image jitters them a little.
_TEXTURE_COLOURS = np.array([
    [[0.05, 0.05, 0.05], [0.95, 0.95, 0.95]],  # stripes: zebra black / white
    [[0.95, 0.85, 0.15], [0.85, 0.10, 0.10]],  # dots: red dots on yellow
    [[0.15, 0.25, 0.85], [0.95, 0.95, 0.90]],  # checker: blue / white
    [[0.90, 0.60, 0.20], [0.25, 0.12, 0.05]],  # spots: leopard orange / brown
    [[0.10, 0.55, 0.15], [0.55, 0.90, 0.35]],  # waves: dark / light green
    [[0.90, 0.85, 0.95], [0.45, 0.10, 0.55]],  # grid: purple lines on lilac
    [[0.55, 0.90, 0.95], [0.05, 0.30, 0.40]],  # hatch: dark teal lines on cyan
    [[0.55, 0.50, 0.45], [0.20, 0.18, 0.15]],  # speckle: grey-brown grain
    [[0.70, 0.20, 0.10], [0.85, 0.80, 0.75]],  # bricks: red bricks, light mortar
    [[0.95, 0.55, 0.05], [0.10, 0.05, 0.20]],  # zigzag: orange / dark violet chevrons
])


@dataclass
class WorldBatch:
    """Images of the world with their labels and object masks.

    ``images``: (N, 3, H, W) float32 in [0, 1]; ``labels``: (N,) the class, i.e. the **shape** class
    (for texture patches: the texture class); ``masks``: (N, H, W) bool object masks;
    ``texture_labels``: (N,) the class whose texture fills the object (``NEUTRAL`` = -1 for a neutral
    texture); ``condition``: how the batch was made. Unpacks as ``images, labels, masks``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    texture_labels: torch.Tensor
    condition: str
    shape_labels: torch.Tensor | None = None  # class whose shape was drawn (= labels unless shape_prob < 1)

    def __iter__(self):
        return iter((self.images, self.labels, self.masks))

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "WorldBatch":
        """The examples at ``index`` (a slice, a boolean mask or integer indices)."""
        return replace(self, images=self.images[index], labels=self.labels[index], masks=self.masks[index],
                       texture_labels=self.texture_labels[index],
                       shape_labels=None if self.shape_labels is None else self.shape_labels[index])


# ----------------------------------------------------------------------------------------------------
# shapes: implicit functions on object coordinates u, v in [-1, 1] (v points up)


def _shape_mask(cls: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    name = CLASSES[cls]
    r = np.hypot(u, v)
    if name == "disk":
        return r <= 0.8
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.68
    if name == "triangle":
        return (v >= -0.62) & (np.abs(u) <= (0.88 - v) * 0.6)
    if name == "cross":
        return ((np.abs(u) <= 0.28) & (np.abs(v) <= 0.88)) | ((np.abs(v) <= 0.28) & (np.abs(u) <= 0.88))
    if name == "star":
        theta = np.arctan2(u, v)  # a point straight up
        return r <= 0.38 + 0.52 * ((np.cos(5 * theta) + 1) / 2) ** 2
    if name == "ring":
        return (r >= 0.5) & (r <= 0.88)
    if name == "heart":
        x, y = u * 1.25, v * 1.25 + 0.15
        return (x ** 2 + y ** 2 - 1) ** 3 - x ** 2 * y ** 3 <= 0
    if name == "crescent":
        return (r <= 0.85) & (np.hypot(u - 0.42, v) >= 0.62)
    if name == "ell":
        return (((u >= -0.7) & (u <= -0.18) & (np.abs(v) <= 0.85))
                | ((v >= -0.85) & (v <= -0.33) & (u >= -0.7) & (u <= 0.7)))
    if name == "bar":
        return (np.abs(u) <= 0.92) & (np.abs(v) <= 0.3)
    raise ValueError(f"unknown shape class {cls}")


# ----------------------------------------------------------------------------------------------------
# textures: functions of image-pixel coordinates x, y (N, H, W) with per-image phase and orientation


def _smooth_noise(rng: np.random.Generator, n: int, size: int, cell: int) -> np.ndarray:
    """Bilinearly upsampled uniform noise with blobs about ``cell`` pixels wide, values in [0, 1]."""
    coarse = torch.from_numpy(rng.random((n, 1, size // cell + 2, size // cell + 2)).astype(np.float32))
    fine = torch.nn.functional.interpolate(coarse, scale_factor=cell, mode="bilinear", align_corners=False)
    return fine[:, 0, cell:cell + size, cell:cell + size].numpy()


def _pattern(tex: int, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """The texture's pattern in [0, 1] (0 = first colour, 1 = second) for N images, shape (N, H, W)."""
    n = x.shape[0]
    scale = size / 64.0  # patterns keep their size relative to the image
    phase = rng.random((n, 1, 1)) * 64 * scale
    angle = rng.uniform(-0.3, 0.3, (n, 1, 1))
    xr = (x * np.cos(angle) - y * np.sin(angle)) / scale + phase
    yr = (x * np.sin(angle) + y * np.cos(angle)) / scale + phase
    name = TEXTURES[tex]
    if name == "stripes":
        return (np.sin(2 * np.pi * (xr + yr) / 8.0) > 0).astype(np.float32)
    if name == "dots":
        return ((np.mod(xr, 7) - 3.5) ** 2 + (np.mod(yr, 7) - 3.5) ** 2 <= 4.0).astype(np.float32)
    if name == "checker":
        return ((np.floor(xr / 4) + np.floor(yr / 4)) % 2).astype(np.float32)
    if name == "spots":
        return (_smooth_noise(rng, n, size, max(2, int(round(4 * scale)))) > 0.62).astype(np.float32)
    if name == "waves":
        return (np.sin(2 * np.pi * yr / 6.0 + 2.5 * np.sin(2 * np.pi * xr / 16.0)) > 0).astype(np.float32)
    if name == "grid":
        return ((np.mod(xr, 8) < 1.6) | (np.mod(yr, 8) < 1.6)).astype(np.float32)
    if name == "hatch":
        return ((np.mod(xr + yr, 6) < 1.4) | (np.mod(xr - yr, 6) < 1.4)).astype(np.float32)
    if name == "speckle":
        return (rng.random(x.shape) > 0.5).astype(np.float32)
    if name == "bricks":
        row = np.floor(yr / 5)
        offset = np.mod(row, 2) * 5
        return ((np.mod(yr, 5) < 1.2) | (np.mod(xr + offset, 10) < 1.2)).astype(np.float32)
    if name == "zigzag":
        return (np.mod(yr + 2.5 * np.abs(np.mod(xr, 8) - 4), 7) < 3.5).astype(np.float32)
    raise ValueError(f"unknown texture {tex}")


def _texture_rgb(tex: int, x, y, rng, size) -> np.ndarray:
    """Class texture ``tex`` as RGB (N, H, W, 3) with per-image colour jitter."""
    n = x.shape[0]
    p = _pattern(tex, x, y, rng, size)[..., None]
    colours = _TEXTURE_COLOURS[tex][None] + rng.normal(0, 0.04, (n, 2, 3))
    c0, c1 = colours[:, 0, None, None, :], colours[:, 1, None, None, :]
    return (1 - p) * c0 + p * c1


def _neutral_rgb(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A class-free texture: a random plain colour with mild low-frequency shading."""
    base = rng.uniform(0.1, 0.9, (n, 1, 1, 3))
    shade = (_smooth_noise(rng, n, size, max(2, size // 8)) - 0.5)[..., None] * 0.15
    return base + shade


def _textures(texture_ids: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """RGB textures (N, H, W, 3) for each id in ``texture_ids`` (``NEUTRAL`` for neutral)."""
    n = len(texture_ids)
    out = np.empty((n, size, size, 3), np.float32)
    jj, ii = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    for tex in np.unique(texture_ids):
        idx = np.flatnonzero(texture_ids == tex)
        if tex == NEUTRAL:
            out[idx] = _neutral_rgb(len(idx), size, rng)
        else:
            x = np.broadcast_to(jj, (len(idx), size, size))
            y = np.broadcast_to(ii, (len(idx), size, size))
            out[idx] = _texture_rgb(int(tex), x, y, rng, size)
    return np.clip(out, 0, 1)


# ----------------------------------------------------------------------------------------------------
# backgrounds: random crops of natural images shipped with scikit-image


@lru_cache(maxsize=4)
def _background_pool(size: int) -> np.ndarray:
    """(S, 2·size, 2·size, 3) float32: each :data:`BACKGROUNDS` image centre-cropped square and resized."""
    import skimage.data
    from skimage.color import gray2rgb, rgba2rgb
    from skimage.transform import resize

    side = 2 * size
    pool = []
    for name in BACKGROUNDS:
        image = getattr(skimage.data, name)()
        if image.ndim == 2:
            image = gray2rgb(image)
        elif image.shape[-1] == 4:
            image = rgba2rgb(image)
        h, w = image.shape[:2]
        s = min(h, w)
        image = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        pool.append(resize(image, (side, side), anti_aliasing=True, preserve_range=False).astype(np.float32))
    return np.stack(pool)


def _backgrounds(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    pool = _background_pool(size)
    src = rng.integers(0, len(pool), n)
    oy = rng.integers(0, pool.shape[1] - size + 1, n)
    ox = rng.integers(0, pool.shape[2] - size + 1, n)
    ar = np.arange(size)
    rows = (oy[:, None] + ar)[:, :, None]
    cols = (ox[:, None] + ar)[:, None, :]
    crops = pool[src[:, None, None], rows, cols]
    flip = rng.random(n) < 0.5
    crops[flip] = crops[flip, :, ::-1]
    return crops


# ----------------------------------------------------------------------------------------------------
# composition


def _check(n_per_class: int, size: int, texture_prob: float, seed: int) -> None:
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int of at least 16 pixels, got {size!r}")
    if not 0.0 <= texture_prob <= 1.0:
        raise ValueError(f"texture_prob must lie in [0, 1], got {texture_prob!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def shape_masks(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Masks (N, size, size) of each class's shape at a random position, size (object diameter 55–80 %
    of the image) and tilt (±20°)."""
    n = len(labels)
    radius = rng.uniform(0.28, 0.40, n) * size
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    theta = rng.uniform(-0.35, 0.35, n)
    jj, ii = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    dx = (jj[None] - cx[:, None, None]) / radius[:, None, None]
    dy = (cy[:, None, None] - ii[None]) / radius[:, None, None]
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy
    masks = np.zeros((n, size, size), bool)
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        masks[idx] = _shape_mask(int(cls), u[idx], v[idx])
    return masks


def _render(shape_ids, texture_ids, size, rng, background: str) -> tuple[np.ndarray, np.ndarray]:
    masks = shape_masks(shape_ids, size, rng)
    fill = _textures(texture_ids, size, rng)
    if background == "natural":
        back = _backgrounds(len(shape_ids), size, rng)
    elif background == "white":
        back = np.ones_like(fill)
    else:
        raise ValueError(f"background must be 'natural' or 'white', got {background!r}")
    images = np.where(masks[..., None], fill, back)
    return images, masks


def _to_batch(images, labels, masks, texture_ids, condition, shape_ids=None) -> WorldBatch:
    return WorldBatch(
        shape_labels=torch.as_tensor(labels if shape_ids is None else shape_ids, dtype=torch.long),
        images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)),
        labels=torch.as_tensor(labels, dtype=torch.long),
        masks=torch.from_numpy(np.ascontiguousarray(masks)),
        texture_labels=torch.as_tensor(texture_ids, dtype=torch.long),
        condition=condition,
    )


def _labels(n_per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(len(CLASSES)), n_per_class))


def make_dataset(n_per_class: int, condition: str = "original", seed: int = 0, texture_prob: float = 1.0,
                 shape_prob: float = 1.0, size: int = 64, background: str | None = None, style_images=None,
                 style_method: str = "gatys", style_steps: int = 60, style_extractor=None,
                 progress: bool = False) -> WorldBatch:
    """``n_per_class`` images of every class, shuffled, in one of the paper's four test conditions.

    * ``"original"``: the object on a natural background; its class texture with probability
      ``texture_prob`` (a neutral texture otherwise). Train with e.g. 0.9 (texture-biased) or 0.1
      (shape-biased); test originals with 1.0 (the default: every object in its class texture).
    * ``"white_background"``: the same images (same seed → same objects) with everything outside the
      mask white (:func:`cnnexplain.methods.disturb.white_background`).
    * ``"textured"``: cue conflict, the object filled with **another** class's texture, on white as in
      the paper (its textured images were made from the white-background ones); ``texture_labels``
      says which. Same as :func:`make_cue_conflict`.
    * ``"styled"``: the white-background images restyled with a painting-like image
      (:func:`style_images` by default) by :func:`cnnexplain.methods.style.stylize_batch` — Gatys style transfer
      on random multi-scale VGG19 features (``style_method="gatys"``, ``style_steps`` Adam steps, about
      about 0.04 s per 64 px image and step; ``style_extractor`` swaps in e.g. pretrained VGG19) or a cheap
      colour-statistics transfer (``style_method="colour"``).

    ``shape_prob``: probability that the object has its class's shape; otherwise it has another class's
    shape (its texture then carries the class). Shape is always kept when the texture is neutral, so
    every image carries its class by at least one cue. With shape_prob = 1 (default) shape is always
    reliable, as in real photographs, and a net may learn both cues; lowering it makes the texture the
    only reliable cue in that fraction of the images, the lever that makes a net texture-biased on
    purpose (Hermann et al. 2020: nets prefer whichever reliable cue is easier).

    ``background`` overrides the condition's background ("natural" or "white"). Returns a
    :class:`WorldBatch` (unpacks as ``images, labels, masks``).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")
    _check(n_per_class, size, texture_prob, seed)
    rng = np.random.default_rng(seed)
    labels = _labels(n_per_class, rng)
    if not 0.0 <= shape_prob <= 1.0:
        raise ValueError(f"shape_prob must lie in [0, 1], got {shape_prob!r}")
    # Every draw happens in every condition, so one seed gives the same objects in all four conditions.
    n = len(labels)
    use_texture = rng.random(n) < texture_prob
    other_class = (labels + rng.integers(1, len(CLASSES), n)) % len(CLASSES)
    # the shape carries the class with probability shape_prob, and always when the texture does not
    use_shape = (rng.random(n) < shape_prob) | ~use_texture
    other_shape = (labels + rng.integers(1, len(CLASSES), n)) % len(CLASSES)
    shape_ids = np.where(use_shape | (condition == "textured"), labels, other_shape)
    texture_ids = other_class if condition == "textured" else np.where(use_texture, labels, NEUTRAL)
    if background is None:
        background = "natural" if condition == "original" else "white"
    if condition == "white_background" and background == "natural":
        raise ValueError("the white_background condition cannot have a natural background")
    images, masks = _render(shape_ids, texture_ids, size, rng, background)
    batch = _to_batch(images, labels, masks, texture_ids, condition, shape_ids)
    if condition == "styled":
        from cnnexplain.methods.style import stylize_batch

        styles = style_images if style_images is not None else default_style_images(size)
        which = torch.from_numpy(rng.integers(0, len(styles), len(labels)))
        batch.images = stylize_batch(batch.images, styles, which, method=style_method, steps=style_steps,
                                     seed=int(seed), progress=progress, extractor=style_extractor)
    return batch


def make_cue_conflict(n_per_class: int, seed: int = 0, size: int = 64, background: str = "white") -> WorldBatch:
    """Cue-conflict images (Geirhos et al. 2019): shape of class ``labels``, texture of class
    ``texture_labels`` ≠ ``labels``. The paper's "textured" condition."""
    return make_dataset(n_per_class, "textured", seed=seed, size=size, background=background)


def texture_patches(n_per_class: int, seed: int = 0, size: int = 64) -> WorldBatch:
    """Texture alone filling the whole image (Aamir et al. Table 3, "texture image patch"); ``labels``
    and ``texture_labels`` are the texture's class, ``masks`` all True."""
    _check(n_per_class, size, 1.0, seed)
    rng = np.random.default_rng(seed)
    labels = _labels(n_per_class, rng)
    images = _textures(labels, size, rng)
    masks = np.ones((len(labels), size, size), bool)
    return _to_batch(images, labels, masks, labels, "texture_patch")


@lru_cache(maxsize=4)
def _style_sources() -> tuple[np.ndarray, ...]:
    import skimage.data

    # Painting-like images shipped with scikit-image (the paper used Picasso, Hokusai, Matisse, van
    # Gogh, which are not available offline): stained tissue, a deep-sky field, a retina, a cat's fur.
    return (skimage.data.immunohistochemistry()[100:400, 100:400], skimage.data.hubble_deep_field()[:500, :500],
            skimage.data.retina()[300:1100, 300:1100], skimage.data.chelsea()[60:260, 140:340])


STYLE_NAMES = ("immunohistochemistry", "hubble_deep_field", "retina", "chelsea_fur")


def default_style_images(size: int = 64) -> torch.Tensor:
    """(4, 3, size, size) style images in [0, 1] from ``skimage.data`` (names in :data:`STYLE_NAMES`)."""
    from skimage.transform import resize

    images = [resize(im, (size, size), anti_aliasing=True).astype(np.float32) for im in _style_sources()]
    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())
