"""Which projection a capture is (metadata, then the seam's content, then the shape) and its hfov."""

from __future__ import annotations

import json
import logging
import math

import cv2
import numpy as np
import pytest
from capture_fixtures import DATA, SAMPLES, texture, write_image
from PIL import Image

from viewsynth import frames
from viewsynth.capture import (
    CaptureOptions,
    decide_projection,
    iter_frames,
    load_capture,
    seam_score,
)
from viewsynth.capture.projection import (
    PANORAMA_BELOW,
    PERSPECTIVE_ABOVE,
    VideoCamera,
    decide_images,
    read_video_camera,
    video_evidence,
    video_hfov,
)
from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.export.spherical import add_spherical_metadata
from viewsynth.export.video import VideoWriter
from viewsynth.interpolators import Linear
from viewsynth.walkthrough.run import run_capture
from viewsynth.walkthrough.settings import InterpolateSettings

HEROMODE = DATA / "gopro_gpmf" / "max-heromode.mp4"
DEFAULT_BY = "default 60 degrees (no focal length in the metadata)"


def flat_crop(width: int, height: int, seed: int = 0, shift: int = 0) -> np.ndarray:
    """A 2:1 uint8 view cut out of a wider scene (``shift`` pixels further right): its left and
    right edges are not neighbours."""
    return texture(3 * width, height, seed)[:, width + shift : 2 * width + shift]


def write_photo(path, pixels, *, f35=None, focal=None, plane_res=None, make=None, model=None):
    """A JPEG with EXIF focal-length and camera tags (as a phone or camera writes them)."""
    exif = Image.Exif()
    if make is not None:
        exif[0x010F], exif[0x0110] = make, model
    sub = exif.get_ifd(0x8769)
    if f35 is not None:
        sub[0xA405] = f35
    if focal is not None:
        sub[0x920A] = focal
    if plane_res is not None:
        sub[0xA20E], sub[0xA210], sub[0xA002] = plane_res, 4, pixels.shape[1]  # px per mm
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    return path


# -- the seam score -----------------------------------------------------------------------------


def test_seam_score_is_about_one_on_a_panorama_at_any_roll_and_high_on_a_crop():
    pano = texture(256, 128, seed=1)
    scores = [seam_score(np.roll(pano, shift, axis=1)) for shift in (0, 37, 128, 200)]
    assert all(s < PANORAMA_BELOW for s in scores), scores
    crop = flat_crop(256, 128, seed=1)
    assert seam_score(crop) > PERSPECTIVE_ABOVE
    # float and uint8 frames score alike; a frame without texture gives no evidence
    assert seam_score(crop.astype(np.float32) / 255) == pytest.approx(seam_score(crop), rel=1e-4)
    assert seam_score(np.full((32, 64, 3), 0.5, np.float32)) is None


def test_a_panorama_softer_than_its_pixels_is_still_a_panorama():
    """A 5.7K panorama is often enlarged (by the camera, or by hand): its neighbouring columns
    then differ little beside an unchanged seam. Scored at 1024 columns it stays one."""
    pano = texture(1024, 512, seed=2)
    big = cv2.resize(pano, (4096, 2048), interpolation=cv2.INTER_CUBIC)  # uint8, saturated
    assert seam_score(big) < PANORAMA_BELOW
    assert seam_score(big) == pytest.approx(seam_score(pano), rel=0.25)
    assert seam_score(big[:, : 4096 - 700]) > PERSPECTIVE_ABOVE  # cut: no longer a panorama


# -- folders of photos --------------------------------------------------------------------------


def test_xmp_gpano_makes_an_equirect_capture_whatever_its_content(tmp_path):
    for i in range(3):  # a seam that does not meet: only the tags say panorama
        write_image(tmp_path / f"p{i}.jpg", flat_crop(64, 32, i), pose_heading=10.0 * i)
    capture = load_capture(tmp_path)
    assert capture.projection == "equirect"
    assert capture.projection_by == "XMP GPano ProjectionType=equirectangular (3 of 3 frames)"


