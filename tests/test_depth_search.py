"""The depth search (``ModelConfig.depth_search``): the geometry candidate held as the in-between
view's inverse depth, its lookups in the sphere's conventions, the network it joins unchanged at
the start, and moving the depth moves the candidate's flows."""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from viewsynth.model import ModelConfig, Network, classical_init, rays
from viewsynth.model.init import with_geometry
from viewsynth.sweep import PairCameras
from viewsynth.sweep.render import lookup_matrix

H, W = 32, 64


def texture(seed, h=H, w=W):
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


class _Depth:
    """Stands in for a PairDepth where only ``cams`` is read (:func:`lookup_matrix`)."""

    def __init__(self, cams):
        self.cams = cams


def test_lookups_put_a_point_where_the_sphere_says():
    # camera 1 one baseline to the right of camera 0, no turn; the camera at t = 0.5 between them.
    # The ray straight ahead (lon 0) at inverse depth q meets X = (0.5, 0, 1/q): camera 0 sees it
    # at lon atan2(0.5, 1/q), camera 1 at lon atan2(-0.5, 1/q), both on the horizon.
    cams = PairCameras(np.eye(3), np.array([-1.0, 0.0, 0.0]))  # c1 = -R^T t = +x
    m = lookup_matrix(_Depth(cams), 0.5)
    ahead = np.array([0.0, 0.0, 1.0], np.float32)
    a, b = jnp.asarray(m[:, :3] @ ahead), jnp.asarray(m[:, 3])
    for q in (0.0, 0.25, 1.0):
        x0, y0, x1, y1 = rays.lookups(a, b, jnp.float32(q), width=W, height=H)
        lon0, lon1 = math.atan2(0.5 * q, 1.0), math.atan2(-0.5 * q, 1.0)
        # x = (lon + pi) W / 2 pi - 0.5 (geometry.sphere), modulo W
        assert float(x0) % W == pytest.approx((lon0 + math.pi) * W / (2 * math.pi) - 0.5, abs=1e-3)
        assert float(x1) % W == pytest.approx((lon1 + math.pi) * W / (2 * math.pi) - 0.5, abs=1e-3)
        assert float(y0) == pytest.approx(H / 2 - 0.5, abs=1e-3) == float(y1)
    # how far the lookups move from q = 0.25 to 1, x wrapped
    move = rays.moved(a, b, jnp.float32(1.0), jnp.float32(0.25), width=W, height=H)
    per_radian = W / (2 * math.pi)
    expect0 = (math.atan2(0.5, 1.0) - math.atan2(0.125, 1.0)) * per_radian
    assert np.allclose(np.asarray(move), [expect0, 0.0, -expect0, 0.0], atol=1e-3)


def test_the_sweeps_depth_looks_up_where_its_flows_do():
    """depth_at's q, a, b give the lookups flows_at makes its frames with (to OpenCV's atan2)."""
    from viewsynth.evaluation.speed import street_pair
    from viewsynth.geometry.pose import relative_pose
    from viewsynth.model.interpolator import resample
    from viewsynth.sweep import pair_depth
    from viewsynth.sweep.render import depth_at, flows_at

    img0, img1 = street_pair(512, 256)
    c0, c1 = (resample(x, 256, 128, equirect=True) for x in (img0, img1))
    pose = relative_pose(c0, c1, equirect=True)
    if not pose.usable:
        pytest.skip(f"no pose at this size: {pose.reason}")
    depth = pair_depth(c0, c1, PairCameras.from_pose(pose))
    f0, f1, _ = flows_at(depth, 0.4, 256, 128)
    q, a, b = depth_at(depth, 0.4, 256, 128)
    assert q.shape == (128, 256) and a.shape == (128, 256, 6) and b.shape == (6,)
    assert q.min() >= 0.0 and q.max() > 0.05  # the street has near points
    # the network's candidates carry the depth only when asked (the shipped network does not pay)
    from viewsynth.interpolators import Sweep

    assert Sweep().candidates(c0, c1, [0.4], equirect=True).depth is None
    (q2, a2, b2), *rest = Sweep().candidates(c0, c1, [0.4], equirect=True, depth=True).depth
    assert not rest and np.array_equal(q2, q) and np.array_equal(a2, a) and np.array_equal(b2, b)
    x0, y0, x1, y1 = rays.lookups(a, b, q[..., None], width=256, height=128)
    gy, gx = np.mgrid[0:128, 0:256].astype(np.float32)
    for flow, (x, y) in ((f0, (x0, y0)), (f1, (x1, y1))):
        err = np.hypot(
            np.asarray(rays.wrap(x - gx, 256)) - flow[..., 0], np.asarray(y) - gy - flow[..., 1]
        )
        assert np.percentile(err, 99) < 0.1, np.percentile(err, 99)


