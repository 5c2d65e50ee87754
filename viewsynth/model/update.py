"""The recurrent update block (one set of weights, applied K times): motion encoder, ConvGRU, heads.

Runs at the recurrence's resolution (1/stride). Inputs per step: the correlation lookup around the
current flows, the state (x, y of ``flow_t0``, x, y of ``flow_t1``, in low-resolution pixels, then
the fusion-mask logit; a network with geometry holds a second candidate's five and the choice
logit after them, ``state_channels`` 11) and the context features; with ``consensus`` (from the
second step on) each warped sample's distance from the previous step's frame. Outputs: the new
hidden state, a delta for the state channels, and the convex-upsampling logits. The delta and
upsampling heads start at zero. The context's share of the GRU gates does not change between
steps and is computed once (:meth:`UpdateBlock.prepare`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from viewsynth.model.layers import SeamConv, linear

STATE = 5  # flow_t0 (2), flow_t1 (2), mask logit (1)


class UpdateBlock(nnx.Module):
    """One refinement step; see the module docstring for the channel layout."""

    def __init__(
        self,
        *,
        corr_channels: int,
        context_channels: int,
        hidden_channels: int,
        motion_channels: int,
        upsample_channels: int,
        stride: int,
        state_channels: int = STATE,
        depth_channels: int = 0,
        consensus_channels: int = 0,
        rngs: nnx.Rngs,
    ):
        self.hidden_channels = hidden_channels
        # Spatial (3x3) mixing where it matters: the state's neighbourhood, the GRU candidate and
        # the delta head. The rest are per-pixel linear maps: at 1/8 resolution a 3x3 convolution
        # costs about as much as the correlation lookup, so the block stays at ~1.3 GFLOP per step
        # for 1024 x 512.
        self.corr_in = linear(corr_channels, motion_channels, rngs=rngs)
        self.state_in = SeamConv(state_channels, motion_channels // 2, 3, rngs=rngs)
        self.motion_out = linear(
            motion_channels + motion_channels // 2, motion_channels - state_channels, rngs=rngs
        )
        self.context_gates = SeamConv(context_channels, 3 * hidden_channels, 3, rngs=rngs)
        self.gates = linear(hidden_channels + motion_channels, 2 * hidden_channels, rngs=rngs)
        self.candidate = SeamConv(hidden_channels + motion_channels, hidden_channels, 3, rngs=rngs)
        self.delta_hidden = SeamConv(hidden_channels, hidden_channels, 3, rngs=rngs)
        self.delta_out = linear(hidden_channels, state_channels, zero=True, rngs=rngs)
        self.up_hidden = SeamConv(hidden_channels, upsample_channels, 3, rngs=rngs)
        self.up_out = linear(upsample_channels, 9 * stride * stride, zero=True, rngs=rngs)
        # depth search (ModelConfig.depth_search): the 1-D cost along each ray joins the motion
        # features, and a head moves the inverse depth; both start at zero (the step is then the
        # network without them)
        search = depth_channels > 0
        self.depth_in = (
            linear(depth_channels, motion_channels, zero=True, rngs=rngs) if search else None
        )
        self.depth_out = linear(hidden_channels, 1, zero=True, rngs=rngs) if search else None
        # ModelConfig.consensus: each sample's distance from the previous step's frame joins the
        # motion features (from the second step on), through a head that starts at zero
        self.consensus_in = (
            linear(consensus_channels, motion_channels, zero=True, rngs=rngs)
            if consensus_channels
            else None
        )

    def prepare(self, context: jax.Array, *, equirect: bool) -> jax.Array:
        """(B, h, w, Cc) -> (B, h, w, 3 Ch): the context's share of the gates and candidate."""
        return self.context_gates(context, equirect=equirect)

    def __call__(
        self,
        hidden: jax.Array,
        context_terms: jax.Array,
        corr: jax.Array,
        state: jax.Array,
        *,
        equirect: bool,
        depth_cost: jax.Array | None = None,
        consensus: jax.Array | None = None,
    ):
        """``hidden`` (B,h,w,Ch), ``context_terms`` from :meth:`prepare`, ``corr`` (B,h,w,Ck),
        ``state`` (B,h,w,S) -> ``(hidden (B,h,w,Ch), delta (B,h,w,S), up_logits (B,h,w,9 s^2))``;
        with ``depth_cost`` (B,h,w,N) a fourth, the inverse depth's step (B,h,w,1) in units of
        the cost's spacing. ``consensus`` (B,h,w,n): the samples' distances from the previous
        frame (None at the first step: nothing is added)."""
        relu = jax.nn.relu
        ch = self.hidden_channels
        m = self.corr_in(corr)
        if depth_cost is not None:
            m = m + self.depth_in(depth_cost)
        if consensus is not None:
            m = m + self.consensus_in(consensus)
        m = relu(m)
        s = relu(self.state_in(state, equirect=equirect))
        m = relu(self.motion_out(jnp.concatenate([m, s], axis=-1)))
        x = jnp.concatenate([m, state], axis=-1)
        zr = self.gates(jnp.concatenate([hidden, x], axis=-1))
        zr = jax.nn.sigmoid(zr + context_terms[..., : 2 * ch])
        z, r = zr[..., :ch], zr[..., ch:]
        q = self.candidate(jnp.concatenate([r * hidden, x], axis=-1), equirect=equirect)
        q = jnp.tanh(q + context_terms[..., 2 * ch :])
        hidden = (1.0 - z) * hidden + z * q
        features = relu(self.delta_hidden(hidden, equirect=equirect))
        delta = self.delta_out(features)
        up = self.up_out(relu(self.up_hidden(hidden, equirect=equirect)))
        if depth_cost is None:
            return hidden, delta, up
        return hidden, delta, up, self.depth_out(features)
