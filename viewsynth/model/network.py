"""The recurrent panoramic interpolation network (Flax NNX).

Given frames ``img0``, ``img1`` (B, H, W, 3) float32 RGB in [0, 1] and times ``t`` (B,) in (0, 1), it
predicts the in-between view at t:

1. a shared feature encoder (both frames) and a context encoder (both frames; t is added after it)
   bring the images to the recurrence's resolution, 1/stride (1/8 by default): space-to-depth by
   ``patch``, then stride-2 levels (:mod:`viewsynth.model.encoder`);
2. the state at that resolution is ``flow_t0``, ``flow_t1`` (from the in-between view to each frame,
   see :mod:`viewsynth.model.warp`) and the logit of frame 0's fusion weight; it starts from the
   classical estimate (an :class:`~viewsynth.model.init.Init`, average-pooled) or, without one, at
   zero flow and the logit ``log((1 - t) / t)`` (a plain cross-fade);
3. ONE update block is applied ``iters`` times (shared weights): correlation lookup around the
   current flows, motion encoding, ConvGRU, deltas for flows and logit (with ``learn_flow`` off,
   for the logit only: the starting flows are kept). Gradients stop through the flows between
   iterations (RAFT). The deltas are summed over the steps; with ``logit_readout`` the logits are
   instead the start's plus the latest step's delta, so a bias every step repeats cannot pile up;
   with ``consensus`` each step after the first also sees how far each warped sample is from the
   previous step's frame (the one input that changes between steps while the flows are fixed);
4. after every iteration the accumulated corrections are convex-upsampled and added to the
   full-resolution starting estimate, both frames are warped backward, fused by the mask, and a thin
   residual network refines the result: ``Output.frames`` holds one frame per iteration.

With ``geometry`` (:class:`ModelConfig`) the state holds a second candidate beside the DIS one:
the sphere sweep's flows to each frame and its blend logit (``Init.geo_*``), then the logit of
choosing geometry over 2D motion (``Init.choice_logit``, started at the classical agreement
fusion, :func:`viewsynth.model.init.with_geometry`): 11 channels. Each step looks up both
candidates' correlation and updates both and the choice; the frame is the chosen mix of the two
candidates' fused frames, refined (the refinement sees all four warps and may re-choose).

The per-pair work (:meth:`Network.encode`) is apart from the per-t work (:meth:`Network.decode`),
so many in-between times of one pair share one encoding; ``__call__`` does both. Under ``jit``
only the frames that are used are computed (the intermediate ones are for the training loss).

Output heads start at zero, so an untrained network returns its starting estimate's frame: the
classical ``flow`` frame with an ``Init``, the cross-fade without.

Panoramas (``equirect=True``, static): convolutions wrap width and reflect height, warps and
lookups wrap x, flows live modulo W; nothing pads or tiles the width. Rolling both inputs (and the
``Init``) by k columns, k a multiple of ``Network.stride``, rolls every output by k.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from viewsynth import config as config_lib
from viewsynth.errors import ViewsynthError
from viewsynth.model import corr, rays
from viewsynth.model.encoder import Encoder
from viewsynth.model.init import Init
from viewsynth.model.layers import linear
from viewsynth.model.output import Encoding, Output
from viewsynth.model.refine import GEOMETRY_REFINE_INPUTS, REFINE_INPUTS, Refine
from viewsynth.model.update import UpdateBlock
from viewsynth.model.warp import avg_pool, backward_warp, convex_upsample


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every architecture hyperparameter; saved inside each weights file."""

    # Space-to-depth factor at the encoders' input (their first level works at 1/patch).
    patch: int = 4
    # Encoder widths, finest first: channels[0] at 1/patch, then one stride-2 level per entry.
    encoder_channels: tuple[int, ...] = (32, 64)
    # Feature channels compared by the correlation lookup.
    feature_channels: int = 32
    # Context features (from both frames and t) feeding every update step.
    context_channels: int = 32
    # ConvGRU hidden state.
    hidden_channels: int = 48
    # Motion encoder output (the 5 state channels included).
    motion_channels: int = 48
    # Lookup window radius r at the recurrence's resolution: (2r+1)^2 offsets.
    corr_radius: int = 3
    # Total stride of the recurrence (1/stride resolution); inputs must be multiples of it.
    stride: int = 8
    # Width of the refinement network.
    refine_channels: int = 24
    # Space-to-depth factor of the refinement network (must divide the stride).
    refine_patch: int = 4
    # Hidden width of the convex-upsampling head.
    upsample_channels: int = 48
    # Default number of recurrent iterations K (a run-time knob).
    iters: int = 4
    # Starting estimate the model is run with: 'classical' (DIS flow), the only one. The key stays
    # because every stored weights file and training config names it.
    init: str = "classical"
    # False: the recurrence keeps the starting flows and learns only the fusion mask (and the
    # refinement); meaningful with the classical start, whose flows are then used as they are.
    learn_flow: bool = True
    # True: the refinement also corrects the fusion logit per pixel (see
    # :mod:`viewsynth.model.refine`); training's ``init_weights`` may add it (head at zero).
    refine_mask: bool = False
    # False: no residual head (the output is made only of warped, fused pixels).
    refine_residual: bool = True
    # True: a second candidate, the sphere sweep's geometry (``Init.geo_*``), lives in the state
    # beside the DIS one, with the per-pixel logit of choosing it; the recurrence looks up both
    # candidates' correlation and updates both and the choice (see the module docstring).
    geometry: bool = False
    # True (with geometry): the pose's confidence (``Init.pose_confidence``, 0 without a pose) is
    # mixed into the context like t, through a head that starts at zero, so the choice can learn
    # to distrust a weak pose's candidate; training's ``init_weights`` may add it.
    pose_input: bool = False
    # with geometry: the candidate as a depth moved by a 1-D search (model.rays; 1/baselines)
    depth_search: bool = False
    depth_radius: int = 3
    depth_step: float = 0.04
    depth_gain: float = 1.0  # the depth head's step: gain x its output x depth_step
    # True: each step's logits are the start's plus that step's delta (read out of the hidden
    # state), not the sum of every step's deltas; the flows still accumulate. A bias the block
    # repeats at every step then cannot pile up: accumulated, the shipped Run 31 at K = 8 moved
    # the forest walk's choice from 0.69 to 0.95 geometry and its DIS mask from 0.47 to 0.16
    # (TRAINING_LOG.md, session 19). It shapes no parameter; at K = 1 both read the same.
    logit_readout: bool = False
    # True: from the second step on, the block also sees how far each warped sample is from the
    # previous step's frame (per sample, the mean absolute RGB difference, pooled to 1/stride),
    # through a head that starts at zero. With the flows fixed this is the only input that changes
    # between steps: which sample disagrees with the current fusion (an occluded side, a wrong
    # candidate) is news to every step after the first. Training's ``init_weights`` may add it.
    consensus: bool = False

    @property
    def state_channels(self) -> int:
        """Channels of the recurrent state: 5 per candidate, plus the choice with geometry."""
        return 11 if self.geometry else 5

    def __post_init__(self):
        levels = len(self.encoder_channels)
        if levels < 1 or self.patch < 1 or self.patch * 2 ** (levels - 1) != self.stride:
            raise ValueError(
                f"patch * 2**(len(encoder_channels) - 1) must equal stride, got patch {self.patch}, "
                f"{levels} encoder levels, stride {self.stride}"
            )
        if self.refine_patch < 1 or self.stride % self.refine_patch:
            raise ValueError(f"refine_patch {self.refine_patch} must divide stride {self.stride}")
        if self.motion_channels <= self.state_channels:
            raise ValueError(
                f"motion_channels must exceed the {self.state_channels} state channels, "
                f"got {self.motion_channels}"
            )
        if min(self.corr_radius, self.depth_radius) < 0 or self.iters < 1 or self.depth_step <= 0:
            raise ValueError("needs corr_radius, depth_radius >= 0, depth_step > 0 and iters >= 1")
        if (self.pose_input or self.depth_search) and not self.geometry:
            raise ValueError("pose_input needs geometry (and so does depth_search)")
        if self.init != "classical":
            raise ValueError(
                f"init: {self.init!r} is not supported: the network starts from the classical "
                "DIS-flow estimate (init: classical); the zero-flow start was removed"
            )

    @classmethod
    def tiny(cls) -> ModelConfig:
        """A very small model for tests (about ten thousand parameters)."""
        return cls(
            patch=4,
            encoder_channels=(8, 12),
            feature_channels=8,
            context_channels=8,
            hidden_channels=8,
            motion_channels=12,
            corr_radius=1,
            refine_channels=8,
            refine_patch=2,
            upsample_channels=8,
            iters=2,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for YAML / the weights file)."""
        return config_lib.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model") -> ModelConfig:
        """From plain data; unknown keys or bad values raise ``ConfigError`` naming ``where``."""
        return config_lib.from_dict(cls, data, where)


class Network(nnx.Module):
    """The recurrent interpolator; see the module docstring."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        c = config
        ctx_out = c.hidden_channels + c.context_channels
        self.fnet = Encoder(3, c.patch, c.encoder_channels, c.feature_channels, rngs=rngs)
        # the context needs less depth than the matched features (it is not compared)
        self.cnet = Encoder(6, c.patch, c.encoder_channels, ctx_out, depth=1, rngs=rngs)
        self.time = linear(1, ctx_out, rngs=rngs)
        self.pose = linear(1, ctx_out, zero=True, rngs=rngs) if c.pose_input else None
        candidates = 2 if c.geometry else 1
        self.update = UpdateBlock(
            corr_channels=candidates * (2 * c.corr_radius + 1) ** 2,
            context_channels=c.context_channels,
            hidden_channels=c.hidden_channels,
            motion_channels=c.motion_channels,
            upsample_channels=c.upsample_channels,
            stride=c.stride,
            state_channels=c.state_channels,
            depth_channels=(2 * c.depth_radius + 1) if c.depth_search else 0,
            consensus_channels=2 * candidates if c.consensus else 0,
            rngs=rngs,
        )
        self.refine = Refine(
            c.refine_channels,
            c.refine_patch,
            mask_head=c.refine_mask,
            residual=c.refine_residual,
            inputs=GEOMETRY_REFINE_INPUTS if c.geometry else REFINE_INPUTS,
            rngs=rngs,
        )

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this."""
        return self.config.stride

    def __call__(
        self,
        img0: jax.Array,
        img1: jax.Array,
        t: jax.Array,
        *,
        equirect: bool,
        iters: int,
        init: Init | None = None,
    ) -> Output:
        """``img0``, ``img1`` (B, H, W, 3) in [0, 1]; ``t`` (B,) in (0, 1); ``iters`` K >= 1.

        ``init`` (full resolution, batch B) is the starting estimate; None starts at zero flow.
        """
        enc = self.encode(img0, img1, equirect=equirect)
        return self.decode(enc, img0, img1, t, equirect=equirect, iters=iters, init=init)

    def encode(self, img0: jax.Array, img1: jax.Array, *, equirect: bool) -> Encoding:
        """The per-pair work: features of both frames and the t-free context (B, H, W, 3) each."""
        s = self.stride
        height, width = img0.shape[1:3]
        if img0.ndim != 4 or height % s or width % s or img1.shape != img0.shape:
            raise ViewsynthError(
                f"network input {img0.shape} / {img1.shape}: both frames must be (B, H, W, 3) "
                f"of the same shape, with H and W multiples of {s}"
            )
        b = img0.shape[0]
        img0 = img0 * 2.0 - 1.0
        img1 = img1 * 2.0 - 1.0
        feats = self.fnet(jnp.concatenate([img0, img1]), equirect=equirect)
        context = self.cnet(jnp.concatenate([img0, img1], axis=-1), equirect=equirect)
        return Encoding(f0=feats[:b], f1=feats[b:], context=context)

    def decode(
        self,
        enc: Encoding,
        img0: jax.Array,
        img1: jax.Array,
        t: jax.Array,
        *,
        equirect: bool,
        iters: int,
        init: Init | None = None,
    ) -> Output:
        """The per-t work. ``enc``, ``img0``, ``img1`` may have batch 1 and are then shared by
        every t (one pair, many in-between times); ``t`` (B,); ``init`` batch B or None."""
        c = self.config
        s = c.stride
        if iters < 1:
            raise ViewsynthError(f"iters must be >= 1, got {iters}")
        t = jnp.asarray(t, jnp.float32).reshape(-1)
        b = max(t.shape[0], img0.shape[0])
        t = jnp.broadcast_to(t, (b,))
        height, width = img0.shape[1:3]

        def batch(x):
            return jnp.broadcast_to(x, (b, *x.shape[1:]))

        img0, img1 = batch(img0), batch(img1)
        f0, f1 = batch(enc.f0), batch(enc.f1)
        ctx = batch(enc.context) + self.time(t[:, None] * 2.0 - 1.0)[:, None, None, :]
        if self.pose is not None:  # confidence 0 (no pose) to 1, as -1 to 1, at 1/stride
            conf = getattr(init, "pose_confidence", None)
            conf = jnp.zeros((b, height, width, 1)) if conf is None else jnp.asarray(conf)
            ctx = ctx + self.pose(avg_pool(conf.astype(jnp.float32), s) * 2.0 - 1.0)
        hidden = jnp.tanh(ctx[..., : c.hidden_channels])
        context = jax.nn.relu(ctx[..., c.hidden_channels :])
        context_terms = self.update.prepare(context, equirect=equirect)

        if c.geometry and (init is None or init.geo_flow_t0 is None):
            raise ViewsynthError(
                "this network uses geometry: its start needs the geometry candidate "
                "(model.init.with_geometry)"
            )
        if init is None:
            base_flow = jnp.zeros((b, height, width, 4), jnp.float32)
            tc = jnp.clip(t, 1e-4, 1.0 - 1e-4)
            prior = jnp.log1p(-tc) - jnp.log(tc)
            base_logit = jnp.broadcast_to(prior[:, None, None, None], (b, height, width, 1))
            base = jnp.concatenate([base_flow, base_logit], axis=-1)
        else:
            parts = [init.flow_t0, init.flow_t1, init.mask_logit]
            if c.geometry:
                parts += [init.geo_flow_t0, init.geo_flow_t1, init.geo_logit, init.choice_logit]
            base = jnp.concatenate([jnp.asarray(p, jnp.float32) for p in parts], axis=-1)
        # state: per candidate flow_t0 (2), flow_t1 (2) in low-resolution pixels and its mask
        # logit (1); with geometry the second candidate's five, then the choice logit (1)
        is_flow = jnp.array(([1.0] * 4 + [0.0]) * (2 if c.geometry else 1) + [0.0] * c.geometry)
        to_full = jnp.where(is_flow > 0, float(s), 1.0)
        start = avg_pool(base, s) / to_full
        # With learn_flow off only the logits move: only they are upsampled (the flows' corrections
        # are zero), which is most of a step's full-resolution work saved.
        moving = [i for i in range(c.state_channels) if c.learn_flow or i % 5 == 4 or i == 10]
        state, frames, depths, out = start, [], [], None
        depth = rays.DepthSearch.of(c, init, height, width)
        q = None if depth is None else depth.q0
        for _ in range(iters):
            state = jnp.where(is_flow > 0, jax.lax.stop_gradient(state), state)
            seen, extra = state, {}  # seen: with the candidate's flows where its depth is
            if depth is not None:
                seen = depth.state(state, q := jax.lax.stop_gradient(q))
                extra["depth_cost"] = depth.cost(f0, f1, q, equirect=equirect)
            if c.consensus and out is not None:  # the previous step's warps and frame
                extra["consensus"] = _consensus(out[2], out[0], s)
            lookups = [
                corr.lookup(
                    f0,
                    f1,
                    seen[..., k : k + 2],
                    seen[..., k + 2 : k + 4],
                    c.corr_radius,
                    equirect=equirect,
                )  # fmt: skip
                for k in ((0, 5) if c.geometry else (0,))
            ]
            lookup = jnp.concatenate(lookups, axis=-1) if c.geometry else lookups[0]
            hidden, delta, up_logits, *dq = self.update(
                hidden, context_terms, lookup, seen, equirect=equirect, **extra
            )
            if not c.learn_flow:  # only the logits move; the flows stay at the start
                delta = delta * (1.0 - is_flow)
            # the logits: the start's plus this step's delta (readout) or plus every step's
            state = (jnp.where(is_flow > 0, state, start) if c.logit_readout else state) + delta
            if depth is not None:
                q = jnp.maximum(q + c.depth_gain * c.depth_step * dq[0], 0.0)
                depths.append(q)
            up = convex_upsample(
                ((state - start) * to_full)[..., moving], up_logits, s, equirect=equirect
            )
            if len(moving) < c.state_channels:
                up = jnp.zeros_like(base).at[..., jnp.array(moving)].set(up)
            full = base + up
            if depth is not None:
                full = depth.full(full, q, up_logits, equirect=equirect)
            out = self._synthesize(img0, img1, full, equirect=equirect)
            frames.append(out[0])
        return Output(frames=tuple(frames), depths=tuple(depths) if depths else None, **out[1])

    def _synthesize(self, img0, img1, full, *, equirect):
        """The frame, the fields the frame is made of (after the refinement's correction) and the
        warped samples, from the full-resolution state ``full`` (flows, logits)."""
        if not self.config.geometry:
            mask = jax.nn.sigmoid(full[..., 4:5])
            warped0 = backward_warp(img0, full[..., :2], equirect=equirect)
            warped1 = backward_warp(img1, full[..., 2:4], equirect=equirect)
            mid = mask * warped0 + (1.0 - mask) * warped1
            x = jnp.concatenate([warped0, warped1, mid, mask], axis=-1)
            residual, dlogit = self.refine(x * 2.0 - 1.0, equirect=equirect)
            if dlogit is not None:
                mask = jax.nn.sigmoid(full[..., 4:5] + dlogit)
                mid = mask * warped0 + (1.0 - mask) * warped1
            fields = {"flow_t0": full[..., :2], "flow_t1": full[..., 2:4], "mask": mask}
            return jnp.clip(mid + residual, 0.0, 1.0), fields, (warped0, warped1)
        warps, masks, mids = [], [], []
        for k in (0, 5):
            mask = jax.nn.sigmoid(full[..., k + 4 : k + 5])
            w0 = backward_warp(img0, full[..., k : k + 2], equirect=equirect)
            w1 = backward_warp(img1, full[..., k + 2 : k + 4], equirect=equirect)
            warps += [w0, w1]
            masks.append(mask)
            mids.append(mask * w0 + (1.0 - mask) * w1)
        choice = jax.nn.sigmoid(full[..., 10:11])
        mid = choice * mids[1] + (1.0 - choice) * mids[0]
        x = jnp.concatenate([*warps, mid, masks[0], masks[1], choice], axis=-1)
        residual, dlogit = self.refine(x * 2.0 - 1.0, equirect=equirect)
        if dlogit is not None:  # with geometry the refinement re-chooses between the candidates
            choice = jax.nn.sigmoid(full[..., 10:11] + dlogit)
            mid = choice * mids[1] + (1.0 - choice) * mids[0]
        fields = {
            "flow_t0": full[..., :2], "flow_t1": full[..., 2:4], "mask": masks[0],
            "geo_flow_t0": full[..., 5:7], "geo_flow_t1": full[..., 7:9], "geo_mask": masks[1],
            "choice": choice,
        }  # fmt: skip
        return jnp.clip(mid + residual, 0.0, 1.0), fields, tuple(warps)


def _consensus(warps, frame, stride: int) -> jax.Array:
    """(B, h, w, len(warps)) at 1/stride: each warped sample's mean absolute RGB difference from
    ``frame`` (the previous step's), pooled, times 4 (about unit scale); an input, so no gradient."""
    diffs = [jnp.mean(jnp.abs(w - frame), axis=-1, keepdims=True) for w in warps]
    return jax.lax.stop_gradient(4.0 * avg_pool(jnp.concatenate(diffs, axis=-1), stride))
