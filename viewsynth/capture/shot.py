"""The plain data a capture is made of: ``Shot`` (one frame's metadata) and ``Capture``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from viewsynth.frames import MAX_PIXELS
from viewsynth.geometry.pose import DEFAULT_HFOV_DEG

#: ``Capture.hfov_by`` of a perspective capture without a focal length: what its pairs use.
DEFAULT_HFOV_BY = f"default {DEFAULT_HFOV_DEG:g} degrees (no focal length in the metadata)"


@dataclass(frozen=True)
class Shot:
    """One usable frame of a capture: where it lives and what is known about it (no pixels)."""

    path: Path  # the image file, or the video file for video captures
    name: str  # file name, or "video.mp4#123" for frame 123 of a video
    size: tuple[int, int]  # (width, height) as decoded, EXIF orientation applied
    frame_index: int | None = None  # decoded frame number in the video (videos only)
    time: float | None = None  # seconds, on the capture's one clock (see Capture.time_source)
    lat: float | None = None  # degrees, south negative; None when unknown or judged wrong
    lon: float | None = None  # degrees, west negative
    # metres, the number its source gives (EXIF: above sea level; GoPro GPS5: above the WGS-84
    # ellipsoid; see the README's "Altitude"); None when unknown, never 0 for unknown. Only a
    # shot with a position has one.
    alt: float | None = None
    heading: float | None = None  # compass bearing of the image centre from tags, degrees
    # UTC seconds since 1970 when known: GPS time, EXIF time with its offset, Mapillary's time, or
    # for video frames the GPS track's time (else the MP4 creation time + the frame's time).
    utc: float | None = None
    # Panoramas: degrees the camera turned (right positive) since the capture's first frame,
    # measured from the pixels.
    rotation: float | None = None
    # Degrees to turn this panorama (right positive) so its centre faces the travel direction.
    yaw: float = 0.0
    yaw_source: str = "none"  # how yaw was found: see heading.align_yaws
    # The compass bearing its turned centre faces when the GPS track sets it (the smoothed travel
    # direction: a panorama turned to it, or an ordinary photo or video frame without a heading
    # tag, its camera taken to face forward; None: as the heading tag and yaw say, or unknown).
    view_heading: float | None = None
    # Perspective frames: horizontal field of view in degrees from the metadata (None: unknown),
    # of what iter_frames keeps of a photo of another shape (centre-cropped to the capture's).
    hfov: float | None = None
    # A photo sphere cut short of the poles (``Metadata.sphere_rows``): put back whole on decoding
    # (``shape.whole_sphere``); its ``size`` is the whole sphere's.
    sphere_rows: tuple[float, float, float] | None = None
    # Panoramas: (yaw, pitch, roll) degrees to turn it by on decoding, before ``yaw``, from its
    # orientation tags (``capture.orientation``: a video's prhd pose, GPano pitch and roll).
    orientation: tuple[float, float, float] | None = None
    # A video read for ``--spacing`` (``sampling.Picker``): metres along its GPS track from the
    # first frame with a position (a stretch without one that cuts it not counted); None otherwise.
    along: float | None = None
    # ... and whether the walkthrough shows it as it is (else only in-between frames are made of it).
    whole: bool | None = None

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass
class Capture:
    """A loaded capture: ordered segments of shots, plus what was skipped and why."""

    source: Path  # the folder or video given by the user
    kind: Literal["folder", "video"]
    projection: Literal["equirect", "perspective"]
    # Clock that ordered the frames: 'gps' (UTC), 'exif' (DateTimeOriginal: UTC where each
    # camera's offset is known, ``capture.clocks``, else local camera time), 'mapillary' (UTC), 'filename' (natural name order, no
    # times), 'video' (when the frame is shown: frame number / fps, or a variable rate's own times).
    time_source: Literal["gps", "exif", "mapillary", "filename", "video"]
    working_size: tuple[int, int]  # (width, height) every frame is brought to
    segments: list[list[Shot]]  # each in time order, at least two shots, interpolated separately
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    warnings: list[str] = field(default_factory=list)  # one line each, for the user
    max_pixels: int = MAX_PIXELS  # decode limit the frames were validated with (iter_frames)
    # Why ``projection`` was chosen, one line: "--projection", "XMP GPano ProjectionType=...",
    # "content: seam score 1.04 (...)", "shape: ..." (see capture.projection).
    projection_by: str = ""
    # Where the shots' ``hfov`` came from ("EXIF FocalLengthIn35mmFilm", "GPMF ZFOV ...",
    # ``DEFAULT_HFOV_BY``); "" for panoramas.
    hfov_by: str = ""
    # A video with no GPS track (no telemetry, no --gpx): the line of ``warnings`` that says so
    # (``locate.untracked``), for the job to add what else falls back for that one cause; else "".
    untracked: str = ""
    # ... and what ExifTool made of that video (``locate.untracked``'s ``exiftool``)
    untracked_exiftool: str = ""
    # Where the positions came from ("GoPro GPMF", "BlackVue DR900X Plus (...)", "--gpx ride.nmea",
    # "EXIF GPS"; "" when no frame has one), for the manifest
    gps_by: str = ""
    # A stereo video's layout ("top-bottom", "left-right"): its frames are cut to the left eye's
    # half when decoded (``shape.left_eye``); None for mono videos and photos.
    stereo: str | None = None
    # Each camera's EXIF clock against GPS time, for the manifest (``clocks.CameraClock.record``).
    clocks: list[dict] = field(default_factory=list)
    # What the shots' heights (``Shot.alt``) are above and what says so: "sea level (GPMF GPSA
    # MSLV)", "WGS-84 ellipsoid (GPMF GPS5/GPS9 (no GPSA))"; "" when no shot has one.
    alt_by: str = ""
    # Where the compass bearings the frames face (the manifest's ``heading``) came from: "heading
    # tags", "the direction of travel (GPS track, ...)", both with their shots' counts; "": none.
    heading_by: str = ""

    @property
    def hfov(self) -> float | None:
        """The median of the shots' fields of view (degrees); when none is known, the default the
        geometry assumes for their pairs (``DEFAULT_HFOV_DEG``); None for panoramas."""
        if self.projection != "perspective":
            return None
        known = sorted(s.hfov for s in self.shots if s.hfov is not None)
        return known[len(known) // 2] if known else DEFAULT_HFOV_DEG

    @property
    def equirect(self) -> bool:
        return self.projection == "equirect"

    @property
    def shots(self) -> list[Shot]:
        """All shots of all segments, in order."""
        return [shot for segment in self.segments for shot in segment]
