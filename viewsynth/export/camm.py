"""A CAMM GPS track added to a finished MP4: one position per video frame, per Google's spec.

Google's Camera Motion Metadata (CAMM, developers.google.com/streetview/publish/camm-spec) is a
timed metadata track that Street View, Mapillary (mapillary_tools) and ExifTool (``-ee``) read.
We write it after encoding, on the box tree of :mod:`viewsynth.export.mp4`:

- a new ``trak`` (``tkhd``, ``mdia{mdhd, hdlr 'meta', minf{nmhd, dinf, stbl}}``) whose sample
  entry is ``camm`` (a plain SampleEntry: six reserved bytes and a data reference index);
- one sample per video frame, each a CAMM packet of type 5 (GPS: latitude, longitude, altitude,
  little-endian doubles, 28 bytes). Type 5 carries no time of its own: a sample's time is its
  place in the track, which copies the video track's ``mdhd`` and ``stts`` (same timescale and
  frame durations), so sample i is presented with frame i;
- or, when only some frames have a position (a camera before its GPS lock, a logger that lost
  the sky), one sample per such frame: each lasts until the next one's frame (the last, one
  frame), and an empty edit (``edts/elst``, media time -1) holds the track back to its first
  frame's time, as mapillary_tools and the MP4 timeline read it. Readers interpolate across a
  hole as across any two samples;
- ``stsz`` (constant size), ``stsc`` (one chunk of all samples), ``stco`` (``co64`` past 4 GiB);
- the samples in a new ``mdat`` appended at the end of the file. The moov grows by the new
  track; :func:`~viewsynth.export.mp4.rewrite_moov` shifts every chunk offset behind the old
  moov (``-movflags +faststart`` files), ours included. ``mvhd``'s next track ID moves on.

Writing replaces an existing CAMM track (its old sample bytes stay in the file, unreferenced).
Altitude: metres as the caller gives them (the capture's source's number, whatever its datum:
see :mod:`viewsynth.capture.telemetry`); type 5 has no "unknown", so without altitudes every
packet says 0.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from pathlib import Path

from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import Box, full_box, read_moov, rewrite_moov, scan_top_level, video_track

#: CAMM packet type 5: reserved u16, type u16, then latitude, longitude, altitude (doubles).
GPS_PACKET = 5
_PACKET = struct.Struct("<HHddd")
HANDLER_NAME = "CameraMetadataMotionHandler"
#: The unity matrix every ``tkhd`` carries (16.16 and 2.30 fixed point).
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def camm_packets(
    positions: Sequence[tuple[float, float]], altitudes: Sequence[float] | None = None
) -> bytes:
    """The samples of a CAMM track: one type-5 packet per ``(lat, lon)``, in order, with
    ``altitudes[i]`` metres (None: 0 in every packet)."""
    heights = [0.0] * len(positions) if altitudes is None else altitudes
    return b"".join(
        _PACKET.pack(0, GPS_PACKET, float(lat), float(lon), float(alt))
        for (lat, lon), alt in zip(positions, heights, strict=True)
    )


def add_camm_track(
    path: str | Path,
    positions: Sequence[tuple[float, float]],
    altitudes: Sequence[float] | None = None,
    frames: Sequence[int] | None = None,
) -> None:
    """Add a CAMM GPS track to the MP4 at ``path``, in place: ``positions[i]`` for frame ``i``,
    or for frame ``frames[i]``.

    ``positions`` are ``(lat, lon)`` degrees, one per video frame (the count must match the video
    track's samples), or one per frame listed in ``frames`` (increasing video frame numbers: the
    frames with a position); ``altitudes`` metres, one per position (None: 0, which type 5 must
    hold when the height is unknown). The file is rewritten aside and renamed into place. Raises
    ``ViewsynthError`` naming the file for a file that is not a usable MP4, a count that does
    not match, frames out of order or past the video's end, or a position that is not a finite
    latitude/longitude or altitude.
    """
    path = Path(path)
    if frames is not None and len(frames) != len(positions):
        raise ViewsynthError(f"{path}: {len(positions)} positions for {len(frames)} frames")
    if frames is not None and any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        raise ViewsynthError(f"{path}: the frames of a CAMM track must increase")
    if not positions:
        raise ViewsynthError(f"{path}: no positions for a CAMM track")
    for lat, lon in positions:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
            raise ViewsynthError(f"{path}: ({lat}, {lon}) is not a latitude/longitude")
    if altitudes is not None:
        if len(altitudes) != len(positions):
            raise ViewsynthError(
                f"{path}: {len(altitudes)} altitudes for {len(positions)} positions"
            )
        bad = [alt for alt in altitudes if not math.isfinite(alt)]
        if bad:
            raise ViewsynthError(f"{path}: altitude {bad[0]} is not a number of metres")
    tops = scan_top_level(path)
    end = tops[-1].offset + tops[-1].size
    data = camm_packets(positions, altitudes)
    mdat = Box("mdat", data=data).to_bytes()
    first_sample = end + (len(mdat) - len(data))  # old-file terms; rewrite_moov shifts it

    def edit(moov: Box) -> None:
        video = video_track(moov, str(path))
        n_frames = _sample_count(video, str(path))
        if frames is None and n_frames != len(positions):
            raise ViewsynthError(
                f"{path}: {len(positions)} positions for a video of {n_frames} frames"
            )
        if frames is not None and not 0 <= frames[0] <= frames[-1] < n_frames:
            raise ViewsynthError(f"{path}: frame {frames[-1]} of a video of {n_frames} frames")
        moov.children = [box for box in moov.children or [] if not is_camm_track(box)]
        mvhd = moov.child("mvhd")
        if mvhd is None or len(mvhd.data) < 100:
            raise ViewsynthError(f"{path}: the MP4 has no valid 'mvhd' box")
        (track_id,) = struct.unpack(">I", mvhd.data[-4:])
        used = [_track_id(trak) for trak in moov.children if trak.kind == "trak"]
        track_id = max([track_id, *(i + 1 for i in used)])
        mvhd.data = mvhd.data[:-4] + struct.pack(">I", track_id + 1)
        trak = _camm_trak(video, track_id, len(positions), first_sample, str(path))
        if frames is not None and list(frames) != list(range(n_frames)):
            _time_samples(trak, video, frames, _timescale(mvhd), str(path))
        moov.children.append(trak)

    rewrite_moov(path, edit, tail=mdat)


def is_camm_track(box: Box) -> bool:
    """Whether ``box`` is a ``trak`` whose sample entry is ``camm``."""
    if box.kind != "trak":
        return False
    stsd = box.walk("mdia", "minf", "stbl", "stsd")
    return stsd is not None and any(entry.kind == "camm" for entry in stsd.children or [])


def read_camm(path: str | Path) -> list[tuple[float, float, float]]:
    """The ``(lat, lon, altitude)`` of each type-5 packet in ``path``'s CAMM track ([] if none)."""
    path = Path(path)
    moov, _, _ = read_moov(path)
    for trak in moov.children or []:
        if not is_camm_track(trak):
            continue
        stbl = trak.walk("mdia", "minf", "stbl")
        sizes = _sample_sizes(stbl.child("stsz"), str(path))
        offsets = _chunk_offsets(stbl, str(path))
        per_chunk = _samples_per_chunk(stbl.child("stsc"), len(offsets), str(path))
        out = []
        with open(path, "rb") as f:
            k = 0
            for offset, count in zip(offsets, per_chunk, strict=True):
                f.seek(offset)
                for size in sizes[k : k + count]:
                    packet = f.read(size)
                    if len(packet) >= _PACKET.size and packet[2] == GPS_PACKET:
                        out.append(_PACKET.unpack(packet[: _PACKET.size])[2:])
                k += count
        return out
    return []


