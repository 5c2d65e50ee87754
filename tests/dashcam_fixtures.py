"""Dashcam test files made at test time: a BlackVue MP4 and NMEA logs, from any video and track.

A BlackVue (Pittasoft) MP4 is ``ftyp``, a top-level ``free`` box holding Pittasoft's boxes, then
``mdat`` and ``moov`` (ExifTool's QuickTime::Pittasoft table; mapillary_tools'
``blackvue_parser``): ``cprt`` (the camera: JSON with "model" on newer models), ``sttm`` (when the
recording began, milliseconds since 1970 on the camera's clock, which is local time: u64
big-endian), ``ptnm`` (the original file name) and ``gps `` (the NMEA log: a line per sentence,
each opened by ``[milliseconds]`` on the same clock; nulls pad the box). :func:`blackvue_mp4`
writes one around the frames of any MP4 (its chunk offsets moved by what the ``free`` box
adds), from a track of ``(video seconds, lat, lon, alt)``: GGA and RMC at each point (before
``lock_after`` seconds, the sentences of a receiver without a fix), stamped with the camera's
local clock (``tz_hours`` ahead of UTC).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pynmea2

from viewsynth.export.mp4 import Box, parse_boxes, scan_top_level

#: A point of a track: (seconds of video time, latitude, longitude, altitude in metres or None).
Point = tuple[float, float, float, float | None]


def _dm(value: float, width: int) -> str:
    """Degrees as NMEA's (d)ddmm.mmmmm."""
    deg = int(abs(value))
    return f"{deg:0{width}d}{(abs(value) - deg) * 60.0:08.5f}"


def nmea_sentences(utc: float, lat: float, lon: float, alt: float | None) -> list[str]:
    """GGA and RMC (with their checksums) of one fix at ``utc`` seconds since 1970."""
    when = datetime.fromtimestamp(utc, UTC)
    hms = when.strftime("%H%M%S") + f".{when.microsecond // 10000:02d}"
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    height = "" if alt is None else f"{alt:.1f}"
    gga = pynmea2.GGA("GN", "GGA", (hms, _dm(lat, 2), ns, _dm(lon, 3), ew, "1", "12", "0.8",
                                    height, "M", "-34.0", "M", "", ""))  # fmt: skip
    rmc = pynmea2.RMC("GN", "RMC", (hms, "A", _dm(lat, 2), ns, _dm(lon, 3), ew, "5.8", "284.4",
                                    when.strftime("%d%m%y"), "", "", "A"))  # fmt: skip
    return [str(gga), str(rmc)]


NO_FIX = ["$GNGGA,,,,,,0,00,99.99,,,,,,*56", "$GNRMC,,V,,,,,,,,,,N*4D"]


def nmea_log(track: Sequence[Point], utc_start: float, lock_after: float = 0.0,
             camera_clock: float | None = None) -> list[str]:  # fmt: skip
    """The NMEA lines of ``track`` (video time + ``utc_start`` = UTC); ``camera_clock``: the
    ``[ms]`` stamp of video time 0 (None: no stamps, a logger's plain NMEA file)."""
    lines = []
    for t, lat, lon, alt in track:
        sentences = NO_FIX if t < lock_after else nmea_sentences(utc_start + t, lat, lon, alt)
        stamp = "" if camera_clock is None else f"[{round(camera_clock + t * 1000.0)}]"
        lines += [stamp + s for s in sentences]
    return lines


def blackvue_mp4(
    source: Path,
    out: Path,
    track: Sequence[Point],
    utc_start: float,
    *,
    tz_hours: float = 2.0,
    lock_after: float = 0.0,
    model: str = "DR900X Plus",
    sttm: bool = True,
) -> Path:
    """``source``'s frames in a BlackVue MP4 at ``out`` whose ``gps `` box logs ``track``."""
    camera_start = (utc_start + tz_hours * 3600.0) * 1000.0  # the camera keeps local time
    log = "\r\n".join(nmea_log(track, utc_start, lock_after, camera_start)) + "\r\n"
    name = datetime.fromtimestamp(camera_start / 1000.0, UTC).strftime("%Y%m%d_%H%M%S_NF.mp4")
    cprt = " " + json.dumps({"model": model, "ver": 1.012, "lang": "English", "GPS": 1})
    children = [Box("cprt", data=cprt.encode())]
    if sttm:
        children.append(Box("sttm", data=struct.pack(">Q", round(camera_start))))
    children += [
        Box("ptnm", data=b"\0\0\0\0" + name.encode() + b"\0"),
        Box("gps ", data=log.encode("ascii") + b"\0" * 64),
    ]
    free = Box("free", children=children).to_bytes()
    data = source.read_bytes()
    tops = scan_top_level(source)
    kept = [b for b in tops if b.kind not in ("ftyp", "free", "skip", "wide")]
    pos = next(b.offset + b.size for b in tops if b.kind == "ftyp") + len(free)
    moved = {}  # old offset -> new offset of each kept box
    for box in kept:
        moved[box.offset] = pos
        pos += box.size
    parts = [data[: next(b for b in tops if b.kind == "ftyp").size], free]
    for box in kept:
        raw = data[box.offset : box.offset + box.size]
        if box.kind == "moov":
            moov = Box("moov", children=parse_boxes(raw[box.header :], str(source)))
            _move_chunks(moov, tops, moved)
            raw = moov.to_bytes()
        parts.append(raw)
    out.write_bytes(b"".join(parts))
    return out


