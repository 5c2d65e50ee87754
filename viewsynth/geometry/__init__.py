"""Geometry: every mapping between directions and pixels, equirect and pinhole, and the seam.

- :mod:`.sphere`: equirect pixel <-> (lon, lat) <-> unit direction, latitude weights, yaw,
  rotations of the sphere.
- :mod:`.pinhole`: rays of an ordinary camera from its field of view; pitch/yaw rotation.
- :mod:`.seam`: padding that wraps longitude (NumPy and JAX).
- :mod:`.features`: SIFT matches of two views as unit bearings (seam-padded for panoramas).
- :mod:`.pose`: relative pose of two shots (pycolmap LO-RANSAC), with the reasons it may not serve.
"""

from viewsynth.geometry.features import Matches, match_views, pinhole_pixel_to_direction
from viewsynth.geometry.pinhole import focal_from_hfov, pinhole_directions, rotate_pitch_yaw
from viewsynth.geometry.pose import RelativePose, relative_pose, rotation_angle_deg
from viewsynth.geometry.seam import array_module, pad_seam
from viewsynth.geometry.sphere import (
    direction_to_lonlat,
    equirect_directions,
    latitude_weights,
    lonlat_to_direction,
    lonlat_to_pixel,
    pixel_to_lonlat,
    rotation_matrix,
    yaw_roll_columns,
)

__all__ = [
    "Matches",
    "RelativePose",
    "array_module",
    "direction_to_lonlat",
    "equirect_directions",
    "focal_from_hfov",
    "latitude_weights",
    "lonlat_to_direction",
    "lonlat_to_pixel",
    "match_views",
    "pad_seam",
    "pinhole_directions",
    "pinhole_pixel_to_direction",
    "pixel_to_lonlat",
    "relative_pose",
    "rotate_pitch_yaw",
    "rotation_matrix",
    "rotation_angle_deg",
    "yaw_roll_columns",
]
