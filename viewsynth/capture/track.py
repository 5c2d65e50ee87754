"""Ordering a capture in time and cutting it into segments: pure functions over ``Shot`` lists.

One clock for the whole capture (never UTC for some frames and camera-local time for others);
GPS positions that imply impossible speeds are dropped; segments end at time and distance gaps;
stationary duplicates go (mapillary_tools' rule: within ``duplicate_distance`` metres of the
previous kept shot and heading within ``duplicate_angle`` degrees, or heading unknown).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Sequence

from viewsynth.capture.clocks import CameraClock, camera_clocks, unknown_warning
from viewsynth.capture.clocks import utc_times as clocks_utc_times
from viewsynth.capture.heading import bearing, haversine, wrap180
from viewsynth.capture.metadata import Metadata
from viewsynth.capture.shot import Shot
from viewsynth.capture.telemetry import FROZEN_SECONDS, Fix, positions_at

#: Time sources in order of preference: GPS time is UTC from the satellites, EXIF time is the
#: camera's clock (maybe unset or local), Mapillary's JSON is the uploader app's clock.
TIME_SOURCES = ("gps", "exif", "mapillary")
#: GPS receivers fix about once a second: shots closer in time share a fix or its error.
_GPS_PERIOD = 1.0


NAMES_SHOWN = 8  # file names listed in one warning line before "+N more"


def list_names(names: Sequence[str]) -> str:
    """``names`` joined for one warning line, the first ``NAMES_SHOWN`` then "(+N more)"."""
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} (+{more} more)" if more > 0 else shown


def _raw_time(meta: Metadata, source: str) -> float | None:
    return {"gps": meta.gps_time, "exif": meta.exif_time, "mapillary": meta.mapillary_time}[source]


def pick_time_source(metas: Sequence[Metadata]) -> str:
    """The best source in ``TIME_SOURCES`` that every one of ``metas`` has, else 'filename'."""
    for source in TIME_SOURCES:
        if metas and all(_raw_time(m, source) is not None for m in metas):
            return source
    return "filename"


def commonest_time_source(metas: Sequence[Metadata]) -> tuple[str, int]:
    """The source in ``TIME_SOURCES`` the most of ``metas`` have (the better one on a tie), and
    how many have it."""
    counts = [
        (sum(_raw_time(m, source) is not None for m in metas), -rank, source)
        for rank, source in enumerate(TIME_SOURCES)
    ]
    count, _, source = max(counts)
    return source, count


@dataclasses.dataclass
class CaptureTimes:
    """A capture's frames on one clock (``capture_times``)."""

    times: list[float | None]  # seconds on the clock, per frame (None: none)
    utc: bool  # whether they are UTC
    warnings: list[str]
    clocks: list[CameraClock]  # each camera's EXIF clock against GPS time (``clocks``)
    by_camera: bool  # whether those clocks set the times (each camera's offset taken off)
    offsets: bool = False  # whether every frame's OffsetTimeOriginal set them (then not clocks)

    def used(self, clock: CameraClock) -> bool:
        """Whether ``clock`` set its frames' times (the manifest's ``clocks[].used``)."""
        return self.by_camera or (self.offsets and clock.by == "OffsetTimeOriginal")


def capture_times(metas: Sequence[Metadata], source: str, by_camera: bool = True) -> CaptureTimes:
    """Each frame's time in seconds on ``source``'s clock, and warnings.

    For 'gps', whole seconds get the EXIF clock's fractions where the two agree (:func:`gps_times`).
    For 'exif', with ``by_camera``, each camera's reading less its offset measured against GPS
    time (:mod:`~viewsynth.capture.clocks`) where every camera's is known and one was measured;
    else the offsets (OffsetTimeOriginal) are used only when every frame has one: a mix would
    compare UTC with local clock readings, so then all frames are read as local time.
    """
    clocks = camera_clocks(metas)
    if source == "filename":
        return CaptureTimes([None] * len(metas), False, [], clocks, False)
    if source in ("gps", "mapillary"):
        times = gps_times(metas) if source == "gps" else [m.mapillary_time for m in metas]
        return CaptureTimes(times, True, [], clocks, False)
    if by_camera and (utc := clocks_utc_times(metas, clocks)) is not None:
        warnings = [line for clock in clocks if (line := clock.warning())]
        return CaptureTimes(utc, True, warnings, clocks, True)
    with_offset = sum(m.exif_offset is not None for m in metas)
    if with_offset == len(metas):
        return CaptureTimes([m.exif_time for m in metas], True, [], clocks, False, True)
    warnings = unknown_warning(clocks) if by_camera else []
    if with_offset:
        warnings.append(
            f"OffsetTimeOriginal is on {with_offset} of {len(metas)} frames only: "
            "all times read as local camera time"
        )
    return CaptureTimes([m.exif_local_time for m in metas], False, warnings, clocks, False)


