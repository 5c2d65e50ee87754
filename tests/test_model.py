"""The network: shapes, the seam (roll property), gradients, the classical-start guarantee, the
named state, and that ModelConfig() is what ships."""

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
from viewsynth.model import Candidate, Init, ModelConfig, Network, classical_init, with_geometry
from viewsynth.model.warp import backward_warp

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


def tiny(geometry: bool = False) -> ModelConfig:
    # the 11 state channels of a geometry network need a wider motion encoder than tiny()'s
    return ModelConfig.tiny(geometry=geometry, motion_channels=24 if geometry else 12)


@pytest.fixture(scope="module")
def trained_like():
    return perturb(Network(tiny(), rngs=nnx.Rngs(0)), scale=0.05)


@pytest.fixture(scope="module")
def geo_like():
    return perturb(Network(tiny(geometry=True), rngs=nnx.Rngs(6)), scale=0.05, seed=6)


def _geometry_start(img0, img1, times):
    """A stand-in geometry candidate (a shifted DIS estimate) and its start, for one pair."""
    init = classical_init(img0, img1, times, equirect=True)
    dis = init.candidates[0]
    geo = [
        (dis.flow_t0[i] + np.float32([1.5, 0.0]), dis.flow_t1[i] - np.float32([1.5, 0.0]),
         np.full(img0.shape[:2], 0.5, np.float32))
        for i in range(len(times))
    ]  # fmt: skip
    return with_geometry(init, img0, img1, geo, equirect=True), geo


def test_output_shapes_and_ranges(trained_like, geo_like, pair):
    img0, img1 = (batch(x) for x in pair)
    init = classical_init(img0, img1, T2, equirect=True)
    out = forward(trained_like, img0, img1, T2, init, equirect=True, iters=2)
    assert len(out.frames) == 2 and len(out.candidates) == 1 and out.choice is None
    for frame in out.frames:
        assert frame.shape == (2, H, W, 3)
        assert float(frame.min()) >= 0.0 and float(frame.max()) <= 1.0
    (dis,) = out.candidates
    assert dis.flow_t0.shape == dis.flow_t1.shape == (2, H, W, 2)
    assert dis.mask.shape == (2, H, W, 1)
    assert float(dis.mask.min()) >= 0.0 and float(dis.mask.max()) <= 1.0
    # iterations differ: the recurrence does something with perturbed weights
    assert float(jnp.abs(out.frames[0] - out.frames[-1]).max()) > 1e-4
    geo_init, _ = _geometry_start(pair[0], pair[1], [0.3])
    geo = forward(geo_like, img0[:1], img1[:1], T2[:1], geo_init, equirect=True, iters=1)
    assert len(geo.candidates) == 2 and geo.choice.shape == (1, H, W, 1)


def roll(x, k):
    return np.roll(np.asarray(x), k, axis=-2)


def rolled(tree, k):
    return jax.tree.map(lambda a: np.roll(np.asarray(a), k, axis=2), tree)


@pytest.mark.parametrize("k", [8, 24])
def test_rolling_a_panorama_rolls_every_output(trained_like, pair, k):
    img0, img1 = (batch(x) for x in pair)
    init = classical_init(img0, img1, T2, equirect=True)
    assert np.abs(init.candidates[0].flow_t0).max() > 0.5  # DIS found the motion
    out = forward(trained_like, img0, img1, T2, init, equirect=True, iters=2)
    moved = forward(trained_like, roll(img0, k), roll(img1, k), T2, rolled(init, k),
                    equirect=True, iters=2)  # fmt: skip
    for a, b in [
        (out.frames[-1], moved.frames[-1]),
        (out.frames[0], moved.frames[0]),
        (out.candidates[0].flow_t0, moved.candidates[0].flow_t0),
        (out.candidates[0].mask, moved.candidates[0].mask),
    ]:
        np.testing.assert_allclose(roll(a, k), np.asarray(b), atol=1e-4, rtol=1e-5)
    # perspective images have borders: the property must NOT hold there (the test can fail)
    persp = forward(trained_like, img0, img1, T2, init, equirect=False, iters=2)
    persp_rolled = forward(
        trained_like, roll(img0, k), roll(img1, k), T2, rolled(init, k), equirect=False, iters=2
    )
    assert np.abs(roll(persp.frames[-1], k) - np.asarray(persp_rolled.frames[-1])).max() > 1e-3


