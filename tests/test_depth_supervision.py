"""Inverse-depth supervision from the renderer: each pixel's inverse ray distance, the street
panorama's middle-view depth in baselines (the sweep's unit), augmentation that keeps it on its
pixels, the batch that carries it, the depth loss and its setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from viewsynth import synth
from viewsynth.errors import ConfigError
from viewsynth.geometry import latitude_weights
from viewsynth.synth import raycast, street
from viewsynth.synth.triplets import Triplet
from viewsynth.training import augment, losses
from viewsynth.training.batch import stack_batch
from viewsynth.training.config import load_config

DEBUG = Path(__file__).resolve().parents[1] / "configs" / "train_debug.yaml"


@pytest.fixture(scope="module")
def textures():
    return synth.make_textures(3, count=6, size=32, levels=3)


def _wall_scene(n_textures):
    """Ground, sky and one box whose front face is the plane z = 10, x in [-6, 6], y in [0, 6]."""
    scene, _ = synth.street_scene(0, n_textures)
    valid = np.zeros_like(scene.valid)
    valid[street.BOX0] = 1.0
    lo, hi = scene.box_lo.copy(), scene.box_hi.copy()
    lo[0], hi[0] = (-6.0, 0.0, 10.0), (6.0, 6.0, 12.0)
    return dataclasses.replace(scene, valid=valid, box_lo=lo, box_hi=hi)


def test_the_renderer_gives_each_pixels_inverse_distance_and_keeps_its_colours(textures):
    w, h, s = 64, 32, 2
    scene, eye = _wall_scene(textures.count), np.float32([0.0, 1.5, 0.0])
    kw = dict(width=w, height=h, supersample=s)
    views, inverse = synth.render_views(scene, textures, eye[None], np.zeros(1), **kw,
                                        inverse_depth=True)  # fmt: skip
    np.testing.assert_array_equal(views, synth.render_views(scene, textures, eye[None],
                                                            np.zeros(1), **kw))  # fmt: skip
    assert inverse.shape == (1, h, w) and inverse.dtype == np.float32
    # which surface each of a pixel's s x s rays meets (the trace only classifies here)
    dirs = synth.equirect_directions(w, h, s)
    _, oid, axis = raycast._trace(scene, jnp.asarray(eye), jnp.asarray(dirs.reshape(-1, 3)))
    oid, axis = np.asarray(oid).reshape(h, s, w, s), np.asarray(axis).reshape(h, s, w, s)
    d = dirs.reshape(h, s, w, s, 3)
    wall = ((oid == street.BOX0) & (axis == 2)).all(axis=(1, 3))
    ground = (oid == street.GROUND).all(axis=(1, 3))
    sky = (oid == street.SKY).all(axis=(1, 3))
    assert wall.sum() > 10 and ground.sum() > 100 and sky.sum() > 100
    # 1 / distance: the wall plane z = 10 is d_z / 10 along a ray, the ground y = 0 is -d_y / 1.5
    expect_wall = (d[..., 2] / 10.0).mean(axis=(1, 3))
    expect_ground = (-d[..., 1] / 1.5).mean(axis=(1, 3))
    np.testing.assert_allclose(inverse[0][wall], expect_wall[wall], rtol=1e-5)
    np.testing.assert_allclose(inverse[0][ground], expect_ground[ground], rtol=1e-4)
    assert np.all(inverse[0][sky] == 0.0)
    # an edge pixel gets the blend of its rays, between the two surfaces' values
    edge = ~(wall | ground | sky)
    assert np.all(np.isfinite(inverse)) and np.all(inverse[0][edge] >= 0)


def test_street_panoramas_carry_the_middle_views_depth_in_the_sweeps_baselines(textures):
    """The middle view's inverse depth in baselines^-1 agrees with the sphere sweep's own, which
    estimates it from the two frames alone (a unit-length pose): the scale is the sweep's."""
    from viewsynth.interpolators import Sweep

    tex = synth.make_textures(7, count=8)
    tr = synth.street_triplet(7, tex, width=256, height=128, equirect=True)
    assert tr.depth.shape == (128, 256) and tr.depth.dtype == np.float32
    assert tr.depth[0].max() == 0.0 and tr.depth[-1].min() > 0  # sky above, ground below
    geo = Sweep().candidates(tr.img0, tr.img1, [tr.t], equirect=True, depth=True)
    q = geo.depth[0][0]
    rows = np.abs(np.arange(128) - 63.5) < 32  # away from the poles
    hit = (tr.depth > 0.01) & rows[:, None]
    ratio = np.median(q[hit] / tr.depth[hit])
    assert 0.95 < ratio < 1.05, ratio  # 1.009 when written (1.002 at 384x192)
    assert np.corrcoef(q[hit], tr.depth[hit])[0, 1] > 0.9
    # perspective streets and flying layers carry none
    assert synth.street_triplet(7, textures, width=32, height=32, equirect=False).depth is None
    assert synth.flying_triplet(7, textures, width=32, height=32).depth is None


