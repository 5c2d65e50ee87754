"""A folder of photos as a capture: which files are its frames, and their order on one clock.

- Frames are the folder's direct children with an image suffix (``frames.IMAGE_SUFFIXES``), listed
  in natural name order (``frames.natural_key``: ``2`` before ``10``). Hidden files are ignored;
  sub-folders and other files are skipped with a reason (captures are not searched recursively),
  but for what ``viewsynth interpolate`` wrote here when the folder was its own output folder
  (:func:`own_outputs`), passed over in silence.
- Every image is decoded once by ``frames.read_image``, in tentative time order: one that fails is
  skipped with that error's reason; of one that decodes only its size and, for panoramas, its
  image-measured rotation since the first frame are kept (``heading.horizon_band``), never pixels;
  a panorama's GPano pitch and roll are judged against the capture's pictures (``orientation``).
- One clock orders all frames (``track.pick_time_source``: GPS, EXIF, Mapillary, file names, or
  ``capture.time_source``); ties and frames without a time go by natural name order.
- With ``capture.gpx``, photos without GPS of their own are geotagged by that clock's time
  (:mod:`~viewsynth.capture.gpx`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from viewsynth.capture.gpx import geotag, read_gpx
from viewsynth.capture.heading import band_yaw
from viewsynth.capture.metadata import Metadata, read_metadata
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.orientation import (
    Orientation,
    agreed,
    gpano_orientation,
    levels,
    turned_band,
    upside_down,
)
from viewsynth.capture.projection import image_evidence, photo_hfov, seam_score
from viewsynth.capture.segments import error_reason, finish, list_names, wants_rotation
from viewsynth.capture.shape import whole_sphere
from viewsynth.capture.shot import Capture, Shot
from viewsynth.capture.still import StillWatch, thumbnail
from viewsynth.capture.track import capture_times, commonest_time_source, pick_time_source
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    is_equirect_shape,
    natural_key,
    not_read,
    read_image,
)


@dataclasses.dataclass
class _Checked:
    """An image that decoded: what ``load_folder`` keeps of it (never its pixels)."""

    path: Path
    meta: Metadata
    size: tuple[int, int]
    rotation: float | None = None
    seam: float | None = None  # projection.seam_score of a 2:1 frame under capture.projection auto
    orientation: tuple[float, float, float] | None = None  # its turn (capture.orientation)
    thumb: np.ndarray | None = None  # what still.StillWatch compares (None: blank, or not asked)


def load_folder(
    folder: Path,
    options: CaptureOptions,
    progress: Callable[[int, int | None], None] | None = None,
) -> Capture:
    """The capture in the image folder ``folder`` (see the module docstring for the rules);
    ``progress(done, total)`` after each image is decoded (hundreds of 5.7K JPEGs: minutes)."""
    images, skipped, subfolders = [], [], False
    ours = own_outputs(folder)
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith(".") or entry.name in ours:
            continue  # hidden files: .DS_Store, ._IMG_0001.JPG resource forks, editor temp files
        if entry.is_dir():
            subfolders = True
            skipped.append((entry.name, "a folder (captures are not searched recursively)"))
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            why = "a video among photos: give it alone, or beside this folder in a root"
            skipped.append((entry.name, why))
        elif entry.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((entry.name, not_read(entry) or "not an image"))
        elif not entry.is_file():  # before its tags are read: opening a named pipe waits forever
            why = "a broken link or a link loop" if entry.is_symlink() else "not a regular file"
            skipped.append((entry.name, why))
        else:
            images.append(entry)
    if not images:
        raw = [name for name, _ in skipped if not_read(name)]
        hint = f" ({list_names(raw)}: {not_read(raw[0])})" if raw else ""
        hint = hint or (" (it has sub-folders: give one of them)" if subfolders else "")
        raise ViewsynthError(f"{folder}: no JPEG, PNG or HEIC images in this folder{hint}")

    metas = {p: read_metadata(p) for p in images}
    # Decode in (tentative) time order so each panorama's rotation is measured against the frame
    # before it; the order is final unless a frame that failed to decode was the only one lacking
    # a better clock.
    openable = [metas[p] for p in images if metas[p].readable]
    tentative = pick_time_source(openable) if options.time_source == "auto" else options.time_source
    order = _order(images, [metas[p] for p in images], tentative, options.gpx_offset == 0.0)
    warnings: list[str] = []
    if sampling := options.video_sampling():
        warnings.append(f"{folder.name}: {sampling} applies to videos only, not to these photos")
    checked = _check_images(order, metas, options, skipped, warnings, progress)
    if len(checked) < 2:
        raise _too_few(folder, len(checked), len(images), skipped)
    source = _pick_source(
        folder, options, [c.meta for c in checked], [c.path.name for c in checked]
    )
    if source == "filename" and options.time_source == "auto":
        source, checked = _without_untimed(checked, skipped, warnings)
        if len(checked) < 2:
            raise _too_few(folder, len(checked), len(images), skipped)
    by_camera = options.gpx_offset == 0.0  # (--gpx-offset: the user's one offset instead)
    final = _order_indices([c.path for c in checked], [c.meta for c in checked], source, by_camera)
    if final != sorted(final):  # another clock, or camera offsets without the undecodable files
        checked = [checked[i] for i in final]
        if any(c.rotation is not None for c in checked):
            _measure_rotations(checked, options)

    clock = capture_times([c.meta for c in checked], source, by_camera)
    times, is_utc = clock.times, clock.utc
    warnings += clock.warnings
    shots = []
    hfov_sources: list[str] = []
    watch = StillWatch(options.duplicate_angle)
    for c, time in zip(checked, times, strict=True):
        use = options.use_gps and c.meta.lat is not None
        hfov, hfov_source = photo_hfov(c.meta, c.size)
        if options.duplicate_images:
            watch.add(c.path.name, c.thumb, equirect=wants_rotation(c.size, options), hfov=hfov)
        if hfov is not None:
            hfov_sources.append(hfov_source)
        shots.append(
            Shot(
                path=c.path,
                name=c.path.name,
                size=c.size,
                time=time,
                lat=c.meta.lat if use else None,
                lon=c.meta.lon if use else None,
                alt=c.meta.altitude if use else None,
                heading=c.meta.heading,
                utc=time if is_utc else None,
                rotation=c.rotation,
                hfov=hfov,
                sphere_rows=c.meta.sphere_rows if options.projection != "perspective" else None,
                orientation=c.orientation,
            )
        )
    by_gpx = None
    if options.gpx:  # (with use_gps false, the GPX is the only positions)
        gpx_path = Path(options.gpx)
        fixes, gpx_warnings = read_gpx(gpx_path, options.max_speed)
        warnings += gpx_warnings
        if not is_utc and source != "filename" and options.gpx_offset == 0.0:
            warnings.append(
                f"{gpx_path.name}: the photos' times are the camera's local clock (no "
                "OffsetTimeOriginal), matched to the GPX as if UTC; set --gpx-offset if they are not"
            )

        def by_gpx(shots: list[Shot]) -> tuple[list[Shot], list[str], str]:
            return geotag(
                shots, [s.time for s in shots], gpx_path, fixes, options.gpx_offset, folder
            )

    return finish(
        folder, "folder", source, shots, options, skipped, warnings,
        evidence=[image_evidence(c.meta) for c in checked],
        scores=[c.seam for c in checked],
        hfov_by=_hfov_by(hfov_sources, len(checked)),
        geotag=by_gpx, gps_by=_gps_by(shots, options), looks=watch.looks,
        clocks=[c.record(clock.used(c)) for c in clock.clocks],
    )  # fmt: skip


def _gps_by(shots: list[Shot], options: CaptureOptions) -> str:
    """``Capture.gps_by`` of photos: their own tags, a --gpx track, or both."""
    used = ["the photos' GPS tags"] if any(s.has_position for s in shots) else []
    if options.gpx:
        used.append(f"--gpx {Path(options.gpx).name}" + (" (photos without)" if used else ""))
    return "; ".join(used)


#: What a walkthrough job writes into its output folder besides hidden files (its ledger, lock
#: and ``.parts/``): ``export.segment.segment_names``' videos, the GPX named after the flat one
#: (``walkthrough.geotag``), ``walkthrough.manifest.MANIFEST``, the CLI's ``summary.json`` and
#: ``--frames``' folder. Spelled out here because those modules import this package;
#: tests/test_capture.py holds them to it.
_OUTPUT_NAME = re.compile(
    r"walkthrough(_360)?(-seg\d{2,})?\.mp4|walkthrough(-seg\d{2,})?\.gpx|(manifest|summary)\.json"
)
_OUTPUT_FOLDER = "frames"
#: Files that only a job writes, each holding its fingerprint: the manifest and the resume ledger.
_OUTPUT_MARKS = ("manifest.json", ".viewsynth-state.json")


def own_outputs(folder: Path) -> set[str]:
    """The names in ``folder`` that a ``viewsynth interpolate`` run with ``-o`` this folder wrote.

    Only where such a run has left its mark (a manifest or resume ledger holding its fingerprint):
    the names alone are common words, and a user's own ``walkthrough.mp4`` or ``frames/`` among
    photos is still named when skipped, so that they know it was not used.
    """
    if not any(_holds_fingerprint(folder / name) for name in _OUTPUT_MARKS):
        return set()
    return output_like(folder)


def output_like(folder: Path) -> set[str]:
    """The names in ``folder`` that a ``viewsynth interpolate`` run there writes, whoever wrote
    them (:func:`own_outputs`: those a run did)."""
    return {
        entry.name
        for entry in folder.iterdir()
        if (entry.is_dir() and entry.name == _OUTPUT_FOLDER)
        or (entry.is_file() and _OUTPUT_NAME.fullmatch(entry.name))
    }


def _holds_fingerprint(path: Path) -> bool:
    """Whether ``path``'s first JSON object holds a fingerprint (the ledger is a log of records,
    one a line, the first the whole state: ``walkthrough.resume``)."""
    try:
        data, _ = json.JSONDecoder().raw_decode(path.read_text().lstrip())
    except (OSError, ValueError):  # absent, unreadable, not JSON (UnicodeDecodeError included)
        return False
    return isinstance(data, dict) and isinstance(data.get("fingerprint"), str)


def _hfov_by(sources: Sequence[str], total: int) -> str:
    """Where the frames' fields of view came from: the commonest source, and how many had one."""
    if not sources:
        return "unknown"
    top = max(set(sources), key=sources.count)
    return top if sources.count(top) == total else f"{top} ({sources.count(top)} of {total} frames)"


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


