"""The view at time t from the pair's two depths: reprojection, z-test visibility, blend.

Per t, at the working scale and in the pair's rectified axes (:mod:`.rectify`: camera 0 at the
origin, camera 1 at ``e_y``, so the camera at t sits at ``t e_y`` on the same line): a point moves
only along its own column between any two of the three cameras, so each input's depth map is
carried into the t-view column by column (:func:`splat_columns`: every pair of neighbouring pixels
of a column spans the rows between them, the nearest point winning; a pair that straddles a depth
edge spans nothing, so the gap behind a near object stays open) and the t-view's depth is the
nearer of the two; holes (seen by neither) take the farther of their column neighbours. Each input
then *sees* a t-pixel when the point, carried back into it, meets that input's own depth there (a
z-test by a lookup in its column). The t-view's depth and blend weight ``(1 - t) vis0`` against
``t vis1`` are turned into the camera at t (``slerp(I, R, t)``) by one remap; at full resolution
each ray, at its inverse depth, looks both panoramas up (longitude wrapping) and blends them. The
rectified axes have no pole of their own to streak: their poles are the epipoles, where nothing
moves. Full size is row-chunked, so a 5.7K panorama needs a few hundred MB.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from viewsynth import geometry
from viewsynth.sweep.cameras import _unit_rays, short_way
from viewsynth.sweep.depth import PairDepth
from viewsynth.sweep.rectify import _sin_cos_lat, column_lookup, rectify
from viewsynth.threads import in_background
from viewsynth.warp import seam_remap

#: Keeps both blend weights positive where neither input sees a pixel.
EPS = 1e-3
#: Full-size rows computed at once.
ROWS = 256
#: A column segment spans at most this many rows of the t-view (longer ones are depth edges).
SPAN = 4
#: Neighbouring pixels whose inverse depths differ by more than this fraction straddle an edge.
EDGE = 0.15


def carry(q: np.ndarray, shift: float):
    """Rows ``(h, w)`` (continuous) and inverse depths of the points of a rectified map ``q``
    ``(h, w)`` seen from a camera moved by ``shift * e_y``: the direction ``r - shift q e_y``."""
    h = q.shape[0]
    s, c = (a.astype(np.float32) for a in _sin_cos_lat(h))
    y = s - shift * q
    x = np.broadcast_to(c, q.shape)
    lat = np.arctan2(y, x)
    rows = np.clip((0.5 - lat / np.pi) * h - 0.5, 0.0, h - 1.0)
    return rows.astype(np.float32), (q / np.sqrt(x * x + y * y)).astype(np.float32)


def splat_columns(rows: np.ndarray, q: np.ndarray, zbuf: np.ndarray) -> None:
    """Each column's points (landing rows ``rows``, inverse depths ``q``, ``(h, w)``) into ``zbuf``
    ``(h, w)``, the largest q (nearest point) winning: a pixel's own nearest row, and the rows that
    the segment to its lower neighbour spans (linear in q; none across a depth edge)."""
    h, w = zbuf.shape
    flat = zbuf.reshape(-1)
    cols = np.arange(w)
    yi = np.rint(rows).astype(np.int64)
    np.maximum.at(flat, (yi * w + cols).reshape(-1), q.reshape(-1))
    a, b = rows[:-1], rows[1:]
    qa, qb = q[:-1], q[1:]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    joined = (np.abs(qa - qb) <= EDGE * np.maximum(qa, qb) + 1e-3) & (hi - lo <= SPAN)
    first = np.ceil(lo)
    span = np.where(joined, np.floor(hi) - first + 1, 0).astype(np.int64)
    for k in range(int(span.max(initial=0))):
        on = span > k
        r = first[on] + k
        f = (r - a[on]) / np.where(b[on] == a[on], 1.0, b[on] - a[on])
        val = qa[on] + np.clip(f, 0.0, 1.0) * (qb[on] - qa[on])
        np.maximum.at(flat, r.astype(np.int64) * w + np.broadcast_to(cols, on.shape)[on], val)


def fill_columns(q: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``q`` ``(h, w)`` with each invalid pixel set to the smaller (farther) of the nearest valid
    values above and below it in its column (the direction points move in); none: ``q``."""
    h = q.shape[0]
    idx = np.arange(h, dtype=np.int32)[:, None]
    up = np.maximum.accumulate(np.where(valid, idx, np.int32(-1)), axis=0)
    down = np.minimum.accumulate(np.where(valid, idx, np.int32(h))[::-1], axis=0)[::-1]
    cols = np.arange(q.shape[1], dtype=np.int32)
    uq = np.where(up >= 0, q[np.maximum(up, 0), cols], np.float32(np.inf))
    dq = np.where(down < h, q[np.minimum(down, h - 1), cols], np.float32(np.inf))
    fill = np.minimum(uq, dq)
    return np.where(valid, q, np.where(np.isfinite(fill), fill, q)).astype(np.float32)


