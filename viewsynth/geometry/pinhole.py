"""Pinhole (ordinary camera) rays and camera rotations.

Conventions: the camera looks along +z with x to the right and y up (as :mod:`.sphere`). An image
pixel ``(i, j)`` (row, column) of a ``width x height`` view is the ray
``(j + 0.5 - width/2, height/2 - i - 0.5, f)`` with focal ``f = 0.5 * width / tan(hfov / 2)``.
A view turned by pitch (about x; positive looks up) and then yaw (about y; positive turns right)
maps its rays with :func:`rotate_pitch_yaw`.
"""

from __future__ import annotations

import math

import numpy as np

from viewsynth.geometry.seam import array_module


def focal_from_hfov(width: int, hfov_deg: float) -> float:
    """The focal length in pixels of a ``width``-pixel view with horizontal field ``hfov_deg``."""
    return 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)


def pinhole_directions(
    width: int, height: int, hfov_deg: float, supersample: int = 1
) -> np.ndarray:
    """Unit rays ``(H*s, W*s, 3)`` through the (sub-)pixel centres of a pinhole view, float64."""
    s = supersample
    f = focal_from_hfov(width, hfov_deg)
    u = (np.arange(width * s, dtype=np.float64) + 0.5) / s - width / 2.0
    v = height / 2.0 - (np.arange(height * s, dtype=np.float64) + 0.5) / s
    rays = np.empty((height * s, width * s, 3), dtype=np.float64)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = f
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def rotate_pitch_yaw(dirs, pitch, yaw):
    """Directions ``(..., 3)`` turned by ``pitch`` about x (positive up), then ``yaw`` about y
    (positive right), angles in radians. NumPy or JAX (traced angles too)."""
    xp = array_module(dirs, pitch, yaw)
    cp, sp = xp.cos(pitch), xp.sin(pitch)
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    y, z = y * cp + z * sp, -y * sp + z * cp
    cy, sy = xp.cos(yaw), xp.sin(yaw)
    x, z = x * cy + z * sy, -x * sy + z * cy
    return xp.stack([x, y, z], axis=-1)
