"""Epipolar rectification of a panorama pair: both turned so that camera 1 lies at the north pole.

In the rectified axes (``Q`` maps camera 0's axes to them, ``Q R^T`` camera 1's) camera 1's centre
is ``+y`` at unit distance, so a point seen by camera 0 along ``r`` at inverse depth ``q`` is seen
by camera 1 along ``r - q e_y``: the same longitude, the latitude moved from ``lat`` to
``atan2(sin lat - q, cos lat)``. Every epipolar line is a column, and the sweep becomes a 1-D
resampling of each column (no per-hypothesis trigonometry over the image). ``Q``'s turn about the
pole is fixed by the cameras' up axis, so turning both cameras about ``y`` (rolling both panoramas)
turns ``Q`` with them and leaves the rectified images as they were.
"""

from __future__ import annotations

import numpy as np

from viewsynth import geometry
from viewsynth.sweep.cameras import PairCameras, rays_of, rotate, to_pixels
from viewsynth.warp import seam_remap


def rectifying_rotation(cams: PairCameras) -> np.ndarray:
    """``Q`` ``(3, 3)``: camera 0's axes -> rectified axes, with ``Q c1 = e_y``."""
    pole = cams.centre1 / np.linalg.norm(cams.centre1)
    ref = np.array([0.0, 1.0, 0.0])
    if abs(pole @ ref) > 0.9:  # travelling (nearly) up or down: fix the turn by camera 0's x
        ref = np.array([1.0, 0.0, 0.0])
    z = ref - (ref @ pole) * pole
    z /= np.linalg.norm(z)
    x = np.cross(pole, z)
    return np.stack([x, pole, z])  # rows: the rectified axes in camera 0's


def rectify(image: np.ndarray, to_camera: np.ndarray) -> np.ndarray:
    """``image`` ``(h, w[, C])`` (equirect) resampled into rectified axes; ``to_camera`` maps
    rectified directions to the camera's (``Q^T`` for camera 0, ``R Q^T`` for camera 1)."""
    h, w = image.shape[:2]
    mx, my = to_pixels(rotate(rays_of(w, h), to_camera), w, h)
    return seam_remap(image, mx, my, equirect=True)


def unrectify(image: np.ndarray, to_rectified: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rectify`: ``to_rectified`` maps the camera's directions to rectified."""
    return rectify(image, to_rectified)


def _sin_cos_lat(height: int):
    _, lat = geometry.pixel_to_lonlat(0.0, np.arange(height, dtype=np.float64), 2 * height, height)
    return np.sin(lat)[:, None], np.cos(lat)[:, None]


def epipolar_rows(height: int, q: np.ndarray, sign: float) -> np.ndarray:
    """Row (continuous) where the other camera (at ``sign * e_y``; ``+1`` seen from camera 0) sees
    the point of row ``y`` at inverse depth ``q``: ``q`` ``(N, 1, 1)`` gives ``(N, h, 1)``, a map
    ``(h, w)`` gives ``(h, w)``."""
    s, c = _sin_cos_lat(height)
    lat2 = np.arctan2(s - sign * np.asarray(q, np.float64), c)
    _, rows = geometry.lonlat_to_pixel(np.zeros_like(lat2), lat2, 2 * height, height)
    return np.clip(rows, 0.0, height - 1.0)


def column_lookup(image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``image`` ``(h, w)`` sampled at continuous ``rows`` (``(..., h, w)`` or ``(..., h, 1)``) of
    its own column, linearly: ``(..., h, w)`` float32."""
    h, w = image.shape
    y0 = np.floor(rows).astype(np.int64)
    y1 = np.minimum(y0 + 1, h - 1)
    f = (rows - y0).astype(np.float32)
    x = np.arange(w)
    a, b = image[y0, x], image[y1, x]
    return (a + f * (b - a)).astype(np.float32)


def inverse_depth_seen(q: np.ndarray, sign: float) -> np.ndarray:
    """Inverse depth from the other camera (at ``sign * e_y``) of the points of each row at inverse
    depth ``q`` ``(h, w)``: ``q / |r - sign q e_y|``."""
    s, _ = _sin_cos_lat(q.shape[0])
    s = s.astype(np.float32)
    return q / np.sqrt(np.maximum(1.0 - 2.0 * sign * q * s + q * q, 1e-12))