def test_tilted_panoramas_carry_the_depth_of_their_tilted_middle_view(textures):
    kw = dict(width=64, height=32, equirect=True, supersample=1)
    level = synth.street_triplet(5, textures, **kw)
    tilted = synth.street_triplet(5, textures, tilt_deg=3.0, **kw)
    assert tilted.depth is not None and not np.array_equal(tilted.depth, level.depth)
    # the sky is where the middle view sees no hit: its colour has no depth, in both
    for tr in (level, tilted):
        assert np.all(tr.depth >= 0) and 0.05 < np.mean(tr.depth == 0) < 0.6


def test_geometric_augmentations_keep_the_depth_on_the_middle_views_pixels():
    rng = np.random.default_rng(0)
    img = lambda: rng.random((16, 32, 3), dtype=np.float32)  # noqa: E731
    mid = img()
    tr = Triplet(img(), mid, img(), 0.3, True, depth=2.0 * mid[..., 0])
    still = augment.AugmentConfig(brightness=0, contrast=0, saturation=0, exposure_stops=0,
                                  white_balance=0, noise=0, jpeg=0, vflip=0.5)  # fmt: skip
    reversed_ = set()
    for seed in range(12):  # rolled by a random multiple of 8, mirrored or not, reversed or not
        out = augment.augment(np.random.default_rng(seed), tr, still)
        np.testing.assert_allclose(out.depth, 2.0 * out.mid[..., 0], atol=1e-6)
        reversed_.add(out.t != tr.t)
    assert reversed_ == {True, False}
    # each operation on its own; reversal keeps the middle view, so its depth
    ops = [lambda x: augment.yaw_roll(x, 8), augment.hflip, augment.vflip, augment.reverse,
           lambda x: augment.crop(x, 2, 5, 8, 12)]  # fmt: skip
    for op in ops:
        out = op(tr)
        np.testing.assert_array_equal(out.depth, 2.0 * out.mid[..., 0])
    assert augment.reverse(tr).depth is tr.depth
    plain = dataclasses.replace(tr, depth=None)
    assert all(op(plain).depth is None for op in ops)


def test_a_batch_carries_the_depth_and_which_samples_have_one():
    rng = np.random.default_rng(1)
    img = lambda: rng.random((16, 32, 3), dtype=np.float32)  # noqa: E731
    depth = rng.random((16, 32), dtype=np.float32)
    with_depth = Triplet(img(), img(), img(), 0.5, True, depth=depth)
    without = Triplet(img(), img(), img(), 0.5, True)
    batch = stack_batch([without, with_depth], classical_init=False)
    assert batch.depth.shape == (2, 16, 32) and batch.depth.dtype == np.float32
    np.testing.assert_array_equal(batch.depth[1], depth)
    assert np.all(batch.depth[0] == 0) and batch.depth_valid.tolist() == [0.0, 1.0]
    none = stack_batch([without, without], classical_init=False)  # same arrays: one compile
    assert none.depth.shape == (2, 16, 32) and none.depth_valid.tolist() == [0.0, 0.0]


