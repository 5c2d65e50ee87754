"""Frame interpolators behind one interface: ``linear``, ``flow`` (classical) and ``rnn`` (network).

Every interpolator is called as ``interp(img0, img1, times, equirect=...)`` with ``img0``, ``img1``
of shape ``(H, W, 3)`` float32 RGB in [0, 1] and ``times`` a sequence of t in (0, 1); it returns
``(T, H, W, 3)`` float32 in [0, 1], one frame per t. ``equirect=True`` means both frames are 2:1
panoramas whose left and right edges meet (the seam): nothing may treat those edges as borders.

Flow convention: ``flow_t0`` maps a pixel of the in-between view to its match in frame 0, in pixels,
``(..., 2)`` with x first. For panoramas x is taken modulo the width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from viewsynth.errors import ViewsynthError

METHODS = ("linear", "flow", "rnn")
#: The best method we have measured (README, benchmark): the shipped ``rnn`` beats ``flow`` on every
#: evaluation set (TRAINING_LOG.md, Run 14).
DEFAULT_METHOD = "rnn"


class Interpolator(Protocol):
    name: str

    def __call__(
        self, img0: np.ndarray, img1: np.ndarray, times: Sequence[float], *, equirect: bool
    ) -> np.ndarray: ...


class Linear:
    """Cross-fade: ``(1 - t) * img0 + t * img1``. The floor every method must beat."""

    name = "linear"

    def __call__(self, img0, img1, times, *, equirect=False):
        t = np.asarray(times, dtype=np.float32)[:, None, None, None]
        return ((1.0 - t) * img0[None] + t * img1[None]).astype(np.float32)


def _gray_u8(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def dis_flow(
    img0: np.ndarray,
    img1: np.ndarray,
    *,
    equirect: bool,
    max_side: int = 1024,
    preset: str = "medium",
    full_size: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV DIS optical flow in both directions: ``(flow_01, flow_10)``, each ``(H, W, 2)``.

    ``flow_01`` maps a pixel of frame 0 to its match in frame 1. Frames wider than ``max_side`` are
    analysed at reduced size and the flow scaled back (``full_size=False`` returns it at the
    analysis size, in that size's pixels). Panoramas are padded circularly in width by an eighth on
    each side before the estimate so motion across the seam is found, then cropped.
    """
    h, w = img0.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(8, int(round(w * scale))), max(8, int(round(h * scale)))
    g0, g1 = _gray_u8(img0), _gray_u8(img1)
    if (sw, sh) != (w, h):
        g0 = cv2.resize(g0, (sw, sh), interpolation=cv2.INTER_AREA)
        g1 = cv2.resize(g1, (sw, sh), interpolation=cv2.INTER_AREA)
    pad = sw // 8 if equirect else 0
    if pad:
        g0 = np.concatenate([g0[:, -pad:], g0, g0[:, :pad]], axis=1)
        g1 = np.concatenate([g1[:, -pad:], g1, g1[:, :pad]], axis=1)
    presets = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }
    dis = cv2.DISOpticalFlow_create(presets[preset])
    f01 = dis.calc(g0, g1, None)
    f10 = dis.calc(g1, g0, None)
    if pad:
        f01, f10 = f01[:, pad:-pad], f10[:, pad:-pad]
    if full_size and (sw, sh) != (w, h):
        f01, f10 = upsample_flow(f01, w, h), upsample_flow(f10, w, h)
    return f01.astype(np.float32), f10.astype(np.float32)


