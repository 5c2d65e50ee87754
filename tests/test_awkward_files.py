"""A user's awkward machine: output folders whose names ffmpeg would misread, a disk that fills
up, links that loop and named pipes among the photos. Each is one line naming the file, or works."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from test_lock import make_capture

from viewsynth import frames
from viewsynth.capture import CaptureOptions
from viewsynth.capture.folder import load_folder
from viewsynth.export.video import VideoWriter
from viewsynth.pipelines.cli import main as cli


@pytest.mark.parametrize("name", ["-walk", "walk:1"], ids=["leading dash", "colon"])
def test_a_relative_output_folder_ffmpeg_would_misread_still_gets_its_video(
    tmp_path, monkeypatch, name
):
    # ffmpeg takes a relative "-walk/x.mp4" for an option and "walk:1/x.mp4" for a protocol
    capture = make_capture(tmp_path / "cap")
    monkeypatch.chdir(tmp_path)
    args = ["interpolate", str(capture), f"--output={name}", "--method", "linear", "-q"]
    assert cli(args) == 0
    assert (tmp_path / name / "walkthrough.mp4").stat().st_size > 0


def test_a_relative_video_name_with_a_colon_keeps_its_frame_times(tmp_path, monkeypatch):
    with VideoWriter(tmp_path / "cam:1.mp4", 10) as writer:
        for i in range(3):
            writer.write(np.full((16, 32, 3), 60 * i, np.uint8))
    monkeypatch.chdir(tmp_path)
    assert frames.video_times("cam:1.mp4").times == pytest.approx((0.0, 0.1, 0.2))


# The job with a file size limit of argv[1] bytes (``ulimit -f``), set in the child itself (no
# preexec_fn: Python between fork and exec in a threaded process): writes past it fail with EFBIG
# in Python and stop ffmpeg with SIGXFSZ, as a disk filling up would.
_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from viewsynth.pipelines.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("limit", "file", "why"),
    [
        (0, ".viewsynth.lock", "could not write it (File too large)"),
        (50, ".viewsynth-state.json", "could not write it (File too large)"),
        (
            1500,
            ".parts/walkthrough_360.00000.mp4",
            "ffmpeg failed (exit -25): killed by SIGXFSZ: the file grew past the file size limit "
            "(ulimit -f)",
        ),
    ],
    ids=["the lock", "the resume state", "a video piece"],
)
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing_half_written(
    tmp_path, limit, file, why
):
    capture, out = make_capture(tmp_path / "cap"), tmp_path / "out"
    cmd = [sys.executable, "-c", _LIMITED, str(limit), "interpolate", str(capture)]
    cmd += ["-o", str(out), "--method", "linear", "--factor", "2", "-q"]
    env = {**os.environ, "VIEWSYNTH_JAX_CACHE": "off"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"viewsynth interpolate: error: {out / file}: {why}"
    )
    assert "Traceback" not in proc.stderr
    # what is left is the run's own hidden state (resumed next time), no output, no part file
    left = [p.relative_to(out).as_posix() for p in out.rglob("*")] if out.exists() else []
    assert not [p for p in left if ".part-" in p or ".part." in p or not p.startswith(".")], left


def test_a_link_loop_and_a_named_pipe_among_the_photos_are_skipped_not_waited_on(tmp_path):
    folder = make_capture(tmp_path / "cap", n=3)
    (folder / "loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(folder / "pipe.jpg")  # opening it to read its tags would wait for a writer for ever
    found = []
    reader = threading.Thread(
        target=lambda: found.append(load_folder(folder, CaptureOptions())), daemon=True
    )
    reader.start()
    reader.join(timeout=60)
    assert found, "load_folder hung on the named pipe"
    assert [s.path.name for s in found[0].shots] == ["f0.png", "f1.png", "f2.png"]
    assert sorted(found[0].skipped) == [
        ("loop.jpg", "a broken link or a link loop"),
        ("pipe.jpg", "not a regular file"),
    ]


def test_pair_names_a_link_loop_and_a_named_pipe(tmp_path):
    (tmp_path / "loop.png").symlink_to("loop.png")
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(frames.FrameError, match=r"loop\.png: cannot read it \(Too many levels"):
        frames.read_image(tmp_path / "loop.png")
    with pytest.raises(frames.FrameError, match=r"pipe\.png: not a regular file$"):
        frames.read_image(tmp_path / "pipe.png")


def test_a_video_without_its_index_or_without_pictures_says_which(tmp_path):
    import imageio_ffmpeg

    whole = tmp_path / "whole.mp4"
    with VideoWriter(whole, 10, faststart=False) as writer:  # the index (moov) at the end
        for i in range(10):
            writer.write(np.full((16, 32, 3), 20 * i, np.uint8))
    cut = tmp_path / "cut.mp4"  # a camera's recording that never stopped
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    sound = tmp_path / "sound.mp4"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5"]
    subprocess.run([*cmd, "-c:a", "aac", str(sound)], check=True)
    with pytest.raises(frames.FrameError) as err:
        frames.video_info(cut)
    assert str(err.value) == (
        f"{cut}: not a readable video (no moov atom, the MP4's index: an unfinished recording or "
        "a file cut short?)"
    )
    with pytest.raises(frames.FrameError) as err:
        frames.video_info(sound)
    assert str(err.value) == f"{sound}: not a readable video (no video stream in it)"
    empty = tmp_path / "empty.mp4"  # (said to be a cut recording, with no moov atom)
    empty.write_bytes(b"")
    with pytest.raises(frames.FrameError) as err:
        frames.video_info(empty)
    assert str(err.value) == f"{empty}: empty file (0 bytes)"


def test_a_photo_with_corrupt_exif_is_read_without_pillows_warnings_reaching_the_user(tmp_path):
    from PIL import Image

    from viewsynth.capture.metadata import read_metadata

    exif = Image.Exif()
    exif[0x010F] = "Camera"  # Make
    path = tmp_path / "a.jpg"
    Image.fromarray(np.full((8, 16, 3), 128, np.uint8)).save(path, exif=exif)
    data = bytearray(path.read_bytes())
    tiff = data.find(b"Exif\0\0") + 6
    data[tiff + 4 : tiff + 8] = (0x7FFFFFF0).to_bytes(4, "little" if data[tiff] == 0x49 else "big")
    path.write_bytes(bytes(data))  # IFD0 points far past the end: Pillow warns "Corrupt EXIF"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be two lines of Python on the console
        assert read_metadata(path).readable
        assert frames.read_image(path).image.shape == (8, 16, 3)


def test_a_tilde_the_shell_left_unexpanded_means_home_not_a_folder_named_tilde(
    tmp_path, monkeypatch
):
    # bash expands neither "~" in --output=~/walk nor a quoted "~/walk"
    home, work = tmp_path / "home", tmp_path / "work"
    make_capture(home / "cap")
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert cli(["interpolate", "~/cap", "--output=~/walk", "--method", "linear", "-q"]) == 0
    assert (home / "walk" / "walkthrough_360.mp4").is_file()
    assert (
        cli(["pair", "~/cap/f0.png", "~/cap/f1.png", "-o", "~/mid.png", "--method", "linear"]) == 0
    )
    assert (home / "mid.png").is_file()
    assert list(work.iterdir()) == []


def test_a_folder_of_the_users_own_is_not_overwritten_by_a_run_pointed_at_it(tmp_path, capsys):
    capture, out = make_capture(tmp_path / "cap"), tmp_path / "mine"
    (out / "frames").mkdir(parents=True)
    (out / "frames" / "000000.png").write_text("my photo")
    (out / "manifest.json").write_text('{"name": "my app"}')
    args = ["interpolate", str(capture), "-o", str(out), "--method", "linear", "-q"]
    assert cli(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"viewsynth interpolate: error: {out}: holds frames/, manifest.json, not written by "
        "viewsynth, which this run would replace: choose a new or empty output folder, or move them"
    )
    assert (out / "frames" / "000000.png").read_text() == "my photo"
    assert (out / "manifest.json").read_text() == '{"name": "my app"}'
    assert sorted(p.name for p in out.iterdir()) == ["frames", "manifest.json"]
    # a run's own outputs are its to replace: a second run with other settings goes ahead
    ours = ["interpolate", str(capture), "-o", str(tmp_path / "ours"), "--method", "linear", "-q"]
    assert cli(ours) == 0 and cli([*ours, "--factor", "3", "--frames"]) == 0


def test_a_roots_run_does_not_overwrite_a_summary_json_of_the_users_own(tmp_path, capsys):
    root, out = tmp_path / "root", tmp_path / "mine"
    make_capture(root / "a")
    make_capture(root / "b")
    out.mkdir()
    (out / "summary.json").write_text('{"name": "my notes"}')
    (out / "frames").mkdir()  # (a root's run writes no frames/ here: not in its way)
    args = ["interpolate", str(root), "-o", str(out), "--method", "linear", "-q"]
    assert cli(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"viewsynth interpolate: error: {out}: holds summary.json, not written by viewsynth, "
        "which this run would replace: choose a new or empty output folder, or move them"
    )
    assert (out / "summary.json").read_text() == '{"name": "my notes"}'
    assert sorted(p.name for p in out.iterdir()) == ["frames", "summary.json"]
    (out / "summary.json").unlink()
    assert cli(args) == 0 and cli(args) == 0  # its own summary is its to replace
