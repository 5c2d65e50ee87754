"""The Ray runner: same outputs as the local runner, per-capture isolation, dead workers restarted.

Ray is an optional extra, but the suite installs it (``make test`` depends on ``install-ray``):
without it these tests skip locally and FAIL under ``CI=true`` (with the install hint).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from stopping import stop_midway

from viewsynth import frames
from viewsynth.errors import ViewsynthError, WeightsError
from viewsynth.pipelines import interpolate
from viewsynth.runners import ray_runner
from viewsynth.runners.gate import MemoryGate
from viewsynth.runners.ray_runner import INSTALL_HINT, run_on_ray, run_ray
from viewsynth.runners.worker import CaptureWorker
from viewsynth.walkthrough import CaptureResult, InterpolateSettings, run_capture
from viewsynth.walkthrough.memory import GIB, job_bytes

try:
    import ray
except ImportError:
    ray = None

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
needs_ray = pytest.mark.skipif(
    ray is None and not IN_CI, reason="ray is not installed (make install-ray)"
)
# Small flat views keep the encoders cheap; the 360 video keeps the panorama's own 64x32.
SETTINGS = ["--set", "view.width=64", "--set", "view.height=32"]


def smooth(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth random (H, W, 3) image in [0, 1] that wraps in x."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 2 * np.pi, width, endpoint=False)
    y = np.linspace(0, np.pi, height)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (3, 3))
    img = sum(np.sin((k + 1) * x[None, :, None] + phase[k] + y * (k + 1)) for k in range(3))
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def make_capture(folder: Path, width: int, height: int, seed: int, n: int = 3) -> Path:
    """``n`` frames of one scene moving right by 2 px per frame."""
    folder.mkdir(parents=True)
    base = smooth(width, height, seed)
    for i in range(n):
        frames.write_image(folder / f"img_{i:02d}.png", np.roll(base, 2 * i, axis=1))
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Three captures: a 64x32 panorama, a 64x48 perspective one, and one with a single frame."""
    root = tmp_path_factory.mktemp("captures")
    make_capture(root / "pano", 64, 32, seed=0)
    make_capture(root / "persp", 64, 48, seed=1)
    broken = root / "broken"
    broken.mkdir()
    frames.write_image(broken / "img_00.png", smooth(64, 32, 2))
    (broken / "img_01.png").write_bytes(b"")
    return root


