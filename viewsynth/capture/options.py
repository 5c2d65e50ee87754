"""``CaptureOptions``: the ``capture:`` section of a config (how a capture is read and scheduled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from viewsynth import config as config_lib
from viewsynth.capture.heading import HEADING_SMOOTHING, SHOT_METRES
from viewsynth.errors import ConfigError
from viewsynth.frames import MAX_PIXELS

TIME_SOURCES = ("auto", "gps", "exif", "mapillary", "filename")


@dataclass(frozen=True)
class CaptureOptions:
    """How a capture folder or video becomes ordered segments of shots, and how often to sample.

    Gap and duplicate defaults follow mapillary_tools (60 s, 0.1 m, 5 deg) except the distance gap:
    mapillary_tools cuts at 600 m, but interpolating across more than a few tens of metres only
    makes a blur, so a segment ends at 30 m.
    """

    # 'auto': no frame 2:1 -> 'perspective', a mix is an error; 2:1 frames by their metadata (XMP
    # GPano, a 360 camera, an MP4's spherical boxes, a GoPro's lens projection), else by whether
    # their left and right edges meet, else 'equirect' with a warning (capture/projection.py).
    projection: Literal["auto", "equirect", "perspective"] = "auto"
    # Which clock orders the frames; 'auto' picks the best one that every usable frame has
    # (GPS time, then EXIF DateTimeOriginal, then Mapillary's MAPCaptureTime, then file names).
    time_source: Literal["auto", "gps", "exif", "mapillary", "filename"] = "auto"
    # Seconds between consecutive shots that start a new segment (0: never split on time).
    time_gap: float = 60.0
    # Metres between consecutive shots that start a new segment (0: never split on distance).
    distance_gap: float = 30.0
    # A shot within this many metres of the previous kept one is a stationary duplicate (0: keep all).
    duplicate_distance: float = 0.1
    # ... unless its heading differs from that shot's by at least this many degrees.
    duplicate_angle: float = 5.0
    # Also drop shots whose picture shows the previous kept shot's view again, the camera not
    # moved (capture/still.py), with GPS, if any, within its jitter: a stop at a crossing (a
    # video read for --spacing: its frames at a stop count no metres).
    duplicate_images: bool = True
    # Metres per second between shots above which GPS positions are treated as wrong (0: no check).
    max_speed: float = 50.0
    # False ignores the camera's own GPS positions (a ``gpx`` track still geotags): without a GPX,
    # no distance gaps, duplicates, spacing or GPS track.
    use_gps: bool = True
    # Working size of every frame: the most common size in the capture, or the first frame's.
    working_size: Literal["common", "first"] = "common"
    # Cap on the working width in pixels, aspect kept (0: no cap).
    max_width: int = 0
    # Refuse to decode images with more pixels than this (decompression bombs, absurd sizes).
    max_pixels: int = MAX_PIXELS
    # Ordinary photos and videos: the camera's horizontal field of view in degrees where their
    # metadata gives none (a dashcam's, a phone video's); 0: 60, warned (geometry.pose).
    hfov: float = 0.0
    # Video captures: keep every Nth decoded frame ...
    every_frames: int = 1
    # ... or one frame every S seconds of video (0: use every_frames) ...
    every_seconds: float = 0.0
    # ... or one frame every M metres along the video's GPS track (0: off; as mapillary_tools'
    # video sample distance; needs GPS from the video's telemetry or capture.gpx).
    every_metres: float = 0.0
    # A GPX track or NMEA log (file path) that geotags, by time, the photos or video frames without GPS.
    gpx: str = ""
    # Seconds added to the capture's times before matching them to the GPX (the camera clock's
    # error: a camera 3 s slow needs 3; one on local time UTC+2 without an offset tag, -7200).
    # Not 0: the offsets measured per camera from photos with GPS time (``clocks``) are not used.
    gpx_offset: float = 0.0
    # Turn panoramas so their centre faces the direction of travel (False: as shot, yaw 0), and
    # take that direction as the heading of ordinary photos and video frames without a heading
    # tag, as a forward camera's (False: a tag's or none; a sideways or rear camera).
    align_heading: bool = True
    # Gaussian sigma, in metres along the GPS track, of the smoothing of the viewing direction (the
    # direction of travel) along a segment, however densely its shots lie; a segment without a
    # track smooths the camera's direction over this / 2.5 shots (heading.SHOT_METRES).
    heading_smoothing_metres: float = HEADING_SMOOTHING

    #: Settings gone, each with what replaced it: an old config naming one is an error that says
    #: so, never read as something else.
    RETIRED: ClassVar[dict[str, str]] = {
        "heading_smoothing": (
            "was a number of shots; it is now heading_smoothing_metres, metres along the GPS "
            f"track (shots x metres between shots; the old default 2 is {HEADING_SMOOTHING:g} "
            f"m at a shot every {SHOT_METRES:g} m)"
        ),
    }

    def video_sampling(self) -> str:
        """The video sampling set (``"capture.every_seconds=2"``; at most one can be), '' when
        every frame is kept: photo folders use every photo whatever it says."""
        if self.every_metres > 0.0:
            return f"capture.every_metres={self.every_metres:g}"
        if self.every_seconds > 0.0:
            return f"capture.every_seconds={self.every_seconds:g}"
        if self.every_frames != 1:
            return f"capture.every_frames={self.every_frames}"
        return ""

    def __post_init__(self) -> None:
        config_lib.check_fields(self)
        if self.projection not in ("auto", "equirect", "perspective"):
            raise ConfigError(
                f"projection must be 'auto', 'equirect' or 'perspective', got {self.projection!r}"
            )
        if self.time_source not in TIME_SOURCES:
            raise ConfigError(
                f"time_source must be one of {', '.join(TIME_SOURCES)}, got {self.time_source!r}"
            )
        if self.working_size not in ("common", "first"):
            raise ConfigError(
                f"working_size must be 'common' or 'first', got {self.working_size!r}"
            )
        for name in (
            "time_gap",
            "distance_gap",
            "duplicate_distance",
            "duplicate_angle",
            "max_speed",
            "every_seconds",
            "every_metres",
            "heading_smoothing_metres",
        ):
            value = getattr(self, name)
            if not value >= 0.0:  # also rejects NaN
                raise ConfigError(f"{name} must be 0 or more, got {value}")
        if self.duplicate_angle > 180.0:
            raise ConfigError(
                f"duplicate_angle must be at most 180 degrees, got {self.duplicate_angle}"
            )
        if self.max_width < 0 or self.max_width == 1:
            raise ConfigError(
                f"max_width must be 0 (no cap) or at least 2 pixels, got {self.max_width}"
            )
        if not (self.hfov == 0.0 or 1.0 <= self.hfov < 180.0):  # (also NaN)
            raise ConfigError(f"hfov must be 0 (unknown) or degrees in [1, 180), got {self.hfov}")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be at least 1, got {self.max_pixels}")
        if self.every_frames < 1:
            raise ConfigError(f"every_frames must be at least 1, got {self.every_frames}")
        if self.every_seconds > 0.0 and self.every_frames != 1:
            raise ConfigError(
                f"set every_frames ({self.every_frames}) or every_seconds ({self.every_seconds}), "
                "not both"
            )
        if self.every_metres > 0.0 and (self.every_frames != 1 or self.every_seconds > 0.0):
            raise ConfigError(
                f"set every_metres ({self.every_metres}) or every_frames/every_seconds, not both"
            )
        if self.gpx_offset != self.gpx_offset:  # NaN
            raise ConfigError("gpx_offset must be a number of seconds, got nan")
