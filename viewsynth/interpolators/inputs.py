"""What every interpolator's call accepts, checked at its door (:func:`checked_call`): a user's
mistake is one ``FrameError`` or ``ViewsynthError`` naming it, never a wrong frame or a crash inside
OpenCV or JAX.

- ``img0``, ``img1``: ``(H, W, 3)`` RGB of one size, at least :data:`MIN_SIDE` pixels on the longer
  side; float in [0, 1] (float32 used as is, other floats converted) or uint8 / uint16 (divided by
  their largest value, as :func:`viewsynth.frames.read_image` does); any strides. Greyscale, RGBA,
  NaN or inf, and floats far outside [0, 1] (0-255 values) are refused, each said.
- ``times``: a number or a 1-D sequence of t in [0, 1], in any order, repeats allowed; t = 0 and
  t = 1 are the inputs themselves (copies, not interpolated).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

from viewsynth.errors import FrameError, ViewsynthError

#: The least size of a frame's longer side: OpenCV's DIS flow (every method's start or fallback)
#: refuses smaller ("width or height >= 12").
MIN_SIDE = 12
#: How far outside [0, 1] a float frame may stray (a cubic resize overshoots a little) before it is
#: taken for another scale (0-255, or [-1, 1]) and refused.
RANGE_SLACK = 0.1


def check_image(name: str, which: str, img: Any) -> np.ndarray:
    """``img`` as an ``(H, W, 3)`` float32 array in [0, 1] (no copy when it is one), or a
    ``FrameError`` saying what is wrong with it."""
    arr = np.asarray(img)
    where = f"{name}: {which}"
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        raise FrameError(
            f"{where} is greyscale {arr.shape}: give (H, W, 3) RGB (np.repeat(img[..., None], 3, -1))"
        )
    if arr.ndim == 3 and arr.shape[2] == 4:
        raise FrameError(f"{where} has 4 channels (RGBA?): give (H, W, 3) RGB (img[..., :3])")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise FrameError(f"{where} must be an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.dtype in (np.uint8, np.uint16):
        return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if not np.issubdtype(arr.dtype, np.floating):
        raise FrameError(f"{where} must be float in [0, 1] or uint8, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.size == 0:
        raise FrameError(f"{where} is empty (shape {arr.shape})")
    lo, hi = float(arr.min()), float(arr.max())  # (NaN comes out of either)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FrameError(f"{where} holds NaN or infinite values")
    if lo < -RANGE_SLACK or hi > 1.0 + RANGE_SLACK:
        raise FrameError(
            f"{where} values run {lo:g}..{hi:g}: expected RGB in [0, 1] (0-255 values: divide "
            "by 255, or pass uint8)"
        )
    return arr


def check_pair(name: str, img0: Any, img1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both frames checked (:func:`check_image`), of one size and at least :data:`MIN_SIDE`."""
    img0, img1 = check_image(name, "img0", img0), check_image(name, "img1", img1)
    (h0, w0), (h1, w1) = img0.shape[:2], img1.shape[:2]
    if (h0, w0) != (h1, w1):
        raise FrameError(
            f"{name}: img0 and img1 differ in size ({w0}x{h0} and {w1}x{h1}): resize one first"
        )
    if max(h0, w0) < MIN_SIDE:
        raise FrameError(
            f"{name}: frames of {w0}x{h0} are too small (at least {MIN_SIDE} pixels on a side)"
        )
    return img0, img1


def check_times(name: str, times: Any) -> np.ndarray:
    """``times`` as a 1-D float64 array of t in [0, 1], or a ``ViewsynthError``."""
    try:
        t = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ViewsynthError(f"{name}: times must be numbers in [0, 1], got {times!r}") from None
    if t.ndim > 1:
        raise ViewsynthError(
            f"{name}: times must be a number or a list of them, got shape {t.shape}"
        )
    t = t.reshape(-1)
    bad = t[~((t >= 0.0) & (t <= 1.0))]  # (NaN fails both)
    if bad.size:
        raise ViewsynthError(f"{name}: every t must be in [0, 1], got {bad[0]:g}")
    return t


def checked_call(call):
    """Wraps an interpolator's ``__call__(self, img0, img1, times, **kwargs)``: the inputs
    checked and converted (module docstring), t = 0 and t = 1 answered with the inputs; ``call``
    gets only the times strictly between, as a float64 array (not called when there are none)."""

    @functools.wraps(call)
    def checked(self, img0, img1, times, **kwargs) -> np.ndarray:
        img0, img1 = check_pair(self.name, img0, img1)
        times = check_times(self.name, times)
        if times.size == 0:
            return np.zeros((0, *img0.shape), np.float32)
        inside = (times > 0.0) & (times < 1.0)
        if not inside.any() and isinstance(getattr(type(self), "_last", None), PerThread):
            self._last = {}  # (nothing ran for this pair: no earlier pair's record stands)
        if inside.all():
            return call(self, img0, img1, times, **kwargs)
        out = np.empty((len(times), *img0.shape), np.float32)
        if inside.any():
            out[inside] = call(self, img0, img1, times[inside], **kwargs)
        out[times == 0.0] = img0
        out[times == 1.0] = img1
        return out

    return checked


class PerThread:
    """An attribute with one value per thread (a descriptor; ``{}`` until a thread sets it): an
    interpolator's record of its last pair, so that each thread calling one interpolator reads
    its own call's in ``last_pair()``, not whichever thread finished last."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def _local(self, obj) -> threading.local:
        return obj.__dict__.setdefault("_per_thread", threading.local())

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return getattr(self._local(obj), self.name, {})

    def __set__(self, obj, value) -> None:
        setattr(self._local(obj), self.name, value)
