"""Dashcam GPS: a BlackVue MP4's embedded NMEA log, and NMEA track files as --gpx (test files made
at test time by ``dashcam_fixtures``; the real clip and track where ../shared has them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import DATA, ORIGIN, offset, plain_video
from dashcam_fixtures import NO_FIX, blackvue_mp4, nmea_log, nmea_sentences

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.gpx import read_gpx
from viewsynth.capture.heading import haversine
from viewsynth.capture.telemetry import positions_at, read_video_track
from viewsynth.errors import ViewsynthError
from viewsynth.export.camm import read_camm
from viewsynth.walkthrough.run import run_capture
from viewsynth.walkthrough.settings import InterpolateSettings

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC).timestamp()


def _frames(path: Path, n: int = 30, fps: int = 5) -> Path:
    """A plain ``n``-frame MP4 (64x32, no telemetry)."""
    return plain_video(path, n, fps)


def _drive(seconds: int, speed: float = 2.0, alt: float = 12.0):
    """A 1 Hz track going east at ``speed`` m/s: (video seconds, lat, lon, alt)."""
    return [(float(t), *offset(*ORIGIN, speed * t, 0.0), alt + 0.5 * t) for t in range(seconds)]


def test_blackvue_gps_is_read_placed_by_its_start_time_and_reaches_the_frames(tmp_path):
    # 6 s of video, the receiver locked 2 s in: its first fix is at 2 s of video time (its stamp
    # less sttm, as ExifTool places it), not at 0 s, where mapillary_tools' first-fix rule puts
    # it; the camera keeps local time (UTC+2), the RMC's date and time make it UTC
    video = blackvue_mp4(_frames(tmp_path / "plain.mp4"), tmp_path / "bv.mp4", _drive(7), T0,
                         lock_after=2.0)  # fmt: skip
    track = read_video_track(video)
    assert track.kind == "blackvue"
    assert track.source == (
        "BlackVue DR900X Plus (5 NMEA RMC fixes in its 'gps ' box, placed by its start time (sttm))"
    )
    assert [f.time for f in track.fixes] == pytest.approx([2.0, 3.0, 4.0, 5.0, 6.0])
    assert [f.utc for f in track.fixes] == pytest.approx([T0 + t for t in range(2, 7)])
    assert [f.alt for f in track.fixes] == pytest.approx([13.0, 13.5, 14.0, 14.5, 15.0])  # GGA's
    capture = load_capture(video, CaptureOptions(every_frames=5))
    shots = capture.shots
    # 1 s: within the second's margin of the first fix, carried on at its speed (not held there)
    assert [s.has_position for s in shots] == [False] + [True] * 5
    for s in shots[1:]:  # (NMEA's 1e-5 minutes: 2 cm)
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, 2.0 * s.time, 0.0)) < 0.05
        assert s.utc == pytest.approx(T0 + s.time, abs=0.01)
    assert capture.gps_by == track.source
    # a frame before the lock takes its UTC time from the track's clock, not from the MP4's
    # creation time, which a dashcam writes in local time (2 h off: then the GPX and the videos'
    # times began 2 h off, and times between were a blend of the two clocks)
    local = _dated_frames(tmp_path / "local.mp4", n=30, fps=5, when="12:00:00")
    video = blackvue_mp4(local, tmp_path / "bv_local.mp4", _drive(7), T0, lock_after=2.0)
    shots = load_capture(video, CaptureOptions(every_frames=5)).shots
    assert [s.utc for s in shots] == pytest.approx([T0 + s.time for s in shots], abs=0.01)
    # no sttm: the first fix is the video's start (mapillary_tools' rule), and it is said
    bare = blackvue_mp4(tmp_path / "plain.mp4", tmp_path / "bare.mp4", _drive(7), T0,
                        lock_after=2.0, sttm=False)  # fmt: skip
    unanchored = read_video_track(bare)
    assert unanchored.fixes[0].time == 0.0
    assert "no start time (sttm): its first fix taken as the video's start" in unanchored.source


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_the_generated_file_as_a_blackvue_one(tmp_path):
    video = blackvue_mp4(_frames(tmp_path / "plain.mp4"), tmp_path / "bv.mp4", _drive(7), T0,
                         lock_after=2.0)  # fmt: skip
    out = subprocess.run(["exiftool", "-ee", "-n", "-j", "-G", "-Copyright", "-StartTime",
                          "-SampleTime", "-GPSLatitude", "-GPSLongitude", str(video)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    tags = json.loads(out)[0]
    assert '"model": "DR900X Plus"' in tags["QuickTime:Copyright"]  # Pittasoft's boxes, read
    ours = read_video_track(video).fixes
    lats = tags["QuickTime:GPSLatitude"]  # (the first of the stream's documents)
    assert lats == pytest.approx(ours[0].lat, abs=1e-9)


def test_blackvue_fixes_get_the_checks_other_telemetry_gets(tmp_path):
    drive = _drive(20)
    drive[4] = (4.0, *offset(*ORIGIN, 900.0, 0.0), 12.0)  # a 900 m jump for one second
    frozen = [(t, *drive[5][1:3], a) for t, _, _, a in drive[5:10]]  # the receiver stuck 4 s
    # and silent from 12 to 17 s (a tunnel)
    video = blackvue_mp4(_frames(tmp_path / "plain.mp4", n=100), tmp_path / "bv.mp4",
                         drive[:5] + frozen + drive[10:12] + drive[18:], T0)  # fmt: skip
    capture = load_capture(video, CaptureOptions(every_frames=5))
    said = " | ".join(capture.warnings)
    assert "bv.mp4: 1 GPS fix(es) ignored as jumps faster than capture.max_speed" in said
    assert "bv.mp4: GPS frozen at" in said and "4 repeated fixes dropped" in said
    assert "bv.mp4: no GPS fix from 11.0 to 18.0 s" in said  # (over 5 s: a gap)
    assert not any(s.has_position for s in capture.shots if 12.5 < s.time < 17.5)
    # a receiver that never locked: no telemetry, said as for any video without it
    never = blackvue_mp4(tmp_path / "plain.mp4", tmp_path / "never.mp4", _drive(12), T0,
                         lock_after=99.0)  # fmt: skip
    assert read_video_track(never).kind is None
    assert any("never.mp4: no GPS telemetry" in w for w in load_capture(never).warnings)


def test_a_blackvue_job_spaces_by_its_track_and_writes_camm_gpx_and_the_source(tmp_path):
    video = blackvue_mp4(_frames(tmp_path / "plain.mp4", n=20), tmp_path / "bv.mp4",
                         _drive(5), T0)  # fmt: skip
    out = tmp_path / "out"
    settings = InterpolateSettings(method="linear", spacing=1.0,
                                   capture=CaptureOptions(projection="equirect"))  # fmt: skip
    result = run_capture(video, out, settings)
    assert result.status == "done", result.reason
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gps_by"].startswith("BlackVue DR900X Plus (5 NMEA RMC fixes")
    rows = manifest["segments"][0]["frames"]
    steps = [haversine(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in pairwise(rows)]
    # --spacing 1 along its track (frames sampled every 1 m of 0.4 m steps: 0.8-1.2 m apart)
    assert np.mean(steps) == pytest.approx(1.0, abs=0.05) and 0.75 < min(steps) < max(steps) < 1.25
    assert rows[0]["utc"].startswith("2024-05-01T10:00:00")
    gpx = (out / "walkthrough.gpx").read_text()
    assert gpx.count("<trkpt") == len(rows) and "<time>2024-05-01T10:00:00" in gpx
    camm = read_camm(out / "walkthrough_360.mp4")
    assert [(round(la, 7), round(lo, 7)) for la, lo, _ in camm] == [
        (round(r["lat"], 7), round(r["lon"], 7)) for r in rows
    ]


@pytest.mark.skipif(not (DATA / "udacity_driving").is_dir(), reason="../shared/data is absent")
def test_a_real_clip_in_blackvue_layout_follows_its_real_track(tmp_path):
    # udacity's real dash-cam clip around the GoPro Karma's real GPS, logged at 1 Hz as a
    # BlackVue logs it: each sampled frame lies on the source track at its time
    karma = read_video_track(DATA / "gopro_gpmf" / "karma.mp4").fixes
    start = karma[0].time
    whole = positions_at(karma, [start + t for t in range(10)], 5.0)
    track = [(float(t), p.lat, p.lon, p.alt) for t, p in enumerate(whole)]
    video = blackvue_mp4(DATA / "udacity_driving" / "solidWhiteRight.mp4", tmp_path / "bv.mp4",
                         track, karma[0].utc)  # fmt: skip
    shots = load_capture(video, CaptureOptions(every_frames=25)).shots
    truth = positions_at(karma, [start + s.time for s in shots], 5.0)
    errors = [haversine(s.lat, s.lon, p.lat, p.lon) for s, p in zip(shots, truth, strict=True)]
    assert len(shots) == 9 and max(errors) < 0.05  # on the logged seconds: NMEA's rounding only


def _dated_frames(path: Path, n: int = 30, fps: int = 10, when: str = "10:00:00") -> Path:
    """A plain MP4 whose creation time is ``when`` on T0's day (T0: 10:00:00 UTC)."""
    return plain_video(path, n, fps, created=f"2024-05-01T{when}Z")


