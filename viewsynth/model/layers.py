"""Seam-aware convolution: the one place where the network pads.

Every convolution pads with :func:`viewsynth.geometry.pad_seam` and then runs ``VALID``: for
panoramas width wraps and height reflects, for perspective images both reflect. Never Flax's
``CIRCULAR`` padding, which would wrap the height too. With stride s and an image whose size is a
multiple of s, rolling the input by a multiple of s columns rolls the output accordingly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from viewsynth.geometry import pad_seam


def lecun_normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """LeCun-normal kernel ``N(0, 1 / fan_in)`` drawn by NumPy from a seed taken from ``key``.

    Same distribution as Flax's default, but the first draw of each new shape does not compile a
    threefry kernel (several seconds each on a 2-core CPU: building a model took about a minute).
    Under tracing (``nnx.eval_shape``, ``jit``) it falls back to ``jax.random``.
    """
    fan_in = math.prod(shape[:-1])
    if isinstance(key, jax.core.Tracer):
        return jax.random.normal(key, shape, dtype) / math.sqrt(fan_in)
    seed = np.asarray(jax.random.key_data(key)).ravel().tolist()
    values = np.random.default_rng(seed).standard_normal(shape) / math.sqrt(fan_in)
    return jnp.asarray(values, dtype)


def linear(in_features: int, out_features: int, *, zero: bool = False, rngs: nnx.Rngs):
    """A per-pixel linear map (a 1x1 convolution as a matrix product) with the same initialisers.

    ``zero=True`` initialises the kernel to zero: the output heads start silent so that an
    untrained network reproduces its starting estimate (the ``flow`` frame).
    """
    return nnx.Linear(
        in_features,
        out_features,
        kernel_init=nnx.initializers.zeros_init() if zero else lecun_normal,
        bias_init=nnx.initializers.zeros_init(),
        rngs=rngs,
    )


class SeamConv(nnx.Module):
    """``kernel x kernel`` convolution, stride ``stride``, "same" size (divided by the stride)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        *,
        rngs: nnx.Rngs,
    ):
        self.pad = kernel // 2
        self.conv = nnx.Conv(
            in_channels,
            out_channels,
            kernel_size=(kernel, kernel),
            strides=(stride, stride),
            padding="VALID",
            kernel_init=lecun_normal,
            bias_init=nnx.initializers.zeros_init(),
            rngs=rngs,
        )

    def __call__(self, x: jax.Array, *, equirect: bool) -> jax.Array:
        """(B, H, W, Cin) -> (B, H/stride, W/stride, Cout)."""
        return self.conv(pad_seam(x, self.pad, equirect))
