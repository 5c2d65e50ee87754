"""What every interpolator's call accepts from a user's script (viewsynth.interpolators.inputs):
uint8 as its float, any strides, one clear error for greyscale, RGBA, other sizes, tiny frames,
NaN, 0-255 floats and t outside [0, 1]; t = 0 and 1 are the inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from flax import nnx

from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.interpolators import Flow, Linear, Sweep
from viewsynth.interpolators.rnn import RNNInterpolator
from viewsynth.model import ModelConfig, Network


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return (img - img.min()) / (img.max() - img.min())


@pytest.fixture(scope="module", params=["linear", "flow", "sweep", "rnn"])
def interp(request):
    if request.param == "rnn":  # the tiny 2D network: the same door as the shipped one
        return RNNInterpolator(
            Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(0)), bucket=32
        )
    return {"linear": Linear, "flow": Flow, "sweep": Sweep}[request.param]()


def pair(h=32, w=48):
    img0 = texture(h, w)
    return img0, np.roll(img0, 2, axis=1)


def test_uint8_frames_are_their_float_frames(interp):
    img0, img1 = pair()
    u0, u1 = (np.rint(x * 255).astype(np.uint8) for x in (img0, img1))
    out = interp(u0, u1, [0.5], equirect=False)
    expect = interp(u0 / np.float32(255), u1 / np.float32(255), [0.5], equirect=False)
    assert out.dtype == np.float32 and out.max() <= 1.0
    np.testing.assert_array_equal(out, expect)


def test_strided_and_float64_frames_are_the_same_frames(interp):
    img0, img1 = pair()
    mirrored0, mirrored1 = img0[:, ::-1], img1[:, ::-1]  # negative strides
    expect = interp(mirrored0.copy(), mirrored1.copy(), [0.5], equirect=False)
    np.testing.assert_array_equal(interp(mirrored0, mirrored1, [0.5], equirect=False), expect)
    wide0, wide1 = (x.astype(np.float64) for x in (mirrored0, mirrored1))
    np.testing.assert_array_equal(interp(wide0, wide1, [0.5], equirect=False), expect)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x: x.mean(2), r"img0 is greyscale \(32, 48\): give \(H, W, 3\) RGB"),
        (lambda x: x[..., :1], r"img0 is greyscale \(32, 48, 1\)"),
        (lambda x: np.dstack([x, x[..., :1]]), r"img0 has 4 channels \(RGBA\?\)"),
        (lambda x: x[:30], r"img0 and img1 differ in size \(48x30 and 48x32\): resize one first"),
        (lambda x: x * 255, r"img0 values run .*\.\.255: expected RGB in \[0, 1\] \(0-255"),
        (lambda x: np.where(x > 0.5, np.nan, x), r"img0 holds NaN or infinite values"),
        (lambda x: x.astype(np.int64), r"img0 must be float in \[0, 1\] or uint8, got dtype int64"),
    ],
)
def test_a_bad_frame_is_one_frame_error_naming_it(interp, change, message):
    img0, img1 = pair()
    with pytest.raises(FrameError, match=rf"^{interp.name}: {message}"):
        interp(change(img0), img1, [0.5], equirect=False)


def test_frames_too_small_for_dis_are_refused(interp):
    tiny = texture(8, 8)
    with pytest.raises(FrameError, match=r"frames of 8x8 are too small \(at least 12 pixels"):
        interp(tiny, tiny, [0.5], equirect=False)
    long_thin = texture(3, 12)  # the least DIS takes: 12 on the longer side
    assert interp(long_thin, long_thin, [0.5], equirect=False).shape == (1, 3, 12, 3)


@pytest.mark.parametrize("times", [[-0.5], [1.5], [float("nan")], [[0.5]], ["half"]])
def test_times_outside_0_1_are_refused(interp, times):
    img0, img1 = pair()
    with pytest.raises(ViewsynthError, match=rf"^{interp.name}: "):
        interp(img0, img1, times, equirect=False)


def test_t_0_and_1_are_the_inputs_and_times_keep_their_order(interp):
    img0, img1 = pair()
    out = interp(img0, img1, np.array([1.0, 0.5, 0.0, 0.5]), equirect=False)
    np.testing.assert_array_equal(out[0], img1)
    np.testing.assert_array_equal(out[2], img0)
    np.testing.assert_array_equal(out[1], out[3])
    np.testing.assert_array_equal(out[1], interp(img0, img1, 0.5, equirect=False)[0])  # a number
    assert interp(img0, img1, [], equirect=False).shape == (0, 32, 48, 3)


def test_each_thread_reads_its_own_last_pair():
    """One interpolator called from two threads: each thread's ``last_pair()`` is its own call's,
    whichever finished last (the pose of the other pair was read before)."""
    import threading

    sweep = Sweep()
    records = {}
    pairs = {"flat": (texture(32, 48), texture(32, 48, seed=1)), "same": pair()}
    done_first = threading.Event()

    def call(name):
        sweep(*pairs[name], [0.5], equirect=False)
        if name == "flat":
            done_first.set()
        else:
            done_first.wait()  # the other thread's call has now replaced the shared record
        records[name] = sweep.last_pair()

    threads = [threading.Thread(target=call, args=(name,)) for name in ("same", "flat")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, (img0, img1) in pairs.items():
        sweep(img0, img1, [0.5], equirect=False)
        assert records[name] == sweep.last_pair()
    assert records["flat"] != records["same"]
    assert Sweep().last_pair() == {}
    # a call asking only t = 0 and 1 runs nothing: no earlier pair's record is left as its own
    assert sweep.last_pair() != {}
    sweep(*pairs["same"], [0.0, 1.0], equirect=False)
    assert sweep.last_pair() == {}