def gps_times(metas: Sequence[Metadata]) -> list[float | None]:
    """GPS times, in whole seconds refined by the EXIF clock's sub-seconds where the two agree.

    Phones write GPSTimeStamp in whole seconds, so a burst of photos in one second would tie, while
    DateTimeOriginal + SubSecTimeOriginal - OffsetTimeOriginal (UTC) has milliseconds. GPS stays
    the clock: the EXIF UTC times are shifted by the one offset (within a second, the smallest
    that will do) that puts every one of them inside its frame's GPS second ``[G, G + 1)``; frames
    without an EXIF UTC time keep ``G``. Nothing is refined when some GPS time has fractions of
    its own, or when no such offset exists (the clocks drift apart, or a phone wrote a stale fix's
    time): one shift for all keeps the order and spacing the camera's clock measured.
    """
    times = [m.gps_time for m in metas]
    exif = [m.exif_time if m.exif_offset is not None else None for m in metas]  # UTC only
    both = [(g, e) for g, e in zip(times, exif, strict=True) if g is not None and e is not None]
    if not both or any(g is not None and g != math.floor(g) for g in times):
        return times
    # e - shift in [g, g + 1) for every frame: shift in (e - g - 1, e - g]
    low = max(e - g - 1.0 for g, e in both)
    high = min(e - g for g, e in both)
    if low >= high or not (low < 1.0 and high > -1.0):
        return times
    shift = min(max(0.0, low), high)
    return [
        e - shift if g is not None and e is not None else g
        for g, e in zip(times, exif, strict=True)
    ]


def _speed(a: Shot, b: Shot) -> tuple[float, float, float]:
    """(metres, seconds, metres per second) from shot a to shot b."""
    dist = haversine(a.lat, a.lon, b.lat, b.lon)
    dt = abs(b.time - a.time)
    return dist, dt, dist / max(dt, _GPS_PERIOD)


def check_gps(shots: Sequence[Shot], max_speed: float) -> tuple[list[Shot], list[str]]:
    """Drop positions that imply moving faster than ``max_speed`` m/s between consecutive shots.

    ``shots`` in time order. The positions kept are the longest run of shots (in time order, not
    necessarily adjacent) whose every step is plausible, when it holds more than half of the
    positions: the others lose theirs, whether one shot jumps away or several in a row (a phone's
    first fixes while it acquires). When no such majority agrees (two shots only, or jumps all
    along), every position of the capture is dropped, so no distance-based step trusts them.
    Returns the shots (positions set to None where dropped) and the warnings.
    """
    shots = list(shots)
    idx = [i for i, s in enumerate(shots) if s.has_position and s.time is not None]
    if max_speed <= 0.0 or len(idx) < 2:
        return shots, []

    def bad(i: int, j: int) -> bool:
        return _speed(shots[i], shots[j])[2] > max_speed

    kept = _longest_plausible_run(idx, bad)
    if 2 * len(kept) <= len(idx):  # (then some step is a jump: else every shot would be kept)
        jumps = [(a, b) for a, b in zip(idx, idx[1:], strict=False) if bad(a, b)]
        a, b = jumps[0]
        dist, dt, speed = _speed(shots[a], shots[b])
        more = f" (and {len(jumps) - 1} more such jumps)" if len(jumps) > 1 else ""
        warning = (
            f"GPS ignored for the whole capture: {shots[a].name} -> {shots[b].name} is {dist:.0f} m "
            f"in {dt:.1f} s ({speed:.0f} m/s, above capture.max_speed {max_speed:g} m/s){more}"
        )
        return [_without_position(s) for s in shots], [warning]
    warnings = []
    dropped = sorted(set(idx) - set(kept))
    for i in dropped[:_NAMED_OUTLIERS]:
        near = min(kept, key=lambda k: abs(shots[k].time - shots[i].time))
        dist, dt, speed = _speed(shots[near], shots[i])
        warnings.append(
            f"GPS of {shots[i].name} ignored: {dist:.0f} m from {shots[near].name} in {dt:.1f} s "
            f"({speed:.0f} m/s, above capture.max_speed {max_speed:g} m/s)"
        )
    if len(dropped) > _NAMED_OUTLIERS:
        rest = [shots[i].name for i in dropped[_NAMED_OUTLIERS:]]
        warnings.append(f"GPS of {len(rest)} more shots ignored likewise: {list_names(rest)}")
    for i in dropped:
        shots[i] = _without_position(shots[i])
    return shots, warnings


