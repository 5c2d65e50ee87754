"""A finished MP4 played at another frame rate, its pictures untouched: an edit of its boxes.

Every sample's time in a track is in its media timescale (``mdhd``): a decode duration
(``stts``), a composition offset (``ctts``: reordered B-frames) and the edit list's media start
(``elst``: the frames of decoder delay skipped). Scaling that timescale by ``new / old`` makes
each of those last ``old / new`` times as long, at once and exactly, with not a byte of
``mdat`` (the pictures) or of the sample tables changed: a 30 fps video of 15360 ticks a second
and 512 a frame becomes a 24 fps one of 12288 ticks a second. The durations kept in the movie
timescale (``mvhd``'s, each ``tkhd``'s, each edit's ``segment_duration``) are scaled by
``old / new`` (rounded to the tick). A CAMM track copies the video's timescale and frame
durations (:mod:`viewsynth.export.camm`) and is scaled with it, so its sample i stays with
frame i. Where ``T * new / old`` is not a whole number (30 to 29.97 fps: 15360 * 0.999) there is
no exact edit: :func:`why_not` says so, and the caller encodes again.

The H.264 level. x264 labels a stream with the lowest level whose limits its frames meet, the
macroblocks per second among them, which grow with the rate. At a higher rate the label is raised
to what that table (ITU-T H.264 Table A-1, MaxMBPS) needs, in the ``avcC``
(``AVCLevelIndication``) and in its copy of the sequence parameter set (``level_idc``, byte 3 of
the NAL unit, before any field an emulation prevention byte could sit in), and in the copies a
joined video's later pieces carry in their key frames (patched in place). A higher level only
loosens the other limits the encoder met (frame size, buffers, vector range), and past level 6.2
x264 writes 6.2 too. HEVC's level sits in the ``hvcC`` and in three parameter sets, bit-packed:
:func:`why_not` sends an HEVC video at a higher rate back to the encoder. A lower rate keeps the
level, which still holds.

The spherical boxes (``st3d``, ``sv3d``, the ``uuid`` of v1) are not touched. The file is
rewritten aside and renamed into place (:func:`~viewsynth.export.mp4.rewrite_moov`).
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import (
    VISUAL_ENTRIES,
    Box,
    chunk_offsets,
    parse_boxes,
    read_moov,
    rewrite_moov,
    video_track,
)

#: H.264 levels (``level_idc``) and their MaxMBPS, macroblocks per second (Table A-1), lowest
#: first as x264 tries them (9: level 1b).
H264_LEVELS = (
    (10, 1485), (9, 1485), (11, 3000), (12, 6000), (13, 11880), (20, 11880), (21, 19800),
    (22, 20250), (30, 40500), (31, 108000), (32, 216000), (40, 245760), (41, 245760),
    (42, 522240), (50, 589824), (51, 983040), (52, 2073600), (60, 4177920), (61, 8355840),
    (62, 16711680),
)  # fmt: skip
_MAX_MBPS = dict(H264_LEVELS)


def rate(fps: float) -> Fraction:
    """``fps`` as the exact rate the encoder was given (``str(fps)``: 29.97 is 2997/100)."""
    return Fraction(str(fps))


def why_not(path: str | Path, old_fps: float, new_fps: float) -> str | None:
    """Why the video at ``path`` cannot be re-timed from ``old_fps`` to ``new_fps`` by its boxes
    (a clause about "its" timescale or codec, for a line naming it), or None when it can."""
    path = Path(path)
    moov = read_moov(path)[0]
    ratio = rate(new_fps) / rate(old_fps)
    for trak in _traks(moov):
        ticks = _timescale(_mdhd(trak, path))
        scale = ticks * ratio
        if scale.denominator != 1 or not 0 < scale < 1 << 32:
            return f"its {ticks} ticks a second make no whole number at {new_fps:g} fps"
    entry = _sample_entry(moov, path)
    if ratio > 1 and entry.kind not in ("avc1", "avc3"):
        return f"its codec ({entry.kind}) has no level raised in place for a higher rate"
    return None


def retime_video(path: str | Path, old_fps: float, new_fps: float) -> None:
    """Re-time the MP4 at ``path`` from ``old_fps`` to ``new_fps`` in place, its frames as they
    are (the module docstring says how). Raises ``ViewsynthError`` naming the file when
    :func:`why_not` gives a reason, or for a file that is not such an MP4."""
    path = Path(path)
    reason = why_not(path, old_fps, new_fps)
    if reason is not None:
        raise ViewsynthError(f"{path}: cannot be re-timed in place: {reason}")
    ratio = rate(new_fps) / rate(old_fps)

    def movie(ticks: int) -> int:  # a movie-timescale duration at the new rate
        return round(ticks / ratio)

    def edit(moov: Box) -> None:
        mvhd = moov.child("mvhd")
        if mvhd is None:
            raise ViewsynthError(f"{path}: the MP4 has no 'mvhd' box")
        _set_duration(mvhd, movie(_duration(mvhd)))
        for trak in _traks(moov):
            mdhd = _mdhd(trak, path)
            _set_timescale(mdhd, int(_timescale(mdhd) * ratio))
            tkhd = trak.child("tkhd")
            if tkhd is None:
                raise ViewsynthError(f"{path}: a track has no 'tkhd' box")
            _set_duration(tkhd, movie(_duration(tkhd)))
            edts = trak.child("edts")
            if edts is not None:
                if edts.children is None:  # (kept opaque by the parser: opened here)
                    edts.children = parse_boxes(edts.data, str(path))
                for elst in edts.descendants("elst"):
                    _scale_edits(elst, movie, path)
        entry = _sample_entry(moov, path)
        if ratio > 1 and entry.kind in ("avc1", "avc3"):
            _raise_level(entry, new_fps, path)

    rewrite_moov(path, edit)
    if ratio > 1:  # a joined video's pieces carry their own SPS in the stream: the same label
        moov = read_moov(path)[0]
        entry = _sample_entry(moov, path)
        if entry.kind in ("avc1", "avc3"):
            level = h264_level(entry)
            with open(path, "r+b") as fh:
                for at in _stream_sps_levels(fh, moov, entry, path):
                    fh.seek(at)
                    fh.write(bytes([level]))


def h264_level(entry: Box) -> int:
    """The ``level_idc`` an H.264 sample entry's ``avcC`` says (``AVCLevelIndication``)."""
    avcc = entry.child("avcC")
    if avcc is None or len(avcc.data) < 4:
        raise ViewsynthError(f"'{entry.kind}' sample entry has no 'avcC' box")
    return avcc.data[3]


