"""The classical estimate of frame interpolation: DIS optical flow, flows to time t, forward-backward
visibility and the visibility blend weights. NumPy/OpenCV, pure functions.

The ``flow`` interpolator is these functions chained, its frame made by :func:`viewsynth.warp.fuse`;
the network (``viewsynth.model``) starts its recurrence from the same estimate, so an untrained
network reproduces ``flow``'s frame.

Conventions (the warp's, :mod:`viewsynth.warp`): images ``(H, W, C)`` float32; flows
``(H, W, 2)`` in pixels, x first; ``f01`` maps a pixel of frame 0 to its match in frame 1 (``f10``
the other way); ``flow_t0`` maps a pixel of the in-between view at time t to its match in frame 0;
panoramas (``equirect=True``): x is longitude and wraps (column W is column 0), y clamps.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth.warp import backward_warp

#: :func:`pair_flows`' defaults: frames wider than this are analysed at reduced size, at this preset.
MAX_SIDE, PRESET = 1024, "medium"
#: DIS presets by name (OpenCV's constants).
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: Keeps both blend weights positive where neither frame sees a pixel.
BLEND_EPS = 1e-4


def _gray_u8(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def dis_flow(
    img0: np.ndarray,
    img1: np.ndarray,
    *,
    equirect: bool,
    max_side: int = MAX_SIDE,
    preset: str = PRESET,
    full_size: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV DIS optical flow in both directions: ``(f01, f10)``, each ``(H, W, 2)``.

    ``img0``, ``img1``: ``(H, W, 3)`` float32 RGB in [0, 1]. Frames wider than ``max_side`` are
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
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
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
    """Soft forward-backward consistency of ``f_ab``, ``(H, W)``: ~1 where a pixel of A is seen in
    B, ~0 where occluded."""
    back = backward_warp(f_ba, f_ab, equirect=equirect)
    err = np.sum((f_ab + back) ** 2, axis=-1)
    mag = np.sum(f_ab**2, axis=-1) + np.sum(back**2, axis=-1)
    return np.exp(-err / (0.01 * mag + slack)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class PairFlows:
    """The per-pair part of the estimate: DIS flows both ways and their visibility.

    Computed once per pair, whatever the number of times t asked of it. The arrays are at the
    analysis size (the frame size unless ``pair_flows(full_size=False)`` on a large frame).
    """

    f01: np.ndarray  # (h, w, 2) frame 0 -> frame 1
    f10: np.ndarray  # (h, w, 2) frame 1 -> frame 0
    vis0: np.ndarray  # (h, w) ~1 where a pixel of frame 0 is seen in frame 1
    vis1: np.ndarray  # (h, w)
    equirect: bool


def pair_flows(
    img0: np.ndarray,
    img1: np.ndarray,
    *,
    equirect: bool,
    max_side: int = MAX_SIDE,
    preset: str = PRESET,
    full_size: bool = True,
) -> PairFlows:
    """DIS flows of one pair ``(H, W, 3)`` each and their visibility (see :func:`dis_flow`)."""
    f01, f10 = dis_flow(
        img0, img1, equirect=equirect, max_side=max_side, preset=preset, full_size=full_size
    )
    vis0 = visibility(f01, f10, equirect=equirect)
    vis1 = visibility(f10, f01, equirect=equirect)
    return PairFlows(f01, f10, vis0, vis1, equirect)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The classical estimate at one time t, at the pair's analysis size.

    ``w0 = (1-t) vis0(p + flow_t0) + eps`` and ``w1 = t vis1(p + flow_t1) + eps``, ``(h, w)``: the
    blend gives frame 0's warp the weight ``w0 / (w0 + w1)``.
    """

    flow_t0: np.ndarray  # (h, w, 2)
    flow_t1: np.ndarray  # (h, w, 2)
    w0: np.ndarray  # (h, w)
    w1: np.ndarray  # (h, w)


def estimate_at(flows: PairFlows, t: float) -> Estimate:
    """Flows from the in-between view at ``t`` to each frame and the visibility blend weights."""
    eq = flows.equirect
    flow_t0, flow_t1 = flows_to_time(flows.f01, flows.f10, t)
    w0 = (1.0 - t) * backward_warp(flows.vis0, flow_t0, equirect=eq) + BLEND_EPS
    w1 = t * backward_warp(flows.vis1, flow_t1, equirect=eq) + BLEND_EPS
    return Estimate(flow_t0, flow_t1, w0, w1)


#: Mean absolute disagreement (in [0, 1] units) that moves the candidate choice by one unit of logit.
AGREEMENT_SCALE = 0.01
#: Window of the disagreement's box average, in pixels per 1024 columns of a panorama.
AGREEMENT_WINDOW = 31


def agreement_window(width: int) -> int:
    """:data:`AGREEMENT_WINDOW` scaled to ``width`` columns: odd, at least 3."""
    return max(3, int(round(AGREEMENT_WINDOW * width / 1024.0)) | 1)


def disagreement(warped0: np.ndarray, warped1: np.ndarray, *, equirect: bool) -> np.ndarray:
    """How much a candidate's two warped inputs disagree: the mean absolute difference of their
    colours, box-averaged over :func:`agreement_window` (wrapping in longitude), ``(H, W)``."""
    diff = np.abs(warped0 - warped1, dtype=np.float32)
    # the channel mean as ``np.mean(axis=-1, dtype=float32)`` adds them (the same to the bit),
    # an order of magnitude faster than a reduction over the last axis
    total = diff[..., 0].copy()
    for k in range(1, diff.shape[-1]):
        total += diff[..., k]
    diff = total / np.float32(diff.shape[-1])
    k = agreement_window(diff.shape[1])
    pad = k // 2
    if equirect:
        diff = np.pad(diff, ((0, 0), (pad, pad)), mode="wrap")
        out = cv2.blur(diff, (k, k), borderType=cv2.BORDER_REFLECT)
        return out[:, pad:-pad]
    return cv2.blur(diff, (k, k), borderType=cv2.BORDER_REFLECT)


def choice_logit(disagree_a: np.ndarray, disagree_b: np.ndarray) -> np.ndarray:
    """Logit of trusting candidate a over candidate b where their own inputs agree better:
    ``(d_b - d_a) / AGREEMENT_SCALE``, float32 (the classical choice between geometry and 2D flow)."""
    return ((disagree_b - disagree_a) / AGREEMENT_SCALE).astype(np.float32)


def candidate_at(flows: PairFlows, t: float, width: int, height: int):
    """DIS's motion at ``t`` as a candidate of :func:`viewsynth.warp.fuse`: ``(flow_t0, flow_t1,
    weight0)`` at ``width`` x ``height``, upsampled when ``flows`` were made at a reduced size."""
    est = estimate_at(flows, t)
    flow_t0, flow_t1 = est.flow_t0, est.flow_t1
    weight0 = est.w0 / (est.w0 + est.w1)
    if flow_t0.shape[:2] != (height, width):
        flow_t0 = upsample_flow(flow_t0, width, height)
        flow_t1 = upsample_flow(flow_t1, width, height)
        weight0 = cv2.resize(weight0, (width, height), interpolation=cv2.INTER_LINEAR)
    return flow_t0, flow_t1, weight0
