"""Which in-between times each neighbouring pair of a segment needs.

A segment of shots s0, s1, ..., sn becomes the pairs (s0, s1), ..., (s(n-1), sn). Each pair renders
times ``[0, 1/N, ..., (N-1)/N]`` where t=0 is its first shot itself, and the segment's last pair
also renders t=1 (the last shot), so every shot appears exactly once and the video of a segment is
the concatenation of its pairs' frames in order.

- ``factor`` N: the same N steps for every pair (N-1 new frames between two shots).
- ``spacing`` metres: ``round(distance / spacing)`` steps per pair (at least 1), so the video moves
  at a constant speed over ground whatever the camera's shooting interval, and every shot is still
  shown (a photo is the sharpest frame there is). A pair needs a GPS position on both its shots;
  one without falls back to ``factor`` steps, said in one warning per segment; the pairs around it
  keep their spacing.
- ``spacing`` on a video read for it (every shot has ``along``, metres along its track: the two
  frames either side of each multiple of ``spacing``, ``capture.sampling``): a frame at each
  multiple of ``spacing`` along the track exactly, at the t that puts it there between the two
  frames around it. The other pairs (from a mark's later frame to the next mark's earlier one) get
  no frame, and a shot is shown only where it lies on a mark (within ``SNAP``). Steps are then
  ``spacing`` metres within 2 %, not the rounding of whole steps over a pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from viewsynth.capture.heading import haversine
from viewsynth.capture.shot import Shot

#: ``spacing`` on a video read for it: a mark this share of ``spacing`` from a frame is that frame
#: (a real frame, no interpolation; steps stay within 2 % of ``spacing``).
SNAP = 0.01


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


def steps_for_distance(distance: float, spacing: float) -> int:
    """Steps so that frames are ``spacing`` metres apart: ``round(distance / spacing)``, at least 1.

    Rounds halves up (2.5 -> 3), not to even as Python's ``round`` would.
    """
    if not spacing > 0.0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    return max(1, int(math.floor(distance / spacing + 0.5)))


def schedule_segment(
    segment: Sequence[Shot], *, factor: int = 8, spacing: float = 0.0
) -> tuple[list[PairSchedule], list[str]]:
    """Schedules for the ``len(segment) - 1`` pairs of one segment, and warnings.

    ``spacing`` > 0 asks for constant speed (metres between output frames); ``factor`` is the
    fixed number of steps per pair otherwise, and the fallback for a pair with a shot without a
    position.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    pairs = list(zip(segment, segment[1:], strict=False))
    distances = [
        haversine(a.lat, a.lon, b.lat, b.lon) if a.has_position and b.has_position else None
        for a, b in pairs
    ]
    if spacing > 0.0 and pairs and all(shot.along is not None for shot in segment):
        return _on_marks([s.along for s in segment], distances, spacing), []
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
    for k, dist in enumerate(distances):
        steps = steps_for_distance(dist, spacing) if spacing > 0.0 and dist is not None else factor
        out.append(PairSchedule(k, pair_times(steps, last=k == len(pairs) - 1), dist))
    return out, warnings


def _on_marks(
    along: Sequence[float], distances: Sequence[float | None], spacing: float
) -> list[PairSchedule]:
    """A frame at every multiple of ``spacing`` between ``along[0]`` and ``along[-1]`` (metres
    along the track of each shot), each in the pair around it at the t that puts it there."""
    snap = SNAP * spacing
    first = math.ceil(along[0] / spacing - 1e-9)
    last = math.floor(along[-1] / spacing + 1e-9)
    marks = [k * spacing for k in range(first, last + 1)]
    out, j = [], 0
    for k, dist in enumerate(distances):
        a, b = along[k], along[k + 1]
        end = k == len(distances) - 1
        times = []
        while j < len(marks) and (marks[j] < b - 1e-9 or end):
            if marks[j] - a <= snap or b <= a:
                times.append(0.0)
            elif b - marks[j] <= snap:
                times.append(1.0)
            else:
                times.append((marks[j] - a) / (b - a))
            j += 1
        out.append(PairSchedule(k, tuple(times), dist))
    return out


def frame_count(schedule: Sequence[PairSchedule]) -> int:
    """Number of output frames of a segment's schedule."""
    return sum(len(pair.times) for pair in schedule)
