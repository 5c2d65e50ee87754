"""The matching cost of the sweep: locally normalised intensity, compared along each hypothesis.

Each panorama is turned grey at the working scale and normalised by its local mean and standard
deviation (a window wrapping in longitude), so a change of exposure or white balance between the
shots (a gain and an offset per region) leaves it unchanged; the cost of a hypothesis is the
truncated absolute difference of the reference's normalised value and the other panorama's, looked
up where that hypothesis says the point is (the zero-mean, unit-variance comparison of ZNCC, per
pixel; the window sum comes in :mod:`.aggregate`), computed one inverse depth at a time in
:func:`viewsynth.sweep.depth.sweep_depth`.
"""

from __future__ import annotations

import cv2
import numpy as np


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
    padded = cv2.copyMakeBorder(x, 0, 0, r, r, cv2.BORDER_WRAP)
    out = cv2.boxFilter(padded, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    return out[:, r:-r]


def normalise(gray: np.ndarray, radius: int, floor: float = 0.01) -> np.ndarray:
    """``(g - local mean) / local std`` over a wrapped window; ``floor`` keeps flat areas (sky) at
    small values instead of amplified noise."""
    mean = box_wrap(gray, radius)
    var = np.maximum(box_wrap(gray * gray, radius) - mean * mean, 0.0)
    return ((gray - mean) / np.sqrt(var + floor * floor)).astype(np.float32)
