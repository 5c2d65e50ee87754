"""Heights from two sources: a capture's own (telemetry, EXIF ``GPSAltitude``) and a ``--gpx``'s
``<ele>`` (sea level), compared where both measured one.

A pair is (GPX height, the capture's own height) at one moment, in metres; a shift is the metres
added to one source's heights to put them on the other's. Each source's frames take its heights,
so two sources that disagree make the walkthrough's heights step where one hands over to the
other.

- Own heights not above sea level (GPS5's WGS-84 ellipsoid, CAMM's unstated) move onto the GPX's
  sea level by :func:`height_shift`, the geoid's height there (``locate.Locator``). Within
  ``SAME_DATUM`` of 0 the two are the same numbers (ExifTool's GPX export of a GoPro's GPS5 holds
  its ellipsoid heights): where the telemetry states its datum (GPS5), the GPX's are then that
  datum's, whatever the GPX claims; CAMM's unstated datum is shifted as any other.
- Both above sea level, they should agree within ``APART`` (:func:`sea_levels`). Further apart,
  the GPX's move onto the capture's own by their median difference: the capture measured its
  frames, and a log's barometer or reference is the likelier fault. Where one offset does not fit,
  the frames of the source that placed fewer lose their heights, as where datums cannot be put on
  one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

#: :func:`height_shift` measures the offset between the capture's heights and a GPX's at the
#: GPX's fixes with a height that the capture covers (independent readings; a video's telemetry,
#: 4-18 Hz, interpolated there): at least this many (a 1 Hz logger's 5 s) ...
SHIFT_MOMENTS = 5
#: ... whose differences spread (median absolute deviation) at most this many metres: about one
#: consumer receiver's vertical error; wider, the two disagree on the moments they share (another
#: day's log, a wrong --gpx-offset, a drifting barometer) and no one offset fits ...
SHIFT_SPREAD = 3.0
#: ... and whose median is at most this far from 0 (metres): the geoid lies within -106 and +85 m
#: of the WGS-84 ellipsoid (EGM2008); further, the heights differ by more than a datum.
SHIFT_MAX = 110.0
#: A shift this small (metres) says the GPX holds the telemetry's own numbers (max-heromode.mp4
#: and ExifTool's GPX export of it: -0.07 m, MAD 0.06 m over 11 moments): labelled with the
#: telemetry's datum, they are right to within it whatever the GPX was (an independent log above
#: sea level, where the geoid is this close to the ellipsoid, is as close to the ellipsoid).
SAME_DATUM = 1.0
#: Metres two sea-level sources may differ by (their median difference) before they are said to
#: disagree: each consumer receiver's vertical error is several metres (GPS's standard: 95 % within
#: 15 m; phones and cameras 3-8 m) plus its own geoid model's metres, and those errors hold for
#: minutes, so the median over a walk's moments does not average them away. A barometric log off
#: its reference pressure (1 hPa: 8 m) or another logger's wrong datum differs by tens of metres.
APART = 10.0


def height_shift(
    pairs: list[tuple[float, float]], most: float | None = SHIFT_MAX
) -> tuple[float | None, str]:
    """The metres to add to the capture's heights to put them on the GPX's, from ``pairs`` of
    (GPX height, own height) at the same moments, and how it was measured (``None`` and why not
    where no offset can be trusted: too few moments, too wide a spread, more than ``most``: the
    geoid's height; None: no limit)."""
    if len(pairs) < SHIFT_MOMENTS:
        if not pairs:
            return None, "they measured no height at the same moment"
        return (
            None,
            f"they measured one at {len(pairs)} moment(s) alone, fewer than {SHIFT_MOMENTS}",
        )
    diffs = [gpx - own for gpx, own in pairs]
    shift = statistics.median(diffs)
    spread = statistics.median(abs(d - shift) for d in diffs)
    over = f"over {len(pairs)} moments both measured"
    if spread > SHIFT_SPREAD:
        return None, (
            f"their differences spread {spread:.1f} m (median absolute deviation) {over}, more "
            f"than {SHIFT_SPREAD:g} m"
        )
    if most is not None and abs(shift) > most:
        return None, (
            f"their median difference, {shift:+.1f} m {over}, is more than the geoid's height "
            f"anywhere ({most:g} m)"
        )
    return shift, f"the median difference {over}"


@dataclass(frozen=True)
class Apart:
    """How a GPX's sea-level heights stand against a capture's own sea-level ones."""

    shift: float | None = None  # metres added to the GPX's heights (None: left as they are)
    said: str = ""  # why they disagree ("": they agree, or no moment has both)
    by: str = ""  # how the GPX's were put on the capture's own (for ``alt_by``)

    @property
    def mixed(self) -> bool:
        """Whether the two disagree and no one offset puts one on the other: the source that
        placed fewer frames is to lose its heights."""
        return bool(self.said) and self.shift is None


def sea_levels(pairs: list[tuple[float, float]], own: str, gpx: str) -> Apart:
    """Judge two sources that both give heights above sea level from ``pairs`` (GPX height, own
    height) at the same moments: ``own`` and ``gpx`` name them ("the telemetry's (GPMF GPSA
    MSLV)", "--gpx log.gpx"). Within ``APART`` of each other (or never both measured) they are left as
    they are; further, the GPX's are shifted onto the capture's own by :func:`height_shift` (no
    geoid limit: neither is a datum off the other), or, where it finds no one offset, mixed."""
    if not pairs:
        return Apart()
    median = statistics.median(gpx_alt - own_alt for gpx_alt, own_alt in pairs)
    if abs(median) <= APART:
        return Apart()
    side = "above" if median > 0 else "below"
    said = (
        f"{gpx}'s heights are {abs(median):.1f} m {side} {own}, both above sea level (the median "
        f"difference over {len(pairs)} moment(s) both measured): more than two receivers' errors "
        f"({APART:g} m)"
    )
    shift, how = height_shift(pairs, most=None)
    if shift is None:
        return Apart(said=f"{said}, and no one offset fits: {how}")
    by = f"{gpx}'s heights shifted by {-shift:+.1f} m onto {own}, {how}"
    return Apart(-shift, f"{said}; shifted by {-shift:+.1f} m onto them", by)
