"""The classical `flow` method: its reduced-size analysis of large frames, and the seam."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from viewsynth.interpolators import Flow
from viewsynth.training.losses import psnr_uint8


def _texture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _load_benchmark(name):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The method with every step at full size (flows upsampled first), as a plain formula: the same
# reference that benchmarks/flow_sizes.py times.
_full_size_reference = _load_benchmark("flow_sizes").full_size


@pytest.mark.parametrize("equirect", [False, True])
def test_frames_within_max_side_are_analysed_at_full_size(equirect):
    img0 = _texture(128, 64)
    img1 = np.roll(img0, 5, axis=1)
    got = Flow()(img0, img1, [0.3, 0.5], equirect=equirect)
    np.testing.assert_allclose(
        got, _full_size_reference(img0, img1, [0.3, 0.5], equirect), atol=1e-5
    )


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
