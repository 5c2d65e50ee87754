"""HEIC/HEIF photos (iPhones, many Android phones, Canon/Fujifilm ``.HIF``) through pillow-heif.

Its Pillow opener is registered on the first image read (:func:`heif_opener`), not on ``import
viewsynth``; :func:`heif_deep_rgb` keeps a 10- or 12-bit file's precision, which the opener
reduces to 8 bits. Decoding itself, and its errors, stay in :mod:`viewsynth.frames`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


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
