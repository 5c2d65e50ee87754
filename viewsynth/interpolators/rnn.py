"""``rnn``: the network behind :class:`viewsynth.interpolators.Interpolator`.

``RNNInterpolator.load(weights)`` reads a weights file once; it is called as every interpolator.

Fitting any input size to the network (:mod:`viewsynth.interpolators.fit`):

- working scale ``s``: the network runs at about ``s`` times the input size (``scale``; None picks
  ``min(1, max_width / W)``: at most :data:`WORK_WIDTH` (512) columns wide, but a 2D network's
  panoramas at most :data:`PANORAMA_2D_WIDTH` (2048));
- panoramas: the width is RESAMPLED (never padded: padding would put a false border into the
  seam) to a multiple of ``bucket`` pixels; the height keeps the aspect ratio and is padded
  (edge pixels repeated) up to a multiple of ``bucket``, then cropped back. Perspective images:
  resampled by ``s`` if ``s < 1``, then padded the same way in both directions and cropped back.
  The classical start is computed on the unpadded content and padded like the frames;
- sizes are bucketed (multiples of 64) and times split into chunks of 1, 2, 4, ... (at most
  ``max_batch``): a few compiled functions, not one per image; a pair is encoded once;
- whenever the working size differs from the input size, the network hands out its fields and
  :func:`viewsynth.warp.fuse_fields` makes the frame from them at the input size.

A geometry network (``ModelConfig.geometry``) is built with its candidate source, the sphere sweep
(:meth:`viewsynth.interpolators.Sweep.candidates`, with the :class:`GeometrySettings` its weights
file records), its fallback, the 2D network, which makes the frames of the pairs without a usable
pose, and the photos network (a geometry network trained on the pinhole sweep's candidate), which
makes ordinary photos' (its own pairs without a pose go to the 2D network too; without a photos
network, the 2D network makes every photo's frames). Every network starts from DIS flow
(:func:`viewsynth.model.init.init_at`), computed once per pair at the working scale.
:meth:`RNNInterpolator.record` (weights file, hash, K, training record) is what the manifest and
the resume check take.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from viewsynth import parallel
from viewsynth.classical import pair_flows
from viewsynth.errors import ConfigError, ViewsynthError, WeightsError
from viewsynth.geometry.seam import on_canonical_seam
from viewsynth.interpolators.fit import (
    PANORAMA_2D_WIDTH,
    WORK_WIDTH,
    auto_scale,
    ceil_to,
    chunks,
    pad_edges,
)
from viewsynth.interpolators.inputs import PerThread, checked_call
from viewsynth.interpolators.sweep import GeometrySettings, Sweep
from viewsynth.model.init import init_at, with_geometry
from viewsynth.model.network import Network
from viewsynth.model.weights import (
    DEFAULT_WEIGHTS,
    FLOW_ONLY_WEIGHTS,
    PHOTOS_WEIGHTS,
    load_described,
)
from viewsynth.threads import in_background, then
from viewsynth.warp import fuse_fields, resample

#: Ordinary photos go to the 2D network: the geometry network (trained on panoramas' sweeps) lost
#: 1.4 dB on Middlebury-other with the pinhole sweep's candidate (TRAINING_LOG.md, session 21).
PHOTOS = "ordinary photos: the 2D network (the geometry network is not trained on them)"


def _sweep_of(path: Path, info: dict[str, Any]) -> Sweep:
    """The sweep a geometry network's weights file records (:class:`GeometrySettings`)."""
    try:
        return Sweep.for_network(GeometrySettings.from_record(info.get("geometry")))
    except ConfigError as err:
        raise WeightsError(f"{path}: bad geometry record in the weights file ({err})") from None


