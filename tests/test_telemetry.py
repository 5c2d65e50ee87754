"""GPS from a video's telemetry: GoPro GPMF (karma.mp4, max-heromode.mp4 of gopro/gpmf-parser, cut
down to tiny frames with the telemetry track copied) against ExifTool's reading, CAMM, frozen and
implausible fixes, gaps, sampling by distance, a video without telemetry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import DATA, ORIGIN, offset, plain_video, texture

from viewsynth.capture import CaptureOptions, load_capture, telemetry
from viewsynth.capture.heading import between, haversine
from viewsynth.capture.shot import Shot
from viewsynth.capture.telemetry import Fix, clean_track, positions_at, read_video_track
from viewsynth.walkthrough.manifest import frame_entry
from viewsynth.walkthrough.run import run_capture
from viewsynth.walkthrough.settings import InterpolateSettings

HERE = Path(__file__).resolve().parent / "data"
VIDEOS = {"karma": HERE / "karma_small.mp4", "max-heromode": HERE / "max-heromode_small.mp4"}


def parse_exiftool(text: str) -> tuple[list[tuple[float, float]], list[str], dict[str, float]]:
    """``exiftool -ee -n -G3 -GPSLatitude -GPSLongitude -GPSDateTime`` output of the timed
    samples (``[DocN]`` lines; ``[Main]`` is a file-level summary): [(lat, lon)], the DocN of each,
    and the first GPSDateTime of each DocN (UTC seconds)."""
    lats, lons, docs, times = [], [], [], {}
    for line in text.splitlines():
        m = re.match(r"\[(Doc\d+)\]\s+GPS (Latitude|Longitude|Date Time)\s+: (.+)$", line)
        if not m:
            continue
        doc, tag, value = m.groups()
        if tag == "Latitude":
            lats.append(float(value))
            docs.append(doc)
        elif tag == "Longitude":
            lons.append(float(value))
        else:
            when = datetime.strptime(value.strip(), "%Y:%m:%d %H:%M:%S.%f").replace(tzinfo=UTC)
            times.setdefault(doc, when.timestamp())
    assert len(lats) == len(lons)
    return list(zip(lats, lons, strict=True)), docs, times


def exiftool_altitudes(text: str) -> list[float]:
    """The GPSAltitude of every timed sample in ExifTool's ``-G3 -n`` output, in order."""
    return [
        float(m.group(1)) for m in re.finditer(r"^\[Doc\d+\]\s+GPS Altitude\s+: (\S+)$", text, re.M)
    ]


def _assert_matches(name: str, fixes: list[Fix], text: str) -> None:
    positions, docs, times = parse_exiftool(text)
    assert len(fixes) == len(positions) > 40
    ours = np.array([(f.lat, f.lon) for f in fixes])
    np.testing.assert_allclose(ours, np.array(positions), atol=1e-6, rtol=0)
    # Altitude as the file holds it: GPS5 above the WGS-84 ellipsoid (max-heromode's is below
    # it, about -23 m, at the coast), the Karma's GLPI as it is (about 16 m)
    assert [f.alt for f in fixes] == pytest.approx(exiftool_altitudes(text), abs=1e-3)
    if name == "karma":
        # GLPI: a GPSDateTime per fix (through the device's SYST record); compare every fix.
        lines = [ln for ln in text.splitlines() if "GPS Date Time" in ln]
        assert len(lines) == len(fixes)
        for fix, line in zip(fixes, lines, strict=True):
            value = line.split(": ", 1)[1].strip()
            when = datetime.strptime(value, "%Y:%m:%d %H:%M:%S.%f").replace(tzinfo=UTC)
            assert fix.utc == pytest.approx(when.timestamp(), abs=0.005)
    else:
        # GPS5: one GPSU per telemetry sample, the time of the sample's first fix.
        firsts = {doc: docs.index(doc) for doc in times}
        for doc, index in firsts.items():
            assert fixes[index].utc == pytest.approx(times[doc], abs=0.001)
        # The others follow on the video clock, between their sample's GPSU and the next one's.
        utcs = [f.utc for f in fixes]
        assert all(b > a for a, b in zip(utcs, utcs[1:], strict=False))


