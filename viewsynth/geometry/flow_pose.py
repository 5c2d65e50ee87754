"""The relative pose of two panoramas from a dense 2D flow between them, not from features.

The geometry network computes DIS flows of each pair anyway (its start, at the network's working
size): correspondences read off them serve pycolmap's estimator as well as SIFT's matches do, and
cost no detection or matching. Pixels of view 0 are taken on a regular grid (every :data:`STEP`-th
row and column), kept where the flow is trusted (its forward-backward visibility is at least
:data:`MIN_VISIBILITY`), where the image has texture (the :data:`TEXTURED` share of the grid with
the most gradient energy, above an absolute floor) and away from the poles (within
:data:`MAX_LATITUDE_DEG`, where equirect stretching makes 2D flow least reliable); at most
:data:`MAX_POINTS` of them, drawn with a fixed seed. Each point and its match ``p + f01(p)``
(x wrapping) become unit bearings, and :func:`viewsynth.geometry.pose.pose_from_bearings` makes
the pose with the same checks as SIFT's (too few inliers, pure rotation, too little parallax).

Measured against SIFT's pose on the real walks of ``real360_dev`` (TRAINING_LOG.md, session 17):
within a few tenths of a degree of rotation and one or two degrees of direction of travel, and a
pose on wide pairs where SIFT finds too few inliers.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from viewsynth.geometry.pose import RelativePose, pose_from_bearings, unusable
from viewsynth.geometry.sphere import lonlat_to_direction, pixel_to_lonlat

#: Grid spacing of the sampled pixels, in flow pixels.
STEP = 4
#: Least forward-backward visibility of a sampled pixel (``classical.visibility``, 1 = consistent).
MIN_VISIBILITY = 0.5
#: Share of the visible grid points kept, those with the most gradient energy.
TEXTURED = 0.3
#: Gradient energy (grey in [0, 1], Sobel, 5x5 mean) below which a pixel is blank whatever its rank.
MIN_ENERGY = 1e-3
#: Points farther from the equator than this are not used.
MAX_LATITUDE_DEG = 75.0
#: At most this many correspondences go to RANSAC (a fixed-seed draw).
MAX_POINTS = 1000
#: RANSAC threshold in flow pixels (DIS is less precise than a SIFT keypoint: 0.7 there).
MAX_ERROR_PX = 1.0
#: RANSAC's least number of samples: with most correspondences right, pycolmap's default 1000
#: costs some 30 ms on 1000 points; its confidence test still decides when to stop.
MIN_TRIALS = 100
#: The flag every pose made here carries (in the pair's record).
FLAG = "pose from the DIS flow"


def flow_correspondences(
    img0: np.ndarray, f01: np.ndarray, vis0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(M, 2)`` (x, y) in view 0 and their matches in view 1 along ``f01``
    ``(h, w, 2)`` (view 0 -> view 1, pixels; x wrapped into [0, w)); ``img0`` ``(h, w, 3)`` in
    [0, 1] (resampled to the flow's size if it is not that size), ``vis0`` ``(h, w)``."""
    h, w = f01.shape[:2]
    if img0.shape[:2] != (h, w):
        img0 = cv2.resize(
            np.ascontiguousarray(img0, np.float32), (w, h), interpolation=cv2.INTER_AREA
        )
    grey = cv2.cvtColor(np.ascontiguousarray(img0, np.float32), cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    energy = cv2.boxFilter(gx * gx + gy * gy, -1, (5, 5))
    ys, xs = np.mgrid[STEP // 2 : h : STEP, STEP // 2 : w : STEP]
    ys, xs = ys.ravel(), xs.ravel()
    lat = np.abs(0.5 - (ys + 0.5) / h) * 180.0
    ok = (lat <= MAX_LATITUDE_DEG) & (vis0[ys, xs] >= MIN_VISIBILITY)
    ys, xs = ys[ok], xs[ok]
    e = energy[ys, xs]
    if len(e):
        keep = (e >= np.quantile(e, 1.0 - TEXTURED)) & (e >= MIN_ENERGY)
        ys, xs = ys[keep], xs[keep]
    if len(xs) > MAX_POINTS:
        pick = np.sort(np.random.default_rng(0).choice(len(xs), MAX_POINTS, replace=False))
        ys, xs = ys[pick], xs[pick]
    f = f01[ys, xs].astype(np.float64)
    p0 = np.stack([xs, ys], axis=-1).astype(np.float64)
    p1 = np.stack([np.mod(xs + f[:, 0], w), ys + f[:, 1]], axis=-1)
    return p0, p1


def pose_from_flow(
    img0: np.ndarray, f01: np.ndarray, vis0: np.ndarray, *, seed: int = 0
) -> RelativePose:
    """The pose of view 1 relative to view 0 (panoramas) from the flow ``f01`` and its visibility
    ``vis0`` at their own size (see the module docstring); ``usable`` False with the reason when
    it cannot serve. Turning both panoramas by whole columns is the caller's business (the
    network runs on view 0's canonical seam). ``seed``: RANSAC's."""
    h, w = f01.shape[:2]
    if abs(w - 2 * h) > 1:
        return unusable(f"projections differ (equirect needs 2:1, got {w}x{h})", flags=(FLAG,))
    p0, p1 = flow_correspondences(img0, f01, vis0)
    d0 = lonlat_to_direction(*pixel_to_lonlat(p0[:, 0], p0[:, 1], w, h))
    d1 = lonlat_to_direction(*pixel_to_lonlat(p1[:, 0], p1[:, 1], w, h))
    return pose_from_bearings(
        d0, d1, 2.0 * math.pi / w, MAX_ERROR_PX, flags=[FLAG], min_trials=MIN_TRIALS, seed=seed
    )
