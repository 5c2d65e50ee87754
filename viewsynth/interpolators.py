"""Frame interpolators behind one interface: ``linear``, ``flow`` (classical), ``sweep`` (geometry)
and ``rnn`` (network).

Every interpolator is called as ``interp(img0, img1, times, equirect=...)`` with ``img0``, ``img1``
of shape ``(H, W, 3)`` float32 RGB in [0, 1] and ``times`` a sequence of t in (0, 1); it returns
``(T, H, W, 3)`` float32 in [0, 1], one frame per t. ``equirect=True`` means both frames are 2:1
panoramas whose left and right edges meet (the seam): nothing may treat those edges as borders.

Every interpolator also describes itself: ``record()`` is a plain dict of what decides its frames
(``{"method": ...}``, and for ``rnn`` the weights file, its hash and K), written into the manifest
and hashed into the resume fingerprint. A wrapper must forward it.

Flow convention: ``flow_t0`` maps a pixel of the in-between view to its match in frame 0, in pixels,
``(..., 2)`` with x first. For panoramas x is taken modulo the width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np

from viewsynth import classical
from viewsynth.errors import ViewsynthError
from viewsynth.geometry.seam import on_canonical_seam
from viewsynth.threads import in_background, now

METHODS = ("linear", "flow", "sweep", "rnn")
#: The best method we have measured (README, benchmark): the shipped ``rnn`` (the geometry network,
#: Run 31 since session 18, Run 19 before, with the 2D network on pairs without a pose) beats
#: ``flow`` and ``sweep`` on every panorama set and is within 0.01 dB of the 2D network or better
#: on the perspective sets (TRAINING_LOG.md, sessions 13 and 18).
DEFAULT_METHOD = "rnn"


class Interpolator(Protocol):
    name: str

    def __call__(
        self, img0: np.ndarray, img1: np.ndarray, times: Sequence[float], *, equirect: bool
    ) -> np.ndarray: ...

    def record(self) -> dict[str, Any]: ...


class Linear:
    """Cross-fade: ``(1 - t) * img0 + t * img1``. The floor every method must beat."""

    name = "linear"

    def record(self) -> dict[str, Any]:
        return {"method": self.name}

    def __call__(self, img0, img1, times, *, equirect=False):
        t = np.asarray(times, dtype=np.float32)[:, None, None, None]
        return ((1.0 - t) * img0[None] + t * img1[None]).astype(np.float32)


class Flow:
    """Classical baseline: DIS flow both ways, warped to t, blended by visibility
    (:mod:`viewsynth.classical`).

    The flows of a pair are computed once and reused for every t of that pair. Frames larger than
    ``max_side`` are analysed at reduced size, and so are the flows at t and the blend weights
    (they carry no finer detail than the flow they come from); only the two warps of the frames
    and the blend run at full size. That keeps a 5.7K panorama to a few full-size passes per frame.
    """

    name = "flow"

    def __init__(self, max_side: int = 1024, preset: str = "medium"):
        self.max_side = max_side
        self.preset = preset

    def record(self) -> dict[str, Any]:
        # ``max_side`` and ``preset`` are not recorded: ``make_interpolator`` never changes them.
        return {"method": self.name}

    def __call__(self, img0, img1, times, *, equirect=False):
        if equirect:  # exactly roll-equivariant (DIS by itself is not)
            return on_canonical_seam(self._frames, img0, img1, times, equirect=True)
        return self._frames(img0, img1, times, equirect=False)

    def _frames(self, img0, img1, times, *, equirect):
        height, width = img0.shape[:2]
        flows = classical.pair_flows(
            img0, img1, equirect=equirect, max_side=self.max_side, preset=self.preset,
            full_size=False,
        )  # fmt: skip
        reduced = flows.f01.shape[:2] != (height, width)
        out = []
        for t in times:
            est = classical.estimate_at(flows, float(t))
            flow_t0, flow_t1 = est.flow_t0, est.flow_t1
            weight0 = est.w0 / (est.w0 + est.w1)
            if reduced:
                flow_t0 = classical.upsample_flow(flow_t0, width, height)
                flow_t1 = classical.upsample_flow(flow_t1, width, height)
                weight0 = cv2.resize(weight0, (width, height), interpolation=cv2.INTER_LINEAR)
            warped0 = classical.backward_warp(img0, flow_t0, equirect=equirect)
            warped1 = classical.backward_warp(img1, flow_t1, equirect=equirect)
            out.append(classical.blend(warped0, warped1, weight0))
        return np.stack(out).astype(np.float32)


class Sweep:
    """Geometry: the relative pose of the pair (``viewsynth.geometry.pose``), then the sphere sweep
    (:mod:`viewsynth.sweep`): each input's depth once per pair, each t by reprojection.

    Panoramas only; a pair whose pose cannot serve (pure rotation, too little parallax, too few
    inliers, featureless) or that is not a pair of panoramas falls back to :class:`Flow`.
    :meth:`last_pair` says which method ran on the last pair, why, and the pose's record.
    """

    name = "sweep"

    def __init__(
        self,
        config=None,
        pose_width: int | None = None,
        pose: str = "sift",
        min_trials: int | None = None,
        seed: int = 0,
    ):
        if pose not in POSE_SOURCES:
            raise ViewsynthError(f"sweep: the pose comes from one of {POSE_SOURCES}, not {pose!r}")
        self.config = config  # a viewsynth.sweep.SweepConfig; None: its defaults
        self.pose_width = pose_width  # SIFT's working width; None: the pose module's default
        self.pose = pose  # "sift": SIFT matches; "flow": the pair's DIS flows (geometry.flow_pose)
        self.min_trials = min_trials  # RANSAC's least samples for a SIFT pose (None: pycolmap's)
        self.seed = seed  # RANSAC's random seed (the shipped figures: 0)
        self.fallback = Flow()
        self._last: dict[str, Any] = {}

    def record(self) -> dict[str, Any]:
        return {"method": self.name}

    def settings(self) -> dict[str, Any]:
        """Every knob that shapes its geometry, for the geometry network's record: a walkthrough
        made with other knobs then reads as other work when resumed."""
        import dataclasses

        from viewsynth.sweep import SweepConfig

        sweep = dataclasses.asdict(self.config or SweepConfig())
        return {"pose": self.pose, "pose_width": self.pose_width, "min_trials": self.min_trials,
                "seed": self.seed, "sweep": sweep}  # fmt: skip

    def last_pair(self) -> dict[str, Any]:
        """``{"method": "sweep" | "flow", "reason": ..., "pose": RelativePose.record()}``."""
        return dict(self._last)

    def _depth(self, img0, img1, equirect: bool, seam_shift: float = 0, flows=None):
        """The pair's depth (:class:`viewsynth.sweep.PairDepth`), or None when geometry cannot
        serve it; :meth:`last_pair` says which and why. ``seam_shift``: the caller rolled both
        panoramas left by this many columns; the recorded pose is turned back to its axes.
        ``flows``: the pair's :class:`viewsynth.classical.PairFlows` (or a Future of them) for a
        pose from the flow (``pose="flow"``; made here if None)."""
        from viewsynth import sweep

        if not equirect:
            self._last = {"method": "flow", "reason": "sweep: not panoramas", "pose": None}
            return None
        pose = self._pose(img0, img1, flows)
        record = pose.unrolled(seam_shift, img0.shape[1]).record()
        if not pose.usable:
            self._last = {"method": "flow", "reason": pose.reason, "pose": record}
            return None
        self._last = {"method": "sweep", "reason": "", "pose": record}
        cfg = self.config or sweep.SweepConfig()
        return sweep.pair_depth(img0, img1, sweep.PairCameras.from_pose(pose), cfg)

    def _pose(self, img0, img1, flows):
        """The pair's relative pose, from SIFT matches or from its DIS flows (``self.pose``)."""
        if self.pose == "sift":
            from viewsynth.geometry.features import WORK_WIDTH
            from viewsynth.geometry.pose import relative_pose

            width = self.pose_width or WORK_WIDTH
            return relative_pose(
                img0, img1, equirect=True, work_width=width, min_trials=self.min_trials,
                seed=self.seed,
            )  # fmt: skip
        from viewsynth.geometry.flow_pose import pose_from_flow

        if flows is None:
            flows = classical.pair_flows(img0, img1, equirect=True)
        flows = flows.result() if hasattr(flows, "result") else flows
        return pose_from_flow(img0, flows.f01, flows.vis0, seed=self.seed)

    def __call__(self, img0, img1, times, *, equirect=False):
        if not equirect:
            return self._frames(img0, img1, times, equirect=False)
        # on view 0's canonical seam: the roll property holds exactly (the pose alone is
        # equivariant to the last bit, the depth and the renders to about 86 dB)
        return on_canonical_seam(self._frames, img0, img1, times, equirect=True, tell_shift=True)

    def _frames(self, img0, img1, times, *, equirect, seam_shift=0):
        from viewsynth import sweep

        depth = self._depth(img0, img1, equirect, seam_shift)
        if depth is None:
            return self.fallback(img0, img1, times, equirect=equirect)
        return sweep.render_times(img0, img1, depth, times).astype(np.float32)

    def candidates(
        self, img0, img1, times, *, equirect=False, seam_shift=0, depth=False, flows=None
    ):
        """The geometry as 2D motion for the network (``rnn`` with geometry): per t the sweep's
        ``(flow_t0, flow_t1, weight0)`` at the frames' size, with the pose's confidence
        (:class:`Candidates`), or None when the pair has no usable geometry; :meth:`last_pair`
        then says ``method: rnn``, ``geometry: false`` and why.
        ``seam_shift``: columns (of these frames) by which the caller rolled both left.
        ``depth``: also each t's ``(q, a, b)`` (:func:`viewsynth.sweep.render.depth_at`) as
        ``.depth``, for a network that moves the depth (``ModelConfig.depth_search``).
        ``flows``: the pair's DIS flows (or a Future of them), for a pose from the flow."""
        from viewsynth.sweep.render import depth_at, flows_at

        as_depth, depth = depth, self._depth(img0, img1, equirect, seam_shift, flows)
        # the network ran either way; "geometry" says whether it had the sweep's candidate
        self._last = {**self._last, "method": "rnn", "geometry": depth is not None}
        if depth is None:
            return None
        h, w = img0.shape[:2]

        # one t per task of the shared pool (two cores); a single t here, so that it spreads its
        # own work over both (the sweep's view at t in two halves of columns). With several, the
        # calling thread only waits: work it handed on would queue behind theirs.
        def each(fn):
            start = now if len(times) == 1 else in_background
            return [start(fn, depth, float(t), w, h) for t in times]

        jobs = each(flows_at)
        depths = each(depth_at) if as_depth else []
        out = Candidates(job.result() for job in jobs)
        out.depth = [job.result() for job in depths] or None
        out.confidence = float(self._last["pose"]["confidence"])
        return out


