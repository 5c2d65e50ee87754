"""The run of one capture: folder in, walkthrough videos and a manifest out.

Load the capture (``viewsynth.capture``: frames in time order, yaw aligned, split into segments),
schedule each pair's in-between times (``capture.schedule``), take the output folder
(:mod:`~viewsynth.walkthrough.lock`: one run at a time), and plan the work from the ledger
(:mod:`~viewsynth.walkthrough.resume`: finished segments, the closed pieces of the segment in
progress, hence the pairs left). Then stream: for each pair of the plan, interpolate the times
between its two frames and hand the frames to the segment's writer (``viewsynth.export.segment``),
recording in the ledger the pieces the writer has closed. The manifest
(:mod:`~viewsynth.walkthrough.manifest`) is written last.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from viewsynth import config as config_lib
from viewsynth.capture import Capture, CaptureOptions, iter_frames, load_capture, pair_hfov
from viewsynth.capture.locate import untracked
from viewsynth.capture.schedule import PairSchedule, schedule_segment, slow_motion, video_pace
from viewsynth.capture.shot import Shot
from viewsynth.export.chunks import PARTS_DIR, remove_pieces
from viewsynth.export.segment import SegmentWriter
from viewsynth.interpolators import Interpolator
from viewsynth.walkthrough import memory
from viewsynth.walkthrough.folders import capture_name, check_not_theirs, check_output_dir
from viewsynth.walkthrough.geotag import (
    camm_step,
    placed,
    stamp_rows,
    video_start,
    write_segment_gpx,
)
from viewsynth.walkthrough.lock import FolderLock
from viewsynth.walkthrough.manifest import (
    MANIFEST,
    projection_entry,
    segment_rows,
    write_manifest,
)
from viewsynth.walkthrough.resume import Ledger, SegmentPlan, fingerprints, plan_segments
from viewsynth.walkthrough.retime import retime_finished
from viewsynth.walkthrough.settings import InterpolateSettings

#: At most this many bytes of in-between frames are asked of the interpolator at once
#: (``memory.CALL_BYTES``). Each call repeats the pair's own work (the pose, DIS), small beside
#: that many frames' warps at such a size.
CALL_BYTES = memory.CALL_BYTES


@dataclass
class CaptureResult:
    """What became of one capture (one row of ``summary.json``); ``interrupted`` and ``not
    started``: a run stopped part way (``walkthrough.summary``). ``frames``: the capture's output
    frames, of which ``kept`` were made by an earlier run (a resumed or finished one) and kept;
    ``seconds`` is this run's, so a rate is ``made / seconds``."""

    name: str
    status: Literal["done", "skipped", "failed", "interrupted", "not started"]
    frames: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    # Wall seconds inside the interpolator's calls (the pairs made by this run): the method's own
    # share of ``seconds``, which also holds loading, decoding and the encoders they overlap.
    interpolate_seconds: float = 0.0
    kept: int = 0
    retimed: bool = False  # an earlier run's outputs at another fps, re-timed (``reason``: how)

    @property
    def made(self) -> int:
        """The frames this run made (interpolated and written)."""
        return self.frames - self.kept


