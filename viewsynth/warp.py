"""The one backward warp and the one fusion of the NumPy side: every frame made of warped inputs.

``flow`` (:class:`viewsynth.interpolators.Flow`) and the network (its fields at the input size)
make their frames with :func:`fuse`; :func:`backward_warp` also serves the classical visibility
and the network's start. The network's differentiable twin is :mod:`viewsynth.model.warp` (JAX,
inside the network for training). The sphere sweep reprojects along rays (lookup maps, not flows)
and remaps through :func:`seam_remap`.

Conventions (written once, here):
- images ``(H, W, C)`` float32; flows ``(h, w, 2)`` in pixels of their own size, x first;
  ``flow_t0`` maps a pixel of the in-between view at t to its match in frame 0 (frame 0 is
  *sampled* there); sizes are given ``width, height`` (OpenCV's order), as in :func:`pixel_grid`;
- panoramas (``equirect=True``): x is longitude and wraps (column W is column 0), y clamps;
  otherwise edge pixels repeat (OpenCV's ``BORDER_REPLICATE``);
- a candidate is ``(flow_t0, flow_t1, weight0)``; its frame is the blend
  ``warp1 + weight0 (warp0 - warp1)`` (:func:`blend`), two candidates are blended the same way by
  the choice, and the frame is clipped to [0, 1] once, at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from viewsynth.threads import in_background


@functools.lru_cache(maxsize=16)
def pixel_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's own ``(x, y)``: two float32 ``(height, width)`` planes, made once per size and
    shared by every caller (read-only)."""
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    return frozen(np.meshgrid(xs, ys))


def frozen(arrays) -> tuple[np.ndarray, ...]:
    """``arrays`` as a tuple, each made read-only (for caches that hand the same arrays out)."""
    for a in arrays:
        a.flags.writeable = False
    return tuple(arrays)


def seam_remap(
    image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, *, equirect: bool, out=None
) -> np.ndarray:
    """``cv2.remap`` (bilinear) of ``image`` ``(H, W, C)`` at float32 maps ``(h, w)``; for
    panoramas x wraps and y clamps, otherwise edge pixels repeat. ``out``: a contiguous
    ``(h, w, C)`` float32 array to write into (cv2's ``dst``), or None for a new one."""
    h, w = image.shape[:2]
    if equirect:
        # BORDER_WRAP wraps x itself (to within cv2's 1/32-pixel fixed point, as np.mod would);
        # only far-out positions, beyond what its int16 coordinates hold, are reduced first.
        if map_x.size and (map_x.min() < -w or map_x.max() >= 2 * w):
            map_x = np.mod(map_x, w)
        # cv2's BORDER_WRAP wraps y too; rows are clamped by hand so only x wraps.
        map_y = np.clip(map_y, 0, h - 1)
        border = cv2.BORDER_WRAP
    else:
        border = cv2.BORDER_REPLICATE
    if out is None:
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=border)
    dst = out.reshape(out.shape[:2]) if image.ndim == 2 or image.shape[2] == 1 else out
    # cv2 writes into dst only if it fits (size, channels, type); else it makes a new array
    if cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, dst=dst, borderMode=border) is not dst:
        raise ValueError(
            f"seam_remap: out {out.shape} {out.dtype} does not fit a remap of {image.shape} "
            f"{image.dtype} at maps {map_x.shape}"
        )
    return out


def backward_warp(image: np.ndarray, flow: np.ndarray, *, equirect: bool) -> np.ndarray:
    """Sample ``image`` ``(H, W, C)`` at ``p + flow(p)`` (bilinear), ``flow`` ``(h, w, 2)`` ->
    ``(h, w, C)``. Longitude wraps for panoramas."""
    h, w = flow.shape[:2]
    gx, gy = pixel_grid(w, h)
    return seam_remap(image, gx + flow[..., 0], gy + flow[..., 1], equirect=equirect)


def blend(warped0: np.ndarray, warped1: np.ndarray, weight0: np.ndarray) -> np.ndarray:
    """``warped1 + weight0 (warped0 - warped1)``, clipped to [0, 1]; ``weight0`` ``(H, W)``: one
    candidate's frame, as :func:`fuse` computes it (the same operations, to the bit)."""
    return np.clip(warped1 + weight0[..., None] * (warped0 - warped1), 0.0, 1.0)


