"""GPS tracks: a video's own telemetry (GoPro GPMF, Google CAMM, BlackVue), positions at any time.

Read with mapillary_tools' readers (``mapillary_tools.gpmf.gpmf_parser``,
``mapillary_tools.camm.camm_parser``: the uploader most street-capture users already run), which
place every fix on the video's clock from the MP4 sample table (a telemetry sample's fixes spread
evenly over its duration):

- GPMF ``GPS5``/``GPS9`` (GoPro HERO5 and later, MAX): fixes without a lock (GPSF 0) or with a
  dilution of precision over 5 (GPSP > 500) are dropped, as mapillary_tools does;
- GPMF ``GLPI`` (the Karma drone's position stream, which mapillary_tools' reader does not
  decode): its fixes are decoded here from the KLV records that mapillary_tools parses, with the
  stream's own TYPE and SCAL, and put on UTC through the device's SYST (system time -> UTC) record,
  as ExifTool does;
- CAMM packet types 5 (minimal GPS) and 6 (GPS) (Insta360, RICOH THETA X, Street View ready
  cameras); CAMM's GPS time (seconds since 1980-01-06) becomes UTC;
- BlackVue dashcams (``mapillary_tools.blackvue_parser``): the NMEA log in the ``gps `` box of a
  top-level ``free`` box, each sentence stamped ``[milliseconds]`` on the camera's clock (local
  time), its RMC fixes (else GGA, else GLL) with a valid status; their UTC is that clock made UTC
  by the first valid RMC's date and time, as mapillary_tools does. A fix's video time is its stamp
  less ``sttm``, the recording's start on the same clock, as ExifTool places it (without ``sttm``:
  the first fix at 0 s, mapillary_tools' rule, which puts a late lock at the start); its altitude
  is the GGA's of the same second (above mean sea level), the model is ``cprt``'s.

Altitude (metres) comes with a fix where the source measured it, as the source gives it: GPS5 is
height above the WGS-84 ellipsoid (GoPro's GPMF spec; GPS9's row names no datum) unless the
stream's ``GPSA`` key says ``MSLV`` (mean sea level; newer cameras write it); GLPI is not
documented by GoPro, but its fields are laid out as MAVLink's GLOBAL_POSITION_INT (time, lat, lon,
alt, relative alt, three speeds, heading), whose alt is above mean sea level; CAMM's is what its
writer put there (0 or -1 on every fix: none). A 2D fix (GPMF GPSF 2, CAMM fix type 2) measured
no height: it has none. No geoid model here converts between the datums;
:mod:`~viewsynth.capture.locate` measures the offset to a ``--gpx``'s heights.

``clean_track`` then drops frozen fixes (the same position repeated for more than
``FROZEN_SECONDS``: a receiver that lost its lock repeats its last fix) and jumps faster than
``capture.max_speed``, and names the gaps; ``positions_at`` interpolates a position (and UTC time)
at any time, and gives ``None`` outside the track or inside a gap longer than ``max_gap``.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from viewsynth.capture import gpmf
from viewsynth.capture.heading import between, haversine

#: A position repeated unchanged for longer than this many seconds is a frozen fix.
FROZEN_SECONDS = 2.0
#: Telemetry: no position is interpolated across a gap between fixes longer than this (seconds).
VIDEO_MAX_GAP = 5.0
#: Seconds between 1970-01-01 and the GPS epoch 1980-01-06, and GPS - UTC leap seconds (since 2017).
_GPS_EPOCH, _GPS_LEAP = 315964800.0, 18.0
#: CAMM heights that say none: type 5 must hold a number, and writers (older tools, this
#: project's export for an unknown height) put 0 or -1; a track whose every height is one of them
#: measured none.
_NO_HEIGHT = {0.0, -1.0}
#: ... and a camera without a vertical fix yet writes them on part of a track: where every other
#: height is further than this from them (metres), they are no reading (a capture at sea level
#: has readings within a receiver's vertical error, 3-5 m, of 0, and keeps its zeros).
PLACEHOLDER_MARGIN = 10.0
#: Seconds between 1904-01-01 (the MP4 epoch) and 1970-01-01.
_MP4_EPOCH = 2082844800


@dataclasses.dataclass(frozen=True)
class Fix:
    """One GPS fix: ``time`` on the track's clock (video seconds, or UTC seconds for a GPX)."""

    time: float
    lat: float
    lon: float
    utc: float | None = None  # UTC seconds since 1970, when the track knows it
    alt: float | None = None  # metres, as the source gives it (see the module docstring)


