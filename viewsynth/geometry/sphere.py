"""The sphere: equirect pixel <-> lon/lat <-> unit direction, latitude weights, yaw as columns,
rotations.

Conventions (used by model, synthetic data, evaluation and export alike):
- An equirect image of width W and height H covers longitude [-pi, pi) left to right and latitude
  [pi/2, -pi/2] top to bottom; pixel centres sit at ``lon = (x + 0.5) / W * 2pi - pi`` and
  ``lat = pi/2 - (y + 0.5) / H * pi``.
- x is longitude and wraps (column W is column 0); y does not wrap.
- The centre column (x = W/2) faces longitude 0, the camera's forward direction.
- Camera axes: x right, y up, z forward. The unit direction of (lon, lat) is
  ``(cos lat sin lon, sin lat, cos lat cos lon)``; back: ``lon = atan2(x, z)``, ``lat = asin(y)``.
"""

from __future__ import annotations

import math

import numpy as np


def pixel_to_lonlat(x: np.ndarray, y: np.ndarray, width: int, height: int):
    """Pixel coordinates (centres at +0.5) -> (lon, lat) in radians."""
    lon = (np.asarray(x) + 0.5) / width * 2.0 * np.pi - np.pi
    lat = np.pi / 2.0 - (np.asarray(y) + 0.5) / height * np.pi
    return lon, lat


def lonlat_to_pixel(lon: np.ndarray, lat: np.ndarray, width: int, height: int):
    """(lon, lat) in radians -> continuous pixel coordinates; x wrapped into [0, W)."""
    x = (np.asarray(lon) + np.pi) / (2.0 * np.pi) * width - 0.5
    y = (np.pi / 2.0 - np.asarray(lat)) / np.pi * height - 0.5
    return np.mod(x + 0.5, width) - 0.5, y


def latitude_weights(height: int) -> np.ndarray:
    """WS-PSNR row weights ``cos((j - H/2 + 0.5) * pi / H)``, shape ``(H,)``."""
    j = np.arange(height, dtype=np.float64)
    return np.cos((j - height / 2.0 + 0.5) * np.pi / height)


def lonlat_to_direction(lon, lat) -> np.ndarray:
    """(lon, lat) in radians, any equal shapes ``S`` -> unit directions ``S + (3,)``, float64."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)


def direction_to_lonlat(d) -> tuple[np.ndarray, np.ndarray]:
    """Directions ``(..., 3)`` (unit, or any length for lon alone) -> (lon, lat) in radians."""
    d = np.asarray(d)
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(np.clip(d[..., 1], -1.0, 1.0))
    return lon, lat


def equirect_directions(width: int, height: int, supersample: int = 1) -> np.ndarray:
    """Unit rays ``(H*s, W*s, 3)`` through the (sub-)pixel centres of an equirect image, float64.

    With ``supersample`` s > 1 each pixel is split into s x s sub-pixels (for anti-aliased renders).
    """
    s = supersample
    x = (np.arange(width * s) + 0.5) / s
    y = (np.arange(height * s) + 0.5) / s
    lon = x / width * 2.0 * np.pi - np.pi
    lat = np.pi / 2.0 - y / height * np.pi
    lon, lat = np.meshgrid(lon, lat)
    return lonlat_to_direction(lon, lat)


def yaw_roll_columns(width: int, yaw_degrees: float) -> int:
    """Columns to ``np.roll`` an equirect image so that ``yaw_degrees`` comes to the centre.

    Positive yaw is to the right: content at +yaw moves left by ``yaw/360 * W`` columns.
    """
    return -int(round(yaw_degrees / 360.0 * width))


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Ry(yaw) Rx(pitch) Rz(roll)`` for angles in degrees, ``(3, 3)`` float64.

    A panorama turned by it shows at ray ``d`` what the original shows at ``R d``: positive yaw
    brings content from the right to the centre, positive pitch brings it up from below (the view
    looks down), positive roll turns it clockwise (the view's top leans left).
    """
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz
