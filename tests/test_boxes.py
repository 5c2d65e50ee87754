"""The one ISO BMFF header reader (viewsynth.boxes) that the MP4 editor, HEIF and udta use."""

from __future__ import annotations

import struct

import pytest

from viewsynth.boxes import iter_boxes, read_header
from viewsynth.errors import ViewsynthError


def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def test_walks_siblings_with_64_bit_and_to_the_end_sizes():
    wide = struct.pack(">I4sQ", 1, b"mdat", 16 + 5) + b"12345"
    rest = struct.pack(">I4s", 0, b"free") + b"xyz"
    data = _box("ftyp", b"isom") + wide + rest
    got = list(iter_boxes(data, "x.mp4"))
    assert got == [("ftyp", 8, 12), ("mdat", 28, 33), ("free", 41, 44)]
    assert [data[p:e] for _, p, e in got] == [b"isom", b"12345", b"xyz"]


def test_strict_walk_names_the_file_and_the_box():
    data = _box("ftyp", b"isom") + struct.pack(">I4s", 100, b"moov") + b"short"
    with pytest.raises(ViewsynthError, match=r"x\.mp4: 'moov' box claims 100 bytes but 13 remain"):
        list(iter_boxes(data, "x.mp4"))
    with pytest.raises(ViewsynthError, match="truncated MP4 box header"):
        read_header(b"\0\0\0", "x.mp4", 3)
    with pytest.raises(ViewsynthError, match="'bad ' box claims 4 bytes"):
        read_header(struct.pack(">I4s", 4, b"bad "), "x.mp4", 50)


def test_cut_file_shows_what_it_holds():
    # A HEIF cut off inside its mdat, and a QuickTime udta ending in a 32-bit zero.
    data = _box("meta", b"abc") + struct.pack(">I4s", 1000, b"mdat") + b"pixels"
    got = list(iter_boxes(data, "", cut_ok=True))
    assert got == [("meta", 8, 11), ("mdat", 19, 25)]
    udta = _box("GPMF", b"DEVC") + b"\0\0\0\0"
    assert list(iter_boxes(udta, "udta", cut_ok=True)) == [("GPMF", 8, 12)]
    with pytest.raises(ViewsynthError):
        list(iter_boxes(udta, "udta"))
    # a child whose size is no box's ends the walk there, quietly (the boxes before it stay)
    bad = _box("GPMF", b"DEVC") + struct.pack(">I4s", 6, b"XYZW") + b"\0\0" + _box("MINF", b"")
    assert list(iter_boxes(bad, "udta", cut_ok=True)) == [("GPMF", 8, 12)]
