"""The metadata stages every capture goes through once its shots are read: ``finish``.

A list of shots in time order (from :mod:`~viewsynth.capture.folder` or
:mod:`~viewsynth.capture.video`) becomes a ``Capture``:

1. projection: ``capture.projection``, or 'auto': none 2:1 -> perspective, a mix is an error;
   2:1 frames by their metadata, else by their content (:mod:`~viewsynth.capture.projection`);
   perspective shots keep their field of view (``Shot.hfov``), panoramas lose it;
2. working size: the most common frame size (or the first's), capped at ``max_width``, exactly 2:1
   for panoramas; frames of another size are listed in one warning; photos of another aspect ratio
   (a portrait among landscapes) in another: ``iter_frames`` centre-crops them to the working
   size's, never stretches them, and their ``hfov`` becomes what the crop keeps;
3. GPS sanity (``track.check_gps``): positions implying more than ``max_speed`` are dropped;
   then a GPX track gives shots without a position one, and photos still without one between
   two that have one (at most 30 s apart) are placed between them by time (``fill_positions``);
4. segments: cut where consecutive shots are more than ``time_gap`` seconds apart (not for videos
   or file-name order, which have no capture clock; a video sampled by distance is cut where its
   track had no position: ``cuts``), then stationary duplicates dropped (shots whose picture
   shows the camera stood, :mod:`~viewsynth.capture.still`; mapillary_tools' rule), then cut
   where they are more than ``distance_gap`` metres apart; a shot left alone is skipped with the
   reason, and a segment always has at least two shots;
5. yaw (panoramas, ``align_heading``): ``heading.align_yaws`` turns each segment to face its
   direction of travel; ordinary photos and videos (``align_heading``) are not turned, but
   their shots without a heading tag take that direction, smoothed alike, as the compass
   bearing they face (``Shot.view_heading``): a forward-facing camera, as mapillary_tools
   assumes of images without one. ``Capture.heading_by`` says where the headings came from.

Skipped files are ``(file name, reason)``; warnings are one line each, and lists of names are cut
at ``track.NAMES_SHOWN`` with "(+N more)".
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from viewsynth.capture.gpx import GPX_MAX_GAP
from viewsynth.capture.heading import (
    MAX_TAG_DISAGREEMENT,
    align_yaws,
    haversine,
    odd_tags,
    travel_view,
)
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.projection import decide_projection
from viewsynth.capture.shape import aspect_crop, cropped_hfov
from viewsynth.capture.shot import DEFAULT_HFOV_BY, Capture, Shot
from viewsynth.capture.still import GPS_JITTER, Look, drop_still
from viewsynth.capture.track import (
    check_gps,
    check_order,
    drop_duplicates,
    fill_positions,
    list_names,
    split_by_distance,
    split_by_time,
    unfreeze,
)
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import is_equirect_shape, stretched
from viewsynth.geometry.pose import DEFAULT_HFOV_DEG


def finish(
    source_path: Path,
    kind: str,
    time_source: str,
    shots: list[Shot],
    options: CaptureOptions,
    skipped: list[tuple[str, str]],
    warnings: list[str],
    *,
    evidence: Sequence[tuple[str, str] | None] = (),
    scores: Sequence[float | None] = (),
    hfov_by: str = "unknown",
    geotag: Callable[[list[Shot]], tuple[list[Shot], list[str], str]] | None = None,
    untracked: tuple[str, str] = ("", ""),
    cuts: Collection[str] = (),
    gps_by: str = "",
    looks: Mapping[str, Look] | None = None,
    clocks: Sequence[dict] = (),
    alt_by: str = "sea level (EXIF GPSAltitude)",
) -> Capture:
    """Projection, working size, GPS checks, segments, duplicates and yaw: the metadata stages.

    ``evidence``: what the metadata says of the projection (per frame, or one for a video);
    ``scores``: the frames' seam scores; ``hfov_by``: where the shots' ``hfov`` came from;
    ``geotag``: gives shots without a position one (a GPX track), after the GPS check, and
    what their heights are above ("": ``alt_by``);
    ``untracked``: ``Capture``'s ``untracked`` and ``untracked_exiftool``; ``gps_by``: its own;
    ``cuts``: the shots that begin a segment (a video's first frame sampled by distance after a
    stretch without a position); ``looks``: each shot's
    picture against the last of another view (``still.StillWatch``), for ``drop_still``;
    ``clocks``, ``alt_by``: ``Capture``'s (the latter kept where a shot has a height).
    """
    decision = decide_projection(
        source_path, [(s.name, s.size) for s in shots], evidence, scores, options.projection
    )
    projection = decision.projection
    if decision.warning:
        warnings.append(decision.warning)
    if projection == "perspective":
        shots = [dataclasses.replace(s, rotation=None) for s in shots]
        unknown = all(s.hfov is None for s in shots)
        if options.hfov:  # the camera's, for the shots whose metadata has none
            shots = [dataclasses.replace(s, hfov=s.hfov or options.hfov) for s in shots]
        if options.hfov and unknown:
            hfov_by = f"capture.hfov={options.hfov:g} (no focal length in the metadata)"
        elif unknown:
            hfov_by = DEFAULT_HFOV_BY  # for photos and videos alike
            warnings.append(
                f"{source_path.name}: no focal length in the metadata (EXIF FocalLength"
                f"In35mmFilm, or a GoPro's GPMF field of view): geometry assumes a "
                f"{DEFAULT_HFOV_DEG:g} degree horizontal field of view (the camera's: --set "
                "capture.hfov=DEGREES)"
            )
    else:
        shots = [dataclasses.replace(s, hfov=None) for s in shots]
        hfov_by = ""
        if options.hfov:
            warnings.append(
                f"{source_path.name}: capture.hfov applies to ordinary photos and videos, not to "
                "these panoramas"
            )
    working_size, size_warnings = _working_size(shots, options, projection)
    warnings += size_warnings
    if projection == "perspective":
        shots = [
            dataclasses.replace(s, hfov=cropped_hfov(s.hfov, s.size, working_size)) for s in shots
        ]

    shots, gps_warnings = check_gps(shots, options.max_speed)
    warnings += gps_warnings
    own_fix = {s.name for s in shots if s.has_position}  # (not a GPX's: see ``unfreeze``)
    if geotag is not None:  # after the check: a shot whose own GPS jumped takes the track's
        shots, geotag_warnings, geotag_alt_by = geotag(shots)
        warnings += geotag_warnings
        alt_by = geotag_alt_by or alt_by
    if kind == "folder" and time_source != "filename":
        shots, fill_warnings = fill_positions(shots, GPX_MAX_GAP)
        warnings += fill_warnings
    if kind == "folder":
        warnings += check_order(shots)
    segments: list[list[Shot]] = []
    still_shots = still_stops = 0  # shots dropped as standing still, at how many stops
    # A video's sampling interval is not a gap, and file-name order has no times at all; nor is
    # the distance between a video's samples (its track has no jumps: ``clean_track`` dropped
    # them, and it has no positions across a lost fix), however far apart they are sampled.
    time_gap = options.time_gap if time_source not in ("filename", "video") else 0.0
    distance_gap = options.distance_gap if kind != "video" else 0.0
    for by_time in split_by_time(shots, time_gap, cuts):
        if len(by_time) < 2:
            reason = f"alone: more than capture.time_gap ({time_gap:g} s) from the shots around it"
            if cuts:  # (a video's: it has no time gap)
                reason = "alone: between stretches of the video without a position"
            skipped.append((by_time[0].name, reason))
            continue
        kept, stood, stops = drop_still(by_time, looks or {}, options.duplicate_angle)
        kept, dropped = drop_duplicates(
            kept, options.duplicate_distance, options.duplicate_angle, judged=looks or {}
        )
        skipped += stood + dropped
        still_shots, still_stops = still_shots + len(stood), still_stops + stops
        if kind == "folder" and time_source != "filename":  # (a video's: ``clean_track``)
            kept, frozen_warnings = unfreeze(kept, GPX_MAX_GAP, own_fix)
            warnings += frozen_warnings
        if len(kept) < 2:
            skipped.append((kept[0].name, "alone: the rest of its segment are duplicates of it"))
            continue
        pieces, split_warnings = split_by_distance(kept, distance_gap)
        warnings += split_warnings
        for piece in pieces:
            if len(piece) < 2:
                reason = (
                    f"alone: more than capture.distance_gap ({distance_gap:g} m) "
                    "from the shots around it"
                )
                skipped.append((piece[0].name, reason))
            else:
                segments.append(piece)
    if not segments:
        raise ViewsynthError(
            f"{source_path}: no two frames left to interpolate after cutting at gaps and dropping "
            f"duplicates ({list_names([f'{n} ({r})' for n, r in skipped])})"
        )
    if len(segments) > 1:
        warnings.append(_cuts_said(segments, time_gap, distance_gap))
    if still_shots:
        gps = f", GPS within {GPS_JITTER:g} m" if any(s.has_position for s in shots) else ""
        warnings.append(
            f"standing still: {still_shots} shot(s) dropped at {still_stops} stop(s), their pictures "
            f"the view before them again{gps} (capture.duplicate_images=false keeps them)"
        )
    if projection == "equirect" and options.align_heading:
        segments = [_align(segment, options, warnings) for segment in segments]
    elif options.align_heading:
        segments = [_forward(segment, options.heading_smoothing_metres) for segment in segments]
    dropped = [f"{name} ({reason})" for name, reason in skipped]
    if dropped:
        warnings.append(f"skipped {len(dropped)} file(s): {list_names(dropped)}")
    return Capture(
        source=source_path,
        kind=kind,
        projection=projection,
        time_source=time_source,
        working_size=working_size,
        segments=segments,
        skipped=skipped,
        warnings=warnings,
        max_pixels=options.max_pixels,
        projection_by=decision.by,
        hfov_by=hfov_by,
        untracked=untracked[0],
        untracked_exiftool=untracked[1],
        gps_by=gps_by if any(s.has_position for segment in segments for s in segment) else "",
        clocks=list(clocks),
        alt_by=alt_by if any(s.alt is not None for seg in segments for s in seg) else "",
        heading_by=_heading_by(segments, projection, options.heading_smoothing_metres),
    )


def wants_rotation(size: tuple[int, int], options: CaptureOptions) -> bool:
    """Whether a frame of ``size`` (w, h) may be a panorama, so its image rotation is measured."""
    if options.projection == "perspective":
        return False
    return options.projection == "equirect" or is_equirect_shape(*size)


def error_reason(err: FrameError, path: Path) -> str:
    """The part of a FrameError message after its "path: " prefix."""
    text, prefix = str(err), f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _working_size(
    shots: Sequence[Shot], options: CaptureOptions, projection: str
) -> tuple[tuple[int, int], list[str]]:
    """The one size every frame is brought to, and a warning naming the frames resized."""
    if options.working_size == "first":
        base = shots[0].size
    else:
        counts = Counter(s.size for s in shots)
        top = max(counts.values())
        base = next(s.size for s in shots if counts[s.size] == top)  # ties: the earliest
    width, height = base
    if options.max_width and width > options.max_width:
        height = max(1, int(round(height * options.max_width / width)))
        width = options.max_width
    if projection == "equirect":
        height = max(1, width // 2)  # panoramas exactly 2:1, whatever rounding the camera did
    target = (width, height)
    changed = [s for s in shots if s.size != target]
    if not changed:
        return target, []

    if len(changed) == len(shots) and len({s.size for s in shots}) == 1:
        w0, h0 = shots[0].size
        why = ["capture.max_width"] if options.max_width and w0 > options.max_width else []
        if projection == "equirect" and stretched((w0, h0), target):
            why.append(f"stretched to a panorama's 2:1, which {w0}x{h0} is not")
        return target, [
            f"every frame resized from {w0}x{h0} to {width}x{height} "
            f"({'; '.join(why) or 'panoramas made exactly 2:1'})"
        ]
    # photos of another shape are cut to the working size's (iter_frames), panoramas resized
    crops = [
        projection == "perspective" and aspect_crop(s.size, target)[2:] != s.size for s in changed
    ]
    cut = [s for s, crop in zip(changed, crops, strict=True) if crop]
    resized = [s for s, crop in zip(changed, crops, strict=True) if not crop]
    said = [_crop_warning(cut, target)] if cut else []
    if not resized:
        return target, said
    names = [
        f"{s.name} ({s.size[0]}x{s.size[1]}{', stretched' if stretched(s.size, target) else ''})"
        for s in resized
    ]
    note = (
        " (stretched: another aspect ratio than the capture's)"
        if any(stretched(s.size, target) for s in resized)
        else ""
    )
    return target, [
        f"frames resized to the working size {width}x{height}: {list_names(names)}{note}",
        *said,
    ]


def _crop_warning(cut: Sequence[Shot], target: tuple[int, int]) -> str:
    """One line naming the photos of another aspect ratio, what of each the crop keeps."""
    names = []
    for s in cut:
        (w, h), (_, _, kept_w, kept_h) = s.size, aspect_crop(s.size, target)
        share = 100.0 * kept_w * kept_h / (w * h)
        names.append(f"{s.name} ({w}x{h}: kept {kept_w}x{kept_h}, {share:.0f}%)")
    return (
        f"photos of another aspect ratio centre-cropped to {_ratio(*target)}, not stretched, then "
        f"resized to the working size {target[0]}x{target[1]}: {list_names(names)}"
    )


def _ratio(width: int, height: int) -> str:
    """``width`` : ``height`` as people say it ("4:3", "16:9"), else "1.85:1"."""
    common = math.gcd(width, height)
    if max(width, height) // common <= 32:
        return f"{width // common}:{height // common}"
    return f"{width / height:.3g}:1"


def _cuts_said(segments: Sequence[Sequence[Shot]], time_gap: float, distance_gap: float) -> str:
    """One line: the capture's videos and where it was cut (a long walk's pause, a lost fix)."""
    cuts = []
    for before, after in zip(segments, segments[1:], strict=False):
        a, b = before[-1], after[0]
        apart = []
        if a.time is not None and b.time is not None:
            apart.append(f"{b.time - a.time:.0f} s")
        if a.has_position and b.has_position:
            apart.append(f"{haversine(a.lat, a.lon, b.lat, b.lon):.0f} m")
        cuts.append(f"{a.name} | {b.name}" + (f" ({', '.join(apart)})" if apart else ""))
    gaps = [f"capture.time_gap {time_gap:g} s"] if time_gap > 0.0 else []
    gaps += [f"capture.distance_gap {distance_gap:g} m"] if distance_gap > 0.0 else []
    over = f" over {' or '.join(gaps)}" if gaps else ""
    return (
        f"cut into {len(segments)} videos (-seg00 .. -seg{len(segments) - 1:02d}) at gaps{over}: "
        f"{list_names(cuts)}"
    )


def _align(segment: list[Shot], options: CaptureOptions, warnings: list[str]) -> list[Shot]:
    odd = odd_tags([s.heading for s in segment], [s.rotation for s in segment])
    if odd:
        warnings.append(
            f"heading tags of {list_names([segment[i].name for i in odd])} disagree with the "
            f"pictures by more than {MAX_TAG_DISAGREEMENT:g} degrees: left out"
        )
    yaws, source = align_yaws(
        [s.heading for s in segment],
        [s.rotation for s in segment],
        [s.lat for s in segment],
        [s.lon for s in segment],
        smoothing=options.heading_smoothing_metres,
    )
    views = [None] * len(segment)
    if source.startswith("track"):  # the centre faces the smoothed travel direction: a bearing
        travel = travel_view(
            [s.lat for s in segment], [s.lon for s in segment], options.heading_smoothing_metres
        )
        views = [float(v) % 360.0 for v in travel]
    return [
        dataclasses.replace(s, yaw=float(y), yaw_source=source, view_heading=v)
        for s, y, v in zip(segment, yaws, views, strict=True)
    ]


def _forward(segment: list[Shot], smoothing: float) -> list[Shot]:
    """A segment of ordinary photos or a video's frames, each shot without a heading tag facing
    the direction of travel smoothed over ``smoothing`` metres (``travel_view``, as panoramas
    are turned to); a tag, where there is one, is the camera's own. Unchanged without a track."""
    travel = None
    if any(s.heading is None for s in segment):
        travel = travel_view([s.lat for s in segment], [s.lon for s in segment], smoothing)
    if travel is None:
        return segment
    return [
        s if s.heading is not None else dataclasses.replace(s, view_heading=float(v) % 360.0)
        for s, v in zip(segment, travel, strict=True)
    ]


def _heading_by(segments: Sequence[Sequence[Shot]], projection: str, smoothing: float) -> str:
    """``Capture.heading_by``: where the compass bearings the frames face came from, with how
    many shots each when not all ("" when none has one)."""
    shots = [s for segment in segments for s in segment]
    travel = sum(s.view_heading is not None for s in shots)
    tagged = sum(s.view_heading is None and s.heading is not None for s in shots)
    facing = "the panoramas turned to it" if projection == "equirect" else "a forward camera"
    track = f"GPS track, Gaussian sigma {smoothing:g} m; {facing}"
    said = []
    for count, what, how in (
        (tagged, "heading tags", []),
        (travel, "the direction of travel", [track]),
    ):
        notes = ([] if count == len(shots) else [f"{count} of {len(shots)} shots"]) + how
        if count:
            said.append(what + (f" ({'; '.join(notes)})" if notes else ""))
    return "; ".join(said)
