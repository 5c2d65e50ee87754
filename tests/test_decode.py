"""HDR video (HLG, PQ) is read as the SDR frames it stands for (``viewsynth.decode``), and only the frames wanted leave ffmpeg."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from viewsynth import frames
from viewsynth.decode import hdr_transfer, select_frames, video_params

CLIP = Path(__file__).parent / "data" / "karma_small.mp4"  # a real GoPro clip, 128 wide
N = 4


def _to_hdr(out: Path, transfer: str) -> Path:
    """The clip's first frames as a phone would record them in HDR: its SDR light carried to
    ``transfer`` (``arib-std-b67``: HLG; ``smpte2084``: PQ) with SDR white at BT.2408's reference
    white, BT.2020 primaries, 10-bit HEVC, tagged as such."""
    vf = (
        "zscale=t=linear:npl=203,format=gbrpf32le,"  # (the clip's tags: BT.709, full range)
        f"zscale=p=bt2020:t={transfer}:m=bt2020nc:r=tv:npl=203,format=yuv420p10le"
    )
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(CLIP)]
    command += ["-frames:v", str(N), "-vf", vf, "-c:v", "libx265", "-x265-params"]
    command += ["log-level=error:crf=12", "-color_primaries", "bt2020", "-color_trc", transfer]
    command += ["-colorspace", "bt2020nc", "-color_range", "tv", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = ((a.astype(np.float64) - b.astype(np.float64)) / 255.0) ** 2
    return float(-10.0 * np.log10(err.mean()))


def _frames(path: Path) -> np.ndarray:
    return np.stack([image for _, image in frames.iter_video(path, wanted=set(range(N)))])


@pytest.mark.parametrize(("transfer", "called"), [("arib-std-b67", "HLG"), ("smpte2084", "PQ")])
def test_hdr_video_reads_as_its_sdr_frames(tmp_path, transfer, called):
    sdr = _frames(CLIP)
    hdr = _to_hdr(tmp_path / "phone.mov", transfer)
    assert hdr_transfer(hdr) == called
    got = _frames(hdr)
    assert got.shape == sdr.shape
    # read as it is, an HDR frame is dim and washed out: 23.7 dB (HLG, made to look passable
    # on an SDR screen) and 18.6 dB (PQ) from the SDR one, 16-26 levels darker on average;
    # turned into SDR, it is the original up to 10-bit HEVC's loss (43.6 and 41.7 dB)
    assert _psnr(got, sdr) > 36.0
    assert abs(float(got.mean()) - float(sdr.mean())) < 2.0


def test_sdr_video_is_read_as_it_is():
    assert hdr_transfer(CLIP) is None
    assert hdr_transfer(Path("no/such/file.mp4")) is None


def _videos(tmp_path) -> list[Path]:
    """Real and made videos whose frames are easy to miscount: a GoPro clip, a phone's variable
    rate, one an edit list starts 1.45 s in, one turned upright, an AVI without frame times, and
    an HLG one."""
    from test_capture import _write_vfr_video

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y"]
    vfr, cut, upright, avi = (tmp_path / n for n in ("vfr.mp4", "cut.mp4", "up.mp4", "old.avi"))
    _write_vfr_video(vfr)
    _write_vfr_video(cut, trim=1.45)
    subprocess.run([*ffmpeg, "-display_rotation", "90", "-i", str(vfr), "-c", "copy",
                    str(upright)], check=True)  # fmt: skip
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x32:rate=10", "-frames:v",
                    "30", "-c:v", "mpeg4", "-bf", "2", str(avi)], check=True)  # fmt: skip
    return [CLIP, vfr, cut, upright, avi, _to_hdr(tmp_path / "hlg.mov", "arib-std-b67")]


def test_the_frames_wanted_are_the_frames_of_a_whole_decode(tmp_path):
    rng = np.random.default_rng(7)
    for video in _videos(tmp_path):
        whole = [image for _, image in frames.iter_video(video)]
        n = len(whole)
        for wanted in ({0}, {n - 1}, {1, 2, 3}, set(rng.choice(n, size=n // 3, replace=False))):
            wanted = {int(i) for i in wanted}
            got = list(frames.iter_video(video, wanted))
            assert [i for i, _ in got] == sorted(wanted), video.name
            assert all(np.array_equal(image, whole[i]) for i, image in got), video.name
        assert list(frames.iter_video(video, set())) == []
        assert [i for i, _ in frames.iter_video(video, {n - 2, n + 5})] == [n - 2]  # none past


def test_the_select_expression_is_a_search_tree():
    assert select_frames([4]) == "select='eq(n\\,4)'"
    assert select_frames([1, 5, 9]) == (
        "select='if(lt(n\\,5)\\,eq(n\\,1)\\,if(lt(n\\,9)\\,eq(n\\,5)\\,eq(n\\,9)))'"
    )
    # a run of consecutive frames is one test; frames 0..N-1 need no filter at all
    assert select_frames(list(range(10, 5000))) == "select='between(n\\,10\\,4999)'"
    from viewsynth import decode

    with decode.video_params(CLIP, list(range(300))) as params:
        assert "-/vf" not in params and "-filter_script:v" not in params
    with decode.video_params(CLIP, [0, 2]) as params:
        # the filter file; ffmpeg stops after the last frame wanted (it held that frame's end
        # back until it had decoded the rest of the video: 40 s for a segment 3 minutes into
        # an 8-minute 1080p ride)
        assert params[:4] == ["-fps_mode", "passthrough", "-frames:v", "2"] and len(params) == 6
    # thousands of frames nest no deeper than a binary search
    deep = select_frames(list(range(0, 40000, 3)))
    depth = max(itertools.accumulate({"(": 1, ")": -1}.get(c, 0) for c in deep))  # (linear)
    assert depth <= 2 * 14 + 2


def _system_ffmpeg_before_7() -> str | None:
    import shutil

    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    line = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout
    major = re.match(r"ffmpeg version n?(\d+)\.", line)
    return exe if major and int(major.group(1)) < 7 else None


@pytest.mark.skipif(_system_ffmpeg_before_7() is None, reason="no system ffmpeg older than 7")
def test_an_ffmpeg_before_7_reads_the_frames_wanted(monkeypatch):
    """A system's ffmpeg 5 or 6 (IMAGEIO_FFMPEG_EXE, Debian 12's 5.1) knows no ``-/vf``."""
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", _system_ffmpeg_before_7())
    got = list(frames.iter_video(CLIP, {1, 3}))
    assert [i for i, _ in got] == [1, 3] and got[0][1].shape == (72, 128, 3)


def test_the_filters_file_is_given_as_the_ffmpeg_in_use_reads_it(monkeypatch):
    """``-/vf`` came with ffmpeg 7; ``-filter_script:v`` before it, which later ones no longer
    know (the bundled ffmpeg 9 among them)."""
    import imageio_ffmpeg

    from viewsynth import decode

    for version, option in [("5.1.9-0+deb12u1", "-filter_script:v"), ("6.1.1", "-filter_script:v"),
                            ("7.0.2-static", "-/vf"), ("n9.0.2-17-g2a571b6068", "-/vf"),
                            ("N-112345-gabcdef", "-/vf")]:  # fmt: skip
        monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_version", lambda v=version: v)
        assert decode._option_of.__wrapped__(f"ffmpeg-{version}") == option


def test_the_filter_file_is_gone_once_ffmpeg_has_read_it(tmp_path, monkeypatch):
    # a job killed with SIGKILL mid-decode (minutes, on a long video) left its filter file behind
    # in /tmp, one per segment and run; ffmpeg reads it once, at its start
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stream = frames.iter_video(CLIP, {1, 3})
    assert next(stream)[0] == 1
    assert list(tmp_path.glob("viewsynth-*")) == []
    assert [i for i, _ in stream] == [3]


def test_frame_0_always_leaves_ffmpeg(monkeypatch):
    # imageio gives ffmpeg 10 s to print its stream header, which ffmpeg prints only once a frame
    # has come through its filters: a job's second segment, 3 minutes into a 1080p video, failed
    # with "not a readable video (Could not load meta information)" after decoding for 10 s
    asked = []

    def recording(path, numbers=None):
        asked.append(numbers)
        return video_params(path, numbers)

    from viewsynth import decode

    monkeypatch.setattr(decode, "video_params", recording)
    monkeypatch.setattr(decode, "_seek", lambda path, numbers: (0, None))  # (no times listed)
    assert [i for i, _ in frames.iter_video(CLIP, {2, 3})] == [2, 3]  # (frame 0 dropped)
    assert asked == [[0, 2, 3]]


def test_a_late_segment_is_decoded_from_a_seek_not_from_frame_0(monkeypatch):
    # A second segment deep into a long video decoded everything before it again: now ffmpeg
    # seeks to halfway between its first frame and the one before, and counts from there
    from viewsynth import decode

    whole = [image for _, image in frames.iter_video(CLIP)]
    times = decode.video_times(CLIP).times
    seeks, reader = [], decode._video_reader

    def recording(path, params, seek=None):
        seeks.append(seek)
        return reader(path, params, seek)

    monkeypatch.setattr(decode, "_video_reader", recording)
    wanted = {300, 301, 350, len(whole) - 1}
    got = list(frames.iter_video(CLIP, wanted))
    assert seeks == [pytest.approx((times[299] + times[300]) / 2)]
    assert [i for i, _ in got] == sorted(wanted)
    assert all(np.array_equal(image, whole[i]) for i, image in got)
    # frame 0 wanted: from the start, as before
    assert [i for i, _ in frames.iter_video(CLIP, {0, 300})] == [0, 300] and seeks[-1] is None
