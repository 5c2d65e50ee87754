"""Exact training and validation triplets: frames 0, ``t`` and 1 of a street or of flying layers.

A street triplet renders frame 0 at the camera path's start, frame 1 a few metres forward and the
ground truth at ``t`` from the interpolated pose. "Flying layers" (textured shapes moving over a
textured background, perspective) add general object motion. Everything is deterministic from a
seed; training uses seeds below ``HELDOUT_SEED`` and :func:`heldout_panoramas` uses seeds from it
up, so they never overlap; the training validation and the benchmark use separate held-out seeds. Images are ``(H, W, 3)`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.synth.raycast import downsample, render_views, sample_texture
from viewsynth.synth.street import SPACING, street_scene
from viewsynth.synth.textures import FREE_SLOT0, Textures, make_textures
from viewsynth.synth.visibility import visibility

#: Seeds at or above this are held out for validation and evaluation; training stays below.
HELDOUT_SEED = 1_000_000
#: The training validation's scenes, by which checkpoints are chosen: panoramas from
#: ``HELDOUT_SEED`` (:func:`heldout_panoramas`' default), perspective views from this one.
VALIDATION_PERSPECTIVE_SEED = HELDOUT_SEED + 500_000
#: The benchmark's renders (and ``evaluate --render``): held out, and no checkpoint was chosen on
#: them. Panoramas from the first, perspective views from the second.
BENCHMARK_SEED = HELDOUT_SEED + 300_000
BENCHMARK_PERSPECTIVE_SEED = HELDOUT_SEED + 800_000


@dataclasses.dataclass(frozen=True)
class Triplet:
    """Two frames and the exact view between them: ``img0``, ``mid``, ``img1`` ``(H, W, 3)``.

    ``visibility``: where the renderer knows it (street panoramas), ``(H, W, 2)``
    float32 in {0, 1}, whether frame 0 (channel 0) and frame 1 (channel 1) see the point each
    pixel of ``mid`` sees (sky: both; :func:`viewsynth.synth.visibility.visibility`); else None.
    """

    img0: np.ndarray
    mid: np.ndarray
    img1: np.ndarray
    t: float
    equirect: bool
    visibility: np.ndarray | None = None
    # A perspective view's horizontal field of view in degrees where known (a render's); None:
    # unknown, as for a photo without EXIF (the pinhole sweep then assumes 60 degrees).
    hfov: float | None = None


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
    spacing: tuple[float, float] = SPACING,
    tilt_deg: float = 0.0,
) -> Triplet:
    """Frames 0, t and 1 along a random street from ``seed``, the shots ``spacing`` metres apart.

    Panoramas face the direction of travel (centre column); perspective views look forward or
    sideways with a random field of view and tilt, as a hand-held camera would. ``tilt_deg`` > 0
    (panoramas): each shot's camera is also pitched and rolled by its own normal draw of that
    standard deviation (a hand-held pole), the in-between view by their blend at t; at 0 nothing
    is drawn and the triplet is the same as without the argument. Panoramas carry ``depth`` and
    ``visibility``.
    """
    scene, path = street_scene(seed, textures.count, spacing)
    rng = np.random.default_rng([seed, 7])
    t = _pick_t(rng) if t is None else float(t)
    hfov, look, pitch, roll = 0.0, 0.0, np.zeros(3, np.float32), np.zeros(3, np.float32)
    if not equirect:
        hfov = float(rng.uniform(50.0, 100.0))
        look = float(
            np.radians(rng.normal(0, 10) if rng.random() < 0.5 else rng.uniform(-100, 100))
        )
        pitch[:] = np.radians(rng.normal(0, 6))
    elif tilt_deg > 0:  # its own stream: the street and t stay those of the seed
        ends = np.radians(np.random.default_rng([seed, 11]).normal(0.0, tilt_deg, (2, 2)))
        pitch[:], roll[:] = (np.float32([e[0], (1 - t) * e[0] + t * e[1], e[1]]) for e in ends)
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
        roll=roll,
        inverse_depth=equirect,
    )
    if not equirect:
        return Triplet(views[0], views[1], views[2], t, equirect, hfov=float(hfov))
    views, inverse = views
    seen = visibility(inverse, positions, yaws, pitch, roll)
    return Triplet(views[0], views[1], views[2], t, equirect, seen)


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
        colour = sample_texture(
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
            tex = sample_texture(
                mips,
                zeros,
                jnp.full(px.shape, p[11].astype(jnp.int32)),
                lx + p[12],
                ly + p[13],
                trilinear=False,
            )
            return jnp.where(inside[:, None], tex, colour), None

        colour, _ = jax.lax.scan(paint, colour, params[1:])
        return downsample(colour.reshape(height * s, width * s, 3), s)

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
