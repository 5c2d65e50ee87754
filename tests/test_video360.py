"""A 360 camera's exported MP4 as a capture: its spherical boxes (stereo layout, projection, pose)
and its CAMM GPS track."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import numpy as np
import pytest
from capture_fixtures import ORIGIN, offset, texture

from viewsynth.capture import CaptureOptions, iter_frames, load_capture
from viewsynth.capture.heading import haversine
from viewsynth.capture.telemetry import read_video_track
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


def test_a_projection_pose_turns_the_frames_and_is_no_warning(tmp_path):
    # A player turns the sphere by sv3d's prhd pose; so does the walkthrough now (against
    # FFmpeg's v360 on real frames: test_orientation.py), where it only warned before.
    frames = [np.roll(texture(128, 64), 3 * i, axis=1) for i in range(3)]
    video = tag(write_video(tmp_path / "posed.mp4", frames), pose=(90.0, 0.0, 180.0))
    capture = load_capture(video)
    assert not any("prhd" in w for w in capture.warnings), capture.warnings
    assert all(shot.orientation == (-90.0, 0.0, 180.0) for shot in capture.shots)
    got = [image for _, image in iter_frames(capture, capture.segments[0], apply_yaw=False)]
    for image, frame in zip(got, frames, strict=True):  # content 32 columns right, upside down
        assert np.abs(image * 255.0 - np.roll(frame, 32, axis=1)[::-1, ::-1]).mean() < 8.0


#: CAMM packet type 6 (GPS): reserved, type, GPS time (s since 1980-01-06), fix type, latitude,
#: longitude, altitude, horizontal and vertical accuracy, three velocities, speed accuracy.
CAMM_GPS = struct.Struct("<HHdiddfffffff")
GPS_EPOCH, GPS_LEAP = 315964800.0, 18.0


def test_camm_type_6_fixes_keep_their_time_and_lose_the_ones_without_a_lock(tmp_path, monkeypatch):
    # A camera that records before its GPS locks writes type-6 packets of fix type 0 at (0, 0)
    # first. mapillary_tools lists type 6 with type 5: they were read as type 5, no lock kept
    # and no time, so (0, 0) anchored the track, every true fix was "a jump" and dropped.
    from viewsynth.export import camm

    start = datetime(2024, 5, 1, 10, 5, 0, tzinfo=UTC).timestamp()  # not the MP4's own time
    walk = [offset(*ORIGIN, 0.0, 0.5 * i) for i in range(20)]  # 0.5 m north per frame, 10 fps

    def packets(positions, altitudes=None):
        out = b""
        for i, (lat, lon) in enumerate(positions):
            locked = i >= 5
            gps_time = start - GPS_EPOCH + GPS_LEAP + 0.1 * i
            where = (lat, lon, 12.0) if locked else (0.0, 0.0, 0.0)
            out += CAMM_GPS.pack(0, 6, gps_time, 3 if locked else 0, *where, 2, 3, 0, 0, 0, 1)
        return out

    monkeypatch.setattr(camm, "camm_packets", packets)
    monkeypatch.setattr(camm, "_PACKET", CAMM_GPS)
    video = write_video(tmp_path / "x3.mp4", [texture(128, 64, seed=i) for i in range(20)])
    camm.add_camm_track(video, walk)
    track = read_video_track(video)
    assert track.kind == "camm" and [f.time for f in track.fixes] == pytest.approx(
        [0.1 * i for i in range(5, 20)]
    )
    assert [f.utc for f in track.fixes] == pytest.approx([start + 0.1 * i for i in range(5, 20)])
    assert {f.alt for f in track.fixes} == {12.0}
    capture = load_capture(video, CaptureOptions(every_frames=5))
    shots = capture.shots
    assert [s.frame_index for s in shots] == [0, 5, 10, 15]
    assert not any("jumps" in w for w in capture.warnings), capture.warnings
    assert haversine(shots[1].lat, shots[1].lon, *walk[5]) < 0.01
    assert haversine(shots[3].lat, shots[3].lon, *walk[15]) < 0.01
    assert shots[2].utc == pytest.approx(start + 1.0)
