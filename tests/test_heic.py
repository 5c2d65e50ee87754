"""HEIC/HEIF photos (iPhones, Android phones, Canon/Fujifilm .HIF) read as JPEGs are: the same
pixels the right way up, the same tags, the same one-line refusals, 10-bit kept at its precision.

The HEIC files are made here with pillow-heif from real photos: the RICOH THETA S panoramas of
samples/openvslam (their own EXIF, GPS and GPano XMP) and, where ../shared is present, Lund photos
from an iPhone 4S (their own EXIF, GPS and 35 mm focal length, with the capture time an iPhone
writes added from their Mapillary record)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import DATA, SAMPLES
from PIL import Image

from viewsynth import frames
from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.metadata import read_metadata
from viewsynth.errors import FrameError
from viewsynth.heif import heif_opener
from viewsynth.pipelines.cli import main as cli

pillow_heif = pytest.importorskip("pillow_heif")
assert heif_opener()  # Pillow writes HEIF too from here on (the test files are made so)

ROOT = Path(__file__).resolve().parents[1]
THETA = SAMPLES / "openvslam"
LUND = DATA / "lund" / "images"
EXIFTOOL = shutil.which("exiftool")
needs_lund = pytest.mark.skipif(not LUND.is_dir(), reason="../shared/data/lund is absent")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")


def small(photo: Path, width: int = 256) -> tuple[Image.Image, bytes, bytes | None]:
    """The photo's stored pixels at ``width`` (not turned upright), its EXIF and XMP blocks."""
    with Image.open(photo) as im:
        exif, xmp = im.info["exif"], im.info.get("xmp")
        height = round(im.height * width / im.width)
        pixels = im.convert("RGB").resize((width, height), Image.LANCZOS)
    pixels.info.clear()  # (else Pillow and pillow-heif write the source's tags by themselves)
    return pixels, exif, xmp


def save_pair(pixels: Image.Image, exif: bytes, xmp: bytes | None, stem: Path, heic: str = ".HEIC"):
    """The same pixels and tags as a JPEG and as a HEIC (as a phone or a converter writes them)."""
    extra = {"xmp": xmp} if xmp else {}
    jpeg, heif = stem.with_suffix(".jpg"), stem.with_suffix(heic)
    pixels.save(jpeg, exif=exif, quality=95, **extra)
    pixels.save(heif, format="HEIF", exif=exif, quality=95, **extra)
    return jpeg, heif


def phone_exif(photo: Path, orientation: int = 1) -> bytes:
    """A Lund photo's own EXIF with what an iPhone also writes: DateTimeOriginal + SubSec +
    OffsetTime (from the photo's Mapillary capture time and time zone), Make/Model and
    GPSImgDirection (from its Mapillary record), and the Orientation tag."""
    with Image.open(photo) as im:
        exif = im.getexif()
    record = json.loads(exif[0x010E])
    when = datetime.strptime(record["MAPCaptureTime"], "%Y_%m_%d_%H_%M_%S_%f")  # UTC
    local = datetime.fromtimestamp(when.replace(tzinfo=UTC).timestamp() + 7200, UTC)  # GMT+2
    exif[0x010F], exif[0x0110] = record["MAPDeviceMake"], "iPhone 4S"
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = local.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9291] = f"{local.microsecond // 1000:03d}"
    sub[0x9011] = "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[16], gps[17] = "T", round(record["MAPCompassHeading"]["TrueHeading"], 2)
    return exif.tobytes()


def exiftool(path: Path, *tags: str) -> dict:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", *(f"-{t}" for t in tags), str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)[0]


# -- pixels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".heic", ".HEIC", ".heif", ".HIF"])
def test_a_heic_reads_as_the_jpeg_it_was_made_from(tmp_path, suffix):
    pixels, exif, xmp = small(THETA / "equirectangular_image_001.jpg")
    jpeg, heif = save_pair(pixels, exif, xmp, tmp_path / "IMG_0001", suffix)
    assert heif.suffix.lower() in frames.IMAGE_SUFFIXES
    assert frames.probe_image(heif) == (256, 128)
    a, b = frames.read_image(jpeg), frames.read_image(heif)
    assert b.image.shape == a.image.shape == (128, 256, 3) and b.image.dtype == np.float32
    assert 0.0 <= b.image.min() and b.image.max() <= 1.0
    assert np.abs(b.image - a.image).mean() < 0.02 and b.notes == a.notes == []


