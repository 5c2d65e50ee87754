"""The renderer's inverse depth (each pixel's inverse ray distance), from which the visibility
truth of street panoramas is made (:mod:`viewsynth.synth.visibility`)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from viewsynth import synth
from viewsynth.synth import raycast, street


def _wall_scene(n_textures):
    """Ground, sky and one box whose front face is the plane z = 10, x in [-6, 6], y in [0, 6]."""
    scene, _ = synth.street_scene(0, n_textures)
    valid = np.zeros_like(scene.valid)
    valid[street.BOX0] = 1.0
    lo, hi = scene.box_lo.copy(), scene.box_hi.copy()
    lo[0], hi[0] = (-6.0, 0.0, 10.0), (6.0, 6.0, 12.0)
    return dataclasses.replace(scene, valid=valid, box_lo=lo, box_hi=hi)


def test_the_renderer_gives_each_pixels_inverse_distance_and_keeps_its_colours():
    textures = synth.make_textures(3, count=6, size=32, levels=3)
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