def test_a_360_camera_in_exif_makes_an_equirect_capture(tmp_path):
    for i in range(2):
        write_photo(
            tmp_path / f"t{i}.jpg", flat_crop(64, 32, i), make="RICOH", model="RICOH THETA Z1"
        )
    capture = load_capture(tmp_path)
    assert (capture.projection, capture.projection_by) == (
        "equirect",
        "EXIF camera RICOH THETA Z1 (a 360 camera) (2 of 2 frames)",
    )


def test_untagged_2to1_crops_are_perspective_by_content(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"c{i}.jpg", flat_crop(128, 64, i))
    capture = load_capture(tmp_path)
    assert capture.projection == "perspective"
    assert capture.projection_by.startswith("content: seam score ")
    assert capture.working_size == (128, 64)
    assert all(s.yaw == 0.0 and s.rotation is None for s in capture.shots)


def test_the_shipped_sample_panorama_is_equirect_by_content(tmp_path):
    sample = sorted((SAMPLES / "fusion_forest").glob("*.jpg"))[:3]
    for path in sample:  # no EXIF or XMP: the pixels alone
        frames.write_image(tmp_path / path.name, frames.read_image(path).image)
    capture = load_capture(tmp_path)
    assert capture.projection == "equirect"
    assert capture.projection_by.startswith("content: seam score ")


@pytest.mark.skipif(not (DATA / "lund").is_dir(), reason="needs ../shared/data")
def test_a_real_street_photo_cut_to_2to1_is_perspective(tmp_path):
    for path in sorted((DATA / "lund" / "images").glob("*.jpg"))[:3]:
        image = frames.read_image(path).image  # 1024x768 -> 1024x512 crop, tags dropped
        frames.write_image(tmp_path / f"{path.stem}.png", image[128:640])
    capture = load_capture(tmp_path)
    assert capture.projection == "perspective", capture.projection_by


def test_projection_option_overrides_every_evidence(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"p{i}.jpg", texture(64, 32, i), pose_heading=0.0)
    capture = load_capture(tmp_path, CaptureOptions(projection="perspective"))
    assert (capture.projection, capture.projection_by) == ("perspective", "--projection")


def test_a_360_cameras_partial_panorama_is_read_as_a_photo_and_said(tmp_path):
    # a THETA's sphere cropped to 1024x484 (GPano crop fields): not the whole sphere
    evidence = ("equirect", "EXIF camera RICOH THETA S (a 360 camera)")
    sizes = [("R1.JPG", (1024, 484)), ("R2.JPG", (1024, 484))]
    decision = decide_projection(tmp_path / "walk", sizes, [evidence, evidence], [None, None])
    assert (decision.projection, decision.by) == ("perspective", "shape: not 2:1")
    assert decision.warning == (
        "walk: R1.JPG is tagged a panorama (EXIF camera RICOH THETA S (a 360 camera)) but is not "
        "2:1: read as an ordinary photo (a part of a sphere? export the whole sphere, 2:1, to walk "
        "it in 360)"
    )
    # photos that say nothing of a sphere: no word
    assert decide_projection(tmp_path, sizes, [None, None], [None, None]).warning is None


def test_weak_content_evidence_falls_back_to_the_shape_with_one_warning(tmp_path):
    decision = decide_projection(
        tmp_path / "walk", [("a.jpg", (64, 32)), ("b.jpg", (64, 32))], [None, None], [2.4, 2.6]
    )
    assert decision.projection == "equirect"
    assert decision.by.startswith("shape: 2:1 (weak content evidence: seam score 2.50")
    assert decision.warning.startswith("walk: taken as an equirect panorama by its 2:1 shape")
    assert "seam score 2.50" in decision.warning
    # a textureless capture says nothing either; a clear one gives no warning
    assert decide_projection(tmp_path, [("a", (64, 32))], [None], [None]).warning
    assert decide_projection(tmp_path, [("a", (64, 32))], [None], [9.0]).warning is None
    # and through load_capture: flat grey frames warn once, naming the capture
    folder = tmp_path / "grey"
    folder.mkdir()
    for i in range(2):
        write_image(folder / f"g{i}.jpg", np.full((32, 64, 3), 128, np.uint8))
    options = CaptureOptions(duplicate_images=False)  # (one grey twice: a stop, else)
    warned = [w for w in load_capture(folder, options).warnings if "taken as an equirect" in w]
    assert len(warned) == 1 and warned[0].startswith("grey: ")


