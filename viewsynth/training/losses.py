"""Training losses (JAX) and validation scores (NumPy, on the uint8 image a user would get).

Images are ``(B, H, W, 3)`` float32 RGB in [0, 1]. Per-pixel losses are averaged with latitude
weights on panoramas (row j of H weighs ``cos((j - H/2 + 0.5) pi / H)``, as WS-PSNR does), so the
stretched poles count for what they cover on the sphere; ordinary images weigh every pixel alike.
The census transform looks at a ``(2r+1)^2`` window that wraps across the seam of a panorama
(``viewsynth.geometry.pad_seam``), never across its top and bottom.

The sequence loss (RAFT) weighs the frame of iteration ``i`` of ``K`` by ``gamma ** (K - i - 1)``:
the last iteration counts most, earlier ones are pulled towards the answer too.
The visibility loss asks the fusion weights to pick the input that sees a pixel where only one
does (the renderer's visibility, ``Triplet.visibility``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from viewsynth.evaluation import metrics
from viewsynth.geometry import latitude_weights, pad_seam


def charbonnier(pred, target, eps: float = 1e-3):
    """Robust L1 ``sqrt((p - q)^2 + eps^2)`` averaged over channels: ``(B, H, W)``."""
    return jnp.mean(jnp.sqrt((pred - target) ** 2 + eps * eps), axis=-1)


def _ternary(gray, radius: int, equirect: bool):
    """Soft ternary census of ``(B, H, W, 1)`` grey images: ``(B, H, W, (2r+1)^2)``."""
    h, w = gray.shape[1], gray.shape[2]
    padded = pad_seam(gray, radius, equirect)
    size = 2 * radius + 1
    shifted = [padded[:, dy : dy + h, dx : dx + w, 0] for dy in range(size) for dx in range(size)]
    diff = jnp.stack(shifted, axis=-1) - gray
    # Scaled to uint8 steps so the soft sign saturates for real edges and ignores tiny noise.
    diff = diff * 255.0
    return diff / jnp.sqrt(0.81 + diff * diff)


def census(pred, target, *, equirect: bool, radius: int = 3):
    """Soft Hamming distance of ternary census transforms: ``(B, H, W)``, in [0, 1).

    Insensitive to brightness and contrast changes, so it matches structure where exposure differs.
    """
    weights = jnp.asarray([0.299, 0.587, 0.114], jnp.float32)
    g_pred = (pred @ weights)[..., None]
    g_target = (target @ weights)[..., None]
    d = (_ternary(g_pred, radius, equirect) - _ternary(g_target, radius, equirect)) ** 2
    return jnp.mean(d / (0.1 + d), axis=-1)


def _band(g: np.ndarray, n: int) -> np.ndarray:
    """``(n + len(g) - 1, n)``: column j holds the kernel ``g`` from row j (a 'valid' 1-D filter)."""
    m = np.zeros((n + len(g) - 1, n), np.float32)
    for j in range(n):
        m[j : j + len(g), j] = g
    return m


def ssim_map(pred, target, *, equirect: bool):
    """Per-pixel SSIM ``(B, H, W)`` (channels averaged) for images in [0, 1]: the evaluation's
    SSIM (:func:`viewsynth.evaluation.metrics.ssim_map`, its window and constants) with a blur that
    gives every pixel a value.

    The window wraps across the seam of a panorama and reflects at other borders (the evaluation
    keeps only windows that fit; inside the image the two agree).
    """
    g = metrics.gaussian_window().astype(np.float32)
    r = len(g) // 2
    c = pred.shape[-1]
    h, w = pred.shape[1], pred.shape[2]

    def blur(*images):
        # The five local moments of every channel, blurred at once: padded, then one banded matrix
        # product per axis (on a CPU ~10x faster to differentiate than a depthwise convolution).
        stack = pad_seam(jnp.concatenate(images, axis=-1), r, equirect)
        stack = jnp.einsum("bhwc,hk->bkwc", stack, _band(g, h))
        stack = jnp.einsum("bhwc,wk->bhkc", stack, _band(g, w))
        return [stack[..., i * c : (i + 1) * c] for i in range(len(images))]

    return jnp.mean(metrics.ssim_map(pred, target, blur, peak=1.0), axis=-1)


def pixel_weights(height: int, width: int, *, equirect: bool) -> np.ndarray:
    """``(H, W)`` weights with mean 1: latitude weights on panoramas, uniform otherwise."""
    if not equirect:
        return np.ones((height, width), np.float32)
    rows = latitude_weights(height).astype(np.float32)
    rows = rows / rows.mean()
    return np.broadcast_to(rows[:, None], (height, width)).astype(np.float32)


def weighted_mean(per_pixel, *, equirect: bool):
    """Mean of ``(B, H, W)`` with :func:`pixel_weights`."""
    h, w = per_pixel.shape[1], per_pixel.shape[2]
    return jnp.mean(per_pixel * pixel_weights(h, w, equirect=equirect))


def frame_loss(
    pred,
    target,
    *,
    equirect: bool,
    census_weight: float = 1.0,
    census_radius: int = 3,
    ssim_weight: float = 0.0,
    mse_weight: float = 0.0,
):
    """Charbonnier plus ``census_weight`` times census plus ``ssim_weight`` times
    ``(1 - SSIM) / 2`` plus ``mse_weight`` times the squared error (channel mean),
    latitude-weighted on panoramas: scalar.

    The squared term is what PSNR scores: where two candidate pixels disagree and the network
    cannot tell which is right, the L1-like Charbonnier is smallest for picking one (the median),
    the squared error for blending them by their odds (the mean). With weight 5 its gradient
    equals Charbonnier's at an error of 0.1 (25 grey levels).
    """
    per_pixel = charbonnier(pred, target)
    if mse_weight > 0:
        per_pixel = per_pixel + mse_weight * jnp.mean((pred - target) ** 2, axis=-1)
    if census_weight > 0:
        per_pixel = per_pixel + census_weight * census(
            pred, target, equirect=equirect, radius=census_radius
        )
    if ssim_weight > 0:
        per_pixel = per_pixel + ssim_weight * 0.5 * (
            1.0 - ssim_map(pred, target, equirect=equirect)
        )
    return weighted_mean(per_pixel, equirect=equirect)


def sequence_loss(
    frames: Sequence,
    target,
    *,
    equirect: bool,
    gamma: float = 0.8,
    census_weight: float = 1.0,
    census_radius: int = 3,
    ssim_weight: float = 0.0,
    mse_weight: float = 0.0,
):
    """``sum_i gamma^(K-i-1) frame_loss(frames[i], target)`` over the K iterations: scalar.

    Also returns the per-iteration frame losses ``(K,)`` for logging.
    """
    k = len(frames)
    per_iter = jnp.stack(
        [
            frame_loss(
                f,
                target,
                equirect=equirect,
                census_weight=census_weight,
                census_radius=census_radius,
                ssim_weight=ssim_weight,
                mse_weight=mse_weight,
            )
            for f in frames
        ]
    )
    return jnp.sum(iteration_weights(k, gamma) * per_iter), per_iter


def iteration_weights(k: int, gamma: float):
    """``(K,)``: iteration ``i``'s weight ``gamma ** (K - i - 1)`` in the sequence loss."""
    return jnp.asarray([gamma ** (k - i - 1) for i in range(k)], jnp.float32)