@dataclasses.dataclass
class VideoTrack:
    """A video's GPS track: where it came from, its fixes in time order, the MP4 creation time."""

    # 'gpmf' | 'camm' | 'blackvue' | 'exiftool' (capture.exiftool), None: no GPS telemetry
    kind: str | None
    fixes: list[Fix]
    creation_time: float | None  # mvhd creation time as seconds since 1970 (often local time)
    source: str = ""  # where the fixes came from, for the manifest: "BlackVue DR900X Plus ..."
    # What the fixes' heights are above ("sea level", "WGS-84 ellipsoid"; None: not stated) and
    # what says so, for the manifest: "GPMF GPSA MSLV", "GPMF GPS5 (no GPSA)", "CAMM".
    datum: str | None = None
    datum_by: str = ""


def read_video_track(path: Path) -> VideoTrack:
    """The GPS telemetry of the MP4/MOV file ``path`` (no fixes when it has none).

    Raises nothing for a file without telemetry or one whose boxes cannot be parsed (decoding the
    frames decides whether it is a usable video); such a file gives ``kind=None``.
    """
    from mapillary_tools.camm import camm_parser
    from mapillary_tools.gpmf import gpmf_parser

    try:
        with open(path, "rb") as fp:
            creation = _creation_time(fp)
            fp.seek(0)
            gopro = gpmf_parser.extract_gopro_info(fp)
            if gopro is not None:
                fixes = _gpmf_fixes(gopro.gps or [])
                fp.seek(0)
                if not fixes and not gopro.gps:
                    fixes, datum = _karma_fixes(fp), ("sea level", "GPMF GLPI (MAVLink's)")
                else:
                    datum = gpmf.datum(fp)
                kind = "gpmf" if fixes else None
                return VideoTrack(kind, _sorted(fixes), creation, "GoPro GPMF", *datum)
            fp.seek(0)
            camm = camm_parser.extract_camm_info(fp)
            fixes = _camm_fixes(camm) if camm is not None else []
            if fixes:
                return VideoTrack("camm", _sorted(fixes), creation, "CAMM track", None, "CAMM")
            fp.seek(0)
            blackvue = _blackvue_fixes(fp)
    except Exception:  # noqa: BLE001 - a file the readers cannot parse simply has no telemetry
        return VideoTrack(None, [], None)
    if blackvue is not None and blackvue[0]:
        fixes, source = _sorted(blackvue[0]), blackvue[1]
        return VideoTrack("blackvue", fixes, creation, source, "sea level", "NMEA GGA")
    return VideoTrack(None, [], creation)


def _gpmf_fixes(points) -> list[Fix]:
    """The GPS5/GPS9 points (mapillary_tools' ``GPSPoint``) with a lock and a DOP of 5 or less."""
    fixes = []
    for p, utc in zip(points, _spread_gpsu(points), strict=True):
        lock = p.fix.value if p.fix is not None else None
        if lock != 0 and (p.precision is None or p.precision <= 500):
            fixes.append(Fix(p.time, p.lat, p.lon, utc, measured_altitude(p.alt, lock)))
    return fixes