#: Shots whose dropped position gets a warning line of its own; more are listed in one line.
_NAMED_OUTLIERS = 5
#: How far back (in positioned shots) a plausible step is looked for: a run of bad fixes longer
#: than this is not bridged (a phone acquiring for minutes: its capture is better cut there).
_LOOK_BACK = 64


def _longest_plausible_run(idx: Sequence[int], bad: Callable[[int, int], bool]) -> list[int]:
    """The longest subsequence of ``idx`` whose consecutive members are not ``bad`` (the
    earliest such run on a tie), by dynamic programming over ``_LOOK_BACK`` predecessors."""
    length = [1] * len(idx)
    before = [-1] * len(idx)
    for p in range(len(idx)):
        for q in range(p - 1, max(p - _LOOK_BACK, 0) - 1, -1):
            if length[q] + 1 > length[p] and not bad(idx[q], idx[p]):
                length[p], before[p] = length[q] + 1, q
    p = max(range(len(idx)), key=lambda k: (length[k], -k))
    run = []
    while p >= 0:
        run.append(idx[p])
        p = before[p]
    return run[::-1]


def _without_position(shot: Shot) -> Shot:
    return dataclasses.replace(shot, lat=None, lon=None, alt=None)


def unfreeze(
    shots: Sequence[Shot], max_gap: float, own: Collection[str]
) -> tuple[list[Shot], list[str]]:
    """Photos that moved on (their pictures say: ``still`` kept them) while their GPS repeated one
    fix for over ``FROZEN_SECONDS``: a receiver that lost its lock, a phone app's stale location.
    The first keeps the fix, the others are placed by time between it and the next other fix
    (:func:`fill_positions`), else have none. Only fixes of their own (``own``: names): a GPX
    logger standing still repeats its point. ``shots`` timed, in time order; a warning a run."""
    out, runs, i = list(shots), [], 0
    while i < len(out):
        j = i
        while j + 1 < len(out) and out[i].name in own and out[j + 1].name in own:
            if (out[j + 1].lat, out[j + 1].lon) != (out[i].lat, out[i].lon):
                break
            j += 1
        if out[j].time - out[i].time > FROZEN_SECONDS:
            out[i + 1 : j + 1] = [_without_position(s) for s in out[i + 1 : j + 1]]
            runs.append((i, j, out[i].lat, out[i].lon))
        i = j + 1
    out = fill_positions(out, max_gap)[0] if runs else out
    return out, [
        f"GPS frozen at {lat:.6f}, {lon:.6f} from {out[i].name} to {out[j].name} "
        f"({out[j].time - out[i].time:.0f} s) while the pictures moved on: of the {j - i} after "
        f"the first, {sum(s.has_position for s in out[i + 1 : j + 1])} placed by time up to the "
        "next fix, the others without a position"
        for i, j, lat, lon in runs
    ]


