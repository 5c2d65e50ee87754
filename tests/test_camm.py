"""The CAMM GPS track added to a finished MP4: read back by us, ExifTool and FFmpeg; video intact."""

from __future__ import annotations

import json
import shutil
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from viewsynth import frames
from viewsynth.errors import ViewsynthError
from viewsynth.export.camm import add_camm_track, is_camm_track, read_camm
from viewsynth.export.mp4 import read_moov
from viewsynth.export.spherical import ffmpeg_projection, read_spherical
from viewsynth.export.video import VideoWriter

FPS = 10
N = 7


def _video(path, n=N, faststart=True):
    rng = np.random.default_rng(0)
    writer = VideoWriter(path, FPS, 20, faststart=faststart, spherical=True, preset="ultrafast")
    for _ in range(n):
        writer.write(rng.random((32, 64, 3)).astype(np.float32))
    writer.close()
    return path


def _positions(n=N):
    return [(55.6982 + 1e-5 * i, -13.1954 - 2e-5 * i) for i in range(n)]


def _altitudes(n=N):
    return [-1.5 + 0.75 * i for i in range(n)]  # from below sea level up


def exiftool_positions(path) -> list[dict]:
    """ExifTool's reading of each timed sample: ``{"lat", "lon", "alt", "time"}`` in sample
    order."""
    cmd = ["exiftool", "-ee", "-n", "-j", "-G3", "-GPSLatitude", "-GPSLongitude", "-GPSAltitude"]
    cmd.append("-SampleTime")
    (tags,) = json.loads(subprocess.run([*cmd, str(path)], capture_output=True, check=True).stdout)
    rows = []
    k = 1
    while f"Doc{k}:GPSLatitude" in tags:
        rows.append(
            {
                "lat": tags[f"Doc{k}:GPSLatitude"],
                "lon": tags[f"Doc{k}:GPSLongitude"],
                "alt": tags.get(f"Doc{k}:GPSAltitude"),
                "time": tags.get(f"Doc{k}:SampleTime"),
            }
        )
        k += 1
    return rows


@pytest.mark.parametrize("faststart", [True, False])
def test_track_reads_back_and_the_video_is_untouched(tmp_path, faststart):
    path = _video(tmp_path / "v.mp4", faststart=faststart)
    before = [img for _, img in frames.iter_video(path)]
    add_camm_track(path, _positions())
    # Every frame decodes to the same pixels: the video's chunk offsets moved with the moov.
    after = [img for _, img in frames.iter_video(path)]
    assert len(after) == N
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert [p[:2] for p in read_camm(path)] == _positions()
    spherical = read_spherical(path)
    assert spherical["v1"]["ProjectionType"] == "equirectangular"
    assert spherical["v2"]["projection"] == "equirectangular"
    assert ffmpeg_projection(path) == "equirectangular"
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    ).stderr
    assert "Data: none (camm" in info


def test_altitudes_go_in_each_packet_and_unknown_is_0(tmp_path):
    path = _video(tmp_path / "v.mp4")
    add_camm_track(path, _positions(), _altitudes())
    assert read_camm(path) == [(*p, a) for p, a in zip(_positions(), _altitudes(), strict=True)]
    add_camm_track(path, _positions())  # none known: type 5 still needs a number
    assert [p[2] for p in read_camm(path)] == [0.0] * N


def test_a_second_write_replaces_the_track(tmp_path):
    path = _video(tmp_path / "v.mp4")
    add_camm_track(path, _positions())
    moved = [(lat + 1.0, lon) for lat, lon in _positions()]
    add_camm_track(path, moved)
    moov, _, _ = read_moov(path)
    assert sum(is_camm_track(box) for box in moov.children) == 1
    assert [p[:2] for p in read_camm(path)] == moved
    assert sum(1 for _ in frames.iter_video(path)) == N


