"""Heights and their datum: GoPro's GPSA key, and a video whose frames would mix the telemetry's
heights with a GPX's."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_gpx import _gpx

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.telemetry import VIDEO_MAX_GAP, Fix, positions_at, read_video_track

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


def _logged(shift: float, first: int = 0, last: int = 99) -> list[tuple]:
    """A 1 Hz logger's GPX points (whole UTC seconds ``first`` to ``last`` of the clip's track) on
    the clip's own fixes, each height ``shift`` metres above the telemetry's, give or take 0.3 m."""
    fixes = sorted((Fix(f.utc, f.lat, f.lon, f.utc, f.alt) for f in read_video_track(MAX).fixes),
                   key=lambda f: f.time)  # fmt: skip
    start = math.ceil(fixes[0].time)
    seconds = [start + k for k in range(first, last + 1) if start + k <= fixes[-1].time]
    found = positions_at(fixes, seconds, VIDEO_MAX_GAP)
    return [
        (datetime.fromtimestamp(s, UTC), f.lat, f.lon, round(f.alt + shift + 0.3 * (s % 3 - 1), 2))
        for s, f in zip(seconds, found, strict=True)
    ]


@pytest.mark.parametrize("last", [99, 8])  # the GPX covers the whole clip, or its first 9 s
def test_a_gpx_puts_the_telemetrys_ellipsoid_heights_on_sea_level(tmp_path, last):
    # The receiver locks 2 s in (two samples without a lock); a logger's GPX places the frames
    # before, its <ele> 35 m above the telemetry's (the geoid's height there: Carlsbad, CA, -35
    # m). Its frames took the GPX's heights, the rest the telemetry's: a 35 m step, then (from
    # session 34) no heights at all. Where both measured, their difference is that offset.
    video = _edited(tmp_path / "late.mp4", None, unlocked=2)
    gpx = _gpx(tmp_path / "log.gpx", _logged(35.0, last=last))
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    assert capture.shots[0].time < 2.0 < capture.shots[-1].time
    assert not [w for w in capture.warnings if "heights" in w]
    shared = 8 if last == 99 else 5  # (the GPX's seconds inside the telemetry's 2.0-10.5 s)
    assert capture.alt_by == (
        "sea level (--gpx log.gpx; the telemetry's WGS-84 ellipsoid heights (GPMF GPS5/GPS9 (no "
        f"GPSA)) shifted by +35.0 m, the median difference over {shared} moments both measured)"
    )
    own = read_video_track(MAX).fixes
    alts = [s.alt for s in capture.shots]
    assert all(a == pytest.approx(-23.2 + 35.0, abs=0.6) for a in alts)  # (no 35 m step)
    assert max(abs(b - a) for a, b in itertools.pairwise(alts)) < 0.5
    last_shot = capture.shots[-1]  # (a telemetry frame: its own height, shifted)
    (at,) = positions_at(own, [last_shot.time], VIDEO_MAX_GAP)
    assert last_shot.alt == pytest.approx(at.alt + 35.0, abs=0.01)


def test_a_gpx_of_the_videos_own_heights_keeps_their_datum(tmp_path):
    # ExifTool's GPX export of a GoPro's GPS5 holds its ellipsoid heights as <ele>: the shift
    # measured 0.3 m and the frames were labelled sea level (b9a840d warned). The same numbers
    # are the telemetry's datum, whatever the GPX claims: labelled so, and moved by nothing.
    video = _edited(tmp_path / "late.mp4", None, unlocked=2)
    gpx = _gpx(tmp_path / "own.gpx", _logged(0.3, last=99))
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    (said,) = [w for w in capture.warnings if "heights" in w]
    assert said == (
        "late.mp4: --gpx own.gpx's heights are within 0.3 m of the telemetry's WGS-84 ellipsoid "
        "heights, the same numbers (a GPX made from this video's own GPS, as ExifTool's export "
        "is): taken as the WGS-84 ellipsoid's, not sea level's"
    )
    assert capture.alt_by == (
        "WGS-84 ellipsoid (GPMF GPS5/GPS9 (no GPSA); --gpx own.gpx's heights the same numbers, "
        "within 0.3 m: the median difference over 8 moments both measured)"
    )
    last = capture.shots[-1]  # (a telemetry frame: its own height, not shifted)
    (at,) = positions_at(read_video_track(MAX).fixes, [last.time], VIDEO_MAX_GAP)
    assert last.alt == pytest.approx(at.alt, abs=0.01)
    assert all(s.alt == pytest.approx(-23.2 + 0.3, abs=0.7) for s in capture.shots)


@pytest.mark.parametrize(
    ("gpsa", "points", "why"),
    [
        (None, _logged(35.0, last=3), "they measured no height at the same moment"),
        (None, _logged(35.0, last=5), "they measured one at 2 moment(s) alone, fewer than 5"),
        (b"MSLV", _logged(35.0, last=3), ""),  # (both above sea level: kept)
    ],
)
def test_a_video_does_not_mix_heights_whose_offset_is_not_measured(tmp_path, gpsa, points, why):
    # A GPX covering the frames before the lock, and too few of the telemetry's after it, cannot
    # say how far apart the two datums are: the frames the GPX placed lose their heights (the
    # telemetry gave more frames theirs; before, every frame lost its), and the warning says
    # why. Above sea level both (GPSA MSLV), they are kept as they are.
    video = _edited(tmp_path / "late.mp4", gpsa, unlocked=2)
    gpx = _gpx(tmp_path / "log.gpx", points)
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    assert capture.shots[0].time < 2.0 < capture.shots[-1].time
    assert all(s.has_position for s in capture.shots)
    if gpsa is None:
        early = [s for s in capture.shots if s.time < 1.9]  # (the GPX's: before the lock)
        assert len(early) == 4 and all(s.alt is None for s in early)
        late = capture.shots[len(early) :]
        assert all(s.alt == pytest.approx(-23.2, abs=0.5) for s in late)
        assert capture.alt_by == "WGS-84 ellipsoid (GPMF GPS5/GPS9 (no GPSA))"
        assert (
            f"heights left out on the 4 of {len(capture.shots)} frames with one that --gpx "
            "log.gpx placed: the telemetry's are above the WGS-84 ellipsoid (GPMF GPS5/GPS9 (no "
            "GPSA)), --gpx log.gpx's are above sea level, and the offset between them could not "
            f"be measured: {why}"
        ) in capture.warnings
    else:
        assert all(s.alt is not None for s in capture.shots)
        assert capture.alt_by == "sea level (GPMF GPSA MSLV); sea level (--gpx log.gpx)"


def test_a_gpx_that_placed_most_frames_keeps_their_heights(tmp_path):
    # The lock comes 8 s in, after the GPX ends: no moment has both heights, and the GPX's 15
    # frames keep theirs (sea level), the telemetry's 6 lose theirs.
    video = _edited(tmp_path / "late.mp4", None, unlocked=8)
    gpx = _gpx(tmp_path / "log.gpx", _logged(35.0, last=8))
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    alts = [s.alt for s in capture.shots]
    assert alts[15:] == [None] * 6 and all(a == pytest.approx(11.8, abs=0.7) for a in alts[:15])
    assert capture.alt_by == "sea level (--gpx log.gpx)"
    assert [w for w in capture.warnings if "heights" in w][0].startswith(
        "heights left out on the 6 of 21 frames with one that the telemetry placed: "
    )


def test_height_shift_trusts_one_offset_only():
    from viewsynth.capture.heights import height_shift

    pairs = [(47.0 + d, 0.0) for d in (0.4, -0.2, 0.1, 0.0, -0.5, 0.3)]
    assert height_shift(pairs) == (
        pytest.approx(47.05),
        "the median difference over 6 moments both measured",
    )
    assert height_shift(pairs[:4])[0] is None  # (too few)
    wide = [(g + 8.0 * (-1) ** k, o) for k, (g, o) in enumerate(pairs)]  # two loggers 16 m apart
    assert height_shift(wide)[1] == (
        "their differences spread 8.0 m (median absolute deviation) over 6 moments both "
        "measured, more than 3 m"
    )
    far = [(g + 100.0, o) for g, o in pairs]  # (147 m: no geoid is that far from the ellipsoid)
    assert "more than the geoid's height anywhere (110 m)" in height_shift(far)[1]


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


@pytest.mark.parametrize("none", [0.0, -1.0])
def test_a_camm_track_with_0_or_minus_1_on_part_of_it_has_no_height_there(tmp_path, none):
    # A camera before its vertical fix (and while it loses it) writes 0 or -1 amid a town's
    # 312 m: read back, the frames stepped 312 m down to sea level and up again. A hole between
    # two heights takes one between them; the ends have none.
    from test_camm import _positions, _video

    from viewsynth.export.camm import add_camm_track

    video = _video(tmp_path / "v.mp4")
    add_camm_track(video, _positions(), [none, none, 312.0, 312.3, none, 312.9, none])
    heights = [f.alt for f in read_video_track(video).fixes]
    assert heights[:4] == [None, None, 312.0, 312.3] and heights[4] == pytest.approx(312.6)
    assert heights[5:] == [312.9, None]
    at_sea = [none, none, 1.5, 2.0, none, 12.4, 2.8]  # (a capture at sea level: readings all)
    add_camm_track(video, _positions(), at_sea)
    assert [f.alt for f in read_video_track(video).fixes] == at_sea


def test_a_gpx_puts_camm_heights_on_sea_level_by_the_videos_creation_time(tmp_path):
    # CAMM type 5 has no clock of its own: the GPX is matched by the MP4's creation time, and the
    # heights, whose datum CAMM does not state, move by their median difference all the same.
    from capture_fixtures import ORIGIN, offset, plain_video

    from viewsynth.export.camm import add_camm_track

    video = plain_video(tmp_path / "v.mp4", n=60, created="2024-05-01T10:00:00Z")
    places = [offset(*ORIGIN, 0.15 * i, 0.0) for i in range(60)]  # (1.5 m/s at 10 fps)
    add_camm_track(video, places, [312.0 + 0.02 * i for i in range(60)])
    start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC).timestamp()
    points = [
        (
            datetime.fromtimestamp(start + s, UTC),
            *places[10 * s],
            359.0 + 0.2 * s + 0.3 * (s % 3 - 1),
        )
        for s in range(6)
    ]  # (47 m above, give or take 0.3 m)
    gpx = _gpx(tmp_path / "log.gpx", points)
    capture = load_capture(video, CaptureOptions(every_frames=10, gpx=str(gpx)))
    assert capture.alt_by == (
        "sea level (--gpx log.gpx; the telemetry's heights (CAMM, datum not stated) shifted by "
        "+47.0 m, the median difference over 6 moments both measured)"
    )
    assert [s.alt for s in capture.shots] == pytest.approx([359.0 + 0.2 * s for s in range(6)])


def test_a_gpx_whose_heights_no_frame_takes_is_not_said_to_be_shifted(tmp_path):
    # Locked from its first frame, the video places every frame itself: the GPX 40 m above gives
    # no frame a height, and the warning that its heights were "shifted onto them" said otherwise.
    video = _edited(tmp_path / "locked.mp4", b"MSLV")
    points = [(*p[:3], round(p[3] + 40.0 + 0.3 * (-1) ** k, 2)) for k, p in enumerate(_logged(0.0))]
    capture = load_capture(
        video, CaptureOptions(every_frames=15, gpx=str(_gpx(tmp_path / "b.gpx", points)))
    )
    assert not [w for w in capture.warnings if "heights" in w], capture.warnings
    assert capture.alt_by == "sea level (GPMF GPSA MSLV)"


@pytest.mark.parametrize(
    ("last", "noise", "why"),
    [
        (99, 0.3, ""),
        (5, 0.3, "39.8 m above ... over 2 moment(s) ... they measured one at 2 moment(s) alone, "),
        (99, 8.0, "40.0 m above ... over 8 moment(s) ... their differences spread 8.0 m (median "),
    ],
)
def test_two_sea_levels_40_m_apart_do_not_step(tmp_path, last, noise, why):
    # A GoPro's GPSA MSLV heights and a logger's <ele> 40 m above them (its barometer off its
    # reference), both "sea level": the 4 frames the GPX placed before the lock were 40 m above
    # the rest, without a word. Where one offset fits (8 moments both measured), the GPX's move
    # onto the telemetry's; where none does (2 moments, or 8 spread by +-8 m), the GPX's 4 frames
    # lose their heights, as where datums cannot be put on one.
    video = _edited(tmp_path / "late.mp4", b"MSLV", unlocked=2)
    points = [(*p[:3], round(p[3] + 40.0 + noise * (-1) ** k, 2))
              for k, p in enumerate(_logged(0.0, last=last))]  # fmt: skip
    gpx = _gpx(tmp_path / "baro.gpx", points)
    capture = load_capture(video, CaptureOptions(every_frames=15, gpx=str(gpx)))
    (said,) = [w for w in capture.warnings if "heights" in w]
    alts = [s.alt for s in capture.shots]
    if not why:
        assert said == (
            "late.mp4: --gpx baro.gpx's heights are 40.0 m above the telemetry's (GPMF GPSA "
            "MSLV), both above sea level (the median difference over 8 moment(s) both measured): "
            "more than two receivers' errors (10 m); shifted by -40.0 m onto them"
        )
        assert capture.alt_by == (
            "sea level (GPMF GPSA MSLV); sea level (--gpx baro.gpx's heights shifted by -40.0 m "
            "onto the telemetry's (GPMF GPSA MSLV), the median difference over 8 moments both "
            "measured)"
        )
        assert all(a == pytest.approx(-23.2, abs=0.7) for a in alts)  # (no 40 m step)
        return
    median, moments, how = why.split(" ... ")
    assert said.startswith(
        "heights left out on the 4 of 21 frames with one that --gpx baro.gpx placed: --gpx "
        f"baro.gpx's heights are {median} the telemetry's (GPMF GPSA MSLV), both above sea level "
        f"(the median difference {moments} both measured): more than two receivers' errors (10 m), "
        f"and no one offset fits: {how}"
    )
    assert alts[:4] == [None] * 4 and all(a == pytest.approx(-23.2, abs=0.5) for a in alts[4:])
    assert capture.alt_by == "sea level (GPMF GPSA MSLV)"


def _walk_photos(folder: Path, gps: int, n: int = 8) -> list[float]:
    """``n`` photos 2 m and 1 s apart (EXIF times UTC), the first ``gps`` with their GPS and a
    height (100 m, climbing 0.1 m a photo): the heights of all ``n``."""
    from capture_fixtures import ORIGIN, offset, write_image

    folder.mkdir()
    heights = [100.0 + 0.1 * i for i in range(n)]
    for i in range(n):
        write_image(
            folder / f"p{i}.jpg", seed=i, exif_time=f"2024:05:01 10:00:{i:02d}",
            offset_time="+00:00", position=offset(*ORIGIN, 2.0 * i, 0.0) if i < gps else None,
            altitude=heights[i] if i < gps else None,
        )  # fmt: skip
    return heights


@pytest.mark.parametrize(("gps", "apart"), [(5, 40.0), (5, 6.0), (2, 40.0)])
def test_photos_heights_and_a_gpxs_40_m_apart_do_not_step(tmp_path, gps, apart):
    # Photos with EXIF GPSAltitude (a phone's, sea level) and a --gpx placing those without, its
    # <ele> 40 m above (a barometric logger): the walk stepped 40 m up at the hand-over, unwarned.
    # 5 photos with both: the GPX's move onto the EXIF heights. 2 (too few for one offset): the
    # GPX placed more photos (6 of 8), and the EXIF ones lose theirs. 6 m apart: two receivers'
    # error, kept as they are.
    from capture_fixtures import ORIGIN, offset

    heights = _walk_photos(tmp_path / "walk", gps)
    start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    points = [
        (start + timedelta(seconds=i), *offset(*ORIGIN, 2.0 * i, 0.0), heights[i] + apart + 0.2 * (-1) ** i)
        for i in range(8)
    ]  # fmt: skip
    gpx = _gpx(tmp_path / "baro.gpx", points)
    options = CaptureOptions(gpx=str(gpx), duplicate_distance=0, duplicate_images=False)
    capture = load_capture(tmp_path / "walk", options)
    alts = [s.alt for s in capture.shots]
    said = [w for w in capture.warnings if "heights" in w]
    if apart < 10.0:
        assert not said and capture.alt_by == "sea level (EXIF GPSAltitude; --gpx baro.gpx)"
        assert alts[gps:] == pytest.approx([h + apart for h in heights[gps:]], abs=0.21)
    elif gps == 5:
        assert said == [
            "walk: --gpx baro.gpx's heights are 40.2 m above the photos' (EXIF GPSAltitude), both "
            "above sea level (the median difference over 5 moment(s) both measured): more than "
            "two receivers' errors (10 m); shifted by -40.2 m onto them"
        ]
        assert capture.alt_by == (
            "sea level (--gpx baro.gpx's heights shifted by -40.2 m onto the photos' (EXIF "
            "GPSAltitude), the median difference over 5 moments both measured)"
        )
        assert alts == pytest.approx(heights, abs=0.41)
    else:
        assert said == [
            "heights left out on the 2 of 8 photos with one, those with their own (EXIF "
            "GPSAltitude): --gpx baro.gpx's heights are 40.0 m above the photos' (EXIF "
            "GPSAltitude), both above sea level (the median difference over 2 moment(s) both "
            "measured): more than two receivers' errors (10 m), and no one offset fits: they "
            "measured one at 2 moment(s) alone, fewer than 5"
        ]
        assert capture.alt_by == "sea level (--gpx baro.gpx)"
        assert alts[:2] == [None, None]
        assert alts[2:] == pytest.approx([h + 40.0 for h in heights[2:]], abs=0.21)
