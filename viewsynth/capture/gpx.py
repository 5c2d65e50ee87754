"""Geotagging by time from a GPX track (``capture.gpx``), for photos or video frames without GPS.

The GPX is parsed with ``gpxpy``; every track point with a time is kept (all tracks and segments
in time order; route and way points have no times and are ignored). Frames are matched in UTC:
a photo by its capture time (GPS time or EXIF time with OffsetTimeOriginal are UTC; EXIF time
without an offset is the camera's local clock, read as UTC), a video frame by the MP4's creation
time plus its time in the video (or by the clock of the video's own GPS fixes where it has them:
a late lock's first frames; :mod:`~viewsynth.capture.locate`). ``capture.gpx_offset`` seconds are added to the capture's times
first: the camera clock's error against the GPS logger's (a camera 3 s slow: 3; a camera set to
local time UTC+2 with no offset tag: -7200). Between two track points the position is interpolated
linearly, and so is ``<ele>`` (metres, as the logger wrote it) where both points have one; across
more than ``GPX_MAX_GAP`` seconds between points, or outside the track, a frame gets no position.

An NMEA log (a dashcam's or a GPS logger's ``.nmea``, ``.log``, ``.txt``; BlackVue's ``.gps``
with its ``[milliseconds]`` stamps) serves as well, recognised by its content (a ``$GPRMC``-like
sentence in its first lines), each line read with ``pynmea2``: every RMC with status A is a track
point (RMC carries the date and the time, UTC), with the altitude (above mean sea level) of the
GGA of the same second. GGA alone has no date: such a log is refused, saying so. Lines that do
not parse or fail their checksum are skipped and counted in a warning.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from viewsynth.capture.heights import sea_levels
from viewsynth.capture.shot import Shot
from viewsynth.capture.telemetry import Fix, clean_track, measured_altitude, positions_at
from viewsynth.errors import ViewsynthError

#: Seconds between two GPX points beyond which no position is interpolated (loggers record every
#: 1-10 s; a longer silence is a lost signal or a pause in logging).
GPX_MAX_GAP = 30.0
#: An NMEA sentence at the start of a line (after a BlackVue ``[milliseconds]`` stamp or not).
#: (A BlackVue log may end a line with another stamp.)
_NMEA = re.compile(
    r"^\s*(?:\[\d+\])?\s*(\$[A-Z]{2}([A-Z]{3}),.*?)\s*(?:\[\d+\])?\s*$", re.MULTILINE
)


def read_gpx(path: Path, max_speed: float = 0.0) -> tuple[list[Fix], list[str]]:
    """The timed track points of the GPX (or NMEA) file ``path`` as fixes on the UTC clock, and
    warnings.

    Raises ``ViewsynthError`` naming the file when it is missing, is neither GPX (XML) nor NMEA,
    or has no track point with a time.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as err:
        raise ViewsynthError(f"{path}: cannot read the GPX file ({err.strerror})") from None
    if _NMEA.search(text[:4096]) and not text.lstrip().startswith("<"):
        fixes, warnings = read_nmea(path, text)
    else:
        fixes, warnings = _gpx_points(path, text), []
    fixes.sort(key=lambda f: f.time)
    # (frozen: see there; the fixes' times are UTC seconds, said as such)
    fixes, track_warnings = clean_track(
        fixes, path.name, max_speed, GPX_MAX_GAP, frozen=False, clock=lambda t: f"{_when(t)} UTC"
    )
    return fixes, warnings + track_warnings


def _gpx_points(path: Path, text: str) -> list[Fix]:
    """The timed track points of the GPX document ``text`` (read from ``path``)."""
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ViewsynthError(f"{path}: not a GPX or NMEA file ({reason})") from None
    fixes = []
    for track in gpx.tracks:
        for segment in track.segments:
            for point in segment.points:
                if point.time is None:
                    continue
                when = point.time if point.time.tzinfo else point.time.replace(tzinfo=UTC)
                utc = when.timestamp()
                alt = measured_altitude(point.elevation)
                fixes.append(Fix(utc, point.latitude, point.longitude, utc, alt))
    if not fixes:
        raise ViewsynthError(
            f"{path}: no track point with a time (<trkpt> with <time>) in this GPX"
        )
    return fixes


def read_nmea(path: Path, text: str) -> tuple[list[Fix], list[str]]:
    """The fixes of the NMEA log ``text`` (read from ``path``): its RMC sentences with status A,
    on UTC, each with its second's GGA altitude; and a warning for the lines skipped. Raises
    ``ViewsynthError`` naming the file when no RMC has a fix (GGA alone: no date)."""
    import pynmea2

    rmc, gga, bad = [], [], 0
    for line, kind in _NMEA.findall(text):
        if kind not in ("RMC", "GGA"):  # (GSA, GSV, VTG, a maker's own: nothing to place)
            continue
        try:
            m = pynmea2.parse(line)
            if kind == "RMC" and m.is_valid and m.datestamp:
                rmc.append((m.datetime.timestamp(), m.timestamp, m.latitude, m.longitude))
            elif kind == "GGA" and m.is_valid and m.timestamp:
                gga.append((m.timestamp, m.altitude))
        except (pynmea2.ParseError, ValueError, TypeError):  # (a bad checksum, a field)
            bad += 1
    if not rmc:
        had = f"{len(gga)} GGA fixes, which carry no date" if gga else "no fix with a valid status"
        had += f"; {bad} line(s) not parsed or with a wrong checksum" if bad else ""
        raise ViewsynthError(
            f"{path}: no RMC sentence with a fix in this NMEA log ({had}): matching frames by time "
            "needs RMC's date and time; log RMC sentences too (or convert the log to GPX)"
        )
    heights = dict(gga)
    fixes, seen = [], set()
    for utc, second, lat, lon in rmc:
        if utc not in seen:  # (GPRMC and GNRMC of one second: the first)
            seen.add(utc)
            fixes.append(Fix(utc, lat, lon, utc, measured_altitude(heights.get(second))))
    skipped = [f"{path.name}: {bad} NMEA line(s) skipped (not parsed or with a wrong checksum)"]
    return fixes, skipped if bad else []


