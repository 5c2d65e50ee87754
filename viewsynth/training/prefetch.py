"""Batches made ahead of the training step, in background threads, in step order.

Rendering, the DIS start and augmentation release the GIL, so threads (``data_workers`` of them)
keep a device fed; the queue is bounded (``prefetch`` batches ahead), so memory does not grow
with the run. A worker's error is raised in the consumer, at the step it belongs to.
:class:`Memo` lets those threads share what several of them ask for at once (a texture atlas,
a step group's scenes).
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def prefetch(
    make: Callable[[int], T], start: int, stop: int, depth: int, workers: int = 1
) -> Iterator[T]:
    """Batches ``start .. stop - 1`` in order, made in background threads, at most ``depth`` ahead.

    With ``workers`` > 1 a pool makes several batches at once (``make`` must be thread-safe);
    ``depth`` 0 makes them in the caller's thread, one at a time, whatever ``workers`` says.
    """
    if depth <= 0:
        for step in range(start, stop):
            yield make(step)
        return
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers, thread_name_prefix="viewsynth-data")
        pending: collections.deque = collections.deque()
        ahead = max(depth, workers)
        nxt = start
        try:
            for _ in range(start, stop):
                while nxt < stop and len(pending) < ahead:
                    pending.append(pool.submit(make, nxt))
                    nxt += 1
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    halt = threading.Event()

    def offer(item) -> None:  # into the queue, unless the consumer has gone
        while not halt.is_set():
            try:
                q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def work():
        try:
            for step in range(start, stop):
                if halt.is_set():
                    return
                offer(make(step))
        except BaseException as err:  # handed to the consumer, which re-raises it
            offer(err)

    thread = threading.Thread(target=work, daemon=True, name="viewsynth-data")
    thread.start()
    try:
        for _ in range(start, stop):
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # The batch being made is finished before this returns: a daemon thread still inside
        # OpenCV or XLA when the interpreter exits aborts the process (pthread_exit unwinding
        # through C++), which turned a finished `viewsynth train` into a SIGABRT once.
        halt.set()
        thread.join()


class Memo:
    """A thread-safe memo of the newest ``keep`` keys; each key is computed once, by one thread.

    Several data workers may ask for the same texture atlas or step group at once: the first
    computes it, the others wait for its result.
    """

    def __init__(self, keep: int):
        self.keep = max(1, keep)
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[Any, Future] = collections.OrderedDict()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._items.get(key)
            owner = future is None
            if owner:
                future = Future()
                self._items[key] = future
                while len(self._items) > self.keep:
                    self._items.popitem(last=False)
        if owner:
            try:
                future.set_result(compute())
            except BaseException as err:
                future.set_exception(err)
                with self._lock:
                    if self._items.get(key) is future:
                        del self._items[key]
                raise
        return future.result()