def _camm_fixes(camm) -> list[Fix]:
    """The type-6 fixes with a lock (GPS time made UTC) and the type-5 ones."""
    from mapillary_tools.telemetry import CAMMGPSPoint

    fixes = []
    # mapillary_tools 0.14.7 lists type 6 (a CAMMGPSPoint, a subclass of its Point) in mini_gps
    # with type 5: told apart here by class, wherever it is listed
    for p in [*(camm.gps or []), *(camm.mini_gps or [])]:
        if not isinstance(p, CAMMGPSPoint):
            fixes.append(Fix(p.time, p.lat, p.lon, alt=measured_altitude(p.alt)))
        elif p.gps_fix_type != 0:
            epoch = p.get_gps_epoch_time()
            utc = epoch + _GPS_EPOCH - _GPS_LEAP if epoch else None
            fixes.append(Fix(p.time, p.lat, p.lon, utc, measured_altitude(p.alt, p.gps_fix_type)))
    return _without_placeholders(_sorted(fixes))


def _without_placeholders(fixes: list[Fix]) -> list[Fix]:
    """Time-ordered CAMM ``fixes`` without their placeholder heights (0 or -1 where no other
    height is within ``PLACEHOLDER_MARGIN`` of them; every height, where all are): those between
    two real heights at most ``VIDEO_MAX_GAP`` seconds apart take one between them, by time; the
    others (before a vertical fix, after it is lost) have none."""
    real = [f.alt for f in fixes if f.alt is not None and f.alt not in _NO_HEIGHT]
    if real and min(min(abs(h), abs(h + 1.0)) for h in real) <= PLACEHOLDER_MARGIN:
        return fixes  # (at sea level: its zeros are readings)
    known = [k for k, f in enumerate(fixes) if f.alt is not None and f.alt not in _NO_HEIGHT]
    out = [f if f.alt not in _NO_HEIGHT else dataclasses.replace(f, alt=None) for f in fixes]
    for a, b in zip(known, known[1:], strict=False):
        if b - a > 1 and 0.0 < fixes[b].time - fixes[a].time <= VIDEO_MAX_GAP:
            for k in range(a + 1, b):
                if fixes[k].alt in _NO_HEIGHT:
                    w = (fixes[k].time - fixes[a].time) / (fixes[b].time - fixes[a].time)
                    out[k] = dataclasses.replace(fixes[k], alt=lerp(fixes[a].alt, fixes[b].alt, w))
    return out


def _blackvue_fixes(fp) -> tuple[list[Fix], str] | None:
    """A BlackVue MP4's fixes (see the module docstring) and where they came from; None when
    the file has no BlackVue ``gps `` box."""
    from mapillary_tools import blackvue_parser
    from mapillary_tools.mp4 import simple_mp4_parser as sparser

    info = blackvue_parser.extract_blackvue_info(fp)
    if info is None:
        return None
    fp.seek(0)
    log = sparser.parse_mp4_data_first(fp, [b"free", b"gps "]) or b""
    fp.seek(0)
    sttm = sparser.parse_mp4_data_first(fp, [b"free", b"sttm"])
    # (``info.model`` reads ``cprt`` on from where ``gps `` ended: "" when it comes first)
    fp.seek(0)
    model = f"BlackVue {blackvue_parser.extract_camera_model(fp)}".strip()
    # the sentences mapillary_tools took (its private line reader: the stamps it drops), in order
    lines = list(blackvue_parser._parse_nmea_lines(log))
    kind = next(
        (k for k in ("RMC", "GGA", "GLL") for _, m in lines if m.sentence_type == k and m.is_valid),
        None,
    )
    taken = sorted(
        ((ms, m) for ms, m in lines if m.sentence_type == kind and m.is_valid), key=lambda x: x[0]
    )
    points = info.gps or []
    if len(taken) != len(points):  # (never, as it reads them; else no heights, no start)
        taken = []
    start = taken[0][0] / 1000.0 if taken else 0.0
    if sttm is not None and len(sttm) >= 8 and taken:
        start -= struct.unpack(">Q", sttm[:8])[0] / 1000.0  # the first fix's video time
        placed = "placed by its start time (sttm)"
    else:
        start = 0.0
        placed = "no start time (sttm): its first fix taken as the video's start"
    heights = {m.timestamp: m.altitude for _, m in lines if m.sentence_type == "GGA" and m.is_valid}
    fixes = []
    for i, p in enumerate(points):
        alt = p.alt if p.alt is not None or not taken else heights.get(taken[i][1].timestamp)
        fixes.append(Fix(p.time + start, p.lat, p.lon, p.epoch_time, measured_altitude(alt)))
    return fixes, f"{model} ({len(fixes)} NMEA {kind} fixes in its 'gps ' box, {placed})"