def test_a_portrait_phone_photo_is_turned_upright_once(tmp_path):
    # As a phone stores a portrait shot: the sensor's landscape pixels, EXIF Orientation 6
    # ("rotate 90 CW to view") and, in the HEIC, the same turn as an irot box. libheif applies the
    # irot; the EXIF tag must not turn it a second time.
    if LUND.is_dir():
        pixels, _, _ = small(LUND / "03.jpg")
        exif = phone_exif(LUND / "03.jpg", orientation=6)
    else:
        pixels, exif, _ = small(THETA / "equirectangular_image_002.jpg")
        tags = Image.Exif()
        tags.load(exif)
        tags[0x0112] = 6
        exif = tags.tobytes()
    jpeg, heif = save_pair(pixels, exif, None, tmp_path / "IMG_0002")
    if EXIFTOOL:  # both markers are in the file, as in an iPhone's HEIC
        tags = exiftool(heif, "Orientation", "Rotation", "ImageWidth", "ImageHeight")
        assert tags["Orientation"] == 6 and tags["Rotation"] == 270  # irot: 270 counter-clockwise
    want = frames.read_image(jpeg)
    got = frames.read_image(heif)
    h, w = pixels.height, pixels.width
    assert want.image.shape == got.image.shape == (w, h, 3)  # portrait
    error = np.abs(got.image - want.image).mean()
    assert error < 0.02
    # Against the wrong ways up (turned twice = upside down, or the other way): far off.
    upside_down = np.rot90(want.image, 2)
    assert np.abs(got.image - upside_down).mean() > 5 * error
    assert got.notes == want.notes == []  # turned upright is normal, not a note (a warning)
    assert frames.probe_image(heif) == frames.probe_image(jpeg) == (h, w)  # both as read: upright


def test_a_10_bit_heic_keeps_its_precision_and_white_is_one(tmp_path):
    # iPhone HDR stills can be 10-bit. pillow-heif's Pillow opener reduces them to 8 bits; its
    # 16-bit output holds v << 6 (white 65472, not 65535).
    ramp = np.zeros((16, 1024, 3), np.uint16)
    ramp[..., 0] = (np.arange(1024) << 6)[None, :]  # every 10-bit level once
    ramp[..., 1] = 65535
    ramp[:8, :, 2] = 40000 >> 6 << 6
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(1024, 16), data=ramp.tobytes())
    heif.save(tmp_path / "hdr.heic", quality=-1, chroma=444)
    assert pillow_heif.open_heif(tmp_path / "hdr.heic").info["bit_depth"] == 10
    if EXIFTOOL:
        assert exiftool(tmp_path / "hdr.heic", "BitDepthLuma")["BitDepthLuma"] == 10
    d = frames.read_image(tmp_path / "hdr.heic")
    assert d.image.shape == (16, 1024, 3) and d.image.dtype == np.float32
    red, green, blue = d.image[4, :, 0], d.image[..., 1], d.image[:8, :, 2]
    assert green.max() == 1.0  # white is 1, not 65472 / 65535 (YCbCr rounding may lose a level)
    np.testing.assert_allclose(green, 1.0, atol=1.01 / 1023)
    np.testing.assert_allclose(blue, (40000 >> 6) / 1023, atol=2 / 1023)
    np.testing.assert_allclose(red, np.arange(1024) / 1023, atol=3 / 1023)
    assert len(np.unique(np.round(red * 1023))) > 600  # far more than 8 bits' 256 levels
    assert d.image.min() >= 0.0 and d.image.max() <= 1.0


