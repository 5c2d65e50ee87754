"""What a photo's EXIF/XMP says about when, where and which way it was shot.

Read with Pillow only (``getexif``, ``get_ifd(0x8825)`` for GPS, ``getxmp`` for GPano, which
needs ``defusedxml``); HEIC/HEIF through pillow-heif's opener (``heif.heif_opener``), whose EXIF
and XMP blocks are the same as a JPEG's. Nothing here decodes pixels, and nothing here fails:
metadata is optional, so a tag that is missing, malformed or out of range reads as ``None``;
whether the file is a usable image at all is decided by ``viewsynth.frames.read_image``.

Conventions:
- Times are float seconds since 1970-01-01. ``gps_time`` and ``mapillary_time`` are UTC;
  ``exif_time`` is UTC when ``exif_offset`` was known, else the camera's local clock read as if it
  were UTC (comparable only with other local readings, never with UTC ones).
- Latitude and longitude in degrees, south and west negative (WGS84). ``altitude`` in metres
  above sea level (EXIF GPSAltitude, negative when GPSAltitudeRef is 1; Mapillary's
  ``MAPAltitude``), read only from the tags the position came from, and only with a position.
- ``heading`` is the compass bearing (degrees clockwise from north, [0, 360)) that the image
  centre faces: GPano ``PoseHeadingDegrees``, else EXIF ``GPSImgDirection``, else the
  ``MAPCompassHeading`` of Mapillary's JSON in ``ImageDescription``.
- ``pose_pitch`` and ``pose_roll``: GPano ``PosePitchDegrees`` (the image centre looks that far
  above the horizon, [-90, 90]) and ``PoseRollDegrees`` (the horizon turned that far
  counter-clockwise in the image, (-180, 180]): the camera's attitude, as Google's Photo Sphere
  XMP defines them (what is done with them: :mod:`~viewsynth.capture.orientation`).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from viewsynth.heif import heif_opener

# EXIF tag numbers (EXIF 2.32 / CIPA DC-008).
_IMAGE_DESCRIPTION = 0x010E
_MAKE, _MODEL = 0x010F, 0x0110
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_SUBSEC_TIME_ORIGINAL = 0x9291
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_GPS_ALT_REF, _GPS_ALT, _GPS_TIME, _GPS_STATUS = 5, 6, 7, 9
_GPS_IMG_DIRECTION, _GPS_DATE = 17, 29
_FOCAL_LENGTH, _FOCAL_35MM, _EXIF_WIDTH, _EXIF_HEIGHT = 0x920A, 0xA405, 0xA002, 0xA003
#: GPS dates before the system's epoch (1980-01-06) are no time: a receiver without a fix writes 1970.
FIRST_GPS_YEAR = 1980
_FOCAL_PLANE_X_RES, _FOCAL_PLANE_UNIT = 0xA20E, 0xA210
_BODY_SERIAL = 0xA431  # BodySerialNumber: tells two cameras of one model apart (clocks)
_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # inch (the default), cm, mm, micrometre
_FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


@dataclass(frozen=True)
class Metadata:
    """Tags of one image; every field is ``None`` when absent or unreadable."""

    gps_time: float | None = None  # GPSDateStamp + GPSTimeStamp, UTC seconds
    exif_time: float | None = None  # DateTimeOriginal + SubSecTimeOriginal (+ offset), seconds
    exif_offset: float | None = None  # OffsetTimeOriginal in seconds east of UTC
    mapillary_time: float | None = None  # MAPCaptureTime, UTC seconds
    lat: float | None = None  # degrees, south negative
    lon: float | None = None  # degrees, west negative
    altitude: float | None = None  # metres above sea level
    heading: float | None = None  # compass bearing of the image centre, degrees in [0, 360)
    heading_tag: str | None = None  # 'gpano' | 'gps' | 'mapillary': where heading came from
    projection_tag: str | None = None  # GPano ProjectionType, e.g. 'equirectangular'
    readable: bool = True  # False when Pillow could not even open the file
    focal_mm: float | None = None  # FocalLength, millimetres
    focal_35mm: float | None = None  # FocalLengthIn35mmFilm, millimetres
    focal_plane_px_per_mm: float | None = None  # FocalPlaneXResolution over its unit
    exif_width: int | None = None  # ExifImageWidth: the width the focal-plane resolution is for
    exif_height: int | None = None  # ExifImageHeight (both before the Orientation tag turns them)
    camera: str | None = None  # EXIF Make and Model: 'RICOH THETA S' (Make dropped if repeated)
    serial: str | None = None  # EXIF BodySerialNumber
    # GPano UsePanoramaViewer=True or FullPanoWidthPixels present: a photo sphere's tags.
    photo_sphere: bool = False
    # GPano CroppedAreaImageWidthPixels below FullPanoWidthPixels: a part of a sphere, no seam.
    cropped_panorama: bool = False
    # A photo sphere all the way round but not to the poles (a phone's, its top and bottom never
    # shot): GPano (CroppedAreaTopPixels, CroppedAreaImageHeightPixels, FullPanoHeightPixels).
    sphere_rows: tuple[float, float, float] | None = None
    pose_pitch: float | None = None  # GPano PosePitchDegrees, degrees above the horizon
    pose_roll: float | None = None  # GPano PoseRollDegrees, degrees counter-clockwise

    def focal_px(self, width: int, height: int) -> float | None:
        """Focal length in pixels of this photo shown at ``width`` x ``height``, or None.

        From the 35 mm equivalent (defined on the diagonal: 43.3 mm for 36 x 24 mm), else from
        the focal length and the focal-plane resolution (scaled when the image was resized).
        """
        if self.focal_35mm:
            return self.focal_35mm / _FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
        if self.focal_mm and self.focal_plane_px_per_mm:
            return self.focal_mm * self.focal_plane_px_per_mm * self._scale(width, height)
        return None

    def _scale(self, width: int, height: int) -> float:
        """How much the photo shown at ``width`` x ``height`` was resized from the pixels the
        focal-plane resolution is for. A portrait shot is stored landscape and turned by its
        Orientation tag: long sides are compared (or, with the width alone, the side nearest it)."""
        ew, eh = self.exif_width, self.exif_height
        if not ew:
            return 1.0
        if eh:
            return max(width, height) / max(ew, eh)
        return (width if abs(width - ew) <= abs(height - ew) else height) / ew

    @property
    def exif_local_time(self) -> float | None:
        """DateTimeOriginal on the camera's own clock, ignoring any offset."""
        if self.exif_time is None:
            return None
        return self.exif_time + (self.exif_offset or 0.0)