def test_mixed_shapes_are_still_an_error(tmp_path):
    with pytest.raises(ViewsynthError, match="mixed projections: b.jpg"):
        decide_projection(tmp_path, [("a.jpg", (64, 32)), ("b.jpg", (48, 32))], [None] * 2, [1.0])


# -- field of view ------------------------------------------------------------------------------


def test_exif_focal_length_gives_each_shot_its_hfov(tmp_path):
    pixels = texture(96, 64, seed=2)  # 3:2, as a 35 mm frame
    write_photo(tmp_path / "a.jpg", pixels, f35=35)
    write_photo(tmp_path / "b.jpg", texture(96, 64, seed=3), f35=35)
    capture = load_capture(tmp_path)
    want = math.degrees(2 * math.atan(36 / (2 * 35)))  # 54.43 deg
    assert capture.projection == "perspective"
    assert [s.hfov for s in capture.shots] == pytest.approx([want, want], abs=0.05)
    assert capture.hfov_by == "EXIF FocalLengthIn35mmFilm"
    # FocalLength with the focal-plane resolution: 4 mm at 250 px/mm is 1000 px
    other = tmp_path / "plane"
    other.mkdir()
    for i in range(2):
        write_photo(other / f"{i}.jpg", texture(96, 64, seed=i), focal=4.0, plane_res=250.0)
    capture = load_capture(other)
    assert capture.hfov == pytest.approx(math.degrees(2 * math.atan(48 / 1000)), abs=0.01)
    assert capture.hfov_by == "EXIF FocalLength/FocalPlane"


def test_no_focal_length_warns_once_and_panoramas_have_none(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"{i}.jpg", texture(48, 32, i))
    capture = load_capture(tmp_path)
    # the field of view its pairs get (the geometry's default), said as such
    assert (capture.hfov, capture.hfov_by) == (60.0, DEFAULT_BY)
    assert sum("no focal length" in w for w in capture.warnings) == 1
    pano = tmp_path / "pano"
    pano.mkdir()
    for i in range(2):
        write_photo(pano / f"{i}.jpg", texture(64, 32, i), f35=35)
    capture = load_capture(pano)
    assert capture.projection == "equirect" and capture.hfov is None
    assert not any("no focal length" in w for w in capture.warnings)


@pytest.mark.skipif(not (DATA / "lund").is_dir(), reason="needs ../shared/data")
def test_lund_exif_focal_length():
    capture = load_capture(DATA / "lund" / "images")
    # FocalLengthIn35mmFilm 35 on 1024x768 frames, matched on the diagonal: 52.6 deg
    assert capture.hfov == pytest.approx(52.6, abs=0.1)


# -- the walkthrough manifest and the interpolator's hfov ---------------------------------------


class Recording(Linear):
    """Linear, remembering the keywords of each call."""

    def __init__(self):
        self.calls = []

    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        self.calls.append({"equirect": equirect, "hfov": hfov})
        return super().__call__(img0, img1, times, equirect=equirect, hfov=hfov)


def test_manifest_records_the_decision_and_the_pairs_get_hfov(tmp_path):
    cap = tmp_path / "cap"
    cap.mkdir()
    for i in range(3):
        write_photo(cap / f"{i}.jpg", flat_crop(128, 64, shift=2 * i), f35=28)
    interp = Recording()
    settings = InterpolateSettings(method="linear", factor=2)
    assert run_capture(cap, tmp_path / "out", settings, interpolator=interp).status == "done"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["projection"] == "perspective"
    assert manifest["projection_by"].startswith("content: seam score ")
    # 28 mm equivalent on a 2:1 frame, matched on the diagonal
    want = math.degrees(2 * math.atan(64 / (28 / math.hypot(36, 24) * math.hypot(128, 64))))
    assert manifest["hfov"] == pytest.approx(want, abs=1e-3)
    assert manifest["hfov_by"] == "EXIF FocalLengthIn35mmFilm"
    assert len(interp.calls) == 2
    assert all(c == {"equirect": False, "hfov": pytest.approx(want)} for c in interp.calls)


