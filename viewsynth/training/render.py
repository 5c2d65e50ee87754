"""A street renderer of our own: exact in-between frames with parallax, occlusion and the seam.

A camera moves along a street (+z is the direction of travel, x to the right, y up, metres) lined
with facades (boxes with varying setbacks and heights), kerbs, parked and driving cars (boxes),
poles and tree trunks (vertical cylinders), tree crowns (spheres), a ground plane and sky at
infinity. Each pixel casts a ray (equirect: from lon/lat with the conventions of
``viewsynth.geometry``, centre column = forward; perspective: pinhole), the nearest hit's plane
coordinates index a texture bilinearly, from a mip pyramid chosen by the pixel's footprint, and
``supersample`` x ``supersample`` rays per pixel are averaged so edges are anti-aliased like a
real photo.

Frame 0 is rendered at the path's start, frame 1 a few metres forward (with sideways drift and yaw
jitter), and the ground truth at ``t`` from the linearly interpolated pose, so every triplet is
exact. "Flying layers" (textured shapes moving over a textured background, perspective) add
general object motion. Everything is deterministic from a seed; training uses seeds below
``HELDOUT_SEED`` and :func:`heldout_panoramas` uses seeds from it up, so they never overlap.

Images are ``(H, W, 3)`` float32 RGB in [0, 1]. Yaw positive turns right, pitch positive looks up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from viewsynth import geometry
from viewsynth.errors import ViewsynthError

#: Seeds at or above this are held out for validation and evaluation; training stays below.
HELDOUT_SEED = 1_000_000

N_BOXES = 64
N_CYLINDERS = 16
N_SPHERES = 8
#: Object table: slot 0 ground, then boxes, cylinders, spheres, then the sky.
_GROUND = 0
_BOX0 = 1
_CYL0 = _BOX0 + N_BOXES
_SPH0 = _CYL0 + N_CYLINDERS
_SKY = _SPH0 + N_SPHERES
N_OBJECTS = _SKY + 1

#: Texture slots with a role; the rest are free for facades, cars and the like.
SKY_SLOT = 0
GROUND_SLOTS = (1, 2)
FREE_SLOT0 = 3


# ----------------------------------------------------------------------------------------------
# Textures


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


# ----------------------------------------------------------------------------------------------
# Scenes


@dataclasses.dataclass(frozen=True)
class Scene:
    """A street as fixed-size arrays (so one compiled renderer serves every scene).

    Boxes ``box_lo``/``box_hi`` ``(NB, 3)``; cylinders ``cyl`` ``(NC, 4)`` = (x, z, radius, height)
    standing on ``cyl_y0`` ``(NC,)``; spheres ``sph`` ``(NS, 4)`` = (x, y, z, radius); ``valid``
    ``(N_OBJECTS,)`` 0/1 per object slot; per object slot ``tex`` (int), ``tex_scale`` (texels per
    metre), ``tex_offset`` ``(2,)`` texels, ``tint`` ``(3,)``. ``sky`` ``(7,)`` = zenith rgb,
    horizon rgb, cloud strength; ``sun`` ``(4,)`` = unit direction, ambient.
    """

    box_lo: np.ndarray
    box_hi: np.ndarray
    cyl: np.ndarray
    cyl_y0: np.ndarray
    sph: np.ndarray
    valid: np.ndarray
    tex: np.ndarray
    tex_scale: np.ndarray
    tex_offset: np.ndarray
    tint: np.ndarray
    sky: np.ndarray
    sun: np.ndarray


jax.tree_util.register_dataclass(
    Scene,
    data_fields=[f.name for f in dataclasses.fields(Scene)],
    meta_fields=[],
)


@dataclasses.dataclass(frozen=True)
class CameraPath:
    """Camera poses at frame 0 and frame 1; the pose at ``t`` is their linear blend.

    ``pos0``/``pos1`` ``(3,)`` metres; ``yaw0``/``yaw1`` radians (about +y, positive right).
    """

    pos0: np.ndarray
    pos1: np.ndarray
    yaw0: float
    yaw1: float

    def at(self, t: float) -> tuple[np.ndarray, float]:
        """Camera position ``(3,)`` and yaw at time ``t``."""
        pos = (1.0 - t) * self.pos0 + t * self.pos1
        return pos.astype(np.float32), float((1.0 - t) * self.yaw0 + t * self.yaw1)


class _SceneBuilder:
    """Accumulates primitives into the fixed-size arrays of a :class:`Scene`."""

    def __init__(self, rng: np.random.Generator, n_textures: int):
        self.rng = rng
        self.n_textures = n_textures
        self.box_lo = np.zeros((N_BOXES, 3), np.float32)
        self.box_hi = np.zeros((N_BOXES, 3), np.float32)
        self.cyl = np.zeros((N_CYLINDERS, 4), np.float32)
        self.cyl_y0 = np.zeros((N_CYLINDERS,), np.float32)
        self.sph = np.zeros((N_SPHERES, 4), np.float32)
        self.valid = np.zeros((N_OBJECTS,), np.float32)
        self.tex = np.zeros((N_OBJECTS,), np.int32)
        self.tex_scale = np.ones((N_OBJECTS,), np.float32)
        self.tex_offset = np.zeros((N_OBJECTS, 2), np.float32)
        self.tint = np.ones((N_OBJECTS, 3), np.float32)
        self.n_box = self.n_cyl = self.n_sph = 0

    def _material(self, slot: int, tex: int | None, scale: float):
        rng = self.rng
        if tex is None:
            tex = int(rng.integers(FREE_SLOT0, self.n_textures))
        self.valid[slot] = 1.0
        self.tex[slot] = tex
        self.tex_scale[slot] = scale
        self.tex_offset[slot] = rng.uniform(0, 1024, 2)
        self.tint[slot] = np.clip(1.0 + rng.normal(0, 0.12, 3), 0.6, 1.4)

    def box(self, lo, hi, scale: float, tex: int | None = None) -> bool:
        if self.n_box >= N_BOXES:
            return False
        self.box_lo[self.n_box], self.box_hi[self.n_box] = lo, hi
        self._material(_BOX0 + self.n_box, tex, scale)
        self.n_box += 1
        return True

    def cylinder(self, x, z, radius, y0, height, scale: float, tex: int | None = None) -> bool:
        if self.n_cyl >= N_CYLINDERS:
            return False
        self.cyl[self.n_cyl] = (x, z, radius, height)
        self.cyl_y0[self.n_cyl] = y0
        self._material(_CYL0 + self.n_cyl, tex, scale)
        self.n_cyl += 1
        return True

    def sphere(self, x, y, z, radius, scale: float, tex: int | None = None) -> bool:
        if self.n_sph >= N_SPHERES:
            return False
        self.sph[self.n_sph] = (x, y, z, radius)
        self._material(_SPH0 + self.n_sph, tex, scale)
        self.n_sph += 1
        return True


def street_scene(seed: int, n_textures: int) -> tuple[Scene, CameraPath]:
    """A random street and camera path from ``seed`` (``n_textures``: atlas size to draw from)."""
    rng = np.random.default_rng(seed)
    b = _SceneBuilder(rng, n_textures)
    road = rng.uniform(3.0, 6.5)  # half width of the carriageway
    walk = rng.uniform(1.2, 4.0)
    z_lo, z_hi = -50.0, 90.0

    # Ground texture (slot 0) and kerbs/sidewalks.
    b._material(_GROUND, int(rng.choice(GROUND_SLOTS)), rng.uniform(10, 40))
    kerb = rng.uniform(0.08, 0.2)
    for side in (-1, 1):
        x_in, x_out = side * road, side * (road + walk + 8.0)
        b.box((min(x_in, x_out), 0.0, z_lo), (max(x_in, x_out), kerb, z_hi), rng.uniform(10, 40))

    # Facades: one box per segment, setbacks and heights varying, gaps for alleys.
    for side in (-1, 1):
        z = z_lo
        while z < z_hi and b.n_box < N_BOXES - 14:
            length = rng.uniform(4.0, 22.0)
            if rng.random() < 0.15:
                z += rng.uniform(2.0, 6.0)  # an alley: sky or a building further back shows
                if rng.random() < 0.5:
                    setback = road + walk + rng.uniform(12, 25)
                    x0, x1 = side * setback, side * (setback + 10.0)
                    b.box(
                        (min(x0, x1), 0.0, z - 8),
                        (max(x0, x1), rng.uniform(5, 30), z + 4),
                        rng.uniform(8, 40),
                    )
                continue
            setback = (
                road + walk + (rng.uniform(0, 1.5) if rng.random() < 0.7 else rng.uniform(2, 8))
            )
            depth = rng.uniform(6.0, 15.0)
            height = rng.uniform(3.0, 28.0)
            x0, x1 = side * setback, side * (setback + depth)
            b.box((min(x0, x1), 0.0, z), (max(x0, x1), height, z + length), rng.uniform(8, 50))
            z += length

    # A building closing the street far ahead or behind, sometimes.
    for z_end, sign in ((z_hi, 1), (z_lo, -1)):
        if rng.random() < 0.4:
            za, zb = z_end, z_end + sign * 10.0
            b.box(
                (-road - walk - 20, 0, min(za, zb)),
                (road + walk + 20, rng.uniform(8, 35), max(za, zb)),
                rng.uniform(8, 30),
            )

    # Parked cars along both kerbs, a few cars in the lanes well ahead or behind the camera.
    def car(xc, zc, heading_z: bool = True):
        w, length = rng.uniform(1.6, 2.0), rng.uniform(3.8, 5.0)
        lo_body, hi_body = rng.uniform(0.15, 0.35), rng.uniform(0.8, 1.1)
        scale = rng.uniform(20, 60)
        tex = int(rng.integers(FREE_SLOT0, n_textures))
        b.box(
            (xc - w / 2, lo_body, zc - length / 2),
            (xc + w / 2, hi_body, zc + length / 2),
            scale,
            tex,
        )
        cab = length * rng.uniform(0.4, 0.6)
        shift = rng.uniform(-0.3, 0.3)
        b.box(
            (xc - w / 2 + 0.1, hi_body, zc - cab / 2 + shift),
            (xc + w / 2 - 0.1, hi_body + rng.uniform(0.35, 0.6), zc + cab / 2 + shift),
            scale,
        )

    for side in (-1, 1):
        z = z_lo + rng.uniform(0, 10)
        while z < z_hi and b.n_box < N_BOXES - 6:
            if rng.random() < 0.5:
                car(side * (road - 1.2), z)
            z += rng.uniform(5.0, 15.0)
    for _ in range(int(rng.integers(0, 3))):
        zc = rng.choice([-1, 1]) * rng.uniform(9.0, 35.0)
        if b.n_box < N_BOXES - 2:
            car(rng.choice([-1, 1]) * road * 0.5, zc)

    # Poles, tree trunks and crowns on the sidewalks; a few boxes (kiosks, bins).
    for _ in range(int(rng.integers(2, N_CYLINDERS + 1))):
        side = rng.choice([-1, 1])
        x = side * (road + rng.uniform(0.3, walk))
        zc = rng.uniform(-30, 60)
        if rng.random() < 0.5 or b.n_sph >= N_SPHERES:
            b.cylinder(
                x, zc, rng.uniform(0.05, 0.18), kerb, rng.uniform(2.5, 9.0), rng.uniform(20, 80)
            )
        else:
            trunk = rng.uniform(1.8, 3.5)
            b.cylinder(x, zc, rng.uniform(0.12, 0.3), kerb, trunk, rng.uniform(20, 60))
            r = rng.uniform(1.0, 2.8)
            b.sphere(x, trunk + 0.7 * r, zc, r, rng.uniform(10, 40))
    for _ in range(int(rng.integers(0, 4))):
        side = rng.choice([-1, 1])
        x = side * (road + rng.uniform(0.5, walk))
        zc = rng.uniform(-25, 50)
        size = rng.uniform(0.4, 2.0, 3)
        b.box(
            (x - size[0] / 2, kerb, zc - size[2] / 2),
            (x + size[0] / 2, kerb + size[1], zc + size[2] / 2),
            rng.uniform(20, 60),
        )

    # Sky: zenith and horizon colours, cloud strength; the sun for Lambert shading.
    sky_kind = rng.integers(3)
    zenith = [(0.2, 0.4, 0.85), (0.55, 0.58, 0.62), (0.35, 0.35, 0.6)][sky_kind]
    horizon = [(0.7, 0.8, 0.95), (0.8, 0.8, 0.82), (0.95, 0.7, 0.5)][sky_kind]
    zenith = np.clip(np.array(zenith) + rng.normal(0, 0.05, 3), 0, 1)
    horizon = np.clip(np.array(horizon) + rng.normal(0, 0.05, 3), 0, 1)
    sky = np.concatenate([zenith, horizon, [rng.uniform(0.0, 0.9)]]).astype(np.float32)
    elev, azim = rng.uniform(0.3, 1.2), rng.uniform(-np.pi, np.pi)
    sun = np.array(
        [
            np.cos(elev) * np.sin(azim),
            np.sin(elev),
            np.cos(elev) * np.cos(azim),
            rng.uniform(0.45, 0.75),
        ],
        np.float32,
    )
    b._material(_SKY, SKY_SLOT, 1.0)

    # The camera: a car roof or a hand-held pole, a few metres forward with drift and yaw jitter.
    pos0 = np.array([rng.uniform(-0.25, 0.25) * road, rng.uniform(1.4, 2.8), 0.0], np.float32)
    step = rng.uniform(0.5, 4.0)
    drift = np.array([rng.uniform(-0.35, 0.35), rng.uniform(-0.05, 0.05), step], np.float32)
    yaw0 = float(np.radians(rng.normal(0.0, 5.0)))
    yaw1 = yaw0 + float(np.radians(rng.normal(0.0, 3.0)))
    path = CameraPath(pos0, pos0 + drift, yaw0, yaw1)

    scene = Scene(
        b.box_lo,
        b.box_hi,
        b.cyl,
        b.cyl_y0,
        b.sph,
        b.valid,
        b.tex,
        b.tex_scale,
        b.tex_offset,
        b.tint,
        sky,
        sun,
    )
    return scene, path


# ----------------------------------------------------------------------------------------------
# Rays


def equirect_directions(width: int, height: int, supersample: int) -> np.ndarray:
    """Camera-frame unit rays ``(H*s, W*s, 3)`` float32 for the sub-pixel centres of an equirect image."""
    return geometry.equirect_directions(width, height, supersample).astype(np.float32)


def perspective_directions(
    width: int, height: int, hfov_deg: float, supersample: int
) -> np.ndarray:
    """Camera-frame unit rays ``(H*s, W*s, 3)`` float32 of a pinhole camera, focal ``0.5 W / tan(hfov/2)``."""
    return geometry.pinhole_directions(width, height, hfov_deg, supersample).astype(np.float32)


def _safe_inverse(d):
    return 1.0 / jnp.where(jnp.abs(d) < 1e-9, jnp.where(d < 0, -1e-9, 1e-9), d)


def _trace(scene: Scene, origin, dirs):
    """Nearest hit along each ray: ``(t, object id, box face axis)``, each ``(R,)``.

    Missed rays get ``t = inf`` and the sky's id.
    """
    eps = 1e-3
    n_rays = dirs.shape[0]
    inv = _safe_inverse(dirs)
    # Ground plane y = 0 (the camera is always above it).
    t_ground = jnp.where(dirs[:, 1] < -1e-6, -origin[1] / jnp.minimum(dirs[:, 1], -1e-6), jnp.inf)
    best_t = t_ground
    best_id = jnp.where(jnp.isfinite(t_ground), _GROUND, _SKY).astype(jnp.int32)
    best_axis = jnp.ones((n_rays,), jnp.int32)

    def box_step(carry, item):
        bt, bid, bax = carry
        lo, hi, valid, oid = item
        t1 = (lo - origin) * inv
        t2 = (hi - origin) * inv
        tn = jnp.minimum(t1, t2)
        tf = jnp.maximum(t1, t2)
        t_near = jnp.max(tn, axis=-1)
        t_far = jnp.min(tf, axis=-1)
        hit = (t_far >= t_near) & (t_near > eps) & (valid > 0) & (t_near < bt)
        return (
            jnp.where(hit, t_near, bt),
            jnp.where(hit, oid, bid),
            jnp.where(hit, jnp.argmax(tn, axis=-1).astype(jnp.int32), bax),
        ), None

    ids = jnp.arange(N_BOXES, dtype=jnp.int32) + _BOX0
    (best_t, best_id, best_axis), _ = jax.lax.scan(
        box_step,
        (best_t, best_id, best_axis),
        (scene.box_lo, scene.box_hi, scene.valid[_BOX0:_CYL0], ids),
    )

    def cyl_step(carry, item):
        bt, bid = carry
        cyl, y0, valid, oid = item
        ox, oz = origin[0] - cyl[0], origin[2] - cyl[1]
        dx, dz = dirs[:, 0], dirs[:, 2]
        a = jnp.maximum(dx * dx + dz * dz, 1e-12)
        half_b = ox * dx + oz * dz
        c = ox * ox + oz * oz - cyl[2] * cyl[2]
        disc = half_b * half_b - a * c
        t = (-half_b - jnp.sqrt(jnp.maximum(disc, 0.0))) / a
        y = origin[1] + t * dirs[:, 1]
        hit = (disc > 0) & (t > eps) & (y >= y0) & (y <= y0 + cyl[3]) & (valid > 0) & (t < bt)
        return (jnp.where(hit, t, bt), jnp.where(hit, oid, bid)), None

    ids = jnp.arange(N_CYLINDERS, dtype=jnp.int32) + _CYL0
    (best_t, best_id), _ = jax.lax.scan(
        cyl_step, (best_t, best_id), (scene.cyl, scene.cyl_y0, scene.valid[_CYL0:_SPH0], ids)
    )

    def sph_step(carry, item):
        bt, bid = carry
        sph, valid, oid = item
        oc = origin - sph[:3]
        half_b = dirs @ oc
        c = oc @ oc - sph[3] * sph[3]
        disc = half_b * half_b - c
        t = -half_b - jnp.sqrt(jnp.maximum(disc, 0.0))
        hit = (disc > 0) & (t > eps) & (valid > 0) & (t < bt)
        return (jnp.where(hit, t, bt), jnp.where(hit, oid, bid)), None

    ids = jnp.arange(N_SPHERES, dtype=jnp.int32) + _SPH0
    (best_t, best_id), _ = jax.lax.scan(
        sph_step, (best_t, best_id), (scene.sph, scene.valid[_SPH0:_SKY], ids)
    )
    return best_t, best_id, best_axis


def _sample(mips, level, tex, u, v, *, trilinear: bool = True):
    """Texture lookup: ``mips`` ``(L, K, S, S, 3)``; ``level``, ``tex``, ``u``, ``v`` ``(R,)`` -> ``(R, 3)``.

    Bilinear within a level (coordinates wrap), linear between the two nearest levels.
    """
    n_levels, count, size = mips.shape[0], mips.shape[1], mips.shape[2]
    flat = mips.reshape(-1, 3)  # one gather on a flat table beats 4-index gathers on XLA:CPU
    x = u - 0.5
    y = v - 0.5
    x0f = jnp.floor(x)
    y0f = jnp.floor(y)
    fx = (x - x0f)[:, None]
    fy = (y - y0f)[:, None]
    x0 = jnp.mod(x0f.astype(jnp.int32), size)
    y0 = jnp.mod(y0f.astype(jnp.int32), size)
    x1 = jnp.where(x0 == size - 1, 0, x0 + 1)
    y1 = jnp.where(y0 == size - 1, 0, y0 + 1)
    level = jnp.clip(level, 0.0, n_levels - 1.0)
    l0 = jnp.floor(level).astype(jnp.int32)

    def at(lvl):
        base = (lvl * count + tex) * size
        r0, r1 = (base + y0) * size, (base + y1) * size
        return (
            flat[r0 + x0] * (1 - fx) * (1 - fy)
            + flat[r0 + x1] * fx * (1 - fy)
            + flat[r1 + x0] * (1 - fx) * fy
            + flat[r1 + x1] * fx * fy
        )

    if not trilinear:
        return at(l0)
    fl = (level - l0)[:, None]
    return at(l0) * (1 - fl) + at(jnp.minimum(l0 + 1, n_levels - 1)) * fl


def _shade(scene: Scene, mips, origin, dirs, pixel_angle):
    """Colour ``(R, 3)`` of each ray ``dirs`` ``(R, 3)`` from ``origin`` ``(3,)``."""
    t, oid, axis = _trace(scene, origin, dirs)
    hit = jnp.isfinite(t)
    t_safe = jnp.where(hit, t, 1.0)
    p = origin + t_safe[:, None] * dirs
    is_box = (oid >= _BOX0) & (oid < _CYL0)
    is_cyl = (oid >= _CYL0) & (oid < _SPH0)
    is_sph = (oid >= _SPH0) & (oid < _SKY)

    # Plane coordinates (u, v) in metres and the surface normal, per kind of primitive.
    box_u = jnp.where(axis == 0, p[:, 2], p[:, 0])
    box_v = jnp.where(axis == 1, p[:, 2], p[:, 1])
    sign = -jnp.sign(jnp.take_along_axis(dirs, axis[:, None], axis=1)[:, 0])
    box_n = jax.nn.one_hot(axis, 3) * sign[:, None]
    cyl = scene.cyl[jnp.clip(oid - _CYL0, 0, N_CYLINDERS - 1)]
    rel = jnp.stack([p[:, 0] - cyl[:, 0], jnp.zeros_like(t), p[:, 2] - cyl[:, 1]], axis=-1)
    cyl_n = rel / jnp.maximum(jnp.linalg.norm(rel, axis=-1, keepdims=True), 1e-6)
    cyl_u = jnp.arctan2(rel[:, 0], rel[:, 2]) * cyl[:, 2]
    sph = scene.sph[jnp.clip(oid - _SPH0, 0, N_SPHERES - 1)]
    sph_n = (p - sph[:, :3]) / jnp.maximum(sph[:, 3:4], 1e-6)
    sph_u = jnp.arctan2(sph_n[:, 0], sph_n[:, 2]) * sph[:, 3]
    sph_v = jnp.arcsin(jnp.clip(sph_n[:, 1], -1, 1)) * sph[:, 3]
    ground_n = jnp.broadcast_to(jnp.array([0.0, 1.0, 0.0]), p.shape)

    u = jnp.select([is_box, is_cyl, is_sph], [box_u, cyl_u, sph_u], p[:, 0])
    v = jnp.select([is_box, is_cyl, is_sph], [box_v, p[:, 1], sph_v], p[:, 2])
    normal = jnp.select(
        [is_box[:, None], is_cyl[:, None], is_sph[:, None]], [box_n, cyl_n, sph_n], ground_n
    )

    scale = scene.tex_scale[oid]
    tu = u * scale + scene.tex_offset[oid, 0]
    tv = -v * scale + scene.tex_offset[oid, 1]
    # Mip level from the pixel footprint on the surface, in texels (grazing angles blur more).
    cos_inc = jnp.maximum(jnp.abs(jnp.sum(normal * dirs, axis=-1)), 0.25)
    footprint = t_safe * pixel_angle * scale / cos_inc
    level = jnp.log2(jnp.maximum(footprint, 1.0))
    albedo = _sample(mips, level, scene.tex[oid], tu, tv) * scene.tint[oid]
    sun, ambient = scene.sun[:3], scene.sun[3]
    light = ambient + (1.0 - ambient) * jnp.maximum(normal @ sun, 0.0)
    colour = albedo * light[:, None]
    # Haze: far surfaces fade towards the horizon colour.
    horizon = scene.sky[3:6]
    haze = 1.0 - jnp.exp(-t_safe / 250.0)
    colour = colour * (1 - haze[:, None]) + horizon * haze[:, None]

    # Sky at infinity: depends on direction only (no parallax), clouds from the sky texture.
    elevation = jnp.arcsin(jnp.clip(dirs[:, 1], -1, 1))
    azimuth = jnp.arctan2(dirs[:, 0], dirs[:, 2])
    mix = jnp.clip(elevation / (jnp.pi / 2), 0, 1) ** 0.6
    base = scene.sky[3:6] * (1 - mix[:, None]) + scene.sky[0:3] * mix[:, None]
    size = mips.shape[2]
    su = (azimuth / (2 * jnp.pi) + 0.5) * size * 2.0  # whole tiles around: seamless at +-pi
    sv = (1.0 - mix) * size
    clouds = _sample(
        mips, jnp.zeros_like(su), jnp.full(su.shape, SKY_SLOT), su, sv, trilinear=False
    )
    sky = base + scene.sky[6] * clouds * (0.95 - base)
    return jnp.clip(jnp.where(hit[:, None], colour, sky), 0.0, 1.0)


def _downsample(image, s: int):
    """Average ``s`` x ``s`` blocks of ``(H*s, W*s, 3)``."""
    if s == 1:
        return image
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s, 3).mean(axis=(1, 3))


@partial(jax.jit, static_argnames=("width", "height", "supersample"))
def _render_views(
    scene, mips, dirs_cam, pixel_angle, positions, yaws, pitch, *, width, height, supersample
):
    """Views ``(V, H, W, 3)`` from ``positions`` ``(V, 3)``, ``yaws`` ``(V,)``; rays ``dirs_cam`` ``(R, 3)``.

    The rays are an argument, not a constant, so one compile serves every field of view.
    """

    def one(pos, yaw):
        dirs = geometry.rotate_pitch_yaw(dirs_cam, pitch, yaw)
        colour = _shade(scene, mips, pos, dirs, pixel_angle)
        return _downsample(
            colour.reshape(height * supersample, width * supersample, 3), supersample
        )

    return jax.lax.map(lambda args: one(*args), (positions, yaws))


def render_views(
    scene: Scene,
    textures: Textures | jax.Array,
    positions: np.ndarray,
    yaws: np.ndarray,
    *,
    width: int,
    height: int,
    supersample: int = 2,
    hfov_deg: float = 0.0,
    pitch: float = 0.0,
) -> np.ndarray:
    """Render ``(V, H, W, 3)`` float32 views of ``scene`` from ``positions`` ``(V, 3)`` and ``yaws`` ``(V,)``.

    ``hfov_deg == 0`` renders equirect panoramas (``W == 2 H`` expected), otherwise a pinhole view
    with that horizontal field of view, tilted by ``pitch`` radians. Jitted: one compile per size.
    """
    if hfov_deg == 0:
        dirs_cam = equirect_directions(width, height, supersample)
        pixel_angle = 2.0 * np.pi / (width * supersample)
    else:
        dirs_cam = perspective_directions(width, height, hfov_deg, supersample)
        pixel_angle = 2.0 * np.tan(np.radians(hfov_deg) / 2.0) / (width * supersample)
    mips = textures.mips if isinstance(textures, Textures) else textures
    out = _render_views(
        scene,
        jnp.asarray(mips),
        jnp.asarray(dirs_cam.reshape(-1, 3)),
        jnp.float32(pixel_angle),
        jnp.asarray(positions, jnp.float32),
        jnp.asarray(yaws, jnp.float32),
        jnp.float32(pitch),
        width=int(width),
        height=int(height),
        supersample=int(supersample),
    )
    return np.asarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Triplets


@dataclasses.dataclass(frozen=True)
class Triplet:
    """Two frames and the exact view between them: ``img0``, ``mid``, ``img1`` ``(H, W, 3)``."""

    img0: np.ndarray
    mid: np.ndarray
    img1: np.ndarray
    t: float
    equirect: bool


def _pick_t(rng: np.random.Generator) -> float:
    return 0.5 if rng.random() < 0.4 else float(rng.uniform(0.1, 0.9))


def street_triplet(
    seed: int,
    textures: Textures,
    *,
    width: int,
    height: int,
    equirect: bool = True,
    t: float | None = None,
    supersample: int = 2,
) -> Triplet:
    """Frames 0, t and 1 along a random street from ``seed``.

    Panoramas face the direction of travel (centre column); perspective views look forward or
    sideways with a random field of view and tilt, as a hand-held camera would.
    """
    scene, path = street_scene(seed, textures.count)
    rng = np.random.default_rng([seed, 7])
    t = _pick_t(rng) if t is None else float(t)
    hfov, look, pitch = 0.0, 0.0, 0.0
    if not equirect:
        hfov = float(rng.uniform(50.0, 100.0))
        look = float(
            np.radians(rng.normal(0, 10) if rng.random() < 0.5 else rng.uniform(-100, 100))
        )
        pitch = float(np.radians(rng.normal(0, 6)))
    poses = [path.at(x) for x in (0.0, t, 1.0)]
    positions = np.stack([p for p, _ in poses])
    yaws = np.array([y + look for _, y in poses], np.float32)
    views = render_views(
        scene,
        textures,
        positions,
        yaws,
        width=width,
        height=height,
        supersample=supersample,
        hfov_deg=hfov,
        pitch=pitch,
    )
    return Triplet(views[0], views[1], views[2], t, equirect)


@partial(jax.jit, static_argnames=("width", "height", "supersample"))
def _render_layers(mips, params, times, *, width, height, supersample):
    """Flying layers at ``times`` ``(V,)``: ``(V, H, W, 3)``; see :func:`flying_triplet`."""
    s = supersample
    yy, xx = jnp.meshgrid(
        (jnp.arange(height * s) + 0.5) / s, (jnp.arange(width * s) + 0.5) / s, indexing="ij"
    )
    px, py = xx.reshape(-1), yy.reshape(-1)
    zeros = jnp.zeros_like(px)

    def layer_coords(p, tau):
        # p = (cx, cy, vx, vy, angle, spin, log_scale, grow, half_w, half_h, shape, tex, tx, ty)
        cx, cy = p[0] + p[2] * tau, p[1] + p[3] * tau
        ang = p[4] + p[5] * tau
        sc = jnp.exp(p[6] + p[7] * tau)
        dx, dy = px - cx, py - cy
        lx = (jnp.cos(ang) * dx + jnp.sin(ang) * dy) / sc
        ly = (-jnp.sin(ang) * dx + jnp.cos(ang) * dy) / sc
        return lx, ly

    def one(tau):
        bg = params[0]
        bx, by = layer_coords(bg, tau)
        colour = _sample(
            mips,
            zeros,
            jnp.full(px.shape, bg[11].astype(jnp.int32)),
            bx + bg[12],
            by + bg[13],
            trilinear=False,
        )

        def paint(colour, p):
            lx, ly = layer_coords(p, tau)
            ellipse = (lx / p[8]) ** 2 + (ly / p[9]) ** 2 <= 1.0
            rect = (jnp.abs(lx) <= p[8]) & (jnp.abs(ly) <= p[9])
            inside = jnp.where(p[10] > 0.5, ellipse, rect)
            tex = _sample(
                mips,
                zeros,
                jnp.full(px.shape, p[11].astype(jnp.int32)),
                lx + p[12],
                ly + p[13],
                trilinear=False,
            )
            return jnp.where(inside[:, None], tex, colour), None

        colour, _ = jax.lax.scan(paint, colour, params[1:])
        return _downsample(colour.reshape(height * s, width * s, 3), s)

    return jax.lax.map(one, times)


def flying_triplet(
    seed: int,
    textures: Textures,
    *,
    width: int,
    height: int,
    t: float | None = None,
    layers: int = 5,
    supersample: int = 2,
) -> Triplet:
    """Textured ellipses and rectangles moving (translation, spin, zoom) over a moving background.

    Motion is linear in time, so the frame at ``t`` is exact; later layers cover earlier ones.
    Displacements reach about a fifth of the image size.
    """
    rng = np.random.default_rng([seed, 11])
    t = _pick_t(rng) if t is None else float(t)
    reach = 0.2 * max(width, height)
    params = np.zeros((layers + 1, 14), np.float32)
    for i in range(layers + 1):
        background = i == 0
        params[i, 0:2] = (
            (width / 2, height / 2)
            if background
            else (rng.uniform(0, width), rng.uniform(0, height))
        )
        params[i, 2:4] = rng.normal(0, reach / (3 if background else 2), 2)
        params[i, 4] = rng.uniform(-np.pi, np.pi)
        params[i, 5] = rng.normal(0, 0.05 if background else 0.3)
        params[i, 6] = rng.normal(0, 0.2)
        params[i, 7] = rng.normal(0, 0.03 if background else 0.1)
        params[i, 8:10] = rng.uniform(0.06, 0.3, 2) * max(width, height)
        params[i, 10] = float(rng.random() < 0.5)
        params[i, 11] = rng.integers(FREE_SLOT0, textures.count)
        params[i, 12:14] = rng.uniform(0, textures.size, 2)
    views = _render_layers(
        jnp.asarray(textures.mips),
        jnp.asarray(params),
        jnp.asarray([0.0, t, 1.0], jnp.float32),
        width=int(width),
        height=int(height),
        supersample=int(supersample),
    )
    views = np.asarray(views, np.float32)
    return Triplet(views[0], views[1], views[2], t, False)


def heldout_panoramas(
    n: int,
    width: int,
    height: int,
    seed: int = HELDOUT_SEED,
    *,
    photos: Sequence[np.ndarray] = (),
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """``n`` validation triplets ``(img0, gt_mid, img1, t)`` of street panoramas, float32 in [0, 1].

    Seeds ``seed .. seed + n - 1`` (at or above ``HELDOUT_SEED``, never used for training); the
    textures come from ``seed`` too. ``photos`` (optional, licensed training photos) add photo
    textures; without them every texture is procedural. ``t`` is 0.5 for most, 0.25 or 0.75 for some.
    """
    if seed < HELDOUT_SEED:
        raise ViewsynthError(
            f"heldout_panoramas: seed {seed} is a training seed (held out from {HELDOUT_SEED})"
        )
    textures = make_textures(seed, photos=photos)
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed + i, 3])
        t = float(rng.choice([0.25, 0.5, 0.5, 0.75]))
        trip = street_triplet(seed + i, textures, width=width, height=height, equirect=True, t=t)
        out.append((trip.img0, trip.mid, trip.img1, trip.t))
    return out
