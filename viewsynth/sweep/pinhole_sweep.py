"""The plane sweep of ordinary photos, one direction at a time: each hypothesis's cost,
aggregated, and per pixel the winner with its neighbours' costs (for the parabola).

Camera ``ref``'s rays are swept into the other camera at inverse depths from 0 to ``q_max``
spaced so that no pixel moves by more than ``step_px`` between neighbours (:func:`hypotheses`);
per hypothesis one ``cv2.remap`` of the other's locally normalised grey, the truncated absolute
difference (as the panorama sweep's :mod:`.cost`; a hypothesis that leaves the other image costs
:data:`OUT_COST`), aggregated by a guided filter and a wide box that do not wrap (an ordinary
photo's columns do not), plus a small far prior; the winner is refined by a parabola
(:func:`refine`). A forward move sweeps some 3x as many hypotheses one way as the other, so the
hypotheses of both directions are cut into ranges spread over the shared pool and merged
(:func:`merged`): the depths do not depend on the cut, to the bit. Views and moves are
:mod:`.pinhole`'s (``View``, ``Move``: arguments here, not imported).
"""

from __future__ import annotations

import cv2
import numpy as np

from viewsynth.sweep.aggregate import GuidedSlices
from viewsynth.sweep.depth import SweepConfig
from viewsynth.threads import in_background, workers

#: Truncation of the per-pixel cost (normalised grey units), as the panorama sweep's.
TRUNC = 2.0
#: Cost of a hypothesis whose point leaves the other image or falls behind it: about what a
#: random match costs (E|a - b| of two unit normals is 1.13), so neither wins by leaving.
OUT_COST = 1.0


def box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window, reflecting at every border (no wrap: a photo's sides are
    not neighbours)."""
    if radius <= 0:
        return x
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REFLECT)


def normalise(gray: np.ndarray, radius: int, floor: float = 0.01) -> np.ndarray:
    """``(g - local mean) / local std`` (:func:`viewsynth.sweep.cost.normalise`, not wrapping)."""
    mean = box(gray, radius)
    var = np.maximum(box(gray * gray, radius) - mean * mean, 0.0)
    return ((gray - mean) / np.sqrt(var + floor * floor)).astype(np.float32)


def hypotheses(view, rays: np.ndarray, move, cfg: SweepConfig) -> np.ndarray:
    """The inverse depths swept, ``(N,)`` increasing from 0 to ``q_max``: spaced so that the pixel
    that moves most between two neighbours (among those on the other image at both) moves
    ``step_px`` working pixels; ``N`` between 8 and ``max_hypotheses``."""
    fine = np.linspace(0.0, cfg.q_max, 257, dtype=np.float32)
    sample = rays[::4, ::4].reshape(-1, 3)
    # every fine q at once: (257, pixels) planes, each element as move.apply and view.project give it
    x, y, front = view.project(
        move.apply(sample, 0.0)[None] + fine[:, None, None] * move.b.astype(np.float32)
    )
    on = front & view.inside(x, y)
    on = on[1:] & on[:-1]
    moved = np.max(np.hypot(x[1:] - x[:-1], y[1:] - y[:-1]), axis=1, where=on, initial=-np.inf)
    rate = np.where(on.any(axis=1), moved, 0.0).astype(np.float64)
    arc = np.concatenate([[0.0], np.cumsum(rate)])
    n = int(np.clip(np.ceil(arc[-1] / cfg.step_px) + 1, 8, cfg.max_hypotheses))
    if arc[-1] <= 0:
        return np.linspace(0.0, cfg.q_max, n, dtype=np.float32)
    # the arc is flat where no pixel stays on the other image: spread those q evenly too
    arc = arc + np.linspace(0.0, 1e-3 * arc[-1], len(arc))
    return np.interp(np.linspace(0.0, arc[-1], n), arc, fine).astype(np.float32)


class Direction:
    """One direction of the sweep, prepared once: the reference's pixels (grey ``ref``, working
    scale) swept into the other camera (grey ``other``; ``move``: the reference camera to it) at
    the inverse depths ``qs`` (:func:`hypotheses`); :meth:`winners` runs a range of them."""

    def __init__(self, ref: np.ndarray, other: np.ndarray, view, move, cfg: SweepConfig):
        rays = view.rays()
        self.view, self.cfg = view, cfg
        self.qs = hypotheses(view, rays, move, cfg)
        self.nref, self.noth = normalise(ref, cfg.norm_radius), normalise(other, cfg.norm_radius)
        base = move.apply(rays, 0.0)
        self.base = [np.ascontiguousarray(base[..., k]) for k in range(3)]
        self.b = move.b.astype(np.float32)
        self.guided = GuidedSlices(ref, cfg.radius, cfg.eps, box=box)

    def cost(self, q: float) -> np.ndarray:
        """The aggregated cost ``(h, w)`` of inverse depth ``q``."""
        cfg, view, qf = self.cfg, self.view, np.float32(q)
        mx, my, front = view.project_planes(
            *(p + qf * b for p, b in zip(self.base, self.b, strict=True))
        )
        cost = cv2.remap(self.noth, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cost -= self.nref  # |seen - nref|, truncated
        np.minimum(np.abs(cost, out=cost), TRUNC, out=cost)
        np.copyto(cost, np.float32(OUT_COST), where=~(front & view.inside(mx, my)))
        agg = self.guided(cost)
        if cfg.coarse_weight > 0:
            agg += cfg.coarse_weight * box(cost, cfg.coarse_radius)
        agg += (cfg.far_prior / cfg.q_max) * float(q)
        return agg

    def winners(self, ks: range):
        """Per pixel over hypotheses ``ks``: the first of least cost ``k``, that cost, its
        neighbours' costs (inf at either end of ``ks``), and the first and last costs of ``ks``."""
        shape = self.nref.shape
        best = np.full(shape, np.inf, np.float32)
        kbest = np.zeros(shape, np.int64)
        before, after = best.copy(), best.copy()
        won, win = np.zeros(shape, bool), np.empty(shape, bool)  # won: where k - 1 won
        first = prev = None
        for k in ks:
            agg = self.cost(self.qs[k])
            np.copyto(after, agg, where=won)
            np.less(agg, best, out=win)
            np.copyto(best, agg, where=win)
            if prev is not None:
                np.copyto(before, prev, where=win)
            np.copyto(after, np.float32(np.inf), where=win)
            np.copyto(kbest, k, where=win)
            won, win = win, won
            first, prev = agg if first is None else first, agg
        return kbest, best, before, after, first, prev