def fill_positions(shots: Sequence[Shot], max_gap: float) -> tuple[list[Shot], list[str]]:
    """Place shots without a position (a phone that missed a fix, a GPS jump dropped) between the
    nearest shots before and after them that have one, by time, when those two are at most
    ``max_gap`` seconds apart: as a GPX places a photo between its points (``positions_at``, no
    margin past the ends). Heights likewise: a shot with a position and no height takes one
    between the shots around it that have one.

    ``shots`` in time order. Shots without a time, or before the first or after the last
    position, stay without one. Returns the shots and one warning naming those placed.
    """
    out, placed = list(shots), []
    for k, fix in _between_known(out, lambda s: s.has_position, max_gap):
        out[k] = dataclasses.replace(out[k], lat=fix.lat, lon=fix.lon, alt=fix.alt)
        placed.append(out[k].name)
    for k, fix in _between_known(out, lambda s: s.has_position and s.alt is not None, max_gap):
        if out[k].has_position:  # (a shot with no position has no height either)
            out[k] = dataclasses.replace(out[k], alt=fix.alt)
    if not placed:
        return out, []
    return out, [
        f"{len(placed)} shot(s) without a GPS position of their own placed by time between the "
        f"shots around them: {list_names(placed)}"
    ]


def _between_known(
    shots: Sequence[Shot], known: Callable[[Shot], bool], max_gap: float
) -> list[tuple[int, Fix]]:
    """``(k, fix)`` for each timed shot k that is not ``known``: the track of the known shots at
    its time, where it lies between two of them at most ``max_gap`` seconds apart."""
    track = [
        Fix(s.time, s.lat, s.lon, None, s.alt) for s in shots if known(s) and s.time is not None
    ]
    asked = [k for k, s in enumerate(shots) if not known(s) and s.time is not None]
    found = positions_at(track, [shots[k].time for k in asked], max_gap, margin=0.0)
    return [(k, fix) for k, fix in zip(asked, found, strict=True) if fix is not None]


#: Steps shorter than this (metres) may be a phone's GPS jitter (a few metres each way), not a
#: direction.
_JITTER_M = 8.0


def check_order(shots: Sequence[Shot]) -> list[str]:
    """A warning when the shots, in the order their clock (or names) gave, go back and forth
    along the walk: two cameras whose clocks differ, interleaved, or names out of order.

    A turn back is a step of over ``_JITTER_M`` metres followed by one as long that heads more than
    135 degrees away. It takes three, and half the long steps, over a walk that reaches four times
    that far: a walk out and home turns back once, and a walker standing with a phone's GPS
    wandering a few metres each way goes nowhere (TRAINING_LOG, session 30: no warning in
    2000 random stands of up to 10 m each way, 0.1-0.6 % of walks with 6 m of jitter).
    """
    where = [s for s in shots if s.has_position]
    steps = []  # (from shot, to shot, bearing) of the steps longer than GPS jitter
    for a, b in zip(where, where[1:], strict=False):
        if haversine(a.lat, a.lon, b.lat, b.lon) > _JITTER_M:
            steps.append((a, b, bearing(a.lat, a.lon, b.lat, b.lon)))
    backs = [
        (one[0], one[1], two[1])
        for one, two in zip(steps, steps[1:], strict=False)
        if one[1] is two[0] and abs(wrap180(two[2] - one[2])) > 135.0
    ]
    if len(backs) < 3 or 2 * len(backs) < len(steps):
        return []
    reach = max(haversine(where[0].lat, where[0].lon, s.lat, s.lon) for s in where[1:])
    if reach < 4.0 * _JITTER_M:
        return []  # (a walker standing: the jitter goes back and forth and nowhere)
    a, b, c = backs[0]
    return [
        f"the shots go back and forth along the walk ({len(backs)} turns back in {len(steps)} "
        f"steps, e.g. {a.name} -> {b.name} -> {c.name}): two cameras whose clocks differ? Set "
        "their clocks alike (exiftool -AllDates+=...) or name the files in the order walked"
    ]