def test_gradient_reaches_every_parameter(pair):
    model = perturb(Network(tiny(geometry=True), rngs=nnx.Rngs(1)), scale=0.1, seed=1)
    img0, img1 = (x[None] for x in pair)
    init, _ = _geometry_start(pair[0], pair[1], [0.3])
    target = jnp.asarray(0.5 * (img0 + img1))

    @nnx.jit
    def grad_fn(model):
        def loss_fn(model):
            # t = 0.5 would hide the time embedding's kernel (it sees 2t - 1 = 0)
            # K = 1, as it ships: every head (delta, upsampling, refinement) is on that path
            out = model(img0, img1, jnp.array([0.3]), equirect=True, iters=1, init=init)
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
        a, b = np.stack([img0, img0]), np.stack([img1, img1])
        out = forward(trained_like, a, b, t, init, equirect=equirect, iters=2)
        for x in (out.frames[-1], out.candidates[0].mask):
            assert np.all(np.isfinite(np.asarray(x)))


@pytest.mark.parametrize("equirect", [True, False])
def test_untrained_network_with_classical_init_reproduces_the_flow_method(pair, equirect):
    model = Network(tiny(), rngs=nnx.Rngs(3))
    img0, img1 = pair
    times = [0.25, 0.8]
    init = classical_init(img0, img1, times, equirect=equirect)
    a, b = np.stack([img0, img0]), np.stack([img1, img1])
    out = forward(model, a, b, np.float32(times), init, equirect=equirect, iters=2)
    ref = Flow()(img0, img1, times, equirect=equirect)
    diff = np.abs(np.asarray(out.frames[-1]) - ref)
    # OpenCV's remap quantises bilinear weights (1/32 px); everything else is the same maths.
    assert diff.max() < 5e-3 and diff.mean() < 5e-4
    # the test can fail: a different start gives a different frame
    assert np.abs(ref - Linear()(img0, img1, times)).mean() > 10 * diff.mean()


def test_the_flows_stay_at_the_start_and_the_logits_move(trained_like, geo_like, pair):
    """Every candidate's flows come out as they went in, to the bit; the blend weights move."""
    img0, img1 = (batch(x) for x in pair)
    init = classical_init(img0, img1, T2, equirect=False)
    out = forward(trained_like, img0, img1, T2, init, equirect=False, iters=2)
    (dis,) = out.candidates
    np.testing.assert_array_equal(np.asarray(dis.flow_t0), init.candidates[0].flow_t0)
    np.testing.assert_array_equal(np.asarray(dis.flow_t1), init.candidates[0].flow_t1)
    start = jax.nn.sigmoid(init.candidates[0].logit)
    assert np.abs(np.asarray(dis.mask) - start).max() > 1e-3
    geo_init, _ = _geometry_start(pair[0], pair[1], [0.3])
    geo = forward(geo_like, img0[:1], img1[:1], T2[:1], geo_init, equirect=True, iters=2)
    for got, want in zip(geo.candidates, geo_init.candidates, strict=True):
        np.testing.assert_array_equal(np.asarray(got.flow_t1), want.flow_t1)
    assert np.abs(np.asarray(geo.choice) - jax.nn.sigmoid(geo_init.choice)).max() > 1e-3


@pytest.mark.parametrize("geometry", [False, True])
def test_the_frame_is_made_of_the_fields_it_hands_out(trained_like, geo_like, pair, geometry):
    """Selection only: whatever the weights, the frame is the clipped sum of its samples' weighted
    warps (Output.samples), so an interpolator can build it again at another size from the fields."""
    model = geo_like if geometry else trained_like
    img0, img1 = pair
    init = (_geometry_start(img0, img1, [0.3])[0] if geometry
            else classical_init(img0, img1, [0.3], equirect=True))  # fmt: skip
    out = forward(model, img0[None], img1[None], np.float32([0.3]), init, equirect=True, iters=2)
    imgs = (jnp.asarray(img0[None]), jnp.asarray(img1[None]))
    made = sum(w * backward_warp(imgs[i], f, equirect=True) for i, f, w in out.samples())
    np.testing.assert_allclose(np.asarray(out.frames[-1]), np.clip(made, 0, 1), atol=1e-5)
    total = sum(np.asarray(w) for _, _, w in out.samples())
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    # the refinement corrects the last decision: silence it and that weight changes
    silent = Network(model.config, rngs=nnx.Rngs(0))
    nnx.update(silent, nnx.state(model, nnx.Param))
    silent.refine.mask_out.kernel[...] = jnp.zeros_like(silent.refine.mask_out.kernel[...])
    other = forward(silent, img0[None], img1[None], np.float32([0.3]), init, equirect=True, iters=2)
    last = (lambda o: o.choice) if geometry else (lambda o: o.candidates[0].mask)
    assert np.abs(np.asarray(last(other)) - np.asarray(last(out))).max() > 1e-3


