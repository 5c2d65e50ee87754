"""The one fusion (:func:`viewsynth.warp.fuse`): in two bands of rows on two cores it gives what one
plain pass gives; with one candidate at the frame's size it is ``flow``'s blend to the bit. And the
pose's two detectors on two cores give what one thread gives."""

from __future__ import annotations

import numpy as np
import pytest

from viewsynth.threads import in_background
from viewsynth.warp import backward_warp, blend, fuse, fuse_fields, resample, seam_remap


def one_pass(images, candidates, choice, *, equirect):
    """The fusion written plainly: every field upsampled whole, each candidate's frames warped by
    backward_warp with its flows scaled to the frame and blended, the choice between them, clip."""
    height, width = images[0].shape[:2]
    ch, cw = candidates[0][2].shape[:2]

    def up(field):  # a channel at a time (cv2's 2-channel remap rounds positions to 1/32 px)
        return np.dstack(
            [resample(field[..., c : c + 1], width, height, equirect=equirect)
             for c in range(field.shape[-1])]
        )  # fmt: skip

    blends = []
    for flow_t0, flow_t1, weight0 in candidates:
        gain = np.float32([width / cw, height / ch])
        warped = [backward_warp(img, up(f) * gain, equirect=equirect)
                  for img, f in zip(images, (flow_t0, flow_t1), strict=True)]  # fmt: skip
        blends.append(warped[1] + up(weight0[..., None]) * (warped[0] - warped[1]))
    mid = (
        blends[0] if choice is None else blends[0] + up(choice[..., None]) * (blends[1] - blends[0])
    )
    return np.clip(mid, 0.0, 1.0)


def fields(rng, ch, cw, n, scale=3.0):
    """``n`` candidates ``(flow_t0, flow_t1, weight0)`` of size ``(ch, cw)`` and, for two, a
    choice."""
    candidates = [
        (*(rng.normal(0, scale, (ch, cw, 2)).astype(np.float32) for _ in range(2)),
         rng.random((ch, cw)).astype(np.float32))
        for _ in range(n)
    ]  # fmt: skip
    return candidates, (rng.random((ch, cw)).astype(np.float32) if n == 2 else None)


@pytest.mark.parametrize(
    ("equirect", "size", "work", "n"),
    [
        (True, (97, 194), (32, 64), 2),  # odd rows: bands of 48 and 49
        (True, (64, 128), (32, 64), 1),
        (False, (45, 70), (24, 40), 2),
        (True, (60, 120), (64, 128), 2),  # a content larger than the frame: areas
    ],
)
def test_fusion_in_bands_equals_one_pass(equirect, size, work, n):
    rng = np.random.default_rng(3)
    images = tuple(rng.random((*size, 3)).astype(np.float32) for _ in range(2))
    candidates, choice = fields(rng, *work, n)
    ref = one_pass(images, candidates, choice, equirect=equirect)
    out = np.full((*size, 3), np.nan, np.float32)
    got = fuse(*images, candidates, choice, equirect=equirect, out=out)
    assert got is out and np.isfinite(out).all()  # every row written, into the array given
    assert np.abs(got - ref).max() < 1e-6
    # made from inside the pool (no second core to hand the lower band to): the same frame
    inline = in_background(fuse, *images, candidates, choice, equirect=equirect).result()
    assert np.array_equal(inline, got)


@pytest.mark.parametrize("equirect", [False, True])
def test_one_candidate_at_the_frames_size_is_the_blend_to_the_bit(equirect):
    """What ``flow`` makes its frames with: the two warps and :func:`blend`, the very same bits."""
    rng = np.random.default_rng(7)
    images = tuple(rng.random((50, 100, 3)).astype(np.float32) for _ in range(2))
    (candidate,), _ = fields(rng, 50, 100, 1, scale=6.0)
    flow_t0, flow_t1, weight0 = candidate
    want = blend(
        backward_warp(images[0], flow_t0, equirect=equirect),
        backward_warp(images[1], flow_t1, equirect=equirect), weight0,
    )  # fmt: skip
    assert np.array_equal(fuse(*images, [candidate], equirect=equirect), want)


def test_far_out_flows_and_other_dtypes_are_fused_as_in_one_pass():
    rng = np.random.default_rng(4)
    images = tuple(rng.random((64, 128, 3)) for _ in range(2))  # float64, made float32 once
    candidates, choice = fields(rng, 32, 64, 2)
    candidates[1][1][3, 5] = (200.0, 0.0)  # one pixel looks more than a frame's width away
    ref = one_pass(tuple(x.astype(np.float32) for x in images), candidates, choice, equirect=True)
    got = fuse(*images, candidates, choice, equirect=True)
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 1e-5
    with pytest.raises(ValueError, match="one candidate, or two and a choice; got 2 and no choice"):
        fuse(*images, candidates, None, equirect=True)
    with pytest.raises(ValueError, match="one candidate, or two and a choice; got 1 and choice"):
        fuse(*images, candidates[:1], choice, equirect=True)


