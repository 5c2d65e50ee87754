"""The pipeline: capture folder -> interpolated frames -> walkthrough videos and a manifest.

    CAPTURE/                        OUT/
      IMG_0001.jpg  ─┐                walkthrough_360.mp4   (panoramas: spherical metadata V1+V2)
      IMG_0002.jpg   ├─ capture ─►    walkthrough.mp4       (flat view along the travel direction)
      ...           ─┘  align         manifest.json         (every output frame: src, t, lat, lon, alt, heading)
                        schedule      frames/000000.png ... (with --frames)
                        interpolate

A capture split into several segments gets ``-segNN`` on each video, one manifest for all.
Everything streams: one pair of source frames and the frames of that pair are in memory at a
time, whatever the capture's length. Work is resumable: a segment whose videos were finished with
the same inputs and settings is not recomputed, and inside a segment the videos are encoded in
closed pieces of ``chunk_frames`` frames, so a killed run redoes only its unfinished piece; files
are written aside and renamed into place.

Following a capture from folder to MP4:

- :mod:`~viewsynth.walkthrough.folders`: the captures under a root, the output folder;
- :mod:`~viewsynth.walkthrough.settings`: ``InterpolateSettings`` (what decides the outputs, and
  the one place they become an interpolator);
- :mod:`~viewsynth.walkthrough.lock`: one run at a time per output folder;
- :mod:`~viewsynth.walkthrough.run`: ``run_capture``, the run of one capture;
- ``viewsynth.capture``: reading, ordering, aligning and scheduling the frames;
- ``viewsynth.interpolators``: the frames in between;
- ``viewsynth.export.segment``: the videos (and PNG frames) of one segment;
- :mod:`~viewsynth.walkthrough.manifest`: ``manifest.json``;
- :mod:`~viewsynth.walkthrough.resume`: the ledger that recognises finished work, and the plan
  of what is left;
- :mod:`~viewsynth.walkthrough.summary`: ``summary.json``, a run's account of its captures.
"""

from viewsynth.walkthrough.folders import (
    check_not_theirs,
    check_output_dir,
    find_captures,
    find_strays,
    is_capture,
    named_warning,
    remove_if_empty,
    unsaid,
)
from viewsynth.walkthrough.lock import LOCK_FILE, FolderLock
from viewsynth.walkthrough.manifest import MANIFEST
from viewsynth.walkthrough.resume import STATE_FILE, fingerprints
from viewsynth.walkthrough.run import CaptureResult, run_capture
from viewsynth.walkthrough.settings import InterpolateSettings, ViewOptions, settings_from
from viewsynth.walkthrough.summary import (
    SUMMARY,
    RootProgress,
    frames_in,
    stray_results,
    write_summary,
)

__all__ = [
    "LOCK_FILE",
    "MANIFEST",
    "STATE_FILE",
    "SUMMARY",
    "CaptureResult",
    "FolderLock",
    "InterpolateSettings",
    "RootProgress",
    "ViewOptions",
    "check_not_theirs",
    "check_output_dir",
    "remove_if_empty",
    "find_captures",
    "find_strays",
    "named_warning",
    "unsaid",
    "fingerprints",
    "frames_in",
    "is_capture",
    "run_capture",
    "settings_from",
    "stray_results",
    "write_summary",
]
