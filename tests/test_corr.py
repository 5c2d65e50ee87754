"""The correlation lookup against a NumPy reference, with and without longitude wrapping."""

import numpy as np
import pytest

from viewsynth.model.corr import local_correlation, lookup
from viewsynth.model.warp import backward_warp


def np_local_correlation(a, b, r, equirect):
    """Reference: corr[y, x, (dy + r) * (2r+1) + (dx + r)] = <a(y, x), b(y+dy, x+dx)> / sqrt(C)."""
    bsz, h, w, c = a.shape
    k = 2 * r + 1
    out = np.zeros((bsz, h, w, k * k))
    for y in range(h):
        for x in range(w):
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    yy, xx = y + dy, x + dx
                    if not 0 <= yy < h:
                        continue
                    if equirect:
                        xx %= w
                    elif not 0 <= xx < w:
                        continue
                    out[:, y, x, (dy + r) * k + dx + r] = np.sum(a[:, y, x] * b[:, yy, xx], -1)
    return out / np.sqrt(c)


@pytest.mark.parametrize("equirect", [True, False])
@pytest.mark.parametrize(("w", "tile"), [(12, 4), (10, 4), (7, 16), (5, 2)])
def test_local_correlation_matches_numpy(equirect, w, tile):
    # widths that are and are not multiples of the tile, and narrower than the window
    rng = np.random.default_rng(0)
    r = 2
    a = rng.normal(size=(2, 6, w, 5)).astype(np.float32)
    b = rng.normal(size=(2, 6, w, 5)).astype(np.float32)
    got = np.asarray(local_correlation(a, b, r, equirect=equirect, tile=tile))
    np.testing.assert_allclose(got, np_local_correlation(a, b, r, equirect), atol=1e-5)


@pytest.mark.parametrize("equirect", [True, False])
def test_lookup_is_correlation_of_warped_features(equirect):
    rng = np.random.default_rng(1)
    f0 = rng.normal(size=(1, 5, 9, 4)).astype(np.float32)
    f1 = rng.normal(size=(1, 5, 9, 4)).astype(np.float32)
    flow0 = (rng.normal(size=(1, 5, 9, 2)) * 3).astype(np.float32)
    flow1 = (rng.normal(size=(1, 5, 9, 2)) * 3).astype(np.float32)
    got = np.asarray(lookup(f0, f1, flow0, flow1, 1, equirect=equirect))
    w0 = np.asarray(backward_warp(f0, flow0, equirect=equirect))
    w1 = np.asarray(backward_warp(f1, flow1, equirect=equirect))
    np.testing.assert_allclose(got, np_local_correlation(w0, w1, 1, equirect), atol=1e-5)


def test_lookup_peaks_at_the_true_offset():
    # frame 1 is frame 0 moved 2 px right and 1 px down; with zero flows the best match of
    # pixel p in frame 1 is at offset (dy, dx) = (1, 2).
    rng = np.random.default_rng(2)
    f0 = rng.normal(size=(1, 8, 16, 64)).astype(np.float32)
    f1 = np.roll(f0, (1, 2), axis=(1, 2))
    zero = np.zeros((1, 8, 16, 2), np.float32)
    corr = np.asarray(lookup(f0, f1, zero, zero, 2, equirect=True))
    best = corr[0, 2:6].argmax(-1)  # rows away from the top/bottom border
    assert np.all(best == (1 + 2) * 5 + (2 + 2))


def test_lookup_rolls_with_the_panorama():
    rng = np.random.default_rng(3)
    f0 = rng.normal(size=(1, 4, 8, 3)).astype(np.float32)
    f1 = rng.normal(size=(1, 4, 8, 3)).astype(np.float32)
    fl = (rng.normal(size=(1, 4, 8, 2)) * 4).astype(np.float32)
    k = 3

    def roll(x):
        return np.roll(x, k, axis=2)

    a = roll(np.asarray(lookup(f0, f1, fl, -fl, 2, equirect=True)))
    b = np.asarray(lookup(roll(f0), roll(f1), roll(fl), roll(-fl), 2, equirect=True))
    np.testing.assert_allclose(a, b, atol=1e-5)
