"""Which projection a capture is (equirect panorama or perspective photo), and its field of view.

The evidence, strongest first (``decide_projection``):

1. ``capture.projection`` (``--projection``) when it is not 'auto';
2. shape: no frame 2:1 -> perspective (a panorama is always 2:1); a mix of 2:1 and other frames is
   an error naming one of each;
3. metadata, for 2:1 frames: a photo's XMP GPano (``ProjectionType=equirectangular``, or
   ``UsePanoramaViewer``/``FullPanoWidthPixels`` of a photo sphere that is not cropped); a video's
   Spherical Video V1 (``GSpherical:Spherical``) or V2 (``sv3d``/``proj``) boxes, read by
   :func:`viewsynth.export.spherical.read_spherical`; a GoPro video's own lens projection (GPMF
   ``PRJT`` in the ``udta`` box: 'GPRO' or 'RECT' is a flat HERO-mode view, as the MAX writes in
   HERO mode); a known 360 camera (:data:`PANORAMA_CAMERAS`, from EXIF Make/Model or the GPMF
   camera name ``MINF``);
4. content: a panorama's first and last columns are neighbours on the sphere, so colours and edges
   run on across that seam; a perspective frame's do not. :func:`seam_score` is the mean |grey
   difference| between column 0 and column W-1 over the median one between neighbouring columns
   (about 1 on panoramas, several times more on photos); the capture's score is the median over
   its frames (robust to a few odd ones): below :data:`PANORAMA_BELOW` -> equirect, above
   :data:`PERSPECTIVE_ABOVE` -> perspective;
5. else (weak or no content evidence): 2:1 -> equirect, with one warning naming the capture and
   its score.

Measured seam scores, at most 1024 columns (capture medians, and the range over single frames):
the real 360 walks (real360_dev, the shipped samples) 0.78-1.08 (frames 0.60-2.45), the same
enlarged to 5760x2880 0.75-1.12; perspective street frames made 2:1 (Lund and Berlin crops,
udacity and GoPro HERO-mode video resized to 2048x1024) 6.75-55.4 (frames 3.50 and up).

Field of view of perspective captures, ``hfov`` in degrees (horizontal), per shot:
- photos: EXIF ``FocalLengthIn35mmFilm`` (matched on the 43.3 mm full-frame diagonal, which for a
  3:2 frame is ``2 atan(36 / (2 f35))``), else ``FocalLength`` with ``FocalPlaneXResolution`` and
  ``FocalPlaneResolutionUnit`` (:meth:`Metadata.focal_px`);
- GoPro videos: GPMF ``ZFOV`` (the mode's diagonal field of view, degrees) with ``VFOV`` (the lens
  mode letter) through :data:`GOPRO_LENS_MODES`. The sweep models a pinhole, so a fisheye mode
  (Wide, SuperView, HyperView, taken as equidistant: the radius grows with the angle; the last
  two are stretched, so this is an approximation) becomes the pinhole with its centre's focal
  length: the MAX's HERO-mode Wide, 137.4 degrees diagonal, is 92.4 degrees across its 848x480
  frame (119.6 by the fisheye's angle). On the benchmark's GoPro walk both scored alike, and
  every assumed focal length within 0.7-2x of the truth kept the geometry's gain (TRAINING_LOG.md,
  session 24);
- else None: the sweep then assumes ``geometry.pose.DEFAULT_HFOV_DEG`` and flags it; a warning
  says so once per capture.
A photo of another shape than the capture's working size (a portrait among landscapes, 16:9 among
4:3) is centre-cropped to its aspect ratio, never stretched, and its ``hfov`` becomes what the
crop keeps (:mod:`~viewsynth.capture.shape`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from viewsynth.boxes import iter_boxes
from viewsynth.capture.metadata import Metadata, read_metadata
from viewsynth.capture.shape import cropped_hfov
from viewsynth.capture.shot import Shot
from viewsynth.errors import ViewsynthError
from viewsynth.frames import is_equirect_shape

#: Camera models that shoot stitched 360 panoramas: a 2:1 frame from one of them is equirect.
#: Found case-insensitively in "Make Model" (EXIF; Insta360's Make is "Arashi Vision") or in
#: the GPMF camera name.
#: Not here: the GoPro MAX's HERO mode, a flat view, told apart by its GPMF ``PRJT``.
PANORAMA_CAMERAS = (
    "RICOH THETA",
    "GoPro MAX",
    "GoPro Fusion",
    "Insta360 ONE X",  # ONE X, ONE X2
    "Insta360 X3",
    "Insta360 X4",
    "Insta360 ONE RS",
    "QooCam",
    "KanDao QooCam",
)
#: GoPro GPMF ``VFOV`` letters -> (lens mode, how angle maps to the image). Source: GoPro's GPMF
#: documentation (gopro/gpmf-parser README, "VFOV": W wide, S SuperView, L linear, N narrow, H
#: HyperView, X max SuperView). Wide/SuperView/HyperView are fisheye-like: the angle grows about
#: linearly with the distance from the centre, so the horizontal angle is the diagonal one scaled
#: by width/diagonal; Linear and Narrow are rectilinear (pinhole).
GOPRO_LENS_MODES = {
    "W": ("Wide", "fisheye"),
    "S": ("SuperView", "fisheye"),
    "H": ("HyperView", "fisheye"),
    "X": ("Max SuperView", "fisheye"),
    "L": ("Linear", "rectilinear"),
    "N": ("Narrow", "rectilinear"),
}
#: Spherical Video V2 ``st3d`` stereo modes (None: mono, as without the box).
_STEREO_MODES = {None: None, 0: None, 1: "top-bottom", 2: "left-right", 4: "right-left"}
#: GPMF ``PRJT`` values of flat (non-360) views.
_FLAT_PROJECTIONS = ("GPRO", "RECT")
#: A capture's median seam score below this is a panorama, above PERSPECTIVE_ABOVE a photo.
PANORAMA_BELOW = 2.0
PERSPECTIVE_ABOVE = 3.0
#: Frames are scored on at most this many rows (every k-th row), enough for a stable median.
_SCORE_ROWS = 256
#: ... and at most this many columns (area-averaged): a panorama softer than its pixels (5.7K
#: from a camera, or enlarged) has small neighbouring differences beside an unchanged stitch, and
#: scored 2.5-5.5 at 5760 wide, a photo's by then; at 1024 columns 0.75-1.12 (session 22).
_SCORE_WIDTH = 1024


@dataclass(frozen=True)
class Decision:
    """What a capture is and why: ``projection`` 'equirect' | 'perspective', ``by`` one line."""

    projection: str
    by: str
    warning: str | None = None


@dataclass(frozen=True)
class VideoCamera:
    """What a video's container says about its camera (every field None when it says nothing)."""

    spherical: str | None = None  # "Spherical Video V2 (sv3d equirectangular)", ...
    camera: str | None = None  # GPMF MINF, e.g. "GoPro Max"
    gopro_projection: str | None = None  # GPMF PRJT, e.g. "GPRO" (flat) or "EACO"
    lens_mode: str | None = None  # GPMF VFOV letter, e.g. "W"
    diagonal_fov: float | None = None  # GPMF ZFOV, degrees
    frames: int | None = None  # the video track's sample count (stsz): the frames it holds
    damaged: bool = False  # an MP4/MOV whose boxes are cut short or broken (truncated?)
    stereo: str | None = None  # V2 st3d or V1 StereoMode: "top-bottom", "left-right", ...
    other_projection: str | None = None  # a 360 projection not read: "cubemap", "mesh" (V2 sv3d)
    pose: tuple[float, float, float] | None = None  # V2 prhd (yaw, pitch, roll), degrees, not 0