def decode(path: Path) -> np.ndarray:
    """Every frame of a video, (N, H, W, 3) uint8, via the bundled ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    w, h = next(reader)["size"]
    return np.stack([np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in reader])


def test_without_ray_the_hint_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ViewsynthError) as err:
        run_ray([("a", tmp_path)], tmp_path / "out", InterpolateSettings(method="linear"))
    assert str(err.value) == INSTALL_HINT
    assert (
        INSTALL_HINT == "ray is not installed: pip install 'viewsynth[ray]' (or make install-ray)"
    )


def test_worker_turns_each_failure_into_a_failed_result(root, tmp_path):
    def boom(source, target, settings, *, interpolator, admit, said=None):
        raise RuntimeError("boom\nsecond line")

    settings = {"method": "linear"}
    crashing = CaptureWorker(0, settings, os.getcwd(), capture_fn=boom)
    crashed = crashing.process("pano", str(root / "pano"), str(tmp_path / "pano"))
    assert crashed["kind"] == "crash"
    assert crashed["result"]["status"] == "failed"
    assert crashed["result"]["reason"] == "internal error: RuntimeError: boom"
    assert "RuntimeError: boom" in crashed["traceback"]

    working = CaptureWorker(1, settings, os.getcwd())
    bad = working.process("broken", str(root / "broken"), str(tmp_path / "broken"))
    assert bad["kind"] == "input" and bad["result"]["name"] == "broken"
    assert bad["result"]["reason"].startswith(f"{root / 'broken'}: fewer than two usable frames")
    assert not (tmp_path / "broken").exists()

    good = working.process("pano", str(root / "pano"), str(tmp_path / "pano"))
    assert good["kind"] == "" and good["result"]["status"] == "done"
    # Each result carries the worker's state, so the driver keeps it if the process dies later.
    assert good["info"]["calls"] == 2 and good["info"]["pid"] == os.getpid()
    described = working.describe()
    assert described["setup_kind"] == ""
    # One interpolator call per pair of the good capture: 3 frames, 2 pairs.
    assert described["info"]["calls"] == 2
    assert described["info"]["captures"] == ["broken", "pano"]
    assert described["info"]["first_call_seconds"] is not None


def test_worker_with_bad_weights_reports_them_once(monkeypatch, tmp_path):
    def no_weights(settings):
        raise WeightsError("w.msgpack: no such weights file")

    monkeypatch.setattr(InterpolateSettings, "make_interpolator", no_weights)
    unready = CaptureWorker(0, {"method": "rnn"}, os.getcwd())
    assert unready.describe()["setup_error"] == "w.msgpack: no such weights file"
    assert unready.describe()["setup_kind"] == "input"
    failed = unready.process("a", str(tmp_path), str(tmp_path / "a"))
    assert failed["result"]["reason"] == "w.msgpack: no such weights file"


@pytest.fixture(scope="module")
def ray_session():
    """One two-CPU Ray instance for the whole file, which the runner joins (and leaves running)."""
    if ray is None:
        pytest.fail(INSTALL_HINT)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        object_store_memory=128 * 1024**2,
    )
    yield ray
    ray.shutdown()


@needs_ray
def test_ray_runner_writes_what_the_local_runner_writes(root, tmp_path, caplog, ray_session):
    common = [str(root), "--method", "flow", "--factor", "3", "-q", *SETTINGS]
    with caplog.at_level(logging.WARNING, logger="viewsynth"):
        assert interpolate.main([*common, "-o", str(tmp_path / "ray"), "--runner", "ray"]) == 1
        assert interpolate.main([*common, "-o", str(tmp_path / "local")]) == 1
    assert ray_session.is_initialized()  # joined, not started: left running

    summaries = {
        runner: {
            c["name"]: c
            for c in json.loads((tmp_path / runner / "summary.json").read_text())["captures"]
        }
        for runner in ("ray", "local")
    }
    assert list(summaries["ray"]) == ["broken", "pano", "persp"]
    assert summaries["ray"]["broken"]["status"] == "failed"
    assert summaries["ray"]["broken"]["reason"] == summaries["local"]["broken"]["reason"]
    assert "fewer than two usable frames" in summaries["ray"]["broken"]["reason"]
    assert not (tmp_path / "ray" / "broken").exists()

    for name, videos in (
        ("pano", ["walkthrough_360.mp4", "walkthrough.mp4"]),
        ("persp", ["walkthrough.mp4"]),
    ):
        assert summaries["ray"][name]["status"] == "done"
        assert summaries["ray"][name]["frames"] == 7  # 2 pairs x 3 + the last frame
        got, want = tmp_path / "ray" / name, tmp_path / "local" / name
        assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in want.iterdir())
        manifest = json.loads((got / "manifest.json").read_text())
        reference = json.loads((want / "manifest.json").read_text())
        assert manifest["segments"] == reference["segments"]
        assert [f["t"] for f in manifest["segments"][0]["frames"]][:4] == [
            0.0,
            0.333333,
            0.666667,
            0.0,
        ]
        assert manifest["settings"] == reference["settings"]
        for video in videos:
            ours, theirs = decode(got / video), decode(want / video)
            assert ours.shape[0] == 7
            np.testing.assert_array_equal(ours[0], theirs[0])
            np.testing.assert_array_equal(ours, theirs)


@needs_ray
def test_a_dying_worker_fails_only_its_capture_and_ray_restarts_it(root, tmp_path, ray_session):
    def crash_or_run(source, target, settings, *, interpolator, admit, said=None):
        if source.name == "crash":
            os._exit(3)  # the process dies, as with a segfault or the OOM killer
        return run_capture(source, target, settings, interpolator=interpolator, admit=admit)

    make_capture(tmp_path / "crash", 64, 32, seed=3)
    captures = [("pano", root / "pano"), ("crash", tmp_path / "crash"), ("persp", root / "persp")]
    settings = InterpolateSettings(method="linear", factor=2)
    out = tmp_path / "out"
    # One worker, so the capture after the crash can only be done by the process Ray restarted.
    run = run_on_ray(captures, out, settings, workers=1, capture_fn=crash_or_run)
    assert ray_session.is_initialized()

    statuses = {r.name: (r.status, r.reason) for r in run.results}
    assert [r.name for r in run.results] == ["pano", "crash", "persp"]
    assert statuses["pano"] == ("done", "")
    assert statuses["persp"] == ("done", "")
    assert statuses["crash"][0] == "failed"
    assert statuses["crash"][1].startswith("the worker process died while processing it (")
    # Worker 0 in two processes: the one that died holding "crash", and Ray's restart of it.
    first, second = run.workers
    assert (first.worker, second.worker) == (0, 0)
    assert (first.died, first.captures, first.calls) == (True, ["pano", "crash"], 2)
    assert (second.died, second.captures, second.calls) == (False, ["persp"], 2)
    assert first.pid != second.pid and second.pid != 0
    assert second.first_call_seconds is not None and second.setup_seconds >= 0

    # A second run resumes: finished captures are skipped, the crashed one is done now.
    again = run_ray(captures, out, settings, workers=1)
    assert [(r.name, r.status) for r in again] == [
        ("pano", "skipped"),
        ("crash", "done"),
        ("persp", "skipped"),
    ]


@needs_ray
def test_a_single_video_whose_worker_dies_has_its_row_named_as_when_done(tmp_path, ray_session):
    # Its row said "ride.mp4" where a finished run's says "ride" (summary.json, the re-run's row).
    from viewsynth.export.video import VideoWriter

    def die(source, target, settings, *, interpolator, admit, said=None):
        os._exit(3)  # the process dies, as with a segfault or the OOM killer

    video = tmp_path / "ride.mp4"
    with VideoWriter(video, 10, quality=10) as writer:
        for i in range(3):
            writer.write(np.full((32, 64, 3), 40 * i, np.uint8))
    settings = InterpolateSettings(method="linear", factor=2)
    run = run_on_ray([("", video)], tmp_path / "out", settings, workers=1, capture_fn=die)
    assert [(r.name, r.status) for r in run.results] == [("ride", "failed")]
    assert run.workers[0].captures == ["ride"]


@needs_ray
def test_ctrl_c_stops_the_workers_captures_as_the_local_runner_stops_its_own(tmp_path):
    root, out = tmp_path / "root", tmp_path / "out"
    for seed, name in enumerate("abc"):
        make_capture(root / name, 64, 32, seed=seed, n=2)
    args = ["--method", "linear", "--factor", "4", "-q", "--runner", "ray", "--workers", "1"]
    code, err, before = stop_midway(root, out, signal.SIGINT, *args)
    assert code == 130 and err.strip().endswith("interrupted; finished work is kept"), err
    captures = json.loads((out / "summary.json").read_text())["captures"]
    assert [(c["name"], c["status"]) for c in captures] == [
        ("a", "done"), ("b", "interrupted"), ("c", "not started")
    ]  # fmt: skip
    # The worker held b's lock and ffmpeg's partial files; killed outright, it left them there.
    assert [name for name in before if ".part-" in name] and "b/.viewsynth.lock" in before
    left = [str(p.relative_to(out)) for p in out.rglob("*")]
    assert not [name for name in left if ".part-" in name or name.endswith(".viewsynth.lock")]


@needs_ray
def test_captures_that_fit_alone_but_not_together_wait_for_each_other(root, tmp_path, ray_session):
    # Each fits max_memory alone, the two together do not: the second waits for the first, at its
    # own size, where two workers would have run both at once past the machine's memory.
    need = max(job_bytes(64, 32, "linear", factor=2), job_bytes(64, 48, "linear", factor=2))
    settings = InterpolateSettings(method="linear", factor=2, max_memory=1.5 * need / GIB)
    held = tmp_path / "held"
    held.mkdir()

    def held_a_second(source, target, settings, *, interpolator, admit, said=None):
        def timed(need):
            admit(need)
            (held / f"{source.name}.start").write_text(repr(time.time()))
            time.sleep(1.0)  # (so that the other asks while this one holds its memory)

        result = run_capture(source, target, settings, interpolator=interpolator, admit=timed)
        (held / f"{source.name}.end").write_text(repr(time.time()))
        return result

    captures = [("pano", root / "pano"), ("persp", root / "persp")]
    run = run_on_ray(captures, tmp_path / "out", settings, workers=2, capture_fn=held_a_second)
    assert [(r.name, r.status, r.frames) for r in run.results] == [
        ("pano", "done", 5), ("persp", "done", 5)
    ]  # fmt: skip
    assert sorted(w.worker for w in run.workers) == [0, 1]
    (a0, a1), (b0, b1) = (
        [float((held / f"{name}.{at}").read_text()) for at in ("start", "end")]
        for name in ("pano", "persp")
    )
    assert a1 <= b0 or b1 <= a0, "both held their memory at once"
    for name in ("pano", "persp"):  # at their own size: nothing said of memory
        made = json.loads((tmp_path / "out" / name / "manifest.json").read_text())
        assert not [w for w in made["warnings"] if "GiB" in w]
    assert decode(tmp_path / "out" / "pano" / "walkthrough_360.mp4").shape[1:3] == (32, 64)


@needs_ray
def test_a_captures_early_warnings_are_logged_while_it_runs_and_not_again(tmp_path, ray_session):
    # On Ray a capture's warnings ("no GPS", "slow motion") came with its result, hours after its
    # start; the local runner says them before the work. The driver now logs them as they come.
    seen = tmp_path / "seen"

    class Marker(logging.Handler):
        def emit(self, record):  # the driver's log: the capture, still running, sees it written
            if "no GPS here" in record.getMessage():
                seen.write_text(record.getMessage())

    def says_then_waits(source, target, settings, *, interpolator, admit, said=None):
        said(["no GPS here"])
        deadline = time.time() + 30.0
        while not seen.exists() and time.time() < deadline:
            time.sleep(0.1)
        status = "done" if seen.exists() else "failed"
        return CaptureResult(source.name, status, 1, 0.1, warnings=["no GPS here", "a late one"])

    marker, viewsynth_log = Marker(), logging.getLogger("viewsynth")
    viewsynth_log.addHandler(marker)
    records: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: records.append(record.getMessage())
    viewsynth_log.addHandler(collect)
    try:
        captures = [("walk", tmp_path / "walk")]
        settings = InterpolateSettings(method="linear", factor=2)
        run = run_on_ray(
            captures, tmp_path / "out", settings, workers=1, capture_fn=says_then_waits
        )
    finally:
        viewsynth_log.removeHandler(marker)
        viewsynth_log.removeHandler(collect)
    assert [(r.name, r.status) for r in run.results] == [("walk", "done")]  # said while it ran
    assert seen.read_text() == "walk: no GPS here"  # named by its capture
    said = [r for r in records if "no GPS here" in r or "a late one" in r]
    assert said == ["walk: no GPS here", "walk: a late one"]  # once each, the early one first


def test_a_dead_workers_leave_said_after_its_restart_keeps_the_restarts_memory():
    gate = MemoryGate()
    gate.settle("here", 0, 1 * GIB, pid=100)
    gate.settle("here", 1, 1 * GIB, pid=200)
    assert gate.take("here", 0, 5 * GIB, 8 * GIB, pid=100)
    gate.settle("here", 0, 1 * GIB, pid=101)  # 100 died; Ray's restart settled first ...
    gate.leave("here", 0, pid=100)  # ... then the driver's word of the death came
    assert gate.held["here"] == {0: 1 * GIB, 1: 1 * GIB}  # the restart's base still counted
    gate.leave("here", 0, pid=101)  # its own death is
    assert gate.held["here"] == {1: 1 * GIB}


@needs_ray
def test_captures_go_on_when_the_memory_gate_is_lost(tmp_path, ray_session):
    # The gate actor killed part way (Ray's memory monitor, a lost node): every capture after it
    # failed as "the worker process died", though the workers were alive.
    flag = tmp_path / "killed"

    def kill_the_gate_once(source, target, settings, *, interpolator, admit, said=None):
        import ray

        if admit is not None:  # (as run_capture does: None once the gate is gone)
            admit(GIB // 8)
        if not flag.exists():
            flag.write_text("x")
            (name,) = [n for n in ray.util.list_named_actors() if n.startswith("viewsynth-memory")]
            ray.kill(ray.get_actor(name))
        return CaptureResult(source.name, "done", 1, 0.1)

    captures = [(f"c{i}", tmp_path / f"c{i}") for i in range(4)]
    settings = InterpolateSettings(method="linear", factor=2, max_memory=8.0)
    run = run_on_ray(captures, tmp_path / "out", settings, workers=2, capture_fn=kill_the_gate_once)
    assert flag.exists()
    assert [(r.name, r.status) for r in run.results] == [(f"c{i}", "done") for i in range(4)]


def test_the_gate_admits_a_capture_where_it_fits_beside_those_running():
    gate = MemoryGate()
    for worker in (0, 1, 2):
        gate.settle("here", worker, 1 * GIB)  # idle, each holding its interpolator
    assert gate.take("here", 0, 5 * GIB, 8 * GIB)  # 5 + the two idle workers' 2
    assert not gate.take("here", 1, 3 * GIB, 8 * GIB)  # 5 + 1 + 3: waits
    assert gate.take("there", 0, 7 * GIB, 8 * GIB)  # another machine's memory is its own
    gate.settle("here", 0, 1 * GIB)  # the first capture is done
    assert gate.take("here", 1, 3 * GIB, 8 * GIB)
    assert gate.take("here", 2, 3 * GIB, 8 * GIB)  # 1 + 3 + 3
    gate.settle("here", 1, 1 * GIB)
    gate.settle("here", 2, 1 * GIB)
    # More than the whole budget: it runs alone (nothing to wait for), the others wait for it
    assert gate.take("here", 2, 9 * GIB, 8 * GIB)
    assert not gate.take("here", 0, 1 * GIB, 8 * GIB)
    gate.leave("here", 2)  # its worker died: what it held is free
    assert gate.take("here", 0, 2 * GIB, 8 * GIB)


def test_a_large_capture_waiting_is_not_passed_over_by_small_ones():
    # Three workers on 8 GiB, two small captures running, a 7 GiB one waiting: the small ones
    # queued after it kept being admitted as each small one finished, and it waited for the
    # whole queue with its worker idle.
    gate = MemoryGate()
    for worker in (0, 1, 2):
        gate.settle("here", worker, 1 * GIB)
    assert gate.take("here", 0, 2 * GIB, 8 * GIB) and gate.take("here", 1, 2 * GIB, 8 * GIB)
    assert not gate.take("here", 2, 7 * GIB, 8 * GIB)  # the large one: waits, first in line
    gate.settle("here", 0, 1 * GIB)  # a small one is done; its worker brings the next small one
    assert not gate.take("here", 0, 2 * GIB, 8 * GIB)  # 2 + 1 + 2 fits, but not beside the 7
    assert not gate.take("here", 2, 7 * GIB, 8 * GIB)  # still one running
    gate.settle("here", 1, 1 * GIB)
    assert not gate.take("here", 0, 2 * GIB, 8 * GIB)  # nothing running, but the large is first
    assert gate.take("here", 2, 7 * GIB, 8 * GIB)  # alone: admitted
    assert not gate.take("here", 0, 2 * GIB, 8 * GIB)
    gate.settle("here", 2, 1 * GIB)
    assert gate.take("here", 0, 2 * GIB, 8 * GIB)
    # a worker that died while waiting keeps no place in the line
    assert not gate.take("here", 2, 7 * GIB, 8 * GIB)
    gate.leave("here", 2)
    assert gate.take("here", 1, 2 * GIB, 8 * GIB)


@needs_ray
def test_a_single_capture_is_written_to_out_itself(root, tmp_path, ray_session):
    settings = InterpolateSettings(method="linear", factor=2)
    # Unusable alone: an error, as with the local runner, and nothing written.
    with pytest.raises(ViewsynthError, match="fewer than two usable frames"):
        run_ray([("", root / "broken")], tmp_path / "bad", settings)
    assert not (tmp_path / "bad").exists()
    (result,) = run_ray([("", root / "persp")], tmp_path / "one", settings)
    assert (result.name, result.status, result.frames) == ("persp", "done", 5)
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        ".viewsynth-state.json",
        "manifest.json",
        "walkthrough.mp4",
    ]


class FakeRay:
    """Just enough of ``ray`` for starting and sizing: a cluster with ``gpus`` GPUs."""

    def __init__(self, gpus: int = 0, initialized: bool = False, fail: str = "", cpus: int = 16):
        self.gpus, self.initialized, self.fail, self.cpus = gpus, initialized, fail, cpus
        self.init_kwargs: dict | None = None
        self.shut_down = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs) -> None:
        if self.fail:
            raise ConnectionError(self.fail)
        self.init_kwargs, self.initialized = kwargs, True

    def shutdown(self) -> None:
        self.shut_down, self.initialized = True, False

    def cluster_resources(self) -> dict:
        cpus = {"CPU": float(self.cpus)}
        return {**cpus, "GPU": float(self.gpus)} if self.gpus else cpus

    def remote(self, cls):
        raise RuntimeError("no actors in this fake")


def stop_like_ctrl_c(*_):  # (viewsynth interpolate's SIGTERM handler: the summary is written)
    raise KeyboardInterrupt


def killed_by(signum, _frame):  # Ray's C++ failure handler: a stack trace, then death by signum
    raise SystemExit(128 + signum)


class SignalledWhileStarting(FakeRay):
    """A local instance that gets ``signum`` half-way through ``init``, as ``ray.init`` runs:
    its SIGTERM handler (``sys.exit``) put in first, then its core worker made (with a C++
    SIGTERM handler of its own), then kept."""

    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum
        self.whole_at_shutdown: bool | None = None

    def init(self, **kwargs) -> None:
        from ray._private import ray_constants, utils

        utils.set_sigterm_handler(lambda signum, _frame: sys.exit(signum))
        if not ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER:  # (read as its worker is made)
            signal.signal(signal.SIGTERM, killed_by)  # the core worker's C++ failure handler
        os.kill(os.getpid(), self.signum)  # Ctrl-C, or kill PID, while it starts
        made = [i for i in range(1000)]  # bytecodes: Python raises a handler's exception here
        super().init(**kwargs)  # (kept: only now can shutdown stop it)
        assert len(made) == 1000

    def shutdown(self) -> None:
        self.whole_at_shutdown = self.initialized
        super().shutdown()


@needs_ray
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_while_ray_starts_lets_it_start_whole_then_stops_it(monkeypatch, signum):
    # Cut short inside ray.init, Ctrl-C left a core worker that segfaulted the exit (139), or the
    # node's agents running; SIGTERM ended it by Ray's own sys.exit(15) or its core worker's
    # handler (-15), with no summary.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = SignalledWhileStarting(signum)
    before = signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            ray_runner._start_ray(ray, None, workers=1)
        assert signal.getsignal(signal.SIGTERM) is stop_like_ctrl_c
    finally:
        signal.signal(signal.SIGTERM, before)
    assert ray.whole_at_shutdown is True


def test_a_second_ctrl_c_does_not_cut_rays_stop_short(monkeypatch, tmp_path):
    class StoppedTwice(FakeRay):
        stopped = False

        def remote(self, cls):
            raise KeyboardInterrupt  # the first Ctrl-C, while the workers start

        def shutdown(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # the second, while Ray stops
            made = [i for i in range(1000)]
            self.stopped = len(made) == 1000

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = StoppedTwice()
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: ray)
    with pytest.raises(KeyboardInterrupt):
        run_on_ray([("a", tmp_path)], tmp_path / "out", InterpolateSettings(method="linear"))
    assert ray.stopped


def test_rnn_workers_ask_for_a_gpu_each_when_the_cluster_has_gpus(caplog):
    cpu_only = {"num_cpus": 1, "num_gpus": 0}
    # Never more workers than captures.
    assert ray_runner._worker_options(FakeRay(gpus=0), "rnn", 4, 3) == (3, cpu_only)
    # A CPU method leaves the GPUs alone, and so is not limited by their number.
    assert ray_runner._worker_options(FakeRay(gpus=2), "flow", 4, 8) == (4, cpu_only)
    with caplog.at_level(logging.WARNING, logger="viewsynth"):
        n, options = ray_runner._worker_options(FakeRay(gpus=2), "rnn", 4, 8)
    assert (n, options) == (2, {"num_cpus": 1, "num_gpus": 1})
    assert "ray: 4 workers requested, the cluster has 2 GPUs: using 2" in caplog.text
    # A worker Ray cannot place would never answer, and the driver waits for each (it hung).
    with caplog.at_level(logging.WARNING, logger="viewsynth"):
        assert ray_runner._worker_options(FakeRay(cpus=1), "flow", 2, 3) == (1, cpu_only)
    assert "ray: 2 workers requested, the cluster has 1 CPUs: using 1" in caplog.text


def test_starting_ray_keeps_the_sigterm_handler_the_caller_had(monkeypatch):
    class Grabbing(FakeRay):
        def init(self, **kwargs) -> None:
            super().init(**kwargs)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(15))  # as ray.init does

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    before = signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    try:
        assert ray_runner._start_ray(Grabbing(), None, workers=1) is True
        assert signal.getsignal(signal.SIGTERM) is stop_like_ctrl_c
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_local_instance_is_small_and_stopped_again(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    fake = FakeRay()
    assert ray_runner._start_ray(fake, None, workers=3) is True
    assert fake.init_kwargs["num_cpus"] == 3
    assert fake.init_kwargs["object_store_memory"] == 128 * 1024**2
    assert ray_runner._start_ray(fake, None, workers=3) is False  # already up: joined
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    joining = FakeRay()
    assert ray_runner._start_ray(joining, None, workers=3) is True
    assert joining.init_kwargs["address"] == "head:6379"
    assert "num_cpus" not in joining.init_kwargs
    with pytest.raises(ViewsynthError, match=r"^--address h:1: cannot start Ray \(refused\)$"):
        ray_runner._start_ray(FakeRay(fail="refused\nmore"), "h:1", workers=1)

    # An instance run_on_ray started is shut down again, even when the run fails.
    monkeypatch.delenv("RAY_ADDRESS")
    started = FakeRay()
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: started)
    with pytest.raises(RuntimeError, match="no actors in this fake"):
        run_on_ray([("a", tmp_path)], tmp_path / "out", InterpolateSettings(method="linear"))
    assert started.init_kwargs is not None and started.shut_down
