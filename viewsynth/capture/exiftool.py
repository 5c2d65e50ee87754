"""GPS from the cameras the native readers do not read, through ExifTool (when it is installed).

:mod:`~viewsynth.capture.telemetry` reads GoPro GPMF, CAMM and BlackVue itself. Every other
camera's embedded GPS (Novatek dashcams' ``freeGPS`` blocks: Viofo, Nextbase, Transcend, Akaso,
...; Garmin, Kenwood, DJI, Sony ``rtmd``, Insta360's trailer, subtitle tracks: ExifTool's
QuickTimeStream module knows dozens of layouts) is read by running Phil Harvey's ExifTool once,
``exiftool -ee -n -a -G0:1:3 -s`` with the tags below, under ``TIMEOUT_SECONDS``.

ExifTool gives each telemetry sample its own document (``Doc1``, ``Doc2``, ...) with the
sample's ``SampleTime`` and ``SampleDuration`` (seconds of video time) and its fixes
(``GPSLatitude``, ``GPSLongitude``, maybe ``GPSAltitude`` and ``GPSDateTime``). A sample with n
fixes spreads them evenly over its duration (fix j at time + j duration / n, as mapillary_tools
places GPMF's); each takes its own ``GPSDateTime`` as UTC when the sample has one per fix, else
the sample's first and the others follow on the video clock. A sample without a lock
(``GPSMeasureMode`` 0) or with a GoPro's ``GPSHPositioningError`` over 5 m is dropped, a 2D
fix's height too, as the native readers do. A ``GPSDateTime`` that ExifTool
made up from the file's creation date (its "Approximating GPSDateTime" warning: CAMM type 5 has
no time) is no UTC time. File-level tags (``Main``: a phone's one recording place) are no track.

Some layouts have no sample times (a Novatek ``gps `` box lists its blocks by file offset, and
ExifTool leaves out the blocks without a fix): their fixes are placed by their GPS time from the
video's start, the MP4's creation time as UTC where that puts every fix inside the video, else
as the local time of the one zone (a whole quarter hour off UTC) that does; else, as
mapillary_tools places a BlackVue log without a start time, the first fix at 0 s. ``gps_by``
says which.

Heights are as ExifTool gives them (``GPSAltitude``; above what the layout does not say).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from viewsynth.capture.metadata import FIRST_GPS_YEAR
from viewsynth.capture.telemetry import Fix, VideoTrack, measured_altitude

#: The command that is run (found on PATH; absent: the untracked warning says how to install it).
EXIFTOOL = "exiftool"
#: ExifTool reads the whole file with -ee (about 0.5 s for a 12 s GoPro clip): stopped after this.
TIMEOUT_SECONDS = 120.0
_TAGS = ["ExifToolVersion", "Duration", "Warning", "MetaFormat", "HandlerDescription"]
_TAGS += ["SampleTime", "SampleDuration", "GPSDateTime", "GPSLatitude", "GPSLongitude"]
_TAGS += ["GPSAltitude", "GPSMeasureMode", "GPSHPositioningError"]
#: ``[Group0:Group1:Doc3] TagName : value`` (``-G0:1:3 -s``; family 3 is ``Main`` or ``DocN``).
_LINE = re.compile(r"^\[([^\]]*)\]\s+(\w+)\s*: (.*)$")
#: Time zones are whole quarter hours off UTC, within 14 hours.
_ZONE, _ZONES = 900.0, 56


def read_exiftool_track(path: Path, creation: float | None) -> tuple[VideoTrack | None, str]:
    """The GPS track ExifTool reads in ``path`` and, when it has none, what happened (for the
    untracked warning): "" when ExifTool is not installed, "ExifTool 12.57 found none" (or "found
    no track, only one place ...": :func:`_one_place`), or what failed ("ExifTool 12.57 ...
    could not read it: ..."); with a track, "" or a doubt about its
    placement by the camera's clock (for a warning). ``creation``: the MP4's creation time
    (seconds since 1970 as if UTC; None: none), which places fixes without sample times.
    Raises nothing: a file ExifTool cannot read is a video without GPS.
    """
    exe = shutil.which(EXIFTOOL)
    if exe is None:
        return None, ""
    cmd = [exe, "-ee", "-n", "-a", "-G0:1:3", "-s", "-api", "LargeFileSupport=1"]
    cmd += [f"-{tag}" for tag in _TAGS] + ["--", str(path)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return None, f"ExifTool could not read it in {TIMEOUT_SECONDS:g} s"
    except OSError as exc:
        return None, f"ExifTool could not be run: {exc.strerror or exc}"
    main, docs = _parse(done.stdout)
    version = " ".join(["ExifTool", *main.get("ExifToolVersion", [])[:1]])
    if done.returncode != 0 and not docs:
        error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return None, f"{version} could not read it: {error}"
    fixes, group = _fixes(main, docs)
    if not fixes:
        return None, f"{version} found {_one_place(main) or 'none'}"
    timed = any(f.time == f.time for f in fixes)  # (NaN: no sample time)
    fixes = [f for f in fixes if f.time == f.time] if timed else fixes
    placed, doubt = f"{len(fixes)} fixes at their sample times", ""
    if not timed:
        duration = _number(main.get("Duration", [""])[0])
        fixes, placed, doubt = _by_clock(fixes, creation, duration)
        if not fixes:
            return None, f"{version} found fixes without times (no sample or GPS time)"
    fixes = sorted(fixes, key=lambda f: f.time)
    source = f"{version} ({group}: {placed})"
    if doubt:  # (said by the caller as a warning)
        doubt = (
            f"{version}'s GPS fixes have no video times and {doubt}: {placed}; check the positions"
        )
    return VideoTrack("exiftool", fixes, creation, source, None, "ExifTool GPSAltitude"), doubt


def _parse(text: str) -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """ExifTool's lines: the file's (and each track's) ``Main`` tags and every warning, by
    ``Tag`` and by ``Group1:Tag``; each document's tags in order (a tag may repeat: GPMF's 18
    fixes a sample), with ``"group"``: the GPS tags' ``Group0:Group1``."""
    main: dict[str, list[str]] = defaultdict(list)
    docs: dict[str, dict[str, list[str]]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        groups, tag, value = m.group(1).split(":"), m.group(2), m.group(3).strip()
        if tag == "Warning" or not groups[-1].startswith("Doc"):  # (Main, or a warning)
            main[tag].append(value)
            main[f"{groups[1] if len(groups) > 2 else ''}:{tag}"].append(value)
            continue
        doc = docs.setdefault(groups[-1], defaultdict(list))
        doc[tag].append(value)
        if tag == "GPSLatitude":
            doc["group"] = [":".join(groups[:-1])]
    return main, docs


def _fixes(main: dict[str, list[str]], docs: dict) -> tuple[list[Fix], str]:
    """Every document's fixes (time NaN where the sample has no time) and the name of where
    they came from: ExifTool's group, the track and its metadata format ("QuickTime Track2
    'camm'")."""
    made_up = any("Approximating GPSDateTime" in w for w in main.get("Warning", []))
    fixes: list[Fix] = []
    groups: list[str] = []
    for doc in docs.values():
        lats, lons = doc.get("GPSLatitude", []), doc.get("GPSLongitude", [])
        if not lats or len(lats) != len(lons):
            continue
        n = len(lats)
        start = _number(doc.get("SampleTime", [""])[0])
        step = (_number(doc.get("SampleDuration", ["0"])[0]) or 0.0) / n
        utcs = [] if made_up else [_utc(v) for v in doc.get("GPSDateTime", [])]
        alts = doc.get("GPSAltitude", [])
        # a sample's lock (GPMF GPSF, CAMM's fix type: 0 none, 2 2D) and GPMF's error in metres
        mode = _number((doc.get("GPSMeasureMode") or ["3"])[0])
        error = _number((doc.get("GPSHPositioningError") or ["0"])[0]) or 0.0
        if mode == 0 or error > 5.0:  # (as the native readers drop them)
            continue
        for j in range(n):
            lat, lon = _number(lats[j]), _number(lons[j])
            if lat is None or lon is None or (lat, lon) == (0.0, 0.0):  # (0, 0: no lock)
                continue
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                continue
            if len(utcs) == n:
                utc = utcs[j]
            else:
                utc = utcs[0] + j * step if utcs and utcs[0] is not None else None
            alt = measured_altitude(_number(alts[j]), mode) if len(alts) == n else None
            time = math.nan if start is None else start + j * step
            fixes.append(Fix(time, lat, lon, utc, alt))
        groups.append(doc["group"][0])
    if not groups:
        return [], ""
    group = max(set(groups), key=groups.count)
    family0, _, track = group.partition(":")
    kind = (main.get(f"{track}:MetaFormat") or main.get(f"{track}:HandlerDescription") or [""])[0]
    named = f"{family0} {track}" + (f" '{kind}'" if kind else "") if track else family0
    return fixes, named


def _one_place(main: dict[str, list[str]]) -> str:
    """A camera's (a phone's) one location for the whole video (QuickTime ``GPSCoordinates``,
    ``©xyz``: where the recording began), in words; '' when there is none. Not a track: no frame
    is placed by it, but "found none" left its owner wondering where the phone's GPS went."""
    lat, lon = (_number((main.get(tag) or [""])[0]) for tag in ("GPSLatitude", "GPSLongitude"))
    if lat is None or lon is None:
        return ""
    return f"no track, only one place for the whole video, {lat:.5f}, {lon:.5f}"


def _by_clock(
    fixes: list[Fix], creation: float | None, duration: float | None
) -> tuple[list[Fix], str, str]:
    """Fixes without sample times placed by their GPS (UTC) times: from the creation time as
    the local time of the one zone (UTC among them) where every fix then lies in the video; else
    the first fix at 0 s (see the module docstring). Fixes without a GPS time are left out.
    Returns the fixes, how they were placed, and a doubt for a warning ('' when one zone fits):
    several zones fit (a lock on part of a long video: UTC is taken if it is one), or none."""
    fixes = [f for f in fixes if f.utc is not None]
    if not fixes:
        return [], "", ""
    utcs = [f.utc for f in fixes]
    zones = []
    if creation is not None and duration:
        for k in sorted(range(-_ZONES, _ZONES + 1), key=abs):
            start = creation - k * _ZONE
            if all(-1.0 <= u - start <= duration + 1.0 for u in utcs):
                zones.append(k)
    doubt = ""
    if len(zones) > 1:
        low, high = (_zone(k).removeprefix("local time, ") for k in (min(zones), max(zones)))
        doubt = f"the camera's clock could be on any time zone from {low} to {high}"
    elif not zones:
        doubt = "no time zone of the video's creation time puts them all inside the video"
    if zones and (len(zones) == 1 or zones[0] == 0):
        k = zones[0]
        start = creation - k * _ZONE
        placed = f"placed by their GPS times from the video's creation time ({_zone(k)})"
    else:
        start = min(utcs)
        placed = "without sample times, the first placed at the video's start"
    n = len(fixes)
    return [dataclasses.replace(f, time=f.utc - start) for f in fixes], f"{n} fixes {placed}", doubt


def _zone(k: int) -> str:
    return "UTC" if k == 0 else f"local time, UTC{'+' if k > 0 else '-'}{_hm(abs(k) * _ZONE)}"


def _hm(seconds: float) -> str:
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"


def _number(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _utc(value: str) -> float | None:
    """ExifTool's ``GPSDateTime`` ("2017:04:17 19:27:57.52602", maybe with "Z" or "+00:00") as
    seconds since 1970; None when it does not parse or is before GPS time began (1980)."""
    m = re.match(
        r"(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d(?:\.\d*)?)\s*(Z|[+-]\d\d:?\d\d)?$", value
    )
    if m is None:
        return None
    y, mo, d, h, mi = (int(x) for x in m.groups()[:5])
    if y < FIRST_GPS_YEAR:  # (a receiver's default date before its first fix)
        return None
    try:
        when = datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp() + float(m.group(6))
    except ValueError:
        return None
    zone = m.group(7)
    if zone and zone != "Z":
        sign = -1.0 if zone[0] == "-" else 1.0
        digits = zone[1:].replace(":", "")
        when -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return when