def merged(parts, starts):
    """:meth:`Direction.winners` of consecutive ranges (beginning at ``starts``) as one run over
    them all: what a single pass finds, to the bit (ties go to the earlier hypothesis)."""
    kbest, best, before, after, _, last = parts[0]
    for (kb, bs, bf, af, first, end), start in zip(parts[1:], starts[1:], strict=True):
        np.copyto(after, first, where=kbest == start - 1)  # winners so far at the range's edge
        np.copyto(bf, last, where=kb == start)  # this range's winners at its first hypothesis
        win = bs < best
        for into, part in ((best, bs), (kbest, kb), (before, bf), (after, af)):
            np.copyto(into, part, where=win)
        last = end
    return kbest, before, best, after


def sweep_depths(sweeps: list[tuple], view, cfg: SweepConfig):
    """Per ``(ref, other, move)`` (greys at the working scale; ``move``: the reference camera to
    the other), the reference's inverse depth ``(h, w)`` and the hypotheses swept ``(N,)``. Every
    hypothesis is one cost slice, aggregated and compared per pixel; the slices of all directions
    are cut into consecutive ranges spread over the shared pool (a forward move sweeps 3x as many
    one way as the other) and their winners merged, so the depths do not depend on the cut."""
    dirs = [Direction(ref, other, view, move, cfg) for ref, other, move in sweeps]
    total = sum(len(d.qs) for d in dirs)
    size = max(8, -(-total // (2 * workers())))
    jobs = []
    for d in dirs:
        n = len(d.qs)
        parts = -(-n // size)
        starts = [n * i // parts for i in range(parts)]
        ranges = [range(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]
        jobs.append((starts, [in_background(d.winners, r) for r in ranges]))
    out = []
    for d, (starts, parts) in zip(dirs, jobs, strict=True):
        kbest, before, best, after = merged([p.result() for p in parts], starts)
        out.append((refine(kbest, before, best, after, d.qs), d.qs))
    return out


def refine(k, c0, c1, c2, qs) -> np.ndarray:
    """The winner ``qs[k]`` moved by the parabola through its cost and its neighbours' (at most
    half a step either way, in the hypotheses' own spacing; none at either end)."""
    n = len(qs)
    inner = (k > 0) & (k < n - 1)
    with np.errstate(invalid="ignore"):
        curv = np.where(inner, c0 - 2.0 * c1 + c2, 0.0)
        off = np.where(curv > 1e-6, 0.5 * (c0 - c2) / np.maximum(curv, 1e-6), 0.0)
    pos = np.clip(k + np.clip(np.nan_to_num(off), -0.5, 0.5), 0, n - 1)
    return np.interp(pos, np.arange(n), qs).astype(np.float32)
