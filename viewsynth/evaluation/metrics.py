"""Image quality metrics on uint8 RGB images, the result a user would get.

Every metric takes ``pred`` and ``gt`` of shape ``(H, W, 3)`` uint8 (a method's float output is
rounded with ``viewsynth.frames.to_uint8`` first, as RIFE and IFRNet do) and returns a Python float.

- ``psnr``: ``10 log10(255^2 / MSE)``, MSE over all pixels and channels; ``inf`` when identical.
- ``ssim``: Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``,
  ``K2 = 0.03``, ``L = 255``, biased (population) variances, the map kept where the whole window
  fits ("valid", as in the authors' ``ssim.m``), averaged; computed on each RGB channel and the
  three averaged (``channels="rgb"``, what the reports use) or on BT.601 luma (``channels="luma"``).
- ``ie``: interpolation error as published for Middlebury by RIFE and IFRNet: the mean absolute
  difference over all pixels and RGB channels.
- ``ws_psnr``: for equirect panoramas (Sun et al., 2017): row ``j`` of ``H`` weighs
  ``cos((j - H/2 + 0.5) * pi / H)`` (``viewsynth.geometry.latitude_weights``);
  ``WMSE = sum(w * (I - K)^2) / sum(w)`` with the squared error pooled over the three channels.
- ``seam_ws_psnr``: ``ws_psnr`` over the eighth of the columns nearest the 360 seam: a sixteenth
  of the width at each side of the image (the seam is where the right edge meets the left).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.frames import to_uint8
from viewsynth.geometry import latitude_weights

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: BT.601 luma weights for ``ssim(..., channels="luma")``.
LUMA = (0.299, 0.587, 0.114)


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 after checking they are equal-shaped uint8 ``(H, W, 3)``."""
    for label, arr in (("prediction", pred), ("ground truth", gt)):
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
            raise ViewsynthError(
                f"metrics: {label} must be uint8 (H, W, 3), got {arr.dtype} {tuple(arr.shape)}"
            )
    if pred.shape != gt.shape:
        raise ViewsynthError(
            f"metrics: prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ in shape"
        )
    return pred.astype(np.float64), gt.astype(np.float64)


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0.0 else 10.0 * math.log10(PEAK * PEAK / mse)


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR in dB of uint8 ``(H, W, 3)`` images; ``inf`` when they are identical."""
    a, b = _pair(pred, gt)
    return _psnr_from_mse(float(np.mean((a - b) ** 2)))


def ie(pred: np.ndarray, gt: np.ndarray) -> float:
    """Interpolation error: mean absolute difference of uint8 ``(H, W, 3)`` images, in grey levels."""
    a, b = _pair(pred, gt)
    return float(np.mean(np.abs(a - b)))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian ``(size,)`` whose outer product is the SSIM window."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def ssim_map(a, b, blur: Callable[..., Sequence], *, peak: float = PEAK):
    """Per-pixel SSIM of images ``a`` and ``b`` on the scale ``0 .. peak``: NumPy or JAX arrays.

    ``blur(a, b, a * a, b * b, a * b)`` returns those five images averaged under the Gaussian
    window (:func:`gaussian_window`); how it treats borders is the caller's (this module keeps
    only windows that fit, the training loss pads), and the map has the shape it returns.
    Variances are biased (population), as in Wang et al.
    """
    mu_a, mu_b, e_aa, e_bb, e_ab = blur(a, b, a * a, b * b, a * b)
    var_a = e_aa - mu_a**2
    var_b = e_bb - mu_b**2
    cov = e_ab - mu_a * mu_b
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return num / den


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two ``(H, W)`` float64 planes on the 0..255 scale, valid windows only."""
    g = gaussian_window()
    half = SSIM_WINDOW // 2

    def blur(*images: np.ndarray) -> list[np.ndarray]:
        # The border mode is irrelevant: only windows that fit entirely are kept.
        return [
            cv2.sepFilter2D(x, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)[
                half:-half, half:-half
            ]
            for x in images
        ]

    return float(np.mean(ssim_map(a, b, blur)))


def ssim(pred: np.ndarray, gt: np.ndarray, channels: str = "rgb") -> float:
    """Gaussian-window SSIM of uint8 ``(H, W, 3)`` images (both sides at least 11 pixels).

    ``channels="rgb"`` averages the SSIM of the three channels; ``"luma"`` scores BT.601 luma.
    """
    a, b = _pair(pred, gt)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ViewsynthError(
            f"metrics: SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got "
            f"{a.shape[1]}x{a.shape[0]}"
        )
    if channels == "rgb":
        return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(3)]))
    if channels == "luma":
        w = np.asarray(LUMA)
        return _ssim_plane(a @ w, b @ w)
    raise ViewsynthError(f"metrics: SSIM channels must be 'rgb' or 'luma', got {channels!r}")


def ws_psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """Latitude-weighted PSNR (WS-PSNR) of uint8 equirect ``(H, W, 3)`` images, in dB."""
    a, b = _pair(pred, gt)
    return _ws_psnr(a, b)


def _ws_psnr(a: np.ndarray, b: np.ndarray) -> float:
    w = latitude_weights(a.shape[0])[:, None, None]
    sq = (a - b) ** 2
    # sum(w) counts every pixel and channel the squared errors were summed over.
    wmse = float(np.sum(w * sq) / (np.sum(w) * a.shape[1] * a.shape[2]))
    return _psnr_from_mse(wmse)


def seam_columns(width: int) -> np.ndarray:
    """Column indices nearest the seam: ``width/16`` (at least 1) at each side, ``(2 * n,)``."""
    n = max(1, int(round(width / 16)))
    return np.concatenate([np.arange(width - n, width), np.arange(n)])


def seam_ws_psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """WS-PSNR of uint8 equirect ``(H, W, 3)`` images over the columns next to the seam, in dB."""
    a, b = _pair(pred, gt)
    cols = seam_columns(a.shape[1])
    return _ws_psnr(a[:, cols], b[:, cols])


def score(prediction: np.ndarray, gt: np.ndarray, *, equirect: bool) -> dict[str, float]:
    """All metrics of a method's float ``(H, W, 3)`` output in [0, 1] against uint8 ``gt``.

    The prediction is rounded to uint8 first. Keys: ``psnr``, ``ssim``, ``ie`` and, for
    panoramas, ``ws_psnr`` and ``seam_ws_psnr``.
    """
    pred = to_uint8(prediction) if prediction.dtype != np.uint8 else prediction
    out = {"psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "ie": ie(pred, gt)}
    if equirect:
        out["ws_psnr"] = ws_psnr(pred, gt)
        out["seam_ws_psnr"] = seam_ws_psnr(pred, gt)
    return out
