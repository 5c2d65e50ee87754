"""Visibility supervision from the renderer: which input sees each pixel of a street panorama
triplet's middle view, augmentation that keeps it on its pixels (and on its inputs), the batch
that carries it, the visibility loss on the fusion weights and its setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from viewsynth import synth
from viewsynth.errors import ConfigError
from viewsynth.geometry import latitude_weights
from viewsynth.synth import raycast
from viewsynth.synth import visibility as vis
from viewsynth.synth.street import SPACING
from viewsynth.synth.triplets import Triplet
from viewsynth.training import augment, losses
from viewsynth.training.batch import stack_batch
from viewsynth.training.config import load_config
from viewsynth.warp import seam_remap

DEBUG = Path(__file__).resolve().parents[1] / "configs" / "train_debug.yaml"
W, H = 256, 128


@pytest.fixture(scope="module")
def textures():
    return synth.make_textures(3, count=8, size=64, levels=4)


def _cameras(seed, count, t, tilt_deg=0.0, spacing=SPACING):
    """The positions, yaws, pitches and rolls ``street_triplet`` renders frames 0, t and 1 from."""
    _, path = synth.street_scene(seed, count, spacing)
    poses = [path.at(x) for x in (0.0, t, 1.0)]
    pitch = roll = np.zeros(3, np.float32)
    if tilt_deg:
        ends = np.radians(np.random.default_rng([seed, 11]).normal(0.0, tilt_deg, (2, 2)))
        pitch, roll = (np.float32([e[0], (1 - t) * e[0] + t * e[1], e[1]]) for e in ends)
    return np.stack([p for p, _ in poses]), np.float32([y for _, y in poses]), pitch, roll


@pytest.mark.parametrize("seed, tilt", [(0, 0.0), (3, 3.0)])
def test_pixels_marked_seen_find_their_colour_in_that_input(textures, seed, tilt):
    """Each middle pixel's point projected into input k: where k is said to see it, k's colour
    there matches ``mid``'s far better than where k is said not to; sky is seen by both."""
    tr = synth.street_triplet(seed, textures, width=W, height=H, tilt_deg=tilt)
    seen = tr.visibility
    assert seen.shape == (H, W, 2) and seen.dtype == np.float32
    assert set(np.unique(seen)) <= {0.0, 1.0}
    positions, yaws, pitch, roll = _cameras(seed, textures.count, tr.t, tilt)
    scene, _ = synth.street_scene(seed, textures.count)
    views, inverse = synth.render_views(scene, textures, positions, yaws, width=W, height=H,
                                        pitch=pitch, roll=roll, inverse_depth=True)  # fmt: skip
    np.testing.assert_array_equal(views[1], tr.mid)  # the same render the triplet was made of
    inverse = inverse[1]  # the middle view's, 1/metres
    assert np.all(seen[inverse == 0] == 1.0)  # sky, at infinity
    one_sided = np.mean(seen[..., 0] != seen[..., 1])
    assert one_sided > 0.001, one_sided  # a spaced triplet: some parallax occlusion
    rot = vis.camera_rotations(yaws, pitch, roll)
    points = vis.middle_points(inverse, positions[1], rot[1])
    for channel, (k, img) in enumerate(((0, tr.img0), (2, tr.img1))):
        x, y, _ = vis.project(points, positions[k], rot[k], W, H)
        looked = seam_remap(img, *(np.float32(a) for a in (x, y)), equirect=True)
        error = np.abs(looked - tr.mid).mean(axis=-1)
        inside = (y >= 0) & (y <= H - 1)
        yes, no = (seen[..., channel] == 1) & inside, (seen[..., channel] == 0) & inside
        assert no.sum() > 20
        assert error[no].mean() > 2.5 * error[yes].mean(), (error[no].mean(), error[yes].mean())


