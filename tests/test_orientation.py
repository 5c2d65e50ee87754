"""A 360 capture's orientation tags: a video's ``prhd`` pose and a photo's GPano pitch and roll turn
each frame on the sphere before anything else sees it (``capture.orientation``)."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from capture_fixtures import DATA, texture
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from test_video360 import tag, write_video

from viewsynth.capture import CaptureOptions, iter_frames, load_capture
from viewsynth.capture.orientation import (
    _maps,
    gpano_orientation,
    prhd_orientation,
    turn_sphere,
)
from viewsynth.warp import seam_remap

GARDEN = DATA / "real360_dev" / "gopro_max_garden_a"
THETA = DATA / "openvslam_pair"
needs_garden = pytest.mark.skipif(
    not GARDEN.is_dir(), reason="../shared/data/real360_dev is absent"
)
needs_theta = pytest.mark.skipif(
    not THETA.is_dir(), reason="../shared/data/openvslam_pair is absent"
)


def garden(count: int, size: tuple[int, int] = (256, 128)) -> list[np.ndarray]:
    """The first ``count`` panoramas of the real GoPro MAX walk, RGB uint8 at ``size``."""
    out = []
    for i in range(1, count + 1):
        image = cv2.imread(str(GARDEN / f"{i:02d}.jpg"))[..., ::-1]
        out.append(np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA)))
    return out


def v360(video, yaw: float, pitch: float, roll: float, size: tuple[int, int]) -> list[np.ndarray]:
    """``video``'s frames turned by FFmpeg's own v360 filter (its yaw, pitch, roll turn the view:
    right, up, counter-clockwise), RGB float in [0, 1]."""
    turn = f"v360=e:e:yaw={yaw}:pitch={pitch}:roll={roll}:interp=linear"
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(video), "-vf", turn]
        + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)
    return [frame.astype(np.float32) / 255.0 for frame in frames]


@needs_garden
@pytest.mark.parametrize(
    "pose", [(30.0, 20.0, -25.0), (0.0, 0.0, 180.0), (90.0, 0.0, 180.0), (-150.0, -40.0, 100.0)]
)
def test_a_pose_box_turns_a_real_360_video_as_ffmpegs_v360_does(tmp_path, pose):
    # A player turns the sphere by sv3d's prhd pose (FFmpeg: yaw moves the front to the right,
    # pitch moves it up, roll tilts it right); the walkthrough walked the frames as stored.
    video = tag(write_video(tmp_path / "posed.mp4", garden(3)), pose=pose)
    capture = load_capture(video, CaptureOptions(duplicate_images=False))  # (01, 02: one spot)
    got = [image for _, image in iter_frames(capture, capture.segments[0], apply_yaw=False)]
    yaw, pitch, roll = pose
    want = v360(video, -yaw, -pitch, -roll, (256, 128))
    stored = v360(video, 0, 0, 0, (256, 128))
    assert len(got) == len(want) == 3
    for image, turned, as_stored in zip(got, want, stored, strict=True):
        assert np.abs(image - turned).mean() * 255.0 < 4.0  # (two bilinear resamplings)
        assert np.abs(as_stored - turned).mean() * 255.0 > 20.0  # (the test can fail)
    assert not any("prhd" in w for w in capture.warnings), capture.warnings


def test_a_yaw_alone_is_a_roll_of_columns_and_a_roll_of_180_a_flip():
    image = texture(128, 64).astype(np.float32) / 255.0
    # prhd yaw 90: what was 90 degrees to the left comes to the front: content 32 columns right
    assert np.array_equal(
        turn_sphere(image, prhd_orientation(90.0, 0.0, 0.0)), np.roll(image, 32, 1)
    )
    assert np.array_equal(turn_sphere(image, prhd_orientation(0.0, 0.0, 180.0)), image[::-1, ::-1])
    # the resampling path wraps longitude: a yaw through it is the same roll (the seam holds)
    map_x, map_y = _maps(128, 64, (-90.0, 0.0, 0.0))
    wrapped = seam_remap(image, map_x, map_y, equirect=True)
    assert np.abs(wrapped - np.roll(image, 32, 1)).max() < 1e-3
    # rolling the input by k columns rolls a yaw's output by k
    turned = turn_sphere(np.roll(image, 7, 1), prhd_orientation(45.0, 0.0, 0.0))
    assert np.array_equal(turned, np.roll(turn_sphere(image, prhd_orientation(45.0, 0, 0)), 7, 1))


def xmp_pose(pitch: float, roll: float) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:GPano="http://ns.google.com/photos/1.0/panorama/" '
        f'GPano:ProjectionType="equirectangular" GPano:PosePitchDegrees="{pitch}" '
        f'GPano:PoseRollDegrees="{roll}"/></rdf:RDF></x:xmpmeta>'
    ).encode()


def test_a_panorama_tagged_upside_down_comes_out_upright(tmp_path):
    # A camera hung under a mount: PoseRollDegrees 180, the picture stored upside down.
    upright = [np.roll(texture(128, 64), 5 * i, axis=1) for i in range(3)]
    folder = tmp_path / "hung"
    folder.mkdir()
    for i, image in enumerate(upright):
        info = PngInfo()  # (Pillow writes a PNG's XMP only as this chunk)
        info.add_itxt("XML:com.adobe.xmp", xmp_pose(0.0, 180.0).decode())
        Image.fromarray(image[::-1, ::-1]).save(folder / f"{i}.png", pnginfo=info)
    capture = load_capture(folder)
    got = [image for _, image in iter_frames(capture, capture.segments[0], apply_yaw=False)]
    for image, want in zip(got, upright, strict=True):
        assert np.abs(image * 255.0 - want).max() < 1.0
    assert all(shot.orientation == (0.0, 0.0, 180.0) for shot in capture.shots)


@needs_theta
def test_gpano_tilt_is_applied_where_it_levels_the_picture_and_left_out_where_it_is_level(
    tmp_path,
):
    # RICOH THETA S photos, stored tilted as their tags say (roll -3.9 and -2.9 degrees).
    names = ["equirectangular_image_001.jpg", "equirectangular_image_002.jpg"]
    tilted = tmp_path / "tilted"
    tilted.mkdir()
    for name in names:
        shutil.copy(THETA / name, tilted / name)
    capture = load_capture(tilted)
    assert [s.orientation is not None for s in capture.shots] == [True, True]
    assert not any("not applied" in w for w in capture.warnings), capture.warnings
    # The same pictures levelled (as a camera that levels its JPEGs would store them), tags kept.
    level = tmp_path / "level"
    level.mkdir()
    tags = {names[0]: (-0.2, -3.9), names[1]: (1.3, -2.9)}
    for name in names:
        image = cv2.imread(str(THETA / name))[..., ::-1].astype(np.float32) / 255.0
        image = turn_sphere(image, gpano_orientation(*tags[name]))
        pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(level / name, quality=95, xmp=xmp_pose(*tags[name]))
    capture = load_capture(level)
    assert [s.orientation for s in capture.shots] == [None, None]
    said = f"{names[0]}, {names[1]}: GPano PosePitchDegrees/PoseRollDegrees not applied: the "
    assert any(w.startswith(said) for w in capture.warnings), capture.warnings
    # One camera, one decision: a third photo that its tag would level is left as the others
    # are, so the horizon does not tilt at one photo of the walk.
    shutil.copy(THETA / names[0], level / "equirectangular_image_003.jpg")
    capture = load_capture(level)
    assert [s.orientation for s in capture.shots] == [None, None, None]
    assert any("(2 of 3 looked level;" in w for w in capture.warnings), capture.warnings