#: Names of the clocks in messages.
_CLOCK_NAMES = {"gps": "GPS", "exif": "EXIF", "mapillary": "Mapillary"}


def _without_untimed(
    checked: list[_Checked], skipped: list[tuple[str, str]], warnings: list[str]
) -> tuple[str, list[_Checked]]:
    """When no clock is on every frame: the clock most frames have, if more than half do, with
    the frames lacking it left out (named, with the reason); else file names, said in a warning.
    One untimed photo among timed ones must not reorder a whole capture by (any) names."""
    source, count = commonest_time_source([c.meta for c in checked])
    clock = _CLOCK_NAMES[source]
    if count >= 2 and 2 * count > len(checked):
        kept = []
        for c in checked:
            if getattr(c.meta, f"{source}_time") is None:
                why = f"no {clock} time, which the other {count} frames are ordered by"
                skipped.append((c.path.name, why))
            else:
                kept.append(c)
        return source, kept
    if count:
        warnings.append(
            f"frames ordered by file name: no clock is on every frame ({clock} time on {count} of "
            f"{len(checked)})"
        )
    return "filename", checked


def _order_indices(
    paths: Sequence[Path], metas: Sequence[Metadata], source: str, by_camera: bool
) -> list[int]:
    times = capture_times(metas, source, by_camera).times

    def key(i: int):
        # Missing times (files that will fail to decode, in the tentative order) sort last;
        # ties go by natural name order.
        t = times[i]
        return (t is None, t if t is not None else 0.0, natural_key(paths[i].name))

    return sorted(range(len(paths)), key=key)


