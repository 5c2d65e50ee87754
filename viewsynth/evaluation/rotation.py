"""Rotation-compensated WS-PSNR: score a panorama after its best small global rotation.

A hand-held camera's orientation at a real middle frame is a matter of chance (0.3-4.5 degrees
from the halfway rotation in real footage), while a walkthrough chooses the orientation of every
in-between view itself. Plain WS-PSNR charges a method for that chance; ``rc_ws_psnr`` does not:
it finds the rotation of the sphere (yaw, pitch, roll, each at most ``max_deg``) that best
matches the output to the truth, applies it to the output at full resolution, and scores the
uint8 result with WS-PSNR. Every method gets the same treatment.

- The rotation: ``output'(d) = output(R d)`` for every unit ray ``d`` of the equirect grid
  (``viewsynth.geometry``), resampled bilinearly with longitude wrapping
  (``viewsynth.warp.seam_remap``) during the search and with Lanczos for the score.
  ``R = Ry(yaw) Rx(pitch) Rz(roll)`` in camera axes (x right,
  y up, z forward): positive yaw brings content from the right to the centre.
- The search: the pair downscaled (area filter) to widths 128, 256 and 512 (at most half the
  image's own) and blurred (sigma 1 px); at the coarsest, yaw on a 1-degree grid; then at each width Gauss-Newton on the
  latitude-weighted squared error with a forward-difference Jacobian (a tenth of a pixel), the
  angles clamped to ``[-max_deg, max_deg]``.
- The score: the better of the rotated output and the output as it is (the identity is one of
  the candidates), so ``rc_ws_psnr >= ws_psnr`` always. Any resampling smooths pixel-scale detail
  a little, which lowers the error of a noisy output: Lanczos keeps that small (pure white noise
  against the truth gains at most about 1.6 dB, real outputs far less), and it is alike for every
  method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.metrics import _pair, _ws_psnr
from viewsynth.frames import is_equirect_shape
from viewsynth.geometry import (
    direction_to_lonlat,
    equirect_directions,
    latitude_weights,
    lonlat_to_pixel,
    pad_seam,
    rotation_matrix,
)
from viewsynth.warp import seam_remap

#: The largest rotation searched, per angle, in degrees.
MAX_DEG = 5.0
#: Working widths of the search, coarse to fine (each at most the image's width).
WIDTHS = (128, 256, 512)
GN_ITERS = 8  # at the coarsest width; half as many at each finer one (it starts close)
#: Gauss-Newton stops when no angle moves by more than this fraction of a working pixel.
STOP_PX = 0.05
#: Large images: the sampling maps at 1/MAP_STEP of the size, exact within POLAR_DEG of a pole.
MAP_STEP = 4
POLAR_DEG = 30.0
#: Blur of the working images (pixels): the bilinear resampling of the search then adds little
#: smoothing of its own, so the search does not drift to where it smooths a noisy output most.
SEARCH_SIGMA = 1.0
#: Padding for the Lanczos kernel (4 pixels each side, plus one for the wrap of x = W - 0.5).
LANCZOS_PAD = 5


@dataclass(frozen=True)
class RotationFit:
    """The rotation found and the scores: ``angles_deg`` is (yaw, pitch, roll)."""

    angles_deg: tuple[float, float, float]
    rotation: np.ndarray  # (3, 3)
    ws_psnr: float  # plain, of the output as it is
    rc_ws_psnr: float  # after the rotation (or the plain score when the identity is better)


@lru_cache(maxsize=8)
def _rays(width: int, height: int) -> np.ndarray:
    return equirect_directions(width, height).reshape(-1, 3).astype(np.float32)


def _exact_maps(width: int, height: int, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = _rays(width, height) @ np.asarray(rotation, np.float32).T
    lon, lat = direction_to_lonlat(d)
    x, y = lonlat_to_pixel(lon, lat, width, height)
    shape = (height, width)
    return np.asarray(x, np.float32).reshape(shape), np.asarray(y, np.float32).reshape(shape)


def _maps(width: int, height: int, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of the rotated image samples: ``(map_x, map_y)``, ``(H, W)`` float32.

    Large images: the displacement from the identity is smooth away from the poles, so it is
    computed at a quarter of the size and interpolated (``cv2.resize`` keeps pixel centres
    aligned), and the rows within ``POLAR_DEG`` of a pole are computed exactly.
    """
    if width < 1024 or width % MAP_STEP or height % MAP_STEP:
        return _exact_maps(width, height, rotation)
    sw, sh = width // MAP_STEP, height // MAP_STEP
    cx, cy = _exact_maps(sw, sh, rotation)
    gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
    dx = np.mod(cx - gx + sw / 2, sw) - sw / 2  # the shortest way round in longitude
    # One column wrapped onto each side, so the interpolation at the left and right edges
    # interpolates across the seam instead of extrapolating.
    size = (width + 2 * MAP_STEP, height)

    def up(field: np.ndarray) -> np.ndarray:
        wide = np.concatenate([field[:, -1:], field, field[:, :1]], axis=1) * MAP_STEP
        return cv2.resize(wide, size, interpolation=cv2.INTER_LINEAR)[:, MAP_STEP:-MAP_STEP]

    fx, fy = up(dx), up(cy - gy)
    mx = fx + np.arange(width, dtype=np.float32)[None, :]
    my = fy + np.arange(height, dtype=np.float32)[:, None]
    band = int(math.ceil(POLAR_DEG / 180.0 * height))
    rows = np.r_[0:band, height - band : height]
    rays = _rays(width, height).reshape(height, width, 3)[rows].reshape(-1, 3)
    lon, lat = direction_to_lonlat(rays @ np.asarray(rotation, np.float32).T)
    x, y = lonlat_to_pixel(lon, lat, width, height)
    mx[rows] = np.asarray(x, np.float32).reshape(len(rows), width)
    my[rows] = np.asarray(y, np.float32).reshape(len(rows), width)
    return np.mod(mx, width).astype(np.float32), my


