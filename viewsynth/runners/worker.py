"""The body of one Ray worker: settings and interpolator made once, then capture after capture.

Plain Python, never importing Ray at module level: :mod:`.ray_runner` wraps :class:`CaptureWorker`
with ``ray.remote`` at run time, and tests drive it directly. Everything it returns is plain data
(dicts of built-in types), so the driver needs none of its classes to read it.

- Outcomes: ``kind`` "" (done or skipped), "input" (``ViewsynthError``: unusable input, a bad
  ``--weights``) or "crash" (any other exception: a bug, reported as an internal error). A
  capture's failure is a ``failed`` result with a one-line reason; ``process`` never raises.
- Stopping: SIGINT (which Ray blocks in its workers, and the worker lets through) stops a capture
  as Ctrl-C stops the local runner's, by ``KeyboardInterrupt``: ``run_capture`` removes its
  partial files and releases its folder as it unwinds, and the result is ``interrupted`` (kind
  "interrupted"). The driver sends it to stop a run (``ray_runner``).
- Resources: OpenCV is kept to the CPUs Ray gave the worker; its GPU ids are recorded.
- Memory: with a ``gate`` (:class:`~viewsynth.runners.gate.MemoryGate`, a Ray actor), a capture
  whose expected peak does not fit beside the captures running on this machine waits before its
  work (``run_capture``'s ``admit``); the seconds it waited are returned with its result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from viewsynth import config as config_lib
from viewsynth.errors import ViewsynthError, one_line
from viewsynth.interpolators import Interpolator
from viewsynth.runners.gate import WAIT_SECONDS
from viewsynth.walkthrough import CaptureResult, InterpolateSettings, memory, run_capture
from viewsynth.walkthrough.folders import capture_name

log = logging.getLogger("viewsynth")

CaptureFn = Callable[..., CaptureResult]


@dataclasses.dataclass
class WorkerInfo:
    """One worker process: where it ran and what its interpolator cost.

    ``worker``: the actor's number (shared by the processes Ray restarted it in);
    ``setup_seconds``: making the interpolator (``settings.make_interpolator()``: loading weights);
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


class _TimedInterpolator:
    """An interpolator that measures its calls; its name, record and per-pair record are the
    wrapped one's (so its outputs and resume fingerprint are the same)."""

    def __init__(self, inner: Interpolator):
        self.inner = inner
        self.name = inner.name
        self.first_call_seconds: float | None = None
        self.calls = 0
        self.call_seconds = 0.0

    def record(self) -> dict[str, Any]:
        return self.inner.record()

    def last_pair(self) -> dict[str, Any]:
        return self.inner.last_pair()

    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        started = time.perf_counter()
        frames = self.inner(img0, img1, times, equirect=equirect, hfov=hfov)
        seconds = time.perf_counter() - started
        if self.first_call_seconds is None:
            self.first_call_seconds = seconds
        self.calls += 1
        self.call_seconds += seconds
        return frames


def failure(label: str, reason: str, kind: str, trace: str = "") -> dict[str, Any]:
    """A ``failed`` capture as the plain data :meth:`CaptureWorker.process` returns."""
    result = CaptureResult(label, "failed", reason=reason)
    return {"result": dataclasses.asdict(result), "kind": kind, "traceback": trace}