def needed_level(level: int, macroblocks: int, fps: float) -> int:
    """The H.264 level x264 would label ``macroblocks``-a-frame pictures with at ``fps``, given
    it chose ``level`` for their other limits: the lowest from ``level`` on whose MaxMBPS holds
    that rate, else 6.2 (as x264 writes past it)."""
    later = [idc for idc, _ in H264_LEVELS[[i for i, _ in H264_LEVELS].index(level) :]]
    for idc in later:
        if macroblocks * rate(fps) <= _MAX_MBPS[idc]:
            return idc
    return H264_LEVELS[-1][0]


def _raise_level(entry: Box, fps: float, path: Path) -> None:
    """Label the H.264 sample entry ``entry`` with the level its frames need at ``fps``, where
    that is higher than its own: ``avcC``'s indication and every sequence parameter set's."""
    level = h264_level(entry)
    if level not in _MAX_MBPS:
        raise ViewsynthError(f"{path}: H.264 level_idc {level} is not a level")
    width, height = struct.unpack(">HH", entry.head[24:28])
    macroblocks = -(-width // 16) * -(-height // 16)
    new = needed_level(level, macroblocks, fps)
    if new == level:
        return
    avcc = entry.child("avcC")
    data = bytearray(avcc.data)
    data[3] = new
    at, n_sps = 6, data[5] & 0x1F  # then each SPS: its length (u16), the NAL unit
    for _ in range(n_sps):
        (size,) = struct.unpack(">H", data[at : at + 2])
        if size < 4 or at + 2 + size > len(data):
            raise ViewsynthError(f"{path}: the 'avcC' box's parameter sets are cut short")
        data[at + 2 + 3] = new  # (NAL header, profile_idc, constraint flags, level_idc)
        at += 2 + size
    avcc.data = bytes(data)


def _stream_sps_levels(fh, moov: Box, entry: Box, path: Path) -> list[int]:
    """File offsets of the ``level_idc`` byte of every sequence parameter set in the video
    track's key frames (a joined video's later pieces bring their own, in the stream)."""
    stbl = video_track(moov, str(path)).walk("mdia", "minf", "stbl")
    table = {box.kind: box.data for box in stbl.children or []}
    size, count = struct.unpack(">II", table["stsz"][4:12])  # (size 0: one per sample)
    sizes = _table(table["stsz"][8:], ">I", path) if size == 0 else [size] * count
    (offsets,) = chunk_offsets(stbl)
    runs = _table(table["stsc"][4:], ">III", path)  # (first chunk, samples per chunk, entry)
    starts, k = [], 0
    for chunk, at in enumerate(offsets, start=1):
        per = next(n for first, n, _ in reversed(runs) if first <= chunk)
        for size in sizes[k : k + per]:
            starts.append(at)
            at += size
        k += per
    keys = (
        [n - 1 for n in _table(table["stss"][4:], ">I", path)]
        if "stss" in table
        else range(len(sizes))
    )
    prefix = (entry.child("avcC").data[4] & 3) + 1
    found = []
    for sample in keys:
        at, end = starts[sample], starts[sample] + sizes[sample]
        while at + prefix < end:
            fh.seek(at)
            head = fh.read(prefix + 4)
            length, kind = int.from_bytes(head[:prefix], "big"), head[prefix] & 0x1F
            if kind == 7:
                found.append(at + prefix + 3)  # (NAL header, profile_idc, constraint flags)
            elif kind in (1, 5):  # a slice: the parameter sets come before it
                break
            at += prefix + length
    return found


def _table(data: bytes, code: str, path: Path) -> list:
    """A full box's table: its entry count, then the entries (``code``: one entry's format)."""
    entry = struct.Struct(code)
    (count,) = struct.unpack(">I", data[:4])
    if len(data) < 4 + count * entry.size:
        raise ViewsynthError(f"{path}: a sample table is cut short")
    rows = [entry.unpack_from(data, 4 + k * entry.size) for k in range(count)]
    return [row[0] for row in rows] if len(code) == 2 else rows


def _traks(moov: Box) -> list[Box]:
    return [box for box in moov.children or [] if box.kind == "trak"]


def _sample_entry(moov: Box, path: Path) -> Box:
    for trak in _traks(moov):
        stsd = trak.walk("mdia", "minf", "stbl", "stsd")
        for entry in (stsd.children or []) if stsd is not None else []:
            if entry.kind in VISUAL_ENTRIES:
                return entry
    raise ViewsynthError(f"{path}: no video track in the MP4")


def _mdhd(trak: Box, path: Path) -> Box:
    mdhd = trak.walk("mdia", "mdhd")
    if mdhd is None or len(mdhd.data) < 24:
        raise ViewsynthError(f"{path}: a track has no valid 'mdhd' box")
    return mdhd


def _timescale(box: Box) -> int:
    """An ``mvhd``'s or ``mdhd``'s timescale (version 0 or 1)."""
    at = 20 if box.data[0] == 1 else 12
    return struct.unpack(">I", box.data[at : at + 4])[0]


def _set_timescale(box: Box, scale: int) -> None:
    at = 20 if box.data[0] == 1 else 12
    box.data = box.data[:at] + struct.pack(">I", scale) + box.data[at + 4 :]


def _duration_at(box: Box) -> tuple[int, str]:
    """Where an ``mvhd``'s, ``mdhd``'s or ``tkhd``'s duration is, and its format."""
    tkhd = box.kind == "tkhd"
    if box.data[0] == 1:
        return (28 if tkhd else 24), ">Q"
    return (20 if tkhd else 16), ">I"


def _duration(box: Box) -> int:
    at, code = _duration_at(box)
    return struct.unpack_from(code, box.data, at)[0]


def _set_duration(box: Box, value: int) -> None:
    at, code = _duration_at(box)
    box.data = box.data[:at] + struct.pack(code, value) + box.data[at + struct.calcsize(code) :]


def _scale_edits(elst: Box, movie, path: Path) -> None:
    """Each edit's ``segment_duration`` (movie timescale) through ``movie``; its media time
    (media timescale) stays, as the timescale carries it."""
    version = elst.data[0]
    entry = struct.Struct(">QqHH" if version == 1 else ">IiHH")
    (count,) = struct.unpack(">I", elst.data[4:8])
    if len(elst.data) < 8 + count * entry.size:
        raise ViewsynthError(f"{path}: the 'elst' box is cut short")
    edits = [entry.unpack_from(elst.data, 8 + k * entry.size) for k in range(count)]
    elst.data = elst.data[:8] + b"".join(
        entry.pack(movie(duration), at, whole, part) for duration, at, whole, part in edits
    ) + elst.data[8 + count * entry.size :]  # fmt: skip
