"""Backward warping, pooling and upsampling of dense fields, seam-aware (pure JAX functions).

This is the differentiable twin of :mod:`viewsynth.warp` (the one NumPy/OpenCV warp and fusion
that makes every frame users get): the network needs gradients through its warps while it trains,
and the warps of its refinement's inputs. Both follow the same conventions, written here and there
alike, and ``tests/test_warp.py`` holds them to the same samples.

Conventions (shared by the whole ``viewsynth.model`` package):
- Arrays are ``(B, H, W, C)`` float32; images are RGB in [0, 1].
- A flow ``(B, H, W, 2)`` holds x first, in pixels of the array it is applied to; ``flow_t0`` maps
  a pixel of the in-between view to its match in frame 0 (so frame 0 is *sampled* there).
- ``equirect=True``: x is longitude and wraps (column W is column 0), flows live modulo W, and y
  is clamped at the poles. ``equirect=False``: both axes clamp (cv2's ``BORDER_REPLICATE``), so the
  warp agrees with :func:`viewsynth.warp.backward_warp` on either kind of image.
- ``pixel_grid(width, height)``: pixel centres at integers, as :func:`viewsynth.warp.pixel_grid`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from viewsynth.geometry import pad_seam


def _gather_rows(flat: jax.Array, idx: jax.Array) -> jax.Array:
    """``flat`` (B, N, C), ``idx`` (B, M) int -> (B, M, C)."""
    return jnp.take_along_axis(flat, idx[..., None], axis=1, mode="clip")


def sample(image: jax.Array, x: jax.Array, y: jax.Array, *, equirect: bool) -> jax.Array:
    """Bilinear samples of ``image`` (B, H, W, C) at continuous pixel positions ``x``, ``y`` (B, h, w).

    Returns (B, h, w, C). Longitude wraps for panoramas; otherwise positions clamp to the border.
    """
    b, height, width, c = image.shape
    out_hw = x.shape[1:]
    y = jnp.clip(y, 0.0, height - 1.0)
    y0 = jnp.clip(jnp.floor(y), 0, max(height - 2, 0))
    fy = y - y0
    if equirect:
        x0 = jnp.floor(x)
        fx = x - x0
        x0 = jnp.mod(x0.astype(jnp.int32), width)
        x1 = jnp.mod(x0 + 1, width)
    else:
        x = jnp.clip(x, 0.0, width - 1.0)
        x0f = jnp.clip(jnp.floor(x), 0, max(width - 2, 0))
        fx = x - x0f
        x0 = x0f.astype(jnp.int32)
        x1 = jnp.minimum(x0 + 1, width - 1)
    y0 = y0.astype(jnp.int32)
    y1 = jnp.minimum(y0 + 1, height - 1)
    flat = image.reshape(b, height * width, c)

    def at(yy, xx):
        return _gather_rows(flat, (yy * width + xx).reshape(b, -1)).reshape(b, *out_hw, c)

    fx = fx[..., None]
    fy = fy[..., None]
    top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx
    return top * (1.0 - fy) + bottom * fy


def pixel_grid(width: int, height: int) -> tuple[jax.Array, jax.Array]:
    """Pixel coordinates ``(gx, gy)``, each (H, W) float32 (pixel centres at integers)."""
    gy, gx = jnp.meshgrid(
        jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij"
    )
    return gx, gy


def backward_warp(image: jax.Array, flow: jax.Array, *, equirect: bool) -> jax.Array:
    """Sample ``image`` (B, H, W, C) at ``p + flow(p)`` with ``flow`` (B, H, W, 2) -> (B, H, W, C)."""
    gx, gy = pixel_grid(flow.shape[2], flow.shape[1])
    return sample(image, gx + flow[..., 0], gy + flow[..., 1], equirect=equirect)


def avg_pool(field: jax.Array, factor: int) -> jax.Array:
    """Mean over ``factor x factor`` blocks: (B, H, W, C) -> (B, H/f, W/f, C).

    Blocks are aligned to the array origin, so a roll by a multiple of ``factor`` commutes with it.
    """
    b, h, w, c = field.shape
    return field.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def convex_upsample(
    field: jax.Array, weights: jax.Array, factor: int, *, equirect: bool
) -> jax.Array:
    """RAFT's learned convex upsampling: (B, h, w, C) -> (B, h*f, w*f, C).

    ``weights`` (B, h, w, 9 * f * f), laid out (neighbour, row, column), are logits; each
    full-resolution pixel is a softmax-weighted mix of the 3x3 low-resolution neighbourhood of its
    block (seam-padded: wraps x for panoramas). Values are not rescaled: scale flows by ``factor``.
    """
    b, h, w, c = field.shape
    padded = pad_seam(field, 1, equirect)
    logits = weights.reshape(b, h, w, 9, factor * factor)
    # Neighbour axis kept major so every step below is a fused elementwise pass (a small batched
    # matmul per low-resolution pixel is several times slower on CPU).
    e = jnp.exp(logits - logits.max(axis=3, keepdims=True))
    norm = 1.0 / e.sum(axis=3)
    taps = [padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    channels = []
    for ch in range(c):
        acc = sum(e[:, :, :, n] * taps[n][..., ch : ch + 1] for n in range(9))
        channels.append(acc * norm)
    up = jnp.stack(channels, axis=-1).reshape(b, h, w, factor, factor, c)
    return up.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * factor, w * factor, c)


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
    """(B, h, w, C * f * f) -> (B, h*f, w*f, C): depth to space."""
    b, h, w, cff = x.shape
    c = cff // (factor * factor)
    x = x.reshape(b, h, w, factor, factor, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c)


def pixel_unshuffle(x: jax.Array, factor: int) -> jax.Array:
    """(B, H, W, C) -> (B, H/f, W/f, C * f * f): space to depth (inverse of ``pixel_shuffle``)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // factor, factor, w // factor, factor, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // factor, w // factor, factor * factor * c)