def test_an_nmea_log_geotags_a_video_as_a_gpx_does(tmp_path):
    video = _dated_frames(tmp_path / "ride.mp4")
    lines = nmea_log(_drive(4), T0)
    lines[3] = lines[3][:-2] + "00"  # an RMC with a wrong checksum: skipped, and counted
    lines.insert(1, "$GPGSV,3,1,12,02,67,331,39,04,08,040,21,05,28,214,30,06,53,047,31*71")
    log = tmp_path / "ride.nmea"
    log.write_text("\r\n".join(["@Sonim GPS logger", *lines]) + "\r\n")
    capture = load_capture(video, CaptureOptions(gpx=str(log), every_frames=10))
    assert [s.has_position for s in capture.shots] == [True, True, True]
    for s in capture.shots:
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, 2.0 * s.time, 0.0)) < 0.05
    assert [s.alt for s in capture.shots] == pytest.approx([12.0, 12.5, 13.0])  # GGA's heights
    assert capture.gps_by == "--gpx ride.nmea"
    assert capture.warnings == [
        "ride.nmea: 1 NMEA line(s) skipped (not parsed or with a wrong checksum)"
    ]
    # a BlackVue's own .gps log (its [ms] stamps, on the camera's clock) reads the same
    stamped = tmp_path / "20240501_120000_N.gps"
    stamped.write_text("\n".join(nmea_log(_drive(4), T0, camera_clock=T0 * 1000 + 7.2e6)))
    fixes, warnings = read_gpx(stamped)
    assert [f.time for f in fixes] == pytest.approx([T0 + t for t in range(4)]) and not warnings


