"""A 360 camera's exported MP4 as a capture: its spherical boxes' stereo layout and projection."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from capture_fixtures import texture

from viewsynth.capture import iter_frames, load_capture
from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import rewrite_moov, video_track
from viewsynth.export.spherical import add_spherical_metadata
from viewsynth.export.video import VideoWriter


def write_video(path, images):
    with VideoWriter(path, 10, quality=9) as writer:
        for image in images:
            writer.write(image)
    return path


def tag(path, *, stereo: int = 0, projection: str = "equi", pose=(0.0, 0.0, 0.0)):
    """Mark ``path`` as 360 (V2 only), then set its ``st3d`` stereo mode, ``proj`` kind and
    ``prhd`` pose (yaw, pitch, roll degrees)."""
    add_spherical_metadata(path, v1=False)

    def edit(moov):
        stsd = video_track(moov, str(path)).walk("mdia", "minf", "stbl", "stsd")
        for entry in stsd.children:
            entry.child("st3d").data = b"\0" * 4 + bytes([stereo])
            prhd, data = entry.child("sv3d").child("proj").children
            data.kind = projection
            prhd.data = b"\0" * 4 + struct.pack(">iii", *(round(a * 65536) for a in pose))

    rewrite_moov(path, edit)
    return path


def stereo_frames(layout: str, n: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of a stereo 360 video (the two eyes' 128x64 panoramas side by side or stacked) and
    each frame's left eye."""
    eyes = [np.roll(texture(128, 64), 3 * i, axis=1) for i in range(n)]
    other = texture(128, 64, seed=5)  # a right eye unlike the left one
    if layout == "right-left":
        return [np.concatenate([other, eye], axis=1) for eye in eyes], eyes
    axis = 0 if layout == "top-bottom" else 1
    return [np.concatenate([eye, other], axis=axis) for eye in eyes], eyes


@pytest.mark.parametrize(
    "layout, mode, half",
    [("top-bottom", 1, "top"), ("left-right", 2, "left"), ("right-left", 4, "right")],
)
def test_a_stereo_360_video_is_walked_with_its_left_eye(tmp_path, layout, mode, half):
    # Read whole, a top-bottom 128x128 frame is not 2:1: it was taken for an ordinary photo (a
    # "part of a sphere"), and a left-right one for a 4:1 photo, both eyes in every frame.
    frames, eyes = stereo_frames(layout)
    video = tag(write_video(tmp_path / "stereo.mp4", frames), stereo=mode)
    capture = load_capture(video)
    assert (capture.projection, capture.working_size) == ("equirect", (128, 64))
    assert capture.projection_by == "Spherical Video V2 (sv3d equirectangular)"
    said = f"stereo.mp4: a {layout} stereo video: walked in mono, with its left eye (the {half} "
    assert any(w.startswith(said) for w in capture.warnings), capture.warnings
    got = [image for _, image in iter_frames(capture, capture.segments[0], apply_yaw=False)]
    assert len(got) == len(eyes)
    for image, eye in zip(got, eyes, strict=True):
        assert np.abs(image * 255.0 - eye).mean() < 8.0  # the left eye (H.264 loses a little)


def test_a_mono_360_video_is_not_cut(tmp_path):
    frames = [np.roll(texture(128, 64), 3 * i, axis=1) for i in range(3)]
    capture = load_capture(tag(write_video(tmp_path / "mono.mp4", frames)))
    assert (capture.projection, capture.working_size, capture.stereo) == (
        "equirect",
        (128, 64),
        None,
    )
    assert not any("stereo" in w for w in capture.warnings)


@pytest.mark.parametrize(
    "stereo, projection, message",
    [
        (
            0,
            "cbmp",
            "a cubemap 360 video (Spherical Video V2 sv3d), not equirectangular: export it",
        ),
        (3, "equi", "a stereo video of layout 'custom' (its st3d or StereoMode tag): only top"),
    ],
)
def test_a_360_video_it_cannot_read_is_one_clear_error(tmp_path, stereo, projection, message):
    frames = [np.roll(texture(96, 64), 3 * i, axis=1) for i in range(3)]
    video = tag(write_video(tmp_path / "odd.mp4", frames), stereo=stereo, projection=projection)
    with pytest.raises(ViewsynthError) as err:
        load_capture(video)
    assert str(err.value).startswith(f"{video}: {message}")
    assert "\n" not in str(err.value)


def test_a_projection_pose_that_is_not_applied_is_said(tmp_path):
    # A player turns the sphere by sv3d's prhd pose; the walkthrough does not, and says so.
    frames = [np.roll(texture(128, 64), 3 * i, axis=1) for i in range(3)]
    video = tag(write_video(tmp_path / "posed.mp4", frames), pose=(90.0, 0.0, -5.5))
    capture = load_capture(video)
    said = "posed.mp4: its projection pose (sv3d prhd: yaw 90, pitch 0, roll -5.5 degrees) is not "
    assert any(w.startswith(said) for w in capture.warnings), capture.warnings
    plain = load_capture(tag(write_video(tmp_path / "level.mp4", frames)))
    assert not any("projection pose" in w for w in plain.warnings)
