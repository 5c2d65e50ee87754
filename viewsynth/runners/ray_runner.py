"""Many captures at once on Ray: a pool of long-lived workers, each holding one interpolator.

    driver (viewsynth interpolate ROOT --runner ray)         W Ray workers (actors)
      [(name, path), ...] ── one capture per idle worker ──►  CaptureWorker: interpolator made ONCE
                          ◄── CaptureResult as plain data ──   run_capture(path, OUT/<name>, ...)
      results in input order (the pipeline writes OUT/summary.json)

- Ray: a local instance with ``workers`` CPUs is started (and stopped afterwards) unless Ray is
  already initialised in this process or ``address`` (else the ``RAY_ADDRESS`` environment
  variable, Ray's own convention) names a cluster to join; every node needs viewsynth installed.
- Each worker asks for one CPU, and for ``rnn`` one GPU when the cluster has GPUs (then there
  are at most as many workers as GPUs; ``linear`` and ``flow`` run on CPUs only and ask for none);
  never more workers than captures, since each pays for loading (and, for ``rnn``, compiling)
  the model once.
- Isolation: a capture that fails (``ViewsynthError`` for unusable input, or any exception in the
  worker) becomes a ``failed`` result with a one-line reason; a worker process that dies fails
  the capture it held, is replaced, and the other captures go on. Each capture is tried once.
- Outputs per capture are exactly those of the local runner: ``OUT/<name>/`` (``OUT`` itself for
  a single capture), written by the same ``run_capture``. A single capture that is unusable raises
  ``ViewsynthError``, as the local runner does.
- Paths: workers run in the driver's working folder, so relative paths mean the same there. On a
  multi-node cluster the captures and ``OUT`` must be on a filesystem every node mounts at the
  same path.

:func:`run_on_ray` also returns a :class:`WorkerInfo` per worker: seconds to make the interpolator
(load weights) and the first interpolation call (which includes the JIT compile for ``rnn``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from viewsynth import config as config_lib
from viewsynth.errors import ViewsynthError
from viewsynth.interpolators import Interpolator, make_interpolator
from viewsynth.walkthrough import CaptureResult, InterpolateSettings, run_capture

log = logging.getLogger("viewsynth")

INSTALL_HINT = "ray is not installed: pip install 'viewsynth[ray]' (or make install-ray)"
# The driver and workers exchange only small dicts: a small object store spares /dev/shm.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2

CaptureFn = Callable[..., CaptureResult]


@dataclasses.dataclass
class WorkerInfo:
    """One worker of a Ray run: where it ran and what its interpolator cost.

    ``setup_seconds``: making the interpolator (``make_interpolator``: loading weights);
    ``first_call_seconds``: its first call (for ``rnn`` this includes the JIT compile for that
    frame size); ``call_seconds``: all calls together; ``died``: the process was lost.
    """

    worker: int
    node: str = ""
    pid: int = 0
    gpus: list[str] = dataclasses.field(default_factory=list)
    setup_seconds: float = 0.0
    first_call_seconds: float | None = None
    calls: int = 0
    call_seconds: float = 0.0
    captures: list[str] = dataclasses.field(default_factory=list)
    died: bool = False


@dataclasses.dataclass
class RayRun:
    """What :func:`run_on_ray` did: one result per capture (input order) and one info per worker.

    ``startup_seconds``: from the call until the first workers were ready (starting or joining
    Ray, starting the worker processes, making their interpolators).
    """

    results: list[CaptureResult]
    workers: list[WorkerInfo]
    startup_seconds: float = 0.0


class _TimedInterpolator:
    """Wraps an interpolator to measure its calls; everything else passes through."""

    def __init__(self, inner: Interpolator):
        self.inner = inner
        self.first_call_seconds: float | None = None
        self.calls = 0
        self.call_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, img0, img1, times, *, equirect):
        started = time.perf_counter()
        frames = self.inner(img0, img1, times, equirect=equirect)
        seconds = time.perf_counter() - started
        if self.first_call_seconds is None:
            self.first_call_seconds = seconds
        self.calls += 1
        self.call_seconds += seconds
        return frames


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class CaptureWorker:
    """The body of one Ray actor: settings and interpolator made once, then capture after capture.

    Plain Python (Ray wraps it with ``ray.remote`` at run time), so it is importable and testable
    without Ray. ``settings`` is ``config.to_dict(InterpolateSettings)``; ``cwd`` the driver's
    working folder; ``capture_fn`` replaces ``run_capture`` (tests).
    """

    def __init__(
        self,
        worker: int,
        settings: dict[str, Any],
        cwd: str,
        capture_fn: CaptureFn | None = None,
    ):
        if os.path.isdir(cwd):
            os.chdir(cwd)
        self.info = WorkerInfo(worker, node=platform.node(), pid=os.getpid(), gpus=_gpu_ids())
        self.capture_fn = capture_fn or run_capture
        self.setup_error = ""
        self.setup_kind = ""
        self.settings = config_lib.from_dict(InterpolateSettings, settings, "settings")
        _limit_threads()
        started = time.perf_counter()
        self.interpolator: _TimedInterpolator | None = None
        try:
            inner = make_interpolator(
                self.settings.method,
                iters=self.settings.iters,
                scale=self.settings.scale,
                weights=self.settings.weights,
            )
            self.interpolator = _TimedInterpolator(inner)
        except ViewsynthError as err:
            # A bad --weights is the user's to fix: the driver reports it once, as one line.
            self.setup_error, self.setup_kind = str(err), "input"
        except Exception as err:  # a bug: reported by the driver as an internal error
            self.setup_error = f"{type(err).__name__}: {_one_line(err)}"
            self.setup_kind = "crash"
            log.debug("making the interpolator failed:\n%s", traceback.format_exc())
        self.info.setup_seconds = time.perf_counter() - started

    def describe(self) -> dict[str, Any]:
        """``{"info": WorkerInfo as plain data, "setup_error": str, "setup_kind": str}``.

        ``setup_kind``: "" (interpolator ready), "input" (``ViewsynthError``) or "crash".
        """
        if self.interpolator is not None:
            self.info.first_call_seconds = self.interpolator.first_call_seconds
            self.info.calls = self.interpolator.calls
            self.info.call_seconds = self.interpolator.call_seconds
        return {
            "info": dataclasses.asdict(self.info),
            "setup_error": self.setup_error,
            "setup_kind": self.setup_kind,
        }

    def process(self, name: str, source: str, target: str) -> dict[str, Any]:
        """Run one capture; never raises. Returns ``{"result", "kind", "traceback"}``.

        ``kind``: "" (done or skipped), "input" (``ViewsynthError``) or "crash" (anything else).
        """
        label = name or Path(source).name
        self.info.captures.append(label)
        if self.interpolator is None:
            return _failure(label, self.setup_error, self.setup_kind)
        try:
            result = self.capture_fn(
                Path(source), Path(target), self.settings, interpolator=self.interpolator
            )
        except ViewsynthError as err:
            return _failure(label, _one_line(err), "input")
        except Exception as err:  # isolation: one capture's bug must not stop the others
            reason = f"internal error: {type(err).__name__}: {_one_line(err)}"
            return _failure(label, reason, "crash", traceback.format_exc())
        return {"result": dataclasses.asdict(result), "kind": "", "traceback": ""}


def _failure(label: str, reason: str, kind: str, trace: str = "") -> dict[str, Any]:
    result = CaptureResult(label, "failed", reason=reason)
    return {"result": dataclasses.asdict(result), "kind": kind, "traceback": trace}


def _gpu_ids() -> list[str]:
    try:
        import ray

        return [str(g) for g in ray.get_gpu_ids()] if ray.is_initialized() else []
    except ImportError:
        return []


def _limit_threads() -> None:
    """Keep OpenCV to this worker's CPUs so W workers do not each spawn a thread per core."""
    try:
        import ray

        if not ray.is_initialized():
            return
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    except ImportError:
        return
    if cpus >= 1:
        import cv2

        cv2.setNumThreads(int(cpus))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ViewsynthError(INSTALL_HINT) from None
    return ray


