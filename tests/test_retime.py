"""A finished capture asked again with only ``--fps`` changed: re-timed in place, not made again.

Real encodes of tiny geotagged panoramas through the CLI; an interpolator that counts its calls
says whether any frame was made again. ffprobe reads the rates and durations, ffmpeg decodes the
frames (byte for byte, in order), ExifTool the CAMM samples' times.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import imageio_ffmpeg
import numpy as np
import pytest
from test_camm import exiftool_positions
from test_gpx_export import T0, _gps_capture

from viewsynth.errors import ViewsynthError
from viewsynth.export.camm import read_camm
from viewsynth.export.gpx import read_gpx
from viewsynth.export.mp4 import read_moov
from viewsynth.export.retime import h264_level, retime_video, why_not
from viewsynth.export.spherical import ffmpeg_projection, read_spherical
from viewsynth.export.video import VideoWriter
from viewsynth.pipelines.cli import main as cli
from viewsynth.walkthrough import InterpolateSettings
from viewsynth.walkthrough.resume import STATE_FILE, read_state

FACTOR = 4
VIDEOS = ("walkthrough_360.mp4", "walkthrough.mp4")
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="no ffprobe")
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="no exiftool")


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """The number of in-between frames asked of the interpolator, one entry per call."""
    asked: list[int] = []
    made = InterpolateSettings.make_interpolator

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __call__(self, img0, img1, times, **kw):
            asked.append(len(times))
            return self.inner(img0, img1, times, **kw)

    monkeypatch.setattr(InterpolateSettings, "make_interpolator", lambda s: Counting(made(s)))
    return asked


def interpolate(capture, out, fps: float, *more: str) -> dict:
    """Run the CLI at ``fps``; the capture's row of ``summary.json``."""
    args = [str(capture), "-o", str(out), "--method", "linear", "--factor", str(FACTOR), "-q"]
    assert cli(["interpolate", *args, "--fps", f"{fps:g}", *more]) == 0
    (row,) = json.loads((out / "summary.json").read_text())["captures"]
    return row


def probe(path) -> dict:
    """ffprobe's video stream (frames counted by decoding) and the file's duration."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries"]
    cmd += ["stream=r_frame_rate,avg_frame_rate,nb_frames,nb_read_frames,duration,level"]
    cmd += ["-show_entries", "format=duration", "-of", "json", str(path)]
    read = json.loads(subprocess.run(cmd, capture_output=True, check=True, text=True).stdout)
    return {**read["streams"][0], "format_duration": float(read["format"]["duration"])}


def decoded(path) -> bytes:
    """Every frame the video holds, decoded in presentation order, as raw YUV bytes."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path)]
    cmd += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def check_rate(path, fps: float, n: int, tick: float = 1e-4) -> None:
    """ffprobe reads ``path`` as ``n`` frames at ``fps``, lasting ``n / fps`` (to ``tick``: the
    file's duration is in its movie timescale)."""
    read = probe(path)
    want = Fraction(str(fps))
    assert Fraction(read["r_frame_rate"]) == want, path.name
    assert Fraction(read["avg_frame_rate"]) == want, path.name
    assert int(read["nb_frames"]) == int(read["nb_read_frames"]) == n
    assert float(read["duration"]) == pytest.approx(n / fps, abs=1e-4)
    assert read["format_duration"] == pytest.approx(n / fps, abs=tick)


