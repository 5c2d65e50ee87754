"""Local correlation lookup around the current flows (pure JAX).

The in-between view has no image of its own, so the lookup compares the two frames' features, each
warped to the in-between view by its current flow, over a ``(2r+1) x (2r+1)`` window of offsets:

    corr(p, d) = <f0(p + flow_t0(p)), f1(q + flow_t1(q))> / sqrt(C),   q = p + d,  d in [-r, r]^2

(the cost-volume-after-warping of PWC-Net, evaluated at the current flows every iteration, as RAFT
does with its lookups). Window positions q outside the image count as zero features; for panoramas
x wraps (there is no border in longitude). Offsets are ordered row-major: dy outer, dx inner.

On CPU a per-offset multiply-and-reduce is memory-bound and slow, so the window is computed as small
matrix products: tiles of ``tile`` query columns against ``tile + 2r`` candidate columns, keeping the
band of ``2r+1`` diagonals.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from viewsynth.model.warp import backward_warp


def local_correlation(a: jax.Array, b: jax.Array, radius: int, *, equirect: bool, tile: int = 16):
    """``corr(p, d) = <a(p), b(p + d)> / sqrt(C)`` for d in [-r, r]^2.

    ``a``, ``b``: (B, h, w, C). Returns (B, h, w, (2r+1)^2). Rows outside the image read zeros;
    columns wrap for panoramas and read zeros otherwise.
    """
    bsz, h, w, c = a.shape
    r = radius
    k = 2 * r + 1
    tile = min(tile, w)
    wp = -(-w // tile) * tile  # columns padded up to whole tiles; the extra outputs are cropped
    n = wp // tile
    q = jnp.pad(a, ((0, 0), (0, 0), (0, wp - w), (0, 0))).reshape(bsz, h, n, tile, c)
    cand = jnp.pad(b, ((0, 0), (r, r), (0, 0), (0, 0)))
    cand = jnp.pad(
        cand, ((0, 0), (0, 0), (r, r + wp - w), (0, 0)), mode="wrap" if equirect else "constant"
    )
    # (B, h + 2r, n, tile + 2r, C): the candidate columns of each tile (overlapping by 2r)
    cand = jnp.stack([cand[:, :, i * tile : i * tile + tile + 2 * r] for i in range(n)], axis=2)
    rows = []
    for dy in range(k):
        m = jnp.einsum("bhntc,bhnsc->bhnts", q, cand[:, dy : dy + h])  # (B, h, n, T, T + 2r)
        # Row i of m wants columns i .. i + 2r: flatten with one extra column per row so that those
        # diagonals line up as the first 2r+1 columns.
        m = m.reshape(bsz, h, n, tile * (tile + 2 * r))
        m = jnp.pad(m, ((0, 0), (0, 0), (0, 0), (0, tile)))
        m = m.reshape(bsz, h, n, tile, tile + 2 * r + 1)[..., :k]
        rows.append(m.reshape(bsz, h, wp, k)[:, :, :w])
    return jnp.concatenate(rows, axis=-1) / math.sqrt(c)


def lookup(
    f0: jax.Array,
    f1: jax.Array,
    flow_t0: jax.Array,
    flow_t1: jax.Array,
    radius: int,
    *,
    equirect: bool,
) -> jax.Array:
    """Correlation of both frames' features warped to the in-between view by the current flows.

    ``f0``, ``f1``: (B, h, w, C); ``flow_t0``, ``flow_t1``: (B, h, w, 2) in pixels of this
    resolution. Returns (B, h, w, (2r+1)^2), see the module docstring.
    """
    warped0 = backward_warp(f0, flow_t0, equirect=equirect)
    warped1 = backward_warp(f1, flow_t1, equirect=equirect)
    return local_correlation(warped0, warped1, radius, equirect=equirect)
