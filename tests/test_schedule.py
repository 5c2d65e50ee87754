"""Schedule: in-between times per pair, by factor or by metres for constant speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import shot

from viewsynth.capture import Capture, CaptureOptions
from viewsynth.capture.heading import haversine
from viewsynth.capture.schedule import (
    STEP_TOLERANCE,
    Pace,
    frame_count,
    pair_times,
    schedule_segment,
    steps_for_distance,
    video_pace,
    whole_frames,
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
        "--spacing 1 needs GPS on both shots of a pair, but 1 of 3 shots (b; segment a .. c) have "
        "none: their 2 pairs use --factor 3"
    ]


def test_a_gps_hole_falls_back_to_factor_only_on_its_own_pairs():
    # A video sampled by time, its GPS lost for shots c and d: the pairs touching them take
    # --factor, the others keep their spacing (it used to be --factor for the whole segment).
    east = [0.0, 4.0, None, None, 16.0, 20.0, 26.0]
    segment = [shot(f"v#{i}", east=x) for i, x in enumerate(east)]
    schedule, warnings = schedule_segment(segment, factor=3, spacing=2.0)
    assert [len(p.times) for p in schedule] == [2, 3, 3, 3, 2, 3 + 1]
    assert warnings == [
        "--spacing 2 needs GPS on both shots of a pair, but 2 of 7 shots (v#2 .. v#3; segment "
        "v#0 .. v#6) have none: their 3 pairs use --factor 3"
    ]


def test_spacing_on_a_video_read_for_it_shows_whole_frames_where_the_steps_allow():
    # Frames 0.5 m or so apart (Shot.along: metres along the track), steps of 2 m asked. Frames
    # 6.0 and 10.015 m on can be shown as they are: 0 -> 6 in three steps of 2 m, 6 -> 10.015 in
    # two of 2.0075 (within 1.5 %); 8.1 cannot (2.1 m from 6). The others are interpolated, each
    # between the two frames around it; every step is 2 m within STEP_TOLERANCE.
    along = [0.0, 0.5, 1.7, 2.2, 3.9, 4.4, 5.5, 6.0, 7.6, 8.1, 9.7, 10.015]
    assert whole_frames(along, 2.0) == [0, 7, 11]
    segment = [shot(f"v#{i}", east=a, along=a, whole=i in (0, 7, 11)) for i, a in enumerate(along)]
    schedule, warnings = schedule_segment(segment, factor=8, spacing=2.0)
    assert warnings == []
    times = [tuple(round(t, 9) for t in p.times) for p in schedule]
    assert times == [(0.0,), (), (0.6,), (), (0.2,), (), (), (0.0,), (0.815,), (), (1.0,)]
    east = [a + t * (b - a) for p in schedule for t in p.times
            for a, b in [(along[p.index], along[p.index + 1])]]  # fmt: skip
    assert east == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0075, 10.015], abs=1e-9)
    assert np.all(np.abs(np.diff(east) / 2.0 - 1.0) <= STEP_TOLERANCE)
    # without ``along`` (photos, a video sampled by time) every shot is shown, as before
    plain = [shot(f"p{i}", east=a) for i, a in enumerate(along)]
    assert frame_count(schedule_segment(plain, factor=8, spacing=2.0)[0]) == len(along)


def test_whole_frames_are_as_many_as_the_tolerance_allows():
    # A walker's frames, 4 cm apart: every 1 m step can be a real frame.
    walk = np.arange(0.0, 20.0, 0.04)
    chosen = whole_frames(walk, 1.0)
    assert len(chosen) == 20 and np.all(np.abs(np.diff(walk[chosen]) - 1.0) <= 0.015)
    # A drive's frames, 0.3 m apart: only every third step (3 m) lands on one.
    drive = np.arange(0.0, 30.05, 0.3)
    chosen = whole_frames(drive, 1.0)
    assert list(drive[chosen]) == pytest.approx([0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0,
                                                 24.0, 27.0, 30.0])  # fmt: skip


def test_bad_factor():
    with pytest.raises(ValueError, match="factor must be at least 1, got 0"):
        schedule_segment([shot("a"), shot("b")], factor=0)


def _video(frames, kind="video", **kw):
    """A capture of one segment: a shot per ``(frame_index, time)``."""
    shots = [shot(f"v.mp4#{i}", frame_index=i, time=t, **kw) for i, t in frames]
    return Capture(Path("v.mp4"), kind, "perspective", "video", (64, 32), [shots])


def _steps(capture, options, factor=8):
    pace = video_pace(capture, options, factor)
    schedule, _ = schedule_segment(capture.segments[0], factor=factor, pace=pace)
    return [len(p.times) for p in schedule[:-1]] + [len(schedule[-1].times) - 1]


def test_a_variable_rate_video_plays_at_one_speed():
    # A phone's 30 fps: frames 0-5, a 40-frame stop dropped (5 -> 45), 45-50; then 10 fps in
    # the dark. Every pair used to get --factor's 8 steps: the dark part played 3x faster.
    frames = [(i, i / 30) for i in [*range(6), *range(45, 51)]]
    frames += [(i, 50 / 30 + (i - 50) / 10) for i in range(51, 56)]
    capture = _video(frames)
    assert _steps(capture, CaptureOptions()) == [8] * 11 + [24] * 5  # the stop: 8, not 320
    schedule, _ = schedule_segment(capture.segments[0], factor=8)  # (no pace: as before)
    assert frame_count(schedule) == 16 * 8 + 1
    # output frames per second of video, each pair but the stop's: one for all
    speed = {
        round(n / (b[1] - a[1]), 6)
        for n, a, b in zip(_steps(capture, CaptureOptions()), frames, frames[1:], strict=False)
        if b[0] - a[0] == 1
    }
    assert speed == {240.0}
    # every third frame: pairs of 0.1 s and 0.3 s
    third = _video([(i, i / 30) for i in range(0, 31, 3)] + [(30 + i, 1 + i / 10) for i in (3, 6)])
    assert _steps(third, CaptureOptions(every_frames=3)) == [8] * 10 + [24] * 2
    assert video_pace(third, CaptureOptions(every_frames=3), 8).typical == pytest.approx(0.1)


def test_pace_leaves_what_plays_at_one_speed_already():
    # every 0.5 s of a variable-rate video: each pair is 0.5 s at 30 fps and at 10 fps alike
    timed = _video([(i, i / 30) for i in range(0, 61, 15)] + [(65, 2.5), (70, 3.0)])
    assert video_pace(timed, CaptureOptions(every_seconds=0.5), 8) is None
    assert _steps(timed, CaptureOptions(every_seconds=0.5)) == [8] * 6
    # ... but never less than a frame's time: 0.05 s asked, 10 fps frames
    pair = timed.segments[0][-2:]
    assert Pace(1, 0.05).span(*pair) == pytest.approx(0.1)
    cfr = [(i, i / 25) for i in [0, 1, 2, 3, 43, 44, 45]]  # a constant rate, a stop dropped
    assert video_pace(_video(cfr), CaptureOptions(), 8) is None
    assert video_pace(_video(cfr), CaptureOptions(every_frames=2), 3) is None
    vfr = [(0, 0.0), (1, 0.04), (2, 0.08), (3, 0.18)]
    assert video_pace(_video(vfr), CaptureOptions(), 8) is not None
    assert video_pace(_video(vfr, kind="folder"), CaptureOptions(), 8) is None  # photos
    placed = _video(vfr, east=1.0)  # sampled every M metres: a constant speed over ground
    assert video_pace(placed, CaptureOptions(every_metres=2.0), 8) is None
    # ... a video without GPS falls back to every frame: paced
    assert video_pace(_video(vfr), CaptureOptions(every_metres=2.0), 8) is not None
