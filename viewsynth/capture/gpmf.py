"""GoPro GPMF telemetry's KLV streams, for what mapillary_tools' GPS reader leaves out.

Parsed with mapillary_tools' ``GPMFSampleData`` (a sample is DEVC devices holding STRM streams,
each a list of KLV records ``{"key", "type", "data"}``): the Karma drone's ``GLPI`` fixes
(:func:`stream_values`, with the stream's TYPE and SCAL) and the ``GPSA`` key of a GPS5/GPS9
stream, what its heights are above (:func:`datum`; GoPro's GPMF spec: "MSLV" mean sea level,
otherwise the WGS-84 ellipsoid; none in a stream: the ellipsoid, as the spec says of GPS5).
:func:`dropped` tells a GoPro's file that lost its GPMF track (a trim by ``ffmpeg -c copy``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import read_moov

#: GPMF struct type characters -> Python struct codes (big-endian); 'c' is one character.
_GPMF_TYPES = {"b": "b", "B": "B", "s": "h", "S": "H", "l": "i", "L": "I", "j": "q", "J": "Q"}
_GPMF_TYPES |= {"f": "f", "d": "d", "c": "c"}
#: What GPS5/GPS9 heights are above without a GPSA key, and what says so.
ELLIPSOID = ("WGS-84 ellipsoid", "GPMF GPS5/GPS9 (no GPSA)")


def samples(fp) -> Iterator[tuple[object, list[list[dict]]]]:
    """Each GPMF sample of the MP4 ``fp`` (mapillary_tools' sample: ``exact_time``,
    ``exact_timedelta``) and its streams, in order."""
    from mapillary_tools.gpmf import gpmf_parser
    from mapillary_tools.mp4.mp4_sample_parser import MovieBoxParser

    for track in MovieBoxParser.parse_stream(fp).extract_tracks():
        for sample in track.extract_samples():
            if sample.description.get("format") != b"gpmd":
                continue
            fp.seek(sample.raw_sample.offset)
            devices = gpmf_parser.GPMFSampleData.parse(fp.read(sample.raw_sample.size))
            streams = [
                k["data"] for d in devices if d["key"] == b"DEVC" for k in d["data"]
                if k["key"] == b"STRM"
            ]  # fmt: skip
            yield sample, streams


#: What a GoPro's file without its GPMF track says instead of "no track": ffmpeg copies one video
#: and one audio stream unless told, and ``-map 0`` into an MP4 fails on the camera's timecode and
#: ``fdsc`` tracks, which an MP4 cannot hold and a MOV can.
DROPPED = (
    "a GoPro's video without its GPMF track, which a stream copy drops: cut the camera's file "
    "with ffmpeg -ss S -t T -i GOPRO.MP4 -map 0 -c copy OUT.mov to keep it"
)


def dropped(path: Path) -> str:
    """:data:`DROPPED` when the MP4 at ``path`` is a GoPro's (a track's handler is named "GoPro
    ...": what a stream copy keeps of the camera's boxes; its ``udta`` and ``firmware`` go) and
    has no GPMF track (no ``gpmd`` sample entry); else "". Raises nothing."""
    try:
        moov, _, _ = read_moov(path)
    except (ViewsynthError, OSError, ValueError, struct.error):
        return ""
    gopro = gpmd = False
    for trak in moov.children or []:
        hdlr, stsd = trak.walk("mdia", "hdlr"), trak.walk("mdia", "minf", "stbl", "stsd")
        # hdlr: version/flags, pre_defined, handler_type, 12 reserved bytes, then its name, a
        # GoPro's a QuickTime counted string (its length first: "\x0bGoPro AVC  ", "\tGoPro AVC")
        name = hdlr.data[24:] if hdlr is not None else b""
        gopro |= name[1 if name[:1] < b" " else 0 :].startswith(b"GoPro")
        gpmd |= stsd is not None and any(e.kind == "gpmd" for e in stsd.children or [])
    return DROPPED if gopro and not gpmd else ""


def datum(fp) -> tuple[str, str]:
    """(what the GPS heights are above, what says so) from the first GPS5/GPS9 stream of ``fp``:
    ``("sea level", "GPMF GPSA MSLV")``, or :data:`ELLIPSOID`."""
    for _, streams in samples(fp):
        for stream in streams:
            keys = {k["key"]: k["data"] for k in stream}
            if b"GPS5" not in keys and b"GPS9" not in keys:
                continue
            if b"GPSA" not in keys:
                return ELLIPSOID
            code = bytes(_flat(keys[b"GPSA"])).decode("ascii", "replace").strip("\x00 ")
            return ("sea level" if code == "MSLV" else "WGS-84 ellipsoid"), f"GPMF GPSA {code}"
    return ELLIPSOID


def _flat(data) -> list[int]:
    """The bytes of a parsed KLV value, however the parser nests them (lists of bytes)."""
    if isinstance(data, (bytes, bytearray)):
        return list(data)
    return [b for item in data for b in _flat(item)] if isinstance(data, list) else []


def _records(klv: dict, types: str) -> list[tuple]:
    """The records of a complex-type ('?') GPMF KLV, unpacked with its TYPE string."""
    fmt = ">" + "".join(_GPMF_TYPES[c] for c in types)
    return [struct.unpack(fmt, raw) for raw in klv["data"] if len(raw) == struct.calcsize(fmt)]


def stream_values(strm: list[dict], key: bytes) -> list[list[float]]:
    """Scaled records of ``key`` in one GPMF STRM (TYPE and SCAL from the same stream)."""
    by_key = {k["key"]: k for k in strm}
    if key not in by_key or b"TYPE" not in by_key:
        return []
    types = b"".join(by_key[b"TYPE"]["data"]).decode("ascii")
    scal = [v[0] for v in by_key[b"SCAL"]["data"]] if b"SCAL" in by_key else [1] * len(types)
    if len(scal) == 1:
        scal = scal * len(types)
    return [
        [v / s for v, s in zip(rec, scal, strict=False)] for rec in _records(by_key[key], types)
    ]
