"""The view at t of the sweep for ordinary photos (:mod:`.pinhole`'s depths), per t.

The view at t (:func:`view_at`, working scale): both depths are forward-splatted into the t
camera (nearest point wins), holes filled by the farther neighbour; an input *sees* a t pixel when
the point carried back meets its own depth there. :func:`geometry_at` turns that into 2D motion at
the frames' size (``flow_t0`` maps a pixel of the t view to its match in frame 0, in pixels), with
two per-pixel maps:

- ``trust`` ``(H, W)`` in [0, 1], where 2D flow must serve instead (:func:`with_flow` blends a
  2D candidate in by ``1 - trust``): the product of (a) the epipole's: 0 where the parallax per
  unit inverse depth (``|dp0/dq| + |dp1/dq|`` of the t ray, working pixels) is below
  ``EPIPOLE_PX / 2``, 1 above ``1.5 EPIPOLE_PX``, a smoothstep between (near the epipole depth is
  ill-conditioned), and (b) ``min(1, 2 verified)`` (:func:`view_at`): 0 where no input sees the
  t pixel's point with a depth the other camera confirmed (mismatches, occlusions, points beyond
  the other frame: the fills of :func:`viewsynth.sweep.pinhole.fill` are guesses). (b) is worth +0.59 dB of ``--method
  sweep`` on 16 udacity triplets (22.64 to 23.23; DIS 23.48).
- ``unseen`` ``(H, W)`` bool: the t ray falls outside both images (the corners when the camera
  rolls; rare otherwise, as the two views usually cover the one between them). Those pixels are filled from the input whose image the ray misses by less, its
  lookup mirrored at that image's border (texture, not a smeared edge row).

Pure NumPy/OpenCV; images ``(H, W, 3)`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth.sweep.pinhole import Move, PinholeDepth, View, fill_farther, lookup, moves

#: Parallax per unit inverse depth (working pixels) at which the sweep's depth is trusted half.
EPIPOLE_PX = 16.0
#: Keeps both blend weights positive where neither input sees a pixel (as :mod:`.render`).
EPS = 1e-3
#: Relative inverse-depth tolerance of the z-test at t.
REL_TOL = 0.08


def splat(view: View, rays, q: np.ndarray, move: Move, zbuf: np.ndarray) -> None:
    """Each pixel's point (inverse depth ``q`` ``(h, w)``) into the other camera's ``zbuf``
    ``(h, w)`` (its inverse depths there; -1 where empty), the nearest point winning, on the four
    pixels around where it lands (so a view zoomed in by up to 2x has no holes)."""
    n = move.apply(rays, q)
    x, y, front = view.project(n)
    qn = (q / np.where(front, n[..., 2], 1.0)).reshape(-1)
    x0, y0 = np.floor(x).reshape(-1), np.floor(y).reshape(-1)
    keep = front.reshape(-1)
    flat = zbuf.reshape(-1)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            on = keep & (xi >= 0) & (xi < view.width) & (yi >= 0) & (yi < view.height)
            idx = yi[on].astype(np.int64) * view.width + xi[on].astype(np.int64)
            np.maximum.at(flat, idx, qn[on])


def _soft_match(seen: np.ndarray, pred: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """1 where ``|seen - pred| <= tol``, falling linearly to 0 at twice ``tol``."""
    return np.clip(2.0 - np.abs(seen - pred) / tol, 0.0, 1.0).astype(np.float32)


def view_at(pd: PinholeDepth, tau: float, return_verified: bool = False):
    """The camera at ``tau``, working scale: inverse depth ``qt`` ``(h, w)`` and each input's
    visibility ``vis0``, ``vis1`` ``(h, w)`` in [0, 1] (0 where the ray leaves that image); with
    ``return_verified``, also ``verified`` ``(h, w)``: the larger over the inputs of visibility
    times the consistency (``conf``) of the input's depth where the ray meets it (an input sees
    the point, and the other camera confirmed its depth there)."""
    view, rays = pd.view, pd.view.rays()
    mv = moves(pd.cams, tau)
    zbuf = np.full((view.height, view.width), -1.0, np.float32)
    splat(view, rays, pd.q0, mv["0t"], zbuf)
    splat(view, rays, pd.q1, mv["1t"], zbuf)
    qt = np.maximum(fill_farther(zbuf, zbuf >= 0), 0.0)
    step = float(np.median(np.concatenate([np.diff(pd.qs0), np.diff(pd.qs1)])))
    vis, verified = [], []
    for qk, ck, move in ((pd.q0, pd.conf0, mv["t0"]), (pd.q1, pd.conf1, mv["t1"])):
        n = move.apply(rays, qt)
        x, y, front = view.project(n)
        pred = qt / np.where(front, n[..., 2], 1.0)
        match = _soft_match(lookup(qk, x, y), pred, 1.5 * step + REL_TOL * pred)
        vis.append(np.where(front & view.inside(x, y), match, 0.0).astype(np.float32))
        verified.append(vis[-1] * lookup(ck, x, y))
    if return_verified:
        return qt, vis[0], vis[1], np.maximum(verified[0], verified[1])
    return qt, vis[0], vis[1]


def parallax(pd: PinholeDepth, tau: float) -> np.ndarray:
    """Per pixel of the camera at ``tau`` (working scale), how far its two lookups move per unit
    inverse depth: ``|dp0/dq| + |dp1/dq|`` at ``q = 0``, working pixels ``(h, w)``."""
    view, rays = pd.view, pd.view.rays()
    total = np.zeros((view.height, view.width), np.float32)
    for key in ("t0", "t1"):
        move = moves(pd.cams, tau)[key]
        n = move.apply(rays, 0.0)
        b = move.b.astype(np.float32)
        nz = np.where(np.abs(n[..., 2]) > 1e-6, n[..., 2], 1e-6)
        dx = view.fx * (b[0] * nz - n[..., 0] * b[2]) / (nz * nz)
        dy = view.fy * (b[1] * nz - n[..., 1] * b[2]) / (nz * nz)
        total += np.where(n[..., 2] > 1e-6, np.hypot(dx, dy), np.inf)
    return total


def trust_of(par: np.ndarray) -> np.ndarray:
    """0 below ``EPIPOLE_PX / 2`` of parallax per unit inverse depth, 1 above ``1.5 EPIPOLE_PX``,
    a smoothstep between."""
    s = np.clip((par - 0.5 * EPIPOLE_PX) / EPIPOLE_PX, 0.0, 1.0)
    return (s * s * (3.0 - 2.0 * s)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GeometryAt:
    """The geometry at one t at the frames' size ``(H, W)``: ``flow_t0``, ``flow_t1``
    ``(H, W, 2)``, input 0's blend weight ``weight0`` ``(H, W)``, ``trust`` ``(H, W)`` in [0, 1]
    (ill-conditioned depth near the epipole: 0) and ``unseen`` ``(H, W)`` bool (outside both
    inputs' images)."""

    flow_t0: np.ndarray
    flow_t1: np.ndarray
    weight0: np.ndarray
    trust: np.ndarray
    unseen: np.ndarray

    def candidate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.flow_t0, self.flow_t1, self.weight0


def _mirror(v: np.ndarray, size: int) -> np.ndarray:
    """Coordinates outside ``[0, size - 1]`` reflected back in (about the border pixel)."""
    hi = size - 1.0
    v = np.where(v < 0, -v, v)
    v = np.where(v > hi, 2.0 * hi - v, v)
    return np.clip(v, 0.0, hi).astype(np.float32)


def geometry_at(pd: PinholeDepth, tau: float, width: int, height: int) -> GeometryAt:
    """The pair's geometry at ``tau`` as 2D motion at ``width x height`` (the frames' size, or any
    size of the same field of view): each ray at its inverse depth (the working ``qt``, resized)
    looks both inputs up; visibility and the trust near the epipole come from the working scale."""
    qt, vis0, vis1, verified = view_at(pd, tau, True)
    trust = trust_of(parallax(pd, tau)) * np.clip(2.0 * verified, 0.0, 1.0)
    size = (width, height)

    def up(x):
        return cv2.resize(x, size, interpolation=cv2.INTER_LINEAR)

    full = pd.view.scaled(width, height)
    rays = full.rays()
    q = up(qt)
    mv = moves(pd.cams, tau)
    gx = np.arange(width, dtype=np.float32)[None, :]
    gy = np.arange(height, dtype=np.float32)[:, None]
    maps, outside = [], []
    for key in ("t0", "t1"):
        x, y, front = full.project(mv[key].apply(rays, q))
        on = front & full.inside(x, y)
        # how far the ray misses this image (pixels; behind the camera: very far)
        miss = np.maximum(np.maximum(-0.5 - x, x - (width - 0.5)), 0.0)
        miss = miss + np.maximum(np.maximum(-0.5 - y, y - (height - 0.5)), 0.0)
        outside.append(np.where(front, np.where(on, 0.0, miss), np.inf))
        maps.append((_mirror(x, width), _mirror(y, height)))
    in0, in1 = outside[0] == 0, outside[1] == 0
    w0 = ((1.0 - tau) * up(vis0) + EPS) * in0
    w1 = (tau * up(vis1) + EPS) * in1
    unseen = ~(in0 | in1)
    nearer0 = outside[0] <= outside[1]
    weight0 = np.where(unseen, nearer0, w0 / np.maximum(w0 + w1, 1e-12)).astype(np.float32)
    flow_t0 = np.dstack([maps[0][0] - gx, maps[0][1] - gy])
    flow_t1 = np.dstack([maps[1][0] - gx, maps[1][1] - gy])
    return GeometryAt(flow_t0, flow_t1, weight0, up(trust), unseen)


def with_flow(geo: GeometryAt, flow_candidate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate ``(flow_t0, flow_t1, weight0)`` of ``geo`` with a 2D candidate (the same
    three arrays, same size) blended in by ``1 - trust``: near the epipole the 2D motion serves;
    where the view is unseen by both inputs the geometry's fill stays."""
    a = np.where(geo.unseen, 1.0, geo.trust).astype(np.float32)
    f0, f1, w = flow_candidate
    b = 1.0 - a
    return (
        (geo.flow_t0 * a[..., None] + f0 * b[..., None]).astype(np.float32),
        (geo.flow_t1 * a[..., None] + f1 * b[..., None]).astype(np.float32),
        (geo.weight0 * a + w * b).astype(np.float32),
    )
