"""The sweep for ordinary photos (viewsynth.sweep.pinhole) and ``--method sweep`` on them: depth
against the truth, the in-between view against the truth and against flow, the epipole's trust,
unseen borders, the flagged fallback and the flagged default field of view.

The scene is a textured room with a pillar (as tests/test_sweep.py), ray-cast here in NumPy
through pinhole cameras: exact poses and depths, no JAX compile.
"""

from __future__ import annotations

import numpy as np
import pytest
from room import cast, ry

from viewsynth import geometry
from viewsynth.errors import ConfigError
from viewsynth.evaluation.metrics import psnr
from viewsynth.frames import to_uint8
from viewsynth.interpolators import Flow, Sweep
from viewsynth.sweep import PairCameras, SweepConfig, pinhole, pinhole_render, pinhole_sweep

ROOM_LO, ROOM_HI = np.array([-4.0, -1.6, -3.0]), np.array([4.0, 2.5, 12.0])
PILLAR = (1.0, 5.0, 0.4)  # x, z, radius: a vertical cylinder floor to ceiling
HFOV = 70.0
W, H = 96, 64


def rz(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def photo(position, turn, width: int = W, height: int = H, hfov: float = HFOV, s: int = 2):
    """Pinhole ``(H, W, 3)`` float32 of the room from ``position`` turned by ``turn`` (a yaw in
    radians or a rotation matrix, camera to room), and each pixel's true z-depth."""
    cam = geometry.pinhole_directions(width, height, hfov, s)
    d = cam @ (ry(turn) if np.isscalar(turn) else turn).T
    dist, colour = cast(position, d, ROOM_LO, ROOM_HI, PILLAR, 5.0)
    img = colour.reshape(height, s, width, s, 3).mean(axis=(1, 3)).astype(np.float32)
    z = (dist * cam[..., 2]).reshape(height, s, width, s).mean(axis=(1, 3))
    return img, z


def exact_pose(p0, turn0, p1, turn1) -> PairCameras:
    w0, w1 = (ry(a) if np.isscalar(a) else a for a in (turn0, turn1))
    t = w1.T @ (np.asarray(p0, float) - np.asarray(p1, float))
    return PairCameras(w1.T @ w0, t / np.linalg.norm(t))


# forward along the room, a little sideways, turning slightly: the epipole is inside the image
P0, P1 = np.array([-0.2, 0.0, -1.0]), np.array([0.3, 0.05, 0.6])
YAW0, YAW1 = 0.0, 0.08
BASELINE = float(np.linalg.norm(P1 - P0))
FOCAL = geometry.focal_from_hfov(W, HFOV)


@pytest.fixture(scope="module")
def pair():
    img0, z0 = photo(P0, YAW0)
    img1, _ = photo(P1, YAW1)
    mid, _ = photo(0.5 * (P0 + P1), 0.5 * (YAW0 + YAW1))
    return img0, img1, mid, z0, exact_pose(P0, YAW0, P1, YAW1)


@pytest.fixture(scope="module")
def depth(pair):
    img0, img1, _, _, cams = pair
    # windows scaled to the tiny images (the defaults are for a few hundred columns)
    cfg = SweepConfig(work_width=W, radius=2, coarse_radius=6)
    return pinhole.pair_depth(img0, img1, cams, FOCAL, cfg)


def test_moves_compose(pair):
    """Camera 0 to t to camera 1 is camera 0 to camera 1 (the frames of the module docstring)."""
    cams = pair[4]
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0, 0.3, (50, 2)), np.ones((50, 1))], axis=1).astype(np.float32)
    q = rng.uniform(0.05, 0.5, 50).astype(np.float32)
    mv = pinhole.moves(cams, 0.3)
    direct = mv["01"].apply(d, q)
    via_t = mv["0t"].apply(d, q)  # the point in t's axes, scaled by q
    q_t = q / via_t[:, 2]
    again = mv["t1"].apply(via_t / via_t[:, 2:3], q_t)
    np.testing.assert_allclose(again / again[:, 2:3], direct / direct[:, 2:3], atol=1e-4)
    np.testing.assert_allclose(q_t / again[:, 2], q / direct[:, 2], rtol=1e-4)