def test_a_late_locks_first_frames_take_a_logs_positions_on_the_tracks_clock(tmp_path):
    # A dashcam's MP4 creation time is its local time (2 h off UTC): the frames before its GPS
    # locked are matched with a logger's NMEA on the telemetry's UTC clock, as their times are
    local = _dated_frames(tmp_path / "local.mp4", n=30, fps=5, when="12:00:00")
    video = blackvue_mp4(local, tmp_path / "bv.mp4", _drive(7), T0, lock_after=2.0)
    log = tmp_path / "logger.nmea"
    log.write_text("\n".join(nmea_log(_drive(7), T0)))
    capture = load_capture(video, CaptureOptions(every_frames=5, gpx=str(log)))
    assert [s.time for s in capture.shots] == pytest.approx([0, 1, 2, 3, 4, 5])
    for s in capture.shots:
        assert (
            s.has_position and haversine(s.lat, s.lon, *offset(*ORIGIN, 2.0 * s.time, 0.0)) < 0.05
        )
    assert capture.gps_by.endswith("; --gpx logger.nmea (frames without)")


def test_a_log_that_covers_a_frame_beats_the_telemetry_carried_back_before_its_lock(tmp_path):
    # The camera's receiver locks 2 s in; a logger ran from the start, 3 m north of it (told
    # apart here). Frames in the second before the lock took the telemetry carried back at its
    # speed although the log had them: the walk stepped sideways where the sources met.
    local = _dated_frames(tmp_path / "local.mp4", n=30, fps=5, when="12:00:00")
    video = blackvue_mp4(local, tmp_path / "bv.mp4", _drive(7), T0, lock_after=2.0)
    north = [(t, *offset(lat, lon, 0.0, 3.0), alt) for t, lat, lon, alt in _drive(7)]
    log = tmp_path / "logger.nmea"
    log.write_text("\n".join(nmea_log(north, T0)))
    capture = load_capture(video, CaptureOptions(every_frames=2, gpx=str(log)))
    for s in capture.shots:
        east = offset(*ORIGIN, 2.0 * s.time, 0.0)
        want = offset(*east, 0.0, 3.0) if s.time < 2.0 else east  # the log's until the lock
        assert haversine(s.lat, s.lon, *want) < 0.05, (s.time, haversine(s.lat, s.lon, *east))
    assert not any("fall outside" in w for w in capture.warnings), capture.warnings