def resample(x: np.ndarray, width: int, height: int, *, equirect: bool) -> np.ndarray:
    """(H, W, C) float32 -> (height, width, C), pixel centres aligned; x wraps for panoramas.

    Shrinking both ways averages areas (no aliasing; the source pixels partition exactly, so the
    seam needs nothing); otherwise bilinear sampling whose taps wrap longitude.
    """
    h, w = x.shape[:2]
    if (w, h) == (width, height):
        return x
    groups = [np.ascontiguousarray(x[..., i : i + 4]) for i in range(0, x.shape[-1], 4)]
    if width <= w and height <= h:
        chans = [cv2.resize(g, (width, height), interpolation=cv2.INTER_AREA) for g in groups]
    else:
        mx, my = _resample_maps(w, h, width, height)
        chans = [seam_remap(g, mx, my, equirect=equirect) for g in groups]
    chans = [c.reshape(height, width, -1) for c in chans]
    out = chans[0] if len(chans) == 1 else np.concatenate(chans, axis=-1)
    return out.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=16)
def _resample_maps(w: int, h: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample`'s sampling maps from ``(w, h)`` to ``(width, height)``, pixel centres
    aligned; made once per pair of sizes (read-only: every call of a size shares them)."""
    gx = (np.arange(width, dtype=np.float32) + 0.5) * (w / width) - 0.5
    gy = (np.arange(height, dtype=np.float32) + 0.5) * (h / height) - 0.5
    return frozen(np.meshgrid(gx, gy))


Candidate = tuple[np.ndarray, np.ndarray, np.ndarray]


def fuse(
    img0: np.ndarray,
    img1: np.ndarray,
    candidates: Sequence[Candidate],
    choice: np.ndarray | None = None,
    *,
    equirect: bool,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The frame ``(H, W, 3)`` at t of ``img0``, ``img1`` ``(H, W, 3)`` from one or two
    candidates ``(flow_t0, flow_t1, weight0)`` (``(h, w, 2)``, ``(h, w, 2)``, ``(h, w)``, at the
    frame's size or another, the flows in pixels of theirs) and, with two, ``choice`` ``(h, w)``:
    candidate 1's weight. ``out``: the float32 array to write into (a new one if None; it must not
    share memory with the inputs); returned."""
    if len(candidates) not in (1, 2) or (choice is None) != (len(candidates) == 1):
        raise ValueError(
            f"fuse: one candidate, or two and a choice; got {len(candidates)} and "
            f"{'no ' if choice is None else ''}choice"
        )
    h, w = candidates[0][2].shape[:2]
    flows = [np.concatenate(c[:2], axis=-1) for c in candidates]
    weights = [c[2].reshape(h, w, 1) for c in candidates]
    weights += [] if choice is None else [np.reshape(choice, (h, w, 1))]
    stacked = weights[0] if len(weights) == 1 else np.concatenate(weights, axis=-1)
    return fuse_fields(img0, img1, flows, stacked, equirect=equirect, out=out)


def fuse_fields(img0, img1, flows, weights, *, equirect: bool, out=None) -> np.ndarray:
    """:func:`fuse` with its fields stacked as the network hands them over: ``flows``, per
    candidate ``(h, w, 4)`` (``flow_t0`` then ``flow_t1``), and ``weights`` ``(h, w, 1)`` for one
    candidate (its ``weight0``) or ``(h, w, 3)`` for two (both ``weight0`` and the choice).

    Made in two bands of rows on two cores (:mod:`viewsynth.threads`), each :data:`ROWS` rows at
    a time: every pixel is computed by the same operations as in one pass, so the frame is the
    same to the bit (unless a flow points more than a frame's width away: that piece's x is then
    wrapped by np.mod before OpenCV's wrap, a difference of float32 rounding)."""
    if len(flows) not in (1, 2) or weights.shape[-1] != 2 * len(flows) - 1:
        raise ValueError(
            f"fuse_fields: {len(flows)} candidates need {2 * len(flows) - 1} weight channels, "
            f"got {weights.shape[-1]}"
        )
    if any(f.shape[-1] != 4 for f in flows):
        raise ValueError(f"fuse_fields: flows are (h, w, 4), got {[f.shape for f in flows]}")
    images = tuple(np.ascontiguousarray(x, np.float32) for x in (img0, img1))  # (a copy, if any)
    height, width = images[0].shape[:2]
    ch, cw = weights.shape[:2]
    out = np.empty((height, width, 3), np.float32) if out is None else out
    fields = [np.ascontiguousarray(f) for f in (*flows, weights)]
    gain = np.float32([width / cw, height / ch])  # the flows' pixels -> the frame's
    if width <= cw and height <= ch and (cw, ch) != (width, height):  # a tiny input: areas
        fields = [resample(f, width, height, equirect=equirect) for f in fields]
        _fuse_rows(images, fields, gain, slice(0, height), out, equirect=equirect)
        return out
    # per candidate, whether every map x stays within cv2's own wrap (no np.mod, no per-piece
    # range check): p.x + gain * flow.x with the flow's x between its extremes (bilinear
    # resampling stays within them), a pixel of margin for the rounding
    near = [
        bool(gain[0] * f[..., 0::2].min() > 1 - width and gain[0] * f[..., 0::2].max() < width - 1)
        for f in fields[:-1]
    ]
    near = near if equirect else [False] * len(near)
    half = height // 2
    lower = in_background(
        _fuse_rows, images, fields, gain, slice(half, height), out, equirect=equirect, near=near
    )
    try:
        _fuse_rows(images, fields, gain, slice(0, half), out, equirect=equirect, near=near)
    finally:  # the lower band is done (or failed) before anything leaves
        lower.result()
    return out


#: Rows fused at a time within a band: each piece's scratch arrays (a few tens of floats per
#: pixel) are made once per band and stay in the cache, instead of whole-frame temporaries that
#: cost their page faults again at every call.
ROWS = 32


def _fuse_rows(images, fields, gain, rows: slice, out, *, equirect: bool, near=None) -> None:
    """Rows ``rows`` of :func:`fuse_fields`' frame into ``out[rows]``, :data:`ROWS` at a time;
    ``fields``: each candidate's flows, then the weights, at their own size (or the frame's);
    ``near``: per candidate, True where its panorama maps need no range check (x within
    ``[1 - W, 2 W - 2]``): they are then remapped as :func:`seam_remap` would, without it."""
    near = near or [False] * (len(fields) - 1)
    height, width = images[0].shape[:2]
    step = max(1, min(ROWS, rows.stop - rows.start))
    scratch = [np.empty((step, width, f.shape[2]), np.float32) for f in fields]
    map_x, map_y = np.empty((2, step, width), np.float32)
    warped0, warped1, other = np.empty((3, step, width, 3), np.float32)
    gx, gy = pixel_grid(width, height)
    n = len(fields) - 1
    for start in range(rows.start, rows.stop, step):
        r = slice(start, min(start + step, rows.stop))
        m = r.stop - r.start
        up = [
            _piece(f, s[:m], width, height, r, equirect=equirect, rows_y=map_y[:m])
            for f, s in zip(fields, scratch, strict=True)
        ]
        weights, mid = up[n], out[r]
        for j in range(n):  # candidate j: its blend, into the frame (j = 0) or ``other``
            warps = []
            for c, buf in ((0, warped0), (2, warped1)):
                # backward_warp's maps, made in place: p + gain * flow(p)
                mx = np.multiply(up[j][..., c], gain[0], out=map_x[:m])
                mx += gx[r]
                my = np.multiply(up[j][..., c + 1], gain[1], out=map_y[:m])
                my += gy[r]
                if near[j]:  # seam_remap's own steps, its x check known to pass
                    np.clip(my, 0, height - 1, out=my)
                    warps.append(_remap_into(images[c // 2], mx, my, cv2.BORDER_WRAP, buf[:m]))
                else:
                    warps.append(seam_remap(images[c // 2], mx, my, equirect=equirect, out=buf[:m]))
            diff = np.subtract(warps[0], warps[1], out=warps[0])
            diff *= weights[..., j : j + 1]
            np.add(warps[1], diff, out=mid if j == 0 else other[:m])
        if n == 2:  # the choice between the candidates, blended the same way
            diff = np.subtract(other[:m], mid, out=other[:m])
            diff *= weights[..., 2:3]
            mid += diff
        np.clip(mid, 0.0, 1.0, out=mid)


def _piece(field, scratch, width: int, height: int, rows: slice, *, equirect, rows_y) -> np.ndarray:
    """Rows ``rows`` of ``field`` at the frame's size: :func:`resample`'s bilinear sampling,
    written into ``scratch`` (``rows_y``: scratch for the sampling's rows, ``(n, width)``); a
    field already at that size is sliced (a view, no copy)."""
    if field.shape[:2] == (height, width):
        return field[rows]
    h, w = field.shape[:2]
    if not equirect:
        mx, my = _resample_maps(w, h, width, height)
        return seam_remap(field, mx[rows], my[rows], equirect=False, out=scratch)
    # seam_remap's steps on maps that need no x check (within [-0.5, w)), y clipped into rows_y
    mx, my = _resample_maps(w, h, width, height)
    my = np.clip(my[rows], 0, h - 1, out=rows_y)
    return _remap_into(field, mx[rows], my, cv2.BORDER_WRAP, scratch)


def _remap_into(image, map_x, map_y, border: int, out) -> np.ndarray:
    """``cv2.remap`` (bilinear) of ``image`` into ``out`` (as :func:`seam_remap` does it)."""
    dst = out.reshape(out.shape[:2]) if image.ndim == 2 or image.shape[2] == 1 else out
    if cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, dst=dst, borderMode=border) is not dst:
        raise ValueError(f"_remap_into: out {out.shape} does not fit a remap of {image.shape}")
    return out