def rotate_equirect(image: np.ndarray, rotation: np.ndarray, *, sharp: bool = False) -> np.ndarray:
    """``image`` ``(H, W, C)`` resampled so that ray ``d`` shows what ``image`` shows at ``R d``.

    Bilinear (``warp.seam_remap``), or with ``sharp`` Lanczos (8x8) on the seam-padded image
    (``geometry.pad_seam``: longitude wraps, latitude reflects): bilinear resampling at a
    half-pixel offset halves the power of pixel-scale detail, Lanczos keeps 70-85 % of it.
    """
    h, w = image.shape[:2]
    mx, my = _maps(w, h, rotation)
    if not sharp:
        return seam_remap(image, mx, my, equirect=True).reshape(image.shape)
    padded = pad_seam(image, LANCZOS_PAD, True)
    out = cv2.remap(
        padded,
        mx + LANCZOS_PAD,
        np.clip(my, 0, h - 1) + LANCZOS_PAD,
        cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REFLECT,
    )
    return out.reshape(image.shape)


def _check(pred: np.ndarray, gt: np.ndarray) -> None:
    _pair(pred, gt)
    h, w = gt.shape[:2]
    if not is_equirect_shape(w, h):
        raise ViewsynthError(
            f"rotation-compensated WS-PSNR: needs 2:1 equirect panoramas, got {w}x{h}"
        )


def _working(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` area-downscaled to ``width``, then blurred (sigma 1 px, longitude wrapping)."""
    small = image.astype(np.float32)
    if image.shape[1] != width:
        small = cv2.resize(small, (width, width // 2), interpolation=cv2.INTER_AREA)
    padded = cv2.GaussianBlur(pad_seam(small, 4, True), (0, 0), SEARCH_SIGMA)
    return np.ascontiguousarray(padded[4:-4, 4:-4])


def _search(pred: np.ndarray, gt: np.ndarray, max_deg: float) -> np.ndarray:
    """(yaw, pitch, roll) in degrees minimising the weighted squared error, coarse to fine."""
    # At least 2x downscaled where the image allows (area filter, then a blur: see SEARCH_SIGMA).
    widths = [w for w in WIDTHS if 2 * w <= pred.shape[1]] or [pred.shape[1]]
    angles = np.zeros(3)
    for level, width in enumerate(widths):
        a, b = _working(pred, width), _working(gt, width)
        sw = np.sqrt(latitude_weights(width // 2))[:, None, None].astype(np.float32)
        target = (b * sw).ravel()

        def residual(p: np.ndarray, a=a, sw=sw, target=target) -> np.ndarray:
            return (rotate_equirect(a, rotation_matrix(*p)) * sw).ravel() - target

        if level == 0:
            yaws = np.arange(-max_deg, max_deg + 1e-9, 1.0)
            costs = [float(np.sum(residual(np.array([y, 0.0, 0.0])) ** 2)) for y in yaws]
            angles = np.array([yaws[int(np.argmin(costs))], 0.0, 0.0])
        step_h = 0.1 * 360.0 / width
        r = residual(angles)
        cost = float(r @ r)
        for _ in range(GN_ITERS if level == 0 else GN_ITERS // 2):
            jac = np.stack(
                [(residual(angles + step_h * e) - r) / step_h for e in np.eye(3)], axis=1
            )
            jtj = jac.T @ jac
            delta = -np.linalg.solve(jtj + 1e-6 * np.trace(jtj) * np.eye(3), jac.T @ r)
            accepted = False
            for scale in (1.0, 0.5, 0.25):
                trial = np.clip(angles + scale * delta, -max_deg, max_deg)
                r_trial = residual(trial)
                c_trial = float(r_trial @ r_trial)
                if c_trial < cost:
                    angles, r, cost, accepted = trial, r_trial, c_trial, True
                    break
            if not accepted or np.max(np.abs(scale * delta)) < STOP_PX * 360.0 / width:
                break
    return angles


def fit_rotation(pred: np.ndarray, gt: np.ndarray, max_deg: float = MAX_DEG) -> RotationFit:
    """The best small rotation of uint8 equirect ``pred`` against ``gt``, and both scores."""
    _check(pred, gt)
    plain = _ws_psnr(pred.astype(np.float64), gt.astype(np.float64))
    angles = _search(pred, gt, max_deg)
    rotation = rotation_matrix(*angles)
    turned = rotate_equirect(pred, rotation, sharp=True)
    compensated = _ws_psnr(turned.astype(np.float64), gt.astype(np.float64))
    if not compensated > plain:
        angles, rotation, compensated = np.zeros(3), np.eye(3), plain
    yaw, pitch, roll = (float(v) for v in angles)
    return RotationFit((yaw, pitch, roll), rotation, plain, compensated)


def rc_ws_psnr(pred: np.ndarray, gt: np.ndarray, max_deg: float = MAX_DEG) -> float:
    """Rotation-compensated WS-PSNR of uint8 equirect ``(H, W, 3)`` images, in dB."""
    return fit_rotation(pred, gt, max_deg).rc_ws_psnr
