"""What the workers say while their captures run, for the driver to log at once.

The local runner says a capture's warnings ("no GPS", "slow motion") before its work, not hours
later with its result (``run_capture``'s ``said``). Ray workers do not log to the driver
(``log_to_driver`` is off: Ray would prefix and interleave every line), so each posts its
capture's early warnings here, and the driver, which polls while it waits for results, logs them
and leaves them out of the capture's result when it reports it.

    worker ── post(target, lines), waited for ──► Mailbox ◄── take() every POLL_SECONDS ── driver

A worker waits for its post (it is in the mailbox before its result can reach the driver), so the
driver, taking the mail before each result it reports, never says a warning twice. Plain Python:
:mod:`.ray_runner` makes it one Ray actor for the run (no CPU asked). :func:`report` logs a
finished capture on the driver, as the local runner does, less what was said early.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from viewsynth.walkthrough import CaptureResult, frames_in
from viewsynth.walkthrough.folders import named_warning, unsaid

log = logging.getLogger("viewsynth")

#: How often the driver takes the mail while it waits for results.
POLL_SECONDS = 1.0


class Mailbox:
    """Lines posted per capture (its output folder, ``target``), in order, until taken."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, list[str]]] = []

    def post(self, target: str, lines: list[str]) -> None:
        """``lines`` said by the capture writing into ``target``."""
        self.posted.append((target, list(lines)))

    def take(self) -> list[tuple[str, list[str]]]:
        """Everything posted since the last take, in order."""
        taken, self.posted = self.posted, []
        return taken


def report(
    result: CaptureResult,
    payload: dict[str, Any],
    worker: int,
    source: Path,
    early: Sequence[str] = (),
) -> None:
    """Log one finished capture (of ``source``) as the local runner does (its warnings, less those
    said ``early``, as it ran; or why it failed), and the seconds it waited for memory."""
    if result.status == "failed":
        log.error("%s: failed: %s", result.name, result.reason)
        if payload["traceback"]:
            log.debug("%s: worker %d traceback:\n%s", result.name, worker, payload["traceback"])
        return
    for warning in unsaid(result.warnings, early):
        log.warning("%s", named_warning(warning, result.name, source))
    said = frames_in(result.frames, result.kept, result.seconds)
    said += f", {result.reason}" if result.retimed else ""  # ("re-timed from 30 to 24 fps")
    waited = payload.get("waited", 0.0)
    waiting = f", {waited:.0f} s waiting for memory" if waited >= 1 else ""
    log.info("%s: %s, %s (worker %d%s)", result.name, result.status, said, worker, waiting)
