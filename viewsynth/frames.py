"""The only place images and videos are decoded and encoded, files are ordered, and written.

Inside the library an image is ``(H, W, 3)`` float32 RGB in [0, 1]; uint8 and BGR exist only here
(and in the video writer). Decoding is defensive: a file that is not an image, is truncated, empty
or too large raises ``FrameError`` naming the file; conversions that lose something (alpha,
16-bit depth) are reported through the returned notes so the caller can warn. Turning a photo
upright by its EXIF Orientation is no such note: it loses nothing, and every portrait phone photo
needs it.

- HEIC/HEIF photos (iPhones, many Android phones, Canon/Fujifilm ``.HIF``) are decoded by
  pillow-heif's Pillow opener, registered on the first image read (:mod:`viewsynth.heif`: turned
  once, 10- and 12-bit kept).
- Videos are read in :mod:`viewsynth.decode` (imageio's FFmpeg backend, one frame in memory at a
  time), whose readers this module hands on: ``iter_video``, ``video_info``, ``video_times``.
- Files are listed in natural order (:func:`natural_key`: ``img2`` before ``img10``).
- Every file the project writes goes through :func:`atomic_write`: written aside under a hidden
  ``.NAME.part`` name and renamed into place, so no half-written file ever sits at an output path.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from viewsynth.decode import VideoTimes as VideoTimes  # the video readers, handed on
from viewsynth.decode import iter_video as iter_video
from viewsynth.decode import video_info as video_info
from viewsynth.decode import video_times as video_times
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.heif import heif_deep_rgb, heif_lost, heif_opener

HEIF_SUFFIXES = (".heic", ".heif", ".hif")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", *HEIF_SUFFIXES)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
#: 360 cameras' own files, each lens apart (not yet stitched): what exports them as equirect.
UNSTITCHED_360 = {
    ".360": ("a GoPro MAX video", "an equirectangular MP4 with GoPro Player or Quik"),
    ".insv": ("an Insta360 video", "an equirectangular MP4 with Insta360 Studio"),
    ".insp": ("an Insta360 photo", "an equirectangular JPEG with Insta360 Studio"),
    ".osv": ("a DJI Osmo 360 video", "an equirectangular MP4 with DJI Studio"),
}
#: Videos cameras write in containers the reader does not open (imageio's ffmpeg plugin refuses
#: them by name): camcorders' and some dashcams' transport streams, old phones' 3GP; and the
#: container a stream copy of each goes into (a 3GP's H.263 has no MP4 tag: ffmpeg "Could not
#: find tag for codec h263"; QuickTime takes it, and the H.264 and MPEG-4 video a 3GP holds else).
REMUX_FIRST = {
    ".ts": ("an MPEG transport stream", "MP4"),
    ".mts": ("an AVCHD video", "MP4"),
    ".m2ts": ("an AVCHD video", "MP4"),
    ".3gp": ("a 3GP video", "MOV"),
}
#: Larger than any current 360 camera (11K x 5.5K is ~61 MP); beyond this we refuse to decode.
MAX_PIXELS = 120_000_000


@dataclass
class Decoded:
    """A decoded image and what was done to it on the way."""

    image: np.ndarray  # (H, W, 3) float32 RGB in [0, 1]
    notes: list[str] = field(default_factory=list)


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode ``path`` to ``(H, W, 3)`` float32 RGB in [0, 1], EXIF orientation applied.

    Grayscale is expanded, alpha dropped (noted), 16-bit kept at full precision (noted), as is a
    10- or 12-bit HEIC's. Raises ``FrameError`` for empty, truncated, non-image or oversized files.
    """
    path = _nonempty_file(path)
    heif = heif_opener()
    notes: list[str] = []
    try:
        try:
            return Decoded(_decode(path, path, max_pixels, notes), notes)
        except OSError as err:
            if (
                "truncated" not in str(err)
                or (arr := _whole_without_end(path, max_pixels, notes)) is None
            ):
                raise
            notes.append("its JPEG end marker is missing (the image data is whole)")
            return Decoded(arr, notes)
    except FrameError:
        raise
    except Image.DecompressionBombError as err:  # (Pillow's own limit, twice its warning's)
        raise FrameError(_too_large(path, err, max_pixels)) from None
    except UnidentifiedImageError:
        raise FrameError(_unreadable(path, heif)) from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as err:  # (last 3: libheif)
        reason = " ".join(str(err).split())  # libheif's messages end in a newline: one line
        damage = "truncat" in reason.lower() or "end of file" in reason.lower()
        kind = "truncated or corrupt image" if damage else "corrupt image"
        raise FrameError(f"{path}: {kind} ({reason})" if reason else f"{path}: {kind}") from None


