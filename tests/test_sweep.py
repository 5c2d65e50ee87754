"""The sphere sweep (viewsynth.sweep) and ``--method sweep``: cameras, depth, the in-between view
against the truth and against flow, the roll property (library and CLI), the fallback to flow.

The scenes are a textured room with a pillar, ray-cast here in NumPy (exact poses and depths, no
JAX compile): the texture is a smooth random function of the 3D point, so every view of a point
has its colour.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from room import cast, ry

from viewsynth import frames, geometry
from viewsynth.evaluation.metrics import psnr, ws_psnr
from viewsynth.interpolators import Flow, GeometrySettings, Linear, Sweep, make_interpolator
from viewsynth.sweep import PairCameras, SweepConfig, pair_depth, render, slerp_rotation
from viewsynth.sweep.cameras import lookups, rays_of

ROOM_LO, ROOM_HI = np.array([-5.0, -1.6, -6.0]), np.array([4.0, 2.5, 7.0])
PILLAR = (1.2, 2.0, 0.35)  # x, z, radius: a vertical cylinder floor to ceiling


def room_view(position, yaw: float, width: int, supersample: int = 2):
    """Equirect ``(H, W, 3)`` float32 of the room from ``position`` turned by ``yaw``, and the
    true distance of each pixel."""
    d = geometry.equirect_directions(width, width // 2, supersample) @ ry(yaw).T
    dist, colour = cast(position, d, ROOM_LO, ROOM_HI, PILLAR, 6.0)
    s = supersample
    h, w = width // 2, width
    img = colour.reshape(h, s, w, s, 3).mean(axis=(1, 3)).astype(np.float32)
    return img, dist.reshape(h, s, w, s).mean(axis=(1, 3))


def exact_pose(p0, yaw0, p1, yaw1) -> PairCameras:
    w0, w1 = ry(yaw0), ry(yaw1)
    t = w1.T @ (np.asarray(p0, float) - np.asarray(p1, float))
    return PairCameras(w1.T @ w0, t / np.linalg.norm(t))


P0, P1 = np.array([-0.3, 0.0, -0.4]), np.array([0.4, 0.1, 0.9])
YAW0, YAW1 = 0.05, 0.15


@pytest.fixture(scope="module")
def room():
    width = 256
    img0, dist0 = room_view(P0, YAW0, width)
    img1, _ = room_view(P1, YAW1, width)
    mid, _ = room_view(0.5 * (P0 + P1), 0.5 * (YAW0 + YAW1), width)
    return img0, img1, mid, dist0, exact_pose(P0, YAW0, P1, YAW1)


def u8(x):
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def test_cameras_slerp_and_lookups():
    r = ry(0.4) @ geometry.rotate_pitch_yaw(np.eye(3), 0.2, 0.0).T
    np.testing.assert_allclose(slerp_rotation(r, 0.0), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(slerp_rotation(r, 1.0), r, atol=1e-12)
    half = slerp_rotation(r, 0.5)
    np.testing.assert_allclose(half @ half, r, atol=1e-12)
    cams = PairCameras(r, np.array([0.0, 0.0, -1.0]))
    np.testing.assert_allclose(np.linalg.norm(cams.centre1), 1.0)
    rays = rays_of(8, 4)
    dir0, dir1 = lookups(cams, 0.3, rays, np.zeros(rays.shape[:2]))  # q = 0: infinity
    np.testing.assert_allclose(dir0, rays)
    np.testing.assert_allclose(dir1, rays @ r.T.astype(np.float32), atol=1e-6)
    # A point at distance 2 along a ray of camera 0 lands where camera 1 sees it.
    x0 = 2.0 * rays
    _, far1 = lookups(cams, 0.0, rays, np.full(rays.shape[:2], 0.5))
    x1 = x0 @ r.T + cams.translation
    cos = np.sum(far1 * x1, -1) / np.linalg.norm(far1, axis=-1) / np.linalg.norm(x1, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)


def test_depth_of_camera_0_matches_the_room(room):
    img0, img1, _, dist0, cams = room
    pd = pair_depth(img0, img1, cams)
    baseline = np.linalg.norm(P1 - P0)
    true_q = baseline / dist0
    rel = np.abs(pd.q0 - true_q) / true_q
    # Away from the epipoles (no parallax there, any depth is right) most depths are close.
    d = geometry.equirect_directions(256, 128)
    side = np.abs(np.sum(d * cams.centre1, -1)) < 0.8
    # Measured: median 5.5 %, 69 % within 15 % (the far prior takes some flat patches to q = 0).
    assert np.median(rel[side]) < 0.08, np.median(rel[side])
    assert np.mean(rel[side] < 0.15) > 0.6
    assert pd.conf0.mean() > 0.5


def test_middle_view_reproduces_the_truth_and_beats_flow(room):
    img0, img1, mid, _, cams = room
    out = render(img0, img1, pair_depth(img0, img1, cams), 0.5)
    flow = Flow()(img0, img1, [0.5], equirect=True)[0]
    s, f = ws_psnr(u8(out), u8(mid)), ws_psnr(u8(flow), u8(mid))
    # Measured: sweep 29.6 dB, flow 13.7 dB (256 x 128); with the exact depths the render gives 32.1.
    assert s > 27.5, s
    assert s > f + 10.0, (s, f)


def test_rolling_both_inputs_rolls_the_output(room):
    img0, img1, _, _, cams = room
    w = img0.shape[1]
    # Rolled by half a width = each camera turned by 180 deg about y: the pose conjugated.
    turn = ry(np.pi)
    rolled = PairCameras(turn.T @ cams.rotation @ turn, turn.T @ cams.translation)
    out = render(img0, img1, pair_depth(img0, img1, cams), 0.25)
    r0, r1 = np.roll(img0, w // 2, axis=1), np.roll(img1, w // 2, axis=1)
    out_r = render(r0, r1, pair_depth(r0, r1, rolled), 0.25)
    assert psnr(u8(np.roll(out, w // 2, axis=1)), u8(out_r)) >= 45.0


def test_grey_pair_falls_back_to_flow_and_says_why():
    grey = np.full((64, 128, 3), 0.5, np.float32)
    interp = make_interpolator("sweep")
    out = interp(grey, grey, [0.5], equirect=True)
    assert out.shape == (1, 64, 128, 3)
    last = interp.last_pair()
    assert last["method"] == "flow" and last["reason"], last
    assert last["pose"]["usable"] is False


def test_perspective_pair_without_pose_falls_back_to_flow(room):
    """(Perspective pairs with a pose: tests/test_sweep_pinhole.py.)"""
    img0 = img1 = room[0][:, :100]
    interp = Sweep()
    out = interp(img0, img1, [0.5], equirect=False)
    np.testing.assert_allclose(out, Flow()(img0, img1, [0.5], equirect=False))
    assert interp.last_pair()["method"] == "flow"


@pytest.fixture(scope="module")
def big_room():
    width = 512
    img0, _ = room_view(P0, YAW0, width)
    img1, _ = room_view(P1, YAW1, width)
    return img0, img1


def test_pair_cli_sweep_roll_property(big_room, tmp_path, caplog):
    from viewsynth.pipelines import pair

    img0, img1 = big_room
    w = img0.shape[1]
    for name, a, b in (
        ("plain", img0, img1),
        ("rolled", *(np.roll(x, w // 2, 1) for x in big_room)),
    ):
        frames.write_image(tmp_path / f"{name}0.png", a)
        frames.write_image(tmp_path / f"{name}1.png", b)
        with caplog.at_level(logging.INFO, logger="viewsynth"):
            code = pair.main(
                [str(tmp_path / f"{name}0.png"), str(tmp_path / f"{name}1.png"), "-o",
                 str(tmp_path / f"{name}.png"), "--method", "sweep"]
            )  # fmt: skip
        assert code == 0
    assert "fell back" not in caplog.text, caplog.text
    plain = frames.read_image(tmp_path / "plain.png").image
    rolled = frames.read_image(tmp_path / "rolled.png").image
    assert psnr(u8(np.roll(plain, w // 2, 1)), u8(rolled)) >= 45.0


def test_library_sweep_on_the_room_uses_geometry(big_room):
    interp = Sweep(GeometrySettings(sweep=SweepConfig(work_width=256)))
    interp(*big_room, [0.5], equirect=True)
    last = interp.last_pair()
    assert last["method"] == "sweep", last
    assert last["pose"]["inliers"] > 30
    # it ran on view 0's canonical seam; the recorded pose is in the caller's axes
    from viewsynth.geometry.pose import relative_pose

    direct = relative_pose(big_room[0], big_room[-1], equirect=True).record()
    for key in ("rotation_deg", "translation"):
        np.testing.assert_allclose(last["pose"][key], direct[key], atol=2e-3)
    # the network's candidates: per t its (flow_t0, flow_t1, weight0) at the frames' size
    geo = interp.candidates(big_room[0], big_room[-1], [0.25, 0.5], equirect=True)
    h, w = big_room[0].shape[:2]
    assert [tuple(a.shape for a in c) for c in geo] == [((h, w, 2), (h, w, 2), (h, w))] * 2
    assert interp.last_pair()["method"] == "sweep"


def test_manifest_records_each_pairs_method_reason_and_pose(big_room, tmp_path):
    from viewsynth.walkthrough.run import run_capture
    from viewsynth.walkthrough.settings import InterpolateSettings

    cap = tmp_path / "cap"
    cap.mkdir()
    grey = np.full_like(big_room[0], 0.5)
    for i, img in enumerate((big_room[0], big_room[1], grey)):
        frames.write_image(cap / f"shot_{i}.png", img)
    out = tmp_path / "out"
    result = run_capture(cap, out, InterpolateSettings(method="sweep", factor=2))
    assert result.status == "done"
    manifest = json.loads((out / "manifest.json").read_text())
    pairs = [p for seg in manifest["segments"] for p in seg.get("pairs", [])]
    assert [p["method"] for p in pairs] == ["sweep", "flow"], pairs
    assert pairs[0]["pose"]["usable"] and len(pairs[0]["pose"]["translation"]) == 3
    assert pairs[1]["reason"]


def test_fast_pixel_maps_follow_the_geometry_convention():
    from viewsynth.sweep.render import _maps

    rng = np.random.default_rng(3)
    d = rng.normal(size=(4, 50, 3)).astype(np.float32) * 2.5  # any length
    w, h = 1024, 512
    lon, lat = geometry.direction_to_lonlat(d / np.linalg.norm(d, axis=-1, keepdims=True))
    x, y = geometry.lonlat_to_pixel(lon, lat, w, h)
    planes = np.ascontiguousarray(np.moveaxis(d * np.array([-1.0, 1.0, -1.0], np.float32), -1, 0))
    mx, my = _maps(*planes, w, h)
    dx = np.abs((mx - x + w / 2) % w - w / 2)
    assert dx.max() < 0.05 and np.abs(my - np.clip(y, 0, h - 1)).max() < 0.05
    assert mx.min() >= -0.5 and mx.max() < w


def test_upsampling_wraps_longitude_and_clamps_rows_in_any_row_chunk():
    import cv2

    from viewsynth.sweep.render import _upsample_rows

    rng = np.random.default_rng(4)
    small = rng.random((12, 18)).astype(np.float32)
    width, height = 48, 32  # not a whole multiple of the small size
    xs = (np.arange(width) + 0.5) * (18 / width) - 0.5
    ys = np.clip((np.arange(height) + 0.5) * (12 / height) - 0.5, 0, 11)
    x0, fx = np.floor(xs).astype(int), xs - np.floor(xs)
    y0, fy = np.floor(ys).astype(int), ys - np.floor(ys)
    y1 = np.minimum(y0 + 1, 11)
    row = lambda y: small[y][:, x0 % 18] * (1 - fx) + small[y][:, (x0 + 1) % 18] * fx  # noqa: E731
    want = row(y0) * (1 - fy[:, None]) + row(y1) * fy[:, None]
    padded = cv2.copyMakeBorder(small, 1, 1, 0, 0, cv2.BORDER_REPLICATE)
    got = np.empty((height, width), np.float32)
    for start in (0, 13, 26):
        n = min(13, height - start)
        _upsample_rows(padded, width, height, start, got[start : start + n])
    assert np.abs(got - want).max() < 0.02  # OpenCV's 1/32-pixel weights


def test_pair_cli_sweep_roll_property_on_a_real_sample_pair(tmp_path, caplog):
    """Two neighbouring shots of the sample walk (real GoPro Fusion panoramas), both rolled by
    half a width: the output rolls with them (before the canonical seam the pose moved with the
    seam and this gave 25.8 dB)."""
    import cv2

    from viewsynth.pipelines import pair

    sample = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"
    views = [
        cv2.resize(
            frames.read_image(sample / f"{n}.jpg").image, (512, 256), interpolation=cv2.INTER_AREA
        )
        for n in ("04", "05")
    ]
    outs = []
    for name, shift in (("plain", 0), ("rolled", 256)):
        paths = [tmp_path / f"{name}{i}.png" for i in (0, 1)]
        for p, v in zip(paths, views, strict=True):
            frames.write_image(p, np.roll(v, shift, 1))
        out = tmp_path / f"{name}.png"
        with caplog.at_level(logging.INFO, logger="viewsynth"):
            assert pair.main([*map(str, paths), "-o", str(out), "--method", "sweep"]) == 0
        outs.append(frames.read_image(out).image)
    assert "fell back" not in caplog.text, caplog.text
    assert psnr(u8(np.roll(outs[0], 256, 1)), u8(outs[1])) >= 45.0


def test_the_view_made_in_two_halves_of_columns_equals_the_whole(room):
    # rectified_view makes its two halves of columns on two cores; each column is independent,
    # so the maps equal view_columns of the whole map to the bit (odd widths split unevenly)
    from viewsynth.sweep.render import rectified_view, view_columns

    img0, img1, _, _, cams = room
    pd = pair_depth(img0, img1, cams, SweepConfig())
    for tau in (0.3, 0.5):
        whole = view_columns(pd.q0r, pd.q1r, tau, pd.step, 0.08)
        halves = rectified_view(pd, tau)
        assert all(np.array_equal(a, b) for a, b in zip(whole, halves, strict=True))
        assert halves[0].shape == pd.q0r.shape and (halves[0] > 0).mean() > 0.9
    odd = pd.__class__(**{**vars(pd), "q0r": pd.q0r[:, :-1], "q1r": pd.q1r[:, :-1]})
    whole = view_columns(odd.q0r, odd.q1r, 0.5, pd.step, 0.08)
    assert all(np.array_equal(a, b) for a, b in zip(whole, rectified_view(odd, 0.5), strict=True))


def test_every_interpolator_keeps_a_per_pair_record():
    """``last_pair()`` is part of the interface: ``{}`` where every pair is made the same way,
    the sweep's method, reason and pose where it may fall back."""
    img0 = np.random.default_rng(0).random((32, 64, 3)).astype(np.float32)
    for interp in (Linear(), Flow()):
        interp(img0, img0, [0.5], equirect=True)
        assert interp.last_pair() == {}
    sweep = Sweep()
    sweep(img0, img0, [0.5], equirect=False)
    info = sweep.last_pair()  # (ordinary photos have a pose too: tests/test_sweep_pinhole.py)
    assert (info["method"], info["reason"]) == ("flow", "featureless (6 keypoints)")
    assert not info["pose"]["usable"]
