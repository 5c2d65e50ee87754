"""GPS in the walkthrough: a geotagged capture gives a CAMM track in the 360 MP4 and a GPX beside it."""

from __future__ import annotations

import json
import shutil
import struct
from datetime import UTC, datetime, timedelta

import pytest
from capture_fixtures import ORIGIN, offset, write_image
from test_camm import exiftool_positions

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


def _gps_capture(folder, n=3, gps=True):
    """``n`` tiny panoramas walking north-east ``STEP_M`` metres every ``STEP_S`` seconds."""
    folder.mkdir()
    for i in range(n):
        tags = {}
        if gps:
            tags["position"] = offset(*ORIGIN, i * STEP_M, i * STEP_M / 2)
            tags["gps_time"] = T0 + timedelta(seconds=i * STEP_S)
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


def _interpolate(capture, out):
    args = [str(capture), "-o", str(out), "--method", "linear", "--factor", str(FACTOR), "-q"]
    assert cli(["interpolate", *args]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    return segment


def test_gpx_round_trip_and_bad_input(tmp_path):
    points = [(55.5, 13.25, T0.timestamp() + 0.125), (55.50001, 13.25002, None)]
    write_gpx(tmp_path / "w.gpx", points)
    assert read_gpx(tmp_path / "w.gpx") == points
    assert 'version="1.1"' in (tmp_path / "w.gpx").read_text()
    with pytest.raises(ViewsynthError, match=r"x\.gpx: no positions"):
        write_gpx(tmp_path / "x.gpx", [])
    with pytest.raises(ViewsynthError, match=r"x\.gpx: \(nan"):
        write_gpx(tmp_path / "x.gpx", [(float("nan"), 0.0, None)])
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
    for (lat, lon, _), row in zip(camm, rows, strict=True):
        assert haversine(lat, lon, row["lat"], row["lon"]) < 0.01
    # The 360 metadata is still there; the flat view carries no CAMM track.
    assert ffmpeg_projection(video) == "equirectangular"
    assert read_spherical(video)["v2"]["projection"] == "equirectangular"
    assert read_camm(out / "walkthrough.mp4") == []
    # GPX: one point per frame, the position of the manifest row, on the video's clock: frame k
    # at k / fps after the first photo's UTC time (what tools that geotag a video from a GPX
    # read), which both videos carry as their creation time (the CAMM track's too).
    points = read_gpx(out / "walkthrough.gpx")
    assert len(points) == len(rows)
    for k, ((lat, lon, when), row) in enumerate(zip(points, rows, strict=True)):
        assert haversine(lat, lon, row["lat"], row["lon"]) < 0.01
        assert when == pytest.approx(T0.timestamp() + k / 30, abs=1e-3)
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
    rows = _interpolate(_gps_capture(tmp_path / "cap", n=4), out)["frames"]
    read = exiftool_positions(out / "walkthrough_360.mp4")
    assert len(read) == len(rows)
    worst = max(
        haversine(r["lat"], r["lon"], row["lat"], row["lon"])
        for r, row in zip(read, rows, strict=True)
    )
    assert worst < 1.0
    assert [r["time"] for r in read] == pytest.approx([k / 30 for k in range(len(rows))], abs=1e-3)


def test_a_capture_without_gps_gets_no_track_and_no_gpx(tmp_path):
    out = tmp_path / "out"
    segment = _interpolate(_gps_capture(tmp_path / "cap", gps=False), out)
    assert "gpx" not in segment["files"]
    assert not [row for row in segment["frames"] if "utc" in row]  # no UTC clock: no time
    assert not list(out.glob("*.gpx"))
    assert read_camm(out / "walkthrough_360.mp4") == []


def test_a_track_with_a_hole_is_not_written_and_the_manifest_says_why(tmp_path):
    cap = tmp_path / "cap"
    cap.mkdir()
    for i in range(3):  # the last photo has no GPS
        where = {"position": offset(*ORIGIN, i * STEP_M, 0.0)} if i < 2 else {}
        write_image(cap / f"p{i}.jpg", seed=i, exif_time=f"2024:05:01 10:00:0{2 * i}", **where)
    out = tmp_path / "out"
    segment = _interpolate(cap, out)
    assert "gpx" not in segment["files"] and read_camm(out / "walkthrough_360.mp4") == []
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert "walkthrough.mp4: no GPX or CAMM track: 5 of 9 frames have no position" in warnings


def test_segment_gpx_is_named_after_its_video_and_needs_every_position(tmp_path):
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
    partly = [rows[0], {"src": ["a.jpg", "b.jpg"], "t": 1.0}]
    assert write_segment_gpx(tmp_path, names, partly, 101.0, 4.0) is None
    assert not (tmp_path / "walkthrough-seg02.gpx").exists()


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