def read_metadata(path: str | Path) -> Metadata:
    """Time, position and heading tags of the image at ``path`` (no pixels decoded).

    Never raises for a bad file: an unreadable file gives an empty ``Metadata``.
    """
    heif_opener()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="PIL")  # "Corrupt EXIF data": the rest is read
            with Image.open(path) as im:
                exif = im.getexif()
                gps = dict(exif.get_ifd(_GPS_IFD))
                sub = dict(exif.get_ifd(_EXIF_IFD))
                description = exif.get(_IMAGE_DESCRIPTION)
                xmp = _safe_xmp(im)
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on broken files; metadata is optional
        return Metadata(readable=False)

    mapillary = _mapillary_json(description)
    lat, lon = _gps_position(gps)
    altitude = _gps_altitude(gps) if lat is not None else None
    if lat is None and mapillary:
        lat, lon = _mapillary_position(mapillary)
        altitude = _rational(mapillary.get("MAPAltitude")) if lat is not None else None
    exif_time, exif_offset = _exif_time(sub)

    heading, heading_tag = _number_in_range(_find_key(xmp, "PoseHeadingDegrees")), "gpano"
    if heading is None:
        heading, heading_tag = _number_in_range(_rational(gps.get(_GPS_IMG_DIRECTION))), "gps"
    if heading is None and mapillary:
        heading, heading_tag = _mapillary_heading(mapillary), "mapillary"
    projection = _find_key(xmp, "ProjectionType")
    full_width = _rational(_find_key(xmp, "FullPanoWidthPixels"))
    cropped_width = _rational(_find_key(xmp, "CroppedAreaImageWidthPixels"))
    viewer = str(_find_key(xmp, "UsePanoramaViewer") or "").strip().lower() == "true"

    return Metadata(
        gps_time=_gps_time(gps),
        exif_time=exif_time,
        exif_offset=exif_offset,
        mapillary_time=_mapillary_time(mapillary) if mapillary else None,
        lat=lat,
        lon=lon,
        altitude=altitude,
        heading=heading,
        heading_tag=heading_tag if heading is not None else None,
        projection_tag=str(projection).strip().lower() if isinstance(projection, str) else None,
        **_focal(sub),
        camera=_camera(exif.get(_MAKE), exif.get(_MODEL)),
        serial=_text(sub.get(_BODY_SERIAL)),
        photo_sphere=viewer or full_width is not None,
        cropped_panorama=bool(full_width and cropped_width and cropped_width < full_width),
        sphere_rows=_sphere_rows(xmp, full_width, cropped_width),
        pose_pitch=_bounded(_find_key(xmp, "PosePitchDegrees"), 90.0),
        pose_roll=_bounded(_find_key(xmp, "PoseRollDegrees"), 180.0),
    )


