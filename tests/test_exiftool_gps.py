"""GPS read through ExifTool where the native readers find none: the GoPro clips and a CAMM track
read both ways (native readers switched off) give the same track; a Novatek ``freeGPS`` MP4
built from ExifTool's documented layout (``dashcam_fixtures.novatek_mp4``) gets positions; an
absent, hanging or failing ExifTool is one warning and the job goes on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import imageio_ffmpeg
import pytest
from capture_fixtures import DATA, ORIGIN, offset, plain_video
from dashcam_fixtures import novatek_mp4

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.exiftool import _by_clock, _utc, read_exiftool_track
from viewsynth.capture.gpx import read_gpx
from viewsynth.capture.heading import haversine
from viewsynth.capture.telemetry import Fix, VideoTrack, read_video_track
from viewsynth.export.camm import read_camm
from viewsynth.pipelines.cli import main as cli

HERE = Path(__file__).resolve().parent / "data"
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC).timestamp()
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def _native_off(monkeypatch) -> None:
    """The native readers (GPMF, CAMM, BlackVue) find nothing: only ExifTool is left."""

    def none(path: Path) -> VideoTrack:
        return VideoTrack(None, [], read_video_track(path).creation_time)

    monkeypatch.setattr("viewsynth.capture.locate.read_video_track", none)


def _assert_same_track(ours, theirs, utc_within: float) -> None:
    assert len(ours) == len(theirs) > 10
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a.time - b.time) < 1e-3  # (a frame at 30 fps: 33 ms)
        assert haversine(a.lat, a.lon, b.lat, b.lon) < 0.01
        assert (a.alt is None) == (b.alt is None) and abs((a.alt or 0) - (b.alt or 0)) < 1e-3
        assert (a.utc is None) == (b.utc is None) and abs((a.utc or 0) - (b.utc or 0)) < utc_within


def _camm_video(tmp_path: Path) -> Path:
    """viewsynth's own 360 MP4 of karma_small (forced to panorama): a CAMM type-5 track."""
    out = tmp_path / "camm"
    args = ["interpolate", str(HERE / "karma_small.mp4"), "-o", str(out), "--method", "linear"]
    args += ["--factor", "4", "-q", "--projection", "equirect", "--set", "capture.every_frames=30"]
    assert cli(args) == 0
    return out / "walkthrough_360.mp4"


@needs_exiftool
@pytest.mark.parametrize("name", ["karma", "max-heromode", "karma.mp4", "max-heromode.mp4", "camm"])
def test_exiftools_track_is_the_native_readers_track(tmp_path, name):
    # GPMF GLPI (karma: 4 fixes a sample, each with its time) and GPS5 (18 a sample, one time),
    # the uncut originals where ../shared has them, CAMM type 5 (no time: ExifTool's made-up
    # GPSDateTime is no UTC): every fix at the native reader's time and place
    if name == "camm":
        path = _camm_video(tmp_path)
    elif name.endswith(".mp4"):
        path = DATA / "gopro_gpmf" / name
        if not path.is_file():
            pytest.skip(f"needs ../shared/data/gopro_gpmf/{name}")
    else:
        path = HERE / f"{name}_small.mp4"
    native = read_video_track(path)
    track, said = read_exiftool_track(path, native.creation_time)
    assert said == "" and track.kind == "exiftool"
    # (GLPI's UTC: ExifTool's from the SYST record differs by under 2 ms from ours)
    _assert_same_track(track.fixes, native.fixes, utc_within=0.002)
    group = r"QuickTime Track2 'camm'" if name == "camm" else r"GoPro Track\d 'gpmd'"
    said = rf"ExifTool 1\d\.\d+ \({group}: {len(track.fixes)} fixes at their sample times\)"
    assert re.fullmatch(said, track.source)


@needs_exiftool
@pytest.mark.parametrize("name", ["karma", "max-heromode"])
def test_a_capture_through_exiftool_places_its_frames_as_the_native_readers_do(
    tmp_path, monkeypatch, name
):
    video = HERE / f"{name}_small.mp4"
    options = CaptureOptions(every_frames=15)
    native = load_capture(video, options)
    _native_off(monkeypatch)
    through = load_capture(video, options)
    assert through.gps_by.startswith("ExifTool 1") and "GoPro Track2 'gpmd'" in through.gps_by
    assert through.alt_by == "not stated (ExifTool GPSAltitude)"
    assert len(through.shots) == len(native.shots) > 10
    for a, b in zip(through.shots, native.shots, strict=True):
        assert a.time == b.time and a.has_position and b.has_position
        assert haversine(a.lat, a.lon, b.lat, b.lon) < 0.01
        assert abs(a.utc - b.utc) < 0.002