def _cameras_init(n, seed=0):
    """A classical init of ``n`` pairs with a geometry candidate made of a real pair of cameras."""
    imgs = [(texture(seed + 2 * i), texture(seed + 2 * i + 1)) for i in range(n)]
    t = np.float32([0.3, 0.6][:n])
    rows = []
    cams = PairCameras(np.eye(3), np.array([-1.0, 0.0, 0.0]))
    m = lookup_matrix(_Depth(cams), 0.5)
    rng = np.random.default_rng(seed)
    for i, (a, b) in enumerate(imgs):
        one = classical_init(a, b, t[i : i + 1], equirect=True)
        flows = (one.flow_t0[0] + 0.5, one.flow_t1[0] - 0.5, np.full((H, W), 0.6, np.float32))
        from viewsynth.interpolators import Candidates

        geo = Candidates([flows])
        lon, lat = np.meshgrid((np.arange(W) + 0.5) / W * 2 * np.pi - np.pi,
                               np.pi / 2 - (np.arange(H) + 0.5) / H * np.pi)  # fmt: skip
        d = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
        q = (0.2 + 0.3 * rng.random((H, W))).astype(np.float32)
        geo.depth = [(q, (d @ m[:, :3].T).astype(np.float32), m[:, 3])]
        rows.append(with_geometry(one, a, b, geo, equirect=True, confidence=0.8, depth=True))
    init = jax.tree.map(lambda *x: np.concatenate(x), *rows)
    img0 = np.stack([a for a, _ in imgs])
    img1 = np.stack([b for _, b in imgs])
    return img0, img1, t, init


@functools.partial(nnx.jit, static_argnames=("iters",))
def forward(model, img0, img1, t, init, *, iters):
    return model(img0, img1, t, equirect=True, iters=iters, init=init)