@needs_ffprobe
@needs_exiftool
def test_a_finished_capture_at_another_fps_is_retimed_not_made_again(tmp_path, calls, capfd):
    cap, out = _gps_capture(tmp_path / "cap", n=3), tmp_path / "out"
    first = interpolate(cap, out, 30)
    n = first["frames"]
    assert calls and n == 2 * FACTOR + 1
    before = {name: decoded(out / name) for name in VIDEOS}
    camm = read_camm(out / VIDEOS[0])
    for fps, then in ((24, 30), (60, 24)):
        calls.clear()
        capfd.readouterr()
        row = interpolate(cap, out, fps)
        assert calls == []  # not a frame interpolated again
        assert (row["status"], row["frames"], row["kept"]) == ("done", n, n)
        assert row["reason"] == f"re-timed from {then} to {fps} fps"
        assert "1 capture done (1 re-timed to another fps)" in capfd.readouterr().err
        for name in VIDEOS:
            check_rate(out / name, fps, n)
            assert decoded(out / name) == before[name], name  # the same frames, in order
        # the CAMM samples follow the new rate; the 360 metadata is still there
        assert read_camm(out / VIDEOS[0]) == camm
        times = [p["time"] for p in exiftool_positions(out / VIDEOS[0])]
        assert times == pytest.approx([k / fps for k in range(n)], abs=1e-6)
        assert ffmpeg_projection(out / VIDEOS[0]) == "equirectangular"
        assert read_spherical(out / VIDEOS[0])["v2"]["projection"] == "equirectangular"
        gpx = [p[2] for p in read_gpx(out / "walkthrough.gpx")]
        assert gpx == pytest.approx([T0.timestamp() + k / fps for k in range(n)], abs=1e-3)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["settings"]["fps"] == fps
        state = read_state(out / STATE_FILE)
        assert manifest["fingerprint"] == state["fingerprint"] and state["complete"]
        assert [len(s["frames"]) for s in manifest["segments"]] == [n]
    calls.clear()
    assert interpolate(cap, out, 60)["status"] == "skipped"  # the same settings again
    assert calls == []


@needs_ffprobe
def test_a_rate_with_no_exact_retime_is_made_again(tmp_path, calls, caplog):
    cap, out = _gps_capture(tmp_path / "cap", n=2), tmp_path / "out"
    n = interpolate(cap, out, 30)["frames"]
    calls.clear()
    row = interpolate(cap, out, 29.97)
    assert calls and row["kept"] == 0 and row["reason"] == ""
    said = caplog.text
    assert (
        "made again at 29.97 fps, not re-timed from 30: walkthrough.mp4: its 15360 ticks a second "
        "make no whole number at 29.97 fps"
    ) in said
    for name in VIDEOS:
        check_rate(out / name, 29.97, n)
    # the line is this run's news, not the capture's: its manifest (said by every later run that
    # finds it done, and kept by a re-time) does not hold it
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["fps"] == 29.97
    assert not [w for w in manifest["warnings"] if "not re-timed" in w]


@needs_ffprobe
@pytest.mark.parametrize("again", [24, 30])
def test_a_retime_cut_short_is_made_again(tmp_path, monkeypatch, again):
    """Stopped after its first video: the ledger says nothing is finished, so the next run at
    that rate makes every frame again, as does one back at the earlier rate (a half-edited
    video is never taken as done)."""
    import viewsynth.walkthrough.retime as retime

    cap, out = _gps_capture(tmp_path / "cap", n=2), tmp_path / "out"
    n = interpolate(cap, out, 30)["frames"]
    edited = []

    def cut_short(video, old, new):
        if edited:
            raise KeyboardInterrupt
        edited.append(video)
        retime_video(video, old, new)

    monkeypatch.setattr(retime, "retime_video", cut_short)
    args = [str(cap), "-o", str(out), "--method", "linear", "--factor", str(FACTOR), "-q"]
    assert cli(["interpolate", *args, "--fps", "24"]) == 130  # (as a Ctrl-C)
    assert len(edited) == 1
    state = read_state(out / STATE_FILE)
    assert not state["complete"] and state["segments"] == {}
    row = interpolate(cap, out, again)
    assert (row["status"], row["made"], row["reason"]) == ("done", n, "")
    for name in VIDEOS:
        check_rate(out / name, again, n)


def test_a_ledger_from_before_the_frames_key_or_a_video_cut_short_is_made_again(
    tmp_path, calls, caplog
):
    cap, out = _gps_capture(tmp_path / "cap", n=2), tmp_path / "out"
    interpolate(cap, out, 30)
    state = read_state(out / STATE_FILE)
    del state["frames"], state["fps"]
    (out / STATE_FILE).write_text(json.dumps(state) + "\n")
    calls.clear()
    assert interpolate(cap, out, 24)["kept"] == 0 and calls
    video = out / "walkthrough.mp4"
    video.write_bytes(video.read_bytes()[:100])  # (a copy cut short: its moov is gone)
    calls.clear()
    assert interpolate(cap, out, 30)["kept"] == 0 and calls
    assert "made again at 30 fps, not re-timed from 24: " in caplog.text