def _drive(seconds: int, speed: float = 2.0):
    """A 1 Hz track east at ``speed`` m/s: (video seconds, lat, lon, alt)."""
    return [(float(t), *offset(*ORIGIN, speed * t, 0.0), 12.0 + 0.5 * t) for t in range(seconds)]


@needs_exiftool
def test_a_novatek_freegps_mp4_gets_its_fixes_placed_by_their_gps_times(tmp_path):
    # A Novatek block has no video time (ExifTool gives no SampleTime) and ExifTool leaves out
    # the blocks without a fix: the receiver locked 2 s in, so 5 fixes of 7 s
    track = _drive(7)
    built = {}
    for created in ("2024-05-01T12:00:00Z", "2024-05-01T10:00:00Z", None):  # local, UTC, none
        plain = plain_video(tmp_path / "plain.mp4", 30, 5, created=created)
        built[created] = novatek_mp4(plain, tmp_path / f"nvt{len(built)}.mp4", track, T0, 2.0)
    video = built["2024-05-01T12:00:00Z"]
    # ExifTool itself reads the layout as built
    cmd = ["exiftool", "-ee", "-n", "-p", "$GPSLatitude,$GPSLongitude,$GPSDateTime", str(video)]
    rows = [
        ln.split(",")
        for ln in subprocess.run(cmd, capture_output=True, text=True).stdout.split("\n")
        if ln
    ]
    got = [v for lat, lon, _ in rows for v in (float(lat), float(lon))]
    assert got == pytest.approx([v for p in track[2:] for v in p[1:3]], abs=1e-9)
    assert [when for _, _, when in rows] == [f"2024:05:01 10:00:0{t}Z" for t in range(2, 7)]
    by_clock = "placed by their GPS times from the video's creation time"
    for created, placed, first in (
        ("2024-05-01T12:00:00Z", f"{by_clock} (local time, UTC+2:00)", 2.0),  # (a dashcam's)
        ("2024-05-01T10:00:00Z", f"{by_clock} (UTC)", 2.0),
        (None, "without sample times, the first placed at the video's start", 0.0),  # (mapillary's)
    ):
        got = read_video_track(built[created])
        assert got.kind is None  # (none of the native readers reads it)
        read = read_exiftool_track(built[created], got.creation_time)[0]
        assert read.source.endswith(f" (QuickTime: 5 fixes {placed})")
        fixes = read.fixes
        assert [f.time for f in fixes] == pytest.approx([first + k for k in range(5)])
        assert [f.utc for f in fixes] == pytest.approx([T0 + t for t in range(2, 7)])
        assert [f.alt for f in fixes] == pytest.approx([p[3] for p in track[2:]])
        for f, p in zip(fixes, track[2:], strict=True):
            assert haversine(f.lat, f.lon, p[1], p[2]) < 0.01
    capture = load_capture(video, CaptureOptions(every_frames=5))
    assert capture.warnings == []
    assert capture.gps_by == (
        "ExifTool 12.57 (QuickTime: 5 fixes placed by their GPS times from the video's creation "
        "time (local time, UTC+2:00))".replace("12.57", capture.gps_by.split()[1])
    )
    shots = capture.shots  # frames 0.2 s apart, 1 s a shot
    assert [s.has_position for s in shots] == [False] + [True] * 5  # (1 s: carried back)
    for shot in shots[2:]:
        (p,) = [p for p in track if p[0] == shot.time]
        assert haversine(shot.lat, shot.lon, p[1], p[2]) < 0.01 and shot.utc == T0 + p[0]


@needs_exiftool
def test_exiftools_fixes_get_the_checks_other_telemetry_gets(tmp_path):
    track = _drive(8)
    track[4] = (4.0, *offset(*ORIGIN, 800.0, 0.0), 14.0)  # a 790 m jump in a second
    plain = plain_video(tmp_path / "plain.mp4", 40, 5, created="2024-05-01T10:00:00Z")
    video = novatek_mp4(plain, tmp_path / "jump.mp4", track, T0)
    capture = load_capture(video, CaptureOptions(every_frames=5))
    assert capture.warnings == [
        "jump.mp4: 1 GPS fix(es) ignored as jumps faster than capture.max_speed (50 m/s), "
        "e.g. 794 m at 4.0 s"
    ]
    assert all(s.has_position for s in capture.shots)
    # the 4 s frame between the fixes at 3 and 5 s, not 790 m off
    shot = capture.shots[4]
    assert haversine(shot.lat, shot.lon, *offset(*ORIGIN, 8.0, 0.0)) < 0.01


