"""Resume: finished work is recognised and kept, by a ledger in the output folder.

``OUT/.viewsynth-state.json`` holds the fingerprint of the run (:func:`fingerprint`: the inputs'
names, sizes and modification times, every setting and the interpolator's own record), each
segment finished under it (its file names and manifest rows), the chunks finished of the segment
in progress, and whether the whole capture was completed. A segment is taken as done when the
ledger lists it under the same fingerprint and its files still exist; a capture when, besides, the
ledger says complete and ``manifest.json`` exists. Any other fingerprint starts the ledger afresh.

Inside a segment, the videos are encoded in closed pieces of ``chunk_frames`` frames
(:mod:`viewsynth.export.chunks`); the ledger is rewritten (aside, then renamed) after every piece
and every segment, so an interrupted run resumes at the first frame of its unfinished chunk.
``chunk_frames`` is not part of the fingerprint (it does not change a frame of the outputs): a
re-run with another chunk size keeps finished segments and redoes only the one in progress.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from viewsynth import config as config_lib
from viewsynth import frames
from viewsynth.capture import Capture
from viewsynth.walkthrough.manifest import MANIFEST
from viewsynth.walkthrough.settings import InterpolateSettings

STATE_FILE = ".viewsynth-state.json"


def fingerprint(capture: Capture, settings: InterpolateSettings, record: dict[str, Any]) -> str:
    """Hash of the inputs (names, sizes, modification times), every setting and the
    interpolator's record (``Interpolator.record()``)."""
    h = hashlib.sha256()
    decisive = config_lib.to_dict(settings)
    decisive.pop("chunk_frames", None)  # how the work is cut, not what it makes
    h.update(json.dumps(decisive, sort_keys=True).encode())
    h.update(json.dumps(record, sort_keys=True).encode())
    for segment in capture.segments:
        for shot in segment:
            st = shot.path.stat()
            h.update(f"{shot.name}|{shot.frame_index}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


class Ledger:
    """The resume state of one output folder under one fingerprint (see the module docstring)."""

    def __init__(self, out: Path, key: str):
        self.out = out
        self.path = out / STATE_FILE
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("fingerprint") != key:
            state = {"fingerprint": key, "segments": {}}
        self.state = state

    def finished_outputs(self) -> list[str] | None:
        """The video files of a capture completed under this fingerprint, when they all still
        exist (and the manifest does); else None."""
        if not ((self.out / MANIFEST).exists() and self.state.get("complete")):
            return None
        outputs = [
            str(self.out / f)
            for seg in self.state["segments"].values()
            for f in seg["files"].values()
        ]
        return outputs if all(Path(p).exists() for p in outputs) else None

    def begin(self) -> None:
        """Mark the capture incomplete before any output is touched."""
        self.state["complete"] = False
        self._save()

    def done_segment(self, seg: int) -> dict | None:
        """Segment ``seg``'s record (files and manifest rows) when it is finished and its files exist."""
        done = self.state["segments"].get(str(seg))
        if done and all((self.out / f).exists() for f in done["files"].values()):
            return done
        return None

    def done_chunks(self, seg: int, chunk_frames: int) -> int:
        """How many chunks of ``chunk_frames`` frames of segment ``seg`` a previous run finished
        (the writer checks that their pieces still exist)."""
        done = self.state.get("chunks", {}).get(str(seg))
        if done and done["chunk_frames"] == chunk_frames:
            return int(done["done"])
        return 0

    def finish_chunk(self, seg: int, chunk_frames: int, done: int) -> None:
        """The first ``done`` chunks of segment ``seg`` are closed pieces."""
        self.state.setdefault("chunks", {})[str(seg)] = {"chunk_frames": chunk_frames, "done": done}
        self._save()

    def finish_segment(self, seg: int, record: dict) -> None:
        self.state["segments"][str(seg)] = record
        self.state.get("chunks", {}).pop(str(seg), None)
        self._save()

    def complete(self) -> None:
        self.state["complete"] = True
        self._save()

    def _save(self) -> None:
        frames.write_text(self.path, json.dumps(self.state, indent=2))