def run_capture(
    source: Path,
    out: Path,
    settings: InterpolateSettings,
    *,
    interpolator: Interpolator | None = None,
    progress: Callable[[int], None] | None = None,
    total: Callable[..., None] | None = None,
    loading: Callable[[int, int | None], None] | None = None,
    admit: Callable[[int], None] | None = None,
    said: Callable[[list[str]], None] | None = None,
) -> CaptureResult:
    """Interpolate one capture into ``out``; returns its result (never raises for bad frames).

    Raises ``ViewsynthError`` for a capture that cannot be used at all (missing, empty, fewer
    than two usable frames), and when another run is writing into ``out``: the caller decides
    whether that is fatal. Without ``interpolator``, ``settings.make_interpolator()`` makes it
    (its ``record()`` is part of the resume fingerprint). ``progress(n)`` is called as frames
    are written with their number, ``total(n)`` once with the number of frames and, when a
    previous run left some done, ``total(n, done)`` with those (not told to ``progress``);
    before that, ``loading(done, total)`` as a folder's images or a video's frames are decoded
    to read the capture (``total`` None when not known before). ``admit(bytes)``, called with the
    job's expected peak before its work (not for a finished one), returns when it may start (the
    Ray runner's workers wait there for memory that captures beside them hold). ``said(lines)``
    gets the warnings known before the work (the result holds them too): a long job says them then.
    """
    started = time.perf_counter()
    name = capture_name(source)
    if out.is_dir():  # a busy folder is said before the capture is read (seconds for a large one)
        check_output_dir(out)  # (one that cannot be written: said so, not by the lock's OSError)
        with FolderLock(out):
            check_not_theirs(out)
    options = settings.capture_options(source)
    capture = load_capture(source, options, spacing=settings.spacing or 0.0, progress=loading)
    capture, fitted, need = memory.fit_capture(capture, settings)
    check_output_dir(out)
    progress = progress or (lambda n: None)
    with FolderLock(out):  # before the interpolator: a busy folder is said at once
        check_not_theirs(out)
        interp = interpolator if interpolator is not None else settings.make_interpolator()
        record = interp.record()
        key, frames_key = fingerprints(capture, settings, record, fitted=fitted)
        schedules, warnings = _schedule(capture, settings, options)
        warnings += _weights_unused(record, capture)
        n_total = sum(len(pair.times) for schedule in schedules for pair in schedule)
        if total is not None:
            total(n_total)

        ledger = Ledger(out, key, frames_key, settings.fps)
        manifest_path = out / MANIFEST
        finished = ledger.finished_outputs()
        if finished is not None:
            progress(n_total)
            return CaptureResult(
                name,
                "skipped",
                n_total,
                time.perf_counter() - started,
                finished + [str(manifest_path)],
                "already done with these settings",
                _said_before(manifest_path, warnings),  # (the same inputs: the same warnings)
                kept=n_total,
            )
        told: list[str] = []  # (said by this run alone: not in the manifest it makes)
        if retimed := retime_finished(ledger, capture, settings, schedules, options, told):
            progress(n_total)  # (the same frames: the earlier run's, kept; ``reason`` says so)
            outputs, said_then, note = retimed
            seconds = time.perf_counter() - started
            return CaptureResult(name, "done", n_total, seconds, outputs, note, said_then,
                                 kept=n_total, retimed=True)  # fmt: skip
        if said is not None:  # (not hours later: "no GPS", "slow motion" on a dashcam's ride;
            said(warnings + told)  # a finished one's, from its manifest, are its result's alone)
        if admit is not None:  # the wait for memory is no time of this capture's: left out
            waiting = time.perf_counter()
            admit(need)
            started += time.perf_counter() - waiting
        if short := memory.short_now(capture.source.name, need):
            warnings.append(short)
        ledger.begin()
        if ledger.fresh:  # frames and pieces other settings wrote here would outlive them
            for png in (out / "frames").glob("[0-9]" * 6 + ".png"):
                png.unlink()
            if not settings.frames:  # and their folder, where nothing else is in it
                with contextlib.suppress(OSError):
                    (out / "frames").rmdir()
            shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        if settings.frames:
            (out / "frames").mkdir(exist_ok=True)
        plans = plan_segments(
            ledger,
            schedules,
            panoramic=capture.projection == "equirect",
            chunk_frames=settings.chunk_frames,
        )
        held = sum(plan.n_frames - _todo_frames(plan) for plan in plans)  # a previous run's
        if held and total is not None:
            total(n_total, held)  # (told apart: a bar's rate and ETA are this run's)
        elif held:
            progress(held)
        segments_out, inside = [], 0.0  # inside: the interpolator's wall seconds, summed
        for plan, segment, schedule in zip(plans, capture.segments, schedules, strict=True):
            if plan.finished is not None:
                for video in plan.finished["files"].values():
                    remove_pieces(out, video)  # a run killed between the join and the cleanup
                segments_out.append(plan.finished)
                continue
            rows = segment_rows(segment, schedule)
            stamp_rows(rows, segment, capture.time_source)
            done, segment_warnings, seconds = _write_segment(
                capture, plan, rows, interp, out, settings, ledger, progress
            )
            inside += seconds
            segments_out.append(done)
            warnings += segment_warnings

        manifest = {
            "capture": str(source),
            "settings": config_lib.to_dict(settings),
            "interpolator": record,
            "fingerprint": key,
            **projection_entry(capture),
            "time_source": capture.time_source,
            **({"clocks": capture.clocks} if capture.clocks else {}),
            "gps_by": capture.gps_by,
            **({"alt_by": capture.alt_by} if capture.alt_by else {}),
            **({"heading_by": capture.heading_by} if capture.heading_by else {}),
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
        n_total,
        time.perf_counter() - started,
        outputs + [str(manifest_path)],
        warnings=warnings + told,
        interpolate_seconds=inside,
        kept=held,
    )