def _order(
    paths: Sequence[Path], metas: Sequence[Metadata], source: str, by_camera: bool
) -> list[Path]:
    return [paths[i] for i in _order_indices(paths, metas, source, by_camera)]


def _check_images(
    order: Sequence[Path],
    metas: dict[Path, Metadata],
    options: CaptureOptions,
    skipped: list[tuple[str, str]],
    warnings: list[str],
    progress: Callable[[int, int | None], None] | None = None,
) -> list[_Checked]:
    """Decode every image once: skip the bad ones, keep sizes and panorama rotations."""
    checked: list[_Checked] = []
    notes: dict[str, list[str]] = {}
    # GPano tilt, and whether it levels the picture
    tilts: dict[Path, tuple[Orientation, bool]] = {}
    bands: dict[Path, tuple[np.ndarray, np.ndarray | None]] = {}  # horizon band: as read, tilted
    for done, path in enumerate(order, 1):
        try:
            decoded = read_image(path, max_pixels=options.max_pixels)
        except FrameError as err:
            skipped.append((path.name, error_reason(err, path)))
            continue
        finally:
            if progress is not None:
                progress(done, len(order))
        for note in decoded.notes:
            notes.setdefault(note, []).append(path.name)
        image = _sphere(decoded.image, metas[path], options)
        h, w = image.shape[:2]
        item = _Checked(path, metas[path], (w, h))
        item.thumb = thumbnail(image) if options.duplicate_images else None
        if options.projection == "auto" and is_equirect_shape(w, h):
            item.seam = seam_score(image)
        tilt = None
        if options.projection != "perspective" and is_equirect_shape(w, h):
            tilt = gpano_orientation(metas[path].pose_pitch, metas[path].pose_roll)
            if upside_down(tilt):
                item.orientation, tilt = tilt, None
            elif tilt is not None:
                tilts[path] = (tilt, levels(image, tilt))
        if wants_rotation((w, h), options):
            bands[path] = (turned_band(image, item.orientation), tilt and turned_band(image, tilt))
        checked.append(item)
    for note, names in notes.items():
        warnings.append(f"{note}: {list_names(names)}")
    # One decision for the capture (one camera): per photo, the test can tip either way where
    # few edges are vertical, and a horizon that tilts at some photos only would rock the video.
    agree = sum(levelled for _, levelled in tilts.values())
    if tilts and agreed([levelled for _, levelled in tilts.values()]):
        for item in checked:
            if item.path in tilts:
                item.orientation = tilts[item.path][0]
    elif tilts:
        warnings.append(
            f"{list_names([p.name for p in tilts])}: GPano PosePitchDegrees/PoseRollDegrees not "
            f"applied: the pictures are level as stored ({len(tilts) - agree} of {len(tilts)} "
            "looked level; a camera that levels its images still writes them)"
        )

    def band_of(item: _Checked) -> np.ndarray | None:
        if item.path not in bands:
            return None
        plain, tilted = bands[item.path]
        return tilted if item.orientation is not None and tilted is not None else plain

    _set_rotations(checked, band_of)
    return checked


