"""Metrics against hand-written NumPy references on tiny arrays."""

import math

import numpy as np
import pytest

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation import metrics


def _pair(shape=(13, 14, 3), seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.integers(-20, 21, shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    return a, b


def test_psnr_matches_reference_and_known_values():
    a, b = _pair()
    mse = (
        sum(
            (int(a[i, j, c]) - int(b[i, j, c])) ** 2
            for i in range(a.shape[0])
            for j in range(a.shape[1])
            for c in range(3)
        )
        / a.size
    )
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    zeros = np.zeros((4, 4, 3), np.uint8)
    assert metrics.psnr(zeros, zeros + 255) == pytest.approx(0.0, abs=1e-12)
    assert metrics.psnr(zeros, zeros + 1) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert metrics.psnr(a, a) == math.inf


def test_ie_is_mean_absolute_error_over_rgb():
    gt = np.zeros((2, 2, 3), np.uint8)
    pred = gt.copy()
    pred[0, 1, 2] = 3
    pred[1, 0, 0] = 9  # 12 grey levels over 12 values
    assert metrics.ie(pred, gt) == pytest.approx(1.0)
    a, b = _pair()
    assert metrics.ie(a, b) == pytest.approx(np.abs(a.astype(float) - b).mean(), abs=1e-12)


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 by explicit windows: 11x11 Gaussian (sigma 1.5), valid positions only."""
    r = np.arange(11) - 5.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * (px - mx) ** 2).sum()
            vy = (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            values.append(
                (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            )
    return float(np.mean(values))


def test_ssim_matches_windowed_reference_rgb_and_luma():
    a, b = _pair()
    fa, fb = a.astype(float), b.astype(float)
    rgb = np.mean([_ssim_reference(fa[..., c], fb[..., c]) for c in range(3)])
    assert metrics.ssim(a, b) == pytest.approx(rgb, abs=1e-9)
    w = np.array([0.299, 0.587, 0.114])
    assert metrics.ssim(a, b, channels="luma") == pytest.approx(
        _ssim_reference(fa @ w, fb @ w), abs=1e-9
    )
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(a, b) < 0.99


def test_ssim_refuses_images_smaller_than_its_window():
    tiny = np.zeros((10, 20, 3), np.uint8)
    with pytest.raises(
        ViewsynthError, match=r"^metrics: SSIM needs images of at least 11x11, got 20x10$"
    ):
        metrics.ssim(tiny, tiny)


def test_ws_psnr_matches_reference_and_weights_rows_by_latitude():
    a, b = _pair((8, 16, 3), seed=1)
    h = a.shape[0]
    num = den = 0.0
    for j in range(h):
        wj = math.cos((j - h / 2 + 0.5) * math.pi / h)
        for i in range(a.shape[1]):
            for c in range(3):
                num += wj * (float(a[j, i, c]) - float(b[j, i, c])) ** 2
                den += wj
    assert metrics.ws_psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (num / den)), abs=1e-9)

    gt = np.full((8, 16, 3), 100, np.uint8)
    polar, equator = gt.copy(), gt.copy()
    polar[0] += 10  # same error, in the top row (small weight) ...
    equator[4] += 10  # ... or at the equator (large weight)
    assert metrics.psnr(polar, gt) == pytest.approx(metrics.psnr(equator, gt))
    assert metrics.ws_psnr(polar, gt) > metrics.ws_psnr(equator, gt)
    uniform = gt + 3  # equal error in every row: the weights cancel
    assert metrics.ws_psnr(uniform, gt) == pytest.approx(metrics.psnr(uniform, gt), abs=1e-9)


def test_seam_ws_psnr_uses_a_sixteenth_of_the_width_each_side():
    assert metrics.seam_columns(32).tolist() == [30, 31, 0, 1]
    assert metrics.seam_columns(1024).tolist() == list(range(960, 1024)) + list(range(64))
    gt = np.full((8, 32, 3), 90, np.uint8)
    centre = gt.copy()
    centre[:, 8:24] = 200  # far from the seam
    assert metrics.seam_ws_psnr(centre, gt) == math.inf
    assert metrics.ws_psnr(centre, gt) < 20
    edge = gt.copy()
    edge[:, 31] += 8
    edge[:, 2] += 50  # just outside the seam band: ignored
    cols = [30, 31, 0, 1]
    expected = metrics.ws_psnr(edge[:, cols], gt[:, cols])
    assert metrics.seam_ws_psnr(edge, gt) == pytest.approx(expected, abs=1e-12)
    # 8 grey levels on one of the 4 columns, every row: WMSE = 64 / 4 (the weights cancel).
    assert expected == pytest.approx(10 * math.log10(255**2 / 16.0), abs=1e-9)


def test_score_rounds_the_float_prediction_to_uint8_first():
    gt = np.full((12, 24, 3), 100, np.uint8)
    near = (gt.astype(np.float32) + 0.4) / 255.0  # rounds back to 100
    off = (gt.astype(np.float32) + 0.6) / 255.0  # rounds to 101
    assert metrics.score(near, gt, equirect=False)["psnr"] == math.inf
    s = metrics.score(off, gt, equirect=True)
    assert s["ie"] == pytest.approx(1.0)
    assert s["psnr"] == pytest.approx(20 * math.log10(255))
    assert set(s) == {"psnr", "ssim", "ie", "ws_psnr", "seam_ws_psnr"}
    assert set(metrics.score(off, gt, equirect=False)) == {"psnr", "ssim", "ie"}


def test_metrics_reject_mismatched_or_non_uint8_inputs():
    a = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(
        ViewsynthError,
        match=r"^metrics: prediction \(4, 5, 3\) and ground truth \(4, 6, 3\) differ in shape$",
    ):
        metrics.psnr(a, np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(
        ViewsynthError, match=r"^metrics: prediction must be uint8 \(H, W, 3\), got float32"
    ):
        metrics.ie(a.astype(np.float32), a)


# --- rotation-compensated WS-PSNR ------------------------------------------------------------------


def _sphere_pattern(width: int, rotation=None) -> np.ndarray:
    """A smooth uint8 panorama defined on the sphere, seen through ``rotation`` (exact, no resample)."""
    from viewsynth.geometry import equirect_directions

    rng = np.random.default_rng(3)
    freq = rng.normal(size=(24, 3, 3)) * rng.uniform(2, 10, size=(24, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(24, 3))
    d = equirect_directions(width, width // 2)
    if rotation is not None:
        d = d @ np.asarray(rotation).T
    img = sum(np.sin(d @ freq[k].T + phase[k]) for k in range(24)) / np.sqrt(24)
    return np.clip(img * 70 + 128, 0, 255).astype(np.uint8)


def test_rc_ws_psnr_recovers_a_known_small_rotation():
    from viewsynth.evaluation import rotation

    gt = _sphere_pattern(256)
    true = (2.3, -1.2, 0.8)
    pred = _sphere_pattern(256, rotation.rotation_matrix(*true).T)
    fit = rotation.fit_rotation(pred, gt)
    assert np.allclose(fit.angles_deg, true, atol=0.1)
    assert fit.ws_psnr == pytest.approx(metrics.ws_psnr(pred, gt), abs=1e-12)
    assert fit.ws_psnr < 30.0
    # Close to what resampling an identical image costs: the truth turned there and back.
    back = rotation.rotate_equirect(
        rotation.rotate_equirect(gt, rotation.rotation_matrix(*true).T),
        rotation.rotation_matrix(*true),
    )
    assert fit.rc_ws_psnr > 40.0
    assert fit.rc_ws_psnr > metrics.ws_psnr(back, gt) - 3.0


def test_rc_ws_psnr_of_an_unrotated_output_is_the_plain_score():
    from viewsynth.evaluation import rotation

    gt = _sphere_pattern(256)
    rng = np.random.default_rng(1)
    pred = np.clip(gt.astype(int) + rng.integers(-25, 26, gt.shape), 0, 255).astype(np.uint8)
    fit = rotation.fit_rotation(pred, gt)
    assert fit.rc_ws_psnr >= fit.ws_psnr
    # Noise has no rotation to find: at most a sliver above the plain score.
    assert fit.rc_ws_psnr - fit.ws_psnr < 0.3
    assert max(abs(a) for a in fit.angles_deg) < 0.5
    assert rotation.rc_ws_psnr(gt, gt) == math.inf


def test_rc_ws_psnr_has_the_roll_property_and_bounds_the_rotation():
    from viewsynth.evaluation import rotation

    gt = _sphere_pattern(256)
    pred = _sphere_pattern(256, rotation.rotation_matrix(1.5, 0.7, -0.4).T)
    plain = rotation.fit_rotation(pred, gt)
    half = gt.shape[1] // 2
    rolled = rotation.fit_rotation(np.roll(pred, half, axis=1), np.roll(gt, half, axis=1))
    assert rolled.rc_ws_psnr == pytest.approx(plain.rc_ws_psnr, abs=0.3)
    # A turn of 20 degrees is not what this compensates: at most MAX_DEG per angle.
    far = _sphere_pattern(256, rotation.rotation_matrix(20.0, 0.0, 0.0).T)
    fit = rotation.fit_rotation(far, gt)
    assert max(abs(a) for a in fit.angles_deg) <= rotation.MAX_DEG + 1e-9
    assert fit.rc_ws_psnr < 30.0


def test_rc_ws_psnr_refuses_a_perspective_image():
    from viewsynth.evaluation import rotation

    img = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ViewsynthError, match="2:1 equirect"):
        rotation.rc_ws_psnr(img, img)


def test_interpolated_sampling_maps_match_the_exact_ones():
    from viewsynth.evaluation import rotation

    rot = rotation.rotation_matrix(4.9, -4.9, 4.9)
    mx, my = rotation._maps(1024, 512, rot)
    ex, ey = rotation._exact_maps(1024, 512, rot)
    dx = np.mod(mx - ex + 512, 1024) - 512
    assert np.max(np.hypot(dx, my - ey)) < 0.02  # pixels, the seam columns included
