"""The MP4 (ISO BMFF) box tree: just enough of it to edit metadata after encoding.

A box is ``size:u32 type:4cc payload`` (:mod:`viewsynth.boxes` reads the headers). Full boxes start their payload with ``version:u8 flags:u24``. A ``uuid`` box carries a
16-byte user type before its payload.

Only the path to the video sample entry is parsed into a tree (``moov/trak/mdia/minf/stbl/stsd``
and the sample entry itself); every other box is kept as opaque bytes and written back unchanged.
``moov`` is small (kilobytes to a few MB) and is edited in memory; ``mdat`` (the pictures) is only
ever copied in bounded chunks.

When ``moov`` grows and sits before ``mdat`` (``-movflags +faststart``), every absolute chunk
offset in ``stco``/``co64`` that points past the old ``moov`` moves by the growth; see
:func:`rewrite_moov`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from viewsynth.boxes import iter_boxes, read_header
from viewsynth.errors import ViewsynthError
from viewsynth.frames import atomic_write

#: Bytes of payload before a container's children. ``stsd`` is a full box with an entry count;
#: a visual sample entry (ISO 14496-12 VisualSampleEntry) has 78 bytes of fixed fields.
_HEAD_BYTES = {
    "moov": 0,
    "trak": 0,
    "mdia": 0,
    "minf": 0,
    "stbl": 0,
    "stsd": 8,
    "sv3d": 0,
    "proj": 0,
}
#: Sample entries that are VisualSampleEntry: H.264, HEVC, AV1, VP9.
VISUAL_ENTRIES = ("avc1", "avc3", "hvc1", "hev1", "av01", "vp09")
_VISUAL_HEAD = 78
_COPY_CHUNK = 1 << 22


@dataclass
class Box:
    """One box in memory. ``children is None`` marks a leaf whose payload is ``data``.

    ``head`` holds a container's payload bytes that come before its children (full-box version
    and flags, ``stsd``'s entry count, a sample entry's 78 fixed bytes).
    """

    kind: str
    head: bytes = b""
    children: list[Box] | None = None
    data: bytes = b""

    def child(self, kind: str) -> Box | None:
        """The first direct child of type ``kind``, or None."""
        for box in self.children or []:
            if box.kind == kind:
                return box
        return None

    def walk(self, *kinds: str) -> Box | None:
        """Follow a path of first children, e.g. ``walk("mdia", "minf", "stbl")``."""
        box: Box | None = self
        for kind in kinds:
            box = box.child(kind) if box is not None else None
        return box

    def descendants(self, kind: str) -> list[Box]:
        """Every box of type ``kind`` below this one (depth first, parsed containers only)."""
        found = []
        for box in self.children or []:
            if box.kind == kind:
                found.append(box)
            found.extend(box.descendants(kind))
        return found

    def payload(self) -> bytes:
        if self.children is None:
            return self.data
        return self.head + b"".join(box.to_bytes() for box in self.children)

    def to_bytes(self) -> bytes:
        """Header and payload; the size is recomputed, 64-bit only when 32 bits cannot hold it."""
        payload = self.payload()
        kind = self.kind.encode("latin-1")
        if 8 + len(payload) <= 0xFFFFFFFF:
            return struct.pack(">I4s", 8 + len(payload), kind) + payload
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload


def full_box(kind: str, payload: bytes, version: int = 0, flags: int = 0) -> Box:
    """A leaf full box: ``version:u8 flags:u24`` then ``payload``."""
    return Box(kind, data=struct.pack(">I", (version << 24) | flags) + payload)


def parse_boxes(buf: bytes, source: str, start: int = 0, end: int | None = None) -> list[Box]:
    """Parse the boxes in ``buf[start:end]``; containers on the way to the sample entry recurse.

    Raises ``ViewsynthError`` naming ``source`` when a box runs past its parent.
    """
    boxes = []
    for kind, body, box_end in iter_boxes(buf, source, start, end):
        head_bytes = _HEAD_BYTES.get(kind, _VISUAL_HEAD if kind in VISUAL_ENTRIES else None)
        if head_bytes is None:
            boxes.append(Box(kind, data=buf[body:box_end]))
        else:
            if box_end - body < head_bytes:
                raise ViewsynthError(
                    f"{source}: '{kind}' box is too short ({box_end - body} bytes of payload)"
                )
            head = buf[body : body + head_bytes]
            children = parse_boxes(buf, source, body + head_bytes, box_end)
            boxes.append(Box(kind, head=head, children=children))
    return boxes


@dataclass
class TopBox:
    """A top-level box located in the file (its payload is not read)."""

    kind: str
    offset: int  # file offset of the header
    size: int  # bytes including the header
    header: int  # 8, or 16 with a 64-bit size


def scan_top_level(path: str | Path) -> list[TopBox]:
    """The top-level boxes of ``path`` in file order (``ftyp``, ``moov``, ``mdat``, ...).

    Raises ``ViewsynthError`` when the file is missing, empty, or not a box sequence.
    """
    path = Path(path)
    try:
        total = path.stat().st_size
    except FileNotFoundError:
        raise ViewsynthError(f"{path}: no such file") from None
    boxes = []
    with open(path, "rb") as f:
        pos = 0
        while pos < total:
            f.seek(pos)
            kind, size, header = read_header(f.read(16), str(path), total - pos)
            boxes.append(TopBox(kind, pos, size, header))
            pos += size
    if not boxes or boxes[0].kind not in ("ftyp", "free", "skip", "wide", "moov", "mdat"):
        raise ViewsynthError(f"{path}: not an MP4 file (no 'ftyp' box at the start)")
    return boxes


def read_moov(path: str | Path) -> tuple[Box, list[TopBox], TopBox]:
    """Parse ``moov`` of ``path``: (the moov tree, all top-level boxes, moov's place in the file)."""
    path = Path(path)
    tops = scan_top_level(path)
    moovs = [box for box in tops if box.kind == "moov"]
    if len(moovs) != 1:
        raise ViewsynthError(f"{path}: expected one 'moov' box, found {len(moovs)}")
    if any(box.kind == "moof" for box in tops):
        raise ViewsynthError(f"{path}: fragmented MP4 is not supported; write a plain MP4")
    where = moovs[0]
    with open(path, "rb") as f:
        f.seek(where.offset + where.header)
        payload = f.read(where.size - where.header)
    moov = Box("moov", children=parse_boxes(payload, str(path)))
    return moov, tops, where


def video_track(moov: Box, source: str) -> Box:
    """The first ``trak`` whose handler is ``vide``; ``ViewsynthError`` if there is none."""
    for trak in moov.children or []:
        if trak.kind != "trak":
            continue
        hdlr = trak.walk("mdia", "hdlr")
        # hdlr: version/flags (4), pre_defined (4), handler_type (4).
        if hdlr is not None and hdlr.data[8:12] == b"vide":
            return trak
    raise ViewsynthError(f"{source}: no video track in the MP4")


def chunk_offsets(moov: Box) -> list[list[int]]:
    """Every track's chunk offsets (from ``stco`` or ``co64``), in track order."""
    tables = []
    for box in moov.descendants("stco") + moov.descendants("co64"):
        count = struct.unpack(">I", box.data[4:8])[0]
        fmt = ">%dI" if box.kind == "stco" else ">%dQ"
        tables.append(list(struct.unpack(fmt % count, box.data[8 : 8 + count * _width(box)])))
    return tables


def _width(box: Box) -> int:
    return 4 if box.kind == "stco" else 8


def _shift_offsets(moov: Box, after: int, delta: int, source: str) -> None:
    """Add ``delta`` to every chunk offset ``>= after`` (data that sits behind the old moov)."""
    for box in moov.descendants("stco") + moov.descendants("co64"):
        count = struct.unpack(">I", box.data[4:8])[0]
        code = "I" if box.kind == "stco" else "Q"
        body = box.data[8 : 8 + count * _width(box)]
        if len(body) != count * _width(box):
            raise ViewsynthError(f"{source}: '{box.kind}' box is truncated")
        offsets = [o + delta if o >= after else o for o in struct.unpack(f">{count}{code}", body)]
        if code == "I" and offsets and max(offsets) > 0xFFFFFFFF:
            raise ViewsynthError(
                f"{source}: chunk offsets would pass 4 GiB; write the video without faststart"
            )
        box.data = (
            box.data[:8] + struct.pack(f">{count}{code}", *offsets) + box.data[8 + len(body) :]
        )


def rewrite_moov(path: str | Path, edit: Callable[[Box], None], tail: bytes = b"") -> int:
    """Apply ``edit`` to ``path``'s moov tree and rewrite the file aside, then rename it into place.

    Parent sizes are recomputed on serialisation; chunk offsets that point past the old moov
    (moov before mdat) move by the number of bytes moov grew or shrank. Every other box is copied
    byte for byte. ``tail``: whole boxes appended at the end (e.g. an ``mdat`` of new samples);
    an offset into them that ``edit`` writes in old-file terms (old file size + k) is shifted
    like the others. Returns the growth of moov in bytes.
    """
    path = Path(path)
    moov, tops, where = read_moov(path)
    edit(moov)
    delta = len(moov.to_bytes()) - where.size
    if delta:
        _shift_offsets(moov, where.offset + where.size, delta, str(path))
    new_moov = moov.to_bytes()
    with atomic_write(path) as tmp, open(path, "rb") as src, open(tmp, "wb") as dst:
        for box in tops:
            if box is where:
                dst.write(new_moov)
                continue
            src.seek(box.offset)
            left = box.size
            while left:
                chunk = src.read(min(left, _COPY_CHUNK))
                if not chunk:
                    raise ViewsynthError(f"{path}: file shrank while being rewritten")
                dst.write(chunk)
                left -= len(chunk)
        dst.write(tail)
    return delta
