"""The recurrent update block (one set of weights, applied K times): motion encoder, ConvGRU, heads.

Runs at the recurrence's resolution (1/stride). Inputs per step: the correlation lookup around the
candidates' flows, the state as :meth:`viewsynth.model.state.Init.channels` lays it out (per
candidate its flows in low-resolution pixels and its blend logit, then the choice) and the context
features. Outputs: the new hidden state, a delta for each logit (:meth:`Init.logits`'s layout)
and the convex-upsampling logits. The delta and upsampling heads start at zero. The context's
share of the GRU gates does not change between steps and is computed once
(:meth:`UpdateBlock.prepare`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from viewsynth.model.layers import SeamConv, linear


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
        state_channels: int,
        logit_channels: int,
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
        self.delta_out = linear(hidden_channels, logit_channels, zero=True, rngs=rngs)
        self.up_hidden = SeamConv(hidden_channels, upsample_channels, 3, rngs=rngs)
        self.up_out = linear(upsample_channels, 9 * stride * stride, zero=True, rngs=rngs)

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
    ):
        """``hidden`` (B,h,w,Ch), ``context_terms`` from :meth:`prepare`, ``corr`` (B,h,w,Ck),
        ``state`` (B,h,w,S) -> ``(hidden (B,h,w,Ch), delta (B,h,w,L), up_logits (B,h,w,9 s^2))``."""
        relu = jax.nn.relu
        ch = self.hidden_channels
        m = relu(self.corr_in(corr))
        s = relu(self.state_in(state, equirect=equirect))
        m = relu(self.motion_out(jnp.concatenate([m, s], axis=-1)))
        x = jnp.concatenate([m, state], axis=-1)
        zr = self.gates(jnp.concatenate([hidden, x], axis=-1))
        zr = jax.nn.sigmoid(zr + context_terms[..., : 2 * ch])
        z, r = zr[..., :ch], zr[..., ch:]
        q = self.candidate(jnp.concatenate([r * hidden, x], axis=-1), equirect=equirect)
        q = jnp.tanh(q + context_terms[..., 2 * ch :])
        hidden = (1.0 - z) * hidden + z * q
        delta = self.delta_out(relu(self.delta_hidden(hidden, equirect=equirect)))
        up = self.up_out(relu(self.up_hidden(hidden, equirect=equirect)))
        return hidden, delta, up
