"""Texture atlases for the street renderer: procedural tiles, photo crops, and their mip pyramids.

A :class:`Textures` atlas is ``(L, K, S, S, 3)`` float32 RGB in [0, 1]: ``K`` tileable textures of
``S`` x ``S`` texels at ``L`` blur levels. Slot ``SKY_SLOT`` holds clouds, ``GROUND_SLOTS`` the
ground; the rest, from ``FREE_SLOT0``, are free for facades, cars and the like. Everything is
deterministic from a seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from viewsynth.errors import ViewsynthError

#: Texture slots with a role; the rest are free for facades, cars and the like.
SKY_SLOT = 0
GROUND_SLOTS = (1, 2)
FREE_SLOT0 = 3


@dataclasses.dataclass(frozen=True)
class Textures:
    """A texture atlas as a mip pyramid: ``mips`` is ``(L, K, S, S, 3)`` float32 in [0, 1].

    Level ``l`` is the texture blurred to a footprint of ``2**l`` texels, stored at full size so a
    lookup is the same gather at every level. Textures tile (coordinates wrap).
    """

    mips: np.ndarray

    @property
    def count(self) -> int:
        return int(self.mips.shape[1])

    @property
    def size(self) -> int:
        return int(self.mips.shape[2])


def _blur_wrap(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``(K, S, S, 3)`` tiles with wrap-around borders (in Fourier space)."""
    size = images.shape[1]
    freq = np.fft.fftfreq(size)
    g = np.exp(-2.0 * (np.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    spec = np.fft.fft2(images, axes=(1, 2))
    return np.real(np.fft.ifft2(spec * g[None, :, :, None], axes=(1, 2))).astype(np.float32)


def make_mips(tiles: np.ndarray, levels: int = 5) -> Textures:
    """``(K, S, S, 3)`` tiles -> :class:`Textures` with ``levels`` blur levels."""
    tiles = np.clip(np.asarray(tiles, dtype=np.float32), 0.0, 1.0)
    mips = [tiles] + [np.clip(_blur_wrap(tiles, 0.5 * 2.0**lvl), 0, 1) for lvl in range(1, levels)]
    return Textures(np.stack(mips))


def _fractal_noise(rng: np.random.Generator, size: int, octaves: int, persistence: float):
    """Tileable value noise in [0, 1], ``(S, S)``: octaves of wrapped, upsampled random grids."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    cells = 4
    for _ in range(octaves):
        grid = rng.random((cells, cells)).astype(np.float32)
        # Periodic bilinear upsampling keeps the tile seamless.
        coords = np.arange(size) * cells / size
        i0 = np.floor(coords).astype(int)
        f = (coords - i0).astype(np.float32)
        i1 = (i0 + 1) % cells
        rows = grid[i0] * (1 - f)[:, None] + grid[i1] * f[:, None]
        layer = rows[:, i0] * (1 - f)[None] + rows[:, i1] * f[None]
        out += amp * layer
        total += amp
        amp *= persistence
        cells = min(cells * 2, size)
    return out / total


def _random_colour(rng: np.random.Generator, saturation: float = 0.5) -> np.ndarray:
    grey = rng.uniform(0.2, 0.9)
    return np.clip(grey + saturation * rng.uniform(-0.3, 0.3, 3), 0.02, 1.0).astype(np.float32)


def procedural_tile(rng: np.random.Generator, size: int, kind: str | None = None) -> np.ndarray:
    """One tileable ``(S, S, 3)`` pattern: bricks, windows, stripes, checker, noise, clouds, asphalt."""
    kinds = ("bricks", "windows", "stripes", "checker", "noise", "asphalt", "clouds")
    kind = kind or kinds[rng.integers(len(kinds) - 1)]  # clouds only on request
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base, other = _random_colour(rng), _random_colour(rng)
    grain = _fractal_noise(rng, size, 5, 0.6)[..., None]
    if kind == "bricks":
        rows = min(int(rng.choice([8, 16, 32])), size // 4)
        bh = size // rows
        bw = bh * int(rng.choice([2, 4]))
        row = (yy // bh).astype(int)
        shifted = xx + (row % 2) * (bw // 2)
        mortar = ((yy % bh) < max(1, bh // 6)) | ((shifted % bw) < max(1, bh // 6))
        brick_id = row * 997 + (shifted // bw).astype(int)
        jitter = np.sin(brick_id * 12.9898) * 0.5 + 0.5
        col = base[None, None] * (0.75 + 0.5 * jitter[..., None])
        img = np.where(mortar[..., None], other[None, None] * 0.9 + 0.1, col)
        img = img * (0.8 + 0.4 * grain)
    elif kind == "windows":
        n = min(int(rng.choice([2, 4, 8])), size // 4)
        cell = size // n
        fx, fy = rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.7)
        wx = np.abs((xx % cell) - cell / 2) < fx * cell / 2
        wy = np.abs((yy % cell) - cell / 2) < fy * cell / 2
        glass = rng.uniform(0.05, 0.4) * np.array([0.8, 0.9, 1.0], np.float32)
        sill = np.abs((yy % cell) - cell / 2 - fy * cell / 2) < max(1, cell // 16)
        img = base[None, None] * (0.8 + 0.4 * grain)
        img = np.where((wx & wy)[..., None], glass[None, None] + 0.3 * grain, img)
        img = np.where((sill & wx)[..., None], 0.85, img)
    elif kind == "stripes":
        period = int(rng.choice([4, 8, 16, 32]))
        angle = rng.choice([0.0, np.pi / 2, np.pi / 4])
        # Diagonal stripes must repeat across the tile: use a period that divides the size.
        proj = xx * np.cos(angle) + yy * np.sin(angle) if angle != np.pi / 4 else xx + yy
        on = (proj // period) % 2 == 0
        img = np.where(on[..., None], base[None, None], other[None, None]) * (0.85 + 0.3 * grain)
    elif kind == "checker":
        cell = int(rng.choice([8, 16, 32]))
        on = ((xx // cell) + (yy // cell)) % 2 == 0
        img = np.where(on[..., None], base[None, None], other[None, None]) * (0.85 + 0.3 * grain)
    elif kind == "noise":
        n2 = _fractal_noise(rng, size, 6, rng.uniform(0.4, 0.8))[..., None]
        img = base[None, None] * (1 - n2) + other[None, None] * n2
    elif kind == "asphalt":
        n2 = _fractal_noise(rng, size, 7, 0.7)[..., None]
        grey = rng.uniform(0.2, 0.45)
        img = np.full((size, size, 3), grey, np.float32) * (0.7 + 0.6 * n2)
        if rng.random() < 0.5:  # a lane marking
            lane = np.abs(xx - size / 2) < size / 40
            img = np.where(lane[..., None], 0.9, img)
    elif kind == "clouds":
        n2 = _fractal_noise(rng, size, 6, 0.55)
        cover = rng.uniform(0.3, 0.7)
        c = np.clip((n2 - cover) * 4.0, 0.0, 1.0)[..., None]
        img = np.concatenate([c, c, c], axis=-1)
    else:
        raise ViewsynthError(f"procedural_tile: unknown kind {kind!r} (choose from {kinds})")
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def photo_tile(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop of ``photo`` ``(H, W, 3)``, resized to ``(S, S, 3)`` (area filter)."""
    import cv2

    h, w = photo.shape[:2]
    side = int(rng.uniform(0.15, 0.6) * min(h, w))
    side = max(8, min(side, h, w))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = np.ascontiguousarray(photo[y0 : y0 + side, x0 : x0 + side])
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0, 1).astype(np.float32)


def make_textures(
    seed: int,
    *,
    count: int = 24,
    size: int = 128,
    levels: int = 5,
    photos: Sequence[np.ndarray] = (),
    photo_fraction: float = 0.5,
) -> Textures:
    """A texture atlas from ``seed``: procedural tiles mixed with crops of ``photos``.

    ``photos`` are ``(H, W, 3)`` float32 images (licensed training photos only); without them
    every tile is procedural, so the renderer works on a machine without the shared data.
    Slot ``SKY_SLOT`` holds clouds, ``GROUND_SLOTS`` asphalt-like ground.
    """
    if count < FREE_SLOT0 + 1:
        raise ViewsynthError(f"make_textures: count must be at least {FREE_SLOT0 + 1}, got {count}")
    rng = np.random.default_rng(seed)
    tiles = [procedural_tile(rng, size, "clouds")]
    for _ in GROUND_SLOTS:
        if photos and rng.random() < photo_fraction:
            tiles.append(photo_tile(rng, photos[rng.integers(len(photos))], size))
        else:
            tiles.append(procedural_tile(rng, size, rng.choice(["asphalt", "noise", "bricks"])))
    for _ in range(count - len(tiles)):
        if photos and rng.random() < photo_fraction:
            tiles.append(photo_tile(rng, photos[rng.integers(len(photos))], size))
        else:
            tiles.append(procedural_tile(rng, size))
    return make_mips(np.stack(tiles), levels)
