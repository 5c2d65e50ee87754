"""Speed and memory: seconds per in-between frame after warm-up, and peak resident memory.

Each (method, size) is measured in a fresh process of its own (``multiprocessing`` spawn), so its
peak memory is its own and includes the interpreter, the imports, the two input frames and the
method's state. On Linux that peak is read from ``VmHWM`` in ``/proc/self/status``, not from
``getrusage(RUSAGE_SELF).ru_maxrss``: the kernel carries the parent's peak over fork and exec
into the child's ``ru_maxrss`` (measured here: a child of a parent that had peaked at 413 MiB
reported 413 MiB, its VmHWM 33 MiB), which would charge every method with the evaluation's
memory. Elsewhere ``ru_maxrss`` is the fallback. A method that runs a helper program exposes
that program's peak as ``child_peak_mib`` (minterpolate: ffmpeg's VmHWM, sampled while it runs),
and it is added: the helper runs while the process holds its frames. The process loads the
method (``load_s``), draws a synthetic pair at the size (a geometric method such as ``sweep``:
two held-out street renders with real parallax, and it must have run its geometry), and runs ``warmup`` frames whose first
time (``first_call_s``) includes any compilation; ``compile_s`` is that first call less the
steady-state median. Then the parent alternates the methods frame by frame, round-robin over
``reps`` repetitions with a rotating start, so machine noise hits all of them alike; warm-ups run
one process at a time for the same reason.

A size after the first is measured only for methods expected to finish a frame in under
``max_seconds_per_frame``, the estimate scaling their time at the previous size by pixel count.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from viewsynth.evaluation.peers import MethodSpec
from viewsynth.evaluation.progress import Progress

Log = Callable[[str], None]


@dataclass(frozen=True)
class SpeedConfig:
    """What the speed section measures."""

    # Measure speed at all (false: quality only).
    enabled: bool = True
    # Frame sizes (width, height); methods slower than max_seconds_per_frame skip the larger ones.
    sizes: tuple[tuple[int, int], ...] = ((1024, 512), (2048, 1024), (5760, 2880))
    # Timed frames per method and size after warm-up (median reported).
    reps: int = 3
    # Untimed-for-the-median frames first (the first includes any compile).
    warmup: int = 1
    # Larger sizes only for methods estimated to finish a frame within this many seconds.
    max_seconds_per_frame: float = 60.0
    # Longest wait for one message from a measuring process before it is stopped.
    timeout_s: float = 900.0
    # rnn iteration counts K timed here; empty: every K of the quality runs. Each K compiles
    # anew at every size, so timing fewer keeps the suite short.
    iters: tuple[int, ...] = ()
    # Also time calls that ask for this many in-between times of one pair, as the walkthrough
    # does (``--factor 9`` asks 8 per pair), reported per in-between frame; 1: one t per call only.
    times_per_call: int = 8

    def __post_init__(self):
        if any(min(size) < 16 for size in self.sizes):
            raise ValueError(f"speed.sizes: each width and height at least 16, got {self.sizes}")
        if self.reps < 1 or self.warmup < 0 or self.times_per_call < 1:
            raise ValueError("speed.reps and times_per_call must be >= 1, warmup >= 0")
        if not (self.max_seconds_per_frame > 0 and self.timeout_s > 0):
            raise ValueError("speed.max_seconds_per_frame and timeout_s must be positive")
        if any(k < 1 for k in self.iters):
            raise ValueError(f"speed.iters: each K at least 1, got {self.iters}")


def peak_rss_mib() -> float:
    """Peak resident memory of this process's address space, in MiB (see the module docstring)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes there, KiB here


#: The methods that find a pair's geometry (or fall back): timed on a street pair with parallax.
GEOMETRIC = ("sweep", "rnn")