def test_a_wider_photo_is_cut_to_the_capture_s_shape_and_its_hfov_narrows(tmp_path):
    # a 4:3 photo first (the working size), then two 16:9 ones of the same camera (28 mm)
    cap = tmp_path / "cap"
    cap.mkdir()
    scene = texture(256, 36, seed=4)
    write_photo(cap / "0.jpg", scene[:, 100:148], f35=28)
    for i in (1, 2):
        write_photo(cap / f"{i}.jpg", scene[:, 92 + 2 * i : 156 + 2 * i], f35=28)
    interp = Recording()
    first = CaptureOptions(working_size="first", duplicate_images=False)  # (a 1 degree pan)
    settings = InterpolateSettings(method="linear", factor=2, capture=first)
    assert run_capture(cap, tmp_path / "out", settings, interpolator=interp).status == "done"
    # the focal length in pixels stays; the crop keeps 48 of the 64 columns
    focal_4_3 = 28 / math.hypot(36, 24) * math.hypot(48, 36)
    focal_16_9 = 28 / math.hypot(36, 24) * math.hypot(64, 36)
    landscape = math.degrees(2 * math.atan(24 / focal_4_3))
    cropped = math.degrees(2 * math.atan(24 / focal_16_9))  # 34.1 deg, not its whole 44.0
    capture = load_capture(cap, first)
    assert [s.hfov for s in capture.shots] == pytest.approx([landscape, cropped, cropped])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["hfov"] == pytest.approx(cropped, abs=1e-3)  # the median of the three
    assert [c["hfov"] for c in interp.calls] == pytest.approx([(landscape + cropped) / 2, cropped])
    # its middle 48 columns, as they are: the working size's shape and size already
    wide = frames.read_image(cap / "1.jpg").image
    _, image = list(iter_frames(capture, capture.segments[0]))[1]
    np.testing.assert_array_equal(image, wide[:, 8:56])
    assert (
        "photos of another aspect ratio centre-cropped to 4:3, not stretched, then resized to the "
        "working size 48x36: 1.jpg (64x36: kept 48x36, 75%), 2.jpg (64x36: kept 48x36, 75%)"
        in capture.warnings
    )
    # ``viewsynth pair`` gives the pair the same field of view: the second cut to the first's shape
    _, hfov, _ = decide_images(
        [cap / "0.jpg", cap / "1.jpg"], [frames.read_image(cap / "0.jpg").image, wide]
    )
    assert hfov == pytest.approx((landscape + cropped) / 2)


def test_panorama_manifest_has_no_hfov(tmp_path):
    cap = tmp_path / "cap"
    cap.mkdir()
    for i in range(2):
        write_image(cap / f"{i}.jpg", np.roll(texture(64, 32), 2 * i, axis=1))
    interp = Recording()
    settings = InterpolateSettings(method="linear", factor=2)
    assert run_capture(cap, tmp_path / "out", settings, interpolator=interp).status == "done"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["projection"] == "equirect" and "hfov" not in manifest
    assert interp.calls == [{"equirect": True, "hfov": None}]


# -- videos -------------------------------------------------------------------------------------


def write_video(path, images):
    with VideoWriter(path, 10, quality=9) as writer:
        for image in images:
            writer.write(image)
    return path


def test_photos_and_a_video_without_focal_length_record_the_default_they_used(tmp_path):
    # The warning says 60 degrees are assumed: the manifest says the same, for either kind.
    images = [flat_crop(128, 64, shift=2 * i) for i in range(3)]
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(images):
        write_image(photos / f"{i}.jpg", image)
    video = write_video(tmp_path / "clip.mp4", images)
    settings = InterpolateSettings(method="linear", factor=2)
    for source in (photos, video):
        out = tmp_path / f"out-{source.name}"
        assert run_capture(source, out, settings).status == "done"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["projection"] == "perspective"
        assert (manifest["hfov"], manifest["hfov_by"]) == (60.0, DEFAULT_BY)
        assert any(
            "assumes a 60 degree horizontal field of view" in w for w in manifest["warnings"]
        )


