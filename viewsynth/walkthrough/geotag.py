"""Where each output frame was: a CAMM GPS track in the 360 video and a GPX file beside it.

The CAMM track is added to the joined 360 video before it is renamed into place (the segment
writer's ``post_360`` step), so an output path never holds a walkthrough without its track; the
GPX is written once the videos are in place. The positions are the manifest rows' ``lat``/``lon``
(interpolated at t between the two source shots). Times are the video's own clock, as tools that
geotag a video from a GPX read them (mapillary_tools, Street View): point i at ``i / fps`` seconds
after the video's start, the segment's first frame's UTC time (:func:`video_start`), which both MP4s
also carry as their creation time. Without a UTC time there is no start: no ``<time>`` and no
creation time. Frames of unknown position (a camera before its GPS lock, a video's fixes lost)
are left out of both: the CAMM track's samples are timed to their frames, the GPX's points by
their ``<time>``; without a UTC time a GPX's points could not say which frames they are, so such a
segment gets the CAMM track only (the job's warnings say what was left out). Altitude (the rows'
``alt``) goes into both only when every placed frame has one: otherwise the CAMM packets hold 0,
as type 5 needs a number, and the GPX has no ``<ele>``, rather than a track whose height drops to
0 where it is unknown (the warnings say so too).
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


def placed(rows: list[dict]) -> list[int]:
    """The indices of the rows (the segment's frames) that have a position."""
    return [i for i, row in enumerate(rows) if "lat" in row and "lon" in row]


def altitudes(rows: list[dict]) -> list[float] | None:
    """Every row's ``alt`` (metres), or None when one of them has none."""
    if not rows or any("alt" not in row for row in rows):
        return None
    return [row["alt"] for row in rows]


def camm_step(rows: list[dict]) -> Callable[[Path], None] | None:
    """What the segment writer runs on the joined 360 video before renaming it into place: add
    the CAMM track of the ``rows`` that have a position (None when none has)."""
    where = placed(rows)
    if not where:
        return None
    kept = [rows[i] for i in where]
    points = [(row["lat"], row["lon"]) for row in kept]
    frames = None if len(where) == len(rows) else where
    return lambda video: add_camm_track(video, points, altitudes(kept), frames)


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
    """Write the segment's GPX beside its videos: row i's position at ``start + i / fps``
    (``start``: :func:`video_start`; None: no times), each at its ``alt`` when every placed row
    has one; returns its file name (``walkthrough[-segNN].gpx``, named after the flat video), or
    None when nothing was written: no row has a position, or some have none and there is no
    ``start`` to time the others by."""
    where = placed(rows)
    if not where or (start is None and len(where) < len(rows)):
        return None
    kept = [rows[i] for i in where]
    points = [
        (row["lat"], row["lon"], None if start is None else start + i / fps)
        for i, row in zip(where, kept, strict=True)
    ]
    gpx_name = Path(names["flat"]).with_suffix(".gpx").name
    write_gpx(out / gpx_name, points, name=Path(gpx_name).stem, elevations=altitudes(kept))
    return gpx_name