def _decode(path: Path, source: Path | io.BytesIO, max_pixels: int, notes: list[str]) -> np.ndarray:
    """``source`` (``path`` or its bytes) decoded upright, as :func:`read_image` returns it."""
    with warnings.catch_warnings():
        # "Corrupt EXIF data" (tags only), DecompressionBombWarning (max_pixels is checked)
        warnings.filterwarnings("ignore", module="PIL")
        with Image.open(source) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise FrameError(
                    f"{path}: {w}x{h} is too large to decode safely (limit {max_pixels} pixels)"
                )
            if im.format == "HEIF":
                if lost := heif_lost(path):  # (the tags are stored after the image data)
                    notes.append(_tags_lost(lost))
                # libheif has turned the pixels already (pillow-heif resets the tag to 1)
                if (im.info.get("bit_depth") or 8) > 8:
                    return heif_deep_rgb(path, notes)
                im.load()
            else:
                im.load()
                if im.getexif().get(0x0112, 1) not in (1, None):
                    im = ImageOps.exif_transpose(im)
            return _to_float_rgb(im, notes)


def _tags_lost(lost: list[str]) -> str:
    """The note for a HEIC cut off after its image: ``lost`` tag blocks ("EXIF", "XMP")."""
    held = {"EXIF": "time, GPS, camera and focal length", "XMP": "panorama (GPano)"}
    what = " and ".join(lost)
    tags = "; ".join(held[name] for name in lost)
    return f"cut short after its image: its {what} {'is' if len(lost) == 1 else 'are'} lost ({tags} tags)"


def _whole_without_end(path: Path, max_pixels: int, notes: list[str]) -> np.ndarray | None:
    """A JPEG that lacks only its end-of-image marker (some apps and card recoveries write them),
    decoded; ``None`` when more is missing or it is no JPEG.

    Decoded three times, with the marker added after nothing and after two runs of other bytes:
    where the image data is whole, the decoder stops before the added bytes and the three agree;
    where it is cut, it reads them as image data and they differ.
    """
    data = path.read_bytes()
    if not data.startswith(b"\xff\xd8"):
        return None
    data = data.removesuffix(b"\xff")  # cut between the marker's two bytes
    try:
        arrs = [
            _decode(path, io.BytesIO(data + pad + b"\xff\xd9"), max_pixels, aside)
            for pad, aside in ((b"", notes), (b"\x55" * 64, []), (b"\xaa" * 64, []))
        ]
    except OSError:
        return None
    if not all(np.array_equal(arrs[0], a) for a in arrs[1:]):
        return None
    return arrs[0]


def _too_large(path: Path, err: Exception, max_pixels: int) -> str:
    """Pillow's refusal of a header claiming over twice its ``MAX_IMAGE_PIXELS``, as one line."""
    size = m.group(1) + " pixels" if (m := re.search(r"\((\d+) pixels\)", str(err))) else "it"
    limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
    return f"{path}: {size} is too large to decode safely (limit {limit} pixels)"


def _unreadable(path: Path, heif: bool) -> str:
    if not heif and path.suffix.lower() in HEIF_SUFFIXES:
        return f"{path}: HEIC/HEIF needs the pillow-heif package (pip install pillow-heif)"
    return f"{path}: not a readable image"


def _nonempty_file(path: str | Path) -> Path:
    """``path`` as a Path, or ``FrameError``: a folder, no such file, an empty file."""
    path = Path(path)
    if path.is_dir():
        raise FrameError(f"{path}: a folder, not an image")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FrameError(f"{path}: no such file") from None
    except OSError as err:  # a link loop, a file the user may not read
        raise FrameError(f"{path}: cannot read it ({err.strerror})") from None
    if not path.is_file():  # a named pipe would block the decoder for ever
        raise FrameError(f"{path}: not a regular file")
    if size == 0:
        raise FrameError(f"{path}: empty file (0 bytes)")
    return path


