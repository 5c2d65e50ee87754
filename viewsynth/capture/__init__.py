"""The front of the pipeline: a user's capture -> ordered segments of shots -> frames and schedules.

    a folder (JPEG/PNG/HEIC) ──┐   tags (EXIF, GPS, GPano XMP, Mapillary JSON), decode once to
    or a video file ───────────┴─► validate, one clock, order, GPS sanity, time/distance gaps,
                                   stationary duplicates, working size, orientation tags (upright),
                                   yaw to the travel direction
                                   ─► Capture(segments=[[Shot, ...], ...], skipped, warnings)

Public API::

    options = CaptureOptions(...)                # the `capture:` config section (options.py)
    capture = load_capture(path, options)        # -> Capture; ViewsynthError if unusable
    for segment in capture.segments:             # each: list[Shot], >= 2 shots, time order
        schedule, warnings = schedule_segment(segment, factor=8, spacing=0.0)
        for shot, image in iter_frames(capture, segment):   # one decoded frame at a time
            ...                                  # image: (H, W, 3) float32 RGB [0, 1] at
                                                 # capture.working_size, turned upright by
                                                 # shot.orientation, then by shot.yaw
                                                 # (photos of another shape centre-cropped)

- ``Capture``: ``source`` (Path), ``kind`` ('folder' | 'video'), ``projection`` ('equirect' |
  'perspective') and ``projection_by`` (why: metadata, content or shape; ``projection``),
  ``hfov``/``hfov_by`` (perspective: median horizontal field of view, degrees, and its source),
  ``time_source`` ('gps' | 'exif' | 'mapillary' | 'filename' | 'video'),
  ``working_size`` (w, h), ``segments``, ``skipped`` [(file name, reason)], ``warnings`` [str].
- ``Shot``: ``path``, ``name``, ``size`` (w, h), ``frame_index`` (videos), ``time`` (s),
  ``lat``/``lon`` (degrees; None when unknown or judged wrong), ``utc`` (UTC seconds when known), ``heading`` (compass bearing of
  the image centre from tags), ``rotation`` (panoramas: image-measured turn since the first
  shot), ``yaw`` (degrees, positive = right, that make a panorama face the direction of travel;
  0 for perspective), ``yaw_source``, ``orientation`` (panoramas: (yaw, pitch, roll) degrees its
  tags turn it by on decoding, or None; ``orientation``), ``hfov`` (perspective: degrees from EXIF/GPMF, or None; of
  the centre a photo of another shape is cropped to).
- ``pair_hfov(shot0, shot1)``: the field of view a pair is interpolated with (``hfov=``).
- ``seam_score(image)``: how unlike neighbours a frame's first and last columns are (~1: panorama).
- ``schedule_segment(segment, factor=, spacing=, pace=)`` -> ([PairSchedule(index, times,
  distance)], warnings): times per neighbouring pair, t=0 is the pair's first shot, the last pair
  adds t=1; ``pace=schedule.video_pace(capture, options, factor)``: a variable-rate video's.
- ``estimate_yaw(prev, cur)``: degrees the content of panorama ``prev`` moved right in ``cur``.
- ``haversine(lat0, lon0, lat1, lon1)`` metres, ``bearing(...)`` compass degrees.

Modules, in the order a capture goes through them: ``load`` (``load_capture``, ``iter_frames``)
-> ``folder`` (listing, decoding once, one clock) or ``video`` (``sampling``: which frames) -> ``segments`` (projection,
working size, gaps, duplicates, yaw), using ``metadata`` (tags), ``projection`` (panorama or photo,
field of view), ``shape`` (photos of another shape: centre-cropped, their field of view narrowed),
``orientation`` (a panorama's tags turned upright: prhd, GPano), ``telemetry`` (a video's GPMF,
CAMM or BlackVue GPS track), ``gpx`` (geotagging by time from ``capture.gpx``: GPX or NMEA),
``locate`` (a video frame's position: telemetry, else the GPX), ``heights`` (a capture's own
heights against a GPX's: one datum, or one source's), ``track`` (times, GPS, splitting)
and ``heading`` (yaw); then ``schedule`` (in-between times per pair).

Rules (the reasons are in the modules): a folder's images are its direct children (hidden files
and viewsynth's own outputs where it wrote them ignored; other files skipped as "not an image");
each is decoded once by ``frames.read_image`` and skipped with that error's reason if it fails;
one time source for all frames (GPS, whole seconds refined by EXIF's fraction, EXIF, Mapillary,
file names); positions implying more than ``max_speed`` are dropped; segments end at
``time_gap`` seconds and ``distance_gap`` metres; stationary duplicates are dropped and listed.
"""

from viewsynth.capture.heading import align_yaws, bearing, estimate_yaw, haversine
from viewsynth.capture.load import iter_frames, load_capture
from viewsynth.capture.metadata import Metadata, read_metadata
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.projection import decide_projection, pair_hfov, seam_score
from viewsynth.capture.schedule import PairSchedule, frame_count, pair_times, schedule_segment
from viewsynth.capture.shot import Capture, Shot

__all__ = [
    "Capture",
    "CaptureOptions",
    "Metadata",
    "PairSchedule",
    "Shot",
    "align_yaws",
    "bearing",
    "estimate_yaw",
    "frame_count",
    "haversine",
    "iter_frames",
    "load_capture",
    "pair_times",
    "decide_projection",
    "pair_hfov",
    "read_metadata",
    "seam_score",
    "schedule_segment",
]
