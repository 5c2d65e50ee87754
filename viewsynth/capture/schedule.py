"""Which in-between times each neighbouring pair of a segment needs.

A segment of shots s0, s1, ..., sn becomes the pairs (s0, s1), ..., (s(n-1), sn). Each pair renders
times ``[0, 1/N, ..., (N-1)/N]`` where t=0 is its first shot itself, and the segment's last pair
also renders t=1 (the last shot), so every shot appears exactly once and the video of a segment is
the concatenation of its pairs' frames in order.

- ``factor`` N: the same N steps for every pair (N-1 new frames between two shots).
- ``spacing`` metres: ``round(distance / spacing)`` steps per pair (at least 1), so the video moves
  at a constant speed over ground whatever the camera's shooting interval. It needs a GPS position
  on every shot of the segment; without that the segment falls back to ``factor`` with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from viewsynth.capture.heading import haversine
from viewsynth.capture.shot import Shot


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
    fixed number of steps per pair otherwise, and the fallback when a shot has no position.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    pairs = list(zip(segment, segment[1:], strict=False))
    distances = [
        haversine(a.lat, a.lon, b.lat, b.lon) if a.has_position and b.has_position else None
        for a, b in pairs
    ]
    warnings = []
    use_spacing = spacing > 0.0 and bool(pairs)
    if use_spacing and any(d is None for d in distances):
        missing = next(s.name for s in segment if not s.has_position)
        warnings.append(
            f"--spacing {spacing:g} needs GPS on every shot, but {missing} (segment "
            f"{segment[0].name} .. {segment[-1].name}) has none: using --factor {factor}"
        )
        use_spacing = False
    out = []
    for k, dist in enumerate(distances):
        steps = steps_for_distance(dist, spacing) if use_spacing else factor
        out.append(PairSchedule(k, pair_times(steps, last=k == len(pairs) - 1), dist))
    return out, warnings


def frame_count(schedule: Sequence[PairSchedule]) -> int:
    """Number of output frames of a segment's schedule."""
    return sum(len(pair.times) for pair in schedule)
