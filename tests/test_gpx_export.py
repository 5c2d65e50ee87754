"""GPS in the walkthrough: a geotagged capture gives a CAMM track in the 360 MP4 and a GPX beside it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from capture_fixtures import DATA, ORIGIN, offset, write_image
from test_camm import exiftool_positions, mapillary_times

from viewsynth import frames
from viewsynth.capture import haversine
from viewsynth.errors import ViewsynthError
from viewsynth.export.camm import read_camm
from viewsynth.export.gpx import read_gpx, write_gpx
from viewsynth.export.mp4 import read_moov
from viewsynth.export.spherical import ffmpeg_projection, read_spherical
from viewsynth.pipelines.cli import main as cli

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
STEP_M, STEP_S, FACTOR = 3.0, 2.0, 4
MP4_EPOCH = 2_082_844_800  # seconds from 1904-01-01 to 1970-01-01, UTC


def _gps_capture(folder, n=3, gps=True, altitudes=None):
    """``n`` tiny panoramas walking north-east ``STEP_M`` metres every ``STEP_S`` seconds, photo
    i at ``altitudes[i]`` metres (None: no GPSAltitude)."""
    folder.mkdir()
    for i in range(n):
        tags = {}
        if gps:
            tags["position"] = offset(*ORIGIN, i * STEP_M, i * STEP_M / 2)
            tags["gps_time"] = T0 + timedelta(seconds=i * STEP_S)
        if altitudes is not None:
            tags["altitude"] = altitudes[i]
        write_image(folder / f"p{i}.jpg", seed=i, **tags)
    return folder


def creation_times(video):
    """The creation times (UTC seconds) of an MP4's ``mvhd`` and of every track's ``tkhd`` and
    ``mdhd`` (whole seconds since 1904, as the boxes hold them)."""
    moov = read_moov(video)[0]
    boxes = [moov.child("mvhd")]
    for trak in (b for b in moov.children if b.kind == "trak"):
        boxes += [trak.child("tkhd"), trak.walk("mdia", "mdhd")]
    since_1904 = {
        struct.unpack(">Q" if box.data[0] == 1 else ">I", box.data[4 : 12 if box.data[0] else 8])[0]
        for box in boxes
    }
    return {t - MP4_EPOCH for t in since_1904}


def _interpolate(capture, out, *more):
    args = [str(capture), "-o", str(out), "--method", "linear", "--factor", str(FACTOR), "-q"]
    args += more
    assert cli(["interpolate", *args]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    return segment


def test_gpx_round_trip_and_bad_input(tmp_path):
    points = [(55.5, 13.25, T0.timestamp() + 0.125), (55.50001, 13.25002, None)]
    write_gpx(tmp_path / "w.gpx", points)
    assert read_gpx(tmp_path / "w.gpx") == [(*p, None) for p in points]
    assert 'version="1.1"' in (tmp_path / "w.gpx").read_text()
    assert "<ele>" not in (tmp_path / "w.gpx").read_text()
    write_gpx(tmp_path / "w.gpx", points, elevations=[-2.5, 40.125])
    assert [p[3] for p in read_gpx(tmp_path / "w.gpx")] == [-2.5, 40.125]
    with pytest.raises(ViewsynthError, match=r"x\.gpx: no positions"):
        write_gpx(tmp_path / "x.gpx", [])
    with pytest.raises(ViewsynthError, match=r"x\.gpx: \(nan"):
        write_gpx(tmp_path / "x.gpx", [(float("nan"), 0.0, None)])
    with pytest.raises(ViewsynthError, match=r"x\.gpx: 1 elevations for 2 points"):
        write_gpx(tmp_path / "x.gpx", points, elevations=[3.0])
    with pytest.raises(ViewsynthError, match=r"x\.gpx: elevation inf is not a number of metres"):
        write_gpx(tmp_path / "x.gpx", points, elevations=[3.0, float("inf")])
    assert not (tmp_path / "x.gpx").exists()


def test_geotagged_capture_gives_camm_track_and_gpx_matching_the_manifest(tmp_path):
    out = tmp_path / "out"
    segment = _interpolate(_gps_capture(tmp_path / "cap"), out)
    assert segment["files"] == {
        "flat": "walkthrough.mp4",
        "360": "walkthrough_360.mp4",
        "gpx": "walkthrough.gpx",
    }
    rows = segment["frames"]
    assert len(rows) == 2 * FACTOR + 1 and all("lat" in r and "lon" in r for r in rows)
    # no heading tags: each frame faces the travel direction the track gives (3 m east, 1.5 north)
    assert [r["heading"] for r in rows] == pytest.approx([63.435] * len(rows), abs=0.1)
    video = out / "walkthrough_360.mp4"
    camm = read_camm(video)
    assert len(camm) == len(rows) == sum(1 for _ in frames.iter_video(video))
    for (lat, lon, alt), row in zip(camm, rows, strict=True):
        assert haversine(lat, lon, row["lat"], row["lon"]) < 0.01
        assert alt == 0.0  # photos without GPSAltitude: none known, and type 5 needs a number
    assert not [row for row in rows if "alt" in row]  # unknown is absent, not 0
    # The 360 metadata is still there; the flat view carries no CAMM track.
    assert ffmpeg_projection(video) == "equirectangular"
    assert read_spherical(video)["v2"]["projection"] == "equirectangular"
    assert read_camm(out / "walkthrough.mp4") == []
    # GPX: one point per frame, the position of the manifest row, on the video's clock: frame k
    # at k / fps after the first photo's UTC time (what tools that geotag a video from a GPX
    # read), which both videos carry as their creation time (the CAMM track's too).
    points = read_gpx(out / "walkthrough.gpx")
    assert len(points) == len(rows)
    for k, ((lat, lon, when, ele), row) in enumerate(zip(points, rows, strict=True)):
        assert haversine(lat, lon, row["lat"], row["lon"]) < 0.01
        assert when == pytest.approx(T0.timestamp() + k / 30, abs=1e-3)
        assert ele is None
    for name in ("walkthrough.mp4", "walkthrough_360.mp4"):
        assert creation_times(out / name) == {T0.timestamp()}, name
    # each frame's capture time stays in the manifest: its two photos' GPS times at t
    for k, row in enumerate(rows):
        pair = k // FACTOR if k < len(rows) - 1 else 1
        when = T0 + timedelta(seconds=STEP_S * (pair + row["t"]))
        assert row["utc"] == when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_the_walkthrough_positions_within_a_metre(tmp_path):
    out = tmp_path / "out"
    heights = [120.0, 118.5, 121.0, 119.0]
    rows = _interpolate(_gps_capture(tmp_path / "cap", n=4, altitudes=heights), out)["frames"]
    read = exiftool_positions(out / "walkthrough_360.mp4")
    assert len(read) == len(rows)
    worst = max(
        haversine(r["lat"], r["lon"], row["lat"], row["lon"])
        for r, row in zip(read, rows, strict=True)
    )
    assert worst < 1.0
    assert [r["alt"] for r in read] == pytest.approx([row["alt"] for row in rows], abs=1e-6)
    assert [r["time"] for r in read] == pytest.approx([k / 30 for k in range(len(rows))], abs=1e-3)


def test_altitude_reaches_the_manifest_the_camm_track_and_the_gpx(tmp_path):
    out = tmp_path / "out"
    heights = [-6.5, 2.0, 4.0]  # the first below sea level (GPSAltitudeRef 1)
    rows = _interpolate(_gps_capture(tmp_path / "cap", altitudes=heights), out)["frames"]
    # each frame's altitude is its two photos' at t, as its position is
    for k, row in enumerate(rows):
        pair = k // FACTOR if k < len(rows) - 1 else 1
        a, b = heights[pair], heights[pair + 1]
        assert row["alt"] == pytest.approx(a + row["t"] * (b - a), abs=1e-3)
    assert [row["alt"] for row in rows[:3]] == [-6.5, -4.375, -2.25]
    alts = [row["alt"] for row in rows]
    assert [p[2] for p in read_camm(out / "walkthrough_360.mp4")] == pytest.approx(alts, abs=1e-9)
    assert [p[3] for p in read_gpx(out / "walkthrough.gpx")] == pytest.approx(alts, abs=1e-9)
    assert not [
        w for w in json.loads((out / "manifest.json").read_text())["warnings"] if "alt" in w
    ]


def test_altitude_with_holes_goes_in_no_track_and_the_manifest_says_why(tmp_path):
    cap = tmp_path / "cap"
    cap.mkdir()
    for i, height in enumerate([10.0, 12.0, None]):  # the last photo has a position, no height
        where = offset(*ORIGIN, i * STEP_M, 0.0)
        gps = {"gps_time": T0 + timedelta(seconds=i * STEP_S), "altitude": height}
        write_image(cap / f"p{i}.jpg", seed=i, position=where, **gps)
    out = tmp_path / "out"
    segment = _interpolate(cap, out)
    rows = segment["frames"]
    # (the second pair's first row is p1 itself, with its height)
    assert ["alt" in row for row in rows] == [True] * (FACTOR + 1) + [False] * FACTOR
    assert segment["files"]["gpx"] == "walkthrough.gpx"  # the positions are whole: a track
    assert [p[3] for p in read_gpx(out / "walkthrough.gpx")] == [None] * len(rows)
    assert [p[2] for p in read_camm(out / "walkthrough_360.mp4")] == [0.0] * len(rows)
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert (
        "walkthrough_360.mp4: no altitude in the GPX or CAMM track (CAMM holds 0): 4 of 9 frames "
        "have none" in warnings
    )
    # the same photos as ordinary ones: a flat video has no CAMM track to speak of
    _interpolate(cap, tmp_path / "flat", "--projection", "perspective")
    warnings = json.loads((tmp_path / "flat" / "manifest.json").read_text())["warnings"]
    assert "walkthrough.mp4: no altitude in the GPX: 4 of 9 frames have none" in warnings


def test_photos_placed_by_a_gpx_give_the_walkthrough_their_utc_times(tmp_path):
    """A 360 camera without GPS on local time (UTC+2, no offset tag) and a phone's GPX: placed by
    --gpx-offset -7200, the frames' times are UTC, so the GPX written has its <time>s and the
    videos their creation time (they had neither: only the track's own fixes counted as UTC)."""
    cap = _gps_capture(tmp_path / "cap", gps=False)
    for i, path in enumerate(sorted(cap.iterdir())):
        local = T0 + timedelta(hours=2, seconds=i * STEP_S)
        write_image(path, seed=i, exif_time=local.strftime("%Y:%m:%d %H:%M:%S"))
    track = [(T0 + timedelta(seconds=s), *offset(*ORIGIN, s * 1.5, 0.0)) for s in range(-5, 10)]
    gpx = tmp_path / "phone.gpx"
    write_gpx(gpx, [(lat, lon, when.timestamp()) for when, lat, lon in track])
    out = tmp_path / "out"
    segment = _interpolate(cap, out, "--gpx", str(gpx), "--gpx-offset", "-7200")
    rows = segment["frames"]
    assert rows[0]["utc"] == "2024-05-01T10:00:00.000Z"
    assert rows[-1]["utc"] == "2024-05-01T10:00:04.000Z"
    points = read_gpx(out / segment["files"]["gpx"])
    assert [p[2] for p in points] == pytest.approx([T0.timestamp() + k / 30 for k in range(9)])
    for name in ("walkthrough.mp4", "walkthrough_360.mp4"):
        assert creation_times(out / name) == {T0.timestamp()}, name


def test_a_capture_without_gps_gets_no_track_and_no_gpx(tmp_path):
    out = tmp_path / "out"
    segment = _interpolate(_gps_capture(tmp_path / "cap", gps=False), out)
    assert "gpx" not in segment["files"]
    assert not [row for row in segment["frames"] if "utc" in row]  # no UTC clock: no time
    assert not list(out.glob("*.gpx"))
    assert read_camm(out / "walkthrough_360.mp4") == []


def test_frames_without_a_position_are_left_out_of_the_track_and_the_manifest_says_so(tmp_path):
    """The last photo has no GPS, and the camera's clock is local (no UTC): the CAMM track holds
    the placed frames, each at its own frame's time; no GPX, whose points could not say which
    frames they are."""
    cap = tmp_path / "cap"
    cap.mkdir()
    for i in range(3):  # the last photo has no GPS
        where = {"position": offset(*ORIGIN, i * STEP_M, 0.0)} if i < 2 else {}
        write_image(cap / f"p{i}.jpg", seed=i, exif_time=f"2024:05:01 10:00:0{2 * i}", **where)
    out = tmp_path / "out"
    segment = _interpolate(cap, out)
    rows = segment["frames"]
    placed = [i for i, row in enumerate(rows) if "lat" in row]
    assert placed == [0, 1, 2, 3, 4]
    got = mapillary_times(out / "walkthrough_360.mp4")
    assert [t for t, _, _ in got] == pytest.approx([i / 30 for i in placed])
    assert [(lat, lon) for _, lat, lon in got] == [(rows[i]["lat"], rows[i]["lon"]) for i in placed]
    assert "gpx" not in segment["files"] and not list(out.glob("*.gpx"))
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert (
        "walkthrough_360.mp4: 4 of 9 frames have no position: the CAMM track leaves them out; no "
        "GPX, as without a UTC time its points could not say which frames they are" in warnings
    )


def test_a_camera_before_its_gps_lock_keeps_the_track_of_the_rest(tmp_path):
    """The first photo was taken before the GPS lock. It used to cost the segment its GPX and
    CAMM track; now both hold the frames from the first fix on, each at its frame's time."""
    cap = tmp_path / "cap"
    cap.mkdir()
    for i in range(4):
        where = {"position": offset(*ORIGIN, i * STEP_M, 0.0)} if i else {}
        write_image(
            cap / f"p{i}.jpg", seed=i, exif_time=f"2024:05:01 12:00:0{2 * i}",
            offset_time="+02:00", **where,
        )  # fmt: skip
    out = tmp_path / "out"
    segment = _interpolate(cap, out)
    rows = segment["frames"]
    placed = [i for i, row in enumerate(rows) if "lat" in row]
    assert placed == list(range(FACTOR, len(rows)))  # from photo p1 on
    got = mapillary_times(out / "walkthrough_360.mp4")
    assert [t for t, _, _ in got] == pytest.approx([i / 30 for i in placed])
    points = read_gpx(out / segment["files"]["gpx"])
    start = T0.timestamp()  # 10:00:00 UTC, the first frame's (p0's) time
    assert [p[2] for p in points] == pytest.approx([start + i / 30 for i in placed])
    assert [p[:2] for p in points] == [(rows[i]["lat"], rows[i]["lon"]) for i in placed]
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert (
        "walkthrough_360.mp4: 4 of 13 frames have no position: the GPX and CAMM track leave them out"
        in warnings
    )


def test_segment_gpx_is_named_after_its_video_and_times_the_placed_frames(tmp_path):
    from capture_fixtures import shot

    from viewsynth.walkthrough.geotag import video_start, write_segment_gpx

    a, b = shot("a.jpg", east=0.0, time=100.0), shot("b.jpg", east=4.0, time=102.0)
    rows = [{"src": ["a.jpg", "b.jpg"], "t": t, "lat": a.lat, "lon": a.lon} for t in (0.5, 0.75)]
    # the video starts at its first frame's capture time, when that is UTC
    assert video_start(rows, [a, b], "gps") == 101.0
    assert video_start(rows, [a, b], "exif") is None  # a camera's local clock: no start
    names = {"flat": "walkthrough-seg01.mp4"}  # perspective: no 360 video to tag
    assert write_segment_gpx(tmp_path, names, rows, 101.0, 4.0) == "walkthrough-seg01.gpx"
    assert [p[2] for p in read_gpx(tmp_path / "walkthrough-seg01.gpx")] == [101.0, 101.25]
    assert write_segment_gpx(tmp_path, names, rows, None, 4.0) == "walkthrough-seg01.gpx"
    assert [p[2] for p in read_gpx(tmp_path / "walkthrough-seg01.gpx")] == [None, None]
    names = {"flat": "walkthrough-seg02.mp4"}
    partly = [{"src": ["a.jpg", "b.jpg"], "t": 0.0}, rows[0]]  # the first frame has no position
    assert write_segment_gpx(tmp_path, names, partly, None, 4.0) is None  # no time: no GPX
    assert not (tmp_path / "walkthrough-seg02.gpx").exists()
    assert write_segment_gpx(tmp_path, names, partly, 101.0, 4.0) == "walkthrough-seg02.gpx"
    assert [p[2] for p in read_gpx(tmp_path / "walkthrough-seg02.gpx")] == [101.25]


def test_a_videos_gps_track_gives_the_gpx_its_utc_times(tmp_path):
    """A GoPro video's frames take their UTC time from its GPMF track (GPSU), though the capture's
    clock is the video's own: the walkthrough starts at its first frame's, and its GPX runs on
    from there at the walkthrough's frame rate."""
    from pathlib import Path

    from viewsynth.capture import CaptureOptions, load_capture

    video = Path(__file__).parent / "data" / "karma_small.mp4"
    out = tmp_path / "out"
    args = [str(video), "-o", str(out), "--method", "linear", "--factor", "2", "-q"]
    assert cli(["interpolate", *args, "--set", "capture.every_frames=60"]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    shots = load_capture(video, CaptureOptions(every_frames=60)).segments[0]
    utc = {shot.name: shot.utc for shot in shots}
    points = read_gpx(out / segment["files"]["gpx"])
    assert len(points) == len(segment["frames"]) > 2
    first = segment["frames"][0]
    a, b = (utc[name] for name in first["src"])
    start = a + first["t"] * (b - a)
    assert [p[2] for p in points] == pytest.approx([start + k / 30 for k in range(len(points))])
    assert datetime.fromtimestamp(start, UTC).year == 2017  # the flight's GPS date
    assert creation_times(out / segment["files"]["flat"]) == {int(start)}  # (whole seconds)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("name", ["karma", "max-heromode"])
def test_a_gopro_tracks_altitude_reads_back_from_the_camm_track(tmp_path, name):
    """The GoPro clips' own altitudes (GLPI about 16 m; GPS5 about -23 m, below the WGS-84
    ellipsoid), through a capture forced to panorama so that it gets a CAMM track, read back by
    ExifTool: each frame within a metre of the source track at its time (within a millimetre for
    the sampled frames themselves), and the same in the GPX."""
    from viewsynth.capture import CaptureOptions, load_capture
    from viewsynth.capture.telemetry import positions_at, read_video_track
    from viewsynth.walkthrough.geotag import frame_time

    video = Path(__file__).parent / "data" / f"{name}_small.mp4"
    out = tmp_path / "out"
    args = [str(video), "-o", str(out), "--method", "linear", "--factor", "2", "-q"]
    sampling = ["--projection", "equirect", "--set", "capture.every_frames=60"]
    assert cli(["interpolate", *args, *sampling]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    rows = segment["frames"]
    read = exiftool_positions(out / segment["files"]["360"])
    assert len(read) == len(rows) > 8
    # the source: the clip's fixes (which match ExifTool's reading of the clip: test_telemetry)
    fixes = read_video_track(video).fixes
    shots = {s.name: s for s in load_capture(video, CaptureOptions(every_frames=60)).shots}
    for r, row in zip(read, rows, strict=True):
        (track,) = positions_at(fixes, [frame_time(shots, row)], 5.0)
        assert r["alt"] == pytest.approx(row["alt"], abs=1e-6)
        assert abs(r["alt"] - track.alt) < (1e-3 if row["t"] == 0.0 else 1.0)
    assert [p[3] for p in read_gpx(out / segment["files"]["gpx"])] == [r["alt"] for r in read]


@pytest.mark.skipif(
    shutil.which("exiftool") is None or not (DATA / "lund" / "images").is_dir(),
    reason="needs exiftool and ../shared/data/lund",
)
def test_real_photos_gpsaltitude_reaches_the_manifest_and_the_gpx(tmp_path):
    """Three of the Lund street photos (an iPhone's GPSAltitude: 40, 39, 37 m above sea level):
    each photo's row holds ExifTool's reading of it, the frames between are interpolated, and the
    GPX (a perspective capture: no 360 video) has the same <ele>."""
    names = ["05.jpg", "06.jpg", "07.jpg"]
    cap = tmp_path / "cap"
    cap.mkdir()
    for name in names:
        shutil.copy(DATA / "lund" / "images" / name, cap / name)
    cmd = ["exiftool", "-n", "-j", "-GPSAltitude", *(str(cap / n) for n in names)]
    tags = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    source = {Path(t["SourceFile"]).name: t["GPSAltitude"] for t in tags}
    out = tmp_path / "out"
    args = [str(cap), "-o", str(out), "--method", "linear", "--factor", "2", "-q"]
    assert cli(["interpolate", *args, "--set", "capture.max_width=128"]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    rows = segment["frames"]
    assert [row["src"][0] for row in rows if row["t"] == 0.0] == names[:2]
    for row in rows:
        a, b = (source[name] for name in row["src"])
        assert row["alt"] == pytest.approx(a + row["t"] * (b - a), abs=1e-3)
    assert rows[-1]["alt"] == source[names[-1]]
    assert [p[3] for p in read_gpx(out / segment["files"]["gpx"])] == [r["alt"] for r in rows]


def test_no_altitude_warning_for_a_track_that_was_not_written(tmp_path):
    """A flat video whose last photo has no position and whose clock is local (no UTC) gets no
    GPX: no warning may speak of the GPX's altitude. A 360 one's CAMM track is still there."""
    cap = tmp_path / "cap"
    cap.mkdir()
    for i, height in enumerate([10.0, None, None]):  # p1 placed without a height, p2 not placed
        where = {"position": offset(*ORIGIN, i * STEP_M, 0.0), "altitude": height} if i < 2 else {}
        write_image(cap / f"p{i}.jpg", seed=i, exif_time=f"2024:05:01 10:00:0{2 * i}", **where)
    segment = _interpolate(cap, tmp_path / "flat", "--projection", "perspective")
    assert "gpx" not in segment["files"]
    warnings = json.loads((tmp_path / "flat" / "manifest.json").read_text())["warnings"]
    assert not [w for w in warnings if "altitude" in w]
    assert (
        "walkthrough.mp4: 4 of 9 frames have no position: no GPX, as without a UTC time its "
        "points could not say which frames they are" in warnings
    )
    _interpolate(cap, tmp_path / "360")
    warnings = json.loads((tmp_path / "360" / "manifest.json").read_text())["warnings"]
    assert (
        "walkthrough_360.mp4: no altitude in the CAMM track (CAMM holds 0): 4 of 5 frames have "
        "none" in warnings
    )
