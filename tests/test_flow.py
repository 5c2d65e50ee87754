"""The classical `flow` method: its reduced-size analysis of large frames, and the seam."""

import cv2
import numpy as np
import pytest

from viewsynth import classical
from viewsynth.geometry.seam import canonical_seam, on_canonical_seam
from viewsynth.interpolators import Flow
from viewsynth.training.losses import psnr_uint8
from viewsynth.warp import backward_warp


def _texture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _full_size_reference(img0, img1, times, equirect):
    """The method with every step at the frames' size (the flows upsampled right after DIS), as a
    plain formula written from the classical pieces."""
    f01, f10 = classical.dis_flow(img0, img1, equirect=equirect)
    vis0 = classical.visibility(f01, f10, equirect=equirect)
    vis1 = classical.visibility(f10, f01, equirect=equirect)
    out = []
    for t in times:
        ft0, ft1 = classical.flows_to_time(f01, f10, float(t))
        w0 = (1 - t) * backward_warp(vis0, ft0, equirect=equirect) + 1e-4
        w1 = t * backward_warp(vis1, ft1, equirect=equirect) + 1e-4
        a = backward_warp(img0, ft0, equirect=equirect)
        b = backward_warp(img1, ft1, equirect=equirect)
        out.append(np.clip((w0[..., None] * a + w1[..., None] * b) / (w0 + w1)[..., None], 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("equirect", [False, True])
def test_frames_within_max_side_are_analysed_at_full_size(equirect):
    img0 = _texture(128, 64)
    img1 = np.roll(img0, 5, axis=1)
    got = Flow()(img0, img1, [0.3, 0.5], equirect=equirect)
    # panoramas are analysed on view 0's canonical seam (the roll property)
    want = (
        on_canonical_seam(_full_size_reference, img0, img1, [0.3, 0.5], equirect)
        if equirect
        else _full_size_reference(img0, img1, [0.3, 0.5], equirect)
    )
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_large_frames_are_analysed_small_and_warped_at_full_size():
    # Motion across the seam: frame 1 is frame 0 turned by 16 columns, so the middle is turned by 8.
    img0 = _texture(512, 256, seed=3)
    img1 = np.roll(img0, 16, axis=1)
    want = np.roll(img0, 8, axis=1)
    reduced = Flow(max_side=128)(img0, img1, [0.5], equirect=True)[0]  # analysed at 128x64
    assert reduced.shape == img0.shape
    assert psnr_uint8(reduced, want, equirect=True) > 35.0
    # Full-size detail comes from the full-size warp, not from the analysis size: far sharper than
    # the same method run on the 128x64 frames and enlarged.
    small = [cv2.resize(x, (128, 64), interpolation=cv2.INTER_AREA) for x in (img0, img1)]
    enlarged = cv2.resize(Flow()(*small, [0.5], equirect=True)[0], (512, 256))
    assert psnr_uint8(reduced, want, equirect=True) > psnr_uint8(enlarged, want, equirect=True) + 5


def test_frames_come_back_rolled_in_place():
    # on_canonical_seam rolls the method's frames back in place (a 5760x2880 pair's seven frames
    # are 1.4 GB): the very array the method returned, holding np.roll's values for any shift.
    img0 = _texture(64, 32, seed=5)
    made = []

    def call(a, b, n):
        frames = np.stack([a * (k + 1) / n + b for k in range(n)]).astype(np.float32)
        made.append(frames)
        return frames

    for turn in (0, 1, 13, 63):
        rolled = np.roll(img0, turn, axis=1)
        got = on_canonical_seam(call, rolled, rolled[::-1], 3)
        shift = canonical_seam(rolled)
        a, b = np.roll(rolled, -shift, 1), np.roll(rolled[::-1], -shift, 1)
        want = np.roll(np.stack([a * (k + 1) / 3 + b for k in range(3)]), shift, axis=-2)
        np.testing.assert_array_equal(got, want.astype(np.float32))
        assert got is made[-1]