def _set_rotations(checked: list[_Checked], band_of: Callable[[_Checked], np.ndarray | None]):
    """Each panorama's image-measured rotation since the first, from its horizon band (``None``:
    not measured), in order."""
    prev_band, rotation = None, 0.0
    for item in checked:
        item.rotation = None
        if (band := band_of(item)) is None:
            continue
        if prev_band is not None:
            # Content moving right by d degrees means the camera turned left by d.
            rotation -= band_yaw(prev_band, band)
        prev_band, item.rotation = band, rotation


def _sphere(image: np.ndarray, meta: Metadata, options: CaptureOptions) -> np.ndarray:
    """A photo sphere cut short of the poles put back whole (``shape.whole_sphere``), unless the
    capture is forced to be read as photos; any other image as it is."""
    if meta.sphere_rows is None or options.projection == "perspective":
        return image
    return whole_sphere(image, meta.sphere_rows)


def _measure_rotations(checked: list[_Checked], options: CaptureOptions) -> None:
    """Re-measure panorama rotations after a change of order (decodes the images again)."""

    def band_of(item: _Checked) -> np.ndarray | None:
        if not wants_rotation(item.size, options):
            return None
        image = read_image(item.path, max_pixels=options.max_pixels).image
        return turned_band(_sphere(image, item.meta, options), item.orientation)

    _set_rotations(checked, band_of)


def _too_few(
    path: Path, usable: int, total: int, skipped: Sequence[tuple[str, str]]
) -> ViewsynthError:
    bad = [f"{name} ({reason})" for name, reason in skipped if reason != "not an image"]
    detail = f"; skipped: {list_names(bad)}" if bad else ""
    return ViewsynthError(
        f"{path}: fewer than two usable frames ({usable} of {total} images could be read{detail})"
    )
