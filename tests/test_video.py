import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from viewsynth.errors import ConfigError, FrameError, ViewsynthError
from viewsynth.export import video
from viewsynth.export.mp4 import read_moov, scan_top_level, video_track
from viewsynth.export.spherical import read_spherical
from viewsynth.export.video import VideoWriter, level_size, output_size, size_warning


def _decode(path):
    """(meta, frames (N, H, W, 3) uint8) via the bundled ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in reader]
    return meta, np.stack(frames)


def _smooth_frames(n, height, width):
    """Slowly varying colour ramps that H.264 at CRF 18 reproduces closely."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(n):
        r = 0.5 + 0.4 * np.sin(2 * np.pi * (x / width + i / n))
        g = 0.5 + 0.4 * np.cos(np.pi * y / height)
        b = np.full_like(x, 0.2 + 0.1 * i / n)
        out.append(np.stack([r, g, b], axis=-1))
    return np.stack(out).astype(np.float32)


def test_round_trip_keeps_count_size_fps_and_pictures(tmp_path):
    frames = _smooth_frames(6, 32, 64)
    path = tmp_path / "walk.mp4"
    with VideoWriter(path, 12) as writer:
        for frame in frames:
            writer.write(frame)
    meta, decoded = _decode(path)
    assert decoded.shape == (6, 32, 64, 3)
    assert meta["fps"] == 12
    assert writer.frames_written == 6 and writer.size == (64, 32) and writer.warnings == []
    error = np.abs(decoded.astype(np.float32) - frames * 255).mean()
    assert error < 3.0


def test_colours_survive_the_yuv_round_trip(tmp_path):
    # A BT.601 conversion read back as the tagged BT.709 shifts saturated colours by 10+ levels.
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.2, 0.7, 0.3]], np.float32)
    path = tmp_path / "colours.mp4"
    with VideoWriter(path, 5) as writer:
        for colour in colours:
            writer.write(np.broadcast_to(colour, (32, 64, 3)))
    _, decoded = _decode(path)
    means = decoded.reshape(len(colours), -1, 3).mean(axis=1)
    np.testing.assert_allclose(means, colours * 255, atol=4.0)


def test_float_and_uint8_frames_encode_identically(tmp_path):
    frames = _smooth_frames(3, 32, 64)
    as_uint8 = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)
    for name, data in (("f.mp4", frames), ("u.mp4", as_uint8)):
        with VideoWriter(tmp_path / name, 10) as writer:
            for frame in data:
                writer.write(frame)
    np.testing.assert_array_equal(_decode(tmp_path / "f.mp4")[1], _decode(tmp_path / "u.mp4")[1])


def test_odd_size_is_resized_to_the_even_size_below_not_padded(tmp_path):
    # Grey (no chroma loss) at CRF 1; the pattern is steep, so a crop instead of a resize errs
    # by about 13 levels on average where the resize errs by under 1.
    y, x = np.mgrid[0:33, 0:65].astype(np.float32)
    grey = 0.5 + 0.3 * np.sin(2 * np.pi * x / 13) * np.cos(2 * np.pi * y / 11)
    frame = np.repeat(grey[..., None], 3, axis=2)
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 10, quality=1) as writer:
        writer.write(frame)
    assert writer.warnings == ["frames of 65x33 encoded at 64x32 (even)"]
    _, decoded = _decode(path)
    assert decoded.shape == (1, 32, 64, 3)
    u8 = np.clip(np.rint(frame * 255), 0, 255).astype(np.uint8)
    want = cv2.resize(u8, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(decoded[0].astype(np.float32) - want).mean() < 1.5


def test_size_not_a_multiple_of_16_is_kept(tmp_path):
    # imageio's writer would silently scale 72x40 to 80x48.
    path = tmp_path / "mb.mp4"
    with VideoWriter(path, 10) as writer:
        writer.write(_smooth_frames(1, 40, 72)[0])
    assert _decode(path)[1].shape == (1, 40, 72, 3)


def test_max_width_caps_and_keeps_aspect(tmp_path):
    path = tmp_path / "cap.mp4"
    with VideoWriter(path, 10, max_width=100) as writer:
        writer.write(_smooth_frames(1, 128, 256)[0])
    assert writer.size == (100, 50)
    assert writer.warnings == ["frames of 256x128 encoded at 100x50 (capped by max_video_width)"]
    assert _decode(path)[1].shape == (1, 50, 100, 3)


def test_output_size_and_level_warnings():
    assert output_size(65, 33) == (64, 32)
    assert output_size(1, 1) == (2, 2)
    assert output_size(5760, 2880, max_width=4096) == (4096, 2048)
    assert output_size(4000, 2000, max_width=4096) == (4000, 2000)
    assert size_warning(4096, 2304, "h264") is None
    assert size_warning(4096, 2048, "hevc") is None
    assert size_warning(5760, 2880, "h264") == (
        "5760x2880 exceeds H.264 level 5.2 (about 4096x2304): many players and phones will not "
        "play it; use --set max_video_width=4096 or --set codec=hevc"
    )
    assert size_warning(4096, 2320, "h264") is not None  # one macroblock row too many
    assert size_warning(5760, 2880, "hevc").startswith("5760x2880 exceeds HEVC level 5.1")


def test_no_video_beyond_the_highest_level():
    # libx264 wrote a 72 MP panorama (Insta360 X4) as "level 6.2", twice that level's frame size;
    # libx265 as level 6.3
    for codec in ("h264", "hevc"):
        assert level_size(11904, 5952, codec) == (8192, 4096)
        assert level_size(11968, 5984, codec) == (8192, 4096)
        assert level_size(7680, 3840, codec) == (7680, 3840)
        assert level_size(8192, 4320, codec) == (8192, 4320)  # level 6.2's own example
    assert level_size(12000, 9000, "h264") == (6892, 5168)  # a 108 MP phone photo: 4:3 kept
    w, h = level_size(8192, 4608, "h264")  # 16:9 at 8192 is 147456 macroblocks: too many
    assert (w, h) == (7952, 4472) and -(-w // 16) * -(-h // 16) <= 139264


def test_a_video_beyond_the_highest_level_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "MAX_SIDE", 100)  # a small stand-in for 8192
    path = tmp_path / "big.mp4"
    with VideoWriter(path, 10) as writer:
        writer.write(_smooth_frames(1, 128, 256)[0])
    assert writer.size == (100, 50)
    assert writer.warnings == [
        "frames of 256x128 encoded at 100x50 (256x128 is past H.264 level 6.2 (about 8192x4320), "
        "where players and decoders stop; --frames writes the frames whole)"
    ]
    assert _decode(path)[1].shape == (1, 50, 100, 3)


def test_faststart_puts_the_index_first(tmp_path):
    for faststart in (True, False):
        path = tmp_path / f"fs{faststart}.mp4"
        with VideoWriter(path, 10, faststart=faststart) as writer:
            writer.write(_smooth_frames(1, 32, 64)[0])
        kinds = [box.kind for box in scan_top_level(path)]
        assert (kinds.index("moov") < kinds.index("mdat")) == faststart


def test_nothing_at_the_output_path_until_closed(tmp_path):
    path = tmp_path / "walk.mp4"
    with VideoWriter(path, 10) as writer:
        writer.write(_smooth_frames(1, 32, 64)[0])
        assert not path.exists()
    assert path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]