def _soft_match(seen: np.ndarray, pred: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """1 where ``|seen - pred| <= tol``, falling linearly to 0 at twice ``tol``."""
    return np.clip(2.0 - np.abs(seen - pred) / tol, 0.0, 1.0).astype(np.float32)


def rectified_view(pd: PairDepth, tau: float, rel_tol: float = 0.08):
    """The camera at ``tau`` in rectified axes, at the working scale: inverse depth ``(h, w)`` and
    each input's visibility ``vis0``, ``vis1`` ``(h, w)`` in [0, 1]. Every column is made alone (a
    point moves only along its own column), so the two halves of the columns are made on two
    cores (:mod:`viewsynth.threads`), each pixel as the whole map would make it."""
    half = pd.q0r.shape[1] // 2
    q0, q1 = ((np.ascontiguousarray(q[:, :half]), np.ascontiguousarray(q[:, half:]))
              for q in (pd.q0r, pd.q1r))  # fmt: skip
    right = in_background(view_columns, q0[1], q1[1], tau, pd.step, rel_tol)
    left = view_columns(q0[0], q1[0], tau, pd.step, rel_tol)
    return tuple(np.concatenate(pair, axis=1) for pair in zip(left, right.result(), strict=True))


def view_columns(q0r: np.ndarray, q1r: np.ndarray, tau: float, step: float, rel_tol: float):
    """:func:`rectified_view` of the columns of the rectified depths ``q0r``, ``q1r`` ``(h, w)``
    given (any run of them); ``step``: the sweep's hypothesis step."""
    zbuf = np.full(q0r.shape, -1.0, np.float32)
    splat_columns(*carry(q0r, tau), zbuf)
    splat_columns(*carry(q1r, tau - 1.0), zbuf)
    qt = np.maximum(fill_columns(zbuf, zbuf >= 0), 0.0)
    vis = []
    for qk, shift in ((q0r, -tau), (q1r, 1.0 - tau)):
        rows, pred = carry(qt, shift)
        seen = column_lookup(qk, rows)
        vis.append(_soft_match(seen, pred, 1.5 * step + rel_tol * pred))
    return qt, vis[0], vis[1]


def view_depth(pd: PairDepth, tau: float, rel_tol: float = 0.08):
    """The camera at ``tau`` (its own axes): inverse depth ``(h, w)`` at the working scale and each
    input's visibility ``vis0``, ``vis1`` ``(h, w)`` in [0, 1]."""
    qt, vis0, vis1 = rectified_view(pd, tau, rel_tol)
    return _turn(pd, tau, np.dstack([qt, vis0, vis1]))


def _turn(pd: PairDepth, tau: float, maps: np.ndarray):
    """Rectified working-scale ``maps`` ``(h, w, C)`` resampled into the camera at ``tau``."""
    rot_t, _ = pd.cams.at(tau)
    out = rectify(maps, pd.rect @ rot_t.T)
    return tuple(np.ascontiguousarray(out[..., k]) for k in range(maps.shape[2]))


@functools.lru_cache(maxsize=2)
def _ray_planes(width: int, height: int) -> np.ndarray:
    """:func:`~viewsynth.sweep.cameras._unit_rays` as planes ``(3, H * W)`` (one matrix product
    turns them, with no split into channels)."""
    planes = np.ascontiguousarray(_unit_rays(width, height).reshape(-1, 3).T)
    planes.setflags(write=False)
    return planes


def _upsample_rows(small: np.ndarray, width: int, height: int, start: int, dst: np.ndarray):
    """Rows ``start ...`` of ``small`` ``(h + 2, w)`` (one replicated row above and below)
    resampled bilinearly to ``width x height`` into ``dst`` ``(n, width)``: longitude wraps (so
    the seam columns are interpolated like any other), rows clamp on the replicated ones."""
    sx, sy = small.shape[1] / width, (small.shape[0] - 2) / height
    m = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (start + 0.5) * sy + 0.5]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    cv2.warpAffine(small, m, dst.shape[::-1], dst=dst, flags=flags, borderMode=cv2.BORDER_WRAP)