@pytest.mark.parametrize("reach", [0.9, 1.1])
def test_panorama_maps_in_reach_skip_the_range_check_to_the_bit(reach):
    """A candidate whose x stays within cv2's own wrap is remapped without seam_remap's check
    (decided once per frame): the same bits as with it; beyond reach it is checked per piece."""
    from viewsynth.warp import _fuse_rows

    rng = np.random.default_rng(5)
    images = tuple(rng.random((64, 128, 3)).astype(np.float32) for _ in range(2))
    candidates, choice = fields(rng, 32, 64, 2)
    candidates[0][0][..., 0] = np.float32(reach * 63.0 / 2.0)  # x gain 2: 0.9 or 1.1 widths
    got = fuse(*images, candidates, choice, equirect=True)
    flows = [np.concatenate(c[:2], axis=-1) for c in candidates]
    weights = np.dstack([c[2] for c in candidates] + [choice])
    checked = np.empty_like(got)
    _fuse_rows(images, [*flows, weights], np.float32([2, 2]), slice(0, 64), checked, equirect=True)
    assert np.array_equal(got, checked)
    ref = one_pass(images, candidates, choice, equirect=True)
    assert np.abs(got - ref).max() < 1e-5


def test_seam_remap_into_an_array_that_does_not_fit_says_so():
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
    # the geometry network starts its encoding when DIS is done; a pair without a pose (the 2D
    # network makes it: here one perspective frame twice, no parallax) must not pay for it, a
    # posed panorama pair uses it once
    from viewsynth.evaluation.speed import street_pair
    from viewsynth.interpolators import make_interpolator

    rnn = make_interpolator("rnn")
    calls = []
    encode = rnn._encode
    rnn._encode = lambda *a: calls.append(a[-1]) or encode(*a)
    img0, img1 = street_pair(512, 256)
    out = rnn(img0, img1, [0.5], equirect=True)
    assert rnn.last_pair()["geometry"] and calls == [True]
    persp = np.ascontiguousarray(img0[64:192, 128:320])
    flat = rnn(persp, persp, [0.5], equirect=False)
    assert not rnn.last_pair()["geometry"]
    assert calls == [True] and flat.shape == (1, 128, 192, 3) and np.isfinite(out).all()


def test_fields_stacked_by_the_network_fuse_to_the_same_frame():
    """``fuse_fields`` takes each candidate's flows as one array and the weights as one (the
    network stacks them before they leave JAX): the frame ``fuse`` makes from the separate fields,
    to the bit, also from views that are not contiguous; mismatched counts say so."""
    rng = np.random.default_rng(6)
    images = tuple(rng.random((64, 128, 3)).astype(np.float32) for _ in range(2))
    candidates, choice = fields(rng, 40, 72, 2)  # a padded working size, cropped below
    flows = [np.concatenate(c[:2], axis=-1) for c in candidates]
    stacked = np.stack([candidates[0][2], candidates[1][2], choice], axis=-1)
    crop = (slice(4, 36), slice(4, 68))
    ref = fuse(
        *images, [tuple(f[crop] for f in c) for c in candidates], choice[crop], equirect=False
    )
    got = fuse_fields(*images, [f[crop] for f in flows], stacked[crop], equirect=False)
    assert not stacked[crop].flags.c_contiguous and np.array_equal(got, ref)
    with pytest.raises(ValueError, match="2 candidates need 3 weight channels, got 2"):
        fuse_fields(*images, flows, stacked[..., :2], equirect=True)


def test_the_sweeps_flows_at_t_in_two_bands_equal_one_pass(monkeypatch):
    """``sweep.render.flows_at`` makes its row chunks on two cores: each chunk as one pass
    over all rows makes it, to float32's last bit: a few values differ by 4e-8 in about one
    run of four, as the shipped ``rnn`` did from allocation to allocation in session 15 (most
    likely OpenCV's vectorised paths taking other code for unaligned buffers)."""
    import importlib

    from viewsynth.evaluation.speed import street_pair
    from viewsynth.interpolators import Sweep

    render = importlib.import_module("viewsynth.sweep.render")  # (the package re-exports render())
    img0, img1 = street_pair(256, 128)
    depth = Sweep.for_network().pair_depth(img0, img1, equirect=True)
    assert depth is not None
    banded = render.flows_at(depth, 0.37, 256, 128)
    monkeypatch.setattr(render, "FLOW_ROWS", 128)  # one chunk: nothing for the second core
    whole = render.flows_at(depth, 0.37, 256, 128)
    for a, b in zip(banded, whole, strict=True):
        assert np.abs(a - b).max() < 1e-5 * max(1.0, float(np.abs(b).max()))
    assert np.abs(banded[0]).max() > 0.5  # the pair has parallax: the flows are not trivial