def test_an_exception_leaves_no_file(tmp_path):
    path = tmp_path / "walk.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, 10) as writer:
        writer.write(_smooth_frames(1, 32, 64)[0])
        raise RuntimeError("interpolator crashed")
    assert list(tmp_path.iterdir()) == []


def test_frame_of_another_size_is_refused_and_nothing_is_kept(tmp_path):
    path = tmp_path / "walk.mp4"
    message = f"^{path}: frame 1 is 66x32 but the video is 64x32$"
    with pytest.raises(FrameError, match=message), VideoWriter(path, 10) as writer:
        writer.write(np.zeros((32, 64, 3), np.float32))
        writer.write(np.zeros((32, 66, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_no_frames_saves_nothing(tmp_path):
    path = tmp_path / "empty.mp4"
    with pytest.raises(ViewsynthError, match=f"^{path}: no frames were written; nothing saved$"):
        with VideoWriter(path, 10):
            pass
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    # imageio_ffmpeg.write_frames ignores ffmpeg's exit status; we must not.
    monkeypatch.setitem(video.CODECS, "h264", ("libnosuch", "avc1"))
    path = tmp_path / "bad.mp4"
    message = f"^{path}: ffmpeg (failed|stopped).*Unknown encoder 'libnosuch'"
    with pytest.raises(ViewsynthError, match=message):
        with VideoWriter(path, 10) as writer:
            for _ in range(3):
                writer.write(np.zeros((32, 64, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_have_clear_messages(tmp_path):
    with pytest.raises(ConfigError, match=r"codec must be one of \('h264', 'hevc'\), got 'vp9'$"):
        VideoWriter(tmp_path / "a.mp4", 10, codec="vp9")
    with pytest.raises(ConfigError, match=r"a\.avi: video output must end in one of"):
        VideoWriter(tmp_path / "a.avi", 10)
    with pytest.raises(ConfigError, match=r"preset must be one of .*, got 'warp'$"):
        VideoWriter(tmp_path / "a.mp4", 10, preset="warp")
    with pytest.raises(ConfigError, match=r"fps must be a positive number, got 0$"):
        VideoWriter(tmp_path / "a.mp4", 0)
    with pytest.raises(ConfigError, match=r"quality \(CRF\) must be an integer 0\.\.51, got 60$"):
        VideoWriter(tmp_path / "a.mp4", 10, quality=60)
    missing = tmp_path / "nowhere" / "a.mp4"
    with pytest.raises(
        ViewsynthError, match=f"^{missing}: folder {missing.parent} does not exist$"
    ):
        VideoWriter(missing, 10)
    with pytest.raises(FrameError, match=r"frame must be \(H, W, 3\) RGB, got shape \(32, 64\)$"):
        VideoWriter(tmp_path / "a.mp4", 10).write(np.zeros((32, 64), np.float32))


def test_hevc_with_spherical_metadata(tmp_path):
    frames = _smooth_frames(3, 32, 64)
    path = tmp_path / "pano.mp4"
    with VideoWriter(path, 10, codec="hevc", spherical=True, preset="ultrafast") as writer:
        for frame in frames:
            writer.write(frame)
    _, decoded = _decode(path)
    assert decoded.shape == (3, 32, 64, 3)
    assert np.abs(decoded.astype(np.float32) - frames * 255).mean() < 4.0
    moov, _, _ = read_moov(path)
    stsd = video_track(moov, str(path)).walk("mdia", "minf", "stbl", "stsd")
    assert [entry.kind for entry in stsd.children] == ["hvc1"]
    meta = read_spherical(path)
    assert meta["v1"]["ProjectionType"] == "equirectangular"
    assert meta["v2"]["projection"] == "equirectangular"
