"""Geotagging from a GPX track by time: photos (EXIF-timed JPEGs) and video frames (creation time +
frame time), the clock offset, and bad GPX files (not XML, no times, no overlap)."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import imageio_ffmpeg
import pytest
from capture_fixtures import ORIGIN, offset, write_image

from pipelines.interpolate import _settings, build_parser
from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.gpx import read_gpx
from viewsynth.capture.heading import haversine
from viewsynth.errors import ViewsynthError

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _gpx(path, points):
    """A GPX 1.1 file of (UTC datetime, lat, lon[, ele]) track points."""
    rows = "".join(
        f'<trkpt lat="{lat:.8f}" lon="{lon:.8f}">'
        + (f"<ele>{ele[0]}</ele>" if ele else "")
        + f"<time>{t.strftime('%Y-%m-%dT%H:%M:%SZ')}</time></trkpt>"
        for t, lat, lon, *ele in points
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="test" '
        f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{rows}</trkseg></trk></gpx>'
    )
    return path


def _track(start=T0, n=30, speed=1.0):
    """Walking east at ``speed`` m/s, a point a second."""
    return [(start + timedelta(seconds=i), *offset(*ORIGIN, speed * i, 0.0)) for i in range(n)]


def _photos(folder, times, **kw):
    folder.mkdir()
    for i, t in enumerate(times):
        write_image(folder / f"p{i}.jpg", seed=i, exif_time=t.strftime("%Y:%m:%d %H:%M:%S"), **kw)
    return folder


def test_photos_are_geotagged_by_utc_time(tmp_path):
    gpx = _gpx(tmp_path / "walk.gpx", _track())
    times = [T0 + timedelta(seconds=s) for s in (2, 5, 8, 11)]
    folder = _photos(tmp_path / "cap", times, offset_time="+00:00")
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), duplicate_distance=0))
    shots = capture.shots
    assert [s.name for s in shots] == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    for s, sec in zip(shots, (2, 5, 8, 11), strict=True):
        lat, lon = offset(*ORIGIN, float(sec), 0.0)
        assert haversine(s.lat, s.lon, lat, lon) < 0.05
        assert s.utc == (T0 + timedelta(seconds=sec)).timestamp()
    assert capture.warnings == []
    # Without the GPX the same photos have no position.
    assert not any(s.has_position for s in load_capture(folder).shots)


def test_a_photo_whose_own_gps_jumped_takes_the_tracks_position(tmp_path):
    # The photos' own GPS walks east; the GPX (a better logger) walks east 3 m north of it. One
    # photo's fix jumped 2 km: dropped by the GPS check, it takes the track's position, not none.
    gpx = _gpx(
        tmp_path / "walk.gpx", [(t, *offset(lat, lon, 0.0, 3.0)) for t, lat, lon in _track()]
    )
    folder = tmp_path / "cap"
    folder.mkdir()
    for i, sec in enumerate((2, 5, 8, 11, 14)):
        east = 1.0 * sec + 2000.0 * (i == 2)
        write_image(folder / f"p{i}.jpg", seed=i, position=offset(*ORIGIN, east, 0.0),
                    gps_time=T0 + timedelta(seconds=sec))  # fmt: skip
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), duplicate_distance=0))
    jumped = capture.shots[2]
    assert haversine(jumped.lat, jumped.lon, *offset(*ORIGIN, 8.0, 3.0)) < 0.05
    assert capture.shots[1].lat == pytest.approx(offset(*ORIGIN, 5.0, 0.0)[0])  # its own GPS
    assert not [w for w in capture.warnings if "the GPX is not used" in w]


def test_use_gps_false_ignores_the_cameras_own_gps_but_not_the_gpx(tmp_path):
    """A camera whose own GPS is poor, and a better logger's GPX: ``capture.use_gps=false`` drops
    the camera's positions and the GPX places every photo (it used to drop the GPX too,
    silently)."""
    from pathlib import Path

    gpx = _gpx(
        tmp_path / "walk.gpx", [(t, *offset(lat, lon, 0.0, 3.0)) for t, lat, lon in _track()]
    )
    folder = tmp_path / "cap"
    folder.mkdir()
    for i, sec in enumerate((2, 5, 8, 11)):
        write_image(folder / f"p{i}.jpg", seed=i, position=offset(*ORIGIN, 1.0 * sec, 0.0),
                    gps_time=T0 + timedelta(seconds=sec))  # fmt: skip
    options = CaptureOptions(gpx=str(gpx), duplicate_distance=0, use_gps=False)
    for shot, sec in zip(load_capture(folder, options).shots, (2, 5, 8, 11), strict=True):
        assert haversine(shot.lat, shot.lon, *offset(*ORIGIN, 1.0 * sec, 3.0)) < 0.05
    assert not any(
        s.has_position for s in load_capture(folder, CaptureOptions(use_gps=False)).shots
    )
    # a GoPro clip's telemetry likewise gives way to the GPX (a logger walking east at 1 m/s, 20 m
    # north of the clip's first fix), matched by the clip's creation time
    video = Path(__file__).parent / "data" / "karma_small.mp4"
    first = load_capture(video, CaptureOptions(every_frames=60)).shots[0]
    start = datetime.fromtimestamp(first.utc, UTC).replace(microsecond=0) - timedelta(minutes=1)
    points = [
        (start + timedelta(seconds=k), *offset(first.lat, first.lon, 1.0 * k, 20.0))
        for k in range(120)
    ]
    logger = _gpx(tmp_path / "logger.gpx", points)
    options = CaptureOptions(every_frames=60, use_gps=False, gpx=str(logger))
    shots = load_capture(video, options).shots
    assert len(shots) > 3 and all(s.has_position for s in shots)
    for s in shots:
        east = s.utc - start.timestamp()
        assert haversine(s.lat, s.lon, *offset(first.lat, first.lon, east, 20.0)) < 0.05
    # without the GPX, sampling by distance has no track: said as the user's own choice
    off = load_capture(video, CaptureOptions(every_metres=1.0, use_gps=False))
    assert any("but capture.use_gps is false: sampling every_frames" in w for w in off.warnings)


def test_an_edited_gpx_changes_the_runs_fingerprint(tmp_path, monkeypatch):
    from viewsynth.walkthrough import InterpolateSettings, fingerprints

    gpx = _gpx(tmp_path / "walk.gpx", _track())
    times = [T0 + timedelta(seconds=s) for s in (2, 5, 8, 11)]
    folder = _photos(tmp_path / "cap", times, offset_time="+00:00")
    options = CaptureOptions(gpx=str(gpx), duplicate_distance=0)
    settings = InterpolateSettings()

    def key():
        return fingerprints(load_capture(folder, options), settings, {"method": "linear"})[0]

    first = key()
    assert key() == first  # the same inputs, the same key: a re-run is skipped
    monkeypatch.chdir(tmp_path)  # ... also when the capture is given by another path
    assert fingerprints(load_capture("cap", options), settings, {"method": "linear"})[0] == first
    _gpx(gpx, _track(speed=2.0))  # the same file, another walk: the photos' positions move
    assert key() != first


def test_photos_and_video_frames_take_the_gpx_elevation(tmp_path):
    # climbing 0.5 m a second from 2 m below sea level; photos at 3, 5 and 8 s, matched half a
    # second later (between two points)
    climb = [(t, lat, lon, -2.0 + 0.5 * i) for i, (t, lat, lon) in enumerate(_track())]
    gpx = _gpx(tmp_path / "climb.gpx", climb)
    times = [T0 + timedelta(seconds=s) for s in (3, 5, 8)]
    folder = _photos(tmp_path / "cap", times, offset_time="+00:00")
    options = CaptureOptions(gpx=str(gpx), gpx_offset=0.5, duplicate_distance=0)
    assert [s.alt for s in load_capture(folder, options).shots] == pytest.approx(
        [-0.25, 0.75, 2.25]
    )
    # a logger that writes no <ele>: positions, and no altitude
    flat = _gpx(tmp_path / "flat.gpx", _track())
    shots = load_capture(folder, CaptureOptions(gpx=str(flat), duplicate_distance=0)).shots
    assert all(s.has_position for s in shots) and [s.alt for s in shots] == [None] * 3
    # video frames: the MP4's creation time (10:00:04) + the frame's time
    video = _video(tmp_path / "ride.mp4")
    frames = load_capture(video, CaptureOptions(gpx=str(gpx), every_frames=10)).shots
    assert [s.alt for s in frames] == pytest.approx([0.0, 0.5, 1.0])


def test_clock_offset_and_no_overlap(tmp_path):
    gpx = _gpx(tmp_path / "walk.gpx", _track())
    # A camera on local time UTC+2 without an offset tag: its readings are 7200 s ahead.
    local = [T0 + timedelta(hours=2, seconds=s) for s in (3, 6, 9)]
    folder = _photos(tmp_path / "cap", local)
    with pytest.raises(ViewsynthError) as err:
        load_capture(folder, CaptureOptions(gpx=str(gpx)))
    message = str(err.value)
    assert message.startswith(f"{gpx}: the track (2024-05-01 10:00:00 .. 2024-05-01 10:00:29 UTC)")
    assert "does not overlap the capture's times (2024-05-01 12:00:03 .. 2024-05-01 12:00:09" in (
        message
    )
    assert "\n" not in message and "--gpx-offset" in message
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), gpx_offset=-7200.0))
    for s, sec in zip(capture.shots, (3, 6, 9), strict=True):
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, float(sec), 0.0)) < 0.05
    # A camera 2 s slow: +2 s moves every photo 2 m on.
    late = load_capture(folder, CaptureOptions(gpx=str(gpx), gpx_offset=-7198.0)).shots
    assert haversine(late[0].lat, late[0].lon, *offset(*ORIGIN, 5.0, 0.0)) < 0.05


def test_partial_overlap_warns_and_own_gps_wins(tmp_path):
    gpx = _gpx(tmp_path / "walk.gpx", _track(n=10))
    times = [T0 + timedelta(seconds=s) for s in (2, 5, 8, 100, 103)]
    folder = _photos(tmp_path / "cap", times, offset_time="+00:00")
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), time_gap=0, distance_gap=0))
    assert [s.has_position for s in capture.shots] == [True, True, True, False, False]
    assert any(
        w.startswith("walk.gpx: 2 of 5 frames fall outside the GPX track's times")
        and w.endswith("no position for p3.jpg, p4.jpg")
        for w in capture.warnings
    )
    # Photos with GPS of their own keep it.
    own = tmp_path / "own"
    own.mkdir()
    far = offset(*ORIGIN, 0.0, 20.0)
    for i in range(3):
        write_image(
            own / f"q{i}.jpg",
            seed=i,
            position=offset(*far, 3.0 * i, 0.0),
            gps_time=T0 + timedelta(seconds=2 + 3 * i),
        )
    shots = load_capture(own, CaptureOptions(gpx=str(gpx))).shots
    assert haversine(shots[0].lat, shots[0].lon, *far) < 0.05


def test_a_logger_standing_still_keeps_its_position(tmp_path):
    # 10 s walking east, then 40 s standing (the same point every second), as loggers write it
    walk = _track(n=10)
    still = [(T0 + timedelta(seconds=10 + i), *walk[-1][1:]) for i in range(40)]
    gpx = _gpx(tmp_path / "walk.gpx", walk + still)
    times = [T0 + timedelta(seconds=s) for s in (3, 6, 9, 30, 49)]
    folder = _photos(tmp_path / "cap", times, offset_time="+00:00")
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), distance_gap=0))
    assert all(s.has_position for s in capture.shots)
    assert haversine(capture.shots[-1].lat, capture.shots[-1].lon, *walk[-1][1:]) < 0.05
    assert not [w for w in capture.warnings if "frozen" in w or "outside" in w]


def test_bad_gpx_files(tmp_path):
    folder = _photos(tmp_path / "cap", [T0, T0 + timedelta(seconds=2)], offset_time="+00:00")
    junk = tmp_path / "junk.gpx"
    junk.write_text("this is not XML at all")
    with pytest.raises(ViewsynthError) as err:
        load_capture(folder, CaptureOptions(gpx=str(junk)))
    assert str(err.value).startswith(f"{junk}: not a GPX or NMEA file (")
    assert "\n" not in str(err.value)
    untimed = tmp_path / "untimed.gpx"
    untimed.write_text(
        '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        '<trkpt lat="1" lon="2"/></trkseg></trk></gpx>'
    )
    with pytest.raises(ViewsynthError, match=r"untimed\.gpx: no track point with a time"):
        read_gpx(untimed)
    with pytest.raises(ViewsynthError, match=r"missing\.gpx: cannot read the GPX file"):
        read_gpx(tmp_path / "missing.gpx")
    # Photos ordered by file name have no times to match.
    named = tmp_path / "named"
    named.mkdir()
    for i in range(2):
        write_image(named / f"n{i}.jpg", seed=i)
    gpx = _gpx(tmp_path / "walk.gpx", _track())
    with pytest.raises(ViewsynthError, match=r"named: --gpx walk\.gpx matches frames by time"):
        load_capture(named, CaptureOptions(gpx=str(gpx)))


def _video(video, seconds=3, rate=10):
    """A 3 s, 10 fps test pattern whose MP4 creation time is 10:00:04 UTC on T0's day."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=64x32:rate={rate}",
            "-t",
            str(seconds),
            "-pix_fmt",
            "yuv420p",
            "-metadata",
            "creation_time=2024-05-01T10:00:04Z",
            str(video),
        ],
        check=True,
    )
    return video


