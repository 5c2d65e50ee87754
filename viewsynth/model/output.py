"""What the network returns: its per-pair :class:`Encoding` and its prediction, :class:`Output`
(pytrees; see :mod:`viewsynth.model.network` for the conventions)."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class Output:
    """What the network predicts (a pytree).

    ``frames``: tuple of K arrays (B, H, W, 3) in [0, 1], one per iteration, the last is the
    prediction; ``flow_t0``, ``flow_t1``: (B, H, W, 2) final full-resolution flows in pixels;
    ``mask``: (B, H, W, 1) frame 0's fusion weight in [0, 1].
    """

    frames: tuple[jax.Array, ...]
    flow_t0: jax.Array
    flow_t1: jax.Array
    mask: jax.Array
    # With geometry: the geometry candidate's flows and blend weight, and the weight of choosing
    # it (B, H, W, 1); the frame is ``choice * geo frame + (1 - choice) * DIS frame`` (+ residual).
    geo_flow_t0: jax.Array | None = None
    geo_flow_t1: jax.Array | None = None
    geo_mask: jax.Array | None = None
    choice: jax.Array | None = None
    # With depth_search: the in-between view's inverse depth q (baselines^-1) of every iteration,
    # (B, h, w, 1) at 1/stride after that iteration's update, as the next one (or the last
    # frame) uses it; what a depth loss supervises (each iteration's q trains that iteration).
    depths: tuple[jax.Array, ...] | None = None

    def samples(self) -> list[tuple[int, jax.Array, jax.Array]]:
        """``(frame index, flow, weight)`` of every warped sample the fused frame is made of:
        the frame is the sum of ``weight * warp(frame, flow)`` (before the refinement residual)."""
        dis = [(0, self.flow_t0, self.mask), (1, self.flow_t1, 1.0 - self.mask)]
        if self.choice is None:
            return dis
        geo = [(0, self.geo_flow_t0, self.geo_mask), (1, self.geo_flow_t1, 1.0 - self.geo_mask)]
        return [(i, f, (1.0 - self.choice) * w) for i, f, w in dis] + [
            (i, f, self.choice * w) for i, f, w in geo
        ]


@struct.dataclass
class Encoding:
    """What the network computes once per pair, whatever t (a pytree).

    ``f0``, ``f1``: (B, h, w, feature_channels) at 1/stride; ``context``: (B, h, w, hidden +
    context channels), before t is mixed in.
    """

    f0: jax.Array
    f1: jax.Array
    context: jax.Array
