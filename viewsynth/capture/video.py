"""A video file as a capture: which decoded frames become shots.

Decoding lives in :mod:`viewsynth.frames` (``iter_video``, ``video_info``). Where the container
lists its frames, they are chosen before anything is decoded (:mod:`~viewsynth.capture.sampling`)
and only those are decoded; an AVI without frame times is chosen as it decodes. Sampling keeps every
Nth decoded frame (``capture.every_frames``) or, with ``capture.every_seconds`` > 0, the first
frame at or after each multiple of S seconds of video time. A shot's ``time`` is when its frame
is shown (``sampling.FrameClock``: index over fps, or a variable-rate video's own frame times), its
``name`` ``"video.mp4#123"``. A decoding error after the first frame ends the
capture there with a warning; before it, it is an error naming the file.

Positions come from the video's own GPS telemetry (:mod:`~viewsynth.capture.telemetry`: GoPro
GPMF, Google CAMM, BlackVue; other cameras' through ExifTool, :mod:`~viewsynth.capture.exiftool`;
ignored with ``capture.use_gps`` false), interpolated at each frame's time, else from
``capture.gpx`` (a GPX or NMEA file) matched by UTC (the MP4 creation time + the frame's time +
``capture.gpx_offset``; :mod:`~viewsynth.capture.gpx`).
With ``capture.every_metres`` > 0 (mapillary_tools' video sample distance) the first frame at or
past each multiple of that many metres along the track is kept, so kept frames lie that far apart
on average whatever the speed (each within one frame's travel of its mark); frames without a
position are not kept. With ``--spacing`` as many metres, the frames it shows as they are and
those its in-between frames are made of (:mod:`~viewsynth.capture.sampling`). A video without telemetry is no error: its frames have no position, and
``every_metres`` falls back to every frame; one warning says both (:func:`~viewsynth.capture.locate.untracked`).

Whether the video is a panorama, and its field of view, come from its container (spherical boxes,
a GoPro's GPMF settings) or its sampled frames' content (:mod:`~viewsynth.capture.projection`).
A V2 ``prhd`` pose turns every frame as a player would (:mod:`~viewsynth.capture.orientation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from viewsynth.capture.gpx import outside_track
from viewsynth.capture.heading import band_yaw
from viewsynth.capture.locate import Locator
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.orientation import prhd_orientation, turned_band
from viewsynth.capture.projection import (
    VideoCamera,
    read_video_camera,
    seam_score,
    video_evidence,
    video_hfov,
)
from viewsynth.capture.sampling import FrameClock, Picker
from viewsynth.capture.segments import error_reason, finish, wants_rotation
from viewsynth.capture.shape import left_eye
from viewsynth.capture.shot import Capture, Shot
from viewsynth.capture.still import StillWatch, stop_places
from viewsynth.capture.telemetry import Fix
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import from_uint8, is_equirect_shape, iter_video, video_info

#: Frames a second ``--spacing``'s first pass compares to find a video's stops: to a fifth of a
#: second, at a sixth of the cost of a 30 fps video's every frame.
STOP_RATE = 5.0


def load_video(
    path: Path,
    options: CaptureOptions,
    *,
    spacing: float = 0.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Capture:
    """The capture in the video file ``path``: its frames chosen by time and place (where the
    container lists them, before anything is decoded), then only those decoded, one at a time.

    ``spacing`` (``--spacing``) equal to ``options.every_metres``: the frames shown as they are
    and those around each step between them, with their metres along the track
    (``sampling.Picker.exact``).
    ``progress(done, total)`` is told each frame decoded (``total``: None when not known before)."""
    fps, (width, height) = video_info(path)
    if width * height > options.max_pixels:
        raise FrameError(
            f"{path}: {width}x{height} frames are too large to decode safely "
            f"(limit {options.max_pixels} pixels)"
        )
    warnings: list[str] = []
    locate = Locator(path, options, warnings)
    clock = FrameClock.of(path, fps)
    camera = read_video_camera(path)
    _check_layout(path, camera, warnings)
    orientation = prhd_orientation(*camera.pose) if camera.pose else None
    hfov, hfov_by = video_hfov(camera, (width, height))
    scores: list[float | None] = []
    shots: list[Shot] = []
    prev_band, rotation = None, 0.0
    watch = StillWatch(options.duplicate_angle)
    decoded = 0
    exact = bool(clock.count) and spacing > 0.0 and locate.every_metres == spacing
    stood, read = {}, 0  # (exact: the frames at a stop, the frames decoded to find them)
    if exact and options.duplicate_images:
        stood, read = _stops(path, clock, locate, camera.stereo, hfov, options, progress)
    pick = Picker(locate, clock, options, locate.every_metres, exact, stood)
    chosen: dict[int, Fix | None] | None = None
    if clock.count:  # the container lists its frames: choose by time and place, decode those
        chosen = pick.choose(clock.count)
        stream = ((i, chosen[i], f) for i, f in iter_video(path, set(chosen)))
    else:  # (an AVI without frame times: chosen as they are decoded)
        stream = ((i, where, f) for i, f in iter_video(path) for keep, where in [pick(i)] if keep)
    try:
        for index, where, whole in stream:
            decoded = index + 1
            if progress is not None:
                progress(read + len(shots) + 1, None if chosen is None else read + len(chosen))
            frame = left_eye(whole, camera.stereo)
            h, w = frame.shape[:2]
            if options.projection == "auto" and is_equirect_shape(w, h):
                scores.append(seam_score(frame))
            item_rotation = None
            if options.duplicate_images and not exact:  # (exact: a mark's two frames look alike)
                pano = wants_rotation((w, h), options)
                watch.add(f"{path.name}#{index}", frame, equirect=pano, hfov=hfov)
            if wants_rotation((w, h), options):
                band = turned_band(from_uint8(frame), orientation)
                if prev_band is not None:
                    rotation -= band_yaw(prev_band, band)
                prev_band, item_rotation = band, rotation
            shots.append(
                Shot(
                    path=path,
                    name=f"{path.name}#{index}",
                    size=(w, h),
                    frame_index=index,
                    time=clock(index),
                    lat=where.lat if where else None,
                    lon=where.lon if where else None,
                    alt=where.alt if where else None,
                    utc=where.utc
                    if where and where.utc is not None
                    else locate.clock(clock(index)),
                    rotation=item_rotation,
                    hfov=hfov,
                    orientation=orientation if is_equirect_shape(w, h) else None,
                    along=pick.along_of.get(index),
                    whole=(index in pick.whole) if exact else None,
                )
            )
    except FrameError as err:
        if decoded == 0:
            raise ViewsynthError(
                f"{path}: no frame could be decoded ({error_reason(err, path)})"
            ) from None
        warnings.append(
            f"{path.name}: decoding stopped at frame {decoded}; using the frames before it"
        )
    else:  # a file cut short ends without an error, only sooner than its video track says
        shown = None if camera.frames is None else camera.frames - clock.cut
        missing = [i for i in chosen or {} if i >= decoded]
        if chosen is not None and not missing:  # (every frame wanted came: the decode went on)
            decoded = clock.count
        if missing:
            warnings.append(
                f"{path.name}: decoding ended before frame {missing[0]} of the {clock.count} its "
                "container lists (a truncated or damaged file?); using the frames before it"
            )
        elif camera.damaged or (shown is not None and decoded < shown):
            held = "its MP4 boxes are cut short" if camera.damaged else (
                f"its video track shows {shown}"
            )  # fmt: skip
            warnings.append(
                f"{path.name}: {decoded} frames decoded, but {held} (a truncated or damaged "
                "file?); using those"
            )
    pick.end(decoded)  # (chosen as decoded: the video's end)
    locate.check(path)
    if pick.lost:
        warnings.append(unplaced(path.name, pick.lost, options.every_metres, len(pick.cuts)))
    if locate.gpx:  # (frames with a position of the video's own were not asked of the GPX)
        asked = [s for s in shots if s.time in locate.gpx_asked]
        missed = [s.name for s in asked if not s.has_position]
        warnings += outside_track(locate.gpx_path, missed, len(asked))
    alt_by, mixed, lose = locate.heights([s.time for s in shots])
    if mixed:
        warnings.append(mixed)
        shots = [dataclasses.replace(s, alt=None) if s.time in lose else s for s in shots]
    if len(shots) < 2:
        if locate.every_metres > 0:
            how = f"every {options.every_metres:g} m"
        elif options.every_seconds > 0:
            how = f"every {options.every_seconds:g} s"
        else:
            how = f"every {options.every_frames} frames"
        # (--spacing: a video whose pictures stand still has no metres to sample)
        fix = "sample more often" if not stood else (
            f"its pictures stand still in {len(stood)} of them, so they add no metres; "
            "--set capture.duplicate_images=false counts the GPS's"
        )  # fmt: skip
        raise ViewsynthError(
            f"{path}: fewer than two usable frames ({len(shots)} sampled {how} from "
            f"{decoded} decoded frames; {fix})"
        )
    if exact:  # (the two frames around a step may lie centimetres apart: no stationary duplicates)
        options = dataclasses.replace(options, duplicate_distance=0.0)
    capture = finish(
        path, "video", "video", shots, options, [], warnings,
        evidence=[video_evidence(camera)], scores=scores, hfov_by=hfov_by,
        untracked=(locate.untracked, locate.exiftool),
        cuts={f"{path.name}#{i}" for i in pick.cuts}, gps_by=locate.gps_by(),
        looks=watch.looks, alt_by=alt_by,
    )  # fmt: skip
    return dataclasses.replace(capture, stereo=camera.stereo)


def _stops(
    path: Path,
    clock: FrameClock,
    locate: Locator,
    stereo: str | None,
    hfov: float | None,
    options: CaptureOptions,
    progress: Callable[[int, int | None], None] | None,
) -> tuple[dict[int, tuple[float, float, float | None]], int]:
    """``--spacing``'s first look at the video: ``STOP_RATE`` frames a second of those with a
    position decoded, their pictures compared as :mod:`~viewsynth.capture.still` does, and the
    frames at a stop (the frames between two compared ones at one stop too) each at the stop's
    place (``still.stop_places``), by frame index; and how many frames were decoded. The frames
    to keep are chosen after this, so a stop's GPS jitter adds no metres; a decoding error leaves
    the rest unjudged (the second pass says it)."""
    located = [i for i in range(clock.count) if locate(clock(i)) is not None]
    every = max(1, round(clock.fps / STOP_RATE))
    looked = sorted({*located[::every], *located[-1:]})
    watch = StillWatch(options.duplicate_angle)
    shots: list[Shot] = []
    try:
        for index, whole in iter_video(path, set(looked)):
            if progress is not None:
                progress(len(shots) + 1, len(looked))
            frame = left_eye(whole, stereo)
            size = frame.shape[1], frame.shape[0]
            name, fix = f"{path.name}#{index}", locate(clock(index))
            watch.add(name, frame, equirect=wants_rotation(size, options), hfov=hfov)
            shots.append(Shot(path, name, size, index, lat=fix.lat, lon=fix.lon, alt=fix.alt))
    except FrameError:
        pass
    places = stop_places(shots, watch.looks, options.duplicate_angle)
    stood = {s.frame_index: places[s.name] for s in shots if s.name in places}
    for a, b in zip(looked, looked[1:], strict=False):
        if a in stood and stood[a] == stood.get(b):  # (both at one stop: the frames between too)
            stood.update((i, stood[a]) for i in range(a + 1, b))
    return {i: stood[i] for i in located if i in stood}, len(shots)


def _check_layout(path: Path, camera: VideoCamera, warnings: list[str]) -> None:
    """Refuse a 360 projection other than equirect and a stereo layout that is not one of
    :func:`~viewsynth.capture.shape.left_eye`'s; a stereo video is walked in mono, with its left
    eye, said in ``warnings``."""
    if camera.other_projection:
        raise ViewsynthError(
            f"{path}: a {camera.other_projection} 360 video (Spherical Video V2 sv3d), not "
            "equirectangular: export it as an equirectangular MP4 first"
        )
    if camera.stereo not in (None, "top-bottom", "left-right", "right-left"):
        raise ViewsynthError(
            f"{path}: a stereo video of layout '{camera.stereo}' (its st3d or StereoMode tag): "
            "only top-bottom, left-right and right-left stereo can be read; export it as mono"
        )
    if camera.stereo:
        half = {"top-bottom": "top", "left-right": "left", "right-left": "right"}[camera.stereo]
        warnings.append(
            f"{path.name}: a {camera.stereo} stereo video: walked in mono, with its left eye "
            f"(the {half} half of each frame)"
        )


def unplaced(name: str, lost: list[tuple[float, float]], every_metres: float, cuts: int) -> str:
    """The one warning for the stretches of a video sampled by distance that have no position
    (``lost``: video seconds; ``cuts``: the segments begun after one)."""
    spans = [f"{_clock(a)}-{_clock(b)}" for a, b in lost]
    shown = ", ".join(spans[:4]) + (f" (+{len(spans) - 4} more)" if len(spans) > 4 else "")
    line = f"{name}: no GPS position for {sum(b - a for a, b in lost):.1f} s of the video ({shown}"
    line += f"), so none of it is sampled every {every_metres:g} m"
    return line + (f"; the walkthrough is cut there ({cuts + 1} segments)" if cuts else "")


def _clock(seconds: float) -> str:
    """Video time as a player shows it: ``"1:02.5"``, ``"1:00:02.5"``."""
    hours, rest = divmod(seconds, 3600.0)
    minutes, rest = divmod(rest, 60.0)
    text = f"{int(minutes)}:{rest:04.1f}"
    return f"{int(hours)}:{int(minutes):02d}:{rest:04.1f}" if hours else text
