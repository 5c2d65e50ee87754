"""CPU work beside other CPU work: one shared pool of threads for calls that release the GIL.

OpenCV and most of NumPy drop Python's lock while they compute, and JAX computes on its own threads,
so two such calls started together run on two cores. The users: the sphere sweep's two directions
(:func:`viewsynth.sweep.pair_depth`), the photos' sweep's ranges of hypotheses
(:func:`viewsynth.sweep.pinhole_sweep.sweep_depths`), the sweep's candidates, a t per task
(:meth:`viewsynth.interpolators.Sweep.candidates`), the network's DIS start, made while the pair's
geometry is found (:class:`viewsynth.interpolators.rnn.RNNInterpolator`), the pose's two SIFT
detectors (:func:`viewsynth.geometry.features.match_views`) and the fusion's two bands of rows
(:func:`viewsynth.warp.fuse_fields`). The work is the same as in one thread, call for call, so the
results are too; only the wall time changes. (Work that starts threads of its own, such as a NumPy
matrix product on OpenBLAS, does not belong here: those threads spin beside the pool's.)
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

PREFIX = "viewsynth-cpu"


def workers() -> int:
    """How many threads the shared pool runs (work cut into pieces for it: a few per thread)."""
    return max(2, os.cpu_count() or 2)


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers(), thread_name_prefix=PREFIX)


def in_background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Start ``fn(*args, **kwargs)`` on the shared pool; ``.result()`` waits for it (and raises
    what it raised). Called from one of the pool's own threads it runs at once, in that thread:
    work that waits for work queued behind it could wait forever."""
    if threading.current_thread().name.startswith(PREFIX):
        return now(fn, *args, **kwargs)
    return _pool().submit(fn, *args, **kwargs)


def now(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """``fn(*args, **kwargs)`` run here, at once, its outcome held by a done Future (what it
    raised is raised by ``.result()``, as the pool would)."""
    done: Future = Future()
    try:
        done.set_result(fn(*args, **kwargs))
    except BaseException as error:  # handed to .result()
        done.set_exception(error)
    return done


def then(future: Future, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """``fn(*args, **kwargs)`` started as soon as ``future`` is done, in the thread that finished
    it (at once, here, if it is done already), whatever its outcome; ``.result()`` waits for it.
    For short calls that start work elsewhere (a JAX dispatch): the thread is not held."""
    out: Future = Future()

    def start(_: Future) -> None:
        done = now(fn, *args, **kwargs)
        if done.exception() is None:
            out.set_result(done.result())
        else:
            out.set_exception(done.exception())

    future.add_done_callback(start)
    return out