def geotag(
    shots: Sequence[Shot],
    utc_times: Sequence[float | None],
    gpx_path: Path,
    fixes: Sequence[Fix],
    offset: float,
    capture: Path,
) -> tuple[list[Shot], list[str], str]:
    """Give each shot without a position the GPX position (and elevation, where the track has
    one) at its UTC time (+ ``offset``), every shot without a UTC time that time; and what the
    shots' heights are above ("": the GPX gave none, only the shots' own EXIF heights are there).

    ``utc_times`` are the shots' times on the UTC clock (None: unknown). Shots that have a
    position keep it. Raises ``ViewsynthError`` naming the GPX when no shot's time falls within
    the track; shots outside it are listed in one warning. Where the shots' own heights (EXIF
    ``GPSAltitude``) and the GPX's disagree (:func:`~viewsynth.capture.heights.sea_levels`), the
    GPX's move onto them, or the source that placed fewer photos loses its heights (warned).
    """
    wanted = [i for i, s in enumerate(shots) if not s.has_position]
    if not wanted:
        return (
            list(shots),
            [f"{gpx_path.name}: every frame has its own GPS; the GPX is not used"],
            "",
        )
    times = [utc_times[i] for i in wanted]
    if any(t is None for t in times):
        raise ViewsynthError(
            f"{capture}: --gpx {gpx_path.name} matches frames by time, but the frames have no "
            "capture time (no GPS, EXIF or video creation time)"
        )
    shifted = [t + offset for t in times]
    found = positions_at(fixes, shifted, GPX_MAX_GAP)
    hits = [i for i, p in zip(wanted, found, strict=True) if p is not None]
    if not hits:
        raise no_overlap_error(gpx_path, fixes, shifted, offset)
    own = [i for i, s in enumerate(shots) if s.has_position and s.alt is not None]
    at = positions_at(fixes, [utc_times[i] + offset for i in own], GPX_MAX_GAP, margin=0.0)
    pairs = [(p.alt, shots[i].alt) for i, p in zip(own, at, strict=True) if p and p.alt is not None]
    gpx = f"--gpx {gpx_path.name}"
    apart = sea_levels(pairs, "the photos' (EXIF GPSAltitude)", gpx)
    # The track placed the shots by their times + offset taken as UTC: so are all the shots'
    # times on that clock (the GPX written out, the videos' creation time), not just its fixes'.
    out = [
        s if s.utc is not None or t is None else dataclasses.replace(s, utc=t + offset)
        for s, t in zip(shots, utc_times, strict=True)
    ]
    for i, p in zip(wanted, found, strict=True):
        if p is not None:
            alt = None if p.alt is None else p.alt + (apart.shift or 0.0)
            out[i] = dataclasses.replace(out[i], lat=p.lat, lon=p.lon, alt=alt)
    missed = [shots[i].name for i, p in zip(wanted, found, strict=True) if p is None]
    warnings = outside_track(gpx_path, missed, len(wanted))
    placed = [i for i in wanted if out[i].alt is not None]
    if not placed:  # (the GPX gave no photo a height: nothing mixed, nothing shifted)
        return out, warnings, ""
    if apart.shift is not None:
        return out, [*warnings, f"{capture.name}: {apart.said}"], f"sea level ({apart.by})"
    if not apart.mixed:  # the sources that gave the heights, by name
        return out, warnings, f"sea level ({'EXIF GPSAltitude; ' if own else ''}{gpx})"
    if len(own) >= len(placed):
        lose, whose, alt_by = placed, f"placed by {gpx}", "sea level (EXIF GPSAltitude)"
    else:
        lose, whose, alt_by = own, "with their own (EXIF GPSAltitude)", f"sea level ({gpx})"
    warnings.append(
        f"heights left out on the {len(lose)} of {len(own) + len(placed)} photos with one, those "
        f"{whose}: {apart.said}"
    )
    out = [dataclasses.replace(s, alt=None) if i in lose else s for i, s in enumerate(out)]
    return out, warnings, alt_by


def outside_track(gpx_path: Path, missed: Sequence[str], asked: int) -> list[str]:
    """The warning naming the frames (``missed`` of ``asked``) the GPX track did not place."""
    if not missed:
        return []
    shown = ", ".join(missed[:8]) + (f" (+{len(missed) - 8} more)" if len(missed) > 8 else "")
    return [
        f"{gpx_path.name}: {len(missed)} of {asked} frames fall outside the GPX track's times "
        f"(or in a gap of over {GPX_MAX_GAP:g} s): no position for {shown}"
    ]


def no_overlap_error(
    gpx_path: Path, fixes: Sequence[Fix], shifted: Sequence[float], offset: float
) -> ViewsynthError:
    """The error for a GPX whose times cover none of the frames (``shifted``: their UTC times)."""
    return ViewsynthError(
        f"{gpx_path}: the track ({_when(fixes[0].time)} .. {_when(fixes[-1].time)} UTC) does "
        f"not overlap the capture's times ({_when(min(shifted))} .. {_when(max(shifted))} with "
        f"capture.gpx_offset {offset:g} s); set --gpx-offset to the camera clock's error"
    )


def _when(utc: float) -> str:
    return datetime.fromtimestamp(utc, UTC).strftime("%Y-%m-%d %H:%M:%S")