def _encode(path, fps: float, size=(352, 288), codec="h264", n=5):
    """``n`` frames of a gradient that moves (cheap to encode, B-frames and all)."""
    x = np.linspace(0.0, 1.0, size[0], dtype=np.float32)
    with VideoWriter(path, fps, 18, codec) as video:
        for k in range(n):
            row = np.stack([(x + 0.1 * k) % 1.0, x, 1.0 - x], axis=-1)
            video.write(np.broadcast_to(row, (size[1], size[0], 3)))
    return path


def _level(path) -> int:
    moov = read_moov(path)[0]
    (entry,) = moov.descendants("avc1")
    return h264_level(entry)


@needs_ffprobe
def test_a_higher_rate_raises_the_h264_level_to_what_x264_gives_it(tmp_path):
    """CIF (396 macroblocks): level 1.3 at 24 and 30 fps, 3.0 at 60 and 3.1 at 120 (MaxMBPS)."""
    old = _encode(tmp_path / "30.mp4", 30)
    for fps in (24, 60, 120):
        own = _encode(tmp_path / f"{fps}.mp4", fps)
        moved = tmp_path / f"30to{fps}.mp4"
        shutil.copy(old, moved)
        retime_video(moved, 30, fps)
        assert _level(moved) == max(_level(own), _level(old)), fps  # (a lower rate keeps it)
        assert int(probe(moved)["level"]) == _level(moved)  # the SPS says it too
        check_rate(moved, fps, 5, tick=1e-3)  # (a lone encode's movie ticks: milliseconds)
        assert decoded(moved) == decoded(old)
    levels = [_level(tmp_path / f"{fps}.mp4") for fps in (30, 24, 60, 120)]
    assert levels == [13, 13, 30, 31]  # (x264's own: what the re-timed ones must say)


def test_a_joined_videos_pieces_say_the_raised_level_too(tmp_path, calls):
    # A segment longer than chunk_frames is joined from pieces, and each later piece brings its
    # own sequence parameter set in the stream: those said the old level after a re-time.
    cap, out = _gps_capture(tmp_path / "cap", n=3), tmp_path / "out"
    interpolate(cap, out, 30, "--set", "chunk_frames=3", "--set", "view.width=640", "--set",
                "view.height=360")  # fmt: skip
    flat = out / "walkthrough.mp4"
    before, old = decoded(flat), _stream_levels(flat)
    assert len(old) >= 3 and len(set(old)) == 1  # (the avcC's and the pieces' own)
    interpolate(cap, out, 120, "--set", "chunk_frames=3", "--set", "view.width=640", "--set",
                "view.height=360")  # fmt: skip
    new = _stream_levels(flat)
    assert len(new) == len(old) and set(new) == {h264_level(_entry(flat))} and new[0] > old[0]
    assert decoded(flat) == before


def _stream_levels(path) -> list[int]:
    """``level_idc`` of every sequence parameter set ffmpeg's ``trace_headers`` reads in the
    video: the avcC's, then each one in the stream."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-c", "copy"]
    cmd += ["-bsf:v", "trace_headers", "-f", "null", "-"]
    log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return [int(line.split()[-1]) for line in log.splitlines() if "level_idc" in line]


def _entry(path):
    from viewsynth.export.retime import _sample_entry

    return _sample_entry(read_moov(path)[0], path)


@needs_ffprobe
def test_hevc_is_retimed_to_a_lower_rate_and_not_to_a_higher(tmp_path):
    video = _encode(tmp_path / "h.mp4", 30, (64, 32), "hevc")
    assert (
        why_not(video, 30, 60) == "its codec (hvc1) has no level raised in place for a higher rate"
    )
    with pytest.raises(ViewsynthError, match=r"h\.mp4: cannot be re-timed in place: its codec"):
        retime_video(video, 30, 60)
    frames = decoded(video)
    retime_video(video, 30, 15)
    check_rate(video, 15, 5, tick=1e-3)
    assert decoded(video) == frames
