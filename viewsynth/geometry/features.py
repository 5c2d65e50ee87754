"""SIFT matches between two views, as unit bearings in viewsynth's camera axes.

Panoramas are matched at a working width (:data:`WORK_WIDTH` by default) on a copy padded across the seam by
:data:`SEAM_PAD` columns each side (:func:`pad_seam`), so a feature cut by the seam is found whole;
keypoints that fall in the padding are copies of ones inside and are dropped, so where the seam
falls does not change the set of features. Matches pass Lowe's ratio test and a mutual check.
Bearings: equirect pixels through :func:`pixel_to_lonlat`, pinhole pixels through
:func:`pinhole_pixel_to_direction` (the conventions of :mod:`.pinhole`).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import threading

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


#: Views whose features are kept (:func:`_view_features`): a job's photo is in two pairs.
KEPT_VIEWS = 4
_kept: collections.OrderedDict = collections.OrderedDict()
_kept_lock = threading.Lock()


def _view_features(img: np.ndarray, work_width: int, equirect: bool, max_features: int):
    """``(grey, xy, desc)`` of one view at the working width (:func:`_gray`, :func:`_detect`).

    The last :data:`KEPT_VIEWS` views' are kept, by the grey image's content: the second pair a
    photo is in (as its first view) finds them again without detecting (the same bytes in, so the
    same features out). A panorama's pairs roll it onto other seams: there they are found anew."""
    grey = _gray(img, work_width)
    key = (hashlib.blake2b(grey.tobytes(), digest_size=16).digest(), grey.shape, equirect,
           max_features)  # fmt: skip
    with _kept_lock:
        found = _kept.get(key)
        if found is not None:
            _kept.move_to_end(key)
            return (grey, *found)
    xy, desc = _detect(grey, equirect, cv2.SIFT_create(nfeatures=max_features))
    for a in (xy, desc) if desc is not None else ():
        a.flags.writeable = False  # (handed out again: read-only)
    found = (xy, desc)
    with _kept_lock:
        _kept[key] = found
        while len(_kept) > KEPT_VIEWS:
            _kept.popitem(last=False)
    return (grey, *found)


#: Rows of the distance matrix held at a time (:func:`mutual_matches`): 1024 x 8000 float32 is 33 MB.
MATCH_ROWS = 1024


def mutual_matches(desc0: np.ndarray, desc1: np.ndarray) -> np.ndarray:
    """``(M, 2)`` indices ``(i, j)``: descriptor ``j`` of view 1 is the nearest (L2) to ``i`` of
    view 0, nearer than :data:`RATIO` of the second nearest (Lowe), and ``i`` is the nearest to
    ``j`` (the mutual check); in ascending ``i``.

    The matches of OpenCV's brute-force matcher (``knnMatch(k=2)`` one way, ``match`` the other,
    ties to the lower index), from one distance matrix instead of two passes: SIFT descriptors
    hold whole numbers below 256, so every squared distance (a sum of at most 128 * 255^2 < 2^24)
    is exact in float32 however it is summed, and ``|a|^2 + |b|^2 - 2 a.b`` by matrix product
    gives OpenCV's own distances bit for bit, at a third of its time (tested)."""
    d0 = np.asarray(desc0, np.float32)
    d1 = np.asarray(desc1, np.float32)
    n0, n1 = len(d0), len(d1)
    if n0 == 0 or n1 < 2:
        return np.zeros((0, 2), np.int64)
    sq1 = np.einsum("ij,ij->i", d1, d1)
    best, second = np.empty(n0, np.int64), np.empty(n0, np.int64)
    d_best, d_second = np.empty(n0, np.float32), np.empty(n0, np.float32)
    back = np.zeros(n1, np.int64)  # per descriptor of view 1, its nearest in view 0 ...
    back_d = np.full(n1, np.inf, np.float32)  # ... and that distance (squared)
    for start in range(0, n0, MATCH_ROWS):
        block = d0[start : start + MATCH_ROWS]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + sq1[None, :]
        d2 -= 2.0 * (block @ d1.T)
        np.maximum(d2, 0.0, out=d2)
        rows = np.arange(len(block))
        two = np.argpartition(d2, 1, axis=1)[:, :2]
        dd = d2[rows[:, None], two]
        # the nearer first; equal distances in index order, as OpenCV keeps them
        swap = (dd[:, 1] < dd[:, 0]) | ((dd[:, 1] == dd[:, 0]) & (two[:, 1] < two[:, 0]))
        two[swap], dd[swap] = two[swap][:, ::-1], dd[swap][:, ::-1]
        part = slice(start, start + len(block))
        best[part], second[part] = two[:, 0], two[:, 1]
        d_best[part], d_second[part] = dd[:, 0], dd[:, 1]
        nearest = np.argmin(d2, axis=0)  # the first of equals, as OpenCV; earlier blocks win ties
        d_near = d2[nearest, np.arange(n1)]
        better = d_near < back_d
        back[better], back_d[better] = nearest[better] + start, d_near[better]
    # the ratio test on OpenCV's float32 distances, compared in double as Python compares them
    dist0 = np.sqrt(d_best).astype(np.float64)
    dist1 = np.sqrt(d_second).astype(np.float64)
    i = np.arange(n0)
    keep = (dist0 < RATIO * dist1) & (back[best] == i)
    return np.stack([i[keep], best[keep]], axis=1)


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
    idx = mutual_matches(desc0, desc1)
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
