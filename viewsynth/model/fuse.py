"""Between the network's working size and the input's: resampling, and the fusion at the input size.

The network works at a smaller size (a geometry network at 512 wide); its flows and per-sample
weights (and the refinement's residual, if it has one) are upsampled to the input's size and both
frames are warped and fused there (OpenCV, longitude wrapping for panoramas). The fusion is made
in two bands of rows on two cores (:mod:`viewsynth.threads`), each a few rows at a time: every
pixel is computed by the same operations as in one pass, so the frame is the same (to the bit,
unless a flow points more than a frame's width away: that piece's x is then wrapped by np.mod
before OpenCV's wrap, a difference of float32 rounding); only the wall time changes.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from viewsynth.classical import frozen, pixel_grid, seam_remap
from viewsynth.threads import in_background


def resample(x: np.ndarray, width: int, height: int, *, equirect: bool) -> np.ndarray:
    """(H, W, C) float32 -> (height, width, C), pixel centres aligned; x wraps for panoramas.

    Shrinking both ways averages areas (no aliasing; the source pixels partition exactly, so the
    seam needs nothing); otherwise bilinear sampling whose taps wrap longitude.
    """
    h, w = x.shape[:2]
    if (w, h) == (width, height):
        return x
    if width <= w and height <= h:
        chans = [
            cv2.resize(np.ascontiguousarray(x[..., i : i + 4]), (width, height),
                       interpolation=cv2.INTER_AREA).reshape(height, width, -1)
            for i in range(0, x.shape[-1], 4)
        ]  # fmt: skip
        return _joined(chans)
    mx, my = _resample_maps(w, h, width, height)
    chans = [
        seam_remap(np.ascontiguousarray(x[..., i : i + 4]), mx, my, equirect=equirect).reshape(
            height, width, -1
        )
        for i in range(0, x.shape[-1], 4)
    ]
    return _joined(chans)


@functools.lru_cache(maxsize=16)
def _resample_maps(w: int, h: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample`'s sampling maps from ``(w, h)`` to ``(width, height)``, pixel centres
    aligned; made once per pair of sizes (read-only: every call of a size shares them)."""
    gx = (np.arange(width, dtype=np.float32) + 0.5) * (w / width) - 0.5
    gy = (np.arange(height, dtype=np.float32) + 0.5) * (h / height) - 0.5
    return frozen(np.meshgrid(gx, gy))


def _joined(chans: list[np.ndarray]) -> np.ndarray:
    """Channel groups as one float32 array (a single group as it is: no copy)."""
    out = chans[0] if len(chans) == 1 else np.concatenate(chans, axis=-1)
    return out.astype(np.float32, copy=False)


def fuse_full(images, flows, weights, residual, *, equirect, out=None) -> np.ndarray:
    """Warp and fuse at the input size with the network's flows, weights and residual (None:
    none) upsampled: sample k warps ``images[k % 2]`` (frame 0, frame 1, then the geometry
    candidate's frame 0, frame 1; an even count). The flows are upsampled two per remap, the
    weights in one. ``out``: the ``(H, W, 3)`` float32 array to write the frame into (a new one
    if None; it must not share memory with the inputs); returned."""
    if len(flows) % 2 or len(flows) != len(weights):
        raise ValueError(
            f"fuse_full: an even number of samples, got {len(flows)} flows and {len(weights)} weights"
        )
    ch, cw = flows[0].shape[:2]
    pairs = [np.concatenate(flows[k : k + 2], axis=-1) for k in range(0, len(flows), 2)]
    stacked = np.concatenate([np.reshape(w, (ch, cw, 1)) for w in weights], axis=-1)
    return fuse_fields(images, pairs, stacked, residual, equirect=equirect, out=out)