def street_pair(width: int, height: int) -> tuple:
    """Two held-out street panoramas (``synth.heldout_panoramas``), drawn at most 1024 wide and
    resized to the size: a pair with real parallax, so a geometric method (:data:`GEOMETRIC`) is
    timed doing geometry rather than its fallback."""
    import numpy as np

    from viewsynth.frames import resize
    from viewsynth.synth import heldout_panoramas

    w = min(width, 1024)
    img0, _, img1, _ = next(iter(heldout_panoramas(1, w, w // 2)))
    return tuple(resize(np.asarray(x, np.float32), width, height) for x in (img0, img1))


def _worker(conn, spec: MethodSpec, width: int, height: int, warmup: int, many: int) -> None:
    """Runs in its own process: load, warm up, then per "frame" message time one call for one t
    and, when ``many`` > 1, one call for ``many`` times of the pair (seconds per frame)."""
    try:
        import numpy as np

        from viewsynth.frames import is_equirect_shape
        from viewsynth.synth import moving_pair

        start = time.perf_counter()
        interp = spec.build()
        load_s = time.perf_counter() - start
        equirect = is_equirect_shape(width, height)
        geometric = spec.name in GEOMETRIC
        if geometric and equirect:
            img0, img1 = street_pair(width, height)
        else:
            img0, img1 = moving_pair(width, height)

        def one(times=(0.5,)) -> float:
            t0 = time.perf_counter()
            # np.asarray waits for asynchronously dispatched (JAX) results.
            np.asarray(interp(img0, img1, list(times), equirect=equirect))
            return (time.perf_counter() - t0) / len(times)

        spread = [float(t) for t in np.linspace(0.0, 1.0, many + 2)[1:-1]]

        def reps() -> tuple:
            return (one(), one(spread) if many > 1 else None)

        firsts = [one() for _ in range(warmup)]
        if many > 1 and warmup:
            one(spread)  # its own batch sizes compile once, outside the timings
        ran = interp.last_pair()  # ({} where every pair is made the same way)
        if ran and (ran.get("method") != spec.name or ran.get("geometry") is False):
            raise RuntimeError(
                f"{spec.name} fell back (to {ran.get('method')}, geometry "
                f"{ran.get('geometry', False)}) on the speed pair ({ran.get('reason')}): not timed"
            )
        conn.send(("ready", load_s, firsts))
        while conn.recv() == "frame":
            conn.send(("frame", *reps()))
        # Methods that run helper programs (minterpolate's ffmpeg) add those programs' peak.
        conn.send(("done", peak_rss_mib() + getattr(interp, "child_peak_mib", 0.0)))
    except Exception as err:  # reported to the parent as one line, not lost
        conn.send(
            ("error", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        )
    finally:
        conn.close()


class _Measurer:
    """The parent's handle on one measuring process."""

    def __init__(
        self, ctx, spec: MethodSpec, width: int, height: int, warmup: int, many: int, timeout: float
    ):
        self.spec = spec
        self.timeout = timeout
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker, args=(child, spec, width, height, warmup, many), daemon=True
        )
        self.process.start()
        child.close()

    def receive(self) -> tuple:
        if not self.conn.poll(self.timeout):
            self.stop(grace_s=0.0)
            return ("error", f"no answer within {self.timeout:.0f} s")
        try:
            return self.conn.recv()
        except EOFError:
            return ("error", f"the measuring process died (exit code {self.process.exitcode})")

    def send(self, message: str) -> None:
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError):
            pass

    def stop(self, grace_s: float = 10.0) -> None:
        # A process that has answered is let exit by itself first: a terminated one that loaded
        # pycolmap prints glog's stack trace of the SIGTERM into the benchmark's log.
        self.process.join(timeout=grace_s)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=30)


def measure_speed(
    specs: Sequence[MethodSpec], config: SpeedConfig, log: Log | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ``{method, width, height, seconds_per_frame, ...}`` per method and size, and notes."""
    log = log or (lambda _msg: None)
    if config.iters:
        specs = [s for s in specs if s.name != "rnn" or s.iters is None or s.iters in config.iters]
    ctx = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    previous: dict[str, tuple[float, int]] = {}  # label -> (seconds per frame, pixels)
    dropped: set[str] = set()  # failed or too slow at a smaller size: not tried again
    # Progress: each size is a part worth its megapixels per method; its steps are the methods'
    # warm-ups, then the repetitions.
    mpx = [w * h / 1e6 * len(specs) for w, h in config.sizes]
    progress = Progress("speed", sum(mpx), len(config.sizes), log)
    for (width, height), units in zip(config.sizes, mpx, strict=True):
        active = []
        for spec in specs:
            if spec.label in dropped:
                continue
            if spec.label in previous:
                seconds, pixels = previous[spec.label]
                estimate = seconds * width * height / pixels
                if estimate > config.max_seconds_per_frame:
                    notes.append(
                        f"speed: {spec.label} not run at {width}x{height} (estimated {estimate:.0f} s "
                        f"per frame, over {config.max_seconds_per_frame:.0f} s)"
                    )
                    dropped.add(spec.label)
                    continue
            active.append(spec)
        # Warm-ups one process at a time: two compiling at once on few cores would slow both.
        measurers: list[tuple[_Measurer, dict[str, Any]]] = []
        progress.start_part(f"{width}x{height}", len(active) + config.reps, units)
        for spec in active:
            log(f"speed: {spec.label} at {width}x{height}: loading and warming up")
            many = config.times_per_call
            m = _Measurer(ctx, spec, width, height, config.warmup, many, config.timeout_s)
            msg = m.receive()
            progress.step(f"{spec.label} warmed up")
            if msg[0] != "ready":
                notes.append(f"speed: {spec.label} failed at {width}x{height}: {msg[1]}")
                m.stop()
                continue
            _, load_s, firsts = msg
            row = {
                "method": spec.label,
                "width": width,
                "height": height,
                "load_s": load_s,
                "first_call_s": firsts[0] if firsts else None,
                "warmup_s": firsts,
                "reps_s": [],
            }
            if many > 1:
                row.update(times_per_call=many, many_reps_s=[])
            measurers.append((m, row))
        for rep in range(config.reps):
            order = (
                measurers[rep % len(measurers) :] + measurers[: rep % len(measurers)]
                if measurers
                else []
            )
            for m, row in order:
                if row.get("error"):
                    continue
                m.send("frame")
                msg = m.receive()
                if msg[0] == "frame":
                    row["reps_s"].append(msg[1])
                    if msg[2] is not None:
                        row["many_reps_s"].append(msg[2])
                else:
                    row["error"] = msg[1]
            progress.step(f"repetition {rep + 1}/{config.reps} of {len(measurers)} methods")
        for m, row in measurers:
            if not row.get("error"):
                m.send("stop")
                msg = m.receive()
                if msg[0] == "done":
                    row["peak_rss_mib"] = msg[1]
                else:
                    row["error"] = msg[1]
            m.stop()
            if row.get("error") or not row["reps_s"]:
                notes.append(
                    f"speed: {row['method']} failed at {width}x{height}: {row.get('error', 'no frames')}"
                )
                continue
            median = statistics.median(row["reps_s"])
            row["seconds_per_frame"] = median
            if row.get("many_reps_s"):
                row["many_seconds_per_frame"] = statistics.median(row["many_reps_s"])
            if row["first_call_s"] is not None:
                row["compile_s"] = max(0.0, row["first_call_s"] - median)
            rows.append(row)
            previous[row["method"]] = (median, width * height)
        progress.end_part()
        measured = {r["method"] for r in rows if (r["width"], r["height"]) == (width, height)}
        dropped.update(spec.label for spec in active if spec.label not in measured)
    return rows, notes