def upsample_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A flow ``(h, w, 2)`` resized to ``(height, width, 2)`` (bilinear), its vectors scaled too."""
    h, w = flow.shape[:2]
    gain = np.float32([width / w, height / h])
    return cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * gain


def backward_warp(image: np.ndarray, flow: np.ndarray, *, equirect: bool) -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` (bilinear). Longitude wraps for panoramas."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = gx + flow[..., 0]
    my = gy + flow[..., 1]
    if equirect:
        mx = np.mod(mx, w)
        # cv2's BORDER_WRAP wraps y too; rows are clamped by hand so only x wraps.
        my = np.clip(my, 0, h - 1)
        border = cv2.BORDER_WRAP
    else:
        border = cv2.BORDER_REPLICATE
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=border)


def flows_to_time(f01: np.ndarray, f10: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Approximate ``(flow_t0, flow_t1)`` from the two-frame flows, assuming linear motion.

    The quadratic blend of Super SloMo (Jiang et al., 2018): each flow at t mixes both directions so
    that it is right at either end.
    """
    flow_t0 = -(1.0 - t) * t * f01 + t * t * f10
    flow_t1 = (1.0 - t) * (1.0 - t) * f01 - t * (1.0 - t) * f10
    return flow_t0.astype(np.float32), flow_t1.astype(np.float32)


def visibility(
    f_ab: np.ndarray, f_ba: np.ndarray, *, equirect: bool, slack: float = 0.5
) -> np.ndarray:
    """Soft forward-backward consistency of ``f_ab``: ~1 where a pixel of A is seen in B, ~0 where occluded."""
    back = backward_warp(f_ba, f_ab, equirect=equirect)
    err = np.sum((f_ab + back) ** 2, axis=-1)
    mag = np.sum(f_ab**2, axis=-1) + np.sum(back**2, axis=-1)
    return np.exp(-err / (0.01 * mag + slack)).astype(np.float32)


class Flow:
    """Classical baseline: DIS flow both ways, warped to t, blended by visibility.

    The flows of a pair are computed once and reused for every t of that pair. Frames larger than
    ``max_side`` are analysed at reduced size, and so are the flows at t and the blend weights
    (they carry no finer detail than the flow they come from); only the two warps of the frames
    and the blend run at full size. That keeps a 5.7K panorama to a few full-size passes per frame.
    """

    name = "flow"

    def __init__(self, max_side: int = 1024, preset: str = "medium"):
        self.max_side = max_side
        self.preset = preset

    def __call__(self, img0, img1, times, *, equirect=False):
        height, width = img0.shape[:2]
        f01, f10 = dis_flow(
            img0, img1, equirect=equirect, max_side=self.max_side, preset=self.preset,
            full_size=False,
        )  # fmt: skip
        reduced = f01.shape[:2] != (height, width)
        vis0 = visibility(f01, f10, equirect=equirect)
        vis1 = visibility(f10, f01, equirect=equirect)
        out = []
        for t in times:
            flow_t0, flow_t1 = flows_to_time(f01, f10, float(t))
            w0 = (1.0 - t) * backward_warp(vis0, flow_t0, equirect=equirect) + 1e-4
            w1 = t * backward_warp(vis1, flow_t1, equirect=equirect) + 1e-4
            weight0 = w0 / (w0 + w1)
            if reduced:
                flow_t0 = upsample_flow(flow_t0, width, height)
                flow_t1 = upsample_flow(flow_t1, width, height)
                weight0 = cv2.resize(weight0, (width, height), interpolation=cv2.INTER_LINEAR)
            warped0 = backward_warp(img0, flow_t0, equirect=equirect)
            warped1 = backward_warp(img1, flow_t1, equirect=equirect)
            weight0 = weight0[..., None]
            mid = warped1 + weight0 * (warped0 - warped1)
            out.append(np.clip(mid, 0.0, 1.0))
        return np.stack(out).astype(np.float32)


def make_interpolator(
    method: str,
    *,
    iters: int | None = None,
    scale: float | None = None,
    weights: str | None = None,
) -> Interpolator:
    """The interpolator called ``method``; ``iters``/``scale``/``weights`` apply to ``rnn``."""
    if method == "linear":
        return Linear()
    if method == "flow":
        return Flow()
    if method == "rnn":
        from viewsynth.model.interpolator import RNNInterpolator

        return RNNInterpolator.load(weights, iters=iters, scale=scale)
    raise ViewsynthError(f"--method: unknown method {method!r} (choose from {', '.join(METHODS)})")
