"""ISO BMFF boxes (MP4, MOV, HEIF), read one way wherever the project reads them.

A box is ``size:u32 type:4cc payload``. ``size`` counts the header too; ``size == 1`` means a
64-bit ``largesize`` follows the type; ``size == 0`` means "to the end of the parent" (in
practice the file). :func:`read_header` reads one header, :func:`iter_boxes` walks a run of
sibling boxes. The MP4 editor (:mod:`viewsynth.export.mp4`), the HEIF reader
(:mod:`viewsynth.heif`) and the video camera's ``udta`` (:mod:`viewsynth.capture.projection`)
stand on these two.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from viewsynth.errors import ViewsynthError


def read_header(head: bytes, source: str, room: int) -> tuple[str, int, int]:
    """(type, total size, header length) of the box whose first bytes are ``head``.

    ``room`` is how many bytes are left in the parent (or file); a size of 0 takes all of it.
    Raises ``ViewsynthError`` naming ``source`` when the header is cut short or the box claims
    more than ``room``.
    """
    if len(head) < 8:
        raise ViewsynthError(f"{source}: truncated MP4 box header ({len(head)} bytes left)")
    size, kind_raw = struct.unpack(">I4s", head[:8])
    kind = kind_raw.decode("latin-1")
    header = 8
    if size == 1:
        if len(head) < 16:
            raise ViewsynthError(f"{source}: truncated 64-bit size of '{kind}' box")
        (size,) = struct.unpack(">Q", head[8:16])
        header = 16
    elif size == 0:
        size = room
    if size < header or size > room:
        raise ViewsynthError(
            f"{source}: '{kind}' box claims {size} bytes but {room} remain: not an MP4 or truncated"
        )
    return kind, size, header


def iter_boxes(
    data: bytes, source: str, start: int = 0, end: int | None = None, *, cut_ok: bool = False
) -> Iterator[tuple[str, int, int]]:
    """``(type, payload start, box end)`` of each box in ``data[start:end]``, in order.

    Strict by default (:func:`read_header`'s errors). With ``cut_ok`` a box that runs past
    ``end`` ends there, and fewer than 8 bytes left over, or a size under 8, end the walk: a file
    cut off after its image still shows the boxes it holds, and QuickTime's ``udta`` ends in a
    32-bit zero.
    """
    end = len(data) if end is None else end
    pos = start
    while pos < end and not (cut_ok and pos + 8 > end):
        head = data[pos : min(pos + 16, end)]
        room = end - pos
        if cut_ok:  # (a claimed size past the end is the cut, not an error)
            size = struct.unpack(">I", head[:4])[0]
            if 1 < size < 8:
                return  # (not a box: what follows cannot be walked)
            room = max(room, size if size > 1 else 0)
            if size == 1 and len(head) == 16:
                room = max(room, struct.unpack(">Q", head[8:16])[0])
        kind, size, header = read_header(head, source, room)
        yield kind, pos + header, min(pos + size, end)
        pos += size
