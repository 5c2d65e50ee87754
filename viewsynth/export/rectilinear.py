"""Rectilinear (ordinary camera) views cut out of an equirect panorama.

Camera conventions: the view looks along +z with x to the right and y up. An output pixel
``(i, j)`` of a ``width x height`` view is the ray ``(j + 0.5 - width/2, height/2 - i - 0.5, f)``
with focal ``f = 0.5 * width / tan(hfov / 2)``, rotated by pitch (about x; positive looks up),
then by yaw (about y; positive turns right). Its longitude is ``atan2(x, z)`` and latitude
``asin(y)`` (unit ray), placed on the panorama with :mod:`viewsynth.geometry`'s conventions: the
centre column is longitude 0 (forward), longitude grows to the right, the top row is the zenith.

Sampling is bilinear; longitude wraps across the seam, latitude clamps at the poles.

Yaw is a rotation about the vertical axis, so it only adds to the longitude of every ray: the
sampling maps depend on (panorama size, view size, hfov, pitch) alone and a
:class:`RectilinearProjector` caches them, making one view per output frame cost a shift and a
``cv2.remap``.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import cv2
import numpy as np

from viewsynth import geometry
from viewsynth.errors import ConfigError, FrameError

_MapKey = tuple[int, int, int, int, float, float]


def view_rays(width: int, height: int, hfov_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit rays ``(height, width, 3)`` (x right, y up, z forward) of a view at yaw 0, float64."""
    rays = geometry.pinhole_directions(width, height, hfov_deg)
    return geometry.rotate_pitch_yaw(rays, math.radians(pitch_deg), 0.0)


def _check(pano: np.ndarray, hfov_deg: float, width: int, height: int) -> None:
    if pano.ndim != 3 or pano.shape[2] != 3:
        raise FrameError(f"panorama must be (H, W, 3), got shape {pano.shape}")
    if not 0.0 < hfov_deg < 180.0:
        raise ConfigError(f"hfov_deg must be in (0, 180) degrees, got {hfov_deg}")
    if width < 1 or height < 1:
        raise ConfigError(f"view size must be positive, got {width}x{height}")


class RectilinearProjector:
    """Renders rectilinear views of panoramas, caching sampling maps between calls.

    The cache is keyed by (panorama size, view size, hfov, pitch) and keeps the ``max_cached``
    most recently used maps (each ``2 * 4 * width * height`` bytes), so a walkthrough whose pitch
    and hfov stay fixed computes its maps once. Use one projector per video.
    """

    def __init__(self, max_cached: int = 4) -> None:
        self.max_cached = max_cached
        self._maps: OrderedDict[_MapKey, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def view(
        self,
        pano: np.ndarray,
        yaw_deg: float,
        pitch_deg: float,
        hfov_deg: float,
        width: int,
        height: int,
    ) -> np.ndarray:
        """The ``(height, width, 3)`` view of ``pano`` (``(H, W, 3)``, float32 in [0, 1]).

        Other dtypes cv2.remap accepts (uint8) come back in the same dtype.
        """
        pano = np.asarray(pano)
        _check(pano, hfov_deg, width, height)
        pano_h, pano_w = pano.shape[:2]
        map_x, map_y = self._base_maps(pano_w, pano_h, width, height, hfov_deg, pitch_deg)
        # Yaw shifts longitude only; the shift is taken modulo the width so that, with the base
        # map in [-0.5, W - 0.5), coordinates stay within [-0.5, 2W) where BORDER_WRAP is exact.
        shift = np.float32((yaw_deg / 360.0 * pano_w) % pano_w)
        return cv2.remap(
            pano,
            map_x + shift,
            map_y,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_WRAP,
        )

    def _base_maps(
        self, pano_w: int, pano_h: int, width: int, height: int, hfov_deg: float, pitch_deg: float
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (pano_w, pano_h, width, height, float(hfov_deg), float(pitch_deg))
        if key in self._maps:
            self._maps.move_to_end(key)
            return self._maps[key]
        lon, lat = geometry.direction_to_lonlat(view_rays(width, height, hfov_deg, pitch_deg))
        map_x, map_y = geometry.lonlat_to_pixel(lon, lat, pano_w, pano_h)
        # Clamp latitude inside the image so BORDER_WRAP never wraps the rows top to bottom.
        map_y = np.clip(map_y, 0.0, pano_h - 1.0)
        maps = (map_x.astype(np.float32), map_y.astype(np.float32))
        self._maps[key] = maps
        while len(self._maps) > self.max_cached:
            self._maps.popitem(last=False)
        return maps


def rectilinear_view(
    pano: np.ndarray,
    yaw_deg: float,
    pitch_deg: float,
    hfov_deg: float,
    width: int,
    height: int,
    projector: RectilinearProjector | None = None,
) -> np.ndarray:
    """The ``(height, width, 3)`` rectilinear view of an equirect ``pano`` ``(H, W, 3)`` float32.

    ``yaw_deg`` > 0 turns right, ``pitch_deg`` > 0 looks up, ``hfov_deg`` is the horizontal field
    of view in (0, 180). Pass the same ``projector`` for every frame of a video to reuse the
    sampling maps (a fresh one is made otherwise).
    """
    projector = projector if projector is not None else RectilinearProjector(max_cached=1)
    return projector.view(pano, yaw_deg, pitch_deg, hfov_deg, width, height)