def _truth(seed=0, b=2, h=32, w=64):
    """Inverse depths (B, H, W) with sky (0) over the top rows and a ragged sky line."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.05, 0.5, (b, h, w)).astype(np.float32)
    line = rng.integers(8, 13, (b, 1, w))  # the top blocks all sky, the next ones part
    truth[np.arange(h)[None, :, None] < line] = 0.0
    return truth


def _pooled_hits(truth, s=8):
    b, h, w = truth.shape
    blocks = truth.reshape(b, h // s, s, w // s, s)
    hits = (blocks > 0).sum(axis=(2, 4))
    return blocks.sum(axis=(2, 4)) / np.maximum(hits, 1), hits / (s * s)


def test_the_depth_loss_is_zero_at_the_truth_and_the_error_elsewhere():
    truth = _truth()
    target, cover = _pooled_hits(truth)
    valid = jnp.ones(2)
    q = jnp.asarray(target[..., None])
    total, per_iter = losses.depth_loss([q], truth, valid, equirect=True)
    assert float(total) == pytest.approx(0.0, abs=1e-6)
    # off by 0.1 everywhere: an error of 0.1; by 0.1 then 0.3: gamma-weighted per iteration
    total, per_iter = losses.depth_loss([q + 0.1, q + 0.3], truth, valid, equirect=True, gamma=0.5)
    np.testing.assert_allclose(per_iter, [0.1, 0.3], rtol=1e-5)
    assert float(total) == pytest.approx(0.5 * 0.1 + 0.3, rel=1e-5)
    # a sample without depth, and a block of sky, count for nothing whatever q says there
    sky = cover == 0
    assert sky.any()
    wild = np.where(sky[..., None], 5.0, target[..., None]).astype(np.float32)
    wild[0] = 7.0
    total, _ = losses.depth_loss([jnp.asarray(wild)], truth, jnp.float32([0, 1]), equirect=True)
    assert float(total) == pytest.approx(0.0, abs=1e-6)
    # nothing valid at all: 0, not NaN
    total, _ = losses.depth_loss([q + 1.0], truth, jnp.zeros(2), equirect=True)
    assert float(total) == 0.0


@pytest.mark.parametrize("equirect", [True, False])
def test_the_depth_loss_matches_a_numpy_reference(equirect):
    """Per block: |q - the mean of its hits|, weighted by its share of hits and, on panoramas,
    the latitude of its row (WS-PSNR's, as every loss here)."""
    truth = _truth(seed=3)
    target, cover = _pooled_hits(truth)
    rng = np.random.default_rng(4)
    q = (target + rng.normal(0, 0.1, target.shape)).astype(np.float32)
    valid = np.float32([1, 1])
    rows = latitude_weights(4) if equirect else np.ones(4)
    weight = cover * rows[None, :, None] * valid[:, None, None]
    expect = np.sum(weight * np.abs(q - target)) / np.sum(weight)
    _, per_iter = losses.depth_loss([jnp.asarray(q[..., None])], truth, jnp.asarray(valid),
                                    equirect=equirect)  # fmt: skip
    assert float(per_iter[0]) == pytest.approx(expect, rel=1e-5)


def test_depth_weight_is_validated_and_needs_the_depth_search():
    assert load_config(DEBUG).loss.depth_weight == 0.0  # every existing config: no depth loss
    with pytest.raises(ConfigError, match=r"train_debug.yaml.loss: .*depth_weight.* >= 0$"):
        load_config(DEBUG, ["loss.depth_weight=-0.5"])
    with pytest.raises(ConfigError, match=r"loss.depth_weight needs model.depth_search"):
        load_config(DEBUG, ["loss.depth_weight=0.5"])
