"""How much fine detail a frame holds, against the truth and along a walkthrough (issue 33).

PSNR against a true middle frame rewards a blur wherever a method is unsure; these measures see
the blur. Every one works on grey at a common working width:

- **grey at 512 wide** (``grey``): the image as float in [0, 1] (uint8 is divided by 255, so a
  picture gives the same figures as uint8 or as float), turned to grey (BT.601 luma, OpenCV's
  ``RGB2GRAY``), then area-averaged (``cv2.INTER_AREA``) to ``WORK_WIDTH`` = 512 columns with the
  aspect kept; never enlarged (a narrower image stays as it is). Area resampling keeps sensor noise
  and JPEG blocks out of the measure.
- **detail** (``detail``): the mean over pixels of the squared Sobel gradient magnitude
  ``gx^2 + gy^2`` (3x3 Sobel on the grey image in [0, 1]). The borders are mirrored
  (``reflect-101``); on panoramas (``equirect``) the columns wrap around the seam instead, and each
  row weighs ``cos(latitude)`` (``viewsynth.geometry.latitude_weights``, normalised to sum 1), as
  WS-PSNR does, so detail near the poles counts less.
- **detail ratio** (``detail_ratio``): ``detail(pred) / detail(gt)``: 1.0 when the output holds as
  much detail as the real frame, below 1 when it is softer.

Along a walkthrough (``walk_measures``), a sequence of frames in which the photos sit at known
positions and the in-between frames fill the gaps:

- **pulse**: for each pair of consecutive photos at positions ``a < b`` with at least one frame
  between them, the detail of the mid-pair frame (position ``(a + b) / 2``; when that falls
  between two frames, the mean of their two details) over the mean of the two photos' details;
  the pulse is the mean of that over the pairs. 1.0: the walkthrough is as sharp between photos
  as at them; below 1 it softens between photos and flashes sharp at each.
- **step size** (``step_size``): the mean absolute difference of two consecutive frames' grey
  images at 512 wide (on the [0, 1] scale), cos(latitude)-weighted per row on panoramas as above.
- **step ratio**: over the pairs with at least two in-between frames (``b - a >= 3``), the mean
  size of the steps next to a photo (``a -> a + 1`` and ``b - 1 -> b``) over the mean size of the
  steps between two in-between frames (``i -> i + 1`` for ``a + 1 <= i <= b - 2``), both means
  pooled over all those pairs. 1.0: the motion runs on evenly through the photos; above 1 the
  frames jump at each photo.
- **motion step ratio**: the step ratio of the same frames' grey images low-passed by a Gaussian
  of ``MOTION_SIGMA`` (4) pixels at 512 wide (columns wrapped on panoramas), which keeps what
  moves and leaves out the fine detail. A step ratio above 1 is either: a frame next to a photo
  that is softer than the photo (the pulse, seen as a step), or a motion that jumps at the photo.
  The motion step ratio near 1 with the step ratio above it says the jump is the detail alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.geometry import latitude_weights

#: The width every measure works at (area-averaged down to it; never enlarged).
WORK_WIDTH = 512
#: The low-pass of the motion step ratio, pixels at ``WORK_WIDTH``: detail finer than about ten
#: pixels is left out (on the sample walk a cross-fade's ratio stays 0.998 at any sigma; the
#: default's falls from 1.19 at 0 to 1.05 at 2 and 1.04 at 4, `flow`'s rises to 1.61).
MOTION_SIGMA = 4.0


def grey(image: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    """``(H, W, 3)`` uint8 or float in [0, 1] RGB -> ``(h, w)`` float64 grey in [0, 1], at
    ``min(W, width)`` columns (area-averaged, aspect kept)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ViewsynthError(f"detail: expected an (H, W, 3) RGB image, got {image.shape}")
    if image.dtype == np.uint8:
        rgb = image.astype(np.float32) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        rgb = image.astype(np.float32)
    else:
        raise ViewsynthError(f"detail: expected uint8 or float in [0, 1], got {image.dtype}")
    lum = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = lum.shape
    if w > width:
        size = (width, max(1, round(h * width / w)))
        lum = cv2.resize(lum, size, interpolation=cv2.INTER_AREA)
    return lum.astype(np.float64)


def _row_weights(height: int, equirect: bool) -> np.ndarray:
    """Per-row weights summing to 1: cos(latitude) on panoramas, uniform otherwise."""
    w = latitude_weights(height) if equirect else np.ones(height)
    return w / w.sum()


def _weighted_mean(values: np.ndarray, equirect: bool) -> float:
    """Mean of ``(h, w)`` values, rows weighted by ``_row_weights``."""
    return float(_row_weights(values.shape[0], equirect) @ values.mean(axis=1))