def _said_before(manifest_path: Path, reading: list[str]) -> list[str]:
    """The warnings the finished run wrote in its manifest (its segments' too), else those of
    reading the capture again."""
    try:
        return list(json.loads(manifest_path.read_text(encoding="utf-8"))["warnings"])
    except (OSError, ValueError, KeyError, TypeError):
        return reading


def _weights_unused(record: dict, capture: Capture) -> list[str]:
    """The warning that a geometry network given by ``--weights`` makes none of a photo
    capture's frames: it hands ordinary photos to the shipped photos network (``record``'s
    ``photos``), which a fine-tune on panoramas leaves as it was."""
    mine, photos = record.get("weights"), record.get("photos")
    if capture.projection != "perspective" or not photos:
        return []
    from viewsynth.model.weights import DEFAULT_WEIGHTS, PHOTOS_WEIGHTS  # (loaded: a network ran)

    if mine == str(DEFAULT_WEIGHTS) or photos["weights"] != str(
        PHOTOS_WEIGHTS
    ):  # (--photos-weights)
        return []
    return [
        f"--weights {Path(mine).name}: a geometry network; the frames of ordinary photos are made "
        f"by the shipped photos network ({Path(photos['weights']).name}), not by it (give it as "
        "--photos-weights to make them; `viewsynth finetune` on photos tunes the photos network)"
    ]


def _schedule(
    capture: Capture, settings: InterpolateSettings, options: CaptureOptions
) -> tuple[list[list[PairSchedule]], list[str]]:
    """Each segment's in-between times, and the capture's warnings with the schedules' own.

    ``--spacing`` falls back to ``--factor`` on each pair with a shot without GPS, said once per
    segment; but where a video has no GPS track at all, that one cause is said in one line, the
    loader's (``Capture.untracked``), now with the fallback added. ``options``: the capture's.
    """
    spacing = settings.spacing or 0.0
    warnings = list(capture.warnings)
    schedules = []
    pace = video_pace(capture, options, settings.factor)  # (a variable rate: one speed)
    for segment in capture.segments:
        schedule, schedule_warnings = schedule_segment(
            segment, factor=settings.factor, spacing=spacing, pace=pace
        )
        schedules.append(schedule)
        if not capture.untracked:  # (else no shot has a position: said once, below)
            warnings += schedule_warnings
    if spacing and capture.untracked:
        timed = any(shot.utc is not None for shot in capture.shots)  # (an AVI has no start)
        name = capture.source.name
        said = untracked(name, options.every_metres, spacing, settings.factor, timed,
                         capture.untracked_exiftool)  # fmt: skip
        warnings[warnings.index(capture.untracked)] = said
    slow = slow_motion(capture, schedules, settings.fps, spacing, settings.factor, options)
    return schedules, warnings + ([slow] if slow else [])


def _todo_frames(plan: SegmentPlan) -> int:
    """The frames of ``plan``'s pairs still to make: a pair a kept piece ends in has its first
    ``held`` frames there already (passed over, not made again)."""
    return 0 if plan.finished is not None else sum(s.size - s.held for s in plan.pairs if s.todo)


def _pair_images(capture: Capture, segment: list[Shot], plan: SegmentPlan) -> Iterator[tuple]:
    """``(step, (shot0, img0), (shot1, img1))`` for each pair of ``plan``, the images decoded
    only for the pairs still to do (``None`` for those finished pieces hold): a run resumed near
    the end of a long walk decoded every earlier photo again."""
    needed = sorted({k for step in plan.pairs if step.todo for k in (step.k, step.k + 1)})
    decoded = zip(needed, iter_frames(capture, [segment[k] for k in needed]), strict=True)
    kept: dict[int, object] = {}
    for step in plan.pairs:
        if not step.todo:
            yield step, (segment[step.k], None), (segment[step.k + 1], None)
            continue
        while step.k + 1 not in kept:
            k, (_, image) = next(decoded)
            kept[k] = image
        for k in [k for k in kept if k < step.k]:
            del kept[k]  # (two images at a time)
        yield step, (segment[step.k], kept[step.k]), (segment[step.k + 1], kept[step.k + 1])