def test_a_10_bit_photo_matches_its_8_bit_source(tmp_path):
    pixels, _, _ = small(THETA / "equirectangular_image_001.jpg")
    eight = np.asarray(pixels)
    deep = eight.astype(np.uint16) * 257  # 8 bits widened to 16, saved as 10
    pillow_heif.from_bytes(mode="RGB;16", size=pixels.size, data=deep.tobytes()).save(
        tmp_path / "deep.heic", quality=95
    )
    got = frames.read_image(tmp_path / "deep.heic").image
    assert got.shape == eight.shape
    assert abs(got.mean() - eight.mean() / 255) < 0.01  # not scaled wrongly
    assert np.abs(got - eight / 255).mean() < 0.02


# -- damaged files ------------------------------------------------------------------------------


def _good_heic(path: Path) -> bytes:
    """A HEIC of pixels alone: its image data fills the file, so a cut lands in it. (A photo's
    EXIF block is often stored after the image: cut there, the image is whole, the tags lost.)"""
    pixels, _, _ = small(THETA / "equirectangular_image_001.jpg")
    pixels.save(path, format="HEIF", quality=80)
    return path.read_bytes()


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda data: b"", "empty file (0 bytes)"),
        (lambda data: data[: len(data) // 2], "truncated or corrupt image"),
        (lambda data: data[:600], "truncated or corrupt image"),
        (lambda data: data[:40], "not a readable image"),
        (lambda data: data[:8] + bytes(len(data) - 8), "not a readable image"),
        (lambda data: b"not an image at all" * 10, "not a readable image"),
    ],
    ids=["empty", "half", "header-only", "ftyp-only", "zeroed", "text"],
)
def test_a_damaged_heic_is_one_line_naming_the_file(tmp_path, damage, needle):
    data = _good_heic(tmp_path / "good.heic")
    bad = tmp_path / "IMG_0007.HEIC"
    bad.write_bytes(damage(data))
    with pytest.raises(FrameError) as err:
        frames.read_image(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: ") and needle in message and "\n" not in message
    assert read_metadata(bad).readable is (needle == "truncated or corrupt image")


def test_a_damaged_heic_in_a_capture_is_skipped_and_pair_says_one_line(tmp_path):
    folder = tmp_path / "walk"
    folder.mkdir()
    for i, name in enumerate(("equirectangular_image_001.jpg", "equirectangular_image_002.jpg")):
        pixels, _, _ = small(THETA / name)
        pixels.save(folder / f"IMG_000{i + 1}.HEIC", format="HEIF")
    data = (folder / "IMG_0002.HEIC").read_bytes()
    (folder / "IMG_0003.HEIC").write_bytes(data[: len(data) // 2])
    capture = load_capture(folder, CaptureOptions())
    assert [s.name for seg in capture.segments for s in seg] == ["IMG_0001.HEIC", "IMG_0002.HEIC"]
    ((name, reason),) = capture.skipped
    assert name == "IMG_0003.HEIC" and reason.startswith("truncated or corrupt image")
    proc = subprocess.run(
        [sys.executable, "-m", "viewsynth.pipelines.cli", "pair", str(folder / "IMG_0001.HEIC"),
         str(folder / "IMG_0003.HEIC"), "-o", str(tmp_path / "mid.png"), "--method", "linear"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert f"{folder / 'IMG_0003.HEIC'}: truncated or corrupt image" in line


def test_a_heic_cut_off_after_its_image_says_which_tags_it_lost(tmp_path, caplog):
    # A phone stores the EXIF (and XMP) after the image data: cut there, the file decoded whole
    # and its time, GPS and GPano tags were gone without a word.
    folder = tmp_path / "walk"
    folder.mkdir()
    for i, name in enumerate(("equirectangular_image_001.jpg", "equirectangular_image_002.jpg")):
        pixels, exif, xmp = small(THETA / name)
        save_pair(pixels, exif, xmp, folder / f"IMG_000{i + 1}")
        (folder / f"IMG_000{i + 1}.jpg").unlink()
    cut = folder / "IMG_0002.HEIC"
    data = cut.read_bytes()
    exif_at, xmp_at = data.index(exif[6:40]), data.index(b"<x:xmpmeta")
    assert 0 < exif_at < xmp_at  # (after the image, as a phone writes it)
    note = (
        "cut short after its image: its EXIF and XMP are lost (time, GPS, camera and focal "
        "length; panorama (GPano) tags)"
    )
    for at, said in ((xmp_at + 10, note.replace("EXIF and XMP are", "XMP is").replace(
        "time, GPS, camera and focal length; ", "")), (exif_at + 10, note)):  # fmt: skip
        cut.write_bytes(data[:at])
        assert frames.read_image(cut).notes == [said]
    assert frames.read_image(folder / "IMG_0001.HEIC").notes == []
    capture = load_capture(folder, CaptureOptions(duplicate_images=False))
    assert f"{note}: IMG_0002.HEIC" in capture.warnings
    assert [s.name for seg in capture.segments for s in seg] == ["IMG_0001.HEIC", "IMG_0002.HEIC"]
    caplog.set_level("INFO")
    out = str(tmp_path / "mid.png")
    assert (
        cli(["pair", str(folder / "IMG_0001.HEIC"), str(cut), "-o", out, "--method", "linear"]) == 0
    )
    assert f"{cut}: {note}" in caplog.text


# -- tags ---------------------------------------------------------------------------------------


@needs_exiftool
def test_a_360_heic_has_its_cameras_tags_and_is_equirect_by_its_xmp(tmp_path):
    pixels, exif, xmp = small(THETA / "equirectangular_image_001.jpg")
    jpeg, heif = save_pair(pixels, exif, xmp, tmp_path / "R0010001")
    tags = exiftool(heif, "DateTimeOriginal", "GPSLatitude", "GPSImgDirection", "Model",
                    "ProjectionType", "PoseHeadingDegrees", "FocalLength")  # fmt: skip
    assert tags["Model"] == "RICOH THETA S" and tags["ProjectionType"] == "equirectangular"
    assert tags["GPSImgDirection"] == 135 and tags["PoseHeadingDegrees"] == 135
    meta = read_metadata(heif)
    assert meta == read_metadata(jpeg)
    assert meta.projection_tag == "equirectangular" and meta.photo_sphere
    assert meta.camera == "RICOH THETA S" and meta.focal_mm == 1.31
    assert (meta.heading, meta.heading_tag) == (135.0, "gpano")
    assert meta.gps_time == datetime(2018, 7, 11, 15, 26, 1, tzinfo=UTC).timestamp()
    assert meta.exif_time == datetime(2018, 7, 11, 15, 26, 10, tzinfo=UTC).timestamp()
    assert meta.lat == pytest.approx(35 + 9 / 60 + 19.14 / 3600)
    assert meta.lon == pytest.approx(136 + 57 / 60 + 58.83 / 3600)
    # Two such HEICs are a 360 capture by their XMP (a perspective-looking crop of the
    # panorama would be too: metadata decides first).
    folder = tmp_path / "walk"
    folder.mkdir()
    for i, name in enumerate(("equirectangular_image_001.jpg", "equirectangular_image_002.jpg")):
        pixels, exif, xmp = small(THETA / name)
        pixels.save(folder / f"R001000{i}.heic", format="HEIF", exif=exif, xmp=xmp)
    capture = load_capture(folder, CaptureOptions())
    assert capture.projection == "equirect"
    assert capture.projection_by.startswith("XMP GPano ProjectionType=equirectangular")


@needs_lund
@needs_exiftool
def test_a_phone_heic_has_the_time_place_heading_and_focal_length_of_the_jpeg(tmp_path):
    pixels, _, _ = small(LUND / "01.jpg")
    jpeg, heif = save_pair(pixels, phone_exif(LUND / "01.jpg"), None, tmp_path / "IMG_1234")
    tags = exiftool(heif, "DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal",
                    "GPSLatitude", "GPSLongitude", "GPSImgDirection", "FocalLengthIn35mmFormat",
                    "FocalLength", "Make", "Model")  # fmt: skip
    assert (
        tags["DateTimeOriginal"] == "2014:06:07 12:24:05" and tags["OffsetTimeOriginal"] == "+02:00"
    )
    assert str(tags["SubSecTimeOriginal"]) == "656" and tags["FocalLengthIn35mmFormat"] == 35
    assert (tags["Make"], tags["Model"]) == ("Apple", "iPhone 4S")
    assert tags["GPSLatitude"] == pytest.approx(55.698167, abs=1e-6)
    meta = read_metadata(heif)
    assert meta == read_metadata(jpeg)
    assert meta.exif_time == pytest.approx(1402136645.656) and meta.exif_offset == 7200
    assert meta.exif_time == pytest.approx(meta.mapillary_time)  # the same instant, two tags
    assert (meta.lat, meta.lon) == pytest.approx((55.698167, 13.195389), abs=1e-6)
    assert (meta.heading, meta.heading_tag) == (179.22, "gps")
    assert meta.focal_35mm == 35 and meta.camera == "Apple iPhone 4S"
    # 35 mm on the 43.3 mm diagonal of a 4:3 photo: 52.6 degrees across
    assert np.degrees(2 * np.arctan(128 / meta.focal_px(256, 192))) == pytest.approx(
        52.62, abs=0.01
    )


# -- whole jobs ---------------------------------------------------------------------------------


def test_pair_reads_heic_photos(tmp_path):
    names = ("equirectangular_image_001.jpg", "equirectangular_image_002.jpg")
    paths = []
    for i, name in enumerate(names):
        pixels, exif, xmp = small(THETA / name)
        paths.append(save_pair(pixels, exif, xmp, tmp_path / f"R{i}", (".heic", ".HIF")[i])[1])
    out = tmp_path / "mid.png"
    assert cli(["pair", *map(str, paths), "-o", str(out), "--method", "linear"]) == 0
    # read as a capture reads them: upright by their GPano tilt where it levels them
    from viewsynth.capture.orientation import gpano_orientation, upright

    tilts = [gpano_orientation(m.pose_pitch, m.pose_roll) for m in map(read_metadata, paths)]
    (a, b), _ = upright([frames.read_image(p).image for p in paths], tilts)
    np.testing.assert_allclose(frames.read_image(out).image, (a + b) / 2, atol=1 / 255 + 1e-6)


@needs_lund
def test_a_phone_capture_as_heic_gives_the_manifest_of_the_same_photos_as_jpeg(tmp_path):
    for kind in ("jpeg", "heic"):
        (tmp_path / kind).mkdir()
    for i in (1, 2, 3, 4):
        photo = LUND / f"{i:02d}.jpg"
        pixels, _, _ = small(photo)
        stem = f"IMG_{1230 + i}"
        jpeg, heif = save_pair(pixels, phone_exif(photo), None, tmp_path / stem)
        jpeg.rename(tmp_path / "jpeg" / jpeg.name)
        heif.rename(tmp_path / "heic" / heif.name)
    manifests = {}
    for kind in ("jpeg", "heic"):
        out = tmp_path / f"out-{kind}"
        args = [tmp_path / kind, "-o", out, "--method", "linear", "--factor", "2",
                "--set", "capture.max_width=256", "-q"]  # fmt: skip
        assert cli(["interpolate", *map(str, args)]) == 0
        manifests[kind] = json.loads((out / "manifest.json").read_text())
    jpeg, heif = manifests["jpeg"], manifests["heic"]
    assert heif["projection"] == jpeg["projection"] == "perspective"
    assert heif["hfov"] == pytest.approx(jpeg["hfov"]) and heif["hfov_by"] == jpeg["hfov_by"]
    assert heif["hfov"] == pytest.approx(52.62, abs=0.01)
    rows = {
        kind: [r for seg in m["segments"] for r in seg["frames"]] for kind, m in manifests.items()
    }
    assert len(rows["heic"]) == len(rows["jpeg"]) == 7  # 3 pairs x 2 + the last photo
    for a, b in zip(rows["jpeg"], rows["heic"], strict=True):
        assert [Path(s).stem for s in a["src"]] == [Path(s).stem for s in b["src"]]
        assert b["src"][0].endswith(".HEIC") and a["t"] == b["t"]
        assert a.get("utc") == b.get("utc") and "utc" in b
        for key in ("lat", "lon", "heading"):
            assert b[key] == pytest.approx(a[key], abs=1e-9), key
    assert heif["time_source"] == jpeg["time_source"]
    assert rows["heic"][0]["utc"].startswith("2014-06-07T10:24:05.656")