def measured_altitude(alt: float | None, fix: int | None = None) -> float | None:
    """A fix's altitude in metres: None when unknown, not finite, or from a 2D fix (``fix`` 2:
    latitude and longitude only, the height is the receiver's guess)."""
    if alt is None or fix == 2 or not math.isfinite(alt):
        return None
    return float(alt)


def _spread_gpsu(points) -> list[float | None]:
    """UTC of each GPS5 fix: mapillary_tools gives every fix of a telemetry sample that sample's
    GPSU (the time of its first fix); the others follow on the video clock."""
    out: list[float | None] = []
    first = None
    for p in points:
        if p.epoch_time is None:
            out.append(None)
            continue
        if first is None or p.epoch_time != first.epoch_time:
            first = p
        out.append(first.epoch_time + (p.time - first.time))
    return out


def _sorted(fixes: list[Fix]) -> list[Fix]:
    return sorted(
        (f for f in fixes if -90.0 <= f.lat <= 90.0 and -180.0 <= f.lon <= 180.0),
        key=lambda f: f.time,
    )


def _creation_time(fp) -> float | None:
    from mapillary_tools.mp4.mp4_sample_parser import MovieBoxParser

    seconds = MovieBoxParser.parse_stream(fp).extract_mvhd_boxdata().get("creation_time") or 0
    return float(seconds - _MP4_EPOCH) if seconds > _MP4_EPOCH else None


def _karma_fixes(fp) -> list[Fix]:
    """GLPI fixes (time ms, lat, lon, ...) of the GoPro Karma, on the video clock and UTC."""
    fixes: list[Fix] = []
    for sample, streams in gpmf.samples(fp):
        syst = [r for s in streams for r in gpmf.stream_values(s, b"SYST")]
        glpi = [r for s in streams for r in gpmf.stream_values(s, b"GLPI")]
        step = sample.exact_timedelta / max(1, len(glpi))
        for i, rec in enumerate(glpi):
            # SYST: (system seconds, UTC seconds) at one instant of the device's clock.
            utc = syst[0][1] + (rec[0] - syst[0][0]) if syst else None
            alt = measured_altitude(rec[3])  # (time, lat, lon, alt, ...: MAVLink's order)
            fixes.append(Fix(sample.exact_time + i * step, rec[1], rec[2], utc, alt))
    return fixes