def test_inverse_depth_matches_truth(pair, depth):
    """Camera 0's inverse depth (1 / z in baselines) is within 15 % of the truth on most pixels
    the other camera sees (not near the epipole, where it is ill-conditioned; one hypothesis
    step is some 15 % of the far wall's inverse depth at this size)."""
    z0 = pair[3]
    truth = BASELINE / z0
    trust = pinhole_render.trust_of(pinhole_render.parallax(depth, 0.0))
    mask = (depth.conf0 > 0) & (trust > 0.99)
    assert mask.mean() > 0.25
    rel = np.abs(depth.q0 - truth) / truth
    assert np.median(rel[mask]) < 0.06
    assert np.mean(rel[mask] < 0.15) > 0.8
    assert np.median(rel) < 0.15  # the filled pixels too


def test_render_beats_flow(pair):
    """``--method sweep`` on the pair: the middle beats DIS flow's, and the pose is a sweep's."""
    img0, img1, mid, _, _ = pair
    sweep = Sweep(fallback=Flow())
    out = sweep(img0, img1, [0.5], equirect=False, hfov=HFOV)[0]
    info = sweep.last_pair()
    assert info["method"] == "sweep" and info["reason"] == "", info
    assert not info["pose"]["flags"]
    flow = Flow()(img0, img1, [0.5], equirect=False)[0]
    p_sweep, p_flow = psnr(to_uint8(out), to_uint8(mid)), psnr(to_uint8(flow), to_uint8(mid))
    assert p_sweep > p_flow + 1.0, (p_sweep, p_flow)


def test_candidates_are_the_frames(pair):
    """The candidate per t warps and blends into the very frame ``--method sweep`` makes."""
    from viewsynth.warp import fuse

    img0, img1 = pair[:2]
    sweep = Sweep()
    cands = sweep.candidates(img0, img1, [0.25, 0.75], equirect=False, hfov=HFOV)
    assert len(cands) == 2 and cands[0][0].shape == (H, W, 2) and cands[0][2].shape == (H, W)
    frames = sweep(img0, img1, [0.25, 0.75], equirect=False, hfov=HFOV)
    for cand, frame in zip(cands, frames, strict=True):
        np.testing.assert_allclose(fuse(img0, img1, [cand], equirect=False), frame, atol=1e-5)