@pytest.mark.parametrize("name", ["karma", "max-heromode"])
def test_gpmf_positions_match_the_committed_exiftool_reading(name):
    track = read_video_track(VIDEOS[name])
    assert track.kind == "gpmf"
    assert all(b.time > a.time for a, b in zip(track.fixes, track.fixes[1:], strict=False))
    assert 0.0 <= track.fixes[0].time < 0.1 and 10.0 < track.fixes[-1].time < 12.1
    _assert_matches(name, track.fixes, (HERE / f"{name}.exiftool.txt").read_text())


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("name", ["karma", "max-heromode"])
def test_gpmf_positions_match_live_exiftool(name):
    cmd = ["exiftool", "-ee", "-n", "-G3", "-GPSLatitude", "-GPSLongitude", "-GPSAltitude"]
    cmd.append("-GPSDateTime")
    paths = [VIDEOS[name]]
    if (DATA / "gopro_gpmf" / f"{name}.mp4").is_file():
        paths.append(DATA / "gopro_gpmf" / f"{name}.mp4")  # the uncut original
    for path in paths:
        text = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=True).stdout
        _assert_matches(name, read_video_track(path).fixes, text)


def test_karma_frames_get_interpolated_positions_and_distance_sampling():
    capture = load_capture(VIDEOS["karma"], CaptureOptions(every_metres=5.0))
    shots = capture.shots
    assert [w for w in capture.warnings if "no focal length" not in w] == []  # a HERO5: no FOV
    assert shots[0].frame_index == 0 and all(s.has_position for s in shots)
    assert 15 <= len(shots) <= 18  # about 80 m along the track
    steps = [haversine(a.lat, a.lon, b.lat, b.lon) for a, b in zip(shots, shots[1:], strict=False)]
    # Marks every 5 m along the track: each kept frame within one frame's travel (< 0.4 m here)
    # past its mark, so steps average 5 m.
    assert min(steps) > 4.5 and max(steps) < 5.5
    assert np.mean(steps) == pytest.approx(5.0, abs=0.1)
    # Positions are the track's, interpolated at the frame's time (frame 0: the first fix).
    fixes = read_video_track(VIDEOS["karma"]).fixes
    assert (shots[0].lat, shots[0].lon) == (fixes[0].lat, fixes[0].lon)
    mid = shots[5]
    (expected,) = positions_at(fixes, [mid.time], 5.0)
    assert haversine(mid.lat, mid.lon, expected.lat, expected.lon) < 1e-6
    assert mid.utc == pytest.approx(expected.utc)
    # every_frames still works, and frames carry positions.
    every = load_capture(VIDEOS["karma"], CaptureOptions(every_frames=90)).shots
    assert [s.frame_index for s in every] == [0, 90, 180, 270, 360]
    assert all(s.has_position for s in every)
    # A video's samples, however far apart, are one walk: no distance gap cuts it (photos' is
    # 30 m; samples 32 m apart lost their positions to it, and a smaller gap cut seven segments)
    for options in (CaptureOptions(every_metres=32.0), CaptureOptions(distance_gap=1.0)):
        walk = load_capture(VIDEOS["karma"], options)
        assert len(walk.segments) == 1 and all(s.has_position for s in walk.shots)
        assert not [w for w in walk.warnings if "GPS ignored" in w]


def test_positions_at_interpolates_and_refuses_gaps_and_outside():
    fixes = [Fix(0.0, 10.0, 20.0, 100.0), Fix(1.0, 10.001, 20.002, 101.0), Fix(9.0, 11.0, 21.0)]
    a, b, c, d, e = positions_at(fixes, [0.5, 1.0, 5.0, -0.5, -3.0], max_gap=5.0)
    assert (a.lat, a.lon, a.utc) == pytest.approx((10.0005, 20.001, 100.5))
    assert (b.lat, b.lon) == (10.001, 20.002)
    assert c is None  # inside the 8 s gap between 1 s and 9 s
    assert (d.lat, d.lon, d.utc) == (10.0, 20.0, 99.5)  # within the 1 s margin: the end fix
    assert e is None
    assert positions_at([], [0.0], 5.0) == [None]


def test_positions_cross_the_180th_meridian_the_short_way():
    # 11 m apart across the date line: in between is near +-180, not near 0 (the other side of
    # the Earth), in the manifest's rows and in the track's fixes alike
    east, west = 179.99995, -179.99995
    a, b = positions_at([Fix(0.0, -17.0, east), Fix(1.0, -17.0, west)], [0.25, 0.75], 5.0)
    assert (a.lon, b.lon) == pytest.approx((179.999975, -179.999975), abs=1e-9)
    shots = [
        Shot(Path(n), n, (64, 32), lat=-17.0, lon=lon) for n, lon in (("a", east), ("b", west))
    ]
    rows = [frame_entry(*shots, t) for t in (0.0, 0.5, 0.75, 1.0)]
    assert [r["lon"] for r in rows] == pytest.approx([east, -180.0, -179.999975, west], abs=1e-9)
    assert between(10.0, 20.0, 10.002, 20.004, 0.5) == pytest.approx((10.001, 20.002))