def clean_track(
    fixes: Sequence[Fix],
    name: str,
    max_speed: float,
    max_gap: float,
    *,
    frozen: bool = True,
    clock: Callable[[float], str] | None = None,
) -> tuple[list[Fix], list[str]]:
    """Drop frozen and implausible fixes of a time-ordered track; warn about them and about gaps.

    A frozen fix (one position repeated for more than ``FROZEN_SECONDS``) keeps its first
    occurrence only; a fix implying more than ``max_speed`` m/s from the previous kept fix (over at
    least one second, as for photos) is dropped. ``name`` names the track in the warnings.
    ``frozen=False`` keeps repeated positions: a GPX logger standing still writes them (a
    camera's receiver that stops updating writes them too, with the camera moving on).
    ``clock`` says a fix's time in the warnings (None: seconds of video time, ``"8.0 s"``).
    """

    def at(t: float) -> str:
        return f"{t:.1f} s" if clock is None else clock(t)

    def span(a: float, b: float) -> str:
        return f"{a:.1f} to {b:.1f} s" if clock is None else f"{clock(a)} to {clock(b)}"

    warnings: list[str] = []
    fixes = list(fixes)
    kept: list[Fix] = [] if frozen else fixes
    i = 0
    while frozen and i < len(fixes):
        j = i
        while j + 1 < len(fixes) and (fixes[j + 1].lat, fixes[j + 1].lon) == (
            fixes[i].lat,
            fixes[i].lon,
        ):
            j += 1
        kept.append(fixes[i])
        if fixes[j].time - fixes[i].time > FROZEN_SECONDS:
            warnings.append(
                f"{name}: GPS frozen at {fixes[i].lat:.6f}, {fixes[i].lon:.6f} from "
                f"{span(fixes[i].time, fixes[j].time)}: {j - i} repeated fixes dropped"
            )
        else:
            kept.extend(fixes[i + 1 : j + 1])
        i = j + 1
    plausible: list[Fix] = []
    jumps = []
    for fix in kept:
        if plausible and max_speed > 0.0:
            prev = plausible[-1]
            dist = haversine(prev.lat, prev.lon, fix.lat, fix.lon)
            if dist / max(fix.time - prev.time, 1.0) > max_speed:
                jumps.append((prev, fix, dist))
                continue
        plausible.append(fix)
    if jumps:
        prev, fix, dist = jumps[0]
        warnings.append(
            f"{name}: {len(jumps)} GPS fix(es) ignored as jumps faster than capture.max_speed "
            f"({max_speed:g} m/s), e.g. {dist:.0f} m at {at(fix.time)}"
        )
    for a, b in zip(plausible, plausible[1:], strict=False):
        if b.time - a.time > max_gap:
            warnings.append(
                f"{name}: no GPS fix from {span(a.time, b.time)}: frames in between have no "
                "position"
            )
    return plausible, warnings


def positions_at(
    fixes: Sequence[Fix],
    times: Sequence[float],
    max_gap: float,
    margin: float = 1.0,
    stamps: Sequence[float] | None = None,
) -> list[Fix | None]:
    """The track's position at each of ``times`` (same clock as the fixes), linearly interpolated.

    ``None`` where a time is more than ``margin`` seconds outside the track or falls in a gap of
    more than ``max_gap`` seconds between fixes; within ``margin`` of an end, the end fix.
    ``stamps``: the fixes' times, from a caller that asks one time at a time (a video's every
    frame): listed once by it, not at each call (which made a long video's load quadratic).
    """
    stamps = [f.time for f in fixes] if stamps is None else stamps
    out: list[Fix | None] = []
    for t in times:
        k = bisect.bisect_left(stamps, t)
        if not fixes or math.isnan(t):
            out.append(None)
        elif k < len(fixes) and stamps[k] == t:
            out.append(dataclasses.replace(fixes[k], time=t))
        elif k == 0 or k == len(fixes):
            end = fixes[0] if k == 0 else fixes[-1]
            ok = abs(end.time - t) <= margin
            out.append(_shifted(end, t) if ok else None)
        else:
            a, b = fixes[k - 1], fixes[k]
            if b.time - a.time > max_gap:
                out.append(None)
                continue
            w = (t - a.time) / (b.time - a.time)
            lat, lon = between(a.lat, a.lon, b.lat, b.lon, w)
            out.append(Fix(t, lat, lon, lerp(a.utc, b.utc, w), lerp(a.alt, b.alt, w)))
    return out


def lerp(a: float | None, b: float | None, w: float) -> float | None:
    """``a`` + ``w`` (``b`` - ``a``), or None when either end is unknown (a UTC time, an
    altitude: never invented from one side)."""
    return a + w * (b - a) if a is not None and b is not None else None


def _shifted(fix: Fix, t: float) -> Fix:
    utc = fix.utc + (t - fix.time) if fix.utc is not None else None
    return Fix(t, fix.lat, fix.lon, utc, fix.alt)
