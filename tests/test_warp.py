"""Warping, pooling, up/downsampling and the seam-aware convolution against NumPy references."""

import numpy as np
import pytest
from flax import nnx

from viewsynth.model.layers import SeamConv
from viewsynth.model.warp import (
    avg_pool,
    backward_warp,
    convex_upsample,
    pixel_shuffle,
    pixel_unshuffle,
)
from viewsynth.warp import backward_warp as cv_warp


def np_bilinear(image, x, y, equirect):
    """Reference: sample (H, W, C) at float arrays x, y; wrap x (equirect) or clamp; clamp y."""
    h, w = image.shape[:2]
    y = np.clip(y, 0, h - 1)
    if not equirect:
        x = np.clip(x, 0, w - 1)
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]

    def px(yy, xx):
        yy = np.clip(yy, 0, h - 1)
        xx = np.mod(xx, w) if equirect else np.clip(xx, 0, w - 1)
        return image[yy, xx]

    top = px(y0, x0) * (1 - fx) + px(y0, x0 + 1) * fx
    bottom = px(y0 + 1, x0) * (1 - fx) + px(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def np_warp(image, flow, equirect):
    h, w = flow.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    return np_bilinear(image.astype(np.float64), gx + flow[..., 0], gy + flow[..., 1], equirect)


@pytest.mark.parametrize("equirect", [True, False])
def test_warp_matches_numpy_reference(equirect):
    rng = np.random.default_rng(1)
    img = rng.random((2, 12, 20, 3)).astype(np.float32)
    # Large flows so that samples leave the image on every side (and cross the seam).
    flow = (rng.normal(size=(2, 12, 20, 2)) * 15).astype(np.float32)
    got = np.asarray(backward_warp(img, flow, equirect=equirect))
    for b in range(2):
        ref = np_warp(img[b], flow[b], equirect)
        np.testing.assert_allclose(got[b], ref, atol=2e-5)


def test_warp_wraps_longitude_but_not_latitude():
    img = np.zeros((1, 4, 8, 1), np.float32)
    img[0, :, 0] = 1.0  # first column lit
    flow = np.zeros((1, 4, 8, 2), np.float32)
    flow[..., 0] = 1.0  # sample one column to the right
    out = np.asarray(backward_warp(img, flow, equirect=True))[0, :, :, 0]
    assert np.all(out[:, 7] == 1.0) and np.all(out[:, :7] == 0.0)  # the last column sees column 0
    clamped = np.asarray(backward_warp(img, flow, equirect=False))[0, :, :, 0]
    assert np.all(clamped[:, 7] == 0.0)  # perspective: clamped at the right border
    flow[..., 0] = 0.0
    flow[..., 1] = -10.0  # far above the top: clamped to row 0 in both modes
    up = np.asarray(backward_warp(img, flow, equirect=True))[0, :, :, 0]
    np.testing.assert_array_equal(up, img[0, :, :, 0])


@pytest.mark.parametrize("equirect", [True, False])
def test_warp_agrees_with_opencv_flow_method_warp(equirect):
    rng = np.random.default_rng(2)
    img = rng.random((16, 32, 3)).astype(np.float32)
    flow = (rng.normal(size=(16, 32, 2)) * 6).astype(np.float32)
    got = np.asarray(backward_warp(img[None], flow[None], equirect=equirect))[0]
    ref = cv_warp(img, flow, equirect=equirect)
    # OpenCV quantises bilinear weights to 1/32 pixel.
    assert np.abs(got - ref).max() < 0.04
    assert np.abs(got - ref).mean() < 0.01


def test_warp_commutes_with_roll():
    rng = np.random.default_rng(3)
    img = rng.random((1, 8, 16, 3)).astype(np.float32)
    flow = (rng.normal(size=(1, 8, 16, 2)) * 5).astype(np.float32)
    k = 5
    a = np.roll(np.asarray(backward_warp(img, flow, equirect=True)), k, axis=2)
    b = np.asarray(backward_warp(np.roll(img, k, axis=2), np.roll(flow, k, axis=2), equirect=True))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_pixel_shuffle_round_trip_and_layout():
    x = np.arange(2 * 8 * 12 * 3, dtype=np.float32).reshape(2, 8, 12, 3)
    packed = np.asarray(pixel_unshuffle(x, 4))
    assert packed.shape == (2, 2, 3, 48)
    # channel (i * 4 + j) * 3 + c of block (Y, X) is pixel (4Y + i, 4X + j), channel c
    assert packed[1, 1, 2, (2 * 4 + 3) * 3 + 1] == x[1, 4 + 2, 8 + 3, 1]
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(packed, 4)), x)


