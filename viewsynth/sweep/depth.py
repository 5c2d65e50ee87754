"""Each input's inverse depth, once per pair: sweep, aggregate, winner, sub-step refinement, and
the consistency of the two depths.

For every pixel of camera 0 the sweep tries ``N`` inverse depths ``q`` from 0 (infinity) to
``q_max`` (in 1/baselines; ``q_max = 2`` is a point half a baseline away), spaced so that one step
moves a point by about ``step_px`` working pixels at most; the cost of each (:mod:`.cost`) is
aggregated (:mod:`.aggregate`), a small prior for the far end settles flat areas (sky, blank
walls: every hypothesis matches equally, and there the far one is the likely one), the winner is
refined by a parabola through its neighbours, and the same is done from camera 1. A pixel of one
camera whose point, carried into the other, meets the other's own depth there is *consistent*:
both see it. Inconsistent pixels (occluded in the other view, or mismatched) take the farther of
their row neighbours' consistent depths (occlusions are background), so each map is whole.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from viewsynth import classical
from viewsynth.sweep.aggregate import guided_filter
from viewsynth.sweep.cameras import PairCameras, lookups, norm, rays_of, to_pixels
from viewsynth.sweep.cost import box_wrap, cost_volume, normalise, working_gray


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The sweep's knobs (defaults measured on street renders, README ``--method sweep``)."""

    work_width: int = 512  # working scale: panoramas analysed at this width (capped at the input)
    q_max: float = 2.0  # nearest point: 1 / q_max baselines
    step_px: float = 1.5  # largest shift of a point between neighbouring hypotheses, working px
    max_hypotheses: int = 128
    norm_radius: int = 3  # window of the local normalisation
    radius: int = 4  # guided-filter window
    eps: float = 1e-3  # guided-filter edge threshold (grey in [0, 1], squared)
    far_prior: float = 0.05  # cost added at q_max, linearly from 0 at q = 0
    coarse_radius: int = 12  # a wide plain window, added so flat areas take their surround's depth
    coarse_weight: float = 1.0
    consistency: float = 0.08  # relative inverse-depth tolerance of the consistency check


@dataclasses.dataclass(frozen=True)
class PairDepth:
    """Both inputs' inverse depth ``q0``, ``q1`` ``(h, w)`` at the working scale (whole: no holes),
    and ``conf0``, ``conf1`` ``(h, w)`` in {0, 1}: the pixel's point is seen by the other camera."""

    cams: PairCameras
    q0: np.ndarray
    q1: np.ndarray
    conf0: np.ndarray
    conf1: np.ndarray
    step: float  # the hypotheses' spacing in q


def hypotheses(cfg: SweepConfig, width: int) -> np.ndarray:
    """The inverse depths swept, ``(N,)`` from 0 to ``q_max``: a step of ``dq`` turns a point by at
    most ``dq`` radians, one working pixel is ``2 pi / width``."""
    n = int(np.ceil(cfg.q_max / (cfg.step_px * 2.0 * np.pi / width))) + 1
    return np.linspace(0.0, cfg.q_max, int(np.clip(n, 8, cfg.max_hypotheses)), dtype=np.float32)


