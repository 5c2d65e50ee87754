"""``manifest.json``: what a capture became, one row per output frame.

    {"capture": SOURCE, "settings": {...}, "interpolator": {"method": ..., ...},
     "fingerprint": KEY, "projection": "equirect" | "perspective", "projection_by": WHY,
     ["hfov": DEGREES, "hfov_by": SOURCE,]  (perspective captures only)
     "time_source": ..., ["clocks": [{"camera", "frames", "by", "used", "offset_s", ...}],]
     "gps_by": SOURCE, ["alt_by": DATUM,] ["heading_by": SOURCE,] "skipped": [{"file", "reason"}],
     "warnings": [...],
     "segments": [{"files": {"flat": NAME, "360": NAME}, "frames": [ROW, ...]}, ...]}

``projection_by`` says what decided the projection (``"--projection"``, ``"XMP GPano
ProjectionType=equirectangular (12 of 12 frames)"``, ``"content: seam score 0.98 (...)"``, ...;
see :mod:`viewsynth.capture.projection`); ``hfov`` is the median horizontal field of view of the
perspective shots (each pair is interpolated with its own; a photo of another shape than the
capture's has that of its centre crop, ``Shot.hfov``), ``hfov_by`` where it came from (when no
shot's metadata has one, the default the geometry assumes: ``"default 60 degrees (no focal
length in the metadata)"``, for photos and videos alike). ``gps_by`` says where the positions
came from (``"GoPro GPMF"``, ``"CAMM track"``, ``"BlackVue DR900X Plus (...)"``, ``"the photos'
GPS tags"``, ``"--gpx ride.nmea"``, both joined by ``"; "``; ``""``: no frame has one).
``alt_by``: what the heights are above (``"sea level (GPMF GPSA MSLV)"``, ``"WGS-84 ellipsoid
(GPMF GPS5/GPS9 (no GPSA))"``, ``"sea level (--gpx ride.gpx; the telemetry's WGS-84 ellipsoid
heights (...) shifted by +47.2 m, the median difference over 312 moments both measured)"``), where
a frame has one. ``heading_by``: where the rows' ``heading`` came from, where a frame has one:
``"heading tags"`` (the photos' own), ``"the direction of travel (GPS track, Gaussian sigma 5 m; a
forward camera)"`` (ordinary photos and videos without a tag: the camera taken to face the way
it moves, as mapillary_tools does; panoramas: turned to it), both with their shots' counts
(``"heading tags (3 of 12 shots); ..."``). ``clocks`` (photos with EXIF times): each camera's
clock against GPS time, how it was found (``"gps"``: measured, ``"OffsetTimeOriginal"``,
``"unknown"``) and whether it set the times (:mod:`viewsynth.capture.clocks`).

A ROW names the two source files and t, and, when the tags tell them, the position (``lat``,
``lon``: interpolated linearly at t, across the 180th meridian the short way; at t = 0 and 1 the
photo's own, whatever the other's), ``alt`` (metres, as the source gives it, likewise; between
photos only when both have one), ``heading`` (the compass bearing the frame's centre faces,
interpolated the short way round; only here: GPX 1.1 and CAMM's type 5 have no field for it)
and ``utc``, the capture time at t in UTC (ISO 8601; added by
:func:`viewsynth.walkthrough.geotag.stamp_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from viewsynth import frames
from viewsynth.capture import Capture, Shot
from viewsynth.capture.heading import between
from viewsynth.capture.schedule import PairSchedule
from viewsynth.capture.telemetry import lerp

MANIFEST = "manifest.json"


def projection_entry(capture: Capture) -> dict:
    """The manifest's projection fields: what the capture is, why, and its field of view."""
    entry: dict = {"projection": capture.projection, "projection_by": capture.projection_by}
    if capture.projection == "perspective":
        entry["hfov"] = round(capture.hfov, 3)
        entry["hfov_by"] = capture.hfov_by
    return entry


def _lerp_angle(a: float | None, b: float | None, t: float) -> float | None:
    if a is None or b is None:
        return a if t < 0.5 else b
    d = (b - a + 180.0) % 360.0 - 180.0
    return (a + t * d) % 360.0


def _view_heading(shot: Shot) -> float | None:
    """Compass bearing the output frame's centre faces, when the GPS track or the tags tell it
    (``Shot.view_heading``: the smoothed direction of travel; else the tag, turned by ``yaw``)."""
    if shot.view_heading is not None:
        return shot.view_heading
    if shot.heading is None:
        return None
    return (shot.heading + shot.yaw) % 360.0


def frame_entry(shot0: Shot, shot1: Shot, t: float) -> dict:
    """One manifest row: the two source files, t, and position/altitude/heading interpolated at
    t (at t = 0 and 1, the photo's own, also when the other has none)."""
    entry: dict = {"src": [shot0.name, shot1.name], "t": round(float(t), 6)}
    alt = None
    if float(t) in (0.0, 1.0):
        shot = shot0 if float(t) == 0.0 else shot1
        if shot.has_position:
            entry["lat"], entry["lon"], alt = round(shot.lat, 8), round(shot.lon, 8), shot.alt
    elif shot0.has_position and shot1.has_position:
        lat, lon = between(shot0.lat, shot0.lon, shot1.lat, shot1.lon, t)
        entry["lat"], entry["lon"] = round(lat, 8), round(lon, 8)
        alt = lerp(shot0.alt, shot1.alt, float(t))
    if alt is not None:
        entry["alt"] = round(alt, 3)
    heading = _lerp_angle(_view_heading(shot0), _view_heading(shot1), t)
    if heading is not None:
        entry["heading"] = round(heading, 3)
    return entry


def segment_rows(segment: Sequence[Shot], schedule: Sequence[PairSchedule]) -> list[dict]:
    """The rows of a segment's output frames, in order: each pair's times (``t = 0``, the
    in-between times, and ``t = 1`` after the last pair)."""
    return [
        frame_entry(segment[pair.index], segment[pair.index + 1], t)
        for pair in schedule
        for t in pair.times
    ]


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    frames.write_text(path, json.dumps(manifest, indent=2))
