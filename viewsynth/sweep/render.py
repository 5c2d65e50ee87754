"""The view at time t from the pair's two depths: reprojection, z-test visibility, blend.

Per t, at the working scale: each input's pixels, at their own inverse depth, are carried into the
camera at t and splatted (each to the 2 x 2 pixels around where it lands, the nearest point
winning); the t-view's depth is the nearer of the two splats, holes (seen by neither) take the
farther row neighbour. Each input then *sees* a t-pixel when the point, carried into it, meets that
input's own depth there (a z-test by lookup). At full resolution, each ray of the t-view at its
inverse depth looks both panoramas up (longitude wrapping) and they are blended with weights
``(1 - t) vis0`` and ``t vis1``: where one input cannot see the point, the other one's sample is
used. Everything is row-chunked at full size, so a 5.7K panorama needs a few hundred MB.
"""

from __future__ import annotations

import numpy as np

from viewsynth import classical, geometry
from viewsynth.sweep.cameras import lookups, norm, rays_of, rotate, to_pixels
from viewsynth.sweep.depth import PairDepth, fill_background

#: Keeps both blend weights positive where neither input sees a pixel.
EPS = 1e-3
#: Full-size rows computed at once.
ROWS = 256
#: Each input's depth is splatted from this many times the working scale (per side).
SPLAT = 2


def _splat(q: np.ndarray, dirs: np.ndarray, zbuf: np.ndarray) -> None:
    """Splat inverse depths ``q`` ``(n,)`` at directions ``dirs`` ``(n, 3)`` into ``zbuf`` ``(h, w)``
    (the largest q, the nearest point, wins): the nearest pixel, and towards the poles, where a
    row's pixels narrow as ``cos(lat)``, as many columns either side as keep the footprint one
    pixel wide on the sphere (so the poles get no holes and no streaks)."""
    h, w = zbuf.shape
    mx, my = to_pixels(dirs, w, h)
    xi = np.rint(mx).astype(np.int64)
    yi = np.clip(np.rint(my).astype(np.int64), 0, h - 1)
    flat = zbuf.reshape(-1)
    np.maximum.at(flat, yi * w + np.mod(xi, w), q)
    _, lat = geometry.pixel_to_lonlat(0.0, np.arange(h, dtype=np.float64), w, h)
    reach = np.minimum(0.5 / np.maximum(np.cos(lat), 1e-6), w / 2.0)[yi]
    for j in range(1, int(reach.max()) + 1):
        far = reach >= j
        if not far.any():
            break
        xs, ys, qs = xi[far], yi[far], q[far]
        np.maximum.at(flat, ys * w + np.mod(xs + j, w), qs)
        np.maximum.at(flat, ys * w + np.mod(xs - j, w), qs)


def _soft_match(seen: np.ndarray, pred: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """1 where ``|seen - pred| <= tol``, falling linearly to 0 at twice ``tol``."""
    return np.clip(2.0 - np.abs(seen - pred) / tol, 0.0, 1.0).astype(np.float32)


def view_depth(pd: PairDepth, tau: float, rel_tol: float = 0.08):
    """The camera at ``tau``: inverse depth ``(h, w)`` at the working scale and each input's
    visibility ``vis0``, ``vis1`` ``(h, w)`` in [0, 1]."""
    cams = pd.cams
    h, w = pd.q0.shape
    rot_t, centre = cams.at(tau)
    # Sources at SPLAT x the working scale: a point spreading by up to that factor leaves no hole.
    fw, fh = SPLAT * w, SPLAT * h
    rays = rays_of(fw, fh).reshape(-1, 3)
    zbuf = np.full((h, w), -1.0, np.float32)
    q0 = _upsample_rows(pd.q0, fw, fh, slice(0, fh)).reshape(-1)
    q1 = _upsample_rows(pd.q1, fw, fh, slice(0, fh)).reshape(-1)
    v0 = rays - q0[:, None] * centre.astype(np.float32)
    _splat(q0 / norm(v0), rotate(v0, rot_t), zbuf)
    # Camera 1's point, in camera 0's axes less c_tau: R^T (d1 - (1 - tau) q1 t), scaled by q1.
    v1 = rotate(
        rays - (1.0 - tau) * q1[:, None] * cams.translation.astype(np.float32), cams.rotation.T
    )
    _splat(q1 / norm(v1), rotate(v1, rot_t), zbuf)
    qt = fill_background(zbuf, zbuf >= 0)
    qt = np.maximum(qt, 0.0)
    dir0, dir1 = lookups(cams, tau, rays_of(w, h, rot_t), qt)
    vis = []
    for qk, dk in ((pd.q0, dir0), (pd.q1, dir1)):
        mx, my = to_pixels(dk, w, h)
        seen = classical.seam_remap(qk, mx, my, equirect=True)
        pred = qt / np.maximum(norm(dk), 1e-6)
        vis.append(_soft_match(seen, pred, 1.5 * pd.step + rel_tol * pred))
    return qt.astype(np.float32), vis[0], vis[1]


def _upsample_rows(small: np.ndarray, width: int, height: int, rows: slice) -> np.ndarray:
    """Rows ``rows`` of ``small`` ``(h, w)`` resampled bilinearly to ``width x height``, longitude
    wrapping (so the seam columns are interpolated like any other)."""
    h, w = small.shape
    ys = np.arange(height, dtype=np.float32)[rows]
    xs = np.arange(width, dtype=np.float32)
    mx = np.broadcast_to((xs + 0.5) * (w / width) - 0.5, (len(ys), width))
    my = np.broadcast_to(((ys + 0.5) * (h / height) - 0.5)[:, None], (len(ys), width))
    return classical.seam_remap(small, mx.astype(np.float32), my.astype(np.float32), equirect=True)


def render(img0: np.ndarray, img1: np.ndarray, pd: PairDepth, tau: float) -> np.ndarray:
    """The panorama ``(H, W, 3)`` float32 at ``tau`` of the pair ``img0``, ``img1`` (full size)."""
    height, width = img0.shape[:2]
    qt, vis0, vis1 = view_depth(pd, tau)
    w0, w1 = (1.0 - tau) * vis0 + EPS, tau * vis1 + EPS
    weight0 = (w0 / (w0 + w1)).astype(np.float32)
    rot_t, _ = pd.cams.at(tau)
    out = np.empty((height, width, 3), np.float32)
    for start in range(0, height, ROWS):
        rows = slice(start, min(start + ROWS, height))
        q = _upsample_rows(qt, width, height, rows)
        dir0, dir1 = lookups(pd.cams, tau, rays_of(width, height, rot_t, rows), q)
        m0x, m0y = to_pixels(dir0, width, height)
        m1x, m1y = to_pixels(dir1, width, height)
        warped0 = classical.seam_remap(img0, m0x, m0y, equirect=True)
        warped1 = classical.seam_remap(img1, m1x, m1y, equirect=True)
        out[rows] = classical.blend(warped0, warped1, _upsample_rows(weight0, width, height, rows))
    return out


def render_times(img0, img1, pd: PairDepth, times) -> np.ndarray:
    """``(T, H, W, 3)``: :func:`render` at each t of ``times``."""
    return np.stack([render(img0, img1, pd, float(t)) for t in times])
