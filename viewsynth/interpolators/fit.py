"""How any input size fits a network (:class:`viewsynth.interpolators.rnn.RNNInterpolator`): the
width it works at, sizes bucketed to a multiple of its stride, the times of a pair in batches of a
few sizes, and edge padding."""

from __future__ import annotations

import math

import jax
import numpy as np

#: The width either network works at by default (at most): it decides each pixel's motion and
#: choice there; the frame is warped and fused at the input's own size. The geometry network: the
#: same or better at 512 as at full size on renders and real walks (docs/RESEARCH.md, the network
#: with geometry). The 2D network's photos: 0.06 dB better on average over eleven perspective sets
#: than at up to 2048 wide (-0.03 to +0.33 per set), 3-5x faster (TRAINING_LOG.md, session 22).
WORK_WIDTH = 512
#: At most this wide for a 2D network's panoramas (pairs without a usable pose): at 512 the
#: default lost 0.04 dB trc-WS-PSNR on the forest walk at gap 2 (TRAINING_LOG, session 22).
PANORAMA_2D_WIDTH = 2048


def auto_scale(width: int, max_width: int = WORK_WIDTH) -> float:
    """The working scale picked when ``scale`` is None: ``min(1, max_width / width)``."""
    return min(1.0, max_width / float(width))


def chunks(n: int, largest: int) -> list[int]:
    """Split n frames into power-of-two chunks of at most ``largest`` (few distinct batch sizes)."""
    out = []
    while n > 0:
        size = min(largest, 1 << (n.bit_length() - 1))
        out.append(size)
        n -= size
    return out


def pad_edges(x, work_w: int, work_h: int):
    """(..., h, w, C) -> (..., work_h, work_w, C), centred, by repeating the edge pixels; an
    :class:`Init` (any pytree of such arrays) is padded leaf by leaf.

    Edge (not mirror) padding: a warp that samples outside the content then reads the border
    pixel, exactly as the ``flow`` method's warps do (OpenCV ``BORDER_REPLICATE``), so the
    padding changes nothing a start-state network would output inside the content.
    """

    def pad(a):
        a = np.asarray(a)
        h, w = a.shape[-3:-1]
        top, left = (work_h - h) // 2, (work_w - w) // 2
        rows, cols = (top, work_h - h - top), (left, work_w - w - left)
        return np.pad(a, ((0, 0),) * (a.ndim - 3) + (rows, cols, (0, 0)), mode="edge")

    return jax.tree.map(pad, x)


def ceil_to(x: float, m: int) -> int:
    """``x`` rounded up to a multiple of ``m`` (at least ``m``)."""
    return max(m, int(math.ceil(x / m - 1e-9)) * m)
