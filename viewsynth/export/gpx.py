"""``walkthrough[-segNN].gpx``: the output frames' positions (and times) as a GPX 1.1 track.

One track, one segment, one ``trkpt`` per output frame in video order, so point i is frame i at
``i / fps`` seconds into the video; its ``<time>``, when the caller gives one, is the video's
start plus that (:mod:`viewsynth.walkthrough.geotag`). GPX times are UTC, and a camera's local
clock read as UTC would put every point hours off, so a capture without a UTC time gets no
``<time>``. ``<ele>`` (metres, as the capture's source gives it) goes with every point when the
caller has one for each, else with none. Written with ``gpxpy`` (the maintained GPX library the capture side also reads GPX
with: one GPX dialect in and out) and saved through ``frames.write_text`` (aside, then renamed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import gpxpy
import gpxpy.gpx

from viewsynth import frames
from viewsynth.errors import ViewsynthError

CREATOR = "viewsynth"


def gpx_text(
    points: Sequence[tuple[float, float, float | None]],
    name: str = "walkthrough",
    elevations: Sequence[float] | None = None,
) -> str:
    """GPX 1.1 XML of ``(lat, lon, utc_seconds | None)`` points as one track named ``name``,
    point i at ``elevations[i]`` metres (None: no ``<ele>``)."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = CREATOR
    track = gpxpy.gpx.GPXTrack(name=name)
    segment = gpxpy.gpx.GPXTrackSegment()
    track.segments.append(segment)
    gpx.tracks.append(track)
    heights = [None] * len(points) if elevations is None else elevations
    for (lat, lon, seconds), ele in zip(points, heights, strict=True):
        when = None if seconds is None else datetime.fromtimestamp(seconds, UTC)
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lon, elevation=ele, time=when))
    return gpx.to_xml(version="1.1")


def write_gpx(
    path: str | Path,
    points: Sequence[tuple[float, float, float | None]],
    name: str = "walkthrough",
    elevations: Sequence[float] | None = None,
) -> None:
    """Write :func:`gpx_text` of ``points`` to ``path`` (aside, then renamed into place).

    Raises ``ViewsynthError`` naming ``path`` for no points, a position that is not a finite
    latitude/longitude, or elevations that are not one finite number per point.
    """
    path = Path(path)
    if not points:
        raise ViewsynthError(f"{path}: no positions to write")
    for lat, lon, _ in points:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
            raise ViewsynthError(f"{path}: ({lat}, {lon}) is not a latitude/longitude")
    if elevations is not None:
        if len(elevations) != len(points):
            raise ViewsynthError(f"{path}: {len(elevations)} elevations for {len(points)} points")
        bad = [ele for ele in elevations if not math.isfinite(ele)]
        if bad:
            raise ViewsynthError(f"{path}: elevation {bad[0]} is not a number of metres")
    frames.write_text(path, gpx_text(points, name, elevations))


def read_gpx(path: str | Path) -> list[tuple[float, float, float | None, float | None]]:
    """The ``(lat, lon, utc_seconds | None, ele | None)`` of every track point in ``path``, in
    order."""
    path = Path(path)
    try:
        gpx = gpxpy.parse(path.read_text(encoding="utf-8"))
    except (OSError, gpxpy.gpx.GPXException) as exc:
        raise ViewsynthError(f"{path}: not a readable GPX file ({exc})") from None
    return [
        (p.latitude, p.longitude, None if p.time is None else p.time.timestamp(), p.elevation)
        for track in gpx.tracks
        for segment in track.segments
        for p in segment.points
    ]