def unstitched(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as it is, when it is a 360 camera's unstitched file (by its
    suffix: ``UNSTITCHED_360``), else ``None``."""
    what = UNSTITCHED_360.get(Path(path).suffix.lower())
    return None if what is None else f"{what[0]}, not yet stitched: export it as {what[1]} first"


def not_read(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as it is but can after an export or a remux (a 360 camera's
    unstitched file: :func:`unstitched`; a video in ``REMUX_FIRST``), else ``None``."""
    path = Path(path)
    if path.suffix.lower() not in REMUX_FIRST:
        return unstitched(path)
    what, box = REMUX_FIRST[path.suffix.lower()]
    out = shlex.quote(f"{path.stem}.{box.lower()}")
    remux = f"ffmpeg -i {shlex.quote(path.name)} -map 0:v -c copy {out}"
    return f"{what}, not read as it is: remux it to {box} first ({remux}), then give {out}"


def stretched(size: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether resizing ``(width, height)`` ``size`` to ``target`` changes its aspect ratio by more
    than 1 % (a portrait photo among landscape ones, a photo made 2:1): worth saying."""
    (w, h), (tw, th) = size, target
    return abs(w * th - h * tw) > 0.01 * h * tw


def probe_image(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from the header alone, upright by EXIF Orientation as
    :func:`read_image` returns it; what that refuses at once raises the same ``FrameError``."""
    path = _nonempty_file(path)
    heif = heif_opener()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="PIL")  # (as read_image)
            with Image.open(path) as im:
                # (libheif has turned a HEIF; a PNG's EXIF after its pixels would need a decode)
                header = im.format != "HEIF" and (im.format != "PNG" or "exif" in im.info)
                quarter = header and im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # (by 90 degrees)
                return (im.size[1], im.size[0]) if quarter else im.size
    except Image.DecompressionBombError as err:
        raise FrameError(_too_large(path, err, MAX_PIXELS)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, RuntimeError):
        raise FrameError(_unreadable(path, heif)) from None


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
    with atomic_write(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)):
            raise FrameError(f"{path}: could not write image")


# -- writing aside ------------------------------------------------------------------------------


def part_path(path: str | Path, tag: str = "") -> Path:
    """Where ``path`` is written before it is renamed into place: a hidden ``.NAME.partTAG.SUFFIX``
    beside it (the suffix kept, so encoders that go by the extension still know the format).

    ``tag`` makes the name unique to a writer (e.g. ``-PID``) where another process may still be
    writing the old one: an ffmpeg orphaned by a killed run finishes its file after the run died."""
    path = Path(path)
    return path.with_name(f".{path.name}.part{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_write(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Write ``path`` aside: yields the temporary path to write; on success it is renamed onto
    ``path`` (atomic on one file system), on any error it is removed, ``path`` left untouched.
    ``fsync=True`` flushes the file to disk before the rename (weights, resume state).
    """
    path = Path(path)
    tmp = part_path(path)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):  # a full disk, a file size limit: one line naming the file
            raise ViewsynthError(f"{path}: could not write it ({err.strerror or err})") from None
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def new_run_dir(parent: str | Path, stamp: str) -> Path:
    """Make and return a new folder ``parent/stamp``; ``stamp-2``, ``-3``... when it is taken.

    Two runs started in the same second would otherwise write into one folder, the second
    overwriting the first's results.
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        out = Path(parent) / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            out.mkdir()
            return out
        except FileExistsError:
            continue
    raise ViewsynthError(f"{parent}: a thousand runs are already named {stamp}")


# -- order --------------------------------------------------------------------------------------


def natural_key(name: str | Path) -> tuple:
    """Sort key of a file name (a ``Path`` sorts by its name) that orders ``img2`` before ``img10``:
    digit runs compare as numbers, the rest case-insensitively."""
    text = name.name if isinstance(name, Path) else str(name)
    parts = re.split(r"(\d+)", text.lower())
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts)


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