def test_a_video_sampled_by_distance_is_cut_where_its_track_has_no_position(tmp_path):
    # a phone logger started 9 s into the drive that then lost the sky for 40 s (from 30 s to
    # 70 s of video time): sampled every 4 m, frame 60 (at 30 s) and frame 140 (at 70 s), 80 m
    # apart, were one pair, 40 frames morphing one view into another 80 m on (--spacing 2)
    video = _video(tmp_path / "ride.mp4", seconds=80, rate=2)
    start = T0 + timedelta(seconds=4)  # the video's creation time
    track = [p for p in _track(start, n=81, speed=2.0) if not 0 <= (p[0] - start).seconds - 31 < 39]
    gpx = _gpx(tmp_path / "ride.gpx", track[9:])
    capture = load_capture(video, CaptureOptions(gpx=str(gpx), every_metres=4.0))
    first, second = ([s.frame_index for s in segment] for segment in capture.segments)
    assert (first[0], second[0]) == (16, 140)  # (at 8 s: within the track's second of margin)
    steps = [b - a for part in (first, second) for a, b in pairwise(part)]
    assert first[-1] <= 60 and min(steps) >= 3 and max(steps) <= 5  # 4 m: 4 frames, give or take
    assert (
        "ride.mp4: no GPS position for 47.5 s of the video (0:00.0-0:08.0, 0:30.5-1:10.0), so "
        "none of it is sampled every 4 m; the walkthrough is cut there (2 segments)"
    ) in capture.warnings
    assert (  # (in UTC, not 1714557634.0 s)
        "ride.gpx: no GPS fix from 2024-05-01 10:00:34 UTC to 2024-05-01 10:01:14 UTC: frames in "
        "between have no position"
    ) in capture.warnings
    # a walker's 35 s without the sky, 17.5 m at 0.5 m/s (within capture.distance_gap): walked
    # across, not cut
    slow = [p for p in _track(start, n=81, speed=0.5) if not 0 <= (p[0] - start).seconds - 31 < 35]
    bridged = load_capture(video, CaptureOptions(gpx=str(_gpx(tmp_path / "s.gpx", slow)),
                                                 every_metres=4.0))  # fmt: skip
    assert len(bridged.segments) == 1
    assert (
        "ride.mp4: no GPS position for 35.5 s of the video (0:30.5-1:06.0), so none of it is "
        "sampled every 4 m"
    ) in bridged.warnings
    # a stretch at the start only (a logger started 40 s late): said, nothing cut
    late = _gpx(tmp_path / "late.gpx", _track(start, n=81, speed=2.0)[40:])
    late = load_capture(video, CaptureOptions(gpx=str(late), every_metres=4.0))
    assert len(late.segments) == 1 and late.shots[0].frame_index == 78
    assert (
        "ride.mp4: no GPS position for 39.0 s of the video (0:00.0-0:39.0), so none of it is "
        "sampled every 4 m"
    ) in late.warnings


