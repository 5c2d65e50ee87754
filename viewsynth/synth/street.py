"""Random streets: the world the renderer draws, as fixed-size arrays, and the camera's path.

Conventions (the whole wing's): +z is the direction of travel, x to the right, y up, metres. A
street is lined with facades (boxes with varying setbacks and heights), kerbs, parked and driving
cars (boxes), poles and tree trunks (vertical cylinders), tree crowns (spheres), a ground plane and
sky at infinity. Yaw positive turns right (about +y), pitch positive looks up. Frame 0 is at the
path's start, frame 1 a few metres forward (with sideways drift and yaw jitter); the pose at ``t``
is their linear blend, so every in-between view is exact.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from viewsynth.synth.textures import FREE_SLOT0, GROUND_SLOTS, SKY_SLOT

N_BOXES = 64
N_CYLINDERS = 16
N_SPHERES = 8
#: Object table: slot 0 ground, then boxes, cylinders, spheres, then the sky.
GROUND = 0
BOX0 = 1
CYL0 = BOX0 + N_BOXES
SPH0 = CYL0 + N_CYLINDERS
SKY = SPH0 + N_SPHERES
N_OBJECTS = SKY + 1


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
        self._material(BOX0 + self.n_box, tex, scale)
        self.n_box += 1
        return True

    def cylinder(self, x, z, radius, y0, height, scale: float, tex: int | None = None) -> bool:
        if self.n_cyl >= N_CYLINDERS:
            return False
        self.cyl[self.n_cyl] = (x, z, radius, height)
        self.cyl_y0[self.n_cyl] = y0
        self._material(CYL0 + self.n_cyl, tex, scale)
        self.n_cyl += 1
        return True

    def sphere(self, x, y, z, radius, scale: float, tex: int | None = None) -> bool:
        if self.n_sph >= N_SPHERES:
            return False
        self.sph[self.n_sph] = (x, y, z, radius)
        self._material(SPH0 + self.n_sph, tex, scale)
        self.n_sph += 1
        return True


#: The distance between the two shots of a street (metres), drawn uniformly in this range.
SPACING = (0.5, 4.0)


def street_scene(
    seed: int, n_textures: int, spacing: tuple[float, float] = SPACING
) -> tuple[Scene, CameraPath]:
    """A random street and camera path from ``seed`` (``n_textures``: atlas size to draw from);
    the shots ``spacing`` metres apart (the range a uniform draw takes; the draw consumes the same
    random numbers whatever the range, so the street itself does not change with it)."""
    rng = np.random.default_rng(seed)
    b = _SceneBuilder(rng, n_textures)
    road = rng.uniform(3.0, 6.5)  # half width of the carriageway
    walk = rng.uniform(1.2, 4.0)
    z_lo, z_hi = -50.0, 90.0

    # Ground texture (slot 0) and kerbs/sidewalks.
    b._material(GROUND, int(rng.choice(GROUND_SLOTS)), rng.uniform(10, 40))
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
    def car(xc, zc):
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
    b._material(SKY, SKY_SLOT, 1.0)

    # The camera: a car roof or a hand-held pole, a few metres forward with drift and yaw jitter.
    pos0 = np.array([rng.uniform(-0.25, 0.25) * road, rng.uniform(1.4, 2.8), 0.0], np.float32)
    step = rng.uniform(*spacing)
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