@pytest.mark.parametrize(
    "text, needle",
    [
        (  # GGA gives the time of day only
            nmea_sentences(T0, *ORIGIN, 12.0)[0],
            "no RMC sentence with a fix in this NMEA log (1 GGA fixes, which carry no date): "
            "matching frames by time needs RMC's date and time; log RMC sentences too",
        ),
        ("\n".join(NO_FIX), "no RMC sentence with a fix in this NMEA log (no fix with a valid"),
        (  # every line corrupt: said
            nmea_sentences(T0, *ORIGIN, 12.0)[1][:-2] + "00",
            "no RMC sentence with a fix in this NMEA log (no fix with a valid status; 1 line(s) not "
            "parsed or with a wrong checksum)",
        ),
        ("\x00\x01PK\x03\x04 binary", "not a GPX or NMEA file ("),
    ],
)
def test_a_bad_nmea_log_is_one_line_exit_2_and_writes_nothing(tmp_path, text, needle):
    video = _dated_frames(tmp_path / "ride.mp4", n=10)
    log = tmp_path / "ride.nmea"
    log.write_text(text)
    with pytest.raises(ViewsynthError, match=re.escape(f"{log}: {needle}")):
        read_gpx(log)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "viewsynth.pipelines.cli", "interpolate", str(video), "-o",
         str(out), "--method", "linear", "--gpx", str(log)],
        capture_output=True, text=True,
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and str(log) in lines[0], proc.stderr
    assert not out.exists()


def test_photos_take_an_nmea_logs_positions_and_the_manifest_says_whose(tmp_path):
    from datetime import timedelta

    from capture_fixtures import write_image

    log = tmp_path / "walk.nmea"
    log.write_text("\n".join(nmea_log(_drive(20, speed=1.0), T0)))
    folder = tmp_path / "cap"
    folder.mkdir()
    start = datetime.fromtimestamp(T0, UTC)
    for i, sec in enumerate((2, 5, 8, 11)):
        when = (start + timedelta(seconds=sec)).strftime("%Y:%m:%d %H:%M:%S")
        write_image(folder / f"p{i}.jpg", seed=i, exif_time=when, offset_time="+00:00")
    capture = load_capture(folder, CaptureOptions(gpx=str(log)))
    for s, sec in zip(capture.shots, (2, 5, 8, 11), strict=True):
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, float(sec), 0.0)) < 0.05
    assert capture.gps_by == "--gpx walk.nmea" and capture.warnings == []
    # the heights' source by name (it read "EXIF GPSAltitude; a GPX's <ele>": neither was used)
    assert all(s.alt is not None for s in capture.shots)
    assert capture.alt_by == "sea level (--gpx walk.nmea)"
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    for i in range(3):
        write_image(tagged / f"t{i}.jpg", seed=i, position=offset(*ORIGIN, 3.0 * i, 0.0),
                    gps_time=start + timedelta(seconds=3 * i))  # fmt: skip
    assert load_capture(tagged).gps_by == "the photos' GPS tags"
    assert load_capture(tagged, CaptureOptions(use_gps=False)).gps_by == ""
