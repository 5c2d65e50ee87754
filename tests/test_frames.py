"""Image decoding at the edge: conversions that keep the image usable, and refusals naming the file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from viewsynth import frames
from viewsynth.errors import FrameError


def test_grayscale_is_expanded_to_rgb(tmp_path):
    gray = (np.arange(24 * 16).reshape(16, 24) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    d = frames.read_image(tmp_path / "g.png")
    assert d.image.shape == (16, 24, 3) and d.image.dtype == np.float32
    np.testing.assert_allclose(d.image[..., 1], gray / 255.0, atol=1e-6)
    assert any("grayscale" in n for n in d.notes)


def test_rgba_drops_alpha_with_a_note(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    d = frames.read_image(tmp_path / "a.png")
    assert d.image.shape == (8, 8, 3)
    np.testing.assert_allclose(d.image[..., 0], 200 / 255, atol=1e-6)
    assert any("alpha" in n for n in d.notes)


def test_16bit_rgb_png_keeps_more_than_8_bits(tmp_path):
    deep = np.full((4, 4, 3), 1000, np.uint16)  # 1000/65535 is between two 8-bit levels
    deep[..., 2] = 65535
    cv2.imwrite(str(tmp_path / "d.png"), deep)  # BGR: channel 2 is red
    d = frames.read_image(tmp_path / "d.png")
    np.testing.assert_allclose(d.image[0, 0], [1.0, 1000 / 65535, 1000 / 65535], atol=1e-6)
    assert any("16-bit" in n for n in d.notes)


def test_16bit_grayscale_png(tmp_path):
    deep = np.full((4, 6), 30000, np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), deep)
    d = frames.read_image(tmp_path / "g16.png")
    np.testing.assert_allclose(d.image, 30000 / 65535, atol=1e-6)


def test_exif_rotation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif, quality=95)
    d = frames.read_image(tmp_path / "r.jpg")
    assert d.image.shape == (40, 20, 3)
    assert d.image[5, 10].mean() > 0.9 and d.image[35, 10].mean() < 0.1  # left became top
    # every portrait phone photo is stored so: turning it loses nothing, so it is no note (notes
    # become warnings)
    assert d.notes == []


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, not an image", "not a readable image"),
    ],
)
def test_unusable_files_name_the_file(tmp_path, content, needle):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(FrameError) as err:
        frames.read_image(path)
    assert str(err.value).startswith(str(path)) and needle in str(err.value)


def test_truncated_jpeg_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameError, match="truncated"):
        frames.read_image(tmp_path / "t.jpg")


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_missing_only_its_end_marker_is_read_whole(tmp_path, progressive):
    # Some apps and card recoveries drop the last two bytes (FF D9); the image data is whole.
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (64, 96, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "t.jpg", progressive=progressive, exif=_turned())
    whole = frames.read_image(tmp_path / "t.jpg").image
    assert whole.shape == (96, 64, 3)  # upright by its EXIF, as the whole file
    data = (tmp_path / "t.jpg").read_bytes()
    assert data.endswith(b"\xff\xd9")
    for cut in (1, 2):  # the marker, or only its second byte
        (tmp_path / "t.jpg").write_bytes(data[:-cut])
        d = frames.read_image(tmp_path / "t.jpg")
        np.testing.assert_array_equal(d.image, whole)
        assert d.notes == ["its JPEG end marker is missing (the image data is whole)"]
    for cut in (3, 40, len(data) // 3):  # image data lost too: refused as before
        (tmp_path / "t.jpg").write_bytes(data[:-cut])
        with pytest.raises(FrameError, match="truncated"):
            frames.read_image(tmp_path / "t.jpg")


def _turned() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    return exif.tobytes()


def test_too_large_to_decode_safely(tmp_path):
    Image.new("RGB", (100, 50)).save(tmp_path / "big.png")
    with pytest.raises(FrameError, match="too large to decode safely"):
        frames.read_image(tmp_path / "big.png", max_pixels=4000)


def test_write_is_atomic_and_round_trips(tmp_path):
    img = np.random.default_rng(1).random((6, 5, 3)).astype(np.float32)
    frames.write_image(tmp_path / "x.png", img)
    back = frames.read_image(tmp_path / "x.png").image
    np.testing.assert_array_equal(frames.to_uint8(back), frames.to_uint8(img))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_reading_a_video_in_a_process_with_jax_running_forks_no_python_code(tmp_path):
    # A job reads its video while JAX's threads run: imageio-ffmpeg's default preexec_fn would run
    # Python between fork and exec (a deadlock risk JAX warns of on every video). In a fresh
    # interpreter, as a job runs: JAX started, then the video read through viewsynth.
    import json
    import os
    import subprocess
    import sys
    import textwrap

    video = tmp_path / "clip.mp4"
    script = textwrap.dedent(
        f"""
        import json
        import numpy as np, jax.numpy as jnp
        from viewsynth.export.video import VideoWriter
        from viewsynth.frames import iter_video
        with VideoWriter({str(video)!r}, 10.0, 20, preset="ultrafast") as w:
            for i in range(5):
                w.write(np.full((48, 64, 3), 40 * i, np.uint8))
        jnp.zeros(1).block_until_ready()
        got = [f for _, f in iter_video({str(video)!r})]
        print(json.dumps([int(np.median(f)) for f in got]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    levels = json.loads(proc.stdout)
    assert len(levels) == 5
    assert all(abs(a - b) <= 3 for a, b in zip(levels, range(0, 200, 40), strict=True))
    assert "os.fork() was called" not in proc.stderr


def _png_header(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no image data."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def test_a_header_claiming_too_many_pixels_is_said_to_be_too_large(tmp_path):
    """A decompression bomb's header is refused in words that say so (it read "not a readable
    image", and ``probe_image`` let Pillow's own exception through); one between Pillow's
    warning (89.5 M pixels) and our limit (120 M) is ours to judge, not refused as a bomb."""
    bomb = _png_header(tmp_path / "bomb.png", 60000, 60000)
    message = r"bomb\.png: 3600000000 pixels is too large to decode safely \(limit 120000000"
    for read in (frames.read_image, frames.probe_image):
        with pytest.raises(FrameError, match=message):
            read(bomb)
    big = _png_header(tmp_path / "big.png", 10000, 9500)  # 95 M pixels: a 10K panorama's size
    assert frames.probe_image(big) == (10000, 9500)
    with pytest.raises(FrameError, match=r"big\.png: (truncated or )?corrupt image"):
        frames.read_image(big)  # (its data is not there: found when decoded, not before)
