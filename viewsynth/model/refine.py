"""The thin refinement network: works on patches, answers a per-pixel logit correction.

Space-to-depth by ``patch`` (4: each low-resolution pixel sees a 4x4 block of every input), a linear
map, two residual 3x3 convolutions and a linear map to ``patch^2`` depth-to-space back: every
full-resolution pixel gets its own correction of the network's last decision (a lone candidate's
blend, or the choice between two candidates), while the convolutions run at 1/patch.

It re-selects, pixel by pixel, which warped frame to show; it never synthesises pixels of its own
(selection only moves real pixels, TRAINING_LOG.md). Inputs: every candidate's two warped frames,
the blended frame, every candidate's frame-0 weight and, with two candidates, the choice's weight:
10 channels for one candidate, 18 for two.
"""

from __future__ import annotations

import jax
from flax import nnx

from viewsynth.model.layers import SeamConv, linear
from viewsynth.model.warp import pixel_shuffle, pixel_unshuffle


def refine_inputs(candidates: int) -> int:
    """Input channels for a network of ``candidates``: warps (6 each), the frame (3), weights."""
    return 6 * candidates + 3 + candidates + (candidates > 1)


class Refine(nnx.Module):
    """(B, H, W, refine_inputs(candidates)) in [-1, 1] -> (B, H, W, 1), the correction of the last
    decision's logit; the output layer starts at zero."""

    def __init__(self, channels: int, patch: int, candidates: int, *, rngs: nnx.Rngs):
        self.patch = patch
        self.embed = linear(refine_inputs(candidates) * patch * patch, channels, rngs=rngs)
        self.mid0 = SeamConv(channels, channels, 3, rngs=rngs)
        self.mid1 = SeamConv(channels, channels, 3, rngs=rngs)
        self.mask_out = linear(channels, patch * patch, zero=True, rngs=rngs)

    def __call__(self, x: jax.Array, *, equirect: bool) -> jax.Array:
        relu = jax.nn.relu
        y = relu(self.embed(pixel_unshuffle(x, self.patch)))
        y = y + relu(self.mid0(y, equirect=equirect))
        y = y + relu(self.mid1(y, equirect=equirect))
        return pixel_shuffle(self.mask_out(y), self.patch)
