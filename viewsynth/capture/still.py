"""Shots where the camera did not move, told from the pictures: a walker waiting at a crossing, a
car at a red light, a timelapse left running.

GPS cannot tell: standing, a receiver wanders 1-5 m, so mapillary_tools' rule (within 0.1 m, in
:func:`~viewsynth.capture.track.drop_duplicates`) misses such stops, and photos without GPS have
nothing to go by. The pictures can. Each frame becomes a grey thumbnail ``THUMB_WIDTH`` wide, its
contrast normalised (an exposure drift is no change), and DIS optical flow from the last frame
that showed another view splits into its median, a turn of the camera (a panorama's yaw, a
photo's pan or tilt: degrees across the frame's ``span``), and the rest, the parallax that moving
the camera makes (for photos all of it: their shift may be a step sideways past a flat front).
The parallax is read where the thumbnail has texture (flow in a blank sky or wall says nothing),
at its 75th percentile: a passer-by over a few percent of the view is no motion (one over a
tenth of a dashcam's view is, and keeps its frame).

Measured at 256 wide (TRAINING_LOG, session 33): the same view again (byte copies, re-encoded,
sensor noise, exposure drift, a degree of hand wobble, a dashcam's held frame through x264)
0.00-0.13 px; consecutive frames of real moving captures 0.48 px and up (25 fps dashcams, a
GoPro walk at 30 fps, panoramas 1-3 m apart). ``MOVED_PX`` lies between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from viewsynth.capture.heading import haversine, wrap180
from viewsynth.capture.shot import Shot
from viewsynth.geometry.pose import DEFAULT_HFOV_DEG

#: Width of the thumbnails compared, pixels (the parallax is measured in these).
THUMB_WIDTH = 256
#: Parallax (pixels at ``THUMB_WIDTH``) from which the camera moved.
MOVED_PX = 0.25
#: A thumbnail whose grey levels (0-1) spread less than this is blank: nothing is judged by it.
BLANK = 2.0 / 255.0
#: Metres a standing receiver's fixes wander (a phone's or a camera's: 1-5 m each way): a shot
#: whose picture says the camera stood may be this far from where the stop's fixes centre.
GPS_JITTER = 8.0


def thumbnail(image: np.ndarray) -> np.ndarray | None:
    """What :class:`StillWatch` compares of an ``(H, W, 3)`` RGB image (float32 in [0, 1] or
    uint8): ``(h, THUMB_WIDTH)`` uint8 grey, mean 128 and contrast normalised; None when it is
    blank (a lens cap, fog: no texture to see motion in)."""
    grey = cv2.cvtColor(np.asarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    if image.dtype == np.uint8:
        grey /= 255.0
    height = max(8, round(grey.shape[0] * THUMB_WIDTH / grey.shape[1]))
    shrink = grey.shape[1] > THUMB_WIDTH
    small = cv2.resize(
        grey, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    if small.std() < BLANK:
        return None
    small = (small - small.mean()) / float(small.std())
    return np.clip(small * 40.0 + 128.0, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Look:
    """How a frame's picture differs from ``ref``'s, the last earlier frame of another view."""

    ref: str  # that frame's name
    parallax: float  # pixels at THUMB_WIDTH: what moving the camera makes (MOVED_PX)
    turn: float  # degrees the view turned (pan and tilt together)

    @property
    def stood(self) -> bool:
        """Whether the camera stayed where ``ref`` was taken (it may have turned)."""
        return self.parallax < MOVED_PX


def compare(
    thumb0: np.ndarray,
    thumb1: np.ndarray,
    *,
    equirect: bool,
    span: float,
    ref: str = "",
    dis: cv2.DISOpticalFlow | None = None,
) -> Look:
    """The parallax and turn from ``thumb0`` (frame ``ref``'s) to ``thumb1`` (:func:`thumbnail`'s,
    one size); ``span``: degrees across the frame's width (360 for a panorama, a photo's field of
    view). Panoramas wrap: motion across the seam is found. ``dis``: the DIS flow to use (made
    once per :class:`StillWatch`: making one costs as much as half a comparison)."""
    pad = THUMB_WIDTH // 8 if equirect else 0
    a, b = thumb0, thumb1
    if pad:
        a = np.concatenate([a[:, -pad:], a, a[:, :pad]], axis=1)
        b = np.concatenate([b[:, -pad:], b, b[:, :pad]], axis=1)
    if dis is None:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    flow = dis.calc(a, b, None)
    if pad:
        flow = flow[:, pad:-pad]
    fx, fy = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    shift = float(np.median(fx)), float(np.median(fy))
    # A panorama's shift is a turn; a photo's may as well be a step sideways past a flat front
    # (a facade, a shop window), so for photos the shift counts as motion too.
    if equirect:
        fx, fy = fx - np.float32(shift[0]), fy - np.float32(shift[1])
    rest = cv2.magnitude(fx, fy)
    grey = thumb0.astype(np.float32)
    texture = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    textured = rest[texture > np.median(texture)]
    parallax = float(np.percentile(textured if textured.size else rest, 75))
    return Look(ref, parallax, float(np.hypot(*shift)) * span / THUMB_WIDTH)


class StillWatch:
    """Frames in order (:meth:`add`) -> each one's :class:`Look` at the last earlier frame that
    showed another view (``looks``, by name; not the first frame's). A frame shows the same view
    when the camera stood and turned less than ``angle`` degrees (``capture.duplicate_angle``)."""

    def __init__(self, angle: float) -> None:
        self.angle = angle
        self.looks: dict[str, Look] = {}
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._ref: tuple[str, np.ndarray | None] | None = None

    def add(
        self, name: str, image: np.ndarray | None, *, equirect: bool, hfov: float | None
    ) -> None:
        """Frame ``name``: its ``(H, W, 3)`` picture or its :func:`thumbnail` (2D, or None:
        blank), a panorama (``equirect``) or a photo of ``hfov`` degrees (None: the default)."""
        thumb = image if image is None or image.ndim == 2 else thumbnail(image)
        span = 360.0 if equirect else hfov or DEFAULT_HFOV_DEG
        ref = self._ref
        if thumb is not None and ref is not None and ref[1] is not None:
            if ref[1].shape == thumb.shape:
                look = compare(
                    ref[1], thumb, equirect=equirect, span=span, ref=ref[0], dis=self._dis
                )
                self.looks[name] = look
                if look.stood and look.turn < self.angle:
                    return  # the same view: the next frames are compared with the same one
        self._ref = (name, thumb)  # (blank: the next frame is compared with nothing)


def drop_still(
    segment: Sequence[Shot], looks: Mapping[str, Look], angle: float
) -> tuple[list[Shot], list[tuple[str, str]], int]:
    """Drop the shots whose picture shows the previous kept shot's view again: (kept shots,
    [(name, reason)] of the dropped, how many stops it found).

    A shot stands at the previous kept one's stop when its :class:`Look` says the camera stood
    and its position (when both have one) is within ``GPS_JITTER`` metres of the stop's fixes'
    mean; there it is dropped unless it turned ``angle`` degrees or more (a real change of view,
    kept). The stop's kept shots take the mean of its fixes: one place, so no heading follows the
    jitter. Shots without a ``Look`` (the first, another size) start a stop of their own.
    """
    kept: list[Shot] = []
    dropped: list[tuple[str, str]] = []
    stop: list[Shot] = []  # every shot at kept[-1]'s stop, kept or not
    stops = 0

    def view_of(shot: Shot) -> str:  # the shot whose view it shows
        look = looks.get(shot.name)
        return look.ref if look is not None and look.stood and look.turn < angle else shot.name

    def settle() -> None:  # the stop's kept shots to its fixes' mean
        nonlocal stops
        if len(stop) < 2:
            return
        stops += 1
        if (where := _mean_fix(stop)) is None:
            return
        members = {id(s) for s in stop}
        for k in range(len(kept) - 1, -1, -1):
            if id(kept[k]) not in members:
                break
            if kept[k].has_position:
                alt = kept[k].alt if where[2] is None else where[2]
                kept[k] = dataclasses.replace(kept[k], lat=where[0], lon=where[1], alt=alt)

    for shot in segment:
        look = looks.get(shot.name)
        where = _mean_fix(stop)
        away = None
        if where is not None and shot.has_position:
            away = haversine(where[0], where[1], shot.lat, shot.lon)
        if (
            kept
            and look is not None
            and look.stood
            and look.ref == view_of(kept[-1])
            and (away is None or away <= GPS_JITTER)
        ):
            stop.append(shot)
            if look.turn < angle:
                gps = f", GPS {away:.1f} m from the stop's" if away is not None else ""
                dropped.append(
                    (
                        shot.name,
                        f"standing still: the view of {kept[-1].name} again (parallax "
                        f"{look.parallax:.2f} px, turned {look.turn:.1f} deg{gps})",
                    )
                )
            else:
                kept.append(shot)  # turned on the spot: a new view, at the stop's place
            continue
        settle()
        stop = [shot]
        kept.append(shot)
    settle()
    return kept, dropped, stops


def stop_places(
    segment: Sequence[Shot], looks: Mapping[str, Look], angle: float
) -> dict[str, tuple[float, float, float | None]]:
    """Where each shot at a stop stood, by name: (lat, lon, alt), the stop's fixes' mean, as
    :func:`drop_still` places the stop's kept shots; shots that moved, or stood alone, are not
    listed. ``--spacing`` counts no metres between them (``sampling.Picker``)."""
    kept, dropped, _ = drop_still(segment, looks, angle)
    first = {s.name: s for s in segment}
    places = {
        s.name: (s.lat, s.lon, s.alt)
        for s in kept
        if s.has_position and (s.lat, s.lon) != (first[s.name].lat, first[s.name].lon)
    }
    by_name = {s.name: s for s in kept}
    for name, _ in dropped:
        ref = by_name[looks[name].ref]  # (a stop's first shot: its view, always kept)
        if ref.has_position:
            places[name] = places[ref.name] = (ref.lat, ref.lon, ref.alt)
    return places


def _mean_fix(shots: Sequence[Shot]) -> tuple[float, float, float | None] | None:
    """The mean (lat, lon, alt) of the shots' positions (alt when all have one), the short way
    across the 180th meridian; None when none has one."""
    placed = [s for s in shots if s.has_position]
    if not placed:
        return None
    lat = float(np.mean([s.lat for s in placed]))
    lon0 = placed[0].lon
    lon = lon0 + float(np.mean([wrap180(s.lon - lon0) for s in placed]))
    lon = (lon + 180.0) % 360.0 - 180.0
    alts = [s.alt for s in placed]
    alt = float(np.mean(alts)) if all(a is not None for a in alts) else None
    return lat, lon, alt
