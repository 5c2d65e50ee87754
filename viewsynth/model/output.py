"""What the network returns: its per-pair :class:`Encoding` and its prediction, :class:`Output`
(pytrees; see :mod:`viewsynth.model.network` for the conventions)."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class Fields:
    """One candidate's fields at full resolution: ``flow_t0``, ``flow_t1`` (B, H, W, 2) in pixels
    and ``mask`` (B, H, W, 1), frame 0's blend weight in [0, 1]."""

    flow_t0: jax.Array
    flow_t1: jax.Array
    mask: jax.Array


@struct.dataclass
class Output:
    """What the network predicts (a pytree).

    ``frames``: tuple of K arrays (B, H, W, 3) in [0, 1], one per iteration, the last is the
    prediction. ``candidates``: the fields the last frame is made of, one :class:`Fields` per
    candidate (DIS first, then the geometry's); ``choice``: (B, H, W, 1) the weight of the second
    candidate, or None with one. The frame is ``choice * blend(geo) + (1 - choice) * blend(DIS)``,
    ``blend(c) = c.mask * warp(img0, c.flow_t0) + (1 - c.mask) * warp(img1, c.flow_t1)``.
    """

    frames: tuple[jax.Array, ...]
    candidates: tuple[Fields, ...]
    choice: jax.Array | None = None

    def samples(self) -> list[tuple[int, jax.Array, jax.Array]]:
        """``(frame index, flow, weight)`` of every warped sample the frame is made of: the frame
        is the sum of ``weight * warp(frame, flow)``, clipped to [0, 1]."""
        shares = [1.0] if self.choice is None else [1.0 - self.choice, self.choice]
        return [
            sample
            for c, share in zip(self.candidates, shares, strict=True)
            for sample in ((0, c.flow_t0, share * c.mask), (1, c.flow_t1, share * (1.0 - c.mask)))
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