def test_at_the_start_the_network_is_the_one_without_depth_search():
    geo = dataclasses.replace(ModelConfig.tiny(), geometry=True, motion_channels=16)
    plain = Network(geo, rngs=nnx.Rngs(0))
    deep = Network(dataclasses.replace(geo, depth_search=True), rngs=nnx.Rngs(0))
    # every parameter the plain network has, moved off its start; the new heads stay at zero
    rng = np.random.default_rng(1)
    state = nnx.state(plain, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    moved = [x + 0.1 * rng.normal(size=x.shape).astype(np.float32) for x in leaves]
    nnx.update(plain, jax.tree.unflatten(treedef, moved))
    kept = dict(nnx.state(plain, nnx.Param).flat_state())
    nnx.update(deep, nnx.State.from_flat_path(kept))
    img0, img1, t, init = _cameras_init(2)
    a = forward(plain, img0, img1, t, init.replace(geo_q=None, geo_a=None, geo_b=None), iters=3)
    b = forward(deep, img0, img1, t, init, iters=3)
    assert a.depths is None and len(b.depths) == 3  # one inverse depth per iteration
    for x, y in zip(a.frames, b.frames, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)
    np.testing.assert_allclose(np.asarray(a.geo_flow_t0), np.asarray(b.geo_flow_t0), atol=1e-4)

    # a depth head that moves every pixel one step nearer moves the geometry candidate's flows
    # (and only those), by as much as the lookups move: here camera 1 is to the right, so a
    # nearer point is seen further right from camera 0 (+x) and further left from camera 1
    b = forward(deep, img0, img1, t, init, iters=1)
    bias = deep.update.depth_out.bias
    bias[...] = jnp.ones_like(bias[...])
    c = forward(deep, img0, img1, t, init, iters=1)
    d0 = np.asarray(c.geo_flow_t0 - b.geo_flow_t0)[..., 0]
    d1 = np.asarray(c.geo_flow_t1 - b.geo_flow_t1)[..., 0]
    rows = slice(H // 4, 3 * H // 4)  # away from the poles, where nothing moves sideways
    ahead = slice(W // 2 - 4, W // 2 + 4)
    assert (d0[:, rows, ahead] > 0.01).all() and (d1[:, rows, ahead] < -0.01).all()
    np.testing.assert_allclose(np.asarray(c.flow_t0), np.asarray(b.flow_t0), atol=1e-6)


def _depth_network():
    cfg = dataclasses.replace(
        ModelConfig.tiny(), geometry=True, motion_channels=16, depth_search=True
    )
    return cfg, Network(cfg, rngs=nnx.Rngs(0))


def test_the_output_holds_each_iterations_inverse_depth_where_the_frame_looks():
    """``Output.depths``: q after each iteration's update, at 1/stride; the last frame's geometry
    candidate looks its inputs up at the last of them."""
    cfg, model = _depth_network()
    img0, img1, t, init = _cameras_init(2)
    q0 = np.asarray(init.geo_q).reshape(2, H // 8, 8, W // 8, 8, 1).mean(axis=(2, 4))
    still = forward(model, img0, img1, t, init, iters=2)
    assert len(still.depths) == 2 and still.depths[0].shape == (2, H // 8, W // 8, 1)
    for q in still.depths:  # heads at zero: the depth stays at the start
        np.testing.assert_allclose(np.asarray(q), q0, atol=1e-6)
    bias = model.update.depth_out.bias
    bias[...] = jnp.ones_like(bias[...])  # every iteration one step (gain x step) nearer
    out = forward(model, img0, img1, t, init, iters=2)
    step = cfg.depth_gain * cfg.depth_step
    for k, q in enumerate(out.depths):
        np.testing.assert_allclose(np.asarray(q), q0 + (k + 1) * step, atol=1e-5)
    # the other heads are at zero, so the geometry flows moved only with the depth: by as much
    # as the lookups move from the start's depth to the last q (upsampled, a constant change)
    a, b, q_full = (jnp.asarray(x) for x in (init.geo_a, init.geo_b, init.geo_q))
    move = np.asarray(rays.moved(a, b, q_full + 2 * step, q_full, width=W, height=H))
    np.testing.assert_allclose(np.asarray(out.geo_flow_t0 - still.geo_flow_t0), move[..., :2],
                               atol=1e-3)  # fmt: skip
    np.testing.assert_allclose(np.asarray(out.geo_flow_t1 - still.geo_flow_t1), move[..., 2:],
                               atol=1e-3)  # fmt: skip


def test_the_depth_loss_joins_the_step_only_where_a_sample_has_depth_and_a_pose():
    """The training step with ``loss.depth_weight``: the photometric sequence loss as before,
    plus the weight times the gamma-weighted error of each iteration's q; a pair without a pose
    (its lookups stay put, ``geo_b`` = 0) has no depth to supervise."""
    from viewsynth.training import losses
    from viewsynth.training.config import LossConfig, OptimConfig
    from viewsynth.training.step import make_optimizer, train_step

    img0, img1, t, init = _cameras_init(2, seed=3)
    init = init.replace(geo_b=np.concatenate([init.geo_b[:1], 0 * init.geo_b[1:]]))
    mid = 0.5 * (img0 + img1)
    truth = np.random.default_rng(0).uniform(0.1, 0.6, (2, H, W)).astype(np.float32)
    truth[:, : H // 4] = 0.0  # sky
    _, model = _depth_network()
    before = forward(model, img0, img1, t, init, iters=2)
    photometric = losses.sequence_loss(before.frames, mid, equirect=True)[1]
    expect = losses.depth_loss(before.depths, truth, jnp.float32([1, 0]), equirect=True)[1]
    tx, _ = make_optimizer(OptimConfig(), 10)
    loss, per_iter, _, depth_iters, _ = train_step(
        model, nnx.Optimizer(model, tx, wrt=nnx.Param), img0, img1, mid, t, init,
        (truth, np.ones(2, np.float32)), equirect=True, iters=2,
        loss_cfg=LossConfig(depth_weight=0.5),
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(per_iter), np.asarray(photometric), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(depth_iters), np.asarray(expect), rtol=1e-5)
    assert float(depth_iters[-1]) > 0.01
    sequence = 0.8 * float(per_iter[0]) + float(per_iter[1])
    term = 0.8 * float(depth_iters[0]) + float(depth_iters[1])
    assert float(loss) == pytest.approx(sequence + 0.5 * term, rel=1e-5)


def test_gradients_reach_the_depth_heads_and_are_finite():
    cfg = dataclasses.replace(
        ModelConfig.tiny(), geometry=True, motion_channels=16, depth_search=True
    )
    model = Network(cfg, rngs=nnx.Rngs(0))
    img0, img1, t, init = _cameras_init(2, seed=5)

    def loss(m):
        out = m(img0, img1, t, equirect=True, iters=2, init=init)
        return sum(jnp.mean(jnp.abs(f - 0.5 * (img0 + img1))) for f in out.frames)

    grads = nnx.grad(loss)(model)
    flat = dict(nnx.state(grads, nnx.Param).flat_state())
    assert all(np.isfinite(np.asarray(v[...])).all() for v in flat.values())
    head = [v for k, v in flat.items() if "depth_out" in "/".join(map(str, k))]
    assert head and any(np.abs(np.asarray(v[...])).max() > 0 for v in head)


def test_bad_depth_search_settings_are_one_line_errors():
    from viewsynth.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model: .*depth_search"):
        ModelConfig.from_dict({"depth_search": True})  # no geometry: no pose, no depth
    with pytest.raises(ConfigError, match=r"model: .*depth_step > 0"):
        ModelConfig.from_dict({"geometry": True, "depth_search": True, "depth_step": 0.0})
    with pytest.raises(ConfigError, match=r"model: .*depth_radius >= 0"):
        ModelConfig.from_dict({"geometry": True, "depth_search": True, "depth_radius": -1})


def test_the_geometry_budget_probe_names_a_bad_sweep_knob():
    import argparse
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "geometry_budget.py"
    spec = importlib.util.spec_from_file_location("geometry_budget", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert probe.knob("work_width=320") == ("work_width", 320)
    assert probe.knob("step_px=4") == ("step_px", 4.0)
    with pytest.raises(argparse.ArgumentTypeError, match=r"no SweepConfig field 'widht'"):
        probe.knob("widht=320")
    with pytest.raises(argparse.ArgumentTypeError, match=r"work_width: '3.5' is not a int value"):
        probe.knob("work_width=3.5")


def test_the_geometry_budget_probe_tabulates_seeds(tmp_path):
    """``--seeds``: each seed's benchmark in its own folder, then every set's mean and spread
    (trc-WS-PSNR where the set has it, else WS-PSNR)."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "geometry_budget.py"
    spec = importlib.util.spec_from_file_location("geometry_budget", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    rest = ["--config", "c.yaml", "-o", "runs/x", "--no-publish"]
    assert probe.output_of(rest) == Path("runs/x")
    assert probe.with_output(rest, Path("runs/x_seed2"))[3] == "runs/x_seed2"
    with pytest.raises(SystemExit, match="needs the benchmark's -o DIR"):
        probe.output_of(["--config", "c.yaml"])
    runs = []
    for seed, (walk, render) in enumerate([(18.75, 26.45), (18.51, 26.55)]):
        run = tmp_path / f"x_seed{seed}"
        run.mkdir()
        sets = [
            {"name": "walk", "summary": {"rnn-k1": {"trc_ws_psnr": walk, "ws_psnr": 1.0}}},
            {"name": "renders", "summary": {"rnn-k1": {"trc_ws_psnr": None, "ws_psnr": render}}},
        ]
        (run / "results.json").write_text(json.dumps({"sets": sets}))
        runs.append((seed, run))
    table = probe.seed_table(runs)
    assert "| walk | rnn-k1 | 18.75 | 18.51 | 18.630 | 0.24 |" in table
    assert "| renders | rnn-k1 | 26.45 | 26.55 | 26.500 | 0.10 |" in table
