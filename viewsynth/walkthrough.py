"""The pipeline: capture folder -> interpolated frames -> walkthrough videos and a manifest.

    CAPTURE/                        OUT/
      IMG_0001.jpg  ─┐                walkthrough_360.mp4   (panoramas: spherical metadata V1+V2)
      IMG_0002.jpg   ├─ capture ─►    walkthrough.mp4       (flat view along the travel direction)
      ...           ─┘  align         manifest.json         (every output frame: src, t, lat, lon, heading)
                        schedule      frames/000000.png ... (with --frames)
                        interpolate

A capture split into several segments gets ``-segNN`` on each video, one manifest for all.
Everything streams: one pair of source frames and the frames of that pair are in memory at a
time, whatever the capture's length. Work is resumable: a segment whose videos were finished with
the same inputs and settings is not recomputed; files are written aside and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from viewsynth import config as config_lib
from viewsynth import frames
from viewsynth.capture import Capture, CaptureOptions, Shot, iter_frames, load_capture
from viewsynth.capture.schedule import PairSchedule, frame_count, schedule_segment
from viewsynth.errors import ViewsynthError
from viewsynth.export.rectilinear import RectilinearProjector
from viewsynth.export.video import VideoWriter
from viewsynth.interpolators import DEFAULT_METHOD, Interpolator, make_interpolator

log = logging.getLogger("viewsynth")

STATE_FILE = ".viewsynth-state.json"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ViewOptions:
    """The flat walkthrough: a rectilinear camera looking along the direction of travel."""

    hfov: float = 100.0  # horizontal field of view, degrees (0, 180)
    pitch: float = 0.0  # degrees, positive looks up
    width: int = 1280  # flat video width (perspective captures keep their own size)
    height: int = 720  # flat video height

    def __post_init__(self):
        if not 0 < self.hfov < 180:
            raise ValueError(f"view.hfov must be in (0, 180), got {self.hfov}")
        if not -90 <= self.pitch <= 90:
            raise ValueError(f"view.pitch must be in [-90, 90], got {self.pitch}")
        if self.width < 16 or self.height < 16:
            raise ValueError("view.width and view.height must be at least 16")


@dataclass(frozen=True)
class InterpolateSettings:
    """Everything that decides the outputs of ``viewsynth interpolate`` (resume compares these)."""

    method: Literal["linear", "flow", "rnn"] = DEFAULT_METHOD  # the interpolator
    factor: int = 8  # N: N-1 new frames per pair (ignored with spacing)
    spacing: float | None = None  # metres between output frames (constant speed from GPS)
    fps: float = 30.0  # output frame rate
    iters: int | None = None  # rnn: recurrent iterations K (None: the model's default)
    scale: float | None = None  # rnn: flow estimation scale (None: automatic for huge frames)
    weights: str | None = None  # rnn: weights file (None: the shipped model)
    frames: bool = False  # also write every output frame as PNG under frames/
    quality: int = 18  # H.264 CRF: 0 best .. 51 worst
    codec: Literal["h264", "hevc"] = (
        "h264"  # hevc for 5.7K+ panoramas (H.264 level 5.2 stops near 4K)
    )
    max_video_width: int | None = None  # cap the 360 video's width (e.g. 4096 for H.264 players)
    view: ViewOptions = field(default_factory=ViewOptions)
    capture: CaptureOptions = field(default_factory=CaptureOptions)

    def __post_init__(self):
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if self.spacing is not None and not self.spacing > 0:
            raise ValueError(f"spacing must be positive metres, got {self.spacing}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.iters is not None and self.iters < 1:
            raise ValueError(f"iters must be at least 1, got {self.iters}")
        if self.scale is not None and not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if not 0 <= self.quality <= 51:
            raise ValueError(f"quality (CRF) must be 0..51, got {self.quality}")


@dataclass
class CaptureResult:
    """What became of one capture (one row of ``summary.json``)."""

    name: str
    status: Literal["done", "skipped", "failed"]
    frames: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    reason: str = ""
    warnings: list[str] = field(default_factory=list)


def is_capture(path: Path) -> bool:
    """A capture is a video file or a folder holding image files directly."""
    if path.is_file():
        return path.suffix.lower() in frames.VIDEO_SUFFIXES
    return path.is_dir() and any(
        p.suffix.lower() in frames.IMAGE_SUFFIXES and not p.name.startswith(".")
        for p in path.iterdir()
    )


def find_captures(root: Path) -> list[tuple[str, Path]]:
    """``[(name, path)]``: ``root`` itself when it is a capture, else its capture sub-folders.

    A root's sub-folders are the unit of work of the runners; each is written to ``OUT/<name>/``.
    An empty root is an error naming it.
    """
    if not root.exists():
        raise ViewsynthError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() in frames.VIDEO_SUFFIXES:
            return [("", root)]
        raise ViewsynthError(f"{root}: not a capture folder or video file")
    if is_capture(root):
        return [("", root)]
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    subs += sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in frames.VIDEO_SUFFIXES
    )
    if not subs:
        raise ViewsynthError(f"{root}: empty folder (no images, videos or capture sub-folders)")
    return [(p.stem if p.is_file() else p.name, p) for p in subs]


def check_output_dir(out: Path) -> None:
    """Create ``out`` (and parents) or fail with one line naming it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".viewsynth-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ViewsynthError(f"{out}: output folder is not writable ({err.strerror})") from None


