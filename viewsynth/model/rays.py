"""The geometry candidate as a depth, in JAX: where a pixel of the in-between view, at an inverse
depth ``q``, looks both inputs up, and the 1-D cost along its ray.

A ``ModelConfig.depth_search`` network holds the geometry candidate as the in-between view's
inverse depth (in baselines^-1, as the sphere sweep's) and moves it; its flows follow. Per pixel,
the input gives ``a`` (6) and ``b`` (6) such that the directions into camera 0 and camera 1 are
``a + q b``, each as ``(-x, y, -z)`` (:func:`viewsynth.sweep.render.depth_at`); the pixel position
of a direction follows the sphere's conventions (:mod:`viewsynth.geometry.sphere`): ``x = (lon +
pi) W / 2 pi - 0.5``, ``y = (pi/2 - lat) H / pi - 0.5``, clamped to the rows. The same lookups in
NumPy (with OpenCV's faster, 0.01-degree ``phase``) make the sweep's frames.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from viewsynth.model.warp import avg_pool, convex_upsample, sample


def lookups(a: jax.Array, b: jax.Array, q: jax.Array, *, width: int, height: int):
    """``(x0, y0, x1, y1)`` (...): where the pixels of ``a`` (..., 6), ``b`` (..., 6) at inverse
    depths ``q`` (..., 1) look input 0 and input 1 up, in pixels of a ``width x height`` frame."""
    p = a + q * b
    out = []
    for k in (0, 3):
        nx, y, nz = p[..., k], p[..., k + 1], p[..., k + 2]
        lon = jnp.arctan2(nx, nz)  # lon + pi, up to a turn
        colat = jnp.arctan2(jnp.sqrt(nx * nx + nz * nz + 1e-12), y)
        out += [
            lon * (width / (2.0 * math.pi)) - 0.5,
            jnp.clip(colat * (height / math.pi) - 0.5, 0.0, height - 1.0),
        ]
    return out


def cell_lookups(a, b, q, *, stride: int, width: int, height: int):
    """:func:`lookups` in the cells of the 1/``stride`` grid (cell centres at integers)."""
    return [(v - (stride - 1) / 2.0) / stride for v in lookups(a, b, q, width=width, height=height)]


def wrap(dx: jax.Array, width: int) -> jax.Array:
    """A horizontal displacement in pixels, wrapped into ``[-W/2, W/2)``."""
    return jnp.mod(dx + width / 2.0, width) - width / 2.0


def moved(a, b, q, q0, *, width: int, height: int) -> jax.Array:
    """(..., 4): how far the lookups into input 0 (x, y) and input 1 (x, y) move when the inverse
    depth goes from ``q0`` to ``q``, in pixels of the ``width x height`` frame (x wrapped). Added
    to the candidate's flows at ``q0``, they are its flows at ``q``."""
    new = lookups(a, b, q, width=width, height=height)
    old = lookups(a, b, q0, width=width, height=height)
    d = [n - o for n, o in zip(new, old, strict=True)]
    return jnp.stack([wrap(d[0], width), d[1], wrap(d[2], width), d[3]], axis=-1)


def depth_cost(
    f0: jax.Array,
    f1: jax.Array,
    a: jax.Array,
    b: jax.Array,
    q: jax.Array,
    offsets: jax.Array,
    *,
    stride: int,
    width: int,
    height: int,
    equirect: bool,
) -> jax.Array:
    """The 1-D cost along each ray: for every inverse depth ``q + offset`` (``offsets`` (N,)), the
    correlation of input 0's and input 1's features (``f0``, ``f1`` (B, h, w, C) at 1/stride)
    where that depth looks them up: (B, h, w, N), scaled by 1/sqrt(C)."""
    scale = 1.0 / math.sqrt(f0.shape[-1])

    def one(offset):
        low = cell_lookups(a, b, q + offset, stride=stride, width=width, height=height)
        s0 = sample(f0, low[0], low[1], equirect=equirect)
        s1 = sample(f1, low[2], low[3], equirect=equirect)
        return jnp.sum(s0 * s1, axis=-1) * scale

    return jnp.stack([one(offsets[k]) for k in range(offsets.shape[0])], axis=-1)


class DepthSearch:
    """One pair-time batch's depth for :meth:`viewsynth.model.network.Network.decode`: the
    candidate's inverse depth at 1/stride (``q0``, the start), its lookups there, and the 1-D
    search's hypotheses (``radius`` each side, ``step`` apart). The geometry candidate's flows
    (state channels 5-8, with any 2D corrections) move as its lookups move with the depth."""

    def __init__(self, init, *, stride: int, radius: int, step: float, height: int, width: int):
        self.s, self.h, self.w, self.step = stride, height, width, step
        self.a, self.b = jnp.asarray(init.geo_a), jnp.asarray(init.geo_b)
        self.q_full = jnp.asarray(init.geo_q)
        self.a_low, self.b_low = avg_pool(self.a, stride), avg_pool(self.b, stride)
        self.q0 = avg_pool(self.q_full, stride)
        self.offsets = jnp.arange(-radius, radius + 1, dtype=jnp.float32) * step

    @classmethod
    def of(cls, config, init, height: int, width: int) -> DepthSearch | None:
        """The depth search of a ``ModelConfig.depth_search`` network, else None."""
        if not config.depth_search:
            return None
        return cls(
            init, stride=config.stride, radius=config.depth_radius, step=config.depth_step,
            height=height, width=width,
        )  # fmt: skip

    def state(self, state: jax.Array, q: jax.Array) -> jax.Array:
        """``state`` with the geometry candidate's flows (low-resolution pixels, channels 5-8)
        moved as its lookups move from the start's depth to ``q``."""
        move = moved(self.a_low, self.b_low, q, self.q0, width=self.w, height=self.h)
        return state.at[..., 5:9].add(move / self.s)

    def cost(self, f0: jax.Array, f1: jax.Array, q: jax.Array, *, equirect: bool) -> jax.Array:
        """The 1-D cost around ``q`` (B, h, w, 2 radius + 1)."""
        return depth_cost(
            f0, f1, self.a_low, self.b_low, q, self.offsets,
            stride=self.s, width=self.w, height=self.h, equirect=equirect,
        )  # fmt: skip

    def full(self, full: jax.Array, q, up_logits, *, equirect: bool) -> jax.Array:
        """``full`` (the full-resolution state) with the geometry candidate's flows moved to
        ``q``, its change convex-upsampled as the other fields' are."""
        dq = convex_upsample(q - self.q0, up_logits, self.s, equirect=equirect)
        move = moved(self.a, self.b, self.q_full + dq, self.q_full, width=self.w, height=self.h)
        return full.at[..., 5:9].add(move)