class Candidates(list):
    """:meth:`Sweep.candidates`: per t ``(flow_t0, flow_t1, weight0)``, and ``confidence``, the
    pose's (``RelativePose.confidence``); a slice keeps both."""

    confidence: float = 0.0
    depth: list | None = None  # per t (q, a, b) when asked for (Sweep.candidates' depth)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return super().__getitem__(key)
        part = Candidates(super().__getitem__(key))
        part.confidence = self.confidence
        part.depth = None if self.depth is None else self.depth[key]
        return part


#: Where a pair's relative pose comes from: SIFT matches (:mod:`viewsynth.geometry.pose`) or the
#: pair's DIS flows (:mod:`viewsynth.geometry.flow_pose`).
POSE_SOURCES = ("sift", "flow")

#: The geometry the network is given (``make_interpolator('rnn')``): where its pose comes from
#: (:data:`POSE_SOURCES`), SIFT's working width for a SIFT pose (None:
#: :data:`viewsynth.geometry.features.WORK_WIDTH`), RANSAC's least number of samples for it (None:
#: pycolmap's 1000), RANSAC's random seed and the sweep's knobs (fields of
#: :class:`viewsynth.sweep.SweepConfig`; empty: its defaults). ``--method sweep`` keeps its own.
#: The network's sweep works at 256 columns, not the sweep's own 384: the width every training
#: panorama (256x128) was swept at. On fresh RANSAC seeds it is ahead of 320 by 0.06 dB over the
#: seven panorama sets (forest +0.14, garden b gap 2 -0.04) and 1.38x ``flow``'s time per 1024x512
#: frame against 1.53x (TRAINING_LOG.md, session 19, candidate F2; 320 since session 18, F1).
NETWORK_GEOMETRY: dict[str, Any] = {
    "pose": "sift", "pose_width": None, "min_trials": None, "seed": 0,
    "sweep": {"work_width": 256},
}  # fmt: skip


