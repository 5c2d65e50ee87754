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

from viewsynth.sweep.aggregate import GuidedSlices
from viewsynth.sweep.cameras import PairCameras
from viewsynth.sweep.cost import box_wrap, normalise, working_gray
from viewsynth.sweep.rectify import (
    column_lookup,
    epipolar_rows,
    inverse_depth_seen,
    rectify,
    rectifying_rotation,
    unrectify,
)
from viewsynth.threads import in_background

#: Truncation of the per-pixel cost (normalised grey units).
TRUNC = 2.0


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The sweep's knobs (defaults measured on street renders, docs/RESEARCH.md)."""

    work_width: int = 384  # working scale: panoramas analysed at this width (capped at the input)
    q_max: float = 2.0  # nearest point: 1 / q_max baselines
    step_px: float = 3.0  # largest shift of a point between neighbouring hypotheses, working px
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
    rect: np.ndarray  # Q (3, 3): camera 0's axes -> the rectified axes (camera 1 at e_y)
    q0r: np.ndarray  # q0 and q1 in the rectified axes (h, w)
    q1r: np.ndarray


def hypotheses(cfg: SweepConfig, width: int) -> np.ndarray:
    """The inverse depths swept, ``(N,)`` from 0 to ``q_max``: a step of ``dq`` turns a point by at
    most ``dq`` radians, one working pixel is ``2 pi / width``."""
    n = int(np.ceil(cfg.q_max / (cfg.step_px * 2.0 * np.pi / width))) + 1
    return np.linspace(0.0, cfg.q_max, int(np.clip(n, 8, cfg.max_hypotheses)), dtype=np.float32)


def sweep_depth(ref: np.ndarray, other: np.ndarray, sign: float, cfg: SweepConfig):
    """Inverse depth ``(h, w)`` of the reference's pixels, both grey images rectified, the other
    camera at ``sign * e_y``. One hypothesis at a time (cost, guided filter, wide box, far prior),
    keeping per pixel the least cost so far and its two neighbours for the parabola."""
    qs = hypotheses(cfg, ref.shape[1])
    nref, noth = normalise(ref, cfg.norm_radius), normalise(other, cfg.norm_radius)
    rows = epipolar_rows(ref.shape[0], np.asarray(qs, np.float64)[:, None, None], sign)[..., 0]
    y0 = np.floor(rows).astype(np.int64)
    y1 = np.minimum(y0 + 1, ref.shape[0] - 1)
    frac = (rows - y0).astype(np.float32)[..., None]
    guided = GuidedSlices(ref, cfg.radius, cfg.eps)
    best = np.full(ref.shape, np.inf, np.float32)
    kbest = np.zeros(ref.shape, np.int64)
    before, after = best.copy(), best.copy()
    prev = best
    # buffers reused by every hypothesis; ``won`` is where hypothesis k - 1 won (kbest == k - 1)
    a, cost = np.empty_like(nref), np.empty_like(nref)
    won, win = np.zeros(ref.shape, bool), np.empty(ref.shape, bool)
    for k, q in enumerate(qs):
        np.take(noth, y0[k], axis=0, out=a)  # the other's rows where hypothesis k puts each
        np.take(noth, y1[k], axis=0, out=cost)  # row's point, and the rows below them
        cost -= a  # |a + frac (b - a) - nref|, truncated
        cost *= frac[k]
        cost += a
        cost -= nref
        np.minimum(np.abs(cost, out=cost), TRUNC, out=cost)
        agg = guided(cost)
        if cfg.coarse_weight > 0:
            agg += cfg.coarse_weight * box_wrap(cost, cfg.coarse_radius)
        agg += (cfg.far_prior / cfg.q_max) * float(q)
        np.copyto(after, agg, where=won)
        np.less(agg, best, out=win)
        np.copyto(best, agg, where=win)
        np.copyto(before, prev, where=win)
        np.copyto(after, np.float32(np.inf), where=win)
        np.copyto(kbest, k, where=win)
        won, win = win, won
        prev = agg
    return _refine(kbest, before, best, after, qs), float(qs[1] - qs[0])


def _refine(k, c0, c1, c2, qs) -> np.ndarray:
    """The winner ``qs[k]`` moved by the parabola through its cost ``c1`` and its neighbours' (at
    most half a step either way; none at either end of the range)."""
    n = len(qs)
    inner = (k > 0) & (k < n - 1)
    curv = np.where(inner, c0 - 2.0 * c1 + c2, 0.0)
    off = np.where(curv > 1e-6, 0.5 * (c0 - c2) / np.maximum(curv, 1e-6), 0.0)
    step = float(qs[1] - qs[0])
    return np.clip(qs[k] + np.clip(off, -0.5, 0.5) * step, 0.0, qs[-1]).astype(np.float32)


def consistent(q: np.ndarray, q_other: np.ndarray, sign: float, tol: np.ndarray) -> np.ndarray:
    """1 where the point of ``q`` meets ``q_other`` (the other camera's depth, at ``sign * e_y``),
    both rectified."""
    seen = column_lookup(q_other, epipolar_rows(q.shape[0], q, sign))
    return (np.abs(seen - inverse_depth_seen(q, sign)) <= tol).astype(np.float32)


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
    """Both inputs' depth at the working scale (``(H, W, 3)`` panoramas in [0, 1], same size):
    swept in rectified axes, checked against each other, filled, turned back."""
    width = min(cfg.work_width, img0.shape[1])
    g0, g1 = working_gray(img0, width), working_gray(img1, width)
    rect = rectifying_rotation(cams)
    to_rect1 = rect @ cams.rotation.T  # camera 1's axes -> rectified
    r0, r1 = rectify(g0, rect.T), rectify(g1, to_rect1.T)
    other = in_background(sweep_depth, r1, r0, -1.0, cfg)  # the two directions on two cores
    q0, step = sweep_depth(r0, r1, 1.0, cfg)
    q1, _ = other.result()

    def checked(q, q_other, sign, to_rect):  # consistency, filled, turned back
        conf = consistent(q, q_other, sign, 1.5 * step + cfg.consistency * q)
        q = fill_background(q, conf)
        return q, unrectify(q, to_rect), unrectify(conf, to_rect)

    other = in_background(checked, q1, q0, -1.0, to_rect1)
    q0, *back0 = checked(q0, q1, 1.0, rect)
    q1, *back1 = other.result()
    return PairDepth(cams, back0[0], back1[0], back0[1], back1[1], step, rect, q0, q1)