def test_altitude_is_interpolated_only_between_two_known_heights():
    a = Fix(0.0, *ORIGIN, alt=10.0)
    b = Fix(2.0, *offset(*ORIGIN, 2.0, 0.0), alt=14.0)
    c = Fix(4.0, *offset(*ORIGIN, 4.0, 0.0))  # a fix without a height
    found = positions_at([a, b, c], [0.5, 2.0, 3.0, 4.5, -0.5], 5.0)
    assert [f.alt for f in found] == [11.0, 14.0, None, None, 10.0]
    # the manifest's rows likewise, between two shots: metres at t, no "alt" where one has none
    shots = [Shot(Path(f"{k}.jpg"), f"{k}.jpg", (64, 32), lat=f.lat, lon=f.lon, alt=f.alt)
             for k, f in enumerate((a, b, c))]  # fmt: skip
    rows = [frame_entry(shots[0], shots[1], t) for t in (0.0, 0.25, 1.0)]
    assert [r["alt"] for r in rows] == [10.0, 11.0, 14.0]
    assert "alt" not in frame_entry(shots[1], shots[2], 0.5) and "lat" in rows[0]
    # at t = 0 and 1 a row is the photo itself: its own position and height, whatever the other's
    assert frame_entry(shots[1], shots[2], 0.0)["alt"] == 14.0
    alone = Shot(Path("x.jpg"), "x.jpg", (64, 32))  # no position
    assert frame_entry(shots[0], alone, 0.0)["lat"] == round(a.lat, 8)
    assert "lat" not in frame_entry(shots[0], alone, 0.5)
    assert frame_entry(alone, shots[1], 1.0)["alt"] == 14.0


def test_a_2d_gpmf_fix_has_no_altitude():
    from mapillary_tools.telemetry import GPSFix, GPSPoint

    def point(t, fix):
        return GPSPoint(t, *ORIGIN, 120.0, None, None, fix, 200.0, 1.0)

    points = [point(0.0, GPSFix.FIX_3D), point(0.1, GPSFix.FIX_2D), point(0.2, GPSFix.NO_FIX)]
    points.append(point(0.3, None))  # no GPSF in the stream
    fixes = telemetry._gpmf_fixes(points)
    assert [(f.time, f.alt) for f in fixes] == [(0.0, 120.0), (0.1, None), (0.3, 120.0)]


def test_clean_track_drops_frozen_and_implausible_fixes_and_names_gaps():
    track = [Fix(t * 0.5, *offset(*ORIGIN, t * 1.0, 0.0)) for t in range(6)]  # 2 m/s east
    frozen_at = track[-1]
    track += [Fix(3.0 + 0.5 * k, frozen_at.lat, frozen_at.lon) for k in range(8)]  # 3.5 s frozen
    track.append(Fix(7.0, *offset(*ORIGIN, 9.0, 0.0)))
    track.append(Fix(7.5, *offset(*ORIGIN, 500.0, 0.0)))  # a 490 m jump in 0.5 s
    track.append(Fix(8.0, *offset(*ORIGIN, 10.0, 0.0)))
    track.append(Fix(20.0, *offset(*ORIGIN, 30.0, 0.0)))
    kept, warnings = clean_track(track, "walk.mp4", max_speed=50.0, max_gap=5.0)
    times = [f.time for f in kept]
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 7.0, 8.0, 20.0]
    assert len(warnings) == 3
    assert warnings[0].startswith("walk.mp4: GPS frozen at ") and "8 repeated fixes" in warnings[0]
    assert "1 GPS fix(es) ignored as jumps faster than capture.max_speed (50 m/s)" in warnings[1]
    assert warnings[2] == (
        "walk.mp4: no GPS fix from 8.0 to 20.0 s: frames in between have no position"
    )
    # A short standstill (identical fixes for under 2 s) is kept as it is.
    still = [Fix(t * 0.5, *ORIGIN) for t in range(3)]
    assert clean_track(still, "x", 50.0, 5.0) == (still, [])


