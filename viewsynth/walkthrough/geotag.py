"""Where each output frame was: a CAMM GPS track in the 360 video and a GPX file beside it.

The CAMM track is added to the joined 360 video before it is renamed into place (the segment
writer's ``post_360`` step), so an output path never holds a walkthrough without its track; the
GPX is written once the videos are in place. The positions are the manifest rows' ``lat``/``lon``
(interpolated at t between the two source shots). Times are the video's own clock, as tools that
geotag a video from a GPX read them (mapillary_tools, Street View): point i at ``i / fps`` seconds
after the video's start, the segment's first frame's UTC time (:func:`video_start`), which both MP4s
also carry as their creation time. Without a UTC time there is no start: no ``<time>`` and no
creation time. A segment with a frame of unknown position gets neither file (the job's warnings
say so). Altitude (the rows' ``alt``) goes into both only when every frame of the segment has one:
otherwise the CAMM packets hold 0, as type 5 needs a number, and the GPX has no ``<ele>``, rather
than a track whose height drops to 0 where it is unknown (the warnings say so too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from viewsynth.capture import Shot
from viewsynth.export.camm import add_camm_track
from viewsynth.export.gpx import write_gpx

#: Capture clocks that are UTC (``Capture.time_source``): their times are the points' times.
UTC_CLOCKS = ("gps", "mapillary")


def frame_time(shots: dict[str, Shot], row: dict, field: str = "time") -> float | None:
    """The capture time of a manifest row: its two shots' times (``field``: ``"time"``, the
    capture's clock, or ``"utc"``) interpolated at ``t``."""
    a, b = (getattr(shots[name], field) for name in row["src"])
    if a is None or b is None:
        return None
    return a + row["t"] * (b - a)


def positions(rows: list[dict]) -> list[tuple[float, float]] | None:
    """Every row's ``(lat, lon)``, or None when a frame of the segment has no position."""
    if not rows or any("lat" not in row or "lon" not in row for row in rows):
        return None
    return [(row["lat"], row["lon"]) for row in rows]


def altitudes(rows: list[dict]) -> list[float] | None:
    """Every row's ``alt`` (metres), or None when a frame of the segment has none."""
    if not rows or any("alt" not in row for row in rows):
        return None
    return [row["alt"] for row in rows]


def camm_step(rows: list[dict]) -> Callable[[Path], None] | None:
    """What the segment writer runs on the joined 360 video before renaming it into place: add
    the CAMM track of ``rows`` (None when a frame has no position)."""
    where = positions(rows)
    if where is None:
        return None
    heights = altitudes(rows)
    return lambda video: add_camm_track(video, where, heights)


def utc_times(rows: list[dict], segment: list[Shot], time_source: str) -> list[float] | None:
    """Each row's capture time in UTC seconds (its two shots' interpolated at t): a UTC clock's,
    else every shot's own UTC time where all have one (EXIF time with its offset, a video's GPS
    track, a video's frames geotagged by a GPX); None when the capture's time is not known in
    UTC."""
    field = "time" if time_source in UTC_CLOCKS else "utc"
    if field == "utc" and any(shot.utc is None for shot in segment):
        return None
    shots = {shot.name: shot for shot in segment}
    times = [frame_time(shots, row, field) for row in rows]
    return times if rows and None not in times else None


def stamp_rows(rows: list[dict], segment: list[Shot], time_source: str) -> None:
    """Give each manifest row its capture time, ``"utc"`` (ISO 8601, UTC), where known."""
    for row, seconds in zip(rows, utc_times(rows, segment, time_source) or [], strict=False):
        when = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
        row["utc"] = when.replace("+00:00", "Z")


def video_start(rows: list[dict], segment: list[Shot], time_source: str) -> float | None:
    """The UTC time (seconds) of the segment's first output frame (:func:`utc_times`), or None."""
    times = utc_times(rows[:1], segment, time_source)
    return times[0] if times else None


def write_segment_gpx(
    out: Path, names: dict[str, str], rows: list[dict], start: float | None, fps: float
) -> str | None:
    """Write the segment's GPX beside its videos, point i at ``start + i / fps`` (``start``:
    :func:`video_start`; None: no times) and at its ``alt`` when every row has one; returns its
    file name (``walkthrough[-segNN].gpx``, named after the flat video), or None when a frame has
    no position and nothing was written."""
    where = positions(rows)
    if where is None:
        return None
    points = [
        (lat, lon, None if start is None else start + i / fps) for i, (lat, lon) in enumerate(where)
    ]
    gpx_name = Path(names["flat"]).with_suffix(".gpx").name
    write_gpx(out / gpx_name, points, name=Path(gpx_name).stem, elevations=altitudes(rows))
    return gpx_name