def seam_score(image: np.ndarray) -> float | None:
    """How unlike neighbours the first and last columns of ``image`` are: about 1 for a panorama.

    ``image``: ``(H, W, 3)`` (or ``(H, W)``) float in [0, 1] or uint8. Returns the mean |grey
    difference| between columns 0 and W-1 over the median of those between neighbouring columns;
    None for a frame without texture (nothing to compare) or narrower than 3 pixels.
    """
    image = np.asarray(image)
    rows = image[:: max(1, image.shape[0] // _SCORE_ROWS)]  # (and columns: at most _SCORE_WIDTH)
    grey = rows.mean(axis=2, dtype=np.float32) if rows.ndim == 3 else rows.astype(np.float32)
    if image.dtype == np.uint8:
        grey /= 255.0
    if grey.shape[1] < 3:
        return None
    if grey.shape[1] > _SCORE_WIDTH:
        grey = cv2.resize(grey, (_SCORE_WIDTH, grey.shape[0]), interpolation=cv2.INTER_AREA)
    typical = float(np.median(np.abs(np.diff(grey, axis=1)).mean(axis=0)))
    if typical < 1e-4:
        return None
    return float(np.abs(grey[:, 0] - grey[:, -1]).mean()) / typical


def image_evidence(meta: Metadata) -> tuple[str, str] | None:
    """(projection, why) that a photo's own tags state, or None when they state nothing."""
    if meta.projection_tag == "equirectangular" and not meta.cropped_panorama:
        return "equirect", "XMP GPano ProjectionType=equirectangular"
    if meta.projection_tag is None and meta.photo_sphere and not meta.cropped_panorama:
        return "equirect", "XMP GPano photo sphere (UsePanoramaViewer/FullPanoWidthPixels)"
    if meta.camera and _panorama_camera(meta.camera):
        return "equirect", f"EXIF camera {meta.camera} (a 360 camera)"
    return None


def video_evidence(camera: VideoCamera) -> tuple[str, str] | None:
    """(projection, why) that a video's container states, or None when it states nothing."""
    if camera.spherical:
        return "equirect", camera.spherical
    if camera.gopro_projection in _FLAT_PROJECTIONS:
        name = f"{camera.camera} " if camera.camera else ""
        return "perspective", f"GPMF PRJT={camera.gopro_projection} ({name}flat HERO mode)"
    if camera.camera and _panorama_camera(camera.camera):
        return "equirect", f"GPMF camera {camera.camera} (a 360 camera)"
    return None


def decide_projection(
    source: Path,
    sizes: Sequence[tuple[str, tuple[int, int]]],
    evidence: Sequence[tuple[str, str] | None],
    scores: Sequence[float | None],
    forced: str = "auto",
    setting: str = "capture.projection",
) -> Decision:
    """The projection of the capture at ``source`` (see the module docstring for the order).

    ``sizes``: (frame name, (w, h)) per frame; ``evidence``: per frame (or one for a video), what
    the metadata says (:func:`image_evidence`, :func:`video_evidence`); ``scores``: the frames'
    :func:`seam_score` (None where unknown); ``forced``: ``capture.projection`` (``setting``: the
    name the message gives it). Raises ``ViewsynthError`` for a mix of 2:1 and other frames under
    'auto'.
    """
    if forced != "auto":
        return Decision(forced, "--projection")
    shapes = [is_equirect_shape(*size) for _, size in sizes]
    if not any(shapes):
        flat = [why for projection, why in filter(None, evidence) if projection == "perspective"]
        round_ = [(name, why) for (name, _), e in zip(sizes, evidence, strict=False) if e
                  for projection, why in [e] if projection == "equirect"]  # fmt: skip
        if round_:  # a partial panorama (a phone's photo sphere left unfinished, a crop)
            name, why = round_[0]
            return Decision(
                "perspective",
                "shape: not 2:1",
                f"{source.name}: {name} is tagged a panorama ({why}) but is not 2:1: read as an "
                "ordinary photo (a part of a sphere? export the whole sphere, 2:1, to walk it in 360)",
            )
        return Decision("perspective", f"{flat[0]}; not 2:1" if flat else "shape: not 2:1")
    if not all(shapes):
        first_name, first = sizes[0]
        name, size = sizes[shapes.index(not shapes[0])]
        kinds = {True: "a 2:1 panorama", False: "not 2:1 (a photo)"}
        raise ViewsynthError(
            f"{source}: mixed projections: {name} ({size[0]}x{size[1]}) is "
            f"{kinds[not shapes[0]]} but {first_name} ({first[0]}x{first[1]}) is "
            f"{kinds[shapes[0]]}; remove one kind or set {setting}"
        )
    stated = [e for e in evidence if e is not None]
    if stated:
        kinds = {projection for projection, _ in stated}
        if len(kinds) == 1:
            projection, why = stated[0]
            if len(evidence) > 1:
                why += f" ({len(stated)} of {len(evidence)} frames)"
            return Decision(projection, why)
    known = [s for s in scores if s is not None]
    if known:
        score = float(np.median(known))
        rule = f"panorama < {PANORAMA_BELOW:g}, photo > {PERSPECTIVE_ABOVE:g}"
        what = f"seam score {score:.2f} ({rule}; median of {len(known)} frames)"
        if score < PANORAMA_BELOW:
            return Decision("equirect", f"content: {what}")
        if score > PERSPECTIVE_ABOVE:
            return Decision("perspective", f"content: {what}")
        reason = f"weak content evidence: {what}"
    elif stated:
        reason = "frames' tags disagree"
    else:
        reason = "no content evidence (frames without texture)"
    return Decision(
        "equirect",
        f"shape: 2:1 ({reason})",
        f"{source.name}: taken as an equirect panorama by its 2:1 shape, but {reason}; "
        "set capture.projection (--projection) if it is a perspective view",
    )


def decide_images(
    paths: Sequence[Path], images: Sequence[np.ndarray], forced: str = "auto"
) -> tuple[Decision, float | None, str]:
    """The projection of a few loose images (``viewsynth pair``), decided as for a capture, and
    their mean horizontal field of view (degrees, None when unknown or a panorama) with its source.

    ``images``: the decoded ``(H, W, 3)`` images of ``paths``; the first path names them, and its
    shape is theirs: a photo of another is centre-cropped to it, its field of view with it.
    """
    metas = [read_metadata(path) for path in paths]
    sizes = [
        (path.name, (im.shape[1], im.shape[0])) for path, im in zip(paths, images, strict=True)
    ]
    auto = forced == "auto"
    decision = decide_projection(
        paths[0],
        sizes,
        [image_evidence(meta) for meta in metas],
        [
            seam_score(im) if auto and is_equirect_shape(*size) else None
            for im, (_, size) in zip(images, sizes, strict=True)
        ],
        forced,
        "--projection",
    )
    if decision.projection == "equirect":
        return decision, None, ""
    found = [photo_hfov(meta, size) for meta, (_, size) in zip(metas, sizes, strict=True)]
    # each as the pair sees it: cut to the first image's shape when another (as pair does)
    found = [
        (cropped_hfov(hfov, size, sizes[0][1]), source)
        for (hfov, source), (_, size) in zip(found, sizes, strict=True)
    ]
    known = [(hfov, source) for hfov, source in found if hfov is not None]
    if not known:
        return decision, None, "unknown"
    return decision, sum(h for h, _ in known) / len(known), known[0][1]


def pair_hfov(shot0: Shot, shot1: Shot) -> float | None:
    """The field of view (degrees) to interpolate a pair with: the mean of the two shots' known
    ones (a zoom may differ between photos), None when neither is known (and for panoramas)."""
    known = [s.hfov for s in (shot0, shot1) if s.hfov is not None]
    return sum(known) / len(known) if known else None


def photo_hfov(meta: Metadata, size: tuple[int, int]) -> tuple[float | None, str]:
    """(horizontal field of view in degrees or None, its source) of a photo of ``size`` (w, h)."""
    focal = meta.focal_px(*size)
    if focal is None or focal <= 0:
        return None, "unknown"
    source = "EXIF FocalLengthIn35mmFilm" if meta.focal_35mm else "EXIF FocalLength/FocalPlane"
    return math.degrees(2.0 * math.atan(0.5 * size[0] / focal)), source


def video_hfov(camera: VideoCamera, size: tuple[int, int]) -> tuple[float | None, str]:
    """(horizontal field of view in degrees or None, its source) of a video of ``size`` (w, h)."""
    mode = GOPRO_LENS_MODES.get(camera.lens_mode or "")
    if camera.diagonal_fov is None or mode is None or not 0 < camera.diagonal_fov < 180:
        return None, "unknown"
    w, h = size
    half_diagonal = math.radians(camera.diagonal_fov) / 2.0
    name, kind = mode
    if kind == "fisheye":  # equidistant: the radius grows with the angle; its centre's focal
        focal = 0.5 * math.hypot(w, h) / half_diagonal
        how = "the pinhole of its centre's focal length"
    else:
        focal = 0.5 * math.hypot(w, h) / math.tan(half_diagonal)
        how = "pinhole"
    hfov = math.degrees(2.0 * math.atan(0.5 * w / focal))
    return hfov, f"GPMF ZFOV {camera.diagonal_fov:.1f} deg diagonal, {name} lens ({kind}; {how})"


def read_video_camera(path: Path) -> VideoCamera:
    """What the MP4/MOV at ``path`` says about its camera; an empty record for anything else."""
    from viewsynth.export.mp4 import read_moov, video_track
    from viewsynth.export.spherical import read_spherical

    spherical = None
    try:
        found = read_spherical(path)
    except (ViewsynthError, OSError, ValueError, struct.error):
        # not an ISO BMFF file (AVI, MKV, WebM: no boxes to read), or one that is cut short
        with open(path, "rb") as f:
            return VideoCamera(damaged=f.read(8)[4:8] == b"ftyp")
    v1, v2 = found["v1"] or {}, found["v2"] or {}
    if v2.get("projection") == "equirectangular":
        spherical = "Spherical Video V2 (sv3d equirectangular)"
    elif str(v1.get("Spherical", "")).strip().lower() == "true":
        spherical = "Spherical Video V1 (GSpherical:Spherical=true)"
    # st3d: 0 mono, 1 top-bottom, 2 left-right (the left eye first), 3 custom, 4 right-left
    stereo = _STEREO_MODES.get(v2.get("stereo_mode"), "custom")
    stereo = stereo or str(v1.get("StereoMode", "")).strip().lower() or None
    other = v2.get("projection") if v2.get("projection") in ("cubemap", "mesh") else None
    gpmf: dict[str, bytes] = {}
    frames = None
    try:
        moov, _, _ = read_moov(path)
        udta = moov.child("udta")
        gpmf = _gpmf_settings(_udta_child(udta.data, "GPMF")) if udta is not None else {}
        stsz = video_track(moov, str(path)).walk("mdia", "minf", "stbl", "stsz")
        # stsz: version and flags (4), sample_size (4), sample_count (4)
        frames = struct.unpack(">I", stsz.data[8:12])[0] if stsz is not None else None
    except (ViewsynthError, OSError, ValueError, struct.error):
        pass

    def text(key: str) -> str | None:
        raw = gpmf.get(key)
        value = raw.split(b"\0")[0].decode("ascii", "replace").strip() if raw else ""
        return value or None

    zfov = gpmf.get("ZFOV")
    diagonal = struct.unpack(">f", zfov[:4])[0] if zfov and len(zfov) >= 4 else None
    return VideoCamera(
        spherical=spherical,
        camera=text("MINF"),
        gopro_projection=text("PRJT"),
        lens_mode=text("VFOV"),
        diagonal_fov=diagonal if diagonal is not None and math.isfinite(diagonal) else None,
        frames=frames,
        stereo=None if stereo == "mono" else stereo,
        other_projection=other,
        pose=v2["pose_deg"] if any(v2.get("pose_deg") or ()) else None,
    )


def _udta_child(data: bytes, kind: str) -> bytes:
    """The payload of the first ``kind`` box among ``udta``'s children (b"" when none)."""
    for found, payload, stop in iter_boxes(data, "udta", cut_ok=True):
        if found == kind:
            return data[payload:stop]
    return b""


def _gpmf_settings(data: bytes) -> dict[str, bytes]:
    """The leaf KLV values of the first GPMF ``DEVC`` (a GoPro's global settings), raw bytes."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos + 8 <= len(data):
        key = data[pos : pos + 4].decode("latin-1")
        kind, size, repeat = (
            data[pos + 4],
            data[pos + 5],
            struct.unpack(">H", data[pos + 6 : pos + 8])[0],
        )
        body = data[pos + 8 : pos + 8 + size * repeat]
        pos += 8 + (size * repeat + 3) // 4 * 4
        if key == "DEVC" and kind == 0:
            return _gpmf_settings(body)
        if kind != 0:
            out.setdefault(key, body)
    return out


def _panorama_camera(name: str) -> bool:
    folded = " ".join(name.split()).casefold()
    return any(camera.casefold() in folded for camera in PANORAMA_CAMERAS)
