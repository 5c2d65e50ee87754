"""Shared spherical geometry: equirect pixel <-> lon/lat, seam-aware padding, latitude weights.

Conventions (used by model, training, evaluation and export alike):
- An equirect image of width W and height H covers longitude [-pi, pi) left to right and latitude
  [pi/2, -pi/2] top to bottom; pixel centres sit at ``lon = (x + 0.5) / W * 2pi - pi`` and
  ``lat = pi/2 - (y + 0.5) / H * pi``.
- x is longitude and wraps (column W is column 0); y does not wrap.
- The centre column (x = W/2) faces longitude 0, the camera's forward direction.
"""

from __future__ import annotations

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


def pad_seam(x, pad: int, equirect: bool):
    """Pad an ``(..., H, W, C)`` array by ``pad`` pixels on each side of H and W.

    Panoramas: width wraps (circular), height reflects. Perspective: both reflect. Works on NumPy
    and JAX arrays alike (dispatches on the array's module). Never Flax's CIRCULAR padding, which
    would wrap the height too.
    """
    if pad == 0:
        return x
    xp = _array_module(x)
    nd = x.ndim
    hw = [(0, 0)] * (nd - 3) + [(pad, pad), (0, 0), (0, 0)]
    x = xp.pad(x, hw, mode="reflect")
    ww = [(0, 0)] * (nd - 3) + [(0, 0), (pad, pad), (0, 0)]
    return xp.pad(x, ww, mode="wrap" if equirect else "reflect")


def _array_module(x):
    if isinstance(x, np.ndarray):
        return np
    import jax.numpy as jnp

    return jnp


def yaw_roll_columns(width: int, yaw_degrees: float) -> int:
    """Columns to ``np.roll`` an equirect image so that ``yaw_degrees`` comes to the centre.

    Positive yaw is to the right: content at +yaw moves left by ``yaw/360 * W`` columns.
    """
    return -int(round(yaw_degrees / 360.0 * width))
