"""The network's state, named: its candidates and the choice between them (pytrees).

A :class:`Candidate` is one explanation of the in-between view at time t: the flows from the
in-between view to each frame (``flow_t0``, ``flow_t1``, (B, H, W, 2), x first, in pixels of the
array they live in) and the logit of frame 0's blend weight (``logit``, (B, H, W, 1); its sigmoid
weighs the frame-0 warp against the frame-1 warp). The first candidate is always the classical DIS
estimate; a geometry network holds a second, the sphere sweep's, and ``choice``, the logit of
showing the second over the first. A 2D network has one candidate and no choice.

:class:`Init` is that state at full resolution, as the network starts (the classical estimate,
:mod:`viewsynth.model.init`). The network keeps every candidate's flows as they start and moves
only the logits (each candidate's blend and the choice): :meth:`Init.logits` and
:meth:`Init.with_logits` are the only places that know how the logits are laid out, and
:meth:`Init.channels` the only place that knows the update block's view of the state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Candidate:
    """One candidate: ``flow_t0``, ``flow_t1`` (B, H, W, 2) and its blend ``logit`` (B, H, W, 1)."""

    flow_t0: jax.Array
    flow_t1: jax.Array
    logit: jax.Array


@struct.dataclass
class Init:
    """The state: ``candidates`` (DIS first, then the geometry's) and ``choice``, the logit of the
    second candidate over the first (B, H, W, 1), or None with one candidate."""

    candidates: tuple[Candidate, ...]
    choice: jax.Array | None = None

    def logits(self) -> jax.Array:
        """(B, H, W, L): each candidate's blend logit, then the choice (what the network moves)."""
        parts = [c.logit for c in self.candidates]
        return jnp.concatenate(parts if self.choice is None else [*parts, self.choice], axis=-1)

    def with_logits(self, logits: jax.Array) -> Init:
        """This state with the logits laid out as :meth:`logits` gives them."""
        n = len(self.candidates)
        candidates = tuple(
            c.replace(logit=logits[..., i : i + 1]) for i, c in enumerate(self.candidates)
        )
        choice = None if self.choice is None else logits[..., n : n + 1]
        return Init(candidates=candidates, choice=choice)

    def pooled(self, stride: int) -> Init:
        """This state at 1/``stride``: block means, the flows in the pooled array's pixels."""
        b, h, w, c = self.candidates[0].logit.shape
        x = self.channels().reshape(b, h // stride, stride, w // stride, stride, -1)
        x = x.mean(axis=(2, 4))
        parts = []
        for i in range(len(self.candidates)):
            k = x[..., 5 * i : 5 * i + 5]
            parts.append(Candidate(k[..., 0:2] / stride, k[..., 2:4] / stride, k[..., 4:5]))
        choice = None if self.choice is None else x[..., -1:]
        return Init(candidates=tuple(parts), choice=choice)

    def channels(self) -> jax.Array:
        """(B, H, W, S), what the update block sees: per candidate ``flow_t0``, ``flow_t1`` and its
        logit (5), then the choice (S = 5 or 11)."""
        parts = [x for c in self.candidates for x in (c.flow_t0, c.flow_t1, c.logit)]
        if self.choice is not None:
            parts.append(self.choice)
        return jnp.concatenate([jnp.asarray(p, jnp.float32) for p in parts], axis=-1)


def state_channels(candidates: int) -> int:
    """Channels of :meth:`Init.channels` for a network of ``candidates`` (1 or 2)."""
    return 5 * candidates + (candidates > 1)


def logit_channels(candidates: int) -> int:
    """Channels of :meth:`Init.logits` for a network of ``candidates`` (1 or 2)."""
    return candidates + (candidates > 1)
