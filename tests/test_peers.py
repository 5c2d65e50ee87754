"""Peers: FFmpeg minterpolate's frame choice, external command templates, method resolution."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from viewsynth.errors import ViewsynthError, WeightsError
from viewsynth.evaluation import peers
from viewsynth.frames import write_image

CROSSFADE = """
import sys
import cv2
import numpy as np

for line in open(sys.argv[1]):
    if not line.strip():
        continue
    p0, p1, out = line.split()
    a = cv2.imread(p0).astype(np.float32)
    b = cv2.imread(p1).astype(np.float32)
    cv2.imwrite(out, np.clip(np.rint((a + b) / 2), 0, 255).astype(np.uint8))
"""


def crossfade_command(tmp_path: Path) -> str:
    script = tmp_path / "crossfade.py"
    script.write_text(CROSSFADE)
    return f"{sys.executable} {script} {{list}}"


def _square(x: int, h: int = 64, w: int = 96) -> np.ndarray:
    img = np.full((h, w, 3), 0.15, np.float32)
    img[24:40, x : x + 16] = (0.8, 0.7, 0.25)
    return img


def _square_left_edge(img: np.ndarray) -> float:
    mask = np.abs(img - 0.15).sum(-1) > 0.25
    cols = np.nonzero(mask)[1]
    return float(cols.mean() - 7.5)


def test_minterpolate_rate_picks_the_frame_at_t():
    assert peers.minterpolate_rate(0.5) == (2, 3)
    assert peers.minterpolate_rate(0.25) == (4, 5)
    assert peers.minterpolate_rate(0.75) == (4, 7)
    assert peers.minterpolate_rate(1 / 3) == (3, 4)
    with pytest.raises(peers.UnsupportedInput, match=r"t=0\.123457 is not a multiple of 1/64"):
        peers.minterpolate_rate(0.1234567)


def test_minterpolate_returns_the_middle_frame_of_a_moving_square():
    # The square moves 16 pixels right; the frame at t must have moved 16 * t. A wrong output
    # index would return a duplicate of F0 (x = 20) or F1 (x = 36), or a wrong fraction.
    out = peers.MInterpolate()(_square(20), _square(36), [0.5, 0.25], equirect=False)
    assert out.shape == (2, 64, 96, 3) and out.dtype == np.float32
    assert _square_left_edge(out[0]) == pytest.approx(28.0, abs=0.5)
    assert _square_left_edge(out[1]) == pytest.approx(24.0, abs=0.5)
    # Away from the square the frame is the input, up to minterpolate's YUV round trip.
    assert np.abs(out[0, :16] - 0.15).max() < 2.5 / 255


def test_external_template_runs_once_and_reads_outputs(tmp_path):
    ext = peers.parse_external(f"fade={crossfade_command(tmp_path)}")
    assert ext.name == "fade"
    rng = np.random.default_rng(0)
    triplets, expected = [], []
    for k in range(2):
        a = rng.uniform(0, 1, (10, 16, 3)).astype(np.float32)
        b = rng.uniform(0, 1, (10, 16, 3)).astype(np.float32)
        write_image(tmp_path / f"a{k}.png", a)
        write_image(tmp_path / f"b{k}.png", b)
        triplets.append((tmp_path / f"a{k}.png", tmp_path / f"b{k}.png", tmp_path / f"out{k}.png"))
        au8, bu8 = np.rint(a * 255), np.rint(b * 255)
        expected.append(np.rint((au8 + bu8) / 2) / 255)
    outputs = ext.run(triplets, tmp_path / "list.txt")
    lines = (tmp_path / "list.txt").read_text().splitlines()
    assert lines == [" ".join(str(p) for p in t) for t in triplets]
    for out, exp in zip(outputs, expected, strict=True):
        assert np.abs(out - exp).max() < 0.6 / 255


def test_external_failure_and_missing_output_messages(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    triplet = [(tmp_path / "a.png", tmp_path / "a.png", tmp_path / "o.png")]
    bad = peers.ExternalCommand("bad", "echo boom >&2; exit 3; {list}")
    with pytest.raises(
        ViewsynthError, match=r"^--external bad: command failed with exit status 3: boom$"
    ):
        bad.run(triplet, tmp_path / "l.txt")
    lazy = peers.ExternalCommand("lazy", "true {list}")
    with pytest.raises(ViewsynthError) as err:
        lazy.run(triplet, tmp_path / "l.txt")
    assert (
        str(err.value)
        == f"--external lazy: no output at {tmp_path / 'o.png'} (line 1 of {tmp_path / 'l.txt'})"
    )


def test_external_spec_errors():
    with pytest.raises(
        ViewsynthError, match=r"^--external 'rife': expected NAME='command \{list\}'$"
    ):
        peers.parse_external("rife")
    with pytest.raises(
        ViewsynthError, match=r"^--external rife: the command must contain \{list\}"
    ):
        peers.parse_external("rife=python run.py")
    with pytest.raises(ViewsynthError, match=r"a name is letters, digits"):
        peers.parse_external("my rife=python run.py {list}")


def test_resolve_methods_expands_rnn_per_k_and_skips_without_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "default_weights", lambda: tmp_path / "none.msgpack")
    specs, notes = peers.resolve_methods(["flow", "rnn", "linear", "flow"], [2, 4])
    assert [s.label for s in specs] == ["flow", "linear"]
    assert len(notes) == 1 and notes[0].startswith("rnn: skipped, no weights")
    with pytest.raises(WeightsError, match=r"^--weights .*missing\.msgpack: no such file$"):
        peers.resolve_methods(["rnn"], [], str(tmp_path / "missing.msgpack"))
    with pytest.raises(ViewsynthError, match=r"^--method: unknown method 'rife'"):
        peers.resolve_methods(["rife"])

    weights = tmp_path / "w.msgpack"
    weights.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "viewsynth.model.interpolator", types.ModuleType("fake"))
    specs, notes = peers.resolve_methods(["rnn"], [2, 4], str(weights))
    assert [s.label for s in specs] == ["rnn-k2", "rnn-k4"] and notes == []
    assert specs[0].weights == str(weights.resolve())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_helper_memory_is_sampled_from_the_helper_itself():
    # The child allocates ~200 MB; this process touched 400 MB first, which ru_maxrss would
    # hand down to the child at exec.
    big = np.ones(400 * 2**20 // 8)
    del big
    code = "import numpy as np, time; a = np.ones(200 * 2**20 // 8); time.sleep(0.4)"
    status, _, peak = peers.run_sampling_memory([sys.executable, "-c", code])
    assert status == 0
    assert 200 < peak < 380
