"""Which in-between times each neighbouring pair of a segment needs.

A segment of shots s0, s1, ..., sn becomes the pairs (s0, s1), ..., (s(n-1), sn). Each pair renders
times ``[0, 1/N, ..., (N-1)/N]`` where t=0 is its first shot itself, and the segment's last pair
also renders t=1 (the last shot), so every shot appears exactly once and the video of a segment is
the concatenation of its pairs' frames in order.

- ``factor`` N: the same N steps for every pair (N-1 new frames between two shots); on a video
  sampled by time whose frame rate varies (a phone's 30 fps that drops to 10 in the dark), each
  pair's steps follow the video time it stands for (:class:`Pace`), so every part of the video
  plays at one speed; N is a typical pair's.
- ``spacing`` metres: ``round(distance / spacing)`` steps per pair (at least 1), so the video moves
  at a constant speed over ground whatever the camera's shooting interval, and every shot is still
  shown (a photo is the sharpest frame there is). A pair needs a GPS position on both its shots;
  one without falls back to ``factor`` steps, said in one warning per segment; the pairs around it
  keep their spacing.
- ``spacing`` on a video read for it (every shot has ``along``, metres along its track, and
  ``whole``, ``capture.sampling``): every frame marked ``whole`` is shown as it is, and between
  two of them ``round(d / spacing)`` equal steps, each in-between frame made from the two frames
  around it (``steps_along``). The whole frames are chosen (``whole_frames``) so that each step is
  ``spacing`` within ``STEP_TOLERANCE``: the most real frames, the fewest interpolated.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from viewsynth.capture.heading import haversine
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.shot import Capture, Shot

#: ``spacing`` on a video read for it: each step is ``spacing`` within this share of it, metres
#: along the track (the README's 2 %, less a margin for the chord of a curve).
STEP_TOLERANCE = 0.015
#: ... over at most this many steps between two whole frames (past it: interpolated ones alone).
MAX_RUN = 32
#: A walkthrough that plays a video this many times slower than it was shot is said: a dashcam's
#: every frame with ``--factor`` 8 is 6.7x slow motion (8 x 25 / 30 fps), hours of work for a ride.
SLOW_MOTION = 2.0


@dataclass(frozen=True)
class PairSchedule:
    """The frames to render for one pair ``(segment[index], segment[index + 1])``."""

    index: int  # position of the pair's first shot in its segment
    times: tuple[float, ...]  # t in [0, 1] to render, ascending; t=0 is segment[index] itself
    distance: float | None  # metres between the two shots, when both have a GPS position


def pair_times(steps: int, last: bool = False) -> tuple[float, ...]:
    """``(0, 1/steps, ..., (steps-1)/steps)``, plus ``1.0`` when ``last``; ``steps`` >= 1."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    times = tuple(k / steps for k in range(steps))
    return (*times, 1.0) if last else times


@dataclass(frozen=True)
class Pace:
    """``factor`` steps for a typical pair of a video whose frame rate varies, and for each other
    pair as many more or fewer as the video time it stands for asks, so that the walkthrough
    plays every part of the video at one speed (a pair shot at 10 fps: 3x a 30 fps pair's).

    A pair stands for its seconds per decoded frame (between its two shots) times the decoded
    frames the sampling puts in a pair (``every_frames``), or for ``every_seconds`` (a pair's
    shots lie that far apart at any rate; never less than one frame's time). Not for the time
    between its two shots: where a stop was dropped (``still``: 40 frames of one view), the pair
    that spans it would get 40 pairs' steps, and the walkthrough dwell on the view the stop was
    dropped not to dwell on; per decoded frame it is one pair, as at a constant rate.

    ``typical``: the median over the capture's pairs, so that the pairs at the video's usual
    rate keep exactly ``factor`` steps (a constant-rate video: every pair) and its segments'
    videos play at one speed too; a mean would move every pair off ``factor`` by a dark
    stretch. Each pair's steps are rounded on their own (at least 1, every shot shown).
    """

    every_frames: int  # decoded frames a pair of the sampling spans (1: every frame) ...
    every_seconds: float  # ... or seconds of video (0: by frames)
    typical: float = 0.0  # seconds a typical pair stands for

    def span(self, a: Shot, b: Shot) -> float:
        """Seconds of video the pair ``(a, b)`` stands for (see the class docstring)."""
        per_frame = (b.time - a.time) / max(1, b.frame_index - a.frame_index)
        if self.every_seconds > 0.0:
            return max(self.every_seconds, per_frame)
        return self.every_frames * per_frame

    def steps(self, a: Shot, b: Shot, factor: int) -> int:
        """Steps for the pair ``(a, b)``: ``factor`` times its span over a typical pair's,
        rounded halves up, at least 1."""
        return max(1, int(math.floor(factor * self.span(a, b) / self.typical + 0.5)))