def winner(cost: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Inverse depth ``(h, w)`` of the least cost per pixel, refined by a parabola through the
    winner and its two neighbours (at most half a step either way)."""
    n = cost.shape[-1]
    k = np.argmin(cost, axis=-1)
    kc = np.clip(k, 1, n - 2)
    c0 = np.take_along_axis(cost, (kc - 1)[..., None], -1)[..., 0]
    c1 = np.take_along_axis(cost, kc[..., None], -1)[..., 0]
    c2 = np.take_along_axis(cost, (kc + 1)[..., None], -1)[..., 0]
    curv = c0 - 2.0 * c1 + c2
    off = np.where(curv > 1e-6, 0.5 * (c0 - c2) / np.maximum(curv, 1e-6), 0.0)
    off = np.where(k == kc, np.clip(off, -0.5, 0.5), 0.0)
    step = float(qs[1] - qs[0])
    return np.clip(qs[k] + off * step, 0.0, qs[-1]).astype(np.float32)


def sweep_depth(ref: np.ndarray, other: np.ndarray, cams: PairCameras, cfg: SweepConfig):
    """Inverse depth ``(h, w)`` of the reference camera's pixels (grey working images)."""
    qs = hypotheses(cfg, ref.shape[1])
    nref, noth = normalise(ref, cfg.norm_radius), normalise(other, cfg.norm_radius)
    cost = cost_volume(nref, noth, cams, qs)
    fine = guided_filter(cost, ref, cfg.radius, cfg.eps)
    if cfg.coarse_weight > 0:
        fine += cfg.coarse_weight * box_wrap(cost, cfg.coarse_radius)
    cost = fine
    cost += (cfg.far_prior / cfg.q_max) * qs
    return winner(cost, qs), float(qs[1] - qs[0])


def carried(q: np.ndarray, cams: PairCameras) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera 0's points at inverse depth ``q`` ``(h, w)`` in camera 1: pixel maps and their
    inverse depth there, ``(map_x, map_y, q1)``."""
    h, w = q.shape
    _, d1 = lookups(cams, 0.0, rays_of(w, h), q)
    mx, my = to_pixels(d1, w, h)
    return mx, my, q / np.maximum(norm(d1), 1e-6)


def consistent(q: np.ndarray, q_other: np.ndarray, cams: PairCameras, tol: float) -> np.ndarray:
    """1 where the point of ``q`` (camera 0 of ``cams``) meets ``q_other`` (camera 1's depth)."""
    mx, my, pred = carried(q, cams)
    seen = classical.seam_remap(q_other, mx, my, equirect=True)
    return (np.abs(seen - pred) <= tol).astype(np.float32)


def fill_background(q: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``q`` with each invalid pixel set to the smaller (farther) of the nearest valid values left
    and right of it in its row, the row wrapping; rows with nothing valid keep ``q``."""
    h, w = q.shape
    tiled_q, tiled_v = np.tile(q, (1, 3)), np.tile(valid > 0, (1, 3))
    idx = np.where(tiled_v, np.arange(3 * w)[None], -1)
    left = np.maximum.accumulate(idx, axis=1)
    ridx = np.where(tiled_v, np.arange(3 * w)[None], 3 * w)
    right = np.minimum.accumulate(ridx[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    lq = np.where(left >= 0, tiled_q[rows, np.maximum(left, 0)], np.inf)
    rq = np.where(right < 3 * w, tiled_q[rows, np.minimum(right, 3 * w - 1)], np.inf)
    fill = np.minimum(lq, rq)[:, w : 2 * w]
    out = np.where(valid > 0, q, fill)
    return np.where(np.isfinite(out), out, q).astype(np.float32)


def pair_depth(
    img0: np.ndarray, img1: np.ndarray, cams: PairCameras, cfg: SweepConfig = SweepConfig()
) -> PairDepth:
    """Both inputs' depth at the working scale (``(H, W, 3)`` panoramas in [0, 1], same size)."""
    width = min(cfg.work_width, img0.shape[1])
    g0, g1 = working_gray(img0, width), working_gray(img1, width)
    q0, step = sweep_depth(g0, g1, cams, cfg)
    q1, _ = sweep_depth(g1, g0, cams.swapped(), cfg)
    tol0 = 1.5 * step + cfg.consistency * q0
    conf0 = consistent(q0, q1, cams, tol0)
    conf1 = consistent(q1, q0, cams.swapped(), 1.5 * step + cfg.consistency * q1)
    q0f, q1f = fill_background(q0, conf0), fill_background(q1, conf1)
    return PairDepth(cams, q0f, q1f, conf0, conf1, step)
