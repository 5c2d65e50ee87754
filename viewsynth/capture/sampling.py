"""Which of a video's frames become shots: their times (:class:`FrameClock`) and the sampling
(:class:`Picker`: every N frames, every S seconds, or every M metres along the GPS track).

With ``--spacing`` M (a video sampled every M metres), the frames either side of each multiple of
M along the track are kept (``Picker.exact``), each with its metres along the track
(``Shot.along``): :mod:`~viewsynth.capture.schedule` then puts an output frame on every mark,
between two frames a frame's travel apart, where whole sampled frames (the first at or past each
mark) stepped by M plus or minus a frame's travel (0.5 m at 15 m/s and 30 fps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewsynth.capture.heading import haversine
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.telemetry import Fix
from viewsynth.errors import FrameError
from viewsynth.frames import video_times


class FrameClock:
    """When each decoded frame is shown, in seconds of video time.

    A constant-rate video's frame i is at i / fps. A variable-rate one (phones slow down in the
    dark and drop frames when busy) drifts from that, by seconds over a few minutes: its frames
    take the container's own presentation times (``frames.video_times``), when they are more than
    half a frame away from i / fps somewhere.
    """

    def __init__(self, fps: float, times: tuple[float, ...] = (), cut: int = 0):
        self.fps, self.cut = fps, cut  # cut: frames an edit list hides at the start
        self.count = len(times) or None  # the frames the container lists (None: unknown)
        drift = max((abs(t - i / fps) for i, t in enumerate(times)), default=0.0)
        self.times = times if drift > 0.5 / fps else ()

    @classmethod
    def of(cls, path: Path, fps: float) -> FrameClock:
        """The clock of the video at ``path``, whose average rate is ``fps``."""
        try:
            listed = video_times(path)
        except FrameError:  # the decoder then says what is wrong with the file
            return cls(fps)
        return cls(fps, listed.times, listed.cut)

    def __call__(self, index: int) -> float:
        """Frame ``index``'s time (past the listed frames: on at the average rate)."""
        if index < len(self.times):
            return self.times[index]
        if self.times:
            return self.times[-1] + (index + 1 - len(self.times)) / self.fps
        return index / self.fps


def sampled(index: int, clock: FrameClock, every_frames: int, every_seconds: float) -> bool:
    """Whether decoded frame ``index`` is kept: every ``every_frames``-th frame, or, when
    ``every_seconds`` > 0, the first frame at or after each multiple of ``every_seconds``."""
    if every_seconds <= 0.0:
        return index % every_frames == 0
    # Frame i covers video time [t_i, t_i+1); keep it when a sampling instant falls inside.
    start, end = clock(index), clock(index + 1)
    k = np.ceil(start / every_seconds - 1e-9)
    return bool(k * every_seconds < end - 1e-9)


class Picker:
    """Whether each frame, in order, is sampled: ``(keep, its position)``. Every
    ``every_frames``-th or at each ``every_seconds`` (:func:`sampled`), or each ``step`` metres
    along the track (``locate``: a frame's time -> its position). Frames without a position are
    never kept then: each stretch of them is listed in ``lost`` (video seconds), and the first
    frame after one, kept, begins a new segment (``cuts``) when the frames on either side are
    over ``capture.distance_gap`` (and two steps) apart (a logger that lost the sky for a
    minute); a shorter stretch is walked across.

    ``exact`` (``--spacing``, the picks listed before decoding: :meth:`choose`): the frame just
    before each mark is kept too, so each mark lies between two neighbouring frames, and each
    kept frame's metres along the track go in ``along``; a new segment's first frame is put on a
    mark (the stretch without a position counts as whole steps), so its walkthrough starts there.
    """

    def __init__(
        self,
        locate: Callable[[float], Fix | None],
        clock: FrameClock,
        options: CaptureOptions,
        step: float,
        exact: bool = False,
    ) -> None:
        self.locate, self.clock, self.options, self.step = locate, clock, options, step
        self.exact = exact and step > 0.0
        self.prev: Fix | None = None  # the previous frame's position
        self.along, self.mark = 0.0, 0.0  # metres along the track so far; the next one due
        self.lost: list[tuple[float, float]] = []  # (from, to): video times without a position
        self.cuts: list[int] = []  # the frames that begin a segment after such a stretch
        self._since: float | None = None  # when the current stretch without a position began
        # exact: the metres along the track of each kept frame; the previous placed frame
        self.along_of: dict[int, float] = {}
        self._before: tuple[int, Fix, float] | None = None

    def __call__(self, index: int) -> tuple[bool, Fix | None]:
        where = self.locate(self.clock(index))
        step = self.step
        if step <= 0.0:
            return sampled(
                index, self.clock, self.options.every_frames, self.options.every_seconds
            ), where
        if where is None:
            if self._since is None:
                self._since = self.clock(index)
            return False, None
        if self._since is not None:  # a stretch without a position ends
            self.end(index)
            gap = max(self.options.distance_gap, 2.0 * step)  # (a few steps are bridged)
            prev = self.prev
            far = prev is not None and haversine(prev.lat, prev.lon, where.lat, where.lon) > gap
            if far or self.prev is None:  # start afresh here (a new segment after a far gap)
                self.cuts += [index] if far else []
                if self.exact:
                    self.along = math.ceil(self.along / step - 1e-9) * step
                    self._before = None
                self.prev, self.mark = None, self.along
        if self.prev is not None:
            self.along += haversine(self.prev.lat, self.prev.lon, where.lat, where.lon)
        self.prev = where
        before, self._before = self._before, (index, where, self.along)
        if self.along < self.mark:
            return False, where
        if not self.exact:
            while self.mark <= self.along:
                self.mark += step
            return True, where
        self.mark = (math.floor(self.along / step + 1e-9) + 1) * step
        if before is not None:
            self.along_of[before[0]] = before[2]
        self.along_of[index] = self.along
        return True, where

    def choose(self, count: int) -> dict[int, Fix | None]:
        """The frames of ``count`` kept, each with its position (``exact``: each mark's frame
        before it too)."""
        chosen: dict[int, Fix | None] = {}
        for i in range(count):
            before = self._before
            keep, where = self(i)
            if keep and self.exact and before is not None and before[0] in self.along_of:
                chosen.setdefault(before[0], before[1])
            if keep:
                chosen[i] = where
        self.end(count)
        return dict(sorted(chosen.items()))

    def end(self, index: int) -> None:
        """Close a stretch without a position at frame ``index`` (the end of the video: its
        frame count)."""
        if self._since is not None:
            self.lost.append((self._since, self.clock(index)))
            self._since = None