def _gradient_energy(lum: np.ndarray, equirect: bool) -> np.ndarray:
    """``gx^2 + gy^2`` of the 3x3 Sobel, ``(h, w)``: rows mirrored, columns wrapped on panoramas."""
    padded = np.pad(lum, ((1, 1), (0, 0)), mode="reflect")
    padded = np.pad(padded, ((0, 0), (1, 1)), mode="wrap" if equirect else "reflect")
    gx = cv2.Sobel(padded, cv2.CV_64F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(padded, cv2.CV_64F, 0, 1, ksize=3)[1:-1, 1:-1]
    return gx * gx + gy * gy


def detail(image: np.ndarray, *, equirect: bool) -> float:
    """Detail of an ``(H, W, 3)`` uint8 or float [0, 1] RGB image: the mean squared Sobel gradient
    magnitude of its grey at 512 wide (rows cos(latitude)-weighted on panoramas)."""
    lum = grey(image)
    if min(lum.shape) < 2:
        raise ViewsynthError(f"detail: the image is too small ({image.shape[1]}x{image.shape[0]})")
    return _weighted_mean(_gradient_energy(lum, equirect), equirect)


def detail_ratio(pred: np.ndarray, gt: np.ndarray, *, equirect: bool) -> float:
    """``detail(pred) / detail(gt)`` of two ``(H, W, 3)`` images; 1.0 when both are flat,
    ``inf`` when only the truth is."""
    if np.shape(pred) != np.shape(gt):
        raise ViewsynthError(
            f"detail: prediction {np.shape(pred)} and ground truth {np.shape(gt)} differ in shape"
        )
    num, den = detail(pred, equirect=equirect), detail(gt, equirect=equirect)
    if den == 0.0:
        return 1.0 if num == 0.0 else float("inf")
    return num / den


def step_size(a: np.ndarray, b: np.ndarray, *, equirect: bool, sigma: float = 0.0) -> float:
    """Mean absolute difference of two ``(H, W, 3)`` frames' grey at 512 wide, in [0, 1]
    (rows cos(latitude)-weighted on panoramas); ``sigma`` > 0: of their grey low-passed by a
    Gaussian of that many pixels (:data:`MOTION_SIGMA`)."""
    ga, gb = grey(a), grey(b)
    if ga.shape != gb.shape:
        raise ViewsynthError(f"detail: frames {np.shape(a)} and {np.shape(b)} differ in shape")
    if sigma > 0:
        ga, gb = _low_pass(ga, sigma, equirect), _low_pass(gb, sigma, equirect)
    return _weighted_mean(np.abs(ga - gb), equirect)


def _low_pass(lum: np.ndarray, sigma: float, equirect: bool) -> np.ndarray:
    """``lum`` blurred by a Gaussian of ``sigma`` pixels: rows mirrored, columns wrapped on
    panoramas (the seam is no border)."""
    pad = int(np.ceil(4 * sigma)) if equirect else 0
    wide = np.pad(lum, ((0, 0), (pad, pad)), mode="wrap") if pad else lum
    blurred = cv2.GaussianBlur(wide, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    return blurred[:, pad : pad + lum.shape[1]] if pad else blurred


@dataclass(frozen=True)
class WalkMeasures:
    """The walkthrough's pulse and step ratio (module docstring), with what they came from."""

    pulse: float  # mean over pairs of mid-pair detail / mean of the two photos' detail
    step_ratio: float  # mean step next to a photo / mean step between in-between frames
    motion_step_ratio: float  # the same, of the frames low-passed (MOTION_SIGMA): the motion's
    pair_pulses: tuple[float, ...]  # one per pair with a frame between its photos
    edge_step: float  # mean size of the steps next to a photo
    inner_step: float  # mean size of the steps between in-between frames


def walk_measures(
    frames: Sequence[np.ndarray], photos: Sequence[int], *, equirect: bool
) -> WalkMeasures:
    """Pulse and step ratio of a walkthrough: ``frames`` ``(H, W, 3)`` in playing order (uint8 or
    float in [0, 1]), ``photos`` the ascending positions in ``frames`` of the real photos.

    Pairs without a frame between their photos add nothing; a measure with no pair to come from
    is ``nan``. Raises ``ViewsynthError`` when ``photos`` is not ascending inside ``frames``.
    """
    photos = [int(p) for p in photos]
    if len(photos) < 2 or any(b <= a for a, b in zip(photos, photos[1:], strict=False)):
        raise ViewsynthError(f"detail: photo positions must be two or more, ascending: {photos}")
    if photos[0] < 0 or photos[-1] >= len(frames):
        raise ViewsynthError(
            f"detail: photo positions {photos} fall outside the {len(frames)} frames"
        )
    details: dict[int, float] = {}

    def detail_at(k: int) -> float:
        if k not in details:
            details[k] = detail(frames[k], equirect=equirect)
        return details[k]

    steps: dict[tuple[int, float], float] = {}  # (k, sigma) -> size of the step k -> k + 1

    def step_at(k: int, sigma: float = 0.0) -> float:
        if (k, sigma) not in steps:
            steps[k, sigma] = step_size(frames[k], frames[k + 1], equirect=equirect, sigma=sigma)
        return steps[k, sigma]

    def mean_step(at: list[int], sigma: float = 0.0) -> float:
        return float(np.mean([step_at(k, sigma) for k in at])) if at else float("nan")

    def ratio(sigma: float) -> float:
        inner = mean_step(inner_at, sigma)
        return mean_step(edge_at, sigma) / inner if inner_at and inner > 0 else float("nan")

    pulses, edge_at, inner_at = [], [], []
    for a, b in zip(photos, photos[1:], strict=False):
        if b - a < 2:
            continue
        lo, hi = (a + b) // 2, (a + b + 1) // 2  # the same frame when a + b is even
        mid = (detail_at(lo) + detail_at(hi)) / 2.0
        ends = (detail_at(a) + detail_at(b)) / 2.0
        pulses.append(mid / ends if ends > 0 else float("nan"))
        if b - a >= 3:
            edge_at += [a, b - 1]
            inner_at += list(range(a + 1, b - 1))
    return WalkMeasures(
        pulse=float(np.mean(pulses)) if pulses else float("nan"),
        step_ratio=ratio(0.0),
        motion_step_ratio=ratio(MOTION_SIGMA),
        pair_pulses=tuple(pulses),
        edge_step=mean_step(edge_at),
        inner_step=mean_step(inner_at),
    )