def _start_ray(ray, address: str | None, workers: int) -> bool:
    """Initialise Ray unless it already is; True when this call did it (and must shut it down)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = {
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        # Workers report through their results; their own log lines would interleave unreadably.
        "log_to_driver": False,
    }
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    except Exception as err:  # Ray raises several types for an unreachable or broken cluster
        where = f"--address {address}" if address else "ray"
        raise ViewsynthError(f"{where}: cannot start Ray ({_one_line(err)})") from None
    return True


def run_ray(
    captures: Sequence[tuple[str, Path]],
    out: Path,
    settings: InterpolateSettings,
    *,
    address: str | None = None,
    workers: int = 2,
) -> list[CaptureResult]:
    """Process ``captures`` (``find_captures``' ``[(name, path)]``) in parallel on Ray.

    Returns one ``CaptureResult`` per capture in input order; see the module docstring. Raises
    ``ViewsynthError`` when Ray is missing or cannot start, when the interpolator cannot be made
    (bad weights) or when a single capture is unusable.
    """
    return run_on_ray(captures, out, settings, address=address, workers=workers).results


def run_on_ray(
    captures: Sequence[tuple[str, Path]],
    out: Path,
    settings: InterpolateSettings,
    *,
    address: str | None = None,
    workers: int = 2,
    capture_fn: CaptureFn | None = None,
) -> RayRun:
    """:func:`run_ray`, also returning per-worker costs. ``capture_fn`` replaces ``run_capture``
    inside the workers (it must be picklable by Ray; tests use it to crash a worker)."""
    ray = _import_ray()
    if workers < 1:
        raise ViewsynthError(f"--workers: must be at least 1, got {workers}")
    if not captures:
        return RayRun([], [])
    pool = _Pool(ray, settings, capture_fn)
    started_here = _start_ray(ray, address, workers)
    try:
        return pool.run(list(captures), Path(out), workers)
    finally:
        pool.stop()
        if started_here:
            ray.shutdown()


class _Pool:
    """The driver's side: actors, the queue of captures, replacement of dead workers."""

    def __init__(self, ray, settings: InterpolateSettings, capture_fn: CaptureFn | None):
        self.ray = ray
        self.settings = config_lib.to_dict(settings)
        self.capture_fn = capture_fn
        self.actors: dict[int, Any] = {}
        self.infos: dict[int, WorkerInfo] = {}
        self.next_id = 0
        self.options: dict[str, Any] = {}
        self.created = time.perf_counter()

    def _spawn(self) -> int:
        worker = self.next_id
        self.next_id += 1
        remote = self.ray.remote(CaptureWorker).options(
            max_restarts=0, max_task_retries=0, **self.options
        )
        self.actors[worker] = remote.remote(worker, self.settings, os.getcwd(), self.capture_fn)
        self.infos[worker] = WorkerInfo(worker)
        return worker

    def _retire(self, worker: int, died: bool) -> None:
        actor = self.actors.pop(worker)
        self.infos[worker].died = died
        try:
            self.ray.kill(actor)
        except Exception:  # already gone: nothing left to stop
            pass

    def _size(self, requested: int, n_captures: int) -> int:
        n = min(requested, n_captures)
        # Only the network uses a GPU; holding one for a CPU method would just limit the workers.
        n_gpus = (
            int(self.ray.cluster_resources().get("GPU", 0))
            if self.settings["method"] == "rnn"
            else 0
        )
        self.options = {"num_cpus": 1, "num_gpus": 1 if n_gpus else 0}
        if n_gpus and n > n_gpus:
            log.warning(
                "ray: %d workers requested, the cluster has %d GPUs: using %d", n, n_gpus, n_gpus
            )
            n = n_gpus
        return n

    def _start_workers(self, n: int) -> list[int]:
        """Start ``n`` workers and wait until their interpolators are made; the usable ones."""
        spawned = [self._spawn() for _ in range(n)]
        refs = {w: self.actors[w].describe.remote() for w in spawned}
        ready = []
        for worker, ref in refs.items():
            try:
                described = self.ray.get(ref)
            except self.ray.exceptions.RayError as err:
                log.error("ray: worker %d did not start: %s", worker, _one_line(err))
                self._retire(worker, died=True)
                continue
            if described["setup_kind"] == "input":
                raise ViewsynthError(described["setup_error"])
            if described["setup_kind"] == "crash":
                method = self.settings["method"]
                raise RuntimeError(
                    f"ray: worker {worker} could not make the {method} interpolator: "
                    f"{described['setup_error']}"
                )
            self.infos[worker] = WorkerInfo(**described["info"])
            info = self.infos[worker]
            log.info(
                "ray: worker %d (pid %d on %s%s): interpolator ready in %.2f s",
                worker,
                info.pid,
                info.node,
                f", GPU {','.join(info.gpus)}" if info.gpus else "",
                info.setup_seconds,
            )
            ready.append(worker)
        if not ready:
            raise ViewsynthError("ray: no worker could start (see the Ray logs under /tmp/ray)")
        return ready

    def run(self, captures: list[tuple[str, Path]], out: Path, workers: int) -> RayRun:
        single = len(captures) == 1 and captures[0][0] == ""
        idle = deque(self._start_workers(self._size(workers, len(captures))))
        startup = time.perf_counter() - self.created
        log.info("ray: %d workers ready after %.1f s", len(idle), startup)
        queue = deque(range(len(captures)))
        results: list[CaptureResult | None] = [None] * len(captures)
        in_flight: dict[Any, tuple[int, int]] = {}
        while queue or in_flight:
            while queue and idle:
                index, worker = queue.popleft(), idle.popleft()
                name, path = captures[index]
                target = out if single else out / name
                ref = self.actors[worker].process.remote(name, str(path), str(target))
                in_flight[ref] = (worker, index)
                self.infos[worker].captures.append(name or path.name)
            (ref,), _ = self.ray.wait(list(in_flight), num_returns=1)
            worker, index = in_flight.pop(ref)
            name, path = captures[index]
            label = name or path.name
            try:
                payload = self.ray.get(ref)
            except self.ray.exceptions.RayError as err:
                # The process is gone (killed, out of memory, segfault): fail this capture only.
                log.debug("ray: worker %d lost: %s", worker, err)
                self._retire(worker, died=True)
                reason = (
                    f"the worker process died while processing it ({type(err).__name__}: out of "
                    "memory, or a crash in native code; see the Ray logs in /tmp/ray/session_latest)"
                )
                payload = _failure(label, reason, "crash")
                if queue:
                    idle.append(self._spawn())
            else:
                idle.append(worker)
            result = CaptureResult(**payload["result"])
            if single and payload["kind"] == "input":
                raise ViewsynthError(result.reason)
            _report(result, payload, worker)
            results[index] = result
        return RayRun([r for r in results if r is not None], self._final_infos(), startup)

    def _final_infos(self) -> list[WorkerInfo]:
        refs = {w: a.describe.remote() for w, a in self.actors.items()}
        for worker, ref in refs.items():
            try:
                self.infos[worker] = WorkerInfo(**self.ray.get(ref)["info"])
            except self.ray.exceptions.RayError:
                self.infos[worker].died = True
        return [self.infos[w] for w in sorted(self.infos)]

    def stop(self) -> None:
        for worker in list(self.actors):
            self._retire(worker, died=False)


def _report(result: CaptureResult, payload: dict[str, Any], worker: int) -> None:
    """Log one finished capture as the local runner does (its warnings, or why it failed)."""
    if result.status == "failed":
        log.error("%s: failed: %s", result.name, result.reason)
        if payload["traceback"]:
            log.debug("%s: worker %d traceback:\n%s", result.name, worker, payload["traceback"])
        return
    for warning in result.warnings:
        log.warning("%s: %s", result.name, warning)
    log.info(
        "%s: %s, %d frames in %.1f s (worker %d)",
        result.name,
        result.status,
        result.frames,
        result.seconds,
        worker,
    )


__all__ = ["INSTALL_HINT", "CaptureWorker", "RayRun", "WorkerInfo", "run_on_ray", "run_ray"]
