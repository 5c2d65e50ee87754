"""Losses against NumPy references; the seam and latitude weighting; uint8 PSNR."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from viewsynth.geometry import latitude_weights
from viewsynth.training import losses


def _images(seed, shape=(2, 8, 16, 3)):
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)


def _census_reference(pred, target, radius, equirect):
    """Loops over the window, padding by hand: wrap in x for panoramas, reflect otherwise."""
    w_rgb = np.array([0.299, 0.587, 0.114])

    def ternary(img):
        g = img.astype(np.float64) @ w_rgb
        b, h, w = g.shape
        out = np.zeros((b, h, w, (2 * radius + 1) ** 2))
        for y in range(h):
            for x in range(w):
                k = 0
                for dy in range(-radius, radius + 1):
                    for dx in range(-radius, radius + 1):
                        yy = y + dy
                        yy = -yy if yy < 0 else (2 * (h - 1) - yy if yy >= h else yy)
                        xx = x + dx
                        if equirect:
                            xx %= w
                        else:
                            xx = -xx if xx < 0 else (2 * (w - 1) - xx if xx >= w else xx)
                        d = (g[:, yy, xx] - g[:, y, x]) * 255.0
                        out[:, y, x, k] = d / np.sqrt(0.81 + d * d)
                        k += 1
        return out

    d = (ternary(pred) - ternary(target)) ** 2
    return np.mean(d / (0.1 + d), axis=-1)


def test_charbonnier_matches_numpy():
    a, b = _images(0)
    want = np.mean(np.sqrt((a.astype(np.float64) - b) ** 2 + 1e-6), axis=-1)
    got = jax.jit(losses.charbonnier)(a, b)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("equirect", [True, False])
def test_census_matches_reference(equirect):
    a, b = _images(1, (1, 6, 10, 3))
    got = jax.jit(lambda p, q: losses.census(p, q, equirect=equirect, radius=2))(a, b)
    want = _census_reference(a, b, 2, equirect)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_census_wraps_the_seam_for_panoramas_only():
    a, b = _images(2, (1, 8, 16, 3))
    roll = lambda x: np.roll(x, 5, axis=2)  # noqa: E731
    base = np.asarray(losses.census(a, b, equirect=True))
    rolled = np.asarray(losses.census(roll(a), roll(b), equirect=True))
    np.testing.assert_allclose(rolled, np.roll(base, 5, axis=2), atol=1e-6)
    flat = np.asarray(losses.census(roll(a), roll(b), equirect=False))
    assert (
        np.abs(flat - np.roll(np.asarray(losses.census(a, b, equirect=False)), 5, axis=2)).max()
        > 1e-3
    )


def test_census_ignores_a_change_of_exposure_but_not_of_content():
    a, b = _images(3, (1, 16, 16, 3))
    brighter = np.clip(a * 0.8 + 0.1, 0, 1)
    same = float(jnp.mean(losses.census(a, brighter, equirect=False)))
    other = float(jnp.mean(losses.census(a, b, equirect=False)))
    assert same < 0.05 < other


def test_weighted_mean_uses_latitude_weights_on_panoramas():
    per_pixel = np.zeros((1, 8, 16), np.float32)
    per_pixel[:, 0] = 1.0  # only the top row (near the pole) is wrong
    w = latitude_weights(8)
    want = w[0] / w.sum()
    got = float(losses.weighted_mean(per_pixel, equirect=True))
    assert got == pytest.approx(want, rel=1e-5)
    assert float(losses.weighted_mean(per_pixel, equirect=False)) == pytest.approx(1 / 8)


def test_sequence_loss_weighs_iterations_geometrically():
    a, b = _images(4)
    frames = [a, (a + b) / 2, b * 0.9]
    total, per_iter = losses.sequence_loss(frames, b, equirect=True, gamma=0.5, census_weight=0.3)
    singles = [float(losses.frame_loss(f, b, equirect=True, census_weight=0.3)) for f in frames]
    np.testing.assert_allclose(np.asarray(per_iter), singles, rtol=1e-6)
    assert float(total) == pytest.approx(
        0.25 * singles[0] + 0.5 * singles[1] + singles[2], rel=1e-6
    )


def test_frame_loss_is_charbonnier_plus_census():
    a, b = _images(5)
    ch = np.asarray(losses.charbonnier(a, b)).mean()
    ce = np.asarray(losses.census(a, b, equirect=False)).mean()
    got = float(losses.frame_loss(a, b, equirect=False, census_weight=2.0))
    assert got == pytest.approx(ch + 2.0 * ce, rel=1e-5)


def test_psnr_uint8_rounds_and_weighs_rows():
    rng = np.random.default_rng(6)
    target = (rng.integers(0, 256, (8, 16, 3)) / 255.0).astype(np.float32)
    assert losses.psnr_uint8(target + 0.4 / 255.0, target) == float("inf")  # same after rounding
    pred = target.copy()
    pred[0] = np.clip(pred[0] + 10 / 255.0, 0, 1)
    p = np.rint(pred * 255.0)
    q = np.rint(target * 255.0)
    mse = np.mean((p - q) ** 2)
    assert losses.psnr_uint8(pred, target) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)
    w = np.cos((np.arange(8) - 4 + 0.5) * np.pi / 8)[:, None, None]
    wmse = np.sum(w * (p - q) ** 2) / (np.sum(w) * 16 * 3)
    assert losses.psnr_uint8(pred, target, equirect=True) == pytest.approx(
        10 * np.log10(255**2 / wmse), rel=1e-9
    )


def test_ssim_term_matches_the_evaluation_ssim_and_wraps_the_seam():
    from viewsynth.evaluation import metrics

    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (1, 32, 48, 3)).astype(np.uint8)
    noise = rng.integers(-40, 41, a.shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    fa, fb = a.astype(np.float32) / 255.0, b.astype(np.float32) / 255.0
    got = np.asarray(jax.jit(lambda p, q: losses.ssim_map(p, q, equirect=False))(fa, fb))
    want = metrics.ssim(a[0], b[0])  # valid windows only
    assert np.mean(got[0, 5:-5, 5:-5]) == pytest.approx(want, abs=2e-4)
    assert np.asarray(losses.ssim_map(fa, fa, equirect=False)) == pytest.approx(1.0, abs=1e-5)
    # panoramas: rolling both images rolls the map (the window wraps longitude)
    base = np.asarray(losses.ssim_map(fa, fb, equirect=True))
    rolled = np.asarray(losses.ssim_map(np.roll(fa, 7, 2), np.roll(fb, 7, 2), equirect=True))
    np.testing.assert_allclose(rolled, np.roll(base, 7, 2), atol=1e-5)
    flat = np.asarray(losses.ssim_map(np.roll(fa, 7, 2), np.roll(fb, 7, 2), equirect=False))
    assert np.abs(flat - np.roll(base, 7, 2)).max() > 1e-2


def test_ssim_weight_adds_the_structure_term():
    rng = np.random.default_rng(6)
    a = rng.random((1, 24, 24, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    plain = float(losses.frame_loss(a, b, equirect=False, census_weight=0.0))
    with_ssim = float(losses.frame_loss(a, b, equirect=False, census_weight=0.0, ssim_weight=2.0))
    term = float(np.mean(0.5 * (1.0 - np.asarray(losses.ssim_map(a, b, equirect=False)))))
    assert with_ssim == pytest.approx(plain + 2.0 * term, rel=1e-5)
    assert term > 0.01  # noise of 0.1 costs SSIM


def test_mse_weight_adds_the_squared_error_and_prefers_blending_unsure_candidates():
    rng = np.random.default_rng(7)
    a = rng.random((1, 16, 16, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    plain = float(losses.frame_loss(a, b, equirect=False, census_weight=0.0))
    with_mse = float(losses.frame_loss(a, b, equirect=False, census_weight=0.0, mse_weight=5.0))
    assert with_mse == pytest.approx(plain + 5.0 * float(np.mean((a - b) ** 2)), rel=1e-5)
    # Two candidates 0 and 1, the truth is 0 on 60 % of the pixels and 1 on the rest: Charbonnier
    # alone is smallest for the median (pick 0), adding the squared term moves the best
    # constant prediction towards the mean (0.4).
    target = np.zeros((1, 10, 1, 3), np.float32)
    target[:, 6:] = 1.0

    def best(mse_weight):
        grid = np.linspace(0, 1, 101, dtype=np.float32)
        scores = [
            float(losses.frame_loss(np.full_like(target, g), target, equirect=False,
                                    census_weight=0.0, mse_weight=mse_weight))
            for g in grid
        ]  # fmt: skip
        return grid[int(np.argmin(scores))]

    assert best(0.0) == pytest.approx(0.0, abs=0.011)
    assert 0.1 < best(5.0) < 0.4