class RNNInterpolator:
    """Interpolates with a trained network; see the module docstring.

    ``iters``: recurrent iterations K (None: the model's default). ``scale``: working scale (None:
    automatic). ``bucket``: working sizes are multiples of this (and of the model's stride).
    ``max_width``: the width the automatic scale aims at (None: :data:`WORK_WIDTH`, or
    :data:`PANORAMA_2D_WIDTH` for a 2D network's panoramas). ``max_batch``, ``max_pixels``: at most
    this many times, and pixels, per forward pass (the pair's encoding is shared by all passes);
    1 by default: fastest on a 2-core CPU (at 512x256: 55 ms per t alone, 67 in a batch of 7).
    ``data_parallel``: with several local devices, split a pair's times over them. ``weights``:
    the file the network came from and its description (``load_described``), for :meth:`record`.
    ``sweep``: a geometry network's candidate source (required for one, refused for a 2D
    network). ``fallback``: the interpolator that makes the frames of the pairs without a usable
    pose (a 2D network's, at this one's K) and, without ``photos``, of ordinary photos
    (:data:`PHOTOS`); None keeps the geometry network's own path for them. ``photos``: the
    geometry network that makes ordinary photos' frames (``photos.msgpack``: trained on the
    pinhole sweep's candidate; its weights record ``photos``, so it sweeps photos itself).
    """

    name = "rnn"
    _last = PerThread()  # what this thread's last pair ran (last_pair)

    def __init__(
        self,
        model: Network,
        *,
        iters: int | None = None,
        scale: float | None = None,
        bucket: int = 64,
        max_width: int | None = None,
        max_pixels: int = 4 * 2048 * 1024,
        max_batch: int = 1,
        data_parallel: bool = True,
        weights: tuple[Path, dict[str, Any]] | None = None,
        sweep: Sweep | None = None,
        fallback: RNNInterpolator | None = None,
        photos: RNNInterpolator | None = None,
    ):
        if iters is not None and iters < 1:
            raise ViewsynthError(f"--iters must be >= 1, got {iters}")
        if scale is not None and not 0.0 < scale <= 1.0:
            raise ViewsynthError(f"--scale must be in (0, 1], got {scale}")
        if (sweep is None) == bool(model.config.geometry):
            raise ViewsynthError(
                "rnn: a geometry network needs its sweep (make_interpolator('rnn') or "
                "RNNInterpolator.load give it one), and a 2D network takes none"
            )
        self.model = model
        self.config = model.config
        self.iters = int(iters or model.config.iters)
        self.scale = scale
        self.bucket = ceil_to(bucket, model.stride)
        self.max_width = max_width
        self.max_pixels = max_pixels
        self.max_batch = max_batch
        self.weights = weights
        self.sweep = sweep
        self.fallback = fallback
        self.photos = photos
        # a network trained on the pinhole sweep's candidate sweeps ordinary photos itself
        self.sweeps_photos = sweep is not None and bool(weights and weights[1].get("photos"))
        self.traces = 0  # times a function was traced (compiled), for tests and reports
        graphdef, self._state = nnx.split(model)
        # With several local devices the times of a pair are split over them (data parallel):
        # parameters are copied to every device once, each pass holds a multiple of the count.
        several = data_parallel and jax.local_device_count() > 1
        self._mesh = parallel.data_mesh() if several else None
        if self._mesh is not None:
            self.max_batch = max(max_batch, self._mesh.size)
            self._state = parallel.replicate(self._state, self._mesh)
        self._encode = jax.jit(functools.partial(self._encode_fn, graphdef), static_argnums=(3,))
        # the per-t work in two compiled pieces (:meth:`Network.decode_state`, then
        # :meth:`Network.synthesize`): the warps cross between them as arrays (CPU: 2x faster)
        self._state_at = jax.jit(
            functools.partial(self._state_fn, graphdef), static_argnames=("equirect", "iters")
        )
        self._synthesize = jax.jit(
            functools.partial(self._synthesize_fn, graphdef),
            static_argnames=("equirect", "fields"),
        )

    @classmethod
    def load(
        cls,
        weights: str | Path | None = None,
        *,
        iters: int | None = None,
        scale: float | None = None,
        photos: str | Path | None = None,
    ) -> RNNInterpolator:
        """From a weights file (None: the weights shipped with viewsynth), built whole: a
        geometry network with the sweep its file records (:class:`GeometrySettings`) and, when
        :data:`~viewsynth.model.weights.FLOW_ONLY_WEIGHTS` is there, the shipped 2D network as
        its fallback, run at the same K (the K the shipping decision measured); for ordinary
        photos ``photos`` (any network: a geometry one is given the pinhole sweep's candidate,
        trained for it or not), else the file itself when it is a photos network, else
        :data:`~viewsynth.model.weights.PHOTOS_WEIGHTS` when it is there (with the same
        fallback)."""
        if weights is None:
            if not DEFAULT_WEIGHTS.is_file():
                raise WeightsError(
                    f"no trained weights shipped ({DEFAULT_WEIGHTS} is missing): "
                    "use --weights FILE or --method flow"
                )
            weights = DEFAULT_WEIGHTS
        path = Path(weights)
        model, info = load_described(path)
        sweep = fallback = photos_net = None
        if photos is not None and not Path(photos).is_file():
            raise WeightsError(f"{photos}: weights file not found")
        if photos is not None and not model.config.geometry:
            raise WeightsError(f"{path}: a 2D network, which makes every pair: no photos network")
        if photos is not None:  # (the role given: that file makes photos, not this one)
            info = {**info, "photos": False}
        p_path = Path(photos) if photos else None if info.get("photos") else PHOTOS_WEIGHTS
        if model.config.geometry:
            sweep = _sweep_of(path, info)
            k = iters or model.config.iters
            if FLOW_ONLY_WEIGHTS.is_file():
                fallback = cls.load(FLOW_ONLY_WEIGHTS, iters=k, scale=scale)
            if p_path is not None and p_path.is_file():
                p_model, p_info = load_described(p_path)
                p_info = {**p_info, "photos": True}  # (in this role it sweeps photos)
                geo = bool(p_model.config.geometry)
                photos_net = cls(
                    p_model, iters=k, scale=scale, weights=(p_path, p_info),
                    sweep=_sweep_of(p_path, p_info) if geo else None, fallback=fallback if geo else None,
                )  # fmt: skip
        return cls(
            model, iters=iters, scale=scale, weights=(path, info), sweep=sweep,
            fallback=fallback, photos=photos_net,
        )  # fmt: skip

    def record(self) -> dict[str, Any]:
        """What decides this interpolator's frames: the weights file (None for a network made in
        memory), its content hash, the K it runs and the training run the file records; for a
        geometry network its sweep's settings and its fallback's record. A weights file that
        changed (a new release, a fine-tune written again) then reads as other work."""
        path, info = self.weights if self.weights is not None else (None, {})
        record = {
            "method": self.name,
            "weights": None if path is None else str(path),
            "sha256": info.get("sha256"),
            "iters": self.iters,
            "trained": info.get("trained", {}),
        }
        if self.sweep is not None:  # its second candidate's pose and sweep
            record["geometry"] = self.sweep.settings.record()
        if self.fallback is not None:  # it makes the frames of the pairs without a pose
            record["flow_only"] = self.fallback.record()
        if self.photos is not None:  # it makes ordinary photos' frames
            record["photos"] = self.photos.record()
        return record

    def last_pair(self) -> dict[str, Any]:
        """What ran on the last pair: for a geometry network ``{"method": "rnn", "geometry":
        whether the sweep's candidate served, "reason", "pose"}`` (the sweep's why and pose
        record; ordinary photos made by the photos network add ``"network": "photos"``); ``{}``
        for a 2D network (every pair is made the same way)."""
        return dict(self._last)

    # -- the jitted pieces (traced once per working size / batch size) --------------------------

    def _encode_fn(self, graphdef, state, img0, img1, equirect):
        self.traces += 1
        model = nnx.merge(graphdef, state)
        return model.encode(img0, img1, equirect=equirect)

    def _state_fn(self, graphdef, state, enc, img0, img1, t, init, *, equirect, iters):
        self.traces += 1
        model = nnx.merge(graphdef, state)
        return model.decode_state(enc, img0, img1, t, equirect=equirect, iters=iters, init=init)

    def _synthesize_fn(self, graphdef, state, img0, img1, last, warps, *, equirect, fields):
        """The frame at the working size or, with ``fields``, what :func:`fuse_fields` makes it
        from at the input size (the network's own frame then is not computed: XLA drops it)."""
        self.traces += 1
        model = nnx.merge(graphdef, state)
        b = warps[0].shape[0]
        img0, img1 = (jnp.broadcast_to(x, (b, *x.shape[1:])) for x in (img0, img1))
        frame, (candidates, choice) = model.synthesize(img0, img1, last, warps, equirect=equirect)
        if not fields:
            return frame
        # stacked here (XLA fuses it) as the fusion reads them: each candidate's two flows, then
        # one weight channel per candidate and the choice
        flows = tuple(jnp.concatenate([c.flow_t0, c.flow_t1], axis=-1) for c in candidates)
        weights = [c.mask for c in candidates]
        weights += [] if choice is None else [choice]
        return flows, jnp.concatenate(weights, axis=-1)

    def _decode(self, state, enc, img0, img1, t, init, *, equirect, iters, fields):
        """The network's per-t work for a batch of times: :meth:`_synthesize_fn`'s result."""
        last, warps = self._state_at(
            state, enc, img0, img1, t, init, equirect=equirect, iters=iters
        )  # fmt: skip
        return self._synthesize(state, img0, img1, last, warps, equirect=equirect, fields=fields)

    # -- sizes -----------------------------------------------------------------------------------

    def working_size(self, width: int, height: int, *, equirect: bool) -> tuple[int, int, int, int]:
        """``(content_w, content_h, work_w, work_h)``: the resampled content and the padded size."""
        widest = self.max_width
        if widest is None:
            widest = PANORAMA_2D_WIDTH if equirect and self.sweep is None else WORK_WIDTH
        s = self.scale if self.scale is not None else auto_scale(width, widest)
        if equirect:
            cw = ceil_to(width * s, self.bucket)
            ch = max(1, int(round(height * cw / width)))
        elif s < 1.0:
            cw, ch = max(1, int(round(width * s))), max(1, int(round(height * s)))
        else:
            cw, ch = width, height
        return cw, ch, ceil_to(cw, self.bucket), ceil_to(ch, self.bucket)

    # -- the call ----------------------------------------------------------------------------------

    @checked_call
    def __call__(
        self,
        img0: np.ndarray,
        img1: np.ndarray,
        times: Sequence[float],
        *,
        equirect: bool,
        hfov: float | None = None,
    ) -> np.ndarray:
        """``img0``, ``img1`` (H, W, 3) float32 in [0, 1]; ``times`` (T,) -> (T, H, W, 3).

        Panoramas run on view 0's canonical seam
        (:func:`viewsynth.geometry.seam.on_canonical_seam`): rolling the inputs by any number of
        columns rolls the output exactly, though DIS and the network's blocks are not
        shift-equivariant by themselves."""
        if not equirect:
            return self.frames(img0, img1, times, equirect=False, hfov=hfov)
        return on_canonical_seam(self.frames, img0, img1, times, equirect=True, tell_shift=True)

    def frames(
        self, img0, img1, times, *, equirect: bool, seam_shift: float = 0, start=None,
        hfov: float | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The frames of a pair as it is given: a pair of panoramas already on its canonical seam
        (``seam_shift``: the columns the caller rolled both left by), not rolled here.
        ``start``: ``((cw, ch), future)``, the DIS start a geometry network began on this pair
        before handing it to its fallback, used if this network's content is that size too."""
        times = np.asarray(list(times), dtype=np.float32).reshape(-1)
        height, width = img0.shape[:2]
        if len(times) == 0:
            return np.zeros((0, height, width, 3), np.float32)
        if self.sweep is not None and not equirect and not self.sweeps_photos:
            if self.photos is not None:
                out = self.photos.frames(img0, img1, times, equirect=False, hfov=hfov)
                self._last = {**self.photos.last_pair(), "network": "photos"}
                return out
            if self.fallback is not None:
                self._last = {"method": "rnn", "geometry": False, "reason": PHOTOS, "pose": None}
                return self.fallback.frames(img0, img1, times, equirect=False)
        cw, ch, ww, wh = self.working_size(width, height, equirect=equirect)
        top, left = (wh - ch) // 2, (ww - cw) // 2
        content0 = resample(img0, cw, ch, equirect=equirect)
        content1 = resample(img1, cw, ch, equirect=equirect)
        # DIS on the content (``flow``'s own estimate whatever the bucket, once for all times),
        # made on a second core while the pair's geometry is found; edge-padded like the frames.
        if start is None or start[0] != (cw, ch):
            start = ((cw, ch), in_background(pair_flows, content0, content1, equirect=equirect))
        work0, work1 = pad_edges(content0, ww, wh), pad_edges(content1, ww, wh)
        # A panorama's rows are padded but its columns are not (cw == ww): the seam stays intact.
        j0, j1 = jnp.asarray(work0[None]), jnp.asarray(work1[None])
        if self._mesh is not None:
            j0, j1 = parallel.replicate((j0, j1), self._mesh)
        encode = functools.partial(self._encode, self._state, j0, j1, equirect)
        encoded, no_pose = None, threading.Event()
        geometry = None
        if self.sweep is not None:
            if equirect or self.sweeps_photos:  # (pairs that can have a pose)
                # The encoding (JAX computes it on its own threads) started when DIS is done, so
                # it fills the core the pose's single-threaded RANSAC leaves idle; not started if
                # the pair turned out to have no pose before then
                encoded = then(start[1], lambda: None if no_pose.is_set() else encode())
            geometry = self.sweep.candidates(  # (the pose in the caller's axes: the shift in content columns)
                content0, content1, times, equirect=equirect, seam_shift=seam_shift * cw / width,
                hfov=hfov, flows=start[1],
            )  # fmt: skip
            # the network ran either way; "geometry" says whether it had the sweep's candidate
            self._last = {
                **self.sweep.last_pair(),
                "method": "rnn",
                "geometry": geometry is not None,
            }
            if geometry is None and self.fallback is not None:
                no_pose.set()  # (the encoding is not needed)
                return self.fallback.frames(img0, img1, times, equirect=equirect, start=start)
        enc = None if encoded is None else encoded.result()
        enc = encode() if enc is None else enc
        same_size = (cw, ch) == (width, height)
        largest = max(1, min(self.max_batch, self.max_pixels // (ww * wh)))
        largest = 1 << (largest.bit_length() - 1)
        out = np.empty((len(times), height, width, 3), np.float32)
        classical = start[1].result()
        crop = (slice(None), slice(top, top + ch), slice(left, left + cw))

        def dispatch(first: int, n: int):  # JAX runs it asynchronously
            t = times[first : first + n]
            init = init_at(classical, t)
            if self.sweep is not None:
                geo = None if geometry is None else geometry[first : first + n]
                init = with_geometry(init, content0, content1, geo, equirect=equirect)
            init = pad_edges(init, ww, wh)
            batch = (np.asarray(t), init)
            if self._mesh is not None:
                batch, _ = parallel.pad_batch(batch, self._mesh.size)
                batch = parallel.shard_batch(batch, self._mesh)
            return self._decode(
                self._state, enc, j0, j1, jnp.asarray(batch[0]), batch[1],
                equirect=equirect, iters=self.iters, fields=not same_size,
            )  # fmt: skip

        def finish(first: int, n: int, result) -> None:
            if same_size:
                out[first : first + n] = np.asarray(result)[:n][crop]
                return
            flows = [np.asarray(f)[:n][crop] for f in result[0]]
            weights = np.asarray(result[1])[:n][crop]
            for i in range(n):
                fuse_fields(
                    img0, img1, [f[i] for f in flows], weights[i], equirect=equirect,
                    out=out[first + i],
                )  # fmt: skip

        # Double-buffered: chunk k + 1 is computed by JAX while chunk k is fused here.
        pending, first = None, 0
        for n in chunks(len(times), largest):
            result = dispatch(first, n)
            if pending is not None:
                finish(*pending)
            pending, first = (first, n, result), first + n
        finish(*pending)
        return out