def _camm_trak(video: Box, track_id: int, n: int, first_sample: int, source: str) -> Box:
    """The CAMM ``trak``: timing copied from ``video``, ``n`` samples in one chunk."""
    mdia = video.child("mdia")
    mdhd = mdia.child("mdhd") if mdia else None
    stts = video.walk("mdia", "minf", "stbl", "stts")
    if mdhd is None or stts is None:
        raise ViewsynthError(f"{source}: the video track has no 'mdhd' or 'stts' box")
    hdlr = full_box("hdlr", b"\0" * 4 + b"meta" + b"\0" * 12 + HANDLER_NAME.encode() + b"\0")
    dref = full_box("dref", struct.pack(">I", 1) + full_box("url ", b"", flags=1).to_bytes())
    entry = Box("camm", data=b"\0" * 6 + struct.pack(">H", 1))
    stsd = Box("stsd", head=struct.pack(">II", 0, 1), children=[entry])
    stsz = full_box("stsz", struct.pack(">II", _PACKET.size, n))
    stsc = full_box("stsc", struct.pack(">IIII", 1, 1, n, 1))
    if first_sample + n * _PACKET.size < 0xF0000000:  # room for the moov's growth
        stco = full_box("stco", struct.pack(">II", 1, first_sample))
    else:
        stco = full_box("co64", struct.pack(">IQ", 1, first_sample))
    stbl = Box("stbl", children=[stsd, Box("stts", data=stts.data), stsz, stsc, stco])
    minf = Box("minf", children=[full_box("nmhd", b""), Box("dinf", children=[dref]), stbl])
    mdia = Box("mdia", children=[Box("mdhd", data=mdhd.data), hdlr, minf])
    return Box("trak", children=[_tkhd(video, track_id, source), mdia])