def _sphere_rows(
    xmp: Any, full_width: float | None, cropped_width: float | None
) -> tuple[float, float, float] | None:
    """GPano's rows of a photo sphere that is whole round and cut short of the poles, else None
    (widths not given: the whole way round, as the heights' fields alone say)."""
    full_height = _rational(_find_key(xmp, "FullPanoHeightPixels"))
    height = _rational(_find_key(xmp, "CroppedAreaImageHeightPixels"))
    top = _rational(_find_key(xmp, "CroppedAreaTopPixels")) or 0.0
    if not (full_height and height):
        return None
    full_width = full_width or 2.0 * full_height
    cropped_width = cropped_width or full_width
    round_ = abs(cropped_width - full_width) <= 1 and abs(full_width - 2 * full_height) <= 2
    if not round_ or height >= full_height or top < 0 or top + height > full_height + 1:
        return None
    return top, height, full_height


# -- helpers ------------------------------------------------------------------------------------


def _focal(sub: dict) -> dict:
    """The focal-length fields of :class:`Metadata` from the EXIF sub-IFD (positive or None)."""

    def positive(tag):
        value = _rational(sub.get(tag))
        return value if value is not None and value > 0 else None

    res, unit = positive(_FOCAL_PLANE_X_RES), sub.get(_FOCAL_PLANE_UNIT, 2)
    unit_mm = _PLANE_UNIT_MM.get(int(unit) if isinstance(unit, int) else 2)
    width, height = positive(_EXIF_WIDTH), positive(_EXIF_HEIGHT)
    return {
        "focal_mm": positive(_FOCAL_LENGTH),
        "focal_35mm": positive(_FOCAL_35MM),
        "focal_plane_px_per_mm": res / unit_mm if res and unit_mm else None,
        "exif_width": int(width) if width else None,
        "exif_height": int(height) if height else None,
    }


def _camera(make: Any, model: Any) -> str | None:
    """'Make Model' with runs of spaces folded; the Make left out when the Model repeats it."""
    make, model = (" ".join((_text(v) or "").split()) for v in (make, model))
    if model.casefold().startswith(make.casefold()):
        return model or None
    return f"{make} {model}".strip() or None


def _safe_xmp(im: Image.Image) -> dict:
    try:
        return im.getxmp() or {}
    except Exception:  # noqa: BLE001 - malformed XML, or defusedxml missing: no XMP then
        return {}


