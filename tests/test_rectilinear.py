import math

import numpy as np
import pytest

from viewsynth.errors import ConfigError, FrameError
from viewsynth.export.rectilinear import RectilinearProjector, rectilinear_view

# cv2.remap on float32 images interpolates in floating point (measured error about 3e-6 against
# the float64 reference); a wrong sign or border rule errs by tenths.
REMAP_TOL = 1e-4


def _pano(height=32, width=64, seed=0):
    return np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)


def _reference_view(pano, yaw_deg, pitch_deg, hfov_deg, width, height):
    """Per-pixel NumPy reference: rotation matrices, explicit bilinear with wrap and clamp."""
    pano = pano.astype(np.float64)
    ph, pw = pano.shape[:2]
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    p, y = math.radians(pitch_deg), math.radians(yaw_deg)
    # Pitch about x (up positive), then yaw about y (right positive).
    rot_pitch = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rot_yaw = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    out = np.zeros((height, width, 3))
    for i in range(height):
        for j in range(width):
            ray = np.array([j + 0.5 - width / 2, height / 2 - i - 0.5, f])
            ray = rot_yaw @ (rot_pitch @ (ray / np.linalg.norm(ray)))
            lon, lat = math.atan2(ray[0], ray[2]), math.asin(max(-1.0, min(1.0, ray[1])))
            x = (lon + math.pi) / (2 * math.pi) * pw - 0.5
            v = min(max((math.pi / 2 - lat) / math.pi * ph - 0.5, 0.0), ph - 1.0)
            x0, y0 = math.floor(x), min(math.floor(v), ph - 2)
            fx, fy = x - x0, v - y0
            c0, c1 = x0 % pw, (x0 + 1) % pw
            top = (1 - fx) * pano[y0, c0] + fx * pano[y0, c1]
            bottom = (1 - fx) * pano[y0 + 1, c0] + fx * pano[y0 + 1, c1]
            out[i, j] = (1 - fy) * top + fy * bottom
    return out


@pytest.mark.parametrize(
    "yaw, pitch, hfov", [(0, 0, 90), (37.5, 20, 100), (-150, -35, 60), (179, 80, 120), (725, 5, 75)]
)
def test_matches_numpy_reference(yaw, pitch, hfov):
    pano = _pano()
    got = rectilinear_view(pano, yaw, pitch, hfov, 13, 9)
    want = _reference_view(pano, yaw, pitch, hfov, 13, 9)
    assert got.shape == (9, 13, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=REMAP_TOL)


def test_centre_pixel_samples_pano_centre():
    pano = _pano()
    view = rectilinear_view(pano, 0, 0, 90, 11, 7)
    # Lon 0, lat 0 falls between the four central pixels (centres at +0.5): their mean.
    np.testing.assert_allclose(view[3, 5], pano[15:17, 31:33].mean(axis=(0, 1)), atol=1e-5)


def test_yaw_90_looks_at_three_quarters_width():
    pano = _pano()
    view = rectilinear_view(pano, 90, 0, 90, 11, 7)
    np.testing.assert_allclose(view[3, 5], pano[15:17, 47:49].mean(axis=(0, 1)), atol=1e-5)
    left = rectilinear_view(pano, -90, 0, 90, 11, 7)
    np.testing.assert_allclose(left[3, 5], pano[15:17, 15:17].mean(axis=(0, 1)), atol=1e-5)


def test_view_across_the_seam_equals_view_of_rolled_pano():
    pano = _pano()
    across = rectilinear_view(pano, 180, 10, 100, 24, 16)
    rolled = rectilinear_view(np.roll(pano, 32, axis=1), 0, 10, 100, 24, 16)
    np.testing.assert_allclose(across, rolled, atol=REMAP_TOL)
    # A smooth panorama stays smooth across the seam: no jump between neighbouring columns.
    lon = (np.arange(64) + 0.5) / 64 * 2 * np.pi
    smooth = np.repeat(np.cos(lon)[None, :, None], 32, axis=0).repeat(3, axis=2) * 0.5 + 0.5
    view = rectilinear_view(smooth.astype(np.float32), 180, 0, 90, 24, 16)
    assert np.abs(np.diff(view, axis=1)).max() < 0.05


def test_pitch_plus_90_looks_at_top_row_and_minus_90_at_bottom():
    pano = np.full((32, 64, 3), 0.5, dtype=np.float32)
    pano[0] = 1.0
    pano[-1] = 0.0
    up = rectilinear_view(pano, 0, 90, 90, 11, 7)
    down = rectilinear_view(pano, 0, -90, 90, 11, 7)
    assert up[3, 5].tolist() == [1.0, 1.0, 1.0]
    assert down[3, 5].tolist() == [0.0, 0.0, 0.0]


def test_pitch_positive_looks_up():
    rows = np.linspace(1.0, 0.0, 32, dtype=np.float32)  # bright sky, dark ground
    pano = np.repeat(rows[:, None, None], 64, axis=1).repeat(3, axis=2)
    level = rectilinear_view(pano, 0, 0, 90, 11, 7)[3, 5, 0]
    up = rectilinear_view(pano, 0, 30, 90, 11, 7)[3, 5, 0]
    # Latitude 30 degrees sits at row (90 - 30) / 180 * 32 - 0.5 = 10.1667.
    np.testing.assert_allclose(up, np.interp(10.1667, np.arange(32), rows), atol=1e-3)
    assert up > level


def test_projector_caches_maps_and_reuses_them_across_yaw():
    pano = _pano()
    projector = RectilinearProjector(max_cached=2)
    for yaw in (0, 33, 190, -47):
        got = projector.view(pano, yaw, 5, 90, 12, 8)
        np.testing.assert_array_equal(got, rectilinear_view(pano, yaw, 5, 90, 12, 8))
    assert len(projector._maps) == 1
    projector.view(pano, 0, 6, 90, 12, 8)
    projector.view(pano, 0, 7, 90, 12, 8)
    assert len(projector._maps) == 2  # bounded


def test_uint8_panorama_keeps_dtype():
    pano = (_pano() * 255).astype(np.uint8)
    view = rectilinear_view(pano, 10, 0, 90, 12, 8)
    assert view.dtype == np.uint8 and view.shape == (8, 12, 3)


def test_bad_inputs_have_clear_messages():
    with pytest.raises(ConfigError, match=r"^hfov_deg must be in \(0, 180\) degrees, got 180$"):
        rectilinear_view(_pano(), 0, 0, 180, 12, 8)
    with pytest.raises(FrameError, match=r"^panorama must be \(H, W, 3\), got shape \(32, 64\)$"):
        rectilinear_view(np.zeros((32, 64), np.float32), 0, 0, 90, 12, 8)
    with pytest.raises(ConfigError, match=r"^view size must be positive, got 0x8$"):
        rectilinear_view(_pano(), 0, 0, 90, 0, 8)