def _time_samples(trak: Box, video: Box, frames: Sequence[int], movie_scale: int, source: str):
    """Retime the CAMM ``trak`` (one sample per frame so far) to one sample per frame of
    ``frames``: sample j lasts until frame ``frames[j + 1]`` starts (the last, its own frame), an
    empty edit holds the track back to frame ``frames[0]``'s time, and ``mdhd``'s and ``tkhd``'s
    durations are the track's own."""
    starts = _frame_starts(video, source)  # len n + 1: each frame's decode time, then the end
    ends = [*frames[1:], frames[-1] + 1]
    durations = [starts[b] - starts[a] for a, b in zip(frames, ends, strict=True)]
    runs: list[list[int]] = []
    for d in durations:
        if runs and runs[-1][1] == d:
            runs[-1][0] += 1
        else:
            runs.append([1, d])
    stbl = trak.walk("mdia", "minf", "stbl")
    stts = full_box("stts", struct.pack(f">I{2 * len(runs)}I", len(runs), *sum(runs, [])))
    stbl.children = [stts if box.kind == "stts" else box for box in stbl.children]
    mdhd = trak.walk("mdia", "mdhd")
    media_scale = _timescale(mdhd)
    media = sum(durations)
    if mdhd.data[0] == 1:
        mdhd.data = mdhd.data[:24] + struct.pack(">Q", media) + mdhd.data[32:]
    else:
        mdhd.data = mdhd.data[:16] + struct.pack(">I", media) + mdhd.data[20:]
    lead = starts[frames[0]]

    def movie(ticks: int) -> int:
        return round(ticks * movie_scale / media_scale)

    edits = [(movie(lead), -1), (movie(media), 0)] if lead else [(movie(media), 0)]
    elst = full_box(
        "elst", struct.pack(">I", len(edits)) + b"".join(
            struct.pack(">IiHH", duration, at, 1, 0) for duration, at in edits
        )
    )  # fmt: skip
    tkhd = trak.child("tkhd")
    total = movie(lead) + movie(media)
    if tkhd.data[0] == 1:
        tkhd.data = tkhd.data[:28] + struct.pack(">Q", total) + tkhd.data[36:]
    else:
        tkhd.data = tkhd.data[:20] + struct.pack(">I", total) + tkhd.data[24:]
    trak.children.insert(1, Box("edts", children=[elst]))