def test_video_frames_are_geotagged_from_creation_time(tmp_path):
    video = _video(tmp_path / "ride.mp4")
    gpx = _gpx(tmp_path / "ride.gpx", _track(speed=2.0))
    capture = load_capture(video, CaptureOptions(gpx=str(gpx), every_metres=1.0))
    shots = capture.shots
    assert shots[0].frame_index == 0
    assert haversine(shots[0].lat, shots[0].lon, *offset(*ORIGIN, 8.0, 0.0)) < 0.05
    # 2 m/s at 10 fps: a frame every 0.5 s is 1 m on.
    assert [s.frame_index for s in shots[:4]] == [0, 5, 10, 15]
    assert shots[1].utc == pytest.approx((T0 + timedelta(seconds=4.5)).timestamp())
    # a track that ends before the video does: the frames within its second's margin carry on
    # at its speed (not held at its end, where they would be dropped as standing still); those
    # past it are named, as photos are
    short = _gpx(tmp_path / "short.gpx", _track(n=5))  # to 10:00:04, and 10:00:05 at a pinch
    capture = load_capture(video, CaptureOptions(gpx=str(short), every_frames=5))
    assert [s.frame_index for s in capture.shots] == [0, 5, 10, 15, 20, 25]
    assert [s.has_position for s in capture.shots] == [True] * 3 + [False] * 3
    carried = capture.shots[2]  # 10:00:05, a second past the track's last point
    assert haversine(carried.lat, carried.lon, *offset(*ORIGIN, 5.0, 0.0)) < 0.05
    assert (
        "short.gpx: 3 of 6 frames fall outside the GPX track's times (or in a gap of over 30 s): "
        "no position for ride.mp4#15, ride.mp4#20, ride.mp4#25"
    ) in capture.warnings
    late = _gpx(tmp_path / "late.gpx", _track(start=T0 + timedelta(hours=1)))
    with pytest.raises(ViewsynthError, match=r"late\.gpx: the track .* does not overlap"):
        load_capture(video, CaptureOptions(gpx=str(late)))