def test_epipole_and_unverified_depth_are_distrusted(depth):
    """Pure forward motion towards a wall 10 baselines away: trust is 0 at the image centre (the
    epipole) and 1 at the corners, and the blended candidate is DIS's motion there; with neither
    depth confirmed by the other camera, trust is 0 everywhere."""
    cams = PairCameras(np.eye(3), np.array([0.0, 0.0, -1.0]))
    q0, q1 = np.full((H, W), 0.1, np.float32), np.full((H, W), 1.0 / 9.0, np.float32)
    ones = np.ones((H, W), np.float32)
    pd = pinhole.PinholeDepth(cams, depth.view, q0, q1, ones, ones, depth.qs0, depth.qs1)
    trust = pinhole_render.trust_of(pinhole_render.parallax(pd, 0.5))
    assert trust[H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1].max() == 0.0
    assert trust[0, 0] == 1.0 and trust[-1, -1] == 1.0
    geo = pinhole_render.geometry_at(pd, 0.5, W, H)
    assert geo.trust[0, 0] == 1.0 and geo.trust[H // 2, W // 2] == 0.0
    dis = (np.full((H, W, 2), 7.0, np.float32), np.full((H, W, 2), -7.0, np.float32),
           np.full((H, W), 0.5, np.float32))  # fmt: skip
    f0, _, _ = pinhole_render.with_flow(geo, dis)
    np.testing.assert_allclose(f0[H // 2, W // 2], 7.0)
    np.testing.assert_allclose(f0[0, 0], geo.flow_t0[0, 0])
    # the corner's point seen from camera 0, half a baseline farther: 9.5/10 as far off centre
    assert abs(f0[0, 0, 0] - (0.5 - W / 2) * (9.5 / 10 - 1)) < 0.05
    zeros = np.zeros((H, W), np.float32)
    unsure = pinhole.PinholeDepth(cams, depth.view, q0, q1, zeros, zeros, depth.qs0, depth.qs1)
    assert pinhole_render.geometry_at(unsure, 0.5, W, H).trust.max() == 0.0


def test_unseen_border_is_marked_and_filled(pair, depth):
    """Camera 1 rolled by 0.5 rad: the middle view's corners are outside both images; they are
    marked and filled from an input mirrored at its border (inside the image)."""
    cams = PairCameras(rz(0.5), np.array([0.0, 0.0, -1.0]))
    q = np.full((H, W), 0.05, np.float32)
    pd = pinhole.PinholeDepth(cams, depth.view, q, q, q * 0 + 1, q * 0 + 1, depth.qs0, depth.qs1)
    geo = pinhole_render.geometry_at(pd, 0.5, W, H)
    assert geo.unseen[0, 0] and geo.unseen[-1, -1] and not geo.unseen[H // 2, W // 2]
    assert 0.0 < geo.unseen.mean() < 0.5
    gy, gx = np.mgrid[0:H, 0:W]
    for flow in (geo.flow_t0, geo.flow_t1):
        x, y = gx + flow[..., 0], gy + flow[..., 1]
        assert x.min() >= 0 and x.max() <= W - 1 and y.min() >= 0 and y.max() <= H - 1
    assert set(np.unique(geo.weight0[geo.unseen])) <= {0.0, 1.0}


def test_last_pair_reports_unseen(pair):
    """A pair that rolls: ``last_pair`` counts the unseen corners of the middle, and near the
    epipole (forward motion) a share of DIS's motion."""
    img0, _ = photo(P0, YAW0)
    img1, _ = photo(P1, ry(YAW1) @ rz(0.35))
    sweep = Sweep()
    sweep(img0, img1, [0.5], equirect=False, hfov=HFOV)
    info = sweep.last_pair()
    assert info["method"] == "sweep", info
    assert 0.005 < info["unseen"] < 0.2 and 0.0 < info["flow_share"] < 0.5, info
    sweep(pair[0], pair[1], [0.5], equirect=False, hfov=HFOV)
    assert sweep.last_pair()["unseen"] < 0.005


def test_unknown_fov_is_flagged(pair):
    img0, img1 = pair[:2]
    sweep = Sweep()
    sweep(img0, img1, [0.5], equirect=False)
    flags = sweep.last_pair()["pose"]["flags"]
    assert any("no focal length" in f for f in flags), flags


def test_pure_rotation_falls_back():
    """Two shots from one place, turned: the flagged fallback to flow, with its reason."""
    img0, _ = photo(P0, 0.0, 192, 128)
    img1, _ = photo(P0, 0.12, 192, 128)
    sweep = Sweep()
    out = sweep(img0, img1, [0.5], equirect=False, hfov=HFOV)
    info = sweep.last_pair()
    assert info["method"] == "flow" and info["reason"] == "pure rotation", info
    np.testing.assert_array_equal(out, Flow()(img0, img1, [0.5], equirect=False))


def test_bad_hfov_is_one_line_error(pair):
    with pytest.raises(ConfigError, match=r"hfov: .*\(0, 180\).*got 200"):
        Sweep()(pair[0], pair[1], [0.5], equirect=False, hfov=200.0)


def test_sweep_cut_into_ranges_is_one_pass(pair, monkeypatch):
    """The depth sweep's hypotheses cut into ranges on the pool and merged find, to the bit, what
    one pass over them all finds: the first least cost per pixel (ties included) and its
    neighbours' costs, whatever the cut."""
    img0, img1, _, _, cams = pair
    cfg = SweepConfig(work_width=W, radius=2, coarse_radius=6)
    view = pinhole.working_view(W, H, FOCAL, W)
    grey = [pinhole._gray(x, view) for x in (img0, img1)]
    d = pinhole_sweep.Direction(*grey, view, pinhole.moves(cams, 0.0)["01"], cfg)
    n = len(d.qs)
    assert n >= 8
    rng = np.random.default_rng(3)
    costs = rng.integers(0, 4, (n, H, W)).astype(np.float32)  # small integers: many ties
    monkeypatch.setattr(d, "cost", lambda q: costs[int(np.searchsorted(d.qs, q))].copy())
    kbest, before, best, after = pinhole_sweep.merged([d.winners(range(n))], [0])
    assert np.array_equal(kbest, np.argmin(costs, axis=0))  # the first of equals
    inner = (kbest > 0) & (kbest < n - 1)
    rows, cols = np.nonzero(inner)
    assert np.array_equal(before[inner], costs[kbest[inner] - 1, rows, cols])
    assert np.array_equal(after[inner], costs[kbest[inner] + 1, rows, cols])
    for starts in ([0, 1], [0, n // 3, n // 3 + 1, n - 1], list(range(n))):
        ends = [*starts[1:], n]
        parts = [d.winners(range(a, b)) for a, b in zip(starts, ends, strict=True)]
        kb, bf, bs, af = pinhole_sweep.merged(parts, starts)
        assert np.array_equal(kb, kbest) and np.array_equal(bs, best), starts
        assert np.array_equal(bf[inner], before[inner]), starts
        assert np.array_equal(af[inner], after[inner]), starts


def test_depth_does_not_depend_on_the_pool(pair, depth, monkeypatch):
    """The pair's depths are the same to the bit however the pool's ranges are cut (for a pool
    of 1 thread the 76 hypotheses go in ranges of up to 38; for 7, of 8)."""
    img0, img1, _, _, cams = pair
    cfg = SweepConfig(work_width=W, radius=2, coarse_radius=6)
    made = []
    for n in (1, 7):
        monkeypatch.setattr(pinhole_sweep, "workers", lambda n=n: n)
        made.append(pinhole.pair_depth(img0, img1, cams, FOCAL, cfg))
    assert len(made[0].qs0) + len(made[0].qs1) > 4 * 8  # (several ranges at 7)
    for name in ("q0", "q1", "conf0", "conf1", "qs0", "qs1"):
        assert np.array_equal(getattr(made[0], name), getattr(made[1], name)), name


def test_hypotheses_as_a_loop_over_q(pair):
    """The hypotheses' spacing, all fine q at once, is the per-q loop's to the bit."""
    cams = pair[4]
    cfg = SweepConfig(work_width=W)
    view = pinhole.working_view(W, H, FOCAL, W)
    rays = view.rays()
    for move in (pinhole.moves(cams, 0.0)["01"], pinhole.moves(cams, 0.0)["10"]):
        fine = np.linspace(0.0, cfg.q_max, 257, dtype=np.float32)
        sample = rays[::4, ::4].reshape(-1, 3)
        pts = [view.project(sample @ move.m.T.astype(np.float32) + q * move.b.astype(np.float32))
               for q in fine]  # fmt: skip
        rate = np.zeros(len(fine) - 1)
        for k in range(len(fine) - 1):
            (x0, y0, f0), (x1, y1, f1) = pts[k], pts[k + 1]
            on = f0 & f1 & view.inside(x0, y0) & view.inside(x1, y1)
            if on.any():
                rate[k] = float(np.max(np.hypot(x1 - x0, y1 - y0)[on]))
        arc = np.concatenate([[0.0], np.cumsum(rate)])
        n = int(np.clip(np.ceil(arc[-1] / cfg.step_px) + 1, 8, cfg.max_hypotheses))
        arc = arc + np.linspace(0.0, 1e-3 * arc[-1], len(arc))
        want = np.interp(np.linspace(0.0, arc[-1], n), arc, fine).astype(np.float32)
        assert np.array_equal(pinhole_sweep.hypotheses(view, rays, move, cfg), want)


def test_move_applies_as_broadcast(pair):
    """A move of ``(h, w, 3)`` rays at an ``(h, w)`` or a single inverse depth is ``M d + q b``
    broadcast, to the bit."""
    move = pinhole.moves(pair[4], 0.4)["t1"]
    rays = pinhole.working_view(W, H, FOCAL, W).rays()
    q = np.random.default_rng(1).uniform(0, 2, (H, W)).astype(np.float32)
    m, b = move.m.T.astype(np.float32), move.b.astype(np.float32)
    assert np.array_equal(move.apply(rays, q), rays @ m + q[..., None] * b)
    assert np.array_equal(move.apply(rays, 0.5), rays @ m + np.float32(0.5) * b)


def test_candidates_take_the_callers_flows(pair):
    """Ordinary photos' candidates made with the caller's DIS flows (the network's start) are
    those made with the sweep's own; other flows given are used (near the epipole)."""
    from viewsynth.classical import PairFlows, pair_flows
    from viewsynth.threads import now

    img0, img1 = pair[:2]
    own = Sweep().candidates(img0, img1, [0.25, 0.75], equirect=False, hfov=HFOV)
    given = now(pair_flows, img0, img1, equirect=False)
    theirs = Sweep().candidates(img0, img1, [0.25, 0.75], equirect=False, hfov=HFOV, flows=given)
    for a, b in zip(own, theirs, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    f = given.result()
    still = now(PairFlows, np.zeros_like(f.f01), np.zeros_like(f.f10), f.vis0, f.vis1, False)
    other = Sweep().candidates(img0, img1, [0.25], equirect=False, hfov=HFOV, flows=still)
    assert not np.array_equal(other[0][0], own[0][0])