def _find_key(tree: Any, key: str) -> Any:
    """First value stored under ``key`` anywhere in Pillow's nested XMP dict/list tree."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 \t\r\n")
    return value or None


def _rational(value: Any) -> float | None:
    """An EXIF rational (or number, or numeric string) as a finite float."""
    try:
        out = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return out if math.isfinite(out) else None


def _bounded(value: Any, limit: float) -> float | None:
    """A number within [-limit, limit], else None (a tag out of its range is no tag)."""
    out = _rational(value)
    return out if out is not None and abs(out) <= limit else None


def _number_in_range(value: Any, low: float = 0.0, high: float = 360.0) -> float | None:
    out = _rational(value)
    if out is None or not low <= out <= high:
        return None
    return out % 360.0


def _dms(value: Any) -> float | None:
    """(degrees, minutes, seconds) rationals -> decimal degrees (also accepts one number)."""
    if isinstance(value, (tuple, list)):
        parts = [_rational(v) for v in value]
        if not parts or len(parts) > 3 or any(p is None for p in parts):
            return None
        return sum(p / 60.0**i for i, p in enumerate(parts))
    return _rational(value)


def _gps_position(gps: dict) -> tuple[float | None, float | None]:
    if _text(gps.get(_GPS_STATUS)) == "V":  # 'V' = void: the receiver had no fix
        return None, None
    lat, lon = _dms(gps.get(_GPS_LAT)), _dms(gps.get(_GPS_LON))
    if lat is None or lon is None:
        return None, None
    if (_text(gps.get(_GPS_LAT_REF)) or "N").upper().startswith("S"):
        lat = -lat
    if (_text(gps.get(_GPS_LON_REF)) or "E").upper().startswith("W"):
        lon = -lon
    return _valid_position(lat, lon)


def _valid_position(lat: float, lon: float) -> tuple[float | None, float | None]:
    # (0, 0) is what cameras write when they have no fix ("null island"), not a real place.
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        return None, None
    return lat, lon


def _gps_altitude(gps: dict) -> float | None:
    """GPSAltitude in metres, negative when GPSAltitudeRef says below sea level (1; Pillow reads
    the BYTE tag as ``b"\x01"``, or as 1 from some writers)."""
    alt = _rational(gps.get(_GPS_ALT))
    if alt is None:
        return None
    ref = gps.get(_GPS_ALT_REF)
    below = ref == 1 or (isinstance(ref, bytes) and ref[:1] == b"\x01")
    return -abs(alt) if below else alt


def _gps_time(gps: dict) -> float | None:
    date, hms = _text(gps.get(_GPS_DATE)), gps.get(_GPS_TIME)
    if date is None or not isinstance(hms, (tuple, list)) or len(hms) != 3:
        return None
    parts = [_rational(v) for v in hms]
    if any(p is None for p in parts):
        return None
    try:
        day = datetime.strptime(date.replace("-", ":")[:10], "%Y:%m:%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    h, m, s = parts
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61) or day.year < FIRST_GPS_YEAR:
        return None  # (1970-01-01: what a receiver without a fix writes; GPS began in 1980)
    return (day + timedelta(hours=h, minutes=m, seconds=s)).timestamp()


def _exif_time(sub: dict) -> tuple[float | None, float | None]:
    """(DateTimeOriginal + SubSec - offset, offset) in seconds; offset None when not recorded."""
    text = _text(sub.get(_DATETIME_ORIGINAL))
    if text is None:
        return None, None
    try:
        when = datetime.strptime(text.replace("-", ":")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # blank "    :  :     :  :  " dates of cameras with an unset clock
        return None, None
    seconds = when.replace(tzinfo=UTC).timestamp()
    subsec = _text(sub.get(_SUBSEC_TIME_ORIGINAL))
    if subsec and subsec.isdigit():
        seconds += int(subsec) / 10.0 ** len(subsec)
    offset = _parse_offset(_text(sub.get(_OFFSET_TIME_ORIGINAL)))
    if offset is not None:
        seconds -= offset
    return seconds, offset


def _parse_offset(text: str | None) -> float | None:
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text or "")
    if not match:
        return None
    sign = -1.0 if match.group(1) == "-" else 1.0
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


def _mapillary_json(description: Any) -> dict | None:
    text = _text(description)
    if not text or not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _mapillary_time(data: dict) -> float | None:
    text = data.get("MAPCaptureTime")
    if not isinstance(text, str):
        return None
    try:  # "2012_09_15_17_49_08_338": the last field is milliseconds
        when = datetime.strptime(text.strip(), "%Y_%m_%d_%H_%M_%S_%f")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC).timestamp()


def _mapillary_position(data: dict) -> tuple[float | None, float | None]:
    lat, lon = _rational(data.get("MAPLatitude")), _rational(data.get("MAPLongitude"))
    if lat is None or lon is None:
        return None, None
    return _valid_position(lat, lon)


def _mapillary_heading(data: dict) -> float | None:
    compass = data.get("MAPCompassHeading")
    if not isinstance(compass, dict):
        return None
    for key in ("TrueHeading", "MagneticHeading"):
        value = _number_in_range(compass.get(key))  # negative values mean "no reading"
        if value is not None:
            return value
    return None
