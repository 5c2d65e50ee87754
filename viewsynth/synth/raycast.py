"""Ray casting a :class:`~viewsynth.synth.street.Scene`: trace, texture lookup, shading, views.

Each pixel casts a ray (equirect: from lon/lat with the conventions of ``viewsynth.geometry``,
centre column = forward; perspective: pinhole), the nearest hit's plane coordinates index a
texture bilinearly, from a mip level chosen by the pixel's footprint, and ``supersample`` x
``supersample`` rays per pixel are averaged so edges are anti-aliased like a real photo. Views are
``(H, W, 3)`` float32 RGB in [0, 1]. On request the same trace also gives each pixel's inverse
ray distance ``(H, W)`` in 1/metres: the mean over its rays of 1/t, a ray that meets nothing (sky)
counting 0, so a pixel on an edge gets the blend its colour gets.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from viewsynth import geometry
from viewsynth.synth.street import (
    BOX0,
    CYL0,
    GROUND,
    N_BOXES,
    N_CYLINDERS,
    N_SPHERES,
    SKY,
    SPH0,
    Scene,
)
from viewsynth.synth.textures import SKY_SLOT, Textures


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
    best_id = jnp.where(jnp.isfinite(t_ground), GROUND, SKY).astype(jnp.int32)
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

    ids = jnp.arange(N_BOXES, dtype=jnp.int32) + BOX0
    (best_t, best_id, best_axis), _ = jax.lax.scan(
        box_step,
        (best_t, best_id, best_axis),
        (scene.box_lo, scene.box_hi, scene.valid[BOX0:CYL0], ids),
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

    ids = jnp.arange(N_CYLINDERS, dtype=jnp.int32) + CYL0
    (best_t, best_id), _ = jax.lax.scan(
        cyl_step, (best_t, best_id), (scene.cyl, scene.cyl_y0, scene.valid[CYL0:SPH0], ids)
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

    ids = jnp.arange(N_SPHERES, dtype=jnp.int32) + SPH0
    (best_t, best_id), _ = jax.lax.scan(
        sph_step, (best_t, best_id), (scene.sph, scene.valid[SPH0:SKY], ids)
    )
    return best_t, best_id, best_axis


def sample_texture(mips, level, tex, u, v, *, trilinear: bool = True):
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
    """Colour ``(R, 3)`` of each ray ``dirs`` ``(R, 3)`` from ``origin`` ``(3,)``, and the ray's
    hit distance ``t`` ``(R,)`` (inf: sky)."""
    t, oid, axis = _trace(scene, origin, dirs)
    hit = jnp.isfinite(t)
    t_safe = jnp.where(hit, t, 1.0)
    p = origin + t_safe[:, None] * dirs
    is_box = (oid >= BOX0) & (oid < CYL0)
    is_cyl = (oid >= CYL0) & (oid < SPH0)
    is_sph = (oid >= SPH0) & (oid < SKY)

    # Plane coordinates (u, v) in metres and the surface normal, per kind of primitive.
    box_u = jnp.where(axis == 0, p[:, 2], p[:, 0])
    box_v = jnp.where(axis == 1, p[:, 2], p[:, 1])
    sign = -jnp.sign(jnp.take_along_axis(dirs, axis[:, None], axis=1)[:, 0])
    box_n = jax.nn.one_hot(axis, 3) * sign[:, None]
    cyl = scene.cyl[jnp.clip(oid - CYL0, 0, N_CYLINDERS - 1)]
    rel = jnp.stack([p[:, 0] - cyl[:, 0], jnp.zeros_like(t), p[:, 2] - cyl[:, 1]], axis=-1)
    cyl_n = rel / jnp.maximum(jnp.linalg.norm(rel, axis=-1, keepdims=True), 1e-6)
    cyl_u = jnp.arctan2(rel[:, 0], rel[:, 2]) * cyl[:, 2]
    sph = scene.sph[jnp.clip(oid - SPH0, 0, N_SPHERES - 1)]
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
    albedo = sample_texture(mips, level, scene.tex[oid], tu, tv) * scene.tint[oid]
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
    clouds = sample_texture(
        mips, jnp.zeros_like(su), jnp.full(su.shape, SKY_SLOT), su, sv, trilinear=False
    )
    sky = base + scene.sky[6] * clouds * (0.95 - base)
    return jnp.clip(jnp.where(hit[:, None], colour, sky), 0.0, 1.0), t


def downsample(image, s: int):
    """Average ``s`` x ``s`` blocks of ``(H*s, W*s, ...)``."""
    if s == 1:
        return image
    h, w = image.shape[0] // s, image.shape[1] // s
    return image.reshape(h, s, w, s, *image.shape[2:]).mean(axis=(1, 3))


def _roll(dirs, roll):
    """Directions ``(..., 3)`` turned by ``roll`` radians about the optical axis z. At roll 0 the
    result is the input to the bit (cos 0 = 1, sin 0 = 0)."""
    c, s = jnp.cos(roll), jnp.sin(roll)
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    return jnp.stack([x * c - y * s, x * s + y * c, z], axis=-1)


@partial(jax.jit, static_argnames=("width", "height", "supersample", "inverse_depth"))
def _render_views(
    scene, mips, dirs_cam, pixel_angle, positions, yaws, pitch, rolls, *, width, height,
    supersample, inverse_depth=False,
):  # fmt: skip
    """Views ``(V, H, W, 3)`` from ``positions`` ``(V, 3)``, ``yaws`` ``(V,)``; rays ``dirs_cam``
    ``(R, 3)``. ``pitch``: one for all (a scalar) or ``(V,)``; ``rolls``: None or ``(V,)`` (the
    camera is turned by roll, then pitch, then yaw). A level camera (scalar pitch, no rolls)
    traces exactly as before rolls existed, so its renders keep every bit.

    The rays are an argument, not a constant, so one compile serves every field of view.
    ``inverse_depth``: ``(views, inverse distances (V, H, W))``; the colours are the same ops.
    """

    def one(pos, yaw, pitch, roll):
        dirs = dirs_cam if roll is None else _roll(dirs_cam, roll)
        dirs = geometry.rotate_pitch_yaw(dirs, pitch, yaw)
        colour, t = _shade(scene, mips, pos, dirs, pixel_angle)
        shape = (height * supersample, width * supersample)
        view = downsample(colour.reshape(*shape, 3), supersample)
        if not inverse_depth:
            return view
        inverse = jnp.where(jnp.isfinite(t), 1.0 / jnp.where(jnp.isfinite(t), t, 1.0), 0.0)
        return view, downsample(inverse.reshape(shape), supersample)

    if rolls is None:
        return jax.lax.map(lambda args: one(*args, pitch, None), (positions, yaws))
    return jax.lax.map(lambda args: one(*args), (positions, yaws, pitch, rolls))


def _tilts(pitch, roll, views: int):
    """``(pitch, rolls)`` for :func:`_render_views`: a scalar pitch and None for a level camera
    (one pitch for all, no roll), else both ``(V,)``."""
    pitch, roll = np.asarray(pitch, np.float32), np.asarray(roll, np.float32)
    if not roll.any() and np.all(pitch == pitch.reshape(-1)[0]):
        return jnp.float32(pitch.reshape(-1)[0]), None
    return tuple(jnp.asarray(np.broadcast_to(a, (views,))) for a in (pitch, roll))


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
    pitch: float | np.ndarray = 0.0,
    roll: float | np.ndarray = 0.0,
    inverse_depth: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render ``(V, H, W, 3)`` float32 views of ``scene`` from ``positions`` ``(V, 3)`` and ``yaws`` ``(V,)``.

    ``hfov_deg == 0`` renders equirect panoramas (``W == 2 H`` expected), otherwise a pinhole view
    with that horizontal field of view. Every view is tilted by ``pitch`` and ``roll`` radians
    (one for all or ``(V,)``). Jitted: one compile per size (and per ``inverse_depth``).
    ``inverse_depth``: ``(views, inverse)``, ``inverse`` ``(V, H, W)`` float32 the mean over each
    pixel's rays of 1 / ray distance in 1/metres (0 for sky); the views keep every bit.
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
        *_tilts(pitch, roll, len(yaws)),
        width=int(width),
        height=int(height),
        supersample=int(supersample),
        inverse_depth=bool(inverse_depth),
    )
    if inverse_depth:
        return np.asarray(out[0], dtype=np.float32), np.asarray(out[1], dtype=np.float32)
    return np.asarray(out, dtype=np.float32)
