"""Which of a video's frames become shots: their times (:class:`FrameClock`) and the sampling
(:class:`Picker`: every N frames, every S seconds, or every M metres along the GPS track).

With ``--spacing`` M (a video sampled every M metres), the frames are chosen before decoding
(``Picker.exact``): each with a position gets its metres along the track, and
:func:`~viewsynth.capture.schedule.whole_frames` picks those the walkthrough shows as they are,
about M apart, so that the steps between them (``round(d / M)`` equal ones) are M within
``schedule.STEP_TOLERANCE``; each step between lies between two neighbouring frames, both kept
(``Shot.along``, ``Shot.whole``). A whole frame costs nothing to make, an in-between one a pair.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from viewsynth.capture.heading import haversine
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.schedule import steps_along, whole_frames
from viewsynth.capture.telemetry import Fix
from viewsynth.errors import FrameError
from viewsynth.frames import video_times

#: Metres: distances along a track are chords of at least this, not the sum of the steps from
#: frame to frame, whose centimetres of receiver jitter add up (a GoPro's 18 Hz GPS at walking
#: pace: 13.64 m summed over 13.25 m in chords of 0.28 s; ``--spacing`` steps 3 % short).
TAPE = 0.5


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

    ``exact`` (``--spacing``, the picks listed before decoding: :meth:`choose`): the whole frames
    and the two frames around each step between them are kept, per stretch between cuts, each
    with its metres along the track in ``along_of`` and the whole ones in ``whole``. ``stood``:
    the frames whose pictures showed a stop (``still.stop_places``), each at the stop's place, so
    that a receiver's jitter there counts no metres.
    """

    def __init__(
        self,
        locate: Callable[[float], Fix | None],
        clock: FrameClock,
        options: CaptureOptions,
        step: float,
        exact: bool = False,
        stood: Mapping[int, tuple[float, float, float | None]] | None = None,
    ) -> None:
        self.locate, self.clock, self.options, self.step = locate, clock, options, step
        self.stood = stood or {}
        self.exact = exact and step > 0.0
        self.prev: Fix | None = None  # the previous frame's position
        self.anchor: tuple[Fix, float] | None = None  # where the tape was last laid, its metres
        self.along, self.mark = 0.0, 0.0  # metres along the track so far; the next one due
        self.lost: list[tuple[float, float]] = []  # (from, to): video times without a position
        self.cuts: list[int] = []  # the frames that begin a segment after such a stretch
        self._since: float | None = None  # when the current stretch without a position began
        # exact: the metres along the track of each kept frame; those shown as they are
        self.along_of: dict[int, float] = {}
        self.whole: set[int] = set()

    def __call__(self, index: int) -> tuple[bool, Fix | None]:
        where = self.locate(self.clock(index))
        if where is not None and index in self.stood:
            lat, lon, alt = self.stood[index]
            where = dataclasses.replace(where, lat=lat, lon=lon, alt=alt)
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
                self.prev, self.mark = None, self.along
        if self.prev is None or self.anchor is None:
            self.anchor = (where, self.along)
        else:
            self.along = self._measured(where)
        self.prev = where
        if self.along < self.mark:
            return False, where
        while self.mark <= self.along:
            self.mark += step
        return True, where

    def _measured(self, where: Fix) -> float:
        """Metres along the track at ``where``: the chord from the last anchor on (a new anchor
        each ``TAPE`` metres), never less than the frame before's."""
        anchor, base = self.anchor
        chord = haversine(anchor.lat, anchor.lon, where.lat, where.lon)
        if chord >= TAPE:
            self.anchor = (where, base + chord)
        return max(self.along, base + chord)

    def choose(self, count: int) -> dict[int, Fix | None]:
        """The frames of ``count`` kept, each with its position (``exact``: the whole frames and
        those around each step between them)."""
        chosen: dict[int, Fix | None] = {}
        stretches: list[list[tuple[int, Fix, float]]] = []  # (exact: frames between cuts)
        for i in range(count):
            cuts = len(self.cuts)
            keep, where = self(i)
            if not self.exact:
                chosen.update({i: where} if keep else {})
            elif where is not None:
                if not stretches or len(self.cuts) > cuts:
                    stretches.append([])
                stretches[-1].append((i, where, self.along))
        self.end(count)
        for stretch in stretches:
            # Frames at one place (a stop's, ``stood``; a stuck receiver's) each a micrometre on
            # from the one before: a place along the track is one frame's, the one shown there.
            along: list[float] = []
            for _, _, a in stretch:
                along.append(a if not along or a > along[-1] else along[-1] + 1e-6)
            whole = whole_frames(along, self.step)
            self.whole.update(stretch[k][0] for k in whole)
            used = set(whole)
            for place in steps_along(along, whole, self.step):
                k = bisect.bisect_right(along, place) - 1
                used.update((k, k + 1) if k + 1 < len(along) and along[k] < place else (k,))
            for k in used:
                index, where, _ = stretch[k]
                chosen[index], self.along_of[index] = where, along[k]
        return dict(sorted(chosen.items()))

    def end(self, index: int) -> None:
        """Close a stretch without a position at frame ``index`` (the end of the video: its
        frame count)."""
        if self._since is not None:
            self.lost.append((self._since, self.clock(index)))
            self._since = None
