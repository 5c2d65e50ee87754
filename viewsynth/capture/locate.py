"""Where a video's frames are: its own GPS telemetry, else a GPX or NMEA track, by time.

:class:`Locator` answers a video time with a position: the video's telemetry
(:mod:`~viewsynth.capture.telemetry`: GoPro GPMF, Google CAMM, BlackVue; else, where it is
installed, whatever ExifTool reads: :mod:`~viewsynth.capture.exiftool`; cleaned of frozen fixes,
jumps and gaps; ignored with ``capture.use_gps`` false) interpolated at that time, else
``capture.gpx`` (:mod:`~viewsynth.capture.gpx`) at the frame's UTC time + ``capture.gpx_offset``:
the telemetry's clock where its fixes have one (a late lock's first frames, a hole), else the
MP4's creation time + video time. Within a second past either end of a track, a frame's
position carries on at the end's speed. A frame without a position takes its UTC time from the
telemetry's clock where the fixes have one (a camera's creation time is often local time), else
from the creation time. :func:`untracked` is the one warning for a video with no track at all.

Heights (:mod:`~viewsynth.capture.heights`): telemetry whose heights are not above sea level
(GPS5's WGS-84 ellipsoid, CAMM's unstated) is put on a ``--gpx``'s (``<ele>``: sea level) by
:func:`~viewsynth.capture.heights.height_shift`, the median of the GPX's heights less the
telemetry's where both measured one (the geoid's height there, constant to centimetres over a
street), unless that is about 0 (the GPX holds the telemetry's own numbers: they keep its datum);
telemetry above sea level too puts a GPX's that are apart onto its own; where no offset can be
measured and frames would take heights from both, the frames of the source that gave fewer are
left without (:meth:`Locator.heights`).
"""

from __future__ import annotations

import bisect
import dataclasses
import shlex
from collections.abc import Collection
from pathlib import Path

from viewsynth.capture import gpmf
from viewsynth.capture.exiftool import read_exiftool_track
from viewsynth.capture.gpx import GPX_MAX_GAP, no_overlap_error, read_gpx
from viewsynth.capture.heading import between
from viewsynth.capture.heights import SAME_DATUM, Apart, height_shift, sea_levels
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.telemetry import (
    VIDEO_MAX_GAP,
    Fix,
    clean_track,
    lerp,
    positions_at,
    read_video_track,
)
from viewsynth.errors import ViewsynthError


def untracked(
    name: str,
    every_metres: float = 0.0,
    spacing: float = 0.0,
    factor: int = 0,
    timed: bool = True,
    exiftool: str = "",
) -> str:
    """The one warning for a video with no GPS track (no telemetry, no ``--gpx``): its frames
    have no position, and so what asked for one falls back: sampling every ``every_metres``
    (to every frame) and, said by the job that has them, ``--spacing`` (to ``--factor``).
    ``exiftool``: what ExifTool made of the file (:func:`~viewsynth.capture.exiftool.
    read_exiftool_track`; "" when it is not installed: then the line says how its GPX export
    goes with ``--gpx``, and to install it to read the file directly), or a GoPro's file cut
    without its GPMF track (:data:`~viewsynth.capture.gpmf.DROPPED`: ExifTool not asked); a video
    without a start time (``timed`` false: an AVI has no creation time) is first remuxed to an MP4
    with one, as ``--gpx`` matches frames by time."""
    tried = f"; {exiftool}" if exiftool else ""
    line = f"{name}: no GPS telemetry (GPMF, CAMM or BlackVue{tried}) in this video and no --gpx "
    line += "track: its frames have no position"
    falls = [f"sampling every {every_metres:g} m falls back to every frame"] if every_metres else []
    if spacing:
        verb = "" if falls else " falls back"
        falls.append(f"--spacing {spacing:g}{verb} to --factor {factor}")
    gpx = shlex.quote(f"{Path(name).stem}.gpx")
    # (gpx.fmt is a file of ExifTool's distribution, named where it lies there: given as
    # "gpx.fmt" outside that folder, ExifTool took the name as the format and printed it per fix)
    export = f"exiftool -ee -p fmt_files/gpx.fmt {shlex.quote(name)} > {gpx}"
    if timed and not exiftool:
        hint = f" (another dashcam's GPS: {export}, then --gpx {gpx}; install ExifTool to read it"
        hint += " directly)"
    elif timed:
        hint = " (a GPS logger's track: --gpx FILE)"
    else:
        remux, mp4 = _remuxed(name)
        by = "" if exiftool else f", another dashcam's by {export},"
        hint = (
            f" (a GPS track for --gpx{by} matches frames by time, and this video has no start "
            f"time: first {remux}, then {mp4} --gpx {gpx})"
        )
    return line + (", so " + " and ".join(falls) if falls else "") + hint