@pytest.mark.parametrize("seed, tilt", [(1, 3.0), (4, 0.0)])
def test_pixels_marked_hidden_are_hidden_by_an_exact_trace(textures, seed, tilt):
    """Each middle pixel's point (its centre ray traced exactly) traced again from camera k: off
    depth edges, most pixels called hidden from k have something nearer on that ray, and most
    pixels with something nearer are called hidden (edges are soft: some are missed)."""
    tr = synth.street_triplet(seed, textures, width=W, height=H, tilt_deg=tilt)
    scene, _ = synth.street_scene(seed, textures.count)
    positions, yaws, pitch, roll = _cameras(seed, textures.count, tr.t, tilt)
    rot = vis.camera_rotations(yaws, pitch, roll)
    _, inverse = synth.render_views(scene, textures, positions, yaws, width=W, height=H,
                                    pitch=pitch, roll=roll, inverse_depth=True)  # fmt: skip
    inverse = inverse[1]  # the middle view's, 1/metres

    def trace(origin, rays):
        hit, _, _ = raycast._trace(scene, jnp.asarray(origin), jnp.asarray(rays.reshape(-1, 3)))
        return np.asarray(hit, np.float64).reshape(H, W)

    rays = synth.equirect_directions(W, H, 1) @ rot[1].T
    t = trace(positions[1], rays)
    interior = np.isfinite(t) & (
        np.abs(1 / np.where(np.isfinite(t), t, 1) - inverse) < 0.01 * inverse
    )
    points = positions[1] + np.where(interior, t, 0.0)[..., None] * rays
    for channel, k in enumerate((0, 2)):
        rel = points - positions[k]
        distance = np.linalg.norm(rel, axis=-1)
        hidden = trace(positions[k], rel / distance[..., None]) < 0.98 * distance - 0.02
        called = tr.visibility[..., channel] == 0
        both = np.sum(hidden & called & interior)
        assert np.sum(called & interior) > 20 and np.sum(hidden & interior) > 20
        assert both > 0.85 * np.sum(called & interior), (both, np.sum(called & interior))
        assert both > 0.6 * np.sum(hidden & interior), (both, np.sum(hidden & interior))


def test_views_from_one_place_see_everything_whatever_their_turn(textures):
    """Three cameras at one point, each yawed, pitched and rolled its own way: every point is seen
    by all (up to an edge pixel), which needs the renderer's ray convention to the letter; the
    same views taken as level ones would disagree on many pixels."""
    scene, path = synth.street_scene(5, textures.count)
    positions = np.stack([path.pos0] * 3)
    yaws, pitch, roll = (
        np.float32([0.3, -0.2, 1.0]),
        np.float32([0.05, -0.1, 0.0]),
        np.float32([0.1, 0.0, -0.08]),
    )
    _, inverse = synth.render_views(scene, textures, positions, yaws, width=W, height=H,
                                    pitch=pitch, roll=roll, inverse_depth=True)  # fmt: skip
    seen = vis.visibility(inverse, positions, yaws, pitch, roll)
    assert seen.mean() > 0.999, 1 - seen.mean(axis=(0, 1))
    assert vis.visibility(inverse, positions, yaws).mean() < 0.95  # tilts ignored: wrong


def test_colours_of_triplets_stay_what_they_were():
    """Adding the visibility changed no render: the frames of a level and a tilted triplet are
    those measured before it (to float precision, as the held-out sets are pinned) and the
    renderer's to the bit; perspective triplets carry no visibility."""
    tex = synth.make_textures(3, count=6, size=32, levels=3)
    expected = {
        (): [0.4243182206167451, 0.4251670798184932, 0.42469094588401884],
        (("tilt_deg", 3.0), ("spacing", (2.0, 3.0))): [
            0.42378751855479396, 0.42480638252648834, 0.42340504046781763,
        ],
    }  # fmt: skip
    for kw, means in expected.items():
        tr = synth.street_triplet(21, tex, width=64, height=32, **dict(kw))  # supersample 2
        got = [float(a.astype(np.float64).mean()) for a in (tr.img0, tr.mid, tr.img1)]
        np.testing.assert_allclose(got, means, rtol=1e-6)
        assert tr.visibility.shape == (32, 64, 2)
        kw = dict(kw)
        scene, _ = synth.street_scene(21, tex.count, kw.get("spacing", SPACING))
        positions, yaws, pitch, roll = _cameras(21, tex.count, tr.t, **kw)
        views = synth.render_views(scene, tex, positions, yaws, width=64, height=32,
                                   pitch=pitch, roll=roll)  # fmt: skip
        for view, frame in zip(views, (tr.img0, tr.mid, tr.img1), strict=True):
            np.testing.assert_array_equal(view, frame)
    assert synth.street_triplet(7, tex, width=32, height=32, equirect=False).visibility is None
    assert synth.flying_triplet(7, tex, width=32, height=32).visibility is None


