"""Schedule: in-between times per pair, by factor or by metres for constant speed."""

from __future__ import annotations

import pytest
from capture_fixtures import shot

from viewsynth.capture.heading import haversine
from viewsynth.capture.schedule import (
    frame_count,
    pair_times,
    schedule_segment,
    steps_for_distance,
)


def test_pair_times():
    assert pair_times(4) == (0.0, 0.25, 0.5, 0.75)
    assert pair_times(4, last=True) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert pair_times(1) == (0.0,)
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        pair_times(0)


def test_factor_schedule_shows_every_shot_once():
    segment = [shot(f"s{i}") for i in range(4)]
    schedule, warnings = schedule_segment(segment, factor=8)
    assert warnings == []
    assert [p.index for p in schedule] == [0, 1, 2]
    assert schedule[0].times == tuple(k / 8 for k in range(8))
    assert schedule[-1].times == (*(k / 8 for k in range(8)), 1.0)
    assert frame_count(schedule) == 3 * 8 + 1  # (n-1) * N + the last shot
    # t=0 of each pair is its first shot, t=1 appears once (the segment's last shot).
    assert sum(t == 0.0 for p in schedule for t in p.times) == 3
    assert sum(t == 1.0 for p in schedule for t in p.times) == 1
    assert all(p.distance is None for p in schedule)


def test_steps_for_distance_rounds_half_up():
    assert steps_for_distance(10.0, 2.0) == 5
    assert steps_for_distance(5.0, 2.0) == 3  # 2.5 -> 3 (Python's round would give 2)
    assert steps_for_distance(3.0, 2.0) == 2  # 1.5 -> 2
    assert steps_for_distance(0.2, 2.0) == 1  # at least one step
    assert steps_for_distance(0.0, 2.0) == 1
    with pytest.raises(ValueError, match="spacing must be positive, got 0.0"):
        steps_for_distance(3.0, 0.0)


def test_spacing_gives_constant_speed():
    # Shots 10 m, then 3.4 m, then 24.9 m apart along a street.
    east = [0.0, 10.0, 13.4, 38.3]
    segment = [shot(f"s{i}", east=x) for i, x in enumerate(east)]
    schedule, warnings = schedule_segment(segment, factor=8, spacing=2.0)
    assert warnings == []
    for pair, (a, b) in zip(schedule, zip(segment, segment[1:], strict=False), strict=True):
        assert pair.distance == pytest.approx(haversine(a.lat, a.lon, b.lat, b.lon), rel=1e-12)
    assert [p.distance for p in schedule] == pytest.approx([10.0, 3.4, 24.9], rel=1e-6)
    steps = [len(p.times) for p in schedule[:-1]] + [len(schedule[-1].times) - 1]
    assert steps == [5, 2, 12]
    # Metres per output frame stay within rounding of the requested spacing on every pair.
    for pair, n in zip(schedule, steps, strict=True):
        assert abs(pair.distance / n - 2.0) <= 2.0 * 0.5 / n + 1e-9
    assert schedule[1].times == (0.0, 0.5)
    assert schedule[2].times[-1] == 1.0


def test_spacing_without_gps_falls_back_to_factor():
    segment = [shot("a", east=0.0), shot("b"), shot("c", east=10.0)]
    schedule, warnings = schedule_segment(segment, factor=3, spacing=1.0)
    assert [p.times for p in schedule] == [(0.0, 1 / 3, 2 / 3), (0.0, 1 / 3, 2 / 3, 1.0)]
    assert warnings == [
        "--spacing 1 needs GPS on every shot, but b (segment a .. c) has none: using --factor 3"
    ]


def test_bad_factor():
    with pytest.raises(ValueError, match="factor must be at least 1, got 0"):
        schedule_segment([shot("a"), shot("b")], factor=0)
