"""Geometry: every mapping between directions and pixels, equirect and pinhole, and the seam.

- :mod:`.sphere`: equirect pixel <-> (lon, lat) <-> unit direction, latitude weights, yaw.
- :mod:`.pinhole`: rays of an ordinary camera from its field of view; pitch/yaw rotation.
- :mod:`.seam`: padding that wraps longitude (NumPy and JAX).
"""

from viewsynth.geometry.pinhole import focal_from_hfov, pinhole_directions, rotate_pitch_yaw
from viewsynth.geometry.seam import array_module, pad_seam
from viewsynth.geometry.sphere import (
    direction_to_lonlat,
    equirect_directions,
    latitude_weights,
    lonlat_to_direction,
    lonlat_to_pixel,
    pixel_to_lonlat,
    yaw_roll_columns,
)

__all__ = [
    "array_module",
    "direction_to_lonlat",
    "equirect_directions",
    "focal_from_hfov",
    "latitude_weights",
    "lonlat_to_direction",
    "lonlat_to_pixel",
    "pad_seam",
    "pinhole_directions",
    "pixel_to_lonlat",
    "rotate_pitch_yaw",
    "yaw_roll_columns",
]
