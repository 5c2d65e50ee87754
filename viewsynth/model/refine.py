"""The thin residual refinement network: works on patches, answers at full resolution.

Space-to-depth by ``patch`` (4: each low-resolution pixel sees a 4x4 block of every input), a linear
map, two residual 3x3 convolutions, a linear map to ``3 * patch^2`` and depth-to-space back: every
full-resolution pixel gets its own residual, while the convolutions run at 1/patch (full-resolution
convolutions with few channels are the slowest thing a CPU can be asked to do here).

With ``mask_head`` it also answers a per-pixel correction of the fusion logit (one more linear map
to ``patch^2`` from the same features): the network can then re-select, pixel by pixel, which warped
frame to show, besides adding a residual. Selection only moves real pixels; a residual has to
synthesise them (TRAINING_LOG.md, session 5).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from viewsynth.model.layers import SeamConv, linear
from viewsynth.model.warp import pixel_shuffle, pixel_unshuffle

REFINE_INPUTS = 10  # warped frame 0 (3), warped frame 1 (3), fused frame (3), mask (1)
#: With geometry: both candidates' warped frames (12), the fused frame (3), both masks and the choice (3).
GEOMETRY_REFINE_INPUTS = 18


class Refine(nnx.Module):
    """(B, H, W, 10) -> residual (B, H, W, 3) and, with ``mask_head``, a logit correction
    (B, H, W, 1) (else None); the output layers start at zero. ``residual=False`` has no
    residual head (the residual is zero; with ``mask_head`` the refinement only re-selects)."""

    def __init__(
        self,
        channels: int,
        patch: int,
        *,
        mask_head: bool = False,
        residual: bool = True,
        inputs: int = REFINE_INPUTS,
        rngs: nnx.Rngs,
    ):
        self.patch = patch
        self.embed = linear(inputs * patch * patch, channels, rngs=rngs)
        self.mid0 = SeamConv(channels, channels, 3, rngs=rngs)
        self.mid1 = SeamConv(channels, channels, 3, rngs=rngs)
        self.out = linear(channels, 3 * patch * patch, zero=True, rngs=rngs) if residual else None
        self.mask_out = linear(channels, patch * patch, zero=True, rngs=rngs) if mask_head else None

    def __call__(self, x: jax.Array, *, equirect: bool) -> tuple[jax.Array, jax.Array | None]:
        relu = jax.nn.relu
        y = relu(self.embed(pixel_unshuffle(x, self.patch)))
        y = y + relu(self.mid0(y, equirect=equirect))
        y = y + relu(self.mid1(y, equirect=equirect))
        if self.out is not None:
            residual = pixel_shuffle(self.out(y), self.patch)
        else:  # selection only: the frame is made of warped pixels
            residual = jnp.zeros((*x.shape[:-1], 3), x.dtype)
        if self.mask_out is None:
            return residual, None
        return residual, pixel_shuffle(self.mask_out(y), self.patch)