def test_video_without_telemetry_warns_and_has_no_positions(tmp_path, monkeypatch):
    monkeypatch.setattr("viewsynth.capture.exiftool.EXIFTOOL", "no-such-exiftool")  # (absent)
    video = plain_video(tmp_path / "plain.mp4", created="2024-05-01T10:00:00Z")
    assert read_video_track(video).kind is None
    capture = load_capture(video, CaptureOptions(every_frames=4))
    assert not any(s.has_position for s in capture.shots)
    untracked = (
        "plain.mp4: no GPS telemetry (GPMF, CAMM or BlackVue) in this video and no --gpx track: "
        "its frames have no position"
    )
    # (how to read another dashcam's GPS, as a GPX track, or directly with ExifTool installed)
    hint = " (another dashcam's GPS: exiftool -ee -p fmt_files/gpx.fmt plain.mp4 > plain.gpx, "
    hint += "then --gpx plain.gpx; install ExifTool to read it directly)"
    assert capture.warnings == [untracked + hint]
    # Sampling by distance needs a track: it falls back to every frame, said in the same line.
    by_distance = load_capture(video, CaptureOptions(every_metres=2.0))
    assert len(by_distance.shots) == 12
    assert by_distance.warnings == [
        f"{untracked}, so sampling every 2 m falls back to every frame{hint}"
    ]
    # --spacing samples a video every that many metres and spaces its frames so: both fall back,
    # for the one cause, in one line (not one for each of the three).
    result = run_capture(video, tmp_path / "out", InterpolateSettings(method="linear", spacing=2.0))
    assert result.status == "done" and result.frames == 11 * 8 + 1  # every frame, --factor 8
    assert result.warnings == [
        f"{untracked}, so sampling every 2 m falls back to every frame and --spacing 2 to "
        f"--factor 8{hint}",
        "plain.mp4: the walkthrough plays 2.7x slower than the video (3.0 s at 30 fps from 1.1 s "
        "of video: every frame, --factor 8); to play it at its speed or faster, sample it: --set "
        "capture.every_seconds=S or --factor 1",  # (not --spacing again: no track to go by)
    ]


