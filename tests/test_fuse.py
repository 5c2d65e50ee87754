"""The fusion at the input size (two bands of rows on two cores) and the pose's two detectors on two
cores give what one pass in one thread gives."""

from __future__ import annotations

import numpy as np
import pytest

from viewsynth.classical import backward_warp
from viewsynth.model.fuse import fuse_full, resample
from viewsynth.threads import in_background


def one_pass(images, flows, weights, residual, *, equirect):
    """The fusion written plainly: every field upsampled whole, each sample warped by
    classical.backward_warp with its flow scaled to the frame, weighted, summed, clipped."""
    height, width = images[0].shape[:2]
    ch, cw = flows[0].shape[:2]
    mid = np.zeros((height, width, 3), np.float32)
    if residual is not None:
        mid += resample(residual, width, height, equirect=equirect)
    for k, (flow, weight) in enumerate(zip(flows, weights, strict=True)):
        # a channel at a time: OpenCV 5.1's remap of 2-channel float images rounds positions to
        # 1/32 pixel, its 1-, 3- and 4-channel remaps do not
        f = np.dstack(
            [resample(flow[..., c : c + 1], width, height, equirect=equirect) for c in (0, 1)]
        )
        f *= np.float32([width / cw, height / ch])
        w = resample(weight[..., None], width, height, equirect=equirect)
        mid += backward_warp(images[k % 2], f, equirect=equirect) * w
    return np.clip(mid, 0.0, 1.0)


def fields(rng, ch, cw, n, scale=3.0):
    flows = [rng.normal(0, scale, (ch, cw, 2)).astype(np.float32) for _ in range(n)]
    w = rng.random((n, ch, cw)).astype(np.float32)
    return flows, list(w / w.sum(0))


@pytest.mark.parametrize(
    ("equirect", "size", "work", "n", "residual"),
    [
        (True, (97, 194), (32, 64), 4, False),  # odd rows: bands of 48 and 49
        (True, (64, 128), (32, 64), 2, True),  # flows only, and a residual
        (False, (45, 70), (24, 40), 4, True),
        (True, (60, 120), (64, 128), 4, False),  # a content larger than the frame: areas
    ],
)
def test_fusion_in_bands_equals_one_pass(equirect, size, work, n, residual):
    rng = np.random.default_rng(3)
    images = tuple(rng.random((*size, 3)).astype(np.float32) for _ in range(2))
    flows, weights = fields(rng, *work, n)
    res = rng.normal(0, 0.05, (*work, 3)).astype(np.float32) if residual else None
    ref = one_pass(images, flows, weights, res, equirect=equirect)
    out = np.full((*size, 3), np.nan, np.float32)
    got = fuse_full(images, flows, weights, res, equirect=equirect, out=out)
    assert got is out and np.isfinite(out).all()  # every row written, into the array given
    # the same operations per pixel (only the order of the weighted sum's terms is kept too)
    assert np.abs(got - ref).max() < 1e-6
    # made from inside the pool (no second core to hand the lower band to): the same frame
    inline = in_background(fuse_full, images, flows, weights, res, equirect=equirect).result()
    assert np.array_equal(inline, got)


def test_far_out_flows_and_other_dtypes_are_fused_as_in_one_pass():
    rng = np.random.default_rng(4)
    images = tuple(rng.random((64, 128, 3)) for _ in range(2))  # float64, made float32 once
    flows, weights = fields(rng, 32, 64, 4)
    flows[1][3, 5] = (200.0, 0.0)  # one pixel looks more than a frame's width away
    ref = one_pass(tuple(x.astype(np.float32) for x in images), flows, weights, None, equirect=True)
    got = fuse_full(images, flows, weights, None, equirect=True)
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 1e-5
    with pytest.raises(ValueError, match="even number of samples"):
        fuse_full(images, flows[:3], weights[:3], None, equirect=True)


def test_seam_remap_into_an_array_that_does_not_fit_says_so():
    from viewsynth.classical import seam_remap

    image = np.random.default_rng(5).random((8, 16, 3)).astype(np.float32)
    mx, my = np.meshgrid(np.arange(16, dtype=np.float32) + 0.5, np.arange(8, dtype=np.float32))
    out = np.empty((8, 16, 3), np.float32)
    assert seam_remap(image, mx, my, equirect=True, out=out) is out
    assert np.array_equal(out, seam_remap(image, mx, my, equirect=True))
    for bad in (np.empty((7, 16, 3), np.float32), np.empty((8, 16, 3), np.float64)):
        with pytest.raises(ValueError, match="does not fit"):
            seam_remap(image, mx, my, equirect=True, out=bad)


