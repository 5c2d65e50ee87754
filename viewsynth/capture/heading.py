"""Which way each panorama should face: great-circle geometry, image-based yaw, travel alignment.

Conventions:
- Bearings and headings are compass degrees clockwise from north in [0, 360).
- A yaw is degrees to turn a panorama, positive = turn right (``geometry.yaw_roll_columns``):
  after applying ``yaw`` its centre column faces ``heading + yaw``. To face compass bearing B a
  panorama whose centre faces heading H needs ``yaw = B - H``.
- The walkthrough is travel-centred: each panorama's yaw makes its centre face the direction of
  travel, smoothed along the segment so the view does not jitter with GPS noise.
- A camera ``rotation`` is its orientation relative to the first frame measured from pixels
  (degrees, positive = turned right); it is precise shot to shot but knows no compass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

#: Degrees by which heading tags and image-measured turns may disagree before the turns are
#: judged wrong (compass tags are good to about 10 degrees).
MAX_TAG_DISAGREEMENT = 20.0
#: Metres (Gaussian sigma along the GPS track) over which the direction of travel is smoothed:
#: 2 shots of a street capture shot every 2.5 m (``capture.heading_smoothing_metres``).
HEADING_SMOOTHING = 5.0
#: Metres a shot counts for where a segment has no track (the camera's own direction smoothed
#: over ``smoothing / SHOT_METRES`` shots): a street capture's spacing.
SHOT_METRES = 2.5
#: Mean Earth radius (IUGG), metres: haversine distances on a sphere are within 0.5% of WGS84.
EARTH_RADIUS = 6_371_008.8


def haversine(lat0, lon0, lat1, lon1):
    """Great-circle distance in metres between points in degrees (scalars or arrays)."""
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dp, dl = p1 - p0, np.radians(np.asarray(lon1) - np.asarray(lon0))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dl / 2.0) ** 2
    out = 2.0 * EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(out) if np.ndim(out) == 0 else out


def bearing(lat0, lon0, lat1, lon1):
    """Initial great-circle bearing from point 0 to point 1, compass degrees in [0, 360)."""
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dl = np.radians(np.asarray(lon1) - np.asarray(lon0))
    x = np.sin(dl) * np.cos(p1)
    y = np.cos(p0) * np.sin(p1) - np.sin(p0) * np.cos(p1) * np.cos(dl)
    out = np.mod(np.degrees(np.arctan2(x, y)), 360.0)
    return float(out) if np.ndim(out) == 0 else out


def between(lat0: float, lon0: float, lat1: float, lon1: float, w: float) -> tuple[float, float]:
    """The position a fraction ``w`` of the way from point 0 to point 1, linear in degrees (as
    good as the great circle over the metres between shots) and across the 180th meridian the
    short way round: longitude stays in [-180, 180)."""
    dl = lon1 - lon0
    if abs(dl) > 180.0:  # the two sides of the 180th meridian
        dl -= math.copysign(360.0, dl)
    lon = lon0 + w * dl
    if not -180.0 <= lon < 180.0:
        lon = (lon + 180.0) % 360.0 - 180.0
    return lat0 + w * (lat1 - lat0), lon


def wrap180(degrees):
    """Angles wrapped into (-180, 180]."""
    out = 180.0 - np.mod(180.0 - np.asarray(degrees, dtype=np.float64), 360.0)
    return float(out) if np.ndim(out) == 0 else out


def circular_mean(degrees: Sequence[float]) -> float:
    """Mean direction of angles in degrees, in [0, 360)."""
    rad = np.radians(np.asarray(degrees, dtype=np.float64))
    return float(np.mod(np.degrees(np.arctan2(np.sin(rad).sum(), np.cos(rad).sum())), 360.0))


def circular_smooth(
    degrees: Sequence[float], sigma: float, at: Sequence[float] | None = None
) -> np.ndarray:
    """Gaussian smoothing of a sequence of directions, shape ``(N,)``: ``sigma`` in the units of
    ``at``, each direction's place along the sequence (ascending: metres along the track), or in
    samples when ``at`` is None.

    Smooths unit vectors, so 359 and 1 average to 0, not 180; the window (3 ``sigma`` either
    side) shrinks at the ends.
    """
    angles = np.asarray(degrees, dtype=np.float64)
    if sigma <= 0.0 or len(angles) < 2:
        return np.mod(angles, 360.0)
    place = np.arange(len(angles), dtype=np.float64) if at is None else np.asarray(at, float)
    rad = np.radians(angles)
    sin, cos = np.sin(rad), np.cos(rad)
    lo = np.searchsorted(place, place - 3.0 * sigma - 1e-9, side="left")
    hi = np.searchsorted(place, place + 3.0 * sigma + 1e-9, side="right")
    out = np.empty(len(angles))
    for i in range(len(angles)):  # (windows of any width: a walker's frames, a drive's)
        kernel = np.exp(-0.5 * ((place[lo[i] : hi[i]] - place[i]) / sigma) ** 2)
        out[i] = np.arctan2(kernel @ sin[lo[i] : hi[i]], kernel @ cos[lo[i] : hi[i]])
    return np.mod(np.degrees(out), 360.0)


def along_track(lats: Sequence[float | None], lons: Sequence[float | None]) -> np.ndarray:
    """Metres along the GPS track at each shot from the first with a position, shape ``(N,)``:
    a shot without one at its place by index between the shots around it that have one (before
    the first or after the last: theirs). All 0 without two positions."""
    have = [i for i in range(len(lats)) if lats[i] is not None and lons[i] is not None]
    if len(have) < 2:
        return np.zeros(len(lats))
    lat = np.array([lats[i] for i in have], dtype=np.float64)
    lon = np.array([lons[i] for i in have], dtype=np.float64)
    path = np.concatenate([[0.0], np.cumsum(haversine(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
    return np.interp(np.arange(len(lats)), have, path)


# -- image-based yaw ------------------------------------------------------------------------------


def horizon_band(image: np.ndarray, *, width: int = 512, band: float = 30.0) -> np.ndarray:
    """Small grayscale rows of an equirect ``(H, W, 3)`` image within ``band`` degrees of the horizon.

    Returns ``(rows, width)`` float32, each row's mean removed: the signature ``band_yaw`` compares.
    Near the horizon a turn of the camera is a pure circular shift of the rows; the poles, which
    a turn smears, are left out.
    """
    height = max(2, width // 2)
    gray = cv2.cvtColor(np.asarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    lat = 90.0 - (np.arange(height) + 0.5) / height * 180.0
    rows = small[np.abs(lat) <= band].astype(np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    return rows.astype(np.float32)


def band_yaw(prev_band: np.ndarray, cur_band: np.ndarray) -> float:
    """Degrees in (-180, 180] by which the content of ``prev_band`` moved right in ``cur_band``.

    The circular cross-correlation of the rows (via FFT, summed over rows) peaks at the shift;
    a parabola through the peak and its neighbours gives the sub-column part.
    """
    width = prev_band.shape[1]
    spec = np.conj(np.fft.rfft(prev_band, axis=1)) * np.fft.rfft(cur_band, axis=1)
    cross = spec.sum(axis=0)
    # Partial whitening sharpens the peak (large smooth areas like sky dominate raw correlation)
    # while keeping enough of the spectrum's weight to stay stable on noisy frames.
    cross = cross / np.maximum(np.abs(cross), 1e-12) ** 0.5
    corr = np.fft.irfft(cross, n=width)
    k = int(np.argmax(corr))
    left, mid, right = corr[(k - 1) % width], corr[k], corr[(k + 1) % width]
    denom = left - 2.0 * mid + right
    frac = 0.5 * (left - right) / denom if denom < 0 else 0.0
    shift = k + float(np.clip(frac, -0.5, 0.5))
    return float(wrap180(shift / width * 360.0))


def estimate_yaw(
    prev: np.ndarray, cur: np.ndarray, *, width: int = 512, band: float = 30.0
) -> float:
    """Degrees in (-180, 180] by which the content of panorama ``prev`` moved right in ``cur``.

    Both are equirect ``(H, W, 3)`` float images (sizes may differ). Applying this yaw to ``cur``
    (``geometry.yaw_roll_columns``) brings it back in line with ``prev``: if ``cur`` is ``prev``
    rolled right by k columns the answer is ``k / W * 360``. A camera that turned right by a
    degrees gives ``-a``.
    """
    return band_yaw(
        horizon_band(prev, width=width, band=band), horizon_band(cur, width=width, band=band)
    )


# -- travel alignment -----------------------------------------------------------------------------


def travel_bearings(
    lats: Sequence[float | None], lons: Sequence[float | None], *, window: float = 10.0
) -> np.ndarray | None:
    """Direction of travel at each shot from the GPS track, compass degrees, shape ``(N,)``.

    Looks from the last shot at least ``window / 2`` metres behind to the first one at least as far
    ahead, so metre-level GPS noise between close shots does not swing the bearing. Shots without a
    position take the bearing of the nearest shot that has one. ``None`` when the track never
    moves more than a metre (no direction to follow).
    """
    n = len(lats)
    have = [i for i in range(n) if lats[i] is not None and lons[i] is not None]
    if len(have) < 2:
        return None
    lat = np.array([lats[i] for i in have], dtype=np.float64)
    lon = np.array([lons[i] for i in have], dtype=np.float64)
    # Distances along the path (not straight lines) keep this linear in the number of shots.
    path = np.concatenate([[0.0], np.cumsum(haversine(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
    half = window / 2.0 - 1e-6  # a shot exactly half a window away counts despite rounding
    back = np.searchsorted(path, path - half, side="right") - 1
    ahead = np.searchsorted(path, path + half, side="left")
    back = np.clip(back, 0, len(have) - 1)
    ahead = np.clip(ahead, 0, len(have) - 1)
    span = haversine(lat[back], lon[back], lat[ahead], lon[ahead])
    found = np.where(span >= 1.0, bearing(lat[back], lon[back], lat[ahead], lon[ahead]), np.nan)
    known = np.flatnonzero(~np.isnan(found))
    if len(known) == 0:
        return None
    # Every shot takes the bearing of the nearest (by index) shot whose bearing is known.
    where = np.asarray(have)[known]
    right = np.clip(np.searchsorted(where, np.arange(n)), 0, len(where) - 1)
    left = np.clip(right - 1, 0, len(where) - 1)
    pick = np.where(
        np.abs(where[left] - np.arange(n)) <= np.abs(where[right] - np.arange(n)), left, right
    )
    return found[known][pick]


def odd_tags(headings: Sequence[float | None], rotations: Sequence[float | None]) -> list[int]:
    """The shots whose heading tag the pictures contradict, alone among tags that agree.

    With a tag and an image-measured turn on every shot, each tag less its turn is the same
    number (the camera's compass offset) up to the tags' jitter. The offset most shots agree with
    within ``MAX_TAG_DISAGREEMENT`` is the consensus; the shots off it are odd when they are
    fewer than a third, neither end of the segment is among them (a failed image estimate turns
    every shot after it, a run to an end; a bad tag only its own shot), and the others agree with
    their mean within that too (else :func:`align_yaws` uses the tags as they are).
    """
    n = len(headings)
    if n < 3 or any(h is None for h in headings) or any(r is None for r in rotations):
        return []
    offsets = wrap180(
        np.asarray(headings, dtype=np.float64) - np.asarray(rotations, dtype=np.float64)
    )
    near = np.abs(wrap180(offsets[:, None] - offsets[None, :])) <= MAX_TAG_DISAGREEMENT
    centre = offsets[int(np.argmax(near.sum(axis=1)))]
    odd = [i for i in range(n) if abs(wrap180(offsets[i] - centre)) > MAX_TAG_DISAGREEMENT]
    if not odd or 3 * len(odd) >= n or 0 in odd or n - 1 in odd:
        return []  # (an odd shot at an end: a failed image estimate may have turned it)
    kept = offsets[[i for i in range(n) if i not in odd]]
    if np.max(np.abs(wrap180(kept - circular_mean(kept)))) > MAX_TAG_DISAGREEMENT:
        return []
    return odd


def align_yaws(
    headings: Sequence[float | None],
    rotations: Sequence[float | None],
    lats: Sequence[float | None],
    lons: Sequence[float | None],
    *,
    smoothing: float = HEADING_SMOOTHING,
) -> tuple[np.ndarray, str]:
    """Yaw (degrees, positive = right) per panorama of one segment, and where it came from.

    ``headings``: compass bearing of each panorama's centre (tags), ``rotations``: image-based
    orientation relative to the first shot, ``lats``/``lons``: the GPS track; any may hold
    ``None``s. The camera's orientation comes from the headings when every shot has one (their
    shot-to-shot jitter replaced by the image-based rotations when those exist and agree within
    ``MAX_TAG_DISAGREEMENT``), else from the rotations alone. The viewing direction is the GPS
    direction of travel when the track is usable, smoothed over ``smoothing`` metres along it
    (:func:`travel_view`), else the camera's own orientation smoothed over ``smoothing /
    SHOT_METRES`` shots; and ``yaw = view - camera``.

    The source is ``'track+heading'``, ``'track+image'``, ``'heading'``, ``'image'`` (view =
    smoothed camera orientation: the camera's jitter removed, its direction kept), or ``'none'``
    (nothing known: all yaws 0).
    """
    n = len(headings)
    have_heading = n > 0 and all(h is not None for h in headings)
    have_rotation = n > 0 and all(r is not None for r in rotations)
    if have_heading:
        camera, camera_from = np.asarray(headings, dtype=np.float64), "heading"
        if have_rotation:
            # Compass tags jitter by degrees from shot to shot, image-measured turns by a tenth of
            # one: keep the tags' mean direction and the images' shot-to-shot detail, unless the
            # two disagree somewhere (the image estimate failed), where the tags are the safer bet;
            # but a few odd tags alone, which the pictures contradict, are left out.
            rot = np.asarray(rotations, dtype=np.float64)
            odd = set(odd_tags(headings, rotations))
            kept = [i for i in range(n) if i not in odd]
            refined = rot + circular_mean((camera - rot)[kept])
            if np.max(np.abs(wrap180(camera - refined)[kept])) <= MAX_TAG_DISAGREEMENT:
                camera = refined
    elif have_rotation:
        camera, camera_from = np.asarray(rotations, dtype=np.float64), "image"
    else:
        return np.zeros(n), "none"

    travel = travel_bearings(lats, lons)
    if travel is None:
        view = circular_smooth(camera, smoothing / SHOT_METRES)
        return wrap180(view - camera), camera_from
    view = travel_view(lats, lons, smoothing, travel)
    if camera_from == "image":
        # Rotations know no compass: assume the camera faced forward on average over the segment.
        view = view + circular_mean(camera - travel)
    return wrap180(view - camera), f"track+{camera_from}"


def travel_view(
    lats: Sequence[float | None],
    lons: Sequence[float | None],
    smoothing: float,
    travel: np.ndarray | None = None,
) -> np.ndarray | None:
    """The direction of travel at each shot (``travel``, else :func:`travel_bearings`') smoothed
    with a Gaussian of sigma ``smoothing`` metres along the track, compass degrees, shape ``(N,)``:
    the same smoothing over the ground however densely the shots lie (a video's every frame, the
    frames a ``--spacing`` video shows and makes its steps of, photos metres apart). None without a track.
    """
    travel = travel_bearings(lats, lons) if travel is None else travel
    if travel is None:
        return None
    return circular_smooth(travel, smoothing, along_track(lats, lons))