def _move_chunks(moov: Box, tops, moved: dict[int, int]) -> None:
    """Point every chunk offset at its data's new place (the ``mdat`` it lies in moved)."""
    for box in moov.descendants("stco") + moov.descendants("co64"):
        code = "I" if box.kind == "stco" else "Q"
        (count,) = struct.unpack(">I", box.data[4:8])
        old = struct.unpack(f">{count}{code}", box.data[8 : 8 + count * struct.calcsize(code)])
        new = []
        for o in old:
            home = next(b for b in tops if b.offset <= o < b.offset + b.size)
            new.append(o - home.offset + moved[home.offset])
        box.data = box.data[:8] + struct.pack(f">{count}{code}", *new)


def novatek_mp4(
    source: Path, out: Path, track: Sequence[Point], utc_start: float, lock_after: float = 0.0
) -> Path:
    """``source``'s frames (an MP4 whose ``moov`` comes last) in a Novatek dashcam's layout at
    ``out``: a ``gps `` box in ``moov`` (ExifTool's GPSDataList: u32 version, u32 count, then
    each block's u32 file offset and u32 size, big-endian; after ``mvhd``) listing a ``freeGPS ``
    block per point of ``track``, in top-level ``free`` boxes after ``moov``. Each block is the
    binary layout ExifTool's QuickTimeStream.pl decodes last (its type 1J, "Viofo A119S"; with the doubles of
    the Transcend Driver Pro 230): from byte 48 u32 hour, minute, second, year - 2000, month,
    day (UTC), then the status ('A'; 'V' before ``lock_after`` seconds: no fix), 'N'/'S',
    'E'/'W', a pad byte; float32 latitude and longitude as NMEA's ddmm.mmmm, speed (knots) and
    track; float64 latitude at 0x70, longitude at 0x80 and altitude (m) at 0xa0. The points keep
    no video time: a Novatek block has none (one a second, in order)."""
    data = source.read_bytes()
    tops = scan_top_level(source)
    moov = tops[-1]
    assert moov.kind == "moov", "the source's moov must come last"
    blocks = [_freegps(utc_start + t, lat, lon, alt, t >= lock_after) for t, lat, lon, alt in track]
    size = len(blocks[0])
    entries = b"".join(struct.pack(">II", 0, size) for _ in blocks)  # (offsets: below)
    gps = Box("gps ", data=struct.pack(">II", 0, len(blocks)) + entries)
    children = parse_boxes(data[moov.offset + moov.header :], str(source))
    # (after mvhd: ExifTool reads a 'gps ' box where no track's or udta's handler is current)
    box = Box("moov", children=[children[0], gps, *children[1:]])
    first = moov.offset + len(box.to_bytes())
    gps.data = struct.pack(">II", 0, len(blocks)) + b"".join(
        struct.pack(">II", first + i * size, size) for i in range(len(blocks))
    )
    out.write_bytes(data[: moov.offset] + box.to_bytes() + b"".join(blocks))
    return out


def _freegps(utc: float, lat: float, lon: float, alt: float | None, locked: bool) -> bytes:
    """One 256-byte ``free`` box holding a ``freeGPS `` block (see :func:`novatek_mp4`)."""
    when = datetime.fromtimestamp(utc, UTC)
    block = bytearray(256)
    block[0:16] = struct.pack(">I4s4sI", 256, b"free", b"GPS ", 0)  # (bytes 12-15: unused here)
    block[48:72] = struct.pack("<6I", when.hour, when.minute, when.second, when.year - 2000,
                               when.month, when.day)  # fmt: skip
    dm = [abs(v) // 1 * 100.0 + abs(v) % 1 * 60.0 for v in (lat, lon)]
    refs = (b"A" if locked else b"V") + (b"N" if lat >= 0 else b"S") + (b"E" if lon >= 0 else b"W")
    block[72:76] = refs + b"\0"
    block[76:92] = struct.pack("<4f", dm[0], dm[1], 11.3, 90.0)
    block[0x70:0x78] = struct.pack("<d", dm[0])
    block[0x80:0x88] = struct.pack("<d", dm[1])
    block[0xA0:0xA8] = struct.pack("<d", 0.0 if alt is None else alt)
    return bytes(block)
