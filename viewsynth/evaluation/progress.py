"""Progress of a long run: done, left and an estimate of the time left, one line per step.

A run is parts (a set, a method at a size, a capture's job) in sections (quality, speed, job).
Each part has a planned amount of work in units that should cost alike (a set: samples x
megapixels x calls per sample); the section's estimate of its time left is its remaining units
at the rate measured so far in that section, and a part's estimate is its own steps left at its
own pace. Lines go to ``log`` (the benchmark job writes them to stderr).
"""

from __future__ import annotations

import time
from collections.abc import Callable

Log = Callable[[str], None]


def clock_text(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """One section's progress: ``start_part`` for each part, then ``step`` after each step."""

    def __init__(
        self,
        section: str,
        units: float,
        parts: int,
        log: Log,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.section = section
        self.units = float(units)  # planned units of the whole section
        self.parts = parts
        self.log = log
        self.clock = clock
        self.started = clock()
        self.done_units = 0.0
        self.part = 0
        self.part_name = ""
        self.part_steps = 0
        self.part_units = 0.0
        self.part_started = self.started
        self.part_done = 0

    def start_part(self, name: str, steps: int | None, units: float) -> None:
        """A new part of ``steps`` steps (``None``: unknown) worth ``units`` in all."""
        self.part += 1
        self.part_name, self.part_steps, self.part_units = name, steps, float(units)
        self.part_started, self.part_done = self.clock(), 0

    def left_s(self) -> float | None:
        """Estimated seconds left in the section: its units left at the rate so far."""
        if self.done_units <= 0:
            return None
        rate = (self.clock() - self.started) / self.done_units
        return max(0.0, self.units - self.done_units) * rate

    def step(self, what: str = "") -> str:
        """One step of the current part done: logs and returns the progress line."""
        self.part_done += 1
        steps = self.part_steps
        per_step = self.part_units / steps if steps else 0.0
        self.done_units += per_step
        now = self.clock()
        part_left = None
        if steps:
            part_left = (now - self.part_started) / self.part_done * (steps - self.part_done)
        count = f"{self.part_done}/{steps}" if steps else f"{self.part_done}"
        left = f", {steps - self.part_done} left" if steps else ""
        line = (
            f"{self.section} {self.part}/{self.parts} {self.part_name}: {count} done{left}"
            + (f" ({what})" if what else "")
            + f"; this part ETA {clock_text(part_left)}"
            + f"; {self.section} ETA {clock_text(self.left_s())}"
            + f" (elapsed {clock_text(now - self.started)})"
        )
        self.log(line)
        return line

    def end_part(self) -> None:
        """The part is over (it may have had fewer steps than planned): count it as done."""
        if self.part_steps:
            per_step = self.part_units / self.part_steps
            self.done_units += per_step * max(0, self.part_steps - self.part_done)
        else:
            self.done_units += self.part_units
        self.part_steps = 0
