"""The run of one capture: folder in, walkthrough videos and a manifest out.

Load the capture (``viewsynth.capture``: frames in time order, yaw aligned, split into segments),
schedule each pair's in-between times (``capture.schedule``), then stream: for each pair of source
frames, interpolate the times between them and hand every frame to the segment's writer
(``viewsynth.export.segment``). The ledger (:mod:`~viewsynth.walkthrough.resume`) skips what is
already done (finished segments, and the finished chunks of the segment in progress: pairs whose
frames those hold are not interpolated again); the manifest
(:mod:`~viewsynth.walkthrough.manifest`) is written last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from viewsynth import config as config_lib
from viewsynth.capture import Shot, iter_frames, load_capture
from viewsynth.capture.schedule import PairSchedule, frame_count, schedule_segment
from viewsynth.export.chunks import remove_pieces
from viewsynth.export.segment import SegmentWriter, segment_names
from viewsynth.interpolators import Interpolator, make_interpolator
from viewsynth.walkthrough.folders import check_output_dir
from viewsynth.walkthrough.geotag import camm_step, write_segment_gpx
from viewsynth.walkthrough.manifest import MANIFEST, frame_entry, write_manifest
from viewsynth.walkthrough.resume import Ledger, fingerprint
from viewsynth.walkthrough.settings import InterpolateSettings


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
    than two usable frames): the caller decides whether that is fatal. Without ``interpolator``
    the one ``settings`` name is made here (its ``record()`` is part of the resume fingerprint).
    ``progress(n)`` is called after each written frame with n = 1, ``total(n)`` once with the
    number of frames to write.
    """
    started = time.perf_counter()
    name = source.stem if source.is_file() else source.name
    capture = load_capture(source, settings.capture)
    check_output_dir(out)
    panoramic = capture.projection == "equirect"
    interp = interpolator
    if interp is None:
        interp = make_interpolator(
            settings.method, iters=settings.iters, scale=settings.scale, weights=settings.weights
        )
    record = interp.record()
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

    ledger = Ledger(out, key)
    manifest_path = out / MANIFEST
    finished = ledger.finished_outputs()
    if finished is not None:
        if progress is not None:
            progress(n_total)
        return CaptureResult(
            name,
            "skipped",
            n_total,
            time.perf_counter() - started,
            finished + [str(manifest_path)],
            "already done with these settings",
        )
    ledger.begin()

    frame_dir = None
    if settings.frames:
        frame_dir = out / "frames"
        frame_dir.mkdir(exist_ok=True)
    segments_out = []
    index = 0
    for seg, (segment, sched) in enumerate(zip(capture.segments, schedules, strict=True)):
        n_seg_frames = frame_count(sched)
        done = ledger.done_segment(seg)
        if done is not None:
            for video in done["files"].values():
                remove_pieces(out, video)  # a run killed between the join and the cleanup
            segments_out.append(done)
            index += n_seg_frames
            if progress is not None:
                progress(n_seg_frames)
            continue
        names = segment_names(n_segments, seg, panoramic)
        view = settings.view
        writer = SegmentWriter(
            out, names, panoramic=panoramic, fps=settings.fps, quality=settings.quality,
            codec=settings.codec, max_width=settings.max_video_width, hfov=view.hfov,
            pitch=view.pitch, flat_size=(view.width, view.height), frame_dir=frame_dir,
            first_index=index, chunk_frames=settings.chunk_frames,
            done_chunks=ledger.done_chunks(seg, settings.chunk_frames),
            on_chunk=lambda n, seg=seg: ledger.finish_chunk(seg, settings.chunk_frames, n),
        )  # fmt: skip
        entries = []
        pairs: list[dict] = []  # per pair: what ran and why (an interpolator's last_pair)
        try:
            prev: tuple[Shot, np.ndarray] | None = None
            for k, (shot, image) in enumerate(iter_frames(capture, segment)):
                if prev is not None:
                    shot0, img0 = prev
                    inner = [t for t in sched[k - 1].times if 0.0 < t < 1.0]
                    entries += [frame_entry(shot0, shot, t) for t in (0.0, *inner)]
                    if not writer.wants(1 + len(inner)):
                        writer.skip(1 + len(inner))  # resumed: finished pieces hold this pair
                    else:
                        writer.write(img0)
                        if inner:
                            for mid in interp(img0, image, inner, equirect=panoramic):
                                writer.write(mid)
                            if hasattr(interp, "last_pair"):  # sweep: method, reason, pose
                                pairs.append({"pair": k - 1, **interp.last_pair()})
                    if progress is not None:
                        progress(1 + len(inner))
                prev = (shot, image)
            shot_last, img_last = prev
            writer.write(img_last)
            entries.append(frame_entry(segment[-2], shot_last, 1.0))
            if progress is not None:
                progress(1)
            warnings += writer.close(post_360=camm_step(entries))
        except BaseException:
            writer.abort()
            raise
        files = dict(names)
        gpx_name = write_segment_gpx(out, names, entries, segment, capture.time_source)
        if gpx_name is not None:
            files["gpx"] = gpx_name
        seg_record = {"files": files, "frames": entries, **({"pairs": pairs} if pairs else {})}
        segments_out.append(seg_record)
        ledger.finish_segment(seg, seg_record)
        writer.clear()  # the pieces go only once the ledger no longer needs them
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
    write_manifest(manifest_path, manifest)
    ledger.complete()
    outputs = [str(out / f) for seg in segments_out for f in seg["files"].values()]
    return CaptureResult(
        name,
        "done",
        index,
        time.perf_counter() - started,
        outputs + [str(manifest_path)],
        warnings=warnings,
    )
