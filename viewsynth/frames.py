"""The only place images are decoded and encoded.

Inside the library an image is ``(H, W, 3)`` float32 RGB in [0, 1]; uint8 and BGR exist only here
(and in the video writer). Decoding is defensive: a file that is not an image, is truncated, empty
or too large raises ``FrameError`` naming the file; conversions that lose something (alpha,
16-bit depth) are reported through the returned notes so the caller can warn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from viewsynth.errors import FrameError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
#: Larger than any current 360 camera (11K x 5.5K is ~61 MP); beyond this we refuse to decode.
MAX_PIXELS = 120_000_000


@dataclass
class Decoded:
    """A decoded image and what was done to it on the way."""

    image: np.ndarray  # (H, W, 3) float32 RGB in [0, 1]
    notes: list[str] = field(default_factory=list)


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode ``path`` to ``(H, W, 3)`` float32 RGB in [0, 1], EXIF orientation applied.

    Grayscale is expanded, alpha dropped (noted), 16-bit kept at full precision (noted).
    Raises ``FrameError`` for empty, truncated, non-image or oversized files.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FrameError(f"{path}: no such file") from None
    if size == 0:
        raise FrameError(f"{path}: empty file (0 bytes)")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise FrameError(
                        f"{path}: {w}x{h} is too large to decode safely (limit {max_pixels} pixels)"
                    )
                im.load()
                orientation = im.getexif().get(0x0112, 1)
                if orientation not in (1, None):
                    im = ImageOps.exif_transpose(im)
                    notes.append(f"rotated upright from EXIF orientation {orientation}")
                arr = _to_float_rgb(im, notes)
    except FrameError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FrameError(f"{path}: not a readable image") from None
    except (OSError, SyntaxError, ValueError) as err:
        reason = "truncated or corrupt image" if "truncat" in str(err).lower() else "corrupt image"
        raise FrameError(f"{path}: {reason} ({err})") from None
    return Decoded(arr, notes)


def _to_float_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNG (Pillow has no 16-bit RGB mode: those decode via OpenCV below).
        arr = np.asarray(im, dtype=np.float32) / 65535.0
        notes.append("16-bit grayscale converted to RGB")
        return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append("alpha channel dropped")
        im = im.convert("RGBA").convert("RGB")
    elif mode in ("L", "1"):
        notes.append("grayscale converted to RGB")
        im = im.convert("RGB")
    elif mode != "RGB":
        im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    if getattr(im, "filename", None) and str(im.filename).lower().endswith(".png"):
        deep = _png_16bit_rgb(Path(im.filename))
        if deep is not None and deep.shape[:2] == arr.shape[:2]:
            notes.append("16-bit colour reduced to float precision")
            return deep
    return arr


def _png_16bit_rgb(path: Path) -> np.ndarray | None:
    """16-bit RGB(A) PNGs: Pillow reduces them to 8 bits, OpenCV keeps all 16."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[24] != 16 or head[25] not in (2, 6):
        return None
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3:
        return None
    rgb = cv2.cvtColor(data[..., :3], cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 65535.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(..., 3)`` float in [0, 1] -> uint8, rounded (metrics are computed on this)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write float [0, 1] or uint8 RGB ``(H, W, 3)`` as PNG/JPEG, aside then renamed into place."""
    path = Path(path)
    arr = image if image.dtype == np.uint8 else to_uint8(image)
    tmp = path.with_name(f".{path.name}.part{path.suffix}")
    ok = cv2.imwrite(str(tmp), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    if not ok:
        raise FrameError(f"{path}: could not write image")
    tmp.replace(path)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged when shrinking, bicubic when growing; float32 in [0, 1] out."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_CUBIC
    out = cv2.resize(image, (width, height), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def is_equirect_shape(width: int, height: int, tolerance: float = 0.01) -> bool:
    """A stitched equirect panorama is 2:1 (within ``tolerance``)."""
    return height > 0 and abs(width / height - 2.0) <= 2.0 * tolerance
