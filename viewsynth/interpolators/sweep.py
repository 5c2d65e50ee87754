"""``sweep``: the pair's relative pose (:mod:`viewsynth.geometry.pose`), then the sphere sweep
(:mod:`viewsynth.sweep`): each input's depth once per pair, each t by reprojection. Also the
geometry network's candidate source (:meth:`Sweep.candidates`), built from the
:class:`GeometrySettings` its weights file records."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from viewsynth import classical
from viewsynth import config as config_lib
from viewsynth.errors import ConfigError
from viewsynth.geometry.features import WORK_WIDTH
from viewsynth.geometry.pinhole import focal_from_hfov
from viewsynth.geometry.pose import (
    DEFAULT_HFOV_DEG,
    PURE_ROTATION,
    load_pycolmap,
    relative_pose,
)
from viewsynth.geometry.seam import on_canonical_seam
from viewsynth.interpolators.flow import Flow
from viewsynth.interpolators.inputs import PerThread, checked_call
from viewsynth.sweep import (
    PairCameras,
    SweepConfig,
    pair_depth,
    pinhole,
    pinhole_render,
    render_times,
)
from viewsynth.sweep.render import flows_at
from viewsynth.sweep.turn import AGREE_PX, Turn
from viewsynth.threads import in_background, now
from viewsynth.warp import fuse


@dataclasses.dataclass(frozen=True)
class GeometrySettings:
    """How the geometry network's candidate is found (recorded with its weights, under
    ``"geometry"``); the defaults are the shipped network's. ``--method sweep`` keeps its own
    (:class:`viewsynth.sweep.SweepConfig`'s defaults)."""

    pose_width: int | None = None  # SIFT's working width; None: geometry.features.WORK_WIDTH
    min_trials: int | None = None  # RANSAC's least number of samples; None: pycolmap's 1000
    seed: int = 0  # RANSAC's random seed (the shipped figures: 0)
    # The sweep's knobs. It works at 256 columns, not the sweep's own 384: the width every training
    # panorama (256x128) was swept at. On fresh RANSAC seeds it is ahead of 320 by 0.06 dB over the
    # seven panorama sets and 1.38x ``flow``'s time per 1024x512 frame against 1.53x
    # (TRAINING_LOG.md, session 19, candidate F2).
    sweep: SweepConfig = dataclasses.field(default_factory=lambda: SweepConfig(work_width=256))

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> GeometrySettings:
        """From a weights file's ``"geometry"`` record (``{"pose_width", "min_trials", "seed",
        "sweep": {knob: value}}``, the sweep's knobs over :class:`~viewsynth.sweep.SweepConfig`'s
        defaults); None (a file without one): the defaults. An unknown knob or a bad value raises
        ``ConfigError`` naming it."""
        if record is None:
            return cls()
        if not isinstance(record, dict):
            raise ConfigError(f"geometry: expected a mapping, got {record!r}")
        data = {**record, "sweep": dict(record.get("sweep") or {})}
        return config_lib.from_dict(cls, data, "geometry")

    def record(self) -> dict[str, Any]:
        """Every knob, the sweep's in full: a walkthrough made with other knobs then reads as
        other work when resumed."""
        return {"pose_width": self.pose_width, "min_trials": self.min_trials, "seed": self.seed,
                "sweep": dataclasses.asdict(self.sweep)}  # fmt: skip


class Sweep:
    """Geometry: ``(T, H, W, 3)`` from two ``(H, W, 3)`` panoramas.

    A pair of panoramas taken from one place (a pure rotation) is the sweep with every point at
    infinity (:class:`viewsynth.sweep.turn.Turn`). A pair whose pose cannot serve otherwise (too
    little parallax, too few inliers, featureless) falls back to :class:`Flow`. :meth:`last_pair`
    says which method ran on the last pair, why, and the pose's record.

    Ordinary photos (``equirect=False``) go through :mod:`viewsynth.sweep.pinhole` with the focal
    of ``hfov`` (None: :data:`~viewsynth.geometry.pose.DEFAULT_HFOV_DEG`, flagged in the pose
    record). Near the epipole (forward motion), where depth is ill-conditioned, and where no input
    sees a pixel's point with a depth the other camera confirmed, DIS's motion is blended into the
    geometry by ``1 - trust`` (:func:`viewsynth.sweep.pinhole_render.with_flow`), in the frames and in
    :meth:`candidates` alike: there the candidate *is* DIS's motion, so the network sees two
    agreeing candidates. :meth:`last_pair` of such a pair adds ``"unseen"`` (the fraction of the
    frames' pixels outside both inputs, filled from the nearer one mirrored at its border) and
    ``"flow_share"`` (the mean of ``1 - trust`` over the rest: how much is DIS's motion).
    ``settings``: the pose's and the sweep's knobs (None: :class:`GeometrySettings` with
    :class:`~viewsynth.sweep.SweepConfig`'s own defaults, ``--method sweep``'s).
    """

    name = "sweep"
    _last = PerThread()  # what this thread's last pair ran (last_pair)

    def __init__(self, settings: GeometrySettings | None = None, fallback: Flow | None = None):
        self.settings = settings or GeometrySettings(sweep=SweepConfig())
        self.fallback = fallback or Flow()
        load_pycolmap()  # (here, on the thread that builds it: see its SIGTERM note)

    @classmethod
    def for_network(cls, settings: GeometrySettings | None = None) -> Sweep:
        """The sweep a geometry network is given: ``settings`` (None: the shipped network's)."""
        return cls(settings or GeometrySettings())

    def record(self) -> dict[str, Any]:
        return {"method": self.name}

    def last_pair(self) -> dict[str, Any]:
        """``{"method": "sweep" | "flow", "reason": ..., "pose": RelativePose.record()}``; a pair
        of panoramas taken from one place adds ``"turned": True`` (its pose says "pure rotation")
        and ``"turn"``: the rotation rendered (the pose's corrected by DIS) and the motion left
        (:meth:`viewsynth.sweep.turn.Turn.confirmed`; also on a turn refused for that motion),
        and one of ordinary photos made by the sweep ``"unseen"`` and ``"flow_share"`` (see above)."""
        return dict(self._last)

    def pair_depth(
        self, img0, img1, *, equirect: bool, seam_shift: float = 0, hfov: float | None = None
    ):
        """The pair's depth (:class:`viewsynth.sweep.PairDepth`); for a pair of panoramas taken
        from one place its rotation (:class:`~viewsynth.sweep.turn.Turn`: every point at
        infinity); None when geometry cannot serve it. :meth:`last_pair` says which and why.
        ``seam_shift``: the caller rolled both panoramas left by this many columns; the recorded
        pose is turned back to its axes.
        ``hfov``: perspective frames' horizontal field of view, degrees (None: unknown)."""
        if not equirect:
            return self._pinhole_depth(img0, img1, hfov)
        s = self.settings
        pose = relative_pose(
            img0, img1, equirect=True, work_width=s.pose_width or WORK_WIDTH,
            min_trials=s.min_trials, seed=s.seed,
        )  # fmt: skip
        w = img0.shape[1]
        record = pose.unrolled(seam_shift, w).record()
        if pose.reason == PURE_ROTATION:
            turn, left = Turn.confirmed(pose.rotation, img0, img1)
            # the turn that renders (the pose's, corrected by DIS) in the caller's axes
            used = dataclasses.replace(pose, rotation=turn.rotation).unrolled(seam_shift, w)
            seen = {
                "rotation_deg": used.record()["rotation_deg"],
                "left_px": round(left, 3) if np.isfinite(left) else None,
            }
            if left <= AGREE_PX:
                self._last = {"method": "sweep", "reason": "", "turned": True, "turn": seen,
                              "pose": record}  # fmt: skip
                return turn
            reason = (
                "pure rotation, but too little texture to confirm it"
                if not np.isfinite(left)
                else f"pure rotation, but {left:.2f} px of motion left once turned back (parallax)"
            )
            self._last = {"method": "flow", "reason": reason, "turn": seen, "pose": record}
            return None
        if not pose.usable:
            self._last = {"method": "flow", "reason": pose.reason, "pose": record}
            return None
        self._last = {"method": "sweep", "reason": "", "pose": record}
        return pair_depth(img0, img1, PairCameras.from_pose(pose), s.sweep)

    def _pinhole_depth(self, img0, img1, hfov: float | None):
        """:meth:`pair_depth` of two ordinary photos (:class:`viewsynth.sweep.pinhole.PinholeDepth`)."""
        if hfov is not None and not (isinstance(hfov, (int, float)) and 0.0 < hfov < 180.0):
            raise ConfigError(f"hfov: a horizontal field of view in (0, 180) degrees, got {hfov!r}")
        s = self.settings
        width = img0.shape[1]
        focal = None if hfov is None else focal_from_hfov(width, float(hfov))
        pose = relative_pose(
            img0, img1, equirect=False, focal_px=focal, work_width=s.pose_width or WORK_WIDTH,
            min_trials=s.min_trials, seed=s.seed,
        )  # fmt: skip
        record = pose.record()
        if not pose.usable:
            self._last = {"method": "flow", "reason": pose.reason, "pose": record}
            return None
        self._last = {"method": "sweep", "reason": "", "pose": record}
        focal = focal_from_hfov(width, DEFAULT_HFOV_DEG) if focal is None else focal
        return pinhole.pair_depth(img0, img1, PairCameras.from_pose(pose), focal, s.sweep)

    def _pinhole_candidates(self, img0, img1, times, depth, flows=None):
        """Per t, the geometry with DIS's motion blended in near the epipole (the frames' size);
        ``flows``: a future of the pair's DIS flows (:meth:`candidates`), else made here. Each t
        on the shared pool: 151-162 ms wall for 7 t of a Lund pair against 262-296 in turn, for the
        same CPU (TRAINING_LOG, session 26)."""
        h, w = img0.shape[:2]
        fb = self.fallback
        same = fb.preset == classical.PRESET and max(h, w) <= min(fb.max_side, classical.MAX_SIDE)
        if flows is None or not same:  # (the caller's, pair_flows' defaults, are not this DIS)
            flows = now(
                classical.pair_flows, img0, img1, equirect=False, max_side=fb.max_side,
                preset=fb.preset, full_size=False,
            )  # fmt: skip

        def one(t: float):
            geo = pinhole_render.geometry_at(depth, t, w, h)
            dis = classical.candidate_at(flows.result(), t, w, h)
            share = float(np.mean(np.where(geo.unseen, 0.0, 1.0 - geo.trust)))
            return pinhole_render.with_flow(geo, dis), float(geo.unseen.mean()), share

        # one t per task of the shared pool (two cores), as a panorama's candidates
        start = now if len(times) == 1 else in_background
        made = [job.result() for job in [start(one, float(t)) for t in times]]
        out, unseen, share = ([m[i] for m in made] for i in range(3))
        self._last = {
            **self._last,
            "unseen": round(float(np.mean(unseen)) if unseen else 0.0, 5),
            "flow_share": round(float(np.mean(share)) if share else 0.0, 5),
        }
        return out

    @checked_call
    def __call__(
        self,
        img0: np.ndarray,
        img1: np.ndarray,
        times: Sequence[float],
        *,
        equirect: bool = False,
        hfov: float | None = None,
    ) -> np.ndarray:
        if not equirect:
            return self.frames(img0, img1, times, equirect=False, hfov=hfov)
        # on view 0's canonical seam: the roll property holds exactly (the pose alone is
        # equivariant to the last bit, the depth and the renders to about 86 dB)
        return on_canonical_seam(self.frames, img0, img1, times, equirect=True, tell_shift=True)

    def frames(
        self, img0, img1, times, *, equirect: bool, seam_shift: float = 0,
        hfov: float | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The frames of a pair as it is given (not rolled onto its seam here); ordinary photos'
        are their :meth:`candidates` fused."""
        if not equirect:
            cands = self.candidates(img0, img1, times, equirect=False, hfov=hfov)
            if cands is None:
                return self.fallback(img0, img1, times, equirect=False)
            out = np.empty((len(cands), *img0.shape), np.float32)
            for i, cand in enumerate(cands):
                fuse(img0, img1, [cand], equirect=False, out=out[i])
            return out
        depth = self.pair_depth(img0, img1, equirect=True, seam_shift=seam_shift)
        if depth is None:  # (on the seam already: Flow's own roll is none)
            return self.fallback(img0, img1, times, equirect=True)
        if isinstance(depth, Turn):
            return depth.render_times(img0, img1, times)
        return render_times(img0, img1, depth, times).astype(np.float32)

    def candidates(
        self, img0, img1, times, *, equirect: bool, seam_shift: float = 0,
        hfov: float | None = None, flows=None,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:  # fmt: skip
        """The geometry as 2D motion, a candidate of :func:`viewsynth.warp.fuse` per t:
        ``(flow_t0, flow_t1, weight0)`` ``(H, W, 2)``, ``(H, W, 2)``, ``(H, W)`` at the frames'
        size; None when the pair has no usable geometry (:meth:`last_pair` says why).
        ``seam_shift``: columns (of these frames) by which the caller rolled both left.
        ``flows``: a future of the pair's DIS flows (:func:`viewsynth.classical.pair_flows` of
        these frames with its defaults, the network's start), which ordinary photos' candidates
        blend in near the epipole: taken where they are what this sweep would make (frames within
        both ``max_side``, neither resized), else (or None) made here."""
        depth = self.pair_depth(img0, img1, equirect=equirect, seam_shift=seam_shift, hfov=hfov)
        if depth is None:
            return None
        if not equirect:
            return self._pinhole_candidates(img0, img1, times, depth, flows)
        h, w = img0.shape[:2]
        if isinstance(depth, Turn):
            return [depth.flows_at(float(t), w, h) for t in times]
        # one t per task of the shared pool (two cores); a single t here, so that it spreads its
        # own work over both (the sweep's view at t in two halves of columns). With several, the
        # calling thread only waits: work it handed on would queue behind theirs.
        start = now if len(times) == 1 else in_background
        jobs = [start(flows_at, depth, float(t), w, h) for t in times]
        return [job.result() for job in jobs]
