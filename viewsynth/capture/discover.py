"""Loading a capture (a folder of images or a video) into ordered segments, and streaming its frames.

``load_capture`` reads every image's tags, orders the frames on one clock, decodes each image once
to validate it (keeping only its size and, for panoramas, an image-measured rotation), then splits,
deduplicates and aligns. ``iter_frames`` later decodes a segment one frame at a time.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from viewsynth.capture.heading import align_yaws, band_yaw, horizon_band
from viewsynth.capture.metadata import Metadata, read_metadata
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.shot import Capture, Shot
from viewsynth.capture.track import (
    capture_times,
    check_gps,
    drop_duplicates,
    pick_time_source,
    split_by_distance,
    split_by_time,
)
from viewsynth.capture.video import sampled
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    from_uint8,
    is_equirect_shape,
    iter_video,
    natural_key,
    read_image,
    resize,
    video_info,
)
from viewsynth.geometry import yaw_roll_columns

_NAMES_SHOWN = 8  # file names listed in one warning line before "+N more"


def load_capture(path: str | Path, options: CaptureOptions | None = None) -> Capture:
    """Read the capture at ``path`` (a folder of JPEG/PNG images, or a video file).

    Raises ``ViewsynthError`` naming the path when it is missing, holds no images, or leaves fewer
    than two usable frames; bad or duplicate frames are skipped and listed in ``Capture.skipped``.
    """
    options = options or CaptureOptions()
    path = Path(path)
    if not path.exists():
        raise ViewsynthError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_folder(path, options)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return _load_video(path, options)
    if suffix in IMAGE_SUFFIXES:
        raise ViewsynthError(
            f"{path}: a single image is not a capture; give the folder that holds the images"
        )
    raise ViewsynthError(
        f"{path}: not a capture (expected a folder of JPEG/PNG images or a video: "
        f"{', '.join(VIDEO_SUFFIXES)})"
    )


def iter_frames(
    capture: Capture, segment: Sequence[Shot], *, apply_yaw: bool = True
) -> Iterator[tuple[Shot, np.ndarray]]:
    """Yield ``(shot, image)`` for each shot of ``segment`` in order, decoding one at a time.

    ``image`` is ``(H, W, 3)`` float32 RGB in [0, 1] at ``capture.working_size``; panoramas come
    already turned by ``shot.yaw`` (whole columns) when ``apply_yaw``, so their centre faces the
    direction of travel and consecutive frames share an orientation. Raises ``FrameError`` if a
    file stopped being readable since ``load_capture``.
    """
    width, height = capture.working_size

    def prepare(shot: Shot, image: np.ndarray) -> np.ndarray:
        image = resize(image, width, height)
        if apply_yaw and capture.equirect and shot.yaw:
            image = np.roll(image, yaw_roll_columns(width, shot.yaw), axis=1)
        return image

    if capture.kind == "video":
        by_index = {shot.frame_index: shot for shot in segment}
        for index, frame in iter_video(capture.source, set(by_index)):
            shot = by_index[index]
            yield shot, prepare(shot, from_uint8(frame))
        return
    for shot in segment:
        yield shot, prepare(shot, read_image(shot.path, max_pixels=capture.max_pixels).image)


# -- folders --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Checked:
    """An image that decoded: what ``load_capture`` keeps of it (never its pixels)."""

    path: Path
    meta: Metadata
    size: tuple[int, int]
    rotation: float | None = None


def _load_folder(folder: Path, options: CaptureOptions) -> Capture:
    images, skipped, subfolders = [], [], False
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith("."):
            continue  # hidden files: .DS_Store, ._IMG_0001.JPG resource forks, editor temp files
        if entry.is_dir():
            subfolders = True
            skipped.append((entry.name, "a folder (captures are not searched recursively)"))
        elif entry.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((entry.name, "not an image"))
        else:
            images.append(entry)
    if not images:
        hint = " (it has sub-folders: give one of them)" if subfolders else ""
        raise ViewsynthError(f"{folder}: no JPEG or PNG images in this folder{hint}")

    metas = {p: read_metadata(p) for p in images}
    # Decode in (tentative) time order so each panorama's rotation is measured against the frame
    # before it; the order is final unless a frame that failed to decode was the only one lacking
    # a better clock.
    openable = [metas[p] for p in images if metas[p].readable]
    tentative = pick_time_source(openable) if options.time_source == "auto" else options.time_source
    order = _order(images, [metas[p] for p in images], tentative)
    warnings: list[str] = []
    checked = _check_images(order, metas, options, skipped, warnings)
    if len(checked) < 2:
        raise _too_few(folder, len(checked), len(images), skipped)
    source = _pick_source(
        folder, options, [c.meta for c in checked], [c.path.name for c in checked]
    )
    if source != tentative:
        checked = [
            checked[i]
            for i in _order_indices([c.path for c in checked], [c.meta for c in checked], source)
        ]
        if any(c.rotation is not None for c in checked):
            _measure_rotations(checked, options)

    times, time_warnings = capture_times([c.meta for c in checked], source)
    warnings += time_warnings
    shots = []
    for c, time in zip(checked, times, strict=True):
        use = options.use_gps and c.meta.lat is not None
        shots.append(
            Shot(
                path=c.path,
                name=c.path.name,
                size=c.size,
                time=time,
                lat=c.meta.lat if use else None,
                lon=c.meta.lon if use else None,
                heading=c.meta.heading,
                rotation=c.rotation,
            )
        )
    return _finish(folder, "folder", source, shots, options, skipped, warnings)


def _pick_source(
    folder: Path, options: CaptureOptions, metas: Sequence[Metadata], names: Sequence[str]
) -> str:
    if options.time_source == "auto":
        return pick_time_source(metas)
    if options.time_source != "filename":
        for meta, name in zip(metas, names, strict=True):
            if getattr(meta, f"{options.time_source}_time") is None:
                raise ViewsynthError(
                    f"{folder}: capture.time_source is '{options.time_source}' but {name} has no "
                    f"{options.time_source} time (use 'auto')"
                )
    return options.time_source


def _order_indices(paths: Sequence[Path], metas: Sequence[Metadata], source: str) -> list[int]:
    times, _ = capture_times(metas, source)

    def key(i: int):
        # Missing times (files that will fail to decode, in the tentative order) sort last;
        # ties go by natural name order.
        t = times[i]
        return (t is None, t if t is not None else 0.0, natural_key(paths[i].name))

    return sorted(range(len(paths)), key=key)


def _order(paths: Sequence[Path], metas: Sequence[Metadata], source: str) -> list[Path]:
    return [paths[i] for i in _order_indices(paths, metas, source)]


def _wants_rotation(size: tuple[int, int], options: CaptureOptions) -> bool:
    if options.projection == "perspective":
        return False
    return options.projection == "equirect" or is_equirect_shape(*size)


def _check_images(
    order: Sequence[Path],
    metas: dict[Path, Metadata],
    options: CaptureOptions,
    skipped: list[tuple[str, str]],
    warnings: list[str],
) -> list[_Checked]:
    """Decode every image once: skip the bad ones, keep sizes and panorama rotations."""
    checked: list[_Checked] = []
    notes: dict[str, list[str]] = {}
    prev_band, rotation = None, 0.0
    for path in order:
        try:
            decoded = read_image(path, max_pixels=options.max_pixels)
        except FrameError as err:
            skipped.append((path.name, _reason(err, path)))
            continue
        for note in decoded.notes:
            notes.setdefault(note, []).append(path.name)
        h, w = decoded.image.shape[:2]
        item = _Checked(path, metas[path], (w, h))
        if _wants_rotation((w, h), options):
            band = horizon_band(decoded.image)
            if prev_band is not None:
                # Content moving right by d degrees means the camera turned left by d.
                rotation -= band_yaw(prev_band, band)
            prev_band, item.rotation = band, rotation
        checked.append(item)
    for note, names in notes.items():
        warnings.append(f"{note}: {_names(names)}")
    return checked


def _measure_rotations(checked: list[_Checked], options: CaptureOptions) -> None:
    """Re-measure panorama rotations after a change of order (decodes the images again)."""
    prev_band, rotation = None, 0.0
    for item in checked:
        item.rotation = None
        if not _wants_rotation(item.size, options):
            continue
        band = horizon_band(read_image(item.path, max_pixels=options.max_pixels).image)
        if prev_band is not None:
            rotation -= band_yaw(prev_band, band)
        prev_band, item.rotation = band, rotation


def _reason(err: FrameError, path: Path) -> str:
    """The part of a FrameError message after its "path: " prefix."""
    text, prefix = str(err), f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} (+{more} more)" if more > 0 else shown


def _too_few(
    path: Path, usable: int, total: int, skipped: Sequence[tuple[str, str]]
) -> ViewsynthError:
    bad = [f"{name} ({reason})" for name, reason in skipped if reason != "not an image"]
    detail = f"; skipped: {_names(bad)}" if bad else ""
    return ViewsynthError(
        f"{path}: fewer than two usable frames ({usable} of {total} images could be read{detail})"
    )


# -- videos ---------------------------------------------------------------------------------------


def _load_video(path: Path, options: CaptureOptions) -> Capture:
    fps, (width, height) = video_info(path)
    if width * height > options.max_pixels:
        raise FrameError(
            f"{path}: {width}x{height} frames are too large to decode safely "
            f"(limit {options.max_pixels} pixels)"
        )
    warnings: list[str] = []
    shots: list[Shot] = []
    prev_band, rotation = None, 0.0
    decoded = 0
    try:
        for index, frame in iter_video(path):
            decoded = index + 1
            if not sampled(index, fps, options.every_frames, options.every_seconds):
                continue
            h, w = frame.shape[:2]
            item_rotation = None
            if _wants_rotation((w, h), options):
                band = horizon_band(from_uint8(frame))
                if prev_band is not None:
                    rotation -= band_yaw(prev_band, band)
                prev_band, item_rotation = band, rotation
            shots.append(
                Shot(
                    path=path,
                    name=f"{path.name}#{index}",
                    size=(w, h),
                    frame_index=index,
                    time=index / fps,
                    rotation=item_rotation,
                )
            )
    except FrameError as err:
        if decoded == 0:
            raise ViewsynthError(
                f"{path}: no frame could be decoded ({_reason(err, path)})"
            ) from None
        warnings.append(
            f"{path.name}: decoding stopped at frame {decoded}; using the frames before it"
        )
    if len(shots) < 2:
        how = (
            f"every {options.every_seconds:g} s"
            if options.every_seconds > 0
            else f"every {options.every_frames} frames"
        )
        raise ViewsynthError(
            f"{path}: fewer than two usable frames ({len(shots)} sampled {how} from "
            f"{decoded} decoded frames; sample more often)"
        )
    return _finish(path, "video", "video", shots, options, [], warnings)


# -- shared ---------------------------------------------------------------------------------------


def _finish(
    source_path: Path,
    kind: str,
    time_source: str,
    shots: list[Shot],
    options: CaptureOptions,
    skipped: list[tuple[str, str]],
    warnings: list[str],
) -> Capture:
    """Projection, working size, GPS checks, segments, duplicates and yaw: the metadata stages."""
    projection = _projection(source_path, shots, options)
    if projection == "perspective":
        shots = [dataclasses.replace(s, rotation=None) for s in shots]
    working_size, size_warnings = _working_size(shots, options, projection)
    warnings += size_warnings

    shots, gps_warnings = check_gps(shots, options.max_speed)
    warnings += gps_warnings
    segments: list[list[Shot]] = []
    # A video's sampling interval is not a gap, and file-name order has no times at all.
    time_gap = options.time_gap if time_source not in ("filename", "video") else 0.0
    for by_time in split_by_time(shots, time_gap):
        if len(by_time) < 2:
            reason = f"alone: more than capture.time_gap ({time_gap:g} s) from the shots around it"
            skipped.append((by_time[0].name, reason))
            continue
        kept, dropped = drop_duplicates(
            by_time, options.duplicate_distance, options.duplicate_angle
        )
        skipped += dropped
        if len(kept) < 2:
            skipped.append((kept[0].name, "alone: the rest of its segment are duplicates of it"))
            continue
        pieces, split_warnings = split_by_distance(kept, options.distance_gap)
        warnings += split_warnings
        for piece in pieces:
            if len(piece) < 2:
                reason = (
                    f"alone: more than capture.distance_gap ({options.distance_gap:g} m) "
                    "from the shots around it"
                )
                skipped.append((piece[0].name, reason))
            else:
                segments.append(piece)
    if not segments:
        raise ViewsynthError(
            f"{source_path}: no two frames left to interpolate after cutting at gaps and dropping "
            f"duplicates ({_names([f'{n} ({r})' for n, r in skipped])})"
        )
    if projection == "equirect" and options.align_heading:
        segments = [_align(segment, options) for segment in segments]
    dropped = [f"{name} ({reason})" for name, reason in skipped]
    if dropped:
        warnings.append(f"skipped {len(dropped)} file(s): {_names(dropped)}")
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
    )


def _projection(path: Path, shots: Sequence[Shot], options: CaptureOptions) -> str:
    if options.projection != "auto":
        return options.projection
    first = shots[0]
    first_is = is_equirect_shape(*first.size)
    for shot in shots[1:]:
        if is_equirect_shape(*shot.size) != first_is:
            kinds = {True: "a 2:1 panorama", False: "not 2:1 (a photo)"}
            raise ViewsynthError(
                f"{path}: mixed projections: {shot.name} ({shot.size[0]}x{shot.size[1]}) is "
                f"{kinds[not first_is]} but {first.name} ({first.size[0]}x{first.size[1]}) is "
                f"{kinds[first_is]}; remove one kind or set capture.projection"
            )
    return "equirect" if first_is else "perspective"


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
        return target, [
            f"every frame resized from {w0}x{h0} to {width}x{height} (capture.max_width)"
        ]
    names = [f"{s.name} ({s.size[0]}x{s.size[1]})" for s in changed]
    return target, [f"frames resized to the working size {width}x{height}: {_names(names)}"]


def _align(segment: list[Shot], options: CaptureOptions) -> list[Shot]:
    yaws, source = align_yaws(
        [s.heading for s in segment],
        [s.rotation for s in segment],
        [s.lat for s in segment],
        [s.lon for s in segment],
        smoothing=options.heading_smoothing,
    )
    return [
        dataclasses.replace(s, yaw=float(y), yaw_source=source)
        for s, y in zip(segment, yaws, strict=True)
    ]