def fuse_fields(images, pairs, weights, residual, *, equirect, out=None) -> np.ndarray:
    """:func:`fuse_full` with its fields already stacked as the network can hand them over:
    ``pairs``, the flows two by two ``(h, w, 4)`` each (samples 2k and 2k + 1), and ``weights``
    ``(h, w, 2 * len(pairs))``, one channel per sample (the same frame, with no copy made here)."""
    if weights.shape[-1] != 2 * len(pairs) or any(p.shape[-1] != 4 for p in pairs):
        raise ValueError(
            f"fuse_fields: {len(pairs)} pairs of flows need {2 * len(pairs)} weights, got "
            f"{weights.shape[-1]}"
        )
    images = tuple(np.ascontiguousarray(x, np.float32) for x in images)  # (one copy, if any)
    height, width = images[0].shape[:2]
    ch, cw = weights.shape[:2]
    out = np.empty((height, width, 3), np.float32) if out is None else out
    fields = [np.ascontiguousarray(f) for f in (*pairs, weights)]
    fields += [] if residual is None else [np.ascontiguousarray(residual)]
    gain = np.float32([width / cw, height / ch])  # the flows' pixels -> the frame's
    extra = residual is not None
    if width <= cw and height <= ch:  # a content larger than the frame (a tiny input): areas
        fields = [resample(f, width, height, equirect=equirect) for f in fields]
        _fuse_rows(images, fields, gain, extra, slice(0, height), out, equirect=equirect)
        return out
    half = height // 2
    lower = in_background(_fuse_rows, images, fields, gain, extra, slice(half, height), out,
                          equirect=equirect)  # fmt: skip
    try:
        _fuse_rows(images, fields, gain, extra, slice(0, half), out, equirect=equirect)
    finally:  # the lower band is done (or failed) before anything leaves
        lower.result()
    return out


#: Rows fused at a time within a band: each piece's scratch arrays (up to about 20 floats per
#: pixel) are made once per band and stay in the cache, instead of whole-frame temporaries that
#: cost their page faults again at every call.
ROWS = 32


def _fuse_rows(images, fields, gain, has_residual: bool, rows: slice, out, *, equirect) -> None:
    """Rows ``rows`` of :func:`fuse_full`'s frame into ``out[rows]``, :data:`ROWS` at a time;
    ``fields``: the flows two by two, the weights, the residual, at the network's size (or already
    at the frame's)."""
    height, width = images[0].shape[:2]
    step = max(1, min(ROWS, rows.stop - rows.start))
    scratch = [np.empty((step, width, f.shape[2]), np.float32) for f in fields]
    map_x, map_y = np.empty((2, step, width), np.float32)
    warped = np.empty((step, width, 3), np.float32)
    gx, gy = pixel_grid(width, height)
    n_pairs = len(fields) - 1 - has_residual
    for start in range(rows.start, rows.stop, step):
        r = slice(start, min(start + step, rows.stop))
        n = r.stop - r.start
        up = [
            _piece(f, s[:n], width, height, r, equirect=equirect)
            for f, s in zip(fields, scratch, strict=True)
        ]
        w, mid = up[n_pairs], out[r]
        if has_residual:
            mid[...] = up[-1]
        else:
            mid.fill(0.0)
        for k in range(2 * n_pairs):
            # classical.backward_warp's maps, made in place: p + gain * flow(p)
            c = 2 * (k % 2)
            mx, my = np.multiply(up[k // 2][..., c], gain[0], out=map_x[:n]), map_y[:n]
            mx += gx[r]
            np.multiply(up[k // 2][..., c + 1], gain[1], out=my)
            my += gy[r]
            wk = seam_remap(images[k % 2], mx, my, equirect=equirect, out=warped[:n])
            wk *= w[..., k : k + 1]
            mid += wk
        np.clip(mid, 0.0, 1.0, out=mid)


def _piece(field, scratch, width: int, height: int, rows: slice, *, equirect) -> np.ndarray:
    """Rows ``rows`` of ``field`` at the frame's size: :func:`resample`'s bilinear sampling,
    written into ``scratch``; a field already at that size is sliced (a view, no copy)."""
    if field.shape[:2] == (height, width):
        return field[rows]
    h, w = field.shape[:2]
    mx, my = _resample_maps(w, h, width, height)
    return seam_remap(field, mx[rows], my[rows], equirect=equirect, out=scratch)