def test_an_avi_with_a_gpx_says_how_to_give_it_a_start_time(tmp_path):
    # An AVI has no creation time (nor telemetry), so no frame can be matched to a track: the
    # error said so, but not what to do. Remuxed to an MP4 with its start, every 1 m step is.
    avi, mp4 = tmp_path / "old camera.avi", tmp_path / "old camera.mp4"
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error"]
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x32:rate=10", "-t", "3",
                    "-c:v", "mpeg4", "-bf", "2", str(avi)], check=True)  # fmt: skip
    gpx = _gpx(tmp_path / "ride.gpx", _track(speed=2.0))
    with pytest.raises(ViewsynthError) as err:
        load_capture(avi, CaptureOptions(gpx=str(gpx), every_metres=1.0), spacing=1.0)
    fix = "ffmpeg -i 'old camera.avi' -map 0:v -c copy -metadata creation_time=2024-05-01T10:00:00Z"
    assert fix in str(err.value) and "'old camera.mp4', then 'old camera.mp4' --gpx" in str(
        err.value
    )
    subprocess.run([*ffmpeg, "-i", str(avi), "-c", "copy", "-metadata",
                    "creation_time=2024-05-01T10:00:04Z", str(mp4)], check=True)  # fmt: skip
    # (testsrc's frames 10 and 11 differ by 0.24 px: a stop to the still test, not to this one)
    options = CaptureOptions(gpx=str(gpx), every_metres=1.0, duplicate_images=False)
    capture = load_capture(mp4, options, spacing=1.0)
    # 2 m/s at 10 fps: every fifth frame is a 1 m step, shown as it is
    assert [s.time for s in capture.shots[:3]] == pytest.approx([0.0, 0.5, 1.0], abs=1e-3)
    assert all(s.whole and s.along is not None for s in capture.shots)