def interpolator_record(settings: InterpolateSettings) -> dict[str, Any]:
    """What decides the frames beyond the settings: for ``rnn``, the weights file in use (the
    shipped one when ``weights`` is None), its content hash and the K it runs at. A weights file
    that changed (a new release, a fine-tune written again) is then not taken for finished work."""
    if settings.method != "rnn":
        return {"method": settings.method}
    from viewsynth.model.weights import DEFAULT_WEIGHTS, describe

    path = Path(settings.weights) if settings.weights else DEFAULT_WEIGHTS
    info = describe(path)
    return {
        "method": "rnn",
        "weights": str(path),
        "sha256": info["sha256"],
        "iters": settings.iters or info["iters"],
        "trained": info["trained"],
    }


def fingerprint(capture: Capture, settings: InterpolateSettings, record: dict[str, Any]) -> str:
    """Hash of the inputs (names, sizes, modification times), every setting and the
    interpolator's record (:func:`interpolator_record`)."""
    h = hashlib.sha256()
    h.update(json.dumps(config_lib.to_dict(settings), sort_keys=True).encode())
    h.update(json.dumps(record, sort_keys=True).encode())
    for segment in capture.segments:
        for shot in segment:
            st = shot.path.stat()
            h.update(f"{shot.name}|{shot.frame_index}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _segment_names(n_segments: int, seg: int, panoramic: bool) -> dict[str, str]:
    suffix = f"-seg{seg:02d}" if n_segments > 1 else ""
    names = {"flat": f"walkthrough{suffix}.mp4"}
    if panoramic:
        names["360"] = f"walkthrough_360{suffix}.mp4"
    return names


def _lerp_angle(a: float | None, b: float | None, t: float) -> float | None:
    if a is None or b is None:
        return a if t < 0.5 else b
    d = (b - a + 180.0) % 360.0 - 180.0
    return (a + t * d) % 360.0


def _view_heading(shot: Shot) -> float | None:
    """Compass bearing the output frame's centre faces, when the tags tell it."""
    if shot.heading is None:
        return None
    return (shot.heading + shot.yaw) % 360.0


def _frame_entry(shot0: Shot, shot1: Shot, t: float) -> dict:
    """One manifest row: the two source files, t, and position/heading interpolated at t."""
    entry: dict = {"src": [shot0.name, shot1.name], "t": round(float(t), 6)}
    if shot0.has_position and shot1.has_position:
        entry["lat"] = round(shot0.lat + t * (shot1.lat - shot0.lat), 8)
        entry["lon"] = round(shot0.lon + t * (shot1.lon - shot0.lon), 8)
    heading = _lerp_angle(_view_heading(shot0), _view_heading(shot1), t)
    if heading is not None:
        entry["heading"] = round(heading, 3)
    return entry


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _load_state(out: Path) -> dict:
    try:
        return json.loads((out / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


class _SegmentWriter:
    """The outputs of one segment: the 360 video, the flat video and optional PNG frames."""

    def __init__(
        self,
        out: Path,
        names: dict[str, str],
        settings: InterpolateSettings,
        panoramic: bool,
        frame_dir: Path | None,
        first_index: int,
    ):
        self.settings = settings
        self.panoramic = panoramic
        self.frame_dir = frame_dir
        self.index = first_index
        self.writers: dict[str, VideoWriter] = {}
        self.projector = RectilinearProjector()
        if panoramic:
            self.writers["360"] = VideoWriter(
                out / names["360"],
                settings.fps,
                settings.quality,
                settings.codec,
                max_width=settings.max_video_width,
                spherical=True,
            )
        self.writers["flat"] = VideoWriter(out / names["flat"], settings.fps, settings.quality)

    def write(self, image: np.ndarray) -> None:
        view = self.settings.view
        if self.panoramic:
            self.writers["360"].write(image)
            flat = self.projector.view(image, 0.0, view.pitch, view.hfov, view.width, view.height)
        else:
            flat = image
        self.writers["flat"].write(flat)
        if self.frame_dir is not None:
            frames.write_image(self.frame_dir / f"{self.index:06d}.png", image)
        self.index += 1

    def close(self) -> list[str]:
        warnings = []
        for writer in self.writers.values():
            writer.close()
            warnings += writer.warnings
        return warnings

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def run_capture(
    source: Path,
    out: Path,
    settings: InterpolateSettings,
    *,
    interpolator: Interpolator | None = None,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> CaptureResult:
    """Interpolate one capture into ``out``; returns its result (never raises for bad frames).

    Raises ``ViewsynthError`` for a capture that cannot be used at all (missing, empty, fewer
    than two usable frames): the caller decides whether that is fatal.
    ``progress(n)`` is called after each written frame with n = 1, ``total(n)`` once with the
    number of frames to write.
    """
    started = time.perf_counter()
    name = source.stem if source.is_file() else source.name
    capture = load_capture(source, settings.capture)
    check_output_dir(out)
    panoramic = capture.projection == "equirect"
    record = interpolator_record(settings)
    key = fingerprint(capture, settings, record)
    n_segments = len(capture.segments)
    warnings = list(capture.warnings)

    schedules: list[list[PairSchedule]] = []
    for segment in capture.segments:
        sched, sched_warnings = schedule_segment(
            segment, factor=settings.factor, spacing=settings.spacing or 0.0
        )
        schedules.append(sched)
        warnings += sched_warnings
    n_total = sum(frame_count(sched) for sched in schedules)
    if total is not None:
        total(n_total)

    state = _load_state(out)
    if state.get("fingerprint") != key:
        state = {"fingerprint": key, "segments": {}}
    manifest_path = out / MANIFEST
    if manifest_path.exists() and state.get("complete"):
        outputs = [
            str(out / f) for seg in state["segments"].values() for f in seg["files"].values()
        ]
        if all(Path(p).exists() for p in outputs):
            if progress is not None:
                progress(n_total)
            return CaptureResult(
                name,
                "skipped",
                n_total,
                time.perf_counter() - started,
                outputs + [str(manifest_path)],
                "already done with these settings",
            )
    state["complete"] = False
    _atomic_json(out / STATE_FILE, state)

    frame_dir = None
    if settings.frames:
        frame_dir = out / "frames"
        frame_dir.mkdir(exist_ok=True)
    interp = interpolator
    segments_out = []
    index = 0
    for seg, (segment, sched) in enumerate(zip(capture.segments, schedules, strict=True)):
        names = _segment_names(n_segments, seg, panoramic)
        n_seg_frames = frame_count(sched)
        done = state["segments"].get(str(seg))
        if done and all((out / f).exists() for f in done["files"].values()):
            segments_out.append(done)
            index += n_seg_frames
            if progress is not None:
                progress(n_seg_frames)
            continue
        if interp is None:
            interp = make_interpolator(
                settings.method,
                iters=settings.iters,
                scale=settings.scale,
                weights=settings.weights,
            )
        entries = []
        writer = _SegmentWriter(out, names, settings, panoramic, frame_dir, index)
        try:
            prev: tuple[Shot, np.ndarray] | None = None
            for k, (shot, image) in enumerate(iter_frames(capture, segment)):
                if prev is not None:
                    shot0, img0 = prev
                    times = sched[k - 1].times
                    inner = [t for t in times if 0.0 < t < 1.0]
                    writer.write(img0)
                    entries.append(_frame_entry(shot0, shot, 0.0))
                    if inner:
                        mids = interp(img0, image, inner, equirect=panoramic)
                        for t, mid in zip(inner, mids, strict=True):
                            writer.write(mid)
                            entries.append(_frame_entry(shot0, shot, t))
                    if progress is not None:
                        progress(1 + len(inner))
                prev = (shot, image)
            shot_last, img_last = prev
            writer.write(img_last)
            entries.append(_frame_entry(segment[-2], shot_last, 1.0))
            if progress is not None:
                progress(1)
            warnings += writer.close()
        except BaseException:
            writer.abort()
            raise
        seg_record = {"files": names, "frames": entries}
        segments_out.append(seg_record)
        state["segments"][str(seg)] = seg_record
        _atomic_json(out / STATE_FILE, state)
        index += n_seg_frames

    manifest = {
        "capture": str(source),
        "settings": config_lib.to_dict(settings),
        "interpolator": record,
        "fingerprint": key,
        "projection": capture.projection,
        "time_source": capture.time_source,
        "skipped": [{"file": f, "reason": r} for f, r in capture.skipped],
        "warnings": warnings,
        "segments": segments_out,
    }
    _atomic_json(manifest_path, manifest)
    state["complete"] = True
    _atomic_json(out / STATE_FILE, state)
    outputs = [str(out / f) for seg in segments_out for f in seg["files"].values()]
    return CaptureResult(
        name,
        "done",
        index,
        time.perf_counter() - started,
        outputs + [str(manifest_path)],
        warnings=warnings,
    )


def settings_from(config_path: str | None, overrides: list[str], **flags) -> InterpolateSettings:
    """Settings from an optional YAML file, ``--set`` overrides, then explicit CLI flags."""
    base = config_lib.load(InterpolateSettings, config_path, overrides)
    changes = {k: v for k, v in flags.items() if v is not None}
    if not changes:
        return base
    return config_lib.replace(base, **changes)


__all__ = [
    "CaptureResult",
    "InterpolateSettings",
    "ViewOptions",
    "check_output_dir",
    "find_captures",
    "fingerprint",
    "interpolator_record",
    "run_capture",
    "settings_from",
]
