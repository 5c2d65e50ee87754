"""Helpers for the capture tests: small images with real EXIF, GPS, XMP GPano and Mapillary tags."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from viewsynth.capture import Shot
from viewsynth.capture.heading import EARTH_RADIUS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
#: A starting point for synthetic tracks (Lund, where the real test capture was shot).
ORIGIN = (55.6982, 13.1954)


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random ``(H, W, 3)`` uint8 texture that wraps in x (a plausible tiny panorama)."""
    rng = np.random.default_rng(seed)
    shape = (height, width // 2 + 1, 3)
    spec = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    fx = np.arange(width // 2 + 1)[None, :, None]
    fy = np.fft.fftfreq(height)[:, None, None] * height
    spec /= 1.0 + (fx**2 + fy**2) ** 0.8  # a 1/f-like spectrum, as natural images have
    img = np.fft.irfft2(spec, s=(height, width), axes=(0, 1))
    img = (img - img.min()) / (img.max() - img.min())
    return np.round(img * 255).astype(np.uint8)


def plain_video(path: Path, n: int = 12, fps: int = 10, created: str | None = None) -> Path:
    """An ``n``-frame MP4 of 64x32 textures without telemetry; ``created``: its creation time
    (ISO 8601, e.g. ``"2024-05-01T10:00:00Z"``; None: ffmpeg writes none)."""
    import imageio.v2 as imageio

    params = [] if created is None else ["-metadata", f"creation_time={created}"]
    writer = imageio.get_writer(
        str(path), fps=fps, codec="libx264", macro_block_size=16, output_params=params
    )
    for i in range(n):
        writer.append_data(texture(64, 32, seed=i))
    writer.close()
    return path


def offset(lat: float, lon: float, east: float, north: float) -> tuple[float, float]:
    """The point ``east``/``north`` metres from (lat, lon) (small offsets, spherical Earth)."""
    dlat = math.degrees(north / EARTH_RADIUS)
    dlon = math.degrees(east / (EARTH_RADIUS * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = (value - deg - minutes / 60) * 3600
    return (float(deg), float(minutes), round(seconds, 4))


def xmp_gpano(heading: float) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:GPano="http://ns.google.com/photos/1.0/panorama/" '
        f'GPano:ProjectionType="equirectangular" GPano:PoseHeadingDegrees="{heading}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


def write_image(
    path: Path,
    pixels: np.ndarray | None = None,
    *,
    size: tuple[int, int] = (64, 32),
    seed: int = 0,
    position: tuple[float, float] | None = None,
    altitude: float | None = None,
    gps_time: datetime | None = None,
    exif_time: str | None = None,
    subsec: str | None = None,
    offset_time: str | None = None,
    mapillary: dict | None = None,
    gps_direction: float | None = None,
    pose_heading: float | None = None,
    focal_35mm: int | None = None,
    orientation: int | None = None,
    camera: tuple[str, str, str | None] | None = None,
) -> Path:
    """Write a JPEG (or PNG by suffix) with the given tags, as cameras and Mapillary write them
    (``altitude`` in metres: GPSAltitude, with GPSAltitudeRef 1 below sea level; ``orientation``:
    EXIF Orientation, e.g. 6 for a phone's portrait shot stored landscape; ``camera``: EXIF Make,
    Model and BodySerialNumber)."""
    if pixels is None:
        pixels = texture(size[0], size[1], seed)
    exif = Image.Exif()
    if mapillary is not None:
        exif[0x010E] = json.dumps(mapillary)
    if orientation is not None:
        exif[0x0112] = orientation
    if camera is not None:
        exif[0x010F], exif[0x0110] = camera[:2]
    gps = exif.get_ifd(0x8825)
    if position is not None:
        lat, lon = position
        gps[1], gps[2] = ("S" if lat < 0 else "N"), _dms(lat)
        gps[3], gps[4] = ("W" if lon < 0 else "E"), _dms(lon)
    if altitude is not None:
        gps[5], gps[6] = int(altitude < 0), abs(float(altitude))
    if gps_time is not None:
        gps[29] = gps_time.strftime("%Y:%m:%d")
        gps[7] = (
            float(gps_time.hour),
            float(gps_time.minute),
            gps_time.second + gps_time.microsecond / 1e6,
        )
    if gps_direction is not None:
        gps[16], gps[17] = "T", float(gps_direction)
    sub = exif.get_ifd(0x8769)
    if exif_time is not None:
        sub[0x9003] = exif_time
    if subsec is not None:
        sub[0x9291] = subsec
    if offset_time is not None:
        sub[0x9011] = offset_time
    if focal_35mm is not None:
        sub[0xA405] = focal_35mm
    if camera is not None and camera[2] is not None:
        sub[0xA431] = camera[2]
    kwargs = {"exif": exif.tobytes()}  # bytes: PNG drops an Exif object whose IFD0 is empty
    if pose_heading is not None:
        kwargs["xmp"] = xmp_gpano(pose_heading)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        kwargs["quality"] = 95
    Image.fromarray(pixels).save(path, **kwargs)
    return path


def shot(
    name: str, *, east: float | None = None, north: float = 0.0, time: float | None = None, **kw
) -> Shot:
    """A Shot at ``east``/``north`` metres from ``ORIGIN`` (no position when ``east`` is None)."""
    lat = lon = None
    if east is not None:
        lat, lon = offset(*ORIGIN, east, north)
    return Shot(path=Path(name), name=name, size=(64, 32), time=time, lat=lat, lon=lon, **kw)
