"""The matching cost of the sweep: locally normalised intensity, compared along each hypothesis.

Each panorama is turned grey at the working scale and normalised by its local mean and standard
deviation (a window wrapping in longitude), so a change of exposure or white balance between the
shots (a gain and an offset per region) leaves it unchanged; the cost of a hypothesis is the
truncated absolute difference of the reference's normalised value and the other panorama's, looked
up where that hypothesis says the point is (the zero-mean, unit-variance comparison of ZNCC, per
pixel; the window sum comes in :mod:`.aggregate`). Volumes are ``(h, w, N)`` float32, one channel
per inverse depth.
"""

from __future__ import annotations

import cv2
import numpy as np

from viewsynth.sweep.rectify import column_lookup, epipolar_rows

#: Hypotheses looked up per remap call (bounds the maps' memory).
CHUNK = 16


def working_gray(img: np.ndarray, width: int) -> np.ndarray:
    """``img`` ``(H, W, 3)`` in [0, 1] as grey ``(width // 2, width)`` float32 (area resampling)."""
    gray = cv2.cvtColor(np.ascontiguousarray(img, np.float32), cv2.COLOR_RGB2GRAY)
    if gray.shape[1] != width:
        gray = cv2.resize(gray, (width, width // 2), interpolation=cv2.INTER_AREA)
    return gray


def box_wrap(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window of ``x`` ``(h, w)`` or ``(h, w, C)``: longitude wraps,
    latitude reflects."""
    if radius <= 0:
        return x
    r = radius
    padded = np.concatenate([x[:, -r:], x, x[:, :r]], axis=1)
    out = cv2.boxFilter(padded, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    return out[:, r:-r]


def normalise(gray: np.ndarray, radius: int, floor: float = 0.01) -> np.ndarray:
    """``(g - local mean) / local std`` over a wrapped window; ``floor`` keeps flat areas (sky) at
    small values instead of amplified noise."""
    mean = box_wrap(gray, radius)
    var = np.maximum(box_wrap(gray * gray, radius) - mean * mean, 0.0)
    return ((gray - mean) / np.sqrt(var + floor * floor)).astype(np.float32)


def cost_volume(
    ref: np.ndarray, other: np.ndarray, qs: np.ndarray, sign: float, *, trunc: float = 2.0
) -> np.ndarray:
    """Cost ``(h, w, N)`` of each inverse depth ``qs`` ``(N,)`` for every pixel of the reference,
    both normalised images ``(h, w)`` rectified (:mod:`.rectify`, the other camera at
    ``sign * e_y``): ``min(|ref - other where hypothesis k puts the point|, trunc)``."""
    h, w = ref.shape
    out = np.empty((h, w, len(qs)), np.float32)
    for k in range(0, len(qs), CHUNK):
        q = np.asarray(qs[k : k + CHUNK], np.float64)[:, None, None]
        seen = column_lookup(other, epipolar_rows(h, q, sign))
        out[..., k : k + len(q)] = np.minimum(np.abs(seen - ref[None]), trunc).transpose(1, 2, 0)
    return out
