"""HEIC/HEIF photos (iPhones, many Android phones, Canon/Fujifilm ``.HIF``) through pillow-heif.

Its Pillow opener is registered on the first image read (:func:`heif_opener`), not on ``import
viewsynth``; :func:`heif_deep_rgb` keeps a 10- or 12-bit file's precision, which the opener
reduces to 8 bits; :func:`heif_lost` names the tag blocks (EXIF, XMP) a file cut short no longer
holds: a phone stores them after the image data, so such a file decodes whole without them.
Decoding itself, and its errors, stay in :mod:`viewsynth.frames`.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from viewsynth.boxes import iter_boxes
from viewsynth.errors import ViewsynthError


@functools.cache
def heif_opener() -> bool:
    """Register pillow-heif's HEIC/HEIF opener with Pillow (once; False when it is missing).

    Called where images are opened (``frames``, ``capture.metadata``) so that ``import viewsynth``
    and jobs that read no photo never import it."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def heif_deep_rgb(path: Path, notes: list[str]) -> np.ndarray:
    """A 10- or 12-bit HEIC's primary image at full precision (Pillow's opener gives 8 bits).

    pillow-heif returns 16-bit samples with the N-bit value in the top bits (``v << (16 - N)``):
    white is ``(2**N - 1) << (16 - N)`` (65472 for 10 bits), not 65535, and is divided by that."""
    import pillow_heif

    heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    depth = int(heif.info.get("bit_depth") or 8)
    arr = np.asarray(heif)
    if arr.dtype == np.uint16 and depth > 8:
        white = float(((1 << depth) - 1) << (16 - depth))
    else:
        white = float(np.iinfo(arr.dtype).max)
    arr = np.clip(arr.astype(np.float32) / white, 0.0, 1.0)
    if arr.ndim == 2:
        notes.append("grayscale converted to RGB")
        return np.repeat(arr[..., None], 3, axis=-1)
    if arr.shape[-1] == 4:
        notes.append("alpha channel dropped")
    return np.ascontiguousarray(arr[..., :3])


def heif_lost(path: Path) -> list[str]:
    """The tag blocks of the HEIF file at ``path`` that its item locations (``meta``/``iloc``)
    place past the file's end, by name: ``["EXIF", "XMP"]`` for a file cut off after its image;
    ``[]`` when all are there, or the boxes cannot be read (then the decoder judges the file)."""
    data = path.read_bytes()
    try:
        meta = _child(data, 0, len(data), "meta")
        if meta is None:
            return []
        kinds = _item_kinds(data, meta)
        ends = _item_ends(data, meta)
    except (struct.error, ValueError, IndexError, ViewsynthError):
        return []
    lost = {kinds[item] for item, end in ends.items() if item in kinds and end > len(data)}
    return [name for name in ("EXIF", "XMP") if name in lost]


def _child(data: bytes, start: int, end: int, kind: str, full: bool = True) -> tuple | None:
    """The first ``kind`` box in ``data[start:end]``: ``(payload start, end)``, after a full
    box's version and flags when ``full``."""
    for found, payload, stop in iter_boxes(data, "", start, end, cut_ok=True):
        if found == kind:
            return payload + (4 if full else 0), stop
    return None


def _item_kinds(data: bytes, meta: tuple[int, int]) -> dict[int, str]:
    """Item id -> "EXIF" or "XMP" for the tag items of ``iinf``."""
    iinf = _child(data, *meta, "iinf")
    if iinf is None:
        return {}
    version = data[iinf[0] - 4]
    first = iinf[0] + (2 if version == 0 else 4)
    kinds = {}
    for kind, payload, stop in iter_boxes(data, "", first, iinf[1], cut_ok=True):
        if kind != "infe" or data[payload] < 2:
            continue
        wide = data[payload] >= 3
        item = struct.unpack_from(">I" if wide else ">H", data, payload + 4)[0]
        at = payload + 4 + (4 if wide else 2) + 2
        item_type = data[at : at + 4]
        name = data[at + 4 : stop].split(b"\0")
        if item_type == b"Exif":
            kinds[item] = "EXIF"
        elif item_type == b"mime" and len(name) > 1 and name[1] == b"application/rdf+xml":
            kinds[item] = "XMP"
    return kinds


def _item_ends(data: bytes, meta: tuple[int, int]) -> dict[int, int]:
    """Item id -> the file offset its data ends at (``iloc``; items in ``idat`` left out)."""
    iloc = _child(data, *meta, "iloc")
    if iloc is None:
        return {}
    at = iloc[0]
    version = data[at - 4]
    offset_size, length_size = data[at] >> 4, data[at] & 15
    base_size, index_size = data[at + 1] >> 4, (data[at + 1] & 15) if version in (1, 2) else 0
    count, at = _uint(data, at + 2, 4 if version == 2 else 2)
    ends = {}
    for _ in range(count):
        item, at = _uint(data, at, 4 if version == 2 else 2)
        method = 0
        if version in (1, 2):
            method, at = _uint(data, at, 2)
            method &= 15
        at += 2  # data_reference_index
        base, at = _uint(data, at, base_size)
        extents, at = _uint(data, at, 2)
        end = 0
        for _ in range(extents):
            at += index_size
            offset, at = _uint(data, at, offset_size)
            length, at = _uint(data, at, length_size)
            end = max(end, base + offset + length)
        if method == 0:  # (1: in the meta box's idat, 2: by reference)
            ends[item] = end
    return ends


def _uint(data: bytes, at: int, size: int) -> tuple[int, int]:
    """The big-endian unsigned integer of ``size`` bytes (0, 1, 2, 4, 8) at ``at``, and the offset after it."""
    if at + size > len(data):
        raise IndexError("past the end")
    return int.from_bytes(data[at : at + size], "big"), at + size
