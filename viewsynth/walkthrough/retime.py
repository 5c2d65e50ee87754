"""A finished capture asked again at another frame rate: its outputs re-timed, not made again.

The frames of a walkthrough do not depend on ``fps``; only their times do. So when the ledger
(:mod:`~viewsynth.walkthrough.resume`) records a capture completed under a fingerprint that
differs from this run's in ``fps`` alone (:meth:`~viewsynth.walkthrough.resume.Ledger.retimable`),
its outputs are edited in place:

- each segment's videos are re-timed by their boxes (:func:`viewsynth.export.retime.retime_video`:
  not a picture re-encoded; the 360 video's CAMM track with them);
- each segment's GPX is written again, point i at i / fps after the video's start;
- ``manifest.json`` takes this run's settings, fingerprint and frame-rate warning; its rows stay.

Where a video cannot be re-timed exactly (30 to 29.97 fps; HEVC at a higher rate), the capture is
made again, as any other change of settings, with a line that says why. The ledger is marked
incomplete under this run's fingerprint before the first file is touched, and complete with the
earlier segments once the last is: a re-time cut short leaves a ledger with nothing finished, so
the next run makes the capture again rather than keep a half-edited video. Every file is written
aside and renamed into place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from viewsynth import config as config_lib
from viewsynth.capture import Capture, CaptureOptions
from viewsynth.capture.schedule import PairSchedule, slow_motion
from viewsynth.errors import ViewsynthError
from viewsynth.export.retime import retime_video, why_not
from viewsynth.walkthrough.geotag import video_start, write_segment_gpx
from viewsynth.walkthrough.manifest import MANIFEST, write_manifest
from viewsynth.walkthrough.resume import Ledger
from viewsynth.walkthrough.settings import InterpolateSettings


def retime_finished(
    ledger: Ledger,
    capture: Capture,
    settings: InterpolateSettings,
    schedules: Sequence[Sequence[PairSchedule]],
    options: CaptureOptions,
    told: list[str],
) -> tuple[list[str], list[str], str] | None:
    """Re-time the capture completed in ``ledger``'s folder at another frame rate to
    ``settings.fps``, when it can be: its outputs (the manifest last), warnings (its manifest's)
    and the note that says so. None when there is no such capture, or when a video cannot be
    re-timed exactly: then the line that says so is added to ``told`` (said by this run, not kept
    in the manifest it then makes) and nothing is touched. ``schedules``, ``options``: the
    capture's, read at ``settings.fps``."""
    old = ledger.retimable()
    if old is None:
        return None
    out, new = ledger.out, settings.fps
    segments = ledger.before["segments"]
    videos = [
        out / name
        for seg in segments.values()
        for kind, name in seg["files"].items()
        if kind != "gpx"
    ]
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for video in videos:
            if reason := why_not(video, old, new):
                raise ViewsynthError(f"{video.name}: {reason}")
    except (OSError, ValueError, ViewsynthError) as err:  # (an MP4 or manifest cut short, too)
        told.append(f"made again at {new:g} fps, not re-timed from {old:g}: {err}")
        return None
    ledger.begin()  # incomplete under this fingerprint: a re-time cut short is made again
    for video in videos:
        retime_video(video, old, new)
    for seg, record in segments.items():
        if "gpx" in record["files"]:
            rows, segment = record["frames"], capture.segments[int(seg)]
            start = video_start(rows, segment, capture.time_source)
            write_segment_gpx(out, record["files"], rows, start, new)
    # the only warning the rate words: a video's walkthrough in slow motion
    spacing, factor = settings.spacing or 0.0, settings.factor
    then = slow_motion(capture, schedules, old, spacing, factor, options)
    now = slow_motion(capture, schedules, new, spacing, factor, options)
    said = [w for w in manifest["warnings"] if w != then] + ([now] if now else [])
    manifest.update(
        settings=config_lib.to_dict(settings),
        fingerprint=ledger.state["fingerprint"],
        warnings=said,
    )
    write_manifest(manifest_path, manifest)
    ledger.retimed()
    outputs = [str(out / f) for seg in segments.values() for f in seg["files"].values()]
    return outputs + [str(manifest_path)], said, f"re-timed from {old:g} to {new:g} fps"