def _tagged(rng, h=16, w=32):
    """A triplet whose visibility channel k is a function of input k's colour (so it must travel
    with that input)."""

    def img():
        out = rng.random((h, w, 3), dtype=np.float32)
        out[..., 0] = rng.choice(np.float32([0.2, 0.8]), (h, w))  # the tag, far from 0.5
        return out

    img0, mid, img1 = img(), img(), img()
    seen = np.stack([img0[..., 0] > 0.5, img1[..., 0] > 0.5], axis=-1).astype(np.float32)
    return Triplet(img0, mid, img1, 0.3, True, visibility=seen)


def _tags(tr):
    return np.stack([tr.img0[..., 0] > 0.5, tr.img1[..., 0] > 0.5], axis=-1).astype(np.float32)


def test_augmentation_moves_the_visibility_with_the_frames_and_swaps_it_with_them():
    tr = _tagged(np.random.default_rng(0))
    still = augment.AugmentConfig(brightness=0, contrast=0, saturation=0, exposure_stops=0,
                                  white_balance=0, noise=0, jpeg=0, vflip=0.5)  # fmt: skip
    reversed_ = set()
    for seed in range(12):  # rolled, mirrored or not, reversed or not
        out = augment.augment(np.random.default_rng(seed), tr, still)
        np.testing.assert_array_equal(out.visibility, _tags(out))
        reversed_.add(out.t != tr.t)
    assert reversed_ == {True, False}
    ops = [lambda x: augment.yaw_roll(x, 8), augment.hflip, augment.vflip, augment.reverse,
           lambda x: augment.crop(x, 2, 5, 8, 12)]  # fmt: skip
    for op in ops:
        np.testing.assert_array_equal(op(tr).visibility, _tags(op(tr)))
    flipped = augment.reverse(tr).visibility
    np.testing.assert_array_equal(flipped, tr.visibility[..., ::-1])
    assert flipped.flags.c_contiguous
    np.testing.assert_array_equal(augment.reverse(augment.reverse(tr)).visibility, tr.visibility)
    plain = dataclasses.replace(tr, visibility=None)
    assert all(op(plain).visibility is None for op in ops)
    # the whole photometric path leaves it alone
    out = augment.augment(np.random.default_rng(3), tr, augment.AugmentConfig(reverse=0, hflip=0,
                                                                              roll_multiple=0))  # fmt: skip
    np.testing.assert_array_equal(out.visibility, tr.visibility)


def test_a_batch_carries_the_visibility_and_which_samples_have_one():
    rng = np.random.default_rng(1)
    with_seen = _tagged(rng)
    without = dataclasses.replace(_tagged(rng), visibility=None)
    batch = stack_batch([without, with_seen], classical_init=False)
    assert batch.visibility.shape == (2, 16, 32, 2) and batch.visibility.dtype == np.float32
    np.testing.assert_array_equal(batch.visibility[1], with_seen.visibility)
    assert np.all(batch.visibility[0] == 0) and batch.visibility_valid.tolist() == [0.0, 1.0]
    none = stack_batch([without, without], classical_init=False)  # same arrays: one compile
    assert none.visibility.shape == (2, 16, 32, 2) and none.visibility_valid.tolist() == [0, 0]


