"""Relative pose on rendered pairs with known poses: angle errors, the sign of travel, the seam,
each fallback, bad input."""

import json

import numpy as np
import pytest

from viewsynth.errors import ViewsynthError
from viewsynth.geometry import rotate_pitch_yaw
from viewsynth.geometry.pose import RelativePose, relative_pose, rotation_angle_deg

W, H = 512, 256
PITCH = 0.1  # a common tilt: the relative rotation then has x and y parts, not a pure yaw
STEP = np.array([0.4, 0.3, 1.5])  # right, up, forward (metres)
YAW0, YAW1 = 0.05, 0.17


def _cam_to_world(yaw):
    """The matrix of ``rotate_pitch_yaw(., PITCH, yaw)``: camera axes -> street axes."""
    return rotate_pitch_yaw(np.eye(3), PITCH, yaw).T


def _truth(p0, p1, yaw0, yaw1):
    a0, a1 = _cam_to_world(yaw0), _cam_to_world(yaw1)
    rot = a1.T @ a0
    t = a1.T @ (p0 - p1)
    return rot, t / np.linalg.norm(t)


def _tdeg(a, b):
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


@pytest.fixture(scope="module")
def street():
    from viewsynth.synth import make_textures, render_views, street_scene

    tex = make_textures(3, count=12)
    scene, path = street_scene(3, tex.count)
    p0 = path.pos0.astype(np.float64)
    positions = [p0, p0 + STEP, p0, p0 + np.array([0.0, 0.0, 0.1])]
    yaws = [YAW0, YAW1, YAW0 + 0.4, YAW0]
    views = render_views(
        scene, tex, np.stack(positions), np.array(yaws), width=W, height=H, pitch=PITCH
    )
    other, path2 = street_scene(4, tex.count)
    far = render_views(other, tex, path2.pos0[None], np.zeros(1), width=W, height=H, pitch=PITCH)
    return views, positions, yaws, far[0]


@pytest.fixture(scope="module")
def moving(street):
    views, _, _, _ = street
    return relative_pose(views[0], views[1], equirect=True)


def test_pose_of_a_rendered_street_pair(street, moving):
    _, pos, yaws, _ = street
    rot, t = _truth(pos[0], pos[1], yaws[0], yaws[1])
    assert moving.usable, moving.reason
    assert rotation_angle_deg(rot, moving.rotation) < 0.5
    assert _tdeg(moving.translation, t) < 2.0
    assert moving.inliers >= 60 and moving.inliers <= moving.matches
    assert 0.3 < moving.confidence <= 1.0
    # The sign: camera 1 lies ahead (+z), to the right (+x) and above (+y) of camera 0.
    c1 = moving.centre1
    assert abs(np.linalg.norm(c1) - 1.0) < 1e-6
    assert c1[2] > 0.85 and c1[0] > 0.1 and c1[1] > 0.05


def test_record_is_json(moving):
    rec = json.loads(json.dumps(moving.record()))
    assert rec["usable"] is True and rec["reason"] == ""
    assert abs(rec["rotation_deg"][1] - np.degrees(YAW0 - YAW1)) < 0.6  # a turn right: -y axis
    assert set(rec) >= {"rotation_deg", "translation", "inliers", "matches", "confidence"}