def _remuxed(name: str) -> tuple[str, str]:
    """The ffmpeg command that copies video ``name``'s picture into an MP4 with a start time (UTC,
    an example to replace), and that MP4's name (``-timed.mp4`` beside an MP4), both quoted for a
    shell. Only the video stream is copied: a dashcam AVI's PCM sound has no place in an MP4."""
    path = Path(name)
    timed = path.stem + ("-timed.mp4" if path.suffix.lower() == ".mp4" else ".mp4")
    mp4 = shlex.quote(timed)
    remux = f"ffmpeg -i {shlex.quote(name)} -map 0:v -c copy"
    remux += " -metadata creation_time=2024-05-01T10:00:00Z"
    return f"{remux} {mp4}", mp4


#: A dense receiver's fixes (a GoPro's GPS: 18 Hz GPS5, 10 Hz GPS9 on a HERO11 and later) jitter by about a centimetre from one to the
#: next (max-heromode: 11.9 mm from a local fit), which the positions written kept (``--spacing
#: 0.5``'s steps 2.6 % short of the metres along the track): each such fix is on the line fitted to
#: the fixes within this many seconds of it (9 there, 5 at 10 Hz), where ``STEADY_FIXES`` are.
STEADY_SECONDS = 0.25
#: ... fewer (a track of under 10 fixes a second: Karma's 4, a GPX logger's 1) are left as they are.
STEADY_FIXES = 5


def steadied(fixes: list[Fix]) -> list[Fix]:
    """``fixes`` (time-ordered, cleaned) with a dense receiver's jitter taken out: each position
    on the least-squares line through the fixes within ``STEADY_SECONDS`` of it, at its time."""
    stamps = [f.time for f in fixes]
    out = []
    for fix in fixes:
        lo = bisect.bisect_left(stamps, fix.time - STEADY_SECONDS)
        near = fixes[lo : bisect.bisect_right(stamps, fix.time + STEADY_SECONDS)]
        dt = [f.time - fix.time for f in near]
        mean_t = sum(dt) / len(dt)
        spread = sum((d - mean_t) ** 2 for d in dt)
        if len(near) < STEADY_FIXES or spread <= 0.0:
            out.append(fix)
            continue
        at = []
        for offsets in (
            [f.lat - fix.lat for f in near],
            [(f.lon - fix.lon + 180.0) % 360.0 - 180.0 for f in near],  # (across 180 degrees)
        ):
            mean = sum(offsets) / len(offsets)
            slope = sum((d - mean_t) * (o - mean) for d, o in zip(dt, offsets, strict=True))
            at.append(mean - mean_t * slope / spread)  # (the line at dt = 0)
        lon = (fix.lon + at[1] + 180.0) % 360.0 - 180.0
        out.append(Fix(fix.time, fix.lat + at[0], lon, fix.utc, fix.alt))
    return out


