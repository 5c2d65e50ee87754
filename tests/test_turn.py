"""Pairs of panoramas taken from one place (a pure rotation): the sweep with every point at
infinity (viewsynth.sweep.turn), in ``--method sweep`` and as the default network's candidate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from room import cast, ry

from viewsynth import geometry
from viewsynth.evaluation.metrics import ws_psnr
from viewsynth.interpolators import Flow, Sweep
from viewsynth.sweep import slerp_rotation
from viewsynth.sweep.turn import AGREE_PX, Turn

ROOM_LO, ROOM_HI = np.array([-5.0, -1.6, -6.0]), np.array([4.0, 2.5, 7.0])
PILLAR = (1.2, 2.0, 0.35)
SPOT = np.array([-0.3, 0.0, -0.4])


def turned_view(
    world_from_camera: np.ndarray, width: int, supersample: int = 2, spot: np.ndarray = SPOT
) -> np.ndarray:
    """The room from ``spot``, the camera turned by ``world_from_camera`` (a ray d of the camera
    is ``world_from_camera @ d`` in the room)."""
    d = geometry.equirect_directions(width, width // 2, supersample) @ world_from_camera.T
    _, colour = cast(spot, d, ROOM_LO, ROOM_HI, PILLAR, 6.0)
    s, h, w = supersample, width // 2, width
    return colour.reshape(h, s, w, s, 3).mean(axis=(1, 3)).astype(np.float32)


def u8(x):
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def turn_pair():
    """Camera 1 turned 25 degrees about a tilted axis from camera 0, both at ``SPOT``: inputs and
    the true view half way (``R = W1^T``, so the view at t is turned by ``slerp(R, t)^T``)."""
    w1, _ = cv2.Rodrigues(np.radians([4.0, 25.0, -3.0]))
    width = 256
    mid = turned_view(slerp_rotation(w1.T, 0.5).T, width)
    return turned_view(np.eye(3), width), turned_view(w1, width), mid, w1.T


def test_flows_of_a_turn_start_and_end_at_each_input():
    rot, _ = cv2.Rodrigues(np.radians([10.0, -30.0, 5.0]))
    turn = Turn(rot)
    w, h = 64, 32
    f0, f1, weight0 = turn.flows_at(0.0, w, h)
    np.testing.assert_allclose(f0, 0.0, atol=2e-3)  # at t = 0 the view is camera 0's
    assert np.all(weight0 == 1.0)
    g0, g1, weight1 = turn.flows_at(1.0, w, h)
    np.testing.assert_allclose(g1, 0.0, atol=2e-3)  # at t = 1, camera 1's
    assert np.all(weight1 == 0.0)
    assert np.abs(f1).max() > 3 and np.abs(g0).max() > 3  # (it did move)


def test_a_turn_by_whole_columns_moves_every_pixel_by_its_share():
    w, h = 128, 64
    turn = Turn(ry(2.0 * np.pi * 16 / w))  # a yaw of 16 columns
    f0, f1, weight0 = turn.flows_at(0.25, w, h)
    np.testing.assert_allclose(np.abs(f0[..., 0]), 4.0, atol=1e-3)  # a quarter of the way
    np.testing.assert_allclose(np.abs(f1[..., 0]), 12.0, atol=1e-3)
    assert np.sign(f0[0, 0, 0]) == -np.sign(f1[0, 0, 0])  # the inputs lie either side
    np.testing.assert_allclose(f0[..., 1], 0.0, atol=1e-3)
    np.testing.assert_allclose(weight0, 0.75)


def test_sweep_makes_a_turned_pair_by_its_rotation(turn_pair):
    img0, img1, mid, rot = turn_pair
    sweep = Sweep()
    out = sweep(img0, img1, [0.5], equirect=True)[0]
    info = sweep.last_pair()
    assert info["method"] == "sweep" and info["turned"] is True and info["reason"] == "", info
    assert info["pose"]["reason"] == "pure rotation"
    assert info["turn"]["left_px"] < AGREE_PX and len(info["turn"]["rotation_deg"]) == 3
    found, _ = cv2.Rodrigues(np.radians(info["pose"]["rotation_deg"]))
    assert np.degrees(np.arccos((np.trace(found.T @ rot) - 1) / 2)) < 0.5
    s = ws_psnr(u8(out), u8(mid))
    f = ws_psnr(u8(Flow()(img0, img1, [0.5], equirect=True)[0]), u8(mid))
    # Measured: 33.5 dB against flow's 31.0 (256 x 128; the room's texture is smooth, DIS follows
    # it well). A rotation the wrong way round, or at the wrong t, is far below flow.
    assert s > 32.5 and s > f + 1.5, (s, f)


def test_a_turned_pairs_frames_roll_with_the_inputs(turn_pair):
    img0, img1 = turn_pair[:2]
    sweep = Sweep()
    out = sweep(img0, img1, [0.3, 0.6], equirect=True)
    rolled = sweep(np.roll(img0, 77, 1), np.roll(img1, 77, 1), [0.3, 0.6], equirect=True)
    assert sweep.last_pair()["turned"] is True
    np.testing.assert_array_equal(np.roll(out, 77, 2), rolled)
    assert np.abs(np.roll(out, 77, 2) - out).max() > 0.05  # (the roll moved something)


def test_wide_frames_take_the_turns_flows_at_its_working_width_and_exact_ones_at_the_poles():
    """Over :data:`~viewsynth.sweep.turn.WORK_WIDTH` columns the flows are made smaller and
    resampled, but around the poles (where a turned view's x flow jumps by a whole width from
    one pixel to the next) the rows are warped by full-size flows: every pixel stays that of
    full-size flows, to within resampling."""
    from viewsynth.sweep import turn as turn_mod
    from viewsynth.warp import fuse

    rng = np.random.default_rng(2)
    w, h = 2 * turn_mod.WORK_WIDTH, turn_mod.WORK_WIDTH
    img0 = cv2.resize(rng.random((h // 8, w // 8, 3)).astype(np.float32), (w, h), cv2.INTER_CUBIC)
    img1 = np.roll(img0, 40, axis=1)
    rot, _ = cv2.Rodrigues(np.radians([6.0, 20.0, 0.0]))
    turn = Turn(rot)
    out = turn.render_times(img0, img1, [0.3])[0]
    full = fuse(img0, img1, [turn.flows_at(0.3, w, h)], equirect=True)
    assert ws_psnr(u8(out), u8(full)) > 45.0  # measured 49.0 on this busy texture
    # Measured: at most 0.027 anywhere; with every row resampled, 0.63 in the polar rows.
    assert np.abs(out - full).max() < 0.1
    bands = turn_mod._jump_bands(turn.flows_at(0.3, w // 2, h // 2)[:2], h)
    assert bands and bands[0].start == 0 and bands[-1].stop == h  # (both poles)


def test_nothing_moves_once_a_turn_is_taken_out_and_a_step_does(turn_pair):
    """A camera that also moved is no turn, however well its rotation fits the far matches."""
    img0, img1, _, rot = turn_pair
    turn, left = Turn.confirmed(rot, img0, img1)
    assert left < 0.5 * AGREE_PX
    w1, _ = cv2.Rodrigues(np.radians([4.0, 25.0, -3.0]))
    stepped = turned_view(w1, 256, spot=SPOT + np.array([0.25, 0.0, 0.1]))
    assert Turn.confirmed(rot, img0, stepped)[1] > 2.0 * AGREE_PX


def test_a_pure_rotation_that_still_moves_once_turned_back_falls_back_to_flow(
    turn_pair, monkeypatch
):
    import viewsynth.interpolators.sweep as sweep_mod

    img0, img1 = turn_pair[:2]
    monkeypatch.setattr(sweep_mod, "AGREE_PX", -1.0)  # (nothing agrees)
    sweep = Sweep()
    out = sweep(img0, img1, [0.5], equirect=True)
    info = sweep.last_pair()
    assert info["method"] == "flow" and "turned" not in info, info
    assert info["reason"].startswith("pure rotation, but") and "motion left" in info["reason"]
    np.testing.assert_array_equal(out, Flow()(img0, img1, [0.5], equirect=True))


def test_dis_corrects_a_turn_the_sparse_pose_got_slightly_wrong(turn_pair):
    img0, img1, _, rot = turn_pair
    off, _ = cv2.Rodrigues(np.radians([0.4, 0.0, -0.4]))  # a tilt off by half a degree
    turn, left = Turn.confirmed(rot @ off, img0, img1)
    angle = np.degrees(np.arccos(np.clip((np.trace(turn.rotation.T @ rot) - 1) / 2, -1, 1)))
    assert angle < 0.15, angle  # (from 0.57)
    assert left < AGREE_PX
