"""Many captures at once on Ray: long-lived worker actors, each holding one interpolator.

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
- Memory: each capture's working size fits ``max_memory`` (else 75 % of its machine's memory) as
  with the local runner, whatever runs beside it; the captures running at once on one machine
  fit it together: a worker whose capture would not, beside them, waits for them to finish
  (``gate``: why waiting, not a narrower size). Each worker holds its interpolator's memory.
- Isolation: a capture that fails (``ViewsynthError`` for unusable input, or any exception in the
  worker) becomes a ``failed`` result with a one-line reason. A worker process that dies (killed,
  out of memory, a crash in native code) fails the capture it held and Ray restarts it
  (``max_restarts``: its constructor runs again, making a new interpolator); the other captures
  go on. Each capture is tried once (``max_task_retries=0``: a capture that killed its worker
  would most likely kill the next one too).
- Outputs per capture are exactly those of the local runner: ``OUT/<name>/`` (``OUT`` itself for
  a single capture), written by the same ``run_capture``, which holds that folder's lock in the
  worker's process for as long as it writes (``walkthrough.lock``; the job holds a root's ``OUT``).
  A single capture that is unusable, or whose folder another run holds, raises
  ``ViewsynthError``, as the local runner does.
- Ctrl-C (or SIGTERM) in the driver stops the captures in progress as the local runner's: each
  busy worker process on the driver's machine gets SIGINT, so ``run_capture`` removes its partial
  files and its folder's lock as it unwinds (``worker``); the driver waits for them (at most
  ``STOP_SECONDS``), then kills the workers. A worker on another machine is only killed: its
  partial files and lock stay there until the next run. Which captures finished is in the
  ``RootProgress`` the caller passed (for ``OUT/summary.json``).
- Paths: workers run in the driver's working folder, so relative paths mean the same there. On a
  multi-node cluster the captures and ``OUT`` must be on a filesystem every node mounts at the
  same path.

:func:`run_on_ray` also returns a :class:`WorkerInfo` per worker process: seconds to make the
interpolator (load weights) and the first interpolation call (which includes the JIT compile for
``rnn``); a worker that Ray restarted is listed once per process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import signal
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from viewsynth import config as config_lib
from viewsynth import interrupts
from viewsynth.errors import ViewsynthError, one_line
from viewsynth.runners.gate import MemoryGate
from viewsynth.runners.mailbox import POLL_SECONDS, Mailbox, report
from viewsynth.runners.worker import CaptureFn, CaptureWorker, WorkerInfo, failure
from viewsynth.walkthrough import CaptureResult, InterpolateSettings, RootProgress
from viewsynth.walkthrough.folders import capture_name, named_warning

log = logging.getLogger("viewsynth")

INSTALL_HINT = "ray is not installed: pip install 'viewsynth[ray]' (or make install-ray)"
# The driver and workers exchange only small dicts: a small object store spares /dev/shm.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2
#: After Ctrl-C, how long the driver waits for the workers to stop their captures (an
#: interpolator's call in progress ends first, as in the local runner) before killing them.
STOP_SECONDS = 10.0


def _died(err: BaseException) -> str:
    return (
        f"the worker process died while processing it ({type(err).__name__}: out of memory, "
        "or a crash in native code; see the Ray logs in /tmp/ray/session_latest)"
    )


@dataclasses.dataclass
class RayRun:
    """What :func:`run_on_ray` did: one result per capture (input order), one info per process.

    ``startup_seconds``: from the call until the first workers were ready (starting or joining
    Ray, starting the worker processes, making their interpolators).
    """

    results: list[CaptureResult]
    workers: list[WorkerInfo]
    startup_seconds: float = 0.0


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ViewsynthError(INSTALL_HINT) from None
    return ray


def _start_ray(ray, address: str | None, workers: int) -> bool:
    """Initialise Ray unless it already is; True when this call did it (and must shut it down).

    Ctrl-C and SIGTERM are held while ``ray.init`` runs, then raised once Ray is whole, which is
    then shut down whole. Raised inside it, between making its core worker and keeping it, an
    interrupt left that worker running into the interpreter's exit, where Ray's exit handler
    freed it under its own thread (a segfault, exit 139, after the "interrupted" line); raised
    while it started its node, it left the node's agents running, orphaned. ``ray.init``'s own
    SIGTERM handlers are kept out (:func:`_sigterm_left_alone`), and the caller's stays
    (``viewsynth interpolate``'s stops the run as Ctrl-C does).
    """
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
        with interrupts.held(), _sigterm_left_alone():
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(num_cpus=workers, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    except KeyboardInterrupt:  # it came while Ray started: Ray is whole, so it stops whole
        with interrupts.held():  # (a second Ctrl-C waits for that too)
            ray.shutdown()
        raise
    except Exception as err:  # Ray raises several types for an unreachable or broken cluster
        where = f"--address {address}" if address else "ray"
        raise ViewsynthError(f"{where}: cannot start Ray ({one_line(err)})") from None
    return True


@contextlib.contextmanager
def _sigterm_left_alone() -> Iterator[None]:
    """Keep ``ray.init`` from putting in its two SIGTERM handlers, which :func:`interrupts.held`
    cannot hold: Python's (``sys.exit``, through ``ray._private.utils``) and its core worker's
    C++ failure handler (a stack trace, then death by SIGTERM: no summary, the root's lock left;
    ``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``, read as the worker is made: the driver's alone)."""
    try:
        from ray._private import ray_constants, utils
    except ImportError:  # (no Ray: the tests' fakes)
        yield
        return
    put_in = utils.set_sigterm_handler
    disabled = ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER
    utils.set_sigterm_handler = lambda _handler: None
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    try:
        yield
    finally:
        utils.set_sigterm_handler = put_in
        ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = disabled


def _worker_options(ray, method: str, requested: int, n_captures: int) -> tuple[int, dict]:
    """How many workers to start and the resources each asks for (``num_cpus``, ``num_gpus``):
    no more than the cluster has CPUs (and, for ``rnn``, GPUs), since the driver waits for every
    worker it starts, and one Ray cannot place would never come."""
    n = min(requested, n_captures)
    resources = ray.cluster_resources()
    # Only the network uses a GPU; holding one for a CPU method would just limit the workers.
    n_gpus = int(resources.get("GPU", 0)) if method == "rnn" else 0
    for have, what in ((int(resources.get("CPU", 0)), "CPUs"), (n_gpus, "GPUs")):
        if have and n > have:
            log.warning(
                "ray: %d workers requested, the cluster has %d %s: using %d", n, have, what, have
            )
            n = have
    return n, {"num_cpus": 1, "num_gpus": 1 if n_gpus else 0}


def run_ray(
    captures: Sequence[tuple[str, Path]],
    out: Path,
    settings: InterpolateSettings,
    *,
    address: str | None = None,
    workers: int = 2,
    progress: RootProgress | None = None,
) -> list[CaptureResult]:
    """Process ``captures`` (``find_captures``' ``[(name, path)]``) in parallel on Ray.

    Returns one ``CaptureResult`` per capture in input order; see the module docstring. Each
    capture's start and result also go to ``progress`` as they happen (what a run stopped by
    Ctrl-C had done). Raises ``ViewsynthError`` when Ray is missing or cannot start, when the
    interpolator cannot be made (bad weights) or when a single capture is unusable.
    """
    run = run_on_ray(captures, out, settings, address=address, workers=workers, progress=progress)
    return run.results


def run_on_ray(
    captures: Sequence[tuple[str, Path]],
    out: Path,
    settings: InterpolateSettings,
    *,
    address: str | None = None,
    workers: int = 2,
    capture_fn: CaptureFn | None = None,
    progress: RootProgress | None = None,
) -> RayRun:
    """:func:`run_ray`, also returning per-worker costs. ``capture_fn`` replaces ``run_capture``
    inside the workers (it must be picklable by Ray; tests use it to crash a worker)."""
    ray = _import_ray()
    if workers < 1:
        raise ViewsynthError(f"--workers: must be at least 1, got {workers}")
    if not captures:
        return RayRun([], [])
    started = time.perf_counter()
    plain_settings = config_lib.to_dict(settings)
    started_here = False
    actors: list[Any] = []
    helpers: list[Any] = []
    driver: _Driver | None = None
    try:
        started_here = _start_ray(ray, address, workers)
        n, options = _worker_options(ray, settings.method, workers, len(captures))
        # One restart per capture covers every death a capture can cause (each is tried once).
        worker_class = ray.remote(CaptureWorker).options(
            max_restarts=len(captures), max_task_retries=0, **options
        )
        gate, name = None, ""
        if n > 1:  # (one worker runs one capture at a time: it needs no gate)
            name = f"viewsynth-memory-{uuid.uuid4().hex}"
            gate = ray.remote(MemoryGate).options(name=name, num_cpus=0).remote()
            helpers.append(gate)
        box = f"viewsynth-mail-{uuid.uuid4().hex}"
        mailbox = ray.remote(Mailbox).options(name=box, num_cpus=0).remote()
        helpers.append(mailbox)
        cwd = os.getcwd()
        actors = [
            worker_class.remote(w, plain_settings, cwd, capture_fn, name, box) for w in range(n)
        ]
        driver = _Driver(ray, actors, settings.method, gate, mailbox)
        startup = time.perf_counter() - started
        log.info("ray: %d workers ready after %.1f s", len(driver.idle), startup)
        results = driver.run(list(captures), Path(out), progress or RootProgress(captures))
        return RayRun(results, driver.infos, startup)
    except KeyboardInterrupt:
        if driver is not None:
            driver.stop()
        raise
    finally:
        with interrupts.held():  # a second Ctrl-C must not cut Ray's stop short (_start_ray)
            for actor in [*actors, *helpers]:
                try:
                    ray.kill(actor)  # no_restart: Ray would otherwise bring a stopped worker back
                except Exception:  # already gone: nothing left to stop
                    pass
            if started_here:
                ray.shutdown()


class _Driver:
    """The driver's side: which worker is idle, which capture each holds, one info per process.

    Plain ``ray.wait`` over the workers' tasks rather than ``ray.util.ActorPool``: the pool's
    ``get_next_unordered`` raises a dead worker's error without saying which capture it held
    (each capture needs its own ``failed`` result) and drops that worker for good, while here Ray
    restarts it and it goes on with the next capture.
    """

    def __init__(self, ray, actors: list[Any], method: str, gate: Any = None, mailbox: Any = None):
        self.ray, self.actors, self.gate, self.mailbox = ray, actors, gate, mailbox
        self.early: dict[str, list[str]] = {}  # each capture's warnings said as it ran, by target
        self.infos: list[WorkerInfo] = []
        self.current: dict[int, WorkerInfo] = {}  # the live process of each worker
        self.idle: deque[int] = deque()
        # ref -> (worker, capture index), or (worker, None) while waiting for Ray to restart it.
        self.pending: dict[Any, tuple[int, int | None]] = {}
        for worker, actor in enumerate(actors):
            try:
                described = ray.get(actor.describe.remote())
            except ray.exceptions.RayError as err:
                log.error("ray: worker %d did not start: %s", worker, one_line(err))
                continue
            if described["setup_kind"] == "input":
                raise ViewsynthError(described["setup_error"])
            if described["setup_kind"] == "crash":
                raise RuntimeError(
                    f"ray: worker {worker} could not make the {method} interpolator: "
                    f"{described['setup_error']}"
                )
            info = self._record(worker, described["info"])
            gpus = f", GPU {','.join(info.gpus)}" if info.gpus else ""
            log.info(
                "ray: worker %d (pid %d on %s%s): interpolator ready in %.2f s",
                worker,
                info.pid,
                info.node,
                gpus,
                info.setup_seconds,
            )
            self.idle.append(worker)
        if not self.idle:
            raise ViewsynthError("ray: no worker could start (see the Ray logs under /tmp/ray)")

    def _record(self, worker: int, info: dict[str, Any]) -> WorkerInfo:
        """The latest info of a worker's process; a new pid is a process Ray restarted."""
        new = WorkerInfo(**info)
        old = self.current.get(worker)
        if old is not None and old.pid == new.pid:
            self.infos[self.infos.index(old)] = new
        else:
            self.infos.append(new)
        self.current[worker] = new
        return new

    def run(
        self, captures: list[tuple[str, Path]], out: Path, progress: RootProgress
    ) -> list[CaptureResult]:
        single = len(captures) == 1 and captures[0][0] == ""
        queue = deque(range(len(captures)))
        pending = self.pending
        last = ""  # why the last worker was lost
        while queue or pending:
            while queue and self.idle:
                worker, index = self.idle.popleft(), queue.popleft()
                name, path = captures[index]
                target = out if single else out / name
                ref = self.actors[worker].process.remote(name, str(path), str(target))
                pending[ref] = (worker, index)
                progress.start(index)
            if not pending:  # every worker is gone for good (Ray's restarts used up)
                for index in queue:
                    name, path = captures[index]
                    progress.finish(
                        index, CaptureResult(name or capture_name(path), "failed", reason=last)
                    )
                break
            ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            self._tell(captures, out, single)  # (before a result: its own early warnings)
            if not ready:
                continue
            (ref,) = ready
            worker, index = pending.pop(ref)
            try:
                payload = self.ray.get(ref)
            except self.ray.exceptions.RayError as err:
                log.debug("ray: worker %d lost: %s", worker, err)
                last = _died(err)
                if index is None:
                    continue  # its restarts are used up: the other workers take the queue
                name, path = captures[index]
                self.current[worker].died = True
                if self.gate is not None:  # what it held is free (its restart holds its base)
                    dead = self.current[worker]
                    self.gate.leave.remote(dead.node, worker, pid=dead.pid)
                self.current[worker].captures.append(name or capture_name(path))
                payload = failure(name or capture_name(path), last, "crash")
                if queue:  # a ping that Ray retries until the restarted worker answers
                    ping = self.actors[worker].describe.options(max_task_retries=-1).remote()
                    pending[ping] = (worker, None)
            else:
                self._record(worker, payload["info"])
                self.idle.append(worker)
                if index is None:
                    continue
            result = CaptureResult(**payload["result"])
            if single and payload["kind"] == "input":
                raise ViewsynthError(result.reason)
            early = self.early.pop(str(out if single else out / captures[index][0]), [])
            report(result, payload, worker, captures[index][1], early)
            progress.finish(index, result)
        return progress.results()

    def _tell(self, captures: list[tuple[str, Path]], out: Path, single: bool) -> None:
        """Log the warnings the workers' captures have said since the last look (``mailbox``),
        named by their captures, and keep them so that their results do not say them again."""
        if self.mailbox is None:
            return
        try:
            mail = self.ray.get(self.mailbox.take.remote())
        except self.ray.exceptions.RayActorError as err:  # (results then bring them all)
            log.warning("ray: the run's mailbox is gone (%s)", one_line(err))
            self.mailbox = None
            return
        sources = {str(out if single else out / name): (name, path) for name, path in captures}
        for target, lines in mail:
            name, path = sources[target]
            for warning in lines:
                log.warning("%s", named_warning(warning, name or capture_name(path), path))
            self.early.setdefault(target, []).extend(lines)

    def stop(self) -> None:
        """Stop the captures in progress (Ctrl-C) as the local runner's stop: SIGINT to each
        busy worker process on this machine (``KeyboardInterrupt`` there: the capture removes
        its partial files and lock), then wait for them, ``STOP_SECONDS`` at most. A worker
        elsewhere is left to be killed."""
        here = platform.node()
        for worker, index in self.pending.values():
            info = self.current.get(worker)
            if index is not None and info is not None and info.node == here:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(info.pid, signal.SIGINT)
        if self.pending:
            self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=STOP_SECONDS)


__all__ = ["INSTALL_HINT", "CaptureWorker", "RayRun", "WorkerInfo", "run_on_ray", "run_ray"]