def _write_segment(
    capture: Capture,
    plan: SegmentPlan,
    rows: list[dict],
    interp: Interpolator,
    out: Path,
    settings: InterpolateSettings,
    ledger: Ledger,
    progress: Callable[[int], None],
) -> tuple[dict, list[str], float]:
    """Write what ``plan`` leaves of one segment: its videos, GPX and PNG frames; returns its
    manifest record (also recorded in the ledger), the encoders' warnings and the wall seconds
    spent in the interpolator's calls.

    ``rows``: the segment's manifest rows (``manifest.segment_rows``). For each pair of the plan
    still to do: interpolate, write its frames that no kept piece holds, record the pieces the
    writer has closed.
    """
    panoramic = capture.projection == "equirect"
    view = settings.view
    writer = SegmentWriter(
        out, plan.names, panoramic=panoramic, fps=settings.fps, quality=settings.quality,
        codec=settings.codec, max_width=settings.max_video_width, hfov=view.hfov,
        pitch=view.pitch, flat_size=(view.width, view.height),
        frame_dir=out / "frames" if settings.frames else None, first_index=plan.first_index,
        chunk_frames=settings.chunk_frames, kept_chunks=plan.kept_chunks,
    )  # fmt: skip
    segment = capture.segments[plan.seg]
    start = video_start(rows, segment, capture.time_source)  # the videos' and the GPX's clock
    # per pair, what ran and why, when the interpolator says (sweep, rnn); a previous run's
    # records of the pairs its pieces hold whole (those are not made again)
    held = {step.k for step in plan.pairs if not step.todo}
    pairs = [p for p in ledger.done_pairs(plan.seg, settings.chunk_frames) if p["pair"] in held]
    inside = 0.0

    def write(image) -> None:  # (a frame is counted as it is made, not in bursts per pair)
        writer.write(image)
        progress(1)

    try:
        for step, (shot0, img0), (shot1, img1) in _pair_images(capture, segment, plan):
            if step.todo:
                hfov = pair_hfov(shot0, shot1)
                left = step.times[step.held :]  # the times not yet written, ascending
                if left[0] == 0.0:
                    write(img0)
                # the in-between times, asked CALL_BYTES of frames at a time
                times = [t for t in left if 0.0 < t < 1.0]
                per_call = max(1, CALL_BYTES // img0.nbytes)
                for first in range(0, len(times), per_call):
                    called = time.perf_counter()
                    mids = interp(
                        img0, img1, times[first : first + per_call], equirect=panoramic, hfov=hfov
                    )  # fmt: skip
                    inside += time.perf_counter() - called
                    if first == 0 and (about := interp.last_pair()):
                        pairs.append({"pair": step.k, **about})
                    for image in mids:
                        write(image)
                    del mids  # (before the next call makes its own)
                ledger.finish_chunks(
                    plan.seg, settings.chunk_frames, writer.closed, pairs, writer.closed_frames
                )
                if left[-1] == 1.0:
                    write(img1)  # (the segment's last image, after its last pair's frames)
        writer.finish()  # the last piece, recorded before the join (a kill there keeps it)
        ledger.finish_chunks(
            plan.seg, settings.chunk_frames, writer.closed, pairs, writer.closed_frames
        )
        warnings = writer.close(post_360=camm_step(rows), created=start)
    except BaseException:
        writer.abort()
        raise
    files = dict(plan.names)
    gpx_name = write_segment_gpx(out, plan.names, rows, start, settings.fps)
    where = [rows[i] for i in placed(rows)]
    unplaced = len(rows) - len(where)
    unheight = sum("alt" not in row for row in where)
    if gpx_name is not None:
        files["gpx"] = gpx_name
    video = plan.names["360"] if panoramic else plan.names["flat"]
    # what holds the positions (a flat video carries no CAMM; a 360 one is what the track is for)
    tracks = " or ".join(["GPX"] * (gpx_name is not None) + ["CAMM track"] * panoramic)
    if where and unplaced:  # a track with holes: the frames without a position are left out
        if gpx_name is not None:
            kept = "the GPX and CAMM track leave" if panoramic else "the GPX leaves"
            kept += " them out"
        else:  # (no UTC time: a GPX's points could not say which frames they are)
            kept = "the CAMM track leaves them out; " if panoramic else ""
            kept += "no GPX, as without a UTC time its points could not say which frames they are"
        warnings.append(f"{video}: {unplaced} of {len(rows)} frames have no position: {kept}")
    if tracks and where and 0 < unheight < len(where):  # heights with holes: none either
        held = " (CAMM holds 0)" if panoramic else ""
        warnings.append(
            f"{video}: no altitude in the {tracks}{held}: {unheight} of {len(where)} frames have none"
        )
    record = {"files": files, "frames": rows, **({"pairs": pairs} if pairs else {})}
    ledger.finish_segment(plan.seg, record)
    writer.clear()  # the pieces go only once the ledger no longer needs them
    return record, warnings, inside
