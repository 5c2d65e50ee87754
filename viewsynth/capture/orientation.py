"""Which way up a panorama is: the orientation tags of 360 captures, applied on the sphere.

An orientation is ``(yaw, pitch, roll)`` in degrees, turned as ``geometry.rotation_matrix``
(``R = Ry(yaw) Rx(pitch) Rz(roll)``): the turned panorama shows at ray ``d`` what the stored one
shows at ``R d``. Positive yaw brings content from the right to the centre, positive pitch brings
it up from below, positive roll turns it clockwise. It is applied when a frame is decoded
(:func:`turn_sphere`), before the travel yaw, so every later step sees the frame turned.

What the tags say:
- A video's Spherical Video V2 ``prhd`` pose (yaw, pitch, roll): the RFC says the pose rotates
  the projection, yaw then pitch about the new right vector then roll about the new forward
  one, and leaves the senses open; FFmpeg, which reads it into ``AVSphericalMapping``, fixes
  them: the sphere is turned around the viewer, a positive yaw moves what is in front to the
  viewer's right, a positive pitch moves it up, a positive roll tilts it to the right. That
  is the orientation ``(-yaw, pitch, roll)`` (:func:`prhd_orientation`). It is always applied:
  it is how a player shows the video.
- A photo's GPano ``PosePitchDegrees`` (the image centre looks that far above the horizon) and
  ``PoseRollDegrees`` (the horizon turned that far counter-clockwise in the image): the camera's
  attitude, so ``Rz(roll) Rx(pitch)`` levels the image (:func:`gpano_orientation`). Some cameras
  level their images and still write the attitude, so a tilt within 90 degrees is applied only
  where the pictures agree: on most of a capture's tagged photos the levelled image's vertical
  edges must be more vertical than the stored one's (:func:`levels`); then on all of them. A roll over 90 degrees (a camera hung upside down) is
  applied as tagged: edges cannot tell up from down.
  Measured on the two RICOH THETA S photos of ``openvslam_pair`` (tags roll -3.9/-2.9, pitch
  -0.2/1.3): stored tilted as tagged, and levelled by the tags (TRAINING_LOG.md, session 32).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from viewsynth.capture.heading import horizon_band
from viewsynth.geometry import (
    direction_to_lonlat,
    equirect_directions,
    lonlat_to_pixel,
    rotation_matrix,
    yaw_roll_columns,
)
from viewsynth.warp import seam_remap

Orientation = tuple[float, float, float]
#: Tilts (pitch, roll) smaller than this many degrees are left alone: within a tag's rounding.
MIN_TILT = 0.5
#: The verticality check's working width (columns) and its band of latitudes (degrees).
_CHECK_WIDTH = 1024
_CHECK_BAND = 45.0
#: An edge counts as vertical within this many degrees.
_VERTICAL_DEG = 1.0
#: Rows of the sampling maps computed at once (bounds the memory of a 5.7K frame's rays).
_MAP_ROWS = 256


def prhd_orientation(yaw: float, pitch: float, roll: float) -> Orientation | None:
    """The orientation that shows a video as its ``prhd`` pose (degrees) says; None for none."""
    if not (yaw or pitch or roll):
        return None
    return _wrap(-yaw), pitch, _wrap(roll)


def gpano_orientation(pitch: float | None, roll: float | None) -> Orientation | None:
    """The orientation that levels a photo of GPano ``PosePitchDegrees``/``PoseRollDegrees``
    (None: not tagged), as ``(yaw, pitch, roll)``; None when both are under :data:`MIN_TILT`."""
    pitch, roll = pitch or 0.0, _wrap(roll or 0.0)
    if abs(pitch) < MIN_TILT and abs(roll) < MIN_TILT:
        return None
    return _angles(rotation_matrix(0.0, 0.0, roll) @ rotation_matrix(0.0, pitch, 0.0))


def turned_band(image: np.ndarray, orientation: Orientation | None) -> np.ndarray:
    """``heading.horizon_band`` of ``image`` ``(H, W, 3)`` turned by ``orientation`` (turned at
    the band's own width, 512 columns: cheap at any size)."""
    if orientation is not None:
        small = cv2.resize(np.asarray(image, np.float32), (512, 256), interpolation=cv2.INTER_AREA)
        image = turn_sphere(small, orientation)
    return horizon_band(image)


def agreed(levelled: list[bool]) -> bool:
    """Whether a capture's GPano tilts within 90 degrees are applied: one decision for all its
    tagged panoramas (one camera), yes where they level most of them (:func:`levels`)."""
    return 2 * sum(levelled) > len(levelled)


def upright(
    images: list[np.ndarray], tilts: list[Orientation | None]
) -> tuple[list[np.ndarray], bool]:
    """Panoramas ``images`` turned by their GPano ``tilts`` (:func:`gpano_orientation`) as a
    capture's are: one over 90 degrees of roll always, smaller ones where they level most of the
    tagged ones (:func:`agreed`); and whether tilts were left off for that."""
    small = [i for i, tilt in enumerate(tilts) if tilt is not None and not upside_down(tilt)]
    level = agreed([levels(images[i], tilts[i]) for i in small])
    out = [
        turn_sphere(image, tilt) if upside_down(tilt) or (i in small and level) else image
        for i, (image, tilt) in enumerate(zip(images, tilts, strict=True))
    ]
    return out, bool(small) and not level


def upside_down(orientation: Orientation | None) -> bool:
    """Whether ``orientation`` turns a panorama over (a roll beyond 90 degrees)."""
    return orientation is not None and abs(_wrap(orientation[2])) > 90.0


def turn_sphere(image: np.ndarray, orientation: Orientation | None) -> np.ndarray:
    """``image`` ``(H, W, C)`` equirect, turned by ``orientation`` (module docstring), same shape
    and dtype. Exact where whole pixels allow: a yaw alone is a roll of whole columns (as
    ``shot.yaw``), a roll of 180 degrees a flip of both axes; other turns are resampled
    bilinearly with longitude wrapping (``warp.seam_remap``)."""
    if orientation is None:
        return image
    yaw, pitch, roll = orientation
    height, width = image.shape[:2]
    if pitch == 0.0 and _wrap(roll) in (0.0, 180.0):
        out = np.roll(image, yaw_roll_columns(width, yaw), axis=1) if yaw else image
        return out[::-1, ::-1].copy() if _wrap(roll) == 180.0 else out
    map_x, map_y = _maps(width, height, orientation)
    flat = image.reshape(height, width, -1)
    return seam_remap(flat, map_x, map_y, equirect=True).reshape(image.shape)


def verticality(image: np.ndarray) -> float:
    """How level an equirect ``(H, W, 3)`` image in [0, 1] looks: the share of its strongest
    edges (top 5 % by gradient) within :data:`_VERTICAL_DEG` of vertical, near the horizon.

    World verticals (walls, poles, trees) are image columns only in a level panorama; a tilt of
    a few degrees leans them, by the tilt's amount facing its axis. At most ``_CHECK_WIDTH``
    columns are looked at (area-averaged).
    """
    grey = cv2.cvtColor(np.asarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    if grey.shape[1] > _CHECK_WIDTH:
        size = (_CHECK_WIDTH, _CHECK_WIDTH // 2)
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    height = grey.shape[0]
    lat = 90.0 - (np.arange(height) + 0.5) / height * 180.0
    band = grey[np.abs(lat) < _CHECK_BAND]
    gx = cv2.Sobel(band, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(band, cv2.CV_32F, 0, 1, ksize=3)
    strength = np.hypot(gx, gy)
    strong = strength > np.percentile(strength, 95)
    total = float(strength[strong].sum())
    if total <= 0.0:
        return 0.0
    vertical = np.abs(gy) <= np.abs(gx) * math.tan(math.radians(_VERTICAL_DEG))
    return float(strength[strong & vertical].sum()) / total


def levels(image: np.ndarray, orientation: Orientation) -> bool:
    """Whether turning ``image`` ``(H, W, 3)`` by ``orientation`` makes it more level
    (:func:`verticality`), looked at on at most ``_CHECK_WIDTH`` columns."""
    if image.shape[1] > _CHECK_WIDTH:
        size = (_CHECK_WIDTH, _CHECK_WIDTH // 2)
        image = cv2.resize(np.asarray(image, np.float32), size, interpolation=cv2.INTER_AREA)
    return verticality(turn_sphere(image, orientation)) > verticality(image)


@lru_cache(maxsize=1)  # a video's frames share one pose and size: its maps are made once
def _maps(width: int, height: int, orientation: Orientation) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of the turned image samples the stored one: ``(map_x, map_y)`` float32,
    read-only (they are handed out again)."""
    rotation = rotation_matrix(*orientation).T
    map_x = np.empty((height, width), np.float32)
    map_y = np.empty((height, width), np.float32)
    rays = equirect_directions(width, 1)[0]  # (W, 3) at latitude 0: the rows' longitudes
    for top in range(0, height, _MAP_ROWS):
        rows = np.arange(top, min(height, top + _MAP_ROWS))
        lat = math.pi / 2.0 - (rows + 0.5) / height * math.pi
        dirs = np.empty((len(rows), width, 3))
        dirs[..., 0] = np.cos(lat)[:, None] * rays[None, :, 0]
        dirs[..., 1] = np.sin(lat)[:, None]
        dirs[..., 2] = np.cos(lat)[:, None] * rays[None, :, 2]
        lon, lat_src = direction_to_lonlat(dirs @ rotation)
        x, y = lonlat_to_pixel(lon, lat_src, width, height)
        map_x[rows], map_y[rows] = x, y
    map_x.flags.writeable = map_y.flags.writeable = False
    return map_x, map_y


def _angles(rotation: np.ndarray) -> Orientation:
    """``(yaw, pitch, roll)`` degrees of ``rotation`` = ``Ry Rx Rz`` (``geometry.rotation_matrix``)."""
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -rotation[1, 2]))))
    roll = math.degrees(math.atan2(rotation[1, 0], rotation[1, 1]))
    yaw = math.degrees(math.atan2(rotation[0, 2], rotation[2, 2]))
    return tuple(0.0 if abs(a) < 1e-9 else _wrap(round(a, 9)) for a in (yaw, pitch, roll))


def _wrap(angle: float) -> float:
    """``angle`` degrees in (-180, 180]."""
    out = -((-angle + 180.0) % 360.0 - 180.0)
    return 0.0 if out == 0.0 else out
