"""SIFT matches between two views, as unit bearings in viewsynth's camera axes.

Panoramas are matched at a working width (:data:`WORK_WIDTH` by default) on a copy padded across the seam by
:data:`SEAM_PAD` columns each side (:func:`pad_seam`), so a feature cut by the seam is found whole;
keypoints that fall in the padding are copies of ones inside and are dropped, so where the seam
falls does not change the set of features. Matches pass Lowe's ratio test and a mutual check.
Bearings: equirect pixels through :func:`pixel_to_lonlat`, pinhole pixels through
:func:`pinhole_pixel_to_direction` (the conventions of :mod:`.pinhole`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth.geometry.seam import pad_seam
from viewsynth.geometry.sphere import lonlat_to_direction, pixel_to_lonlat
from viewsynth.threads import in_background

#: Columns of wrapped padding each side of a panorama at the working scale.
SEAM_PAD = 32
#: Default working width: SIFT at 512 columns is some 4x faster than at 1024 and, on the street
#: street renders, as accurate (docs/RESEARCH.md, the pose).
WORK_WIDTH = 512
#: Lowe's ratio: a match is kept when its distance is below this fraction of the second best.
RATIO = 0.8


@dataclasses.dataclass(frozen=True)
class Matches:
    """Matched keypoints: pixel coordinates ``xy0``/``xy1`` ``(M, 2)`` at the working size
    ``size`` (width, height), unit bearings ``d0``/``d1`` ``(M, 3)``, and keypoint counts."""

    xy0: np.ndarray
    xy1: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    size: tuple[int, int]
    keypoints: tuple[int, int]


def pinhole_pixel_to_direction(x, y, width: int, height: int, focal_px: float) -> np.ndarray:
    """Pixel coordinates (centres at integers, as OpenCV) of a pinhole view -> unit rays ``(..., 3)``."""
    rays = np.stack(
        [
            np.asarray(x, np.float64) + 0.5 - width / 2.0,
            height / 2.0 - np.asarray(y, np.float64) - 0.5,
            np.full(np.shape(x), float(focal_px)),
        ],
        axis=-1,
    )
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _gray(img: np.ndarray, width: int) -> np.ndarray:
    """``(H, W, 3)`` float RGB in [0, 1] -> uint8 grey at ``width`` columns (never enlarged)."""
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _detect(grey: np.ndarray, equirect: bool, sift) -> tuple[np.ndarray, np.ndarray | None]:
    """Keypoint coordinates ``(K, 2)`` and descriptors ``(K, 128)`` of one grey view."""
    pad = SEAM_PAD if equirect else 0
    padded = pad_seam(grey[..., None], pad, True)[pad : pad + grey.shape[0], :, 0] if pad else grey
    kps, desc = sift.detectAndCompute(np.ascontiguousarray(padded), None)
    if not kps or desc is None:
        return np.zeros((0, 2)), None
    xy = np.array([k.pt for k in kps], np.float64)
    xy[:, 0] -= pad
    keep = (xy[:, 0] >= -0.5) & (xy[:, 0] < grey.shape[1] - 0.5)  # padding copies: dropped
    return xy[keep], desc[keep]


def _view_features(img: np.ndarray, work_width: int, equirect: bool, max_features: int):
    """``(grey, xy, desc)`` of one view at the working width (:func:`_gray`, :func:`_detect`)."""
    grey = _gray(img, work_width)
    return (grey, *_detect(grey, equirect, cv2.SIFT_create(nfeatures=max_features)))


def match_views(
    img0: np.ndarray,
    img1: np.ndarray,
    *,
    equirect: bool,
    focal_px: float | None,
    work_width: int = WORK_WIDTH,
    max_features: int = 8000,
) -> Matches:
    """SIFT matches of two same-size views; ``focal_px`` (full-resolution pixels) for pinhole views."""
    # the two views' features on two cores (one detector each: the same keypoints as in turn)
    later = in_background(_view_features, img1, work_width, equirect, max_features)
    g0, xy0, desc0 = _view_features(img0, work_width, equirect, max_features)
    _, xy1, desc1 = later.result()
    h, w = g0.shape
    counts = (len(xy0), len(xy1))
    empty = np.zeros((0, 2))
    if desc0 is None or desc1 is None or len(xy0) < 2 or len(xy1) < 2:
        return Matches(empty, empty, np.zeros((0, 3)), np.zeros((0, 3)), (w, h), counts)
    # the two directions of the mutual check on two cores, one matcher each
    backward = in_background(cv2.BFMatcher(cv2.NORM_L2).match, desc1, desc0)
    fwd = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc0, desc1, k=2)
    back = {m.queryIdx: m.trainIdx for m in backward.result()}
    pairs = [
        (m.queryIdx, m.trainIdx)
        for m, n in (p for p in fwd if len(p) == 2)
        if m.distance < RATIO * n.distance and back.get(m.trainIdx) == m.queryIdx
    ]
    idx = np.array(pairs, np.int64).reshape(-1, 2)
    p0, p1 = xy0[idx[:, 0]], xy1[idx[:, 1]]
    if equirect:
        p0[:, 0] %= w
        p1[:, 0] %= w
        d0 = lonlat_to_direction(*pixel_to_lonlat(p0[:, 0], p0[:, 1], w, h))
        d1 = lonlat_to_direction(*pixel_to_lonlat(p1[:, 0], p1[:, 1], w, h))
    else:
        f = float(focal_px) * w / img0.shape[1]
        d0 = pinhole_pixel_to_direction(p0[:, 0], p0[:, 1], w, h, f)
        d1 = pinhole_pixel_to_direction(p1[:, 0], p1[:, 1], w, h, f)
    return Matches(p0, p1, d0, d1, (w, h), counts)