@functools.lru_cache(maxsize=4)
def _affine(width: int, height: int) -> tuple[float, float, float, float]:
    """``(ax, bx, ay, by)``: pixel x = ``ax (lon + pi) + bx``, y = ``ay colatitude + by``, read off :func:`viewsynth.geometry.lonlat_to_pixel` (the one convention)."""
    x, y = geometry.lonlat_to_pixel(
        np.array([-np.pi / 2, 0.0]), np.array([0.0, np.pi / 4]), width, height
    )
    ax = (x[1] - x[0]) / (np.pi / 2)
    ay = (y[0] - y[1]) / (np.pi / 4)
    return float(ax), float(x[1] - ax * np.pi), float(ay), float(y[0] - ay * np.pi / 2)


def _maps(nx, y, nz, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel maps of directions given as planes ``(-x, y, -z)`` ``(n, W)`` (any length): x in
    [-0.5, W) (``BORDER_WRAP`` wraps it), y clamped to the rows (so only x wraps).
    ``cv2.phase`` (atan2, some 0.01 degrees) is an order of magnitude faster than NumPy here."""
    ax, bx, ay, by = _affine(width, height)
    lon = cv2.phase(nz, nx)  # atan2(-x, -z) = lon + pi, in [0, 2 pi)
    colat = cv2.phase(y, cv2.magnitude(nx, nz))  # pi/2 - lat, in [0, pi]
    my = cv2.addWeighted(colat, ay, colat, 0.0, by)
    return cv2.addWeighted(lon, ax, lon, 0.0, bx), np.clip(my, 0.0, height - 1.0, out=my)


def lookup_matrix(pd: PairDepth, tau: float) -> np.ndarray:
    """``M`` ``(6, 4)`` float32: a ray ``d`` of the camera at ``tau`` (its own axes) at inverse
    depth ``q`` is looked up along ``M @ (d, q)``, camera 0's direction then camera 1's, each as
    ``(-x, y, -z)`` (the planes :func:`_maps` reads)."""
    rot_t, centre = pd.cams.at(tau)
    flip = np.diag([-1.0, 1.0, -1.0])
    # camera 0 sees R_tau^T d + q c_tau, camera 1 R (R_tau^T d + q c_tau) + q t
    m0 = flip @ np.hstack([rot_t.T, centre[:, None]])
    m1 = flip @ np.hstack(
        [pd.cams.rotation @ rot_t.T, (pd.cams.rotation @ centre + pd.cams.translation)[:, None]]
    )
    return np.vstack([m0, m1]).astype(np.float32)


def _row_maps(
    pd: PairDepth, tau: float, width: int, height: int, rows=None, view=None, chunk: int = ROWS
):
    """For rows ``start : start + n`` in chunks of :data:`ROWS`, yield ``(start, m0x, m0y, m1x,
    m1y, weight0)``: where each ray of the camera at ``tau`` looks input 0 and input 1 up (pixel
    maps, x in [-0.5, W), wrapping) and input 0's blend weight (visibility x (1 - t), normalised).
    The arrays are reused between chunks: copy what must outlive one. ``chunk``: rows per chunk;
    ``rows``: the chunks' starts (all of them if None); ``view``: :func:`_view_at`'s result, if
    already made."""
    small, m01 = _view_at(pd, tau) if view is None else view
    planes = _ray_planes(width, height)
    buf = np.empty((4, min(chunk, height) * width), np.float32)
    weight0 = np.empty((min(chunk, height), width), np.float32)
    dirs = np.empty((6, buf.shape[1]), np.float32)
    for start in range(0, height, chunk) if rows is None else rows:
        n = min(chunk, height - start)
        ray_q, wt = buf[:, : n * width], weight0[:n]
        ray_q[:3] = planes[:, start * width : (start + n) * width]
        _upsample_rows(small[0], width, height, start, ray_q[3].reshape(n, width))
        _upsample_rows(small[1], width, height, start, wt)
        # cv2.gemm, not NumPy's: OpenBLAS's threads spin after a product and starve the remaps.
        d = cv2.gemm(m01, ray_q, 1.0, None, 0.0, dst=dirs[:, : n * width]).reshape(6, n, width)
        m0x, m0y = _maps(d[0], d[1], d[2], width, height)
        m1x, m1y = _maps(d[3], d[4], d[5], width, height)
        yield start, m0x, m0y, m1x, m1y, wt


def _view_at(pd: PairDepth, tau: float):
    """What every row of :func:`_row_maps` needs: the t-view's inverse depth and input 0's blend
    weight at the working scale (a replicated row above and below), and :func:`lookup_matrix`."""
    qt, vis0, vis1 = rectified_view(pd, tau)
    w0, w1 = (1.0 - tau) * vis0 + EPS, tau * vis1 + EPS
    small = _turn(pd, tau, np.dstack([qt, w0 / (w0 + w1)]))
    small = [cv2.copyMakeBorder(x, 1, 1, 0, 0, cv2.BORDER_REPLICATE) for x in small]
    return small, lookup_matrix(pd, tau)


def render(img0: np.ndarray, img1: np.ndarray, pd: PairDepth, tau: float) -> np.ndarray:
    """The panorama ``(H, W, 3)`` float32 at ``tau`` of the pair ``img0``, ``img1`` (full size)."""
    height, width = img0.shape[:2]
    img0, img1 = (np.ascontiguousarray(x, np.float32) for x in (img0, img1))
    out = np.empty((height, width, 3), np.float32)
    # the rays' own lookups, not flows: warped by the one remap (:func:`viewsynth.warp.seam_remap`)
    # and blended by OpenCV's normalised blend, the arithmetic its frames have always had
    for start, m0x, m0y, m1x, m1y, wt in _row_maps(pd, tau, width, height):
        warped0 = seam_remap(img0, m0x, m0y, equirect=True)
        warped1 = seam_remap(img1, m1x, m1y, equirect=True)
        out[start : start + len(wt)] = cv2.blendLinear(warped0, warped1, wt, 1.0 - wt)
    return out


def flows_at(pd: PairDepth, tau: float, width: int, height: int):
    """The geometry at ``tau`` as 2D motion, in the convention of :mod:`viewsynth.warp` (a
    candidate of :func:`viewsynth.warp.fuse`): ``flow_t0``, ``flow_t1`` ``(H, W, 2)`` float32 from
    the in-between view to each input (x wrapped to [-W/2, W/2)) and input 0's blend weight
    ``weight0`` ``(H, W)``. Warping both inputs by them and blending by the weight is
    :func:`render` (up to the resampling of x modulo W)."""
    flows = np.empty((2, height, width, 2), np.float32)
    weight0 = np.empty((height, width), np.float32)
    view = _view_at(pd, tau)
    # two bands of row chunks on two cores (each chunk made as in one pass: the same flows)
    starts = range(0, height, FLOW_ROWS)
    half = len(starts) // 2
    lower = in_background(_flow_rows, pd, tau, view, starts[half:], flows, weight0)
    try:
        _flow_rows(pd, tau, view, starts[:half], flows, weight0)
    finally:
        lower.result()
    return flows[0], flows[1], weight0


#: Row chunk of :func:`flows_at` (a working-size 256-row view makes four, two per core).
FLOW_ROWS = 64


def _flow_rows(pd: PairDepth, tau: float, view, starts: range, flows, weight0) -> None:
    """Chunks ``starts`` (of :data:`FLOW_ROWS` rows) of :func:`flows_at`'s arrays, in place."""
    height, width = weight0.shape
    gx = np.arange(width, dtype=np.float32)[None, :]
    chunks = _row_maps(pd, tau, width, height, starts, view, FLOW_ROWS)
    for start, m0x, m0y, m1x, m1y, wt in chunks:
        n = len(wt)
        gy = np.arange(start, start + n, dtype=np.float32)[:, None]
        for k, (mx, my) in enumerate(((m0x, m0y), (m1x, m1y))):
            dx = short_way(mx - gx, width)
            flows[k, start : start + n] = np.dstack([dx, my - gy])
        weight0[start : start + n] = wt


def render_times(img0, img1, pd: PairDepth, times) -> np.ndarray:
    """``(T, H, W, 3)``: :func:`render` at each t of ``times``."""
    return np.stack([render(img0, img1, pd, float(t)) for t in times])
