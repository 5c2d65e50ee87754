"""Where each output frame was: a CAMM GPS track in the 360 video and a GPX file beside it.

Run once per finished segment, after its videos are in place (and their spherical metadata
written). The positions are the manifest rows' ``lat``/``lon`` (interpolated at t between the two
source shots); a frame's time is the two shots' capture times interpolated the same way, kept
only on a UTC clock (``gps``, ``mapillary``; see :mod:`viewsynth.export.gpx`). A segment with a
frame of unknown position gets neither file: nothing is written and nothing is said.
"""

from __future__ import annotations

from pathlib import Path

from viewsynth.capture import Shot
from viewsynth.export.camm import add_camm_track
from viewsynth.export.gpx import write_gpx

#: Capture clocks that are UTC (``Capture.time_source``); others give GPX points no time.
UTC_CLOCKS = ("gps", "mapillary")


def frame_time(shots: dict[str, Shot], row: dict) -> float | None:
    """The capture time of a manifest row: its two shots' times interpolated at ``t``."""
    a, b = (shots[name].time for name in row["src"])
    if a is None or b is None:
        return None
    return a + row["t"] * (b - a)


def geotag_segment(
    out: Path, names: dict[str, str], rows: list[dict], segment: list[Shot], time_source: str
) -> str | None:
    """Add the CAMM track to ``names["360"]`` (if any) and write the segment's GPX.

    ``rows``: the segment's manifest rows, one per video frame. Returns the GPX file name
    (``walkthrough[-segNN].gpx``, named after the flat video), or None when a frame has no
    position and nothing was written.
    """
    if not rows or any("lat" not in row or "lon" not in row for row in rows):
        return None
    shots = {shot.name: shot for shot in segment}
    utc = time_source in UTC_CLOCKS
    points = [(row["lat"], row["lon"], frame_time(shots, row) if utc else None) for row in rows]
    if "360" in names:
        add_camm_track(out / names["360"], [(lat, lon) for lat, lon, _ in points])
    gpx_name = Path(names["flat"]).with_suffix(".gpx").name
    write_gpx(out / gpx_name, points, name=Path(gpx_name).stem)
    return gpx_name
