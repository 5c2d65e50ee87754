"""The rnn interpolator: built whole, loading, its record, any input size, compile-once, scale, the
seam, its sweep and its fallback."""

from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from flax import nnx

from viewsynth.classical import PairFlows
from viewsynth.errors import FrameError, ViewsynthError, WeightsError
from viewsynth.interpolators import Flow, GeometrySettings, Sweep, make_interpolator
from viewsynth.interpolators import rnn as interp_mod
from viewsynth.interpolators.rnn import RNNInterpolator, auto_scale
from viewsynth.model import ModelConfig, Network, save_weights
from viewsynth.sweep import SweepConfig
from viewsynth.warp import resample

#: The tiny 2D network, and the tiny geometry network.
FLAT = ModelConfig.tiny(geometry=False)
GEO = ModelConfig.tiny(geometry=True, motion_channels=16)


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def perturbed(cfg, scale=0.05, seed=0):
    model = Network(cfg, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree.flatten(nnx.state(model, nnx.Param))
    new = [np.asarray(x) + scale * rng.normal(size=x.shape).astype(np.float32) for x in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


@pytest.fixture(scope="module")
def untrained():
    """Untrained, classical start: reproduces the flow method (shared: compiles once)."""
    return RNNInterpolator(Network(FLAT, rngs=nnx.Rngs(0)), bucket=32)


def test_no_shipped_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(interp_mod, "DEFAULT_WEIGHTS", tmp_path / "default.msgpack")
    with pytest.raises(
        WeightsError, match=r"^no trained weights shipped .*use --weights FILE or --method flow$"
    ):
        RNNInterpolator.load(None)
    with pytest.raises(WeightsError, match="no trained weights shipped"):
        make_interpolator("rnn")


def test_load_from_file_and_shipped_default(monkeypatch, tmp_path):
    path = tmp_path / "default.msgpack"
    save_weights(path, Network(FLAT, rngs=nnx.Rngs(0)))
    it = make_interpolator("rnn", weights=str(path), iters=3, scale=0.5)
    assert isinstance(it, RNNInterpolator) and it.iters == 3 and it.scale == 0.5
    record = it.record()
    assert record["method"] == "rnn" and record["weights"] == str(path) and record["iters"] == 3
    assert len(record["sha256"]) == 64 and record["trained"] == {}
    # A network made in memory has no file to name: its record says so.
    in_memory = RNNInterpolator(Network(FLAT, rngs=nnx.Rngs(0))).record()
    assert in_memory["weights"] is None and in_memory["sha256"] is None and in_memory["iters"] == 2
    monkeypatch.setattr(interp_mod, "DEFAULT_WEIGHTS", path)
    it = RNNInterpolator.load(None)
    assert it.iters == FLAT.iters and it.config == FLAT and it.sweep is None
    with pytest.raises(WeightsError, match=r"weights file not found"):
        RNNInterpolator.load(tmp_path / "other.msgpack")


def test_the_default_method_is_the_shipped_rnn_at_the_measured_k():
    # The default is what the shipping decision measured (TRAINING_LOG.md, sessions 13 and 18):
    # the geometry network (Run 31) at K=1, and the 2D network (Run 14) at K=1 on pairs without
    # a pose.
    from viewsynth.interpolators import DEFAULT_METHOD
    from viewsynth.walkthrough import InterpolateSettings

    assert DEFAULT_METHOD == "rnn" and InterpolateSettings().method == "rnn"
    it = make_interpolator(DEFAULT_METHOD)
    assert isinstance(it, RNNInterpolator) and it.iters == 1 and it.config == ModelConfig()
    assert it.record()["trained"]["run"].startswith("Run 31 ")
    flat = it.fallback
    assert isinstance(flat, RNNInterpolator) and flat.iters == 1 and not flat.config.geometry
    assert flat.record()["trained"]["run"].startswith("Run 14 ")
    # the sweep its weights file records: the shipped settings, in the record
    assert it.sweep.settings == GeometrySettings() and it.sweep.settings.sweep.work_width == 256
    assert it.record()["geometry"] == GeometrySettings().record()
    # ordinary photos: the photos network (Candidate P1), at the same K, with the same fallback
    photos = it.photos
    assert photos.sweeps_photos and photos.iters == 1 and photos.fallback is flat
    assert photos.record()["trained"]["run"].startswith("Candidate P1 ")
    assert it.record()["photos"] == photos.record()


def test_make_interpolator_builds_the_network_interpolator_whole(tmp_path, monkeypatch):
    """Its sweep and its fallback go in through the constructor (RNNInterpolator.load): the object
    has exactly the attributes of one built directly with the same arguments, nothing set on it
    afterwards, and a geometry network without a sweep (or a 2D one with) is refused."""
    from viewsynth.model.weights import load_described

    geo_path, flat_path = tmp_path / "geo.msgpack", tmp_path / "flow_only.msgpack"
    settings = {"pose_width": 384, "min_trials": 50, "seed": 3, "sweep": {"work_width": 320}}
    save_weights(geo_path, Network(GEO, rngs=nnx.Rngs(0)), {"geometry": settings})
    save_weights(flat_path, Network(FLAT, rngs=nnx.Rngs(1)))
    monkeypatch.setattr(interp_mod, "FLOW_ONLY_WEIGHTS", flat_path)
    monkeypatch.setattr(interp_mod, "PHOTOS_WEIGHTS", tmp_path / "absent.msgpack")
    made = make_interpolator("rnn", weights=str(geo_path), iters=2)
    model, info = load_described(geo_path)
    want = GeometrySettings(384, 50, 3, SweepConfig(work_width=320))
    direct = RNNInterpolator(
        model, iters=2, weights=(geo_path, info), sweep=Sweep.for_network(want),
        fallback=RNNInterpolator(load_described(flat_path)[0], iters=2),
    )  # fmt: skip
    assert set(vars(made)) == set(vars(direct))
    assert made.sweep.settings == want and made.record()["geometry"] == want.record()
    assert vars(made.sweep).keys() == vars(direct.sweep).keys()
    assert set(vars(made.fallback)) == set(vars(direct.fallback))
    assert made.fallback.iters == 2 and made.fallback.sweep is None
    # a file without geometry settings: the shipped ones
    assert GeometrySettings.from_record(None) == GeometrySettings()
    with pytest.raises(ViewsynthError, match="a geometry network needs its sweep"):
        RNNInterpolator(model)
    with pytest.raises(ViewsynthError, match="a 2D network takes none"):
        RNNInterpolator(Network(FLAT, rngs=nnx.Rngs(0)), sweep=Sweep.for_network())


def test_compiles_once_per_working_size_across_many_calls(untrained):
    it = untrained
    # three input sizes that share the 64 x 128 working size, and several batch sizes of t
    calls = [((60, 120), [0.5]), ((64, 128), [0.2, 0.4, 0.6]), ((50, 100), [0.3, 0.7])]
    for (h, w), times in calls:
        out = it(texture(h, w), texture(h, w, 1), times, equirect=True)
        assert out.shape == (len(times), h, w, 3)
    after_first_round = it.traces
    # encode once; the state at t once; its synthesis once returning frames (64 x 128 input) and
    # once returning the fields fused at the input's size (the resampled inputs); one t per pass
    assert after_first_round == 4
    for _ in range(3):
        for (h, w), times in calls:
            it(texture(h, w), texture(h, w, 1), times, equirect=True)
    assert it.traces == after_first_round


def test_untrained_reproduces_the_flow_method_at_a_working_size(untrained):
    img0 = texture(64, 128)
    img1 = np.roll(img0, 3, axis=1)
    times = [0.25, 0.5]
    out = untrained(img0, img1, times, equirect=True)
    ref = Flow()(img0, img1, times, equirect=True)
    assert np.abs(out - ref).max() < 5e-3 and np.abs(out - ref).mean() < 5e-4


@pytest.mark.parametrize(("equirect", "shape"), [(True, (60, 120)), (False, (37, 53))])
def test_any_size_is_fitted_and_cropped_back(untrained, equirect, shape):
    img0 = texture(*shape)
    img1 = np.roll(img0, 2, axis=1)
    out = untrained(img0, img1, [0.5], equirect=equirect)
    assert out.shape == (1, *shape, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    ref = Flow()(img0, img1, [0.5], equirect=equirect)
    assert np.abs(out - ref).mean() < 0.02  # close to the baseline it starts from


def test_padding_leaves_the_start_equal_to_the_flow_method(untrained):
    # 37 x 53 is padded to 64 x 64 (bucket 32) with no resampling: the untrained network must give
    # the flow method's frame exactly, so neither the DIS start nor the warps may see the padding.
    # (DIS run on mirror-padded frames, or warps reading mirrored pixels, change the borders.)
    img0 = texture(37, 53, 3)
    img1 = np.roll(img0, 4, axis=1)
    img1[:, :4] = texture(37, 4, 4)  # new content enters at the left edge
    out = untrained(img0, img1, [0.3, 0.5], equirect=False)
    ref = Flow()(img0, img1, [0.3, 0.5], equirect=False)
    assert np.abs(out - ref).max() < 5e-3 and np.abs(out - ref).mean() < 5e-4


def test_empty_times_and_bad_frames(untrained):
    assert untrained(texture(64, 128), texture(64, 128), [], equirect=True).shape == (0, 64, 128, 3)
    with pytest.raises(FrameError, match=r"img0 and img1 differ in size \(128x64 and 120x64\)"):
        untrained(texture(64, 128), texture(64, 120), [0.5], equirect=True)


@pytest.fixture(scope="module")
def acting():
    """Perturbed weights: the heads act (an untrained network only reproduces its start)."""
    return RNNInterpolator(perturbed(FLAT), bucket=32)


def still_start(img0, img1, *, equirect):
    """A start that rolls exactly with the panorama (DIS's estimate does not): no motion."""
    h, w = img0.shape[:2]
    zeros, ones = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
    return PairFlows(zeros, zeros, ones, ones, equirect)


def test_rolling_a_panorama_rolls_the_result(acting, monkeypatch):
    monkeypatch.setattr(interp_mod, "pair_flows", still_start)
    img0, img1 = texture(64, 128), texture(64, 128, 1)
    k = 40  # a multiple of the stride
    out = acting(img0, img1, [0.3], equirect=True)
    rolled = acting(np.roll(img0, k, 1), np.roll(img1, k, 1), [0.3], equirect=True)
    np.testing.assert_allclose(np.roll(out, k, 2), rolled, atol=1e-4)
    assert np.abs(out - acting(img0, img1, [0.3], equirect=False)).max() > 1e-3


def test_any_roll_rolls_the_result_exactly_with_the_dis_start(acting):
    """The real DIS start is not shift-equivariant and 37 is no multiple of the stride: the
    interpolator runs on the canonical seam, so the roll still comes back exactly."""
    from viewsynth.interpolators import Flow

    img0 = texture(64, 128)
    img1 = np.roll(img0, 3, axis=1) * 0.9 + 0.05
    for method in (acting, Flow()):
        out = method(img0, img1, [0.3, 0.6], equirect=True)
        for k in (37, 64):
            rolled = method(np.roll(img0, k, 1), np.roll(img1, k, 1), [0.3, 0.6], equirect=True)
            np.testing.assert_allclose(np.roll(out, k, 2), rolled, atol=1e-6)


def test_chunks_of_times_give_the_same_frames_as_one_pass(acting):
    img0 = texture(64, 128)
    img1 = np.roll(img0, 4, axis=1)
    times = [0.2, 0.4, 0.6]
    one_by_one = acting(img0, img1, times, equirect=True)  # default: one t per pass
    acting.max_batch = 4
    try:
        whole = acting(img0, img1, times, equirect=True)  # passes of 2 and 1
        acting.max_pixels = 64 * 128  # the pixel budget allows one frame per pass again
        chunked = acting(img0, img1, times, equirect=True)
    finally:
        acting.max_batch = 1
        acting.max_pixels = RNNInterpolator(acting.model).max_pixels
    np.testing.assert_allclose(one_by_one, whole, atol=1e-5)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_scale_estimates_flow_small_and_warps_at_full_size(untrained):
    img0 = texture(64, 128)
    img1 = np.roll(img0, 4, axis=1)
    untrained.scale = 0.5
    try:
        assert untrained.working_size(128, 64, equirect=True) == (64, 32, 64, 32)
        out = untrained(img0, img1, [0.5], equirect=True)
    finally:
        untrained.scale = None
    ref = Flow()(img0, img1, [0.5], equirect=True)
    assert out.shape == ref.shape
    # flow found at half size, frames warped at full size: close to the full-size baseline,
    # and much closer than a cross-fade
    err = np.abs(out - ref).mean()
    assert err < 0.25 * np.abs(0.5 * (img0 + img1) - ref).mean()


def test_the_2d_network_works_512_wide_on_photos_and_2048_on_panoramas():
    it = RNNInterpolator(Network(FLAT, rngs=nnx.Rngs(0)))
    assert auto_scale(5760) == pytest.approx(512 / 5760)
    assert it.working_size(1024, 768, equirect=False) == (512, 384, 512, 384)  # a Lund photo
    assert it.working_size(4000, 3000, equirect=False) == (512, 384, 512, 384)  # a phone's
    assert it.working_size(500, 350, equirect=False) == (500, 350, 512, 384)  # padded
    # panoramas (the default's pairs without a pose) keep up to 2048 columns
    assert it.working_size(5760, 2880, equirect=True) == (2048, 1024, 2048, 1024)
    assert it.working_size(1000, 500, equirect=True) == (1024, 512, 1024, 512)  # resampled
    it.max_width = 256  # given: every projection
    assert it.working_size(1000, 500, equirect=True) == (256, 128, 256, 128)
    assert it.working_size(1024, 768, equirect=False) == (256, 192, 256, 192)


def test_a_geometry_network_works_at_512_wide_and_answers_at_full_size():
    it = RNNInterpolator(Network(GEO, rngs=nnx.Rngs(0)), sweep=Sweep.for_network())
    assert it.working_size(1024, 512, equirect=True) == (512, 256, 512, 256)
    assert it.working_size(5760, 2880, equirect=True) == (512, 256, 512, 256)
    assert it.working_size(384, 192, equirect=True) == (384, 192, 384, 192)  # never enlarged
    img0 = texture(128, 256)
    img1 = np.roll(img0, 6, axis=1)  # a pure turn: its rotation is the geometry candidate
    out = it(img0, img1, [0.5], equirect=True)
    assert out.shape == (1, 128, 256, 3) and it.last_pair()["turned"] is True
    # decided at 128x64 (scale 0.5 here: max_width 128), warped at full size: still the
    # full-size detail of the flow method, not an enlarged small frame
    it.max_width = 128
    small = it(img0, img1, [0.5], equirect=True)[0]
    ref = Flow()(img0, img1, [0.5], equirect=True)[0]
    enlarged = cv2.resize(cv2.resize(ref, (128, 64), interpolation=cv2.INTER_AREA), (256, 128))
    assert np.abs(small - ref).mean() < 0.5 * np.abs(enlarged - ref).mean()


def test_resample_wraps_longitude_for_panoramas():
    img = np.zeros((4, 8, 1), np.float32)
    img[:, 0] = 1.0
    up = resample(img, 16, 8, equirect=True)[..., 0]
    # the last output column lies between source columns 7 and 0 (across the seam)
    assert up[0, -1] > 0.2
    assert resample(img, 16, 8, equirect=False)[0, -1, 0] == 0.0


def test_an_untrained_geometry_network_through_the_product_makes_the_classical_fusion(tmp_path):
    """make_interpolator('rnn') gives a geometry network the sphere sweep; heads at zero, on a
    real pair of the sample walk, its frame is the classical fusion of sweep and flow, and the
    manifest record says the geometry served."""

    import cv2

    from viewsynth import classical, frames, sweep
    from viewsynth.geometry.pose import relative_pose
    from viewsynth.geometry.seam import on_canonical_seam
    from viewsynth.sweep.render import flows_at
    from viewsynth.warp import backward_warp, blend

    path = tmp_path / "geo.msgpack"
    save_weights(path, Network(GEO, rngs=nnx.Rngs(0)))
    sample = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"
    a, b = (
        cv2.resize(
            frames.read_image(sample / f"{n}.jpg").image, (512, 256), interpolation=cv2.INTER_AREA
        )
        for n in ("04", "05")
    )
    interp = make_interpolator("rnn", weights=str(path))
    out = interp(a, b, [0.5], equirect=True)[0]
    ran = interp.last_pair()
    assert ran["method"] == "rnn" and ran["geometry"] is True and ran["pose"]["usable"]
    # the network ran on the canonical seam; the manifest's pose is in the caller's axes
    direct = relative_pose(a, b, equirect=True).record()
    for key in ("rotation_deg", "translation"):
        np.testing.assert_allclose(ran["pose"][key], direct[key], atol=2e-3)
    k = 101
    rolled = interp(np.roll(a, k, 1), np.roll(b, k, 1), [0.5], equirect=True)[0]
    np.testing.assert_allclose(rolled, np.roll(out, k, 1), atol=1e-6)
    # the same fusion, by hand, on the canonical seam as the interpolator runs it

    def by_hand(a, b):
        est = classical.estimate_at(classical.pair_flows(a, b, equirect=True), 0.5)
        d0 = backward_warp(a, est.flow_t0, equirect=True)
        d1 = backward_warp(b, est.flow_t1, equirect=True)
        pose = relative_pose(a, b, equirect=True)
        cams = sweep.PairCameras.from_pose(pose)  # the sweep as the network's geometry sets it
        depth = sweep.pair_depth(a, b, cams, GeometrySettings().sweep)
        g0f, g1f, w0 = flows_at(depth, 0.5, 512, 256)
        g0 = backward_warp(a, g0f, equirect=True)
        g1 = backward_warp(b, g1f, equirect=True)
        logit = classical.choice_logit(
            classical.disagreement(g0, g1, equirect=True),
            classical.disagreement(d0, d1, equirect=True),
        )
        c = (1.0 / (1.0 + np.exp(-logit)))[..., None]
        dis = blend(d0, d1, est.w0 / (est.w0 + est.w1))
        return np.stack([c * blend(g0, g1, w0) + (1.0 - c) * dis, dis])

    ref, dis = on_canonical_seam(by_hand, a, b)
    diff = np.abs(out - ref)
    assert diff.mean() < 2e-3 and diff.max() < 0.05, (diff.mean(), diff.max())
    assert np.abs(ref - dis).mean() > 10 * diff.mean()


def test_a_geometry_network_hands_pairs_without_a_pose_to_the_shipped_2d_network(
    tmp_path, monkeypatch
):
    """make_interpolator('rnn') on a geometry network: a perspective pair, and a panorama pair
    whose pose cannot serve, get exactly the 2D network's frames (at the same K), a pair with a
    pose (or a pure turn) gets the geometry network's own; the record names both weights files."""
    from viewsynth import frames

    geo_path, flat_path = tmp_path / "geo.msgpack", tmp_path / "flow_only.msgpack"
    save_weights(geo_path, perturbed(ModelConfig.tiny(motion_channels=16, iters=3), seed=1))
    save_weights(flat_path, perturbed(FLAT, seed=2))
    monkeypatch.setattr(interp_mod, "FLOW_ONLY_WEIGHTS", flat_path)
    monkeypatch.setattr(interp_mod, "PHOTOS_WEIGHTS", tmp_path / "absent.msgpack")
    both = make_interpolator("rnn", weights=str(geo_path), iters=1)
    assert both.fallback is not None and both.fallback.iters == 1
    record = both.record()
    assert record["flow_only"]["weights"] == str(flat_path) and record["iters"] == 1
    assert len(record["flow_only"]["sha256"]) == 64
    # without --iters the 2D network follows the geometry network's stored K, not its own
    assert make_interpolator("rnn", weights=str(geo_path)).fallback.iters == 3
    monkeypatch.setattr(interp_mod, "FLOW_ONLY_WEIGHTS", tmp_path / "absent.msgpack")
    alone = make_interpolator("rnn", weights=str(geo_path), iters=1)
    assert alone.fallback is None and "flow_only" not in alone.record()
    flat = RNNInterpolator.load(flat_path, iters=1)

    a = texture(96, 128, seed=3)
    b = cv2.warpAffine(
        a, np.float32([[1, 0, 2.5], [0, 1, 1.0]]), (128, 96), borderMode=cv2.BORDER_REFLECT
    )
    # ordinary photos go to the 2D network without asking the sweep (even were there a pose)
    asked = []
    both.sweep.candidates = lambda *a, **k: asked.append(1)
    np.testing.assert_array_equal(
        both(a, b, [0.3, 0.6], equirect=False, hfov=60.0), flat(a, b, [0.3, 0.6], equirect=False)
    )
    assert not asked and both.last_pair()["reason"] == interp_mod.PHOTOS
    del both.sweep.candidates  # (the sweep's own method again)
    assert (
        np.abs(alone(a, b, [0.3], equirect=False) - flat(a, b, [0.3], equirect=False)).max() > 1e-3
    )
    # two unrelated panoramas have no pose: the 2D network's frames
    pano, other = texture(128, 256, seed=4), texture(128, 256, seed=6)
    out = both(pano, other, [0.5], equirect=True)
    assert both.last_pair()["geometry"] is False, both.last_pair()
    np.testing.assert_array_equal(out, flat(pano, other, [0.5], equirect=True))
    # the DIS start made beside the pose serves the 2D network too: DIS once per pair
    calls, dis = [], interp_mod.pair_flows
    monkeypatch.setattr(interp_mod, "pair_flows", lambda *a, **k: calls.append(1) or dis(*a, **k))
    both(pano, other, [0.5], equirect=True)
    assert len(calls) == 1
    # a pure turn has no baseline, but its rotation is the geometry (tests/test_turn.py)
    turned = np.roll(pano, 9, axis=1)
    out = both(pano, turned, [0.5], equirect=True)
    assert both.last_pair()["geometry"] is True and both.last_pair()["turned"] is True
    np.testing.assert_allclose(out, alone(pano, turned, [0.5], equirect=True), atol=1e-5)
    # a real pair of the sample walk has a pose: the geometry network's frames, untouched
    sample = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"
    p, q = (
        cv2.resize(
            frames.read_image(sample / f"{n}.jpg").image, (512, 256), interpolation=cv2.INTER_AREA
        )
        for n in ("04", "05")
    )
    out = both(p, q, [0.5], equirect=True)
    assert both.last_pair()["geometry"] is True
    np.testing.assert_allclose(out, alone(p, q, [0.5], equirect=True), atol=1e-5)  # two compiles


def test_the_networks_sweep_knobs_shape_its_frames_and_are_in_its_record(tmp_path):
    """The geometry network's sweep works as its :class:`GeometrySettings` say (256 columns, not
    ``--method sweep``'s 384): another width makes other frames, so the record (manifest, resume
    fingerprint) carries it, and nothing else in the record moves."""
    from viewsynth import frames
    from viewsynth.model.weights import load_described

    path = tmp_path / "geo.msgpack"
    save_weights(path, perturbed(GEO, seed=5))
    model, info = load_described(path)
    sample = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"
    a, b = (
        cv2.resize(
            frames.read_image(sample / f"{n}.jpg").image, (512, 256), interpolation=cv2.INTER_AREA
        )
        for n in ("04", "05")
    )
    made = {}
    for width in (320, 384):
        settings = GeometrySettings(sweep=SweepConfig(work_width=width))
        interp = RNNInterpolator(model, weights=(path, info), sweep=Sweep.for_network(settings))
        frame = np.asarray(interp(a, b, [0.5], equirect=True))
        assert interp.last_pair()["geometry"] is True  # the pair has a pose: the sweep served
        made[width] = (frame, interp.record())
    assert made[320][1]["geometry"]["sweep"]["work_width"] == 320
    assert made[384][1]["geometry"]["sweep"]["work_width"] == 384
    rest = [{k: v for k, v in rec.items() if k != "geometry"} for _, rec in made.values()]
    assert rest[0] == rest[1]
    assert np.abs(made[320][0] - made[384][0]).max() > 1e-3


def test_a_bad_geometry_record_in_a_weights_file_is_a_one_line_error(tmp_path):
    """The sweep settings a geometry network's file records are read strictly: an unknown knob or
    a bad value names the file and the knob, and nothing is made."""
    for record, problem in (
        ({"seed": 0, "sweep": {"work_widht": 256}}, "unknown key 'work_widht'"),
        ({"seed": "often", "sweep": {}}, "geometry.seed: expected an integer"),
    ):
        path = tmp_path / "geo.msgpack"
        save_weights(path, Network(GEO, rngs=nnx.Rngs(0)), meta={"geometry": record})
        with pytest.raises(WeightsError, match=rf"^{path}: bad geometry record .*{problem}") as err:
            RNNInterpolator.load(path)
        assert "\n" not in str(err.value)
    good = tmp_path / "good.msgpack"
    save_weights(
        good, Network(GEO, rngs=nnx.Rngs(0)), meta={"geometry": {"sweep": {"work_width": 320}}}
    )
    assert RNNInterpolator.load(good).sweep.settings.sweep.work_width == 320


def test_the_photos_network_makes_ordinary_photos_and_nothing_else(tmp_path, monkeypatch):
    """With photos.msgpack shipped, make_interpolator('rnn') hands ordinary photos to it (a
    geometry network that sweeps photos itself, sharing the 2D fallback): a forward pair with a
    pose gets its geometry path, a pair without one the 2D network's frames; panoramas never
    reach it; the record and last_pair name it."""
    from viewsynth.synth import make_textures, render_views, street_scene

    geo_path, flat_path = tmp_path / "geo.msgpack", tmp_path / "flow_only.msgpack"
    photos_path = tmp_path / "photos.msgpack"
    save_weights(geo_path, perturbed(GEO, seed=1))
    save_weights(flat_path, perturbed(FLAT, seed=2))
    save_weights(photos_path, perturbed(GEO, seed=3), {"photos": True})
    monkeypatch.setattr(interp_mod, "FLOW_ONLY_WEIGHTS", flat_path)
    monkeypatch.setattr(interp_mod, "PHOTOS_WEIGHTS", tmp_path / "absent.msgpack")
    without = make_interpolator("rnn", weights=str(geo_path), iters=1)
    monkeypatch.setattr(interp_mod, "PHOTOS_WEIGHTS", photos_path)
    it = make_interpolator("rnn", weights=str(geo_path), iters=1)
    photos = it.photos
    assert without.photos is None and not it.sweeps_photos
    assert photos.sweeps_photos and photos.fallback is it.fallback and photos.photos is None
    assert photos.iters == 1 and it.record()["photos"]["weights"] == str(photos_path)
    assert "photos" not in without.record()
    # loading the photos network itself gives it no photos network of its own
    assert make_interpolator("rnn", weights=str(photos_path)).photos is None
    # a forward step along a rendered street: a usable pose, the photos network's geometry path
    tex = make_textures(5, count=12)
    scene, path = street_scene(5, tex.count)
    p0 = path.pos0.astype(np.float64)
    pos = np.stack([p0, p0 + np.array([0.3, 0.0, 1.0])])
    a, b = render_views(
        scene, tex, pos, np.array([0.3, 0.35]), width=192, height=128, hfov_deg=80.0, pitch=0.1
    )
    got = it(a, b, [0.5], equirect=False, hfov=80.0)
    about = it.last_pair()
    assert about["network"] == "photos" and about["geometry"] is True, about
    np.testing.assert_array_equal(got, photos(a, b, [0.5], equirect=False, hfov=80.0))
    flat = it.fallback
    assert np.abs(got - flat(a, b, [0.5], equirect=False)).max() > 1e-3
    # a still pair has no pose: the 2D network's frames, through the photos network
    still = it(a, a, [0.5], equirect=False, hfov=80.0)
    assert it.last_pair()["network"] == "photos" and it.last_pair()["geometry"] is False
    np.testing.assert_array_equal(still, flat(a, a, [0.5], equirect=False))
    # panoramas: exactly as without the photos network
    pano = texture(128, 256, seed=4)
    turned = np.roll(pano, 9, axis=1)
    np.testing.assert_array_equal(
        it(pano, turned, [0.5], equirect=True), without(pano, turned, [0.5], equirect=True)
    )
    assert "network" not in it.last_pair()


def test_a_broken_photos_network_file_is_a_clear_error(tmp_path, monkeypatch):
    # a photos.msgpack that is not a weights file stops the load with its name, not a traceback
    geo_path, broken = tmp_path / "geo.msgpack", tmp_path / "photos.msgpack"
    save_weights(geo_path, perturbed(GEO, seed=1))
    broken.write_bytes(b"not msgpack at all")
    monkeypatch.setattr(interp_mod, "PHOTOS_WEIGHTS", broken)
    with pytest.raises(WeightsError, match=r"photos\.msgpack"):
        make_interpolator("rnn", weights=str(geo_path))


def test_photos_weights_name_the_network_that_makes_ordinary_photos(tmp_path):
    # One's own geometry network could not be put in the photos network's place: rnn took the
    # shipped photos.msgpack for photos whatever --weights was (interpolate, pair, evaluate).
    from viewsynth.walkthrough.settings import settings_from

    mine, two_d = tmp_path / "mine.msgpack", tmp_path / "two_d.msgpack"
    save_weights(mine, Network(ModelConfig.tiny(geometry=True), rngs=nnx.Rngs(0)))
    save_weights(two_d, Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(0)))
    interp = settings_from(None, [], photos_weights=str(mine)).make_interpolator()
    assert interp.record()["photos"]["weights"] == str(mine)
    assert interp.photos.sweeps_photos and not interp.sweeps_photos  # (photos go to it)
    assert interp.photos.fallback is interp.fallback  # its pairs without a pose: the 2D network
    # a 2D network as the photos network makes every photo pair, as it would alone
    assert RNNInterpolator.load(photos=two_d).photos.sweep is None
    with pytest.raises(WeightsError, match="a 2D network, which makes every pair"):
        RNNInterpolator.load(two_d, photos=mine)
    with pytest.raises(WeightsError, match="none.msgpack: weights file not found"):
        make_interpolator("rnn", photos_weights=str(tmp_path / "none.msgpack"))