def test_encode_once_decode_many_equals_the_batched_call(trained_like, pair):
    img0, img1 = (x[None] for x in pair)
    init = classical_init(pair[0], pair[1], T2, equirect=True)

    @nnx.jit
    def shared(model, a, b, t, init):
        enc = model.encode(a, b, equirect=True)
        return model.decode(enc, a, b, t, equirect=True, iters=2, init=init).frames[-1]

    got = shared(trained_like, img0, img1, T2, init)
    a, b = np.repeat(img0, 2, 0), np.repeat(img1, 2, 0)
    ref = forward(trained_like, a, b, T2, init, equirect=True, iters=2).frames[-1]
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), atol=1e-5)


@pytest.mark.parametrize("geometry", [False, True])
def test_decode_in_two_pieces_is_decode(trained_like, geo_like, pair, geometry):
    """Inference's two compiled pieces (the state at t and its warps, then the synthesis) make
    decode's last frame and fields; eagerly the very same operations, so to the bit."""
    model = geo_like if geometry else trained_like
    img0, img1 = (jnp.asarray(x[None]) for x in pair)
    init = (_geometry_start(pair[0], pair[1], T2)[0] if geometry
            else classical_init(pair[0], pair[1], T2, equirect=True))  # fmt: skip
    enc = model.encode(img0, img1, equirect=True)
    with jax.disable_jit():
        out = model.decode(enc, img0, img1, T2, equirect=True, iters=2, init=init)
        state, warps = model.decode_state(enc, img0, img1, T2, equirect=True, iters=2, init=init)
        a, b = (jnp.repeat(x, 2, 0) for x in (img0, img1))
        frame, (fields, choice) = model.synthesize(a, b, state, warps, equirect=True)
    assert len(warps) == 2 * len(fields) and warps[0].shape == (2, H, W, 3)
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(out.frames[-1]))
    for got, want in zip(fields, out.candidates, strict=True):
        np.testing.assert_array_equal(np.asarray(got.mask), np.asarray(want.mask))
        np.testing.assert_array_equal(np.asarray(got.flow_t0), np.asarray(want.flow_t0))
    if geometry:
        np.testing.assert_array_equal(np.asarray(choice), np.asarray(out.choice))
    # the state is the K-th iteration's: one iteration less moves the logits
    fewer, _ = model.decode_state(enc, img0, img1, T2, equirect=True, iters=1, init=init)
    assert np.abs(np.asarray(fewer.logits()) - np.asarray(state.logits())).max() > 1e-4


def test_bad_input_size_is_a_clear_error(trained_like):
    x = np.zeros((1, 30, 64, 3), np.float32)
    with pytest.raises(ViewsynthError, match=r"multiples of 8"):
        trained_like.encode(x, x, equirect=True)


def test_model_config_round_trip_validation_and_the_shipped_default():
    cfg = ModelConfig.tiny()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert Network(cfg, rngs=nnx.Rngs(0)).stride == 8
    with pytest.raises(ConfigError, match=r"model: unknown key 'widht'"):
        ModelConfig.from_dict({"widht": 3})
    with pytest.raises(ConfigError, match=r"model.geometry: expected true or false, got 'maybe'"):
        ModelConfig.from_dict({"geometry": "maybe"}, "model")
    with pytest.raises(ConfigError, match=r"must equal stride"):
        from_dict(ModelConfig, {"stride": 16, "patch": 4, "encoder_channels": [8, 8]}, "m.yaml")
    # the lab's switches are gone: a config that names one is an unknown key, not a silent no-op
    for gone in ("init", "learn_flow", "refine_residual", "depth_search", "consensus"):
        with pytest.raises(ConfigError, match=rf"model: unknown key '{gone}'"):
            ModelConfig.from_dict({gone: False})


