"""Moving procedural textures: exact in-between frames of 2D motion, for evaluation and speed tests.

A scene is a textured background (gratings and soft blobs) that translates and a striped disc that
moves over it. Motion is linear in time, so the frame at any ``t`` is an exact function of ``t``.
Panoramas (``width == 2 * height``) turn about the vertical axis: the background only moves
sideways and everything wraps across the 360 seam (integer horizontal frequencies keep the
gratings periodic). Images are ``(H, W, 3)`` float32 RGB in [0, 1]; everything is deterministic
from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewsynth.frames import is_equirect_shape, resize


@dataclass(frozen=True)
class MovingScene:
    """Parameters of one procedural scene: a textured background and a textured moving disc."""

    base: np.ndarray  # (2, 3) colours at top and bottom
    gratings: np.ndarray  # (G, 6): kx, ky, phase, r, g, b amplitudes
    blobs: np.ndarray  # (B, 7): cx, cy, sigma, alpha, r, g, b
    disc: np.ndarray  # (9,): cx, cy, radius, r, g, b, kx, ky, phase
    shift_bg: tuple[float, float]  # pixels from frame 0 to frame 1
    shift_fg: tuple[float, float]


def moving_scene(rng: np.random.Generator, width: int, height: int, equirect: bool) -> MovingScene:
    """A random scene for ``width`` x ``height`` frames, drawn from ``rng``."""
    # Integer horizontal frequencies keep panorama textures periodic across the seam.
    gratings = np.stack(
        [
            rng.integers(1, 12, 4).astype(np.float64),
            rng.integers(1, 8, 4).astype(np.float64),
            rng.uniform(0, 2 * np.pi, 4),
            *rng.uniform(-0.08, 0.08, (3, 4)),
        ],
        axis=1,
    )
    n_blobs = 96
    blobs = np.stack(
        [
            rng.uniform(0, width, n_blobs),
            rng.uniform(0, height, n_blobs),
            np.maximum(rng.uniform(0.004, 0.02, n_blobs) * width, 1.2),  # no aliasing
            rng.uniform(0.5, 0.9, n_blobs),
            *rng.uniform(0, 1, (3, n_blobs)),
        ],
        axis=1,
    )
    disc = np.array(
        [
            rng.uniform(0, width),
            rng.uniform(0.3, 0.7) * height,
            rng.uniform(0.06, 0.12) * min(width, 2 * height),
            *rng.uniform(0.1, 0.9, 3),
            rng.integers(2, 5),
            rng.integers(2, 5),
            rng.uniform(0, 2 * np.pi),
        ]
    )
    span = width / 40.0
    bg = (float(rng.uniform(-span, span)), 0.0 if equirect else float(rng.uniform(-span, span) / 2))
    fg = (float(rng.uniform(-2 * span, 2 * span)), float(rng.uniform(-span, span) / 2))
    return MovingScene(rng.uniform(0.2, 0.8, (2, 3)), gratings, blobs, disc, bg, fg)


def _wrap(dx: np.ndarray, width: int, equirect: bool) -> np.ndarray:
    return (dx + width / 2) % width - width / 2 if equirect else dx


def draw_moving(
    scene: MovingScene, width: int, height: int, t: float, equirect: bool
) -> np.ndarray:
    """The scene at time ``t`` (0 = frame 0, 1 = frame 1): ``(H, W, 3)`` float32 in [0, 1].

    The background translates by ``t * shift_bg`` (a yaw turn for panoramas, wrapping the seam),
    the disc by ``t * shift_fg``; the image is an exact function of ``t``, so any in-between
    frame is known exactly (linear motion).
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    bx = x - t * scene.shift_bg[0]
    by = y - t * scene.shift_bg[1]
    v = (by / height)[..., None]
    img = (1 - v) * scene.base[0] + v * scene.base[1]
    for kx, ky, phase, *amp in scene.gratings:
        wave = np.sin(2 * np.pi * (kx * bx / width + ky * by / height) + phase)
        img = img + wave[..., None] * np.asarray(amp)
    for cx, cy, sigma, alpha, *colour in scene.blobs:
        # Each blob touches only a box of +-5 sigma around its centre (exp(-12.5) is below
        # 1e-5): drawing it there keeps large sets fast.
        ccx, ccy = cx + t * scene.shift_bg[0], cy + t * scene.shift_bg[1]
        r = int(np.ceil(5 * sigma)) + 1
        y0, y1 = max(0, int(np.floor(ccy)) - r), min(height, int(np.floor(ccy)) + r + 1)
        cols = np.arange(int(np.floor(ccx)) - r, int(np.floor(ccx)) + r + 1)
        cols = np.unique(cols % width) if equirect else cols[(cols >= 0) & (cols < width)]
        if y0 >= y1 or cols.size == 0:
            continue
        dx = _wrap(cols + 0.5 - ccx, width, equirect)
        dy = np.arange(y0, y1) + 0.5 - ccy
        a = (alpha * np.exp(-(dx[None] ** 2 + dy[:, None] ** 2) / (2 * sigma * sigma)))[..., None]
        img[y0:y1, cols] = img[y0:y1, cols] * (1 - a) + a * np.asarray(colour)
    cx, cy, radius, r, g, b, kx, ky, phase = scene.disc
    dx = _wrap(x - cx - t * scene.shift_fg[0], width, equirect)
    dy = y - cy - t * scene.shift_fg[1]
    inside = np.clip(radius - np.sqrt(dx * dx + dy * dy) + 0.5, 0.0, 1.0)[..., None]
    # A checker of two sinusoids: texture in both directions, so motion is measurable.
    stripes = 0.5 + 0.4 * np.sin(np.pi * kx * dx / radius + phase) * np.sin(
        np.pi * ky * dy / radius
    )
    disc = stripes[..., None] * np.array([r, g, b]) * 1.6
    img = img * (1 - inside) + inside * disc
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def moving_pair(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two frames of a moving synthetic scene, ``(H, W, 3)`` float32 each, for speed tests.

    Large sizes are drawn at most 1440 pixels wide and resized up (content need not be exact here).
    """
    equirect = is_equirect_shape(width, height)
    scale = min(1.0, 1440 / width)
    w, h = max(16, int(round(width * scale))), max(8, int(round(height * scale)))
    scene = moving_scene(np.random.default_rng(seed), w, h, equirect)
    img0, img1 = draw_moving(scene, w, h, 0.0, equirect), draw_moving(scene, w, h, 1.0, equirect)
    return resize(img0, width, height), resize(img1, width, height)


def moving_triplet(
    width: int, height: int, seed: int, index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scene ``index`` of the set ``seed``: frames ``(img0, mid, img1)`` at t = 0, 0.5 and 1.

    Panoramas when ``width == 2 * height``. Textures move by up to ``width / 40`` pixels and the
    disc by up to twice that, so methods see real motion and occlusion.
    """
    equirect = is_equirect_shape(width, height)
    scene = moving_scene(np.random.default_rng([seed, index]), width, height, equirect)
    img0 = draw_moving(scene, width, height, 0.0, equirect)
    mid = draw_moving(scene, width, height, 0.5, equirect)
    img1 = draw_moving(scene, width, height, 1.0, equirect)
    return img0, mid, img1
