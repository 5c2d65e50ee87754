"""Each camera's clock against GPS time, and a capture's EXIF times made UTC camera by camera.

A camera is its EXIF Make, Model and serial number (``Metadata.camera``, ``Metadata.serial``;
frames without them are one "unknown camera"). Its **reading** of a frame is DateTimeOriginal +
SubSecTimeOriginal, made UTC by OffsetTimeOriginal where every frame of that camera has one, else
the local clock as written. Phones write GPS time (UTC, whole seconds) beside it; many cameras
write only their own clock, set by hand: minutes off, or in local time.

- **Measured**: where some frames of a camera carry a GPS time too, the camera's **offset** is the
  median of (reading - GPS time) over them (robust to a phone's stale fix; less half a second
  where GPS times are whole seconds), with its spread; every
  frame of that camera then has the time reading - offset, UTC that keeps the camera's sub-seconds.
- **OffsetTimeOriginal**: a camera without such frames whose frames all carry it is taken as UTC
  (offset 0, unchecked), as before.
- **Unknown** otherwise. The capture's times are UTC only when every camera's offset is known;
  else every frame keeps its local reading (``track.capture_times``), and where other cameras
  were known a warning names the ones that were not (their shots may interleave wrongly).

A clock off by more than ``OFF_SECONDS`` beyond a time zone (the nearest of ``ZONES``; the zone
itself when the camera writes OffsetTimeOriginal) is said in one warning per camera, as is a
camera whose frames disagree about its offset (two cameras of one model without serial numbers,
or a clock set again during the capture): its median then sets all its frames.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from viewsynth.capture.metadata import Metadata

#: A camera clock off by more than this many seconds (beyond its time zone) gets a warning: GPS
#: times are whole seconds and a phone writes its own a moment apart.
OFF_SECONDS = 5.0
#: The offsets of local time from UTC in use (seconds): whole hours, and the zones a half or
#: three quarters of an hour off them (India +5:30, Nepal +5:45, Newfoundland -3:30, Chatham
#: +12:45, ...). A local clock's offset beyond the nearest is its error.
ZONES = tuple(
    h * 3600.0 for h in (*range(-12, 15), -9.5, -3.5, 3.5, 4.5, 5.5, 5.75, 6.5, 8.75, 9.5, 10.5,
                         12.75)
)  # fmt: skip


@dataclass(frozen=True)
class CameraClock:
    """One camera's clock: ``offset`` seconds it reads ahead of UTC (None: unknown)."""

    camera: str  # 'RICOH GR III #1234'
    frames: int  # the capture's frames from it
    offset: float | None
    by: str  # 'gps' (measured), 'OffsetTimeOriginal' (as written), 'unknown'
    local: bool  # its readings are local clock readings (no OffsetTimeOriginal on every frame)
    measured: int = 0  # frames with both times
    low: float | None = None  # the smallest and largest (reading - GPS time) of those frames
    high: float | None = None
    apart: int = 0  # of those, the frames more than OFF_SECONDS from the offset (their median)

    @property
    def error(self) -> float | None:
        """Seconds the clock is off beyond its time zone (the whole offset for a UTC reading)."""
        if self.offset is None:
            return None
        zone = min(ZONES, key=lambda z: abs(self.offset - z)) if self.local else 0.0
        return self.offset - zone

    def record(self, used: bool) -> dict:
        """The manifest's entry; ``used``: whether it set the frames' times."""
        entry: dict = {"camera": self.camera, "frames": self.frames, "by": self.by, "used": used}
        if self.offset is not None:
            entry["offset_s"] = round(self.offset, 3)
            entry["local"] = self.local
        if self.measured:
            entry["measured_frames"] = self.measured
            entry["spread_s"] = [round(self.low, 3), round(self.high, 3)]
        return entry

    def warning(self) -> str | None:
        """One line when the measured clock is off by more than ``OFF_SECONDS``, or when more
        than a third of the frames it was measured on are that far from it; else None."""
        error = self.error
        if self.by != "gps" or error is None:
            return None
        if 3 * self.apart > self.measured:
            return (
                f"{self.camera}'s {self.measured} frames with GPS and EXIF times disagree by "
                f"up to {self.high - self.low:.1f} s about its clock (two cameras of one model "
                "without serial numbers, or a clock set again during the capture?): their median "
                f"sets its {self.frames} frames' times (--gpx-offset S sets one offset instead)"
            )
        if abs(error) <= OFF_SECONDS:
            return None
        zone = self.offset - error
        beyond = f" beyond its time zone (UTC{_zone_text(zone)})" if zone else ""
        return (
            f"{self.camera}'s clock is {_duration(abs(error))} "
            f"{'ahead of' if error > 0 else 'behind'} GPS time{beyond}, by its {self.measured} "
            f"frame(s) with both times (spread {self.high - self.low:.1f} s): its {self.frames} "
            "frames' times are set by it"
        )