class CaptureWorker:
    """``settings`` is ``config.to_dict(InterpolateSettings)``; ``cwd`` the driver's working
    folder; ``capture_fn`` replaces ``run_capture`` (tests); ``gate``: the name of the run's
    :class:`~viewsynth.runners.gate.MemoryGate` actor ("": captures never wait); ``mailbox``: the
    name of its :class:`~viewsynth.runners.mailbox.Mailbox` ("": warnings come with results)."""

    def __init__(
        self,
        worker: int,
        settings: dict[str, Any],
        cwd: str,
        capture_fn: CaptureFn | None = None,
        gate: str = "",
        mailbox: str = "",
    ):
        if os.path.isdir(cwd):
            os.chdir(cwd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # (the module docstring)
        self.info = WorkerInfo(worker, node=platform.node(), pid=os.getpid(), gpus=_claim_ray())
        self.capture_fn = capture_fn or run_capture
        self.setup_error = ""
        self.setup_kind = ""
        self.settings = config_lib.from_dict(InterpolateSettings, settings, "settings")
        started = time.perf_counter()
        self.interpolator: _TimedInterpolator | None = None
        try:
            self.interpolator = _TimedInterpolator(self.settings.make_interpolator())
        except ViewsynthError as err:
            # A bad --weights is the user's to fix: the driver reports it once, as one line.
            self.setup_error, self.setup_kind = str(err), "input"
        except Exception as err:  # a bug: reported by the driver as an internal error
            self.setup_error = f"{type(err).__name__}: {one_line(err)}"
            self.setup_kind = "crash"
            log.debug("making the interpolator failed:\n%s", traceback.format_exc())
        self.info.setup_seconds = time.perf_counter() - started
        budget = memory.budget_bytes(self.settings.max_memory)
        self.gate = _actor(gate) if gate and budget and self.interpolator is not None else None
        self.budget = budget or 0
        self.mailbox = _actor(mailbox, _mailbox_gone) if mailbox else None
        self.waited = 0.0
        self._settle()

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
        """Run one capture; never raises. Returns ``{"result", "kind", "traceback", "info",
        "waited"}``: ``info``, this worker's :class:`WorkerInfo` after the capture, as plain data;
        ``waited``, the seconds the capture waited for memory.
        """
        label = name or capture_name(Path(source))
        self.info.captures.append(label)
        self.waited = 0.0
        if self.interpolator is None:
            payload = failure(label, self.setup_error, self.setup_kind)
        else:
            try:
                result = self.capture_fn(
                    Path(source), Path(target), self.settings, interpolator=self.interpolator,
                    admit=self._admit if self.gate is not None else None,
                    said=(lambda lines: self._post(target, lines)) if self.mailbox else None,
                )  # fmt: skip
                payload = {"result": dataclasses.asdict(result), "kind": "", "traceback": ""}
            except KeyboardInterrupt:  # the driver stops the run: the capture has cleaned up
                result = CaptureResult(label, "interrupted")
                payload = {
                    "result": dataclasses.asdict(result),
                    "kind": "interrupted",
                    "traceback": "",
                }
            except ViewsynthError as err:
                payload = failure(label, one_line(err), "input")
            except Exception as err:  # isolation: one capture's bug must not stop the others
                reason = f"internal error: {type(err).__name__}: {one_line(err)}"
                payload = failure(label, reason, "crash", traceback.format_exc())
            finally:
                self._settle()
        return {**payload, "info": self.describe()["info"], "waited": self.waited}

    def _ask(self, method, *args) -> Any:
        """Call one of the gate's methods (a Ray actor's: its answer through ``ray.get``). A gate
        that is gone (killed for memory, its node lost) is said once; captures then start without
        it (True), as with one worker, rather than each failing as if its worker had died."""
        import ray

        try:
            return ray.get(
                method.remote(self.info.node, self.info.worker, *args, pid=self.info.pid)
            )
        except ray.exceptions.RayActorError as err:
            _gate_gone(err)
            self.gate = None
            return True

    def _post(self, target: str, lines: list[str]) -> None:
        """Post a capture's early warnings to the driver, waiting until they are in (see
        :mod:`.mailbox`). A mailbox that is gone leaves them to come with the result."""
        import ray

        try:
            ray.get(self.mailbox.post.remote(target, lines))
        except ray.exceptions.RayActorError as err:
            _mailbox_gone(err)
            self.mailbox = None

    def _settle(self) -> None:
        """Tell the gate this worker is idle, holding its interpolator's memory."""
        if self.gate is not None:
            self._ask(self.gate.settle, int(memory.BASE_BYTES[self.settings.method]))

    def _admit(self, need: int) -> None:
        """Return once the capture's ``need`` bytes fit beside those of the captures running
        on this machine (the gate's ``take``), asking every ``WAIT_SECONDS``."""
        started = time.perf_counter()
        while not self._ask(self.gate.take, need, self.budget):
            time.sleep(WAIT_SECONDS)
        self.waited = time.perf_counter() - started


def _actor(name: str, gone: Callable[[BaseException], None] | None = None) -> Any:
    """The Ray actor named ``name`` (a handle passed as an argument would be kept in the object
    store, and Ray warns on every run that a restart needs it); None, said (``gone``, by default
    the memory gate's), when it is gone."""
    import ray

    try:
        return ray.get_actor(name)
    except ValueError as err:  # (a restarted worker after the gate was lost)
        (gone or _gate_gone)(err)
        return None


def _gate_gone(err: BaseException) -> None:
    log.warning(
        "ray: the run's memory gate is gone (%s); this worker's captures no longer wait for memory",
        one_line(err),
    )


def _mailbox_gone(err: BaseException) -> None:
    log.warning(
        "ray: the run's mailbox is gone (%s); this worker's warnings come with its results",
        one_line(err),
    )


def _claim_ray() -> list[str]:
    """Inside a Ray worker: keep OpenCV to its CPUs (W workers must not each spawn a thread per
    core) and return its GPU ids. Outside Ray (tests): nothing to claim."""
    try:
        import ray
    except ImportError:
        return []
    if not ray.is_initialized():
        return []
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    if cpus >= 1:
        import cv2

        cv2.setNumThreads(int(cpus))
    return [str(g) for g in ray.get_gpu_ids()]