def test_avg_pool_matches_block_means():
    rng = np.random.default_rng(4)
    x = rng.random((1, 8, 16, 2)).astype(np.float32)
    ref = x.reshape(1, 2, 4, 4, 4, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(avg_pool(x, 4)), ref, rtol=1e-6)


@pytest.mark.parametrize("equirect", [True, False])
def test_convex_upsample_matches_numpy_reference(equirect):
    rng = np.random.default_rng(5)
    f = 2
    field = rng.normal(size=(1, 3, 4, 2)).astype(np.float32)
    logits = rng.normal(size=(1, 3, 4, 9 * f * f)).astype(np.float32)
    got = np.asarray(convex_upsample(field, logits, f, equirect=equirect))
    h, w = 3, 4
    ref = np.zeros((h * f, w * f, 2))
    wts = logits[0].reshape(h, w, 9, f, f)
    for y in range(h):
        for x in range(w):
            for i in range(f):
                for j in range(f):
                    e = np.exp(wts[y, x, :, i, j] - wts[y, x, :, i, j].max())
                    e /= e.sum()
                    acc = 0
                    for n in range(9):
                        yy = y + n // 3 - 1
                        xx = x + n % 3 - 1
                        yy = -yy if yy < 0 else (2 * (h - 1) - yy if yy >= h else yy)  # reflect
                        if equirect:
                            xx %= w
                        else:
                            xx = -xx if xx < 0 else (2 * (w - 1) - xx if xx >= w else xx)
                        acc = acc + e[n] * field[0, yy, xx]
                    ref[y * f + i, x * f + j] = acc
    np.testing.assert_allclose(got[0], ref, atol=1e-5)


def np_conv_same(x, kernel, bias, stride, equirect):
    """Reference 'same' convolution: height reflects; width wraps (equirect) or reflects."""
    k = kernel.shape[0]
    p = k // 2
    x = np.pad(x, ((p, p), (0, 0), (0, 0)), mode="reflect")
    x = np.pad(x, ((0, 0), (p, p), (0, 0)), mode="wrap" if equirect else "reflect")
    h = (x.shape[0] - k) // stride + 1
    w = (x.shape[1] - k) // stride + 1
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            patch = x[i * stride : i * stride + k, j * stride : j * stride + k]
            out[i, j] = np.tensordot(patch, kernel, axes=3) + bias
    return out


@pytest.mark.parametrize("equirect", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_seam_conv_matches_numpy_padding_reference(equirect, stride):
    rng = np.random.default_rng(6)
    conv = SeamConv(2, 3, 3, stride, rngs=nnx.Rngs(0))
    conv.conv.bias[...] = np.float32([0.1, -0.2, 0.3])
    x = rng.random((1, 6, 8, 2)).astype(np.float32)
    got = np.asarray(conv(x, equirect=equirect))[0]
    ref = np_conv_same(
        x[0], np.asarray(conv.conv.kernel[...]), np.asarray(conv.conv.bias[...]), stride, equirect
    )
    assert got.shape == (6 // stride, 8 // stride, 3)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_seam_conv_sees_across_the_seam_only_for_panoramas():
    conv = SeamConv(1, 1, 3, rngs=nnx.Rngs(0))
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[1, 0] = 1.0  # output = the left neighbour
    conv.conv.kernel[...] = kernel
    x = np.zeros((1, 4, 6, 1), np.float32)
    x[0, :, 5] = 1.0  # last column lit
    pano = np.asarray(conv(x, equirect=True))[0, :, :, 0]
    persp = np.asarray(conv(x, equirect=False))[0, :, :, 0]
    assert np.all(pano[:, 0] == 1.0)  # column 0's left neighbour is column W-1
    assert np.all(persp[:, 0] == 0.0)  # reflect: column 0's left neighbour is column 1
