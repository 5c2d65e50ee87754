"""The feature and context encoders: a small pyramid down to the recurrence's resolution.

The first level is a space-to-depth ("patchify") of ``patch x patch`` pixels and a per-pixel linear
map: full-resolution convolutions with few channels run at a few GFLOP/s on CPU, a matrix product
over the same pixels at tens. Then one stride-2 level per further entry of ``channels``.
"""

from __future__ import annotations

import jax
from flax import nnx

from viewsynth.model.layers import SeamConv, linear
from viewsynth.model.warp import pixel_unshuffle


class Encoder(nnx.Module):
    """``(B, H, W, in_channels)`` -> ``(B, H / S, W / S, out_channels)``, S = patch * 2**(levels-1).

    Level 0 (at 1/patch): space-to-depth and a linear map to ``channels[0]``. Each further level:
    a stride-2 3x3 convolution to ``channels[i]``. At the last level ``depth`` residual 3x3 convolutions,
    then a linear head to ``out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        patch: int,
        channels: tuple[int, ...],
        out_channels: int,
        *,
        depth: int = 2,
        rngs: nnx.Rngs,
    ):
        self.patch = patch
        self.embed = linear(in_channels * patch * patch, channels[0], rngs=rngs)
        self.down = nnx.List(
            [
                SeamConv(prev, width, 3, 2, rngs=rngs)
                for prev, width in zip(channels[:-1], channels[1:], strict=True)
            ]
        )
        self.same = nnx.List(
            [SeamConv(channels[-1], channels[-1], 3, rngs=rngs) for _ in range(depth)]
        )
        self.head = linear(channels[-1], out_channels, rngs=rngs)

    def __call__(self, x: jax.Array, *, equirect: bool) -> jax.Array:
        relu = jax.nn.relu
        x = relu(self.embed(pixel_unshuffle(x, self.patch)))
        for down in self.down:
            x = relu(down(x, equirect=equirect))
        for same in self.same:
            x = x + relu(same(x, equirect=equirect))
        return self.head(x)
