"""``viewsynth pair``: one or several t, list files checked before any work, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from viewsynth import frames
from viewsynth.pipelines.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


def two_images(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    a = rng.random((32, 48, 3)).astype(np.float32)
    b = rng.random((32, 48, 3)).astype(np.float32)
    frames.write_image(folder / "a.png", a)
    frames.write_image(folder / "b.png", b)
    return folder / "a.png", folder / "b.png"


def test_one_t_writes_out_and_several_write_stems(tmp_path):
    a, b = two_images(tmp_path)
    out = tmp_path / "mid.png"
    assert cli(["pair", str(a), str(b), "-o", str(out), "--method", "linear"]) == 0
    mid = frames.read_image(out).image
    expect = (frames.read_image(a).image + frames.read_image(b).image) / 2
    np.testing.assert_allclose(mid, expect, atol=1 / 255 + 1e-6)
    assert (
        cli(
            [
                "pair",
                str(a),
                str(b),
                "-o",
                str(out),
                "--t",
                "0.25",
                "--t",
                "0.75",
                "--method",
                "linear",
            ]
        )
        == 0
    )
    quarter = frames.read_image(tmp_path / "mid-t0.250.png").image
    np.testing.assert_allclose(
        quarter,
        0.75 * frames.read_image(a).image + 0.25 * frames.read_image(b).image,
        atol=1 / 255 + 1e-6,
    )
    assert (tmp_path / "mid-t0.750.png").exists()


def test_a_portrait_second_image_is_cut_to_the_first_s_shape_not_stretched(tmp_path, caplog):
    a = two_images(tmp_path)[0]  # 48x32 landscape
    rng = np.random.default_rng(1)
    frames.write_image(tmp_path / "tall.png", rng.random((48, 32, 3)).astype(np.float32))
    out = tmp_path / "mid.png"
    assert (
        cli(["pair", str(a), str(tmp_path / "tall.png"), "-o", str(out), "--method", "linear"]) == 0
    )
    tall = frames.read_image(tmp_path / "tall.png").image
    middle = frames.resize(tall[13:34], 48, 32)  # its middle 32x21 rows, the first's 3:2
    expect = (frames.read_image(a).image + middle) / 2
    np.testing.assert_allclose(frames.read_image(out).image, expect, atol=1 / 255 + 1e-6)
    assert "centre-cropped from 32x48 to 32x21 (the aspect ratio of" in caplog.text


def test_a_photo_pair_without_a_focal_length_says_the_60_degrees_geometry_assumes(tmp_path, caplog):
    # The pair said "its default field of view" and recorded none, where a capture says 60.
    a, b = two_images(tmp_path)
    caplog.set_level("INFO")
    assert cli(["pair", str(a), str(b), "-o", str(tmp_path / "m.png"), "--method", "sweep"]) == 0
    assert (
        f"{a}: no focal length in EXIF: geometry assumes a 60 degree horizontal field of view "
        "(the camera's: --hfov DEG)" in (caplog.text)
    )
    by = "default 60 degrees (no focal length in the metadata)"
    assert f"{a}: perspective (shape: not 2:1), hfov 60.0 deg ({by})" in caplog.text
    # The camera's own, given (a capture takes it as capture.hfov; the pair had no way in).
    caplog.clear()
    args = ["pair", str(a), str(b), "-o", str(tmp_path / "m.png"), "--method", "sweep"]
    assert cli([*args, "--hfov", "90"]) == 0
    assert "no focal length in EXIF: geometry assumes" not in caplog.text
    by = "--hfov 90 (no focal length in EXIF)"
    assert f"{a}: perspective (shape: not 2:1), hfov 90.0 deg ({by})" in caplog.text
    proc = _pair_cli(str(a), str(b), "-o", str(tmp_path / "m.png"), "--hfov", "200")
    assert proc.returncode == 2 and "--hfov must be degrees in [1, 180), got 200.0" in proc.stderr


def test_a_2d_network_as_the_photos_network_makes_the_pair(tmp_path):
    # `--photos-weights flow_only.msgpack`: the pair was made, then "KeyError: 'method'" (the 2D
    # network's record of the pair holds no method) ended the job with a traceback.
    from viewsynth.model.weights import FLOW_ONLY_WEIGHTS

    a, b = two_images(tmp_path)
    out = tmp_path / "m.png"
    argv = ["pair", str(a), str(b), "-o", str(out), "--photos-weights", str(FLOW_ONLY_WEIGHTS)]
    assert cli(argv) == 0
    assert frames.read_image(out).image.shape == (32, 48, 3)


def test_list_file_runs_every_line(tmp_path, monkeypatch):
    a, b = two_images(tmp_path)
    listing = tmp_path / "jobs.txt"
    listing.write_text("# img0 img1 out t\n\na.png b.png o1.png\na.png b.png o2.png 0.25\n")
    monkeypatch.chdir(tmp_path)
    assert cli(["pair", "--list", str(listing), "--method", "linear"]) == 0
    assert (tmp_path / "o1.png").exists() and (tmp_path / "o2.png").exists()


def test_bad_list_line_is_reported_before_any_work(tmp_path):
    a, b = two_images(tmp_path)
    listing = tmp_path / "jobs.txt"
    listing.write_text(f"{a} {b} {tmp_path / 'o1.png'}\n{a} {tmp_path / 'nope.png'} o2.png\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "viewsynth.pipelines.cli",
            "pair",
            "--list",
            str(listing),
            "--method",
            "linear",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert f"{listing}:2" in proc.stderr and "nope.png" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o1.png").exists()  # nothing written: line 2 failed the check


def _pair_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``viewsynth pair ARGS --method linear`` in a fresh interpreter, its output captured."""
    cmd = [sys.executable, "-m", "viewsynth.pipelines.cli", "pair", *args, "--method", "linear"]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def test_bad_t_and_unreadable_image(tmp_path):
    a, b = two_images(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    for args, needle in (
        ([str(a), str(b), "-o", str(tmp_path / "m.png"), "--t", "1.5"], "t must be in (0, 1)"),
        ([str(a), str(bad), "-o", str(tmp_path / "m.png")], "bad.png"),
        ([str(a), str(b), "-o", str(tmp_path / "m.gif")], "must end in .png or .jpg"),
    ):
        proc = _pair_cli(*args)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_every_image_is_checked_before_work_and_each_mistake_is_one_plain_line(tmp_path):
    """A list's empty image on line 2 stops the job before line 1 is made; a binary list file, a
    folder given as an image, an output under a file and a panorama paired with a photo are each
    one line naming the problem (no "pair: pair:" doubling, no traceback)."""
    a, b = two_images(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    listing = tmp_path / "jobs.txt"
    listing.write_text(f"{a} {b} {tmp_path / 'o1.png'}\n{a} {tmp_path / 'empty.png'} o2.png\n")
    blocker = tmp_path / "afile"
    blocker.write_text("")
    pano = tmp_path / "pano.png"
    frames.write_image(pano, np.random.default_rng(1).random((32, 64, 3)).astype(np.float32))
    for args, needle in (
        (["--list", str(listing)], f"{listing}:2: {tmp_path / 'empty.png'}: empty file (0 bytes)"),
        (["--list", str(a)], f"{a}: not a text list file"),
        ([str(tmp_path), str(b), "-o", str(tmp_path / "m.png")], f"{tmp_path}: a folder, not an"),
        ([str(a), str(b), "-o", str(blocker / "m.png")], f"{blocker}: not a folder"),
        ([str(pano), str(b), "-o", str(tmp_path / "m.png")], "one kind or set --projection"),
    ):
        proc = _pair_cli(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("viewsynth pair: error: ") and needle in lines[0], lines
        assert "error: pair:" not in lines[0]
    assert not (tmp_path / "o1.png").exists() and not (tmp_path / "m.png").exists()


def _pair_error(capsys, *args: str) -> str:
    """The one line ``viewsynth pair ARGS --method linear`` ends with, in this interpreter."""
    assert cli(["pair", *args, "--method", "linear"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_no_output_overwrites_an_input_or_another_output(tmp_path, monkeypatch, capsys):
    """An output named like an input (however written), two jobs' one output, a t given twice:
    each refused before any work; close times get the digits that tell them apart."""
    a, b = two_images(tmp_path)
    before = a.read_bytes()
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "jobs.txt"
    line = _pair_error(capsys, "a.png", "b.png", "-o", "../" + tmp_path.name + "/a.png")
    assert line.endswith("/a.png: would overwrite the input a.png")
    line = _pair_error(capsys, "a.png", "b.png", "-o", "m.png", "--t", "0.5", "--t", "0.5")
    assert line.endswith("--t: 0.5 is given twice")
    listing.write_text("a.png b.png o.png\na.png b.png m1.png\nb.png a.png o.png 0.25\n")
    line = _pair_error(capsys, "--list", str(listing))
    assert line.endswith(f"{listing}:3: o.png: also the output of {listing}:1")
    (tmp_path / "o.png").write_bytes(before)  # an earlier run's, the input of line 2
    listing.write_text("a.png b.png o.png\no.png b.png m2.png\n")
    line = _pair_error(capsys, "--list", str(listing))
    assert line.endswith(f"{listing}:1: o.png: would overwrite the input o.png (of {listing}:2)")
    assert a.read_bytes() == before == (tmp_path / "o.png").read_bytes()
    assert not list(tmp_path.glob("m*.png"))
    argv = ["pair", "a.png", "b.png", "-o", "m.png", "--t", "0.25", "--t", "0.2501"]
    assert cli([*argv, "--method", "linear"]) == 0
    assert sorted(p.name for p in tmp_path.glob("m-*.png")) == ["m-t0.2500.png", "m-t0.2501.png"]


def test_list_lines_take_quoted_paths_trailing_comments_and_a_bom(tmp_path, monkeypatch):
    a, b = two_images(tmp_path)
    (tmp_path / "my a.png").write_bytes(a.read_bytes())
    listing = tmp_path / "jobs.txt"
    listing.write_bytes(
        b'\xef\xbb\xbfa.png b.png o1.png\r\n"my a.png" b.png "o 2.png" 0.25  # quarter\r\n'
    )
    monkeypatch.chdir(tmp_path)
    assert cli(["pair", "--list", str(listing), "--method", "linear"]) == 0
    assert (tmp_path / "o1.png").exists() and (tmp_path / "o 2.png").exists()


def test_a_later_mixed_pair_stops_the_list_before_the_first_is_made(tmp_path, monkeypatch, capsys):
    a, b = two_images(tmp_path)
    frames.write_image(tmp_path / "pano.png", np.random.default_rng(1).random((32, 64, 3)))
    listing = tmp_path / "jobs.txt"
    listing.write_text("a.png b.png o1.png\na.png pano.png o2.png\n")
    monkeypatch.chdir(tmp_path)
    assert f"{listing}:2: a.png: mixed projections" in _pair_error(capsys, "--list", str(listing))
    assert not (tmp_path / "o1.png").exists()


def test_a_photo_turned_upright_by_its_exif_is_judged_by_its_upright_shape(tmp_path):
    """A 2:1 photo stored on its side (Orientation 6) is 1:2 as read: with a 1:2 photo it is a
    pair of photos, not a panorama mixed with a photo."""
    from PIL import Image

    rng = np.random.default_rng(0)
    stored = Image.fromarray((rng.random((32, 64, 3)) * 255).astype(np.uint8))
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "side.jpg", exif=exif)
    frames.write_image(tmp_path / "upright.png", rng.random((64, 32, 3)))
    assert frames.probe_image(tmp_path / "side.jpg") == (32, 64)
    args = [str(tmp_path / "side.jpg"), str(tmp_path / "upright.png")]
    assert cli(["pair", *args, "-o", str(tmp_path / "mid.png"), "--method", "linear"]) == 0
    assert frames.read_image(tmp_path / "mid.png").image.shape == (64, 32, 3)


def test_panoramas_are_read_upright_by_their_gpano_tags_as_a_capture_reads_them(tmp_path):
    """``pair`` ignored GPano: a pair hung upside down (PoseRollDegrees 180) came out upside
    down (WS-PSNR 10.5 dB against the upright pair's on the sample walk), and a phone's photo
    sphere short of the poles was a photo. Both are now read as ``interpolate`` reads them."""
    from capture_fixtures import texture
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    from test_orientation import xmp_pose

    upright = [np.roll(texture(128, 64), 9 * i, axis=1) for i in range(2)]
    for i, image in enumerate(upright):
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp_pose(0.0, 180.0).decode())
        Image.fromarray(image[::-1, ::-1]).save(tmp_path / f"hung{i}.png", pnginfo=info)
    out = tmp_path / "mid.png"
    args = [str(tmp_path / "hung0.png"), str(tmp_path / "hung1.png"), "-o", str(out)]
    assert cli(["pair", *args, "--method", "linear"]) == 0
    want = (upright[0].astype(np.float32) + upright[1]) / 2.0
    assert np.abs(frames.read_image(out).image * 255.0 - want).max() <= 1.0
    # a photo sphere of rows 16-47 of a 128x64 sphere: put back whole, a panorama
    gpano = xmp_pose(0.0, 0.0).replace(
        b'GPano:PosePitchDegrees="0.0"',
        b'GPano:FullPanoWidthPixels="128" GPano:FullPanoHeightPixels="64" '
        b'GPano:CroppedAreaImageWidthPixels="128" GPano:CroppedAreaImageHeightPixels="32" '
        b'GPano:CroppedAreaLeftPixels="0" GPano:CroppedAreaTopPixels="16"',
    )
    for i, image in enumerate(upright):
        Image.fromarray(image[16:48]).save(tmp_path / f"sphere{i}.jpg", quality=95, xmp=gpano)
    args = [str(tmp_path / "sphere0.jpg"), str(tmp_path / "sphere1.jpg"), "-o", str(out)]
    assert cli(["pair", *args, "--method", "linear"]) == 0
    mid = frames.read_image(out).image
    assert mid.shape == (64, 128, 3) and np.all(mid[:16] == 0) and np.all(mid[48:] == 0)


def test_a_tilted_panorama_pair_is_levelled_by_its_tags(tmp_path):
    """The RICOH THETA S photos, stored tilted as their tags say: levelled as a capture levels
    them (``test_orientation``), where ``pair`` had kept the tilt."""
    import pytest
    from test_orientation import THETA

    from viewsynth.capture.orientation import gpano_orientation, turn_sphere

    if not THETA.is_dir():
        pytest.skip("../shared/data/openvslam_pair is absent")
    names = ["equirectangular_image_001.jpg", "equirectangular_image_002.jpg"]
    tags = {names[0]: (-0.2, -3.9), names[1]: (1.3, -2.9)}  # (their own: pitch, roll)
    out = tmp_path / "mid.png"
    assert (
        cli(["pair", *(str(THETA / n) for n in names), "-o", str(out), "--method", "linear"]) == 0
    )
    level = [
        turn_sphere(frames.read_image(THETA / n).image, gpano_orientation(*tags[n])) for n in names
    ]
    want = frames.to_uint8((level[0] + level[1]) / 2.0).astype(float)
    got = frames.to_uint8(frames.read_image(out).image).astype(float)
    assert np.abs(got - want).mean() < 0.5
