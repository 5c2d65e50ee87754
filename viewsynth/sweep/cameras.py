"""The pair's cameras: the relative pose, the in-between camera at t, and the lookups of a ray.

Frames (DESIGN 3a): camera 0 at the origin; a point X in camera 0's axes is ``R X + t`` in camera
1's; camera 1's centre is ``c1 = -R^T t`` with ``|c1| = 1`` (depth is in baselines). The camera at
time ``tau`` sits at ``tau * c1`` with rotation ``R_tau = slerp(I, R, tau)``: a point X of camera 0
is ``R_tau (X - tau c1)`` in its axes. A ray ``d`` of that camera, in camera 0's axes
(``d = R_tau^T d_tau``), at inverse depth ``q`` (0: infinity) is seen by camera 0 along
``q c_tau + d`` and by camera 1 along ``R (q c_tau + d) + q t``; both are finite for every q.

Directions are ``(..., 3)`` rows (so a rotation applies as ``d @ R.T``); pixels go through
:mod:`viewsynth.geometry`.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from viewsynth import geometry


def slerp_rotation(rotation: np.ndarray, tau: float) -> np.ndarray:
    """``slerp(I, R, tau)``: the rotation by ``tau`` times R's angle about R's axis, ``(3, 3)``."""
    rvec, _ = cv2.Rodrigues(np.asarray(rotation, np.float64))
    out, _ = cv2.Rodrigues(rvec * float(tau))
    return out


@dataclasses.dataclass(frozen=True)
class PairCameras:
    """The relative pose of a pair: ``rotation`` R ``(3, 3)`` and unit ``translation`` t ``(3,)``."""

    rotation: np.ndarray
    translation: np.ndarray

    @classmethod
    def from_pose(cls, pose) -> PairCameras:
        """From anything with ``rotation`` and ``translation`` (a ``geometry.pose.RelativePose``)."""
        t = np.asarray(pose.translation, np.float64).reshape(3)
        return cls(np.asarray(pose.rotation, np.float64).reshape(3, 3), t / np.linalg.norm(t))

    @property
    def centre1(self) -> np.ndarray:
        """Camera 1's centre in camera 0's axes, ``-R^T t`` (unit length)."""
        return -self.rotation.T @ self.translation

    def swapped(self) -> PairCameras:
        """The same pair seen from camera 1: camera 0 in camera 1's axes is ``R^T X - R^T t``."""
        return PairCameras(self.rotation.T, -self.rotation.T @ self.translation)

    def at(self, tau: float) -> tuple[np.ndarray, np.ndarray]:
        """``(R_tau, c_tau)``: the in-between camera's rotation and its centre in camera 0's axes."""
        return slerp_rotation(self.rotation, tau), float(tau) * self.centre1


def lookups(cams: PairCameras, tau: float, rays: np.ndarray, q: np.ndarray):
    """Directions into camera 0 and camera 1 of the rays ``(..., 3)`` (camera 0's axes) of the camera
    at ``tau``, at inverse depths ``q`` (broadcasting to ``rays[..., 0]``): ``(dir0, dir1)``."""
    _, centre = cams.at(tau)
    q = np.asarray(q, rays.dtype)[..., None]
    dir0 = rays + q * centre.astype(rays.dtype)
    dir1 = rotate(dir0, cams.rotation) + q * cams.translation.astype(rays.dtype)
    return dir0, dir1


def rotate(dirs: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``R d`` for rows ``d`` ``(..., 3)``, in their dtype (``cv2.transform``: measured some 50x
    faster here than NumPy's product of an ``(n, 3)`` by a ``(3, 3)``)."""
    flat = np.ascontiguousarray(dirs).reshape(-1, 1, 3)
    return cv2.transform(flat, np.asarray(rotation, dirs.dtype)).reshape(dirs.shape)


@functools.lru_cache(maxsize=8)
def _unit_rays(width: int, height: int) -> np.ndarray:
    lon, lat = geometry.pixel_to_lonlat(
        np.arange(width, dtype=np.float64),
        np.arange(height, dtype=np.float64)[:, None],
        width,
        height,
    )
    lon, lat = np.broadcast_arrays(lon, lat)
    rays = geometry.lonlat_to_direction(lon, lat).astype(np.float32)
    rays.setflags(write=False)
    return rays


def rays_of(width: int, height: int, rotation: np.ndarray | None = None, rows=None) -> np.ndarray:
    """Unit rays ``(h, W, 3)`` float32 of an equirect camera's pixels (``rows``: a slice of rows,
    default all), in camera 0's axes when the camera is turned by ``rotation`` (``R_tau``)."""
    rays = _unit_rays(width, height)[slice(0, height) if rows is None else rows]
    if rotation is None:
        return rays
    return rotate(rays, np.asarray(rotation, np.float64).T)


def to_pixels(dirs: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 pixel maps ``(map_x, map_y)`` of directions ``(..., 3)`` (any length) in an equirect
    image of ``width x height``."""
    unit = dirs / np.maximum(norm(dirs), 1e-12)[..., None]
    lon, lat = geometry.direction_to_lonlat(unit)
    x, y = geometry.lonlat_to_pixel(lon, lat, width, height)
    return x.astype(np.float32), y.astype(np.float32)


def norm(dirs: np.ndarray) -> np.ndarray:
    """Lengths ``(...)`` of vectors ``(..., 3)`` (faster than ``np.linalg.norm`` on small rows)."""
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    return np.sqrt(x * x + y * y + z * z)


def short_way(dx: np.ndarray, width: int) -> np.ndarray:
    """Longitude steps ``dx`` (columns of a ``width``-column panorama) taken the short way round:
    into [-W/2, W/2)."""
    return np.mod(dx + width / 2.0, width) - width / 2.0
