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
        f = np.dstack([resample(flow[..., c : c + 1], width, height, equirect=equirect) for c in (0, 1)])
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


def test_pose_features_on_two_cores_equal_one_thread():
    from viewsynth.evaluation.speed import street_pair
    from viewsynth.geometry.features import match_views

    img0, img1 = street_pair(256, 128)
    both = match_views(img0, img1, equirect=True, focal_px=None)
    # from a pool thread the second view's detector runs inline, after the first
    inline = in_background(match_views, img0, img1, equirect=True, focal_px=None).result()
    assert both.keypoints == inline.keypoints and len(both.xy0) > 20
    assert np.array_equal(both.xy0, inline.xy0) and np.array_equal(both.xy1, inline.xy1)