def test_the_cameras_field_of_view_can_be_given_where_no_metadata_has_it(tmp_path):
    # A dashcam's or phone video's field of view (often 120-140 degrees) had no way in: the
    # warning said 60 were assumed and no setting changed it. capture.hfov gives it; metadata,
    # where there is some, still decides.
    images = [flat_crop(128, 64, shift=2 * i) for i in range(3)]
    video = write_video(tmp_path / "clip.mp4", images)
    given = CaptureOptions(hfov=120.0)
    capture = load_capture(video, given)
    assert capture.hfov == 120.0 and {s.hfov for s in capture.shots} == {120.0}
    assert capture.hfov_by == "capture.hfov=120 (no focal length in the metadata)"
    assert not any("focal length" in w for w in capture.warnings), capture.warnings
    (said,) = [w for w in load_capture(video).warnings if "focal length" in w]
    assert said.endswith("(the camera's: --set capture.hfov=DEGREES)")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        write_photo(photos / f"{i}.jpg", texture(48, 32, i), f35=35)
    assert load_capture(photos, given).hfov_by == "EXIF FocalLengthIn35mmFilm"
    write_image(photos / "2.jpg", texture(48, 32, 2))  # (a photo without: the given one)
    hfovs = [s.hfov for s in load_capture(photos, given).shots]
    assert hfovs[:2] == [pytest.approx(54.43, abs=0.01)] * 2 and hfovs[2] == 120.0
    with pytest.raises(ConfigError, match=r"hfov must be 0 \(unknown\) or degrees in \[1, 180\)"):
        CaptureOptions(hfov=180.0)


def test_video_spherical_v2_metadata_beats_the_content(tmp_path):
    images = [flat_crop(128, 64, shift=2 * i) for i in range(3)]
    plain = write_video(tmp_path / "plain.mp4", images)
    capture = load_capture(plain)
    assert capture.projection == "perspective"
    assert capture.projection_by.startswith("content: seam score ")
    tagged = write_video(tmp_path / "tagged.mp4", images)
    add_spherical_metadata(tagged, v1=False, v2=True)
    capture = load_capture(tagged)
    assert (capture.projection, capture.projection_by) == (
        "equirect",
        "Spherical Video V2 (sv3d equirectangular)",
    )


def test_gopro_settings_decide_a_video_and_its_hfov():
    flat = VideoCamera(camera="GoPro Max", gopro_projection="GPRO", lens_mode="W", diagonal_fov=120)
    assert video_evidence(flat) == ("perspective", "GPMF PRJT=GPRO (GoPro Max flat HERO mode)")
    assert video_evidence(VideoCamera(camera="GoPro Max"))[0] == "equirect"
    assert video_evidence(VideoCamera(camera="HERO9 Black")) is None
    # Wide (fisheye, equidistant): the pinhole with its centre's focal length, the half diagonal
    # of 1000 px over 60 degrees; Linear (pinhole): the tangent scales
    hfov, source = video_hfov(flat, (1600, 1200))
    focal = 1000 / math.radians(60)
    assert hfov == pytest.approx(2 * math.degrees(math.atan(800 / focal))) and "Wide" in source
    linear = VideoCamera(lens_mode="L", diagonal_fov=90.0)
    assert video_hfov(linear, (1600, 1200))[0] == pytest.approx(2 * math.degrees(math.atan(0.8)))
    assert video_hfov(VideoCamera(), (1600, 1200)) == (None, "unknown")


@pytest.mark.skipif(not HEROMODE.is_file(), reason="needs ../shared/data")
def test_gopro_max_in_hero_mode_is_perspective(caplog):
    camera = read_video_camera(HEROMODE)
    assert (camera.camera, camera.gopro_projection, camera.lens_mode) == ("GoPro Max", "GPRO", "W")
    assert camera.diagonal_fov == pytest.approx(137.4, abs=0.05)
    capture = load_capture(HEROMODE, CaptureOptions(every_seconds=4.0))
    assert capture.projection == "perspective"
    assert capture.projection_by.startswith("GPMF PRJT=GPRO (GoPro Max flat HERO mode)")
    focal = 0.5 * math.hypot(848, 480) / math.radians(137.4 / 2)  # the fisheye centre's
    assert capture.hfov == pytest.approx(2 * math.degrees(math.atan(424 / focal)), abs=0.1)  # 92.4