@pytest.mark.parametrize("shift", [W // 2, 37])
def test_rolling_both_panoramas_turns_the_pose_exactly(street, moving, shift):
    """Rolling both by k columns turns both cameras by Y = 2 pi k / W about y: R' = Y R Y^T,
    t' = Y t, to rounding (the pose is found with view 0's canonical seam at the seam)."""
    views, _, _, _ = street
    rolled = relative_pose(np.roll(views[0], shift, 1), np.roll(views[1], shift, 1), equirect=True)
    a = 2 * np.pi * shift / W
    y = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    assert rolled.usable and rolled.inliers == moving.inliers
    np.testing.assert_allclose(rolled.rotation, y @ moving.rotation @ y.T, atol=1e-9)
    np.testing.assert_allclose(rolled.translation, y @ moving.translation, atol=1e-9)
    if shift == W // 2:  # and not trivially: the rolled pose itself differs from the unrolled one
        assert _tdeg(moving.translation, rolled.translation) > 90.0


def test_canonical_seam_follows_a_roll_and_avoids_texture():
    from viewsynth.geometry.seam import canonical_seam

    rng = np.random.default_rng(0)
    img = rng.random((32, 64, 3))
    img[:, 40:48] = 0.5  # the one flat band
    assert 40 <= canonical_seam(img) < 48
    for k in (1, 17, 32, 63):
        assert canonical_seam(np.roll(img, k, 1)) == (canonical_seam(img) + k) % 64


def test_tripod_turn_is_pure_rotation(street):
    views, _, yaws, _ = street
    pose = relative_pose(views[0], views[2], equirect=True)
    assert not pose.usable and pose.reason == "pure rotation"
    assert abs(np.degrees(np.arccos((np.trace(pose.rotation) - 1) / 2)) - np.degrees(0.4)) < 0.5


def test_tiny_step_is_too_little_parallax(street):
    views, _, _, _ = street
    pose = relative_pose(views[0], views[3], equirect=True)
    assert not pose.usable and pose.reason.startswith("too little parallax (median")


def test_unrelated_views_have_too_few_inliers(street):
    views, _, _, far = street
    pose = relative_pose(views[0], far, equirect=True)
    assert not pose.usable and pose.reason.startswith("too few inliers")


@pytest.mark.parametrize("value", [0.0, 0.5])
def test_featureless_pair(value):
    grey = np.full((H, W, 3), value, np.float32)
    pose = relative_pose(grey, grey, equirect=True)
    assert not pose.usable and pose.reason.startswith("featureless")
    assert pose.confidence == 0.0 and isinstance(pose, RelativePose)


def test_bad_inputs():
    img = np.zeros((H, W, 3), np.float32)
    with pytest.raises(ViewsynthError, match="differ in size"):
        relative_pose(img, img[:, :-2], equirect=True)
    with pytest.raises(ViewsynthError, match="img1"):
        relative_pose(img, img[..., 0], equirect=True)
    with pytest.raises(ViewsynthError, match="focal length"):
        relative_pose(img, img, equirect=False, focal_px=0.0)
    tiny = np.zeros((1, 1, 3), np.float32)
    assert relative_pose(tiny, tiny, equirect=True).reason == "image too small (1x1)"
    wide = np.zeros((200, 300, 3), np.float32)
    pose = relative_pose(wide, wide, equirect=True)
    assert not pose.usable and pose.reason.startswith("projections differ")


def test_prior_flags_a_contradiction_but_keeps_usable(moving):
    turn = float(np.degrees(YAW1 - YAW0))  # the compass turns right with the camera
    travel = float(np.degrees(np.arctan2(moving.centre1[0], moving.centre1[2])))
    agree = {"heading0_deg": 90.0, "heading1_deg": 90.0 + turn, "bearing_deg": 90.0 + travel}
    ok = relative_pose_with_prior(moving, agree)
    assert ok == []
    wrong = dict(agree, heading1_deg=90.0 - 40.0, bearing_deg=270.0, distance_m=5.0)
    flags = relative_pose_with_prior(moving, wrong)
    assert any("headings" in f for f in flags) and any("GPS" in f for f in flags)
    near = dict(wrong, heading1_deg=90.0 + turn, distance_m=0.5)  # GPS too close to give a bearing
    assert relative_pose_with_prior(moving, near) == []


def relative_pose_with_prior(pose, prior):
    from viewsynth.geometry.pose import check_prior

    return check_prior(pose.rotation, pose.translation, prior)


def test_prior_reaches_the_result(street):
    views, _, _, _ = street
    pose = relative_pose(
        views[0], views[1], equirect=True, prior={"heading0_deg": 0.0, "heading1_deg": 90.0}
    )
    assert pose.usable and any("headings" in f for f in pose.flags)


@pytest.fixture(scope="module")
def perspective():
    from viewsynth.synth import make_textures, render_views, street_scene

    tex = make_textures(5, count=12)
    scene, path = street_scene(5, tex.count)
    p0 = path.pos0.astype(np.float64)
    pos = np.stack([p0, p0 + np.array([0.3, 0.0, 1.0])])
    views = render_views(
        scene, tex, pos, np.array([0.3, 0.35]), width=400, height=300, hfov_deg=80.0, pitch=PITCH
    )
    return views, pos


def test_pinhole_pose_with_and_without_focal(perspective):
    from viewsynth.geometry import focal_from_hfov

    views, pos = perspective
    rot, t = _truth(pos[0], pos[1], 0.3, 0.35)
    pose = relative_pose(views[0], views[1], equirect=False, focal_px=focal_from_hfov(400, 80.0))
    assert pose.usable, pose.reason
    assert rotation_angle_deg(rot, pose.rotation) < 1.0
    assert _tdeg(pose.translation, t) < 5.0
    guess = relative_pose(views[0], views[1], equirect=False)
    assert any("assumed 60 deg" in f for f in guess.flags)


def test_focal_length_from_exif(tmp_path):
    from PIL import Image

    from viewsynth.capture.metadata import read_metadata

    def jpeg(name, tags):
        exif = Image.Exif()
        exif.get_ifd(0x8769).update(tags)
        path = tmp_path / name
        Image.new("RGB", (400, 300)).save(path, exif=exif)
        return read_metadata(path)

    m35 = jpeg("a.jpg", {0xA405: 35})  # 35 mm equivalent, on the 43.3 mm diagonal
    assert abs(m35.focal_px(400, 300) - 35 / np.hypot(36, 24) * 500) < 1e-6
    # 4.3 mm lens, 1000 px per cm on the sensor, image shrunk from 800 to 400 columns
    plane = jpeg("b.jpg", {0x920A: 4.3, 0xA20E: 1000.0, 0xA210: 3, 0xA002: 800})
    assert abs(plane.focal_px(400, 300) - 4.3 * 100.0 * 0.5) < 1e-6
    assert jpeg("c.jpg", {0x920A: 4.3}).focal_px(400, 300) is None  # no sensor size: unknown


def test_ransac_seed_and_least_trials_reach_the_estimator(street, monkeypatch):
    """``relative_pose(seed=, min_trials=)`` and the network's geometry knobs get to pycolmap."""
    import viewsynth.geometry.pose as pose_mod
    from viewsynth.interpolators import GeometrySettings, Sweep

    seen, real = [], pose_mod.estimate_pycolmap
    monkeypatch.setattr(pose_mod, "estimate_pycolmap", lambda *a: seen.append(a[3:]) or real(*a))
    views, pos, yaws, _ = street
    pose = relative_pose(views[0], views[1], equirect=True, seed=7, min_trials=100)
    rot, _ = _truth(pos[0], pos[1], yaws[0], yaws[1])
    assert pose.usable and rotation_angle_deg(rot, pose.rotation) < 0.5
    assert seen == [(7, 100)]
    geometry = Sweep.for_network(GeometrySettings(seed=3, min_trials=50))
    geometry.pair_depth(views[0], views[1], equirect=True)
    assert seen[-1] == (3, 50)
    Sweep.for_network().pair_depth(views[0], views[1], equirect=True)
    assert seen[-1] == (0, None)  # the shipped settings: seed 0, pycolmap's own least trials


def _opencv_matches(desc0, desc1, ratio):
    """What the matcher did before: OpenCV's brute force, k = 2 one way, 1 the other."""
    import cv2

    back = {m.queryIdx: m.trainIdx for m in cv2.BFMatcher(cv2.NORM_L2).match(desc1, desc0)}
    fwd = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc0, desc1, k=2)
    return [
        (m.queryIdx, m.trainIdx)
        for m, n in (p for p in fwd if len(p) == 2)
        if m.distance < ratio * n.distance and back.get(m.trainIdx) == m.queryIdx
    ]


def test_mutual_matches_are_opencvs_to_the_index(street, monkeypatch):
    """One distance matrix in blocks gives the brute-force matcher's matches exactly: on a real
    SIFT pair (three row blocks, so a later block must not steal a tie or a nearer match) and on
    descriptors built with ties at the top, in the second place and across the blocks."""
    from viewsynth.geometry import features

    a, b = street[0][0], street[0][1]
    _, _, desc0 = features._view_features(a, W, True, 8000)
    _, _, desc1 = features._view_features(b, W, True, 8000)
    monkeypatch.setattr(features, "MATCH_ROWS", max(1, len(desc0) // 3))
    got = [tuple(p) for p in features.mutual_matches(desc0, desc1).tolist()]
    want = _opencv_matches(desc0, desc1, features.RATIO)
    assert len(want) > 50 and got == want

    rng = np.random.default_rng(3)
    d1 = rng.integers(0, 40, (60, 128)).astype(np.float32)
    d0 = np.concatenate([d1[:20], d1[:20], d1[30:40] + 1, rng.integers(0, 40, (30, 128))])
    d0 = d0.astype(np.float32)
    d1[50:] = d1[40:50]  # view 1 has equal twins: second nearest ties with the nearest
    monkeypatch.setattr(features, "MATCH_ROWS", 7)
    got = [tuple(p) for p in features.mutual_matches(d0, d1).tolist()]
    assert got == _opencv_matches(d0, d1, features.RATIO)
    assert got[:3] == [(0, 0), (1, 1), (2, 2)]  # the first of twin rows wins the mutual check
    assert features.mutual_matches(d0[:0], d1).shape == (0, 2)


def test_photos_moving_sideways_are_not_a_usable_pose(perspective):
    # A street camera moves along its optical axis; a sideways solution on ordinary photos is
    # taken for a wrong pose (moving people, a narrow view of a road): the sweep falls back.
    from viewsynth.geometry.pose import MAX_OFF_AXIS_DEG, off_axis_deg
    from viewsynth.synth import make_textures, render_views, street_scene

    assert off_axis_deg(np.array([0.0, 0.0, -2.0])) == 0.0  # backwards is on the axis too
    assert off_axis_deg(np.array([1.0, 0.0, 1.0])) == pytest.approx(45.0)
    assert off_axis_deg(np.array([0.0, -3.0, 0.0])) == pytest.approx(90.0)
    views, pos = perspective
    forward = relative_pose(views[0], views[1], equirect=False)
    assert forward.usable and off_axis_deg(forward.centre1) < MAX_OFF_AXIS_DEG
    tex = make_textures(5, count=12)
    scene, path = street_scene(5, tex.count)
    p0 = path.pos0.astype(np.float64)
    # the camera looks 0.3 rad off the street's axis and steps along it, then across it
    side = np.stack([p0, p0 + np.array([np.cos(0.3), 0.0, -np.sin(0.3)])])
    sideways = render_views(
        scene, tex, side, np.array([0.3, 0.3]), width=400, height=300, hfov_deg=80.0, pitch=PITCH
    )
    pose = relative_pose(sideways[0], sideways[1], equirect=False)
    assert not pose.usable and pose.reason.startswith("sideways motion (")
    assert pose.inliers >= 30 and pose.confidence == 0.0


def test_a_photos_features_are_found_once(perspective, monkeypatch):
    """A job's photo is in two pairs: its features are detected once, and the second pair's pose
    is what detecting them again gives, to the bit; another view is detected anew."""
    from viewsynth.geometry import features

    views, _ = perspective
    detected = []
    real = features._detect
    monkeypatch.setattr(features, "_detect", lambda g, *a: detected.append(g.shape) or real(g, *a))
    monkeypatch.setattr(features, "_kept", type(features._kept)())
    relative_pose(views[0], views[1], equirect=False)
    assert len(detected) == 2
    again = relative_pose(views[1].copy(), views[0].copy(), equirect=False)
    assert len(detected) == 2  # both views kept (found by their content, not the array)
    monkeypatch.setattr(features, "_kept", type(features._kept)())
    fresh = relative_pose(views[1], views[0], equirect=False)
    assert len(detected) == 4
    assert np.array_equal(again.rotation, fresh.rotation)
    assert np.array_equal(again.translation, fresh.translation)
    _, xy, desc = features._view_features(views[1], features.WORK_WIDTH, False, 8000)
    assert not xy.flags.writeable and not desc.flags.writeable  # (handed out again)
    shifted = np.ascontiguousarray(views[1][:, ::-1])  # another view: not taken for the kept one
    relative_pose(views[1], shifted, equirect=False)
    assert len(detected) == 5


def test_python_keeps_sigterm_once_pycolmap_is_loaded():
    """pycolmap's glog takes SIGTERM on import (a stack dump and an abort, past Python's handler:
    ``kill`` lost a training run's checkpoint): building the sweep gives it back."""
    import signal
    import subprocess
    import sys

    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('handled', flush=True), sys.exit(7)))\n"
        "from viewsynth.interpolators import Sweep\n"
        "Sweep()\n"
        "import numpy as np\n"
        "from viewsynth.geometry.pose import estimate_pycolmap\n"
        "d = np.random.default_rng(0).normal(size=(50, 3))\n"
        "d /= np.linalg.norm(d, axis=1, keepdims=True)\n"
        "estimate_pycolmap(d, d, 0.01)  # pycolmap at work, as in a job\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 7 and out.strip() == "handled", err
    assert "Aborted" not in err