def camera_of(meta: Metadata) -> str:
    """The camera a frame came from: Make Model #serial."""
    name = meta.camera or "unknown camera"
    return f"{name} #{meta.serial}" if meta.serial else name


def reading(meta: Metadata, local: bool) -> float | None:
    """A frame's EXIF time: the local clock's reading, or made UTC by its OffsetTimeOriginal."""
    return meta.exif_local_time if local else meta.exif_time


def camera_clocks(metas: Sequence[Metadata]) -> list[CameraClock]:
    """The clock of every camera with an EXIF time among ``metas``, in order of first frame."""
    cameras: dict[str, list[Metadata]] = {}
    for meta in metas:
        if meta.exif_time is not None:
            cameras.setdefault(camera_of(meta), []).append(meta)
    return [_clock(camera, frames) for camera, frames in cameras.items()]


def _clock(camera: str, metas: list[Metadata]) -> CameraClock:
    local = any(m.exif_offset is None for m in metas)
    ahead = [reading(m, local) - m.gps_time for m in metas if m.gps_time is not None]
    if ahead:
        # A GPS time in whole seconds (a phone's) is its second's start: the frame was taken
        # half a second after it on average (as ``track.gps_times`` reads it).
        whole = all(m.gps_time == int(m.gps_time) for m in metas if m.gps_time is not None)
        middle = statistics.median(ahead)
        apart = sum(abs(a - middle) > OFF_SECONDS for a in ahead)
        offset = middle - (0.5 if whole else 0.0)
        return CameraClock(
            camera, len(metas), offset, "gps", local, len(ahead), min(ahead), max(ahead), apart
        )
    if not local:
        return CameraClock(camera, len(metas), 0.0, "OffsetTimeOriginal", local)
    return CameraClock(camera, len(metas), None, "unknown", local)


def utc_times(
    metas: Sequence[Metadata], clocks: Sequence[CameraClock]
) -> list[float | None] | None:
    """Every frame's EXIF reading less its camera's offset (UTC); None when some camera among
    ``metas`` has no known offset, or none was measured (then nothing changes)."""
    by_camera = {clock.camera: clock for clock in clocks}
    used = [by_camera[camera_of(m)] for m in metas if m.exif_time is not None]
    if not used or any(c.offset is None for c in used) or all(c.by != "gps" for c in used):
        return None
    times = []
    for meta in metas:
        clock = by_camera.get(camera_of(meta)) if meta.exif_time is not None else None
        times.append(reading(meta, clock.local) - clock.offset if clock else None)
    return times


def unknown_warning(clocks: Sequence[CameraClock]) -> list[str]:
    """A warning when cameras' clocks differ and some cannot be set against GPS time."""
    unknown = [c for c in clocks if c.offset is None]
    if not unknown or len(clocks) < 2 or not any(c.by == "gps" for c in clocks):
        return []
    names = ", ".join(f"{c.camera} ({c.frames} frames)" for c in unknown)
    return [
        f"no frame of {names} has a GPS time to set its clock by: all frames are ordered by "
        "their cameras' own clocks, as written (--gpx-offset or exiftool -AllDates+=... to align)"
    ]


def _zone_text(seconds: float) -> str:
    minutes = round(abs(seconds) / 60.0)
    return f"{'+' if seconds >= 0 else '-'}{minutes // 60:02d}:{minutes % 60:02d}"


def _duration(seconds: float) -> str:
    """'1 h 2 min 5.0 s', '50.4 s'."""
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    parts = [f"{int(hours)} h"] if hours else []
    parts += [f"{int(minutes)} min"] if minutes or hours else []
    return " ".join([*parts, f"{secs:.1f} s"])