def test_spacing_on_a_video_steps_by_the_metres_asked_not_by_whole_frames(tmp_path):
    # karma.mp4 flies 0.1-0.3 m a frame: whole frames sampled every 1 m stepped 0.80-1.16 m (CV
    # 11 %). Now each step is 1 m within 2 %: a real frame where one lies so, else made between
    # the two frames around it. Each frame on a mark interpolated: 76 of 84 were made.
    out = tmp_path / "out"
    result = run_capture(VIDEOS["karma"], out, InterpolateSettings(method="linear", spacing=1.0))
    rows = json.loads((out / "manifest.json").read_text())["segments"][0]["frames"]
    steps = [haversine(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in pairwise(rows)]
    assert result.frames == len(rows) > 70
    assert min(steps) > 0.98 and max(steps) < 1.02
    made = [row for row in rows if row["t"] not in (0.0, 1.0)]
    assert len(made) < 0.75 * len(rows)
    # each made between two neighbouring frames of the video
    pairs = [[int(name.split("#")[1]) for name in row["src"]] for row in made]
    assert all(b == a + 1 for a, b in pairs)
    # a frame shown is a frame kept: the capture alone holds them, and their neighbours
    read = load_capture(VIDEOS["karma"], CaptureOptions(every_metres=1.0), spacing=1.0)
    alone = load_capture(VIDEOS["karma"], CaptureOptions(every_metres=1.0))
    shown = {s.frame_index for s in read.shots if s.whole}
    assert shown <= {int(name.split("#")[1]) for row in rows for name in row["src"]}
    assert all(s.along is not None for s in read.shots) and not [s for s in alone.shots if s.along]


def test_gps_jitter_does_not_lengthen_the_track_a_video_is_spaced_by():
    # A walker at 1.4 m/s filmed at 30 fps, a receiver's 1 cm of jitter on each frame's position:
    # summed frame to frame, the 14 m walk measured 14.4 m (max-heromode.mp4's own GPS: 3 %), so
    # --spacing 1 stepped 0.94-0.99 m. Measured in chords of at least TAPE metres it is 14 m.
    from viewsynth.capture.sampling import FrameClock, Picker
    from viewsynth.capture.telemetry import Fix

    rng = np.random.default_rng(0)
    count = 300
    jitter = rng.normal(0.0, 0.01, (count, 2))

    def locate(t: float) -> Fix:
        i = round(t * 30.0)
        return Fix(t, *offset(*ORIGIN, 1.4 * t + jitter[i, 0], jitter[i, 1]))

    clock = FrameClock(30.0, tuple(i / 30.0 for i in range(count)))
    pick = Picker(locate, clock, CaptureOptions(every_metres=1.0), 1.0, exact=True)
    pick.choose(count)
    assert pick.along == pytest.approx(1.4 * (count - 1) / 30.0, rel=0.005)


def test_a_dense_receivers_jitter_leaves_the_positions_written(tmp_path):
    # max-heromode's own 18 Hz GPS at --spacing 0.5: each frame kept its fix's centimetre of
    # jitter, so the positions written stepped 0.487-0.507 m (2.6 % short). Each fix is now on the
    # line through its neighbours within STEADY_SECONDS: 0.496-0.508; 1 m and 2 m no worse.
    from viewsynth.capture.schedule import schedule_segment
    from viewsynth.walkthrough.manifest import segment_rows

    worst = {0.5: 0.017, 1.0: 0.015, 2.0: 0.012}  # (before: 0.026, 0.017, 0.015)
    for spacing, most in worst.items():
        options = CaptureOptions(max_width=64, every_metres=spacing)
        (segment,) = load_capture(VIDEOS["max-heromode"], options, spacing=spacing).segments
        rows = segment_rows(segment, schedule_segment(segment, spacing=spacing)[0])
        steps = [haversine(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in pairwise(rows)]
        assert max(abs(step / spacing - 1.0) for step in steps) < most, (spacing, steps)


def test_steadied_takes_out_a_dense_receivers_jitter_and_leaves_a_sparse_track():
    from viewsynth.capture.locate import steadied

    rng = np.random.default_rng(0)
    # 10 s at 1.3 m/s, 18 fixes a second with 12 mm of jitter (max-heromode's), across 180 degrees
    times = np.arange(180) / 18.0
    truth = [offset(0.0, 179.99995, 1.3 * t, 0.5 * t) for t in times]
    noisy = [
        Fix(t, *offset(lat, lon, *rng.normal(0.0, 0.012, 2)), utc=100.0 + t, alt=5.0)
        for t, (lat, lon) in zip(times, truth, strict=True)
    ]
    error = [haversine(f.lat, f.lon, *p) for f, p in zip(noisy, truth, strict=True)]
    steady = steadied(noisy)
    left = [haversine(f.lat, f.lon, *p) for f, p in zip(steady, truth, strict=True)]
    assert np.mean(left) < 0.5 * np.mean(error) and -180.0 <= min(f.lon for f in steady)
    assert [(f.time, f.utc, f.alt) for f in steady] == [(f.time, f.utc, f.alt) for f in noisy]
    sparse = noisy[::5]  # 3.6 fixes a second (Karma's 4; a GPX logger's 1): as they are
    assert steadied(sparse) == sparse
    # 10 fixes a second (GPS9: a HERO11 and later) were left as they were too
    tens = np.arange(100) / 10.0
    truth = [offset(0.0, 10.0, 1.3 * t, 0.5 * t) for t in tens]
    noisy = [Fix(t, *offset(lat, lon, *rng.normal(0.0, 0.012, 2)), utc=100.0 + t)
             for t, (lat, lon) in zip(tens, truth, strict=True)]  # fmt: skip
    error = [haversine(f.lat, f.lon, *p) for f, p in zip(noisy, truth, strict=True)]
    left = [haversine(f.lat, f.lon, *p) for f, p in zip(steadied(noisy), truth, strict=True)]
    assert np.mean(left) < 0.7 * np.mean(error)


def test_reading_a_video_reports_its_progress(tmp_path):
    # A long video's frames take minutes to decode before the first output frame: the bar moved
    # only from then on. Now each frame decoded is told, out of those chosen.
    told = []
    options = InterpolateSettings(method="linear", capture=CaptureOptions(every_frames=30))
    run_capture(VIDEOS["karma"], tmp_path / "out", options, loading=lambda *n: told.append(n))
    assert told == [(k, 13) for k in range(1, 14)]  # frames 0, 30, ..., 360


def _camm_video(tmp_path: Path, positions, altitudes=None) -> Path:
    from viewsynth.export.camm import add_camm_track

    video = plain_video(tmp_path / "camm.mp4", n=len(positions))
    add_camm_track(video, positions, altitudes)
    return video


def test_camm_altitude_reaches_the_shots(tmp_path):
    walk = [offset(*ORIGIN, 1.0 * i, 0.0) for i in range(20)]  # 1 m per frame, 10 fps
    heights = [-3.0 + 0.25 * i for i in range(20)]  # down a ramp below sea level and up
    video = _camm_video(tmp_path, walk, heights)
    assert [f.alt for f in read_video_track(video).fixes] == heights
    shots = load_capture(video, CaptureOptions(every_frames=4)).shots
    assert [s.alt for s in shots] == [heights[s.frame_index] for s in shots]


def test_a_camm_videos_frames_keep_its_creation_time_as_their_clock(tmp_path):
    # CAMM type 5 has positions and no time: the frames' UTC is the MP4's creation time + theirs,
    # as for a video without telemetry (it had none at all)
    import imageio.v2 as imageio

    from viewsynth.export.camm import add_camm_track

    video = tmp_path / "ride360.mp4"
    writer = imageio.get_writer(str(video), fps=10, codec="libx264", macro_block_size=16,
                                output_params=["-metadata", "creation_time=2024-05-01T08:00:00Z"])  # fmt: skip
    for i in range(12):
        writer.append_data(texture(64, 32, seed=i))
    writer.close()
    add_camm_track(video, [offset(*ORIGIN, 1.0 * i, 0.0) for i in range(12)])
    shots = load_capture(video, CaptureOptions(every_frames=4)).shots
    start = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC).timestamp()
    assert all(s.has_position for s in shots)
    assert [s.utc for s in shots] == pytest.approx([start, start + 0.4, start + 0.8])


def test_camm_track_is_read_and_frozen_fixes_are_dropped(tmp_path):
    walk = [offset(*ORIGIN, 1.0 * i, 0.5 * i) for i in range(40)]  # 1.1 m per frame, 10 fps
    frozen = walk[:10] + [walk[9]] * 25 + walk[35:]  # 2.5 s on one repeated fix, then on
    video = _camm_video(tmp_path, frozen)
    track = read_video_track(video)
    assert track.kind == "camm" and len(track.fixes) == 40
    assert [f.time for f in track.fixes[:3]] == pytest.approx([0.0, 0.1, 0.2])
    np.testing.assert_allclose([(f.lat, f.lon) for f in track.fixes], frozen, atol=1e-9)
    capture = load_capture(video, CaptureOptions(every_frames=1))
    assert any("GPS frozen at" in w and "25 repeated fixes dropped" in w for w in capture.warnings)
    shots = capture.shots
    # The frozen stretch is bridged by interpolation between the last true fix and the next one.
    assert shots[20].has_position
    assert haversine(shots[9].lat, shots[9].lon, shots[20].lat, shots[20].lon) > 5.0


def test_a_gopro_clip_cut_by_a_stream_copy_is_told_how_to_keep_its_gpmf_track(tmp_path):
    # `ffmpeg -c copy` keeps one video and one audio stream: the real GoPro clip's GPMF track goes,
    # its "GoPro AVC" handler names stay. The warning says so, and the cut that keeps it.
    import imageio_ffmpeg

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", "1", "-t", "2"]
    ffmpeg += ["-i", str(VIDEOS["max-heromode"])]
    cut, kept = tmp_path / "cut.mp4", tmp_path / "kept.mov"
    subprocess.run([*ffmpeg, "-c", "copy", str(cut)], check=True)
    lost = load_capture(cut, CaptureOptions(every_frames=15))
    assert not any(s.has_position for s in lost.shots)
    said = [w for w in lost.warnings if "GPS" in w]
    assert len(said) == 1 and said[0].startswith(
        "cut.mp4: no GPS telemetry (GPMF, CAMM or BlackVue; a GoPro's video without its GPMF "
        "track, which a stream copy drops: cut the camera's file with ffmpeg -ss S -t T -i "
        "GOPRO.MP4 -map 0 -c copy OUT.mov to keep it) in this video and no --gpx track"
    )
    # ... and that cut keeps it (into an MP4, -map 0 fails on the timecode and fdsc tracks)
    subprocess.run([*ffmpeg, "-map", "0", "-c", "copy", str(kept)], check=True)
    capture = load_capture(kept, CaptureOptions(every_frames=15))
    assert capture.gps_by == "GoPro GPMF" and all(s.has_position for s in capture.shots)
    assert not any("GPMF track" in w for w in capture.warnings)
    # a video from no GoPro is not said to be one
    plain = plain_video(tmp_path / "plain.mp4")
    assert not any("GoPro" in w for w in load_capture(plain, CaptureOptions()).warnings)
