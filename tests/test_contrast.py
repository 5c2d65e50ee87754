"""Where the default wins and loses against flow: the blocks, the crops, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from viewsynth.evaluation import datasets as ds
from viewsynth.evaluation.contrast import ContrastFinder, block_gains, block_side
from viewsynth.evaluation.evaluate import SetResult, evaluate
from viewsynth.evaluation.report import write_report


def _truth(h=64, w=96, seed=0):
    return np.random.default_rng(seed).integers(40, 180, (h, w, 3), dtype=np.uint8)  # no clipping


def _off(image, by, where=None):
    out = image.astype(int)
    if where is None:
        out += by
    else:
        out[where] += by
    return np.clip(out, 0, 255).astype(np.uint8)


def test_the_block_gain_is_the_psnr_difference_in_each_block():
    truth = _truth()
    side = block_side(64, 96)
    assert side == 16
    reference = _off(truth, 10)  # 10 grey levels off everywhere: mse 100
    subject = _off(truth, 30)  # 30 off (mse 900) except one block it gets right
    subject[16:32, 48:64] = truth[16:32, 48:64]
    gains, got_side, y0, x0 = block_gains(subject, reference, truth, equirect=False)
    assert (got_side, y0, x0) == (16, 0, 0) and gains.shape == (4, 6)
    assert gains[1, 3] == pytest.approx(10 * np.log10(101 / 1))
    assert gains[0, 0] == pytest.approx(10 * np.log10(101 / 901))


def test_panorama_blocks_keep_to_the_middle_half_of_the_rows():
    truth = _truth(64, 128)
    subject = _off(truth, 40, (slice(0, 16), slice(None)))  # wrong only near the pole
    gains, side, y0, _ = block_gains(subject, truth, truth, equirect=True)
    assert y0 >= 16 and y0 + gains.shape[0] * side <= 48
    assert np.allclose(gains, 0.0)  # the pole's error is outside every block


def test_the_finder_keeps_the_sets_largest_win_and_loss_with_their_crops():
    finder = ContrastFinder()
    truth_a, truth_b = _truth(seed=1), _truth(seed=2)
    flow_a = _off(truth_a, 20)
    rnn_a = _off(truth_a, 20)
    rnn_a[0:16, 0:16] = truth_a[0:16, 0:16]  # a win of 10 log10(401) in sample a
    flow_b, rnn_b = _off(truth_b, 20), _off(truth_b, 20)
    rnn_b[48:64, 80:96] = _off(truth_b[48:64, 80:96], 60)  # a loss in sample b
    finder.add("a", {"flow": flow_a, "rnn": rnn_a, "linear": truth_a}, truth_a, equirect=False)
    finder.add("b", {"flow": flow_b, "rnn": rnn_b}, truth_b, equirect=False)
    finder.add("c", {"linear": truth_b}, truth_b, equirect=False)  # nothing to compare: ignored
    win, loss = finder.found()
    assert (win.kind, win.sample, win.x, win.y) == ("win", "a", 0, 0)
    assert win.gain_db == pytest.approx(10 * np.log10(401), abs=1e-3)
    assert (loss.kind, loss.sample, loss.x, loss.y) == ("loss", "b", 80, 48) and loss.gain_db < -9
    assert list(win.crops) == ["ground truth", "flow", "rnn"]  # linear is not shown
    assert np.array_equal(win.crops["rnn"], truth_a[0:16, 0:16])
    assert np.array_equal(loss.crops["flow"], flow_b[48:64, 80:96])


class _Fixed:
    """A method whose frame is the truth plus a fixed error pattern."""

    def __init__(self, truths, bad):
        self.truths, self.bad, self.k = truths, bad, 0

    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        out = self.truths[self.k].astype(np.float32) / 255.0
        out[self.bad] = 1.0 - out[self.bad]
        self.k += 1
        return out[None]


class _Given:
    def __init__(self, label, interp):
        self.label, self._interp = label, interp

    def build(self):
        return self._interp


def test_evaluate_reports_the_contrast_in_results_table_and_crops(tmp_path):
    truths = [_truth(seed=s) for s in (3, 4)]

    def make():
        for k, gt in enumerate(truths):
            img = gt.astype(np.float32) / 255.0
            yield ds.Sample(f"s{k}", img, img, gt, 0.5, False)

    dataset = ds.Dataset("toy", "synthetic", "test", False, 2, make)
    methods = [
        _Given("flow", _Fixed(truths, (slice(0, 32), slice(0, 48)))),
        _Given("rnn", _Fixed(truths, (slice(32, 64), slice(48, 96)))),
    ]
    [result] = evaluate([dataset], methods)
    win, loss = result.contrasts
    assert win.gain_db > 20 and win.y < 32 and win.x < 48  # flow is wrong there, rnn right
    assert loss.gain_db < -20 and loss.y >= 32 and loss.x >= 48
    table = write_report(tmp_path, {"commit": "x", "cpu": "c", "cores": 2, "platform": "p",
                                    "python": "3", "started": "now", "command": "test"}, [result])  # fmt: skip
    assert "Where the default wins and loses" in table and f"{win.gain_db:+.2f}" in table
    assert (tmp_path / "contrast_toy.png").is_file()
    back = SetResult.from_json(json.loads((tmp_path / "results.json").read_text())["sets"][0])
    assert [c.to_json() for c in back.contrasts] == [win.to_json(), loss.to_json()]


@pytest.mark.parametrize(("h", "w", "equirect"), [(12, 24, False), (9, 16, False), (8, 16, True)])
def test_frames_smaller_than_a_block_get_one_block_inside_their_rows(h, w, equirect):
    truth = _truth(h, w)
    gains, side, y0, x0 = block_gains(_off(truth, 10), truth, truth, equirect=equirect)
    top, rows = (h // 4, h - 2 * (h // 4)) if equirect else (0, h)
    assert gains.size >= 1 and side <= rows
    assert top <= y0 and y0 + gains.shape[0] * side <= top + rows
    assert 0 <= x0 and x0 + gains.shape[1] * side <= w


def test_no_contrast_is_kept_for_a_method_dropped_from_the_set():
    finder = ContrastFinder()
    truth = _truth()
    finder.add("a", {"flow": _off(truth, 5), "rnn": truth}, truth, equirect=False)
    assert len(finder.found()) == 2
    assert finder.found(dropped={"rnn"}) == [] and finder.found(dropped={"flow"}) == []