def test_a_count_that_does_not_match_the_frames_names_the_file_and_changes_nothing(tmp_path):
    path = _video(tmp_path / "v.mp4")
    data = path.read_bytes()
    with pytest.raises(ViewsynthError, match=r"v\.mp4: 6 positions for a video of 7 frames"):
        add_camm_track(path, _positions(6))
    with pytest.raises(ViewsynthError, match="not a latitude"):
        add_camm_track(path, [(91.0, 0.0)] * N)
    with pytest.raises(ViewsynthError, match=r"v\.mp4: 6 altitudes for 7 positions"):
        add_camm_track(path, _positions(), _altitudes(6))
    with pytest.raises(ViewsynthError, match=r"v\.mp4: altitude nan is not a number of metres"):
        add_camm_track(path, _positions(), [float("nan")] * N)
    assert path.read_bytes() == data
    assert read_camm(path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def mapillary_times(path) -> list[tuple[float, float, float]]:
    """mapillary_tools' reading of the CAMM track: ``(time, lat, lon)`` per sample, on the
    video's timeline (it applies the track's edit list)."""
    from mapillary_tools.camm import camm_parser

    with open(path, "rb") as f:
        info = camm_parser.extract_camm_info(f)
    return [(p.time, p.lat, p.lon) for p in (info.gps or info.mini_gps)]


def test_a_track_of_some_frames_puts_each_position_at_its_frames_time(tmp_path):
    """A camera before its GPS lock (frames 0-1) and a fix lost (frame 5): the samples are the
    placed frames', each presented at its frame's time, the track held back by an empty edit."""
    path = _video(tmp_path / "v.mp4")
    before = [img for _, img in frames.iter_video(path)]
    placed = [2, 3, 4, 6]
    where = [_positions()[i] for i in placed]
    add_camm_track(path, where, [_altitudes()[i] for i in placed], frames=placed)
    assert read_camm(path) == [(*where[k], _altitudes()[i]) for k, i in enumerate(placed)]
    got = mapillary_times(path)
    assert [t for t, _, _ in got] == pytest.approx([i / FPS for i in placed])
    assert [(lat, lon) for _, lat, lon in got] == where
    assert all(
        np.array_equal(a, b)
        for a, b in zip(before, (img for _, img in frames.iter_video(path)), strict=True)
    )
    # a whole track again: no edit list, every frame's sample
    add_camm_track(path, _positions(), frames=list(range(N)))
    assert [t for t, _, _ in mapillary_times(path)] == pytest.approx([i / FPS for i in range(N)])
    (trak,) = [box for box in read_moov(path)[0].children if is_camm_track(box)]
    assert trak.child("edts") is None


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_ffprobe_reads_a_track_of_some_frames_from_its_first_placed_frame(tmp_path):
    """(ffprobe is not imageio-ffmpeg's: a machine with the project alone may lack it)"""
    path = _video(tmp_path / "v.mp4")
    placed = [2, 3, 4, 6]
    add_camm_track(path, [_positions()[i] for i in placed], frames=placed)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "d", "-show_entries",
         "stream=start_time,duration,nb_frames", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (stream,) = json.loads(probe.stdout)["streams"]
    assert float(stream["start_time"]) == pytest.approx(0.2)
    assert float(stream["duration"]) == pytest.approx(0.5)  # to the end of frame 6
    assert int(stream["nb_frames"]) == 4


def test_frames_out_of_order_or_past_the_video_are_refused(tmp_path):
    path = _video(tmp_path / "v.mp4")
    data = path.read_bytes()
    with pytest.raises(ViewsynthError, match=r"v\.mp4: the frames of a CAMM track must increase"):
        add_camm_track(path, _positions(2), frames=[3, 3])
    with pytest.raises(ViewsynthError, match=r"v\.mp4: frame 7 of a video of 7 frames"):
        add_camm_track(path, _positions(2), frames=[2, 7])
    with pytest.raises(ViewsynthError, match=r"v\.mp4: 2 positions for 3 frames"):
        add_camm_track(path, _positions(2), frames=[1, 2, 3])
    assert path.read_bytes() == data


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_each_frames_position_at_its_time(tmp_path):
    path = _video(tmp_path / "v.mp4")
    add_camm_track(path, _positions(), _altitudes())
    rows = exiftool_positions(path)
    got = np.array([(r["lat"], r["lon"]) for r in rows])
    np.testing.assert_allclose(got, np.array(_positions()), rtol=0, atol=1e-9)
    assert [r["alt"] for r in rows] == pytest.approx(_altitudes(), abs=1e-9)
    assert [r["time"] for r in rows] == pytest.approx([i / FPS for i in range(N)])
