"""``OUT/summary.json``: what became of each capture of a run, also of a run stopped part way.

Both runners (the local one in ``pipelines/interpolate``, and ``viewsynth.runners.ray_runner``)
report to one :class:`RootProgress` as they go, so a run stopped by Ctrl-C or SIGTERM still says
which captures finished (``done``, ``skipped``, ``failed``), which it cut short (``interrupted``)
and which it never began (``not started``). A root's entries that are no capture
(:func:`~viewsynth.walkthrough.folders.find_strays`) are rows too: ``skipped``, with the reason.

Paths (each capture's ``outputs``) are relative to the summary's own folder, ``OUT``: the summary
describes that folder, so it reads the same from any working folder, and after ``OUT`` is moved,
copied or served (``viewsynth view``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from viewsynth import frames
from viewsynth.walkthrough.folders import capture_name
from viewsynth.walkthrough.resume import held_frames
from viewsynth.walkthrough.run import CaptureResult

SUMMARY = "summary.json"


class RootProgress:
    """What became of each of ``captures`` (``find_captures``' ``[(name, path)]``) so far.

    A runner calls ``start(i)`` when it hands capture ``i`` to be processed and ``finish(i,
    result)`` when that capture's result is in; :meth:`results` is then right at any moment.
    With ``out`` (the run's output folder), an ``interrupted`` capture's row counts the frames
    its closed pieces and finished segments hold in ``OUT/<name>`` (a re-run keeps them), those
    there before it started as ``kept``.
    """

    def __init__(self, captures: Sequence[tuple[str, Path]], out: Path | None = None):
        self.labels = [name or capture_name(path) for name, path in captures]
        single = len(captures) == 1 and captures[0][0] == ""
        self.root = not single
        self.targets = [
            None if out is None else out if single else out / name for name, _ in captures
        ]
        self.started: dict[int, tuple[str, int]] = {}  # the ledger's (fingerprint, frames) then
        self.since: dict[int, float] = {}  # when each began (an interrupted row's seconds)
        self.finished: dict[int, CaptureResult] = {}

    def start(self, index: int) -> None:
        self.started[index] = self._held(index)
        self.since[index] = time.perf_counter()

    def finish(self, index: int, result: CaptureResult) -> None:
        if self.root:  # a root's row is named as its output folder (``ride-mp4`` beside ``ride/``)
            result = dataclasses.replace(result, name=self.labels[index])
        self.finished[index] = result

    def results(self) -> list[CaptureResult]:
        """One result per capture, in input order: its own, else ``interrupted`` (started, no
        result yet, or a Ray worker's ``interrupted``) or ``not started``."""
        return [
            r if (r := self.finished.get(i)) and r.status != "interrupted" else self._unfinished(i)
            for i in range(len(self.labels))
        ]

    def _unfinished(self, index: int) -> CaptureResult:
        label = self.labels[index]
        if index not in self.started:
            return CaptureResult(label, "not started")
        (before, kept), (now, held) = self.started[index], self._held(index)
        kept = min(kept, held) if now == before else 0  # (other settings: started afresh)
        seconds = time.perf_counter() - self.since[index]  # (made / seconds: this run's rate)
        return CaptureResult(label, "interrupted", held, seconds, kept=kept)

    def _held(self, index: int) -> tuple[str, int]:
        target = self.targets[index]
        return ("", 0) if target is None else held_frames(target)


def stray_results(strays: Sequence[tuple[str, str]]) -> list[CaptureResult]:
    """``find_strays``' ``[(name, reason)]`` as ``skipped`` rows of the summary."""
    return [CaptureResult(name, "skipped", reason=reason) for name, reason in strays]


def write_summary(out: Path, results: Sequence[CaptureResult], seconds: float) -> Path:
    """Write ``OUT/summary.json``: the run's wall ``seconds`` and a row per result."""
    path = out / SUMMARY
    data = {
        "seconds": round(seconds, 3),
        "captures": [
            {
                "name": r.name,
                "status": r.status,
                "frames": r.frames,
                "made": r.made,
                "kept": r.kept,
                "seconds": round(r.seconds, 3),
                "interpolate_seconds": round(r.interpolate_seconds, 6),
                "outputs": [_relative(p, out) for p in r.outputs],
                "reason": r.reason,
            }
            for r in results
        ],
    }
    frames.write_text(path, json.dumps(data, indent=2))
    return path


def frames_in(frames: int, kept: int, seconds: float) -> str:
    """``frames`` output frames, ``kept`` of them from an earlier run, the others made in this
    run's ``seconds``, in words: ``954 frames (308 kept from an earlier run, 646 made in 21.3 s)``
    (the seconds are never given to frames they did not make)."""
    if not kept:
        return f"{frames} frames in {seconds:.1f} s"
    return f"{frames} frames ({kept} kept from an earlier run, {frames - kept} made in {seconds:.1f} s)"


def _relative(path: str, out: Path) -> str:
    """``path`` (as the runner wrote it: relative to the working folder, or absolute) relative
    to ``out``."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(out))