def test_an_avis_no_gps_warning_gives_the_route_that_works(tmp_path, monkeypatch):
    # An AVI's no-GPS warning gave ExifTool's GPX route, which then met "has no creation time":
    # --gpx matches by time, so the route is to remux it with a start time first.
    from viewsynth.walkthrough import InterpolateSettings, run_capture

    monkeypatch.setattr("viewsynth.capture.exiftool.EXIFTOOL", "no-such-exiftool")  # (absent)
    avi, mp4 = tmp_path / "old camera.avi", tmp_path / "old camera.mp4"
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error"]
    # (a dashcam's AVI: Motion JPEG with PCM sound, which an MP4 cannot hold)
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x32:rate=10", "-f", "lavfi",
                    "-i", "sine", "-t", "1", "-c:v", "mjpeg", "-c:a", "pcm_s16le", str(avi)],
                   check=True)  # fmt: skip
    remux = "ffmpeg -i 'old camera.avi' -map 0:v -c copy"
    remux += " -metadata creation_time=2024-05-01T10:00:00Z"
    route = f"this video has no start time: first {remux} 'old camera.mp4', then 'old camera.mp4'"
    route += " --gpx 'old camera.gpx')"
    warned = load_capture(avi, CaptureOptions(every_metres=1.0)).warnings
    assert [w for w in warned if "no GPS telemetry" in w][0].endswith(route)
    settings = InterpolateSettings(method="linear", spacing=1.0, factor=2)
    result = run_capture(avi, tmp_path / "out", settings)  # (--spacing's fallback said too)
    said = [w for w in result.warnings if "no GPS telemetry" in w][0]
    assert "--spacing 1 to --factor 2 (" in said and said.endswith(route)
    # the route's own command, as a user pastes it, makes an MP4 with a start time (copying the
    # sound too failed: "Could not find tag for codec pcm_s16le"); its warning is then
    # ExifTool's route alone
    command = shlex.split(f"{remux} 'old camera.mp4'")
    subprocess.run([*ffmpeg, *command[1:]], check=True, cwd=tmp_path)
    warned = load_capture(mp4, CaptureOptions()).warnings
    assert not [w for w in warned if "damaged" in w]  # (its mp4v entry read as cut short)
    assert [w for w in warned if "no GPS telemetry" in w][0].endswith(
        "(another dashcam's GPS: exiftool -ee -p fmt_files/gpx.fmt 'old camera.mp4' > 'old camera.gpx', "
        "then --gpx 'old camera.gpx'; install ExifTool to read it directly)"
    )
    # an MP4 without one (ffmpeg writes none unless told) is given one in another MP4
    subprocess.run(
        [*ffmpeg, "-i", str(avi), "-c:v", "libx264", str(tmp_path / "x.mp4")], check=True
    )
    warned = load_capture(tmp_path / "x.mp4", CaptureOptions()).warnings
    assert [w for w in warned if "no GPS telemetry" in w][0].endswith(
        "creation_time=2024-05-01T10:00:00Z x-timed.mp4, then x-timed.mp4 --gpx x.gpx)"
    )