def test_model_config_defaults_are_the_shipped_network_and_every_switch_is_used():
    """ModelConfig() builds what users get; no boolean field is the same in every shipped file."""
    from viewsynth.model.weights import DEFAULT_WEIGHTS, FLOW_ONLY_WEIGHTS, read_config

    shipped = [read_config(p) for p in (DEFAULT_WEIGHTS, FLOW_ONLY_WEIGHTS)]
    assert ModelConfig() == shipped[0]
    switches = [f.name for f in dataclasses.fields(ModelConfig) if f.type in (bool, "bool")]
    assert switches == ["geometry"]
    for name in switches:
        assert len({getattr(c, name) for c in shipped}) == 2, name


def test_the_state_names_its_logits_and_channels():
    """Init.logits / with_logits round-trip; channels() is per candidate (flows, logit), then the
    choice: the layout the update block's weights were trained on."""
    b, h, w = 1, 2, 3
    rng = np.random.default_rng(0)

    def cand():
        return Candidate(*(rng.normal(size=(b, h, w, c)).astype(np.float32) for c in (2, 2, 1)))

    dis, geo = cand(), cand()
    choice = rng.normal(size=(b, h, w, 1)).astype(np.float32)
    state = Init(candidates=(dis, geo), choice=choice)
    logits = np.asarray(state.logits())
    np.testing.assert_array_equal(logits[..., 0:1], dis.logit)
    np.testing.assert_array_equal(logits[..., 2:3], choice)
    back = state.with_logits(logits + 1.0)
    np.testing.assert_array_equal(np.asarray(back.candidates[1].logit), geo.logit + 1.0)
    np.testing.assert_array_equal(np.asarray(back.candidates[1].flow_t0), geo.flow_t0)
    channels = np.asarray(state.channels())
    assert channels.shape[-1] == 11
    np.testing.assert_array_equal(channels[..., 5:7], geo.flow_t0)
    np.testing.assert_array_equal(channels[..., 9:10], geo.logit)
    np.testing.assert_array_equal(channels[..., 10:11], choice)
    one = Init(candidates=(dis,))
    assert one.logits().shape[-1] == 1 and one.channels().shape[-1] == 5


def test_untrained_geometry_network_makes_the_classical_fusion(pair):
    """Heads at zero: the frame is choice x geometry frame + (1 - choice) x DIS frame, the choice
    being sigmoid of the classical agreement logit."""
    from viewsynth import warp

    model = Network(tiny(geometry=True), rngs=nnx.Rngs(5))
    img0, img1 = pair
    times = [0.3]
    init, geo = _geometry_start(img0, img1, times)
    out = forward(model, img0[None], img1[None], np.float32(times), init, equirect=True, iters=2)
    g0, g1, w0 = geo[0]
    geo_frame = warp.backward_warp(img0, g0, equirect=True) * w0[..., None] + warp.backward_warp(
        img1, g1, equirect=True
    ) * (1.0 - w0[..., None])
    dis_frame = Flow()(img0, img1, times, equirect=True)[0]
    choice = 1.0 / (1.0 + np.exp(-init.choice[0]))
    ref = choice * geo_frame + (1.0 - choice) * dis_frame
    diff = np.abs(np.asarray(out.frames[-1][0]) - ref)
    assert diff.max() < 1e-2 and diff.mean() < 1e-3
    assert np.abs(geo_frame - dis_frame).mean() > 10 * diff.mean()  # the candidates differ
    np.testing.assert_allclose(np.asarray(out.choice), choice[None], atol=1e-4)


def test_geometry_network_needs_the_candidate_and_rolls_with_the_seam(geo_like, pair):
    img0, img1 = pair
    t = np.float32([0.5])
    plain = classical_init(img0, img1, [0.5], equirect=True)
    with pytest.raises(ViewsynthError, match="with_geometry"):
        forward(geo_like, img0[None], img1[None], t, plain, equirect=True, iters=1)
    init, _ = _geometry_start(img0, img1, [0.5])
    k = 2 * geo_like.stride
    a = forward(geo_like, img0[None], img1[None], t, init, equirect=True, iters=2)
    b = forward(
        geo_like, np.roll(img0, k, 1)[None], np.roll(img1, k, 1)[None], t, rolled(init, k),
        equirect=True, iters=2,
    )  # fmt: skip
    np.testing.assert_allclose(np.roll(np.asarray(a.frames[-1]), k, 2), b.frames[-1], atol=1e-4)
    # a pair without geometry: the DIS candidate in both slots, the choice off
    none = with_geometry(plain, img0, img1, None, equirect=True)
    assert none.candidates[1] is none.candidates[0] and float(none.choice.max()) < -10
