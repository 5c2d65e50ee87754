"""The thin residual refinement network: works on patches, answers at full resolution.

Space-to-depth by ``patch`` (4: each low-resolution pixel sees a 4x4 block of every input), a linear
map, two residual 3x3 convolutions, a linear map to ``3 * patch^2`` and depth-to-space back: every
full-resolution pixel gets its own residual, while the convolutions run at 1/patch (full-resolution
convolutions with few channels are the slowest thing a CPU can be asked to do here).
"""

from __future__ import annotations

import jax
from flax import nnx

from viewsynth.model.layers import SeamConv, linear
from viewsynth.model.warp import pixel_shuffle, pixel_unshuffle

REFINE_INPUTS = 10  # warped frame 0 (3), warped frame 1 (3), fused frame (3), mask (1)


class Refine(nnx.Module):
    """(B, H, W, 10) -> residual (B, H, W, 3); the output layer starts at zero."""

    def __init__(self, channels: int, patch: int, *, rngs: nnx.Rngs):
        self.patch = patch
        self.embed = linear(REFINE_INPUTS * patch * patch, channels, rngs=rngs)
        self.mid0 = SeamConv(channels, channels, 3, rngs=rngs)
        self.mid1 = SeamConv(channels, channels, 3, rngs=rngs)
        self.out = linear(channels, 3 * patch * patch, zero=True, rngs=rngs)

    def __call__(self, x: jax.Array, *, equirect: bool) -> jax.Array:
        relu = jax.nn.relu
        y = relu(self.embed(pixel_unshuffle(x, self.patch)))
        y = y + relu(self.mid0(y, equirect=equirect))
        y = y + relu(self.mid1(y, equirect=equirect))
        return pixel_shuffle(self.out(y), self.patch)
