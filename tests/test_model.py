"""The network: shapes, the seam (roll property), gradients, the classical-start guarantee."""

import dataclasses
import functools

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from viewsynth.config import from_dict
from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.interpolators import Flow, Linear
from viewsynth.model import Init, ModelConfig, Network, classical_init

H, W = 32, 64
T2 = np.float32([0.3, 0.7])


@functools.partial(nnx.jit, static_argnames=("equirect", "iters"))
def forward(model, img0, img1, t, init, *, equirect, iters):
    return model(img0, img1, t, equirect=equirect, iters=iters, init=init)


def texture(seed, h=H, w=W, sigma=2.0):
    """A smooth random colour texture (DIS needs structure; white noise has none at scale)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), sigma)
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def perturb(model, scale=0.2, seed=0):
    """Move every parameter (the zero-initialised heads included) off its initial value."""
    rng = np.random.default_rng(seed)
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    # NumPy noise: eager jax.random would compile one kernel per parameter shape
    new = [jnp.asarray(np.asarray(x) + scale * rng.normal(size=x.shape)) for x in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, [x.astype(jnp.float32) for x in new]))
    return model


def batch(x):
    """Every forward in this file has batch 2 and K = 2: one compilation per (equirect, init)."""
    return np.stack([x, x[:, ::-1]]) if x.ndim == 3 else x


@pytest.fixture(scope="module")
def pair():
    img0 = texture(0)
    img1 = np.roll(texture(0), 3, axis=1) * 0.9 + 0.05  # motion and a brightness change
    return img0, img1


@pytest.fixture(scope="module")
def trained_like():
    return perturb(Network(ModelConfig.tiny(), rngs=nnx.Rngs(0)), scale=0.05)


def test_output_shapes_and_ranges(trained_like, pair):
    img0, img1 = (batch(x) for x in pair)
    out = forward(trained_like, img0, img1, T2, None, equirect=True, iters=2)
    assert len(out.frames) == 2
    for frame in out.frames:
        assert frame.shape == (2, H, W, 3)
        assert float(frame.min()) >= 0.0 and float(frame.max()) <= 1.0
    assert out.flow_t0.shape == out.flow_t1.shape == (2, H, W, 2)
    assert out.mask.shape == (2, H, W, 1)
    assert float(out.mask.min()) >= 0.0 and float(out.mask.max()) <= 1.0
    # iterations differ: the recurrence does something with perturbed weights
    assert float(jnp.abs(out.frames[0] - out.frames[-1]).max()) > 1e-4


def roll(x, k):
    return np.roll(np.asarray(x), k, axis=-2)


@pytest.mark.parametrize("k", [8, 24])
def test_rolling_a_panorama_rolls_every_output(trained_like, pair, k):
    img0, img1 = (batch(x) for x in pair)
    out = forward(trained_like, img0, img1, T2, None, equirect=True, iters=2)
    rolled = forward(trained_like, roll(img0, k), roll(img1, k), T2, None, equirect=True, iters=2)
    for a, b in [
        (out.frames[-1], rolled.frames[-1]),
        (out.frames[0], rolled.frames[0]),
        (out.flow_t0, rolled.flow_t0),
        (out.flow_t1, rolled.flow_t1),
        (out.mask, rolled.mask),
    ]:
        # flows reach tens of pixels with perturbed weights: allow float32 relative error there
        np.testing.assert_allclose(roll(a, k), np.asarray(b), atol=1e-4, rtol=1e-5)
    # perspective images have borders: the property must NOT hold there (the test can fail)
    persp = forward(trained_like, img0, img1, T2, None, equirect=False, iters=2)
    persp_rolled = forward(
        trained_like, roll(img0, k), roll(img1, k), T2, None, equirect=False, iters=2
    )
    assert np.abs(roll(persp.frames[-1], k) - np.asarray(persp_rolled.frames[-1])).max() > 1e-3


def test_rolling_with_a_rolled_classical_init(trained_like, pair):
    k = 16
    img0, img1 = pair
    init = classical_init(img0, img1, T2, equirect=True)
    assert np.abs(init.flow_t0).max() > 0.5  # DIS found the motion
    rolled_init = Init(*(roll(a, k) for a in (init.flow_t0, init.flow_t1, init.mask_logit)))
    a, b = np.stack([img0, img0]), np.stack([img1, img1])
    out = forward(trained_like, a, b, T2, init, equirect=True, iters=2)
    rolled = forward(trained_like, roll(a, k), roll(b, k), T2, rolled_init, equirect=True, iters=2)
    np.testing.assert_allclose(roll(out.frames[-1], k), np.asarray(rolled.frames[-1]), atol=1e-4)
    np.testing.assert_allclose(
        roll(out.flow_t0, k), np.asarray(rolled.flow_t0), atol=1e-4, rtol=1e-5
    )


def test_gradient_reaches_every_parameter(pair):
    model = perturb(Network(ModelConfig.tiny(), rngs=nnx.Rngs(1)), scale=0.1, seed=1)
    img0, img1 = (x[None] for x in pair)
    target = jnp.asarray(0.5 * (img0 + img1))

    @nnx.jit
    def grad_fn(model):
        def loss_fn(model):
            # t = 0.5 would hide the time embedding's kernel (it sees 2t - 1 = 0)
            out = model(img0, img1, jnp.array([0.3]), equirect=True, iters=2)
            frames = out.frames
            return sum(
                0.8 ** (len(frames) - 1 - i) * jnp.mean((f - target) ** 2)
                for i, f in enumerate(frames)
            )

        return nnx.grad(loss_fn)(model)

    flat = nnx.to_flat_state(grad_fn(model))
    assert len(flat) > 20
    dead = ["/".join(map(str, path)) for path, g in flat if not np.any(np.asarray(g[...]) != 0)]
    assert dead == []
    assert all(np.all(np.isfinite(np.asarray(g[...]))) for _, g in flat)


@pytest.mark.parametrize("equirect", [True, False])
def test_finite_on_black_white_and_noise(trained_like, equirect):
    rng = np.random.default_rng(7)
    cases = [
        (np.zeros((H, W, 3), np.float32), np.zeros((H, W, 3), np.float32)),
        (np.ones((H, W, 3), np.float32), np.ones((H, W, 3), np.float32)),
        (np.zeros((H, W, 3), np.float32), np.ones((H, W, 3), np.float32)),
        (rng.random((H, W, 3)).astype(np.float32), rng.random((H, W, 3)).astype(np.float32)),
    ]
    t = np.array([0.01, 0.99], np.float32)  # near the ends: the mask prior is large there
    for img0, img1 in cases:
        init = classical_init(img0, img1, t, equirect=equirect)
        for start in (None, init):
            a, b = np.stack([img0, img0]), np.stack([img1, img1])
            out = forward(trained_like, a, b, t, start, equirect=equirect, iters=2)
            for x in (out.frames[-1], out.flow_t0, out.flow_t1, out.mask):
                assert np.all(np.isfinite(np.asarray(x)))


@pytest.mark.parametrize("equirect", [True, False])
def test_untrained_network_with_classical_init_reproduces_the_flow_method(pair, equirect):
    model = Network(ModelConfig.tiny(), rngs=nnx.Rngs(3))
    img0, img1 = pair
    times = [0.25, 0.8]
    init = classical_init(img0, img1, times, equirect=equirect)
    a, b = np.stack([img0, img0]), np.stack([img1, img1])
    out = forward(model, a, b, np.float32(times), init, equirect=equirect, iters=2)
    ref = Flow()(img0, img1, times, equirect=equirect)
    diff = np.abs(np.asarray(out.frames[-1]) - ref)
    # OpenCV's remap quantises bilinear weights (1/32 px); everything else is the same maths.
    assert diff.max() < 5e-3 and diff.mean() < 5e-4
    # and the flows are DIS's, unchanged
    np.testing.assert_allclose(np.asarray(out.flow_t0), init.flow_t0, atol=1e-4)
    # the test can fail: a different start gives a different frame
    assert np.abs(ref - Linear()(img0, img1, times)).mean() > 10 * diff.mean()


def test_untrained_network_without_init_is_a_cross_fade(pair):
    model = Network(ModelConfig.tiny(), rngs=nnx.Rngs(4))
    img0, img1 = pair
    times = [0.2, 0.9]
    a, b = np.stack([img0, img0]), np.stack([img1, img1])
    out = forward(model, a, b, np.float32(times), None, equirect=True, iters=2)
    np.testing.assert_allclose(np.asarray(out.frames[-1]), Linear()(img0, img1, times), atol=1e-5)
    assert float(jnp.abs(out.flow_t0).max()) == 0.0


def test_encode_once_decode_many_equals_the_batched_call(trained_like, pair):
    img0, img1 = (x[None] for x in pair)

    @nnx.jit
    def shared(model, a, b, t):
        enc = model.encode(a, b, equirect=True)
        return model.decode(enc, a, b, t, equirect=True, iters=2).frames[-1]

    got = shared(trained_like, img0, img1, T2)
    a, b = np.repeat(img0, 2, 0), np.repeat(img1, 2, 0)
    ref = forward(trained_like, a, b, T2, None, equirect=True, iters=2).frames[-1]
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), atol=1e-5)


def test_bad_input_size_is_a_clear_error(trained_like):
    x = np.zeros((1, 30, 64, 3), np.float32)
    with pytest.raises(ViewsynthError, match=r"multiples of 8"):
        trained_like(x, x, np.float32([0.5]), equirect=True, iters=1)


def test_model_config_round_trip_and_validation():
    cfg = ModelConfig.tiny()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert Network(cfg, rngs=nnx.Rngs(0)).stride == 8
    with pytest.raises(ConfigError, match=r"model: unknown key 'widht'"):
        ModelConfig.from_dict({"widht": 3})
    with pytest.raises(
        ConfigError, match=r"model.logit_readout: expected true or false, got 'maybe'"
    ):
        ModelConfig.from_dict({"logit_readout": "maybe"}, "model")
    with pytest.raises(ConfigError, match=r"model.consensus: expected true or false, got 'maybe'"):
        ModelConfig.from_dict({"consensus": "maybe"}, "model")
    with pytest.raises(ConfigError, match=r"must equal stride"):
        from_dict(ModelConfig, {"stride": 16, "patch": 4, "encoder_channels": [8, 8]}, "m.yaml")
    # The classical start is the only one (stored files name it); the zero-flow start is gone.
    assert ModelConfig.from_dict({"init": "classical"}).init == "classical"
    with pytest.raises(ConfigError, match=r"model: init: 'zero' is not supported.*init: classical"):
        ModelConfig.from_dict({"init": "zero"})


def test_learn_flow_false_keeps_the_classical_flows_and_learns_the_mask(pair):
    """With flows fixed, a trained-like network still moves the mask, never the flows; the same
    parameters with learn_flow on do move them (so the switch, not the weights, holds them)."""
    img0, img1 = (batch(x) for x in pair)
    init = classical_init(img0, img1, T2, equirect=False)
    fixed = perturb(
        Network(dataclasses.replace(ModelConfig.tiny(), learn_flow=False), rngs=nnx.Rngs(0)), 0.05
    )
    free = Network(ModelConfig.tiny(), rngs=nnx.Rngs(0))
    nnx.update(free, nnx.state(fixed, nnx.Param))
    out = forward(fixed, img0, img1, T2, init, equirect=False, iters=2)
    np.testing.assert_array_equal(np.asarray(out.flow_t0), init.flow_t0)
    np.testing.assert_array_equal(np.asarray(out.flow_t1), init.flow_t1)
    start_mask = jax.nn.sigmoid(init.mask_logit)
    assert np.abs(np.asarray(out.mask) - start_mask).max() > 1e-3
    moved = forward(free, img0, img1, T2, init, equirect=False, iters=2)
    assert np.abs(np.asarray(moved.flow_t0) - init.flow_t0).max() > 1e-2


def test_refine_mask_head_reselects_between_the_warped_frames(pair):
    # Selection only (no residual head): whatever the trained weights, every output pixel is a
    # convex blend of the two warped frames with the mask the network reports (its final one,
    # after the refinement's correction), and the correction does move that mask.
    from viewsynth.model.warp import backward_warp

    cfg = dataclasses.replace(ModelConfig.tiny(), refine_mask=True, refine_residual=False)
    model = perturb(Network(cfg, rngs=nnx.Rngs(0)), scale=0.05)
    assert model.refine.out is None and model.refine.mask_out is not None
    img0, img1 = batch(pair[0]), batch(pair[1])
    init = classical_init(img0, img1, T2, equirect=True)
    out = forward(model, img0, img1, T2, init, equirect=True, iters=2)
    w0 = backward_warp(jnp.asarray(img0), out.flow_t0, equirect=True)
    w1 = backward_warp(jnp.asarray(img1), out.flow_t1, equirect=True)
    fused = np.clip(np.asarray(out.mask * w0 + (1.0 - out.mask) * w1), 0.0, 1.0)
    np.testing.assert_allclose(np.asarray(out.frames[-1]), fused, atol=1e-5)
    # the same weights without the correction head give another mask
    plain = Network(dataclasses.replace(cfg, refine_mask=False), rngs=nnx.Rngs(0))
    stored = dict(nnx.state(model, nnx.Param).flat_state())
    keep = {p: v for p, v in stored.items() if p in dict(nnx.state(plain, nnx.Param).flat_state())}
    nnx.update(plain, nnx.State.from_flat_path(keep))
    other = forward(plain, img0, img1, T2, init, equirect=True, iters=2)
    assert np.abs(np.asarray(other.mask) - np.asarray(out.mask)).max() > 1e-3


def test_refine_mask_keeps_the_roll_property(pair):
    cfg = dataclasses.replace(ModelConfig.tiny(), refine_mask=True)
    model = perturb(Network(cfg, rngs=nnx.Rngs(1)), scale=0.05)
    img0, img1 = batch(pair[0]), batch(pair[1])
    k = 3 * cfg.stride
    out = forward(model, img0, img1, T2, None, equirect=True, iters=2)
    rolled = forward(
        model, np.roll(img0, k, axis=2), np.roll(img1, k, axis=2), T2, None, equirect=True, iters=2
    )
    np.testing.assert_allclose(
        np.roll(np.asarray(out.frames[-1]), k, axis=2), np.asarray(rolled.frames[-1]), atol=2e-5
    )
    np.testing.assert_allclose(
        np.roll(np.asarray(out.mask), k, axis=2), np.asarray(rolled.mask), atol=2e-5
    )


def _geometry_start(img0, img1, times):
    """A stand-in geometry candidate (a shifted DIS estimate) and its start, for one pair."""
    from viewsynth.model.init import with_geometry

    init = classical_init(img0, img1, times, equirect=True)
    geo = [
        (init.flow_t0[i] + np.float32([1.5, 0.0]), init.flow_t1[i] - np.float32([1.5, 0.0]),
         np.full(img0.shape[:2], 0.5, np.float32))
        for i in range(len(times))
    ]  # fmt: skip
    return with_geometry(init, img0, img1, geo, equirect=True), geo


def test_untrained_geometry_network_makes_the_classical_fusion(pair):
    """Heads at zero: the frame is choice x geometry frame + (1 - choice) x DIS frame, the choice
    being sigmoid of the classical agreement logit."""
    from viewsynth import classical

    cfg = dataclasses.replace(ModelConfig.tiny(), geometry=True)
    model = Network(cfg, rngs=nnx.Rngs(5))
    img0, img1 = pair
    times = [0.3]
    init, geo = _geometry_start(img0, img1, times)
    out = forward(model, img0[None], img1[None], np.float32(times), init, equirect=True, iters=2)
    g0, g1, w0 = geo[0]
    geo_frame = classical.blend(
        classical.backward_warp(img0, g0, equirect=True),
        classical.backward_warp(img1, g1, equirect=True), w0,
    )  # fmt: skip
    dis_frame = Flow()(img0, img1, times, equirect=True)[0]
    choice = 1.0 / (1.0 + np.exp(-init.choice_logit[0]))
    ref = choice * geo_frame + (1.0 - choice) * dis_frame
    diff = np.abs(np.asarray(out.frames[-1][0]) - ref)
    assert diff.max() < 1e-2 and diff.mean() < 1e-3
    assert np.abs(geo_frame - dis_frame).mean() > 10 * diff.mean()  # the candidates differ
    np.testing.assert_allclose(np.asarray(out.choice), choice[None], atol=1e-4)
    # the fused frame is the sum of its samples' weighted warps
    total = sum(np.asarray(w)[0] for _, _, w in out.samples())
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_geometry_network_needs_the_candidate_and_rolls_with_the_seam(pair):
    cfg = dataclasses.replace(ModelConfig.tiny(), geometry=True)
    model = perturb(Network(cfg, rngs=nnx.Rngs(6)), scale=0.05, seed=6)
    img0, img1 = pair
    t = np.float32([0.5])
    plain = classical_init(img0, img1, [0.5], equirect=True)
    with pytest.raises(ViewsynthError, match="geometry"):
        forward(model, img0[None], img1[None], t, plain, equirect=True, iters=1)
    init, _ = _geometry_start(img0, img1, [0.5])
    k = 2 * cfg.stride
    rolled = jax.tree.map(lambda a: np.roll(a, k, axis=2), init)
    a = forward(model, img0[None], img1[None], t, init, equirect=True, iters=2)
    b = forward(
        model, np.roll(img0, k, 1)[None], np.roll(img1, k, 1)[None], t, rolled,
        equirect=True, iters=2,
    )  # fmt: skip
    np.testing.assert_allclose(np.roll(np.asarray(a.frames[-1]), k, 2), b.frames[-1], atol=1e-4)


def test_pose_input_starts_silent_then_lets_the_confidence_move_the_choice(pair):
    """The confidence head starts at zero: the network with the pose input predicts exactly what
    it does without it (so it may be added to stored weights); once trained, a weak pose and a
    strong one give different choices, and the start carries the confidence given."""
    plain_cfg = dataclasses.replace(ModelConfig.tiny(), geometry=True)
    cfg = dataclasses.replace(plain_cfg, pose_input=True)
    with pytest.raises(ValueError, match="pose_input needs geometry"):
        dataclasses.replace(ModelConfig.tiny(), pose_input=True)
    plain = perturb(Network(plain_cfg, rngs=nnx.Rngs(7)), scale=0.05, seed=7)
    model = Network(cfg, rngs=nnx.Rngs(7))
    nnx.update(model, nnx.state(plain, nnx.Param))  # every parameter but the new head
    img0, img1 = pair
    t = np.float32([0.5])
    init, _ = _geometry_start(img0, img1, [0.5])
    assert init.pose_confidence.shape == init.choice_logit.shape and not init.pose_confidence.any()
    weak = init.replace(pose_confidence=np.full_like(init.pose_confidence, 0.1))
    strong = init.replace(pose_confidence=np.full_like(init.pose_confidence, 0.9))

    def choice(m, start):
        out = forward(m, img0[None], img1[None], t, start, equirect=True, iters=2)
        return np.asarray(out.choice)

    want = choice(plain, weak)
    np.testing.assert_allclose(choice(model, weak), want, atol=1e-6)
    np.testing.assert_allclose(choice(model, strong), want, atol=1e-6)
    model.pose.kernel[...] = jnp.full(model.pose.kernel.shape, 0.5)
    assert np.abs(choice(model, weak) - choice(model, strong)).max() > 1e-3
    # without geometry the start says confidence 0
    from viewsynth.model.init import with_geometry

    none = with_geometry(classical_init(img0, img1, [0.5], equirect=True), img0, img1, None,
                         equirect=True, confidence=0.7)  # fmt: skip
    assert not none.pose_confidence.any()


@pytest.mark.parametrize("readout", [False, True])
def test_logit_readout_keeps_a_repeated_step_from_piling_up(pair, readout):
    """A block whose every step says "+0.5 on the choice": summed (RAFT's form), K = 3 moves the
    choice logit by 1.5; read out of the state, by 0.5 at every K. At K = 1 both forms agree, so
    stored weights keep their K = 1 frames with either."""
    cfg = dataclasses.replace(ModelConfig.tiny(), geometry=True, learn_flow=False)
    img0, img1 = pair
    t = np.float32([0.5])
    init, _ = _geometry_start(img0, img1, [0.5])
    model = Network(dataclasses.replace(cfg, logit_readout=readout), rngs=nnx.Rngs(8))
    model.update.delta_out.bias[...] = jnp.zeros(cfg.state_channels).at[10].set(0.5)
    start = np.asarray(init.choice_logit[0])

    def logit(m, k):
        choice = np.asarray(
            forward(m, img0[None], img1[None], t, init, equirect=True, iters=k).choice
        )
        return np.log(choice / (1.0 - choice))[0]

    np.testing.assert_allclose(logit(model, 1), start + 0.5, atol=1e-3)
    np.testing.assert_allclose(logit(model, 3), start + (0.5 if readout else 1.5), atol=1e-3)
    # trained-like weights: the two forms differ at K = 3, not at K = 1
    a = perturb(Network(cfg, rngs=nnx.Rngs(9)), scale=0.05, seed=9)
    b = Network(dataclasses.replace(cfg, logit_readout=True), rngs=nnx.Rngs(9))
    nnx.update(b, nnx.state(a, nnx.Param))
    np.testing.assert_allclose(logit(a, 1), logit(b, 1), atol=1e-5)
    assert np.abs(logit(a, 3) - logit(b, 3)).max() > 1e-3


def test_consensus_input_starts_at_the_second_step_and_keeps_the_roll(pair):
    """model.consensus: the first step is the network without it (stored weights keep their K = 1
    frame), later steps see each warped sample's distance from the previous frame, so a head that
    reads it changes K = 2; the input is pooled per 1/stride cell, so rolling by a multiple of the
    stride still rolls the frame."""
    from viewsynth.model.network import _consensus

    # (the tiny model's motion encoder would keep 1 channel beside the 11 of the state: too few)
    cfg = dataclasses.replace(
        ModelConfig.tiny(), geometry=True, learn_flow=False, motion_channels=24
    )
    img0, img1 = pair
    t = np.float32([0.5])
    init, _ = _geometry_start(img0, img1, [0.5])
    plain = perturb(Network(cfg, rngs=nnx.Rngs(11)), scale=0.05, seed=11)
    plain.update.delta_out.kernel[...] *= 20.0  # steps that move the logits visibly
    seeing = Network(dataclasses.replace(cfg, consensus=True), rngs=nnx.Rngs(11))
    nnx.update(seeing, nnx.state(plain, nnx.Param))  # every shared parameter, the head at zero

    def frame(m, k, a=img0, b=img1, start=init):
        return np.asarray(forward(m, a[None], b[None], t, start, equirect=True, iters=k).frames[-1])

    np.testing.assert_allclose(frame(seeing, 2), frame(plain, 2), atol=1e-6)  # silent head
    head = seeing.update.consensus_in
    head.kernel[...] = jnp.asarray(np.random.default_rng(3).normal(0, 0.5, head.kernel.shape))
    np.testing.assert_allclose(frame(seeing, 1), frame(plain, 1), atol=1e-6)
    assert np.abs(frame(seeing, 2) - frame(plain, 2)).max() > 1e-3
    k = 2 * cfg.stride
    rolled = jax.tree.map(lambda a: np.roll(a, k, axis=2), init)
    np.testing.assert_allclose(
        np.roll(frame(seeing, 3), k, axis=2),
        frame(seeing, 3, np.roll(img0, k, 1), np.roll(img1, k, 1), rolled), atol=2e-5,
    )  # fmt: skip
    # the input: a sample equal to the frame is at 0, one off by 0.25 everywhere at 4 x 0.25 = 1
    f = jnp.full((1, 16, 16, 3), 0.5)
    got = np.asarray(_consensus((f, f + 0.25), f, 8))
    assert got.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(got[..., 0], 0.0)
    np.testing.assert_allclose(got[..., 1], 1.0, atol=1e-6)