def _frame_starts(video: Box, source: str) -> list[int]:
    """The video track's sample decode times (its ``stts``, media timescale), then its end."""
    stts = video.walk("mdia", "minf", "stbl", "stts")
    (count,) = struct.unpack(">I", stts.data[4:8])
    starts = [0]
    for k in range(count):
        n, delta = struct.unpack(">II", stts.data[8 + 8 * k : 16 + 8 * k])
        starts += [starts[-1] + delta * (i + 1) for i in range(n)]
    if len(starts) - 1 != _sample_count(video, source):
        raise ViewsynthError(f"{source}: the video track's 'stts' and 'stsz' disagree")
    return starts


def _timescale(box: Box) -> int:
    """The timescale of an ``mvhd`` or ``mdhd`` (version 0 or 1)."""
    at = 20 if box.data[0] == 1 else 12
    return struct.unpack(">I", box.data[at : at + 4])[0]


def _tkhd(video: Box, track_id: int, source: str) -> Box:
    """A ``tkhd`` for the metadata track: enabled, the video's times and duration, no size or
    volume."""
    tkhd = video.child("tkhd")
    if tkhd is None or len(tkhd.data) < 4:
        raise ViewsynthError(f"{source}: the video track has no 'tkhd' box")
    # the video's creation and modification times (``mdhd`` is the video's own copy)
    if tkhd.data[0] == 1:
        created, modified, _, _, duration = struct.unpack(">QQIIQ", tkhd.data[4:36])
        times = struct.pack(">QQIIQ", created, modified, track_id, 0, duration)
        version = 1
    else:
        created, modified, _, _, duration = struct.unpack(">IIIII", tkhd.data[4:24])
        times = struct.pack(">IIIII", created, modified, track_id, 0, duration)
        version = 0
    rest = b"\0" * 8 + struct.pack(">hhhH", 0, 0, 0, 0) + _MATRIX + struct.pack(">II", 0, 0)
    return full_box("tkhd", times + rest, version=version, flags=1)


def _track_id(trak: Box) -> int:
    tkhd = trak.child("tkhd")
    if tkhd is None or len(tkhd.data) < 24:
        return 0
    at = 20 if tkhd.data[0] == 1 else 12
    return struct.unpack(">I", tkhd.data[at : at + 4])[0]


def _sample_count(trak: Box, source: str) -> int:
    stsz = trak.walk("mdia", "minf", "stbl", "stsz")
    if stsz is None or len(stsz.data) < 12:
        raise ViewsynthError(f"{source}: the video track has no sample table ('stsz')")
    return struct.unpack(">I", stsz.data[8:12])[0]


def _sample_sizes(stsz: Box | None, source: str) -> list[int]:
    if stsz is None or len(stsz.data) < 12:
        raise ViewsynthError(f"{source}: the CAMM track has no 'stsz' box")
    size, count = struct.unpack(">II", stsz.data[4:12])
    if size:
        return [size] * count
    return list(struct.unpack(f">{count}I", stsz.data[12 : 12 + 4 * count]))


def _chunk_offsets(stbl: Box, source: str) -> list[int]:
    for kind, code in (("stco", "I"), ("co64", "Q")):
        box = stbl.child(kind)
        if box is not None:
            (count,) = struct.unpack(">I", box.data[4:8])
            return list(struct.unpack(f">{count}{code}", box.data[8:]))
    raise ViewsynthError(f"{source}: the CAMM track has no chunk offsets")


def _samples_per_chunk(stsc: Box | None, n_chunks: int, source: str) -> list[int]:
    if stsc is None:
        raise ViewsynthError(f"{source}: the CAMM track has no 'stsc' box")
    (count,) = struct.unpack(">I", stsc.data[4:8])
    runs = [struct.unpack(">III", stsc.data[8 + 12 * i : 20 + 12 * i]) for i in range(count)]
    per_chunk = []
    for i, (first, samples, _) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else n_chunks
        per_chunk += [samples] * (last - first + 1)
    return per_chunk