def one_thread_matches(img0, img1):
    """The pose's matching written plainly, in one thread: one SIFT for both views, then Lowe's
    ratio test and the mutual check (keypoints in the seam padding dropped)."""
    import cv2

    from viewsynth.geometry.features import RATIO, _detect, _gray

    sift = cv2.SIFT_create(nfeatures=8000)
    (xy0, d0), (xy1, d1) = (_detect(_gray(x, 512), True, sift) for x in (img0, img1))
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    back = {m.queryIdx: m.trainIdx for m in matcher.match(d1, d0)}
    pairs = [
        (m.queryIdx, m.trainIdx)
        for m, n in matcher.knnMatch(d0, d1, k=2)
        if m.distance < RATIO * n.distance and back.get(m.trainIdx) == m.queryIdx
    ]
    idx = np.array(pairs).reshape(-1, 2)
    return (len(xy0), len(xy1)), xy0[idx[:, 0]] % [512, np.inf], xy1[idx[:, 1]] % [512, np.inf]


def test_pose_features_on_two_cores_equal_one_thread():
    from viewsynth.evaluation.speed import street_pair
    from viewsynth.geometry.features import match_views

    img0, img1 = street_pair(512, 256)
    both = match_views(img0, img1, equirect=True, focal_px=None)
    counts, xy0, xy1 = one_thread_matches(img0, img1)
    assert both.keypoints == counts and len(both.xy0) > 20
    assert np.array_equal(both.xy0, xy0) and np.array_equal(both.xy1, xy1)
    # and from a pool thread (the second detector then runs inline, after the first)
    inline = in_background(match_views, img0, img1, equirect=True, focal_px=None).result()
    assert np.array_equal(both.xy0, inline.xy0) and np.array_equal(both.xy1, inline.xy1)


def test_the_encoding_is_started_only_for_a_pair_that_can_have_a_pose():
    # the geometry network starts its encoding when DIS is done; a perspective pair (never a
    # pose: the 2D network makes it) must not pay for it, a posed panorama pair uses it once
    from viewsynth.evaluation.speed import street_pair
    from viewsynth.interpolators import make_interpolator

    rnn = make_interpolator("rnn")
    calls = []
    encode = rnn._encode
    rnn._encode = lambda *a: calls.append(a[-1]) or encode(*a)
    img0, img1 = street_pair(512, 256)
    out = rnn(img0, img1, [0.5], equirect=True)
    assert rnn.last_pair()["geometry"] and calls == [True]
    persp0, persp1 = (np.ascontiguousarray(x[64:192, 128:320]) for x in (img0, img1))
    flat = rnn(persp0, persp1, [0.5], equirect=False)
    assert calls == [True] and flat.shape == (1, 128, 192, 3) and np.isfinite(out).all()


def test_fields_stacked_by_the_network_fuse_to_the_same_frame():
    """``fuse_fields`` takes the flows two by two and the weights as one array (the network stacks
    them before they leave JAX): the frame ``fuse_full`` makes from the separate fields, to the
    bit, also from views that are not contiguous; mismatched counts say so."""
    from viewsynth.model.fuse import fuse_fields

    rng = np.random.default_rng(6)
    images = tuple(rng.random((64, 128, 3)).astype(np.float32) for _ in range(2))
    flows, weights = fields(rng, 40, 72, 4)  # a padded working size, cropped below
    pairs = [np.concatenate(flows[k : k + 2], axis=-1) for k in (0, 2)]
    stacked = np.stack(weights, axis=-1)
    crop = (slice(4, 36), slice(4, 68))
    ref = fuse_full(
        images, [f[crop] for f in flows], [w[crop] for w in weights], None, equirect=False
    )
    got = fuse_fields(images, [p[crop] for p in pairs], stacked[crop], None, equirect=False)
    assert not stacked[crop].flags.c_contiguous and np.array_equal(got, ref)
    with pytest.raises(ValueError, match="2 pairs of flows need 4 weights, got 3"):
        fuse_fields(images, pairs, stacked[..., :3], None, equirect=True)


def test_the_sweeps_flows_at_t_in_two_bands_equal_one_pass(monkeypatch):
    """``sweep.render.flows_at`` makes its row chunks on two cores: each chunk as one pass
    over all rows makes it, to float32's last bit: a few values differ by 4e-8 in about one
    run of four, as the shipped ``rnn`` did from allocation to allocation in session 15 (most
    likely OpenCV's vectorised paths taking other code for unaligned buffers)."""
    import importlib

    from viewsynth.evaluation.speed import street_pair
    from viewsynth.interpolators import network_geometry

    render = importlib.import_module("viewsynth.sweep.render")  # (the package re-exports render())
    img0, img1 = street_pair(256, 128)
    depth = network_geometry()._depth(img0, img1, True)
    assert depth is not None
    banded = render.flows_at(depth, 0.37, 256, 128)
    monkeypatch.setattr(render, "FLOW_ROWS", 128)  # one chunk: nothing for the second core
    whole = render.flows_at(depth, 0.37, 256, 128)
    for a, b in zip(banded, whole, strict=True):
        assert np.abs(a - b).max() < 1e-5 * max(1.0, float(np.abs(b).max()))
    assert np.abs(banded[0]).max() > 0.5  # the pair has parallax: the flows are not trivial