def test_cli_flags(tmp_path):
    gpx = _gpx(tmp_path / "walk.gpx", _track())
    args = build_parser().parse_args(
        ["cap", "-o", "out", "--gpx", str(gpx), "--gpx-offset", "-3.5"]
    )
    capture = _settings(args).capture
    assert (capture.gpx, capture.gpx_offset, capture.every_metres) == (str(gpx), -3.5, 0.0)
    # --spacing samples a video every spacing metres unless a sampling is set; photos are all
    # used, so theirs is not touched (nor said to be ignored).
    video, photos = tmp_path / "ride.MP4", tmp_path / "photos"
    video.write_bytes(b"")
    photos.mkdir()
    spaced = _settings(build_parser().parse_args(["cap", "-o", "out", "--spacing", "2"]))
    assert spaced.capture.every_metres == 0.0  # the manifest records the settings as given
    assert spaced.capture_options(video).every_metres == 2.0
    assert spaced.capture_options(photos) == spaced.capture
    framed = _settings(
        build_parser().parse_args(
            ["cap", "-o", "out", "--spacing", "2", "--set", "capture.every_frames=5"]
        )
    )
    assert framed.capture_options(video) == framed.capture
    assert (framed.capture.every_metres, framed.capture.every_frames) == (0.0, 5)