def split_by_time(
    shots: Sequence[Shot], gap: float, starts: Collection[str] = ()
) -> list[list[Shot]]:
    """Cut time-ordered ``shots`` where consecutive times differ by more than ``gap`` seconds, and
    before each shot named in ``starts``."""
    segments: list[list[Shot]] = []
    for shot in shots:
        prev = segments[-1][-1] if segments else None
        new = (
            prev is None
            or shot.name in starts
            or (
                gap > 0.0
                and prev.time is not None
                and shot.time is not None
                and shot.time - prev.time > gap
            )
        )
        if new:
            segments.append([shot])
        else:
            segments[-1].append(shot)
    return segments


def heading_difference(a: Shot, b: Shot) -> float | None:
    """Absolute heading difference in degrees: from tags when both have one, else from the
    image-measured rotations of panoramas, else None (unknown)."""
    if a.heading is not None and b.heading is not None:
        return abs(wrap180(b.heading - a.heading))
    if a.rotation is not None and b.rotation is not None:
        return abs(wrap180(b.rotation - a.rotation))
    return None


def drop_duplicates(
    segment: Sequence[Shot], distance: float, angle: float, judged: Collection[str] = ()
) -> tuple[list[Shot], list[tuple[str, str]]]:
    """Drop stationary duplicates: (kept shots, [(name, reason)] for the dropped ones).

    A shot is a duplicate of the previous kept one when it is within ``distance`` metres of it and
    its heading differs by less than ``angle`` degrees, or either heading is unknown; but not one
    named in ``judged``, whose picture said it moved (``still.drop_still``: a fix that stuck).
    """
    if not segment:
        return [], []
    kept, dropped = [segment[0]], []
    for shot in segment[1:]:
        ref = kept[-1]
        if distance > 0.0 and shot.has_position and ref.has_position and shot.name not in judged:
            dist = haversine(ref.lat, ref.lon, shot.lat, shot.lon)
            turn = heading_difference(ref, shot)
            if dist <= distance and (turn is None or turn < angle):
                how = "heading unknown" if turn is None else f"heading {turn:.1f} deg different"
                dropped.append(
                    (shot.name, f"stationary duplicate of {ref.name} ({dist:.2f} m away, {how})")
                )
                continue
        kept.append(shot)
    return kept, dropped


def split_by_distance(segment: Sequence[Shot], gap: float) -> tuple[list[list[Shot]], list[str]]:
    """Cut ``segment`` where consecutive positions are more than ``gap`` metres apart.

    When every step of a segment is such a gap although its shots are within the time gap of each
    other, cutting would leave nothing to interpolate: a camera does not keep jumping tens of metres between shots
    taken seconds apart on foot, so the positions are the likelier fault (stale fixes are common
    with cameras that take GPS from a phone). Then the segment stays whole and its positions are
    dropped, with a warning; returns (pieces, warnings).
    """
    segment = list(segment)
    if gap <= 0.0 or len(segment) < 2:
        return [segment], []
    steps = []
    for a, b in zip(segment, segment[1:], strict=False):
        steps.append(
            haversine(a.lat, a.lon, b.lat, b.lon) if a.has_position and b.has_position else None
        )
    if all(d is not None and d > gap for d in steps):
        worst = max(range(len(steps)), key=lambda k: steps[k])
        a, b = segment[worst], segment[worst + 1]
        when = (
            f" in {abs(b.time - a.time):.0f} s" if a.time is not None and b.time is not None else ""
        )
        warning = (
            f"GPS ignored for {segment[0].name} .. {segment[-1].name}: every step between them is "
            f"longer than capture.distance_gap ({gap:g} m; e.g. {a.name} -> {b.name}: "
            f"{steps[worst]:.0f} m{when}), which would leave nothing to interpolate; raise "
            "capture.distance_gap if the positions are right"
        )
        return [[_without_position(s) for s in segment]], [warning]
    pieces = [[segment[0]]]
    for shot, step in zip(segment[1:], steps, strict=False):
        if step is not None and step > gap:
            pieces.append([shot])
        else:
            pieces[-1].append(shot)
    return pieces, []