class Locator:
    """Each frame's position: the video's telemetry first, then the GPX (by UTC), else None."""

    def __init__(self, path: Path, options: CaptureOptions, warnings: list[str]) -> None:
        self.video = path.name
        track = read_video_track(path)
        # what ExifTool made of a video the native readers find no GPS in ("": not installed);
        # not asked where one of them knew the file (a GoPro without a lock: its fixes judged)
        self.exiftool = f"its {track.source} has no fix" if track.source else ""
        if track.kind is None and not track.source and options.use_gps:
            self.exiftool = gpmf.dropped(path)  # (a GoPro's file cut without it: nothing to find)
        if track.kind is None and not self.exiftool and options.use_gps:
            read, self.exiftool = read_exiftool_track(path, track.creation_time)
            if read is not None and self.exiftool:  # (a doubt about its placement)
                warnings.append(f"{path.name}: {self.exiftool}")
                self.exiftool = ""
            track = read or track
        self.source = track.source if options.use_gps else ""
        self.creation = track.creation_time
        self.offset = options.gpx_offset
        self.fixes: list[Fix] = []
        self.gpx: list[Fix] = []
        self.gpx_path = Path(options.gpx) if options.gpx else None
        self.gpx_hits = 0
        self.own_hits = 0  # frames placed by the telemetry
        # the times of the frames the telemetry, and the GPX, gave a height
        self.own_heights: set[float] = set()
        self.gpx_heights: set[float] = set()
        self.datum, self.datum_by = track.datum, track.datum_by
        self.gpx_asked: dict[float, float] = {}  # frame time -> the UTC time the GPX was asked
        # the fixes' times, listed once: the locator is asked for every decoded frame
        self._stamps: list[float] = []
        self._gpx_stamps: list[float] = []
        self.every_metres = 0.0  # distance sampling needs a track: set below when there is one
        self.untracked = ""  # the warning that the video has no GPS track at all
        if track.kind is not None and options.use_gps:
            self.fixes, track_warnings = clean_track(
                track.fixes, path.name, options.max_speed, VIDEO_MAX_GAP
            )
            self.fixes = steadied(self.fixes)
            self._stamps = [f.time for f in self.fixes]
            warnings += track_warnings
        self._timed = [f for f in self.fixes if f.utc is not None]
        self._timed_stamps = [f.time for f in self._timed]
        self._timed_utcs = [f.utc for f in self._timed]
        self.shift: float | None = None  # metres added to the telemetry's heights
        self.shifted = ""  # how the telemetry's heights were put on the GPX's sea level
        self.unshifted = ""  # why they could not be (said where frames would mix the two)
        self.same = ""  # how the GPX's heights are the telemetry's own numbers (its datum)
        self.apart = Apart()  # both above sea level: how far apart (the GPX's shift onto it)
        if self.gpx_path is not None:
            self.gpx, gpx_warnings = read_gpx(self.gpx_path, options.max_speed)
            self._gpx_stamps = [f.time for f in self.gpx]
            warnings += gpx_warnings
            if self.creation is None and not self._timed:  # (an AVI has neither: no start)
                remux, mp4 = _remuxed(path.name)
                raise ViewsynthError(
                    f"{path}: --gpx {self.gpx_path.name} matches frames by time, but the video "
                    "has no creation time: give it its start (UTC) in an MP4, whose frames then "
                    f"keep their times: {remux}, then {mp4} --gpx"
                )
            if self.fixes:
                said = self._shift_heights()
                warnings += [f"{path.name}: {said}"] if said else []
        elif track.kind is None and options.use_gps:  # one cause, one line: what falls back
            timed = self.creation is not None
            self.untracked = untracked(
                path.name, options.every_metres, timed=timed, exiftool=self.exiftool
            )
            warnings.append(self.untracked)
        self.every_metres = options.every_metres
        if options.every_metres > 0.0 and not self.fixes and not self.gpx:
            if not self.untracked:  # (a track whose every fix was dropped, or GPS turned off)
                none = "this video has none" if options.use_gps else "capture.use_gps is false"
                warnings.append(
                    f"{path.name}: capture.every_metres ({options.every_metres:g}) samples by "
                    f"distance along the GPS track, but {none}: sampling every_frames "
                    f"({options.every_frames}) instead"
                )
            self.every_metres = 0.0

    def gps_by(self) -> str:
        """Where the frames' positions came from, for the manifest ("" when none has one)."""
        used = [self.source] if self.fixes else []
        if self.gpx_hits:
            used.append(f"--gpx {self.gpx_path.name}" + (" (frames without)" if used else ""))
        return "; ".join(used)

    def _shift_heights(self) -> str:
        """Put the telemetry's and the GPX's heights on one datum, measured at the GPX's fixes
        with a height inside the telemetry's (:mod:`~viewsynth.capture.heights`): the telemetry's
        onto the GPX's sea level (``shifted`` says how; ``unshifted`` why not), the GPX's as the
        telemetry's datum where they are its numbers (``same``), or, both above sea level but
        apart, the GPX's onto the telemetry's (``apart``). Returns the warning ("" none)."""
        own = [f for f in self.fixes if f.alt is not None]
        if not own or all(g.alt is None for g in self.gpx):
            return ""
        pairs = []
        for g in self.gpx:
            t = self._video_time(g.time)
            if g.alt is None or t is None or not own[0].time <= t <= own[-1].time:
                continue
            found = positions_at(self.fixes, [t], VIDEO_MAX_GAP, stamps=self._stamps)[0]
            if found is not None and found.alt is not None:
                pairs.append((g.alt, found.alt))
        gpx = f"--gpx {self.gpx_path.name}"
        if self.datum == "sea level":
            self.apart = sea_levels(pairs, f"the telemetry's ({self.datum_by})", gpx)
            if self.apart.shift is not None:
                self.gpx = [
                    dataclasses.replace(g, alt=None if g.alt is None else g.alt + self.apart.shift)
                    for g in self.gpx
                ]
            return ""  # (said by heights, where some frame takes the GPX's)
        shift, how = height_shift(pairs)
        if shift is None:
            self.unshifted = how
            return ""
        if abs(shift) < SAME_DATUM and self.datum:
            self.same = f"{gpx}'s heights the same numbers, within {abs(shift):.1f} m: {how}"
            return (
                f"{gpx}'s heights are within {abs(shift):.1f} m of the telemetry's {self.datum} "
                "heights, the same numbers (a GPX made from this video's own GPS, as ExifTool's "
                f"export is): taken as the {self.datum}'s, not sea level's"
            )
        self.fixes = [
            dataclasses.replace(f, alt=None if f.alt is None else f.alt + shift) for f in self.fixes
        ]
        datum = f"{self.datum} heights ({self.datum_by})" if self.datum else (
            f"heights ({self.datum_by}, datum not stated)"
        )  # fmt: skip
        self.shift, self.shifted = (
            shift,
            f"the telemetry's {datum} shifted by {shift:+.1f} m, {how}",
        )
        return ""

    def _video_time(self, when: float) -> float | None:
        """The video time whose frame :meth:`_from_gpx` asks the GPX for at ``when`` (GPX time):
        by the telemetry's clock (its fix nearest in UTC), else the MP4's creation time."""
        if not self._timed:
            return None if self.creation is None else when - self.offset - self.creation
        utc = when - self.offset
        k = bisect.bisect_left(self._timed_utcs, utc)
        near = min(self._timed[max(k - 1, 0) : k + 1], key=lambda f: abs(f.utc - utc))
        return near.time + (utc - near.utc)

    def heights(self, times: Collection[float]) -> tuple[str, str, set[float]]:
        """What the heights of the frames at ``times`` (video seconds) are above (the sources
        that gave some), for the manifest; and where they would mix heights that could not be put
        on one datum (see :meth:`_shift_heights`: telemetry not above sea level and a GPX's whose
        offset could not be measured, or two sea levels apart by more than ``heights.APART``
        with no one offset), a warning and the times of the frames whose heights are to be left
        out: those of the source that gave fewer (no geoid model here converts them)."""
        own, gpx = self.own_heights & set(times), self.gpx_heights & set(times)
        name = f"--gpx {self.gpx_path.name}" if self.gpx_path else ""
        if self.shifted:  # (the telemetry's heights are on the GPX's sea level)
            by = f"sea level ({name}; {self.shifted})"
            return (by if own or gpx else ""), "", set()
        used = [(self.datum or "not stated", self.datum_by)] if own else []
        if gpx and self.same:  # (the GPX's heights are the telemetry's, on its datum)
            return f"{self.datum} ({self.datum_by}; {self.same})", "", set()
        if gpx:
            used.append(("sea level", self.apart.by or name))
        sea = self.datum == "sea level"
        if len(used) < 2 or (sea and not self.apart.mixed):  # (one source, or one sea level)
            moved = gpx and self.apart.shift is not None  # (frames take the GPX's, shifted)
            said = f"{self.video}: {self.apart.said}" if moved else ""
            return "; ".join(f"{datum} ({by})" for datum, by in used), said, set()
        why = self.apart.said if sea else (
            (f"the telemetry's are above the {self.datum} ({self.datum_by})" if self.datum
             else f"the telemetry ({self.datum_by}) does not say what its are above")
            + f", {name}'s are above sea level, and the offset between them could not be "
            f"measured: {self.unshifted}"
        )  # fmt: skip
        keep, lose = (0, gpx) if len(own) >= len(gpx) else (1, own)
        by = name if keep == 0 else "the telemetry"
        return (
            f"{used[keep][0]} ({used[keep][1]})",
            (
                f"heights left out on the {len(lose)} of {len(own) + len(gpx)} frames with one that "
                f"{by} placed: {why}"
            ),
            lose,
        )

    def clock(self, t: float) -> float | None:
        """The UTC time of video time ``t`` for a frame without a position: the track's own clock
        where its fixes have one (the nearest's; a camera's creation time is often local time: a
        late lock's first frames were hours off the rest, and the GPX and MP4 times with them),
        else :meth:`utc`."""
        timed = self._timed
        if not timed:
            return self.utc(t)
        k = min(bisect.bisect_left(self._timed_stamps, t), len(timed) - 1)
        near = min(timed[max(k - 1, 0) : k + 1], key=lambda f: abs(f.time - t))
        return near.utc + (t - near.time)

    def utc(self, t: float) -> float | None:
        return self.creation + t + self.offset if self.creation is not None else None

    def __call__(self, t: float) -> Fix | None:
        if self.fixes:
            found = positions_at(self.fixes, [t], VIDEO_MAX_GAP, stamps=self._stamps)[0]
            if found is not None:  # (a receiver's late lock: frames just before it move too)
                inside = self.fixes[0].time <= t <= self.fixes[-1].time
                # A GPX that covers the frame beats the telemetry carried past its ends.
                logged = None if inside or not self.gpx else self._from_gpx(t, asked=False)
                if logged is not None:
                    return logged
                placed = _on_past_the_ends(self.fixes, found, t, t)
                self.own_hits += 1
                if placed.alt is not None:
                    self.own_heights.add(t)
                return placed
        return self._from_gpx(t) if self.gpx else None

    def _from_gpx(self, t: float, asked: bool = True) -> Fix | None:
        """The GPX's position for video time ``t``, on the telemetry's clock where it has one (the
        MP4's may be local time); ``asked``: counted among the frames the GPX was asked for (a
        frame the telemetry places anyway is not)."""
        utc = self.utc(t) if not self._timed else self.clock(t) + self.offset
        if utc is None:
            return None
        if asked:
            self.gpx_asked[t] = utc
        found = positions_at(self.gpx, [utc], GPX_MAX_GAP, stamps=self._gpx_stamps)[0]
        if found is None or (not asked and not self.gpx[0].time <= utc <= self.gpx[-1].time):
            return None
        placed = _on_past_the_ends(self.gpx, found, utc, t)
        self.gpx_hits += 1
        if placed.alt is not None:
            self.gpx_heights.add(t)
        return placed

    def check(self, path: Path) -> None:
        """Raise when a GPX was asked for frames without GPS and it covers none of them."""
        if self.gpx and self.gpx_asked and not self.gpx_hits:
            asked = list(self.gpx_asked.values())
            raise no_overlap_error(self.gpx_path, self.gpx, asked, self.offset)


def _on_past_the_ends(track: list[Fix], found: Fix, when: float, t: float) -> Fix:
    """The track's position for the frame at ``t`` (``when`` on the track's clock: UTC for a GPX,
    video time for telemetry): within the second's margin past either end of the track, carried
    on at the end's speed rather than held at the end, where a video's every frame would take one
    position (a car at 20 m/s: 20 m off) and all but one be dropped as standing still."""
    first, last = track[0].time, track[-1].time
    if first <= when <= last or len(track) < 2:
        return Fix(t, found.lat, found.lon, found.utc, found.alt)
    a, b = (track[-2], track[-1]) if when > last else (track[0], track[1])
    w = (when - a.time) / (b.time - a.time)
    lat, lon = between(a.lat, a.lon, b.lat, b.lon, w)
    return Fix(t, lat, lon, lerp(a.utc, b.utc, w), lerp(a.alt, b.alt, w))
