"""The recurrent panoramic interpolation network (Flax NNX).

Given frames ``img0``, ``img1`` (B, H, W, 3) float32 RGB in [0, 1], times ``t`` (B,) in (0, 1) and
the classical starting estimate (an :class:`~viewsynth.model.state.Init`, full resolution), it
predicts the in-between view at t:

1. a shared feature encoder (both frames) and a context encoder (both frames; t is added after it)
   bring the images to the recurrence's resolution, 1/stride (1/8): space-to-depth by ``patch``,
   then stride-2 levels (:mod:`viewsynth.model.encoder`);
2. the state (:mod:`viewsynth.model.state`) holds the candidates: the DIS estimate's flows and
   blend logit, and with ``geometry`` the sphere sweep's, plus the logit of choosing the sweep's.
   Every candidate's flows stay as they start (the correlation around them is looked up once);
   the network moves the logits;
3. ONE update block is applied ``iters`` times (shared weights): motion encoding of the
   correlation and the state, ConvGRU, a delta for every logit. The deltas are summed;
4. after every iteration the summed deltas are convex-upsampled and added to the full-resolution
   starting logits, both frames are warped backward by every candidate, blended, chosen between,
   and a thin refinement network corrects the last decision per pixel (the blend of a lone
   candidate, the choice between two): ``Output.frames`` holds one frame per iteration, and the
   fields the last frame is made of are handed out (``Output.candidates``, ``Output.choice``) so
   that the frame can be made again at another size.

The per-pair work (:meth:`Network.encode`) is apart from the per-t work (:meth:`Network.decode`),
so many in-between times of one pair share one encoding; ``__call__`` does both. Output heads start
at zero, so an untrained network returns its starting estimate's frame.

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
from viewsynth.model import corr
from viewsynth.model.encoder import Encoder
from viewsynth.model.layers import linear
from viewsynth.model.output import Encoding, Fields, Output
from viewsynth.model.refine import Refine
from viewsynth.model.state import Init, logit_channels, state_channels
from viewsynth.model.update import UpdateBlock
from viewsynth.model.warp import backward_warp, convex_upsample


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every architecture hyperparameter; saved inside each weights file. The defaults are the
    shipped network's (``viewsynth/weights/default.msgpack``)."""

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
    # Motion encoder output (the state's channels included).
    motion_channels: int = 48
    # Lookup window radius r at the recurrence's resolution: (2r+1)^2 offsets per candidate.
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
    iters: int = 1
    # True: a second candidate, the sphere sweep's geometry, beside the DIS one, and the per-pixel
    # logit of choosing it (the shipped default); False: the 2D network (``flow_only.msgpack``).
    geometry: bool = True

    @property
    def candidates(self) -> int:
        """How many candidates the state holds: the DIS estimate, and the sweep's with geometry."""
        return 2 if self.geometry else 1

    def __post_init__(self):
        levels = len(self.encoder_channels)
        if levels < 1 or self.patch < 1 or self.patch * 2 ** (levels - 1) != self.stride:
            raise ValueError(
                f"patch * 2**(len(encoder_channels) - 1) must equal stride, got patch {self.patch}, "
                f"{levels} encoder levels, stride {self.stride}"
            )
        if self.refine_patch < 1 or self.stride % self.refine_patch:
            raise ValueError(f"refine_patch {self.refine_patch} must divide stride {self.stride}")
        state = state_channels(self.candidates)
        if self.motion_channels <= state:
            raise ValueError(
                f"motion_channels must exceed the {state} state channels, got {self.motion_channels}"
            )
        if self.corr_radius < 0 or self.iters < 1:
            raise ValueError("needs corr_radius >= 0 and iters >= 1")

    @classmethod
    def tiny(cls, **changes: Any) -> ModelConfig:
        """A very small model for tests (about ten thousand parameters); ``changes`` on top."""
        small = dict(
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
        return cls(**{**small, **changes})

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
        self.update = UpdateBlock(
            corr_channels=c.candidates * (2 * c.corr_radius + 1) ** 2,
            context_channels=c.context_channels,
            hidden_channels=c.hidden_channels,
            motion_channels=c.motion_channels,
            upsample_channels=c.upsample_channels,
            stride=c.stride,
            state_channels=state_channels(c.candidates),
            logit_channels=logit_channels(c.candidates),
            rngs=rngs,
        )
        self.refine = Refine(c.refine_channels, c.refine_patch, c.candidates, rngs=rngs)

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this."""
        return self.config.stride

    def __call__(
        self, img0: jax.Array, img1: jax.Array, t: jax.Array, *, equirect: bool, iters: int,
        init: Init,
    ) -> Output:  # fmt: skip
        """``img0``, ``img1`` (B, H, W, 3) in [0, 1]; ``t`` (B,) in (0, 1); ``iters`` K >= 1;
        ``init`` the starting estimate (full resolution, batch B)."""
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
        self, enc: Encoding, img0: jax.Array, img1: jax.Array, t: jax.Array, *, equirect: bool,
        iters: int, init: Init,
    ) -> Output:  # fmt: skip
        """The per-t work. ``enc``, ``img0``, ``img1`` may have batch 1 and are then shared by
        every t (one pair, many in-between times); ``t`` (B,); ``init`` batch B."""
        img0, img1 = self._batched(img0, img1, t, iters, init)
        frames, out = [], None
        for state in self._states(enc, t, img0.shape[0], equirect=equirect, iters=iters, init=init):
            frame, out = self.synthesize(
                img0, img1, state, self.warps(img0, img1, state, equirect=equirect),
                equirect=equirect,
            )  # fmt: skip
            frames.append(frame)
        return Output(frames=tuple(frames), candidates=out[0], choice=out[1])

    def decode_state(
        self, enc: Encoding, img0: jax.Array, img1: jax.Array, t: jax.Array, *, equirect: bool,
        iters: int, init: Init,
    ) -> tuple[Init, tuple[jax.Array, ...]]:  # fmt: skip
        """:meth:`decode` up to its last frame's inputs: the full-resolution state after the K-th
        iteration (the logits moved, the flows as they start) and its :meth:`warps`, batch B.
        ``decode(...)``'s last frame and fields are ``synthesize(img0, img1, *decode_state(...))``
        (the frames batched): the same operations (eagerly to the bit; compiled apart, XLA's
        other fusion moves the last bits, 3e-6 at most on real pairs). Inference compiles the
        two apart: the warps then reach :meth:`synthesize` as arrays, where XLA on CPU otherwise
        fuses the gathers into every channel of the refinement's input and computes them again
        there (the per-t decode of a 512x256 panorama pair took 2x as long)."""
        img0, img1 = self._batched(img0, img1, t, iters, init)
        *_, state = self._states(enc, t, img0.shape[0], equirect=equirect, iters=iters, init=init)
        return state, self.warps(img0, img1, state, equirect=equirect)

    def _batched(self, img0, img1, t, iters: int, init: Init):
        """The frames broadcast to the batch of ``t``; checks ``iters`` and the start."""
        c = self.config
        if iters < 1:
            raise ViewsynthError(f"iters must be >= 1, got {iters}")
        if len(init.candidates) != c.candidates or (init.choice is None) != (c.candidates == 1):
            raise ViewsynthError(
                f"this network holds {c.candidates} candidate(s): its start has "
                f"{len(init.candidates)} (a geometry network's needs model.init.with_geometry)"
            )
        b = max(jnp.asarray(t).reshape(-1).shape[0], img0.shape[0])
        return (jnp.broadcast_to(x, (b, *x.shape[1:])) for x in (img0, img1))

    def _states(
        self, enc: Encoding, t: jax.Array, frames: int, *, equirect: bool, iters: int, init: Init
    ):
        """Yields the full-resolution state after each of the ``iters`` iterations; ``frames``:
        the batch of the (broadcast) frames."""
        c = self.config
        s = c.stride
        t = jnp.asarray(t, jnp.float32).reshape(-1)
        b = max(t.shape[0], frames)
        t = jnp.broadcast_to(t, (b,))

        def batch(x):
            return jnp.broadcast_to(x, (b, *x.shape[1:]))

        f0, f1 = batch(enc.f0), batch(enc.f1)
        ctx = batch(enc.context) + self.time(t[:, None] * 2.0 - 1.0)[:, None, None, :]
        hidden = jnp.tanh(ctx[..., : c.hidden_channels])
        context = jax.nn.relu(ctx[..., c.hidden_channels :])
        context_terms = self.update.prepare(context, equirect=equirect)

        full = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), init)
        # at 1/stride; the flows come from the data and never move
        start = full.pooled(s)
        # the flows do not move, so neither does the correlation around them
        lookup = jnp.concatenate(
            [
                corr.lookup(f0, f1, k.flow_t0, k.flow_t1, c.corr_radius, equirect=equirect)
                for k in start.candidates
            ],
            axis=-1,
        )
        logits0 = start.logits()
        logits = logits0
        for _ in range(iters):
            seen = start.with_logits(logits).channels()
            hidden, delta, up_logits = self.update(
                hidden, context_terms, lookup, seen, equirect=equirect
            )
            logits = logits + delta
            up = convex_upsample(logits - logits0, up_logits, s, equirect=equirect)
            yield full.with_logits(full.logits() + up)

    def warps(self, img0, img1, state: Init, *, equirect) -> tuple[jax.Array, ...]:
        """Both frames (B, H, W, 3) warped by every candidate of the full-resolution ``state``:
        ``(frame 0 by flow_t0, frame 1 by flow_t1)`` per candidate, each (B, H, W, 3)."""
        return tuple(
            w
            for k in state.candidates
            for w in (
                backward_warp(img0, k.flow_t0, equirect=equirect),
                backward_warp(img1, k.flow_t1, equirect=equirect),
            )
        )

    def synthesize(self, img0, img1, state: Init, warps, *, equirect):
        """The frame (B, H, W, 3) and the fields it is made of (each candidate's flows and
        frame-0 weight, the choice's weight), from the full-resolution ``state`` and its
        :meth:`warps`, after the refinement's correction of the last decision: a lone
        candidate's blend, or the choice between two."""
        warps, weights, mids = list(warps), [], []
        for i, k in enumerate(state.candidates):
            w0, w1 = warps[2 * i], warps[2 * i + 1]
            weight = jax.nn.sigmoid(k.logit)
            weights.append(weight)
            mids.append(weight * w0 + (1.0 - weight) * w1)
        if state.choice is None:
            last, mid = state.candidates[0].logit, mids[0]
        else:
            last = state.choice
            choice = jax.nn.sigmoid(last)
            mid = choice * mids[1] + (1.0 - choice) * mids[0]
            weights.append(choice)
        x = jnp.concatenate([*warps, mid, *weights], axis=-1)
        weight = jax.nn.sigmoid(last + self.refine(x * 2.0 - 1.0, equirect=equirect))
        if state.choice is None:
            mid = weight * warps[0] + (1.0 - weight) * warps[1]
            fields = (Fields(state.candidates[0].flow_t0, state.candidates[0].flow_t1, weight),)
            choice = None
        else:
            mid = weight * mids[1] + (1.0 - weight) * mids[0]
            fields = tuple(
                Fields(k.flow_t0, k.flow_t1, w)
                for k, w in zip(state.candidates, weights[:2], strict=True)
            )
            choice = weight
        return jnp.clip(mid, 0.0, 1.0), (fields, choice)