def video_pace(capture: Capture, options: CaptureOptions, factor: int) -> Pace | None:
    """How ``factor`` steps are shared between the pairs of a video sampled by time (``options``:
    the capture's), or None where every pair keeps ``factor``: photos, a video sampled by metres,
    one whose pairs all stand for one time (a constant rate, or every S seconds: nothing
    changes)."""
    by_metres = options.every_metres > 0.0 and any(s.has_position for s in capture.shots)
    timed = all(s.time is not None and s.frame_index is not None for s in capture.shots)
    if capture.kind != "video" or by_metres or not timed:
        return None
    pace = Pace(options.every_frames, options.every_seconds)
    pairs = [p for segment in capture.segments for p in zip(segment, segment[1:], strict=False)]
    spans = sorted(pace.span(a, b) for a, b in pairs)
    if not spans or spans[len(spans) // 2] <= 0.0:
        return None
    pace = replace(pace, typical=spans[len(spans) // 2])
    return None if all(pace.steps(a, b, factor) == factor for a, b in pairs) else pace


def steps_for_distance(distance: float, spacing: float) -> int:
    """Steps so that frames are ``spacing`` metres apart: ``round(distance / spacing)``, at least 1.

    Rounds halves up (2.5 -> 3), not to even as Python's ``round`` would.
    """
    if not spacing > 0.0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    return max(1, int(math.floor(distance / spacing + 0.5)))


def schedule_segment(
    segment: Sequence[Shot], *, factor: int = 8, spacing: float = 0.0, pace: Pace | None = None
) -> tuple[list[PairSchedule], list[str]]:
    """Schedules for the ``len(segment) - 1`` pairs of one segment, and warnings.

    ``spacing`` > 0 asks for constant speed (metres between output frames); ``factor`` is the
    fixed number of steps per pair otherwise, and the fallback for a pair with a shot without a
    position; ``pace`` (:func:`video_pace`) shares those steps by the video time each pair
    stands for.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    pairs = list(zip(segment, segment[1:], strict=False))
    distances = [
        haversine(a.lat, a.lon, b.lat, b.lon) if a.has_position and b.has_position else None
        for a, b in pairs
    ]
    if spacing > 0.0 and pairs and all(shot.along is not None for shot in segment):
        return _on_steps(segment, distances, spacing), []
    warnings = []
    blind = [k for k, d in enumerate(distances) if d is None] if spacing > 0.0 else []
    if blind:
        missing = [s.name for s in segment if not s.has_position]
        shots = missing[0] if len(missing) == 1 else f"{missing[0]} .. {missing[-1]}"
        warnings.append(
            f"--spacing {spacing:g} needs GPS on both shots of a pair, but {len(missing)} of "
            f"{len(segment)} shots ({shots}; segment {segment[0].name} .. {segment[-1].name}) have "
            f"none: their {len(blind)} pairs use --factor {factor}"
        )
    out = []
    for k, (dist, (a, b)) in enumerate(zip(distances, pairs, strict=True)):
        if spacing > 0.0 and dist is not None:
            steps = steps_for_distance(dist, spacing)
        else:
            steps = pace.steps(a, b, factor) if pace is not None else factor
        out.append(PairSchedule(k, pair_times(steps, last=k == len(pairs) - 1), dist))
    return out, warnings


def whole_frames(along: Sequence[float], spacing: float) -> list[int]:
    """The frames (indices into ``along``, metres along the track, ascending) a walkthrough of
    steps ``spacing`` apart shows as they are: frame 0, then a chain in which each next one lies
    ``n`` steps on (``n`` <= ``MAX_RUN``) with each step ``spacing`` within ``STEP_TOLERANCE``,
    with as many frames as can be (the fewest to interpolate); past its end, interpolated steps."""
    at = np.asarray(along, dtype=np.float64)
    # the most whole frames of a chain from frame 0 ending at each (0: none), and its one before
    best, prev = np.zeros(len(at), dtype=np.int64), np.full(len(at), -1)
    best[0] = 1
    runs = np.arange(1, MAX_RUN + 1)[:, None] * spacing
    lo = np.searchsorted(at, at[None, :] - runs * (1.0 + STEP_TOLERANCE), side="left")
    hi = np.searchsorted(at, at[None, :] - runs * (1.0 - STEP_TOLERANCE), side="right")
    for j in range(1, len(at)):
        for a, b in zip(lo[:, j], hi[:, j], strict=True):
            if a < min(b, j):
                k = a + int(np.argmax(best[a : min(b, j)]))
                if best[k] and best[k] + 1 > best[j]:
                    best[j], prev[j] = best[k] + 1, k
    chain = [int(np.flatnonzero(best == best.max())[-1])]
    while prev[chain[-1]] >= 0:
        chain.append(int(prev[chain[-1]]))
    return chain[::-1]


def steps_along(along: Sequence[float], whole: Sequence[int], spacing: float) -> list[float]:
    """Metres along the track of each output frame: the ``whole`` frames (ascending indices into
    ``along``; the first shown first), ``round(d / spacing)`` equal steps between two of them,
    then steps of ``spacing`` to the last frame."""
    shown = [0, *whole] if not whole or whole[0] != 0 else list(whole)
    out: list[float] = []
    for a, b in zip(shown, shown[1:], strict=False):
        d = along[b] - along[a]
        n = steps_for_distance(d, spacing) if d > 0.0 else 1
        out += [along[a] + k * d / n for k in range(n)]
    start = along[shown[-1]]
    tail = math.floor((along[-1] - start) / spacing + 1e-9)
    return out + [start + k * spacing for k in range(tail + 1)]


def _on_steps(
    segment: Sequence[Shot], distances: Sequence[float | None], spacing: float
) -> list[PairSchedule]:
    """Each output frame of :func:`steps_along` in the pair around it, at its t (a whole frame:
    t = 0 of its pair, or 1 of the last)."""
    along = [s.along for s in segment]
    whole = [k for k, s in enumerate(segment) if s.whole]
    times: list[list[float]] = [[] for _ in distances]
    last = len(distances)
    for place in steps_along(along, whole, spacing):
        k = min(bisect.bisect_right(along, place) - 1, last)
        if k == last:  # the last frame itself
            times[-1].append(1.0)
        elif along[k] == place:  # a frame itself
            times[k].append(0.0)
        else:
            times[k].append((place - along[k]) / (along[k + 1] - along[k]))
    return [
        PairSchedule(k, tuple(t), d) for k, (t, d) in enumerate(zip(times, distances, strict=True))
    ]


def frame_count(schedule: Sequence[PairSchedule]) -> int:
    """Number of output frames of a segment's schedule."""
    return sum(len(pair.times) for pair in schedule)


def slow_motion(
    capture: Capture,
    schedules: Sequence[Sequence[PairSchedule]],
    fps: float,
    spacing: float,
    factor: int,
    options: CaptureOptions,
) -> str:
    """The warning for a video whose walkthrough (``schedules`` at ``fps``, made with ``spacing``
    or ``factor`` from the frames ``options`` sampled) plays over ``SLOW_MOTION`` times slower
    than the video time its shots span, else ''."""
    if capture.kind != "video" or any(s.time is None for s in capture.shots):
        return ""
    shown = sum(segment[-1].time - segment[0].time for segment in capture.segments)
    out = sum(frame_count(schedule) for schedule in schedules) / fps
    if shown <= 0.0 or out < SLOW_MOTION * shown:
        return ""
    placed = any(s.has_position for s in capture.shots)  # (else by distance: every frame)
    sampling = options.video_sampling() if placed or not options.every_metres else ""
    if spacing and placed:  # (steps of M metres: a longer step is the way)
        how, fix = f"--spacing {spacing:g}", "ask a larger --spacing"
    else:  # (--spacing without a track fell back to --factor: not offered again)
        how = f"{sampling or 'every frame'}, --factor {factor}"
        ways = ["--set capture.every_seconds=S", "--spacing M (GPS)"][: 1 if spacing else 2]
        fix = f"sample it: {', '.join(ways)} or --factor 1"
    return (
        f"{capture.source.name}: the walkthrough plays {out / shown:.1f}x slower than the video "
        f"({out:.1f} s at {fps:g} fps from {shown:.1f} s of video: {how}); to play it at its "
        f"speed or faster, {fix}"
    )