def network_geometry() -> Sweep:
    """The sphere sweep as :data:`NETWORK_GEOMETRY` sets it, for the geometry network."""
    from viewsynth.sweep import SweepConfig

    knobs = NETWORK_GEOMETRY.get("sweep") or {}
    return Sweep(
        SweepConfig(**knobs) if knobs else None,
        NETWORK_GEOMETRY.get("pose_width"),
        NETWORK_GEOMETRY.get("pose", "sift"),
        NETWORK_GEOMETRY.get("min_trials"),
        NETWORK_GEOMETRY.get("seed", 0),
    )


def make_interpolator(
    method: str,
    *,
    iters: int | None = None,
    scale: float | None = None,
    weights: str | None = None,
) -> Interpolator:
    """The interpolator called ``method``; ``iters``/``scale``/``weights`` apply to ``rnn``.

    A geometry network gets the sphere sweep as its second candidate and, when
    :data:`viewsynth.model.weights.FLOW_ONLY_WEIGHTS` is there, the shipped 2D network for the
    pairs without a usable pose (perspective pairs included), run at the same K."""
    if method == "linear":
        return Linear()
    if method == "flow":
        return Flow()
    if method == "sweep":
        return Sweep()
    if method == "rnn":
        from viewsynth.model.interpolator import RNNInterpolator
        from viewsynth.model.weights import FLOW_ONLY_WEIGHTS

        interp = RNNInterpolator.load(weights, iters=iters, scale=scale)
        if interp.config.geometry:  # the network's second candidate: the sphere sweep
            geometry = network_geometry()
            interp.geometry = geometry.candidates
            interp.flow_pose = geometry.pose == "flow"  # it waits for the network's DIS start
            interp.last_pair = geometry.last_pair  # what ran on each pair, for the manifest
            interp.geometry_settings = geometry.settings()  # recorded with the weights
            if FLOW_ONLY_WEIGHTS.is_file():  # pairs without a usable pose: the 2D network,
                # at the K the geometry network runs (the K the shipping decision measured)
                interp.flow_only = RNNInterpolator.load(
                    FLOW_ONLY_WEIGHTS, iters=interp.iters, scale=scale
                )
        return interp
    raise ViewsynthError(f"--method: unknown method {method!r} (choose from {', '.join(METHODS)})")