@needs_exiftool
@pytest.mark.skipif(not (DATA / "udacity_driving").is_dir(), reason="needs ../shared/data")
def test_a_real_clip_in_novatek_layout_gets_positions_gpx_and_camm(tmp_path):
    # 4 s of udacity's real dash-cam clip (160x90) in a Novatek MP4, whose camera keeps local
    # time (UTC+2), driving 15 m/s east: the job reads it through ExifTool and writes the track
    clip = tmp_path / "clip.mp4"
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i"]
    ffmpeg += [str(DATA / "udacity_driving" / "solidWhiteRight.mp4"), "-t", "4", "-vf"]
    ffmpeg += ["scale=160:90", "-an", "-metadata", "creation_time=2024-05-01T12:00:00Z", str(clip)]
    subprocess.run(ffmpeg, check=True)
    video = novatek_mp4(clip, tmp_path / "2024_0501_120000_001.MP4", _drive(5, 15.0), T0)
    out = tmp_path / "out"
    args = ["interpolate", str(video), "-o", str(out), "--method", "linear", "--factor", "2"]
    assert cli([*args, "-q", "--projection", "equirect", "--set", "capture.every_frames=25"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gps_by"].startswith("ExifTool 1")
    assert (
        "placed by their GPS times from the video's creation time (local time, UTC+2:00)"
        in (manifest["gps_by"])
    )
    (segment,) = manifest["segments"]
    rows = segment["frames"]
    assert len(rows) == 7 and all(row["lat"] is not None for row in rows)  # 4 shots, factor 2
    east = [haversine(*ORIGIN, ORIGIN[0], row["lon"]) for row in rows]
    assert east == pytest.approx([7.5 * k for k in range(7)], abs=0.01)  # 0.5 s a frame
    assert rows[0]["utc"] == "2024-05-01T10:00:00.000Z"
    gpx, _ = read_gpx(out / segment["files"]["gpx"])
    expected = [v for r in rows for v in (r["lat"], r["lon"])]
    assert [v for p in gpx for v in (p.lat, p.lon)] == pytest.approx(expected, abs=1e-7)
    assert gpx[0].time == pytest.approx(T0)
    camm = read_camm(out / segment["files"]["360"])
    assert [v for c in camm for v in c[:2]] == pytest.approx(expected, abs=1e-7)


def _fake_exiftool(tmp_path: Path, body: str) -> str:
    script = tmp_path / "exiftool"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    "body, said",
    [
        ("exec sleep 5", "ExifTool could not read it in 0.5 s"),
        (
            "echo 'Error: File format error - plain.mp4' >&2; exit 1",
            "ExifTool could not read it: Error: File format error - plain.mp4",
        ),
        ("echo '[ExifTool:Main] ExifToolVersion : 12.57'", "ExifTool 12.57 found none"),
        (  # a phone's one location (ffmpeg -metadata location=+37.3861-122.0839/: its ©xyz)
            "printf '[ExifTool:Main] ExifToolVersion : 12.57\\n[Composite:Main] GPSLatitude : "
            "37.38609\\n[Composite:Main] GPSLongitude : -122.08389\\n'",
            "ExifTool 12.57 found no track, only one place for the whole video, "
            "37.38609, -122.08389",
        ),
    ],
)
def test_an_exiftool_that_hangs_or_fails_is_one_warning_and_the_job_goes_on(
    tmp_path, monkeypatch, body, said
):
    monkeypatch.setattr("viewsynth.capture.exiftool.EXIFTOOL", _fake_exiftool(tmp_path, body))
    monkeypatch.setattr("viewsynth.capture.exiftool.TIMEOUT_SECONDS", 0.5)
    video = plain_video(tmp_path / "plain.mp4", created="2024-05-01T10:00:00Z")
    capture = load_capture(video, CaptureOptions(every_frames=4))
    assert len(capture.shots) == 3 and not any(s.has_position for s in capture.shots)
    assert capture.warnings == [
        f"plain.mp4: no GPS telemetry (GPMF, CAMM or BlackVue; {said}) in this video and no "
        "--gpx track: its frames have no position (a GPS logger's track: --gpx FILE)"
    ]


def test_a_file_a_native_reader_knows_is_not_read_again_by_exiftool(tmp_path, monkeypatch):
    # a GoPro whose GPMF has no fix (no lock: GPSF 0) was judged by the native reader; ExifTool
    # would pass its unlocked fixes on: it is not run, and the warning says why there is none
    ran = tmp_path / "ran"
    monkeypatch.setattr(
        "viewsynth.capture.exiftool.EXIFTOOL", _fake_exiftool(tmp_path, f"touch {ran}")
    )
    video = plain_video(tmp_path / "plain.mp4", created="2024-05-01T10:00:00Z")
    monkeypatch.setattr(
        "viewsynth.capture.locate.read_video_track",
        lambda path: VideoTrack(None, [], T0, "GoPro GPMF"),
    )
    capture = load_capture(video, CaptureOptions(every_frames=4))
    assert not ran.exists()
    assert capture.warnings == [
        "plain.mp4: no GPS telemetry (GPMF, CAMM or BlackVue; its GoPro GPMF has no fix) in this "
        "video and no --gpx track: its frames have no position (a GPS logger's track: --gpx FILE)"
    ]


def test_samples_without_a_lock_or_too_imprecise_are_dropped_as_the_native_readers_drop_them(
    tmp_path, monkeypatch
):
    # ExifTool's lines for four one-second samples (a GoPro's GPMF: GPSF 0 no lock, 2 a 2D fix,
    # 3 a 3D fix; GPSP over 5 m): only the 2D and 3D fixes with a small error are kept, the 2D
    # one without its height (the receiver's guess)
    lines = ["[ExifTool:Main] ExifToolVersion : 12.57"]
    for doc, (mode, error) in enumerate([(0, 1.0), (2, 1.0), (3, 9.0), (3, 1.0)], start=1):
        lat, lon = offset(*ORIGIN, 2.0 * doc, 0.0)
        for tag, value in [("SampleTime", doc - 1), ("SampleDuration", 1), ("GPSLatitude", lat),
                           ("GPSLongitude", lon), ("GPSAltitude", 10 + doc),
                           ("GPSMeasureMode", mode), ("GPSHPositioningError", error),
                           ("GPSDateTime", f"2024:05:01 10:00:0{doc - 1}.000")]:  # fmt: skip
            lines.append(f"[GoPro:Track3:Doc{doc}] {tag} : {value}")
    (tmp_path / "out.txt").write_text("\n".join(lines) + "\n")
    fake = _fake_exiftool(tmp_path, f"cat {tmp_path / 'out.txt'}")
    monkeypatch.setattr("viewsynth.capture.exiftool.EXIFTOOL", fake)
    track, said = read_exiftool_track(tmp_path / "any.mp4", None)
    assert said == "" and [(f.time, f.alt, f.utc) for f in track.fixes] == [
        (1.0, None, T0 + 1.0),
        (3.0, 14.0, T0 + 3.0),
    ]
    assert track.source == "ExifTool 12.57 (GoPro Track3: 2 fixes at their sample times)"


def test_fixes_placed_by_a_clock_that_several_zones_fit_are_doubted():
    # (the review's case) a 70-minute recording, the camera's clock on UTC+1, a lock only in
    # its last 10 minutes: UTC and UTC+1 both put every fix inside the video
    created, t0 = 1_700_000_000.0, 1_700_000_000.0 - 3600.0  # the clock reads local time
    late = [Fix(float("nan"), 1.0, 2.0, t0 + 3600.0 + k, None) for k in range(600)]
    fixes, placed, doubt = _by_clock(late, created, 4200.0)
    assert "(UTC)" in placed and fixes[0].time == 0.0  # (a guess: it is said)
    assert doubt == "the camera's clock could be on any time zone from UTC to UTC+1:00"
    # the whole recording locked: only UTC+1 fits, nothing to doubt
    whole = [Fix(float("nan"), 1.0, 2.0, t0 + k, None) for k in range(0, 4200, 10)]
    fixes, placed, doubt = _by_clock(whole, created, 4200.0)
    assert "(local time, UTC+1:00)" in placed and doubt == "" and fixes[0].time == 0.0
    # no creation time: the first fix at 0 s, doubted
    fixes, placed, doubt = _by_clock(whole, None, 4200.0)
    assert "first placed at the video's start" in placed and doubt.startswith("no time zone")


def test_a_receivers_default_date_is_no_utc_time():
    assert _utc("2024:05:01 10:00:05Z") == datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC).timestamp()
    assert _utc("1970:01:01 00:00:05Z") is None and _utc("1979:12:31 23:59:59") is None
