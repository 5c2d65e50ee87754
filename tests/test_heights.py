"""Heights and their datum: GoPro's GPSA key, and a video whose frames would mix the telemetry's
heights with a GPX's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_gpx import _gpx

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.telemetry import read_video_track

MAX = Path(__file__).parent / "data" / "max-heromode_small.mp4"  # a real GoPro MAX clip: GPS5
#: The GPS stream's name in that clip's 11 GPMF samples (52 bytes with its padding).
STNM = b"STNMc\x01\x00+GPS (Lat., Long., Alt., 2D speed, 3D speed)\x00"


def _edited(dst: Path, gpsa: bytes | None = None, unlocked: int = 0) -> Path:
    """The clip with a GPSA key (``"MSLV"``: sea level) in each GPS stream, in place of as many
    bytes of the stream's name (which ExifTool then reads as "GoPro GPSA: MSLV"), and its first
    ``unlocked`` samples' fixes without a lock (GPSF 0), as before a receiver locks."""
    data = MAX.read_bytes()
    if gpsa is not None:
        short = b"STNMc\x01\x00\x20GPS (Lat., Long., Alt., 2D, 3D)\x00"
        data = data.replace(STNM, b"GPSAF\x04\x00\x01" + gpsa + short)
    lock = b"GPSFL\x04\x00\x01\x00\x00\x00\x03"
    data = data.replace(lock, lock[:-1] + b"\x00", unlocked)
    dst.write_bytes(data)
    return dst


def test_gpsa_says_what_a_gopros_heights_are_above(tmp_path):
    assert STNM in MAX.read_bytes()
    track = read_video_track(MAX)  # the real clip has no GPSA: GPS5 is above the ellipsoid
    assert (track.datum, track.datum_by) == ("WGS-84 ellipsoid", "GPMF GPS5/GPS9 (no GPSA)")
    track = read_video_track(_edited(tmp_path / "mslv.mp4", b"MSLV"))
    assert (track.datum, track.datum_by) == ("sea level", "GPMF GPSA MSLV")
    assert len(track.fixes) == 191  # (the fixes as before)
    capture = load_capture(tmp_path / "mslv.mp4", CaptureOptions(every_frames=30))
    assert capture.alt_by == "sea level (GPMF GPSA MSLV)"
    assert all(s.alt == pytest.approx(-23.2, abs=0.5) for s in capture.shots)


@pytest.mark.parametrize("gpsa", [None, b"MSLV"])
def test_a_video_does_not_mix_its_telemetrys_ellipsoid_heights_with_a_gpxs(tmp_path, gpsa):
    # The receiver locks 2 s in (two samples without a lock); a logger's GPX covers it all, its
    # <ele> 35 m above the telemetry's (about the geoid's height there). The first frames took the
    # GPX's heights, the rest the telemetry's: a 35 m step, for a GPS5 track above the ellipsoid.
    video = _edited(tmp_path / "late.mp4", gpsa, unlocked=2)
    points = [
        (datetime.fromtimestamp(f.utc, UTC), f.lat, f.lon, f.alt + 35.0)
        for f in read_video_track(MAX).fixes[::5]
    ]
    gpx = _gpx(tmp_path / "log.gpx", points)
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    assert capture.shots[0].time < 2.0 < capture.shots[-1].time
    assert all(s.has_position for s in capture.shots)
    if gpsa is None:
        assert all(s.alt is None for s in capture.shots) and capture.alt_by == ""
        assert (
            "heights left out: the telemetry's are above the WGS-84 ellipsoid (GPMF GPS5/GPS9 (no "
            "GPSA)), --gpx log.gpx's are above sea level, and no geoid model here converts "
            "between them"
        ) in capture.warnings
    else:
        assert all(s.alt is not None for s in capture.shots)
        assert capture.alt_by == "sea level (GPMF GPSA MSLV); sea level (--gpx log.gpx)"


def test_a_gpx_without_heights_mixes_none(tmp_path):
    # A logger's GPX with no <ele> places the frames before the lock: there is one source of
    # heights, so nothing is mixed and no warning is given (it said heights were left out).
    video = _edited(tmp_path / "late.mp4", None, unlocked=2)
    points = [
        (datetime.fromtimestamp(f.utc, UTC), f.lat, f.lon) for f in read_video_track(MAX).fixes
    ]
    gpx = _gpx(tmp_path / "log.gpx", points[::5])
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    assert capture.shots[0].alt is None and capture.shots[-1].alt is not None
    assert not [w for w in capture.warnings if "heights" in w]
    assert capture.alt_by == "WGS-84 ellipsoid (GPMF GPS5/GPS9 (no GPSA))"


@pytest.mark.parametrize("height", [0.0, -1.0])
def test_a_camm_track_whose_every_height_is_0_or_minus_1_has_none(tmp_path, height):
    # Type 5 must hold a number: older tools (and this project's export, for an unknown height)
    # wrote 0 or -1 on every packet. Read back, they were heights at sea level.
    from test_camm import _positions, _video

    from viewsynth.export.camm import add_camm_track

    video = _video(tmp_path / "v.mp4")
    add_camm_track(video, _positions(), [height] * len(_positions()))
    assert all(f.alt is None for f in read_video_track(video).fixes)
    heights = [height, 0.5] + [height] * (len(_positions()) - 2)  # one real height: all are kept
    add_camm_track(video, _positions(), heights)
    assert [f.alt for f in read_video_track(video).fixes] == heights