def visibility_loss(masks: Sequence, truth, valid, *, equirect: bool, eps: float = 1e-4):
    """Binary cross-entropy of frame 0's fusion weights ``masks`` (each ``(B, H, W, 1)`` in
    [0, 1]: every candidate's ``Fields.mask``; their mean) against the
    input that sees each pixel, where exactly one does: scalar.

    ``truth`` ``(B, H, W, 2)``: whether frame 0 and frame 1 see the pixel's point
    (``Batch.visibility``); the target is 1 where only frame 0 does, 0 where only frame 1 does.
    A pixel counts where the sample has visibility (``valid`` ``(B,)``) and the occlusion is
    one-sided (seen by both or neither: no answer), latitude-weighted on panoramas as
    :func:`weighted_mean`; the masks are clipped to ``[eps, 1 - eps]`` before the log, and no such
    pixel at all gives 0.
    """
    h, w = truth.shape[1:3]
    only0 = (truth[..., 0] > 0.5) & (truth[..., 1] <= 0.5)
    only1 = (truth[..., 1] > 0.5) & (truth[..., 0] <= 0.5)
    target = only0.astype(jnp.float32)
    weight = (only0 | only1) * pixel_weights(h, w, equirect=equirect) * valid[:, None, None]
    total = jnp.maximum(jnp.sum(weight), 1e-6)
    terms = []
    for m in masks:
        m = jnp.clip(m[..., 0], eps, 1.0 - eps)
        bce = -(target * jnp.log(m) + (1.0 - target) * jnp.log(1.0 - m))
        terms.append(jnp.sum(weight * bce) / total)
    return sum(terms) / len(terms)


def psnr_uint8(pred: np.ndarray, target: np.ndarray, *, equirect: bool = False) -> float:
    """PSNR in dB of ``(H, W, 3)`` frames after rounding to uint8; WS-PSNR when ``equirect``.

    WS-PSNR weighs row j by ``cos((j - H/2 + 0.5) pi / H)``. Identical images give ``inf``.
    """
    p = np.clip(np.rint(np.asarray(pred, np.float64) * 255.0), 0, 255)
    q = np.clip(np.rint(np.asarray(target, np.float64) * 255.0), 0, 255)
    err = (p - q) ** 2
    if equirect:
        w = latitude_weights(err.shape[0])[:, None, None]
        mse = float(np.sum(err * w) / (np.sum(w) * err.shape[1] * err.shape[2]))
    else:
        mse = float(np.mean(err))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))