# -- viewsynth pair ------------------------------------------------------------------------------


def test_pair_decides_as_a_capture_does(tmp_path, caplog):
    from viewsynth.pipelines.cli import main as cli

    pano = texture(128, 64)
    for name, pair in (
        ("crop", (flat_crop(128, 64), flat_crop(128, 64, shift=2))),
        ("pano", (pano, np.roll(pano, 2, axis=1))),
    ):
        for i, image in enumerate(pair):
            write_photo(tmp_path / f"{name}{i}.jpg", image, f35=35)
        args = [str(tmp_path / f"{name}{i}.jpg") for i in (0, 1)]
        with caplog.at_level(logging.INFO, logger="viewsynth"):
            assert (
                cli(["pair", *args, "-o", str(tmp_path / f"{name}.png"), "--method", "linear"]) == 0
            )
    assert "crop0.jpg: perspective (content: seam score" in caplog.text
    assert "hfov" in caplog.text
    assert "pano0.jpg: equirect (content: seam score" in caplog.text


def test_a_phone_photo_sphere_short_of_the_poles_is_put_back_whole(tmp_path):
    # A phone's photo sphere: all the way round, rows 24-103 of a 256x128 sphere (GPano's crop).
    from PIL import Image

    from viewsynth.capture import iter_frames, read_metadata

    gpano = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
        'syntax-ns#"><rdf:Description xmlns:GPano="http://ns.google.com/photos/1.0/panorama/" '
        'GPano:ProjectionType="equirectangular" GPano:UsePanoramaViewer="True" '
        'GPano:FullPanoWidthPixels="256" GPano:FullPanoHeightPixels="128" '
        'GPano:CroppedAreaImageWidthPixels="256" GPano:CroppedAreaImageHeightPixels="80" '
        'GPano:CroppedAreaLeftPixels="0" GPano:CroppedAreaTopPixels="24"/></rdf:RDF></x:xmpmeta>'
    )
    bands = []
    for i in range(3):
        band = (np.roll(texture(256, 80, 0), 9 * i, axis=1) * 255).astype(np.uint8)
        Image.fromarray(band).save(tmp_path / f"PANO_{i}.jpg", quality=95, xmp=gpano.encode())
        bands.append(band)
    capture = load_capture(tmp_path, CaptureOptions(duplicate_distance=0, align_heading=False))
    assert (capture.projection, capture.working_size) == ("equirect", (256, 128))
    assert capture.projection_by.startswith("XMP GPano ProjectionType=equirectangular")
    shot, image = next(iter_frames(capture, capture.segments[0]))
    assert shot.size == (256, 128) and shot.sphere_rows == (24.0, 80.0, 128.0)
    assert np.all(image[:24] == 0) and np.all(image[104:] == 0)  # the rows never shot
    assert np.abs(image[24:104] - bands[0] / 255.0).mean() < 0.02  # the band in its place
    # a camera that writes only the heights' fields: the whole way round all the same
    heights = gpano.replace('GPano:FullPanoWidthPixels="256" ', "").replace(
        'GPano:CroppedAreaImageWidthPixels="256" ', ""
    )
    Image.fromarray(bands[0]).save(tmp_path / "h.jpg", xmp=heights.encode())
    assert read_metadata(tmp_path / "h.jpg").sphere_rows == (24.0, 80.0, 128.0)
    # and a crop of part of the way round is no such sphere (it has no seam to close)
    part = gpano.replace('CroppedAreaImageWidthPixels="256"', 'CroppedAreaImageWidthPixels="200"')
    Image.fromarray(bands[0]).save(tmp_path / "p.jpg", xmp=part.encode())
    assert read_metadata(tmp_path / "p.jpg").sphere_rows is None