def _truth(seed=0, b=2, h=16, w=32):
    """Visibility ``(B, H, W, 2)``: mostly both, some only 0, some only 1, a few neither."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, (b, h, w), p=[0.6, 0.15, 0.15, 0.1])  # both, only 0, only 1, neither
    v0 = (kind == 0) | (kind == 1)
    v1 = (kind == 0) | (kind == 2)
    return np.stack([v0, v1], axis=-1).astype(np.float32), kind


def test_the_visibility_loss_rewards_the_mask_that_picks_the_seeing_input():
    truth, kind = _truth()
    valid = jnp.ones(2)
    right = np.where(kind == 1, 0.9, 0.1).astype(np.float32)[..., None]
    flipped = 1.0 - right
    good = losses.visibility_loss([right], truth, valid, equirect=True)
    bad = losses.visibility_loss([flipped], truth, valid, equirect=True)
    assert float(good) == pytest.approx(-np.log(0.9), rel=1e-5)  # only one-sided pixels count
    assert float(bad) == pytest.approx(-np.log(0.1), rel=1e-5)
    # masks at 0 and 1 are clipped: finite; two candidates' masks are averaged
    hard = losses.visibility_loss([1.0 - (kind == 1)[..., None]], truth, valid, equirect=True)
    assert np.isfinite(float(hard)) and float(hard) > 5.0
    both = losses.visibility_loss([right, flipped], truth, valid, equirect=True)
    assert float(both) == pytest.approx((float(good) + float(bad)) / 2, rel=1e-5)
    # a sample without visibility counts for nothing, whatever its mask
    wild = right.copy()
    wild[0] = 1.0 - wild[0]
    part = losses.visibility_loss([wild], truth, jnp.float32([0, 1]), equirect=True)
    assert float(part) == pytest.approx(-np.log(0.9), rel=1e-5)
    # no one-sided pixel at all (or no valid sample): 0, not NaN
    assert float(losses.visibility_loss([right], np.ones_like(truth), valid, equirect=True)) == 0
    assert float(losses.visibility_loss([right], truth, jnp.zeros(2), equirect=True)) == 0


@pytest.mark.parametrize("equirect", [True, False])
def test_the_visibility_loss_matches_a_numpy_reference(equirect):
    truth, kind = _truth(seed=4)
    rng = np.random.default_rng(5)
    mask = rng.uniform(0.0, 1.0, kind.shape).astype(np.float32)
    m = np.clip(mask, 1e-4, 1 - 1e-4)
    target = (kind == 1).astype(np.float64)
    bce = -(target * np.log(m) + (1 - target) * np.log(1 - m))
    rows = latitude_weights(16) if equirect else np.ones(16)
    weight = ((kind == 1) | (kind == 2)) * rows[None, :, None] * np.float32([1, 0.0])[:, None, None]
    expect = np.sum(weight * bce) / np.sum(weight)
    got = losses.visibility_loss([jnp.asarray(mask[..., None])], truth, jnp.float32([1, 0]),
                                 equirect=equirect)  # fmt: skip
    assert float(got) == pytest.approx(expect, rel=1e-5)


def test_the_visibility_loss_joins_the_step_on_both_candidates_masks():
    """With geometry the term is the mean over the DIS and the geometry candidate's masks, added
    with its weight to the photometric loss."""
    from viewsynth.model import ModelConfig, Network, classical_init
    from viewsynth.model.init import with_geometry
    from viewsynth.training.config import LossConfig, OptimConfig
    from viewsynth.training.step import make_optimizer, train_step

    h, w = 32, 64
    rng = np.random.default_rng(0)
    img0, img1 = (rng.random((2, h, w, 3), dtype=np.float32) for _ in range(2))
    t = np.float32([0.3, 0.6])
    rows = []
    for i in range(2):
        one = classical_init(img0[i], img1[i], t[i : i + 1], equirect=True)
        dis = one.candidates[0]
        geo = [(dis.flow_t0[0] + 0.5, dis.flow_t1[0] - 0.5, np.full((h, w), 0.6))]
        rows.append(with_geometry(one, img0[i], img1[i], geo, equirect=True))
    init = jax.tree.map(lambda *x: np.concatenate(x), *rows)
    mid = 0.5 * (img0 + img1)
    truth, _ = _truth(seed=2, h=h, w=w)
    seen = (truth, np.float32([1, 0]))
    cfg = ModelConfig.tiny(geometry=True, motion_channels=24)
    tx, _ = make_optimizer(OptimConfig(), 10)

    # K = 1, as the network ships (one step compiles in half the time of two)
    masks = nnx.jit(lambda m: m(img0, img1, t, equirect=True, iters=1, init=init))(
        Network(cfg, rngs=nnx.Rngs(0))
    )
    assert len(masks.candidates) == 2
    expect = losses.visibility_loss([c.mask for c in masks.candidates], *seen, equirect=True)
    model = Network(cfg, rngs=nnx.Rngs(0))
    loss, per_iter, _, term = train_step(
        model, nnx.Optimizer(model, tx, wrt=nnx.Param), img0, img1, mid, t, init, seen,
        equirect=True, iters=1, loss_cfg=LossConfig(census_weight=0.0, visibility_weight=0.5),
    )  # fmt: skip
    assert float(term) == pytest.approx(float(expect), rel=1e-4) and float(term) > 0.1
    assert float(loss) == pytest.approx(float(per_iter[0]) + 0.5 * float(term), rel=1e-5)


def test_the_loop_passes_the_visibility_only_with_a_weight_and_logs_its_term(tmp_path, monkeypatch):
    """At weight 0 the step gets no visibility (so it is the step as before, one compile) and the
    log shows no term; with a weight it gets the batch's and the log line and metrics show it."""
    from viewsynth.training import loop
    from viewsynth.training.logbook import read_metrics

    rng = np.random.default_rng(2)
    batch = stack_batch([_tagged(rng), dataclasses.replace(_tagged(rng), visibility=None)],
                        classical_init=False)  # fmt: skip
    calls = []

    def fake_step(model, optimizer, img0, img1, mid, t, init, visibility, **kw):
        calls.append(visibility)
        term = None if visibility is None else jnp.float32(0.25)
        return jnp.float32(1.0), jnp.ones(2), jnp.float32(0.5), term

    monkeypatch.setattr(loop, "train_step", fake_step)
    for weight in (0.0, 0.5):
        lines, workdir = [], tmp_path / f"w{weight}"
        cfg = load_config(DEBUG, [f"workdir={workdir}", "steps=2", "validation.every=0",
                                  f"loss.visibility_weight={weight}"])  # fmt: skip
        loop.train(cfg, batches=lambda step: batch, log=lines.append)
        steps = [line for line in lines if line.startswith("step ")]
        records = [r for r in read_metrics(workdir / "metrics.jsonl") if r["kind"] == "train"]
        if weight == 0:
            assert calls == [None, None] and all("vis" not in r for r in records)
            assert steps and not any("vis" in line for line in steps)
        else:
            truth, valid = calls[-1]
            np.testing.assert_array_equal(np.asarray(truth), batch.visibility)
            assert np.asarray(valid).tolist() == [1.0, 0.0]
            assert all(r["vis"] == 0.25 for r in records) and len(records) == 2
            assert all(", vis 0.2500," in line for line in steps)


def test_visibility_weight_is_validated():
    assert load_config(DEBUG).loss.visibility_weight == 0.0  # every existing config: no such loss
    with pytest.raises(ConfigError, match=r"train_debug.yaml.loss: .*visibility_weight.* >= 0$"):
        load_config(DEBUG, ["loss.visibility_weight=-0.5"])
    assert load_config(DEBUG, ["loss.visibility_weight=0.5"]).loss.visibility_weight == 0.5
